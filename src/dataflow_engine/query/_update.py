"""Parse update documents: plain values or ``$set $inc $mul $min $max $unset $currentDate``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import FilterError, ValidationError
from ..models import Field, FieldKind, ModelDef
from ..models._model import suggest

__all__ = ["UPDATE_OPERATORS", "SetItem", "parse_update"]

UPDATE_OPERATORS: dict[str, str] = {
    "$set": "set the fields to the values",
    "$inc": "add the number to the field (NULL counts as 0)",
    "$mul": "multiply the field by the number (NULL counts as 0)",
    "$min": "set the field to the value if the value is smaller",
    "$max": "set the field to the value if the value is larger",
    "$unset": "set the fields to NULL",
    "$currentDate": "set the fields to the current date and time",
}
_NUMERIC = (FieldKind.INT, FieldKind.FLOAT, FieldKind.DECIMAL)
_TEMPORAL = (FieldKind.DATETIME, FieldKind.DATE, FieldKind.TIME)


@dataclass(frozen=True, slots=True)
class SetItem:
    """One assignment: ``op`` is set, inc, mul, min, max, unset or currentDate."""

    field: Field
    op: str
    value: Any


def _field(model: ModelDef, name: Any, path: str) -> Field:
    field = model.fields.get(name) if isinstance(name, str) else None
    if field is None:
        close = suggest(str(name), model.fields)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise FilterError(
            f"{path}: unknown field {name!r} on model {model.name}{hint}",
            code="DF-FILTER-UNKNOWN-FIELD",
            details={"model": model.name, "field": name, "suggestions": close},
        )
    if field.auto:
        raise FilterError(
            f"{path}: {name!r} is maintained by DataFlow and cannot be updated",
            code="DF-PARAM-READ-ONLY-FIELD",
            details={"field": name},
        )
    return field


def _value(field: Field, value: Any, path: str) -> Any:
    try:
        return field.validate(value)
    except ValidationError as exc:
        raise FilterError(f"{path}: {exc.message}", code=exc.code, details=exc.details) from None


def parse_update(document: Any, model: ModelDef, *, param: str = "fields") -> list[SetItem]:
    """Parse an update document into assignments.

    Raises:
        FilterError: unknown field or operator, a type mismatch, an operator that does
            not apply to the field's type, or a field assigned twice.
    """
    if not isinstance(document, Mapping) or not document:
        raise FilterError(
            f"{param} must be a non-empty object, e.g. {{'age': 31}} or {{'$inc': {{'age': 1}}}}",
            code="DF-FILTER-UPDATE",
        )
    keys = list(document)
    operators = [k for k in keys if isinstance(k, str) and k.startswith("$")]
    if operators and len(operators) != len(keys):
        raise FilterError(
            f"{param}: cannot mix update operators and plain fields; put the plain fields "
            "under '$set'",
            code="DF-FILTER-UPDATE",
        )
    groups: dict[str, Any] = dict(document) if operators else {"$set": document}
    items: list[SetItem] = []
    seen: set[str] = set()
    for op, body in groups.items():
        if op not in UPDATE_OPERATORS:
            close = suggest(op, UPDATE_OPERATORS)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise FilterError(
                f"{param}: unknown update operator {op!r}{hint}",
                code="DF-FILTER-UNKNOWN-OPERATOR",
                details={"operator": op, "suggestions": close},
            )
        if not isinstance(body, Mapping) or not body:
            raise FilterError(
                f"{param}.{op} must be a non-empty object of field: value",
                code="DF-FILTER-UPDATE",
                details={"operator": op},
            )
        for name, value in body.items():
            path = f"{param}.{op}.{name}" if operators else f"{param}.{name}"
            field = _field(model, name, path)
            if name in seen:
                raise FilterError(
                    f"{path}: field {name!r} is updated twice",
                    code="DF-FILTER-UPDATE",
                    details={"field": name},
                )
            seen.add(name)
            items.append(_item(field, op, value, path))
    return items


def _item(field: Field, op: str, value: Any, path: str) -> SetItem:
    if field.primary_key and op != "$set":
        raise FilterError(
            f"{path}: {op} on primary-key field {field.name!r} is refused; set the new key "
            "with $set (or a plain value)",
            code="DF-FILTER-UPDATE",
            details={"operator": op, "field": field.name},
        )
    if op == "$set":
        return SetItem(field, "set", _value(field, value, path))
    if op in ("$inc", "$mul"):
        if field.kind not in _NUMERIC:
            raise FilterError(
                f"{path}: {op} applies to numeric fields; {field.name!r} is {field.type_name}",
                code="DF-FILTER-TYPE",
                details={"operator": op, "field": field.name},
            )
        if value is None:
            raise FilterError(f"{path}: {op} needs a number", code="DF-FILTER-TYPE")
        return SetItem(field, op[1:], _value(field, value, path))
    if op in ("$min", "$max"):
        if field.kind in (FieldKind.JSON, FieldKind.BYTES):
            raise FilterError(
                f"{path}: {op} does not apply to {field.type_name} fields",
                code="DF-FILTER-TYPE",
                details={"operator": op, "field": field.name},
            )
        if value is None:
            raise FilterError(f"{path}: {op} needs a value", code="DF-FILTER-TYPE")
        return SetItem(field, op[1:], _value(field, value, path))
    if op == "$unset":
        if not field.nullable:
            raise FilterError(
                f"{path}: {field.name!r} is not nullable and cannot be unset",
                code="DF-PARAM-NULL",
                details={"field": field.name},
            )
        return SetItem(field, "unset", None)
    # $currentDate
    if field.kind not in _TEMPORAL:
        raise FilterError(
            f"{path}: $currentDate applies to datetime, date and time fields",
            code="DF-FILTER-TYPE",
            details={"operator": op, "field": field.name},
        )
    if value is not True and not (
        isinstance(value, Mapping) and value.get("$type") in ("date", "timestamp")
    ):
        raise FilterError(
            f"{path}: $currentDate takes true or {{'$type': 'date'}}",
            code="DF-FILTER-TYPE",
        )
    return SetItem(field, "currentDate", None)
