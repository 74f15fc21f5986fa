"""MySQL 8 and MariaDB facts, read from ``information_schema``.

Four statements besides discovery (and the optional count): the server's version (and
whether ``VIEW_TABLE_USAGE`` exists); ``TABLES`` for the row estimates (``TABLE_ROWS``)
and sizes (``DATA_LENGTH + INDEX_LENGTH``); the views; ``TRIGGERS``.

Where the two servers differ, dependent views:

- MySQL 8.0.13+ lists what each view reads in ``VIEW_TABLE_USAGE``: those rows are the
  dependencies, as the server recorded them.
- MariaDB has no such view. ``VIEWS.VIEW_DEFINITION`` (which the server stores fully
  qualified: ``select `shop`.`t`.`id` AS `id` from `shop`.`t```) is parsed with sqlglot
  and the tables of its FROM clauses, subqueries included, are the dependencies; a
  definition sqlglot cannot parse falls back to a text search for the table's name, which
  may report a view that only mentions it.

Either way views over views are followed, and every database on the server is searched
(a view may read a table of another database); the system databases are left out.

The figures are InnoDB's statistics: ``TABLE_ROWS`` is an estimate (sampled pages; it
is commonly off by a few percent and refreshed by ``ANALYZE TABLE`` or after a tenth of
the table changed), and MySQL 8 caches ``information_schema.TABLES`` figures for
``information_schema_stats_expiry`` seconds (a day by default) unless ``ANALYZE TABLE``
ran. Small tables are counted, so their row figures are exact regardless.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._facts import (
    FactsReader,
    Key,
    Objects,
    ServerFacts,
    Stats,
    as_int,
    as_text,
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

_SYSTEM = "('information_schema', 'mysql', 'performance_schema', 'sys')"

_SERVER_SQL = (
    "SELECT VERSION(), EXISTS (SELECT 1 FROM information_schema.TABLES"
    " WHERE TABLE_SCHEMA = 'information_schema' AND UPPER(TABLE_NAME) = 'VIEW_TABLE_USAGE')"
)

_STATS_SQL = """
SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, TABLE_ROWS, DATA_LENGTH, INDEX_LENGTH
FROM information_schema.TABLES
WHERE TABLE_SCHEMA IN ({schemas}) AND TABLE_NAME IN ({names})
"""

_VIEW_USAGE_SQL = f"""
SELECT VIEW_SCHEMA, VIEW_NAME, TABLE_SCHEMA, TABLE_NAME
FROM information_schema.VIEW_TABLE_USAGE
WHERE VIEW_SCHEMA NOT IN {_SYSTEM}
"""

_VIEW_DEFINITIONS_SQL = f"""
SELECT TABLE_SCHEMA, TABLE_NAME, VIEW_DEFINITION
FROM information_schema.VIEWS
WHERE TABLE_SCHEMA NOT IN {_SYSTEM}
"""

_TRIGGERS_SQL = """
SELECT EVENT_OBJECT_SCHEMA, EVENT_OBJECT_TABLE, TRIGGER_NAME
FROM information_schema.TRIGGERS
WHERE EVENT_OBJECT_SCHEMA IN ({schemas}) AND EVENT_OBJECT_TABLE IN ({names})
"""


def _placeholders(values: Sequence[Any]) -> str:
    return ", ".join(["%s"] * len(values))


def _filtered(sql: str, tables: Sequence[Key]) -> tuple[str, list[Any]]:
    """``sql`` with its ``{schemas}`` and ``{names}`` lists bound (pairs matched later:
    the catalog finds tables fastest by plain lists)."""
    schemas = list(dict.fromkeys(schema or "" for schema, _ in tables))
    names = list(dict.fromkeys(name for _, name in tables))
    text = sql.replace("{schemas}", _placeholders(schemas))
    return text.replace("{names}", _placeholders(names)), [*schemas, *names]


def definition_edges(
    rows: Sequence[Sequence[Any]], relations: Sequence[Key]
) -> list[tuple[Key, Key]]:
    """(view, relation read) pairs from ``VIEWS`` rows (schema, name, definition).

    Args:
        rows: the views of the server with their definitions.
        relations: the tables asked about; a definition sqlglot cannot parse is searched
            for these names and for the other views' names as text.
    """
    views = [(as_text(s), as_text(n)) for s, n, _ in rows]
    edges: list[tuple[Key, Key]] = []
    for (schema, name), (_, _, definition) in zip(views, rows, strict=True):
        view = (schema, name)
        text = as_text(definition or "")
        read = tables_read_by(text, "mysql", create=False)
        if read is None:
            edges += [(view, rel) for rel in [*relations, *views] if mentions(text, rel[1])]
        else:
            edges += [(view, (db or schema, table)) for db, table in read]
    return edges


class Reader(FactsReader):
    """MySQL 8 and MariaDB."""

    flavor = "mysql"
    view_table_usage = False

    async def server(self, conn: Connection) -> ServerFacts:
        version, usage = (await conn.fetch(_SERVER_SQL))[0]
        text = as_text(version)
        self.flavor = "mariadb" if "mariadb" in text.lower() else "mysql"
        self.view_table_usage = bool(usage)
        return ServerFacts("mysql", version_tuple(text), self.flavor)

    async def stats(self, conn: Connection, tables: Sequence[Key]) -> dict[Key, Stats]:
        wanted = set(tables)
        result: dict[Key, Stats] = {}
        for schema, name, table_type, rows, data, index in await conn.fetch(
            *_filtered(_STATS_SQL, tables)
        ):
            key = (as_text(schema), as_text(name))
            if key not in wanted:
                continue
            if as_text(table_type) == "VIEW":
                result[key] = Stats()
                continue
            data_bytes = as_int(data)
            index_bytes = as_int(index)
            total = None if data_bytes is None else data_bytes + (index_bytes or 0)
            result[key] = Stats(estimate=as_int(rows), data_bytes=data_bytes, total_bytes=total)
        return result

    async def objects(
        self, conn: Connection, tables: Sequence[TableInfo], stats: Mapping[Key, Stats]
    ) -> Objects:
        keys = [(info.schema, info.name) for info in tables]
        edges: list[tuple[Key, Key]]
        if self.view_table_usage:
            edges = [
                ((as_text(vs), as_text(vn)), (as_text(ts), as_text(tn)))
                for vs, vn, ts, tn in await conn.fetch(_VIEW_USAGE_SQL)
            ]
        else:
            edges = definition_edges(await conn.fetch(_VIEW_DEFINITIONS_SQL), keys)
        found = Objects()
        for key, views in dependents(edges, keys).items():
            found.views[key] = [view_label(view, key[0]) for view in views]
        wanted = set(keys)
        for schema, table, trigger in await conn.fetch(*_filtered(_TRIGGERS_SQL, keys)):
            key = (as_text(schema), as_text(table))
            if key in wanted:
                found.triggers.setdefault(key, []).append(as_text(trigger))
        return found
