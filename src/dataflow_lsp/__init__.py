"""The DataFlow language server: workflow definitions validated and completed as you type.

Run ``dataflow-lsp`` (stdio) or ``dataflow-lsp --tcp --port 2087``. See docs/editors.md.
"""

from ._main import main

__all__ = ["main"]
