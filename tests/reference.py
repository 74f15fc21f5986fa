"""A reference evaluator of filter documents over plain dicts, written from MongoDB's
documented query semantics (for columns: a SQL NULL is MongoDB's null).

It shares no code with the compiler on purpose: the differential tests compare what each
database returns for a compiled filter with what this evaluator says.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

__all__ = ["matches", "run_pipeline"]

_NUMBER = (int, float, Decimal)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, _NUMBER):
        return "number"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


def _equal(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return _kind(a) == _kind(b) and a == b


def _compare(a: Any, b: Any, op: str) -> bool:
    """Ordering comparisons only match values of the same type (MongoDB's brackets)."""
    if a is None or b is None or _kind(a) != _kind(b):
        return False
    if op == "$gt":
        return bool(a > b)
    if op == "$gte":
        return bool(a >= b)
    if op == "$lt":
        return bool(a < b)
    return bool(a <= b)


def _like(pattern: str, value: str, ignore_case: bool) -> bool:
    if ignore_case:
        pattern, value = pattern.lower(), value.lower()
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.fullmatch("".join(out), value, re.S) is not None


def _regex(pattern: str, options: str, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    # PCRE (MongoDB): \d and \w are ASCII classes, while "i" folds every letter's case.
    pattern = pattern.replace("\\d", "[0-9]").replace("\\w", "[a-zA-Z0-9_]")
    if "m" in options:  # PCRE's multiline ^ does not match after a final newline
        pattern = pattern.replace("^", "(?:\\A|(?<=\\n)(?!\\Z))")
    flags = 0
    for letter, flag in (("i", re.I), ("m", re.M), ("s", re.S), ("x", re.X)):
        if letter in options:
            flags |= flag
    return re.search(pattern, value, flags) is not None


def _type_name_matches(value: Any, name: str) -> bool:
    if name == "null":
        return value is None
    if name == "string":
        return isinstance(value, str)
    if name in ("int", "long"):
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "double":
        return isinstance(value, float)
    if name == "number":
        return _kind(value) == "number"
    if name == "bool":
        return isinstance(value, bool)
    return False


def _bson_compare(a: Any, b: Any) -> int:
    """MongoDB's order for same-type values: null lowest."""
    if a is None or b is None:
        return (a is not None) - (b is not None)
    return (a > b) - (a < b)


def _expr(row: Mapping[str, Any], document: Mapping[str, Any]) -> bool:
    ((op, operands),) = document.items()
    if op in ("$and", "$or"):
        results = [_expr(row, d) for d in operands]
        return all(results) if op == "$and" else any(results)
    left, right = operands
    a = row.get(left[1:])
    b = row.get(right[1:]) if isinstance(right, str) and right.startswith("$") else right
    c = _bson_compare(a, b)
    return {
        "$eq": c == 0,
        "$ne": c != 0,
        "$gt": c > 0,
        "$gte": c >= 0,
        "$lt": c < 0,
        "$lte": c <= 0,
    }[op]


def _field_matches(value: Any, condition: Any) -> bool:
    if not (
        isinstance(condition, Mapping)
        and condition
        and all(str(k).startswith("$") for k in condition)
    ):
        return _equal(value, condition)
    options = condition.get("$options", "")
    for op, operand in condition.items():
        if op == "$options":
            continue
        if op == "$eq":
            ok = _equal(value, operand)
        elif op == "$ne":
            ok = not _equal(value, operand)
        elif op in ("$gt", "$gte", "$lt", "$lte"):
            ok = (value is None and operand is None and op in ("$gte", "$lte")) or _compare(
                value, operand, op
            )
        elif op == "$in":
            ok = any(_equal(value, v) for v in operand)
        elif op == "$nin":
            ok = not any(_equal(value, v) for v in operand)
        elif op == "$exists":
            ok = (value is not None) == operand
        elif op == "$not":
            ok = not (
                _regex(operand, "", value)
                if isinstance(operand, str)
                else _field_matches(value, operand)
            )
        elif op == "$regex":
            ok = _regex(operand, options, value)
        elif op in ("$like", "$ilike"):
            ok = isinstance(value, str) and _like(operand, value, op == "$ilike")
        elif op == "$contains":
            ok = isinstance(value, str) and operand in value
        elif op == "$startswith":
            ok = isinstance(value, str) and value.startswith(operand)
        elif op == "$endswith":
            ok = isinstance(value, str) and value.endswith(operand)
        elif op == "$mod":
            divisor, remainder = operand
            if _kind(value) != "number" or isinstance(value, float):
                ok = False
            else:  # a truncated remainder: its sign follows the dividend
                r = abs(value) % abs(divisor)
                ok = (-r if value < 0 else r) == remainder
        elif op == "$type":
            ok = any(
                _type_name_matches(value, name)
                for name in (operand if isinstance(operand, list) else [operand])
            )
        elif op == "$between":
            ok = _compare(value, operand[0], "$gte") and _compare(value, operand[1], "$lte")
        else:
            raise ValueError(f"the reference evaluator has no {op}")
        if not ok:
            return False
    return True


# -- JSON fields (docs/query.md, "JSON fields") ------------------------------------------

MISSING = object()


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return _kind(value)


def _json_equal(a: Any, b: Any) -> bool:
    """Numbers by value, never a boolean; arrays in order; objects by key."""
    if _json_kind(a) != _json_kind(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _walk(value: Any, path: list[str]) -> Any:
    """Object keys, and array indexes for components made of (fewer than ten) digits."""
    for part in path:
        if part.isascii() and part.isdigit() and len(part) < 10:
            if not (isinstance(value, list) and int(part) < len(value)):
                return MISSING
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return MISSING
    return value


def _json_test(value: Any, op: str, operand: Any, options: str) -> bool:
    """One value (not its elements) against one operator."""
    if op == "$eq":
        return value is None if operand is None else _json_equal(value, operand)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        return _compare(value, operand, op)
    if op == "$regex":
        return _regex(operand, options, value)
    if op in ("$like", "$ilike"):
        return isinstance(value, str) and _like(operand, value, op == "$ilike")
    if op == "$contains":
        return isinstance(value, str) and operand in value
    if op == "$startswith":
        return isinstance(value, str) and value.startswith(operand)
    if op == "$endswith":
        return isinstance(value, str) and value.endswith(operand)
    if op == "$type":
        return _json_kind(value) in operand
    raise ValueError(f"the reference evaluator has no JSON {op}")


def _json_any(value: Any, op: str, operand: Any, options: str = "") -> bool:
    """The value, or one of its elements when it is an array, passes."""
    if value is MISSING:
        return False
    if _json_test(value, op, operand, options):
        return True
    return isinstance(value, list) and any(_json_test(e, op, operand, options) for e in value)


def _json_null(value: Any) -> bool:
    return value is MISSING or _json_any(value, "$eq", None)


def _json_condition(value: Any, condition: Any, root: bool) -> bool:
    """A condition on the JSON value at a path (MISSING when it leads nowhere); ``root``
    is the field itself, where a NULL column counts as null and as missing."""
    if root and value is None:
        value = MISSING
    if not (
        isinstance(condition, Mapping)
        and condition
        and all(str(k).startswith("$") for k in condition)
    ):
        return _json_null(value) if condition is None else _json_any(value, "$eq", condition)
    options = condition.get("$options", "")
    for op, operand in condition.items():
        if op == "$options":
            continue
        if op in ("$eq", "$ne"):
            ok = (_json_null(value) if operand is None else _json_any(value, "$eq", operand)) == (
                op == "$eq"
            )
        elif op in ("$in", "$nin"):
            hit = any(
                _json_null(value) if v is None else _json_any(value, "$eq", v) for v in operand
            )
            ok = hit == (op == "$in")
        elif op in ("$gt", "$gte", "$lt", "$lte"):
            if operand is None:
                ok = op in ("$gte", "$lte") and _json_null(value)
            else:
                ok = _json_any(value, op, operand)
        elif op == "$between":
            ok = _json_any(value, "$gte", operand[0]) and _json_any(value, "$lte", operand[1])
        elif op == "$exists":
            ok = (value is not MISSING) == operand
        elif op == "$not":
            ok = not (
                _json_any(value, "$regex", operand)
                if isinstance(operand, str)
                else _json_condition(value, operand, root)
            )
        elif op == "$type":
            names = operand if isinstance(operand, list) else [operand]
            ok = _json_any(value, "$type", names) or (root and value is MISSING and "null" in names)
        elif op == "$size":
            ok = isinstance(value, list) and len(value) == operand
        elif op == "$all":
            ok = bool(operand) and all(
                _json_null(value) if v is None else _json_any(value, "$eq", v) for v in operand
            )
        elif op == "$elemMatch":
            ok = isinstance(value, list) and any(_element_matches(e, operand) for e in value)
        else:
            ok = _json_any(value, op, operand, options)
        if not ok:
            return False
    return True


def _element_matches(element: Any, condition: Mapping[str, Any]) -> bool:
    if all(str(k).startswith("$") for k in condition) and not {
        "$and",
        "$or",
        "$nor",
        "$not",
    } & set(condition):
        return _json_condition(element, condition, False)
    return _element_document(element, condition)


def _element_document(element: Any, document: Mapping[str, Any]) -> bool:
    for key, condition in document.items():
        if key == "$and":
            ok = all(_element_document(element, d) for d in condition)
        elif key == "$or":
            ok = any(_element_document(element, d) for d in condition)
        elif key == "$nor":
            ok = not any(_element_document(element, d) for d in condition)
        elif key == "$not":
            ok = not _element_document(element, condition)
        else:
            ok = _json_condition(_walk(element, key.split(".")), condition, False)
        if not ok:
            return False
    return True


def matches(
    row: Mapping[str, Any], document: Mapping[str, Any], json_fields: tuple[str, ...] = ()
) -> bool:
    """Whether ``row`` matches the filter ``document``; ``json_fields`` names the row's
    JSON fields, whose values (and dotted paths into them) follow the JSON rules."""
    for key, condition in document.items():
        head, _, rest = key.partition(".")
        if head in json_fields:
            value = row.get(head)
            if rest:
                value = MISSING if value is None else _walk(value, rest.split("."))
            if not _json_condition(value, condition, not rest):
                return False
            continue
        if key == "$and":
            ok = all(matches(row, d, json_fields) for d in condition)
        elif key == "$or":
            ok = any(matches(row, d, json_fields) for d in condition)
        elif key == "$nor":
            ok = not any(matches(row, d, json_fields) for d in condition)
        elif key == "$not":
            ok = not matches(row, condition, json_fields)
        elif key == "$expr":
            ok = _expr(row, condition)
        else:
            ok = _field_matches(_get(row, key), condition)
        if not ok:
            return False
    return True


def _get(doc: Mapping[str, Any], name: str) -> Any:
    """A field, or a dotted path into a nested document (``_id.region``)."""
    if name in doc:
        return doc[name]
    head, _, rest = name.partition(".")
    value = doc.get(head)
    return _get(value, rest) if rest and isinstance(value, Mapping) else None


def _sort_value(value: Any) -> tuple[int, Any]:
    return (0, 0) if value is None else (1, value)


def _project(docs: list[dict[str, Any]], body: Mapping[str, Any]) -> list[dict[str, Any]]:
    keep_id = body.get("_id", 1) not in (0, False)
    spec = {k: v for k, v in body.items() if k != "_id"}
    if spec and all(v == 0 for v in spec.values()):
        return [
            {k: v for k, v in d.items() if k not in spec and (keep_id or k != "_id")} for d in docs
        ]
    out = []
    for d in docs:
        doc = {"_id": d["_id"]} if keep_id and "_id" in d else {}
        for name, value in spec.items():
            doc[name] = _get(d, value[1:] if isinstance(value, str) else name)
        out.append(doc)
    return out


def _unwind(docs: list[dict[str, Any]], body: Any) -> list[dict[str, Any]]:
    spec = {"path": body} if isinstance(body, str) else body
    name = spec["path"][1:]
    index = spec.get("includeArrayIndex")
    out = []
    for d in docs:
        values = d.get(name)
        if isinstance(values, list) and values:
            for i, v in enumerate(values):
                out.append({**d, name: v, **({index: i} if index else {})})
        elif spec.get("preserveNullAndEmptyArrays"):
            out.append({**d, name: None, **({index: None} if index else {})})
    return out


def _accumulate(acc: str, arg: Any, members: list[dict[str, Any]]) -> Any:
    if acc == "$count" or (acc == "$sum" and arg == 1):
        return len(members)
    every = [_get(m, arg[1:]) for m in members]
    values = [v for v in every if v is not None]
    if acc == "$first":
        return every[0]
    if acc == "$last":
        return every[-1]
    if acc == "$push":
        return every
    if acc == "$addToSet":
        return list(dict.fromkeys(every))  # compared as a set by the tests
    if acc == "$sum":
        return sum(values) if values else 0
    if acc == "$avg":
        return sum(values) / len(values) if values else None
    if acc == "$min":
        return min(values) if values else None
    return max(values) if values else None


def run_pipeline(rows: list[dict[str, Any]], pipeline: list[Mapping[str, Any]]) -> list[Any]:
    """Run an aggregation pipeline the way MongoDB does ($match $group $sort $limit $skip
    $project $count $unwind; accumulators $sum $avg $min $max $count $first $last $push
    $addToSet). ``rows`` come in primary-key order."""
    docs = [dict(r) for r in rows]
    for stage in pipeline:
        ((op, body),) = stage.items()
        if op == "$match":
            docs = [d for d in docs if matches(d, body)]
        elif op == "$sort":
            for name, direction in reversed(list(body.items())):
                docs.sort(key=lambda d, n=name: _sort_value(_get(d, n)), reverse=direction == -1)
        elif op == "$limit":
            docs = docs[:body]
        elif op == "$skip":
            docs = docs[body:]
        elif op == "$count":
            docs = [{body: len(docs)}] if docs else []
        elif op == "$project":
            docs = _project(docs, body)
        elif op == "$unwind":
            docs = _unwind(docs, body)
        elif op == "$group":
            groups: dict[Any, list[dict[str, Any]]] = {}
            key_spec = body["_id"]
            for d in docs:
                if key_spec is None:
                    key: Any = None
                elif isinstance(key_spec, Mapping):
                    key = tuple((k, _get(d, v[1:])) for k, v in key_spec.items())
                else:
                    key = _get(d, key_spec[1:])
                groups.setdefault(key, []).append(d)
            docs = [
                {
                    "_id": dict(key) if isinstance(key, tuple) else key,
                    **{
                        name: _accumulate(*next(iter(spec.items())), members)
                        for name, spec in body.items()
                        if name != "_id"
                    },
                }
                for key, members in groups.items()
            ]
    return docs
