"""SQLite facts, read from ``sqlite_schema`` and the ``dbstat`` virtual table.

Three statements besides discovery (and the optional count), per database file named
(``main`` unless tables of attached databases are asked for): the library's version and
whether it has ``dbstat``; the size of the b-trees of each table and its indexes
(``dbstat`` in aggregate mode; skipped, and sizes None, without it); the views and
triggers of the database with their SQL.

SQLite keeps no record of what a view reads: each view's ``CREATE VIEW`` text is parsed
with sqlglot and the tables of its FROM clauses (subqueries included, common table
expressions left out) are its dependencies, views over views followed. A view sqlglot
cannot parse falls back to a text search for the names. Row estimates come from
``sqlite_stat1`` (after ``ANALYZE``), through discovery; otherwise tables under the size
limit are counted, and an uncounted table without statistics has no estimate.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._facts import (
    FactsReader,
    Key,
    Objects,
    ServerFacts,
    Stats,
    as_int,
    dependents,
    mentions,
    tables_read_by,
    version_tuple,
    view_label,
)

if TYPE_CHECKING:
    from ..adapters import Connection
    from ..discovery import TableInfo

__all__ = ["Reader"]

_MAIN = "main"

_SERVER_SQL = (
    "SELECT sqlite_version(), EXISTS (SELECT 1 FROM pragma_compile_options"
    " WHERE compile_options = 'ENABLE_DBSTAT_VTAB')"
)

# ?1 the database, ?2 a JSON array of table names. An index row carries its table's name.
_SIZES_SQL = """
SELECT m.tbl_name, m.type, s.pgsize
FROM {db}.sqlite_schema AS m
JOIN dbstat(?1, 1) AS s ON s.name = m.name
WHERE m.type IN ('table', 'index')
  AND m.tbl_name COLLATE NOCASE IN (SELECT value FROM json_each(?2))
"""

_OBJECTS_SQL = """
SELECT m.type, m.name, m.tbl_name, m.sql
FROM {db}.sqlite_schema AS m
WHERE m.type IN ('view', 'trigger')
"""

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold(name: str) -> str:
    """A name as SQLite compares it: ASCII letters in any case."""
    return name.translate(_ASCII_LOWER)


def _database(schema: str | None) -> str:
    return _MAIN if schema is None else schema


def view_edges(
    rows: Sequence[Sequence[Any]], schema: str | None, relations: Sequence[Key]
) -> list[tuple[Key, Key]]:
    """(view, relation read) pairs, names folded, from the ``sqlite_schema`` rows (type,
    name, table, sql) of one database (whose views can read only its own tables).

    Args:
        rows: the views and triggers of the database.
        schema: the database, as reported (None for ``main``).
        relations: the tables asked about (folded); a view sqlglot cannot parse is
            searched for these names and the other views' names as text.
    """
    views = [(schema, fold(str(name))) for kind, name, _, _ in rows if kind == "view"]
    edges: list[tuple[Key, Key]] = []
    for kind, name, _, sql in rows:
        if kind != "view":
            continue
        view = (schema, fold(str(name)))
        text = str(sql or "")
        read = tables_read_by(text, "sqlite", create=True)
        if read is None:
            edges += [(view, rel) for rel in [*relations, *views] if mentions(text, rel[1])]
        else:
            edges += [(view, (schema, fold(table))) for _, table in read]
    return edges


class Reader(FactsReader):
    """SQLite."""

    flavor = "sqlite"
    dbstat = False

    def fold(self, name: str) -> str:
        return fold(name)

    def qualified(self, key: Key) -> str:
        schema, name = key
        return f"{self.dialect.quote(_database(schema))}.{self.dialect.quote(name)}"

    async def server(self, conn: Connection) -> ServerFacts:
        text, dbstat = (await conn.fetch(_SERVER_SQL))[0]
        version = version_tuple(str(text))
        self.dbstat = bool(dbstat) and version >= (3, 31)  # aggregate mode: 3.31.0
        return ServerFacts("sqlite", version, self.flavor)

    async def stats(self, conn: Connection, tables: Sequence[Key]) -> dict[Key, Stats]:
        result: dict[Key, Stats] = {}
        if not self.dbstat:
            return result
        by_database: dict[str | None, dict[str, Key]] = {}
        for key in tables:
            by_database.setdefault(key[0], {})[fold(key[1])] = key
        for schema, keys in by_database.items():
            database = _database(schema)
            sql = _SIZES_SQL.format(db=self.dialect.quote(database))
            names = json.dumps([name for _, name in keys.values()])
            for table, kind, size in await conn.fetch(sql, (database, names)):
                owner = keys.get(fold(str(table)))
                if owner is None:
                    continue
                own = result.setdefault(owner, Stats(data_bytes=0, total_bytes=0))
                pages = as_int(size) or 0
                own.total_bytes = (own.total_bytes or 0) + pages
                if kind == "table":
                    own.data_bytes = (own.data_bytes or 0) + pages
        return result

    async def objects(
        self, conn: Connection, tables: Sequence[TableInfo], stats: Mapping[Key, Stats]
    ) -> Objects:
        found = Objects()
        by_schema: dict[str | None, list[TableInfo]] = {}
        for info in tables:
            by_schema.setdefault(info.schema, []).append(info)
        for schema, infos in by_schema.items():
            sql = _OBJECTS_SQL.format(db=self.dialect.quote(_database(schema)))
            rows = await conn.fetch(sql)
            targets = {(schema, fold(info.name)): info for info in infos}
            names = {
                (schema, fold(str(name))): str(name) for kind, name, _, _ in rows if kind == "view"
            }
            edges = view_edges(rows, schema, list(targets))
            for target, views in dependents(edges, targets).items():
                info = targets[target]
                found.views[schema, info.name] = [
                    view_label((view[0], names.get(view, view[1])), schema) for view in views
                ]
            for kind, name, table, _ in rows:
                owner = targets.get((schema, fold(str(table))))
                if kind == "trigger" and owner is not None:
                    found.triggers.setdefault((schema, owner.name), []).append(str(name))
        return found
