"""MySQL 8 and MariaDB discovery, read from ``information_schema``.

:func:`discover` sends seven set-based queries whatever the number of tables: the server
facts (version, current database, which optional catalog columns exist), then ``TABLES``,
``COLUMNS``, ``STATISTICS``, the table's own keys (``TABLE_CONSTRAINTS`` with
``KEY_COLUMN_USAGE`` and ``REFERENTIAL_CONSTRAINTS``), the foreign keys from any schema
that point into this one, and the CHECK constraints. Everything else is assembled here,
in pure functions.

Where the two servers differ:

- ``COLUMN_DEFAULT`` is an SQL expression on MariaDB (``'abc'``, ``5``,
  ``current_timestamp()``; the word ``NULL`` when a nullable column has no default) and the
  raw value on MySQL (``abc``; expressions are flagged ``DEFAULT_GENERATED`` in
  ``EXTRA``). Both are reported as an expression, None when there is no default.
- MariaDB's ``JSON`` is ``LONGTEXT`` plus an automatic ``CHECK (json_valid(col))``: such a
  column has kind ``"json"`` and that check is left out of ``checks`` (the kind says it).
- ``STATISTICS.EXPRESSION`` (functional index parts) exists on MySQL 8.0.13+ only.
- ``CHECK_CONSTRAINTS`` names the table on MariaDB; on MySQL (8.0.16+, where check names
  are unique per schema) it is joined through ``TABLE_CONSTRAINTS``. A server without the
  view reports no checks.
- MariaDB shows integer display widths (``int(11)``), MySQL 8.0.19+ does not, except for
  ``tinyint(1)``, the boolean type, which both keep.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import SchemaError, ValidationError
from ._info import CheckInfo, ColumnInfo, ForeignKeyInfo, IndexInfo, TableInfo, UniqueInfo

if TYPE_CHECKING:
    from ..adapters import Connection

__all__ = ["discover"]

Row = Sequence[Any]


def _optional_column(table: str, column: str) -> str:
    return (
        "EXISTS (SELECT 1 FROM information_schema.COLUMNS"
        " WHERE TABLE_SCHEMA = 'information_schema'"
        f" AND UPPER(TABLE_NAME) = '{table}' AND UPPER(COLUMN_NAME) = '{column}')"
    )


_SERVER_SQL = (
    "SELECT VERSION(), COALESCE(%s, DATABASE()),"
    " EXISTS (SELECT 1 FROM information_schema.SCHEMATA"
    " WHERE SCHEMA_NAME = COALESCE(%s, DATABASE())),"
    f" {_optional_column('STATISTICS', 'EXPRESSION')},"
    f" {_optional_column('CHECK_CONSTRAINTS', 'CHECK_CLAUSE')},"
    f" {_optional_column('CHECK_CONSTRAINTS', 'TABLE_NAME')}"
)

_TABLES_SQL = """
SELECT TABLE_NAME, TABLE_TYPE, TABLE_ROWS, TABLE_COMMENT
FROM information_schema.TABLES
WHERE TABLE_SCHEMA = %s AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED', 'VIEW'){names}
"""

_COLUMNS_SQL = """
SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_DEFAULT, IS_NULLABLE, DATA_TYPE,
       COLUMN_TYPE, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, EXTRA,
       GENERATION_EXPRESSION, COLUMN_COMMENT
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = %s{names}
ORDER BY TABLE_NAME, ORDINAL_POSITION
"""

_INDEXES_SQL = """
SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, {expression}
FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = %s{names}
ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX
"""

# Every key query returns the same shape: schema, table, constraint, type, column,
# position, referenced schema, table and column, update rule, delete rule.
_KEYS_SQL = """
SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.CONSTRAINT_NAME, c.CONSTRAINT_TYPE, k.COLUMN_NAME,
       k.ORDINAL_POSITION, k.REFERENCED_TABLE_SCHEMA, k.REFERENCED_TABLE_NAME,
       k.REFERENCED_COLUMN_NAME, r.UPDATE_RULE, r.DELETE_RULE
FROM information_schema.TABLE_CONSTRAINTS c
JOIN information_schema.KEY_COLUMN_USAGE k
  ON k.TABLE_SCHEMA = %s AND k.CONSTRAINT_SCHEMA = c.CONSTRAINT_SCHEMA
 AND k.TABLE_NAME = c.TABLE_NAME AND k.CONSTRAINT_NAME = c.CONSTRAINT_NAME
LEFT JOIN information_schema.REFERENTIAL_CONSTRAINTS r
  ON r.CONSTRAINT_SCHEMA = c.CONSTRAINT_SCHEMA
 AND r.TABLE_NAME = c.TABLE_NAME AND r.CONSTRAINT_NAME = c.CONSTRAINT_NAME
WHERE c.TABLE_SCHEMA = %s AND c.CONSTRAINT_TYPE IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY'){names}
ORDER BY c.TABLE_NAME, c.CONSTRAINT_NAME, k.ORDINAL_POSITION
"""

_REFERENCING_SQL = """
SELECT k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, 'FOREIGN KEY', k.COLUMN_NAME,
       k.ORDINAL_POSITION, k.REFERENCED_TABLE_SCHEMA, k.REFERENCED_TABLE_NAME,
       k.REFERENCED_COLUMN_NAME, r.UPDATE_RULE, r.DELETE_RULE
FROM information_schema.KEY_COLUMN_USAGE k
JOIN information_schema.REFERENTIAL_CONSTRAINTS r
  ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA
 AND r.TABLE_NAME = k.TABLE_NAME AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME
WHERE k.REFERENCED_TABLE_SCHEMA = %s{names}
ORDER BY k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION
"""

_MARIADB_CHECKS_SQL = """
SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE
FROM information_schema.CHECK_CONSTRAINTS
WHERE CONSTRAINT_SCHEMA = %s{names}
ORDER BY TABLE_NAME, CONSTRAINT_NAME
"""

_MYSQL_CHECKS_SQL = """
SELECT c.TABLE_NAME, k.CONSTRAINT_NAME, k.CHECK_CLAUSE
FROM information_schema.TABLE_CONSTRAINTS c
JOIN information_schema.CHECK_CONSTRAINTS k
  ON k.CONSTRAINT_SCHEMA = c.CONSTRAINT_SCHEMA AND k.CONSTRAINT_NAME = c.CONSTRAINT_NAME
WHERE c.TABLE_SCHEMA = %s AND c.CONSTRAINT_TYPE = 'CHECK'{names}
ORDER BY c.TABLE_NAME, k.CONSTRAINT_NAME
"""

_INTEGERS = ("tinyint", "smallint", "mediumint", "int", "integer", "bigint")
_TEXTS = ("char", "varchar", "tinytext", "text", "mediumtext", "longtext")
_BINARIES = ("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob")
_KIND_OF_TYPE: dict[str, str] = {
    **dict.fromkeys(_INTEGERS, "int"),
    **dict.fromkeys(("decimal", "numeric"), "decimal"),
    **dict.fromkeys(("float", "double", "double precision", "real"), "float"),
    **dict.fromkeys(_TEXTS, "str"),
    **dict.fromkeys(_BINARIES, "bytes"),
    "date": "date",
    "datetime": "datetime",
    "timestamp": "datetime",
    "time": "time",
    "json": "json",
    "enum": "enum",
    "uuid": "uuid",  # MariaDB 10.7+; a CHAR(36) holding UUIDs stays "str"
}
# MySQL's raw defaults of these types are already valid SQL; others are quoted.
_UNQUOTED_DEFAULTS = frozenset(
    (*_INTEGERS, "decimal", "numeric", "float", "double", "double precision", "real", "bit", "year")
)
_CURRENT_TIMESTAMP = re.compile(r"current_timestamp(\(\d*\))?", re.IGNORECASE)
_HEX_LITERAL = re.compile(r"0x[0-9a-fA-F]*")
_JSON_VALID = re.compile(r"\(?\s*json_valid\s*\(\s*`((?:[^`]|``)+)`\s*\)\s*\)?", re.IGNORECASE)
_ENUM_VALUE = re.compile(r"'((?:[^'\\]|''|\\.)*)'", re.DOTALL)
_ENUM_ESCAPE = re.compile(r"''|\\(.)", re.DOTALL)
_BACKSLASH_ESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}


@dataclass(frozen=True)
class _Server:
    schema: str
    mariadb: bool
    index_expressions: bool  # STATISTICS.EXPRESSION exists
    checks: bool  # CHECK_CONSTRAINTS exists
    checks_name_table: bool  # CHECK_CONSTRAINTS.TABLE_NAME exists


async def discover(
    conn: Connection, schema: str | None, tables: Sequence[str] | None
) -> list[TableInfo]:
    """Describe the tables and views of a MySQL or MariaDB database from its catalogs.

    Args:
        conn: an open connection of the MySQL adapter.
        schema: the database to read; None reads the connection's current database.
        tables: exact table or view names to describe, or None for all of them. Names
            that do not exist are left out of the result.

    Returns:
        One :class:`TableInfo` per table and view, sorted by name. ``referenced_by``
        lists foreign keys from any table of any database, also those outside ``tables``.

    Raises:
        SchemaError: ``DF-SCHEMA-MISSING`` when the database does not exist (or this user
            cannot see it), or when ``schema`` is None and the connection has no current
            database.
        ValidationError: ``tables`` is a single string instead of a sequence of names.
        DatabaseError: any failure of the connection or of a catalog query, as translated
            by the adapter; nothing partial is returned.

    Example::

        customers, orders = await discover(conn, "shop", ["customers", "orders"])
        orders.foreign_keys[0].ref_table  # 'customers'
    """
    if isinstance(tables, str):
        raise ValidationError(
            f"tables must be a sequence of names, not the string {tables!r}; pass [{tables!r}]",
            details={"dialect": "mysql", "tables": tables},
        )
    server = await _server(conn, schema)
    wanted = None if tables is None else list(dict.fromkeys(tables))
    if wanted is not None and not wanted:
        return []

    def query(sql: str, column: str, leading: int = 1) -> tuple[str, list[Any]]:
        names = "" if wanted is None else f" AND {column} IN ({', '.join(['%s'] * len(wanted))})"
        return sql.replace("{names}", names), [server.schema] * leading + (wanted or [])

    expression = "EXPRESSION" if server.index_expressions else "NULL"
    table_rows = await conn.fetch(*query(_TABLES_SQL, "TABLE_NAME"))
    column_rows = await conn.fetch(*query(_COLUMNS_SQL, "TABLE_NAME"))
    index_sql = _INDEXES_SQL.replace("{expression}", expression)
    index_rows = await conn.fetch(*query(index_sql, "TABLE_NAME"))
    key_rows = await conn.fetch(*query(_KEYS_SQL, "c.TABLE_NAME", leading=2))
    referencing_rows = await conn.fetch(*query(_REFERENCING_SQL, "k.REFERENCED_TABLE_NAME"))
    check_rows: list[Row] = []
    if server.checks:
        if server.checks_name_table:
            check_rows = await conn.fetch(*query(_MARIADB_CHECKS_SQL, "TABLE_NAME"))
        else:
            check_rows = await conn.fetch(*query(_MYSQL_CHECKS_SQL, "c.TABLE_NAME"))
    return _assemble(
        server,
        wanted,
        tables=table_rows,
        columns=column_rows,
        indexes=index_rows,
        keys=key_rows,
        referencing=referencing_rows,
        checks=check_rows,
    )


async def _server(conn: Connection, schema: str | None) -> _Server:
    rows = await conn.fetch(_SERVER_SQL, (schema, schema))
    version, current, exists, expressions, checks, checks_name_table = rows[0]
    if current is None:
        raise SchemaError(
            "the connection has no current database: name one in the URL "
            "(mysql://host/database) or pass the schema to read",
            code="DF-SCHEMA-MISSING",
            details={"dialect": "mysql"},
        )
    name = _text(current)
    if not exists:
        raise SchemaError(
            f"the database {name!r} does not exist, or this user has no privilege on it",
            code="DF-SCHEMA-MISSING",
            details={"dialect": "mysql", "schema": name},
        )
    return _Server(
        schema=name,
        mariadb="mariadb" in _text(version).lower(),
        index_expressions=bool(expressions),
        checks=bool(checks),
        checks_name_table=bool(checks_name_table),
    )


def _assemble(
    server: _Server,
    wanted: Sequence[str] | None,
    *,
    tables: Iterable[Row],
    columns: Iterable[Row],
    indexes: Iterable[Row],
    keys: Iterable[Row],
    referencing: Iterable[Row],
    checks: Iterable[Row],
) -> list[TableInfo]:
    """Build the :class:`TableInfo` list from the rows of the catalog queries."""
    # The catalogs may compare names case-insensitively; the filter is exact.
    keep = None if wanted is None else set(wanted)
    check_map = _checks(checks)
    json_columns = {
        (table, column) for table, found in check_map.items() for _, _, column in found if column
    }
    column_map = _columns(columns, json_columns, quoted_defaults=server.mariadb)
    index_map = _indexes(indexes)
    own: dict[str, list[_Key]] = {}
    for key in _keys(keys).values():
        own.setdefault(key.table, []).append(key)
    incoming: dict[str, list[ForeignKeyInfo]] = {}
    for key in _keys(referencing).values():
        if key.ref_table is not None:
            incoming.setdefault(key.ref_table, []).append(key.foreign_key())

    result = []
    for name, table_type, row_count, comment in tables:
        name = _text(name)
        if keep is not None and name not in keep:
            continue
        view = _text(table_type) == "VIEW"
        table_keys = own.get(name, [])
        cols = tuple(column_map.get(name, ()))
        json_checked = {c.name for c in cols if c.kind == "json"}
        result.append(
            TableInfo(
                name=name,
                schema=server.schema,
                kind="view" if view else "table",
                columns=cols,
                primary_key=next((k.columns() for k in table_keys if k.primary), ()),
                foreign_keys=tuple(k.foreign_key() for k in table_keys if k.kind == "FOREIGN KEY"),
                referenced_by=tuple(
                    sorted(
                        incoming.get(name, ()),
                        key=lambda f: (f.schema or "", f.table, f.name or ""),
                    )
                ),
                unique=tuple(
                    UniqueInfo(k.name, k.columns()) for k in table_keys if k.kind == "UNIQUE"
                ),
                indexes=tuple(index_map.get(name, ())),
                checks=tuple(
                    CheckInfo(check, clause)
                    for check, clause, column in check_map.get(name, ())
                    if column is None or column not in json_checked
                ),
                row_estimate=None if view or row_count is None else int(row_count),
                # A view's TABLE_COMMENT is the word "VIEW", never a user comment.
                comment=None if view else _text(comment) or None,
            )
        )
    return sorted(result, key=lambda t: t.name)


def _checks(rows: Iterable[Row]) -> dict[str, list[tuple[str, str, str | None]]]:
    """Checks by table: (name, clause, the column a ``json_valid(col)`` check marks)."""
    found: dict[str, list[tuple[str, str, str | None]]] = {}
    for table, name, clause in rows:
        text = _text(clause)
        match = _JSON_VALID.fullmatch(text.strip())
        column = match.group(1).replace("``", "`") if match else None
        found.setdefault(_text(table), []).append((_text(name), text, column))
    return found


def _columns(
    rows: Iterable[Row], json_columns: set[tuple[str, str]], *, quoted_defaults: bool
) -> dict[str, list[ColumnInfo]]:
    found: dict[str, list[ColumnInfo]] = {}
    for (
        table,
        name,
        position,
        default,
        nullable,
        data_type,
        column_type,
        max_length,
        precision,
        scale,
        extra,
        expression,
        comment,
    ) in rows:
        table, name = _text(table), _text(name)
        data_type, column_type = _text(data_type).lower(), _text(column_type)
        extra = _text(extra or "")
        generated = _text(expression) if expression else None
        kind = _kind(data_type, column_type, is_json=(table, name) in json_columns)
        found.setdefault(table, []).append(
            ColumnInfo(
                name=name,
                type=column_type,
                kind=kind,
                nullable=_text(nullable).upper() == "YES",
                default=None
                if generated is not None
                else _default(default, data_type, extra, quoted=quoted_defaults),
                generated=generated,
                auto_increment="auto_increment" in extra.lower(),
                comment=_text(comment or "") or None,
                enum_values=_enum_values(column_type) if kind == "enum" else None,
                precision=int(precision) if kind == "decimal" and precision is not None else None,
                scale=int(scale) if kind == "decimal" and scale is not None else None,
                max_length=int(max_length)
                if kind in ("str", "bytes") and max_length is not None
                else None,
                position=int(position),
            )
        )
    return found


def _kind(data_type: str, column_type: str, *, is_json: bool = False) -> str | None:
    """The portable kind of a column from ``DATA_TYPE`` and ``COLUMN_TYPE``.

    ``is_json``: a ``json_valid`` check guards the column (MariaDB's JSON).
    """
    if column_type.lower() == "tinyint(1)":
        return "bool"
    # bigint unsigned may exceed int64; it is still "int" (its type says "unsigned").
    kind = _KIND_OF_TYPE.get(data_type.lower())
    if is_json and kind == "str":
        return "json"
    return kind


def _default(raw: Any, data_type: str, extra: str, *, quoted: bool) -> str | None:
    """``COLUMN_DEFAULT`` as an SQL expression, None when the column has no default.

    ``quoted``: the server gives expressions (MariaDB); otherwise raw values (MySQL).
    """
    if raw is None:
        return None
    text = _text(raw)
    if quoted:
        return None if text == "NULL" else text
    if (
        "DEFAULT_GENERATED" in extra.upper()
        or data_type in _UNQUOTED_DEFAULTS
        or (data_type in ("datetime", "timestamp") and _CURRENT_TIMESTAMP.fullmatch(text))
        # MySQL shows the defaults of binary columns as hexadecimal literals.
        or (data_type in _BINARIES and _HEX_LITERAL.fullmatch(text))
    ):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _enum_values(column_type: str) -> tuple[str, ...]:
    """The values of ``enum('a','b''c')``, quotes doubled or backslash-escaped."""
    body = column_type[column_type.index("(") + 1 : column_type.rindex(")")]
    return tuple(
        _ENUM_ESCAPE.sub(_unescape, match.group(1)) for match in _ENUM_VALUE.finditer(body)
    )


def _unescape(match: re.Match[str]) -> str:
    escaped = match.group(1)
    if escaped is None:
        return "'"
    return _BACKSLASH_ESCAPES.get(escaped, escaped)


def _indexes(rows: Iterable[Row]) -> dict[str, list[IndexInfo]]:
    parts: dict[tuple[str, str], list[tuple[int, str]]] = {}
    unique: dict[tuple[str, str], bool] = {}
    for table, name, non_unique, seq, column, expression in rows:
        key = (_text(table), _text(name))
        # An expression part (MySQL 8 functional index) has no column name.
        part = _text(column) if column is not None else _text(expression)
        parts.setdefault(key, []).append((int(seq), part))
        unique[key] = not int(non_unique)
    found: dict[str, list[IndexInfo]] = {}
    for (table, name), columns in parts.items():
        found.setdefault(table, []).append(
            IndexInfo(
                name=name,
                columns=tuple(part for _, part in sorted(columns)),
                unique=unique[table, name],
                primary=name == "PRIMARY",  # the only name a primary key index has
            )
        )
    for indexes in found.values():
        indexes.sort(key=lambda index: (not index.primary, index.name))
    return found


@dataclass
class _Key:
    """One PRIMARY KEY, UNIQUE or FOREIGN KEY constraint, gathered row by row."""

    schema: str
    table: str
    name: str
    kind: str
    parts: list[tuple[int, str, str | None]] = field(default_factory=list)
    ref_schema: str | None = None
    ref_table: str | None = None
    on_update: str = "NO ACTION"
    on_delete: str = "NO ACTION"

    @property
    def primary(self) -> bool:
        return self.kind == "PRIMARY KEY"

    def columns(self) -> tuple[str, ...]:
        return tuple(column for _, column, _ in sorted(self.parts))

    def foreign_key(self) -> ForeignKeyInfo:
        return ForeignKeyInfo(
            name=self.name,
            table=self.table,
            columns=self.columns(),
            ref_table=self.ref_table or "",
            ref_columns=tuple(ref or "" for _, _, ref in sorted(self.parts)),
            on_update=self.on_update,
            on_delete=self.on_delete,
            schema=self.schema,
            ref_schema=self.ref_schema,
        )


def _keys(rows: Iterable[Row]) -> dict[tuple[str, str, str], _Key]:
    """Key constraints by (schema, table, name), from rows of ``_KEYS_SQL``'s shape."""
    found: dict[tuple[str, str, str], _Key] = {}
    for (
        schema,
        table,
        name,
        kind,
        column,
        position,
        ref_schema,
        ref_table,
        ref_column,
        on_update,
        on_delete,
    ) in rows:
        ident = (_text(schema), _text(table), _text(name))
        key = found.get(ident)
        if key is None:
            key = found[ident] = _Key(*ident, kind=_text(kind))
            if ref_table is not None:
                key.ref_schema, key.ref_table = _text(ref_schema), _text(ref_table)
            if on_update is not None:
                key.on_update, key.on_delete = _text(on_update), _text(on_delete)
        key.parts.append(
            (int(position), _text(column), _text(ref_column) if ref_column is not None else None)
        )
    return found


def _text(value: Any) -> str:
    # Some catalog columns are binary strings on some server versions.
    if isinstance(value, bytes | bytearray):
        return value.decode()
    return str(value)
