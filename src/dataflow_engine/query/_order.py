"""Parse ``order_by`` and ``fields`` (projection) parameters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import FilterError
from ..models import Field, FieldKind, ModelDef
from ..models._model import suggest

__all__ = ["OrderItem", "parse_fields", "parse_order_by"]

OrderItem = tuple[Field, bool]  # (field, descending)


def _field(model: ModelDef, name: Any, param: str) -> Field:
    if not isinstance(name, str) or name not in model.fields:
        close = suggest(str(name), model.fields)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise FilterError(
            f"{param}: unknown field {name!r} on model {model.name}{hint}",
            code="DF-FILTER-UNKNOWN-FIELD",
            details={"model": model.name, "field": name, "suggestions": close, "param": param},
        )
    return model.fields[name]


def parse_order_by(value: Any, model: ModelDef) -> list[OrderItem]:
    """Parse ``order_by``: ``"-age"``, ``["-age", "name"]``, ``[{"age": -1}]`` or ``{"age": -1}``.

    Raises:
        FilterError: unknown field, bad direction, or a field listed twice.
    """
    if value is None:
        return []
    entries: list[tuple[Any, Any]] = []
    items: Sequence[Any]
    if isinstance(value, str | Mapping):
        items = [value]
    elif isinstance(value, list | tuple):
        items = value
    else:
        raise FilterError(
            "order_by must be a field name, a list such as ['-age', 'name'], or [{'age': -1}]",
            code="DF-FILTER-ORDER",
        )
    for item in items:
        if isinstance(item, str):
            desc = item.startswith("-")
            entries.append((item.lstrip("-+"), -1 if desc else 1))
        elif isinstance(item, Mapping):
            entries.extend(item.items())
        else:
            raise FilterError(
                f"order_by: {item!r} is neither 'field', '-field' nor {{'field': 1 or -1}}",
                code="DF-FILTER-ORDER",
            )
    result: list[OrderItem] = []
    seen: set[str] = set()
    for name, direction in entries:
        field = _field(model, name, "order_by")
        if isinstance(direction, bool):
            direction = None  # True/False are not directions (True == 1 in Python)
        if direction in (1, "asc", "ASC"):
            desc = False
        elif direction in (-1, "desc", "DESC"):
            desc = True
        else:
            raise FilterError(
                f"order_by: direction of {name!r} must be 1 or -1 (or 'asc'/'desc'), "
                f"got {direction!r}",
                code="DF-FILTER-ORDER",
                details={"field": name},
            )
        if field.kind is FieldKind.JSON:
            raise FilterError(
                f"order_by: cannot order by JSON field {name!r}",
                code="DF-FILTER-ORDER",
                details={"field": name},
            )
        if name in seen:
            raise FilterError(
                f"order_by: field {name!r} is listed twice",
                code="DF-FILTER-ORDER",
                details={"field": name},
            )
        seen.add(name)
        result.append((field, desc))
    return result


def parse_fields(value: Any, model: ModelDef) -> list[Field] | None:
    """Parse a ``fields`` projection (a list of field names); ``None`` means every field."""
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
        raise FilterError(
            "fields must be a non-empty list of field names, e.g. ['id', 'name']",
            code="DF-FILTER-FIELDS",
        )
    out: list[Field] = []
    for name in value:
        field = _field(model, name, "fields")
        if field not in out:
            out.append(field)
    return out
