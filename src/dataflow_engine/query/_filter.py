"""Parse MongoDB-style filter documents into the AST (pure, no I/O)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import FilterError, UnsupportedError, ValidationError
from ..models import Field, FieldKind, ModelDef
from ..models._model import suggest
from ._ast import (
    And,
    Compare,
    Const,
    Exists,
    FieldCompare,
    In,
    JsonRef,
    Like,
    Mod,
    Node,
    Not,
    Or,
    Regex,
)
from ._doc import (
    check_depth,
    escape_like,
    is_operator_doc,
    like_pattern,
    split_options,
    unknown_operator,
)
from ._json import JSON_OPERATORS, parse_json_condition, split_path
from ._prepared import Slot, recording_slots
from ._regex import check_regex

__all__ = [
    "FIELD_OPERATORS",
    "LOGICAL_OPERATORS",
    "escape_like",
    "parse_filter",
]

#: Operators that apply to a field, with a one-line description.
FIELD_OPERATORS: dict[str, str] = {
    "$eq": "equal to the value (null matches NULL)",
    "$ne": "not equal to the value; NULLs match",
    "$gt": "greater than",
    "$gte": "greater than or equal to",
    "$lt": "less than",
    "$lte": "less than or equal to",
    "$in": "equal to one of the listed values ([] matches nothing)",
    "$nin": "equal to none of the listed values; NULLs match ([] matches everything)",
    "$not": "negates an operator document; NULLs match",
    "$exists": "true: the value is not NULL; false: it is NULL",
    "$like": "SQL LIKE pattern, case-sensitive (% and _ are wildcards, \\ escapes)",
    "$ilike": "SQL LIKE pattern, case-insensitive",
    "$contains": "contains the text (wildcards are matched literally)",
    "$startswith": "starts with the text",
    "$endswith": "ends with the text",
    "$regex": "matches the regular expression ($options: i, m, s, x)",
    "$options": "options of $regex",
    "$between": "[low, high], both inclusive",
    "$mod": "[divisor, remainder]: the integer field modulo divisor equals remainder",
    "$type": "the value has this type ('string', 'int', 'number', 'null', ...)",
    **JSON_OPERATORS,
}

#: Operators that combine filter documents.
LOGICAL_OPERATORS: dict[str, str] = {
    "$expr": "compare two fields: {'$gt': ['$a', '$b']} (NULL sorts lowest)",
    "$and": "every document matches",
    "$or": "at least one document matches",
    "$nor": "no document matches",
    "$not": "the document does not match",
}

# Recognised but not available in this release: an explicit error, never a guess.
_NOT_YET = {"$text", "$where"}

# MongoDB $type names, by the field kinds whose values have that type.
_TYPE_NAMES: dict[str, tuple[FieldKind, ...]] = {
    "string": (FieldKind.STR, FieldKind.ENUM, FieldKind.UUID),
    "int": (FieldKind.INT,),
    "long": (FieldKind.INT,),
    "double": (FieldKind.FLOAT,),
    "decimal": (FieldKind.DECIMAL,),
    "number": (FieldKind.INT, FieldKind.FLOAT, FieldKind.DECIMAL),
    "bool": (FieldKind.BOOL,),
    "date": (FieldKind.DATETIME, FieldKind.DATE),
    "timestamp": (FieldKind.DATETIME,),
    "binData": (FieldKind.BYTES,),
    "object": (),
    "array": (),
    "null": (),
}
_EXPR_OPS = {"$eq": "eq", "$ne": "ne", "$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte"}

_ORDERING = {"$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte"}
_TEXTUAL = (FieldKind.STR, FieldKind.ENUM)


def parse_filter(document: Any, model: ModelDef) -> Node | None:
    """Parse a filter document against a model.

    Args:
        document: a MongoDB-style query document, e.g.
            ``{"age": {"$gte": 18}, "$or": [{"dept": "eng"}, {"dept": None}]}``.
        model: the model whose fields the document may name.

    Returns:
        The AST, or ``None`` for an empty document (matches everything).

    Raises:
        FilterError: unknown operator or field (with the closest valid names), a value of
            the wrong type, or a malformed document.
        UnsupportedError: a recognised operator this release cannot compile exactly.
    """
    if document is None:
        return None
    node = _parse_doc(document, model, "filter")
    return node


def _parse_doc(document: Any, model: ModelDef, path: str) -> Node | None:
    check_depth(path)
    if not isinstance(document, Mapping):
        raise FilterError(
            f"{path} must be an object like {{'field': value}}, got {type(document).__name__}",
            code="DF-FILTER-MALFORMED",
            details={"path": path},
        )
    items: list[Node] = []
    for key, value in document.items():
        if not isinstance(key, str):
            raise FilterError(
                f"{path}: keys must be strings, got {key!r}", code="DF-FILTER-MALFORMED"
            )
        sub = f"{path}.{key}"
        if key.startswith("$"):
            items.append(_parse_logical(key, value, model, sub))
        elif "." in key and key not in model.fields:
            head, rest = key.split(".", 1)
            field = _field(model, head, path)
            if field.kind is not FieldKind.JSON:
                raise FilterError(
                    f"{sub}: {head!r} is {field.type_name}; dotted paths lead into JSON "
                    "(dict or list) fields",
                    code="DF-FILTER-UNKNOWN-FIELD",
                    details={"model": model.name, "field": key},
                )
            ref = JsonRef(field, split_path(rest, sub))
            items.append(parse_json_condition(ref, value, sub, 0))
        else:
            field = _field(model, key, path)
            items.append(_parse_field(field, value, sub))
    return _and(items)


def _and(items: list[Node]) -> Node | None:
    if not items:
        return None
    if len(items) == 1:
        return items[0]
    return And(tuple(items))


def _field(model: ModelDef, name: str, path: str) -> Field:
    field = model.fields.get(name)
    if field is None:
        close = suggest(name, model.fields)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise FilterError(
            f"{path}: unknown field {name!r} on model {model.name}{hint}",
            code="DF-FILTER-UNKNOWN-FIELD",
            details={"model": model.name, "field": name, "suggestions": close},
        )
    return field


def _parse_logical(op: str, value: Any, model: ModelDef, path: str) -> Node:
    if op in ("$and", "$or", "$nor"):
        if not isinstance(value, list) or not value:
            raise FilterError(
                f"{path}: {op} takes a non-empty list of filter documents",
                code="DF-FILTER-MALFORMED",
                details={"operator": op},
            )
        parts: list[Node] = []
        for i, doc in enumerate(value):
            node = _parse_doc(doc, model, f"{path}[{i}]")
            parts.append(node if node is not None else Const(True))
        if op == "$and":
            return And(tuple(parts)) if len(parts) > 1 else parts[0]
        either = Or(tuple(parts)) if len(parts) > 1 else parts[0]
        return either if op == "$or" else Not(either)
    if op == "$not":
        node = _parse_doc(value, model, path)
        return Not(node if node is not None else Const(True))
    if op == "$expr":
        return _parse_expr(value, model, path)
    if op in _NOT_YET:
        raise UnsupportedError(
            f"{path}: operator {op} is not available in this release",
            details={"operator": op},
        )
    raise unknown_operator(op, path, list(LOGICAL_OPERATORS))


def _parse_expr(value: Any, model: ModelDef, path: str) -> Node:
    if not isinstance(value, Mapping) or len(value) != 1:
        raise FilterError(
            f"{path}: $expr takes one comparison, e.g. {{'$gt': ['$spent', '$budget']}}",
            code="DF-FILTER-MALFORMED",
            details={"operator": "$expr"},
        )
    ((op, operands),) = value.items()
    if op in ("$and", "$or"):
        if not isinstance(operands, list) or not operands:
            raise FilterError(f"{path}.{op} takes a non-empty list", code="DF-FILTER-MALFORMED")
        parts = tuple(_parse_expr(x, model, f"{path}.{op}") for x in operands)
        return And(parts) if op == "$and" else Or(parts)
    if op not in _EXPR_OPS:
        raise unknown_operator(op, f"{path}", [*_EXPR_OPS, "$and", "$or"])
    if not isinstance(operands, list) or len(operands) != 2:
        raise FilterError(
            f"{path}.{op} takes two operands, e.g. ['$a', '$b'] or ['$a', 5]",
            code="DF-FILTER-MALFORMED",
            details={"operator": op},
        )
    left, right = operands
    if not (isinstance(left, str) and left.startswith("$")):
        raise FilterError(
            f"{path}.{op}: the first operand must be a field, '$name'",
            code="DF-FILTER-MALFORMED",
            details={"operator": op},
        )
    lf = _field(model, left[1:], path)
    if isinstance(right, str) and right.startswith("$"):
        rf = _field(model, right[1:], path)
        if lf.kind is not rf.kind or lf.kind in (FieldKind.JSON, FieldKind.BYTES):
            raise FilterError(
                f"{path}.{op}: {lf.name!r} ({lf.type_name}) and {rf.name!r} ({rf.type_name}) "
                "cannot be compared; $expr compares fields of the same type",
                code="DF-FILTER-TYPE",
                details={"operator": op},
            )
        return FieldCompare(lf, _EXPR_OPS[op], rf)
    # A literal: the same as the query operator, except NULL sorts lowest.
    if right is None:
        against_null: dict[str, Node] = {
            "eq": Exists(lf, False),
            "ne": Exists(lf, True),
            "gt": Exists(lf, True),
            "gte": Const(True),
            "lt": Const(False),
            "lte": Exists(lf, False),
        }
        return against_null[_EXPR_OPS[op]]
    node = _parse_operator(lf, op, right, f"{path}.{op}", None)
    if _EXPR_OPS[op] in ("lt", "lte"):
        return Or((node, Exists(lf, False)))  # NULL is lower than any value
    return node


def _value(field: Field, value: Any, path: str) -> Any:
    try:
        valid = field.validate(value)
    except ValidationError as exc:
        raise FilterError(
            f"{path}: {exc.message}", code="DF-FILTER-TYPE", details=exc.details
        ) from None
    met = recording_slots.get()
    if met is None:
        return valid
    met.append((value, field))  # building a template (see _prepared.py)
    return Slot(len(met) - 1, field)


def _parse_field(field: Field, value: Any, path: str) -> Node:
    check_depth(path)
    if field.kind is FieldKind.JSON:
        return parse_json_condition(JsonRef(field, ()), value, path, 0)
    if isinstance(value, Mapping) and not is_operator_doc(value):
        if any(isinstance(k, str) and k.startswith("$") for k in value):
            raise FilterError(
                f"{path}: cannot mix operators and plain keys in one document",
                code="DF-FILTER-MALFORMED",
            )
        raise FilterError(
            f"{path}: expected a value or an operator document such as {{'$gt': 5}}",
            code="DF-FILTER-MALFORMED",
            details={"field": field.name},
        )
    if not is_operator_doc(value):
        return _eq(field, value, path)
    ops, options = split_options(value, path)
    items: list[Node] = []
    for op, operand in ops.items():
        items.append(_parse_operator(field, op, operand, f"{path}.{op}", options))
    node = _and(items)
    assert node is not None
    return node


def _eq(field: Field, value: Any, path: str) -> Node:
    if value is None:
        return Exists(field, False)
    return Compare(field, "eq", _value(field, value, path))


def _parse_operator(field: Field, op: str, operand: Any, path: str, options: Any) -> Node:
    if op == "$eq":
        return _eq(field, operand, path)
    if op == "$ne":
        if operand is None:
            return Exists(field, True)
        return Compare(field, "ne", _value(field, operand, path))
    if op in _ORDERING:
        if operand is None:
            # MongoDB: $gte/$lte null match null; $gt/$lt null match nothing.
            return Exists(field, False) if op in ("$gte", "$lte") else Const(False)
        return Compare(field, _ORDERING[op], _value(field, operand, path))
    if op in ("$in", "$nin"):
        if not isinstance(operand, list | tuple):
            raise FilterError(
                f"{path}: {op} takes a list of values",
                code="DF-FILTER-MALFORMED",
                details={"operator": op},
            )
        has_null = any(v is None for v in operand)
        values = tuple(
            _value(field, v, f"{path}[{i}]") for i, v in enumerate(operand) if v is not None
        )
        if not values and not has_null:
            return Const(op == "$nin")
        return In(field, values, op == "$nin", has_null)
    if op == "$exists":
        if not isinstance(operand, bool):
            raise FilterError(
                f"{path}: $exists takes true or false",
                code="DF-FILTER-TYPE",
                details={"operator": op},
            )
        return Exists(field, operand)
    if op == "$not":
        if isinstance(operand, str | re.Pattern):
            return Not(_regex(field, operand, None, path))
        if not is_operator_doc(operand):
            raise FilterError(
                f"{path}: $not takes an operator document such as {{'$gt': 5}}",
                code="DF-FILTER-MALFORMED",
                details={"operator": op},
            )
        return Not(_parse_field(field, operand, path))
    if op in ("$like", "$ilike", "$contains", "$startswith", "$endswith"):
        _require_text(field, op, path)
        pattern, ignore_case = like_pattern(op, operand, path)
        return Like(field, pattern, ignore_case)
    if op == "$regex":
        return _regex(field, operand, options, path)
    if op == "$mod":
        if field.kind is not FieldKind.INT:
            raise FilterError(
                f"{path}: $mod applies to int fields; {field.name!r} is {field.type_name}",
                code="DF-FILTER-TYPE",
                details={"operator": op, "field": field.name},
            )
        if (
            not isinstance(operand, list | tuple)
            or len(operand) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in operand)
        ):
            raise FilterError(
                f"{path}: $mod takes [divisor, remainder] as integers",
                code="DF-FILTER-MALFORMED",
                details={"operator": op},
            )
        if operand[0] == 0:
            raise FilterError(
                f"{path}: $mod divisor cannot be 0",
                code="DF-FILTER-MALFORMED",
                details={"operator": op},
            )
        return Mod(field, int(operand[0]), int(operand[1]))
    if op == "$type":
        names = operand if isinstance(operand, list) else [operand]
        parts: list[Node] = []
        for name in names:
            if name not in _TYPE_NAMES:
                raise unknown_operator(str(name), f"{path} (type name)", list(_TYPE_NAMES))
            if name == "null":
                parts.append(Exists(field, False))
            elif field.kind in _TYPE_NAMES[name]:
                # A column holds one type: its non-NULL values have it.
                parts.append(Exists(field, True))
        if not parts:
            return Const(False)
        return parts[0] if len(parts) == 1 else Or(tuple(parts))
    if op == "$between":
        if not isinstance(operand, list | tuple) or len(operand) != 2:
            raise FilterError(
                f"{path}: $between takes [low, high]",
                code="DF-FILTER-MALFORMED",
                details={"operator": op},
            )
        low, high = (_value(field, v, path) for v in operand)
        return And((Compare(field, "gte", low), Compare(field, "lte", high)))
    if op in JSON_OPERATORS:
        raise FilterError(
            f"{path}: {op} applies to JSON (list) fields; {field.name!r} is {field.type_name}",
            code="DF-FILTER-TYPE",
            details={"operator": op, "field": field.name},
        )
    if op in _NOT_YET:
        raise UnsupportedError(
            f"{path}: operator {op} is not available in this release",
            details={"operator": op, "field": field.name},
        )
    raise unknown_operator(op, path, [k for k in FIELD_OPERATORS if k != "$options"])


def _require_text(field: Field, op: str, path: str) -> None:
    if field.kind not in _TEXTUAL:
        raise FilterError(
            f"{path}: {op} applies to text fields; {field.name!r} is {field.type_name}",
            code="DF-FILTER-TYPE",
            details={"operator": op, "field": field.name},
        )


def _regex(field: Field, operand: Any, options: Any, path: str) -> Node:
    _require_text(field, "$regex", path)
    pattern, flags = check_regex(operand, options, path)
    return Regex(field, pattern, flags)
