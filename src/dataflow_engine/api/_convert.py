"""JSON in and out: strict request parsing, and engine values as JSON values.

JSON has no dates, decimals, UUIDs or bytes, so the REST API spells them as strings:
ISO-8601 for dates and times, the exact digits for decimals, the canonical form for
UUIDs and standard base64 for bytes. The engine's field validators accept those
strings already (except base64, decoded here); the way out is
:mod:`dataflow_engine.jsonvalues`, which the MCP server shares.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

from ..errors import ValidationError
from ..jsonvalues import NON_FINITE, dumps, json_value, records, row_json
from ..models import Field, FieldKind, ModelDef

__all__ = [
    "NON_FINITE",
    "decode_record",
    "decode_update",
    "dumps",
    "json_value",
    "parse_json",
    "path_value",
    "records",
    "row_json",
]

#: Deepest nesting of a request document (filters and JSON fields included).
MAX_DEPTH = 64


def _malformed(message: str, what: str) -> ValidationError:
    return ValidationError(message, code="DF-API-MALFORMED-JSON", details={"where": what})


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (NaN and Infinity cannot be sent)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is too large for a 64-bit float")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"the key {key[:80]!r} appears twice in one object")
            seen.add(key)
    return out


_decoder = json.JSONDecoder(
    object_pairs_hook=_no_duplicates, parse_float=_finite_float, parse_constant=_refuse_constant
)


def _depth(value: Any, limit: int) -> bool:
    """Whether ``value`` nests deeper than ``limit`` (iterative: no recursion limit)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if level >= limit:
            return True
        stack.extend((c, level + 1) for c in children)
    return False


def parse_json(text: str | bytes, what: str) -> Any:
    """Parse strict JSON: no NaN or Infinity, no number too large for a float, no key
    given twice in one object, at most ``MAX_DEPTH`` levels deep.

    Raises:
        ValidationError: ``DF-API-MALFORMED-JSON`` naming ``what`` and the position.
    """
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        value = _decoder.decode(text)
    except UnicodeDecodeError:
        raise _malformed(f"{what} is not UTF-8 text; send JSON encoded as UTF-8", what) from None
    except RecursionError:
        raise _malformed(
            f"{what} nests too deeply; at most {MAX_DEPTH} levels are accepted", what
        ) from None
    except ValueError as exc:  # json.JSONDecodeError and the hooks' refusals
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        where = (
            f" (line {exc.lineno}, column {exc.colno})"
            if isinstance(exc, json.JSONDecodeError)
            else ""
        )
        raise _malformed(f"{what} is not valid JSON: {reason}{where}", what) from None
    if _depth(value, MAX_DEPTH):
        raise _malformed(f"{what} nests too deeply; at most {MAX_DEPTH} levels are accepted", what)
    return value


# -- JSON -> engine values ----------------------------------------------------------------------


def _bytes(f: Field, value: Any, where: str) -> Any:
    if not isinstance(value, str):
        return value  # the field's own validator names the wrong type
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ValidationError(
            f"{where}field {f.name!r} holds bytes: send them as standard base64 text",
            code="DF-PARAM-TYPE",
            details={"field": f.name, "expected": "base64"},
        ) from None


def decode_record(model: ModelDef, record: Any, where: str = "") -> Any:
    """A record from a request body, with base64 text decoded for bytes fields; anything
    else is left for the node to validate (and name)."""
    if not isinstance(record, dict):
        return record
    out = None
    for name, value in record.items():
        f = model.fields.get(name)
        if f is not None and f.kind is FieldKind.BYTES and value is not None:
            out = out if out is not None else dict(record)
            out[name] = _bytes(f, value, where)
    return record if out is None else out


_UPDATE_VALUE_OPERATORS = ("$set", "$min", "$max")


def decode_update(model: ModelDef, doc: Any, where: str = "") -> Any:
    """An update document (plain values or operators) with bytes fields decoded."""
    if not isinstance(doc, dict):
        return doc
    out = decode_record(model, doc, where)
    for op in _UPDATE_VALUE_OPERATORS:
        inner = out.get(op)
        if isinstance(inner, dict):
            decoded = decode_record(model, inner, where)
            if decoded is not inner:
                out = dict(out) if out is doc else out
                out[op] = decoded
    return out


_BOOL_TEXT = {"true": True, "1": True, "false": False, "0": False}


def path_value(f: Field, text: str) -> Any:
    """A key value from a URL path segment, typed for its field.

    Raises:
        ValidationError: ``DF-PARAM-TYPE`` naming the field and the expected type.
    """

    def bad() -> ValidationError:
        shown = text if len(text) <= 60 else text[:57] + "..."
        return ValidationError(
            f"the key {f.name!r} expects {f.type_name}, got {shown!r} in the path",
            code="DF-PARAM-TYPE",
            details={"field": f.name, "expected": f.type_name},
        )

    value: Any = text
    if f.kind is FieldKind.INT:
        stripped = text[1:] if text[:1] == "-" else text
        if not (stripped.isascii() and stripped.isdigit()) or len(stripped) > 19:
            raise bad()
        value = int(text)
    elif f.kind is FieldKind.FLOAT:
        try:
            value = _finite_float(text)
        except ValueError:
            raise bad() from None
    elif f.kind is FieldKind.BOOL:
        if text.lower() not in _BOOL_TEXT:
            raise bad()
        value = _BOOL_TEXT[text.lower()]
    elif f.kind is FieldKind.BYTES:
        try:
            value = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raise bad() from None
    elif f.kind is FieldKind.JSON:
        raise bad()
    try:
        return f.validate(value, where="the path: ")
    except ValidationError:
        raise bad() from None
