"""PostgreSQL: native types through asyncpg; ``$n`` placeholders; 63-byte identifiers."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from ..errors import UnsupportedError, ValidationError
from ..models import Field, FieldKind
from ..query import In
from ..query._regex import ascii_classes, pcre_caret, replace_outside_brackets
from ._base import Dialect, JsonSql, Params

__all__ = ["PostgresDialect"]


def to_are(pattern: str, multiline: bool = False) -> str:
    """Rewrite the Python/PCRE spellings PostgreSQL's ARE reads differently.

    ``\\d \\w \\s \\b`` become explicit ASCII classes (PostgreSQL's own follow the
    locale); outside multiline mode ``$`` also matches before a final newline, as in PCRE.
    Named groups, which ARE lacks, raise ``UnsupportedError``.
    """
    if "(?P" in pattern or re.search(r"\(\?<(?![=!])", pattern):
        raise UnsupportedError(
            "$regex: named groups are not available on postgresql",
            details={"dialect": "postgresql", "operator": "$regex"},
        )
    pattern = ascii_classes(pattern)
    if multiline:
        return pattern
    # PCRE's $ also matches before a final newline.
    return replace_outside_brackets(pattern, "$", "(?=\\n?$)")


_SENTINELS = {dt.date.min, dt.date.max, dt.datetime.min, dt.datetime.max}


def _finite(value: Any) -> Any:
    """asyncpg writes the extreme dates as PostgreSQL's -infinity/infinity, which would
    read back as something else: refuse them."""
    plain = value.replace(tzinfo=None) if isinstance(value, dt.datetime) else value
    if plain in _SENTINELS:
        raise ValidationError(
            f"{value!r} is the smallest or largest date Python has; PostgreSQL would store "
            "it as -infinity/infinity. Use a date inside the range",
            code="DF-PARAM-RANGE",
            details={"dialect": "postgresql"},
        )
    return value


def _naive(field: Field) -> bool:
    """A registered ``timestamp without time zone`` column, which holds UTC here."""
    return field.db_type.startswith("timestamp without")


def _to_naive_utc(value: dt.datetime) -> dt.datetime:
    value = _finite(value)
    if value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def _as_utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _to_uuid(value: Any) -> uuid.UUID:
    return value if type(value) is uuid.UUID else uuid.UUID(bytes=value.bytes)


class PostgresDialect(Dialect):
    """PostgreSQL 12+."""

    name: ClassVar[str] = "postgresql"
    max_identifier_length: ClassVar[int] = 63

    def encoder(self, field: Field) -> Callable[[Any], Any] | None:
        if field.kind is FieldKind.DATETIME and _naive(field):
            return _to_naive_utc
        if field.kind in (FieldKind.DATETIME, FieldKind.DATE):
            return _finite
        return super().encoder(field)

    def decoder(self, field: Field) -> Callable[[Any], Any] | None:
        if field.kind is FieldKind.UUID:
            return _to_uuid
        if field.kind is FieldKind.DATETIME and _naive(field):
            return _as_utc
        return super().decoder(field)

    def json_source_sql(self, field: Field) -> str:
        # A registered table may hold JSON as json (no operators of its own) or as an
        # array: both are read as jsonb, so every JSON condition means the same.
        col = self.column(field)
        if field.db_type.endswith("[]"):
            return f"to_jsonb({col})"
        if field.db_type == "json":
            return f"({col})::jsonb"
        return col

    def compare_sql(self, field: Field, col: str, op: str, placeholder: str) -> str:
        if op != "=" and field.kind in (FieldKind.STR, FieldKind.ENUM):
            # Text order follows the database's locale (en_US puts 'a' before 'B');
            # MongoDB, SQLite and MySQL here order by code point, so this does too.
            # Equality needs no collation: every deterministic collation agrees on it.
            return f'{col} COLLATE "C" {op} {placeholder}'
        return f"{col} {op} {placeholder}"

    def order_column_sql(self, field: Field, col: str) -> str:
        if field.kind in (FieldKind.STR, FieldKind.ENUM):
            return f'{col} COLLATE "C"'
        return col

    # jsonb: '->' with a text key or an integer index; '=' and ordering between two
    # numbers compare by value, so numbers and documents go to the server as jsonb.
    def json_column_sql(self, col: str, path: tuple[str | int, ...], params: Params) -> JsonSql:
        if not path:
            return JsonSql(col, f"jsonb_typeof({col})", f"({col} #>> '{{}}')")
        return self.json_path_sql(JsonSql(col, "", ""), path, params)

    def json_path_sql(self, base: JsonSql, path: tuple[str | int, ...], params: Params) -> JsonSql:
        # A strict jsonpath, errors silenced: a key on a non-object or an index on a
        # non-array leads nowhere (the '->' operator would read a scalar as an array).
        text = "strict $" + "".join(f"[{p}]" if isinstance(p, int) else f'."{p}"' for p in path)

        def at() -> str:
            return (
                f"jsonb_path_query_first({base.json}, {params.add(text)}::jsonpath, '{{}}', true)"
            )

        return JsonSql(at(), f"jsonb_typeof({at()})", f"({at()} #>> '{{}}')")

    def json_elements_sql(self, value: JsonSql, alias: str) -> tuple[str, JsonSql]:
        source = (
            f"jsonb_array_elements(CASE WHEN {value.type} = 'array' THEN {value.json} END) "
            f"AS {alias}(v)"
        )
        element = f"{alias}.v"
        return source, JsonSql(element, f"jsonb_typeof({element})", f"({element} #>> '{{}}')")

    _ELEMENT_CASTS: ClassVar[dict[FieldKind, str]] = {
        FieldKind.STR: "{} #>> '{{}}'",
        FieldKind.INT: "({})::bigint",
        FieldKind.FLOAT: "({})::float8",
        FieldKind.BOOL: "({})::boolean",
        FieldKind.JSON: "{}",
    }

    def unwind_source_sql(self, array: str, element: Field, alias: str) -> tuple[str, str, str]:
        value = "(" + self._ELEMENT_CASTS[element.kind].format(f"{alias}.v") + ")"
        source = f"jsonb_array_elements({array}) WITH ORDINALITY AS {alias}(v, n)"
        return source, value, f"({alias}.n - 1)"

    def array_agg_sql(self, col: str, source: Field, *, distinct: bool = False) -> str:
        return f"jsonb_agg({'DISTINCT ' if distinct else ''}{col})"

    def json_bool_sql(self, value: JsonSql, flag: bool) -> str:
        return f"{value.json} = '{'true' if flag else 'false'}'::jsonb"

    def json_text_compare_sql(self, text: str, op: str, placeholder: str) -> str:
        return f'{text} COLLATE "C" {op} {placeholder}'

    def json_number_sql(self, value: JsonSql, op: str, number: float, params: Params) -> str:
        test = f"{value.json} {op} {params.add(number)}::jsonb"
        return f"(CASE WHEN {value.type} = 'number' THEN {test} END)"

    def json_equal_sql(self, value: JsonSql, document: Any, params: Params) -> str:
        return f"{value.json} = {params.add(document)}::jsonb"

    def json_size_sql(self, value: JsonSql, placeholder: str) -> str:
        return (
            f"(CASE WHEN {value.type} = 'array' THEN jsonb_array_length({value.json}) END "
            f"= {placeholder})"
        )

    def explain_sql(self, sql: str) -> str:
        return f"EXPLAIN (FORMAT JSON) {sql}"  # never ANALYZE: nothing runs

    def explain_result(self, rows: Any) -> Any:
        plan = rows[0][0]
        return json.loads(plan) if isinstance(plan, str) else plan

    def in_sql(self, node: In, params: Params) -> str:
        if not node.values:
            return super().in_sql(node, params)
        col = self.column(node.field)
        values = [self.encode(node.field, v) for v in node.values]
        core = f"{col} = ANY({params.add(values)})"
        return self._in_with_nulls(col, core, node)

    def regex_sql(self, col: str, pattern: str, options: str, params: Params) -> str:
        # MongoDB (PCRE) defaults: '.' excludes newline, ^/$ anchor the whole string.
        # PostgreSQL's embedded options reproduce each combination of m and s exactly.
        multiline, dotall = "m" in options, "s" in options
        flags = {(False, False): "p", (True, False): "n", (False, True): "s", (True, True): "w"}[
            (multiline, dotall)
        ]
        if "x" in options:
            flags += "x"
        if "i" in options:
            flags += "i"
        translated = to_are(pattern, multiline)
        if multiline:
            translated = pcre_caret(translated)
        return f"{col} ~ {params.add(f'(?{flags}){translated}')}"
