"""The rule catalogue: what makes a schema change risky, judged against the live database.

The catalogue covers the checks of squawk, strong_migrations and Atlas's migration lint
(each rule names its counterparts in ``sources``). A rule looks at one operation with the
facts of its table (rows, size, dependent views, triggers, foreign keys), the server
(dialect and version) and the other operations of the same migration, and says why it is
risky here, with those facts in the message; or nothing. Every rule is documented in
docs/migrations.md (what, why, the safe alternative) and tested with a triggering and a
passing case.

A finding is suppressed only with a reason: ``assess(..., suppress={"rule-id": "why"})``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._effects import Effect, effect_of, is_volatile_default
from ._operations import Operation, OperationKind

__all__ = ["RULES", "Context", "Finding", "Rule", "check_rules"]

K = OperationKind


@dataclass
class Context:
    """What a rule may look at.

    Attributes:
        dialect: "postgresql", "mysql" or "sqlite".
        version: the server's version tuple.
        flavor: "postgresql", "mysql", "mariadb" or "sqlite".
        tables: facts of the tables the migration touches, by name (missing: unknown).
        operations: the migration's operations, in order.
        index: the position of the operation being checked.
        in_transaction: the migration runs inside one transaction.
        lock_timeout_set: the migration sets a lock timeout first (SET lock_timeout).
        nulls: (table, column) -> NULLs it holds, counted for the columns a migration
            makes NOT NULL.
    """

    dialect: str
    version: tuple[int, ...]
    flavor: str
    tables: dict[str, Any] = field(default_factory=dict)
    operations: Sequence[Operation] = ()
    index: int = 0
    in_transaction: bool = True
    lock_timeout_set: bool = False
    nulls: dict[tuple[str, str], int] = field(default_factory=dict)

    def table(self, name: str | None) -> Any:
        if name is None:
            return None
        found = self.tables.get(name)
        if found is None and "." in name:
            found = self.tables.get(name.rsplit(".", 1)[1])
        if found is not None and not getattr(found, "exists", True):
            return None
        return found

    def rows(self, name: str | None) -> int | None:
        facts = self.table(name)
        return None if facts is None else int(getattr(facts, "rows", 0) or 0)

    def rows_text(self, name: str | None) -> str:
        facts = self.table(name)
        if facts is None:
            return f"{name} (facts unknown)"
        exact = getattr(facts, "rows_exact", True)
        return f"{name} has {'' if exact else '~'}{self.rows(name):,} rows"

    def column_type(self, table: str | None, column: str | None) -> str | None:
        facts = self.table(table)
        if facts is None or column is None:
            return None
        col = getattr(facts, "columns", {}).get(column)
        if col is None:
            return None
        for attr in ("data_type", "type", "db_type"):
            value = getattr(col, attr, None)
            if isinstance(value, str):
                return value
        return None

    def effect(self, op: Operation) -> Effect:
        return effect_of(
            op,
            self.dialect,
            self.version,
            flavor=self.flavor,
            old_type=self.column_type(op.table, op.column_name),
        )

    def views(self, name: str | None) -> list[str]:
        facts = self.table(name)
        return list(getattr(facts, "dependent_views", []) or []) if facts is not None else []

    def triggers(self, name: str | None) -> list[str]:
        facts = self.table(name)
        return list(getattr(facts, "triggers", []) or []) if facts is not None else []

    def referencing(self, name: str | None) -> list[Any]:
        facts = self.table(name)
        return list(getattr(facts, "foreign_keys_in", []) or []) if facts is not None else []

    def later(self) -> Sequence[Operation]:
        return self.operations[self.index + 1 :]

    def earlier(self) -> Sequence[Operation]:
        return self.operations[: self.index]


Check = Callable[[Operation, Context], str | None]


@dataclass(frozen=True)
class Rule:
    """One rule of the catalogue.

    Attributes:
        id: stable identifier (``"adding-required-field"``), used in suppressions.
        title: one line.
        severity: "error" (will fail or break), "warning" (locks, rewrites, risk),
            "info" (style and future-proofing).
        what, why, instead: the documentation: what is flagged, why it is risky, the safe
            alternative.
        sources: the same check elsewhere (squawk, strong_migrations, Atlas ids).
        dialects: where it applies.
        check: returns the reason, with the facts that make it risky, or None.
    """

    id: str
    title: str
    severity: str
    what: str
    why: str
    instead: str
    sources: tuple[str, ...]
    dialects: frozenset[str]
    check: Check


@dataclass
class Finding:
    """A rule that fired on one operation."""

    rule: str
    severity: str
    message: str
    operation: int
    sql: str | None = None
    instead: str = ""
    suppressed: str | None = None  # the reason given, when suppressed

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "message": self.message,
            "operation": self.operation,
            "sql": self.sql,
            "instead": self.instead,
            "suppressed": self.suppressed,
        }


RULES: dict[str, Rule] = {}
ALL = frozenset({"postgresql", "mysql", "sqlite"})
PG = frozenset({"postgresql"})
MY = frozenset({"mysql"})
LITE = frozenset({"sqlite"})


def rule(
    id: str,
    title: str,
    severity: str,
    *,
    what: str,
    why: str,
    instead: str,
    sources: tuple[str, ...] = (),
    dialects: frozenset[str] = ALL,
) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        if id in RULES:  # pragma: no cover - a catalogue mistake
            raise ValueError(f"rule {id} is defined twice")
        RULES[id] = Rule(id, title, severity, what, why, instead, sources, dialects, check)
        return check

    return register


def check_rules(
    operations: Sequence[Operation], context: Context, suppress: dict[str, str] | None = None
) -> list[Finding]:
    """Every finding of every rule on every operation, in operation order."""
    found: list[Finding] = []
    suppress = suppress or {}
    for i, op in enumerate(operations):
        context.index = i
        for r in RULES.values():
            if context.dialect not in r.dialects:
                continue
            reason = r.check(op, context)
            if reason:
                found.append(
                    Finding(r.id, r.severity, reason, i, op.sql, r.instead, suppress.get(r.id))
                )
    return found


def _is(op: Operation, *kinds: OperationKind) -> bool:
    return op.kind in kinds


def _has_rows(ctx: Context, table: str | None) -> bool:
    rows = ctx.rows(table)
    return rows is None or rows > 0


def _new_type(op: Operation) -> str | None:
    if op.kind is K.ADD_COLUMN and op.column is not None:
        return op.column.data_type.lower()
    if op.kind is K.ALTER_COLUMN_TYPE:
        return (op.data_type or "").lower()
    if op.kind is K.CREATE_TABLE:
        return None
    return None


def _created_types(op: Operation) -> list[tuple[str, str]]:
    """(column, type) pairs an operation introduces: an added column, a type change, or
    the columns of a new table."""
    if op.kind is K.CREATE_TABLE:
        columns = op.options.get("columns") or []
        out = []
        for c in columns:
            name = getattr(c, "name", None)
            data_type = getattr(c, "data_type", None)
            if isinstance(name, str) and isinstance(data_type, str):
                out.append((name, data_type.lower()))
        return out
    new = _new_type(op)
    return [(op.column_name or "?", new)] if new else []


def _lock_phrase(ctx: Context, op: Operation) -> str:
    effect = ctx.effect(op)
    who = "reads and writes wait" if effect.blocks_reads else "writes wait"
    version = ".".join(str(v) for v in ctx.version[:2])
    return f"{effect.lock} on {ctx.flavor} {version}: {who}"


# -- failing statements ------------------------------------------------------------------


@rule(
    "adding-required-field",
    "A NOT NULL column without a default fails on a table that has rows",
    "error",
    what="ADD COLUMN ... NOT NULL with no DEFAULT.",
    why="Existing rows have no value for the column, so the statement fails (or, on "
    "MySQL without strict mode, silently fills in a zero value).",
    instead="Add the column nullable, backfill it in batches, then SET NOT NULL (or use "
    "NotNullColumnHandler); or give it a constant DEFAULT.",
    sources=("squawk: adding-required-field", "atlas: MF103", "strong_migrations"),
)
def _adding_required_field(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.ADD_COLUMN) or op.column is None:
        return None
    if op.column.nullable or op.column.default is not None or op.column.primary_key:
        return None
    if not _has_rows(ctx, op.table):
        return None
    if ctx.dialect == "mysql":
        return (
            f"{ctx.rows_text(op.table)}: each silently gets the type's implicit value "
            f"('' or 0) for {op.column.name!r}"
        )
    return f"{ctx.rows_text(op.table)}: none has a value for {op.column.name!r}"


@rule(
    "set-not-null-with-nulls",
    "SET NOT NULL fails while the column holds NULLs",
    "error",
    what="ALTER COLUMN ... SET NOT NULL (or MODIFY ... NOT NULL) on a column with NULLs.",
    why="The statement scans the table and fails on the first NULL, after holding its lock.",
    instead="Backfill the NULLs first (in batches), then add the constraint.",
    sources=("atlas: MF102", "atlas: MF104"),
)
def _set_not_null_nulls(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.SET_NOT_NULL):
        return None
    nulls = ctx.nulls.get((op.table, op.column_name or ""))
    if nulls:
        return f"{op.table}.{op.column_name} holds {nulls:,} NULLs"
    return None


@rule(
    "unique-on-existing-data",
    "A unique index or constraint on existing rows fails on duplicates",
    "warning",
    what="CREATE UNIQUE INDEX / ADD UNIQUE / ADD PRIMARY KEY on a table with rows.",
    why="If two rows share the value the statement fails, after building most of the index.",
    instead="Check for duplicates first (GROUP BY ... HAVING count(*) > 1) and fix them.",
    sources=("atlas: MF101",),
)
def _unique_existing(op: Operation, ctx: Context) -> str | None:
    unique = (op.kind is K.ADD_INDEX and op.unique) or op.kind in (K.ADD_UNIQUE, K.ADD_PRIMARY_KEY)
    if op.options.get("using_index"):
        return None  # an existing unique index holds no duplicates
    if not unique or not _has_rows(ctx, op.table) or ctx.rows(op.table) is None:
        return None
    return f"{ctx.rows_text(op.table)}; duplicates in {', '.join(op.columns) or '?'} would fail it"


# -- data loss -----------------------------------------------------------------------------


@rule(
    "ban-drop-table",
    "Dropping a table loses its rows",
    "error",
    what="DROP TABLE.",
    why="The rows are gone, and code still reading the table breaks.",
    instead="Stop using the table in code first; rename it away and drop it in a later "
    "release, after a backup.",
    sources=("squawk: ban-drop-table", "atlas: DS102", "strong_migrations: remove_table"),
)
def _drop_table(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.DROP_TABLE):
        return None
    parts = [ctx.rows_text(op.table)]
    refs = ctx.referencing(op.table)
    if refs:
        parts.append(f"{len(refs)} foreign keys point at it")
    views = ctx.views(op.table)
    if views:
        parts.append(f"views {', '.join(views)} depend on it")
    return "; ".join(parts)


@rule(
    "ban-drop-column",
    "Dropping a column loses its data and breaks code that reads it",
    "warning",
    what="DROP COLUMN.",
    why="The values are gone; running code that selects the column fails until it is "
    "deployed without it (ORMs that cache columns fail on writes too).",
    instead="Stop reading the column in code first, then drop it in a later release "
    "(ColumnRemovalManager backs it up and drops its dependents in order).",
    sources=("squawk: ban-drop-column", "atlas: DS103", "strong_migrations: remove_column"),
)
def _drop_column(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.DROP_COLUMN):
        return None
    parts = [f"{ctx.rows_text(op.table)} with a value in {op.column_name!r}"]
    views = ctx.views(op.table)
    if views:
        parts.append(f"views {', '.join(views)} read the table")
    return "; ".join(parts)


@rule(
    "ban-truncate",
    "TRUNCATE deletes every row",
    "error",
    what="TRUNCATE in a migration.",
    why="Every row is gone at once, under an exclusive lock; CASCADE empties referencing "
    "tables too.",
    instead="Delete what must go in batches with a WHERE clause, or keep the data.",
    sources=("squawk: ban-truncate-cascade",),
)
def _truncate(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.TRUNCATE_TABLE):
        return None
    cascade = "; CASCADE empties the tables that reference it" if op.cascade else ""
    return ctx.rows_text(op.table) + cascade


@rule(
    "drop-cascade",
    "DROP ... CASCADE drops whatever depends on the object",
    "error",
    what="DROP TABLE / COLUMN / CONSTRAINT ... CASCADE.",
    why="Views, foreign keys and other dependents disappear silently with it.",
    instead="Drop the dependents explicitly, so the migration says what it removes.",
    sources=("squawk: ban-drop-table",),
)
def _drop_cascade(op: Operation, ctx: Context) -> str | None:
    if not op.cascade or op.kind is K.TRUNCATE_TABLE:
        return None
    views = ctx.views(op.table)
    return "CASCADE" + (f" would also drop views {', '.join(views)}" if views else "")


@rule(
    "delete-without-where",
    "DELETE or UPDATE without WHERE touches every row",
    "warning",
    what="UPDATE / DELETE with no WHERE clause in a migration.",
    why="Every row is locked and written in one transaction: long locks, a huge WAL/binlog, "
    "and replicas fall behind.",
    instead="Backfill in batches (by primary key ranges), outside the schema migration.",
    sources=("strong_migrations: backfill", "atlas: DS"),
)
def _unbounded_dml(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.UPDATE_ROWS, K.DELETE_ROWS) or op.where is not None:
        return None
    return f"{ctx.rows_text(op.table)}, all written in one transaction"


@rule(
    "backfill-with-ddl",
    "Backfilling data in the same transaction as a schema change",
    "warning",
    what="UPDATE / DELETE in the same migration as DDL on the same table.",
    why="The DDL's lock is held until the backfill commits: writers wait for the whole backfill.",
    instead="Commit the schema change, then backfill in batches separately.",
    sources=("strong_migrations: backfill in the same transaction",),
)
def _backfill_with_ddl(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.UPDATE_ROWS, K.DELETE_ROWS) or not ctx.in_transaction:
        return None
    ddl = [
        o
        for o in ctx.earlier()
        if o.table == op.table and o.kind not in (K.UPDATE_ROWS, K.DELETE_ROWS, K.CREATE_TABLE)
    ]
    if not ddl:
        return None
    return f"the {ddl[-1].kind.value} on {op.table} keeps its lock until this backfill commits"


# -- locks and rewrites -------------------------------------------------------------------


@rule(
    "adding-field-with-default",
    "A column whose default must be written to every row rewrites the table",
    "warning",
    what="ADD COLUMN with a volatile DEFAULT (gen_random_uuid(), random(), "
    "clock_timestamp()), or any DEFAULT before PostgreSQL 11.",
    why="Every row is rewritten under an ACCESS EXCLUSIVE lock: reads and writes wait for "
    "the whole rewrite.",
    instead="Add the column without a default (or with a constant one), set the default, "
    "then backfill in batches.",
    sources=(
        "squawk: adding-field-with-default",
        "strong_migrations: add column with default",
        "atlas: PG302",
    ),
    dialects=PG,
)
def _field_with_default(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.ADD_COLUMN) or op.column is None or op.column.default is None:
        return None
    effect = ctx.effect(op)
    if not effect.rewrites or not _has_rows(ctx, op.table):
        return None
    why = "volatile default" if is_volatile_default(op.column.default) else "PostgreSQL < 11"
    return f"{ctx.rows_text(op.table)} to rewrite ({why}); {_lock_phrase(ctx, op)}"


@rule(
    "changing-column-type",
    "Changing a column's type rewrites the table under an exclusive lock",
    "warning",
    what="ALTER COLUMN ... TYPE (MODIFY on MySQL) that is not binary-coercible.",
    why="The table and every index are rewritten while reads and writes wait (MySQL: "
    "writes wait, ALGORITHM=COPY); code expecting the old type may break.",
    instead="Add a new column of the new type, write both, backfill in batches, switch "
    "reads, then drop the old column.",
    sources=(
        "squawk: changing-column-type",
        "strong_migrations: change_column",
        "atlas: PG301",
        "atlas: MY",
    ),
)
def _changing_type(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.ALTER_COLUMN_TYPE):
        return None
    effect = ctx.effect(op)
    if not effect.rewrites:
        return None
    views = ctx.views(op.table)
    extra = f"; views {', '.join(views)} depend on the table" if views else ""
    return f"{ctx.rows_text(op.table)} to rewrite; {effect.note or effect.lock}{extra}"


@rule(
    "adding-not-nullable-field",
    "SET NOT NULL scans the whole table under an exclusive lock",
    "warning",
    what="ALTER COLUMN ... SET NOT NULL on PostgreSQL.",
    why="Every row is checked while reads and writes wait.",
    instead="On PostgreSQL 12+: ADD CONSTRAINT ... CHECK (col IS NOT NULL) NOT VALID, "
    "VALIDATE CONSTRAINT (no exclusive lock), then SET NOT NULL (skips the scan) and drop "
    "the check.",
    sources=("squawk: adding-not-nullable-field", "strong_migrations: change_column_null"),
    dialects=PG,
)
def _set_not_null(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.SET_NOT_NULL) or not _has_rows(ctx, op.table):
        return None
    if ctx.version >= (12,) and _not_null_check_validated(op, ctx):
        return None
    return f"{ctx.rows_text(op.table)} scanned; {_lock_phrase(ctx, op)}"


def _not_null_check_validated(op: Operation, ctx: Context) -> bool:
    """An earlier statement left a validated CHECK (<this column> IS NOT NULL) on the
    table: PostgreSQL 12+ then skips SET NOT NULL's scan."""
    column = re.escape(op.column_name or "")
    pattern = re.compile(rf'^\(*\s*"?{column}"?\s+is\s+not\s+null\s*\)*$', re.IGNORECASE)
    names = set()
    for o in ctx.earlier():
        if o.table != op.table:
            continue
        if o.kind is K.ADD_CHECK and o.expression and pattern.match(o.expression.strip()):
            if not o.not_valid:
                return True
            names.add(o.index)
        if o.kind is K.VALIDATE_CONSTRAINT and o.index in names:
            return True
    return False


@rule(
    "require-concurrent-index-creation",
    "Building an index without CONCURRENTLY blocks writes",
    "warning",
    what="CREATE INDEX without CONCURRENTLY on a table with rows (PostgreSQL).",
    why="Writes wait (SHARE lock) for the whole index build.",
    instead="CREATE INDEX CONCURRENTLY, outside a transaction.",
    sources=(
        "squawk: require-concurrent-index-creation",
        "strong_migrations: add_index",
        "atlas: PG101",
    ),
    dialects=PG,
)
def _concurrent_index(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.ADD_INDEX) or op.concurrently or not _has_rows(ctx, op.table):
        return None
    if any(o.kind is K.CREATE_TABLE and o.table == op.table for o in ctx.earlier()):
        return None  # a table made in this migration is empty
    return f"{ctx.rows_text(op.table)}; {_lock_phrase(ctx, op)} for the whole build"


@rule(
    "require-concurrent-index-deletion",
    "Dropping an index without CONCURRENTLY takes an exclusive lock",
    "warning",
    what="DROP INDEX without CONCURRENTLY (PostgreSQL).",
    why="Reads and writes of the table wait while the lock is taken, and queue behind "
    "any long query.",
    instead="DROP INDEX CONCURRENTLY, outside a transaction.",
    sources=("squawk: require-concurrent-index-deletion", "atlas: PG102"),
    dialects=PG,
)
def _concurrent_drop_index(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.DROP_INDEX) or op.concurrently:
        return None
    return f"DROP INDEX {op.index or op.table} takes AccessExclusiveLock"


@rule(
    "ban-concurrent-index-creation-in-transaction",
    "CONCURRENTLY cannot run inside a transaction",
    "error",
    what="CREATE/DROP INDEX CONCURRENTLY in a migration run as one transaction.",
    why="PostgreSQL refuses it: the migration fails.",
    instead="Run the concurrent statement on its own, outside a transaction.",
    sources=("squawk: ban-concurrent-index-creation-in-transaction",),
    dialects=PG,
)
def _concurrent_in_tx(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.ADD_INDEX, K.DROP_INDEX) or not op.concurrently:
        return None
    if not ctx.in_transaction or len(ctx.operations) == 1:
        return None
    return "the migration runs in a transaction, which CONCURRENTLY refuses"


@rule(
    "constraint-missing-not-valid",
    "Adding a foreign key or check validates every row under a lock",
    "warning",
    what="ADD CONSTRAINT FOREIGN KEY / CHECK without NOT VALID on a table with rows.",
    why="The constraint is checked against every row while writes (foreign key: on both "
    "tables) or reads and writes (check) wait.",
    instead="ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT in a separate "
    "transaction (a weaker lock).",
    sources=(
        "squawk: constraint-missing-not-valid",
        "squawk: adding-foreign-key-constraint",
        "strong_migrations: add_foreign_key",
        "strong_migrations: add_check_constraint",
        "atlas: PG104",
    ),
    dialects=PG,
)
def _not_valid(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.ADD_FOREIGN_KEY, K.ADD_CHECK) or op.not_valid:
        return None
    if not _has_rows(ctx, op.table):
        return None
    return f"{ctx.rows_text(op.table)} checked; {_lock_phrase(ctx, op)}"


@rule(
    "validate-in-same-transaction",
    "VALIDATE CONSTRAINT in the transaction that added it keeps the strong lock",
    "warning",
    what="ADD CONSTRAINT ... NOT VALID followed by VALIDATE CONSTRAINT in one transaction.",
    why="The ADD's lock is held through the validation scan, which NOT VALID meant to avoid.",
    instead="Commit after ADD CONSTRAINT ... NOT VALID; validate in the next transaction.",
    sources=("squawk: constraint-missing-not-valid",),
    dialects=PG,
)
def _validate_same_tx(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.VALIDATE_CONSTRAINT) or not ctx.in_transaction:
        return None
    added = [o for o in ctx.earlier() if o.not_valid and o.table == op.table]
    if not added:
        return None
    return f"{op.index or 'the constraint'} was added NOT VALID earlier in this transaction"


@rule(
    "disallowed-unique-constraint",
    "ADD UNIQUE builds its index under an exclusive lock",
    "warning",
    what="ALTER TABLE ... ADD CONSTRAINT ... UNIQUE / PRIMARY KEY without USING INDEX.",
    why="The index is built while reads and writes wait.",
    instead="CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... UNIQUE USING INDEX.",
    sources=(
        "squawk: disallowed-unique-constraint",
        "strong_migrations: add unique",
        "atlas: PG105",
    ),
    dialects=PG,
)
def _unique_constraint(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.ADD_UNIQUE, K.ADD_PRIMARY_KEY) or op.options.get("using_index"):
        return None
    if not _has_rows(ctx, op.table):
        return None
    return f"{ctx.rows_text(op.table)} indexed; {_lock_phrase(ctx, op)}"


@rule(
    "adding-exclusion-constraint",
    "An exclusion constraint is built under an exclusive lock",
    "warning",
    what="ADD CONSTRAINT ... EXCLUDE on a table with rows.",
    why="It cannot be added NOT VALID or concurrently: reads and writes wait for the build.",
    instead="Add it while the table is small, or in a maintenance window.",
    sources=("strong_migrations: add_exclusion_constraint",),
    dialects=PG,
)
def _exclusion(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.ADD_EXCLUSION) or not _has_rows(ctx, op.table):
        return None
    return f"{ctx.rows_text(op.table)}; {_lock_phrase(ctx, op)}"


@rule(
    "renaming-column",
    "Renaming a column breaks running code",
    "warning",
    what="RENAME COLUMN.",
    why="Code deployed before the rename still uses the old name and fails until it is "
    "replaced; views keep working only on PostgreSQL.",
    instead="Add the new column, write both, backfill, switch reads, drop the old one; or "
    "rename in code with a mapping.",
    sources=("squawk: renaming-column", "strong_migrations: rename_column", "atlas: BC102"),
)
def _rename_column(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.RENAME_COLUMN):
        return None
    return f"{op.table}.{op.column_name} -> {op.new_name}; {ctx.rows_text(op.table)}"


@rule(
    "renaming-table",
    "Renaming a table breaks running code",
    "warning",
    what="ALTER TABLE ... RENAME TO.",
    why="Code deployed before the rename fails until it is replaced.",
    instead="Create a view with the old name during the switch, or rename in code first "
    "(TableRenameAnalyzer lists what refers to the table).",
    sources=("squawk: renaming-table", "strong_migrations: rename_table", "atlas: BC101"),
)
def _rename_table(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.RENAME_TABLE):
        return None
    extra = []
    refs = ctx.referencing(op.table)
    if refs:
        extra.append(f"{len(refs)} foreign keys point at it")
    views = ctx.views(op.table)
    if views:
        extra.append(f"views {', '.join(views)}")
    tail = f" ({'; '.join(extra)})" if extra else ""
    return f"{op.table} -> {op.new_name}{tail}"


@rule(
    "ban-drop-not-null",
    "Dropping NOT NULL lets NULLs in that code may not expect",
    "info",
    what="ALTER COLUMN ... DROP NOT NULL.",
    why="Readers that assume a value break on the first NULL; hard to undo once NULLs exist.",
    instead="Make sure every reader handles NULL first.",
    sources=("squawk: ban-drop-not-null",),
)
def _drop_not_null(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.DROP_NOT_NULL):
        return None
    return f"{op.table}.{op.column_name} becomes nullable"


@rule(
    "dropping-constraint",
    "Dropping a constraint removes a guarantee",
    "info",
    what="DROP CONSTRAINT.",
    why="Rows that break the rule can then be written; restoring it later needs a full validation.",
    instead="Keep it, or replace it NOT VALID + VALIDATE in the same release.",
    sources=("atlas: CD",),
)
def _drop_constraint(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.DROP_CONSTRAINT):
        return None
    return f"constraint {op.index or '?'} of {op.table} is dropped"


@rule(
    "adding-serial-primary-key-field",
    "Adding a serial / identity / auto-increment column rewrites the table",
    "warning",
    what="ADD COLUMN of serial, bigserial, GENERATED ... AS IDENTITY or AUTO_INCREMENT.",
    why="Every row gets a value: a rewrite under an exclusive lock.",
    instead="Add a nullable column, backfill in batches from a sequence, then add the "
    "default and constraint.",
    sources=("squawk: adding-serial-primary-key-field", "strong_migrations: auto-increment"),
)
def _serial_column(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.ADD_COLUMN) or op.column is None:
        return None
    t = op.column.data_type.lower()
    serial = "serial" in t or "identity" in t or "auto_increment" in t
    serial = serial or bool(op.options.get("identity") or op.options.get("auto_increment"))
    if not serial or not _has_rows(ctx, op.table):
        return None
    return f"{ctx.rows_text(op.table)} get a value each: a rewrite"


@rule(
    "adding-stored-generated-column",
    "A stored generated column is computed for every row",
    "warning",
    what="ADD COLUMN ... GENERATED ALWAYS AS (...) STORED.",
    why="Every row is rewritten under an exclusive lock.",
    instead="Add a plain column, backfill it in batches, keep it current with a trigger "
    "or in code.",
    sources=("strong_migrations: add stored generated column",),
)
def _stored_generated(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.ADD_COLUMN) or not op.options.get("generated_stored"):
        return None
    if not _has_rows(ctx, op.table):
        return None
    return f"{ctx.rows_text(op.table)} computed and rewritten"


@rule(
    "require-timeout-settings",
    "A migration that takes a strong lock should set lock_timeout first",
    "warning",
    what="A statement taking an ACCESS EXCLUSIVE (or SHARE) lock without SET lock_timeout.",
    why="Waiting for the lock behind a long query queues every later query of the table "
    "behind the migration: an outage even when the statement itself is instant.",
    instead="SET lock_timeout = '2s' (and retry) before the statement.",
    sources=("squawk: require-timeout-settings", "strong_migrations: lock_timeout"),
    dialects=PG,
)
def _timeouts(op: Operation, ctx: Context) -> str | None:
    if ctx.lock_timeout_set or op.kind in (K.CREATE_TABLE, K.UPDATE_ROWS, K.DELETE_ROWS):
        return None
    effect = ctx.effect(op)
    if not effect.blocks_writes:
        return None
    locking = (K.CREATE_TABLE, K.UPDATE_ROWS, K.DELETE_ROWS)
    if any(o.kind not in locking and ctx.effect(o).blocks_writes for o in ctx.earlier()):
        return None  # said once, on the first statement whose lock blocks writes
    return f"{_lock_phrase(ctx, op)}; no lock_timeout is set"


@rule(
    "transaction-nesting",
    "BEGIN / COMMIT inside a migration",
    "warning",
    what="Transaction control statements in migration text.",
    why="The migration tool's own transaction is committed early or nested: a failure "
    "half-way leaves a half-applied schema.",
    instead="Let the migration runner own the transaction.",
    sources=("squawk: transaction-nesting",),
)
def _tx_nesting(op: Operation, ctx: Context) -> str | None:
    if op.kind is not K.RAW or not op.sql:
        return None
    if re.match(r"\s*(begin|commit|rollback|start\s+transaction)\b", op.sql, re.IGNORECASE):
        return f"{op.sql.strip().split()[0].upper()} inside the migration"
    return None


@rule(
    "raw-sql",
    "A statement the safety suite cannot analyse",
    "warning",
    what="SQL that parses to nothing the catalogue knows (a function, a DO block, ...).",
    why="Its locks and effects are unknown: nothing vouches for it.",
    instead="Review it by hand; split DDL into plain statements where possible.",
    sources=("strong_migrations: execute",),
)
def _raw(op: Operation, ctx: Context) -> str | None:
    if op.kind is not K.RAW or _tx_nesting(op, ctx):
        return None
    if op.sql and re.match(r"\s*set\s", op.sql, re.IGNORECASE):
        return None
    return "not analysed: " + (op.sql or "").strip()[:80]


@rule(
    "ban-drop-database",
    "Dropping a database or schema",
    "error",
    what="DROP DATABASE / DROP SCHEMA.",
    why="Everything in it is gone.",
    instead="Never from a migration.",
    sources=("squawk: ban-drop-database", "atlas: DS101", "strong_migrations: rename_schema"),
)
def _drop_database(op: Operation, ctx: Context) -> str | None:
    if (
        op.kind is K.RAW
        and op.sql
        and re.match(r"\s*drop\s+(database|schema)\b", op.sql, re.IGNORECASE)
    ):
        return op.sql.strip()[:80]
    return None


@rule(
    "dependent-views",
    "Views depend on the table being changed",
    "warning",
    what="A type change, drop or rename of a column of a table that views read.",
    why="PostgreSQL refuses to change a column a view uses (the migration fails); MySQL "
    "and SQLite leave the view broken until it is recreated.",
    instead="Drop and recreate the dependent views in the same migration.",
    sources=("DataFlow: live facts",),
)
def _dependent_views(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.ALTER_COLUMN_TYPE, K.DROP_COLUMN, K.RENAME_COLUMN):
        return None
    views = ctx.views(op.table)
    if not views:
        return None
    return f"views {', '.join(views)} read {op.table}"


@rule(
    "triggers-on-table",
    "Triggers run on every row a backfill or rewrite touches",
    "info",
    what="A rewrite or backfill of a table that has triggers.",
    why="Each trigger fires per row (backfills) and may need changing with the column.",
    instead="Review the triggers; disable them for the backfill only if that is safe.",
    sources=("DataFlow: live facts",),
)
def _triggers(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.UPDATE_ROWS, K.ALTER_COLUMN_TYPE, K.DROP_COLUMN, K.RENAME_COLUMN):
        return None
    triggers = ctx.triggers(op.table)
    if not triggers:
        return None
    return f"triggers {', '.join(triggers)} on {op.table}"


@rule(
    "referenced-table",
    "Other tables' foreign keys point at the table being changed",
    "warning",
    what="DROP, TRUNCATE, RENAME or a key change of a table other tables reference.",
    why="The referencing rows lose their target, or their foreign keys must be dropped "
    "first; the referencing tables are locked too.",
    instead="Deal with the referencing foreign keys explicitly first (ForeignKeyAnalyzer "
    "lists them).",
    sources=("DataFlow: live facts",),
)
def _referenced(op: Operation, ctx: Context) -> str | None:
    if not _is(
        op, K.DROP_TABLE, K.TRUNCATE_TABLE, K.RENAME_TABLE, K.ALTER_COLUMN_TYPE, K.DROP_COLUMN
    ):
        return None
    refs = ctx.referencing(op.table)
    if not refs:
        return None
    names = sorted({str(getattr(r, "table", getattr(r, "from_table", r))) for r in refs})
    return f"{', '.join(names)} reference {op.table}"


# -- types and style --------------------------------------------------------------------


def _type_rule(
    id: str,
    title: str,
    pattern: str,
    why: str,
    instead: str,
    sources: tuple[str, ...],
    dialects: frozenset[str] = ALL,
) -> None:
    compiled = re.compile(pattern, re.IGNORECASE)

    def check(op: Operation, ctx: Context) -> str | None:
        hits = [f"{c} {t}" for c, t in _created_types(op) if compiled.search(t)]
        return f"{', '.join(hits)}" if hits else None

    rule(
        id,
        title,
        "info",
        what=f"A column of type {pattern}.",
        why=why,
        instead=instead,
        sources=sources,
        dialects=dialects,
    )(check)


_type_rule(
    "prefer-text-field",
    "varchar(n) limits are expensive to change",
    r"^(character varying|varchar)\s*\(",
    "Raising the limit later can rewrite the table (MySQL) or needs a migration.",
    "text with a CHECK (length(col) <= n) added NOT VALID, which is cheap to change.",
    ("squawk: prefer-text-field",),
    PG,
)
_type_rule(
    "ban-char-field",
    "char(n) pads values with spaces",
    r"^(character|char)\s*(\(|$)",
    "Values are blank-padded, comparisons surprise, and the length cannot grow cheaply.",
    "text or varchar.",
    ("squawk: ban-char-field",),
)
_type_rule(
    "prefer-bigint-over-int",
    "32-bit integer keys run out",
    r"^(int|integer|int4|serial|serial4)$",
    "A busy table exhausts 2,147,483,647 ids; widening later rewrites the table.",
    "bigint / bigserial for ids and counters.",
    ("squawk: prefer-big-int", "squawk: prefer-bigint-over-int"),
    PG,
)
_type_rule(
    "prefer-bigint-over-smallint",
    "smallint overflows at 32,767",
    r"^(smallint|int2|smallserial)$",
    "Widening later rewrites the table.",
    "bigint (or integer when the range is truly bounded).",
    ("squawk: prefer-bigint-over-smallint",),
    PG,
)
_type_rule(
    "prefer-timestamptz",
    "timestamp without time zone loses the time zone",
    r"^timestamp(\s*\(\d+\))?(\s+without\s+time\s+zone)?$",
    "Values mean different instants depending on the session's time zone.",
    "timestamptz (timestamp with time zone).",
    ("squawk: prefer-timestamptz",),
    PG,
)
_type_rule(
    "prefer-jsonb",
    "json instead of jsonb",
    r"^json$",
    "json has no equality operator (DISTINCT, UNION and GROUP BY fail) and no indexes.",
    "jsonb.",
    ("strong_migrations: add json column",),
    PG,
)
_type_rule(
    "prefer-identity",
    "serial instead of an identity column",
    r"^(small|big)?serial\d?$",
    "serial's sequence has separate ownership and permissions; identity is the standard.",
    "bigint GENERATED BY DEFAULT AS IDENTITY.",
    ("squawk: prefer-identity",),
    PG,
)
_type_rule(
    "ban-float-for-money",
    "Floating point for exact amounts",
    r"^(real|float\d?|double( precision)?)$",
    "Binary floating point cannot hold most decimal amounts exactly.",
    "numeric(p, s) / decimal.",
    ("DataFlow",),
)
_type_rule(
    "mysql-utf8-charset",
    "MySQL's utf8 is 3-byte utf8mb3",
    r"character\s+set\s+utf8(mb3)?\b",
    "Emoji and other 4-byte characters cannot be stored.",
    "utf8mb4.",
    ("atlas: LT",),
    MY,
)
_type_rule(
    "mysql-enum-column",
    "ENUM columns need a table change for every new value",
    r"^enum\s*\(",
    "Adding a value in the middle rebuilds the table; ordering is by position.",
    "A lookup table or a varchar with a check.",
    ("DataFlow",),
    MY,
)


@rule(
    "prefer-robust-stmts",
    "Statements that fail when re-run",
    "info",
    what="CREATE / DROP without IF [NOT] EXISTS in a migration that cannot run in one transaction.",
    why="A migration that failed half-way cannot simply be re-run.",
    instead="IF NOT EXISTS / IF EXISTS, so a retry continues.",
    sources=("squawk: prefer-robust-stmts",),
    dialects=PG,
)
def _robust(op: Operation, ctx: Context) -> str | None:
    if ctx.in_transaction and not any(o.concurrently for o in ctx.operations):
        return None
    creates = (K.ADD_INDEX, K.DROP_INDEX, K.CREATE_TABLE, K.DROP_TABLE)
    if op.kind in creates and not op.if_exists:
        return f"{op.kind.value} without IF [NOT] EXISTS"
    return None


@rule(
    "index-too-many-columns",
    "An index on more than three columns",
    "info",
    what="CREATE INDEX with four or more columns.",
    why="Wide indexes are large and slow to write; later columns rarely help.",
    instead="Index the columns queries filter on first; check with EXPLAIN.",
    sources=("strong_migrations: add_index with many columns",),
)
def _wide_index(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.ADD_INDEX) or len(op.columns) <= 3:
        return None
    return f"{len(op.columns)} columns: {', '.join(op.columns)}"


@rule(
    "foreign-key-without-index",
    "A foreign key whose columns have no index",
    "info",
    what="ADD FOREIGN KEY on columns no index starts with (PostgreSQL).",
    why="Deleting or updating a referenced row scans the whole referencing table, under locks.",
    instead="CREATE INDEX CONCURRENTLY on the foreign key's columns.",
    sources=("strong_migrations: add_reference index",),
    dialects=PG,
)
def _fk_index(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.ADD_FOREIGN_KEY) or not op.columns:
        return None
    facts = ctx.table(op.table)
    indexed = [list(getattr(i, "columns", []) or []) for i in getattr(facts, "indexes", [])]
    indexed += [o.columns for o in ctx.operations if o.kind is K.ADD_INDEX and o.table == op.table]
    if any(cols[: len(op.columns)] == op.columns for cols in indexed):
        return None
    return f"no index on {op.table}({', '.join(op.columns)})"


@rule(
    "mysql-inline-references-ignored",
    "MySQL ignores an inline REFERENCES clause",
    "error",
    what="A column definition with REFERENCES (no FOREIGN KEY clause) on MySQL/MariaDB.",
    why="MySQL parses and silently ignores column-level REFERENCES: no constraint is made.",
    instead="A table-level FOREIGN KEY (col) REFERENCES t (id).",
    sources=("atlas: MY102",),
    dialects=MY,
)
def _mysql_inline_fk(op: Operation, ctx: Context) -> str | None:
    if _is(op, K.ADD_COLUMN) and op.column is not None and op.column.references:
        return f"{op.column.name} REFERENCES {op.column.references} makes no constraint"
    return None


@rule(
    "mysql-modify-drops-attributes",
    "MODIFY COLUMN resets what it does not repeat",
    "warning",
    what="MODIFY / CHANGE COLUMN on MySQL.",
    why="Attributes not repeated in the statement (NOT NULL, DEFAULT, comment, "
    "AUTO_INCREMENT) are dropped; the change copies the table.",
    instead="Repeat the full column definition; prefer adding a new column.",
    sources=("atlas: MY",),
    dialects=MY,
)
def _mysql_modify(op: Operation, ctx: Context) -> str | None:
    if not op.options.get("mysql_modify"):
        return None
    return f"{op.table}.{op.column_name}: {ctx.rows_text(op.table)} copied"


@rule(
    "sqlite-alter-unsupported",
    "SQLite's ALTER TABLE cannot do this",
    "error",
    what="On SQLite: a type, NOT NULL or default change, a constraint added or dropped, "
    "or ADD COLUMN with UNIQUE / PRIMARY KEY.",
    why="SQLite refuses the statement (a syntax error, or 'Cannot add a UNIQUE column'): "
    "the migration fails.",
    instead="Rebuild the table (create the new one, copy, drop, rename, in one "
    "transaction); NotNullColumnHandler and ColumnRemovalManager do it for you.",
    sources=("DataFlow",),
    dialects=LITE,
)
def _sqlite_unsupported(op: Operation, ctx: Context) -> str | None:
    column = op.column if op.kind is K.ADD_COLUMN else None
    if column is not None and (column.unique or column.primary_key):
        return f"ADD COLUMN {column.name} with UNIQUE or PRIMARY KEY"
    if not ctx.effect(op).rewrites or op.kind is K.TRUNCATE_TABLE:
        return None
    return f"{op.kind.value} on {op.table} ({ctx.rows_text(op.table)} to copy in a rebuild)"


@rule(
    "sqlite-drop-column-limits",
    "SQLite cannot drop some columns",
    "error",
    what="DROP COLUMN of a column that is indexed, a key, or used by a view or trigger (SQLite).",
    why="SQLite refuses the statement.",
    instead="Drop the index / view first, or rebuild the table.",
    sources=("DataFlow",),
    dialects=LITE,
)
def _sqlite_drop(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.DROP_COLUMN):
        return None
    facts = ctx.table(op.table)
    if facts is None:
        return None
    column = getattr(facts, "columns", {}).get(op.column_name)
    if column is not None and getattr(column, "is_primary_key", False):
        return f"{op.column_name} is the primary key"
    for index in getattr(facts, "indexes", []):
        if op.column_name in (getattr(index, "columns", []) or []):
            return f"{op.column_name} is in index {getattr(index, 'name', '?')}"
    views = ctx.views(op.table)
    if views:
        return f"views {', '.join(views)} read {op.table}"
    return None


@rule(
    "large-table-rewrite",
    "A rewrite of a large table",
    "warning",
    what="Any statement that rewrites a table above 100,000 rows or 1 GB.",
    why="Time and disk space grow with the table; the lock is held throughout; replicas lag.",
    instead="Use the expand / backfill / contract pattern instead of a rewrite.",
    sources=("DataFlow: live facts",),
)
def _large_rewrite(op: Operation, ctx: Context) -> str | None:
    if not ctx.effect(op).rewrites or op.kind is K.TRUNCATE_TABLE:
        return None
    rows = ctx.rows(op.table) or 0
    facts = ctx.table(op.table)
    size = getattr(facts, "size_bytes", None) if facts is not None else None
    if rows < 100_000 and not (isinstance(size, int) and size > 2**30):
        return None
    mb = f", {size / 2**20:,.0f} MB" if isinstance(size, int) else ""
    return f"{ctx.rows_text(op.table)}{mb}"


@rule(
    "add-column-default-mysql-old",
    "ADD COLUMN rebuilds the table on this MySQL/MariaDB version",
    "warning",
    what="ADD COLUMN on MySQL before 8.0.12 or MariaDB before 10.3.",
    why="Without INSTANT add column, the table is rebuilt.",
    instead="Upgrade, or use an online schema change tool (gh-ost, pt-osc).",
    sources=("strong_migrations: mysql add column",),
    dialects=MY,
)
def _mysql_add_column(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.ADD_COLUMN) or not ctx.effect(op).rewrites:
        return None
    return f"{ctx.rows_text(op.table)} rebuilt"


@rule(
    "creating-table-without-primary-key",
    "A table without a primary key",
    "warning",
    what="CREATE TABLE with no PRIMARY KEY.",
    why="Rows cannot be addressed one by one (DataFlow registers it read-only); logical "
    "replication cannot update it.",
    instead="Add a primary key (bigint identity or uuid).",
    sources=("atlas: naming/structure", "DataFlow"),
)
def _no_pk(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.CREATE_TABLE):
        return None
    columns = op.options.get("columns") or []
    if op.options.get("primary_key") or any(getattr(c, "primary_key", False) for c in columns):
        return None
    return f"{op.table} has no primary key"


@rule(
    "volatile-default-set",
    "SET DEFAULT with a volatile expression",
    "info",
    what="ALTER COLUMN ... SET DEFAULT gen_random_uuid() (or another volatile expression).",
    why="Fine for new rows; existing rows keep NULL: code must not assume they were filled.",
    instead="Backfill existing rows explicitly if they need a value.",
    sources=("DataFlow",),
)
def _volatile_set_default(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.SET_DEFAULT) or not is_volatile_default(op.default):
        return None
    return f"existing rows of {op.table} keep their value; only new rows get {op.default}"


@rule(
    "adding-unique-column",
    "A new column declared UNIQUE or PRIMARY KEY builds an index under the lock",
    "warning",
    what="ADD COLUMN ... UNIQUE / PRIMARY KEY on a table with rows.",
    why="The index is built in the same statement, while reads and writes wait.",
    instead="Add the column, then CREATE UNIQUE INDEX CONCURRENTLY and attach it.",
    sources=("squawk: disallowed-unique-constraint", "strong_migrations: add unique"),
    dialects=PG,
)
def _unique_column(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.ADD_COLUMN) or op.column is None:
        return None
    if not (op.column.unique or op.column.primary_key) or not _has_rows(ctx, op.table):
        return None
    return f"{ctx.rows_text(op.table)} indexed; {_lock_phrase(ctx, op)}"


@rule(
    "dropping-primary-key",
    "Dropping a primary key",
    "error",
    what="DROP CONSTRAINT of the table's primary key.",
    why="Rows can no longer be addressed one by one; referencing foreign keys must go "
    "first; replication of updates stops on PostgreSQL logical replication.",
    instead="Replace it in the same migration (ADD PRIMARY KEY USING INDEX).",
    sources=("atlas: DS",),
)
def _drop_pk(op: Operation, ctx: Context) -> str | None:
    if not _is(op, K.DROP_CONSTRAINT):
        return None
    if op.options.get("constraint_type") == "primary_key":
        return f"the primary key of {op.table} is dropped"
    if not op.index:
        return None
    facts = ctx.table(op.table)
    for index in getattr(facts, "indexes", []) if facts is not None else []:
        if getattr(index, "primary", False) and getattr(index, "name", None) == op.index:
            return f"{op.index} is the primary key of {op.table}"
    return None


@rule(
    "unnamed-constraint",
    "A constraint or index without a name",
    "info",
    what="ADD CONSTRAINT / CREATE INDEX without an explicit name.",
    why="Generated names differ between databases and environments: a later migration "
    "cannot refer to it reliably.",
    instead="Name it (<table>_<columns>_<kind>).",
    sources=("atlas: NM",),
)
def _unnamed(op: Operation, ctx: Context) -> str | None:
    kinds = (K.ADD_FOREIGN_KEY, K.ADD_CHECK, K.ADD_UNIQUE, K.ADD_INDEX, K.ADD_EXCLUSION)
    if op.kind not in kinds or op.index or op.sql is None:
        return None
    return f"{op.kind.value} on {op.table} has no name"


def catalogue() -> list[Rule]:
    """The rules, by id."""
    return [RULES[k] for k in sorted(RULES)]


def rules_for(dialect: str) -> list[Rule]:
    return [r for r in catalogue() if dialect in r.dialects]
