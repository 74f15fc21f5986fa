"""Conditions on JSON fields and dotted paths into them (pure, no I/O).

The meaning, shared by every dialect (docs/query.md, "JSON fields"):

- ``data.a.b`` walks object keys; a component made of digits indexes an array
  (``items.0.sku``). A path that meets anything else leads nowhere: the value is missing.
  Arrays met on the way are not searched; ``$elemMatch`` asks about their elements.
- A comparison matches when the value at the path, or any element of it when it is an
  array, matches (MongoDB's array semantics): ``{"tags": "red"}`` finds ``["red", "blue"]``.
- Only values of one JSON type compare: numbers with numbers (1 equals 1.0), strings
  with strings (code-point order), true and false only with themselves.
- ``null`` matches a JSON null, a missing path and a NULL column; ``$exists`` asks
  whether the path leads to a value, JSON null included.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..errors import FilterError, UnsupportedError
from ._ast import (
    And,
    Const,
    JsonElemMatch,
    JsonExists,
    JsonRef,
    JsonSize,
    JsonTest,
    Node,
    Not,
    Or,
)
from ._doc import check_depth, is_operator_doc, like_pattern, split_options, unknown_operator
from ._regex import check_regex

__all__ = ["JSON_OPERATORS", "JSON_TYPE_NAMES", "parse_json_condition", "split_path"]

#: Operators that apply only to JSON fields and paths into them.
JSON_OPERATORS: dict[str, str] = {
    "$all": "an array holding every listed value ([] matches nothing)",
    "$elemMatch": "an array with an element matching the operator or filter document",
    "$size": "an array of exactly this many elements",
}

#: ``$type`` names a JSON value can have.
JSON_TYPE_NAMES = ("string", "number", "bool", "null", "object", "array")
# One JSON number type: PostgreSQL's jsonb keeps no int/double distinction.
_NUMBER_SUBTYPES = ("int", "long", "double", "decimal")
_NEVER_JSON = ("date", "timestamp", "binData")

_MAX_PATH = 32
_ORDERING = ("$gt", "$gte", "$lt", "$lte")
_TEXT_OPS = ("$like", "$ilike", "$contains", "$startswith", "$endswith")


def split_path(text: str, path: str) -> tuple[str | int, ...]:
    """The components of a dotted path below a JSON field (``"a.0.b"`` -> ``("a", 0, "b")``)."""
    parts = text.split(".")
    if len(parts) > _MAX_PATH:
        raise FilterError(
            f"{path}: a JSON path has at most {_MAX_PATH} components",
            code="DF-FILTER-MALFORMED",
        )
    out: list[str | int] = []
    for part in parts:
        if not part or part.startswith("$") or '"' in part or "\\" in part:
            raise FilterError(
                f"{path}: {part!r} cannot be a JSON path component (empty, starting with "
                "'$', or holding a quote or backslash)",
                code="DF-FILTER-MALFORMED",
                details={"component": part},
            )
        out.append(int(part) if part.isascii() and part.isdigit() and len(part) < 10 else part)
    return tuple(out)


def _json_value(value: Any, path: str, depth: int = 0) -> Any:
    """A JSON value (tuples become lists), or a FilterError."""
    if depth > 100:
        raise FilterError(f"{path}: the value nests too deeply", code="DF-FILTER-TYPE")
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        raise FilterError(
            f"{path}: {value} does not fit in 64 bits, as numbers in JSON filters must",
            code="DF-FILTER-TYPE",
        )
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FilterError(f"{path}: JSON has no NaN or infinity", code="DF-FILTER-TYPE")
        return value
    if isinstance(value, list | tuple):
        return [_json_value(v, path, depth + 1) for v in value]
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        return {k: _json_value(v, path, depth + 1) for k, v in value.items()}
    raise FilterError(
        f"{path}: {type(value).__name__} is not a JSON value",
        code="DF-FILTER-TYPE",
        details={"type": type(value).__name__},
    )


def _typed(ref: JsonRef, value: Any, path: str) -> Any:
    """A value checked against a ``list[T]`` field: a whole list, or one of its items."""
    value = _json_value(value, path)
    field = ref.root
    if isinstance(field, int) or ref.path or field.item_type is None or value is None:
        return value
    item = field.item_type
    items = value if isinstance(value, list) else [value]
    for x in items:
        if item is float and isinstance(x, int) and not isinstance(x, bool):
            continue
        if not isinstance(x, item) or (isinstance(x, bool) and item is not bool):
            raise FilterError(
                f"{path}: {x!r} can never match {field.name!r} ({field.type_name}): it is "
                f"not {item.__name__}",
                code="DF-FILTER-TYPE",
                details={"field": field.name, "value": repr(x)[:80]},
            )
    return value


def _eq(ref: JsonRef, value: Any, path: str) -> Node:
    if value is None:
        return Or((Not(JsonExists(ref)), JsonTest(ref, "eq", None)))
    return JsonTest(ref, "eq", _typed(ref, value, path))


def parse_json_condition(ref: JsonRef, value: Any, path: str, depth: int) -> Node:
    """A field condition (a value or an operator document) on the JSON value at ``ref``;
    ``depth`` counts the ``$elemMatch`` scopes around it."""
    check_depth(path)
    if not is_operator_doc(value):
        if isinstance(value, Mapping) and any(
            isinstance(k, str) and k.startswith("$") for k in value
        ):
            raise FilterError(
                f"{path}: cannot mix operators and plain keys in one document",
                code="DF-FILTER-MALFORMED",
            )
        return _eq(ref, value, path)
    ops, options = split_options(value, path)
    items = [_operator(ref, op, arg, f"{path}.{op}", options, depth) for op, arg in ops.items()]
    return items[0] if len(items) == 1 else And(tuple(items))


def _operator(ref: JsonRef, op: str, arg: Any, path: str, options: Any, depth: int) -> Node:
    if op == "$eq":
        return _eq(ref, arg, path)
    if op == "$ne":
        return Not(_eq(ref, arg, path))
    if op in _ORDERING:
        if arg is None:
            # MongoDB: $gte/$lte null match null; $gt/$lt null match nothing.
            return _eq(ref, None, path) if op in ("$gte", "$lte") else Const(False)
        if isinstance(arg, bool) or not isinstance(arg, str | int | float):
            raise FilterError(
                f"{path}: {op} on a JSON value compares a string or a number, got "
                f"{type(arg).__name__}",
                code="DF-FILTER-TYPE",
                details={"operator": op},
            )
        return JsonTest(ref, op[1:], _typed(ref, arg, path))
    if op == "$between":
        if not isinstance(arg, list | tuple) or len(arg) != 2:
            raise FilterError(
                f"{path}: $between takes [low, high]",
                code="DF-FILTER-MALFORMED",
                details={"operator": op},
            )
        return And(
            (
                _operator(ref, "$gte", arg[0], path, None, depth),
                _operator(ref, "$lte", arg[1], path, None, depth),
            )
        )
    if op in ("$in", "$nin"):
        if not isinstance(arg, list | tuple):
            raise FilterError(
                f"{path}: {op} takes a list of values",
                code="DF-FILTER-MALFORMED",
                details={"operator": op},
            )
        parts = [_eq(ref, v, f"{path}[{i}]") for i, v in enumerate(arg)]
        if not parts:
            return Const(op == "$nin")
        either = parts[0] if len(parts) == 1 else Or(tuple(parts))
        return either if op == "$in" else Not(either)
    if op == "$all":
        if not isinstance(arg, list | tuple):
            raise FilterError(
                f"{path}: $all takes a list of values",
                code="DF-FILTER-MALFORMED",
                details={"operator": op},
            )
        if any(is_operator_doc(v) for v in arg):
            raise UnsupportedError(
                f"{path}: $all with operator documents ($elemMatch) is not available; "
                "combine $elemMatch conditions with $and",
                details={"operator": op},
            )
        if not arg:
            return Const(False)  # MongoDB: $all of nothing matches nothing
        every = [_eq(ref, v, f"{path}[{i}]") for i, v in enumerate(arg)]
        return every[0] if len(every) == 1 else And(tuple(every))
    if op == "$size":
        if isinstance(arg, bool) or not isinstance(arg, int) or arg < 0:
            raise FilterError(
                f"{path}: $size takes a non-negative integer",
                code="DF-FILTER-TYPE",
                details={"operator": op},
            )
        return JsonSize(ref, arg)
    if op == "$elemMatch":
        if not isinstance(arg, Mapping) or not arg:
            raise FilterError(
                f"{path}: $elemMatch takes a non-empty operator or filter document, e.g. "
                "{'$gt': 5} or {'sku': 'A1', 'qty': {'$gte': 2}}",
                code="DF-FILTER-MALFORMED",
                details={"operator": op},
            )
        element = JsonRef(depth, ())
        if is_operator_doc(arg):
            cond = parse_json_condition(element, arg, path, depth + 1)
        else:
            cond = _element_document(arg, depth, path)
        return JsonElemMatch(ref, depth, cond)
    if op == "$exists":
        if not isinstance(arg, bool):
            raise FilterError(
                f"{path}: $exists takes true or false",
                code="DF-FILTER-TYPE",
                details={"operator": op},
            )
        return JsonExists(ref) if arg else Not(JsonExists(ref))
    if op == "$not":
        if isinstance(arg, str) or hasattr(arg, "pattern"):
            return Not(_regex(ref, arg, None, path))
        if not is_operator_doc(arg):
            raise FilterError(
                f"{path}: $not takes an operator document such as {{'$gt': 5}}",
                code="DF-FILTER-MALFORMED",
                details={"operator": op},
            )
        return Not(parse_json_condition(ref, arg, path, depth))
    if op in _TEXT_OPS:
        pattern, ignore_case = like_pattern(op, arg, path)
        return JsonTest(ref, "like", pattern, "i" if ignore_case else "")
    if op == "$regex":
        return _regex(ref, arg, options, path)
    if op == "$type":
        return _type(ref, arg, path)
    if op == "$mod":
        raise UnsupportedError(
            f"{path}: $mod on JSON values is not available (JSON numbers carry no integer "
            "type on every database)",
            details={"operator": op},
        )
    valid = [
        "$eq",
        "$ne",
        *_ORDERING,
        "$between",
        "$in",
        "$nin",
        "$exists",
        "$not",
        *_TEXT_OPS,
        "$regex",
        "$type",
        *JSON_OPERATORS,
    ]
    raise unknown_operator(op, path, valid)


def _regex(ref: JsonRef, operand: Any, options: Any, path: str) -> Node:
    pattern, flags = check_regex(operand, options, path)
    return JsonTest(ref, "regex", pattern, flags)


def _type(ref: JsonRef, arg: Any, path: str) -> Node:
    names = arg if isinstance(arg, list) else [arg]
    wanted: list[str] = []
    for name in names:
        if name in _NUMBER_SUBTYPES:
            raise UnsupportedError(
                f"{path}: $type {name!r} on a JSON value: JSON numbers have one type on "
                "every database; use 'number'",
                details={"operator": "$type", "type": name},
            )
        if name in _NEVER_JSON:
            continue  # a valid type no JSON value has
        if name not in JSON_TYPE_NAMES:
            raise unknown_operator(str(name), f"{path} (type name)", list(JSON_TYPE_NAMES))
        wanted.append(name)
    if not wanted:
        return Const(False)
    test: Node = JsonTest(ref, "type", tuple(dict.fromkeys(wanted)))
    if "null" in wanted and not ref.path and not isinstance(ref.root, int):
        test = Or((test, Not(JsonExists(ref))))  # a NULL column is a null value
    return test


def _element_document(document: Mapping[str, Any], depth: int, path: str) -> Node:
    """A filter document over the fields of an array element (``$elemMatch``)."""
    check_depth(path)
    if not isinstance(document, Mapping) or not document:
        raise FilterError(
            f"{path}: expected a non-empty filter document", code="DF-FILTER-MALFORMED"
        )
    items: list[Node] = []
    for key, value in document.items():
        if not isinstance(key, str):
            raise FilterError(
                f"{path}: keys must be strings, got {key!r}", code="DF-FILTER-MALFORMED"
            )
        sub = f"{path}.{key}"
        if key in ("$and", "$or", "$nor"):
            if not isinstance(value, list) or not value:
                raise FilterError(
                    f"{sub}: {key} takes a non-empty list of filter documents",
                    code="DF-FILTER-MALFORMED",
                    details={"operator": key},
                )
            parts = [_element_document(d, depth, f"{sub}[{i}]") for i, d in enumerate(value)]
            either: Node = Or(tuple(parts)) if len(parts) > 1 else parts[0]
            items.append(
                And(tuple(parts)) if key == "$and" else either if key == "$or" else Not(either)
            )
        elif key == "$not":
            items.append(Not(_element_document(value, depth, sub)))
        elif key.startswith("$"):
            raise unknown_operator(key, path, ["$and", "$or", "$nor", "$not"])
        else:
            ref = JsonRef(depth, split_path(key, sub))
            items.append(parse_json_condition(ref, value, sub, depth + 1))
    return items[0] if len(items) == 1 else And(tuple(items))
