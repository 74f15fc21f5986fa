"""Engine values as JSON, for every front end that answers in JSON (the REST API, the
MCP server): one spelling, and one fast path.

JSON has no dates, decimals, UUIDs or bytes, so they are spelt as strings: ISO 8601 for
dates and times, the exact digits for decimals, the canonical form for UUIDs, standard
base64 for bytes; enums by their value. Floats JSON cannot carry (NaN, infinities) are
the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``. orjson, when installed (the api
and mcp extras bring it), writes the JSON text; the standard library otherwise.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import json
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

__all__ = ["NON_FINITE", "dumps", "json_value", "loads", "records", "row_json"]

#: How a float that JSON cannot carry (NaN, infinities) is written.
NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _float(value: float) -> Any:
    return value if math.isfinite(value) else NON_FINITE[repr(value)]


def json_value(value: Any) -> Any:
    """An engine value as a JSON value (recursively for dicts and lists)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return _float(value)
    convert = _CONVERT.get(type(value))
    if convert is not None:
        return convert(value)
    if isinstance(value, enum.Enum):
        return json_value(value.value)
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_value(v) for v in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


_PLAIN = frozenset({str, int, bool, type(None)})
_CONVERT: dict[type, Callable[[Any], Any]] = {
    dt.datetime: dt.datetime.isoformat,
    dt.date: dt.date.isoformat,
    dt.time: dt.time.isoformat,
    Decimal: str,
    uuid.UUID: str,
    bytes: lambda b: base64.b64encode(b).decode("ascii"),
    float: _float,
}


def row_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """A record as JSON values; most values are already, the rest convert by type."""
    out = {}
    for k, v in row.items():
        kind = type(v)
        if kind not in _PLAIN:
            convert = _CONVERT.get(kind)
            v = convert(v) if convert is not None else json_value(v)
        out[k] = v
    return out


def _orjson_default(value: Any) -> Any:
    """What orjson does not write itself (it writes datetimes, UUIDs and enums as
    :func:`json_value` does)."""
    convert = _CONVERT.get(type(value))
    if convert is None or type(value) in (dt.datetime, dt.date, dt.time, uuid.UUID):
        raise TypeError(type(value).__name__)
    return convert(value)


_orjson_loads: Callable[[bytes | str], Any] | None

try:  # the api and mcp extras bring orjson; without it the standard library, slower
    import orjson

    _orjson_loads = orjson.loads

    def _fast(payload: Any) -> bytes | None:
        try:
            return orjson.dumps(payload, default=_orjson_default)
        except TypeError:  # an int beyond 64 bits, a non-string key: the slow path
            return None

except ImportError:  # pragma: no cover - the api and mcp extras install orjson
    _orjson_loads = None

    def _fast(payload: Any) -> bytes | None:
        return None


def records(rows: list[dict[str, Any]], float_fields: Sequence[str]) -> list[dict[str, Any]]:
    """Rows ready for :func:`dumps`: as they are, since :func:`dumps` converts engine
    values; only a row holding a float JSON cannot carry (NaN, infinity) is converted
    here (``dumps`` would otherwise write it as null)."""
    if not float_fields:
        return rows
    out = rows
    for i, row in enumerate(rows):
        for name in float_fields:
            v = row.get(name)
            if type(v) is float and not math.isfinite(v):
                out = list(rows) if out is rows else out
                out[i] = row_json(row)
                break
    return out


def dumps(payload: Any) -> bytes:
    """Compact UTF-8 JSON of a payload of JSON values and engine values (dates, decimals,
    UUIDs, bytes, enums), each spelt as :func:`json_value` does."""
    fast = _fast(payload)
    if fast is not None:
        return fast
    try:
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        text = json.dumps(json_value(payload), ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8")


def loads(data: bytes | str) -> Any:
    """JSON text (as :func:`dumps` writes it) back to JSON values."""
    if _orjson_loads is not None:
        return _orjson_loads(data)
    return json.loads(data)
