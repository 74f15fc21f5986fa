"""``python -m dataflow_cli``: the same as the ``dataflow`` command."""

from ._main import main

raise SystemExit(main())
