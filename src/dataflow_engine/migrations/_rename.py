"""Renaming a table: everything that names it, what happens to each on this server, and a
plan that keeps old code working through a view while a deploy switches to the new name
(DESIGN §9).

What refers to a table by name, and what a rename does to it (``tests/migrations/
test_rename.py`` checks each against the servers):

=============================  ===================  ====================  =================
what                           PostgreSQL           MySQL / MariaDB       SQLite 3.26+
=============================  ===================  ====================  =================
foreign keys (both ways)       follow (by oid)      rewritten             rewritten
views reading it               follow (by oid)      break (error 1356)    rewritten
triggers on it                 move with it         move with it          move with it
triggers elsewhere naming it   (bodies are          break (error 1146)    rewritten
                               functions)
functions / procedures         break (bodies are    break                 (none)
                               text)
sequences owned by columns     follow, keep names   (none)                (none)
index / constraint names       keep the old name    keep it (``*_ibfk_N`` keep it
                                                    keys are renamed)
DataFlow models naming it      break                break                 break
=============================  ===================  ====================  =================

SQLite's rewriting is skipped under ``PRAGMA legacy_alter_table=ON`` (and before 3.25),
where views, triggers and keys keep the old name and break. A compatibility view with
the old name (``CREATE VIEW old AS SELECT * FROM new``) keeps every reader working; it is
automatically updatable on PostgreSQL and MySQL, so writes keep working too, and
read-only on SQLite.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from .. import _loop
from ..errors import IdentifierTooLongError, MigrationError, ValidationError
from ._facts import TableFacts, as_text, gather_facts, mentions, split_name
from ._fk import (
    Fetcher,
    PerStatement,
    PlanProblem,
    PlanStep,
    qualified,
    request_name,
    run_steps,
)
from ._risk import RiskLevel

if TYPE_CHECKING:
    from .._dataflow import DataFlow
    from ..dialects import Dialect

__all__ = [
    "RenameDependent",
    "RenameImpact",
    "RenamePlan",
    "RenameResult",
    "TableRenameAnalyzer",
]

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


# -- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenameDependent:
    """Something that names the table, and what the rename does to it.

    Attributes:
        kind: ``foreign_key``, ``view``, ``trigger``, ``routine``, ``sequence``,
            ``index``, ``constraint`` or ``model``.
        name: its name (a model's name for ``model``).
        schema: its schema / database (None for SQLite's main database).
        table: the table it belongs to: a key's referencing table, a trigger's table, an
            index's table; the renamed table for a model.
        outcome: ``follows`` (keeps working, bound by identity), ``rewritten`` (the
            database rewrites its SQL to the new name), ``moves`` (goes with the table),
            ``renamed`` (the database renames it too), ``breaks`` (stops working until
            it is changed or a compatibility view exists), ``cosmetic`` (keeps working;
            its name still says the old one).
        detail: one sentence with the facts.
        definition: a view's query, a trigger's or routine's body, where read.
        direction: for a key: ``in`` (another table's key points here) or ``out``.
        new_name: for a cosmetic name: the name with the old table name replaced.
        rename_sql: the statements that give it ``new_name`` (empty when the database
            cannot rename it in place).
        undo_sql: the statements that give it its name back.
        application_id: for a model: the application whose registry holds it (None for
            one only registered in this process).
    """

    kind: str
    name: str
    schema: str | None
    table: str | None
    outcome: str
    detail: str
    definition: str | None = None
    direction: str | None = None
    new_name: str | None = None
    rename_sql: tuple[str, ...] = ()
    undo_sql: tuple[str, ...] = ()
    application_id: str | None = None

    @property
    def breaks(self) -> bool:
        return self.outcome == "breaks"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "schema": self.schema,
            "table": self.table,
            "outcome": self.outcome,
            "detail": self.detail,
            "definition": self.definition,
            "direction": self.direction,
            "new_name": self.new_name,
            "rename_sql": list(self.rename_sql),
            "undo_sql": list(self.undo_sql),
            "application_id": self.application_id,
        }


@dataclass
class RenameImpact:
    """Everything that refers to a table by name, and the risk of renaming it.

    Attributes:
        table, new_name, schema: the rename (``table`` as the database spells it).
        dialect, flavor, version: the server.
        exists: the table exists (as a table: a view is reported in ``kind``).
        kind: ``table``, ``view`` or ``materialized_view``.
        target_exists: something named ``new_name`` exists already (``target_kind``
            says what): the rename would fail.
        view_behaviour: what the server does to views that read the table: ``follow``
            (PostgreSQL binds them by oid), ``rewrite`` (SQLite rewrites their SQL) or
            ``break`` (MySQL; SQLite with ``legacy_alter_table``).
        foreign_keys, views, triggers, routines, sequences, names, models: what names
            the table (``names`` are indexes and constraints whose name embeds the old
            table name: cosmetic).
        rows: the table's rows (counted or estimated).
        risk_level, risks: the risk of renaming without a compatibility view, and why.
        transactional_ddl: the rename can run in a transaction (PostgreSQL, SQLite).
    """

    table: str
    new_name: str
    schema: str | None
    dialect: str
    flavor: str
    version: tuple[int, ...]
    exists: bool
    kind: str = "table"
    target_exists: bool = False
    target_kind: str | None = None
    view_behaviour: str = "follow"
    foreign_keys: list[RenameDependent] = field(default_factory=list)
    views: list[RenameDependent] = field(default_factory=list)
    triggers: list[RenameDependent] = field(default_factory=list)
    routines: list[RenameDependent] = field(default_factory=list)
    sequences: list[RenameDependent] = field(default_factory=list)
    names: list[RenameDependent] = field(default_factory=list)
    models: list[RenameDependent] = field(default_factory=list)
    rows: int = 0
    risk_level: RiskLevel = RiskLevel.LOW
    risks: list[str] = field(default_factory=list)
    transactional_ddl: bool = True

    @property
    def dependents(self) -> list[RenameDependent]:
        """Every dependent, keys first, names last."""
        return [
            *self.foreign_keys,
            *self.views,
            *self.triggers,
            *self.routines,
            *self.sequences,
            *self.models,
            *self.names,
        ]

    @property
    def breaking(self) -> list[RenameDependent]:
        """The dependents that stop working."""
        return [d for d in self.dependents if d.breaks]

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "new_name": self.new_name,
            "schema": self.schema,
            "dialect": self.dialect,
            "flavor": self.flavor,
            "version": list(self.version),
            "exists": self.exists,
            "kind": self.kind,
            "target_exists": self.target_exists,
            "target_kind": self.target_kind,
            "view_behaviour": self.view_behaviour,
            "rows": self.rows,
            "risk_level": self.risk_level.value,
            "risks": list(self.risks),
            "transactional_ddl": self.transactional_ddl,
            "dependents": [d.to_dict() for d in self.dependents],
        }


@dataclass
class RenamePlan:
    """The statements of a rename, for :meth:`TableRenameAnalyzer.execute_table_rename`.

    Attributes:
        impact: the analysis the plan comes from.
        steps: the statements, in order.
        atomic: the steps run as one transaction (PostgreSQL, SQLite); on MySQL each
            commits on its own, and a failure undoes the steps that ran.
        compatibility_view: the view created with the old name, or None.
        view_writable: writes through that view work (PostgreSQL and MySQL: a
            single-table ``SELECT *`` view is automatically updatable; SQLite views are
            read-only). None without a view.
        cleanup: the statements to run once every deploy uses the new name (dropping
            the compatibility view); not run by ``execute_table_rename``.
        problems: what stops the plan (``table-missing``, ``target-exists``,
            ``view-not-table``); ``ready`` without blocking ones.
        notes: what else to know, one sentence each.
    """

    impact: RenameImpact
    steps: list[PlanStep] = field(default_factory=list)
    atomic: bool = True
    compatibility_view: str | None = None
    view_writable: bool | None = None
    cleanup: list[PlanStep] = field(default_factory=list)
    problems: list[PlanProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not any(p.blocking for p in self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "impact": self.impact.to_dict(),
            "steps": [s.to_dict() for s in self.steps],
            "atomic": self.atomic,
            "compatibility_view": self.compatibility_view,
            "view_writable": self.view_writable,
            "cleanup": [s.to_dict() for s in self.cleanup],
            "problems": [p.to_dict() for p in self.problems],
            "notes": list(self.notes),
            "ready": self.ready,
        }


@dataclass(frozen=True)
class RenameResult:
    """What :meth:`TableRenameAnalyzer.execute_table_rename` did.

    Attributes:
        plan: the plan run.
        executed: the steps that ran (all of them: a failure raises).
        transactional: they ran as one transaction.
        seconds: how long they took.
    """

    plan: RenamePlan
    executed: list[PlanStep]
    transactional: bool
    seconds: float


# -- per-database behaviour -----------------------------------------------------------------


class Renamer:
    """What one database does on a rename; a subclass per database overrides what
    differs."""

    transactional_ddl: ClassVar[bool] = True
    view_writable: ClassVar[bool] = True
    lock: ClassVar[str] = ""
    #: Names compare in any ASCII case (SQLite).
    ignore_case: ClassVar[bool] = False

    def __init__(self, dataflow: DataFlow, version: tuple[int, ...]) -> None:
        self.dataflow = dataflow
        self.dialect: Dialect = dataflow.dialect
        self.version = version

    def fold(self, name: str) -> str:
        return name

    async def prepare(self, conn: Fetcher) -> None:
        """Read what the behaviour depends on (SQLite's pragma)."""

    @property
    def view_behaviour(self) -> str:
        return "follow"

    @property
    def key_outcome(self) -> str:
        """What happens to another table's key pointing at the renamed table."""
        return "follows"

    @property
    def rewrites_bodies(self) -> bool:
        """The rename rewrites triggers on other tables that name the table (SQLite)."""
        return False

    async def index_sql(self, conn: Fetcher, schema: str | None) -> dict[str, str]:
        """Index name (folded) -> its CREATE statement, where renaming needs it."""
        return {}

    def rename_sql(self, schema: str | None, old: str, new: str) -> str:
        d = self.dialect
        return f"ALTER TABLE {qualified(d, schema, old)} RENAME TO {d.quote(new)}"

    async def name_taken(self, conn: Fetcher, schema: str | None, name: str) -> str | None:
        """What else (an index, a sequence) holds ``name`` in the table's namespace."""
        return None

    async def view_definitions(
        self, conn: Fetcher, views: Sequence[tuple[str | None, str]]
    ) -> dict[tuple[str | None, str], str]:
        return {}

    async def other_triggers(self, conn: Fetcher, facts: TableFacts) -> list[tuple[str, str, str]]:
        """(trigger, its table, its SQL) of triggers on other tables naming the table."""
        return []

    async def routines(self, conn: Fetcher, facts: TableFacts) -> list[tuple[str, str, str]]:
        """(schema, name and kind, body) of functions and procedures naming the table."""
        return []

    async def sequences(self, conn: Fetcher, facts: TableFacts) -> list[tuple[str, str, str]]:
        """(schema, sequence, column) of sequences owned by the table's columns."""
        return []

    async def constraints(self, conn: Fetcher, facts: TableFacts) -> list[tuple[str, str]]:
        """(name, kind) of the table's named constraints: ``primary``, ``unique``,
        ``foreign``, ``check``, ``exclusion``."""
        return []

    # cosmetic renames: (statements, undo), or None when not possible in place

    def index_rename(
        self, schema: str | None, table: str, index: str, sql: str | None, new: str
    ) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        return None

    def constraint_rename(
        self, schema: str | None, table: str, name: str, new: str
    ) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        return None

    def trigger_rename(
        self, schema: str | None, table: str, name: str, new: str
    ) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        return None

    def sequence_rename(
        self, schema: str | None, name: str, new: str
    ) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        return None

    def server_renames_key(self, old: str, key: str) -> bool:
        """The server renames this key itself (MySQL's ``<table>_ibfk_<n>``)."""
        return False

    def server_renames_index(self, old: str, index: str) -> bool:
        """The server renames this index itself (SQLite's ``sqlite_autoindex_*``)."""
        return False

    def view_notes(self, old: str, new: str) -> list[str]:
        return []


class PostgresRenamer(Renamer):
    lock = "AccessExclusiveLock on the table, brief (a catalog change): queue behind it"

    async def name_taken(self, conn: Fetcher, schema: str | None, name: str) -> str | None:
        rows = await conn.fetch(
            "SELECT c.relkind::text FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n"
            " ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
            (schema, name),
        )
        kinds = {"i": "index", "S": "sequence", "c": "type", "I": "index", "t": "table"}
        return kinds.get(str(rows[0][0]), "relation") if rows else None

    async def view_definitions(
        self, conn: Fetcher, views: Sequence[tuple[str | None, str]]
    ) -> dict[tuple[str | None, str], str]:
        out = {}
        for schema, name in views:
            rows = await conn.fetch(
                "SELECT pg_catalog.pg_get_viewdef(pg_catalog.to_regclass($1))",
                (qualified(self.dialect, schema, name),),
            )
            if rows and rows[0][0] is not None:
                out[(schema, name)] = str(rows[0][0]).strip()
        return out

    async def routines(self, conn: Fetcher, facts: TableFacts) -> list[tuple[str, str, str]]:
        rows = await conn.fetch(
            "SELECT n.nspname::text, p.proname::text, p.prokind::text, p.prosrc"
            " FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n"
            " ON n.oid = p.pronamespace JOIN pg_catalog.pg_language l ON l.oid = p.prolang"
            " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')"
            " AND n.nspname NOT LIKE 'pg\\_%' AND l.lanname NOT IN ('c', 'internal')"
            " AND strpos(lower(p.prosrc), lower($1)) > 0",
            (facts.name,),
        )
        kinds = {"f": "function", "p": "procedure", "a": "aggregate", "w": "window function"}
        return [
            (str(schema), f"{name} ({kinds.get(str(kind), 'function')})", str(body))
            for schema, name, kind, body in rows
        ]

    async def sequences(self, conn: Fetcher, facts: TableFacts) -> list[tuple[str, str, str]]:
        rows = await conn.fetch(
            "SELECT sn.nspname::text, s.relname::text, a.attname::text"
            " FROM pg_catalog.pg_depend d"
            " JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S'"
            " JOIN pg_catalog.pg_namespace sn ON sn.oid = s.relnamespace"
            " JOIN pg_catalog.pg_attribute a"
            " ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid"
            " WHERE d.classid = 'pg_catalog.pg_class'::regclass"
            " AND d.refclassid = 'pg_catalog.pg_class'::regclass"
            " AND d.refobjid = pg_catalog.to_regclass($1) AND d.deptype IN ('a', 'i')"
            " ORDER BY s.relname",
            (qualified(self.dialect, facts.schema, facts.name),),
        )
        return [(str(s), str(n), str(c)) for s, n, c in rows]

    async def constraints(self, conn: Fetcher, facts: TableFacts) -> list[tuple[str, str]]:
        rows = await conn.fetch(
            "SELECT conname::text, contype::text FROM pg_catalog.pg_constraint"
            " WHERE conrelid = pg_catalog.to_regclass($1) ORDER BY conname",
            (qualified(self.dialect, facts.schema, facts.name),),
        )
        kinds = {"p": "primary", "u": "unique", "f": "foreign", "c": "check", "x": "exclusion"}
        return [(str(n), kinds.get(str(k), "constraint")) for n, k in rows]

    def index_rename(
        self, schema: str | None, table: str, index: str, sql: str | None, new: str
    ) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        d = self.dialect
        return (
            (f"ALTER INDEX {qualified(d, schema, index)} RENAME TO {d.quote(new)}",),
            (f"ALTER INDEX {qualified(d, schema, new)} RENAME TO {d.quote(index)}",),
        )

    def constraint_rename(
        self, schema: str | None, table: str, name: str, new: str
    ) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        d = self.dialect
        target = qualified(d, schema, table)
        return (
            (f"ALTER TABLE {target} RENAME CONSTRAINT {d.quote(name)} TO {d.quote(new)}",),
            (f"ALTER TABLE {target} RENAME CONSTRAINT {d.quote(new)} TO {d.quote(name)}",),
        )

    def trigger_rename(
        self, schema: str | None, table: str, name: str, new: str
    ) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        d = self.dialect
        target = qualified(d, schema, table)
        return (
            (f"ALTER TRIGGER {d.quote(name)} ON {target} RENAME TO {d.quote(new)}",),
            (f"ALTER TRIGGER {d.quote(new)} ON {target} RENAME TO {d.quote(name)}",),
        )

    def sequence_rename(
        self, schema: str | None, name: str, new: str
    ) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        d = self.dialect
        return (
            (f"ALTER SEQUENCE {qualified(d, schema, name)} RENAME TO {d.quote(new)}",),
            (f"ALTER SEQUENCE {qualified(d, schema, new)} RENAME TO {d.quote(name)}",),
        )

    def view_notes(self, old: str, new: str) -> list[str]:
        return [
            f"{old} is an automatically updatable view: INSERT, UPDATE and DELETE through the "
            "old name keep working (the table's defaults apply).",
            f"SELECT * is expanded when the view is created: a column added to {new} later "
            f"is not seen through {old}.",
            f"GRANTs stay with the table: grant the same privileges on the view {old} to "
            "roles that use the old name.",
        ]


_MY_SYSTEM = "('information_schema', 'mysql', 'performance_schema', 'sys')"


class MySQLRenamer(Renamer):
    transactional_ddl = False
    lock = "metadata lock, brief; waits for open transactions that used the table"

    @property
    def view_behaviour(self) -> str:
        return "break"

    @property
    def key_outcome(self) -> str:
        return "rewritten"

    def rename_sql(self, schema: str | None, old: str, new: str) -> str:
        d = self.dialect
        return f"RENAME TABLE {qualified(d, schema, old)} TO {qualified(d, schema, new)}"

    async def view_definitions(
        self, conn: Fetcher, views: Sequence[tuple[str | None, str]]
    ) -> dict[tuple[str | None, str], str]:
        out = {}
        for schema, name in views:
            rows = await conn.fetch(
                "SELECT VIEW_DEFINITION FROM information_schema.VIEWS"
                " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                (schema, name),
            )
            if rows:
                out[(schema, name)] = as_text(rows[0][0])
        return out

    async def other_triggers(self, conn: Fetcher, facts: TableFacts) -> list[tuple[str, str, str]]:
        rows = await conn.fetch(
            "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_STATEMENT"
            " FROM information_schema.TRIGGERS"
            " WHERE TRIGGER_SCHEMA = %s AND EVENT_OBJECT_TABLE <> %s",
            (facts.schema, facts.name),
        )
        return [(as_text(n), as_text(t), as_text(s)) for n, t, s in rows]

    async def routines(self, conn: Fetcher, facts: TableFacts) -> list[tuple[str, str, str]]:
        rows = await conn.fetch(
            "SELECT ROUTINE_SCHEMA, ROUTINE_NAME, ROUTINE_TYPE, ROUTINE_DEFINITION"
            f" FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA NOT IN {_MY_SYSTEM}"
            " AND LOCATE(LOWER(%s), LOWER(ROUTINE_DEFINITION)) > 0",
            (facts.name,),
        )
        return [
            (as_text(s), f"{as_text(n)} ({as_text(k).lower()})", as_text(b or ""))
            for s, n, k, b in rows
        ]

    async def constraints(self, conn: Fetcher, facts: TableFacts) -> list[tuple[str, str]]:
        rows = await conn.fetch(
            "SELECT CONSTRAINT_NAME, CONSTRAINT_TYPE FROM information_schema.TABLE_CONSTRAINTS"
            " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s"
            " AND CONSTRAINT_TYPE IN ('FOREIGN KEY', 'CHECK') ORDER BY CONSTRAINT_NAME",
            (facts.schema, facts.name),
        )
        kinds = {"FOREIGN KEY": "foreign", "CHECK": "check"}
        return [(as_text(n), kinds[as_text(k)]) for n, k in rows]

    def index_rename(
        self, schema: str | None, table: str, index: str, sql: str | None, new: str
    ) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        if index == "PRIMARY":
            return None
        d = self.dialect
        target = qualified(d, schema, table)
        return (
            (f"ALTER TABLE {target} RENAME INDEX {d.quote(index)} TO {d.quote(new)}",),
            (f"ALTER TABLE {target} RENAME INDEX {d.quote(new)} TO {d.quote(index)}",),
        )

    def server_renames_key(self, old: str, key: str) -> bool:
        return key.startswith(f"{old}_ibfk_")

    def view_notes(self, old: str, new: str) -> list[str]:
        return [
            "RENAME TABLE commits at once; between it and CREATE VIEW (milliseconds) the "
            f"old name {old} does not exist.",
            f"{old} is an updatable view (MERGE): INSERT, UPDATE and DELETE through it reach "
            f"{new} and fire its triggers.",
            f"Views that read {old} work again through the compatibility view.",
            "Table-level privileges do not follow RENAME TABLE: they stay on the old name "
            f"(now the view); grant them on {new}.",
        ]


_SQLITE_OBJECTS_SQL = "SELECT type, name, tbl_name, sql FROM {db}.sqlite_schema"
_IDENT = r'(?:"(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\]|[^\s(."`\[]+)'
_CREATE_INDEX = re.compile(
    rf"^(\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?)"
    rf"(?:{_IDENT}\s*\.\s*)?{_IDENT}(\s+ON\s+){_IDENT}(\s*\(.*)$",
    re.I | re.S,
)


class SQLiteRenamer(Renamer):
    view_writable = False
    ignore_case = True
    lock = "the database's write lock, brief"
    legacy = False

    def fold(self, name: str) -> str:
        return name.translate(_ASCII_LOWER)

    async def prepare(self, conn: Fetcher) -> None:
        rows = await conn.fetch("PRAGMA legacy_alter_table")
        self.legacy = bool(rows and rows[0][0]) or self.version < (3, 25)

    @property
    def view_behaviour(self) -> str:
        return "break" if self.legacy else "rewrite"

    @property
    def key_outcome(self) -> str:
        return "breaks" if self.legacy or self.version < (3, 26) else "rewritten"

    @property
    def rewrites_bodies(self) -> bool:
        return not self.legacy

    def _db(self, schema: str | None) -> str:
        return self.dialect.quote(schema or "main")

    async def _objects(self, conn: Fetcher, schema: str | None) -> list[Sequence[Any]]:
        return await conn.fetch(_SQLITE_OBJECTS_SQL.format(db=self._db(schema)))

    async def name_taken(self, conn: Fetcher, schema: str | None, name: str) -> str | None:
        for kind, other, _, _ in await self._objects(conn, schema):
            if self.fold(str(other)) == self.fold(name):
                return str(kind)
        return None

    async def view_definitions(
        self, conn: Fetcher, views: Sequence[tuple[str | None, str]]
    ) -> dict[tuple[str | None, str], str]:
        out = {}
        for schema, name in views:
            for kind, other, _, sql in await self._objects(conn, schema):
                if kind == "view" and self.fold(str(other)) == self.fold(name):
                    out[(schema, name)] = str(sql)
        return out

    async def other_triggers(self, conn: Fetcher, facts: TableFacts) -> list[tuple[str, str, str]]:
        return [
            (str(name), str(table), str(sql))
            for kind, name, table, sql in await self._objects(conn, facts.schema)
            if kind == "trigger" and self.fold(str(table)) != self.fold(facts.name)
        ]

    def server_renames_index(self, old: str, index: str) -> bool:
        return index.lower().startswith("sqlite_autoindex_")

    async def constraints(self, conn: Fetcher, facts: TableFacts) -> list[tuple[str, str]]:
        # Only keys are named in the catalog; a name lives in the table's SQL, which
        # SQLite changes only by rebuilding the table.
        return [(fk.name, "foreign") for fk in facts.foreign_keys_out if fk.name]

    def index_rename(
        self, schema: str | None, table: str, index: str, sql: str | None, new: str
    ) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        match = _CREATE_INDEX.match(sql or "")
        if match is None:
            return None
        d = self.dialect
        head, on, rest = match.groups()
        create = f"{head}{qualified(d, schema, new)}{on}{d.quote(table)}{rest}"
        restore = f"{head}{qualified(d, schema, index)}{on}{d.quote(table)}{rest}"
        return (
            (f"DROP INDEX {qualified(d, schema, index)}", create),
            (f"DROP INDEX {qualified(d, schema, new)}", restore),
        )

    async def index_sql(self, conn: Fetcher, schema: str | None) -> dict[str, str]:
        return {
            self.fold(str(name)): str(sql)
            for kind, name, _, sql in await self._objects(conn, schema)
            if kind == "index" and sql is not None
        }

    def view_notes(self, old: str, new: str) -> list[str]:
        return [
            f"SQLite views are read-only: reads through {old} keep working, writes fail "
            f"('cannot modify {old} because it is a view') until the code uses {new}.",
        ]


_RENAMERS: dict[str, type[Renamer]] = {
    "postgresql": PostgresRenamer,
    "mysql": MySQLRenamer,
    "sqlite": SQLiteRenamer,
}


def renamed_name(name: str, old: str, new: str, *, ignore_case: bool = False) -> str | None:
    """``name`` with the table name ``old`` replaced by ``new`` where it stands as a word
    (between non-alphanumeric characters or the ends): ``orders_pkey`` ->
    ``purchases_pkey``; None when ``old`` does not appear so."""
    pattern = re.compile(
        rf"(?<![A-Za-z0-9]){re.escape(old)}(?![A-Za-z0-9])", re.I if ignore_case else 0
    )
    result, n = pattern.subn(lambda _: new, name)
    return result if n else None


# -- the analyzer ---------------------------------------------------------------------------


class TableRenameAnalyzer:
    """Renaming a table on the live database: what names it, a plan with a compatibility
    view, and running that plan.

    Args:
        dataflow: the database. Analysis and planning only read (a ``read_only`` or
            ``existing_schema_mode`` DataFlow is fine); executing needs one that allows
            DDL.

    Example::

        renames = TableRenameAnalyzer(db)
        impact = await renames.analyze_table_rename("orders", "purchases")
        [(d.kind, d.name, d.outcome) for d in impact.breaking]
        plan = await renames.plan_table_rename("orders", "purchases")
        result = await renames.execute_table_rename(plan)
    """

    def __init__(self, dataflow: DataFlow) -> None:
        self.dataflow = dataflow

    # -- analysis -----------------------------------------------------------------------

    async def analyze_table_rename(self, old: str, new: str) -> RenameImpact:
        """Everything that refers to ``old`` by name, and what renaming it to ``new`` does
        to each on this server. Reads only.

        Args:
            old: the table (``"orders"``, ``"shop.orders"``).
            new: the new name, unqualified (a rename stays in its schema).

        Returns:
            A :class:`RenameImpact`: keys both ways, views (with their definitions),
            triggers on the table and those elsewhere naming it, functions and procedures
            naming it, sequences owned by its columns (PostgreSQL), indexes and
            constraints whose name embeds ``old`` (cosmetic), DataFlow models whose table
            is ``old`` (the ``dataflow_model_registry`` table of every application, and
            this process's models), whether ``new`` is taken, and the risk.

        Raises:
            ValidationError: an empty name, or ``new`` in another schema
                (``DF-PARAM-TYPE``); a name too long for the database
                (``IdentifierTooLongError``).
            DatabaseError: the catalogs could not be read.

        Example::

            impact = await renames.analyze_table_rename("orders", "purchases")
            impact.view_behaviour    # "follow" on PostgreSQL, "break" on MySQL
            impact.risk_level, impact.risks
        """
        new_name = self._new_name(old, new)
        self.dataflow._check_open()
        return await _loop.run_async(self._analyze(old, new_name))

    def _new_name(self, old: str, new: str) -> str:
        for value, param in ((old, "old"), (new, "new")):
            if not isinstance(value, str) or not value.strip():
                raise ValidationError(
                    f"{param} must be a table name", code="DF-PARAM-TYPE", details={"param": param}
                )
        old_schema, _ = split_name(old)
        new_schema, new_name = split_name(new)
        if new_schema is not None and new_schema != old_schema:
            raise ValidationError(
                f"{new!r} names another schema: a rename stays in the table's schema "
                "(moving a table is ALTER TABLE ... SET SCHEMA); give the new name alone",
                code="DF-PARAM-TYPE",
                details={"param": "new", "value": new},
            )
        self.dataflow.dialect.check_identifier(new_name, "table")
        return new_name

    async def _analyze(self, old: str, new: str) -> RenameImpact:
        server, facts = await gather_facts(self.dataflow, [old])
        own = facts[old]
        renamer = _RENAMERS[server.dialect](self.dataflow, server.version)
        conn = PerStatement(self.dataflow)
        await renamer.prepare(conn)
        impact = RenameImpact(
            table=own.name,
            new_name=new,
            schema=own.schema,
            dialect=server.dialect,
            flavor=server.flavor,
            version=server.version,
            exists=own.exists,
            kind=own.kind,
            view_behaviour=renamer.view_behaviour,
            rows=own.rows,
            transactional_ddl=renamer.transactional_ddl,
        )
        if own.exists:
            _, targets = await gather_facts(self.dataflow, [request_name(own.schema, new)])
            target = next(iter(targets.values()))
            if target.exists and renamer.fold(target.name) != renamer.fold(own.name):
                impact.target_exists, impact.target_kind = True, target.kind
            else:
                taken = await renamer.name_taken(conn, own.schema, new)
                if taken and renamer.fold(new) != renamer.fold(own.name):
                    impact.target_exists, impact.target_kind = True, taken
            await self._dependents(conn, renamer, own, new, impact)
        impact.models = await self._models(own, old)
        self._risk(impact)
        return impact

    async def _dependents(
        self, conn: Fetcher, renamer: Renamer, own: TableFacts, new: str, impact: RenameImpact
    ) -> None:
        old = own.name
        fold = renamer.fold
        ignore_case = renamer.ignore_case

        def cosmetic(
            kind: str,
            name: str,
            table: str | None,
            schema: str | None,
            how: tuple[tuple[str, ...], tuple[str, ...]] | None,
            why: str,
        ) -> None:
            suggestion = renamed_name(name, old, new, ignore_case=ignore_case)
            if suggestion is None:
                return
            if how is None:
                detail = f"keeps the name {name}; {why}"
            else:
                detail = f"keeps the name {name}; can be renamed to {suggestion}"
            impact.names.append(
                RenameDependent(
                    kind=kind,
                    name=name,
                    schema=schema,
                    table=table,
                    outcome="cosmetic",
                    detail=detail,
                    new_name=suggestion,
                    rename_sql=how[0] if how else (),
                    undo_sql=how[1] if how else (),
                )
            )

        def how(make: Any, name: str, *args: Any) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
            """``make(*args, new name)``: the statements renaming ``name``."""
            suggestion = renamed_name(name, old, new, ignore_case=ignore_case)
            if suggestion is None:
                return None
            try:
                self.dataflow.dialect.check_identifier(suggestion, "index")
            except IdentifierTooLongError:
                return None
            result: tuple[tuple[str, ...], tuple[str, ...]] | None = make(*args, suggestion)
            return result

        # keys, both ways
        in_outcome = renamer.key_outcome
        for fk in own.foreign_keys_in:
            self_ref = fold(fk.table) == fold(own.name) and fk.schema == own.schema
            detail = {
                "follows": f"{fk.table}'s key stays bound to the table (by oid)",
                "rewritten": f"the database rewrites {fk.table}'s key to reference {new}",
                "breaks": f"{fk.table}'s key keeps the name {old} and references nothing "
                "(legacy_alter_table)",
            }[in_outcome]
            impact.foreign_keys.append(
                RenameDependent(
                    kind="foreign_key",
                    name=fk.name or "",
                    schema=fk.schema,
                    table=fk.table,
                    outcome="moves" if self_ref else in_outcome,
                    detail="a self-reference: moves with the table" if self_ref else detail,
                    direction="in",
                )
            )
        for fk in own.foreign_keys_out:
            if fold(fk.ref_table) == fold(own.name) and fk.ref_schema == own.schema:
                continue  # listed once, as "in"
            impact.foreign_keys.append(
                RenameDependent(
                    kind="foreign_key",
                    name=fk.name or "",
                    schema=fk.schema,
                    table=own.name,
                    outcome="moves",
                    detail=f"the table's own key to {fk.ref_table}: moves with it",
                    direction="out",
                )
            )
        # views
        labels = [split_name(v) for v in own.dependent_views]
        views = [(schema or own.schema, name) for schema, name in labels]
        definitions = await renamer.view_definitions(conn, views)
        for schema, name in views:
            text = definitions.get((schema, name))
            direct = text is None or mentions(text, old) or mentions(text, new)
            outcome = {"follow": "follows", "rewrite": "rewritten", "break": "breaks"}[
                renamer.view_behaviour
            ]
            detail = {
                "follows": "PostgreSQL binds views by oid: it keeps reading the table",
                "rewritten": f"SQLite rewrites its query to read {new}",
                "breaks": f"its query names {old}: it fails until {old} exists again"
                if direct
                else f"it reads a view that breaks: it fails until {old} exists again",
            }[outcome]
            impact.views.append(
                RenameDependent(
                    kind="view",
                    name=name,
                    schema=schema,
                    table=None,
                    outcome=outcome,
                    detail=detail,
                    definition=text,
                )
            )
        # triggers: on the table, and elsewhere naming it
        for trigger in own.triggers:
            impact.triggers.append(
                RenameDependent(
                    kind="trigger",
                    name=trigger,
                    schema=own.schema,
                    table=own.name,
                    outcome="moves",
                    detail="fires on the table under its new name",
                )
            )
            cosmetic(
                "trigger",
                trigger,
                own.name,
                own.schema,
                how(renamer.trigger_rename, trigger, own.schema, new, trigger),
                "this database renames a trigger only by dropping and creating it",
            )
        for trigger, table, sql in await renamer.other_triggers(conn, own):
            if not mentions(sql, old):
                continue
            rewrites = renamer.rewrites_bodies
            impact.triggers.append(
                RenameDependent(
                    kind="trigger",
                    name=trigger,
                    schema=own.schema,
                    table=table,
                    outcome="rewritten" if rewrites else "breaks",
                    detail=f"a trigger on {table} whose body names {old}: "
                    + (
                        f"SQLite rewrites it to {new}"
                        if rewrites
                        else f"it fails when it fires, until {old} exists again"
                    ),
                    definition=sql,
                )
            )
        for schema, name, body in await renamer.routines(conn, own):
            if not mentions(body, old):
                continue
            impact.routines.append(
                RenameDependent(
                    kind="routine",
                    name=name,
                    schema=schema,
                    table=None,
                    outcome="breaks",
                    detail=f"its body names {old} as text, looked up when it runs: it fails "
                    f"until {old} exists again",
                    definition=body,
                )
            )
        # sequences (PostgreSQL)
        for schema, sequence, column in await renamer.sequences(conn, own):
            impact.sequences.append(
                RenameDependent(
                    kind="sequence",
                    name=sequence,
                    schema=schema,
                    table=own.name,
                    outcome="follows",
                    detail=f"owned by {old}.{column}; the column's default reaches it by oid",
                )
            )
            cosmetic(
                "sequence",
                sequence,
                own.name,
                schema,
                how(renamer.sequence_rename, sequence, schema, sequence),
                "",
            )
        # index and constraint names
        constraints = await renamer.constraints(conn, own)
        constraint_names = {fold(n) for n, _ in constraints}
        index_sql = await renamer.index_sql(conn, own.schema)
        for name, kind in constraints:
            if kind == "foreign" and renamer.server_renames_key(old, name):
                suggestion = renamed_name(name, old, new) or name
                impact.names.append(
                    RenameDependent(
                        kind="constraint",
                        name=name,
                        schema=own.schema,
                        table=own.name,
                        outcome="renamed",
                        detail=f"the server renames it to {suggestion}",
                        new_name=suggestion,
                    )
                )
                continue
            cosmetic(
                "constraint",
                name,
                own.name,
                own.schema,
                how(renamer.constraint_rename, name, own.schema, new, name),
                "this database renames it only by dropping and adding it",
            )
        for index in own.indexes:
            if fold(index.name) in constraint_names:
                continue  # renamed with its constraint
            automatic = renamed_name(index.name, old, new, ignore_case=ignore_case)
            if automatic and renamer.server_renames_index(old, index.name):
                impact.names.append(
                    RenameDependent(
                        kind="index",
                        name=index.name,
                        schema=own.schema,
                        table=own.name,
                        outcome="renamed",
                        detail=f"the database renames it to {automatic}",
                        new_name=automatic,
                    )
                )
                continue
            cosmetic(
                "index",
                index.name,
                own.name,
                own.schema,
                how(
                    renamer.index_rename,
                    index.name,
                    own.schema,
                    new,
                    index.name,
                    index_sql.get(fold(index.name)),
                ),
                "this database renames it only by dropping and creating it",
            )
        for fk in own.foreign_keys_in:
            if not fk.name or fold(fk.table) == fold(own.name):
                continue
            cosmetic(
                "constraint",
                fk.name,
                fk.table,
                fk.schema,
                how(renamer.constraint_rename, fk.name, fk.schema, fk.table, fk.name),
                "this database renames a key only by dropping and adding it",
            )

    async def _models(self, own: TableFacts, old: str) -> list[RenameDependent]:
        """DataFlow models whose table is the renamed one: the registry table's rows of
        every application, this DataFlow's in-memory registry, its registered models."""
        from .._dataflow import _registry_model

        db = self.dataflow
        d = db.dialect
        renamer = _RENAMERS[d.name](db, ())
        name = renamer.fold(own.name if own.exists else split_name(old)[1])

        def names_it(definition: Any) -> bool:
            if not isinstance(definition, dict):
                return False
            table = definition.get("table")
            schema = definition.get("schema")
            same_schema = schema is None or own.schema is None or schema == own.schema
            return isinstance(table, str) and renamer.fold(table) == name and same_schema

        found: dict[tuple[str | None, str], RenameDependent] = {}
        registry = _registry_model()
        schema = getattr(d, "schema", None)
        async with db._adapter.acquire() as conn:
            columns = await db._adapter.table_columns(conn, registry.table_name, schema)
            if columns:
                f = registry.fields
                cols = [f[n] for n in ("application_id", "model_name", "version", "definition")]
                rows = await conn.fetch(
                    f"SELECT {d.select_list(cols)} FROM {d.table(registry)}"
                    f" ORDER BY {d.order_sql([(f['model_name'], False)])}"
                )
                decode = d.row_decoder(cols)
                for row in map(decode, rows):
                    if names_it(row["definition"]):
                        app = str(row["application_id"])
                        found[(app, str(row["model_name"]))] = RenameDependent(
                            kind="model",
                            name=str(row["model_name"]),
                            schema=own.schema,
                            table=own.name,
                            outcome="breaks",
                            detail=f"registered by {app} (version {row['version']}): its "
                            "nodes query the old name; change __dataflow__['table'] and "
                            "register again",
                            application_id=app,
                        )
        app = db.application_id
        memory = {n: dfn for n, (dfn, _, _) in db._memory_registry.items()}
        models = {m.name: {"table": m.table_name, "schema": m.schema} for m in db._models.values()}
        for model_name, definition in [*memory.items(), *models.items()]:
            if names_it(definition) and (app, model_name) not in found:
                found[(app, model_name)] = RenameDependent(
                    kind="model",
                    name=model_name,
                    schema=own.schema,
                    table=own.name,
                    outcome="breaks",
                    detail="registered in this process: its nodes query the old name",
                    application_id=None,
                )
        return list(found.values())

    def _risk(self, impact: RenameImpact) -> None:
        risks = impact.risks
        if not impact.exists:
            risks.append(f"{impact.table} does not exist: the rename fails")
        elif impact.kind != "table":
            risks.append(f"{impact.table} is a {impact.kind.replace('_', ' ')}, not a table")
        if impact.target_exists:
            risks.append(f"a {impact.target_kind} named {impact.new_name} exists: the rename fails")
        if risks:
            impact.risk_level = RiskLevel.CRITICAL
            return
        breaking = [d for d in impact.breaking if d.kind != "model"]
        for d in breaking:
            risks.append(f"{d.kind} {d.name} breaks: {d.detail}")
        models = impact.models
        if models:
            risks.append(
                f"{len(models)} DataFlow models use the table: "
                + ", ".join(sorted({d.name for d in models}))
            )
        risks.append(
            f"code that names {impact.table} fails until it is deployed with "
            f"{impact.new_name} (a compatibility view bridges the switch)"
        )
        impact.risk_level = RiskLevel.HIGH if breaking else RiskLevel.MEDIUM

    # -- planning -------------------------------------------------------------------------

    async def plan_table_rename(
        self,
        old: str,
        new: str,
        *,
        compatibility_view: bool = True,
        rename_dependents: bool = False,
    ) -> RenamePlan:
        """The statements that rename ``old`` to ``new`` on this server. Reads only.

        Args:
            old: the table.
            new: the new name (unqualified).
            compatibility_view: after the rename, create a view named ``old`` reading
                ``new`` (``SELECT *``), so code deployed before the switch keeps working
                (reads everywhere; writes on PostgreSQL and MySQL, whose single-table
                views are automatically updatable; SQLite views are read-only). Drop it
                (``plan.cleanup``) once every deploy uses ``new``.
            rename_dependents: also rename the indexes, constraints, sequences and
                triggers whose name embeds ``old`` (where the database can rename them
                in place; SQLite indexes are dropped and created again).

        Returns:
            A :class:`RenamePlan`: ``steps`` (each with its ``undo``), ``atomic``,
            ``compatibility_view`` and ``view_writable``, ``cleanup``, ``problems`` and
            ``notes``; ``plan.impact`` is the analysis.

        Raises:
            ValidationError: as :meth:`analyze_table_rename`.
            DatabaseError: the catalogs could not be read.

        Example::

            plan = await renames.plan_table_rename("orders", "purchases")
            [s.sql for s in plan.steps]
            # ['ALTER TABLE "public"."orders" RENAME TO "purchases"',
            #  'CREATE VIEW "public"."orders" AS SELECT * FROM "public"."purchases"']
        """
        new_name = self._new_name(old, new)
        self.dataflow._check_open()
        impact = await _loop.run_async(self._analyze(old, new_name))
        return self._plan(impact, compatibility_view, rename_dependents)

    def _plan(self, impact: RenameImpact, view: bool, dependents: bool) -> RenamePlan:
        renamer = _RENAMERS[impact.dialect](self.dataflow, impact.version)
        d = self.dataflow.dialect
        plan = RenamePlan(impact=impact, atomic=renamer.transactional_ddl)
        old, new, schema = impact.table, impact.new_name, impact.schema
        if not impact.exists:
            plan.problems.append(
                PlanProblem("table-missing", f"{old} does not exist", details={"table": old})
            )
        elif impact.kind != "table":
            plan.problems.append(
                PlanProblem(
                    "view-not-table",
                    f"{old} is a {impact.kind.replace('_', ' ')}: rename it with ALTER VIEW",
                    details={"table": old, "kind": impact.kind},
                )
            )
        if impact.target_exists:
            plan.problems.append(
                PlanProblem(
                    "target-exists",
                    f"a {impact.target_kind} named {new} already exists: choose another name "
                    "or drop it first",
                    details={"name": new, "kind": impact.target_kind},
                )
            )
        if not plan.ready:
            return plan
        plan.steps.append(
            PlanStep(
                renamer.rename_sql(schema, old, new),
                f"rename {old} to {new}",
                lock=renamer.lock,
                undo=renamer.rename_sql(schema, new, old),
            )
        )
        if dependents:
            for dep in impact.names:
                if not dep.rename_sql:
                    continue
                for i, sql in enumerate(dep.rename_sql):
                    # (drop old, create new) is undone by (drop new, create old), reversed
                    undo = dep.undo_sql[len(dep.undo_sql) - 1 - i] if dep.undo_sql else None
                    plan.steps.append(
                        PlanStep(
                            sql,
                            f"rename {dep.kind} {dep.name} to {dep.new_name}",
                            undo=undo,
                        )
                    )
            skipped = [d.name for d in impact.names if d.outcome == "cosmetic" and not d.rename_sql]
            if skipped:
                plan.notes.append(
                    f"kept their names (no rename in place on this database): {', '.join(skipped)}"
                )
        if view:
            create = (
                f"CREATE VIEW {qualified(d, schema, old)} AS SELECT * FROM "
                f"{qualified(d, schema, new)}"
            )
            drop = f"DROP VIEW {qualified(d, schema, old)}"
            plan.steps.append(
                PlanStep(
                    create,
                    f"a view named {old} reading {new}, so code not yet deployed keeps working",
                    undo=drop,
                )
            )
            plan.cleanup.append(
                PlanStep(drop, f"once every deploy uses {new}: drop the compatibility view")
            )
            plan.compatibility_view = old
            plan.view_writable = renamer.view_writable
            plan.notes += renamer.view_notes(old, new)
        if plan.atomic:
            plan.notes.append(
                "The steps run in one transaction: readers see the old table or the new "
                "name with its view, never neither."
            )
        breaking = [d for d in impact.breaking if d.kind in ("view", "trigger", "routine")]
        if breaking and not view:
            plan.notes.append(
                "without a compatibility view these break: "
                + ", ".join(f"{d.kind} {d.name}" for d in breaking)
            )
        if impact.models:
            plan.notes.append(
                "DataFlow models on the table: change __dataflow__['table'] to "
                f"{new!r} and deploy; their registry entries are rewritten when they register "
                "again."
            )
        return plan

    # -- running --------------------------------------------------------------------------

    async def execute_table_rename(self, plan: RenamePlan) -> RenameResult:
        """Run a plan from :meth:`plan_table_rename`: in one transaction where DDL is
        transactional (PostgreSQL, SQLite); on MySQL step by step, undoing the steps that
        ran when one fails.

        Before running, the plan's facts are checked again: the table must still exist
        and the new name still be free.

        Args:
            plan: the plan.

        Returns:
            A :class:`RenameResult`.

        Raises:
            MigrationError: ``DF-MIGRATION-DDL-REFUSED`` when the DataFlow is
                ``existing_schema_mode`` or ``read_only``; ``DF-MIGRATION-PLAN-BLOCKED``
                for a plan with blocking problems; ``DF-MIGRATION-PLAN-STALE`` when the
                database changed since the plan, or the plan is for another database;
                ``DF-MIGRATION-RENAME-FAILED`` when a step failed (everything rolled back
                or undone; the database's error is ``__cause__``).

        Example::

            plan = await renames.plan_table_rename("orders", "purchases")
            if plan.ready:
                await renames.execute_table_rename(plan)
        """
        settings = self.dataflow.settings
        for flag in ("existing_schema_mode", "read_only"):
            if getattr(settings, flag):
                raise MigrationError(
                    f"this DataFlow was opened with {flag}=True, which forbids schema "
                    "changes; run the rename through a DataFlow without it (analysis and "
                    "planning work on this one)",
                    code="DF-MIGRATION-DDL-REFUSED",
                    details={"setting": flag},
                )
        if not plan.ready:
            raise MigrationError(
                "the plan has blocking problems: "
                + "; ".join(p.message for p in plan.problems if p.blocking),
                code="DF-MIGRATION-PLAN-BLOCKED",
                details={"problems": [p.to_dict() for p in plan.problems]},
            )
        self.dataflow._check_open()
        return await _loop.run_async(self._execute(plan))

    async def _execute(self, plan: RenamePlan) -> RenameResult:
        impact = plan.impact
        if impact.dialect != self.dataflow.dialect.name:
            raise MigrationError(
                f"the plan is for {impact.dialect}, this DataFlow is {self.dataflow.dialect.name}",
                code="DF-MIGRATION-PLAN-STALE",
                details={"plan": impact.dialect},
            )
        old = request_name(impact.schema, impact.table)
        fresh = await self._analyze(old, impact.new_name)
        if not fresh.exists or fresh.kind != "table" or fresh.target_exists:
            raise MigrationError(
                f"the database changed since the plan: {'; '.join(fresh.risks[:2])}; plan again",
                code="DF-MIGRATION-PLAN-STALE",
                details={"table": impact.table, "new_name": impact.new_name},
            )
        started = time.monotonic()
        done: list[PlanStep] = []
        async with self.dataflow._adapter.acquire() as conn:
            try:
                if plan.atomic:
                    await run_steps(conn, plan.steps, atomic=True)
                    done = list(plan.steps)
                else:
                    for step in plan.steps:
                        await run_steps(conn, [step], atomic=False)
                        done.append(step)
            except Exception as exc:
                undone = await self._undo(conn, done) if not plan.atomic else []
                failed = plan.steps[len(done)] if len(done) < len(plan.steps) else None
                raise MigrationError(
                    f"the rename of {impact.table} to {impact.new_name} failed"
                    + (f" at {failed.sql!r}" if failed else "")
                    + f": {exc}; "
                    + (
                        "nothing was changed (rolled back)"
                        if plan.atomic
                        else f"the {len(undone)} steps that ran were undone"
                    ),
                    code="DF-MIGRATION-RENAME-FAILED",
                    details={
                        "step": failed.sql if failed else None,
                        "undone": [s.sql for s in undone],
                    },
                ) from exc
        return RenameResult(plan, done, plan.atomic, time.monotonic() - started)

    async def _undo(self, conn: Any, done: list[PlanStep]) -> list[PlanStep]:
        undone = []
        for step in reversed(done):
            if step.undo is None:
                continue
            try:
                await conn.execute(step.undo)
                undone.append(step)
            except Exception:  # the original error matters more; report what was undone
                break
        return undone
