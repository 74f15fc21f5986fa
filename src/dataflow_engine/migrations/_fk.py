"""Foreign keys: what a schema change does to them, the rows a delete reaches through
them, orphaned rows, and the safe way to add one (DESIGN §9).

:class:`ForeignKeyAnalyzer` only reads (it works on a ``read_only`` or
``existing_schema_mode`` DataFlow). Its facts come from :func:`gather_facts` (keys in both
directions, row figures, indexes) plus a few catalog reads of its own (key column types,
MySQL character sets and engines, SQLite's table SQL and pragmas).

What each database does, as the tests in ``tests/migrations/test_fk.py`` check against
the servers:

==========================  ===================  ======================  ===================
change                      PostgreSQL           MySQL / MariaDB         SQLite
==========================  ===================  ======================  ===================
drop a referenced table     fails (CASCADE drops fails                   deletes the rows
                            the other keys)                              (actions fire; NO
                                                                         ACTION rows make it
                                                                         fail), then the
                                                                         children dangle
truncate a referenced table fails (CASCADE       fails (error 1701)      a DELETE: actions
                            empties every                                fire
                            referencing table)
drop a referenced column    fails (CASCADE drops fails (error 1829)      fails (a primary
                            the keys)                                    key / unique column)
drop a key's own column     drops the key        fails (error 1553)      drops a column-level
                                                                         key, fails on a
                                                                         table-level one
rename table / column       keys follow (oid,    keys follow (rewritten) keys follow (the
                            attnum)                                      SQL is rewritten)
change a key column's type  fine if the types    fails (error 1833):     a table rebuild; any
                            still compare, else  drop the keys first     affinity compares
                            fails
==========================  ===================  ======================  ===================
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from .. import _loop
from ..dialects import Params
from ..errors import MigrationError, ValidationError
from ._facts import (
    COUNT_ROWS_BELOW,
    ForeignKeyFacts,
    ServerFacts,
    TableFacts,
    gather_facts,
)
from ._operations import Operation, OperationKind

if TYPE_CHECKING:
    from .._dataflow import DataFlow
    from ..adapters import Connection
    from ..dialects import Dialect

__all__ = [
    "AddForeignKeyPlan",
    "CascadeReach",
    "FKEffect",
    "FKImpact",
    "ForeignKeyAnalyzer",
    "OrphanReport",
    "PlanProblem",
    "PlanStep",
]

K = OperationKind

#: The referential actions, as the facts spell them.
ACTIONS = ("NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT")
#: Key values sent per statement while walking a cascade.
CHUNK = 500
#: InnoDB stops cascading deeper than this (the statement fails).
MYSQL_CASCADE_DEPTH = 15

TableKey = tuple[str | None, str]
Row = dict[str, Any]


class Fetcher(Protocol):
    """What the analyzers read through: a connection, or :class:`PerStatement`."""

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]: ...


class PerStatement:
    """Borrows the DataFlow's connection for one statement at a time, so facts can be
    gathered between statements (SQLite has one connection, which cannot be borrowed
    twice)."""

    def __init__(self, dataflow: DataFlow) -> None:
        self._adapter = dataflow._adapter

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        async with self._adapter.acquire() as conn:
            return await conn.fetch(sql, params)


def _identity(row: Row, columns: Sequence[str]) -> tuple[Any, ...]:
    """A row's identity (its primary key, else every column), hashable."""
    out = []
    for c in columns:
        value = row[c]
        try:
            hash(value)
        except TypeError:
            value = repr(value)
        out.append(value)
    return tuple(out)


# -- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanStep:
    """One statement of a plan.

    Attributes:
        sql: the statement, as sent through the engine's connection (on MySQL a literal
            ``%`` is doubled, as the driver expects).
        purpose: what it does and why, one sentence.
        transactional: it may run inside a transaction (``CREATE INDEX CONCURRENTLY``
            and SQLite's ``PRAGMA foreign_keys`` may not).
        lock: the lock it takes and who waits, when that matters.
        check: a query that must return no rows; a row means stop and roll back.
        undo: the statement that reverses it, where there is one.
    """

    sql: str
    purpose: str
    transactional: bool = True
    lock: str | None = None
    check: bool = False
    undo: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "sql": self.sql,
            "purpose": self.purpose,
            "transactional": self.transactional,
            "lock": self.lock,
            "check": self.check,
            "undo": self.undo,
        }


@dataclass(frozen=True)
class PlanProblem:
    """Something that stops a plan (``blocking``) or that its user should know.

    Attributes:
        code: a stable id: ``table-missing``, ``column-missing``, ``column-count``,
            ``no-unique-key``, ``type-mismatch``, ``affinity-mismatch``,
            ``charset-mismatch``, ``engine``, ``set-null-not-null``, ``orphans``,
            ``name-taken``, ``already-exists``, ``unsupported-table-sql``,
            ``target-exists``, ``view-not-table``.
        message: what is wrong and what to do.
        blocking: the plan must not run while it holds.
        details: the facts behind it.
    """

    code: str
    message: str
    blocking: bool = True
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "blocking": self.blocking,
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class FKEffect:
    """What an operation does to one foreign key.

    Attributes:
        foreign_key: the key.
        direction: ``"in"`` (another table's key points at the table; for a
            self-reference both), ``"out"`` (the table's own key) or ``"chain"`` (a key
            further along a cascade, pointing at a table the rows reach).
        outcome: ``fails`` (the statement fails because of the key), ``drops`` (the key
            is dropped with it), ``dangles`` (the key stays, pointing at nothing),
            ``mismatch`` (the key's column types would no longer compare), ``follows``
            (the key is kept and updated), ``cascades``, ``sets-null``,
            ``sets-default`` (rows of the referencing table are deleted or updated),
            ``blocks`` (referencing rows make the delete fail), ``unaffected``.
        breaks: the operation fails, or leaves the key dropped by surprise, dangling or
            mismatched.
        message: one sentence with the facts.
    """

    foreign_key: ForeignKeyFacts
    direction: str
    outcome: str
    breaks: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "foreign_key": _fk_dict(self.foreign_key),
            "direction": self.direction,
            "outcome": self.outcome,
            "breaks": self.breaks,
            "message": self.message,
        }


@dataclass(frozen=True)
class CascadeReach:
    """Rows of one table that a delete (or truncate) reaches.

    Attributes:
        table, schema: the table reached.
        via: the key it is reached through (None for the table the operation deletes
            from).
        action: ``DELETE`` (the operation's own rows), ``CASCADE``, ``SET NULL``,
            ``SET DEFAULT``, ``NO ACTION`` / ``RESTRICT`` (rows that make the delete
            fail) or ``TRUNCATE`` (PostgreSQL's ``TRUNCATE ... CASCADE``).
        rows: the rows reached this way (not counting rows reached earlier by another
            path); an upper bound when not ``exact``; None when unknown.
        exact: ``rows`` was counted (every table on the way is small), not estimated.
        depth: keys followed from the operation's table (0 for that table).
    """

    table: str
    schema: str | None
    via: ForeignKeyFacts | None
    action: str
    rows: int | None
    exact: bool
    depth: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "schema": self.schema,
            "via": None if self.via is None else _fk_dict(self.via),
            "action": self.action,
            "rows": self.rows,
            "exact": self.exact,
            "depth": self.depth,
        }


@dataclass
class FKImpact:
    """The foreign keys an operation touches and what it does to them.

    Attributes:
        table, schema: the table the operation changes.
        operation: the operation analysed.
        dialect, flavor: the server (``postgresql``; ``mariadb`` / ``mysql``; ``sqlite``).
        exists: the table exists (every other list is empty when not).
        foreign_keys_in: other tables' keys pointing at the table (at the column, when
            the operation names one), with the referencing table's rows (``rows``,
            counted when small, else estimated: ``rows_exact``).
        foreign_keys_out: the table's own keys (on the column, when one is named).
        effects: what the operation does to each key.
        cascade: for deletes and truncates, every table the rows reach, with how many.
        drop_order: keys to drop before the change runs, referencing tables deepest
            first.
        recreate_order: keys to create again after it, in the reverse order.
        steps: the whole sequence: drops, the change and the columns that must change
            with it, re-creations. Empty when the change runs as it is.
        notes: what else to know, one sentence each.
    """

    table: str
    schema: str | None
    operation: Operation
    dialect: str
    flavor: str
    exists: bool
    foreign_keys_in: list[ForeignKeyFacts] = field(default_factory=list)
    foreign_keys_out: list[ForeignKeyFacts] = field(default_factory=list)
    effects: list[FKEffect] = field(default_factory=list)
    cascade: list[CascadeReach] = field(default_factory=list)
    drop_order: list[ForeignKeyFacts] = field(default_factory=list)
    recreate_order: list[ForeignKeyFacts] = field(default_factory=list)
    steps: list[PlanStep] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def breaks(self) -> bool:
        """Some key makes the operation fail or is left broken by it."""
        return any(e.breaks for e in self.effects)

    @property
    def breaking(self) -> list[FKEffect]:
        """The effects that break."""
        return [e for e in self.effects if e.breaks]

    def rows_by_table(self, action: str | None = None) -> dict[str, int]:
        """Rows reached per table (``schema.table`` when not the operation's schema),
        summed over the ways in; ``action`` keeps only one action (``"CASCADE"``)."""
        out: dict[str, int] = {}
        for reach in self.cascade:
            if action is not None and reach.action != action:
                continue
            label = _label(reach.schema, reach.table, self.schema)
            out[label] = out.get(label, 0) + (reach.rows or 0)
        return out

    @property
    def deleted_rows(self) -> int:
        """Rows deleted in every table together (the operation's own and its cascades)."""
        return sum(
            r.rows or 0 for r in self.cascade if r.action in ("DELETE", "CASCADE", "TRUNCATE")
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "schema": self.schema,
            "operation": self.operation.kind.value,
            "column": self.operation.column_name,
            "dialect": self.dialect,
            "flavor": self.flavor,
            "exists": self.exists,
            "breaks": self.breaks,
            "foreign_keys_in": [_fk_dict(fk) for fk in self.foreign_keys_in],
            "foreign_keys_out": [_fk_dict(fk) for fk in self.foreign_keys_out],
            "effects": [e.to_dict() for e in self.effects],
            "cascade": [c.to_dict() for c in self.cascade],
            "drop_order": [_fk_dict(fk) for fk in self.drop_order],
            "recreate_order": [_fk_dict(fk) for fk in self.recreate_order],
            "steps": [s.to_dict() for s in self.steps],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class OrphanReport:
    """Rows whose parent row does not exist, for one foreign key.

    Attributes:
        foreign_key: the key (for a proposed key, ``name`` may be None).
        rows: referencing rows with every key column set and no matching parent (NULLs
            are never orphans: ``MATCH SIMPLE``).
        sample: up to ``sample_size`` distinct orphaned key values, smallest first.
        validated: PostgreSQL: False for a key added ``NOT VALID`` and not validated
            since; None elsewhere and for a proposed key.
        sql: the query that counted them, to run again after fixing the data.
    """

    foreign_key: ForeignKeyFacts
    rows: int
    sample: list[tuple[Any, ...]]
    validated: bool | None
    sql: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "foreign_key": _fk_dict(self.foreign_key),
            "rows": self.rows,
            "sample": [list(k) for k in self.sample],
            "validated": self.validated,
            "sql": self.sql,
        }


@dataclass
class AddForeignKeyPlan:
    """How to add one foreign key on this server, and what stops it.

    Attributes:
        table, columns, ref_table, ref_columns, name, on_delete, on_update: the key.
        dialect, flavor: the server.
        steps: the statements, in order; ``atomic`` says whether the transactional ones
            run as one transaction (SQLite's rebuild) or each on its own (PostgreSQL's
            ``NOT VALID`` then ``VALIDATE``, so the stronger lock is short).
        problems: blocking ones first; the plan is ``ready`` without blocking problems.
        orphans: the orphan count of the proposed key (None when it could not be
            checked: a missing table or column).
        notes: locks, algorithms and alternatives, one sentence each.
    """

    table: str
    columns: list[str]
    ref_table: str
    ref_columns: list[str]
    name: str
    on_delete: str
    on_update: str
    dialect: str
    flavor: str
    steps: list[PlanStep] = field(default_factory=list)
    problems: list[PlanProblem] = field(default_factory=list)
    orphans: OrphanReport | None = None
    notes: list[str] = field(default_factory=list)
    atomic: bool = False

    @property
    def ready(self) -> bool:
        """No blocking problem."""
        return not self.blocking

    @property
    def blocking(self) -> list[PlanProblem]:
        return [p for p in self.problems if p.blocking]

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "columns": list(self.columns),
            "ref_table": self.ref_table,
            "ref_columns": list(self.ref_columns),
            "name": self.name,
            "on_delete": self.on_delete,
            "on_update": self.on_update,
            "dialect": self.dialect,
            "flavor": self.flavor,
            "ready": self.ready,
            "atomic": self.atomic,
            "steps": [s.to_dict() for s in self.steps],
            "problems": [p.to_dict() for p in self.problems],
            "orphans": None if self.orphans is None else self.orphans.to_dict(),
            "notes": list(self.notes),
        }


def _fk_dict(fk: ForeignKeyFacts) -> dict[str, Any]:
    return {
        "name": fk.name,
        "schema": fk.schema,
        "table": fk.table,
        "columns": list(fk.columns),
        "ref_schema": fk.ref_schema,
        "ref_table": fk.ref_table,
        "ref_columns": list(fk.ref_columns),
        "on_delete": fk.on_delete,
        "on_update": fk.on_update,
        "rows": fk.rows,
        "rows_exact": fk.rows_exact,
    }


def _label(schema: str | None, table: str, home: str | None) -> str:
    return table if schema is None or schema == home else f"{schema}.{table}"


def _describe(fk: ForeignKeyFacts) -> str:
    name = f"{fk.name} " if fk.name else ""
    return (
        f"{name}{fk.table} ({', '.join(fk.columns)}) -> "
        f"{fk.ref_table} ({', '.join(fk.ref_columns)})"
    )


# -- names ----------------------------------------------------------------------------------


def request_name(schema: str | None, table: str) -> str:
    """A name :func:`gather_facts` reads back as ``(schema, table)``."""

    def part(text: str) -> str:
        return '"' + text.replace('"', '""') + '"'

    return part(table) if schema is None else f"{part(schema)}.{part(table)}"


def qualified(dialect: Dialect, schema: str | None, table: str) -> str:
    """``schema.table`` quoted for SQL (unqualified for SQLite's main database)."""
    quoted = dialect.quote(table)
    return quoted if schema is None else f"{dialect.quote(schema)}.{quoted}"


def _columns_sql(dialect: Dialect, columns: Iterable[str], alias: str | None = None) -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + dialect.quote(c) for c in columns)


def _tuple_sql(dialect: Dialect, columns: Sequence[str], alias: str | None = None) -> str:
    text = _columns_sql(dialect, columns, alias)
    return text if len(columns) == 1 else f"({text})"


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


# -- per-database behaviour ---------------------------------------------------------------


@dataclass(frozen=True)
class KeyType:
    """A key column's type, as much as a comparison needs.

    ``text`` is the database's spelling; ``oid`` PostgreSQL's type; ``base``,
    ``unsigned``, ``charset``, ``collation``, ``precision``, ``scale`` MySQL's
    ``information_schema.COLUMNS`` figures; ``affinity`` SQLite's.
    """

    text: str
    oid: int | None = None
    base: str = ""
    unsigned: bool = False
    charset: str | None = None
    collation: str | None = None
    precision: int | None = None
    scale: int | None = None
    affinity: str = ""


class Server:
    """What one database does with foreign keys; a subclass per database overrides what
    differs."""

    #: DDL runs inside transactions (and rolls back).
    transactional_ddl: ClassVar[bool] = True
    #: A type mismatch makes the key fail (SQLite compares any affinities).
    strict_types: ClassVar[bool] = True
    #: ``TRUNCATE ... CASCADE`` empties the referencing tables (PostgreSQL).
    truncate_cascades: ClassVar[bool] = False
    #: DROP TABLE and TRUNCATE delete the rows first, and the keys' actions fire (SQLite).
    drops_by_deleting: ClassVar[bool] = False
    #: A key can be dropped on its own (not in SQLite: the table is rebuilt).
    can_drop_keys: ClassVar[bool] = True
    #: Dropping an index a key needs fails (InnoDB keeps an index per key).
    keys_need_an_index: ClassVar[bool] = False
    #: Cascades deeper than this fail (InnoDB: 15); None: no limit.
    cascade_depth: ClassVar[int | None] = None
    #: Said after a plan that changes column types.
    retype_note: ClassVar[str | None] = None

    def __init__(self, dataflow: DataFlow, server: ServerFacts) -> None:
        self.dataflow = dataflow
        self.dialect: Dialect = dataflow.dialect
        self.server = server

    def fold(self, name: str) -> str:
        """A name as the database compares it."""
        return name

    def key(self, schema: str | None, table: str) -> TableKey:
        return (schema, self.fold(table))

    def raw(self, text: str) -> str:
        """Text of the user's (a WHERE clause) as the engine's connection expects it."""
        return text

    async def prepare(self, conn: Fetcher) -> None:
        """Read the session settings the behaviour depends on (SQLite's pragmas)."""

    async def table_sql(self, conn: Fetcher, schema: str | None, table: str) -> str | None:
        """The table's CREATE statement, where the analysis needs it (SQLite)."""
        return None

    async def validated(self, conn: Fetcher, facts: TableFacts) -> dict[str, bool]:
        """Key name -> validated, where keys can exist unvalidated (PostgreSQL)."""
        return {}

    # type comparison

    async def column_types(
        self, conn: Fetcher, facts: TableFacts, columns: Sequence[str]
    ) -> dict[str, KeyType]:
        """The types of ``columns`` of a table."""
        return {c: KeyType(text=facts.columns[c].type) for c in columns if c in facts.columns}

    async def parse_type(self, conn: Fetcher, text: str, like: KeyType) -> KeyType | None:
        """A type written in a migration (``bigint``), or None when the database does not
        know it. ``like`` is the column's current type (its character set, ...)."""
        return KeyType(text=text)

    async def mismatch(self, conn: Fetcher, fk: KeyType, pk: KeyType) -> str | None:
        """Why a referencing column of type ``fk`` cannot reference ``pk`` (None: it
        can)."""
        return None

    async def extra_problems(
        self,
        conn: Fetcher,
        child: TableFacts,
        parent: TableFacts,
        columns: Sequence[str],
        ref_columns: Sequence[str],
    ) -> list[PlanProblem]:
        """What else this database requires of a new key."""
        return []

    # effects

    def drop_table(self, fk: ForeignKeyFacts, cascade: bool) -> tuple[str, str]:
        """(outcome, message) for a key of another table pointing at a dropped table."""
        return "fails", "the drop fails while this key points at the table"

    def truncate(self, fk: ForeignKeyFacts, cascade: bool) -> tuple[str, str]:
        """(outcome, message) for a key of another table pointing at a truncated table
        (not asked where a truncate is a DELETE, whose actions fire: SQLite)."""
        return "fails", "TRUNCATE fails while another table's key points at the table"

    def drop_referenced_column(self, fk: ForeignKeyFacts, cascade: bool) -> tuple[str, str]:
        return "fails", "the column cannot be dropped while this key references it"

    def drop_own_column(self, fk: ForeignKeyFacts, table_sql: str | None) -> tuple[str, str]:
        return "drops", "the key is dropped with its column"

    def renamed(self) -> tuple[str, str]:
        """(outcome, message) for a key whose table or column is renamed."""
        return "follows", "the key follows the rename"

    def retype(self, mismatch: str | None) -> tuple[str, str]:
        """(outcome, message) for a key whose column changes type."""
        if mismatch:
            return "mismatch", f"the change fails: {mismatch}"
        return "follows", "the key's types still compare"

    # statements

    def drop_fk_sql(self, fk: ForeignKeyFacts) -> str | None:
        return None

    def add_fk_steps(self, fk: ForeignKeyFacts, *, validate: bool = True) -> list[PlanStep]:
        return []

    def alter_type_sql(self, facts: TableFacts, column: str, new_type: str) -> str | None:
        return None

    async def plan_add(
        self,
        conn: Fetcher,
        child: TableFacts,
        fk: ForeignKeyFacts,
        index_missing: bool,
        plan: AddForeignKeyPlan,
    ) -> None:
        """Fill ``plan.steps`` and ``plan.notes`` for a new key."""

    def references_sql(self, fk: ForeignKeyFacts) -> str:
        d = self.dialect
        text = (
            f"FOREIGN KEY ({_columns_sql(d, fk.columns)}) REFERENCES "
            f"{qualified(d, fk.ref_schema, fk.ref_table)} ({_columns_sql(d, fk.ref_columns)})"
        )
        if fk.on_delete != "NO ACTION":
            text += f" ON DELETE {fk.on_delete}"
        if fk.on_update != "NO ACTION":
            text += f" ON UPDATE {fk.on_update}"
        return text

    def constraint_sql(self, fk: ForeignKeyFacts) -> str:
        head = f"CONSTRAINT {self.dialect.quote(fk.name)} " if fk.name else ""
        return head + self.references_sql(fk)


_PG_COLUMN_TYPES_SQL = """
SELECT a.attname::text, a.atttypid::int8, pg_catalog.format_type(a.atttypid, a.atttypmod)
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = pg_catalog.to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
"""

_PG_REGTYPE_SQL = (
    "SELECT pg_catalog.to_regtype($1)::oid::int8,"
    " pg_catalog.format_type(pg_catalog.to_regtype($1), NULL)"
)

# Whether a key column of type $2 can reference a column of type $1: PostgreSQL's own
# test (ATAddForeignKeyConstraint): the referenced type's default b-tree operator family
# has an equality operator between the two types (and of the referencing type with
# itself), or the referencing type casts implicitly to the family's input type.
_PG_COMPATIBLE_SQL = """
WITH base AS (
  SELECT CASE WHEN p.typtype = 'd' THEN p.typbasetype ELSE p.oid END AS pk,
         CASE WHEN f.typtype = 'd' THEN f.typbasetype ELSE f.oid END AS fk
  FROM pg_catalog.pg_type p, pg_catalog.pg_type f
  WHERE p.oid = $1::oid AND f.oid = $2::oid
), opc AS (
  SELECT c.opcfamily, c.opcintype
  FROM base, pg_catalog.pg_opclass c JOIN pg_catalog.pg_am a ON a.oid = c.opcmethod
  WHERE a.amname = 'btree' AND c.opcdefault
    AND (c.opcintype = base.pk OR EXISTS (
      SELECT 1 FROM pg_catalog.pg_cast k
      WHERE k.castsource = base.pk AND k.casttarget = c.opcintype AND k.castmethod = 'b'))
  ORDER BY c.opcintype = base.pk DESC
  LIMIT 1
)
SELECT base.pk = base.fk
  OR (EXISTS (SELECT 1 FROM pg_catalog.pg_amop o
              WHERE o.amopfamily = opc.opcfamily AND o.amoplefttype = opc.opcintype
                AND o.amoprighttype = base.fk AND o.amopstrategy = 3)
      AND EXISTS (SELECT 1 FROM pg_catalog.pg_amop o
                  WHERE o.amopfamily = opc.opcfamily AND o.amoplefttype = base.fk
                    AND o.amoprighttype = base.fk AND o.amopstrategy = 3))
  OR base.fk = opc.opcintype
  OR EXISTS (SELECT 1 FROM pg_catalog.pg_cast k
             WHERE k.castsource = base.fk AND k.casttarget = opc.opcintype
               AND k.castcontext = 'i')
FROM base LEFT JOIN opc ON true
"""

_PG_VALIDATED_SQL = """
SELECT conname::text, convalidated FROM pg_catalog.pg_constraint
WHERE conrelid = pg_catalog.to_regclass($1) AND contype = 'f'
"""


class PostgresServer(Server):
    """PostgreSQL: keys bind by oid and attnum; a new key goes in ``NOT VALID``, then
    ``VALIDATE``."""

    truncate_cascades = True

    async def column_types(
        self, conn: Fetcher, facts: TableFacts, columns: Sequence[str]
    ) -> dict[str, KeyType]:
        rows = await conn.fetch(
            _PG_COLUMN_TYPES_SQL, (qualified(self.dialect, facts.schema, facts.name),)
        )
        found = {str(name): KeyType(text=str(text), oid=int(oid)) for name, oid, text in rows}
        return {c: found[c] for c in columns if c in found}

    async def parse_type(self, conn: Fetcher, text: str, like: KeyType) -> KeyType | None:
        oid, spelled = (await conn.fetch(_PG_REGTYPE_SQL, (text,)))[0]
        if oid is None:
            return None
        return KeyType(text=str(spelled), oid=int(oid))

    async def mismatch(self, conn: Fetcher, fk: KeyType, pk: KeyType) -> str | None:
        if fk.oid is None or pk.oid is None:
            return None
        rows = await conn.fetch(_PG_COMPATIBLE_SQL, (pk.oid, fk.oid))
        if rows and rows[0][0]:
            return None
        return (
            f"PostgreSQL has no equality between {fk.text} and {pk.text} for a key "
            "(foreign key constraint cannot be implemented)"
        )

    def drop_table(self, fk: ForeignKeyFacts, cascade: bool) -> tuple[str, str]:
        if cascade:
            return "drops", "DROP ... CASCADE drops this key (the referencing rows stay)"
        return "fails", "the drop fails (other objects depend on it); CASCADE drops the key"

    def truncate(self, fk: ForeignKeyFacts, cascade: bool) -> tuple[str, str]:
        if cascade:
            return "cascades", "TRUNCATE ... CASCADE empties the referencing table too"
        return "fails", "TRUNCATE fails; TRUNCATE ... CASCADE would empty the referencing table"

    def drop_referenced_column(self, fk: ForeignKeyFacts, cascade: bool) -> tuple[str, str]:
        if cascade:
            return "drops", "DROP COLUMN ... CASCADE drops this key"
        return "fails", "the column cannot be dropped while this key depends on it"

    def retype(self, mismatch: str | None) -> tuple[str, str]:
        if mismatch:
            return "mismatch", f"the ALTER fails: {mismatch}"
        return "follows", "the key's types still compare; PostgreSQL keeps the key"

    async def validated(self, conn: Fetcher, facts: TableFacts) -> dict[str, bool]:
        name = qualified(self.dialect, facts.schema, facts.name)
        return {str(n): bool(v) for n, v in await conn.fetch(_PG_VALIDATED_SQL, (name,))}

    def drop_fk_sql(self, fk: ForeignKeyFacts) -> str | None:
        if not fk.name:
            return None
        table = qualified(self.dialect, fk.schema, fk.table)
        return f"ALTER TABLE {table} DROP CONSTRAINT {self.dialect.quote(fk.name)}"

    def add_fk_steps(self, fk: ForeignKeyFacts, *, validate: bool = True) -> list[PlanStep]:
        d = self.dialect
        table = qualified(d, fk.schema, fk.table)
        name = d.quote(fk.name or "")
        steps = [
            PlanStep(
                f"ALTER TABLE {table} ADD {self.constraint_sql(fk)} NOT VALID",
                "add the key without checking the existing rows (new rows are checked from "
                "now on); run it with a lock_timeout",
                lock=f"ShareRowExclusiveLock on {fk.table} and {fk.ref_table}, brief: "
                "no scan (writes wait, reads continue)",
                undo=self.drop_fk_sql(fk),
            )
        ]
        if validate:
            steps.append(
                PlanStep(
                    f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}",
                    "check the existing rows, in a transaction of its own",
                    lock=f"ShareUpdateExclusiveLock on {fk.table}, RowShareLock on "
                    f"{fk.ref_table}: scans, reads and writes continue",
                )
            )
        return steps

    def alter_type_sql(self, facts: TableFacts, column: str, new_type: str) -> str | None:
        d = self.dialect
        col = d.quote(column)
        return (
            f"ALTER TABLE {qualified(d, facts.schema, facts.name)} ALTER COLUMN {col} "
            f"TYPE {new_type} USING {col}::{new_type}"
        )

    async def plan_add(
        self,
        conn: Fetcher,
        child: TableFacts,
        fk: ForeignKeyFacts,
        index_missing: bool,
        plan: AddForeignKeyPlan,
    ) -> None:
        d = self.dialect
        if index_missing:
            index = d.generated_name("ix", fk.table, fk.columns)
            table = qualified(d, fk.schema, fk.table)
            plan.steps.append(
                PlanStep(
                    f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {d.quote(index)} ON {table} "
                    f"({_columns_sql(d, fk.columns)})",
                    f"index the referencing columns, so deletes and key updates of "
                    f"{fk.ref_table} find the referencing rows without scanning {fk.table}",
                    transactional=False,
                    lock="ShareUpdateExclusiveLock: reads and writes continue; outside a "
                    "transaction (a failed build leaves an INVALID index to drop)",
                    undo=f"DROP INDEX CONCURRENTLY IF EXISTS {qualified(d, fk.schema, index)}",
                )
            )
        plan.steps += self.add_fk_steps(fk)
        plan.notes.append(
            "Run each step in its own transaction: ADD ... NOT VALID holds its lock only "
            "for a catalog change, VALIDATE scans under a lock that lets writes through."
        )


_MY_COLUMNS_SQL = """
SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_SET_NAME, COLLATION_NAME,
       NUMERIC_PRECISION, NUMERIC_SCALE
FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s
"""

_MY_TABLE_SQL = """
SELECT ENGINE, TABLE_COLLATION FROM information_schema.TABLES
WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s
"""

_MY_FK_NAMES_SQL = """
SELECT TABLE_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS
WHERE CONSTRAINT_SCHEMA = %s AND CONSTRAINT_NAME = %s
"""

_MY_INTEGERS = {"tinyint", "smallint", "mediumint", "int", "bigint"}
_MY_STRINGS = {"char", "varchar"}
_MY_BINARIES = {"binary", "varbinary"}
_MY_ALIASES = {
    "integer": "int",
    "int4": "int",
    "int8": "bigint",
    "int2": "smallint",
    "dec": "decimal",
    "numeric": "decimal",
    "fixed": "decimal",
    "bool": "tinyint",
    "boolean": "tinyint",
    "character": "char",
}
_MY_TYPE = re.compile(
    r"^\s*(?P<base>[a-z]+(?:\s+varying)?)\s*(?:\((?P<args>[^)]*)\))?(?P<rest>.*)$", re.I | re.S
)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return value.decode()
    return str(value)


def mysql_type_mismatch(fk: KeyType, pk: KeyType, flavor: str) -> str | None:
    """InnoDB's rule for key column types (pure): integers of the same size and sign,
    strings (CHAR / VARCHAR, any length) in the same character set and collation, the
    same decimal (MariaDB accepts another precision and scale), else the same type."""
    if fk.base in _MY_STRINGS and pk.base in _MY_STRINGS:
        if (fk.charset, fk.collation) != (pk.charset, pk.collation):
            return (
                f"{fk.text} in {fk.charset}/{fk.collation} cannot reference {pk.text} in "
                f"{pk.charset}/{pk.collation}: InnoDB needs the same character set and "
                "collation"
            )
        return None
    if fk.base in _MY_BINARIES and pk.base in _MY_BINARIES:
        return None
    if fk.base in _MY_INTEGERS or pk.base in _MY_INTEGERS:
        if fk.base == pk.base and fk.unsigned == pk.unsigned:
            return None
        return (
            f"{fk.text} cannot reference {pk.text}: InnoDB needs integers of the same size and sign"
        )
    if fk.base == pk.base == "decimal":
        if flavor == "mariadb" or (fk.precision, fk.scale) == (pk.precision, pk.scale):
            return None
        return f"{fk.text} cannot reference {pk.text}: MySQL needs the same precision and scale"
    if fk.base == pk.base:
        return None
    return f"{fk.text} cannot reference {pk.text}: InnoDB needs similar types"


class MySQLServer(Server):
    """MySQL 8 and MariaDB (InnoDB): DDL commits; type rules are strict; a key is added
    by copying the table unless ``foreign_key_checks`` is off."""

    transactional_ddl = False
    keys_need_an_index = True
    cascade_depth = MYSQL_CASCADE_DEPTH
    retype_note = (
        "MODIFY restates the column from its facts (NULL, DEFAULT, AUTO_INCREMENT); check "
        "comments and character sets before running it."
    )

    def raw(self, text: str) -> str:
        return text.replace("%", "%%")

    async def _table(self, conn: Fetcher, facts: TableFacts) -> tuple[str | None, str | None]:
        rows = await conn.fetch(_MY_TABLE_SQL, (facts.schema, facts.name))
        if not rows:
            return None, None
        return _text(rows[0][0]), _text(rows[0][1])

    async def column_types(
        self, conn: Fetcher, facts: TableFacts, columns: Sequence[str]
    ) -> dict[str, KeyType]:
        found: dict[str, KeyType] = {}
        for name, data_type, column_type, charset, collation, precision, scale in await conn.fetch(
            _MY_COLUMNS_SQL, (facts.schema, facts.name)
        ):
            text = _text(column_type) or ""
            found[str(_text(name))] = KeyType(
                text=text,
                base=(_text(data_type) or "").lower(),
                unsigned="unsigned" in text.lower(),
                charset=_text(charset),
                collation=_text(collation),
                precision=None if precision is None else int(precision),
                scale=None if scale is None else int(scale),
            )
        return {c: found[c] for c in columns if c in found}

    async def parse_type(self, conn: Fetcher, text: str, like: KeyType) -> KeyType | None:
        match = _MY_TYPE.match(text)
        if match is None:
            return None
        base = re.sub(r"\s+", " ", match["base"].lower())
        base = {"character varying": "varchar"}.get(base, base)
        base = _MY_ALIASES.get(base, base)
        rest = match["rest"].lower()
        args = [a.strip() for a in (match["args"] or "").split(",") if a.strip()]
        charset = re.search(r"(?:character\s+set|charset)\s+(\w+)", rest)
        collation = re.search(r"collate\s+(\w+)", rest)
        precision = int(args[0]) if base == "decimal" and args else None
        scale = int(args[1]) if base == "decimal" and len(args) > 1 else None
        if base == "decimal" and precision is None:
            precision, scale = 10, 0
        string = base in _MY_STRINGS
        return KeyType(
            text=text.strip(),
            base=base,
            unsigned="unsigned" in rest,
            charset=(charset[1] if charset else like.charset) if string else None,
            collation=(collation[1] if collation else like.collation) if string else None,
            precision=precision,
            scale=scale,
        )

    async def mismatch(self, conn: Fetcher, fk: KeyType, pk: KeyType) -> str | None:
        return mysql_type_mismatch(fk, pk, self.server.flavor)

    async def extra_problems(
        self,
        conn: Fetcher,
        child: TableFacts,
        parent: TableFacts,
        columns: Sequence[str],
        ref_columns: Sequence[str],
    ) -> list[PlanProblem]:
        problems = []
        for facts in (child, parent):
            engine, _ = await self._table(conn, facts)
            if engine is not None and engine.lower() != "innodb":
                problems.append(
                    PlanProblem(
                        "engine",
                        f"{facts.name} uses the {engine} engine, which ignores foreign keys; "
                        f"convert it first (ALTER TABLE {facts.name} ENGINE=InnoDB)",
                        details={"table": facts.name, "engine": engine},
                    )
                )
        return problems

    def drop_table(self, fk: ForeignKeyFacts, cascade: bool) -> tuple[str, str]:
        return "fails", "the drop fails (error 1451) while this key points at the table"

    def truncate(self, fk: ForeignKeyFacts, cascade: bool) -> tuple[str, str]:
        return "fails", "TRUNCATE fails (error 1701) while another table's key points here"

    def drop_referenced_column(self, fk: ForeignKeyFacts, cascade: bool) -> tuple[str, str]:
        return "fails", "the drop fails (error 1829): the column is needed by this key"

    def drop_own_column(self, fk: ForeignKeyFacts, table_sql: str | None) -> tuple[str, str]:
        return "fails", "the drop fails (error 1553): drop the key first"

    def retype(self, mismatch: str | None) -> tuple[str, str]:
        if mismatch:
            return (
                "mismatch",
                f"the change fails (error 1833), and the key cannot be added back: {mismatch}",
            )
        return (
            "fails",
            "the change fails (error 1833: a key column cannot change type): drop the key, "
            "change the column, add the key back",
        )

    def drop_fk_sql(self, fk: ForeignKeyFacts) -> str | None:
        if not fk.name:
            return None
        table = qualified(self.dialect, fk.schema, fk.table)
        return f"ALTER TABLE {table} DROP FOREIGN KEY {self.dialect.quote(fk.name)}"

    def add_fk_steps(self, fk: ForeignKeyFacts, *, validate: bool = True) -> list[PlanStep]:
        table = qualified(self.dialect, fk.schema, fk.table)
        return [
            PlanStep(
                f"ALTER TABLE {table} ADD {self.constraint_sql(fk)}, ALGORITHM=COPY, LOCK=SHARED",
                f"add the key and check every row of {fk.table}",
                lock=f"copies {fk.table}: reads continue, writes wait for the whole copy "
                "(InnoDB adds a key in place only with foreign_key_checks=0)",
                undo=self.drop_fk_sql(fk),
            )
        ]

    def alter_type_sql(self, facts: TableFacts, column: str, new_type: str) -> str | None:
        d = self.dialect
        own = facts.columns[column]
        text = f"{d.quote(column)} {new_type}"
        text += "" if own.nullable else " NOT NULL"
        if own.default is not None and not own.auto_increment:
            text += f" DEFAULT {self.raw(own.default)}"
        if own.auto_increment:
            text += " AUTO_INCREMENT"
        return f"ALTER TABLE {qualified(d, facts.schema, facts.name)} MODIFY {text}"

    async def plan_add(
        self,
        conn: Fetcher,
        child: TableFacts,
        fk: ForeignKeyFacts,
        index_missing: bool,
        plan: AddForeignKeyPlan,
    ) -> None:
        plan.steps += self.add_fk_steps(fk)
        if index_missing:
            plan.notes.append(
                f"InnoDB creates an index named {fk.name} on {fk.table} "
                f"({', '.join(fk.columns)}) as part of the statement."
            )
        plan.notes.append(
            "ALGORITHM=COPY, LOCK=SHARED are spelt out so the statement fails instead of "
            "taking a stronger lock. ALGORITHM=INPLACE, LOCK=NONE runs without the copy "
            "only under SET foreign_key_checks=0, which skips the check of existing rows: "
            "safe only when no orphan can appear between find_orphans() and the ALTER."
        )
        clash = await conn.fetch(_MY_FK_NAMES_SQL, (child.schema, fk.name))
        if clash and not any(p.code == "name-taken" for p in plan.problems):
            plan.problems.append(
                PlanProblem(
                    "name-taken",
                    f"a foreign key named {fk.name!r} already exists in database "
                    f"{child.schema} (on {_text(clash[0][0])}); InnoDB needs key names unique "
                    "per database: pass another name",
                    details={"name": fk.name},
                )
            )


_SQLITE_TABLE_SQL = "SELECT sql FROM {db}.sqlite_schema WHERE type = 'table' AND name = ?"
_SQLITE_DEPENDENT_SQL = """
SELECT type, name, sql FROM {db}.sqlite_schema
WHERE type IN ('index', 'trigger') AND tbl_name = ? COLLATE NOCASE AND sql IS NOT NULL
ORDER BY type, name
"""
_SQLITE_XINFO_SQL = "SELECT name, hidden FROM pragma_table_xinfo(?, ?) ORDER BY cid"
_IDENT = r'(?:"(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\]|[^\s(."`\[]+)'
_CREATE_TABLE = re.compile(
    rf"^(\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?)(?:{_IDENT}\s*\.\s*)?{_IDENT}(\s*\()",
    re.I,
)
_TABLE_OPTIONS = re.compile(r"^[\s,]*(?:(?:WITHOUT\s+ROWID|STRICT)[\s,]*)*$", re.I)
_TABLE_LEVEL_FK = re.compile(r"FOREIGN\s+KEY\s*\(([^)]*)\)", re.I)


def sqlite_affinity(declared: str) -> str:
    """SQLite's type affinity of a declared type (``§3.1`` of its datatype page)."""
    text = declared.upper()
    if "INT" in text:
        return "INTEGER"
    if any(word in text for word in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in text or not text.strip():
        return "BLOB"
    if any(word in text for word in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def with_constraint(table_sql: str, new_name: str, constraint: str) -> str | None:
    """A ``CREATE TABLE`` statement renamed to ``new_name`` (already quoted) with a
    table constraint added; None when the statement's shape is not recognised."""
    head = _CREATE_TABLE.match(table_sql)
    end = table_sql.rfind(")")
    if head is None or end < head.end() or not _TABLE_OPTIONS.match(table_sql[end + 1 :]):
        return None
    body = table_sql[head.end() : end].rstrip()
    return f"{head.group(1)}{new_name} ({body}, {constraint}){table_sql[end + 1 :]}"


class SQLiteServer(Server):
    """SQLite: keys are enforced per connection (``PRAGMA foreign_keys``); a key can be
    neither added nor dropped without rebuilding the table."""

    strict_types = False
    drops_by_deleting = True
    can_drop_keys = False

    def fold(self, name: str) -> str:
        return name.translate(_ASCII_LOWER)

    async def prepare(self, conn: Fetcher) -> None:
        await self.read_pragmas(conn)

    def _db(self, schema: str | None) -> str:
        return self.dialect.quote(schema or "main")

    async def column_types(
        self, conn: Fetcher, facts: TableFacts, columns: Sequence[str]
    ) -> dict[str, KeyType]:
        return {
            c: KeyType(text=facts.columns[c].type, affinity=sqlite_affinity(facts.columns[c].type))
            for c in columns
            if c in facts.columns
        }

    async def parse_type(self, conn: Fetcher, text: str, like: KeyType) -> KeyType | None:
        return KeyType(text=text, affinity=sqlite_affinity(text))

    async def mismatch(self, conn: Fetcher, fk: KeyType, pk: KeyType) -> str | None:
        if fk.affinity == pk.affinity:
            return None
        return (
            f"{fk.text or 'no type'} ({fk.affinity} affinity) references "
            f"{pk.text or 'no type'} ({pk.affinity} affinity): SQLite accepts it and applies "
            "the parent's affinity when it looks a parent up, but values stored with the "
            "child's affinity compare differently in your own queries; use one affinity"
        )

    def drop_table(self, fk: ForeignKeyFacts, cascade: bool) -> tuple[str, str]:
        return (
            "dangles",
            "DROP TABLE first deletes every row (this key's ON DELETE action fires), then "
            f"{fk.table} keeps a key to a missing table: every later write to it fails "
            "(no such table)",
        )

    def drop_referenced_column(self, fk: ForeignKeyFacts, cascade: bool) -> tuple[str, str]:
        return "fails", "SQLite refuses to drop a PRIMARY KEY or UNIQUE column"

    def drop_own_column(self, fk: ForeignKeyFacts, table_sql: str | None) -> tuple[str, str]:
        for match in _TABLE_LEVEL_FK.finditer(table_sql or ""):
            names = {p.strip().strip('"`[]').translate(_ASCII_LOWER) for p in match[1].split(",")}
            if names & {c.translate(_ASCII_LOWER) for c in fk.columns}:
                return (
                    "fails",
                    "the drop fails: a table-level FOREIGN KEY names the column (rebuild the "
                    "table without it)",
                )
        return "drops", "the column's REFERENCES clause goes with it"

    def renamed(self) -> tuple[str, str]:
        if self.legacy_alter_table:
            return (
                "dangles",
                "PRAGMA legacy_alter_table is on: the key keeps the old name and points at nothing",
            )
        return "follows", "SQLite rewrites the key's REFERENCES clause"

    def retype(self, mismatch: str | None) -> tuple[str, str]:
        message = "SQLite has no ALTER COLUMN TYPE: rebuild the table; the key follows by name"
        return "follows", message + (f" ({mismatch})" if mismatch else "")

    legacy_alter_table = False

    async def read_pragmas(self, conn: Fetcher) -> tuple[bool, bool]:
        """(foreign_keys, legacy_alter_table) of the engine's connection."""
        keys = (await conn.fetch("PRAGMA foreign_keys"))[0][0]
        legacy = (await conn.fetch("PRAGMA legacy_alter_table"))[0][0]
        self.legacy_alter_table = bool(legacy)
        return bool(keys), bool(legacy)

    async def table_sql(self, conn: Fetcher, schema: str | None, table: str) -> str | None:
        rows = await conn.fetch(_SQLITE_TABLE_SQL.format(db=self._db(schema)), (table,))
        return str(rows[0][0]) if rows else None

    async def plan_add(
        self,
        conn: Fetcher,
        child: TableFacts,
        fk: ForeignKeyFacts,
        index_missing: bool,
        plan: AddForeignKeyPlan,
    ) -> None:
        d = self.dialect
        schema = child.schema
        original = await self.table_sql(conn, schema, child.name) or ""
        temporary = f"_df_new_{child.name}"
        create = with_constraint(original, d.quote(temporary), self.constraint_sql(fk))
        if create is None:
            plan.problems.append(
                PlanProblem(
                    "unsupported-table-sql",
                    f"the CREATE TABLE statement of {child.name} is not in a shape the "
                    "rebuild can extend; rebuild it by hand (SQLite's 12-step procedure)",
                    details={"sql": original},
                )
            )
            return
        copied = [
            str(name)
            for name, hidden in await conn.fetch(_SQLITE_XINFO_SQL, (child.name, schema or "main"))
            if int(hidden) == 0
        ]
        dependents = await conn.fetch(
            _SQLITE_DEPENDENT_SQL.format(db=self._db(schema)), (child.name,)
        )
        keys_on, legacy = await self.read_pragmas(conn)
        table = qualified(d, schema, child.name)
        new = qualified(d, schema, temporary)
        cols = _columns_sql(d, copied)
        steps = plan.steps
        steps.append(
            PlanStep(
                "PRAGMA foreign_keys = OFF",
                f"so dropping the old {child.name} neither cascades nor fails; outside the "
                "transaction (the pragma is a no-op inside one)",
                transactional=False,
                undo="PRAGMA foreign_keys = ON" if keys_on else None,
            )
        )
        steps.append(
            PlanStep(
                "PRAGMA legacy_alter_table = ON",
                "so the final rename leaves views and triggers that read the table alone",
                transactional=False,
                undo=None if legacy else "PRAGMA legacy_alter_table = OFF",
            )
        )
        steps.append(PlanStep(create, f"the new {child.name}, with the key"))
        steps.append(
            PlanStep(
                f"INSERT INTO {new} ({cols}) SELECT {cols} FROM {table}",
                f"copy every row of {child.name}",
                lock="SQLite's write lock on the database file for the whole rebuild",
            )
        )
        steps.append(PlanStep(f"DROP TABLE {table}", f"drop the old {child.name}"))
        steps.append(
            PlanStep(
                f"ALTER TABLE {new} RENAME TO {d.quote(child.name)}",
                f"give the new table the name {child.name}",
            )
        )
        for kind, name, sql in dependents:
            steps.append(PlanStep(str(sql), f"recreate {kind} {name} (dropped with the table)"))
        if index_missing:
            index = d.generated_name("ix", fk.table, fk.columns)
            steps.append(
                PlanStep(
                    f"CREATE INDEX IF NOT EXISTS {qualified(d, schema, index)} ON "
                    f"{d.quote(child.name)} ({_columns_sql(d, fk.columns)})",
                    f"index the referencing columns, so deletes in {fk.ref_table} find "
                    f"the referencing rows without scanning {fk.table}",
                )
            )
        steps.append(
            PlanStep(
                f"PRAGMA {self._db(schema)}.foreign_key_check({d.quote(child.name)})",
                "every row must have its parent: a row here means roll back",
                check=True,
            )
        )
        steps.append(
            PlanStep(
                f"PRAGMA legacy_alter_table = {'ON' if legacy else 'OFF'}",
                "restore the setting",
                transactional=False,
            )
        )
        steps.append(
            PlanStep(
                f"PRAGMA foreign_keys = {'ON' if keys_on else 'OFF'}",
                "restore key enforcement",
                transactional=False,
            )
        )
        plan.atomic = True
        plan.notes.append(
            "SQLite cannot add a key to an existing table: the plan rebuilds it (create, "
            "copy, drop, rename, recreate its indexes and triggers) in one transaction, "
            "with key enforcement off around it; PRAGMA foreign_key_check confirms the rows "
            "before COMMIT."
        )


_SERVERS: dict[str, type[Server]] = {
    "postgresql": PostgresServer,
    "mysql": MySQLServer,
    "sqlite": SQLiteServer,
}


def server_for(dataflow: DataFlow, facts: ServerFacts) -> Server:
    """The behaviour of ``dataflow``'s database."""
    return _SERVERS[dataflow.dialect.name](dataflow, facts)


# -- running plans --------------------------------------------------------------------------


async def run_steps(conn: Connection, steps: Sequence[PlanStep], *, atomic: bool) -> None:
    """Run ``steps`` in order: with ``atomic``, each run of consecutive transactional
    steps as one transaction; other steps on their own.

    Raises:
        MigrationError: ``DF-MIGRATION-CHECK-FAILED`` when a check step returns rows
            (its transaction is rolled back).
    """
    i = 0
    while i < len(steps):
        if atomic and steps[i].transactional:
            j = i
            while j < len(steps) and steps[j].transactional:
                j += 1
            async with conn.transaction():
                for step in steps[i:j]:
                    await _run_step(conn, step)
            i = j
        else:
            await _run_step(conn, steps[i])
            i += 1


async def _run_step(conn: Connection, step: PlanStep) -> None:
    if not step.check:
        await conn.execute(step.sql)
        return
    rows = await conn.fetch(step.sql)
    if rows:
        raise MigrationError(
            f"the check {step.sql!r} returned {len(rows)} rows ({step.purpose}); "
            "the change was rolled back",
            code="DF-MIGRATION-CHECK-FAILED",
            details={"sql": step.sql, "rows": [list(r) for r in rows[:10]]},
        )


# -- the analyzer ---------------------------------------------------------------------------


def _operation(
    table: str,
    operation: Operation | OperationKind | str,
    column: str | None,
    data_type: str | None,
    where: str | None,
    cascade: bool,
    dialect: str,
) -> Operation:
    if isinstance(operation, Operation):
        if column is not None or data_type is not None or where is not None or cascade:
            raise ValidationError(
                "give either an Operation or its kind with column / data_type / where / "
                "cascade, not both",
                code="DF-PARAM-CONFLICT",
                details={"param": "operation"},
            )
        return operation
    kind: OperationKind | None = None
    if isinstance(operation, OperationKind):
        kind = operation
    elif isinstance(operation, str):
        try:
            kind = OperationKind(operation.strip().lower())
        except ValueError:
            kind = None
        if kind is None:
            from ._ddl import parse_ddl

            ops = [o for o in parse_ddl(operation, dialect) if not o.options.get("implicit")]
            if len(ops) != 1:
                raise ValidationError(
                    f"operation must be one statement or an OperationKind value "
                    f"({', '.join(k.value for k in OperationKind)}); got {len(ops)} "
                    "statements",
                    code="DF-PARAM-TYPE",
                    details={"param": "operation"},
                )
            return ops[0]
    else:
        raise ValidationError(
            f"operation must be an Operation, an OperationKind or its value, not "
            f"{type(operation).__name__}",
            code="DF-PARAM-TYPE",
            details={"param": "operation"},
        )
    return Operation(
        kind, table, column_name=column, data_type=data_type, where=where, cascade=cascade
    )


def _names(value: str | Sequence[str] | None, param: str) -> list[str]:
    if value is None:
        return []
    names = [value] if isinstance(value, str) else list(value)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValidationError(
            f"{param} must be a column name or a list of column names",
            code="DF-PARAM-TYPE",
            details={"param": param},
        )
    return names


def _action(value: str, param: str) -> str:
    action = " ".join(str(value).upper().replace("_", " ").split())
    if action not in ACTIONS:
        raise ValidationError(
            f"{param} must be one of {', '.join(ACTIONS)}, not {value!r}",
            code="DF-PARAM-TYPE",
            details={"param": param, "value": value},
        )
    return action


class ForeignKeyAnalyzer:
    """Foreign keys on the live database: what an operation does to them, orphans, and
    the safe way to add one. Reads only.

    Args:
        dataflow: the database (a ``read_only`` or ``existing_schema_mode`` DataFlow is
            fine).
        count_rows_below: tables the statistics put under this many rows are counted
            exactly, and a cascade is walked row by row only through such tables (see
            :func:`gather_facts`); 0 never counts.

    Example::

        fks = ForeignKeyAnalyzer(db)
        impact = await fks.analyze_foreign_key_impact("customers", "delete_rows",
                                                      where="id = 7")
        impact.rows_by_table("CASCADE")   # {"orders": 3, "order_lines": 11}
        plan = await fks.plan_add_foreign_key("orders", "customer_id", "customers", "id")
        plan.ready, [s.sql for s in plan.steps]
    """

    def __init__(self, dataflow: DataFlow, *, count_rows_below: int = COUNT_ROWS_BELOW) -> None:
        self.dataflow = dataflow
        self.count_rows_below = count_rows_below

    async def _facts(self, tables: Sequence[str]) -> tuple[ServerFacts, dict[str, TableFacts]]:
        return await gather_facts(self.dataflow, tables, count_rows_below=self.count_rows_below)

    # -- impact --------------------------------------------------------------------------

    async def analyze_foreign_key_impact(
        self,
        table: str,
        operation: Operation | OperationKind | str,
        column: str | None = None,
        *,
        data_type: str | None = None,
        where: str | None = None,
        cascade: bool = False,
    ) -> FKImpact:
        """The foreign keys an operation touches, in both directions, and what it does
        to each.

        Args:
            table: the table the operation changes (``"orders"``, ``"shop.orders"``).
            operation: an :class:`Operation`; or its kind (``OperationKind.DROP_COLUMN``
                or ``"drop_column"``) with the arguments below; or one DDL statement.
            column: the column a column operation changes.
            data_type: the new type of ``alter_column_type``.
            where: the condition of ``delete_rows`` (SQL on ``table``; None: every row).
            cascade: ``DROP ... CASCADE`` / ``TRUNCATE ... CASCADE``.

        Returns:
            An :class:`FKImpact`: the keys with their actions and referencing rows,
            ``effects`` (does it fail, drop, leave dangling, mismatch, cascade),
            ``cascade`` (every table a delete reaches, with rows: counted when every
            table on the way is small, else the referencing table's row figure as an
            upper bound), ``drop_order`` / ``recreate_order`` and ``steps``.

        Raises:
            ValidationError: an operation that is not one of the forms above
                (``DF-PARAM-TYPE``), or both an Operation and its arguments
                (``DF-PARAM-CONFLICT``).
            MigrationError: ``DF-MIGRATION-PARSE`` for DDL text that is not SQL.
            DatabaseError: the catalogs could not be read, or ``where`` is not valid SQL.

        Example::

            impact = await fks.analyze_foreign_key_impact("customers", "drop_table")
            impact.breaks                       # True: orders references customers
            [e.message for e in impact.breaking]
        """
        op = _operation(
            table, operation, column, data_type, where, cascade, self.dataflow.dialect.name
        )
        self.dataflow._check_open()
        return await _loop.run_async(self._impact(table, op))

    async def _impact(self, table: str, op: Operation) -> FKImpact:
        server, facts = await self._facts([table])
        own = facts[table]
        srv = server_for(self.dataflow, server)
        impact = FKImpact(
            table=own.name,
            schema=own.schema,
            operation=op,
            dialect=server.dialect,
            flavor=server.flavor,
            exists=own.exists,
        )
        if not own.exists:
            impact.notes.append(f"{table} does not exist: no foreign key is affected")
            return impact
        column = op.column_name
        if column is not None and column not in own.columns:
            match = [c for c in own.columns if srv.fold(c) == srv.fold(column)]
            column = match[0] if match else column
        touching_in = [
            fk
            for fk in own.foreign_keys_in
            if column is None or op.kind not in _COLUMN_KINDS or column in fk.ref_columns
        ]
        touching_out = [
            fk
            for fk in own.foreign_keys_out
            if column is None or op.kind not in _COLUMN_KINDS or column in fk.columns
        ]
        if op.kind in (K.DROP_INDEX, K.DROP_CONSTRAINT):
            touching_in, touching_out = self._by_key(own, op, touching_in, touching_out, srv)
        impact.foreign_keys_in = touching_in
        impact.foreign_keys_out = touching_out
        conn = PerStatement(self.dataflow)
        await srv.prepare(conn)
        await self._effects(conn, srv, own, op, column, impact)
        return impact

    def _by_key(
        self,
        own: TableFacts,
        op: Operation,
        keys_in: list[ForeignKeyFacts],
        keys_out: list[ForeignKeyFacts],
        srv: Server,
    ) -> tuple[list[ForeignKeyFacts], list[ForeignKeyFacts]]:
        """The keys a dropped index or constraint serves: referenced keys it makes
        unique, the table's own key of that name, and (MySQL) own keys it indexes."""
        name = op.index or ""
        index = next((i for i in own.indexes if srv.fold(i.name) == srv.fold(name)), None)
        served_in: list[ForeignKeyFacts] = []
        if index is not None and (index.unique or index.primary):
            served_in = [fk for fk in keys_in if set(fk.ref_columns) == set(index.columns)]
        served_out = [fk for fk in keys_out if fk.name and srv.fold(fk.name) == srv.fold(name)]
        if index is not None and srv.keys_need_an_index:
            others = [i for i in own.indexes if i is not index]
            for fk in keys_out:
                width = len(fk.columns)
                covers = tuple(index.columns[:width]) == fk.columns
                spare = any(tuple(i.columns[:width]) == fk.columns for i in others)
                if covers and not spare and fk not in served_out:
                    served_out.append(fk)
        return served_in, served_out

    async def _effects(
        self,
        conn: Fetcher,
        srv: Server,
        own: TableFacts,
        op: Operation,
        column: str | None,
        impact: FKImpact,
    ) -> None:
        kind = op.kind

        def add(
            fk: ForeignKeyFacts,
            direction: str,
            outcome: str,
            message: str,
            breaks: bool | None = None,
        ) -> None:
            if breaks is None:
                breaks = outcome in ("fails", "dangles", "mismatch", "blocks") or (
                    outcome == "drops" and direction == "in"
                )
            rows = (
                ""
                if fk.rows is None
                else f" ({fk.table} has {'' if fk.rows_exact else '~'}{fk.rows:,} rows)"
            )
            impact.effects.append(
                FKEffect(fk, direction, outcome, breaks, f"{_describe(fk)}: {message}{rows}")
            )

        def way(fk: ForeignKeyFacts) -> str:
            return "in" if fk in own.foreign_keys_in else "chain"

        def is_self(fk: ForeignKeyFacts) -> bool:
            return srv.key(fk.schema, fk.table) == srv.key(fk.ref_schema, fk.ref_table)

        if kind is K.DROP_TABLE:
            for fk in impact.foreign_keys_in:
                if is_self(fk):
                    add(fk, "in", "drops", "a self-reference goes with the table", False)
                elif srv.drops_by_deleting:
                    continue  # decided by the walk below
                else:
                    add(fk, "in", *srv.drop_table(fk, op.cascade))
            for fk in impact.foreign_keys_out:
                if not is_self(fk):
                    add(fk, "out", "drops", "the table's own key goes with it")
            if srv.drops_by_deleting:
                reached = await self._walk(conn, srv, own, None, impact)
                for fk, outcome, message in reached:
                    direct = fk in own.foreign_keys_in
                    if direct and is_self(fk):
                        continue
                    if outcome == "blocks":
                        add(fk, way(fk), "fails", "the implicit DELETE fails: " + message)
                    elif direct:
                        add(fk, "in", "dangles", f"{message}; " + srv.drop_table(fk, False)[1])
                    else:
                        add(fk, "chain", outcome, message)
                impact.notes.append(
                    "SQLite runs DROP TABLE as a DELETE of every row first: the ON DELETE "
                    "actions of the referencing keys fire."
                )
            else:
                impact.drop_order = self._order(
                    [e.foreign_key for e in impact.effects if e.outcome == "fails"], srv
                )
        elif kind is K.TRUNCATE_TABLE:
            others = [fk for fk in impact.foreign_keys_in if not is_self(fk)]
            if srv.drops_by_deleting:
                impact.notes.append("SQLite has no TRUNCATE: DELETE FROM runs, and actions fire")
                for fk, outcome, message in await self._walk(conn, srv, own, None, impact):
                    add(fk, way(fk), outcome, message)
            else:
                for fk in others:
                    add(fk, "in", *srv.truncate(fk, op.cascade))
                if others and op.cascade and srv.truncate_cascades:
                    await self._truncate_cascade(srv, own, impact)
                if others and not (op.cascade and srv.truncate_cascades):
                    impact.notes.append(
                        "Delete the rows in batches instead (the keys' actions then apply), "
                        "or truncate the referencing tables in the same statement."
                    )
        elif kind is K.DELETE_ROWS:
            for fk, outcome, message in await self._walk(conn, srv, own, op.where, impact):
                add(fk, way(fk), outcome, message)
            for fk in impact.foreign_keys_out:
                add(fk, "out", "unaffected", "the table's own key is not changed")
        elif kind is K.DROP_COLUMN:
            for fk in impact.foreign_keys_in:
                if is_self(fk) and fk in impact.foreign_keys_out:
                    continue
                add(fk, "in", *srv.drop_referenced_column(fk, op.cascade))
            table_sql = await srv.table_sql(conn, own.schema, own.name)
            for fk in impact.foreign_keys_out:
                add(fk, "out", *srv.drop_own_column(fk, table_sql))
            impact.drop_order = self._order(
                [e.foreign_key for e in impact.effects if e.outcome == "fails"], srv
            )
        elif kind in (K.RENAME_COLUMN, K.RENAME_TABLE):
            for fk in impact.foreign_keys_in:
                add(fk, "in", *srv.renamed())
            for fk in impact.foreign_keys_out:
                if not is_self(fk):
                    add(fk, "out", "follows", "the table's own key moves with it")
        elif kind is K.ALTER_COLUMN_TYPE:
            await self._retype(conn, srv, own, op, column, impact, add)
        elif kind in (K.DROP_INDEX, K.DROP_CONSTRAINT):
            for fk in impact.foreign_keys_in:
                result, why = srv.drop_referenced_column(fk, op.cascade)
                add(fk, "in", result, f"{op.index} is the key it references; {why}")
            for fk in impact.foreign_keys_out:
                if fk.name == op.index:
                    add(fk, "out", "drops", "this is the key being dropped")
                else:
                    add(fk, "out", "fails", f"{op.index} is the only index of the key's columns")
            impact.drop_order = self._order(
                [e.foreign_key for e in impact.effects if e.outcome == "fails"], srv
            )
        else:
            for fk in impact.foreign_keys_in:
                add(fk, "in", "unaffected", f"{kind.value} does not change the key")
            for fk in impact.foreign_keys_out:
                add(fk, "out", "unaffected", f"{kind.value} does not change the key")
        if impact.drop_order and not impact.steps:
            for fk in impact.drop_order:
                sql = srv.drop_fk_sql(fk)
                if sql is not None:
                    impact.steps.append(PlanStep(sql, f"drop {_describe(fk)} first", undo=None))
            if not srv.can_drop_keys:
                impact.notes.append(
                    "SQLite cannot drop a foreign key: rebuild the referencing table without it."
                )

    def _order(self, keys: Iterable[ForeignKeyFacts], srv: Server) -> list[ForeignKeyFacts]:
        """Keys in a stable order: by referencing table, then name."""
        unique: dict[tuple[Any, ...], ForeignKeyFacts] = {}
        for fk in keys:
            unique[(fk.schema, fk.table, fk.name, fk.columns)] = fk
        return sorted(unique.values(), key=lambda fk: (fk.table, fk.name or "", fk.columns))

    # -- type changes ---------------------------------------------------------------------

    async def _retype(
        self,
        conn: Fetcher,
        srv: Server,
        own: TableFacts,
        op: Operation,
        column: str | None,
        impact: FKImpact,
        add: Any,
    ) -> None:
        new_text = op.data_type or (op.column.data_type if op.column else None)
        if column is None or new_text is None or column not in own.columns:
            impact.notes.append("alter_column_type needs an existing column and a data_type")
            return
        current = (await srv.column_types(conn, own, [column])).get(column, KeyType(""))
        new = await srv.parse_type(conn, new_text, current)
        if new is None:
            impact.notes.append(f"the database does not know the type {new_text!r}")
            return
        # Every column tied to the changed one through keys, with the keys between them.
        chain: dict[TableKey, tuple[TableFacts, set[str]]] = {
            srv.key(own.schema, own.name): (own, {column})
        }
        keys: list[tuple[ForeignKeyFacts, int]] = []
        todo = [(own, column, 0)]
        needs_drop = False
        unfixable: list[ForeignKeyFacts] = []
        while todo:
            facts, col, depth = todo.pop(0)
            for fk in facts.foreign_keys_in:
                if col not in fk.ref_columns:
                    continue
                child_col = fk.columns[fk.ref_columns.index(col)]
                child_key = srv.key(fk.schema, fk.table)
                if child_key in chain:
                    child = chain[child_key][0]
                else:
                    _, found = await self._facts([request_name(fk.schema, fk.table)])
                    child = next(iter(found.values()))
                    chain[child_key] = (child, set())
                types = await srv.column_types(conn, child, [child_col])
                fk_type = types.get(child_col, KeyType(""))
                reason = await srv.mismatch(conn, fk_type, new) if depth == 0 else None
                if depth == 0:
                    outcome, message = srv.retype(reason)
                    add(fk, "in", outcome, message)
                    needs_drop = needs_drop or outcome in ("mismatch", "fails")
                keys.append((fk, depth))
                if child_col not in chain[child_key][1]:
                    chain[child_key][1].add(child_col)
                    todo.append((child, child_col, depth + 1))
        for fk in own.foreign_keys_out:
            if column not in fk.columns:
                continue
            ref_col = fk.ref_columns[fk.columns.index(column)]
            _, found = await self._facts([request_name(fk.ref_schema, fk.ref_table)])
            parent = next(iter(found.values()))
            pk_type = (await srv.column_types(conn, parent, [ref_col])).get(ref_col, KeyType(""))
            reason = await srv.mismatch(conn, new, pk_type)
            outcome, message = srv.retype(reason)
            if outcome == "mismatch":
                message += f"; choose a type that compares with {fk.ref_table}.{ref_col}"
                unfixable.append(fk)
            add(fk, "out", outcome, message)
            if outcome == "fails":
                keys.append((fk, 0))
                needs_drop = True
        if unfixable:
            impact.notes.append(
                "no sequence is given: the new type cannot reference "
                + ", ".join(f"{fk.ref_table} ({', '.join(fk.ref_columns)})" for fk in unfixable)
            )
            return
        if not needs_drop:
            return
        # Drop the keys children-first, change every tied column, add them back.
        ordered = sorted(keys, key=lambda item: -item[1])
        impact.drop_order = [fk for fk, _ in ordered]
        impact.recreate_order = list(reversed(impact.drop_order))
        for fk in impact.drop_order:
            sql = srv.drop_fk_sql(fk)
            if sql is not None:
                impact.steps.append(PlanStep(sql, f"drop {_describe(fk)}"))
        for facts, columns in chain.values():
            for col in sorted(columns):
                sql = srv.alter_type_sql(facts, col, new_text)
                if sql is not None:
                    impact.steps.append(PlanStep(sql, f"change {facts.name}.{col} to {new_text}"))
        for fk in impact.recreate_order:
            if fk.name:
                impact.steps += srv.add_fk_steps(fk)
        if srv.retype_note:
            impact.notes.append(srv.retype_note)

    # -- cascades -------------------------------------------------------------------------

    async def _graph(
        self, srv: Server, root: TableFacts, follow: Any
    ) -> dict[TableKey, TableFacts]:
        """The root and every table reached from it through the keys ``follow`` accepts,
        read level by level."""
        graph = {srv.key(root.schema, root.name): root}
        frontier = [root]
        while frontier:
            wanted: dict[TableKey, str] = {}
            for facts in frontier:
                for fk in facts.foreign_keys_in:
                    key = srv.key(fk.schema, fk.table)
                    if follow(fk) and key not in graph:
                        wanted[key] = request_name(fk.schema, fk.table)
            if not wanted:
                break
            _, found = await self._facts(list(wanted.values()))
            frontier = []
            for key, name in wanted.items():
                graph[key] = found[name]
                frontier.append(found[name])
        return graph

    async def _truncate_cascade(self, srv: Server, root: TableFacts, impact: FKImpact) -> None:
        """PostgreSQL's ``TRUNCATE ... CASCADE``: every table reached through any key is
        emptied, whatever its action."""
        graph = await self._graph(srv, root, lambda fk: True)
        impact.cascade.append(
            CascadeReach(root.name, root.schema, None, "TRUNCATE", root.rows, root.rows_exact, 0)
        )
        seen = {srv.key(root.schema, root.name)}
        level = [(root, 0)]
        while level:
            nxt = []
            for facts, depth in level:
                for fk in facts.foreign_keys_in:
                    key = srv.key(fk.schema, fk.table)
                    if key in seen:
                        continue
                    seen.add(key)
                    child = graph[key]
                    impact.cascade.append(
                        CascadeReach(
                            child.name,
                            child.schema,
                            fk,
                            "TRUNCATE",
                            child.rows,
                            child.rows_exact,
                            depth + 1,
                        )
                    )
                    nxt.append((child, depth + 1))
            level = nxt

    async def _walk(
        self,
        conn: Fetcher,
        srv: Server,
        root: TableFacts,
        where: str | None,
        impact: FKImpact,
    ) -> list[tuple[ForeignKeyFacts, str, str]]:
        """Every table a delete of ``root``'s rows (``where``; None: all) reaches, added to
        ``impact.cascade`` with rows: counted when every table on the way is small, else
        estimated. Returns (key, outcome, message) for each key into ``root`` and each
        key the rows reach further on."""
        graph = await self._graph(srv, root, lambda fk: fk.on_delete == "CASCADE")
        # The tables at the end of non-cascading keys are read too, never entered.
        tables = dict(graph)
        wanted = {
            srv.key(fk.schema, fk.table): request_name(fk.schema, fk.table)
            for facts in graph.values()
            for fk in facts.foreign_keys_in
            if srv.key(fk.schema, fk.table) not in tables
        }
        if wanted:
            _, found = await self._facts(list(wanted.values()))
            tables.update({key: found[name] for key, name in wanted.items()})
        if all(f.rows_exact for f in tables.values()):
            await self._walk_exact(conn, srv, root, where, tables, impact)
        else:
            self._walk_estimate(srv, root, where, tables, impact)
        deepest = max((r.depth for r in impact.cascade), default=0)
        if srv.cascade_depth is not None and deepest > srv.cascade_depth:
            impact.notes.append(
                f"the cascade goes {deepest} keys deep; InnoDB stops at "
                f"{srv.cascade_depth} and the delete fails"
            )
        home = srv.key(root.schema, root.name)
        out = []
        keys = dict.fromkeys([*root.foreign_keys_in, *(r.via for r in impact.cascade if r.via)])
        for fk in keys:
            reached = [r for r in impact.cascade if r.via == fk]
            rows = sum(r.rows or 0 for r in reached)
            approx = "" if all(r.exact for r in reached) else "up to "
            if rows == 0:
                outcome, message = "unaffected", "no referencing row is reached"
            elif fk.on_delete == "CASCADE":
                outcome, message = "cascades", f"deletes {approx}{rows:,} rows of {fk.table}"
            elif fk.on_delete == "SET NULL":
                outcome, message = "sets-null", f"sets {approx}{rows:,} keys of {fk.table} NULL"
            elif fk.on_delete == "SET DEFAULT":
                outcome = "sets-default"
                message = f"sets {approx}{rows:,} keys of {fk.table} to their default"
            else:
                outcome = "blocks"
                message = (
                    f"{approx}{rows:,} rows of {fk.table} still reference deleted rows "
                    f"({fk.on_delete}): the delete fails"
                )
            if srv.key(fk.schema, fk.table) == home:
                message += " (a self-reference)"
            out.append((fk, outcome, message))
        return out

    def _walk_estimate(
        self,
        srv: Server,
        root: TableFacts,
        where: str | None,
        graph: Mapping[TableKey, TableFacts],
        impact: FKImpact,
    ) -> None:
        """Without counting: the operation's table and every table behind a key, with its
        row figure as the upper bound."""
        impact.cascade.append(
            CascadeReach(
                root.name, root.schema, None, "DELETE", root.rows, root.rows_exact and not where, 0
            )
        )
        seen = {srv.key(root.schema, root.name)}
        level = [(root, 0)]
        while level:
            nxt = []
            for facts, depth in level:
                for fk in facts.foreign_keys_in:
                    key = srv.key(fk.schema, fk.table)
                    cascades = fk.on_delete == "CASCADE"
                    if cascades and key in seen:
                        continue
                    rows = graph[key].rows if graph[key].exists else fk.rows
                    impact.cascade.append(
                        CascadeReach(fk.table, fk.schema, fk, fk.on_delete, rows, False, depth + 1)
                    )
                    if cascades:
                        seen.add(key)
                        nxt.append((graph[key], depth + 1))
            level = nxt
        impact.notes.append(
            "a table on the way is too large to count: the rows reached are the referencing "
            "tables' row figures (upper bounds)"
        )

    async def _walk_exact(
        self,
        conn: Fetcher,
        srv: Server,
        root: TableFacts,
        where: str | None,
        graph: Mapping[TableKey, TableFacts],
        impact: FKImpact,
    ) -> None:
        """Breadth first over the rows (``graph`` holds every table a key leads to): the
        key values of the rows deleted in a table select the rows of each table
        referencing it; through CASCADE keys those rows are
        deleted in turn (each row once, however many paths reach it)."""
        d = self.dataflow.dialect
        tables = graph

        def identity(facts: TableFacts) -> list[str]:
            primary = [c.name for c in facts.columns.values() if c.is_primary_key]
            return primary or list(facts.columns)

        def needed(facts: TableFacts) -> list[str]:
            cols = identity(facts)
            for fk in facts.foreign_keys_in:
                cols += [c for c in fk.ref_columns if c not in cols]
            return cols

        def rows_of(columns: Sequence[str], fetched: Iterable[Sequence[Any]]) -> list[Row]:
            return [dict(zip(columns, r, strict=True)) for r in fetched]

        async def select_in(
            facts: TableFacts, columns: Sequence[str], match: Sequence[str], values: list[Any]
        ) -> list[Row]:
            head = (
                f"SELECT {_columns_sql(d, columns)} FROM "
                f"{qualified(d, facts.schema, facts.name)} WHERE {_tuple_sql(d, match)} IN "
            )
            out: list[Row] = []
            for start in range(0, len(values), CHUNK):
                p = Params(d)
                listed = ", ".join(
                    p.add(v[0]) if len(match) == 1 else f"({', '.join(p.add(x) for x in v)})"
                    for v in values[start : start + CHUNK]
                )
                out += rows_of(columns, await conn.fetch(f"{head}({listed})", p.values))
            return out

        root_key = srv.key(root.schema, root.name)
        columns = needed(root)
        sql = f"SELECT {_columns_sql(d, columns)} FROM {qualified(d, root.schema, root.name)}"
        if where:
            sql += f" WHERE {srv.raw(where)}"
        first = rows_of(columns, await conn.fetch(sql))
        deleted: dict[TableKey, dict[tuple[Any, ...], Row]] = {
            root_key: {_identity(r, identity(root)): r for r in first}
        }
        impact.cascade.append(
            CascadeReach(root.name, root.schema, None, "DELETE", len(first), True, 0)
        )
        # Non-cascading keys: the rows they reach, kept until every deletion is known.
        terminal: dict[int, tuple[ForeignKeyFacts, int, set[tuple[Any, ...]]]] = {}
        frontier = [(root_key, list(deleted[root_key].values()), 0)]
        while frontier:
            key, new_rows, depth = frontier.pop(0)
            for fk in tables[key].foreign_keys_in:
                values = {
                    tuple(r[c] for c in fk.ref_columns)
                    for r in new_rows
                    if all(r[c] is not None for c in fk.ref_columns)
                }
                if not values:
                    continue
                child_key = srv.key(fk.schema, fk.table)
                child = tables[child_key]
                matched = await select_in(
                    child, needed(child), fk.columns, sorted(values, key=repr)
                )
                ident = identity(child)
                if fk.on_delete != "CASCADE":
                    slot = terminal.setdefault(id(fk), (fk, depth + 1, set()))
                    slot[2].update(_identity(r, ident) for r in matched)
                    continue
                seen = deleted.setdefault(child_key, {})
                fresh = []
                for r in matched:
                    row_id = _identity(r, ident)
                    if row_id not in seen:
                        seen[row_id] = r
                        fresh.append(r)
                if fresh:
                    impact.cascade.append(
                        CascadeReach(
                            child.name, child.schema, fk, "CASCADE", len(fresh), True, depth + 1
                        )
                    )
                    frontier.append((child_key, fresh, depth + 1))
        for fk, depth, reached in terminal.values():
            child_key = srv.key(fk.schema, fk.table)
            gone = deleted.get(child_key, {})
            left = sum(1 for row_id in reached if row_id not in gone)
            child = tables[child_key]
            if left:
                impact.cascade.append(
                    CascadeReach(child.name, child.schema, fk, fk.on_delete, left, True, depth)
                )

    # -- orphans --------------------------------------------------------------------------

    async def find_orphans(self, table: str, *, sample_size: int = 10) -> list[OrphanReport]:
        """Rows of ``table`` whose parent row does not exist, per foreign key of the
        table: the check to run before ``VALIDATE CONSTRAINT`` or adding a key.

        Reads every row of the table (an anti-join per key, as a validation does).

        Args:
            table: the referencing table.
            sample_size: how many orphaned key values to return per key.

        Returns:
            One :class:`OrphanReport` per foreign key of the table, in the facts' order
            (none when the table has no keys or does not exist).

        Raises:
            ValidationError: a negative ``sample_size`` (``DF-PARAM-RANGE``).
            DatabaseError: the database could not be read.

        Example::

            for report in await fks.find_orphans("orders"):
                print(report.foreign_key.name, report.rows, report.sample[:3])
        """
        _sample_size(sample_size)
        self.dataflow._check_open()
        return await _loop.run_async(self._orphans(table, sample_size))

    async def _orphans(self, table: str, sample_size: int) -> list[OrphanReport]:
        server, facts = await self._facts([table])
        own = facts[table]
        if not own.exists:
            return []
        reports = []
        conn = PerStatement(self.dataflow)
        validated = await server_for(self.dataflow, server).validated(conn, own)
        for fk in own.foreign_keys_out:
            count, sample, sql = await self._orphan_rows(conn, fk, sample_size)
            state = validated.get(fk.name or "") if validated else None
            reports.append(OrphanReport(fk, count, sample, state, sql))
        return reports

    async def _orphan_rows(
        self, conn: Fetcher, fk: ForeignKeyFacts, sample_size: int
    ) -> tuple[int, list[tuple[Any, ...]], str]:
        d = self.dataflow.dialect
        child = qualified(d, fk.schema, fk.table)
        parent = qualified(d, fk.ref_schema, fk.ref_table)
        present = " AND ".join(f"c.{d.quote(c)} IS NOT NULL" for c in fk.columns)
        joined = " AND ".join(
            f"p.{d.quote(r)} = c.{d.quote(c)}"
            for c, r in zip(fk.columns, fk.ref_columns, strict=True)
        )
        body = (
            f"FROM {child} c WHERE {present} AND NOT EXISTS "
            f"(SELECT 1 FROM {parent} p WHERE {joined})"
        )
        count_sql = f"SELECT COUNT(*) {body}"
        count = int((await conn.fetch(count_sql))[0][0])
        sample: list[tuple[Any, ...]] = []
        if count and sample_size:
            cols = _columns_sql(d, fk.columns, "c")
            order = ", ".join(str(i + 1) for i in range(len(fk.columns)))
            rows = await conn.fetch(
                f"SELECT DISTINCT {cols} {body} ORDER BY {order} LIMIT {int(sample_size)}"
            )
            sample = [tuple(r) for r in rows]
        return count, sample, count_sql

    # -- adding a key ---------------------------------------------------------------------

    async def plan_add_foreign_key(
        self,
        table: str,
        columns: str | Sequence[str],
        ref_table: str,
        ref_columns: str | Sequence[str] | None = None,
        *,
        name: str | None = None,
        on_delete: str = "NO ACTION",
        on_update: str = "NO ACTION",
        sample_size: int = 10,
    ) -> AddForeignKeyPlan:
        """The safe way to add ``FOREIGN KEY (columns) REFERENCES ref_table (ref_columns)``
        on this server, and what stops it. Reads only: nothing is changed.

        PostgreSQL: ``CREATE INDEX CONCURRENTLY`` on the columns when no index leads with
        them, ``ADD CONSTRAINT ... NOT VALID``, ``VALIDATE CONSTRAINT``. MySQL / MariaDB:
        the ``ALTER TABLE ... ADD CONSTRAINT`` with ``ALGORITHM=COPY, LOCK=SHARED`` and
        InnoDB's requirements checked (same integer size and sign, same character set
        and collation, InnoDB tables, a unique name per database). SQLite: a table
        rebuild in one transaction.

        Args:
            table: the referencing table.
            columns: its key column(s).
            ref_table: the referenced table (may be ``table``).
            ref_columns: the referenced column(s); None: its primary key.
            name: the constraint name; default ``fk_<table>_<columns>``.
            on_delete, on_update: ``NO ACTION``, ``RESTRICT``, ``CASCADE``,
                ``SET NULL`` or ``SET DEFAULT``.
            sample_size: orphaned key values to show.

        Returns:
            An :class:`AddForeignKeyPlan`; ``ready`` is False while a blocking problem
            holds: orphans, a type mismatch, no primary key or unique constraint on the
            referenced columns, a missing table or column, SET NULL on a NOT NULL
            column, a name already taken.

        Raises:
            ValidationError: malformed arguments (``DF-PARAM-TYPE``,
                ``DF-PARAM-RANGE``).
            IdentifierTooLongError: ``name`` is longer than the database allows.
            DatabaseError: the catalogs could not be read.

        Example::

            plan = await fks.plan_add_foreign_key("orders", "customer_id", "customers")
            if not plan.ready:
                print([p.message for p in plan.blocking])
        """
        cols = _names(columns, "columns")
        refs = _names(ref_columns, "ref_columns")
        deletes = _action(on_delete, "on_delete")
        updates = _action(on_update, "on_update")
        _sample_size(sample_size)
        self.dataflow._check_open()
        return await _loop.run_async(
            self._plan_add(table, cols, ref_table, refs, name, deletes, updates, sample_size)
        )

    async def _plan_add(
        self,
        table: str,
        columns: list[str],
        ref_table: str,
        ref_columns: list[str],
        name: str | None,
        on_delete: str,
        on_update: str,
        sample_size: int,
    ) -> AddForeignKeyPlan:
        server, facts = await self._facts(list(dict.fromkeys([table, ref_table])))
        child, parent = facts[table], facts[ref_table]
        srv = server_for(self.dataflow, server)
        d = self.dataflow.dialect
        if not ref_columns and parent.exists:
            ref_columns = [c.name for c in parent.columns.values() if c.is_primary_key]
        key_name = name or d.generated_name("fk", child.name, columns)
        d.check_identifier(key_name, "foreign key")
        plan = AddForeignKeyPlan(
            table=child.name,
            columns=columns,
            ref_table=parent.name,
            ref_columns=ref_columns,
            name=key_name,
            on_delete=on_delete,
            on_update=on_update,
            dialect=server.dialect,
            flavor=server.flavor,
        )
        problems = plan.problems
        for facts_, label in ((child, table), (parent, ref_table)):
            if not facts_.exists:
                problems.append(
                    PlanProblem(
                        "table-missing", f"{label} does not exist", details={"table": label}
                    )
                )
            elif facts_.kind != "table":
                problems.append(
                    PlanProblem(
                        "view-not-table",
                        f"{label} is a {facts_.kind.replace('_', ' ')}: keys join tables",
                        details={"table": label},
                    )
                )
        if problems:
            return plan
        for facts_, wanted in ((child, columns), (parent, ref_columns)):
            missing = [c for c in wanted if c not in facts_.columns]
            if missing:
                problems.append(
                    PlanProblem(
                        "column-missing",
                        f"{facts_.name} has no column {', '.join(missing)} (columns: "
                        f"{', '.join(facts_.columns)})",
                        details={"table": facts_.name, "columns": missing},
                    )
                )
        if not ref_columns:
            problems.append(
                PlanProblem(
                    "no-unique-key",
                    f"{parent.name} has no primary key: name the referenced columns",
                    details={"table": parent.name},
                )
            )
        elif len(columns) != len(ref_columns):
            problems.append(
                PlanProblem(
                    "column-count",
                    f"{len(columns)} referencing columns for {len(ref_columns)} referenced ones",
                    details={"columns": columns, "ref_columns": ref_columns},
                )
            )
        if problems:
            return plan
        fk = ForeignKeyFacts(
            name=key_name,
            schema=child.schema,
            table=child.name,
            columns=tuple(columns),
            ref_schema=parent.schema,
            ref_table=parent.name,
            ref_columns=tuple(ref_columns),
            on_delete=on_delete,
            on_update=on_update,
            rows=child.rows,
            rows_exact=child.rows_exact,
        )
        unique = [
            set(i.columns)
            for i in parent.indexes
            if (i.unique or i.primary) and i.valid and i.partial is None
        ]
        primary = {c.name for c in parent.columns.values() if c.is_primary_key}
        if set(ref_columns) not in unique and set(ref_columns) != primary:
            problems.append(
                PlanProblem(
                    "no-unique-key",
                    f"{parent.name} ({', '.join(ref_columns)}) is neither its primary key nor "
                    "covered by a unique constraint or unique index; a key must reference a "
                    "unique row (PostgreSQL and SQLite refuse it; InnoDB accepts any index "
                    "but the parent row is then ambiguous): add a unique constraint first",
                    details={"table": parent.name, "columns": ref_columns},
                )
            )
        for action, label in ((on_delete, "ON DELETE"), (on_update, "ON UPDATE")):
            nullable = [c for c in columns if not child.columns[c].nullable]
            if action == "SET NULL" and nullable:
                problems.append(
                    PlanProblem(
                        "set-null-not-null",
                        f"{label} SET NULL on NOT NULL column {', '.join(nullable)}: the "
                        "action could never run (MySQL refuses the key, PostgreSQL and "
                        "SQLite fail at the first delete)",
                        details={"columns": nullable},
                    )
                )
        existing = [
            other
            for other in child.foreign_keys_out
            if other.columns == fk.columns
            and srv.fold(other.ref_table) == srv.fold(fk.ref_table)
            and other.ref_columns == fk.ref_columns
        ]
        if existing:
            problems.append(
                PlanProblem(
                    "already-exists",
                    f"{child.name} already has this key ({existing[0].name or 'unnamed'})",
                    blocking=False,
                    details={"name": existing[0].name},
                )
            )
        taken = [
            n
            for n in [*(o.name for o in child.foreign_keys_out), *(i.name for i in child.indexes)]
            if n and srv.fold(n) == srv.fold(key_name)
        ]
        if taken:
            problems.append(
                PlanProblem(
                    "name-taken",
                    f"{child.name} already has a constraint or index named {key_name!r}: "
                    "pass another name",
                    details={"name": key_name},
                )
            )
        conn = PerStatement(self.dataflow)
        child_types = await srv.column_types(conn, child, columns)
        parent_types = await srv.column_types(conn, parent, ref_columns)
        for col, ref in zip(columns, ref_columns, strict=True):
            reason = await srv.mismatch(conn, child_types[col], parent_types[ref])
            if reason is None:
                continue
            if srv.strict_types:
                code = "charset-mismatch" if "character set" in reason else "type-mismatch"
            else:
                code = "affinity-mismatch"
            problems.append(
                PlanProblem(
                    code,
                    f"{child.name}.{col} -> {parent.name}.{ref}: {reason}",
                    blocking=srv.strict_types,
                    details={
                        "column": col,
                        "type": child_types[col].text,
                        "ref_column": ref,
                        "ref_type": parent_types[ref].text,
                    },
                )
            )
        problems += await srv.extra_problems(conn, child, parent, columns, ref_columns)
        if any(p.code == "type-mismatch" for p in problems):
            plan.notes.append("orphans are counted once the key's types compare")
            plan.problems.sort(key=lambda p: not p.blocking)
            return plan
        count, sample, sql = await self._orphan_rows(conn, fk, sample_size)
        plan.orphans = OrphanReport(fk, count, sample, None, sql)
        if count:
            problems.append(
                PlanProblem(
                    "orphans",
                    f"{count:,} rows of {child.name} have no parent in {parent.name} "
                    f"(e.g. {', '.join(map(repr, sample[:3]))}): delete them, set them "
                    "NULL or add the missing parents, then plan again",
                    details={"rows": count, "sample": [list(s) for s in sample]},
                )
            )
        index_missing = not any(
            tuple(i.columns[: len(columns)]) == tuple(columns) and i.valid for i in child.indexes
        )
        await srv.plan_add(conn, child, fk, index_missing, plan)
        plan.problems.sort(key=lambda p: not p.blocking)
        return plan


_COLUMN_KINDS = frozenset(
    {K.DROP_COLUMN, K.RENAME_COLUMN, K.ALTER_COLUMN_TYPE, K.SET_NOT_NULL, K.DROP_NOT_NULL}
)


def _sample_size(value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValidationError(
            f"sample_size must be a non-negative integer, not {value!r}",
            code="DF-PARAM-RANGE",
            details={"param": "sample_size"},
        )
