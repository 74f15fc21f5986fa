"""Discovery of a SQLite database from its own catalog.

Everything comes from ``sqlite_schema`` and the table-valued pragma functions
(``pragma_table_xinfo``, ``pragma_foreign_key_list``, ``pragma_index_list``,
``pragma_index_xinfo``), in a fixed number of set-based queries whatever the number of
tables: one for the objects and their SQL, one for the columns, one for the foreign keys,
one for the indexes, one for ``sqlite_stat1`` when it exists, and one to check the name
of an attached database when one is asked for.

What the pragmas leave out is read from the ``CREATE`` text SQLite keeps: CHECK
constraints, generation expressions, constraint names, the expressions and WHERE clause
of indexes, ``WITHOUT ROWID``/``STRICT``/``AUTOINCREMENT``, and the ``-- comment`` that
ends a column definition's line (SQLite has no other place for comments; a table's
comment is always None). Expressions are reported as written, without the enclosing
parentheses.

SQLite columns have an affinity, not a type, so the kind follows the declared type as the
user wrote it (case-insensitive, arguments in parentheses parsed):

=============================================================  ===========
declared type                                                  kind
=============================================================  ===========
INT, INTEGER, TINYINT, SMALLINT, MEDIUMINT, BIGINT, INT2,      ``int``
INT4, INT8, UNSIGNED BIG INT
BOOLEAN, BOOL                                                  ``bool``
REAL, DOUBLE, DOUBLE PRECISION, FLOAT, FLOAT4, FLOAT8          ``float``
NUMERIC(p,s), DECIMAL(p,s) (``precision``/``scale``)           ``decimal``
TEXT, CLOB, CHAR(n), VARCHAR(n), CHARACTER(n), NCHAR(n),       ``str``
NVARCHAR(n), CHARACTER VARYING(n), VARYING CHARACTER(n),
NATIVE CHARACTER(n), NATIONAL CHARACTER(n), NATIONAL VARYING
CHARACTER(n) (``max_length`` from n)
DATE                                                           ``date``
DATETIME, TIMESTAMP                                            ``datetime``
TIME                                                           ``time``
UUID                                                           ``uuid``
BLOB                                                           ``bytes``
JSON                                                           ``json``
no declared type, or anything else (``STRING`` has numeric     None
affinity and is not text)
=============================================================  ===========

A TEXT column limited by ``CHECK (c IN (...))`` stays ``str``. DataFlow's own tables
declare decimals, dates, times, UUIDs and JSON as TEXT and booleans as INTEGER, so they
are discovered as ``str`` and ``int``.

Other choices: the rowid alias (a single-column INTEGER primary key of a rowid table,
found from the absence of a primary-key index) is ``auto_increment`` and not nullable,
since it never holds NULL; every other column is nullable unless declared NOT NULL, as
the catalog says. ``indexes`` lists every index, explicit ones and those SQLite creates
for PRIMARY KEY (``primary``) and UNIQUE constraints. Hidden columns of virtual tables
are left out. A table's ``extra`` holds ``without_rowid``, ``strict`` and
``autoincrement`` (the AUTOINCREMENT keyword: rowids are never reused), and ``virtual``
(the module) for a virtual table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..adapters import Connection
from ..errors import SchemaError, ValidationError
from ._info import CheckInfo, ColumnInfo, ForeignKeyInfo, IndexInfo, TableInfo, UniqueInfo

__all__ = ["discover"]

_MAIN = "main"

# SQLite reserves names starting with "sqlite_" in any case (sqlite_sequence, sqlite_stat1
# and the autoindexes); LIKE cannot be used since the adapter makes it case-sensitive.
_USER_OBJECT = "substr(m.name, 1, 7) COLLATE NOCASE <> 'sqlite_'"
# ?2 is the JSON array of the requested names, or NULL for every table.
_REQUESTED = "(?2 IS NULL OR m.tbl_name COLLATE NOCASE IN (SELECT value FROM json_each(?2)))"

_OBJECTS_SQL = f"""
SELECT m.type, m.name, m.tbl_name, m.sql
FROM {{db}}.sqlite_schema AS m
WHERE m.type IN ('table', 'view', 'index') AND (m.name = 'sqlite_stat1' OR {_REQUESTED})
ORDER BY m.name
"""

_COLUMNS_SQL = f"""
SELECT m.name, p.cid, p.name, p.type, p."notnull", p.dflt_value, p.pk, p.hidden
FROM {{db}}.sqlite_schema AS m
JOIN pragma_table_xinfo(m.name, ?1) AS p
WHERE m.type IN ('table', 'view') AND {_USER_OBJECT} AND {_REQUESTED}
ORDER BY m.name, p.cid
"""

# Every table's foreign keys are read, so that referenced_by names tables outside the
# request (with their SQL, for the constraint names). REFERENCES may name the table in any
# case and leave out the columns (meaning the primary key): both are resolved here.
_FOREIGN_KEYS_SQL = f"""
SELECT
    m.name, f.id, f.seq,
    coalesce(
        (SELECT s.name FROM {{db}}.sqlite_schema AS s
         WHERE s.type = 'table' AND s.name = f."table" COLLATE NOCASE),
        f."table"),
    f."from",
    coalesce(
        (SELECT r.name FROM pragma_table_xinfo(f."table", ?1) AS r
         WHERE CASE WHEN f."to" IS NULL THEN r.pk = f.seq + 1
                    ELSE r.name = f."to" COLLATE NOCASE END),
        f."to"),
    f.on_update, f.on_delete, m.sql
FROM {{db}}.sqlite_schema AS m
JOIN pragma_foreign_key_list(m.name, ?1) AS f
WHERE m.type = 'table' AND {_USER_OBJECT}
  AND (?2 IS NULL
       OR m.name COLLATE NOCASE IN (SELECT value FROM json_each(?2))
       OR f."table" COLLATE NOCASE IN (SELECT value FROM json_each(?2)))
ORDER BY m.name, f.id, f.seq
"""

_INDEXES_SQL = f"""
SELECT m.name, il.name, il."unique", il.origin, il.partial, x.seqno, x.cid, x.name
FROM {{db}}.sqlite_schema AS m
JOIN pragma_index_list(m.name, ?1) AS il
JOIN pragma_index_xinfo(il.name, ?1) AS x
WHERE m.type = 'table' AND {_USER_OBJECT} AND {_REQUESTED} AND x.key = 1
ORDER BY m.name, il.name, x.seqno
"""

_STATS_SQL = """
SELECT m.tbl, m.stat
FROM {db}.sqlite_stat1 AS m
WHERE ?2 IS NULL OR m.tbl COLLATE NOCASE IN (SELECT value FROM json_each(?2))
"""

_DATABASE_SQL = "SELECT name FROM pragma_database_list WHERE name = ? COLLATE NOCASE"


async def discover(
    conn: Connection, schema: str | None, tables: Sequence[str] | None
) -> list[TableInfo]:
    """Describe the tables and views of a SQLite database, read from its catalog.

    Args:
        conn: a connection to the database.
        schema: None or ``"main"`` for the main database, or the name of an attached
            database (``"temp"`` included).
        tables: the names of the tables and views to describe, matched as SQLite matches
            names (ASCII letters in any case) and reported with their stored spelling;
            names that do not exist are left out. None means every table and view except
            SQLite's internal ones.

    Returns:
        One :class:`TableInfo` per table or view, sorted by name. ``schema`` is None for
        the main database.

    Raises:
        ValidationError: ``tables`` is a single string rather than a sequence of names.
        SchemaError: ``schema`` names no attached database (``DF-SCHEMA-MISSING``).
        DataFlowError: the connection failed or the database refused a query (a file
            that is not a database, a view over a dropped table); never swallowed.

    Example::

        async with db._adapter.acquire() as conn:
            tables = await discover(conn, None, ["OrderItems"])
    """
    if isinstance(tables, str):
        raise ValidationError(
            f"tables must be a sequence of table names, not the string {tables!r}; "
            f"pass [{tables!r}] to describe one table",
            details={"tables": tables},
        )
    reported: str | None = None
    database = _MAIN
    if schema is not None and _fold(schema) != _MAIN:
        reported = database = await _attached(conn, schema)
    db = _quote(database)
    params = (database, None if tables is None else json.dumps(list(tables)))

    objects = await conn.fetch(_OBJECTS_SQL.format(db=db), params)
    kinds: dict[str, str] = {}
    table_sql: dict[str, str | None] = {}
    index_sql: dict[str, str | None] = {}
    has_stats = False
    for obj_type, name, _tbl_name, sql in objects:
        if obj_type == "index":
            index_sql[name] = sql
        elif name == "sqlite_stat1" and obj_type == "table":
            has_stats = True
        elif not _fold(name).startswith("sqlite_"):
            kinds[name] = obj_type
            table_sql[name] = sql
    if not kinds:
        return []

    column_rows = await conn.fetch(_COLUMNS_SQL.format(db=db), params)
    fk_rows = await conn.fetch(_FOREIGN_KEYS_SQL.format(db=db), params)
    index_rows = await conn.fetch(_INDEXES_SQL.format(db=db), params)
    stat_rows = await conn.fetch(_STATS_SQL.format(db=db), params) if has_stats else []

    columns: dict[str, list[Sequence[Any]]] = {}
    for row in column_rows:
        columns.setdefault(row[0], []).append(row)
    indexes: dict[str, dict[str, list[Sequence[Any]]]] = {}
    for row in index_rows:
        indexes.setdefault(row[0], {}).setdefault(row[1], []).append(row)
    estimates = _row_estimates(stat_rows)
    parsed = {name: _parse_table(sql) for name, sql in table_sql.items()}
    foreign_keys = _foreign_keys(fk_rows, reported)

    result = []
    for name in sorted(kinds):
        if kinds[name] == "view":
            info = TableInfo(
                name=name,
                schema=reported,
                kind="view",
                columns=tuple(_column(row, _TableSql(), False) for row in columns.get(name, [])),
            )
        else:
            info = _table(
                name,
                reported,
                columns.get(name, []),
                indexes.get(name, {}),
                index_sql,
                parsed[name],
                foreign_keys,
                estimates.get(_fold(name)),
            )
        result.append(info)
    return result


async def _attached(conn: Connection, schema: str) -> str:
    """The stored name of an attached database; SchemaError when there is none."""
    if _fold(schema) == "temp":
        return "temp"
    rows = await conn.fetch(_DATABASE_SQL, (schema,))
    if not rows:
        raise SchemaError(
            f"no database named {schema!r} is attached to this SQLite connection; use "
            "'main' (or None) for the main database, or ATTACH the other one first",
            code="DF-SCHEMA-MISSING",
            details={"dialect": "sqlite", "schema": schema},
        )
    return str(rows[0][0])


def _table(
    name: str,
    schema: str | None,
    column_rows: list[Sequence[Any]],
    index_rows: dict[str, list[Sequence[Any]]],
    index_sql: dict[str, str | None],
    parsed: _TableSql,
    foreign_keys: list[ForeignKeyInfo],
    row_estimate: int | None,
) -> TableInfo:
    primary_key = tuple(
        row[2] for row in sorted((r for r in column_rows if r[6]), key=lambda r: int(r[6]))
    )
    # A single-column INTEGER primary key of a rowid table is the rowid itself, and has no
    # index of its own; any other primary key (INTEGER PRIMARY KEY DESC included) has one.
    rowid_alias = (
        len(primary_key) == 1
        and not parsed.without_rowid
        and not parsed.virtual
        and not any(rows[0][3] == "pk" for rows in index_rows.values())
    )
    alias = primary_key[0] if rowid_alias else None

    unique_names = list(parsed.unique)
    unique: list[UniqueInfo] = []
    index_infos: list[IndexInfo] = []
    for index_name, rows in index_rows.items():
        origin, partial = rows[0][3], bool(rows[0][4])
        key_columns = tuple(r[7] for r in rows)
        if origin == "u":
            unique.append(UniqueInfo(_take_name(unique_names, key_columns), key_columns))
        index = _parse_index(index_sql.get(index_name))
        index_infos.append(
            IndexInfo(
                name=index_name,
                columns=tuple(_index_part(r, index) for r in rows),
                unique=bool(rows[0][2]),
                primary=origin == "pk",
                partial=(index.where or "<expression>") if partial else None,
            )
        )

    extra: dict[str, Any] = {
        "without_rowid": parsed.without_rowid,
        "strict": parsed.strict,
        "autoincrement": parsed.autoincrement,
    }
    if parsed.virtual:
        extra["virtual"] = parsed.virtual
    folded = _fold(name)
    return TableInfo(
        name=name,
        schema=schema,
        kind="table",
        columns=tuple(_column(row, parsed, row[2] == alias) for row in column_rows if row[7] != 1),
        primary_key=primary_key,
        foreign_keys=tuple(fk for fk in foreign_keys if fk.table == name),
        referenced_by=tuple(
            sorted(
                (fk for fk in foreign_keys if _fold(fk.ref_table) == folded),
                key=lambda fk: (fk.table, fk.columns),
            )
        ),
        unique=tuple(unique),
        indexes=tuple(index_infos),
        checks=tuple(parsed.checks),
        row_estimate=row_estimate,
        extra=extra,
    )


def _index_part(row: Sequence[Any], index: _IndexSql) -> str:
    """A column name, or the text of an expression (cid -2), or the rowid (cid -1)."""
    _table_name, _name, _unique, _origin, _partial, seqno, cid, name = row
    if name is not None:
        return str(name)
    if cid == -1:
        return "rowid"
    return index.parts[seqno] if seqno < len(index.parts) else "<expression>"


def _column(row: Sequence[Any], parsed: _TableSql, rowid_alias: bool) -> ColumnInfo:
    _table_name, cid, name, declared, notnull, default, _pk, hidden = row
    kind, precision, scale, max_length = _kind(declared or "")
    generated = None
    if hidden in (2, 3):
        generated = parsed.generated.get(_fold(name), "<expression>")
    return ColumnInfo(
        name=name,
        type=declared or "",
        kind=kind,
        nullable=not notnull and not rowid_alias,
        default=default,
        generated=generated,
        auto_increment=rowid_alias,
        comment=parsed.comments.get(_fold(name)),
        precision=precision,
        scale=scale,
        max_length=max_length,
        position=int(cid) + 1,
    )


def _foreign_keys(rows: list[Sequence[Any]], schema: str | None) -> list[ForeignKeyInfo]:
    groups: dict[tuple[str, int], list[Sequence[Any]]] = {}
    names: dict[str, list[tuple[tuple[str, ...], str, str | None]]] = {}
    for row in rows:
        groups.setdefault((row[0], int(row[1])), []).append(row)
        if row[0] not in names:
            names[row[0]] = _parse_table(row[8]).foreign_keys
    result = []
    # SQLite numbers a table's foreign keys from the last declared: reversed, they come
    # out in declaration order.
    for (table, _id), group in sorted(groups.items(), key=lambda g: (g[0][0], -g[0][1])):
        first = group[0]
        columns = tuple(r[4] for r in group)
        ref_columns = tuple(r[5] for r in group if r[5] is not None)
        name = None
        declared = names.get(table, [])
        for i, (cols, ref_table, fk_name) in enumerate(declared):
            if _folds(cols) == _folds(columns) and _fold(ref_table) == _fold(first[3]):
                name = fk_name
                del declared[i]
                break
        result.append(
            ForeignKeyInfo(
                name=name,
                table=table,
                columns=columns,
                ref_table=first[3],
                ref_columns=ref_columns,
                on_update=str(first[6]).upper(),
                on_delete=str(first[7]).upper(),
                schema=schema,
                ref_schema=schema,
            )
        )
    return result


def _row_estimates(rows: list[Sequence[Any]]) -> dict[str, int]:
    """Rows per table from sqlite_stat1: the first number of ``stat`` counts the rows of
    the table (idx NULL) or of one index, fewer for a partial index, so take the largest."""
    estimates: dict[str, int] = {}
    for table, stat in rows:
        words = str(stat or "").split()
        if table is None or not words or not words[0].isdigit():
            continue
        key = _fold(str(table))
        estimates[key] = max(estimates.get(key, 0), int(words[0]))
    return estimates


def _take_name(
    declared: list[tuple[tuple[str, ...], str | None]], columns: tuple[str, ...]
) -> str | None:
    for i, (cols, name) in enumerate(declared):
        if _folds(cols) == _folds(columns):
            del declared[i]
            return name
    return None


# -- types ------------------------------------------------------------------------------

_KINDS: dict[str, str] = {
    **dict.fromkeys(
        (
            "INT",
            "INTEGER",
            "TINYINT",
            "SMALLINT",
            "MEDIUMINT",
            "BIGINT",
            "INT2",
            "INT4",
            "INT8",
            "UNSIGNED BIG INT",
        ),
        "int",
    ),
    **dict.fromkeys(("BOOLEAN", "BOOL"), "bool"),
    **dict.fromkeys(("REAL", "DOUBLE", "DOUBLE PRECISION", "FLOAT", "FLOAT4", "FLOAT8"), "float"),
    **dict.fromkeys(("NUMERIC", "DECIMAL"), "decimal"),
    **dict.fromkeys(
        (
            "TEXT",
            "CLOB",
            "CHAR",
            "VARCHAR",
            "CHARACTER",
            "NCHAR",
            "NVARCHAR",
            "CHARACTER VARYING",
            "VARYING CHARACTER",
            "NATIVE CHARACTER",
            "NATIONAL CHARACTER",
            "NATIONAL VARYING CHARACTER",
        ),
        "str",
    ),
    "DATE": "date",
    "DATETIME": "datetime",
    "TIMESTAMP": "datetime",
    "TIME": "time",
    "UUID": "uuid",
    "BLOB": "bytes",
    "JSON": "json",
}

# A declared type is a few words with at most two signed numbers in parentheses; a type
# that is not of this shape has no kind.
_TYPE = re.compile(
    r"\s*([A-Za-z_][A-Za-z0-9_]*(?:\s+[A-Za-z_][A-Za-z0-9_]*)*)"
    r"\s*(?:\(\s*([+-]?\d+)\s*(?:,\s*([+-]?\d+)\s*)?\))?\s*"
)


def _kind(declared: str) -> tuple[str | None, int | None, int | None, int | None]:
    """(kind, precision, scale, max_length) of a declared type."""
    match = _TYPE.fullmatch(declared)
    if match is None:
        return None, None, None, None
    base = " ".join(match[1].upper().split())
    kind = _KINDS.get(base)
    first = int(match[2]) if match[2] is not None else None
    if kind == "decimal":
        scale = int(match[3]) if match[3] is not None else (0 if first is not None else None)
        return kind, first, scale, None
    if kind == "str" and match[3] is None:
        return kind, None, None, first
    return kind, None, None, None


# -- CREATE statements ------------------------------------------------------------------


class _Token(NamedTuple):
    kind: str  # "word", "quoted" (an identifier), "string", "punct" or "comment"
    start: int
    end: int
    text: str


def _tokenize(sql: str) -> tuple[list[_Token], list[_Token]]:
    """The tokens of a statement and, apart, its ``--`` comments."""
    tokens: list[_Token] = []
    comments: list[_Token] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch.isspace():
            i += 1
            continue
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            comments.append(_Token("comment", i, end, sql[i + 2 : end]))
            i = end
            continue
        if sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        if ch in "'\"`":
            end = i + 1
            while True:
                end = sql.find(ch, end)
                if end < 0:
                    end = n
                    break
                if sql.startswith(ch, end + 1):  # a doubled quote stands for itself
                    end += 2
                    continue
                end += 1
                break
            kind = "string" if ch == "'" else "quoted"
        elif ch == "[":
            end = sql.find("]", i + 1)
            end = n if end < 0 else end + 1
            kind = "quoted"
        elif ch.isalnum() or ch in "_$" or ord(ch) > 127:
            end = i + 1
            while end < n and (sql[end].isalnum() or sql[end] in "_$." or ord(sql[end]) > 127):
                # a dot belongs to a number (1.5), not to a qualified name (s.t)
                if sql[end] == "." and not ch.isdigit():
                    break
                end += 1
            kind = "word"
        else:
            end = i + 1
            kind = "punct"
        tokens.append(_Token(kind, i, end, sql[i:end]))
        i = end
    return tokens, comments


def _dequote(token: _Token) -> str:
    text = token.text
    if token.kind in ("quoted", "string") and len(text) >= 2:
        if text[0] == "[":
            return text[1:-1]
        return text[1:-1].replace(text[0] * 2, text[0])
    return text


def _word(tokens: list[_Token], i: int) -> str | None:
    """The keyword at ``i`` (upper case), or None for anything else."""
    if i < len(tokens) and tokens[i].kind == "word":
        return tokens[i].text.upper()
    return None


def _is(tokens: list[_Token], i: int, punct: str) -> bool:
    return i < len(tokens) and tokens[i].kind == "punct" and tokens[i].text == punct


def _closing(tokens: list[_Token]) -> dict[int, int]:
    """Index of the matching ``)`` for every ``(`` (the end, when unbalanced)."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    for i, token in enumerate(tokens):
        if token.kind == "punct" and token.text == "(":
            stack.append(i)
        elif token.kind == "punct" and token.text == ")" and stack:
            pairs[stack.pop()] = i
    for i in stack:
        pairs[i] = len(tokens)
    return pairs


def _items(tokens: list[_Token], pairs: dict[int, int], lo: int, hi: int) -> list[tuple[int, int]]:
    """The comma-separated token ranges between ``lo`` and ``hi`` (outside parentheses)."""
    items: list[tuple[int, int]] = []
    start = i = lo
    while i < hi:
        if _is(tokens, i, "("):
            i = pairs[i] + 1
            continue
        if _is(tokens, i, ","):
            items.append((start, i))
            start = i + 1
        i += 1
    if start < hi:
        items.append((start, hi))
    return items


def _inside(sql: str, tokens: list[_Token], pairs: dict[int, int], i: int) -> str:
    """The text between the parenthesis at ``i`` and its match."""
    close = pairs[i]
    end = tokens[close].start if close < len(tokens) else len(sql)
    return sql[tokens[i].end : end].strip()


def _names(tokens: list[_Token], pairs: dict[int, int], i: int) -> tuple[str, ...]:
    """The column names of a ``(a, b COLLATE x DESC)`` list starting at ``i``."""
    return tuple(_dequote(tokens[lo]) for lo, _ in _items(tokens, pairs, i + 1, pairs[i]))


@dataclass
class _TableSql:
    """What a CREATE TABLE statement says beyond the pragmas (names folded as keys)."""

    checks: list[CheckInfo] = field(default_factory=list)
    generated: dict[str, str] = field(default_factory=dict)
    comments: dict[str, str] = field(default_factory=dict)
    unique: list[tuple[tuple[str, ...], str | None]] = field(default_factory=list)
    foreign_keys: list[tuple[tuple[str, ...], str, str | None]] = field(default_factory=list)
    without_rowid: bool = False
    strict: bool = False
    autoincrement: bool = False
    virtual: str | None = None


_TABLE_CONSTRAINTS = {"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"}


def _parse_table(sql: str | None) -> _TableSql:
    parsed = _TableSql()
    if not sql:
        return parsed
    tokens, comments = _tokenize(sql)
    words = [t.text.upper() for t in tokens[:3] if t.kind == "word"]
    if "VIRTUAL" in words:
        using = next((i for i in range(len(tokens)) if _word(tokens, i) == "USING"), None)
        parsed.virtual = _dequote(tokens[using + 1]) if using is not None else "?"
        return parsed
    body = next((i for i, t in enumerate(tokens) if t.kind == "punct" and t.text == "("), None)
    if body is None:
        return parsed
    pairs = _closing(tokens)
    close = pairs[body]
    options = {_word(tokens, i) for i in range(close + 1, len(tokens))}
    parsed.without_rowid = "ROWID" in options
    parsed.strict = "STRICT" in options
    for lo, hi in _items(tokens, pairs, body + 1, close):
        first, second = _word(tokens, lo), _word(tokens, lo + 1)
        if first in _TABLE_CONSTRAINTS and (
            first == "CONSTRAINT"
            or (first in ("PRIMARY", "FOREIGN") and second == "KEY")
            or (first in ("UNIQUE", "CHECK") and _is(tokens, lo + 1, "("))
        ):
            _table_constraint(sql, tokens, pairs, lo, hi, parsed)
        else:
            _column_definition(sql, tokens, pairs, lo, hi, parsed)
            comment = _trailing_comment(sql, tokens[hi - 1].end, comments)
            if comment:
                parsed.comments[_fold(_dequote(tokens[lo]))] = comment
    return parsed


def _column_definition(
    sql: str, tokens: list[_Token], pairs: dict[int, int], lo: int, hi: int, parsed: _TableSql
) -> None:
    column = _dequote(tokens[lo])
    name: str | None = None  # of the constraint being read (CONSTRAINT name ...)
    previous: str | None = None
    i = lo + 1
    while i < hi:
        word = _word(tokens, i)
        if _is(tokens, i, "("):
            i = pairs[i] + 1
        elif word == "CONSTRAINT" and i + 1 < hi:
            name = _dequote(tokens[i + 1])
            i += 2
        elif word in ("CHECK", "AS") and _is(tokens, i + 1, "("):
            expression = _inside(sql, tokens, pairs, i + 1)
            if word == "CHECK":
                parsed.checks.append(CheckInfo(name, expression))
            else:
                parsed.generated[_fold(column)] = expression
            name = None
            i = pairs[i + 1] + 1
        elif word == "DEFAULT" and previous != "SET":  # not ON DELETE SET DEFAULT
            i += 1
            if i < hi and tokens[i].kind == "punct" and tokens[i].text in "+-":
                i += 1
            i = pairs[i] + 1 if _is(tokens, i, "(") else i + 1
            name = None
        elif word == "COLLATE":
            i += 2
        elif word == "REFERENCES" and i + 1 < hi:
            parsed.foreign_keys.append(((column,), _dequote(tokens[i + 1]), name))
            name = None
            i += 2
        else:
            if word == "UNIQUE":
                parsed.unique.append(((column,), name))
            elif word == "AUTOINCREMENT":
                parsed.autoincrement = True
            if word in ("PRIMARY", "NOT", "NULL", "UNIQUE", "GENERATED"):
                name = None
            i += 1
        previous = word


def _table_constraint(
    sql: str, tokens: list[_Token], pairs: dict[int, int], lo: int, hi: int, parsed: _TableSql
) -> None:
    name: str | None = None
    i = lo
    if _word(tokens, i) == "CONSTRAINT":
        name = _dequote(tokens[i + 1]) if i + 1 < hi else None
        i += 2
    word = _word(tokens, i)
    group = next((j for j in range(i, hi) if _is(tokens, j, "(")), None)
    if group is None:
        return
    if word == "CHECK":
        parsed.checks.append(CheckInfo(name, _inside(sql, tokens, pairs, group)))
    elif word == "UNIQUE":
        parsed.unique.append((_names(tokens, pairs, group), name))
    elif word == "PRIMARY":
        if any(_word(tokens, j) == "AUTOINCREMENT" for j in range(group, pairs[group])):
            parsed.autoincrement = True
    elif word == "FOREIGN":
        references = pairs[group] + 1
        if _word(tokens, references) == "REFERENCES" and references + 1 < hi:
            ref_table = _dequote(tokens[references + 1])
            parsed.foreign_keys.append((_names(tokens, pairs, group), ref_table, name))


def _trailing_comment(sql: str, end: int, comments: list[_Token]) -> str | None:
    """The ``-- text`` that follows a definition on its line, before or after its comma."""
    for comment in comments:
        if comment.start < end:
            continue
        gap = sql[end : comment.start]
        if "\n" not in gap and gap.strip() in ("", ","):
            return comment.text.strip() or None
        return None
    return None


@dataclass
class _IndexSql:
    parts: list[str] = field(default_factory=list)  # each indexed column or expression
    where: str | None = None


def _parse_index(sql: str | None) -> _IndexSql:
    parsed = _IndexSql()
    if not sql:
        return parsed
    tokens, _ = _tokenize(sql)
    on = next((i for i in range(len(tokens)) if _word(tokens, i) == "ON"), len(tokens))
    body = next((i for i in range(on, len(tokens)) if _is(tokens, i, "(")), None)
    if body is None:
        return parsed
    pairs = _closing(tokens)
    close = pairs[body]
    for lo, hi in _items(tokens, pairs, body + 1, close):
        if _word(tokens, hi - 1) in ("ASC", "DESC"):
            hi -= 1
        if hi - lo > 2 and _word(tokens, hi - 2) == "COLLATE":
            hi -= 2
        parsed.parts.append(sql[tokens[lo].start : tokens[hi - 1].end])
    if _word(tokens, close + 1) == "WHERE" and close + 2 < len(tokens):
        parsed.where = sql[tokens[close + 2].start : tokens[-1].end]
    return parsed


# -- names ------------------------------------------------------------------------------

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _fold(name: str) -> str:
    """A name as SQLite compares it: ASCII letters in any case, other characters exact."""
    return name.translate(_ASCII_LOWER)


def _folds(names: Sequence[str]) -> tuple[str, ...]:
    return tuple(_fold(n) for n in names)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
