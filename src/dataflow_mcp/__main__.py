"""``python -m dataflow_mcp``: the same as the ``dataflow-mcp`` command."""

from ._main import main

raise SystemExit(main())
