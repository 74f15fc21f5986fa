"""Fields: Python annotations mapped to logical column kinds, and value validation."""

from __future__ import annotations

import datetime as dt
import enum
import math
import types
import typing
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import ModelError, ValidationError

__all__ = ["MISSING", "Field", "FieldKind", "field_from_annotation"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


class _DatabaseDefault:
    """The default of a registered column: the database fills it in when it is omitted."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "DATABASE_DEFAULT"

    def __str__(self) -> str:
        return "<database default>"


DATABASE_DEFAULT: Any = _DatabaseDefault()


class FieldKind(enum.StrEnum):
    """The logical kind of a column; dialects map each to a column type and codec."""

    STR = "str"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    DECIMAL = "decimal"
    DATETIME = "datetime"
    DATE = "date"
    TIME = "time"
    UUID = "uuid"
    BYTES = "bytes"
    JSON = "json"
    ENUM = "enum"


_SIMPLE: dict[Any, FieldKind] = {
    str: FieldKind.STR,
    int: FieldKind.INT,
    float: FieldKind.FLOAT,
    bool: FieldKind.BOOL,
    Decimal: FieldKind.DECIMAL,
    dt.datetime: FieldKind.DATETIME,
    dt.date: FieldKind.DATE,
    dt.time: FieldKind.TIME,
    uuid.UUID: FieldKind.UUID,
    bytes: FieldKind.BYTES,
    dict: FieldKind.JSON,
    list: FieldKind.JSON,
}

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


@dataclass(eq=False)
class Field:
    """One column of a model.

    Attributes:
        name: the field name used in parameters, filters and outputs.
        kind: the logical kind (:class:`FieldKind`).
        python_type: the annotation's base type (``int``, ``dict``, an ``Enum`` class, ...).
        nullable: ``Optional[T]`` / ``T | None``.
        default: the default value, or ``MISSING``.
        primary_key: part of the primary key.
        auto: filled in by the engine or the database (``id``, ``created_at``, computed
            columns, ...), not a required Create parameter.
        identity: an auto-increment column (the automatic ``id``, a registered SERIAL,
            IDENTITY, AUTO_INCREMENT or INTEGER PRIMARY KEY column): the database numbers a
            record that omits it, and Create / BulkCreate may also give it explicitly.
        column: the column name in the database.
        item_type: for ``list[T]``, ``T``.
        db_type: the column's type as the database spells it, for fields registered from
            an existing table ("" for fields DataFlow declares).
    """

    name: str
    kind: FieldKind
    python_type: Any
    nullable: bool = False
    default: Any = MISSING
    primary_key: bool = False
    auto: bool = False
    column: str = ""
    identity: bool = False
    item_type: Any = None
    indexed: bool = False
    unique: bool = False
    db_type: str = ""

    def __post_init__(self) -> None:
        if not self.column:
            self.column = self.name
        check = _CHECKS[self.kind]
        if self.kind in (FieldKind.ENUM, FieldKind.JSON):
            self._check: Callable[[Any], Any] = lambda v: check(v, self)
        else:
            self._check = check

    @property
    def required(self) -> bool:
        """A Create parameter that must be given: no default, not nullable, not auto."""
        return not self.auto and self.default is MISSING and not self.nullable

    @property
    def type_name(self) -> str:
        """A readable type such as ``int``, ``str | None`` or ``Status``."""
        if self.kind is FieldKind.ENUM:
            base = self.python_type.__name__
        elif self.item_type is not None:
            base = f"list[{getattr(self.item_type, '__name__', self.item_type)}]"
        else:
            base = getattr(self.python_type, "__name__", str(self.python_type))
        return f"{base} | None" if self.nullable else base

    def default_value(self) -> Any:
        """A fresh copy of the default (mutable defaults are never shared)."""
        value = self.default
        if isinstance(value, dict | list):
            import copy

            return copy.deepcopy(value)
        return value

    def validate(self, value: Any, *, where: str = "") -> Any:
        """Check and normalise a value for this field.

        Accepts the field's Python type, and the JSON-friendly spellings a workflow file
        can carry (ISO-8601 strings for dates and times, strings for UUID and Decimal,
        an enum's value or name).

        Raises:
            ValidationError: ``DF-PARAM-TYPE`` naming the field, expected and given type.
        """
        if value is None:
            if self.nullable:
                return None
            raise ValidationError(
                f"{where}field {self.name!r} is not nullable; give a {self.type_name} value",
                code="DF-PARAM-NULL",
                details={"field": self.name, "expected": self.type_name},
            )
        try:
            return self._check(value)
        except _Bad as bad:
            raise ValidationError(
                f"{where}field {self.name!r} expects {self.type_name}, got "
                f"{type(value).__name__} {_short(value)}"
                + (f" ({bad.reason})" if bad.reason else ""),
                code="DF-PARAM-TYPE",
                details={
                    "field": self.name,
                    "expected": self.type_name,
                    "given": type(value).__name__,
                },
            ) from None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Bad(Exception):
    def __init__(self, reason: str = "") -> None:
        self.reason = reason


def _c_str(v: Any) -> Any:
    if type(v) is str:
        return v
    if isinstance(v, str) and not isinstance(v, enum.Enum):
        return str(v)
    raise _Bad


def _c_int(v: Any) -> Any:
    if type(v) is int:
        if INT64_MIN <= v <= INT64_MAX:
            return v
        raise _Bad("outside the 64-bit integer range")
    if isinstance(v, int) and not isinstance(v, bool):
        return _c_int(int(v))
    raise _Bad


def _c_float(v: Any) -> Any:
    if type(v) is float:
        if math.isnan(v):
            raise _Bad("NaN cannot be stored faithfully")
        return v
    if isinstance(v, int | float) and not isinstance(v, bool):
        try:
            return _c_float(float(v))
        except OverflowError:
            raise _Bad("too large for a 64-bit float") from None
    raise _Bad


def _c_bool(v: Any) -> Any:
    if type(v) is bool:
        return v
    raise _Bad


def _c_decimal(v: Any) -> Any:
    if isinstance(v, Decimal):
        result = v
    elif isinstance(v, int) and not isinstance(v, bool):
        result = Decimal(v)
    elif isinstance(v, float):
        if not math.isfinite(v):
            raise _Bad("not a finite number")
        result = Decimal(repr(v))
    elif isinstance(v, str):
        try:
            result = Decimal(v.strip())
        except InvalidOperation:
            raise _Bad("not a decimal number") from None
    else:
        raise _Bad
    if not result.is_finite():
        raise _Bad("not a finite number")
    return result


def _c_datetime(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        if v.tzinfo is None:
            return v.replace(tzinfo=dt.UTC)
        try:
            v.astimezone(dt.UTC)
        except OverflowError:
            raise _Bad("outside the representable range once converted to UTC") from None
        return v
    if isinstance(v, str):
        try:
            parsed = dt.datetime.fromisoformat(v)
        except ValueError:
            raise _Bad("not an ISO-8601 date-time") from None
        return _c_datetime(parsed)
    raise _Bad


def _c_date(v: Any) -> Any:
    if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
        return v
    if isinstance(v, str):
        try:
            return dt.date.fromisoformat(v)
        except ValueError:
            raise _Bad("not an ISO-8601 date") from None
    raise _Bad


def _c_time(v: Any) -> Any:
    if isinstance(v, dt.time):
        if v.tzinfo is not None:
            raise _Bad("times with a time zone are not supported; pass a naive time")
        return v
    if isinstance(v, str):
        try:
            parsed = dt.time.fromisoformat(v)
        except ValueError:
            raise _Bad("not an ISO-8601 time") from None
        return _c_time(parsed)
    raise _Bad


def _c_uuid(v: Any) -> Any:
    if isinstance(v, uuid.UUID):
        return v if type(v) is uuid.UUID else uuid.UUID(str(v))
    if isinstance(v, str):
        try:
            return uuid.UUID(v)
        except ValueError:
            raise _Bad("not a UUID") from None
    raise _Bad


def _c_bytes(v: Any) -> Any:
    if type(v) is bytes:
        return v
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v)
    raise _Bad


_JSON_SCALARS = (str, int, float, bool, type(None))


def _check_json(value: Any, depth: int = 0) -> None:
    if depth > 100:
        raise _Bad("nested too deeply")
    if isinstance(value, _JSON_SCALARS):
        if isinstance(value, float) and not math.isfinite(value):
            raise _Bad("JSON cannot hold NaN or infinity")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Bad("JSON object keys must be strings")
            _check_json(item, depth + 1)
        return
    if isinstance(value, list | tuple):
        for item in value:
            _check_json(item, depth + 1)
        return
    raise _Bad(f"{type(value).__name__} is not JSON")


def _c_json(v: Any, f: Field) -> Any:
    expected = f.python_type
    if expected is dict and not isinstance(v, dict):
        raise _Bad
    if expected is list:
        if isinstance(v, tuple):
            v = list(v)
        if not isinstance(v, list):
            raise _Bad
        if f.item_type is float:
            v = [float(x) if isinstance(x, int) and not isinstance(x, bool) else x for x in v]
        if f.item_type is not None:
            for item in v:
                if not isinstance(item, f.item_type) or (
                    isinstance(item, bool) and f.item_type is not bool
                ):
                    raise _Bad(f"item {_short(item)} is not {f.item_type.__name__}")
    _check_json(v)
    return v


def _c_enum(v: Any, f: Field) -> Any:
    enum_type: type[enum.Enum] = f.python_type
    if isinstance(v, enum_type):
        return v
    if isinstance(v, bool) and not any(isinstance(m.value, bool) for m in enum_type):
        raise _Bad(f"allowed: {', '.join(repr(m.value) for m in enum_type)}")
    try:
        return enum_type(v)
    except (ValueError, TypeError):
        pass
    if isinstance(v, str) and v in enum_type.__members__:
        return enum_type.__members__[v]
    allowed = ", ".join(repr(m.value) for m in enum_type)
    raise _Bad(f"allowed: {allowed}")


_CHECKS: dict[FieldKind, Callable[..., Any]] = {
    FieldKind.STR: _c_str,
    FieldKind.INT: _c_int,
    FieldKind.FLOAT: _c_float,
    FieldKind.BOOL: _c_bool,
    FieldKind.DECIMAL: _c_decimal,
    FieldKind.DATETIME: _c_datetime,
    FieldKind.DATE: _c_date,
    FieldKind.TIME: _c_time,
    FieldKind.UUID: _c_uuid,
    FieldKind.BYTES: _c_bytes,
    FieldKind.JSON: _c_json,
    FieldKind.ENUM: _c_enum,
}


def enum_db_value(member: enum.Enum) -> str:
    """The text stored for an enum member: its value when every value is a string, else its name."""
    enum_type = type(member)
    if all(isinstance(m.value, str) for m in enum_type):
        return str(member.value)
    return member.name


def enum_db_values(enum_type: type[enum.Enum]) -> list[str]:
    """Every text an enum column may hold, in declaration order."""
    return [enum_db_value(m) for m in enum_type]


def enum_from_db(enum_type: type[enum.Enum], text: str) -> enum.Enum:
    """The member stored as ``text``."""
    if all(isinstance(m.value, str) for m in enum_type):
        return enum_type(text)
    return enum_type.__members__[text]


def field_from_annotation(name: str, annotation: Any, default: Any = MISSING) -> Field:
    """Build a :class:`Field` from a class annotation.

    Raises:
        ModelError: ``DF-MODEL-FIELD-TYPE`` for a type DataFlow cannot store.
    """
    nullable = False
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) != len(typing.get_args(annotation)) - 1 or len(args) != 1:
            raise ModelError(
                f"field {name!r}: union types other than Optional[T] / T | None are not "
                "supported; use one type, or dict/list for free-form JSON",
                code="DF-MODEL-FIELD-TYPE",
                details={"field": name},
            )
        nullable = True
        annotation = args[0]
        origin = typing.get_origin(annotation)
    item_type = None
    if origin in (list, dict):
        base: Any = origin
        if origin is list:
            item_args = typing.get_args(annotation)
            if item_args and item_args[0] in (str, int, float, bool):
                item_type = item_args[0]
    else:
        base = annotation
    if isinstance(base, type) and issubclass(base, enum.Enum):
        kind = FieldKind.ENUM
    else:
        kind_or_none = _SIMPLE.get(base)
        if kind_or_none is None:
            raise ModelError(
                f"field {name!r}: type {annotation!r} cannot be stored; use str, int, float, "
                "bool, Decimal, datetime, date, time, UUID, bytes, dict, list, list[T] or an "
                "Enum (optionally with | None)",
                code="DF-MODEL-FIELD-TYPE",
                details={"field": name, "type": repr(annotation)},
            )
        kind = kind_or_none
    result = Field(
        name=name,
        kind=kind,
        python_type=base,
        nullable=nullable,
        default=default,
        item_type=item_type,
    )
    if default is not MISSING and default is not None:
        try:
            result.default = result.validate(default)
        except ValidationError as exc:
            raise ModelError(
                f"field {name!r}: default {default!r} does not match the type: {exc.message}",
                code="DF-MODEL-FIELD-DEFAULT",
                details={"field": name},
            ) from None
    elif default is None and not nullable:
        raise ModelError(
            f"field {name!r}: default None needs a nullable type; write "
            f"'{name}: {getattr(base, '__name__', base)} | None = None'",
            code="DF-MODEL-FIELD-DEFAULT",
            details={"field": name},
        )
    return result
