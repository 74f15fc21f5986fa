"""Staging environments: a disposable copy of the schema with a referentially intact sample
of the data, to rehearse a migration on before it runs for real.

Where the copy lives:

- PostgreSQL: a new schema ``dataflow_staging_<hex>`` in the same database. Tables are
  made with ``CREATE TABLE ... (LIKE ... INCLUDING DEFAULTS, CONSTRAINTS, IDENTITY,
  GENERATED, COMMENTS, STORAGE)``; primary keys, unique and exclusion constraints, indexes
  and foreign keys are re-created under their own names from ``pg_get_constraintdef`` /
  ``pg_get_indexdef``; a serial column gets a sequence of its own in the copy (never the
  original's), set past the sampled values. The whole copy is built in one transaction:
  if anything fails, nothing is left.
- MySQL / MariaDB: a new database ``dataflow_staging_<hex>`` (same character set and
  collation) on the same server, tables made from ``SHOW CREATE TABLE`` run there (every
  column, key, index, check and foreign key under its own name; a foreign key to another
  database keeps pointing there). The sample is copied with the copy's foreign keys
  checked on every row. Each ``INSERT ... SELECT`` holds InnoDB's shared locks on the
  original rows it reads while it runs.
- SQLite: a new database file ``dataflow_staging_<hex>.db`` next to the original (in the
  temporary directory for an in-memory database), tables and indexes made from the
  original's own ``CREATE`` statements; the sample is copied by attaching that file to
  the original's connection for the copy only.

Views are re-created where they can be (a view reading a table that was not copied is
skipped, and said so). Triggers are re-created after the sample is in where they cannot
reach outside the copy: SQLite's always (a trigger reaches only its own file), MySQL's
unless the body names a database; PostgreSQL's are not (the trigger's function lives in
the original schema and would run there). Everything not copied is listed, with the
reason, in :attr:`StagingEnvironment.skipped`.

The sample (up to ``sample_rows`` rows per table, never more) is taken **parents first**:
the tables are ordered along their foreign keys, a table's rows are taken only when every
foreign key of the row is NULL or points at a row already in the sample, in primary-key
order (so the same database gives the same sample). Tables in a foreign-key cycle,
self-references included (``employees.manager_id``), are filled in rounds: the rows whose
keys point into the sample so far, again and again (the top of a hierarchy first, then the
level below it...), until a round adds nothing or the table holds ``sample_rows``. So every
foreign key in the sample points at a row in the sample, by construction, and the foreign
keys of the copy prove it (PostgreSQL checks them as they are added after the sample,
MySQL and SQLite on every row inserted). The price: a child table only gets rows whose
parents were sampled, which may be fewer than ``sample_rows``; rows of a cycle that only
hang together (a -> b -> a with neither NULL) are left out; a hierarchy costs one
statement per level.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, urlencode

from .. import _loop
from ..errors import DataFlowError, MigrationError, SchemaError, ValidationError
from ._facts import as_text
from ._state import INTERNAL_TABLES, SchemaDiff, SchemaSnapshot, capture_on, diff_snapshots

if TYPE_CHECKING:
    from .._dataflow import DataFlow
    from ..adapters import Connection
    from ..config import DatabaseURL
    from ..discovery import ForeignKeyInfo, TableInfo
    from ._risk import MigrationReport

__all__ = [
    "STAGING_PREFIX",
    "StagingEnvironment",
    "StagingEnvironmentManager",
    "StagingRun",
    "StatementOutcome",
    "split_statements",
]

#: Every staging schema, database or file is named this and 12 hex digits.
STAGING_PREFIX = "dataflow_staging_"


# -- running statements ------------------------------------------------------------------


@dataclass
class StatementOutcome:
    """What became of one statement of a migration.

    Attributes:
        sql: the statement as written.
        status: ``"ok"``, ``"failed"`` or ``"not_run"`` (an earlier one failed).
        seconds: how long it took (0 when not run).
        rows: the rows it affected, when the database says (None for DDL).
        error: the error as ``{"code", "message", "details"}`` when it failed.
    """

    sql: str
    status: str = "not_run"
    seconds: float = 0.0
    rows: int | None = None
    error: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def split_statements(text: str, dialect: str) -> list[str]:
    """Split migration text into statements, as :func:`parse_ddl` does (``;`` outside
    strings, comments, dollar quotes and trigger bodies).

    Args:
        text: one or more statements.
        dialect: ``"postgresql"``, ``"mysql"`` or ``"sqlite"``.

    Returns:
        Each statement's text, without the ``;``.

    Raises:
        MigrationError: ``DF-MIGRATION-PARSE`` when the text cannot be tokenized.
        ValidationError: ``text`` is not a string.

    Example::

        split_statements("ALTER TABLE t ADD c int; UPDATE t SET c = 1", "sqlite")
        # ['ALTER TABLE t ADD c int', 'UPDATE t SET c = 1']
    """
    from ._ddl import _reader

    if not isinstance(text, str):
        raise ValidationError(
            f"a migration must be SQL text, not {type(text).__name__}",
            details={"param": "ddl"},
        )
    return [statement.sql for statement in _reader(dialect).statements(text)]


def error_dict(exc: BaseException) -> dict[str, Any]:
    """A captured error as ``{"code", "message", "details"}``."""
    if isinstance(exc, DataFlowError):
        return exc.to_dict()
    return {"code": "DF-DB-ERROR", "message": f"{type(exc).__name__}: {exc}", "details": {}}


async def run_one(conn: Connection, outcome: StatementOutcome, sql: str) -> bool:
    """Run one statement, filling in ``outcome``; False when it failed (error captured).

    Only errors of the database or the engine are captured; anything else propagates.
    """
    started = time.perf_counter()
    try:
        rows = await conn.execute(sql)
    except DataFlowError as exc:
        outcome.status, outcome.error = "failed", error_dict(exc)
        return False
    finally:
        outcome.seconds = time.perf_counter() - started
    outcome.status = "ok"
    outcome.rows = rows if isinstance(rows, int) and rows >= 0 else None
    return True


@dataclass
class StagingRun:
    """The result of :meth:`StagingEnvironment.run`.

    Attributes:
        statements: one outcome per statement, in order.
        seconds: the whole run.
        diff: what the migration changed in the staging schema (None with ``diff=False``).
    """

    statements: list[StatementOutcome]
    seconds: float
    diff: SchemaDiff | None = None

    @property
    def ok(self) -> bool:
        """Every statement ran without an error."""
        return all(s.ok for s in self.statements)

    @property
    def failed(self) -> StatementOutcome | None:
        """The first statement that failed, or None."""
        return next((s for s in self.statements if s.status == "failed"), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "seconds": self.seconds,
            "statements": [s.to_dict() for s in self.statements],
            "diff": None if self.diff is None else self.diff.to_dict(),
        }


# -- what differs per database ----------------------------------------------------------------


class _Database:
    """How one database runs migration SQL and builds a staging copy; subclasses override
    what differs. Shared with the checkpoint manager (``raw``, ``resolve_in``,
    ``commits``)."""

    #: DDL is transactional (rolled back with the transaction).
    transactional_ddl: ClassVar[bool] = True
    #: A failed statement spoils the open transaction (PostgreSQL): a statement that may
    #: fail inside one needs a savepoint.
    failure_aborts_transaction: ClassVar[bool] = False
    #: Written between ``INSERT INTO t (...)`` and ``SELECT`` when sampling.
    insert_prefix: ClassVar[str] = ""

    def __init__(self, dataflow: DataFlow, name: str | None = None) -> None:
        self.dataflow = dataflow
        self.dialect = dataflow.dialect
        self.name = name or STAGING_PREFIX + uuid.uuid4().hex[:12]
        self.staging: DataFlow | None = None
        self.created = False

    # the migration's SQL

    def q(self, identifier: str) -> str:
        return self.dialect.quote(identifier)

    def raw(self, sql: str) -> str:
        """SQL text as the driver must receive it."""
        return sql

    def source_schema(self) -> str | None:
        """The schema or database the DataFlow's URL names (unqualified names go there)."""
        return None

    async def resolve_in(self, conn: Connection, schema: str | None, *, local: bool) -> None:
        """Make unqualified names resolve in ``schema`` on this connection (``local``: for
        the current transaction only)."""

    async def reset(self, conn: Connection) -> None:
        """Undo a session-wide :meth:`resolve_in`."""

    @contextlib.asynccontextmanager
    async def scoped(self, conn: Connection, schema: str | None) -> AsyncIterator[None]:
        """Reads with unqualified names resolving in ``schema``: PostgreSQL opens a
        transaction for ``SET LOCAL search_path``; the others need none (SQLite's would
        take the write lock)."""
        yield

    def commits(self, sql: str) -> bool:
        """The statement commits the open transaction by itself (MySQL's DDL)."""
        return False

    async def other_schemas(self, conn: Connection) -> set[str]:
        """The schemas or databases a statement must not name from staging (lower case)."""
        return set()

    def escapes(self, tokens: Sequence[Any], others: set[str]) -> str | None:
        """Why a statement run in staging would reach outside it, or None: it names
        another schema / database (``public.orders``), changes ``search_path``, or is a
        ``USE`` / ``ATTACH`` / ``DETACH``."""
        first = tokens[0].text.upper() if tokens else ""
        if first in ("USE", "ATTACH", "DETACH"):
            return f"{first} changes which database names refer to"
        for i, token in enumerate(tokens):
            text = token.text.lower()
            if text == "search_path":
                return "it changes search_path"
            if text in others and i + 1 < len(tokens) and tokens[i + 1].text == ".":
                return f"it names the schema {token.text!r}, outside the copy"
        return None

    # the staging copy

    def location(self) -> str:
        return self.name

    def staging_url(self) -> str:
        raise NotImplementedError

    def src(self, table: str) -> str:
        schema = self.source_schema()
        return f"{self.q(schema)}.{self.q(table)}" if schema else self.q(table)

    def dst(self, table: str) -> str:
        return f"{self.q(self.name)}.{self.q(table)}"

    def open_staging(self) -> DataFlow:
        from .._dataflow import DataFlow

        if self.staging is None:
            s = self.dataflow.settings
            self.staging = DataFlow(
                self.staging_url(),
                auto_migrate=False,
                pool_size=2,
                command_timeout=s.command_timeout,
                echo=s.echo,
            )
        return self.staging

    async def build(self, plan: _Plan, sample_rows: int) -> tuple[dict[str, int], dict[str, str]]:
        """Create the copy and fill it. Returns (rows per table, skipped objects)."""
        raise NotImplementedError

    async def drop(self) -> None:
        """Remove everything the copy consists of (nothing when it was never created)."""
        raise NotImplementedError

    async def close_staging(self) -> None:
        staging, self.staging = self.staging, None
        if staging is not None:
            await staging.aclose()

    # the sample (shared: every database runs the same INSERT ... SELECT)

    def sample_sql(self, plan: _Plan, info: TableInfo, limit: int, again: bool) -> str:
        """``INSERT INTO copy SELECT ... FROM original`` of up to ``limit`` rows whose
        foreign keys are NULL or point at rows already in the copy (``again``: and that
        are not in it yet)."""
        q = self.q
        columns = [q(c.name) for c in info.columns if c.generated is None]
        conditions = []
        for n, fk in enumerate(plan.foreign_keys(info)):
            parent = plan.tables[fk.ref_table]
            refs = fk.ref_columns or parent.primary_key
            nulls = " OR ".join(f"x.{q(c)} IS NULL" for c in fk.columns)
            match = " AND ".join(
                f"p{n}.{q(r)} = x.{q(c)}" for c, r in zip(fk.columns, refs, strict=False)
            )
            exists = f"EXISTS (SELECT 1 FROM {self.dst(fk.ref_table)} p{n} WHERE {match})"
            conditions.append(f"({nulls} OR {exists})")
        if again:
            same = " AND ".join(f"s.{q(k)} = x.{q(k)}" for k in info.primary_key)
            conditions.append(f"NOT EXISTS (SELECT 1 FROM {self.dst(info.name)} s WHERE {same})")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        order = ", ".join(f"x.{q(k)}" for k in info.primary_key)
        return (
            f"INSERT INTO {self.dst(info.name)} ({', '.join(columns)}) {self.insert_prefix}"
            f"SELECT {', '.join('x.' + c for c in columns)} FROM {self.src(info.name)} x"
            f"{where}{f' ORDER BY {order}' if order else ''} LIMIT {int(limit)}"
        )

    async def sample(self, conn: Connection, plan: _Plan, sample_rows: int) -> dict[str, int]:
        """Fill the copy, parents first (see the module docstring)."""
        rows = {name: 0 for group in plan.groups for name in group}
        if sample_rows <= 0:
            return rows
        for group in plan.groups:
            infos = [plan.tables[name] for name in group]
            if not plan.cyclic(group):
                (info,) = infos
                rows[info.name] = await conn.execute(
                    self.sample_sql(plan, info, sample_rows, False)
                )
                continue
            passes = 0
            while True:
                added = 0
                for info in infos:
                    room = sample_rows - rows[info.name]
                    if room <= 0 or (passes and not info.primary_key):
                        continue  # without a key, a second round cannot tell rows apart
                    again = passes > 0 and bool(info.primary_key)
                    n = await conn.execute(self.sample_sql(plan, info, room, again))
                    rows[info.name] += n
                    added += n
                passes += 1
                if added == 0:
                    break
        return rows


class _Postgres(_Database):
    failure_aborts_transaction = True
    insert_prefix = "OVERRIDING SYSTEM VALUE "  # identity columns keep the sampled values

    _LIKE = (
        "INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY INCLUDING GENERATED "
        "INCLUDING COMMENTS INCLUDING STORAGE"
    )
    # Sequences the columns' defaults call (serial), with their settings and owner.
    _SEQUENCES = """
SELECT c.relname::text, a.attname::text, pg_catalog.pg_get_expr(ad.adbin, ad.adrelid),
       s.relname::text, pg_catalog.format_type(sq.seqtypid, NULL), sq.seqincrement,
       sq.seqmin, sq.seqmax, sq.seqstart, sq.seqcycle,
       EXISTS (SELECT 1 FROM pg_catalog.pg_depend o WHERE o.objid = s.oid
               AND o.refobjid = c.oid AND o.refobjsubid = a.attnum AND o.deptype = 'a')
FROM pg_catalog.pg_attrdef ad
JOIN pg_catalog.pg_class c ON c.oid = ad.adrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_attrdef'::regclass
     AND d.objid = ad.oid AND d.refclassid = 'pg_catalog.pg_class'::regclass
JOIN pg_catalog.pg_class s ON s.oid = d.refobjid AND s.relkind = 'S'
JOIN pg_catalog.pg_sequence sq ON sq.seqrelid = s.oid
WHERE n.nspname = $1 AND c.relname = ANY($2::text[])
ORDER BY c.relname, a.attnum
"""
    _CONSTRAINTS = """
SELECT c.relname::text, con.conname::text, con.contype::text,
       pg_catalog.pg_get_constraintdef(con.oid), rn.nspname::text, r.relname::text
FROM pg_catalog.pg_constraint con
JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_class r ON r.oid = con.confrelid
LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace
WHERE n.nspname = $1 AND c.relname = ANY($2::text[]) AND con.contype IN ('p', 'u', 'x', 'f')
ORDER BY c.relname, con.conname
"""
    # Indexes that no constraint owns; the table's name as pg_get_indexdef prints it.
    _INDEXES = """
SELECT c.relname::text, i.relname::text, pg_catalog.pg_get_indexdef(x.indexrelid),
       x.indisvalid, pg_catalog.format('%I.%I', n.nspname, c.relname)
FROM pg_catalog.pg_index x
JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
JOIN pg_catalog.pg_class c ON c.oid = x.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = ANY($2::text[])
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint con
                  WHERE con.conindid = x.indexrelid AND con.conrelid = x.indrelid
                  AND con.contype IN ('p', 'u', 'x'))
ORDER BY c.relname, i.relname
"""
    _VIEWS = """
SELECT c.relname::text, c.relkind::text, pg_catalog.pg_get_viewdef(c.oid, true)
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('v', 'm')
ORDER BY c.oid
"""
    _TRIGGERS = """
SELECT c.relname::text, t.tgname::text
FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = ANY($2::text[]) AND NOT t.tgisinternal
ORDER BY c.relname, t.tgname
"""
    _IDENTITIES = """
SELECT c.relname::text, a.attname::text,
       pg_catalog.pg_get_serial_sequence(pg_catalog.format('%I.%I', n.nspname, c.relname),
                                         a.attname)
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND a.attidentity <> '' AND a.attnum > 0 AND NOT a.attisdropped
"""

    def source_schema(self) -> str:
        return self.dialect.schema or "public"

    async def resolve_in(self, conn: Connection, schema: str | None, *, local: bool) -> None:
        if schema:
            scope = "LOCAL " if local else ""
            await conn.execute(f"SET {scope}search_path TO {self.q(schema)}")

    async def reset(self, conn: Connection) -> None:
        await conn.execute("RESET search_path")

    @contextlib.asynccontextmanager
    async def scoped(self, conn: Connection, schema: str | None) -> AsyncIterator[None]:
        async with conn.transaction():
            await self.resolve_in(conn, schema, local=True)
            yield

    async def other_schemas(self, conn: Connection) -> set[str]:
        rows = await conn.fetch(
            "SELECT nspname::text FROM pg_catalog.pg_namespace "
            "WHERE nspname !~ '^pg_' AND nspname <> 'information_schema'"
        )
        return {str(r[0]).lower() for r in rows} - {self.name.lower()}

    def staging_url(self) -> str:
        url = self.dataflow.settings.url
        return _url(url, url.database, {**url.query, "schema": self.name})

    async def build(self, plan: _Plan, sample_rows: int) -> tuple[dict[str, int], dict[str, str]]:
        source, stage = self.source_schema(), self.name
        names = list(plan.tables)
        skipped: dict[str, str] = {}
        async with self.dataflow._adapter.acquire() as conn, conn.transaction():
            await conn.execute(f"CREATE SCHEMA {self.q(stage)}")
            for name in names:
                await conn.execute(
                    f"CREATE TABLE {self.dst(name)} (LIKE {self.src(name)} {self._LIKE})"
                )
            # Definitions are read with names relative to the original schema, and run
            # with names relative to the copy: they then name the copy's objects.
            await self.resolve_in(conn, source, local=True)
            sequences = await conn.fetch(self._SEQUENCES, (source, names))
            constraints = await conn.fetch(self._CONSTRAINTS, (source, names))
            indexes = await conn.fetch(self._INDEXES, (source, names))
            views = await conn.fetch(self._VIEWS, (source,))
            for table, trigger in await conn.fetch(self._TRIGGERS, (source, names)):
                skipped[f"trigger {table}.{trigger}"] = (
                    "not copied: its function lives in the original schema and would run there"
                )
            await self.resolve_in(conn, stage, local=True)
            own = await self._sequences(conn, sequences)
            for table, constraint, kind, definition, _, _ in constraints:
                if kind != "f":  # keys before the sample: it looks parents up by them
                    await conn.execute(
                        f"ALTER TABLE {self.dst(table)} ADD CONSTRAINT {self.q(constraint)} "
                        f"{definition}"
                    )
            rows = await self.sample(conn, plan, sample_rows)
            await self._advance(conn, own)
            for table, index, definition, valid, qualified in indexes:
                if not valid:
                    skipped[f"index {table}.{index}"] = "invalid in the original (not usable)"
                    continue
                for on in (" ON ONLY ", " ON "):
                    definition = definition.replace(
                        f"{on}{qualified} ", f"{on}{self.dst(table)} ", 1
                    )
                await conn.execute(definition)
            for table, constraint, kind, definition, ref_schema, ref_table in constraints:
                if kind != "f":
                    continue
                if ref_schema != source or ref_table not in plan.tables:
                    skipped[f"foreign key {table}.{constraint}"] = (
                        f"it references {ref_schema}.{ref_table}, outside the copy"
                    )
                    continue
                await conn.execute(
                    f"ALTER TABLE {self.dst(table)} ADD CONSTRAINT {self.q(constraint)} "
                    f"{definition}"
                )
            await self._views(conn, views, skipped)
        self.created = True
        return rows, skipped

    async def _sequences(
        self, conn: Connection, found: Sequence[Sequence[Any]]
    ) -> dict[str, list[tuple[str, str]]]:
        """Give serial columns sequences of their own in the copy (the copied default
        still calls the original's); returns sequence -> its (table, column) users."""
        users: dict[str, list[tuple[str, str]]] = {}
        for table, column, default, seq, type_, step, low, high, start, cycle, owned in found:
            if seq not in users:
                await conn.execute(
                    f"CREATE SEQUENCE {self.dst(seq)} AS {type_} INCREMENT BY {int(step)} "
                    f"MINVALUE {int(low)} MAXVALUE {int(high)} START WITH {int(start)} "
                    f"{'' if cycle else 'NO '}CYCLE"
                )
                users[seq] = []
            users[seq].append((table, column))
            # The default was printed relative to the original schema: run here, its
            # sequence name means the copy's sequence.
            await conn.execute(
                f"ALTER TABLE {self.dst(table)} ALTER COLUMN {self.q(column)} SET DEFAULT {default}"
            )
            if owned:
                await conn.execute(
                    f"ALTER SEQUENCE {self.dst(seq)} OWNED BY {self.dst(table)}.{self.q(column)}"
                )
        return users

    async def _advance(self, conn: Connection, own: dict[str, list[tuple[str, str]]]) -> None:
        """Set each sequence of the copy past the largest sampled value."""
        targets = [(self.dst(seq), users) for seq, users in own.items()]
        for table, column, sequence in await conn.fetch(self._IDENTITIES, (self.name,)):
            if sequence:
                targets.append((str(sequence), [(table, column)]))
        for sequence, users in targets:
            highest = " , ".join(f"(SELECT max({self.q(c)}) FROM {self.dst(t)})" for t, c in users)
            await conn.fetch(
                f"SELECT pg_catalog.setval('{sequence.replace(chr(39), chr(39) * 2)}', m) "
                f"FROM (SELECT GREATEST({highest}) AS m) AS g WHERE m IS NOT NULL"
            )

    async def _views(
        self, conn: Connection, views: Sequence[Sequence[Any]], skipped: dict[str, str]
    ) -> None:
        pending = [(str(n), kind == "m", str(d).strip().rstrip(";")) for n, kind, d in views]
        await _create_views(
            conn,
            [
                (
                    f"view {name}",
                    f"CREATE {'MATERIALIZED ' if mat else ''}VIEW {self.q(name)} AS {text}",
                    f"SELECT 1 FROM {self.q(name)} WHERE 1 = 0",
                    f"DROP {'MATERIALIZED ' if mat else ''}VIEW {self.q(name)}",
                )
                for name, mat, text in pending
            ],
            skipped,
            savepoints=True,
        )

    async def drop(self) -> None:
        if not self.created:
            return
        sql = f"DROP SCHEMA IF EXISTS {self.q(self.name)} CASCADE"
        await _drop_through(self, sql)


class _MySQL(_Database):
    transactional_ddl = False

    # Statements that run inside a transaction without ending it.
    _TRANSACTIONAL = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE", "WITH"})

    def raw(self, sql: str) -> str:
        return sql.replace("%", "%%")  # the driver formats every statement with '%'

    def source_schema(self) -> str | None:
        return self.dataflow.settings.url.database

    def commits(self, sql: str) -> bool:
        head = sql.lstrip(" \t\r\n(").split(None, 1)
        return not head or head[0].upper() not in self._TRANSACTIONAL

    def staging_url(self) -> str:
        url = self.dataflow.settings.url
        return _url(url, self.name, dict(url.query))

    async def other_schemas(self, conn: Connection) -> set[str]:
        rows = await conn.fetch(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA "
            "WHERE SCHEMA_NAME NOT IN ('information_schema', 'performance_schema')"
        )
        return {as_text(r[0]).lower() for r in rows} - {self.name.lower()}

    async def build(self, plan: _Plan, sample_rows: int) -> tuple[dict[str, int], dict[str, str]]:
        skipped: dict[str, str] = {}
        async with self.dataflow._adapter.acquire() as conn:
            ((database, charset, collation),) = await conn.fetch(
                "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
                "FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()"
            )
            # SHOW CREATE TABLE keeps every name (indexes, keys, checks) as it is; run in
            # the staging database, its unqualified REFERENCES mean the copy's tables.
            creates = [
                as_text((await conn.fetch(f"SHOW CREATE TABLE {self.src(name)}"))[0][1])
                for name in plan.tables
            ]
            views = await conn.fetch(
                "SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS "
                "WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME"
            )
            triggers = await conn.fetch(
                "SELECT EVENT_OBJECT_TABLE, TRIGGER_NAME, ACTION_TIMING, EVENT_MANIPULATION, "
                "ACTION_STATEMENT FROM information_schema.TRIGGERS "
                "WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY EVENT_OBJECT_TABLE, ACTION_ORDER"
            )
            databases = await self.other_schemas(conn)
            await conn.execute(
                f"CREATE DATABASE {self.q(self.name)} CHARACTER SET {as_text(charset)} "
                f"COLLATE {as_text(collation)}"
            )
            self.created = True
        staging = self.open_staging()
        async with staging._adapter.acquire() as target:
            await target.execute("SET foreign_key_checks = 0")  # tables in any order
            try:
                for create in creates:
                    await target.execute(self.raw(create))
            finally:
                await target.execute("SET foreign_key_checks = 1")
        async with self.dataflow._adapter.acquire() as conn:
            # Parents first, with the copy's foreign keys checked on every row.
            rows = await self.sample(conn, plan, sample_rows)
        own = f"`{as_text(database).replace('`', '``')}`."
        statements = []
        for name, definition in views:
            view = self.q(as_text(name))
            statements.append(
                (
                    f"view {as_text(name)}",
                    f"CREATE VIEW {view} AS {self.raw(as_text(definition).replace(own, ''))}",
                    f"SELECT 1 FROM {view} WHERE 1 = 0",
                    f"DROP VIEW {view}",
                )
            )
        async with staging._adapter.acquire() as target:
            await _create_views(target, statements, skipped, savepoints=False)
        async with staging._adapter.acquire() as target:
            for row in triggers:
                table, name, timing, event, body = map(as_text, row)
                if table not in plan.tables:
                    continue
                label = f"trigger {table}.{name}"
                reason = _names_a_database(body, databases)
                if reason is not None:
                    skipped[label] = f"not copied: {reason}"
                    continue
                try:  # created after the sample: it must not fire while the copy is filled
                    await target.execute(
                        f"CREATE TRIGGER {self.q(name)} {timing} {event} ON {self.q(table)} "
                        f"FOR EACH ROW {self.raw(body)}"
                    )
                except DataFlowError as exc:
                    skipped[label] = f"could not be re-created in the copy: {exc.message}"
        return rows, skipped

    async def drop(self) -> None:
        if self.created:
            await _drop_through(self, f"DROP DATABASE IF EXISTS {self.q(self.name)}")


class _SQLite(_Database):
    _OBJECTS = (
        "SELECT type, name, tbl_name, sql FROM main.sqlite_schema WHERE sql IS NOT NULL "
        "AND substr(name, 1, 7) COLLATE NOCASE <> 'sqlite_' ORDER BY rowid"
    )

    def __init__(self, dataflow: DataFlow, name: str | None = None) -> None:
        super().__init__(dataflow, name)
        url = dataflow.settings.url
        folder = (
            tempfile.gettempdir()
            if url.is_memory or not url.database
            else os.path.dirname(os.path.abspath(url.database))
        )
        self.path = os.path.join(folder, f"{self.name}.db")

    def source_schema(self) -> str | None:
        return None  # the copy is another file: the original is out of reach

    def location(self) -> str:
        return self.path

    def staging_url(self) -> str:
        return "sqlite:///" + quote(self.path, safe="/\\:")

    def src(self, table: str) -> str:
        return f"main.{self.q(table)}"

    async def build(self, plan: _Plan, sample_rows: int) -> tuple[dict[str, int], dict[str, str]]:
        skipped: dict[str, str] = {}
        adapter = self.dataflow._adapter
        async with adapter.acquire() as conn:
            objects = [tuple(map(str, row)) for row in await conn.fetch(self._OBJECTS)]
        if os.path.exists(self.path):
            raise MigrationError(
                f"the staging file {self.path!r} exists already; nothing was changed",
                code="DF-MIGRATION-STAGING-EXISTS",
                details={"path": self.path},
            )
        staging = self.open_staging()
        self.created = True
        async with staging._adapter.acquire() as target:
            for kind, name, _, sql in objects:
                if kind == "table" and name in plan.tables:
                    await target.execute(sql)
        async with adapter.acquire() as conn:
            await conn.execute(f"ATTACH DATABASE ? AS {self.q(self.name)}", (self.path,))
            try:  # no transaction: it would lock the original for writers meanwhile
                rows = await self.sample(conn, plan, sample_rows)
            finally:
                await conn.execute(f"DETACH DATABASE {self.q(self.name)}")
        async with staging._adapter.acquire() as target:
            for kind, _, table, sql in objects:
                if kind == "index" and table in plan.tables:
                    await target.execute(sql)
            views = [
                (
                    f"view {name}",
                    sql,
                    f"SELECT 1 FROM {self.q(name)} WHERE 1 = 0",
                    f"DROP VIEW {self.q(name)}",
                )
                for kind, name, _, sql in objects
                if kind == "view"
            ]
            await _create_views(target, views, skipped, savepoints=False)
            # A trigger of a database file reaches only that file: safe to copy. After the
            # sample, so that it does not fire while the copy is filled.
            for kind, name, table, sql in objects:
                if kind == "trigger" and table in plan.tables:
                    try:
                        await target.execute(sql)
                    except DataFlowError as exc:
                        skipped[f"trigger {table}.{name}"] = (
                            f"could not be re-created in the copy: {exc.message}"
                        )
        return rows, skipped

    async def drop(self) -> None:
        await self.close_staging()
        if self.created:
            for suffix in ("", "-wal", "-shm", "-journal"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(self.path + suffix)


_DATABASES: dict[str, type[_Database]] = {
    "postgresql": _Postgres,
    "mysql": _MySQL,
    "sqlite": _SQLite,
}


def database_of(dataflow: DataFlow) -> _Database:
    """The per-database behaviour for ``dataflow`` (shared with the checkpoint manager)."""
    return _DATABASES[dataflow.dialect.name](dataflow)


def _names_a_database(body: str, databases: set[str]) -> str | None:
    """Why a MySQL trigger body would reach another database, or None."""
    from sqlglot.errors import TokenError

    from ._ddl import _reader

    try:
        tokens = _reader("mysql").dialect.tokenize(body)
    except TokenError:
        return "its body could not be read to check which databases it names"
    for i, token in enumerate(tokens[:-1]):
        if token.text.lower() in databases and tokens[i + 1].text == ".":
            return f"its body names the database {token.text!r}, outside the copy"
    return None


async def _create_views(
    conn: Connection,
    views: Sequence[tuple[str, str, str, str]],
    skipped: dict[str, str],
    *,
    savepoints: bool,
) -> None:
    """Create views in rounds until no more can be (a view over a view waits for it).

    Each item is (label, create, probe, drop): a view that cannot be made, or made but
    not read (it reads a table that was not copied), is dropped and listed in ``skipped``.
    """
    pending = list(views)
    while pending:
        failed: list[tuple[tuple[str, str, str, str], str]] = []
        for item in pending:
            _, create, probe, drop = item
            try:
                if savepoints:  # PostgreSQL: a failed statement spoils the transaction
                    async with conn.transaction():
                        await conn.execute(create)
                        await conn.fetch(probe)
                else:
                    await conn.execute(create)
                    try:
                        await conn.fetch(probe)
                    except DataFlowError:
                        await conn.execute(drop)
                        raise
            except DataFlowError as exc:
                failed.append((item, exc.message))
        if len(failed) == len(pending):
            for (label, _, _, _), reason in failed:
                skipped[label] = f"could not be re-created in the copy: {reason}"
            return
        pending = [item for item, _ in failed]


async def _drop_through(database: _Database, sql: str) -> None:
    """Run the drop through the original's DataFlow, or the copy's when the original is
    closed; then close the copy's."""
    try:
        if not database.dataflow.closed:
            async with database.dataflow._adapter.acquire() as conn:
                await conn.execute(sql)
        else:
            staging = database.open_staging()
            async with staging._adapter.acquire() as conn:
                await conn.execute(sql)
    finally:
        await database.close_staging()


def _url(url: DatabaseURL, database: str | None, query: dict[str, str]) -> str:
    """A URL string for the same server and credentials, another database / query."""
    auth = ""
    if url.username:
        auth = quote(url.username, safe="")
        if url.password is not None:
            auth += ":" + quote(url.password, safe="")
        auth += "@"
    host = f"[{url.host}]" if url.host and ":" in url.host else (url.host or "")
    port = f":{url.port}" if url.port else ""
    path = quote(database or "", safe="")
    return f"{url.raw_scheme}://{auth}{host}{port}/{path}" + (
        f"?{urlencode(query)}" if query else ""
    )


# -- the plan: which tables, in which order ------------------------------------------------


@dataclass
class _Plan:
    """The tables to copy and the order to fill them in.

    Attributes:
        tables: name -> TableInfo, every table to copy.
        schema: the original's schema as discovery reports it.
        groups: strongly connected components of the foreign-key graph, parents first.
    """

    tables: dict[str, TableInfo]
    schema: str | None
    groups: list[list[str]] = field(default_factory=list)

    def inside(self, fk: ForeignKeyInfo) -> bool:
        """The key references a table of the copy."""
        return fk.ref_schema in (None, self.schema) and fk.ref_table in self.tables

    def foreign_keys(self, info: TableInfo) -> list[ForeignKeyInfo]:
        return [fk for fk in info.foreign_keys if self.inside(fk)]

    def cyclic(self, group: Sequence[str]) -> bool:
        if len(group) > 1:
            return True
        return any(fk.ref_table == group[0] for fk in self.foreign_keys(self.tables[group[0]]))


def plan_copy(infos: Iterable[TableInfo], wanted: Sequence[str] | None) -> _Plan:
    """The tables to copy (``wanted`` and, transitively, the tables their foreign keys
    reference) ordered parents first.

    Raises:
        SchemaError: ``DF-SCHEMA-TABLE-MISSING`` for a wanted name that is no table.
    """
    everything = {i.name: i for i in infos if i.kind == "table" and i.name not in INTERNAL_TABLES}
    schema = next((i.schema for i in everything.values()), None)
    probe = _Plan(everything, schema)
    if wanted is None:
        chosen = set(everything)
    else:
        missing = [n for n in wanted if n not in everything]
        if missing:
            raise SchemaError(
                f"no table named {', '.join(map(repr, missing))} to copy to staging",
                code="DF-SCHEMA-TABLE-MISSING",
                details={"tables": missing},
            )
        chosen, todo = set(), list(wanted)
        while todo:
            name = todo.pop()
            if name not in chosen:
                chosen.add(name)
                todo += [fk.ref_table for fk in probe.foreign_keys(everything[name])]
    plan = _Plan({n: everything[n] for n in sorted(chosen)}, schema)
    edges = {
        n: sorted({fk.ref_table for fk in plan.foreign_keys(i)}) for n, i in plan.tables.items()
    }
    plan.groups = components(edges)
    return plan


def components(edges: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components of a graph (Tarjan, iterative), each sorted; a
    component comes after every component it has an edge to. With edges child -> parent,
    parents come first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(edges[root]))]
        while work:
            node, following = work[-1]
            for nxt in following:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(edges.get(nxt, ()))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    out.append(sorted(group))
    return out


# -- the public classes ----------------------------------------------------------------------


class StagingEnvironment:
    """A copy of the schema with a referentially intact sample, made by
    :meth:`StagingEnvironmentManager.create_staging`; removed by :meth:`cleanup` or at the
    end of ``async with``.

    Attributes:
        name: ``dataflow_staging_<hex>``.
        dialect: ``"postgresql"``, ``"mysql"`` or ``"sqlite"``.
        location: the staging schema (PostgreSQL), database (MySQL) or file path (SQLite).
        dataflow: a :class:`~dataflow_engine.DataFlow` on the copy (closed by cleanup).
        tables: the copied tables, in the order they were filled (parents first).
        rows: table -> rows sampled into it (at most ``sample_rows``).
        skipped: what was not copied (``"trigger orders.audit"``, ``"view v"``, ...) ->
            why.
        sample_rows: the limit per table it was made with.
        seconds: how long making it took.
        closed: :meth:`cleanup` has run.

    Example::

        async with await StagingEnvironmentManager(db).create_staging() as staging:
            report = await staging.assess("ALTER TABLE orders ADD COLUMN note text")
            run = await staging.run("ALTER TABLE orders ADD COLUMN note text")
            run.ok, run.statements[0].seconds, run.diff.columns_added
    """

    def __init__(
        self,
        database: _Database,
        plan: _Plan,
        rows: dict[str, int],
        skipped: dict[str, str],
        sample_rows: int,
        seconds: float,
    ) -> None:
        self._database = database
        self.name = database.name
        self.dialect = database.dialect.name
        self.location = database.location()
        self.tables = tuple(name for group in plan.groups for name in group)
        self.rows = rows
        self.skipped = skipped
        self.sample_rows = sample_rows
        self.seconds = seconds
        self.closed = False

    def __repr__(self) -> str:
        state = "removed" if self.closed else f"{len(self.tables)} tables"
        return f"<StagingEnvironment {self.location!r} ({self.dialect}, {state})>"

    @property
    def dataflow(self) -> DataFlow:
        """A DataFlow on the copy (``existing_schema_mode`` off: DDL is what it is for)."""
        self._check_open()
        return self._database.open_staging()

    def _check_open(self) -> None:
        if self.closed:
            raise MigrationError(
                f"the staging environment {self.name!r} was cleaned up; create a new one",
                code="DF-MIGRATION-STAGING-CLOSED",
                details={"staging": self.name},
            )

    async def run(self, ddl: str, *, stop_on_error: bool = True, diff: bool = True) -> StagingRun:
        """Run a migration in the copy, one statement at a time, timing each.

        Unqualified names mean the copy's tables (PostgreSQL: ``search_path`` is the staging
        schema while it runs; MySQL: the staging database is the connection's; SQLite: the
        staging file). A statement that would reach the original is refused before
        anything runs: one naming the original schema or database (``public.orders``),
        changing ``search_path``, or ``USE`` / ``ATTACH``. This is a guard against
        mistakes, not a sandbox: the copy runs with the original connection's privileges.
        Each statement runs on its own (PostgreSQL: outside a transaction, so ``CREATE
        INDEX CONCURRENTLY`` can be rehearsed too).

        Args:
            ddl: one or more statements (DDL or DML), ``;``-separated.
            stop_on_error: stop at the first failure (the rest are ``not_run``); False
                runs every statement.
            diff: take a snapshot of the copy before and after, for :attr:`StagingRun.diff`.

        Returns:
            A :class:`StagingRun`: per-statement status, seconds, rows and captured error.

        Raises:
            MigrationError: ``DF-MIGRATION-STAGING-OUTSIDE`` (nothing was run);
                ``DF-MIGRATION-STAGING-CLOSED`` after cleanup; ``DF-MIGRATION-PARSE`` for
                text that cannot be tokenized.

        Example::

            run = await staging.run("ALTER TABLE orders ALTER COLUMN total TYPE bigint")
            if not run.ok:
                print(run.failed.sql, run.failed.error["message"])
        """
        from ._ddl import _reader

        self._check_open()
        if not isinstance(ddl, str):
            raise ValidationError(
                f"a migration must be SQL text, not {type(ddl).__name__}",
                details={"param": "ddl"},
            )
        parsed = [(s.sql, s.tokens) for s in _reader(self.dialect).statements(ddl)]
        return await _loop.run_async(self._run(parsed, stop_on_error, diff))

    async def _run(
        self, parsed: Sequence[tuple[str, Sequence[Any]]], stop_on_error: bool, diff: bool
    ) -> StagingRun:
        database, staging = self._database, self._database.open_staging()
        outcomes = [StatementOutcome(sql) for sql, _ in parsed]
        before: SchemaSnapshot | None = None
        async with staging._adapter.acquire() as conn:
            others = await database.other_schemas(conn)
            for number, (sql, tokens) in enumerate(parsed, 1):
                reason = database.escapes(tokens, others)
                if reason is not None:
                    raise MigrationError(
                        f"statement {number} would reach outside the staging copy ({reason}); "
                        "nothing was run. Write table names unqualified: in staging they mean "
                        "the copy's tables",
                        code="DF-MIGRATION-STAGING-OUTSIDE",
                        details={"statement": sql[:500], "number": number, "reason": reason},
                    )
            if diff:
                before = await capture_on(staging, conn)
            started = time.perf_counter()
            await database.resolve_in(conn, self.name, local=False)
            try:
                for outcome in outcomes:
                    ran = await run_one(conn, outcome, database.raw(outcome.sql))
                    if not ran and stop_on_error:
                        break
            finally:
                with contextlib.suppress(DataFlowError):
                    await database.reset(conn)
            seconds = time.perf_counter() - started
            changes = None
            if before is not None:
                changes = diff_snapshots(before, await capture_on(staging, conn))
        return StagingRun(outcomes, seconds, changes)

    async def assess(self, ddl: str, **options: Any) -> MigrationReport:
        """:func:`~dataflow_engine.migrations.assess` the migration against the copy.

        Args:
            ddl: the migration text (or operations).
            options: as for ``assess`` (``suppress``, ``in_transaction``).

        Returns:
            The :class:`~dataflow_engine.migrations.MigrationReport`, judged on the copy's
            facts (its sampled row counts, not the original's).

        Raises:
            MigrationError: as ``assess``; ``DF-MIGRATION-STAGING-CLOSED`` after cleanup.

        Example::

            report = await staging.assess("ALTER TABLE orders DROP COLUMN total")
            report.overall_risk_level
        """
        from ._risk import assess_async

        self._check_open()
        return await _loop.run_async(assess_async(ddl, self.dataflow, **options))

    async def snapshot(self, label: str | None = None) -> SchemaSnapshot:
        """A :class:`SchemaSnapshot` of the copy (compare it with the original's).

        Args:
            label: a name for the snapshot.

        Returns:
            The snapshot of the staging schema.

        Raises:
            MigrationError: ``DF-MIGRATION-STAGING-CLOSED`` after cleanup.

        Example::

            copy = await staging.snapshot()
            original = await SchemaStateManager(db).capture_snapshot()
            copy == original  # the structure was copied faithfully
        """
        self._check_open()
        staging = self.dataflow

        async def capture() -> SchemaSnapshot:
            async with staging._adapter.acquire() as conn:
                return await capture_on(staging, conn, label)

        return await _loop.run_async(capture())

    async def cleanup(self) -> None:
        """Remove the copy: drop the schema (PostgreSQL) or database (MySQL), or delete the
        file and its journal files (SQLite), and close :attr:`dataflow`. Idempotent.

        Raises:
            DatabaseError: the drop failed (the environment counts as cleaned up anyway;
                the name to drop by hand is in the message's details).

        Example::

            await staging.cleanup()
        """
        if self.closed:
            return
        self.closed = True
        await _loop.run_async(self._database.drop())

    async def __aenter__(self) -> StagingEnvironment:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.cleanup()


class StagingEnvironmentManager:
    """Makes staging copies of a database's schema with a referentially intact sample.

    The copy is made next to the original: a schema ``dataflow_staging_<hex>`` in the same
    PostgreSQL database, a database of that name on the same MySQL server, or a file of that
    name in the SQLite file's folder (the temporary folder for ``sqlite://``). Making it is
    DDL: refused under ``existing_schema_mode`` (``MigrationError``
    ``DF-MIGRATION-DDL-REFUSED``) and ``read_only`` (``DF-MIGRATION-READ-ONLY``). See the
    module documentation for how the sample is taken.

    Args:
        dataflow: the original database.

    Example::

        manager = StagingEnvironmentManager(db)
        async with await manager.create_staging(["orders"], sample_rows=500) as staging:
            staging.tables   # ('customers', 'orders'): parents come along
            staging.rows     # {'customers': 500, 'orders': 480}
            run = await staging.run(migration_sql)
    """

    def __init__(self, dataflow: DataFlow) -> None:
        self.dataflow = dataflow

    async def create_staging(
        self, tables: Sequence[str] | None = None, *, sample_rows: int = 1000
    ) -> StagingEnvironment:
        """Copy the schema and a sample of the data.

        Args:
            tables: the tables to copy (exact names); the tables their foreign keys
                reference come along, transitively. None copies every table (the engine's
                own tables left out).
            sample_rows: at most this many rows per table (0 copies the structure only).

        Returns:
            The :class:`StagingEnvironment`; clean it up (or use ``async with``).

        Raises:
            MigrationError: ``DF-MIGRATION-DDL-REFUSED`` (``existing_schema_mode``),
                ``DF-MIGRATION-READ-ONLY`` (``read_only``), ``DF-MIGRATION-STAGING-EXISTS``.
            SchemaError: ``DF-SCHEMA-TABLE-MISSING`` for a name that is no table.
            ValidationError: ``tables`` is a string, or ``sample_rows`` is not an integer
                >= 0.
            DatabaseError: the copy failed; what was made of it is removed first.

        Example::

            staging = await manager.create_staging(sample_rows=1000)
            try:
                ...
            finally:
                await staging.cleanup()
        """
        if isinstance(tables, str) or (
            tables is not None and not all(isinstance(t, str) for t in tables)
        ):
            raise ValidationError(
                f"tables must be a list of table names, not {tables!r}",
                details={"param": "tables"},
            )
        if not isinstance(sample_rows, int) or isinstance(sample_rows, bool) or sample_rows < 0:
            raise ValidationError(
                f"sample_rows must be an integer >= 0, got {sample_rows!r}",
                details={"param": "sample_rows"},
            )
        self.dataflow._check_open()
        refuse_ddl(self.dataflow, "making a staging copy")
        wanted = None if tables is None else list(tables)
        return await _loop.run_async(self._create(wanted, sample_rows))

    async def _create(self, tables: list[str] | None, sample_rows: int) -> StagingEnvironment:
        started = time.perf_counter()
        database = database_of(self.dataflow)
        adapter = self.dataflow._adapter
        async with adapter.acquire() as conn:
            infos = await adapter.discover(conn, self.dataflow.dialect.schema, None)
        plan = plan_copy(infos, tables)
        try:
            rows, skipped = await database.build(plan, sample_rows)
            database.open_staging()
        except BaseException:
            with contextlib.suppress(Exception):
                await database.drop()
            raise
        seconds = time.perf_counter() - started
        return StagingEnvironment(database, plan, rows, skipped, sample_rows, seconds)


def refuse_ddl(dataflow: DataFlow, what: str) -> None:
    """Raise the MigrationError that says this DataFlow may not run DDL.

    Raises:
        MigrationError: ``DF-MIGRATION-READ-ONLY`` or ``DF-MIGRATION-DDL-REFUSED``.
    """
    settings = dataflow.settings
    if settings.read_only:
        raise MigrationError(
            f"{what} writes to the database, and this DataFlow is read_only: use a DataFlow "
            "opened without read_only",
            code="DF-MIGRATION-READ-ONLY",
            details={"reason": "read_only"},
        )
    if settings.existing_schema_mode:
        raise MigrationError(
            f"{what} runs DDL, and this DataFlow is in existing_schema_mode, which forbids "
            "it: use a DataFlow opened with existing_schema_mode=False (and the privileges "
            "to create schemas)",
            code="DF-MIGRATION-DDL-REFUSED",
            details={"reason": "existing_schema_mode"},
        )
