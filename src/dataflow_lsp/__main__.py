"""``python -m dataflow_lsp``: the same as the ``dataflow-lsp`` command."""

from ._main import main

raise SystemExit(main())
