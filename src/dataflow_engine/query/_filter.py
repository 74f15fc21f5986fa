"""Parse MongoDB-style filter documents into the AST (pure, no I/O)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import FilterError, UnsupportedError, ValidationError
from ..models import Field, FieldKind, ModelDef
from ..models._model import suggest
from ._ast import And, Compare, Const, Exists, FieldCompare, In, Like, Mod, Node, Not, Or, Regex

__all__ = [
    "FIELD_OPERATORS",
    "LOGICAL_OPERATORS",
    "ascii_classes",
    "escape_like",
    "parse_filter",
    "pcre_caret",
    "replace_outside_brackets",
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
_NOT_YET = {"$all", "$elemMatch", "$size", "$text", "$where"}

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
    "object": (FieldKind.JSON,),
    "array": (FieldKind.JSON,),
    "null": (),
}
_EXPR_OPS = {"$eq": "eq", "$ne": "ne", "$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte"}

_ORDERING = {"$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte"}
_TEXTUAL = (FieldKind.STR, FieldKind.ENUM)


def escape_like(text: str) -> str:
    """Escape ``\\``, ``%`` and ``_`` so ``text`` matches itself in a LIKE pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


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


_MAX_DEPTH = 64


def _check_depth(path: str) -> None:
    if path.count("$") > _MAX_DEPTH:
        raise FilterError(
            f"{path[:80]}...: the filter nests more than {_MAX_DEPTH} levels deep",
            code="DF-FILTER-MALFORMED",
        )


def _parse_doc(document: Any, model: ModelDef, path: str) -> Node | None:
    _check_depth(path)
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
        if "." in name and name.split(".", 1)[0] in model.fields:
            raise UnsupportedError(
                f"{path}: dotted paths into JSON fields ({name!r}) are not available in "
                "this release",
                details={"field": name, "operator": "dotted path"},
            )
        close = suggest(name, model.fields)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise FilterError(
            f"{path}: unknown field {name!r} on model {model.name}{hint}",
            code="DF-FILTER-UNKNOWN-FIELD",
            details={"model": model.name, "field": name, "suggestions": close},
        )
    return field


def _unknown_operator(op: str, path: str, valid: list[str]) -> FilterError:
    close = suggest(op, valid)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return FilterError(
        f"{path}: unknown operator {op!r}{hint}",
        code="DF-FILTER-UNKNOWN-OPERATOR",
        details={"operator": op, "suggestions": close},
    )


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
    raise _unknown_operator(op, path, list(LOGICAL_OPERATORS))


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
        raise _unknown_operator(op, f"{path}", [*_EXPR_OPS, "$and", "$or"])
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
        return field.validate(value)
    except ValidationError as exc:
        raise FilterError(
            f"{path}: {exc.message}", code="DF-FILTER-TYPE", details=exc.details
        ) from None


def _is_operator_doc(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and bool(value)
        and all(isinstance(k, str) and k.startswith("$") for k in value)
    )


def _parse_field(field: Field, value: Any, path: str) -> Node:
    _check_depth(path)
    if isinstance(value, Mapping) and not _is_operator_doc(value):
        if any(isinstance(k, str) and k.startswith("$") for k in value):
            raise FilterError(
                f"{path}: cannot mix operators and plain keys in one document",
                code="DF-FILTER-MALFORMED",
            )
        if field.kind is not FieldKind.JSON:
            raise FilterError(
                f"{path}: expected a value or an operator document such as {{'$gt': 5}}",
                code="DF-FILTER-MALFORMED",
                details={"field": field.name},
            )
    if not _is_operator_doc(value):
        return _eq(field, value, path)
    ops = dict(value)
    has_options = "$options" in ops
    options = ops.pop("$options", None)
    if has_options and "$regex" not in ops:
        raise FilterError(
            f"{path}: $options is only valid next to $regex", code="DF-FILTER-MALFORMED"
        )
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
        if field.kind in (FieldKind.JSON,):
            raise UnsupportedError(
                f"{path}: {op} on JSON field {field.name!r} is not available in this release",
                details={"operator": op, "field": field.name},
            )
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
        values = (
            tuple(
                dict.fromkeys(
                    _value(field, v, f"{path}[{i}]") for i, v in enumerate(operand) if v is not None
                )
            )
            if field.kind is not FieldKind.JSON
            else tuple(
                _value(field, v, f"{path}[{i}]") for i, v in enumerate(operand) if v is not None
            )
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
        if not _is_operator_doc(operand):
            raise FilterError(
                f"{path}: $not takes an operator document such as {{'$gt': 5}}",
                code="DF-FILTER-MALFORMED",
                details={"operator": op},
            )
        return Not(_parse_field(field, operand, path))
    if op in ("$like", "$ilike", "$contains", "$startswith", "$endswith"):
        _require_text(field, op, path)
        if not isinstance(operand, str):
            raise FilterError(
                f"{path}: {op} takes a string", code="DF-FILTER-TYPE", details={"operator": op}
            )
        if op in ("$like", "$ilike"):
            if _dangling_escape(operand):
                raise FilterError(
                    f"{path}: the pattern ends with a lone '\\' escaping nothing; write "
                    "'\\\\' for a literal backslash",
                    code="DF-FILTER-MALFORMED",
                    details={"operator": op},
                )
            return Like(field, operand, op == "$ilike")
        text = escape_like(operand)
        pattern = {"$contains": f"%{text}%", "$startswith": f"{text}%", "$endswith": f"%{text}"}
        return Like(field, pattern[op], False)
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
                raise _unknown_operator(str(name), f"{path} (type name)", list(_TYPE_NAMES))
            if name == "null":
                parts.append(Exists(field, False))
            elif field.kind in _TYPE_NAMES[name]:
                # A column holds one type: its non-NULL values have it.
                if field.kind is FieldKind.JSON and name in ("object", "array"):
                    wanted = dict if name == "object" else list
                    if field.python_type is not wanted:
                        continue
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
    if op in _NOT_YET:
        raise UnsupportedError(
            f"{path}: operator {op} is not available in this release",
            details={"operator": op, "field": field.name},
        )
    raise _unknown_operator(op, path, [k for k in FIELD_OPERATORS if k != "$options"])


def _dangling_escape(pattern: str) -> bool:
    trailing = len(pattern) - len(pattern.rstrip("\\"))
    return trailing % 2 == 1


def _require_text(field: Field, op: str, path: str) -> None:
    if field.kind not in _TEXTUAL:
        raise FilterError(
            f"{path}: {op} applies to text fields; {field.name!r} is {field.type_name}",
            code="DF-FILTER-TYPE",
            details={"operator": op, "field": field.name},
        )


_WORD = "a-zA-Z0-9_"
_SPACE = " \\t\\n\\r\\f\\v"
_CLASSES = {
    "d": ("0-9", False),
    "D": ("0-9", True),
    "w": (_WORD, False),
    "W": (_WORD, True),
    "s": (_SPACE, False),
    "S": (_SPACE, True),
}


def ascii_classes(pattern: str) -> str:
    """Spell ``\\d \\w \\s`` (and their negations, and ``\\b \\B``) as ASCII classes.

    MongoDB's PCRE reads these classes as ASCII while folding case for every letter under
    ``i``; Python's ``re`` can do only one of the two with a flag, so the classes are
    written out and case folding is left Unicode-wide.
    """
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if nxt in _CLASSES:
                body, negated = _CLASSES[nxt]
                if in_class and negated:
                    raise UnsupportedError(
                        f"$regex: \\{nxt} inside brackets is not available",
                        details={"operator": "$regex"},
                    )
                out.append(body if in_class else f"[{'^' if negated else ''}{body}]")
            elif nxt in "bB" and not in_class:
                edge = f"(?:(?<![{_WORD}])(?=[{_WORD}])|(?<=[{_WORD}])(?![{_WORD}]))"
                out.append(edge if nxt == "b" else f"(?!{edge})")
            else:
                out.append(ch + nxt)
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
            out.append(ch)
            if pattern[i + 1 : i + 2] == "^":
                out.append("^")
                i += 1
            if pattern[i + 1 : i + 2] == "]":
                out.append("]")
                i += 1
        elif ch == "]" and in_class:
            in_class = False
            out.append(ch)
        else:
            out.append(ch)
        i += 1
    return "".join(out)


#: PCRE's multiline ``^``: the start, or just after a newline that does not end the text.
PCRE_MULTILINE_CARET = "(?:\\A|(?<=\\n)(?!\\Z))"


def replace_outside_brackets(pattern: str, char: str, replacement: str) -> str:
    """Replace each unescaped ``char`` outside ``[...]`` in a regular expression."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
            out.append(ch)
        elif ch == "[":
            in_class = True
            out.append(ch)
            for lead in ("^", "]"):  # a leading ']' is literal
                if pattern[i + 1 : i + 2] == lead:
                    out.append(lead)
                    i += 1
        else:
            out.append(replacement if ch == char else ch)
        i += 1
    return "".join(out)


def pcre_caret(pattern: str) -> str:
    """Rewrite unescaped ``^`` (outside brackets) as PCRE's multiline ``^``: Python and
    PostgreSQL also match after a final newline, PCRE (MongoDB, MariaDB) does not."""
    return replace_outside_brackets(pattern, "^", PCRE_MULTILINE_CARET)


def _unportable(pattern: str) -> str | None:
    """The first construct PostgreSQL, SQLite (Python) and MySQL would read differently:
    inline flags, named or atomic groups, possessive quantifiers, named characters."""
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            nxt = pattern[i + 1 : i + 2]
            if nxt in ("N", "u", "U", "Z", "z") or pattern[i + 1 : i + 3] == "x{":
                # \Z: PCRE also matches before a final newline; \u, \N{} and \x{}: not
                # in every engine. Use $, or the character itself.
                return "\\" + nxt
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if pattern[i + 1 : i + 3] == "[:":
                return "[[:...:]]"  # POSIX classes: literal brackets in Python
            if pattern[i + 1 : i + 2] == "]":
                i += 1
        elif ch == "(" and pattern[i + 1 : i + 2] == "?":
            rest = pattern[i + 2 : i + 4]
            if not (rest[:1] in (":", "=", "!") or rest in ("<=", "<!")):
                return pattern[i : i + 4]
        elif ch in "*+?}" and pattern[i + 1 : i + 2] == "+":
            return pattern[i : i + 2]
        i += 1
    return None


def _regex(field: Field, operand: Any, options: Any, path: str) -> Node:
    _require_text(field, "$regex", path)
    if isinstance(operand, re.Pattern):
        flags = ""
        if operand.flags & re.IGNORECASE:
            flags += "i"
        if operand.flags & re.MULTILINE:
            flags += "m"
        if operand.flags & re.DOTALL:
            flags += "s"
        if operand.flags & re.VERBOSE:
            flags += "x"
        operand, options = operand.pattern, (options or "") + flags
    if not isinstance(operand, str):
        raise FilterError(
            f"{path}: $regex takes a string pattern",
            code="DF-FILTER-TYPE",
            details={"operator": "$regex"},
        )
    options = options or ""
    if not isinstance(options, str) or set(options) - set("imsx"):
        raise FilterError(
            f"{path}: $options must be a combination of i, m, s and x, got {options!r}",
            code="DF-FILTER-REGEX",
            details={"operator": "$options"},
        )
    construct = _unportable(operand)
    if construct:
        raise UnsupportedError(
            f"{path}: $regex construct {construct!r} does not mean the same on every "
            "database; use $options for flags, and plain groups",
            details={"operator": "$regex", "construct": construct},
        )
    try:
        re.compile(operand)
    except re.error as exc:
        raise FilterError(
            f"{path}: invalid regular expression {operand!r}: {exc}",
            code="DF-FILTER-REGEX",
            details={"operator": "$regex"},
        ) from None
    return Regex(field, operand, "".join(sorted(set(options))))
