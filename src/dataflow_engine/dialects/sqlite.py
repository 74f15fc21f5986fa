"""SQLite: values stored as TEXT/INTEGER/BLOB and decoded back to their Python types."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, ClassVar

from ..models import Field, FieldKind
from ..query import In
from ._base import Dialect, JsonSql, Params

__all__ = ["SQLiteDialect", "encode_datetime", "json_dumps"]


def json_dumps(value: Any) -> str:
    """Canonical JSON text (sorted keys, compact), so equal documents compare equal."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def encode_datetime(value: dt.datetime) -> str:
    """Fixed-width UTC ISO-8601 text, so text order is time order."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _decode_datetime(text: Any) -> dt.datetime:
    value = dt.datetime.fromisoformat(text) if isinstance(text, str) else text
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _encode_time(value: dt.time) -> str:
    return value.isoformat(timespec="microseconds")


_INLINE_LIST = 100  # longer $in lists travel as one JSON parameter


def json_path(path: tuple[str | int, ...]) -> str:
    """A SQLite/MySQL JSON path: ``("a", 0)`` -> ``$."a"[0]`` (components hold no quotes)."""
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f'."{p}"' for p in path)


class SQLiteDialect(Dialect):
    """SQLite 3.35+ (RETURNING, NULLS FIRST, upserts)."""

    name: ClassVar[str] = "sqlite"
    max_identifier_length: ClassVar[int] = 1_000_000  # SQLite imposes no limit
    TYPES: ClassVar[dict[FieldKind, str]] = {
        **Dialect.TYPES,
        FieldKind.INT: "INTEGER",
        FieldKind.FLOAT: "REAL",
        FieldKind.BOOL: "INTEGER",
        FieldKind.DECIMAL: "TEXT",
        FieldKind.DATETIME: "TEXT",
        FieldKind.DATE: "TEXT",
        FieldKind.TIME: "TEXT",
        FieldKind.UUID: "TEXT",
        FieldKind.BYTES: "BLOB",
        FieldKind.JSON: "TEXT",
    }

    _ENCODERS: ClassVar[dict[FieldKind, Callable[[Any], Any]]] = {
        FieldKind.BOOL: int,
        FieldKind.DECIMAL: str,
        FieldKind.DATETIME: encode_datetime,
        FieldKind.DATE: dt.date.isoformat,
        FieldKind.TIME: _encode_time,
        FieldKind.UUID: str,
        FieldKind.JSON: json_dumps,
    }
    _DECODERS: ClassVar[dict[FieldKind, Callable[[Any], Any]]] = {
        FieldKind.BOOL: bool,
        FieldKind.DECIMAL: lambda v: Decimal(str(v)),
        FieldKind.DATETIME: _decode_datetime,
        FieldKind.DATE: dt.date.fromisoformat,
        FieldKind.TIME: dt.time.fromisoformat,
        FieldKind.UUID: lambda v: uuid.UUID(str(v)),
        FieldKind.JSON: json.loads,
        FieldKind.FLOAT: float,
    }

    JSON_TYPES: ClassVar[dict[str, tuple[str, ...]]] = {
        "string": ("text",),
        "number": ("integer", "real"),
        "bool": ("true", "false"),
        "null": ("null",),
        "object": ("object",),
        "array": ("array",),
    }

    def placeholder(self, index: int) -> str:
        return "?"

    # JSON is stored as canonical text; '->' returns JSON text, '->>' the SQL value.
    def json_column_sql(self, col: str, path: tuple[str | int, ...], params: Params) -> JsonSql:
        if not path:
            return JsonSql(col, f"json_type({col})", f"({col} ->> '$')")
        text = json_path(path)
        return JsonSql(
            f"({col} -> {params.add(text)})",
            f"json_type({col}, {params.add(text)})",
            f"({col} ->> {params.add(text)})",
        )

    def json_path_sql(self, base: JsonSql, path: tuple[str | int, ...], params: Params) -> JsonSql:
        return self.json_column_sql(base.json, path, params)

    def json_elements_sql(self, value: JsonSql, alias: str) -> tuple[str, JsonSql]:
        source = f"json_each(CASE WHEN {value.type} = 'array' THEN {value.json} END) AS {alias}"
        as_json = (
            f"(CASE WHEN {alias}.type IN ('object', 'array') THEN {alias}.value "
            f"WHEN {alias}.type IN ('true', 'false', 'null') THEN {alias}.type "
            f"ELSE json_quote({alias}.value) END)"
        )
        return source, JsonSql(as_json, f"{alias}.type", f"{alias}.value")

    def explain_sql(self, sql: str) -> str:
        return f"EXPLAIN QUERY PLAN {sql}"

    def explain_result(self, rows: Any) -> Any:
        return [{"id": r[0], "parent": r[1], "detail": r[3]} for r in rows]

    def unwind_source_sql(self, array: str, element: Field, alias: str) -> tuple[str, str, str]:
        value = f"{alias}.value"
        if element.kind is FieldKind.JSON:
            value = self.json_elements_sql(JsonSql(array, "'array'", ""), alias)[1].json
        return f"json_each({array}) AS {alias}", value, f"{alias}.key"

    def array_agg_sql(self, col: str, source: Field, *, distinct: bool = False) -> str:
        return f"json_group_array({'DISTINCT ' if distinct else ''}{col})"

    def json_bool_sql(self, value: JsonSql, flag: bool) -> str:
        return f"{value.type} = '{'true' if flag else 'false'}'"

    def json_equal_sql(self, value: JsonSql, document: Any, params: Params) -> str:
        return f"df_jsoneq({value.json}, {params.add(json_dumps(document))})"

    def json_size_sql(self, value: JsonSql, placeholder: str) -> str:
        return (
            f"(CASE WHEN {value.type} = 'array' THEN json_array_length({value.json}) END "
            f"= {placeholder})"
        )

    def table(self, model: Any) -> str:
        return self.quote(model.table_name)  # SQLite has no schemas of its own

    def encoder(self, field: Field) -> Callable[[Any], Any] | None:
        return self._ENCODERS.get(field.kind) or super().encoder(field)

    def decoder(self, field: Field) -> Callable[[Any], Any] | None:
        return self._DECODERS.get(field.kind) or super().decoder(field)

    def literal(self, field: Field, value: Any) -> str | None:
        if isinstance(value, bool):
            return "1" if value else "0"
        return super().literal(field, value)

    def default_ddl(self, field: Field) -> str | None:
        if field.name in ("created_at", "updated_at") and field.auto:
            return "(strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now'))"
        return super().default_ddl(field)

    def limit_sql(self, limit: int | None, offset: int | None, params: Params) -> str:
        if limit is None and offset:
            return f" LIMIT -1 OFFSET {params.add(offset)}"  # SQLite needs a LIMIT
        return super().limit_sql(limit, offset, params)

    def order_column_sql(self, field: Field, col: str) -> str:
        if field.kind is FieldKind.DECIMAL:
            return f"{col} COLLATE df_decimal"  # numeric order, not text order
        return col

    def accumulator_sql(self, acc: Any) -> str:
        if acc.source is not None and acc.source.kind is FieldKind.DECIMAL:
            return f"df_dec{acc.op}({self.quote(acc.source.name)})"  # exact, on text
        return super().accumulator_sql(acc)

    def lock_suffix(self) -> str:
        return ""  # BEGIN IMMEDIATE already holds the write lock

    def auto_id_ddl(self, field: Field) -> str:
        return f"{self.column(field)} INTEGER PRIMARY KEY AUTOINCREMENT"

    # Decimals are TEXT: compare them exactly through a registered function.
    def compare_sql(self, field: Field, col: str, op: str, placeholder: str) -> str:
        if field.kind is FieldKind.DECIMAL:
            return f"df_deccmp({col}, {placeholder}) {op} 0"
        return f"{col} {op} {placeholder}"

    def ne_sql(self, field: Field, col: str, placeholder: str) -> str:
        if field.kind is FieldKind.DECIMAL:
            return f"({col} IS NULL OR df_deccmp({col}, {placeholder}) <> 0)"
        return f"{col} IS NOT {placeholder}"

    def in_sql(self, node: In, params: Params) -> str:
        if not node.values:
            return super().in_sql(node, params)
        col = self.column(node.field)
        if len(node.values) > _INLINE_LIST or node.field.kind is FieldKind.DECIMAL:
            # One JSON array parameter: SQLite allows at most 32,766 parameters, and the
            # values are already encoded as SQLite stores them (text, integers, reals).
            values = json.dumps([self.encode(node.field, v) for v in node.values])
            placeholder = params.add(values)
            if node.field.kind is FieldKind.DECIMAL:  # compare by value, not by text
                core = (
                    f"EXISTS (SELECT 1 FROM json_each({placeholder}) "
                    f"WHERE df_deccmp({col}, value) = 0)"
                )
            else:
                core = f"{col} IN (SELECT value FROM json_each({placeholder}))"
            return self._in_with_nulls(col, core, node)
        return super().in_sql(node, params)

    def like_sql(self, col: str, placeholder: str, case_insensitive: bool) -> str:
        if case_insensitive:
            return f"df_lower({col}) LIKE df_lower({placeholder}) ESCAPE '\\'"
        return f"{col} LIKE {placeholder} ESCAPE '\\'"

    def regex_sql(self, col: str, pattern: str, options: str, params: Params) -> str:
        return f"df_regexp({params.add(pattern)}, {params.add(options)}, {col})"

    def arith_sql(self, field: Field, col: str, op: str, value: Any, params: Params) -> str:
        if field.kind is FieldKind.DECIMAL:
            fn = "df_decadd" if op == "+" else "df_decmul"
            return f"{col} = {fn}(COALESCE({col}, '0'), {params.add_field(field, value)})"
        if field.kind is FieldKind.INT:  # SQLite would overflow into a REAL silently
            fn = "df_intadd" if op == "+" else "df_intmul"
            return f"{col} = {fn}(COALESCE({col}, 0), {params.add_field(field, value)})"
        return super().arith_sql(field, col, op, value, params)
