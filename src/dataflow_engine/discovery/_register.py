"""Models from discovered tables: exact types, exact names, no DDL.

A registered model maps each column it can hold exactly to a field (``kind`` None columns
are left out and reported); the table and column names are kept as the database spells
them. DataFlow never creates, alters or stamps such a table: it has no automatic
``created_at``/``updated_at`` columns, and a column with a database default may be omitted
on Create, the database then filling it in.
"""

from __future__ import annotations

import datetime as dt
import enum
import keyword
import re
import uuid
from decimal import Decimal
from typing import Any

from ..models import DATABASE_DEFAULT, MISSING, Field, FieldKind, ModelDef
from ..models._model import _RESERVED
from ..models._naming import _IRREGULAR, _UNCOUNTABLE, snake_case
from ._info import ColumnInfo, TableInfo

__all__ = ["field_name_for", "model_from_table", "model_name_for"]

_SCALAR_KINDS: dict[str, tuple[FieldKind, Any]] = {
    "str": (FieldKind.STR, str),
    "int": (FieldKind.INT, int),
    "float": (FieldKind.FLOAT, float),
    "bool": (FieldKind.BOOL, bool),
    "decimal": (FieldKind.DECIMAL, Decimal),
    "datetime": (FieldKind.DATETIME, dt.datetime),
    "naive_datetime": (FieldKind.DATETIME, dt.datetime),
    "date": (FieldKind.DATE, dt.date),
    "time": (FieldKind.TIME, dt.time),
    "uuid": (FieldKind.UUID, uuid.UUID),
    "bytes": (FieldKind.BYTES, bytes),
    "json": (FieldKind.JSON, object),
}
_SINGULAR = {plural: single for single, plural in _IRREGULAR.items()}


def _singular(word: str) -> str:
    low = word.lower()
    if low in _UNCOUNTABLE or len(low) < 3:
        return word
    if low in _SINGULAR:
        single = _SINGULAR[low]
        return single.capitalize() if word[:1].isupper() else single
    if low.endswith("ies") and len(low) > 4:
        return word[:-3] + ("Y" if word[-3:].isupper() else "y")
    if low.endswith(("sses", "shes", "ches", "xes", "zes", "uses")):
        return word[:-2]
    if low.endswith("s") and not low.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def model_name_for(table: str) -> str:
    """A model name for a table: ``order_items`` -> ``OrderItem``, ``"OrderItems"`` ->
    ``OrderItem``, ``tbl-2024`` -> ``Tbl2024``."""
    words = [w for w in re.split(r"[^0-9A-Za-z]+", snake_case(table)) if w]
    if not words:
        words = ["table"]
    words[-1] = _singular(words[-1])
    name = "".join(w[:1].upper() + w[1:] for w in words)
    return name if name[:1].isalpha() else f"T{name}"


def field_name_for(column: str) -> str:
    """The field name of a column: the column itself when it is a usable identifier,
    else a snake_case spelling (``unit price`` -> ``unit_price``, ``filter`` -> ``filter_``)."""
    name = column
    if not name.isidentifier() or name.startswith("_") or not name.isascii():
        name = re.sub(r"[^0-9A-Za-z]+", "_", column).strip("_") or "column"
        if name[:1].isdigit():
            name = f"c_{name}"
    if keyword.iskeyword(name) or name in _RESERVED:
        name += "_"
    return name


def _enum_type(name: str, values: tuple[str, ...]) -> type[enum.Enum]:
    """A str-valued Enum whose members are the database's labels (names and values)."""
    members = [(value, value) for value in values]
    made: type[enum.Enum] = enum.Enum(name, members, type=str)  # type: ignore[misc]
    return made


def _field(model_name: str, name: str, column: ColumnInfo) -> Field | None:
    kind = column.kind
    item_type: Any = None
    python_type: Any
    if kind in _SCALAR_KINDS:
        field_kind, python_type = _SCALAR_KINDS[kind]
    elif kind == "enum" and column.enum_values:
        field_kind = FieldKind.ENUM
        python_type = _enum_type(f"{model_name}{name[:1].upper()}{name[1:]}", column.enum_values)
    elif kind == "array" and column.array_kind in _SCALAR_KINDS:
        field_kind, python_type = FieldKind.JSON, list
        item_type = _SCALAR_KINDS[column.array_kind][1]
        if item_type in (dt.datetime, dt.date, dt.time, uuid.UUID, bytes, Decimal, object):
            return None  # only arrays of JSON-native values round-trip exactly
    else:
        return None
    identity = column.auto_increment and column.generated is None
    auto = identity or column.generated is not None
    default: Any = MISSING
    if column.default is not None and not auto:
        default = DATABASE_DEFAULT
    return Field(
        name,
        field_kind,
        python_type,
        nullable=column.nullable,
        default=default,
        auto=auto,
        identity=identity,
        column=column.name,
        item_type=item_type,
        db_type=column.type,
    )


def model_from_table(table: TableInfo, name: str) -> tuple[ModelDef, list[dict[str, str]]]:
    """A model for ``table`` named ``name``, and the columns left out (name, type, why).

    The model is read-only (with ``read_only_reason``) for views, tables without a
    primary key, and tables whose key has a column no field can hold.
    """
    fields: dict[str, Field] = {}
    by_column: dict[str, str] = {}
    skipped: list[dict[str, str]] = []
    for column in sorted(table.columns, key=lambda c: c.position):
        base = field_name_for(column.name)
        field_name, n = base, 2
        while field_name in fields:
            field_name, n = f"{base}_{n}", n + 1
        made = _field(name, field_name, column)
        if made is None:
            skipped.append(
                {
                    "column": column.name,
                    "type": column.type,
                    "reason": "no DataFlow type holds this column type exactly",
                }
            )
            continue
        fields[field_name] = made
        by_column[column.name] = field_name
    reason = ""
    if table.kind == "view":
        reason = "it is a view"
    elif not table.primary_key:
        reason = "the table has no primary key, so a record cannot be addressed"
    elif any(c not in by_column for c in table.primary_key):
        reason = "a primary-key column has a type no field can hold"
    key = tuple(by_column[c] for c in table.primary_key) if not reason else ()
    for k in key:
        fields[k].primary_key = True
    single_auto = len(key) == 1 and fields[key[0]].identity
    model = ModelDef(
        name=name,
        table_name=table.name,
        fields=fields,
        primary_key=key,
        read_only=bool(reason),
        read_only_reason=reason,
        schema=table.schema,
        auto_id=single_auto,
        stamps=(),
        managed=False,
        unique=[
            tuple(by_column[c] for c in u.columns)
            for u in table.unique
            if all(c in by_column for c in u.columns)
        ],
    )
    return model, skipped
