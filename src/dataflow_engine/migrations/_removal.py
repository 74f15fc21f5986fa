"""Dropping a column safely: :class:`ColumnRemovalManager` (DESIGN §9).

A column is removed in seven stages (:class:`RemovalStage`), planned from the live
catalogs before anything runs:

1. BACKUP: the column's values, with the primary key, are copied into a backup table
   ``_dataflow_backup_<table>_<column>_<UTC timestamp>`` (shortened with a hash where the
   database limits names: 63 bytes on PostgreSQL, 64 characters on MySQL).
2. DEPENDENTS: views that read the column (and the views built on them) and triggers
   whose text mentions it are dropped, their definitions remembered.
3. CONSTRAINTS: foreign keys, checks and unique constraints involving the column are
   dropped (remembered).
4. INDEXES: indexes on the column, in an expression or in a partial index's WHERE, are
   dropped (remembered).
5. COLUMN: the column is dropped. SQLite's ``ALTER TABLE DROP COLUMN`` (3.35+) refuses
   a column in a UNIQUE or FOREIGN KEY constraint or a table CHECK: then the table is
   rebuilt (renamed aside, created again from its own ``CREATE TABLE`` text without the
   column and those constraints, copied, its other indexes and triggers recreated).
6. CLEANUP: what the caller gave replacement SQL for is created; a view that was dropped
   only because it reads a dropped view, and does not read the column itself, is
   recreated from its definition once everything it reads exists again. Views and
   triggers that use the column are *not* recreated without a replacement: they are
   reported as lost. The backup table is kept (``keep_backup=False`` drops it as the very
   last statement, after VALIDATION).
7. VALIDATION: the column is gone, every other column is exactly as before (name, type,
   nullability, default, order), the row count is unchanged, and every object CLEANUP
   (or a SQLite rebuild) created exists.

If anything fails, an injected failure included, the schema and the data are left exactly
as they were:

- PostgreSQL and SQLite: DDL is transactional there, so all seven stages run in one
  transaction, which is rolled back. PostgreSQL takes ``ACCESS EXCLUSIVE`` on the table
  first (readers and writers wait until the end); SQLite holds its write lock
  (``BEGIN IMMEDIATE``) and rebuilds with ``foreign_keys`` off and
  ``legacy_alter_table`` on, checking ``foreign_key_check`` before it commits.
- MySQL / MariaDB: every DDL statement commits by itself. Each statement that ran is undone
  by compensating statements, in reverse order: the column is re-added from its exact
  ``SHOW CREATE TABLE`` definition at its position (``AFTER``), its values restored from
  the backup table by primary key, then indexes, constraints, triggers (in their original
  order, with their ``sql_mode``) and views are recreated from ``SHOW CREATE ...``, and the
  backup table is dropped. What cannot be guaranteed there: rows a concurrent writer
  inserts between the backup and a rollback get the column's default instead of a value
  (the backup has none for them), a concurrent update of the column in that window is
  overwritten by the backed-up value, and readers see the intermediate states; the
  restored column's values go through an ``UPDATE``, during which the table's UPDATE
  triggers are dropped and recreated so they do not fire. Recreated views and triggers
  keep their ``DEFINER``: recreating one defined by another user needs ``SET USER`` /
  ``SUPER``. If a compensating statement fails, the rest still run and the backup table
  is kept (``DF-MIGRATION-REMOVAL-ROLLBACK-FAILED`` says what is left).

Refused, with ``DF-MIGRATION-REMOVAL-UNSUPPORTED``: a column of the primary key, a table
without one (values are restored by key), a column other tables' foreign keys reference
(dropping it would silently drop their constraints), on SQLite a column another column's
CHECK or generated expression uses and tables of attached databases, on MySQL tables of
another database than the URL's.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import re
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from .. import _loop
from ..dialects.mysql import MySQLDialect
from ..discovery._sqlite import _closing, _dequote, _is, _items, _parse_index, _tokenize, _word
from ..errors import MigrationError
from ._facts import TableFacts, as_text, gather_facts, mentions, tables_read_by

if TYPE_CHECKING:
    from .._dataflow import DataFlow
    from ..adapters import Connection

__all__ = [
    "ColumnRemovalManager",
    "DependentObject",
    "RemovalPlan",
    "RemovalResult",
    "RemovalStage",
    "RemovalStep",
    "StagePlan",
    "backup_table_name",
]

T = TypeVar("T")

#: (schema, name) of a view or table, in the spelling its dialect compares.
Key = tuple[str | None, str]
#: (kind, schema, name, table) of an object VALIDATION checks exists.
Expected = tuple[str, str | None, str, str | None]

BACKUP_PREFIX = "_dataflow_backup_"
REBUILD_PREFIX = "_dataflow_rebuild_"


class RemovalStage(enum.StrEnum):
    """The seven stages of a column removal, in the order they run."""

    BACKUP = "backup"
    DEPENDENTS = "dependents"
    CONSTRAINTS = "constraints"
    INDEXES = "indexes"
    COLUMN = "column"
    CLEANUP = "cleanup"
    VALIDATION = "validation"


@dataclass(frozen=True)
class RemovalStep:
    """One statement of a stage.

    Attributes:
        sql: the statement.
        undo: the compensating statements that undo it, run in order if a later step
            fails (MySQL / MariaDB only; empty where the stages share one transaction).
    """

    sql: str
    undo: tuple[str, ...] = ()


@dataclass(frozen=True)
class StagePlan:
    """What one stage will do.

    Attributes:
        stage: the stage.
        steps: its statements, in order (VALIDATION has none: it reads).
        description: what the stage does here, in words.
    """

    stage: RemovalStage
    steps: tuple[RemovalStep, ...]
    description: str

    @property
    def statements(self) -> tuple[str, ...]:
        """The statements, without their undo."""
        return tuple(step.sql for step in self.steps)


@dataclass(frozen=True)
class DependentObject:
    """A view, trigger, constraint or index the removal drops.

    Attributes:
        kind: ``"view"``, ``"materialized_view"``, ``"trigger"``, ``"foreign_key"``,
            ``"check"``, ``"unique"``, ``"exclusion"`` or ``"index"``.
        name: its name (an unnamed SQLite constraint: its text); a view in another schema
            than the table is ``"schema.name"``.
        table: the table a trigger, constraint or index belongs to (None for a view).
        definition: the SQL that creates it as it was.
        uses_column: it reads or mentions the column (else it was dropped because it
            reads a dropped view).
        outcome: ``"lost"`` (dropped for good), ``"recreated"`` (from ``definition``, in
            CLEANUP) or ``"replaced"`` (by the caller's ``replacement``).
        replacement: the caller's SQL that replaces it, or None.
    """

    kind: str
    name: str
    table: str | None
    definition: str
    uses_column: bool
    outcome: str
    replacement: str | None = None


@dataclass(frozen=True)
class RemovalPlan:
    """What :meth:`ColumnRemovalManager.execute_safe_removal` will do, read from the live
    database by :meth:`ColumnRemovalManager.plan_column_removal`.

    Attributes:
        table: the table, as the database spells it; ``schema`` its schema or database
            (None for SQLite's main database).
        column: the column removed.
        dialect: ``"postgresql"``, ``"mysql"`` or ``"sqlite"``.
        column_type, nullable, default: the column as it is (the catalog's spelling).
        primary_key: the key the backup is keyed by.
        rows: the table's rows when planned (``rows_exact``: counted, else estimated).
        backup_table: the backup table's name (in the table's schema).
        backup_drop: the statement ``keep_backup=False`` runs last.
        transactional: every stage runs in one transaction (PostgreSQL, SQLite); False
            on MySQL / MariaDB, where failures are undone by each step's ``undo``.
        table_rebuild: SQLite rebuilds the table instead of ``ALTER TABLE DROP COLUMN``.
        stages: the seven stages with their statements.
        objects: every view, trigger, constraint and index dropped, with its outcome.
        lost: what will be gone afterwards, in words.
        expected_objects: (kind, schema, name, table) of what VALIDATION checks exists.
        replacements: the caller's ``{name: SQL}``, as pairs.
        requested: the table name as the caller gave it.
        notes: anything else worth knowing before running it.
    """

    table: str
    schema: str | None
    column: str
    dialect: str
    column_type: str
    nullable: bool
    default: str | None
    primary_key: tuple[str, ...]
    rows: int
    rows_exact: bool
    backup_table: str
    backup_drop: str
    transactional: bool
    table_rebuild: bool
    stages: tuple[StagePlan, ...]
    objects: tuple[DependentObject, ...]
    lost: tuple[str, ...]
    expected_objects: tuple[Expected, ...]
    replacements: tuple[tuple[str, str], ...]
    requested: str
    notes: tuple[str, ...] = ()

    def stage(self, stage: RemovalStage) -> StagePlan:
        """The plan of one stage."""
        return next(s for s in self.stages if s.stage is stage)

    @property
    def statements(self) -> tuple[str, ...]:
        """Every statement, in the order they run (the backup's drop left out)."""
        return tuple(sql for s in self.stages for sql in s.statements)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly description (for reports, the MCP server, the CLI)."""
        return {
            "table": self.table,
            "schema": self.schema,
            "column": self.column,
            "dialect": self.dialect,
            "column_type": self.column_type,
            "nullable": self.nullable,
            "default": self.default,
            "primary_key": list(self.primary_key),
            "rows": self.rows,
            "rows_exact": self.rows_exact,
            "backup_table": self.backup_table,
            "transactional": self.transactional,
            "table_rebuild": self.table_rebuild,
            "stages": [
                {
                    "stage": s.stage.value,
                    "description": s.description,
                    "statements": list(s.statements),
                    "undo": [list(step.undo) for step in s.steps],
                }
                for s in self.stages
            ],
            "objects": [
                {
                    "kind": o.kind,
                    "name": o.name,
                    "table": o.table,
                    "definition": o.definition,
                    "uses_column": o.uses_column,
                    "outcome": o.outcome,
                }
                for o in self.objects
            ],
            "lost": list(self.lost),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class RemovalResult:
    """A column removal that completed (a failed one raises instead).

    Attributes:
        plan: the plan that ran.
        backup_table: the backup table holding the values, or None when
            ``keep_backup=False`` dropped it.
        rows: the table's rows during the removal (also the rows backed up).
        stages_completed: every stage, in order.
        lost: the objects dropped for good (``outcome == "lost"``).
        recreated: the objects recreated or replaced in CLEANUP.
        seconds: how long the stages took.
    """

    plan: RemovalPlan
    backup_table: str | None
    rows: int
    stages_completed: tuple[RemovalStage, ...]
    lost: tuple[DependentObject, ...]
    recreated: tuple[DependentObject, ...]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly description."""
        return {
            "table": self.plan.table,
            "column": self.plan.column,
            "backup_table": self.backup_table,
            "rows": self.rows,
            "stages_completed": [s.value for s in self.stages_completed],
            "lost": [f"{o.kind} {o.name}" for o in self.lost],
            "recreated": [f"{o.kind} {o.name}" for o in self.recreated],
            "seconds": round(self.seconds, 3),
        }


# -- pure helpers ------------------------------------------------------------------------


def backup_table_name(
    table: str, column: str, when: datetime, *, limit: int, length: Callable[[str], int] = len
) -> str:
    """The backup table's name: ``_dataflow_backup_<table>_<column>_<YYYYmmddHHMMSS>``,
    or, when that is longer than ``limit``, the readable part shortened and followed by
    the first 8 hex digits of ``sha1("<table>.<column>")``.

    Args:
        table, column: the column removed.
        when: the time in the name (UTC).
        limit: the database's longest identifier.
        length: how the database measures a name (bytes of UTF-8 on PostgreSQL).

    Returns:
        A name of at most ``limit``.

    Example::

        backup_table_name("items", "qty", datetime(2025, 1, 2, tzinfo=UTC), limit=63)
        # '_dataflow_backup_items_qty_20250102000000'
    """
    stamp = when.strftime("%Y%m%d%H%M%S")
    name = f"{BACKUP_PREFIX}{table}_{column}_{stamp}"
    if length(name) <= limit:
        return name
    digest = hashlib.sha1(f"{table}.{column}".encode()).hexdigest()[:8]
    tail = f"_{digest}_{stamp}"
    stem = f"{table}_{column}"
    while stem and length(f"{BACKUP_PREFIX}{stem}{tail}") > limit:
        stem = stem[:-1]
    return f"{BACKUP_PREFIX}{stem}{tail}"


def query_uses_column(sql: str, read: str, create: bool, table: str, column: str) -> bool:
    """Whether a view's query reads ``column`` of ``table`` (names compared in any case).

    Parsed with sqlglot: a column reference of that name, qualified by the table or one
    of its aliases, or unqualified in a query that reads the table, counts (conservative:
    an unqualified name in a join counts too). ``SELECT *`` does not: the view keeps
    working. Text that sqlglot cannot parse falls back to a text search for both names.

    Args:
        sql: the ``CREATE VIEW`` statement (``create``) or the bare query.
        read: the sqlglot dialect.
        create: ``sql`` is a CREATE statement.
        table, column: what is looked for.
    """
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    def fallback() -> bool:
        return mentions(sql, table) and mentions(sql, column)

    try:
        tree = sqlglot.parse_one(sql, read=read)
    except SqlglotError:
        return fallback()
    query = tree.expression if create else tree
    if not isinstance(query, exp.Query):
        return fallback()
    wanted = table.lower()
    aliases = {
        t.alias_or_name.lower() for t in query.find_all(exp.Table) if t.name.lower() == wanted
    }
    if not aliases:
        return False
    return any(
        ref.name.lower() == column.lower() and (not ref.table or ref.table.lower() in aliases)
        for ref in query.find_all(exp.Column)
    )


def trigger_uses_column(text: str, on_table: bool, table: str, column: str) -> bool:
    """A trigger of the table whose text mentions the column, or a trigger of another
    table whose text mentions both (a text search: conservative)."""
    if not mentions(text, column):
        return False
    return on_table or mentions(text, table)


@dataclass
class _View:
    key: Key
    label: str  # the name reported: qualified when in another schema than the table
    kind: str
    uses_column: bool
    reads: frozenset[Key]
    drop: str = ""
    create: str = ""


def drop_order(views: Sequence[_View]) -> list[_View]:
    """The views to drop, readers before what they read: those that use the column and,
    transitively, every view reading one of them.

    Args:
        views: the candidates, with what each reads.
    """
    dropped = {v.key for v in views if v.uses_column}
    grew = True
    while grew:
        grew = False
        for view in views:
            if view.key not in dropped and view.reads & dropped:
                dropped.add(view.key)
                grew = True
    chosen = sorted(
        (v for v in views if v.key in dropped), key=lambda v: (v.key[0] or "", v.key[1])
    )
    readers = {v.key: [r for r in chosen if v.key in r.reads and r.key != v.key] for v in chosen}
    order: list[_View] = []
    seen: set[Key] = set()

    def visit(view: _View) -> None:
        if view.key in seen:
            return
        seen.add(view.key)
        for reader in readers[view.key]:
            visit(reader)
        order.append(view)

    for view in chosen:
        visit(view)
    return order


# -- what each database does -------------------------------------------------------------


@dataclass
class _Object:
    """A trigger, constraint or index to drop."""

    kind: str
    name: str
    table: str | None
    drop: str
    create: str
    on_table: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Catalog:
    """What a dialect read about the table, the column and what depends on it."""

    views: list[_View] = field(default_factory=list)
    triggers: list[_Object] = field(default_factory=list)  # the ones using the column
    constraints: list[_Object] = field(default_factory=list)
    lost_with_column: list[_Object] = field(default_factory=list)  # go with the column
    indexes: list[_Object] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Target:
    """The column being removed, and where."""

    facts: TableFacts
    schema: str | None
    table: str
    column: str
    primary_key: tuple[str, ...]
    backup: str


@dataclass
class _Run:
    """The state of one execution."""

    stage: RemovalStage = RemovalStage.BACKUP
    before: list[tuple[Any, ...]] | None = None
    rows: int = 0
    done: list[tuple[RemovalStage, RemovalStep]] = field(default_factory=list)
    completed: list[RemovalStage] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def _unsupported(message: str, **details: Any) -> MigrationError:
    return MigrationError(message, code="DF-MIGRATION-REMOVAL-UNSUPPORTED", details=details)


class _Strategy:
    """How one database reads the catalogs and spells the statements; subclasses override
    what differs."""

    transactional: ClassVar[bool] = True
    #: the sqlglot dialect its view definitions are read with
    read: ClassVar[str] = ""
    #: column names compare in any case
    fold_columns: ClassVar[bool] = False

    def __init__(self, dataflow: DataFlow) -> None:
        self.dataflow = dataflow
        self.dialect = dataflow.dialect

    # names

    def quote(self, name: str) -> str:
        return self.dialect.quote(name)

    def qualified(self, schema: str | None, name: str) -> str:
        quoted = self.quote(name)
        return quoted if schema is None else f"{self.quote(schema)}.{quoted}"

    def name_limit(self) -> int:
        return self.dialect.max_identifier_length

    def raw(self, sql: str) -> str:
        """A plan statement as the driver must receive it (without parameters)."""
        return sql

    def step(self, sql: str, *undo: str) -> RemovalStep:
        return RemovalStep(sql, undo if not self.transactional else ())

    # reading

    async def catalog(self, conn: Connection, target: _Target) -> _Catalog:
        raise NotImplementedError

    async def view_definitions(self, conn: Connection, views: Sequence[_View]) -> None:
        """Fill ``drop`` and ``create`` of the views to drop."""

    async def columns(self, conn: Connection, target: _Target) -> list[tuple[Any, ...]]:
        """The table's columns, in order: (name, and everything that defines it)."""
        raise NotImplementedError

    async def count(self, conn: Connection, target: _Target, table: str) -> int:
        rows = await conn.fetch(f"SELECT COUNT(*) FROM {self.qualified(target.schema, table)}")
        return int(rows[0][0])

    async def exists(self, conn: Connection, expected: Expected) -> bool:
        raise NotImplementedError

    # statements

    def lock_steps(self, target: _Target) -> list[RemovalStep]:
        return []

    def drop_trigger_steps(
        self, target: _Target, catalog: _Catalog, triggers: Sequence[_Object]
    ) -> list[RemovalStep]:
        return [self.step(t.drop, t.create) for t in triggers]

    def column_steps(
        self, target: _Target, catalog: _Catalog, dropped: Sequence[_Object]
    ) -> tuple[list[RemovalStep], list[Expected], bool]:
        """The COLUMN stage, the objects it recreates, and whether it is a rebuild."""
        table = self.qualified(target.schema, target.table)
        return (
            [self.step(f"ALTER TABLE {table} DROP COLUMN {self.quote(target.column)}")],
            [],
            False,
        )

    # execution hooks

    @asynccontextmanager
    async def session(self, conn: Connection, plan: RemovalPlan, run: _Run) -> AsyncIterator[None]:
        """Connection settings around the stages."""
        yield

    async def after_column(self, conn: Connection, plan: RemovalPlan, run: _Run) -> None:
        """Checks right after the COLUMN stage."""


# -- PostgreSQL ------------------------------------------------------------------------------

_PG_TARGET_SQL = """
SELECT c.oid, a.attnum
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = $3 AND NOT a.attisdropped
WHERE n.nspname = $1 AND c.relname = $2
"""

# The views whose rules read the column (pg_depend records the column), then every view
# over them, each with what it reads.
_PG_VIEWS_SQL = """
WITH RECURSIVE direct(viewid) AS (
    SELECT DISTINCT r.ev_class
    FROM pg_catalog.pg_depend d
    JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid
    WHERE d.classid = 'pg_catalog.pg_rewrite'::regclass
      AND d.refclassid = 'pg_catalog.pg_class'::regclass
      AND d.refobjid = $1 AND d.refobjsubid = $2::int AND r.ev_class <> $1
), closure(viewid) AS (
    SELECT viewid FROM direct
  UNION
    SELECT r.ev_class
    FROM closure
    JOIN pg_catalog.pg_depend d
      ON d.refobjid = closure.viewid
     AND d.classid = 'pg_catalog.pg_rewrite'::regclass
     AND d.refclassid = 'pg_catalog.pg_class'::regclass
    JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid
    WHERE r.ev_class <> closure.viewid
)
SELECT c.oid, n.nspname::text, c.relname::text, c.relkind::text,
       pg_catalog.pg_get_viewdef(c.oid), c.reloptions::text[],
       c.oid IN (SELECT viewid FROM direct),
       ARRAY(
         SELECT DISTINCT d.refobjid::bigint
         FROM pg_catalog.pg_rewrite r
         JOIN pg_catalog.pg_depend d
           ON d.objid = r.oid
          AND d.classid = 'pg_catalog.pg_rewrite'::regclass
          AND d.refclassid = 'pg_catalog.pg_class'::regclass
         WHERE r.ev_class = c.oid AND d.refobjid <> c.oid
       )
FROM closure
JOIN pg_catalog.pg_class c ON c.oid = closure.viewid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
"""

# Triggers of the table, and of the other tables of its schema; the text searched is the
# trigger's definition (UPDATE OF, WHEN) and its function's source.
_PG_TRIGGERS_SQL = """
SELECT t.tgname::text, c.relname::text, pg_catalog.pg_get_triggerdef(t.oid), p.prosrc,
       t.tgrelid = $1
FROM pg_catalog.pg_trigger t
JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid
WHERE NOT t.tgisinternal AND c.relkind IN ('r', 'p') AND (t.tgrelid = $1 OR n.nspname = $2)
ORDER BY t.tgname
"""

_PG_CONSTRAINTS_SQL = """
SELECT con.conname::text, con.contype::text, pg_catalog.pg_get_constraintdef(con.oid)
FROM pg_catalog.pg_constraint con
WHERE con.conrelid = $1 AND $2::int2 = ANY(con.conkey) AND con.contype IN ('u', 'f', 'c', 'x')
ORDER BY con.conname
"""

# Indexes of their own (not a constraint's) with the column as a key, in an expression or
# in the predicate.
_PG_INDEXES_SQL = """
SELECT ic.relname::text, pg_catalog.pg_get_indexdef(i.indexrelid)
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
WHERE i.indrelid = $1
  AND NOT EXISTS (
    SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = $1
  )
  AND ($2::int2 = ANY(i.indkey::int2[]) OR EXISTS (
    SELECT 1 FROM pg_catalog.pg_depend d
    WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = i.indexrelid
      AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = $1
      AND d.refobjsubid = $2::int
  ))
ORDER BY ic.relname
"""

_PG_COLUMNS_SQL = """
SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), a.attidentity::text,
       a.attgenerated::text, a.attcollation
FROM pg_catalog.pg_attribute a
LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

_PG_CONSTRAINT_KINDS = {"u": "unique", "f": "foreign_key", "c": "check", "x": "exclusion"}


class _PostgresRemoval(_Strategy):
    def lock_steps(self, target: _Target) -> list[RemovalStep]:
        table = self.qualified(target.schema, target.table)
        return [RemovalStep(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")]

    async def catalog(self, conn: Connection, target: _Target) -> _Catalog:
        schema = target.schema or "public"
        rows = await conn.fetch(_PG_TARGET_SQL, (schema, target.table, target.column))
        if not rows:  # pragma: no cover - the facts just said it exists
            raise MigrationError(
                f"{target.table}.{target.column} disappeared while planning",
                code="DF-MIGRATION-REMOVAL-NOT-FOUND",
            )
        oid, attnum = int(rows[0][0]), int(rows[0][1])
        table = self.qualified(schema, target.table)
        found = _Catalog()
        view_rows = await conn.fetch(_PG_VIEWS_SQL, (oid, attnum))
        keys = {int(r[0]): (str(r[1]), str(r[2])) for r in view_rows}
        for _, nspname, relname, relkind, definition, options, direct, reads in view_rows:
            kind = "materialized_view" if relkind == "m" else "view"
            name = self.qualified(nspname, relname)
            body = str(definition).strip().rstrip(";")
            with_options = f" WITH ({', '.join(options)})" if options else ""
            if kind == "view":
                create = f"CREATE VIEW {name}{with_options} AS\n{body}"
                drop = f"DROP VIEW {name}"
            else:
                create = f"CREATE MATERIALIZED VIEW {name}{with_options} AS\n{body}\nWITH DATA"
                drop = f"DROP MATERIALIZED VIEW {name}"
            found.views.append(
                _View(
                    key=(nspname, relname),
                    label=relname if nspname == schema else f"{nspname}.{relname}",
                    kind=kind,
                    uses_column=bool(direct),
                    reads=frozenset(keys[int(r)] for r in reads if int(r) in keys),
                    drop=drop,
                    create=create,
                )
            )
        for name, on, definition, source, on_table in await conn.fetch(
            _PG_TRIGGERS_SQL, (oid, schema)
        ):
            text = f"{definition}\n{source or ''}"
            if trigger_uses_column(text, bool(on_table), target.table, target.column):
                found.triggers.append(
                    _Object(
                        "trigger",
                        name,
                        on,
                        f"DROP TRIGGER {self.quote(name)} ON {self.qualified(schema, on)}",
                        str(definition),
                        on_table=bool(on_table),
                    )
                )
                if not on_table or not mentions(str(definition), target.column):
                    found.notes.append(
                        f"trigger {name} on {on}: its function mentions {target.column}; the "
                        "trigger is dropped, the function is left as it is"
                    )
        for name, contype, definition in await conn.fetch(_PG_CONSTRAINTS_SQL, (oid, attnum)):
            found.constraints.append(
                _Object(
                    _PG_CONSTRAINT_KINDS[contype],
                    name,
                    target.table,
                    f"ALTER TABLE {table} DROP CONSTRAINT {self.quote(name)}",
                    f"ALTER TABLE {table} ADD CONSTRAINT {self.quote(name)} {definition}",
                )
            )
        for name, definition in await conn.fetch(_PG_INDEXES_SQL, (oid, attnum)):
            found.indexes.append(
                _Object(
                    "index",
                    name,
                    target.table,
                    f"DROP INDEX {self.qualified(schema, name)}",
                    str(definition),
                )
            )
        if any(v.kind == "materialized_view" for v in found.views):
            found.notes.append(
                "a materialized view that is recreated gets its data again but not its "
                "indexes, grants or comments"
            )
        return found

    async def columns(self, conn: Connection, target: _Target) -> list[tuple[Any, ...]]:
        table = self.qualified(target.schema or "public", target.table)
        return [tuple(r) for r in await conn.fetch(_PG_COLUMNS_SQL, (table,))]

    async def exists(self, conn: Connection, expected: Expected) -> bool:
        kind, schema, name, table = expected
        if kind == "trigger":
            rows = await conn.fetch(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger "
                "WHERE tgname = $1 AND tgrelid = to_regclass($2))",
                (name, self.qualified(schema or "public", table or "")),
            )
        else:
            rows = await conn.fetch(
                "SELECT to_regclass($1) IS NOT NULL", (self.qualified(schema or "public", name),)
            )
        return bool(rows[0][0])


# -- MySQL / MariaDB -------------------------------------------------------------------------

_MY_IDENT = r"`((?:[^`]|``)+)`"
_MY_COLUMN = re.compile(rf"^{_MY_IDENT}\s")
_MY_KEY = re.compile(rf"^(?:(?:UNIQUE|FULLTEXT|SPATIAL)\s+)?(?:KEY|INDEX)\s+{_MY_IDENT}\s*(.*)$")
_MY_FOREIGN = re.compile(rf"^CONSTRAINT\s+{_MY_IDENT}\s+FOREIGN KEY\s*\((.*?)\)\s*REFERENCES\b")
_MY_CHECK = re.compile(rf"^CONSTRAINT\s+{_MY_IDENT}\s+CHECK\s*(.*)$")
_MY_INLINE_CHECK = re.compile(r"\bCHECK\s*\(", re.IGNORECASE)
_MY_ON_UPDATE = re.compile(r"\bON UPDATE\b", re.IGNORECASE)

_MY_VIEWS_SQL = """
SELECT TABLE_SCHEMA, TABLE_NAME, VIEW_DEFINITION
FROM information_schema.VIEWS
WHERE TABLE_SCHEMA NOT IN ('information_schema', 'mysql', 'performance_schema', 'sys')
"""

_MY_TRIGGERS_SQL = """
SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER,
       ACTION_STATEMENT, SQL_MODE
FROM information_schema.TRIGGERS
WHERE TRIGGER_SCHEMA = %s
ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER
"""

_MY_COLUMNS_SQL = """
SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, COLLATION_NAME,
       COLUMN_COMMENT, GENERATION_EXPRESSION
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s
ORDER BY ORDINAL_POSITION
"""


def _unquote_mysql(name: str) -> str:
    return name.replace("``", "`")


def create_table_lines(text: str) -> list[str]:
    """The definitions of a MySQL ``SHOW CREATE TABLE`` statement, one per line (the server
    prints each column, key and constraint on a line of its own)."""
    body = text[text.index("(\n") + 2 : text.rindex("\n)")]
    return [line.strip().rstrip(",") for line in body.split("\n") if line.strip()]


class _MySQLRemoval(_Strategy):
    transactional = False
    read = "mysql"
    fold_columns = True

    def raw(self, sql: str) -> str:
        # The adapter always formats statements with parameters: a literal % is doubled.
        return sql.replace("%", "%%")

    def _mariadb(self) -> bool:
        return isinstance(self.dialect, MySQLDialect) and self.dialect.mariadb

    async def catalog(self, conn: Connection, target: _Target) -> _Catalog:
        database, mode = (await conn.fetch("SELECT DATABASE(), @@SESSION.sql_mode"))[0]
        if target.schema != as_text(database):
            raise _unsupported(
                f"{target.schema}.{target.table} is in another database than this DataFlow's "
                f"({as_text(database)}): open a DataFlow on {target.schema} to remove its "
                "columns (its views and triggers are recreated in the connection's database)",
                table=target.table,
                schema=target.schema,
            )
        session_mode = as_text(mode)
        table = self.qualified(target.schema, target.table)
        found = _Catalog(extra={"sql_mode": session_mode})
        show = await conn.fetch(f"SHOW CREATE TABLE {table}")
        lines = create_table_lines(as_text(show[0][1]))
        columns: list[tuple[str, str]] = []
        for line in lines:
            match = _MY_COLUMN.match(line)
            if match:
                columns.append((_unquote_mysql(match.group(1)), line))
        names = [name for name, _ in columns]
        position = next(i for i, n in enumerate(names) if n.lower() == target.column.lower())
        found.extra["column_line"] = columns[position][1]
        found.extra["after"] = names[position - 1] if position else None
        found.extra["on_update"] = [
            n for n, line in columns if n != names[position] and _MY_ON_UPDATE.search(line)
        ]
        column_line = columns[position][1]
        if _MY_INLINE_CHECK.search(column_line):
            found.lost_with_column.append(
                _Object("check", target.column, target.table, "", column_line)
            )
        for line in lines:
            index = _MY_KEY.match(line)
            foreign = _MY_FOREIGN.match(line)
            check = _MY_CHECK.match(line)
            if index and mentions(index.group(2), target.column):
                name = _unquote_mysql(index.group(1))
                found.indexes.append(
                    _Object(
                        "index",
                        name,
                        target.table,
                        f"ALTER TABLE {table} DROP INDEX {self.quote(name)}",
                        f"ALTER TABLE {table} ADD {line}",
                    )
                )
            elif foreign and mentions(foreign.group(2), target.column):
                name = _unquote_mysql(foreign.group(1))
                found.constraints.append(
                    _Object(
                        "foreign_key",
                        name,
                        target.table,
                        f"ALTER TABLE {table} DROP FOREIGN KEY {self.quote(name)}",
                        f"ALTER TABLE {table} ADD {line}",
                    )
                )
            elif check and mentions(check.group(2), target.column):
                name = _unquote_mysql(check.group(1))
                verb = "CONSTRAINT" if self._mariadb() else "CHECK"
                found.constraints.append(
                    _Object(
                        "check",
                        name,
                        target.table,
                        f"ALTER TABLE {table} DROP {verb} {self.quote(name)}",
                        f"ALTER TABLE {table} ADD {line}",
                    )
                )
        own = (target.schema or "", target.table)
        for schema, name, definition in await conn.fetch(_MY_VIEWS_SQL):
            key = (as_text(schema), as_text(name))
            text = as_text(definition or "")
            read = tables_read_by(text, "mysql", create=False)
            if read is None:
                reads = frozenset([own] if mentions(text, target.table) else [])
            else:
                reads = frozenset((db or key[0], t) for db, t in read)
            found.views.append(
                _View(
                    key=key,
                    label=key[1] if key[0] == target.schema else f"{key[0]}.{key[1]}",
                    kind="view",
                    uses_column=own in reads
                    and query_uses_column(text, "mysql", False, target.table, target.column),
                    reads=reads,
                )
            )
        rows = [
            tuple(as_text(v) if isinstance(v, bytes | bytearray) else v for v in r)
            for r in await conn.fetch(_MY_TRIGGERS_SQL, (target.schema,))
        ]
        uses = {
            str(r[0])
            for r in rows
            if trigger_uses_column(str(r[5]), r[1] == target.table, target.table, target.column)
        }
        # Every trigger of a (table, timing, event) group that holds one of the table's
        # triggers or one that is dropped: recreating one means recreating its group in
        # order, since MySQL fires a group in creation order.
        groups = {(r[1], r[2], r[3]) for r in rows if r[1] == target.table or r[0] in uses}
        triggers: list[_Object] = []
        for name, on, timing, event, order, _, sql_mode in rows:
            if (on, timing, event) not in groups:
                continue
            qualified = self.qualified(target.schema, str(name))
            shown = await conn.fetch(f"SHOW CREATE TRIGGER {qualified}")
            triggers.append(
                _Object(
                    "trigger",
                    str(name),
                    str(on),
                    f"DROP TRIGGER {qualified}",
                    as_text(shown[0][2]),
                    on_table=on == target.table,
                    extra={
                        "group": (str(on), str(timing), str(event)),
                        "order": int(order),
                        "sql_mode": str(sql_mode),
                    },
                )
            )
        found.triggers = [t for t in triggers if t.name in uses]
        found.extra["triggers"] = triggers
        found.extra["schema"] = target.schema
        return found

    async def view_definitions(self, conn: Connection, views: Sequence[_View]) -> None:
        for view in views:
            name = self.qualified(view.key[0], view.key[1])
            view.drop = f"DROP VIEW {name}"
            view.create = as_text((await conn.fetch(f"SHOW CREATE VIEW {name}"))[0][1])

    def _group(self, catalog: _Catalog, group: tuple[str, str, str]) -> list[_Object]:
        """The triggers of a (table, timing, event) group, in the order they fire."""
        return sorted(
            (t for t in catalog.extra["triggers"] if t.extra["group"] == group),
            key=lambda t: t.extra["order"],
        )

    def _drop_all(self, catalog: _Catalog, triggers: Iterable[_Object]) -> list[str]:
        schema = catalog.extra["schema"]
        return [f"DROP TRIGGER IF EXISTS {self.qualified(schema, t.name)}" for t in triggers]

    def _create_all(self, catalog: _Catalog, triggers: Iterable[_Object]) -> list[str]:
        """CREATE TRIGGER statements, each under the ``sql_mode`` it was created with."""
        session_mode = catalog.extra["sql_mode"]
        statements = []
        for trigger in triggers:
            mode = trigger.extra["sql_mode"]
            if mode == session_mode:
                statements.append(trigger.create)
            else:
                statements += [
                    f"SET SESSION sql_mode = '{mode}'",
                    trigger.create,
                    f"SET SESSION sql_mode = '{session_mode}'",
                ]
        return statements

    def drop_trigger_steps(
        self, target: _Target, catalog: _Catalog, triggers: Sequence[_Object]
    ) -> list[RemovalStep]:
        steps = []
        for i, trigger in enumerate(triggers):
            # Undone, this step leaves the group as it was before it: every member but
            # those dropped by earlier steps, recreated in their original order.
            earlier = {t.name for t in triggers[:i]}
            present = [
                t for t in self._group(catalog, trigger.extra["group"]) if t.name not in earlier
            ]
            undo = self._drop_all(catalog, present) + self._create_all(catalog, present)
            steps.append(RemovalStep(trigger.drop, tuple(undo)))
        return steps

    def column_steps(
        self, target: _Target, catalog: _Catalog, dropped: Sequence[_Object]
    ) -> tuple[list[RemovalStep], list[Expected], bool]:
        table = self.qualified(target.schema, target.table)
        backup = self.qualified(target.schema, target.backup)
        column = self.quote(target.column)
        after = catalog.extra["after"]
        position = "FIRST" if after is None else f"AFTER {self.quote(after)}"
        on = " AND ".join(f"t.{self.quote(k)} = b.{self.quote(k)}" for k in target.primary_key)
        sets = [f"t.{column} = b.{column}"] + [
            f"t.{self.quote(c)} = t.{self.quote(c)}" for c in catalog.extra["on_update"]
        ]
        # The table's UPDATE triggers still there must not fire while values are restored.
        gone = {t.name for t in dropped}
        firing = sorted(
            (
                t
                for t in catalog.extra["triggers"]
                if t.on_table and t.extra["group"][2] == "UPDATE" and t.name not in gone
            ),
            key=lambda t: (t.extra["group"], t.extra["order"]),
        )
        undo = [
            *self._drop_all(catalog, firing),
            f"ALTER TABLE {table} ADD COLUMN {catalog.extra['column_line']} {position}",
            f"UPDATE {table} AS t JOIN {backup} AS b ON {on} SET {', '.join(sets)}",
            *self._create_all(catalog, firing),
        ]
        drop = f"ALTER TABLE {table} DROP COLUMN {column}"
        return [RemovalStep(drop, tuple(undo))], [], False

    async def columns(self, conn: Connection, target: _Target) -> list[tuple[Any, ...]]:
        rows = await conn.fetch(_MY_COLUMNS_SQL, (target.schema, target.table))
        return [
            tuple(as_text(v) if isinstance(v, bytes | bytearray) else v for v in r) for r in rows
        ]

    async def exists(self, conn: Connection, expected: Expected) -> bool:
        kind, schema, name, table = expected
        if kind == "trigger":
            sql = (
                "SELECT COUNT(*) FROM information_schema.TRIGGERS "
                "WHERE TRIGGER_SCHEMA = %s AND TRIGGER_NAME = %s"
            )
            params: tuple[Any, ...] = (schema, name)
        elif kind == "index":
            sql = (
                "SELECT COUNT(*) FROM information_schema.STATISTICS "
                "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND INDEX_NAME = %s"
            )
            params = (schema, table, name)
        else:
            sql = (
                "SELECT COUNT(*) FROM information_schema.VIEWS "
                "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s"
            )
            params = (schema, name)
        return int((await conn.fetch(sql, params))[0][0]) > 0


# -- SQLite ----------------------------------------------------------------------------------

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_SQLITE_KEYWORD = {"unique": "UNIQUE", "foreign_key": "REFERENCES", "check": "CHECK"}
_FOREIGN_COLUMNS = re.compile(r"\bFOREIGN\s+KEY\s*\(([^)]*)\)", re.IGNORECASE)


def _fold(name: str) -> str:
    return name.translate(_ASCII_LOWER)


@dataclass(frozen=True)
class TableItem:
    """One comma-separated part of a ``CREATE TABLE`` body.

    Attributes:
        column: the column it defines, or None for a table constraint.
        text: its text; ``start``/``end``: where it is in the statement.
        words: its keywords (upper case), outside strings and quoted names.
        expressions: the text inside its ``CHECK (...)`` and ``AS (...)``.
    """

    column: str | None
    text: str
    start: int
    end: int
    words: frozenset[str]
    expressions: tuple[str, ...]


def table_items(sql: str) -> tuple[list[TableItem], bool]:
    """The columns and table constraints of an SQLite ``CREATE TABLE`` statement.

    Returns:
        The items in order, and whether the table is ``WITHOUT ROWID``.
    """
    tokens, _ = _tokenize(sql)
    body = next(i for i, t in enumerate(tokens) if t.kind == "punct" and t.text == "(")
    pairs = _closing(tokens)
    close = pairs[body]
    items = []
    for lo, hi in _items(tokens, pairs, body + 1, close):
        first, second = _word(tokens, lo), _word(tokens, lo + 1)
        constraint = (
            first == "CONSTRAINT"
            or (first in ("PRIMARY", "FOREIGN") and second == "KEY")
            or (first in ("UNIQUE", "CHECK") and _is(tokens, lo + 1, "("))
        )
        words = frozenset(w for i in range(lo, hi) if (w := _word(tokens, i)))
        expressions = tuple(
            sql[tokens[i + 1].end : tokens[pairs[i + 1]].start].strip()
            for i in range(lo, hi - 1)
            if _word(tokens, i) in ("CHECK", "AS") and _is(tokens, i + 1, "(")
        )
        items.append(
            TableItem(
                column=None if constraint else _dequote(tokens[lo]),
                text=sql[tokens[lo].start : tokens[hi - 1].end],
                start=tokens[lo].start,
                end=tokens[hi - 1].end,
                words=words,
                expressions=expressions,
            )
        )
    tail = {_word(tokens, i) for i in range(close + 1, len(tokens))}
    return items, "ROWID" in tail


def without_items(sql: str, items: Sequence[TableItem], drop: Sequence[TableItem]) -> str:
    """``sql`` with the items ``drop`` cut out, everything else kept as written: an item
    goes with the text up to the next item (its comma and comments), or, for the last
    items, from the end of the last kept one."""
    removed = {id(i) for i in drop}
    keep = [i for i, item in enumerate(items) if id(item) not in removed]
    cuts: list[tuple[int, int]] = []
    last_kept = keep[-1]
    for i, item in enumerate(items):
        if id(item) not in removed:
            continue
        if i < last_kept:
            cuts.append((item.start, items[i + 1].start))
        elif i == last_kept + 1:
            cuts.append((items[last_kept].end, items[-1].end))
    for start, end in sorted(cuts, reverse=True):
        sql = sql[:start] + sql[end:]
    return sql


class _SQLiteRemoval(_Strategy):
    read = "sqlite"
    fold_columns = True

    def qualified(self, schema: str | None, name: str) -> str:
        return self.quote(name)

    async def catalog(self, conn: Connection, target: _Target) -> _Catalog:
        if target.schema not in (None, "main"):
            raise _unsupported(
                f"{target.schema}.{target.table} is in an attached database; remove columns "
                "of tables in the main database (open a DataFlow on that file)",
                table=target.table,
                schema=target.schema,
            )
        version = str((await conn.fetch("SELECT sqlite_version()"))[0][0])
        rows = [
            (str(k), str(n), str(t), None if s is None else str(s))
            for k, n, t, s in await conn.fetch(
                "SELECT type, name, tbl_name, sql FROM main.sqlite_schema"
            )
        ]
        own = _fold(target.table)
        column = target.column
        table_sql = next(s for k, n, _, s in rows if k == "table" and _fold(n) == own)
        assert table_sql is not None
        items, without_rowid = table_items(table_sql)
        found = _Catalog(extra={"items": items, "table_sql": table_sql})
        found.extra["without_rowid"] = without_rowid
        found.extra["version"] = tuple(int(p) for p in version.split(".")[:3])
        rebuild_items: list[TableItem] = []
        for item in items:
            if item.column is not None and _fold(item.column) == _fold(column):
                found.extra["column_item"] = item
                kinds = []
                if "UNIQUE" in item.words:
                    kinds.append("unique")
                if "REFERENCES" in item.words:
                    kinds.append("foreign_key")
                if kinds:
                    rebuild_items.append(item)
                if "CHECK" in item.words:
                    kinds.append("check")
                for kind in kinds:
                    label = f"{item.column} {_SQLITE_KEYWORD[kind]}"  # unnamed in SQLite
                    found.lost_with_column.append(_Object(kind, label, target.table, "", item.text))
            elif item.column is not None:
                if any(mentions(e, column) for e in item.expressions):
                    raise _unsupported(
                        f"the definition of {target.table}.{item.column} uses {column} "
                        f"({item.text}): change or drop {item.column} first",
                        table=target.table,
                        column=column,
                        other=item.column,
                    )
            else:
                local = _FOREIGN_COLUMNS.search(item.text)
                text = local.group(1) if local and "FOREIGN" in item.words else item.text
                if not mentions(text, column):
                    continue
                rebuild_items.append(item)
                kind = (
                    "foreign_key"
                    if "FOREIGN" in item.words
                    else "unique"
                    if "UNIQUE" in item.words
                    else "check"
                )
                name = item.text
                if item.words and item.text.split(None, 2)[0].upper() == "CONSTRAINT":
                    tokens, _ = _tokenize(item.text)
                    name = _dequote(tokens[1])
                found.constraints.append(_Object(kind, name, target.table, "", item.text))
        found.extra["rebuild_items"] = rebuild_items
        for kind, name, on, sql in rows:
            if kind == "view" and sql is not None:
                read = tables_read_by(sql, "sqlite", create=True)
                if read is None:
                    names = [n for k, n, _, _ in rows if k in ("table", "view")]
                    reads = frozenset((None, _fold(n)) for n in names if mentions(sql, n))
                else:
                    reads = frozenset((None, _fold(t)) for _, t in read)
                found.views.append(
                    _View(
                        key=(None, _fold(name)),
                        label=name,
                        kind="view",
                        uses_column=(None, own) in reads
                        and query_uses_column(sql, "sqlite", True, target.table, column),
                        reads=reads,
                        drop=f"DROP VIEW {self.quote(name)}",
                        create=sql,
                    )
                )
            elif kind == "trigger" and sql is not None:
                on_table = _fold(on) == own
                trigger = _Object(
                    "trigger", name, on, f"DROP TRIGGER {self.quote(name)}", sql, on_table
                )
                if trigger_uses_column(sql, on_table, target.table, column):
                    found.triggers.append(trigger)
                elif on_table:
                    found.extra.setdefault("kept_triggers", []).append(trigger)
            elif kind == "index" and sql is not None and _fold(on) == own:
                parsed = _parse_index(sql)
                index = _Object("index", name, on, f"DROP INDEX {self.quote(name)}", sql)
                if any(mentions(p, column) for p in parsed.parts) or (
                    parsed.where is not None and mentions(parsed.where, column)
                ):
                    found.indexes.append(index)
                else:
                    found.extra.setdefault("kept_indexes", []).append(index)
        found.extra["copy"] = [
            str(r[1])
            for r in await conn.fetch(f"PRAGMA main.table_xinfo({self.quote(target.table)})")
            if int(r[6]) == 0 and _fold(str(r[1])) != _fold(column)
        ]
        return found

    def column_steps(
        self, target: _Target, catalog: _Catalog, dropped: Sequence[_Object]
    ) -> tuple[list[RemovalStep], list[Expected], bool]:
        rebuild = catalog.extra["rebuild_items"] or catalog.extra["version"] < (3, 35, 0)
        if not rebuild:
            return super().column_steps(target, catalog, dropped)
        table = self.quote(target.table)
        aside = self.quote(REBUILD_PREFIX + target.table)
        items: list[TableItem] = catalog.extra["items"]
        created = without_items(
            catalog.extra["table_sql"],
            items,
            [catalog.extra["column_item"], *catalog.extra["rebuild_items"]],
        )
        columns = [self.quote(c) for c in catalog.extra["copy"]]
        key = target.facts.columns[target.primary_key[0]]
        if not catalog.extra["without_rowid"] and not (
            len(target.primary_key) == 1 and key.auto_increment
        ):
            columns.insert(0, "rowid")  # rowids are kept, as ALTER TABLE would
        listed = ", ".join(columns)
        steps = [
            RemovalStep(f"ALTER TABLE {table} RENAME TO {aside}"),
            RemovalStep(created),
            RemovalStep(f"INSERT INTO {table} ({listed}) SELECT {listed} FROM {aside}"),
        ]
        if "AUTOINCREMENT" in {w.upper() for i in items for w in i.words}:
            literal = self.dialect.string_literal
            steps += [
                RemovalStep(f"DELETE FROM sqlite_sequence WHERE name = {literal(target.table)}"),
                RemovalStep(
                    f"INSERT INTO sqlite_sequence (name, seq) SELECT {literal(target.table)}, seq "
                    f"FROM sqlite_sequence WHERE name = {literal(REBUILD_PREFIX + target.table)}"
                ),
            ]
        steps.append(RemovalStep(f"DROP TABLE {aside}"))
        expected: list[Expected] = []
        for index in catalog.extra.get("kept_indexes", []):
            steps.append(RemovalStep(index.create))
            expected.append(("index", None, index.name, target.table))
        gone = {t.name for t in dropped}
        for trigger in catalog.extra.get("kept_triggers", []):
            if trigger.name not in gone:
                steps.append(RemovalStep(trigger.create))
                expected.append(("trigger", None, trigger.name, target.table))
        return steps, expected, True

    @asynccontextmanager
    async def session(self, conn: Connection, plan: RemovalPlan, run: _Run) -> AsyncIterator[None]:
        if not plan.table_rebuild:
            yield
            return
        # PRAGMA foreign_keys cannot change inside a transaction: set around it. Off, the
        # rename and drop leave other tables' keys alone; legacy_alter_table keeps the
        # rename from rewriting views, triggers and other tables' REFERENCES clauses.
        keys = (await conn.fetch("PRAGMA foreign_keys"))[0][0]
        legacy = (await conn.fetch("PRAGMA legacy_alter_table"))[0][0]
        await conn.execute("PRAGMA foreign_keys = OFF")
        await conn.execute("PRAGMA legacy_alter_table = ON")
        try:
            run.extra["violations"] = {
                tuple(r) for r in await conn.fetch("PRAGMA foreign_key_check")
            }
            yield
        finally:
            await conn.execute(f"PRAGMA legacy_alter_table = {'ON' if legacy else 'OFF'}")
            await conn.execute(f"PRAGMA foreign_keys = {'ON' if keys else 'OFF'}")

    async def after_column(self, conn: Connection, plan: RemovalPlan, run: _Run) -> None:
        if not plan.table_rebuild:
            return
        now = {tuple(r) for r in await conn.fetch("PRAGMA foreign_key_check")}
        new = sorted(now - run.extra["violations"], key=repr)
        if new:
            raise MigrationError(
                f"the rebuilt {plan.table} breaks foreign keys: {new[:5]}",
                code="DF-MIGRATION-REMOVAL-VALIDATION",
                details={"violations": [list(map(str, v)) for v in new[:20]]},
            )

    async def columns(self, conn: Connection, target: _Target) -> list[tuple[Any, ...]]:
        rows = await conn.fetch(f"PRAGMA main.table_xinfo({self.quote(target.table)})")
        return [tuple(r)[1:] for r in rows]

    async def exists(self, conn: Connection, expected: Expected) -> bool:
        kind, _, name, _ = expected
        rows = await conn.fetch(
            "SELECT COUNT(*) FROM main.sqlite_schema WHERE type = ? AND name = ? COLLATE NOCASE",
            (kind, name),
        )
        return int(rows[0][0]) > 0


_STRATEGIES: dict[str, type[_Strategy]] = {
    "postgresql": _PostgresRemoval,
    "mysql": _MySQLRemoval,
    "sqlite": _SQLiteRemoval,
}


async def _shielded(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to the end even when the caller is cancelled meanwhile (compensating
    statements must not stop half way); the cancellation is passed on afterwards."""
    task = asyncio.ensure_future(coro)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.done():
                raise
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return result


# -- the manager -------------------------------------------------------------------------------


class ColumnRemovalManager:
    """Remove a column in seven stages, with a backup, and leave everything as it was if
    any stage fails.

    Plan first (:meth:`plan_column_removal` reads the live catalogs and returns every
    statement and what will be lost), then run the plan (:meth:`execute_safe_removal`).
    PostgreSQL and SQLite run all stages in one transaction; MySQL / MariaDB undo a
    failure with compensating statements (see the module documentation for what that
    cannot guarantee under concurrent writes).

    Args:
        dataflow: the database; it must allow DDL (not ``existing_schema_mode``, not
            ``read_only``).

    Raises:
        MigrationError: ``DF-MIGRATION-DDL-REFUSED`` when the DataFlow refuses DDL.

    Example::

        removal = ColumnRemovalManager(db)
        plan = await removal.plan_column_removal("items", "legacy_code")
        print(plan.lost)  # what goes, before anything runs
        result = await removal.execute_safe_removal(plan)
        result.backup_table  # '_dataflow_backup_items_legacy_code_20250102030405'
    """

    def __init__(self, dataflow: DataFlow) -> None:
        settings = dataflow.settings
        if settings.existing_schema_mode or settings.read_only:
            mode = "existing_schema_mode=True" if settings.existing_schema_mode else "read_only"
            raise MigrationError(
                f"ColumnRemovalManager changes the schema (it creates a backup table and "
                f"drops the column), and this DataFlow was opened with {mode}, which refuses "
                "that: use a DataFlow opened without it for the migration",
                code="DF-MIGRATION-DDL-REFUSED",
                details={
                    "existing_schema_mode": settings.existing_schema_mode,
                    "read_only": settings.read_only,
                },
            )
        strategy = _STRATEGIES.get(dataflow.dialect.name)
        if strategy is None:  # pragma: no cover - every dialect has one
            raise _unsupported(
                f"no column removal for the {dataflow.dialect.name} dialect",
                dialect=dataflow.dialect.name,
            )
        self.dataflow = dataflow
        self._strategy = strategy(dataflow)

    # -- public API ---------------------------------------------------------------------

    async def plan_column_removal(
        self, table: str, column: str, *, replacements: Mapping[str, str] | None = None
    ) -> RemovalPlan:
        """Plan the removal of ``table.column`` from the live database (reads only).

        Args:
            table: the table, optionally schema-qualified (as :func:`gather_facts` takes
                it).
            column: the column to remove.
            replacements: ``{name: SQL}`` for views or triggers the removal drops: the SQL
                (one statement creating an object of that name) runs in CLEANUP instead
                of losing it. A view in another schema is named ``"schema.name"``.

        Returns:
            The :class:`RemovalPlan`: every stage's statements, the objects dropped and
            their outcome, and what will be lost.

        Raises:
            MigrationError: ``DF-MIGRATION-REMOVAL-NOT-FOUND`` (no such table or column),
                ``DF-MIGRATION-REMOVAL-UNSUPPORTED`` (a primary-key column, a table without
                a primary key, a column other tables' foreign keys reference, and the
                per-database cases of the module documentation),
                ``DF-MIGRATION-REMOVAL-REPLACEMENT`` (a replacement for something that is
                not dropped).
            DatabaseError: the catalogs could not be read.

        Example::

            plan = await removal.plan_column_removal(
                "items",
                "category_id",
                replacements={"by_code": "CREATE VIEW by_code AS SELECT id, code FROM items"},
            )
            for stage in plan.stages:
                print(stage.stage, stage.statements)
        """
        self.dataflow._check_open()
        return await _loop.run_async(self._plan(table, column, dict(replacements or {})))

    async def execute_safe_removal(
        self,
        plan: RemovalPlan,
        *,
        keep_backup: bool = True,
        on_stage: Callable[[RemovalStage], None] | None = None,
    ) -> RemovalResult:
        """Run a plan: the seven stages, or none of them.

        The plan is checked against the live database first (planned again): a schema that
        changed since is refused rather than run blind.

        Args:
            plan: from :meth:`plan_column_removal`.
            keep_backup: keep the backup table (the default); False drops it as the last
                statement, after VALIDATION.
            on_stage: called with each stage when it has completed (progress, and the test
                hook: an exception raised there fails the removal at that point, which is
                then rolled back). It runs on the engine's event loop while the
                removal's connection (and, on PostgreSQL / SQLite, its transaction and
                locks) is held: it must be quick and must not use the database.

        Returns:
            The :class:`RemovalResult`.

        Raises:
            MigrationError: ``DF-MIGRATION-REMOVAL-STALE-PLAN`` (the database changed since
                the plan); ``DF-MIGRATION-REMOVAL-FAILED`` when a stage failed and
                everything was rolled back (``details["stage"]``, the cause chained);
                ``DF-MIGRATION-REMOVAL-ROLLBACK-FAILED`` (MySQL / MariaDB) when a
                compensating statement failed too (``details["failed"]``, the backup table
                is kept).

        Example::

            result = await removal.execute_safe_removal(plan, keep_backup=True)
            print(result.lost, result.backup_table)
        """
        self.dataflow._check_open()
        return await _loop.run_async(self._execute(plan, keep_backup, on_stage))

    # -- planning -------------------------------------------------------------------------

    async def _plan(
        self,
        table: str,
        column: str,
        replacements: dict[str, str],
        backup: str | None = None,
    ) -> RemovalPlan:
        s = self._strategy
        _, found = await gather_facts(self.dataflow, [table])
        facts = found[table]
        if not facts.exists or facts.kind != "table":
            what = "a view" if facts.exists else "no such table"
            raise MigrationError(
                f"cannot remove a column of {table!r}: {what}",
                code="DF-MIGRATION-REMOVAL-NOT-FOUND",
                details={"table": table},
            )
        name = self._column_name(facts, column)
        primary = tuple(c.name for c in facts.columns.values() if c.is_primary_key)
        self._check_removable(facts, name, primary)
        when = datetime.now(UTC)
        target = _Target(
            facts=facts,
            schema=facts.schema,
            table=facts.name,
            column=name,
            primary_key=primary,
            backup=backup
            or backup_table_name(
                facts.name, name, when, limit=s.name_limit(), length=s.dialect.identifier_length
            ),
        )
        async with self.dataflow._adapter.acquire() as conn:
            catalog = await s.catalog(conn, target)
            views = drop_order(catalog.views)
            await s.view_definitions(conn, views)
        return self._assemble(target, catalog, views, replacements, table)

    def _column_name(self, facts: TableFacts, column: str) -> str:
        if column in facts.columns:
            return column
        if self._strategy.fold_columns:
            same = [c for c in facts.columns if c.lower() == column.lower()]
            if len(same) == 1:
                return same[0]
        raise MigrationError(
            f"{facts.name} has no column {column!r}; its columns: {', '.join(facts.columns)}",
            code="DF-MIGRATION-REMOVAL-NOT-FOUND",
            details={"table": facts.name, "column": column, "columns": list(facts.columns)},
        )

    @staticmethod
    def _check_removable(facts: TableFacts, column: str, primary: tuple[str, ...]) -> None:
        if column in primary:
            raise _unsupported(
                f"{facts.name}.{column} is part of the primary key: removing it changes the "
                "table's identity; add a new key first, move the primary key to it, then "
                "remove the column",
                table=facts.name,
                column=column,
            )
        if not primary:
            raise _unsupported(
                f"{facts.name} has no primary key: the backup is keyed by it, and on MySQL "
                "a failed removal restores values by it; add a primary key first",
                table=facts.name,
                column=column,
            )
        if len(facts.columns) < 2:  # pragma: no cover - a key column always remains
            raise _unsupported(f"{column} is the only column of {facts.name}")
        referencing = [
            fk
            for fk in facts.foreign_keys_in
            if column in fk.ref_columns and fk.ref_table == facts.name
        ]
        if referencing:
            names = ", ".join(f"{fk.table}.{fk.name or '(unnamed)'}" for fk in referencing)
            raise _unsupported(
                f"{facts.name}.{column} is referenced by foreign keys of other tables "
                f"({names}); removing it would drop those constraints: drop or change them "
                "first",
                table=facts.name,
                column=column,
                foreign_keys=[f"{fk.table}.{fk.name}" for fk in referencing],
            )

    def _assemble(
        self,
        target: _Target,
        catalog: _Catalog,
        views: list[_View],
        replacements: dict[str, str],
        requested: str,
    ) -> RemovalPlan:
        s = self._strategy
        own = target.facts.columns[target.column]
        droppable = [v.label for v in views] + [t.name for t in catalog.triggers]
        for name, sql in replacements.items():
            if name not in droppable or not isinstance(sql, str) or not sql.strip():
                why = (
                    "its SQL must be a non-empty statement"
                    if name in droppable
                    else f"the removal drops no view or trigger named {name!r}"
                )
                raise MigrationError(
                    f"replacement for {name!r}: {why}; what is dropped: "
                    f"{', '.join(droppable) or 'nothing'}",
                    code="DF-MIGRATION-REMOVAL-REPLACEMENT",
                    details={"name": name, "droppable": droppable},
                )
        table = s.qualified(target.schema, target.table)
        backup = s.qualified(target.schema, target.backup)
        objects: list[DependentObject] = []
        cleanup: list[RemovalStep] = []
        expected: list[Expected] = []
        available: set[Key] = set()
        dropped_keys = {v.key for v in views}
        for view in reversed(views):  # what a view reads comes first
            replacement = replacements.get(view.label)
            if replacement is not None:
                outcome = "replaced"
            elif not view.uses_column and view.reads & dropped_keys <= available:
                outcome, replacement = "recreated", view.create
            else:
                outcome = "lost"
            if replacement is not None:
                available.add(view.key)
                cleanup.append(s.step(replacement, f"DROP VIEW IF EXISTS {s.qualified(*view.key)}"))
                expected.append(("view", view.key[0], view.key[1], None))
            objects.append(
                DependentObject(
                    view.kind,
                    view.label,
                    None,
                    view.create,
                    view.uses_column,
                    outcome,
                    replacements.get(view.label),
                )
            )
        objects.reverse()
        for trigger in catalog.triggers:
            replacement = replacements.get(trigger.name)
            if replacement is not None:
                drop = f"DROP TRIGGER IF EXISTS {s.qualified(target.schema, trigger.name)}"
                cleanup.append(s.step(replacement, drop))
                expected.append(("trigger", target.schema, trigger.name, trigger.table))
            objects.append(
                DependentObject(
                    "trigger",
                    trigger.name,
                    trigger.table,
                    trigger.create,
                    True,
                    "replaced" if replacement else "lost",
                    replacement,
                )
            )
        for item in [*catalog.constraints, *catalog.lost_with_column, *catalog.indexes]:
            objects.append(
                DependentObject(item.kind, item.name, item.table, item.create, True, "lost")
            )

        pk = ", ".join(s.quote(k) for k in target.primary_key)
        copied = ", ".join(s.quote(c) for c in [*target.primary_key, target.column])
        definitions = ", ".join(
            f"{s.quote(c)} {target.facts.columns[c].type}".rstrip()
            for c in [*target.primary_key, target.column]
        )
        drop_backup = f"DROP TABLE {backup}"
        backup_steps = [
            *s.lock_steps(target),
            s.step(
                f"CREATE TABLE {backup} ({definitions}, PRIMARY KEY ({pk}))",
                f"DROP TABLE IF EXISTS {backup}",
            ),
            RemovalStep(f"INSERT INTO {backup} ({copied}) SELECT {copied} FROM {table}"),
        ]
        view_steps = [s.step(v.drop, v.create) for v in views]
        trigger_steps = s.drop_trigger_steps(target, catalog, catalog.triggers)
        column_steps, rebuilt, rebuild = s.column_steps(target, catalog, catalog.triggers)
        expected += rebuilt
        where = f"{target.table}.{target.column}"
        stages = (
            StagePlan(
                RemovalStage.BACKUP,
                tuple(backup_steps),
                f"copy {', '.join(target.primary_key)} and {target.column} into {target.backup}",
            ),
            StagePlan(
                RemovalStage.DEPENDENTS,
                tuple(view_steps + trigger_steps),
                f"drop {len(views)} view(s) and {len(catalog.triggers)} trigger(s) using {where}",
            ),
            StagePlan(
                RemovalStage.CONSTRAINTS,
                tuple(s.step(c.drop, c.create) for c in catalog.constraints if c.drop),
                f"drop {len(catalog.constraints)} constraint(s) on {where}"
                + (" (with the table rebuild)" if rebuild and catalog.constraints else ""),
            ),
            StagePlan(
                RemovalStage.INDEXES,
                tuple(s.step(i.drop, i.create) for i in catalog.indexes),
                f"drop {len(catalog.indexes)} index(es) on {where}",
            ),
            StagePlan(
                RemovalStage.COLUMN,
                tuple(column_steps),
                f"rebuild {target.table} without {target.column}" if rebuild else f"drop {where}",
            ),
            StagePlan(
                RemovalStage.CLEANUP,
                tuple(cleanup),
                f"create {len(cleanup)} replaced or recreated object(s); keep {target.backup}",
            ),
            StagePlan(
                RemovalStage.VALIDATION,
                (),
                "check the column is gone, the other columns and the row count are unchanged "
                "and the recreated objects exist",
            ),
        )
        rows = target.facts.rows
        about = "" if target.facts.rows_exact else "about "
        lost = [
            f"the values of {where} ({about}{rows:,} rows; copied to {target.backup})",
            *(f"{o.kind} {o.name}" for o in objects if o.outcome == "lost"),
        ]
        return RemovalPlan(
            table=target.table,
            schema=target.schema,
            column=target.column,
            dialect=self.dataflow.dialect.name,
            column_type=own.type,
            nullable=own.nullable,
            default=own.default,
            primary_key=target.primary_key,
            rows=rows,
            rows_exact=target.facts.rows_exact,
            backup_table=target.backup,
            backup_drop=drop_backup,
            transactional=s.transactional,
            table_rebuild=rebuild,
            stages=stages,
            objects=tuple(objects),
            lost=tuple(lost),
            expected_objects=tuple(expected),
            replacements=tuple(sorted(replacements.items())),
            requested=requested,
            notes=tuple(catalog.notes),
        )

    # -- execution --------------------------------------------------------------------------

    async def _execute(
        self,
        plan: RemovalPlan,
        keep_backup: bool,
        on_stage: Callable[[RemovalStage], None] | None,
    ) -> RemovalResult:
        if not isinstance(plan, RemovalPlan):
            raise MigrationError(
                f"execute_safe_removal needs a RemovalPlan, not {type(plan).__name__}: "
                "get one from plan_column_removal",
                code="DF-MIGRATION-REMOVAL-PLAN",
            )
        fresh = await self._plan(
            plan.requested, plan.column, dict(plan.replacements), backup=plan.backup_table
        )
        if (fresh.stages, fresh.objects) != (plan.stages, plan.objects):
            raise MigrationError(
                f"the database changed since the removal of {plan.table}.{plan.column} was "
                "planned (its statements differ now): plan it again and review the new plan",
                code="DF-MIGRATION-REMOVAL-STALE-PLAN",
                details={"table": plan.table, "column": plan.column},
            )
        s = self._strategy
        run = _Run()
        target = _Target(
            facts=TableFacts(name=plan.table, schema=plan.schema, exists=True),
            schema=plan.schema,
            table=plan.table,
            column=plan.column,
            primary_key=plan.primary_key,
            backup=plan.backup_table,
        )
        started = time.monotonic()
        async with self.dataflow._adapter.acquire() as conn:
            try:
                if s.transactional:
                    async with s.session(conn, plan, run), conn.transaction():
                        await self._stages(conn, plan, target, run, on_stage)
                        if not keep_backup:
                            await conn.execute(plan.backup_drop)
                else:
                    try:
                        await self._stages(conn, plan, target, run, on_stage)
                        if not keep_backup:
                            await conn.execute(s.raw(plan.backup_drop))
                    except BaseException as exc:
                        await _shielded(self._compensate(conn, plan, target, run, exc))
                        raise
            except MigrationError as exc:
                if exc.code == "DF-MIGRATION-REMOVAL-ROLLBACK-FAILED":
                    raise
                raise self._failed(plan, run, exc) from exc
            except Exception as exc:
                raise self._failed(plan, run, exc) from exc
        return RemovalResult(
            plan=plan,
            backup_table=plan.backup_table if keep_backup else None,
            rows=run.rows,
            stages_completed=tuple(run.completed),
            lost=tuple(o for o in plan.objects if o.outcome == "lost"),
            recreated=tuple(o for o in plan.objects if o.outcome != "lost"),
            seconds=time.monotonic() - started,
        )

    def _failed(self, plan: RemovalPlan, run: _Run, exc: BaseException) -> MigrationError:
        how = "the transaction was rolled back" if plan.transactional else "it was undone"
        return MigrationError(
            f"removing {plan.table}.{plan.column} failed at the {run.stage.value} stage and "
            f"{how}: the schema and the data are as before. Cause: {exc}",
            code="DF-MIGRATION-REMOVAL-FAILED",
            details={
                "table": plan.table,
                "column": plan.column,
                "stage": run.stage.value,
                "stages_completed": [s.value for s in run.completed],
                "rolled_back": True,
                "how": "transaction" if plan.transactional else "compensation",
            },
        )

    async def _stages(
        self,
        conn: Connection,
        plan: RemovalPlan,
        target: _Target,
        run: _Run,
        on_stage: Callable[[RemovalStage], None] | None,
    ) -> None:
        s = self._strategy
        for stage_plan in plan.stages:
            run.stage = stage_plan.stage
            copied = None
            for step in stage_plan.steps:
                affected = await conn.execute(s.raw(step.sql))
                run.done.append((stage_plan.stage, step))
                if stage_plan.stage is RemovalStage.BACKUP and step.sql.startswith("INSERT"):
                    copied = affected
            if stage_plan.stage is RemovalStage.BACKUP:
                run.before = await s.columns(conn, target)
                run.rows = await s.count(conn, target, target.table)
                backed_up = await s.count(conn, target, target.backup)
                if (copied is not None and copied != run.rows) or backed_up != run.rows:
                    raise MigrationError(
                        f"the backup holds {backed_up} rows but {plan.table} has {run.rows} "
                        "(a concurrent writer?)",
                        code="DF-MIGRATION-REMOVAL-VALIDATION",
                        details={"backed_up": backed_up, "rows": run.rows},
                    )
            elif stage_plan.stage is RemovalStage.COLUMN:
                await s.after_column(conn, plan, run)
            elif stage_plan.stage is RemovalStage.VALIDATION:
                await self._validate(conn, plan, target, run)
            run.completed.append(stage_plan.stage)
            if on_stage is not None:
                on_stage(stage_plan.stage)

    async def _validate(
        self, conn: Connection, plan: RemovalPlan, target: _Target, run: _Run
    ) -> None:
        s = self._strategy
        after = await s.columns(conn, target)
        before = run.before or []
        problems = []
        if any(row[0] == plan.column for row in after):
            problems.append(f"{plan.column} is still there")
        expected = [row for row in before if row[0] != plan.column]
        if [r for r in after if r[0] != plan.column] != expected:
            problems.append(f"the other columns changed: {expected} became {after}")
        rows = await s.count(conn, target, target.table)
        if rows != run.rows:
            problems.append(f"{plan.table} has {rows} rows, it had {run.rows}")
        missing = [e for e in plan.expected_objects if not await s.exists(conn, e)]
        if missing:
            problems.append(
                "not created: " + ", ".join(f"{kind} {name}" for kind, _, name, _ in missing)
            )
        if problems:
            raise MigrationError(
                f"validation of the removal of {plan.table}.{plan.column} failed: "
                + "; ".join(problems),
                code="DF-MIGRATION-REMOVAL-VALIDATION",
                details={"problems": problems},
            )

    async def _compensate(
        self, conn: Connection, plan: RemovalPlan, target: _Target, run: _Run, cause: BaseException
    ) -> None:
        """Undo the steps that ran, last first (MySQL / MariaDB). The backup table goes
        last, and only when everything else was undone and the columns are as before."""
        s = self._strategy
        failed: list[dict[str, str]] = []

        async def undo(steps: Iterable[tuple[RemovalStage, RemovalStep]]) -> None:
            for _, step in steps:
                for sql in step.undo:
                    try:
                        await conn.execute(s.raw(sql))
                    except Exception as exc:  # keep going: undo as much as possible
                        failed.append({"statement": sql, "error": str(exc)})

        done = list(reversed(run.done))
        await undo(d for d in done if d[0] is not RemovalStage.BACKUP)
        if not failed and run.before is not None:
            now = await s.columns(conn, target)
            if now != run.before:
                failed.append(
                    {"statement": "(check)", "error": f"columns are {now}, were {run.before}"}
                )
        if not failed:
            await undo(d for d in done if d[0] is RemovalStage.BACKUP)
        if failed:
            kept = any(stage is RemovalStage.BACKUP for stage, _ in run.done)
            raise MigrationError(
                f"removing {plan.table}.{plan.column} failed at the {run.stage.value} stage "
                f"({cause}) and {len(failed)} compensating statement(s) failed too: "
                + "; ".join(f"{f['statement']}: {f['error']}" for f in failed[:3])
                + (
                    f". The values are still in {plan.backup_table}"
                    if kept
                    else ". Nothing had been backed up yet"
                )
                + "; see details['failed'] and restore by hand",
                code="DF-MIGRATION-REMOVAL-ROLLBACK-FAILED",
                details={
                    "table": plan.table,
                    "column": plan.column,
                    "stage": run.stage.value,
                    "failed": failed,
                    "backup_table": plan.backup_table if kept else None,
                },
            ) from cause
