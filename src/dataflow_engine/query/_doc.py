"""Shapes shared by the filter parsers: operator documents, depth, errors, LIKE text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import FilterError
from ..models._model import suggest

__all__ = [
    "check_depth",
    "dangling_escape",
    "escape_like",
    "is_operator_doc",
    "unknown_operator",
]


def escape_like(text: str) -> str:
    """Escape ``\\``, ``%`` and ``_`` so ``text`` matches itself in a LIKE pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


MAX_DEPTH = 64


def check_depth(path: str) -> None:
    if path.count("$") > MAX_DEPTH:
        raise FilterError(
            f"{path[:80]}...: the filter nests more than {MAX_DEPTH} levels deep",
            code="DF-FILTER-MALFORMED",
        )


def unknown_operator(op: str, path: str, valid: list[str]) -> FilterError:
    close = suggest(op, valid)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return FilterError(
        f"{path}: unknown operator {op!r}{hint}",
        code="DF-FILTER-UNKNOWN-OPERATOR",
        details={"operator": op, "suggestions": close},
    )


def is_operator_doc(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and bool(value)
        and all(isinstance(k, str) and k.startswith("$") for k in value)
    )


def dangling_escape(pattern: str) -> bool:
    trailing = len(pattern) - len(pattern.rstrip("\\"))
    return trailing % 2 == 1
