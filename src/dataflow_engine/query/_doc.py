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
    "like_pattern",
    "split_options",
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


def like_pattern(op: str, operand: Any, path: str) -> tuple[str, bool]:
    """The LIKE pattern of ``$like $ilike $contains $startswith $endswith`` and whether it
    ignores case; a FilterError for anything but a well-formed string."""
    if not isinstance(operand, str):
        raise FilterError(
            f"{path}: {op} takes a string", code="DF-FILTER-TYPE", details={"operator": op}
        )
    if op in ("$like", "$ilike"):
        if dangling_escape(operand):
            raise FilterError(
                f"{path}: the pattern ends with a lone '\\' escaping nothing; write "
                "'\\\\' for a literal backslash",
                code="DF-FILTER-MALFORMED",
                details={"operator": op},
            )
        return operand, op == "$ilike"
    text = escape_like(operand)
    return {"$contains": f"%{text}%", "$startswith": f"{text}%", "$endswith": f"%{text}"}[op], False


def split_options(document: Mapping[str, Any], path: str) -> tuple[dict[str, Any], Any]:
    """An operator document's operators, and its ``$options`` (valid only with ``$regex``)."""
    ops = dict(document)
    has_options = "$options" in ops
    options = ops.pop("$options", None)
    if has_options and "$regex" not in ops:
        raise FilterError(
            f"{path}: $options is only valid next to $regex", code="DF-FILTER-MALFORMED"
        )
    return ops, options
