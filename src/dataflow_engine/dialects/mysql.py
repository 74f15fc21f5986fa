"""MySQL 8 and MariaDB 10.5+: backtick identifiers, ``%s`` placeholders, exact semantics.

The traps, and what this module does about each (docs/mysql.md has the full list):

- Default collations are case- and accent-insensitive and pad trailing spaces, so
  ``'ann' = 'Ann '`` is true. Text comparisons, LIKE, IN and ORDER BY use a binary
  no-pad collation here (``utf8mb4_nopad_bin`` on MariaDB, ``utf8mb4_0900_bin`` on MySQL),
  and tables DataFlow creates use it as their default.
- The driver interpolates parameters client-side with ``%``: every ``%`` in SQL text (an
  identifier may hold one) is doubled, and every statement is sent with a parameter list.
- No ``UPDATE ... RETURNING`` anywhere and no ``RETURNING`` at all on MySQL: the adapter
  reports the server's capabilities and the nodes read rows back by key instead.
- ``LIMIT`` is required before ``OFFSET``; booleans are ``TINYINT(1)``; ``DATETIME(6)``
  holds UTC (the session time zone is ``+00:00``); ``TEXT`` cannot be indexed, so
  indexed and unique strings are ``VARCHAR(255)``; identifiers are at most 64 characters.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any, ClassVar

from ..errors import UnsupportedError, ValidationError
from ..models import Field, FieldKind
from ..query import In, ascii_classes
from ._base import Dialect, JsonSql, Params
from .sqlite import json_dumps, json_path

__all__ = ["MySQLDialect"]

_DECIMAL_DIGITS, _DECIMAL_SCALE = 38, 10


def _encode_datetime(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def _decode_time(value: Any) -> dt.time:
    if isinstance(value, dt.timedelta):  # the driver returns TIME as a timedelta
        if not dt.timedelta(0) <= value < dt.timedelta(days=1):
            from ..errors import DatabaseError

            raise DatabaseError(
                f"TIME value {value} is a duration, not a time of day; read it through a "
                "model field that is not a time",
                code="DF-DB-DATA",
                details={"dialect": "mysql"},
            )
        seconds = int(value.total_seconds())
        return dt.time(seconds // 3600, seconds // 60 % 60, seconds % 60, value.microseconds)
    if isinstance(value, str):
        return dt.time.fromisoformat(value)
    return value  # type: ignore[no-any-return]


def _encode_decimal(value: Decimal) -> Decimal:
    _, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        return value  # not finite: refused by field validation already
    scale = -exponent if exponent < 0 else 0
    whole = len(digits) + exponent if exponent >= 0 else len(digits) - scale
    if scale > _DECIMAL_SCALE or whole > _DECIMAL_DIGITS - _DECIMAL_SCALE:
        raise ValidationError(
            f"{value} does not fit DECIMAL({_DECIMAL_DIGITS},{_DECIMAL_SCALE}) on MySQL "
            f"(at most {_DECIMAL_DIGITS - _DECIMAL_SCALE} digits before the point and "
            f"{_DECIMAL_SCALE} after); it would be rounded",
            code="DF-PARAM-RANGE",
            details={"dialect": "mysql", "value": str(value)},
        )
    return value


def _encode_float(value: float) -> float:
    if value in (math.inf, -math.inf):
        raise ValidationError(
            f"{value} cannot be stored in a MySQL DOUBLE (it has no infinities)",
            code="DF-PARAM-RANGE",
            details={"dialect": "mysql"},
        )
    return value


def _decode_decimal(value: Any) -> Decimal:
    # DECIMAL(38,10) pads every value to ten places; drop the padding zeros again
    # (12.5000000000 -> 12.5, 0E-10 -> 0) without turning 100 into 1E+2.
    # Done on the digits: Decimal arithmetic would round to the context's 28 digits.
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    sign, digits, exponent = number.as_tuple()
    if not isinstance(exponent, int) or exponent >= 0:
        return number
    kept = list(digits)
    while exponent < 0 and len(kept) > 1 and kept[-1] == 0:
        kept.pop()
        exponent += 1
    if not any(kept):
        return Decimal(0)
    return Decimal((sign, tuple(kept), exponent))


def _decode_json(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        value = value.decode()
    return json.loads(value)


def _decode_uuid(value: Any) -> uuid.UUID:
    return uuid.UUID(value.decode() if isinstance(value, bytes | bytearray) else str(value))


class MySQLDialect(Dialect):
    """MySQL 8.0+ and MariaDB 10.5+ (capabilities set by the adapter after connecting)."""

    name: ClassVar[str] = "mysql"
    max_identifier_length: ClassVar[int] = 64
    TYPES: ClassVar[dict[FieldKind, str]] = {
        **Dialect.TYPES,
        FieldKind.STR: "LONGTEXT",  # TEXT holds only 64 KB
        FieldKind.INT: "BIGINT",
        FieldKind.FLOAT: "DOUBLE",
        FieldKind.BOOL: "BOOLEAN",
        FieldKind.DECIMAL: f"DECIMAL({_DECIMAL_DIGITS},{_DECIMAL_SCALE})",
        FieldKind.DATETIME: "DATETIME(6)",
        FieldKind.TIME: "TIME(6)",
        FieldKind.UUID: "CHAR(36)",
        FieldKind.BYTES: "LONGBLOB",
        FieldKind.JSON: "JSON",
        FieldKind.ENUM: "VARCHAR(255)",
    }
    supports_nulls_order: ClassVar[bool] = False

    _ENCODERS: ClassVar[dict[FieldKind, Callable[[Any], Any]]] = {
        FieldKind.FLOAT: _encode_float,
        FieldKind.BOOL: int,
        FieldKind.DECIMAL: _encode_decimal,
        FieldKind.DATETIME: _encode_datetime,
        FieldKind.UUID: str,
        FieldKind.JSON: json_dumps,
    }
    _DECODERS: ClassVar[dict[FieldKind, Callable[[Any], Any]]] = {
        FieldKind.BOOL: bool,
        FieldKind.DECIMAL: _decode_decimal,
        # DATETIME needs no decoder: the adapter's driver conversions already return
        # aware UTC datetimes (one parse per value instead of parse-then-replace).
        FieldKind.TIME: _decode_time,
        FieldKind.UUID: _decode_uuid,
        FieldKind.JSON: _decode_json,
        FieldKind.BYTES: bytes,
    }

    def __init__(self, schema: str | None = None, *, mariadb: bool = True) -> None:
        super().__init__(schema)
        self.configure(mariadb=mariadb, returning=mariadb)

    def configure(self, *, mariadb: bool, returning: bool) -> None:
        """Set what the connected server can do (called by the adapter)."""
        self.mariadb = mariadb
        self.collation = "utf8mb4_nopad_bin" if mariadb else "utf8mb4_0900_bin"
        # MariaDB 10.5+ has INSERT/DELETE ... RETURNING; neither has UPDATE ... RETURNING.
        self.insert_returning = returning
        self.delete_returning = returning
        self.update_returning = False

    def cache_key(self) -> Any:
        return (type(self), self.mariadb, self.collation)

    # -- identifiers and placeholders ----------------------------------------------------

    def quote(self, identifier: str) -> str:
        # '%' is doubled because the driver formats every statement with '%'.
        return "`" + identifier.replace("`", "``").replace("%", "%%") + "`"

    def identifier_length(self, identifier: str) -> int:
        return len(identifier)  # MySQL counts characters, not bytes

    def placeholder(self, index: int) -> str:
        return "%s"

    def table(self, model: Any) -> str:
        return self.quote(model.table_name)  # the URL's database is the schema

    # -- values --------------------------------------------------------------------------

    def encoder(self, field: Field) -> Callable[[Any], Any] | None:
        return self._ENCODERS.get(field.kind) or super().encoder(field)

    def decoder(self, field: Field) -> Callable[[Any], Any] | None:
        return self._DECODERS.get(field.kind) or super().decoder(field)

    def literal(self, field: Field, value: Any) -> str | None:
        if isinstance(value, bool):
            return "1" if value else "0"
        text = super().literal(field, value)
        if text is not None and field.kind is FieldKind.STR and not field.indexed:
            return f"({text})"  # a TEXT column takes only an expression DEFAULT
        return text

    def string_literal(self, text: str) -> str:
        # Backslashes escape in MySQL string literals; '%' is doubled for the driver.
        return "'" + text.replace("\\", "\\\\").replace("'", "''").replace("%", "%%") + "'"

    def default_ddl(self, field: Field) -> str | None:
        if field.name in ("created_at", "updated_at") and field.auto:
            return "CURRENT_TIMESTAMP(6)"
        return super().default_ddl(field)

    # -- comparisons with exact (binary, no-pad) text semantics ---------------------------

    def _text(self, field: Field, col: str) -> str:
        if field.kind in (FieldKind.STR, FieldKind.ENUM):
            return f"{col} COLLATE {self.collation}"
        return col

    def compare_sql(self, field: Field, col: str, op: str, placeholder: str) -> str:
        return f"{self._text(field, col)} {op} {placeholder}"

    def mod_sql(self, col: str, divisor: str) -> str:
        return f"MOD({col}, {divisor})"  # '%' is the driver's formatting character

    # -- JSON values: JSON_EXTRACT with a bound path, JSON_TABLE for array elements ---------

    JSON_TYPES: ClassVar[dict[str, tuple[str, ...]]] = {
        "string": ("STRING",),
        "number": ("INTEGER", "UNSIGNED INTEGER", "DOUBLE", "DECIMAL"),
        "bool": ("BOOLEAN",),
        "null": ("NULL",),
        "object": ("OBJECT",),
        "array": ("ARRAY",),
    }

    def json_column_sql(self, col: str, path: tuple[str | int, ...], params: Params) -> JsonSql:
        if not path:
            return JsonSql(col, f"JSON_TYPE({col})", f"JSON_UNQUOTE({col})")
        # '$[0]' reads a non-array as a one-element array here: each index step is
        # guarded by the type of what it indexes.
        arrays = [path[:i] for i, p in enumerate(path) if isinstance(p, int)]

        def at() -> str:
            value = f"JSON_EXTRACT({col}, {params.add(json_path(path))})"
            if not arrays:
                return value
            guards = " AND ".join(
                f"JSON_TYPE({f'JSON_EXTRACT({col}, {params.add(json_path(a))})' if a else col})"
                " = 'ARRAY'"
                for a in arrays
            )
            return f"(CASE WHEN {guards} THEN {value} END)"

        return JsonSql(at(), f"JSON_TYPE({at()})", f"JSON_UNQUOTE({at()})")

    def json_path_sql(self, base: JsonSql, path: tuple[str | int, ...], params: Params) -> JsonSql:
        return self.json_column_sql(base.json, path, params)

    def json_elements_sql(self, value: JsonSql, alias: str) -> tuple[str, JsonSql]:
        source = (
            f"JSON_TABLE(CASE WHEN {value.type} = 'ARRAY' THEN {value.json} END, '$[*]' "
            f"COLUMNS (v JSON PATH '$')) AS {alias}"
        )
        element = f"{alias}.v"
        return source, JsonSql(element, f"JSON_TYPE({element})", f"JSON_UNQUOTE({element})")

    _ELEMENT_CASTS: ClassVar[dict[FieldKind, str]] = {
        FieldKind.STR: "JSON_UNQUOTE({})",
        FieldKind.INT: "CAST({} AS SIGNED)",
        FieldKind.FLOAT: "CAST({} AS DOUBLE)",
        FieldKind.BOOL: "(JSON_UNQUOTE({}) = 'true')",
        FieldKind.JSON: "{}",
    }

    def unwind_source_sql(self, array: str, element: Field, alias: str) -> tuple[str, str, str]:
        value = self._ELEMENT_CASTS[element.kind].format(f"{alias}.v")
        source = (
            f"JSON_TABLE({array}, '$[*]' COLUMNS (n FOR ORDINALITY, v JSON PATH '$')) AS {alias}"
        )
        return source, value, f"({alias}.n - 1)"

    def array_agg_sql(self, col: str, source: Field, *, distinct: bool = False) -> str:
        if distinct and not self.mariadb:
            raise UnsupportedError(
                "$addToSet is not available on MySQL 8 (JSON_ARRAYAGG takes no DISTINCT)",
                details={"dialect": "mysql", "operator": "$addToSet"},
            )
        return f"JSON_ARRAYAGG({'DISTINCT ' if distinct else ''}{col})"

    def window_accumulator_sql(self, acc: Any, keys: Any) -> str | None:
        if acc.op == "push" and self.mariadb:
            return None  # MariaDB's JSON_ARRAYAGG is no window function; it takes ORDER BY
        return super().window_accumulator_sql(acc, keys)

    def accumulator_sql(self, acc: Any) -> str:
        if acc.op == "push":
            order = [(replace(f, column=f.name), desc) for f, desc in acc.order]
            by = f" ORDER BY {self.order_sql(order)}" if order else ""
            return f"JSON_ARRAYAGG({self.quote(acc.source.name)}{by})"
        if acc.op == "avg" and acc.source is not None and acc.source.kind is not FieldKind.DECIMAL:
            # AVG of integers is a DECIMAL rounded to 4 places (div_precision_increment):
            # average doubles instead, as MongoDB does.
            return f"AVG({self.quote(acc.source.name)} * 1e0)"
        return super().accumulator_sql(acc)

    def explain_sql(self, sql: str) -> str:
        return f"EXPLAIN FORMAT=JSON {sql}"

    def explain_result(self, rows: Any) -> Any:
        text = rows[0][0]
        text = text.decode() if isinstance(text, bytes | bytearray) else str(text)
        try:
            return json.loads(text)
        except ValueError:
            # MariaDB writes a quote inside a condition's string literal as \', which JSON
            # does not have; read it as the quote it stands for, else keep the text.
            try:
                return json.loads(text.replace("\\'", "'"))
            except ValueError:
                return {"text": text}

    def json_text_compare_sql(self, text: str, op: str, placeholder: str) -> str:
        return f"{text} COLLATE {self.collation} {op} {placeholder}"

    def json_number_sql(self, value: JsonSql, op: str, number: float, params: Params) -> str:
        # JSON integers compare as BIGINT (exact against integers and against the
        # driver's decimal literals), every other number as DOUBLE.
        exact = f"CAST({value.scalar} AS SIGNED) {op} {params.add(number)}"
        as_double = f"CAST({value.scalar} AS DOUBLE) {op} {params.add(number)}"
        return (
            f"(CASE WHEN {value.type} = 'INTEGER' THEN {exact} "
            f"WHEN {self._json_is(value, 'number')} THEN {as_double} END)"
        )

    def json_equal_sql(self, value: JsonSql, document: Any, params: Params) -> str:
        placeholder = params.add(json_dumps(document))
        if self.mariadb:
            return f"JSON_EQUALS({value.json}, {placeholder})"
        return f"{value.json} = CAST({placeholder} AS JSON)"

    def json_size_sql(self, value: JsonSql, placeholder: str) -> str:
        return (
            f"(CASE WHEN {value.type} = 'ARRAY' THEN JSON_LENGTH({value.json}) END = {placeholder})"
        )

    def ne_sql(self, field: Field, col: str, placeholder: str) -> str:
        return f"NOT ({self.compare_sql(field, col, '<=>', placeholder)})"

    def in_sql(self, node: In, params: Params) -> str:
        if not node.values:
            return super().in_sql(node, params)
        col = self.column(node.field)
        inner = ", ".join(params.add_field(node.field, v) for v in node.values)
        core = f"{self._text(node.field, col)} IN ({inner})"
        return self._in_with_nulls(col, core, node)

    def like_sql(self, col: str, placeholder: str, case_insensitive: bool) -> str:
        if case_insensitive:
            return f"LOWER({col}) COLLATE {self.collation} LIKE LOWER({placeholder}) ESCAPE '\\\\'"
        return f"{col} COLLATE {self.collation} LIKE {placeholder} ESCAPE '\\\\'"

    def regex_sql(self, col: str, pattern: str, options: str, params: Params) -> str:
        # Both servers read \\w, \\d, \\s as Unicode classes; MongoDB's PCRE as ASCII.
        pattern = ascii_classes(pattern)
        if self.mariadb:
            # MariaDB's REGEXP is PCRE2, MongoDB's own flavour; inline flags set every
            # option explicitly so the column's collation cannot make it case-insensitive.
            on = "".join(o for o in "imsx" if o in options)
            off = "".join(o for o in "ims" if o not in options)
            flags = f"(?{on}{'-' + off if off else ''})"
            return f"{col} COLLATE {self.collation} REGEXP {params.add(flags + pattern)}"
        match_type = (
            ("i" if "i" in options else "c")
            + ("m" if "m" in options else "")
            + ("n" if "s" in options else "")
        )
        if "x" in options:
            pattern = f"(?x){pattern}"
        return f"REGEXP_LIKE({col}, {params.add(pattern)}, {params.add(match_type)})"

    # -- ordering, paging, conflicts --------------------------------------------------------

    def order_column_sql(self, field: Field, col: str) -> str:
        return self._text(field, col)

    def order_sql(self, items: Any) -> str:
        parts = []
        for field, desc in items:
            col = self.column(field)
            expr = self.order_column_sql(field, col)
            if field.nullable:
                parts.append(
                    f"{col} IS NULL DESC, {expr}" if not desc else f"{col} IS NULL, {expr} DESC"
                )
            else:
                parts.append(expr + (" DESC" if desc else ""))
        return ", ".join(parts)

    def limit_sql(self, limit: int | None, offset: int | None, params: Params) -> str:
        if limit is None and offset:
            # MySQL has no OFFSET without LIMIT; this is its documented "no limit".
            return f" LIMIT 18446744073709551615 OFFSET {params.add(offset)}"
        return super().limit_sql(limit, offset, params)

    # Unless sql_mode has NO_AUTO_VALUE_ON_ZERO, AUTO_INCREMENT takes 0 as "number it".
    identity_zero_generates: ClassVar[bool] = True

    def insert_prefix(self, ignore_conflicts: bool) -> str:
        # INSERT IGNORE also turns other errors into warnings: the adapter reads the
        # warnings after such a statement and raises anything but a duplicate key.
        return "INSERT IGNORE INTO" if ignore_conflicts else "INSERT INTO"

    def ignore_conflicts_sql(self) -> str:
        return ""

    def arith_sql(self, field: Field, col: str, op: str, value: Any, params: Params) -> str:
        return f"{col} = COALESCE({col}, 0) {op} {params.add_field(field, value)}"

    # -- DDL -------------------------------------------------------------------------------

    def column_type(self, field: Field, *, indexed: bool = False) -> str:
        if field.kind is FieldKind.STR and (indexed or field.primary_key):
            return "VARCHAR(255)"
        return self.TYPES[field.kind]

    def auto_id_ddl(self, field: Field) -> str:
        return f"{self.column(field)} BIGINT AUTO_INCREMENT PRIMARY KEY"

    def create_table_sql(self, model: Any) -> list[str]:
        statements = super().create_table_sql(model)
        create = statements[0]
        # Indexes go inside CREATE TABLE: MySQL 8 has no CREATE INDEX IF NOT EXISTS.
        inline = []
        for group in model.indexes:
            columns = [model.fields[n].column for n in group]
            name = self.generated_name("ix", model.table_name, columns)
            inline.append(
                f"INDEX {self.quote(name)} (" + ", ".join(self.quote(c) for c in columns) + ")"
            )
        if inline:
            create = create[: create.rindex("\n)")] + ",\n  " + ",\n  ".join(inline) + "\n)"
        create += f" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={self.collation}"
        return [create]

    def lock_suffix(self) -> str:
        return " FOR UPDATE"
