"""PostgreSQL facts, read from ``pg_catalog``.

Three statements besides discovery (and the optional count): the server's version and
block size; the sizes, statistics and storage files of the tables (a partitioned table
summed over its leaf partitions); and, in one ``UNION ALL``, the views and materialized
views that depend on the tables (``pg_depend`` through ``pg_rewrite``, followed
recursively through views over views), their triggers (``pg_trigger``, internal ones left
out) and their invalid indexes (``NOT indisvalid``).

The row estimate is the planner's own (``estimate_rel_size``): ``reltuples / relpages``
times the pages the table has now; for a table never analyzed or vacuumed
(``reltuples = -1``) the density comes from the width of its columns, as the planner
guesses it (fixed-size types at their size, others at 32 bytes). The planner's extra
"at least 10 pages" guess for such tables is left out: an empty table is estimated empty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ._facts import FactsReader, Key, Objects, ServerFacts, Stats, as_int

if TYPE_CHECKING:
    from ..adapters import Connection
    from ..discovery import TableInfo

__all__ = ["Reader"]

_SERVER_SQL = (
    "SELECT current_setting('server_version_num')::int, current_setting('block_size')::int"
)

# One row per leaf of each table (the table itself unless it is partitioned; none for a
# view); w.ord says which requested table it belongs to.
_STATS_SQL = """
WITH wanted AS (
  SELECT w.ord, c.oid, c.relkind::text AS relkind
  FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS w(nspname, relname, ord)
  JOIN pg_catalog.pg_namespace n ON n.nspname = w.nspname
  JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = w.relname
)
SELECT wanted.ord, wanted.oid, wanted.relkind, pg_catalog.pg_relation_filenode(wanted.oid),
       l.reltuples, l.relpages, pg_catalog.pg_relation_size(l.oid),
       pg_catalog.pg_total_relation_size(l.oid),
       (SELECT coalesce(sum(CASE WHEN t.typlen > 0 THEN t.typlen ELSE 32 END), 0)
        FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
        WHERE a.attrelid = l.oid AND a.attnum > 0 AND NOT a.attisdropped)
FROM wanted
LEFT JOIN LATERAL (
    SELECT wanted.oid AS relid WHERE wanted.relkind IN ('r', 'm')
  UNION ALL
    SELECT t.relid FROM pg_catalog.pg_partition_tree(wanted.oid) AS t
    WHERE wanted.relkind = 'p' AND t.isleaf
) AS part ON true
LEFT JOIN pg_catalog.pg_class l ON l.oid = part.relid
"""

_OBJECTS_SQL = """
WITH RECURSIVE readers(base, viewid) AS (
    SELECT d.refobjid, r.ev_class
    FROM pg_catalog.pg_depend d
    JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid
    WHERE d.classid = 'pg_catalog.pg_rewrite'::regclass
      AND d.refclassid = 'pg_catalog.pg_class'::regclass
      AND d.refobjid = ANY($1::oid[]) AND r.ev_class <> d.refobjid
  UNION
    SELECT readers.base, r.ev_class
    FROM readers
    JOIN pg_catalog.pg_depend d
      ON d.refobjid = readers.viewid
     AND d.classid = 'pg_catalog.pg_rewrite'::regclass
     AND d.refclassid = 'pg_catalog.pg_class'::regclass
    JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid
    WHERE r.ev_class <> readers.viewid
)
SELECT 'view', readers.base, n.nspname::text, c.relname::text
FROM readers
JOIN pg_catalog.pg_class c ON c.oid = readers.viewid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE readers.viewid <> readers.base
UNION ALL
SELECT 'trigger', t.tgrelid, NULL, t.tgname::text
FROM pg_catalog.pg_trigger t
WHERE t.tgrelid = ANY($1::oid[]) AND NOT t.tgisinternal
UNION ALL
SELECT 'invalid_index', i.indrelid, NULL, c.relname::text
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = ANY($1::oid[]) AND NOT i.indisvalid
"""

_PAGE_HEADER = 24  # SizeOfPageHeaderData
_TUPLE_OVERHEAD = 24 + 4  # MAXALIGN(SizeofHeapTupleHeader) + sizeof(ItemIdData)


def planner_estimate(
    reltuples: float, relpages: int, heap_bytes: int, width: int, block_size: int
) -> int:
    """The rows the planner expects in a heap of ``heap_bytes`` (``estimate_rel_size``).

    Args:
        reltuples, relpages: the statistics of the last VACUUM/ANALYZE (-1, 0 if none).
        heap_bytes: the size of the main fork now.
        width: the column widths the planner assumes when it has no statistics.
        block_size: the server's page size.
    """
    pages = heap_bytes // block_size
    if pages == 0:
        return 0
    if reltuples >= 0 and relpages > 0:
        density = reltuples / relpages
    else:
        density = (block_size - _PAGE_HEADER) / (width + _TUPLE_OVERHEAD)
    return round(density * pages)


class Reader(FactsReader):
    """PostgreSQL."""

    flavor = "postgresql"
    block_size = 8192  # the server's, once server() has run

    def kind(self, info: TableInfo) -> str:
        if info.extra.get("relkind") == "m":
            return "materialized_view"
        return info.kind

    async def server(self, conn: Connection) -> ServerFacts:
        number, self.block_size = (await conn.fetch(_SERVER_SQL))[0]
        if number >= 100000:  # 10 and later: major * 10000 + minor
            version: tuple[int, ...] = (number // 10000, number % 10000)
        else:  # 9.6.24 is 90624
            version = (number // 10000, number // 100 % 100, number % 100)
        return ServerFacts("postgresql", version, self.flavor)

    async def stats(self, conn: Connection, tables: Sequence[Key]) -> dict[Key, Stats]:
        schemas = [schema or "public" for schema, _ in tables]
        names = [name for _, name in tables]
        result: dict[Key, Stats] = {}
        rows = await conn.fetch(_STATS_SQL, (schemas, names))
        for ord_, oid, relkind, filenode, tuples, pages, heap, total, width in rows:
            key = tables[int(ord_) - 1]
            own = result.get(key)
            if own is None:
                own = result[key] = Stats(oid=int(oid))
                if relkind in ("r", "m", "p"):  # a view has no storage and no estimate
                    own.estimate = own.data_bytes = own.total_bytes = 0
                if relkind in ("r", "m"):
                    own.relfilenode = as_int(filenode)
            if tuples is None:
                continue  # a view, or a partitioned table without partitions
            estimate = planner_estimate(
                float(tuples), int(pages), int(heap), int(width), self.block_size
            )
            own.estimate = (own.estimate or 0) + estimate
            own.data_bytes = (own.data_bytes or 0) + int(heap)
            own.total_bytes = (own.total_bytes or 0) + int(total)
        return result

    async def objects(
        self, conn: Connection, tables: Sequence[TableInfo], stats: Mapping[Key, Stats]
    ) -> Objects:
        by_oid: dict[int, TableInfo] = {}
        for info in tables:
            own = stats.get((info.schema, info.name))
            if own is not None and own.oid is not None:
                by_oid[own.oid] = info
        found = Objects()
        if not by_oid:
            return found
        for what, relid, schema, name in await conn.fetch(_OBJECTS_SQL, (list(by_oid),)):
            info = by_oid[int(relid)]
            key = (info.schema, info.name)
            if what == "view":
                label = name if schema == info.schema else f"{schema}.{name}"
                found.views.setdefault(key, []).append(label)
            elif what == "trigger":
                found.triggers.setdefault(key, []).append(name)
            else:
                found.invalid_indexes.setdefault(key, set()).add(name)
        return found
