"""The facts a migration's risk depends on, read from the live database.

:func:`gather_facts` answers, for a set of tables: does it exist, how many rows does it
hold (counted when that is cheap, else the planner's estimate), how large is it, which
columns, indexes and foreign keys (both directions) does it have, which views read it and
which triggers fire on it, and, on PostgreSQL, which file stores it (``relfilenode``
changes when a statement rewrites the table). Everything is read, nothing is written, so
it works in ``read_only`` and ``existing_schema_mode``.

The work is a fixed number of set-based statements whatever the number of tables: the
server facts, the engine's own discovery (:mod:`dataflow_engine.discovery`; once per
schema named), one statistics query, one or two for views and triggers, and at most one
``count(*)`` query, a ``UNION ALL`` over every small table. What differs per database
lives in ``_facts_postgres.py``, ``_facts_mysql.py`` and ``_facts_sqlite.py``; this module
holds the shared flow and the pure parts (names, versions, estimates, view dependencies).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import _loop
from ..errors import SchemaError, ValidationError

if TYPE_CHECKING:
    from .._dataflow import DataFlow
    from ..adapters import Connection
    from ..dialects import Dialect
    from ..discovery import ForeignKeyInfo, TableInfo

__all__ = [
    "COUNT_BYTES_BELOW",
    "COUNT_ROWS_BELOW",
    "ColumnFacts",
    "ForeignKeyFacts",
    "IndexFacts",
    "ServerFacts",
    "TableFacts",
    "gather_facts",
    "gather_facts_sync",
    "name_parts",
]

#: Tables the statistics put under this many rows are counted exactly (``count(*)``).
COUNT_ROWS_BELOW = 100_000
#: ... provided their data (heap, clustered index or b-tree) is under this many bytes.
COUNT_BYTES_BELOW = 64 * 1024 * 1024

#: (schema as discovery reports it, name as the database spells it).
Key = tuple[str | None, str]


@dataclass(frozen=True)
class ServerFacts:
    """The server a migration would run on.

    Attributes:
        dialect: ``"postgresql"``, ``"mysql"`` or ``"sqlite"`` (the engine's dialect).
        version: the numeric version, e.g. ``(16, 4)``, ``(10, 11, 6)``, ``(3, 45, 1)``.
        flavor: ``"postgresql"``, ``"mariadb"``, ``"mysql"`` or ``"sqlite"``.
    """

    dialect: str
    version: tuple[int, ...]
    flavor: str


@dataclass(frozen=True)
class ColumnFacts:
    """A column as the database describes it.

    Attributes:
        name: the exact column name.
        type: the type as the database spells it (``integer``, ``int(11)``, ``TEXT``).
        nullable: NULL is allowed.
        default: the default expression as the catalog gives it, or None.
        is_primary_key: part of the primary key.
        auto_increment: serial/identity, AUTO_INCREMENT or SQLite's rowid alias.
    """

    name: str
    type: str
    nullable: bool
    default: str | None
    is_primary_key: bool
    auto_increment: bool = False


@dataclass(frozen=True)
class IndexFacts:
    """An index of the table.

    Attributes:
        name: the index name.
        columns: column names, or expression text for expression parts.
        unique: a unique index.
        primary: the primary key's index.
        valid: usable by queries; False for a PostgreSQL index whose ``CREATE INDEX
            CONCURRENTLY`` failed (``indisvalid``). Always True elsewhere.
        partial: the WHERE clause of a partial index, or None.
    """

    name: str
    columns: tuple[str, ...]
    unique: bool = False
    primary: bool = False
    valid: bool = True
    partial: str | None = None


@dataclass(frozen=True)
class ForeignKeyFacts:
    """A foreign key from ``schema.table (columns)`` to ``ref_schema.ref_table
    (ref_columns)``.

    Attributes:
        name: the constraint name (None for an unnamed SQLite key).
        rows: the rows of the referencing table ``table`` (counted or estimated, as
            ``rows_exact`` says), None when the database keeps no figure for it.
        on_delete, on_update: ``NO ACTION``, ``RESTRICT``, ``CASCADE``, ``SET NULL`` or
            ``SET DEFAULT``.
    """

    name: str | None
    schema: str | None
    table: str
    columns: tuple[str, ...]
    ref_schema: str | None
    ref_table: str
    ref_columns: tuple[str, ...]
    on_delete: str = "NO ACTION"
    on_update: str = "NO ACTION"
    rows: int | None = None
    rows_exact: bool = False


@dataclass(frozen=True)
class TableFacts:
    """Everything a risk assessment needs to know about one table.

    Attributes:
        name: the name as the database spells it (as requested when it does not exist).
        schema: the PostgreSQL schema or MySQL database; None for SQLite's main database.
        exists: False when there is no such table or view (every other field is empty).
        kind: ``"table"``, ``"view"`` or ``"materialized_view"`` (``"table"`` when it
            does not exist).
        rows: counted (``rows_exact``) when the statistics say the table is small (under
            :data:`COUNT_ROWS_BELOW` rows and :data:`COUNT_BYTES_BELOW` bytes), else the
            statistics' estimate: PostgreSQL's planner estimate (``reltuples`` per page
            times the current pages), MySQL's ``TABLE_ROWS``, SQLite's ``sqlite_stat1``.
            0 for a view.
        size_bytes: data plus indexes: ``pg_total_relation_size`` (summed over the
            partitions of a partitioned table), ``DATA_LENGTH + INDEX_LENGTH``, or the
            pages of the table's and its indexes' b-trees from SQLite's ``dbstat`` (None
            where SQLite is built without it, and for views).
        columns: name -> :class:`ColumnFacts`, in table order.
        indexes: every index, the primary key's included.
        foreign_keys_out: this table's own foreign keys.
        foreign_keys_in: other tables' foreign keys pointing here, with their row counts.
        dependent_views: views and materialized views that read this table, directly or
            through other views; ``schema.name`` when in another schema than the table.
        triggers: the names of the triggers on this table (not the engine's internal ones).
        relfilenode: PostgreSQL's storage file id of the table (None for views,
            partitioned tables and other databases).
    """

    name: str
    schema: str | None
    exists: bool
    kind: str = "table"
    rows: int = 0
    rows_exact: bool = True
    size_bytes: int | None = None
    columns: dict[str, ColumnFacts] = field(default_factory=dict)
    indexes: list[IndexFacts] = field(default_factory=list)
    foreign_keys_out: list[ForeignKeyFacts] = field(default_factory=list)
    foreign_keys_in: list[ForeignKeyFacts] = field(default_factory=list)
    dependent_views: list[str] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)
    relfilenode: int | None = None


# -- the public entry points --------------------------------------------------------------


async def gather_facts(
    dataflow: DataFlow,
    tables: Iterable[str],
    *,
    count_rows_below: int = COUNT_ROWS_BELOW,
    count_bytes_below: int = COUNT_BYTES_BELOW,
) -> tuple[ServerFacts, dict[str, TableFacts]]:
    """Read the facts of ``tables`` from the live database (reads only).

    Args:
        dataflow: the database to read.
        tables: table names exactly as the database spells them (SQLite compares ASCII
            letters in any case), optionally schema-qualified: ``"public.users"``,
            ``"shop.orders"``, ``"main.t"``; quote a part holding a dot:
            ``'"odd.schema"."a.b"'``. An unqualified name is looked up in the URL's schema
            (PostgreSQL ``public`` when none), the URL's database (MySQL) or ``main``.
        count_rows_below: count tables estimated under this many rows exactly; 0 never
            counts (every figure is then an estimate).
        count_bytes_below: ... and whose data is under this many bytes.

    Returns:
        The server's facts, and for each name given (the key is the name as given) its
        :class:`TableFacts`; a table that does not exist has ``exists=False``.

    Raises:
        ValidationError: ``tables`` is a single string, or holds an empty name.
        DatabaseError: the catalogs could not be read (``ConnectError``...).

    Example::

        server, facts = await gather_facts(db, ["users", "audit.events"])
        if server.flavor == "postgresql" and facts["users"].rows > 1_000_000: ...
    """
    requested = _requested(tables)
    dataflow._check_open()
    limits = (count_rows_below, count_bytes_below)
    return await _loop.run_async(_gather(dataflow, requested, limits))


def gather_facts_sync(
    dataflow: DataFlow,
    tables: Iterable[str],
    *,
    count_rows_below: int = COUNT_ROWS_BELOW,
    count_bytes_below: int = COUNT_BYTES_BELOW,
) -> tuple[ServerFacts, dict[str, TableFacts]]:
    """Blocking version of :func:`gather_facts`, for code outside an event loop.

    Args:
        dataflow, tables, count_rows_below, count_bytes_below: as for :func:`gather_facts`.

    Returns:
        ``(ServerFacts, {name as given: TableFacts})``.

    Raises:
        ValidationError: ``tables`` is a single string, or holds an empty name.
        DatabaseError: the catalogs could not be read.

    Example::

        server, facts = gather_facts_sync(db, ["users"])
        facts["users"].dependent_views  # ['active_users']
    """
    requested = _requested(tables)
    dataflow._check_open()
    limits = (count_rows_below, count_bytes_below)
    return _loop.run_sync(_gather(dataflow, requested, limits))


# -- the flow -----------------------------------------------------------------------------


@dataclass
class Stats:
    """What a dialect's statistics query says about one table."""

    estimate: int | None = None  # rows, from the statistics
    data_bytes: int | None = None  # what count(*) would read
    total_bytes: int | None = None  # data plus indexes
    relfilenode: int | None = None
    oid: int | None = None  # PostgreSQL's pg_class oid


@dataclass
class Objects:
    """What reads or fires on the tables: views, triggers; and indexes that are invalid."""

    views: dict[Key, list[str]] = field(default_factory=dict)
    triggers: dict[Key, list[str]] = field(default_factory=dict)
    invalid_indexes: dict[Key, set[str]] = field(default_factory=dict)


class FactsReader:
    """The statements of one dialect; subclasses override what differs."""

    flavor = ""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    def fold(self, name: str) -> str:
        """A name as the database compares it (exact by default)."""
        return name

    def kind(self, info: TableInfo) -> str:
        """``table``, ``view`` or ``materialized_view``."""
        return info.kind

    async def server(self, conn: Connection) -> ServerFacts:
        """The server's version and flavor (and what the other queries need to know)."""
        raise NotImplementedError

    async def stats(self, conn: Connection, tables: Sequence[Key]) -> dict[Key, Stats]:
        """Statistics of ``tables`` (requested and referencing), in one query."""
        raise NotImplementedError

    async def objects(
        self, conn: Connection, tables: Sequence[TableInfo], stats: Mapping[Key, Stats]
    ) -> Objects:
        """Dependent views, triggers and invalid indexes of ``tables``."""
        raise NotImplementedError

    def qualified(self, key: Key) -> str:
        schema, name = key
        quoted = self.dialect.quote(name)
        return quoted if schema is None else f"{self.dialect.quote(schema)}.{quoted}"

    async def count(self, conn: Connection, tables: Sequence[Key]) -> dict[Key, int]:
        """Exact row counts of ``tables``, in one ``UNION ALL`` statement."""
        sql = " UNION ALL ".join(
            f"SELECT {i}, COUNT(*) FROM {self.qualified(key)}" for i, key in enumerate(tables)
        )
        return {tables[int(i)]: int(n) for i, n in await conn.fetch(sql)}


_READERS = {
    "postgresql": "_facts_postgres",
    "mysql": "_facts_mysql",
    "sqlite": "_facts_sqlite",
}


def _reader(dialect: Dialect) -> FactsReader:
    module = importlib.import_module(f"{__package__}.{_READERS[dialect.name]}")
    reader: FactsReader = module.Reader(dialect)
    return reader


async def _gather(
    dataflow: DataFlow, requested: Mapping[str, tuple[str | None, str]], limits: tuple[int, int]
) -> tuple[ServerFacts, dict[str, TableFacts]]:
    """Server facts, discovery per schema named, statistics (of the requested tables and
    of those referencing them), views and triggers, then one count of the small tables."""
    reader = _reader(dataflow.dialect)
    by_schema: dict[str | None, list[str]] = {}
    for schema, name in requested.values():
        by_schema.setdefault(schema, []).append(name)
    adapter = dataflow._adapter
    async with adapter.acquire() as conn:
        server = await reader.server(conn)
        found: dict[tuple[str | None, str], TableInfo] = {}
        for schema, names in by_schema.items():
            try:
                infos = await adapter.discover(conn, schema, list(dict.fromkeys(names)))
            except SchemaError as exc:
                if exc.code != "DF-SCHEMA-MISSING":
                    raise
                infos = []  # no such schema: none of its tables exist
            for info in infos:
                found[schema, reader.fold(info.name)] = info
        tables = list({_key(info): info for info in found.values()}.values())
        others = [_key_of(fk) for t in tables for fk in t.referenced_by]
        keys = list(dict.fromkeys([*map(_key, tables), *others]))
        stats = await reader.stats(conn, keys) if keys else {}
        for info in tables:  # discovery's estimate where the statistics query has none
            own = stats.setdefault(_key(info), Stats())
            if own.estimate is None and reader.kind(info) != "view":
                own.estimate = info.row_estimate
        objects = await reader.objects(conn, tables, stats) if tables else Objects()
        kinds = {_key(t): reader.kind(t) for t in tables}
        counted = [
            k
            for k in keys
            if kinds.get(k, "table") != "view" and should_count(stats.get(k), *limits)
        ]
        counts = await reader.count(conn, counted) if counted else {}
    rows = row_figures(keys, stats, counts)
    result = {}
    for text, (schema, name) in requested.items():
        match = found.get((schema, reader.fold(name)))
        if match is None:
            result[text] = TableFacts(name=name, schema=schema, exists=False)
        else:
            result[text] = table_facts(match, kinds[_key(match)], stats, objects, rows)
    return server, result


# -- pure parts -----------------------------------------------------------------------------


def _key(info: TableInfo) -> Key:
    return (info.schema, info.name)


def _key_of(fk: ForeignKeyInfo) -> Key:
    return (fk.schema, fk.table)


def should_count(stats: Stats | None, rows_below: int, bytes_below: int) -> bool:
    """Whether a table is small enough to count: neither its row estimate nor the size
    of its data reaches the limits (unknown figures do not stop the count)."""
    if rows_below <= 0:
        return False
    if stats is None:
        return True
    if stats.estimate is not None and stats.estimate >= rows_below:
        return False
    return not (stats.data_bytes is not None and stats.data_bytes >= bytes_below)


def row_figures(
    keys: Iterable[Key], stats: Mapping[Key, Stats], counts: Mapping[Key, int]
) -> dict[Key, tuple[int | None, bool]]:
    """(rows, exact) of each table: the count when there is one, else the estimate."""
    figures: dict[Key, tuple[int | None, bool]] = {}
    for key in keys:
        if key in counts:
            figures[key] = (counts[key], True)
        else:
            own = stats.get(key)
            figures[key] = (None if own is None else own.estimate, False)
    return figures


def table_facts(
    info: TableInfo,
    kind: str,
    stats: Mapping[Key, Stats],
    objects: Objects,
    rows: Mapping[Key, tuple[int | None, bool]],
) -> TableFacts:
    """Assemble the :class:`TableFacts` of a discovered table."""
    key = _key(info)
    own = stats.get(key, Stats())
    count, exact = rows.get(key, (None, False))
    invalid = objects.invalid_indexes.get(key, set())
    primary = set(info.primary_key)

    def foreign_key(fk: ForeignKeyInfo) -> ForeignKeyFacts:
        n, n_exact = rows.get(_key_of(fk), (None, False))
        return ForeignKeyFacts(
            name=fk.name,
            schema=fk.schema,
            table=fk.table,
            columns=fk.columns,
            ref_schema=fk.ref_schema,
            ref_table=fk.ref_table,
            ref_columns=fk.ref_columns,
            on_delete=fk.on_delete,
            on_update=fk.on_update,
            rows=n,
            rows_exact=n_exact,
        )

    return TableFacts(
        name=info.name,
        schema=info.schema,
        exists=True,
        kind=kind,
        rows=count or 0,
        rows_exact=exact,
        size_bytes=own.total_bytes,
        columns={
            c.name: ColumnFacts(
                name=c.name,
                type=c.type,
                nullable=c.nullable,
                default=c.default,
                is_primary_key=c.name in primary,
                auto_increment=c.auto_increment,
            )
            for c in info.columns
        },
        indexes=[
            IndexFacts(
                name=i.name,
                columns=i.columns,
                unique=i.unique,
                primary=i.primary,
                valid=i.name not in invalid,
                partial=i.partial,
            )
            for i in info.indexes
        ],
        foreign_keys_out=[foreign_key(fk) for fk in info.foreign_keys],
        foreign_keys_in=[foreign_key(fk) for fk in info.referenced_by],
        dependent_views=sorted(objects.views.get(key, ())),
        triggers=sorted(objects.triggers.get(key, ())),
        relfilenode=own.relfilenode,
    )


def _requested(tables: Iterable[str]) -> dict[str, tuple[str | None, str]]:
    """Each requested name -> (schema or None, table), in the order given."""
    if isinstance(tables, str):
        raise ValidationError(
            f"tables must be a collection of table names, not the string {tables!r}; "
            f"pass [{tables!r}] for one table",
            code="DF-PARAM-TYPE",
            details={"param": "tables"},
        )
    result: dict[str, tuple[str | None, str]] = {}
    for text in tables:
        if not isinstance(text, str):
            raise ValidationError(
                f"a table name must be a string, not {type(text).__name__}",
                code="DF-PARAM-TYPE",
                details={"param": "tables", "value": repr(text)},
            )
        result[text] = split_name(text)
    return result


_PART = re.compile(r'"((?:[^"]|"")*)"|`((?:[^`]|``)*)`|([^."`]+)')


def name_parts(text: str) -> list[str] | None:
    r"""The dot-separated parts of a name, each possibly quoted (``"..."`` or
    ``\`...\```, the quote doubled inside, to hold a dot); None when the text is not
    such a name."""
    parts: list[str] = []
    pos = 0
    while pos <= len(text):
        match = _PART.match(text, pos)
        if match is None:
            return None
        quoted, backquoted, bare = match.groups()
        if quoted is not None:
            parts.append(quoted.replace('""', '"'))
        elif backquoted is not None:
            parts.append(backquoted.replace("``", "`"))
        else:
            parts.append(bare)
        pos = match.end()
        if pos == len(text):
            break
        if text[pos] != ".":
            return None
        pos += 1
    return parts


def split_name(text: str) -> tuple[str | None, str]:
    """``"users"`` -> ``(None, "users")``; ``"public.users"`` -> ``("public", "users")``.

    A part may be quoted (``"..."`` or ``\\`...\\```, the quote doubled inside) to hold a
    dot. A name that is not one or two parts is taken whole, as a table name.

    Raises:
        ValidationError: an empty name.
    """
    if not text.strip():
        raise ValidationError(
            "a table name must not be empty",
            code="DF-PARAM-TYPE",
            details={"param": "tables"},
        )
    parts = name_parts(text)
    if parts is None:
        return (None, text)
    if len(parts) == 1:
        return (None, parts[0])
    if len(parts) == 2:
        return (parts[0], parts[1])
    return (None, text)


_VERSION = re.compile(r"\d+(?:\.\d+)*")


def version_tuple(text: str) -> tuple[int, ...]:
    """The leading dotted number of a version string: ``"10.11.6-MariaDB-1"`` ->
    ``(10, 11, 6)``; ``()`` when there is none."""
    match = _VERSION.search(text)
    return tuple(int(p) for p in match.group().split(".")) if match else ()


# -- views over views ------------------------------------------------------------------------


def tables_read_by(sql: str, read: str, create: bool) -> set[tuple[str | None, str]] | None:
    """The tables and views a view's query reads, as (schema or None, name), parsed with
    sqlglot; common table expressions are left out.

    Args:
        sql: the view's ``CREATE VIEW`` statement (``create``) or its bare query.
        read: the sqlglot dialect (``"mysql"``, ``"sqlite"``).
        create: ``sql`` is a CREATE VIEW statement, whose own name is not read.

    Returns:
        The names, or None when sqlglot cannot parse the text.
    """
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    try:
        tree = sqlglot.parse_one(sql, read=read)
    except SqlglotError:
        return None
    query = tree.expression if create else tree
    if not isinstance(query, exp.Query):
        return None
    ctes = {cte.alias_or_name for cte in query.find_all(exp.CTE)}
    found: set[tuple[str | None, str]] = set()
    for table in query.find_all(exp.Table):
        if not table.name:
            continue  # a table function
        if not table.db and table.name in ctes:
            continue
        found.add((table.db or None, table.name))
    return found


def mentions(sql: str, name: str) -> bool:
    """A text search: ``name`` appears in ``sql`` as a whole identifier (bare or quoted),
    ASCII letters in any case. The fallback for a view sqlglot cannot parse."""
    escaped = re.escape(name)
    pattern = rf'(?<![\w$]){escaped}(?![\w$])|"{escaped}"|`{escaped}`|\[{escaped}\]'
    return re.search(pattern, sql, re.IGNORECASE) is not None


def dependents(edges: Iterable[tuple[Key, Key]], targets: Iterable[Key]) -> dict[Key, set[Key]]:
    """The views that read each target, directly or through other views.

    Args:
        edges: (view, relation it reads) pairs, in one spelling (folded as needed).
        targets: the tables asked about.

    Returns:
        target -> the views that depend on it (never the target itself).
    """
    readers: dict[Key, set[Key]] = {}
    for view, relation in edges:
        readers.setdefault(relation, set()).add(view)
    result: dict[Key, set[Key]] = {}
    for target in targets:
        seen: set[Key] = set()
        todo = [target]
        while todo:
            for view in readers.get(todo.pop(), ()):
                if view not in seen and view != target:
                    seen.add(view)
                    todo.append(view)
        result[target] = seen
    return result


def view_label(view: Key, table_schema: str | None) -> str:
    """A view's name, qualified when it lives in another schema than the table."""
    schema, name = view
    return name if schema == table_schema or schema is None else f"{schema}.{name}"


def as_text(value: Any) -> str:
    """A catalog string, which some MySQL versions return as bytes."""
    if isinstance(value, bytes | bytearray):
        return value.decode()
    return str(value)


def as_int(value: Any) -> int | None:
    """A catalog number (Decimal, float, str or bytes) as an int; None stays None."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        value = value.decode()
    return round(float(value))
