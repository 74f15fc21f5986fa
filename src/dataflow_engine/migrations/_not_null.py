"""Adding a NOT NULL column to a populated table, safely (DESIGN §9, NotNullColumnHandler).

Existing rows get a value from one of six strategies (:class:`DefaultValueType`):

=============  =============================================================================
STATIC         ``default``: one constant (``"'active'"``, ``"0"``).
COMPUTED       ``default_expression``: SQL over the row's other columns (``"price * qty"``).
FUNCTION       ``default_expression`` (else ``default``): a database function evaluated per
               row as its batch runs (``"gen_random_uuid()"``, ``"CURRENT_TIMESTAMP"``).
CONDITIONAL    ``CASE WHEN c1 THEN v1 ... ELSE default END`` over ``conditions``
               ``[(sql_condition, sql_value), ...]``; ``default`` is required (the ELSE).
SEQUENCE       distinct numbers increasing in primary-key order, from 1: a sequence on
               PostgreSQL (``default_expression`` names an existing one, else
               ``<table>_<column>_seq`` is created, owned by the column); row numbering
               (``ROW_NUMBER() OVER (ORDER BY <key>)``) on MySQL and SQLite. Needs a key.
FOREIGN_KEY    one key of a row of ``foreign_key_reference`` (``"table.column"`` or
               ``"schema.table.column"``; the column must be that table's primary key or
               carry a single-column unique index), resolved once, before any change:
               the row ``default_expression`` selects (a WHERE condition over the
               referenced table that must match exactly one row), else the row whose key is
               ``default`` (which must exist), else the lowest key (the table must have
               rows). Every existing row gets that one value.
=============  =============================================================================

``default``, when given, is also the column's DEFAULT for future rows (so it must be valid
as a DEFAULT: it may not read the row's columns). Without it, FUNCTION makes its function
the DEFAULT and SEQUENCE on PostgreSQL makes ``nextval(<sequence>)`` the DEFAULT; every
other case leaves the column without a DEFAULT (the plan warns: inserts must then give it).

Steps, per server (each its own short transaction where the database has transactional
DDL; the plan names each step's lock with :func:`effect_of`):

- STATIC, on PostgreSQL 11+, MySQL / MariaDB and SQLite: one statement, ``ALTER TABLE t
  ADD COLUMN c type NOT NULL DEFAULT <constant>``: a catalog change (PostgreSQL's "fast
  default", InnoDB's instant ADD COLUMN, SQLite's stored default), no row is written.
- Otherwise: ``add-column`` (nullable, no default) -> ``create-sequence`` (PostgreSQL
  SEQUENCE only) -> ``backfill`` in batches by primary key (keyset: each batch ends at the
  ``batch_size``-th key after the previous batch; each batch is one transaction that updates
  the rows still NULL and checks that none of them is left NULL; the last batch has no
  upper bound, so rows appended meanwhile are filled too) -> enforce NOT NULL and set the
  DEFAULT:

  - PostgreSQL 12+: ``add-check`` (``CHECK (c IS NOT NULL) NOT VALID``, catalog only) ->
    ``validate-check`` (scans with SHARE UPDATE EXCLUSIVE: reads and writes go on) ->
    ``set-not-null`` (with ``SET DEFAULT``; proven by the valid check, no scan) ->
    ``drop-check``. Before 12, ``set-not-null`` scans under ACCESS EXCLUSIVE (warned).
  - MySQL / MariaDB: ``modify-not-null``: ``MODIFY COLUMN c type NOT NULL [DEFAULT d]``
    (the full definition). MySQL DDL is not transactional: each statement commits.
  - SQLite, which has no ALTER for NOT NULL: ``rebuild``, SQLite's documented 12-step
    procedure: ``PRAGMA foreign_keys = OFF``; in one transaction create the new table
    from the stored ``CREATE TABLE`` text with the column made NOT NULL (every other
    constraint, foreign key and option kept verbatim), copy the rows, drop the old
    table, rename the new one (``legacy_alter_table`` on for the rename, so views and
    triggers elsewhere that name the table are left as they are), recreate the table's
    indexes and triggers, restore its AUTOINCREMENT counter, ``PRAGMA foreign_key_check``
    it and the tables referencing it; commit; foreign keys back on.

Batching: by the primary key, single-column or composite (row-value comparisons), of any
orderable type. A table without a primary key is backfilled by one UPDATE in one
transaction (the plan warns); PostgreSQL's ``ctid`` is not used, since an UPDATE moves
rows. SEQUENCE needs a primary key (its order).

Failure: the step that failed is named in a :class:`MigrationError`
``DF-MIGRATION-NOT-NULL-STEP-FAILED``; what was done is undone by dropping the added column
(which also drops the PostgreSQL check and the sequence created for it). PostgreSQL and
SQLite roll back the failing step's transaction first; on MySQL, whose DDL commits as it
goes, the DROP COLUMN is a compensating action. A failed undo raises
``DF-MIGRATION-NOT-NULL-ROLLBACK-FAILED`` with the statement to run by hand.

Problem codes of :meth:`NotNullColumnHandler.validate_strategy` (each a
:class:`~dataflow_engine.errors.Diagnostic` whose ``path`` points into the
``ColumnDefinition``): ``DF-MIGRATION-DDL-REFUSED``, ``DF-MIGRATION-NOT-NULL-``
``TABLE-MISSING``, ``COLUMN-EXISTS``, ``NULLABLE``, ``STRATEGY``, ``MISSING-INPUT``,
``UNUSED-INPUT``, ``UNSUPPORTED``, ``NAME``, ``NO-KEY``, ``EXPRESSION``, ``READS-COLUMNS``,
``NOT-CONSTANT``, ``NULLS``, ``VALUE-FAILS``, ``REFERENCE-MISSING``, ``REFERENCE-NOT-KEY``,
``REFERENCE-VALUE``, ``SEQUENCE-MISSING``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from .. import _loop
from ..errors import (
    ConnectError,
    ConnectionLost,
    DatabaseError,
    DataFlowError,
    Diagnostic,
    IdentifierTooLongError,
    MigrationError,
    QueryTimeout,
    SchemaError,
    ValidationError,
)
from ._effects import Effect, effect_of, is_volatile_default
from ._facts import ServerFacts, TableFacts, gather_facts, name_parts, split_name
from ._operations import ColumnDefinition, DefaultValueType, Operation, OperationKind

if TYPE_CHECKING:
    from .._dataflow import DataFlow
    from ..adapters import Connection

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "NULL_SCAN_ROWS",
    "NotNullAdditionPlan",
    "NotNullAdditionResult",
    "NotNullColumnHandler",
    "NotNullStep",
]

#: Rows per backfill batch unless told otherwise.
DEFAULT_BATCH_SIZE = 10_000
#: Validation evaluates a COMPUTED / CONDITIONAL value over every row (to find rows it
#: would leave NULL, or fail on) for tables up to this many rows; bigger tables rely on
#: the check each backfill batch makes.
NULL_SCAN_ROWS = 1_000_000

K = OperationKind
S = DefaultValueType
_PREFIX = "DF-MIGRATION-NOT-NULL-"


# -- the public data -----------------------------------------------------------------------


@dataclass(frozen=True)
class NotNullStep:
    """One step of a plan.

    Attributes:
        name: ``add-column``, ``add-column-not-null``, ``create-sequence``, ``backfill``,
            ``add-check``, ``validate-check``, ``set-not-null``, ``drop-check``,
            ``modify-not-null`` or ``rebuild``.
        description: the step in words.
        statements: the SQL it runs, as sent to the driver (on MySQL a literal ``%`` is
            written ``%%``). For ``backfill`` these are the templates of one batch (the
            boundary query, the UPDATE, the check); for ``rebuild`` the procedure as read
            from the schema when the plan was made (it is read again when it runs).
        effect: what it does to the table on this server: the lock, whether readers or
            writers wait, a rewrite or a scan.
        batched: repeated once per batch, each batch its own transaction.
    """

    name: str
    description: str
    statements: tuple[str, ...]
    effect: Effect
    batched: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly description."""
        return {
            "name": self.name,
            "description": self.description,
            "statements": list(self.statements),
            "lock": self.effect.lock,
            "blocks_reads": self.effect.blocks_reads,
            "blocks_writes": self.effect.blocks_writes,
            "rewrites": self.effect.rewrites,
            "scans": self.effect.scans,
            "note": self.effect.note,
            "batched": self.batched,
        }


@dataclass(frozen=True)
class _Spec:
    """The names a plan chose, which its execution must use (the rest is read again)."""

    sequence: str | None = None  # PostgreSQL: the sequence's qualified, quoted name
    own_sequence: bool = False  # created by the plan (owned by the column)
    check_name: str | None = None  # PostgreSQL: the NOT NULL check's name


@dataclass
class NotNullAdditionPlan:
    """What :meth:`NotNullColumnHandler.execute_not_null_addition` will do, and what it
    found wrong.

    Attributes:
        table: the table as given.
        column: the column to add.
        strategy: how existing rows get their value.
        dialect: ``"postgresql"``, ``"mysql"`` or ``"sqlite"``.
        flavor: ``"postgresql"``, ``"mysql"``, ``"mariadb"`` or ``"sqlite"``.
        server_version: e.g. ``(16, 4)``.
        steps: the steps, in order (empty when the table does not exist).
        batch_size: rows per backfill batch.
        estimated_rows: the table's rows (counted, or the statistics' estimate: see
            ``rows_exact``).
        rows_exact: ``estimated_rows`` was counted.
        estimated_batches: backfill batches expected (0 when nothing is backfilled).
        batch_key: the primary key batches are cut by (empty: one UPDATE).
        value_sql: the value each existing row gets, as SQL (``None`` for SEQUENCE, whose
            value is a number; for FOREIGN_KEY a placeholder bound to ``reference_value``).
        default_sql: the column's DEFAULT for future rows, or None.
        reference_value: FOREIGN_KEY: the key every existing row gets.
        warnings: what to know before running it.
        problems: what stops it (see :meth:`NotNullColumnHandler.validate_strategy`).
    """

    table: str
    column: ColumnDefinition
    strategy: DefaultValueType | None
    dialect: str
    flavor: str
    server_version: tuple[int, ...]
    steps: list[NotNullStep]
    batch_size: int
    estimated_rows: int
    rows_exact: bool
    estimated_batches: int
    batch_key: tuple[str, ...]
    value_sql: str | None
    default_sql: str | None
    reference_value: Any = None
    warnings: list[str] = field(default_factory=list)
    problems: list[Diagnostic] = field(default_factory=list)
    _spec: _Spec | None = field(default=None, repr=False, compare=False)

    @property
    def executable(self) -> bool:
        """No problem stops it."""
        return not self.problems and self._spec is not None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly description."""
        return {
            "table": self.table,
            "column": self.column.name,
            "data_type": self.column.data_type,
            "strategy": None if self.strategy is None else self.strategy.value,
            "dialect": self.dialect,
            "flavor": self.flavor,
            "server_version": ".".join(map(str, self.server_version)),
            "steps": [s.to_dict() for s in self.steps],
            "batch_size": self.batch_size,
            "estimated_rows": self.estimated_rows,
            "rows_exact": self.rows_exact,
            "estimated_batches": self.estimated_batches,
            "batch_key": list(self.batch_key),
            "value_sql": self.value_sql,
            "default_sql": self.default_sql,
            "reference_value": _jsonable(self.reference_value),
            "warnings": list(self.warnings),
            "problems": [{**p.to_dict(), "details": p.details} for p in self.problems],
        }


@dataclass
class NotNullAdditionResult:
    """What :meth:`NotNullColumnHandler.execute_not_null_addition` did.

    Attributes:
        table: the table as given.
        column: the column's name.
        strategy: how existing rows got their value.
        rows_backfilled: rows the backfill updated (0 for a one-statement addition).
        batches: backfill transactions run (the last, open-ended one included).
        duration_seconds: wall time, lock wait included.
        steps: the names of the steps run, in order.
        step_seconds: the time each step took.
    """

    table: str
    column: str
    strategy: DefaultValueType
    rows_backfilled: int
    batches: int
    duration_seconds: float
    steps: list[str]
    step_seconds: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly description."""
        return {
            "table": self.table,
            "column": self.column,
            "strategy": self.strategy.value,
            "rows_backfilled": self.rows_backfilled,
            "batches": self.batches,
            "duration_seconds": round(self.duration_seconds, 3),
            "steps": list(self.steps),
            "step_seconds": {k: round(v, 3) for k, v in self.step_seconds.items()},
        }


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


# -- SQL of each database --------------------------------------------------------------------


class _Params:
    """Placeholders numbered in the order they appear in the text."""

    def __init__(self, backend: _Backend) -> None:
        self.backend = backend
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return self.backend.dialect.placeholder(len(self.values))


class _Backend:
    """The SQL of one database; subclasses override what differs."""

    name: ClassVar[str]
    #: DDL runs inside a transaction (and rolls back with it).
    transactional_ddl: ClassVar[bool] = True
    #: SEQUENCE takes numbers from a real sequence (else: row numbering).
    has_sequences: ClassVar[bool] = False
    #: NOT NULL is proven by a validated CHECK constraint first (a name is chosen).
    check_first: ClassVar[bool] = False
    #: NOT NULL is enforced by rebuilding the table (its statements are read at plan time).
    rebuilds: ClassVar[bool] = False

    def __init__(self, dataflow: DataFlow, server: ServerFacts) -> None:
        self.dataflow = dataflow
        self.dialect = dataflow.dialect
        self.server = server

    # -- text -------------------------------------------------------------------------

    def quote(self, name: str) -> str:
        return self.dialect.quote(name)

    def raw(self, fragment: str) -> str:
        """A fragment of the caller's SQL, as the driver must receive it."""
        return fragment

    def fold(self, name: str) -> str:
        """A name as the database compares it."""
        return name

    def literal(self, text: str) -> str:
        return self.dialect.string_literal(text)

    def table(self, schema: str | None, name: str) -> str:
        quoted = self.quote(name)
        return quoted if schema is None else f"{self.quote(schema)}.{quoted}"

    def effect(self, op: Operation) -> Effect:
        s = self.server
        return effect_of(op, s.dialect, s.version, flavor=s.flavor)

    # -- capabilities -----------------------------------------------------------------

    def one_statement_static(self) -> bool:
        """A NOT NULL column with a constant DEFAULT is added without writing rows."""
        return True

    def version_problem(self, strategy: DefaultValueType) -> str | None:
        """Why this server cannot do it, or None."""
        return None

    # -- statements -------------------------------------------------------------------

    def column_sql(self, column: ColumnDefinition, *, not_null: bool, default: str | None) -> str:
        text = f"{self.quote(column.name)} {self.raw(column.data_type)}"
        text += " NOT NULL" if not_null else " NULL"
        return text + (f" DEFAULT {default}" if default is not None else "")

    def add_column(self, t: str, column: ColumnDefinition) -> str:
        return f"ALTER TABLE {t} ADD COLUMN {self.column_sql(column, not_null=False, default=None)}"

    def add_column_not_null(self, t: str, column: ColumnDefinition, default: str) -> str:
        definition = self.column_sql(column, not_null=True, default=default)
        return f"ALTER TABLE {t} ADD COLUMN {definition}"

    def drop_column(self, t: str, column: str) -> str:
        return f"ALTER TABLE {t} DROP COLUMN {self.quote(column)}"

    def key_sql(self, key: Sequence[str]) -> str:
        cols = [self.quote(k) for k in key]
        return cols[0] if len(cols) == 1 else "(" + ", ".join(cols) + ")"

    def range_sql(
        self,
        key: Sequence[str],
        lower: Sequence[Any] | None,
        upper: Sequence[Any] | None,
        p: _Params,
    ) -> list[str]:
        """``key > lower`` and ``key <= upper``. A composite key is compared as a row
        value, plus a redundant bound on its first column, without which MariaDB does not
        range-scan the primary key (``b >= ? AND (b, a) > (?, ?)``)."""
        lhs = self.key_sql(key)
        parts = []
        for op, lead, bound in ((">", ">=", lower), ("<=", "<=", upper)):
            if bound is None:
                continue
            if len(key) > 1:
                parts.append(f"{self.quote(key[0])} {lead} {p.add(bound[0])}")
            marks = [p.add(v) for v in bound]
            rhs = marks[0] if len(marks) == 1 else "(" + ", ".join(marks) + ")"
            parts.append(f"{lhs} {op} {rhs}")
        return parts

    def boundary(
        self, t: str, key: Sequence[str], lower: Sequence[Any] | None, size: int
    ) -> tuple[str, list[Any]]:
        """The last key of the next batch: the ``size``-th key after ``lower``."""
        p = _Params(self)
        where = self.range_sql(key, lower, None, p)
        cols = ", ".join(self.quote(k) for k in key)
        sql = f"SELECT {cols} FROM {t}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {cols} LIMIT 1 OFFSET {size - 1}"
        return sql, p.values

    def update(
        self,
        t: str,
        column: str,
        key: Sequence[str],
        value: str,
        value_params: Sequence[Any],
        lower: Sequence[Any] | None,
        upper: Sequence[Any] | None,
    ) -> tuple[str, list[Any]]:
        """Fill the rows of a batch still NULL with ``value``."""
        p = _Params(self)
        for v in value_params:
            value = value.replace("\0", p.add(v), 1)
        c = self.quote(column)
        where = [*self.range_sql(key, lower, upper, p), f"{c} IS NULL"]
        return f"UPDATE {t} SET {c} = {value} WHERE {' AND '.join(where)}", p.values

    def numbered_update(
        self,
        t: str,
        column: str,
        key: Sequence[str],
        base: int,
        lower: Sequence[Any] | None,
        upper: Sequence[Any] | None,
    ) -> tuple[str, list[Any]]:
        """SEQUENCE without a sequence: ``base + ROW_NUMBER() OVER (ORDER BY key)``."""
        raise NotImplementedError

    def sequence_update(
        self,
        t: str,
        column: str,
        key: Sequence[str],
        sequence: str,
        lower: Sequence[Any] | None,
        upper: Sequence[Any] | None,
    ) -> tuple[str, list[Any]]:
        """SEQUENCE with a sequence: ``nextval`` taken in key order."""
        raise NotImplementedError

    def numbered_source(
        self, t: str, column: str, key: Sequence[str], where: list[str]
    ) -> tuple[str, str]:
        """The derived table numbering the batch's NULL rows, and its join condition."""
        cols = ", ".join(self.quote(k) for k in key)
        cond = " AND ".join([*where, f"{self.quote(column)} IS NULL"])
        source = (
            f"(SELECT {cols}, ROW_NUMBER() OVER (ORDER BY {cols}) AS df_rn "
            f"FROM {t} WHERE {cond}) AS df_n"
        )
        on = " AND ".join(f"df_t.{self.quote(k)} = df_n.{self.quote(k)}" for k in key)
        return source, on

    def null_check(
        self,
        t: str,
        column: str,
        key: Sequence[str],
        lower: Sequence[Any] | None,
        upper: Sequence[Any] | None,
    ) -> tuple[str, list[Any]]:
        """A row of the batch still NULL after its UPDATE (its key), if any."""
        p = _Params(self)
        where = [*self.range_sql(key, lower, upper, p), f"{self.quote(column)} IS NULL"]
        cols = ", ".join(self.quote(k) for k in key) if key else "1"
        return f"SELECT {cols} FROM {t} WHERE {' AND '.join(where)} LIMIT 1", p.values

    # -- the enforcement ----------------------------------------------------------------

    def enforce(self, plan: _Planning) -> list[NotNullStep]:
        """The steps making the column NOT NULL (with its DEFAULT) after the backfill."""
        raise NotImplementedError

    async def rebuild(
        self, conn: Connection, plan: _Planning, *, dry: bool, foreign_keys_on: bool
    ) -> list[str]:
        """The table rebuild; ``dry``: the statements only (reads)."""
        raise NotImplementedError


class _Postgres(_Backend):
    name = "postgresql"
    has_sequences = True
    check_first = True

    def one_statement_static(self) -> bool:
        return self.server.version[:1] >= (11,)

    def sequence_update(
        self,
        t: str,
        column: str,
        key: Sequence[str],
        sequence: str,
        lower: Sequence[Any] | None,
        upper: Sequence[Any] | None,
    ) -> tuple[str, list[Any]]:
        # Each CTE is computed on its own (MATERIALIZED from 12, always before): the keys
        # sorted, then nextval taken row by row in that order, then joined back.
        p = _Params(self)
        where = [*self.range_sql(key, lower, upper, p), f"{self.quote(column)} IS NULL"]
        cols = ", ".join(self.quote(k) for k in key)
        mat = "MATERIALIZED " if self.server.version[:1] >= (12,) else ""
        on = " AND ".join(f"df_t.{self.quote(k)} = df_n.{self.quote(k)}" for k in key)
        sql = (
            f"WITH df_o AS {mat}(SELECT {cols} FROM {t} WHERE {' AND '.join(where)} "
            f"ORDER BY {cols}), "
            f"df_n AS {mat}(SELECT {cols}, nextval({self.literal(sequence)}) AS df_v FROM df_o) "
            f"UPDATE {t} AS df_t SET {self.quote(column)} = df_n.df_v FROM df_n WHERE {on}"
        )
        return sql, p.values

    def enforce(self, plan: _Planning) -> list[NotNullStep]:
        t, c = plan.t, self.quote(plan.column.name)
        default = plan.default_sql
        set_nn = f"ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL"
        if default is not None:
            set_nn += f", ALTER COLUMN {c} SET DEFAULT {default}"
        set_effect = self.effect(Operation(K.SET_NOT_NULL, plan.name, column_name=plan.column.name))
        with_default = " and set its DEFAULT" if default is not None else ""
        if self.server.version[:1] < (12,):
            return [
                NotNullStep(
                    "set-not-null",
                    f"make {plan.column.name} NOT NULL{with_default} (every row is checked "
                    "under the lock before PostgreSQL 12)",
                    (set_nn,),
                    set_effect,
                )
            ]
        check = plan.check_name
        assert check is not None
        k = self.quote(check)
        add = Operation(K.ADD_CHECK, plan.name, index=check, not_valid=True)
        validate = Operation(K.VALIDATE_CONSTRAINT, plan.name, index=check)
        drop = Operation(K.DROP_CONSTRAINT, plan.name, index=check)
        proven = dataclasses.replace(
            set_effect, scans=False, note="proven by the validated CHECK: no scan"
        )
        return [
            NotNullStep(
                "add-check",
                f"add CHECK ({plan.column.name} IS NOT NULL) NOT VALID: new and updated rows "
                "are checked from now on, existing rows are not read",
                (f"ALTER TABLE {t} ADD CONSTRAINT {k} CHECK ({c} IS NOT NULL) NOT VALID",),
                self.effect(add),
            ),
            NotNullStep(
                "validate-check",
                "validate the check: every row is read, reads and writes go on",
                (f"ALTER TABLE {t} VALIDATE CONSTRAINT {k}",),
                self.effect(validate),
            ),
            NotNullStep(
                "set-not-null",
                f"make {plan.column.name} NOT NULL{with_default}; the valid check proves it",
                (set_nn,),
                proven,
            ),
            NotNullStep(
                "drop-check",
                "drop the check, now redundant",
                (f"ALTER TABLE {t} DROP CONSTRAINT {k}",),
                self.effect(drop),
            ),
        ]


class _MySQL(_Backend):
    name = "mysql"
    transactional_ddl = False

    def raw(self, fragment: str) -> str:
        return fragment.replace("%", "%%")  # the driver formats every statement

    def fold(self, name: str) -> str:
        return name.lower()

    def numbered_update(
        self,
        t: str,
        column: str,
        key: Sequence[str],
        base: int,
        lower: Sequence[Any] | None,
        upper: Sequence[Any] | None,
    ) -> tuple[str, list[Any]]:
        # A derived table with a window function is materialised, so it may read the
        # table the UPDATE writes.
        p = _Params(self)
        source, on = self.numbered_source(t, column, key, self.range_sql(key, lower, upper, p))
        sql = (
            f"UPDATE {t} AS df_t JOIN {source} ON {on} "
            f"SET df_t.{self.quote(column)} = {int(base)} + df_n.df_rn"
        )
        return sql, p.values

    def enforce(self, plan: _Planning) -> list[NotNullStep]:
        definition = self.column_sql(plan.column, not_null=True, default=plan.default_sql)
        op = Operation(K.SET_NOT_NULL, plan.name, column_name=plan.column.name)
        return [
            NotNullStep(
                "modify-not-null",
                f"restate {plan.column.name} with NOT NULL"
                + (" and its DEFAULT" if plan.default_sql is not None else "")
                + " (MODIFY takes the full definition)",
                (f"ALTER TABLE {plan.t} MODIFY COLUMN {definition}",),
                self.effect(op),
            )
        ]


class _SQLite(_Backend):
    name = "sqlite"
    rebuilds = True

    def fold(self, name: str) -> str:
        return name.translate(_ASCII_LOWER)

    def table(self, schema: str | None, name: str) -> str:
        return f"{self.quote(schema or 'main')}.{self.quote(name)}"

    def version_problem(self, strategy: DefaultValueType) -> str | None:
        # DROP COLUMN (the undo) arrived in 3.35; UPDATE ... FROM in 3.33.
        if self.server.version < (3, 35):
            version = ".".join(map(str, self.server.version))
            return f"SQLite {version} cannot drop a column (the undo of a failure): 3.35+ needed"
        return None

    def numbered_update(
        self,
        t: str,
        column: str,
        key: Sequence[str],
        base: int,
        lower: Sequence[Any] | None,
        upper: Sequence[Any] | None,
    ) -> tuple[str, list[Any]]:
        p = _Params(self)
        source, on = self.numbered_source(t, column, key, self.range_sql(key, lower, upper, p))
        sql = (
            f"UPDATE {t} AS df_t SET {self.quote(column)} = {int(base)} + df_n.df_rn "
            f"FROM {source} WHERE {on}"
        )
        return sql, p.values

    def enforce(self, plan: _Planning) -> list[NotNullStep]:
        op = Operation(K.SET_NOT_NULL, plan.name, column_name=plan.column.name)
        return [
            NotNullStep(
                "rebuild",
                "rebuild the table with the column NOT NULL (SQLite has no ALTER for it): "
                "SQLite's 12-step procedure, in one transaction, foreign keys off; indexes, "
                "triggers, foreign keys and the AUTOINCREMENT counter kept",
                tuple(plan.rebuild_statements),
                self.effect(op),
            )
        ]

    async def rebuild(
        self, conn: Connection, plan: _Planning, *, dry: bool, foreign_keys_on: bool
    ) -> list[str]:
        """Create the new table, copy, drop, rename, recreate indexes and triggers.

        With ``dry``, the statements as they would run now (the column is not there yet:
        its definition is placed where SQLite's ADD COLUMN puts it). Otherwise they run,
        inside the caller's transaction.
        """
        db = self.quote(plan.schema or "main")
        t, name = plan.t, plan.name
        run: list[str] = []

        async def do(sql: str, params: Sequence[Any] = ()) -> None:
            run.append(sql)
            if not dry:
                await conn.execute(sql, params)

        rows = await conn.fetch(
            f"SELECT type, name, sql FROM {db}.sqlite_schema WHERE tbl_name = ? COLLATE NOCASE",
            (name,),
        )
        table_sql = next((str(r[2]) for r in rows if r[0] == "table"), None)
        if table_sql is None:
            raise MigrationError(
                f"table {name!r} is not in {db}.sqlite_schema",
                code=_PREFIX + "REBUILD",
                details={"table": name},
            )
        added = self.column_sql(plan.column, not_null=False, default=None)
        if dry:
            table_sql = _sqlite_add_column_text(table_sql, added)
        wanted = self.column_sql(plan.column, not_null=True, default=plan.default_sql)
        taken = {
            self.fold(str(n)) for (n,) in await conn.fetch(f"SELECT name FROM {db}.sqlite_schema")
        }
        new = f"df_new_{name}"
        suffix = 1
        while self.fold(new) in taken:
            suffix += 1
            new = f"df_new_{name}_{suffix}"
        await do(_sqlite_rebuilt_create(table_sql, self.quote(new), added, wanted))
        if dry:
            copied = [self.quote(c) for c in plan.columns] + [self.quote(plan.column.name)]
        else:
            info = await conn.fetch(f"PRAGMA {db}.table_xinfo({self.quote(name)})")
            copied = [self.quote(str(r[1])) for r in info if int(r[6]) == 0]
        cols = ", ".join(copied)
        await do(f"INSERT INTO {db}.{self.quote(new)} ({cols}) SELECT {cols} FROM {t}")
        sequence = None
        has_sequence = any(self.fold(str(n)) == "sqlite_sequence" for n in taken)
        if has_sequence:
            found = await conn.fetch(
                f"SELECT seq FROM {db}.sqlite_sequence WHERE name = ?", (name,)
            )
            sequence = found[0][0] if found else None
        await do(f"DROP TABLE {t}")
        legacy = (await conn.fetch("PRAGMA legacy_alter_table"))[0][0]
        await do("PRAGMA legacy_alter_table = ON")
        try:
            await do(f"ALTER TABLE {db}.{self.quote(new)} RENAME TO {self.quote(name)}")
        finally:
            await do(f"PRAGMA legacy_alter_table = {'ON' if legacy else 'OFF'}")
        for kind, _, sql in rows:
            if kind in ("index", "trigger") and sql is not None:
                await do(str(sql) if plan.schema is None else _sqlite_in_schema(str(sql), db))
        if sequence is not None:
            await do(
                f"UPDATE {db}.sqlite_sequence SET seq = ? WHERE name = ? AND seq < ?",
                (sequence, name, sequence),
            )
            if not dry and not await conn.fetch(
                f"SELECT 1 FROM {db}.sqlite_sequence WHERE name = ?", (name,)
            ):
                await do(
                    f"INSERT INTO {db}.sqlite_sequence (name, seq) VALUES (?, ?)", (name, sequence)
                )
        if foreign_keys_on:
            for table in [name, *plan.referencing]:
                check = f"PRAGMA {db}.foreign_key_check({self.quote(table)})"
                run.append(check)
                if dry:
                    continue
                broken = await conn.fetch(check)
                if broken:
                    raise MigrationError(
                        f"the rebuilt table breaks {len(broken)} foreign key reference(s) of "
                        f"{table!r} (first: {tuple(broken[0])!r})",
                        code=_PREFIX + "FOREIGN-KEY-CHECK",
                        details={"table": table, "violations": len(broken)},
                    )
        return run


_BACKENDS: dict[str, type[_Backend]] = {
    "postgresql": _Postgres,
    "mysql": _MySQL,
    "sqlite": _SQLite,
}

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _sqlite_add_column_text(table_sql: str, column_sql: str) -> str:
    """The ``CREATE TABLE`` text after ``ADD COLUMN``: SQLite inserts ``", <definition>"``
    before the parenthesis closing the column list (the last one: table options such as
    WITHOUT ROWID and STRICT hold none)."""
    end = table_sql.rfind(")")
    return f"{table_sql[:end]}, {column_sql}{table_sql[end:]}"


def _sqlite_name_end(text: str, start: int) -> int:
    """The end of the (possibly quoted, possibly qualified) name starting at ``start``."""
    pos = start
    while True:
        opener = text[pos : pos + 1]
        closer = {'"': '"', "`": "`", "[": "]"}.get(opener)
        if closer is None:
            match = re.compile(r"[^\s(.]+").match(text, pos)
            pos = match.end() if match else pos
        else:
            pos += 1
            while pos < len(text):
                if text[pos] == closer:
                    if closer != "]" and text[pos + 1 : pos + 2] == closer:
                        pos += 2
                        continue
                    pos += 1
                    break
                pos += 1
        if text[pos : pos + 1] != ".":
            return pos
        pos += 1


def _sqlite_rebuilt_create(table_sql: str, new_name: str, added: str, wanted: str) -> str:
    """``CREATE TABLE <new_name> ...``: the stored text with the added column's definition
    (the last occurrence of ``added``, where ADD COLUMN put it) replaced by ``wanted``."""
    head = re.compile(r"\s*CREATE\s+TABLE\s+", re.IGNORECASE).match(table_sql)
    where = table_sql.rfind(added)
    if head is None or where < 0:
        raise MigrationError(
            "cannot find the added column in the table's CREATE TABLE text; the table was "
            "not rebuilt",
            code=_PREFIX + "REBUILD",
            details={"sql": table_sql[:500], "column": added},
        )
    body_start = _sqlite_name_end(table_sql, head.end())
    body = table_sql[:where] + wanted + table_sql[where + len(added) :]
    return f"CREATE TABLE {new_name}{body[body_start:]}"


def _sqlite_in_schema(sql: str, db: str) -> str:
    """An index or trigger of an attached database, created there again."""
    match = re.compile(
        r"\s*CREATE\s+(UNIQUE\s+)?(INDEX|TRIGGER)\s+(IF\s+NOT\s+EXISTS\s+)?", re.IGNORECASE
    ).match(sql)
    if match is None:
        return sql
    return f"{sql[: match.end()]}{db}.{sql[match.end() :]}"


# -- planning -----------------------------------------------------------------------------------


@dataclass
class _Planning:
    """Everything gathered for one plan (internal)."""

    table: str
    column: ColumnDefinition
    strategy: DefaultValueType | None
    server: ServerFacts
    backend: _Backend
    facts: TableFacts
    batch_size: int
    problems: list[Diagnostic] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    key: tuple[str, ...] = ()
    columns: list[str] = field(default_factory=list)
    reference: tuple[str, str] | None = None
    reference_value: Any = None
    sequence: str | None = None
    own_sequence: bool = False
    check_name: str | None = None
    default_sql: str | None = None
    referencing: list[str] = field(default_factory=list)
    rebuild_statements: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.facts.name

    @property
    def schema(self) -> str | None:
        return self.facts.schema

    @property
    def t(self) -> str:
        return self.backend.table(self.facts.schema, self.facts.name)

    def problem(
        self, code: str, message: str, path: Sequence[str | int] = (), **details: Any
    ) -> None:
        self.problems.append(
            Diagnostic(
                code if code.startswith("DF-MIGRATION-DDL") else _PREFIX + code,
                message,
                path=path,
                details=details,
            )
        )


def _value_sql(plan: _Planning) -> tuple[str | None, list[Any]]:
    """The value of each existing row as SQL (``\\0`` marks a bound parameter)."""
    c, raw = plan.column, plan.backend.raw
    s = plan.strategy
    if s is S.STATIC and c.default is not None:
        return f"({raw(c.default)})", []
    if s is S.COMPUTED and c.default_expression is not None:
        return f"({raw(c.default_expression)})", []
    if s is S.FUNCTION:
        expr = c.default_expression if c.default_expression is not None else c.default
        return (None, []) if expr is None else (f"({raw(expr)})", [])
    if s is S.CONDITIONAL and c.default is not None:
        whens = " ".join(f"WHEN ({raw(w)}) THEN ({raw(v)})" for w, v in c.conditions)
        return f"CASE {whens} ELSE ({raw(c.default)}) END", []
    if s is S.FOREIGN_KEY:
        return "\0", [plan.reference_value]
    return None, []


def _short_name(*parts: str, suffix: str, limit: int) -> str:
    """``part_part_suffix``, hashed to fit ``limit`` bytes."""
    name = "_".join([*parts, suffix])
    if len(name.encode()) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    cut = [p.encode()[: max(1, (limit - len(suffix) - 12) // len(parts))] for p in parts]
    return "_".join([*(p.decode(errors="ignore") for p in cut), digest, suffix])


def _split_reference(text: str) -> tuple[str, str] | None:
    """``"table.column"`` / ``"schema.table.column"`` -> (table as gather_facts reads it,
    column); parts may be quoted. None when it is not two or three parts."""
    parts = name_parts(text)
    if parts is None:
        return None
    if len(parts) not in (2, 3) or not all(parts):
        return None
    table = ".".join('"' + p.replace('"', '""') + '"' for p in parts[:-1])
    return table, parts[-1]


@dataclass
class _Progress:
    """Rows and batches of the backfill committed so far."""

    rows: int = 0
    batches: int = 0


# -- the handler ----------------------------------------------------------------------------


class NotNullColumnHandler:
    """Adds a NOT NULL column to a populated table: plan, validate, execute (DESIGN §9).

    The DataFlow must allow DDL (not ``existing_schema_mode``, not ``read_only``); planning
    and validation only read, and report a DataFlow that does not as a problem
    (``DF-MIGRATION-DDL-REFUSED``).

    Args:
        dataflow: the database.
        batch_size: rows per backfill batch unless a call says otherwise.
        null_scan_rows: validation evaluates a COMPUTED / CONDITIONAL value over every row
            of tables up to this many rows (0: never; the backfill checks each batch).

    Raises:
        ValidationError: ``DF-PARAM-RANGE`` for a batch size below 1 or a negative
            ``null_scan_rows``.

    Example::

        handler = NotNullColumnHandler(db)
        plan = await handler.plan_not_null_addition(
            "orders",
            ColumnDefinition(
                "total", "bigint", nullable=False,
                default_type=DefaultValueType.COMPUTED, default_expression="price * qty",
            ),
        )
        print([s.name for s in plan.steps], plan.warnings, plan.problems)
        result = await handler.execute_not_null_addition(plan)
        result.rows_backfilled, result.batches
    """

    def __init__(
        self,
        dataflow: DataFlow,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        null_scan_rows: int = NULL_SCAN_ROWS,
    ) -> None:
        self.dataflow = dataflow
        self.batch_size = _check_count("batch_size", batch_size, minimum=1)
        self.null_scan_rows = _check_count("null_scan_rows", null_scan_rows, minimum=0)

    # -- public API ----------------------------------------------------------------------

    async def plan_not_null_addition(
        self, table: str, column: ColumnDefinition, *, batch_size: int | None = None
    ) -> NotNullAdditionPlan:
        """Plan adding ``column`` (NOT NULL) to ``table``. Reads only.

        Args:
            table: the table, as :func:`gather_facts` reads names (``"orders"``,
                ``"shop.orders"``).
            column: the column: ``nullable=False``, its ``default_type`` and that
                strategy's inputs (see the module documentation).
            batch_size: rows per backfill batch (the handler's by default).

        Returns:
            The plan: its steps with their statements and locks, the batch size, the
            rows and batches expected, warnings, and the problems that stop it (the same
            as :meth:`validate_strategy`'s; a plan with problems cannot be executed).

        Raises:
            ValidationError: ``table`` is not a non-empty string, ``column`` not a
                ``ColumnDefinition``, or ``batch_size`` below 1.
            DatabaseError: the database could not be read.

        Example::

            plan = await handler.plan_not_null_addition(
                "users", ColumnDefinition("status", "varchar(20)", nullable=False,
                                          default="'active'"))
            [s.name for s in plan.steps]  # ['add-column-not-null'] on PostgreSQL 11+
        """
        size = self.batch_size if batch_size is None else _check_count("batch_size", batch_size, 1)
        _check_args(table, column)
        self.dataflow._check_open()
        return await _loop.run_async(self._plan(table, column, size))

    async def validate_strategy(self, table: str, column: ColumnDefinition) -> list[Diagnostic]:
        """What stops adding ``column`` to ``table`` with its strategy. Reads only.

        Checks the inputs the strategy needs; that the table exists and the column does
        not; that every expression compiles (each is run as ``SELECT ... LIMIT 1``, a
        ``default`` without a table since a DEFAULT cannot read the row); that no value
        is NULL (for COMPUTED and CONDITIONAL, over every row of tables up to
        ``null_scan_rows``); that a FOREIGN_KEY reference names an existing key column
        and its value exists; that a named PostgreSQL sequence exists; that SEQUENCE has
        a primary key to order by; and that the DataFlow allows DDL.

        Args:
            table: the table.
            column: the column and its strategy.

        Returns:
            One :class:`~dataflow_engine.errors.Diagnostic` per problem (``code``,
            ``message``, ``path`` into the ColumnDefinition such as
            ``("conditions", 1, 0)``, ``details``); empty when it can run.

        Raises:
            ValidationError: ``table`` is not a non-empty string or ``column`` not a
                ``ColumnDefinition``.
            DatabaseError: the database could not be read.

        Example::

            problems = await handler.validate_strategy("orders", ColumnDefinition(
                "total", "int", nullable=False, default_type=DefaultValueType.COMPUTED,
                default_expression="price * nope"))
            problems[0].code  # 'DF-MIGRATION-NOT-NULL-EXPRESSION'
        """
        _check_args(table, column)
        self.dataflow._check_open()
        planning = await _loop.run_async(self._inspect(table, column, self.batch_size))
        return planning.problems

    async def execute_not_null_addition(
        self,
        plan: NotNullAdditionPlan,
        *,
        batch_size: int | None = None,
        lock: bool = True,
        lock_timeout: float = 30.0,
    ) -> NotNullAdditionResult:
        """Carry out a plan; on failure, undo what was done.

        Args:
            plan: from :meth:`plan_not_null_addition` (without problems).
            batch_size: rows per backfill batch (the plan's by default).
            lock: hold the migration lock (:class:`MigrationLockManager`, its default
                name) throughout, so migrations run one at a time; when the calling task
                already holds it, it is not taken again.
            lock_timeout: seconds to wait for the lock.

        Returns:
            The rows backfilled, the batches, the duration and the steps run.

        Raises:
            MigrationError: ``DF-MIGRATION-DDL-REFUSED`` when the DataFlow forbids DDL;
                ``DF-MIGRATION-NOT-NULL-INVALID`` for a plan with problems (nothing is
                done); ``DF-MIGRATION-NOT-NULL-STEP-FAILED`` when a step failed (the
                column was dropped again: the table is as before; ``details["step"]``,
                ``["cause"]``); ``DF-MIGRATION-NOT-NULL-ROLLBACK-FAILED`` when the undo
                failed too (``details["undo"]`` is the statement to run).
            MigrationLockTimeout: another migration holds the lock beyond
                ``lock_timeout``.

        Example::

            result = await handler.execute_not_null_addition(plan, batch_size=5_000)
            result.rows_backfilled, result.batches, result.steps
        """
        if not isinstance(plan, NotNullAdditionPlan):
            raise ValidationError(
                f"plan must be a NotNullAdditionPlan, not {type(plan).__name__}",
                code="DF-PARAM-TYPE",
                details={"param": "plan"},
            )
        size = plan.batch_size if batch_size is None else _check_count("batch_size", batch_size, 1)
        self.dataflow._check_open()
        _refuse_ddl(self.dataflow)
        if not plan.executable:
            listed = "; ".join(f"[{p.code}] {p.message}" for p in plan.problems)
            raise MigrationError(
                f"the plan for {plan.column.name!r} on {plan.table!r} has problems: {listed}",
                code=_PREFIX + "INVALID",
                details={"problems": [p.to_dict() for p in plan.problems]},
            )
        started = time.monotonic()
        if lock and not self._holds_lock():
            from ._lock import MigrationLockManager

            locks = MigrationLockManager(self.dataflow)
            async with locks.acquire_migration_lock(timeout=lock_timeout):
                result = await _loop.run_async(self._execute(plan, size))
        else:
            result = await _loop.run_async(self._execute(plan, size))
        result.duration_seconds = time.monotonic() - started
        return result

    # -- internals -------------------------------------------------------------------

    def _holds_lock(self) -> bool:
        from ._lock import DEFAULT_LOCK_NAME, _held

        return (id(self.dataflow), DEFAULT_LOCK_NAME) in _held.get()

    async def _plan(self, table: str, column: ColumnDefinition, size: int) -> NotNullAdditionPlan:
        p = await self._inspect(table, column, size)
        server = p.server
        base = NotNullAdditionPlan(
            table=table,
            column=column,
            strategy=p.strategy,
            dialect=server.dialect,
            flavor=server.flavor,
            server_version=server.version,
            steps=[],
            batch_size=size,
            estimated_rows=p.facts.rows,
            rows_exact=p.facts.rows_exact,
            estimated_batches=0,
            batch_key=p.key,
            value_sql=None,
            default_sql=None,
            reference_value=p.reference_value,
            warnings=p.warnings,
            problems=p.problems,
        )
        if not p.facts.exists or p.strategy is None or p.problems:
            return base
        backend = p.backend
        steps: list[NotNullStep] = []
        one = p.strategy is S.STATIC and backend.one_statement_static()
        value, _ = _value_sql(p)
        mark = backend.dialect.placeholder(1)
        base.value_sql = None if value is None else value.replace("\0", mark)
        base.default_sql = p.default_sql
        if one:
            assert p.default_sql is not None
            op = Operation(
                K.ADD_COLUMN,
                p.name,
                column=ColumnDefinition(
                    column.name, column.data_type, nullable=False, default=column.default
                ),
            )
            steps.append(
                NotNullStep(
                    "add-column-not-null",
                    f"add {column.name} NOT NULL with its constant DEFAULT in one statement: "
                    "existing rows read the default, none is written",
                    (backend.add_column_not_null(p.t, column, p.default_sql),),
                    backend.effect(op),
                )
            )
        else:
            nullable = ColumnDefinition(column.name, column.data_type, nullable=True)
            steps.append(
                NotNullStep(
                    "add-column",
                    f"add {column.name} as a nullable column without a default (catalog only)",
                    (backend.add_column(p.t, column),),
                    backend.effect(Operation(K.ADD_COLUMN, p.name, column=nullable)),
                )
            )
            if p.own_sequence:
                assert p.sequence is not None
                owner = f"{p.t}.{backend.quote(column.name)}"
                steps.append(
                    NotNullStep(
                        "create-sequence",
                        f"create the sequence {p.sequence}, owned by the column (dropped with it)",
                        (f"CREATE SEQUENCE {p.sequence} OWNED BY {owner}",),
                        Effect(None, False, False, note="a new object; the table is not locked"),
                    )
                )
            steps.append(self._backfill_step(p, size))
            if backend.rebuilds:
                async with self.dataflow._adapter.acquire() as conn:
                    on = bool((await conn.fetch("PRAGMA foreign_keys"))[0][0])
                    body = await backend.rebuild(conn, p, dry=True, foreign_keys_on=on)
                wrap = ["PRAGMA foreign_keys = OFF"] if on else []
                p.rebuild_statements = [
                    *wrap,
                    "BEGIN IMMEDIATE",
                    *body,
                    "COMMIT",
                    *(["PRAGMA foreign_keys = ON"] if on else []),
                ]
            steps.extend(backend.enforce(p))
            base.estimated_batches = p.facts.rows // size + 1 if p.key else 1
        base.steps = steps
        base._spec = _Spec(p.sequence, p.own_sequence, p.check_name)
        self._warn(p, base, one)
        return base

    def _backfill_step(self, p: _Planning, size: int) -> NotNullStep:
        backend, t, c, key = p.backend, p.t, p.column.name, p.key
        lower = ["?"] * len(key) if key else None
        upper = ["?"] * len(key) if key else None
        statements: list[str] = []
        if key:
            statements.append(backend.boundary(t, key, lower, size)[0])
        statements.append(self._update_sql(p, lower, upper, base=0)[0])
        statements.append(backend.null_check(t, c, key, lower, upper)[0])
        where = "a primary key range" if key else None
        effect = backend.effect(Operation(K.UPDATE_ROWS, p.name, where=where))
        if key:
            text = (
                f"fill {c} in batches of {size} rows by {', '.join(key)}, each batch its own "
                "transaction, checked for rows left NULL"
            )
        else:
            text = f"fill {c} with one UPDATE (no primary key to batch by), checked for NULLs"
        return NotNullStep("backfill", text, tuple(statements), effect, batched=bool(key))

    def _update_sql(
        self,
        p: _Planning,
        lower: Sequence[Any] | None,
        upper: Sequence[Any] | None,
        *,
        base: int,
    ) -> tuple[str, list[Any]]:
        backend, t, c, key = p.backend, p.t, p.column.name, p.key
        if p.strategy is S.SEQUENCE:
            if p.sequence is not None:
                return backend.sequence_update(t, c, key, p.sequence, lower, upper)
            return backend.numbered_update(t, c, key, base, lower, upper)
        value, params = _value_sql(p)
        assert value is not None
        return backend.update(t, c, key, value, params, lower, upper)

    def _warn(self, p: _Planning, plan: NotNullAdditionPlan, one: bool) -> None:
        w = plan.warnings
        c = p.column
        s = p.strategy
        if p.default_sql is None:
            w.append(
                f"{c.name} gets no DEFAULT for future rows: every INSERT must give it "
                "(set `default` to give one)"
            )
        if not one and not p.key:
            w.append(
                f"{p.name} has no primary key: the backfill is one UPDATE in one transaction, "
                "holding its row locks until it commits"
            )
        if s is S.FUNCTION and not one:
            w.append(
                "the function is evaluated as each batch runs: a volatile one (random, "
                "UUID) gives each row its own value, now() / CURRENT_TIMESTAMP each batch "
                "its transaction's time"
            )
        if s is S.STATIC and not one:
            w.append(
                f"{p.server.flavor} {_version(p.server)} writes a column default into "
                "every row: the constant is backfilled in batches instead"
            )
        for step in plan.steps:
            e = step.effect
            if step.name == "backfill" or not (e.rewrites or e.scans):
                continue
            who = (
                "reads and writes wait"
                if e.blocks_reads
                else "writes wait"
                if e.blocks_writes
                else "reads and writes go on"
            )
            w.append(
                f"step {step.name} {'rewrites' if e.rewrites else 'scans'} {p.name} "
                f"({p.facts.rows} rows) holding {e.lock}: {who}"
            )
        if not p.backend.transactional_ddl:
            w.append(
                "MySQL DDL is not transactional: each ALTER commits; a failure is undone "
                "by dropping the column (a compensating statement)"
            )

    async def _inspect(
        self, table: str, column: ColumnDefinition, size: int, spec: _Spec | None = None
    ) -> _Planning:
        """Facts and problems (reads only). With the ``spec`` of a plan about to run, the
        names it chose are kept and the rows are not scanned again."""
        strategy: DefaultValueType | None
        try:
            strategy = DefaultValueType(column.default_type)
        except ValueError:
            strategy = None
        reference = None
        if strategy is S.FOREIGN_KEY and isinstance(column.foreign_key_reference, str):
            reference = _split_reference(column.foreign_key_reference)
        names = [table] + ([reference[0]] if reference else [])
        server, facts = await gather_facts(self.dataflow, names)
        backend = _BACKENDS[server.dialect](self.dataflow, server)
        p = _Planning(
            table=table,
            column=column,
            strategy=strategy,
            server=server,
            backend=backend,
            facts=facts[table],
            batch_size=size,
            reference=reference,
        )
        settings = self.dataflow.settings
        if settings.existing_schema_mode or settings.read_only:
            mode = "existing_schema_mode" if settings.existing_schema_mode else "read_only"
            p.problem(
                "DF-MIGRATION-DDL-REFUSED",
                f"this DataFlow was opened with {mode}=True, which forbids schema changes; "
                "open one that allows DDL to add the column",
                mode=mode,
            )
        _input_problems(p)
        if not p.facts.exists or p.facts.kind != "table":
            what = "does not exist" if not p.facts.exists else f"is a {p.facts.kind}"
            p.problem("TABLE-MISSING", f"table {table!r} {what}", table=table)
            return p
        p.columns = list(p.facts.columns)
        if backend.fold(column.name) in {backend.fold(n) for n in p.columns}:
            p.problem(
                "COLUMN-EXISTS",
                f"{p.name} already has a column {column.name!r}; to make an existing column "
                "NOT NULL, fill its NULLs and use SET NOT NULL",
                ("name",),
            )
        primary = next((i for i in p.facts.indexes if i.primary), None)
        p.key = (
            tuple(primary.columns)
            if primary is not None
            else tuple(c.name for c in p.facts.columns.values() if c.is_primary_key)
        )
        if strategy is S.SEQUENCE and not p.key:
            p.problem(
                "NO-KEY",
                f"SEQUENCE numbers rows in primary-key order and {p.name} has no primary key",
                ("default_type",),
            )
        why = backend.version_problem(strategy or S.STATIC)
        if why:
            p.problem("UNSUPPORTED", why, ("default_type",))
        p.referencing = sorted(
            {fk.table for fk in p.facts.foreign_keys_in if fk.schema == p.schema} - {p.name}
        )
        if any(d.code.endswith(("STRATEGY", "MISSING-INPUT", "NAME")) for d in p.problems):
            return p  # the inputs themselves are wrong: nothing to try on the database
        if spec is not None:
            p.sequence, p.own_sequence = spec.sequence, spec.own_sequence
            p.check_name = spec.check_name
        async with self.dataflow._adapter.acquire() as conn:
            scan = self.null_scan_rows if spec is None else -1
            await _check_values(p, conn, scan, facts, pick_names=spec is None)
        return p

    async def _execute(self, plan: NotNullAdditionPlan, size: int) -> NotNullAdditionResult:
        spec = plan._spec
        assert spec is not None and plan.strategy is not None
        p = await self._inspect(plan.table, plan.column, size, spec)
        if p.problems:  # the database changed since the plan was made
            listed = "; ".join(f"[{d.code}] {d.message}" for d in p.problems)
            raise MigrationError(
                f"the plan for {plan.column.name!r} on {plan.table!r} no longer holds: {listed}",
                code=_PREFIX + "INVALID",
                details={"problems": [d.to_dict() for d in p.problems]},
            )
        adapter = self.dataflow._adapter
        backend = p.backend
        done: list[str] = []
        timings: dict[str, float] = {}
        added = False
        progress = _Progress()
        current = ""
        try:
            for step in plan.steps:
                current = step.name
                began = time.monotonic()
                if step.name == "backfill":
                    await self._backfill(p, size, progress)
                elif step.name == "rebuild":
                    await self._rebuild(p)
                else:
                    async with adapter.acquire() as conn:
                        if backend.transactional_ddl:
                            async with conn.transaction():
                                for sql in step.statements:
                                    await conn.execute(sql)
                        else:
                            for sql in step.statements:
                                await conn.execute(sql)
                if step.name == "add-column":
                    added = True
                done.append(step.name)
                timings[step.name] = time.monotonic() - began
        except BaseException as exc:
            undo = backend.drop_column(p.t, plan.column.name)
            if added:
                try:
                    async with adapter.acquire() as conn:
                        await conn.execute(undo)
                except Exception as undo_exc:
                    raise MigrationError(
                        f"adding {plan.column.name!r} to {plan.table!r} failed at step "
                        f"{current!r} ({exc}), and dropping the column again failed too "
                        f"({undo_exc}); run by hand: {undo}",
                        code=_PREFIX + "ROLLBACK-FAILED",
                        details={"step": current, "undo": undo, "steps_done": done},
                    ) from exc
            if not isinstance(exc, Exception):
                raise  # cancelled or interrupted: undone, and passed on as it was
            cause = exc.code if isinstance(exc, DataFlowError) else type(exc).__name__
            undone = "the column was dropped again" if added else "nothing had been changed"
            raise MigrationError(
                f"adding NOT NULL column {plan.column.name!r} to {plan.table!r} failed at step "
                f"{current!r}: {getattr(exc, 'message', exc)}; {undone}, the table is as it was",
                code=_PREFIX + "STEP-FAILED",
                details={
                    "step": current,
                    "cause": cause,
                    "steps_done": done,
                    "rows_backfilled": progress.rows,
                    "batches": progress.batches,
                    "rolled_back": added,
                },
            ) from exc
        return NotNullAdditionResult(
            table=plan.table,
            column=plan.column.name,
            strategy=plan.strategy,
            rows_backfilled=progress.rows,
            batches=progress.batches,
            duration_seconds=0.0,
            steps=done,
            step_seconds=timings,
        )

    async def _backfill(self, p: _Planning, size: int, progress: _Progress) -> None:
        """Fill the column batch by batch, each batch one transaction; ``progress``
        counts the committed ones."""
        backend, adapter = p.backend, self.dataflow._adapter
        lower: Sequence[Any] | None = None
        while True:
            async with adapter.acquire() as conn, conn.transaction():
                upper: Sequence[Any] | None = None
                if p.key:
                    sql, params = backend.boundary(p.t, p.key, lower, size)
                    found = await conn.fetch(sql, params)
                    upper = tuple(found[0]) if found else None
                sql, params = self._update_sql(p, lower, upper, base=progress.rows)
                n = await conn.execute(sql, params)
                sql, params = backend.null_check(p.t, p.column.name, p.key, lower, upper)
                left = await conn.fetch(sql, params)
                if left:
                    key = dict(zip(p.key, left[0], strict=False)) if p.key else None
                    raise MigrationError(
                        f"the value is NULL for the row {key!r} of {p.name}"
                        if key
                        else f"the value is NULL for some rows of {p.name}",
                        code=_PREFIX + "NULLS",
                        details={"key": {k: _jsonable(v) for k, v in (key or {}).items()}},
                    )
            progress.rows += max(n, 0)
            progress.batches += 1
            if upper is None:
                return
            lower = upper

    async def _rebuild(self, p: _Planning) -> None:
        """SQLite: foreign keys off (outside the transaction), rebuild, foreign keys on."""
        async with self.dataflow._adapter.acquire() as conn:
            on = bool((await conn.fetch("PRAGMA foreign_keys"))[0][0])
            if on:
                await conn.execute("PRAGMA foreign_keys = OFF")
            try:
                async with conn.transaction():
                    await p.backend.rebuild(conn, p, dry=False, foreign_keys_on=on)
            finally:
                if on:
                    await conn.execute("PRAGMA foreign_keys = ON")


# -- checks ------------------------------------------------------------------------------


def _check_count(what: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationError(
            f"{what} must be an integer >= {minimum}, got {value!r}",
            code="DF-PARAM-RANGE",
            details={"param": what, "value": repr(value)},
        )
    return value


def _check_args(table: object, column: object) -> None:
    if not isinstance(table, str) or not table.strip():
        raise ValidationError(
            f"table must be a non-empty table name, got {table!r}",
            code="DF-PARAM-TYPE",
            details={"param": "table"},
        )
    if not isinstance(column, ColumnDefinition):
        raise ValidationError(
            f"column must be a ColumnDefinition, not {type(column).__name__}",
            code="DF-PARAM-TYPE",
            details={"param": "column"},
        )


def _refuse_ddl(dataflow: DataFlow) -> None:
    s = dataflow.settings
    if s.existing_schema_mode or s.read_only:
        mode = "existing_schema_mode" if s.existing_schema_mode else "read_only"
        raise MigrationError(
            f"this DataFlow was opened with {mode}=True, which forbids schema changes; "
            "NotNullColumnHandler needs a DataFlow that allows DDL",
            code="DF-MIGRATION-DDL-REFUSED",
            details={"mode": mode},
        )


def _version(server: ServerFacts) -> str:
    return ".".join(map(str, server.version))


def _is_text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _input_problems(p: _Planning) -> None:
    """What the ColumnDefinition itself gets wrong (no database needed)."""
    c, s = p.column, p.strategy
    if not _is_text(c.name):
        p.problem("NAME", "the column needs a name", ("name",))
    else:
        try:
            p.backend.dialect.check_identifier(c.name, "column")
        except IdentifierTooLongError as exc:
            p.problem("NAME", exc.message, ("name",))
    if not _is_text(c.data_type):
        p.problem("MISSING-INPUT", "the column needs a data_type", ("data_type",))
    if c.nullable:
        p.problem(
            "NULLABLE",
            "NotNullColumnHandler adds NOT NULL columns: set nullable=False",
            ("nullable",),
        )
    for attr, what in (("primary_key", "a primary key"), ("unique", "a UNIQUE constraint")):
        if getattr(c, attr):
            p.problem(
                "UNSUPPORTED",
                f"{what} is not added by NotNullColumnHandler: add the column, then the "
                "constraint as its own operation",
                (attr,),
            )
    if c.references is not None:
        p.problem(
            "UNSUPPORTED",
            "references= (a FOREIGN KEY constraint) is not added by NotNullColumnHandler: "
            "add the column (FOREIGN_KEY strategy for its value), then the constraint",
            ("references",),
        )
    if s is None:
        choices = ", ".join(t.value for t in DefaultValueType)
        p.problem(
            "STRATEGY",
            f"default_type {c.default_type!r} is not one of {choices}",
            ("default_type",),
        )
        return
    if c.default is not None and not _is_text(c.default):
        p.problem("MISSING-INPUT", "default must be SQL text", ("default",))
    needs = {
        S.STATIC: ("default", "the constant every row gets"),
        S.COMPUTED: ("default_expression", "the SQL expression computing each row's value"),
        S.CONDITIONAL: ("default", "the ELSE value of the CASE (rows no condition matches)"),
        S.FOREIGN_KEY: ("foreign_key_reference", '"table.column" of the referenced key'),
    }
    if s in needs:
        attr, what = needs[s]
        if not _is_text(getattr(c, attr)):
            p.problem("MISSING-INPUT", f"{s.value} needs {attr}: {what}", (attr,))
    if s is S.FUNCTION and not (_is_text(c.default_expression) or _is_text(c.default)):
        p.problem(
            "MISSING-INPUT",
            "function needs default_expression (or default): the function, e.g. now()",
            ("default_expression",),
        )
    if s is S.CONDITIONAL:
        ok = isinstance(c.conditions, list | tuple) and c.conditions
        if not ok:
            p.problem(
                "MISSING-INPUT",
                "conditional needs conditions: [(sql_condition, sql_value), ...]",
                ("conditions",),
            )
        for i, pair in enumerate(c.conditions if ok else []):
            good = isinstance(pair, list | tuple) and len(pair) == 2
            if not good or not all(_is_text(x) for x in pair):
                p.problem(
                    "MISSING-INPUT",
                    f"conditions[{i}] must be a pair of SQL texts (condition, value)",
                    ("conditions", i),
                )
    elif c.conditions:
        p.problem("UNUSED-INPUT", f"conditions are not used by {s.value}", ("conditions",))
    if c.default_expression is not None and s in (S.STATIC, S.CONDITIONAL):
        p.problem(
            "UNUSED-INPUT",
            f"default_expression is not used by {s.value} (the value is `default`)",
            ("default_expression",),
        )
    if c.foreign_key_reference is not None and s is not S.FOREIGN_KEY:
        p.problem(
            "UNUSED-INPUT",
            f"foreign_key_reference is only used by foreign_key, not {s.value}",
            ("foreign_key_reference",),
        )
    if s is S.FOREIGN_KEY and _is_text(c.foreign_key_reference) and p.reference is None:
        p.problem(
            "MISSING-INPUT",
            f'foreign_key_reference {c.foreign_key_reference!r} must be "table.column" or '
            '"schema.table.column"',
            ("foreign_key_reference",),
        )


async def _try(
    conn: Connection, sql: str, params: Sequence[Any] = ()
) -> tuple[list[Any] | None, DataFlowError | None]:
    """Rows, or the database's complaint (connection trouble is raised)."""
    try:
        return list(await conn.fetch(sql, params)), None
    except (ConnectError, ConnectionLost, QueryTimeout):
        raise
    except (DatabaseError, SchemaError) as exc:
        return None, exc


async def _check_default(
    p: _Planning, conn: Connection, text: str, path: tuple[str, ...], what: str
) -> bool:
    """``text`` as a DEFAULT: it compiles without a table, and is not NULL."""
    raw = p.backend.raw
    rows, error = await _try(conn, f"SELECT ({raw(text)}) IS NULL")
    if error is not None:
        _, with_table = await _try(conn, f"SELECT ({raw(text)}) FROM {p.t} LIMIT 1")
        if with_table is None:
            p.problem(
                "READS-COLUMNS",
                f"{what} {text!r} reads the row's columns, which a DEFAULT cannot; use "
                "default_type=computed with default_expression for a per-row value",
                path,
            )
        else:
            p.problem("EXPRESSION", f"{what} {text!r} does not compile: {error.message}", path)
        return False
    if rows and rows[0][0]:
        p.problem("NULLS", f"{what} {text!r} is NULL, which a NOT NULL column cannot hold", path)
        return False
    return True


async def _check_values(
    p: _Planning,
    conn: Connection,
    null_scan_rows: int,
    facts: dict[str, TableFacts],
    *,
    pick_names: bool,
) -> None:
    """Compile every expression, look for NULLs (over tables up to ``null_scan_rows``;
    none when negative), resolve references, name the sequence and the check (reads
    only)."""
    c, s, raw, t = p.column, p.strategy, p.backend.raw, p.t
    before = len(p.problems)
    if c.default is not None and s is not S.FOREIGN_KEY:
        default_ok = await _check_default(p, conn, c.default, ("default",), "default")
        if default_ok and s is S.STATIC and is_volatile_default(c.default):
            p.problem(
                "NOT-CONSTANT",
                f"static default {c.default!r} is volatile (a new value per row): use "
                "default_type=function",
                ("default",),
            )
    if s is S.FUNCTION and c.default_expression is not None:
        await _check_default(p, conn, c.default_expression, ("default_expression",), "the function")
    if s is S.COMPUTED and c.default_expression is not None:
        _, error = await _try(conn, f"SELECT ({raw(c.default_expression)}) FROM {t} LIMIT 1")
        if error is not None:
            p.problem(
                "EXPRESSION",
                f"default_expression {c.default_expression!r} does not compile: {error.message}",
                ("default_expression",),
            )
    if s is S.CONDITIONAL:
        for i, (cond, value) in enumerate(c.conditions):
            _, error = await _try(conn, f"SELECT 1 FROM {t} WHERE ({raw(cond)}) LIMIT 1")
            if error is not None:
                p.problem(
                    "EXPRESSION",
                    f"condition {cond!r} does not compile: {error.message}",
                    ("conditions", i, 0),
                )
            _, error = await _try(conn, f"SELECT ({raw(value)}) FROM {t} LIMIT 1")
            if error is not None:
                p.problem(
                    "EXPRESSION",
                    f"value {value!r} does not compile: {error.message}",
                    ("conditions", i, 1),
                )
    compiled = len(p.problems) == before
    if s in (S.COMPUTED, S.CONDITIONAL) and compiled and null_scan_rows >= 0:
        await _scan_for_nulls(p, conn, null_scan_rows)
    if s is S.FOREIGN_KEY and p.reference is not None:
        await _resolve_reference(p, conn, facts)
    if s is S.SEQUENCE and p.backend.has_sequences and pick_names:
        await _pick_sequence(p, conn)
    if s is S.SEQUENCE and c.default_expression is not None and not p.backend.has_sequences:
        p.problem(
            "UNSUPPORTED",
            f"{p.server.flavor} has no sequence to name in default_expression: SEQUENCE numbers "
            "the rows in primary-key order there (leave default_expression unset)",
            ("default_expression",),
        )
    if p.backend.check_first and pick_names:
        p.check_name = _short_name(
            "df_nn", p.name, c.name, suffix="check", limit=p.backend.dialect.max_identifier_length
        )
    if s is S.SEQUENCE and p.sequence is not None and c.default is None:
        p.default_sql = f"nextval({p.backend.literal(p.sequence)})"
    elif c.default is not None:
        p.default_sql = raw(c.default)
    elif s is S.FUNCTION and c.default_expression is not None:
        p.default_sql = f"({raw(c.default_expression)})"


async def _scan_for_nulls(p: _Planning, conn: Connection, limit: int) -> None:
    """The first row a COMPUTED / CONDITIONAL value is NULL for (or fails on)."""
    if p.facts.rows > limit:
        p.warnings.append(
            f"{p.name} has about {p.facts.rows} rows, more than null_scan_rows={limit}: the "
            "value was not evaluated over every row in advance; each backfill batch checks "
            "its rows and a NULL stops (and undoes) the migration"
        )
        return
    value, _ = _value_sql(p)
    assert value is not None
    cols = ", ".join(p.backend.quote(k) for k in p.key) if p.key else "1"
    rows, error = await _try(conn, f"SELECT {cols} FROM {p.t} WHERE ({value}) IS NULL LIMIT 1")
    path = ("default_expression",) if p.strategy is S.COMPUTED else ("conditions",)
    if error is not None:
        p.problem(
            "VALUE-FAILS",
            f"the value fails on some rows of {p.name}: {error.message}",
            path,
        )
    elif rows:
        key = dict(zip(p.key, rows[0], strict=False)) if p.key else None
        where = f" (first: {key!r})" if key else ""
        p.problem(
            "NULLS",
            f"the value is NULL for some rows of {p.name}{where}: the column could not be "
            "NOT NULL; handle those rows (a COALESCE, a condition) first",
            path,
            key={k: _jsonable(v) for k, v in (key or {}).items()},
        )


async def _resolve_reference(p: _Planning, conn: Connection, facts: dict[str, TableFacts]) -> None:
    """The one key every row gets (see the module documentation)."""
    assert p.reference is not None
    c, raw, backend = p.column, p.backend.raw, p.backend
    table_text, column = p.reference
    path = ("foreign_key_reference",)
    ref = facts[table_text]
    if not ref.exists or ref.kind != "table":
        p.problem(
            "REFERENCE-MISSING",
            f"the referenced table of {c.foreign_key_reference!r} does not exist",
            path,
        )
        return
    found = next((n for n in ref.columns if backend.fold(n) == backend.fold(column)), None)
    if found is None:
        p.problem(
            "REFERENCE-MISSING",
            f"{ref.name} has no column {column!r} (columns: {', '.join(ref.columns)})",
            path,
        )
        return
    keyed = any(i.unique and len(i.columns) == 1 and i.columns[0] == found for i in ref.indexes)
    primary = [n for n, f in ref.columns.items() if f.is_primary_key]
    if not keyed and primary != [found]:
        p.problem(
            "REFERENCE-NOT-KEY",
            f"{ref.name}.{found} is not a key (neither the primary key nor uniquely indexed): "
            "a foreign key must reference a key",
            path,
        )
        return
    r, k = backend.table(ref.schema, ref.name), backend.quote(found)
    if c.default is not None:  # the DEFAULT of future rows must be a key too
        rows, error = await _try(conn, f"SELECT {k} FROM {r} WHERE {k} = ({raw(c.default)})")
        if error is not None or not rows:
            why = f"does not compile: {error.message}" if error else f"is not a key of {ref.name}"
            p.problem("REFERENCE-VALUE", f"default {c.default!r} {why}", ("default",))
            return
    if c.default_expression is not None:
        rows, error = await _try(
            conn, f"SELECT {k} FROM {r} WHERE ({raw(c.default_expression)}) ORDER BY {k} LIMIT 2"
        )
        what, where = "the lookup", ("default_expression",)
        if error is None and rows is not None and len(rows) > 1:
            p.problem(
                "REFERENCE-VALUE",
                f"the lookup {c.default_expression!r} matches more than one row of {ref.name}; "
                "it must select exactly one",
                where,
            )
            return
    elif c.default is not None:
        rows, error = await _try(conn, f"SELECT {k} FROM {r} WHERE {k} = ({raw(c.default)})")
        what, where = "default", ("default",)
    else:
        rows, error = await _try(conn, f"SELECT {k} FROM {r} ORDER BY {k} LIMIT 1")
        what, where = "the lowest key", path
    if error is not None:
        p.problem("EXPRESSION", f"{what} does not compile: {error.message}", where)
    elif not rows or rows[0][0] is None:
        p.problem(
            "REFERENCE-VALUE",
            f"{what} finds no row in {ref.name}: the value must exist in {ref.name}.{found}",
            where,
        )
    else:
        p.reference_value = rows[0][0]


async def _pick_sequence(p: _Planning, conn: Connection) -> None:
    """PostgreSQL: the named sequence (it must exist), or a free name for a new one."""
    backend = p.backend
    c = p.column
    schema = p.schema or "public"
    if c.default_expression is not None:
        named_schema, name = split_name(c.default_expression)
        qualified = backend.table(named_schema or schema, name)
        rows, _ = await _try(
            conn,
            "SELECT relkind::text FROM pg_catalog.pg_class "
            f"WHERE oid = to_regclass({backend.literal(qualified)})",
        )
        if not rows or rows[0][0] != "S":
            p.problem(
                "SEQUENCE-MISSING",
                f"there is no sequence {c.default_expression!r} (looked for {qualified})",
                ("default_expression",),
            )
            return
        p.sequence, p.own_sequence = qualified, False
        return
    limit = backend.dialect.max_identifier_length
    for n in range(100):
        suffix = "seq" if n == 0 else f"seq{n}"
        name = _short_name(p.name, c.name, suffix=suffix, limit=limit)
        qualified = backend.table(schema, name)
        rows, _ = await _try(conn, f"SELECT to_regclass({backend.literal(qualified)}) IS NULL")
        if rows and rows[0][0]:
            p.sequence, p.own_sequence = qualified, True
            return
    p.problem("UNSUPPORTED", "no free name for the sequence", ("default_expression",))
