"""The DataFlow language server: workflow definitions validated and completed as you type.

Run ``dataflow-lsp`` (stdio) or ``dataflow-lsp --tcp --port 2087``. See docs/editors.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._main import main

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from ._models import ModelSet


def read_project_models(paths: Iterable[Path]) -> ModelSet:
    """The models declared under ``paths`` (files or folders), read with parso, never
    imported; ``.dataflow.nodes`` holds their node types. Needs the ``lsp`` extra."""
    from ._models import read_project_models as read

    return read(paths)


__all__ = ["main", "read_project_models"]
