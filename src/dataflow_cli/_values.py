"""Column values as file text, and back, exactly.

CSV (the convention of PostgreSQL's ``COPY ... CSV``): an empty unquoted cell is NULL and
a quoted empty cell ``""`` is the empty string; booleans are ``true``/``false``; numbers,
decimals, dates, times, date-times (ISO 8601) and UUIDs as text; bytes in base64 (``\\x``
followed by hex digits is read too); JSON columns as JSON text.

JSON lines: the JSON of :func:`dataflow_cli._common.json_value` (decimals as strings,
bytes as ``{"base64": ...}``); numbers with a fraction are read as exact decimals.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from dataflow_engine.models import MISSING, Field, FieldKind

__all__ = [
    "OMIT",
    "BadValue",
    "empty_value",
    "from_json",
    "from_text",
    "text_converter",
    "to_text",
]


class BadValue(Exception):
    """A cell or JSON value that is not a value of its column."""


class _Omit:
    __slots__ = ()

    def __repr__(self) -> str:
        return "OMIT"


#: The column is left out of the record: the database's default fills it in.
OMIT: Any = _Omit()

_TRUE = frozenset({"true", "t", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "off"})
_INT = re.compile(r"[+-]?[0-9]+")
_INFINITIES = {"infinity": math.inf, "+infinity": math.inf, "-infinity": -math.inf}


def _int(text: str) -> int:
    stripped = text.strip()
    if not _INT.fullmatch(stripped):
        raise BadValue(f"{_show(text)} is not an integer")
    return int(stripped)


def _float(text: str) -> float:
    stripped = text.strip()
    infinite = _INFINITIES.get(stripped.lower())
    if infinite is not None:
        return infinite
    try:
        value = float(stripped)
    except ValueError:
        raise BadValue(f"{_show(text)} is not a number") from None
    if math.isnan(value) or "_" in stripped:
        raise BadValue(f"{_show(text)} is not a number")
    return value


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise BadValue(f"{_show(text)} is not a boolean (true/false, yes/no, 1/0)")


def _bytes(text: str) -> bytes:
    stripped = text.strip()
    try:
        if stripped[:2] in ("\\x", "\\X"):
            return bytes.fromhex(stripped[2:])
        return base64.b64decode(stripped, validate=True)
    except (ValueError, binascii.Error):
        raise BadValue(f"{_show(text)} is neither base64 nor \\x-prefixed hex") from None


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadValue(f"{_show(text)} is not JSON ({exc.msg})") from None


_FROM_TEXT: dict[FieldKind, Callable[[str], Any] | None] = {
    # None: the text as it is. Decimal, date, time, date-time, UUID and enum text is
    # validated by the engine, which says what it expected.
    FieldKind.STR: None,
    FieldKind.INT: _int,
    FieldKind.FLOAT: _float,
    FieldKind.BOOL: _bool,
    FieldKind.DECIMAL: str.strip,
    FieldKind.DATETIME: str.strip,
    FieldKind.DATE: str.strip,
    FieldKind.TIME: str.strip,
    FieldKind.UUID: str.strip,
    FieldKind.BYTES: _bytes,
    FieldKind.JSON: _json,
    FieldKind.ENUM: None,
}


def text_converter(field: Field) -> Callable[[str], Any] | None:
    """How the non-empty cells of ``field`` become values (None: the text as it is).

    Raises (the converter):
        BadValue: the text is not a value of the column's type.
    """
    return _FROM_TEXT[field.kind]


def empty_value(field: Field, quoted: bool = False) -> Any:
    """The value of an empty cell: NULL in a nullable column; in a NOT NULL column the
    database default (:data:`OMIT`), or the empty string for a text column; a quoted
    empty cell (``""``) is the empty string (no bytes) in a text (bytes) column.

    Raises:
        BadValue: a NOT NULL column without a default that is not text.
    """
    if quoted and field.kind is FieldKind.STR:
        return ""
    if quoted and field.kind is FieldKind.BYTES:
        return b""
    if field.identity:
        return OMIT  # the database numbers the record
    if field.nullable:
        return None
    if field.default is not MISSING:
        return OMIT
    if field.kind is FieldKind.STR:
        return ""
    raise BadValue("empty, and the column is NOT NULL without a default")


def from_text(field: Field, text: str, quoted_empty: bool = False) -> Any:
    """The value of a CSV cell for ``field`` (see :func:`empty_value` for empty cells).

    Raises:
        BadValue: the text is not a value of the column's type.
    """
    if text == "":
        return empty_value(field, quoted_empty)
    convert = _FROM_TEXT[field.kind]
    return text if convert is None else convert(text)


def _json_float(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, str):
        infinite = _INFINITIES.get(value.strip().lower())
        if infinite is not None:
            return infinite
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _plain_json(value: Any) -> Any:
    """JSON column values: the decimals the reader made are numbers again."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _plain_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_json(v) for v in value]
    return value


def _json_bytes(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"base64"} and isinstance(value["base64"], str):
        return _bytes(value["base64"])
    if isinstance(value, str):
        return _bytes(value)
    return value


_FROM_JSON: dict[FieldKind, Callable[[Any], Any]] = {
    FieldKind.FLOAT: _json_float,
    FieldKind.JSON: _plain_json,
    FieldKind.BYTES: _json_bytes,
}


def from_json(field: Field, value: Any) -> Any:
    """The value of a JSON-lines member for ``field`` (the engine checks its type)."""
    if value is None:
        return None
    convert = _FROM_JSON.get(field.kind)
    return value if convert is None else convert(value)


def to_text(value: Any) -> str | None:
    """A value as CSV cell text; None for NULL (written as an empty unquoted cell)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if isinstance(value, enum.Enum):
        return str(value.value)
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def _show(text: str) -> str:
    return repr(text) if len(text) <= 40 else repr(text[:37] + "...")
