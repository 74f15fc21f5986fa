"""Answers in and out of a cache, with their exact Python types.

Two forms:

- **Snapshots** (in-process): an answer is kept as a private copy and every hit gets a
  fresh copy of its containers, so a caller mutating a result (a record's dict, a JSON
  field's list) cannot change what the next caller gets. Values that cannot change
  (str, int, Decimal, datetime, UUID, bytes, Enum members, ...) are shared.
- **JSON text** (Redis): never pickle, since whoever can write to a shared Redis could
  otherwise run code in every process that reads it. JSON objects are dicts with string
  keys; every JSON array is a tagged node (``["l", ...]`` a list, ``["d", "1.50"]`` a
  Decimal, ``["t", iso]`` a datetime, ...), and a list of records with the same keys is a
  table whose typed columns are converted column by column. Enum members are read back
  only as members of an Enum type the model's fields declare. A value the encoding does
  not hold exactly (a datetime whose tzinfo is not a fixed offset, an unknown type) makes
  the answer uncacheable: it is served, not stored.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import enum
import json
import sys
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ._keys import Uncacheable

__all__ = ["Snapshot", "decode", "encode", "enum_types", "snapshot"]

_IMMUTABLE: frozenset[type] = frozenset(
    {
        type(None),
        bool,
        int,
        float,
        str,
        bytes,
        Decimal,
        dt.datetime,
        dt.date,
        dt.time,
        dt.timedelta,
        uuid.UUID,
    }
)


def _immutable(value: Any) -> bool:
    return type(value) in _IMMUTABLE or isinstance(value, enum.Enum)


def _flat(row: Any) -> bool:
    return type(row) is dict and all(map(_immutable, row.values()))


def _size(value: Any, depth: int = 0) -> int:
    """About how many bytes ``value`` holds (containers and their contents)."""
    getsizeof = sys.getsizeof
    t = type(value)
    if t is dict:
        if depth > 60:
            raise Uncacheable("nested too deeply")
        total = getsizeof(value)
        for k, v in value.items():
            total += getsizeof(k)
            total += getsizeof(v) if type(v) in _IMMUTABLE else _size(v, depth + 1)
        return total
    if t is list or t is tuple:
        if depth > 60:
            raise Uncacheable("nested too deeply")
        total = getsizeof(value)
        for v in value:
            total += getsizeof(v) if type(v) in _IMMUTABLE else _size(v, depth + 1)
        return total
    return getsizeof(value)


class Snapshot:
    """A private copy of an answer; :meth:`copy` hands out a fresh one per hit."""

    __slots__ = ("copy", "size")

    def __init__(self, make: Callable[[], Any], size: int) -> None:
        self.copy = make
        self.size = size


def snapshot(answer: dict[str, Any]) -> Snapshot:
    """Keep ``answer`` for later hits. Plain answers (scalars, and lists of records whose
    values are scalars) are copied container by container; any other answer is copied
    deeply, on the way in and on every hit.

    Raises:
        Uncacheable: the answer is nested too deeply to measure.
    """
    size = _size(answer)
    top: dict[str, Any] = {}
    tables: dict[str, list[dict[str, Any]]] = {}
    plain = type(answer) is dict
    if plain:
        for k, v in answer.items():
            if _immutable(v):
                top[k] = v
            elif type(v) is list and all(map(_flat, v)):
                tables[k] = [r.copy() for r in v]
            else:
                plain = False
                break
    if plain and not tables:
        return Snapshot(top.copy, size)
    if plain:

        def make() -> dict[str, Any]:
            out = top.copy()
            for k, rows in tables.items():
                out[k] = [r.copy() for r in rows]
            return out

        return Snapshot(make, size)
    kept = copy.deepcopy(answer)
    return Snapshot(lambda: copy.deepcopy(kept), size)


# -- JSON text for Redis --------------------------------------------------------------------


def enum_types(fields: Any) -> dict[str, type[enum.Enum]]:
    """The Enum types a model's fields declare (directly or as list items), by name."""
    out: dict[str, type[enum.Enum]] = {}
    for f in fields:
        for t in (f.python_type, f.item_type):
            if isinstance(t, type) and issubclass(t, enum.Enum):
                out[f"{t.__module__}.{t.__qualname__}"] = t
    return out


def _enum_name(value: enum.Enum, enums: dict[str, type[enum.Enum]]) -> str:
    cls = type(value)
    name = f"{cls.__module__}.{cls.__qualname__}"
    if enums.get(name) is not cls:
        raise Uncacheable(f"enum {name} is not a field type of the model")
    return name


def _tz_ok(tz: dt.tzinfo | None) -> bool:
    return tz is None or type(tz) is dt.timezone


def _scalar_tag(value: Any, enums: dict[str, type[enum.Enum]]) -> tuple[str, Any]:
    """The tag and JSON payload of a non-JSON scalar."""
    t = type(value)
    if t is Decimal:
        return "d", str(value)
    if t is dt.datetime:
        if not _tz_ok(value.tzinfo):
            raise Uncacheable("datetime with a non-fixed tzinfo")
        return "t", value.isoformat()
    if t is dt.date:
        return "D", value.isoformat()
    if t is dt.time:
        if not _tz_ok(value.tzinfo):
            raise Uncacheable("time with a non-fixed tzinfo")
        return "h", value.isoformat()
    if t is uuid.UUID:
        return "U", value.hex
    if t is bytes:
        return "b", base64.b64encode(value).decode("ascii")
    if t is dt.timedelta:
        return "g", [value.days, value.seconds, value.microseconds]
    if isinstance(value, enum.Enum):
        return "e:" + _enum_name(value, enums), value.name
    raise Uncacheable(t.__name__)


_NATIVE: frozenset[type] = frozenset({str, int, float, bool})


def _enc(value: Any, enums: dict[str, type[enum.Enum]], depth: int = 0) -> Any:
    t = type(value)
    if t in _NATIVE or value is None:
        return value
    if depth > 60:
        raise Uncacheable("nested too deeply")
    if t is dict:
        if all(type(k) is str for k in value):
            return {k: _enc(v, enums, depth + 1) for k, v in value.items()}
        out: list[Any] = ["m"]
        for k, v in value.items():
            out += [_enc(k, enums, depth + 1), _enc(v, enums, depth + 1)]
        return out
    if t is list:
        if value and type(value[0]) is dict:
            table = _table(value, enums, depth)
            if table is not None:
                return table
        return ["l", *[_enc(v, enums, depth + 1) for v in value]]
    if t is tuple:
        return ["u", *[_enc(v, enums, depth + 1) for v in value]]
    tag, payload = _scalar_tag(value, enums)
    return [tag, payload]


def _table(rows: list[Any], enums: dict[str, type[enum.Enum]], depth: int) -> list[Any] | None:
    """Records with the same keys as ``["R", keys, column tags, rows]``; None otherwise."""
    keys = list(rows[0])
    if not all(type(k) is str for k in keys):
        return None
    width = len(keys)
    body: list[list[Any]] = []
    for r in rows:
        if type(r) is not dict or len(r) != width or list(r) != keys:
            return None
        body.append(list(r.values()))
    tags: list[str] = []
    for j in range(width):
        kinds = {type(row[j]) for row in body} - {type(None)}
        if kinds <= _NATIVE:
            tags.append("")
            continue
        tag = ""
        if len(kinds) == 1:
            first = next(row[j] for row in body if row[j] is not None)
            try:
                tag = _scalar_tag(first, enums)[0]
            except Uncacheable:
                tag = ""
        if tag and tag != "g":
            for row in body:
                if row[j] is not None:
                    row[j] = _scalar_tag(row[j], enums)[1]
        else:
            tag = "*"
            for row in body:
                row[j] = _enc(row[j], enums, depth + 2)
        tags.append(tag)
    return ["R", keys, tags, body]


def encode(answer: Any, enums: dict[str, type[enum.Enum]]) -> bytes:
    """``answer`` as JSON text.

    Raises:
        Uncacheable: a value the encoding cannot hold exactly.
    """
    try:
        return json.dumps(_enc(answer, enums), separators=(",", ":")).encode("ascii")
    except RecursionError:
        raise Uncacheable("nested too deeply") from None


def _decimal(v: Any) -> Decimal:
    return Decimal(v)


def _bytes(v: Any) -> bytes:
    return base64.b64decode(v, validate=True)


def _uuid(v: Any) -> uuid.UUID:
    return uuid.UUID(hex=v)


def _timedelta(v: Any) -> dt.timedelta:
    return dt.timedelta(days=v[0], seconds=v[1], microseconds=v[2])


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "d": _decimal,
    "t": dt.datetime.fromisoformat,
    "D": dt.date.fromisoformat,
    "h": dt.time.fromisoformat,
    "U": _uuid,
    "b": _bytes,
    "g": _timedelta,
}


def _converter(tag: str, enums: dict[str, type[enum.Enum]]) -> Callable[[Any], Any]:
    if tag.startswith("e:"):
        cls = enums[tag[2:]]  # KeyError: not an enum of this model; the entry is ignored
        return cls.__getitem__
    return _CONVERT[tag]


def _dec(node: Any, enums: dict[str, type[enum.Enum]]) -> Any:
    t = type(node)
    if t is dict:
        return {
            k: _dec(v, enums) if type(v) is list or type(v) is dict else v for k, v in node.items()
        }
    if t is not list:
        return node
    tag = node[0]
    if tag == "R":
        return _dec_table(node, enums)
    if tag == "l":
        return [_dec(v, enums) for v in node[1:]]
    if tag == "u":
        return tuple(_dec(v, enums) for v in node[1:])
    if tag == "m":
        items = node[1:]
        return {_dec(items[i], enums): _dec(items[i + 1], enums) for i in range(0, len(items), 2)}
    (payload,) = node[1:]
    return _converter(tag, enums)(payload)


def _dec_table(node: list[Any], enums: dict[str, type[enum.Enum]]) -> list[dict[str, Any]]:
    _, keys, tags, rows = node
    for j, tag in enumerate(tags):
        if not tag:
            continue
        if tag == "*":
            for row in rows:
                row[j] = _dec(row[j], enums)
            continue
        convert = _converter(tag, enums)
        for row in rows:
            v = row[j]
            if v is not None:
                row[j] = convert(v)
    return [dict(zip(keys, row, strict=True)) for row in rows]


def decode(data: bytes, enums: dict[str, type[enum.Enum]]) -> Any:
    """The answer :func:`encode` made. Any malformed input raises (``ValueError``,
    ``KeyError``, ``TypeError``, ...): the caller treats that as a miss."""
    return _dec(json.loads(data), enums)
