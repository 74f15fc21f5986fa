"""Risk scores from real facts, and the report of ``assess()``.

Each operation is scored 0-100 in four dimensions, from what it does on this server
(``_effects.py``: the lock, a rewrite, a scan, failing on rows) and the facts of its table
(rows, size, dependent views, triggers, foreign keys in). Every number that moved a score
is written in the assessment's reasons, so a reviewer sees why.

- data_loss: rows that a statement deletes or makes unreadable.
- availability: how long readers / writers wait, and whether the statement fails.
- performance: work done under the lock (a rewrite, a scan) relative to table size.
- rollback: how hard it is to undo (a drop needs a backup; a rename is one statement).
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._loop import engine_bound, run_sync
from ._operations import Operation, OperationKind
from ._rules import Context, Finding, check_rules

if TYPE_CHECKING:
    from .._dataflow import DataFlow

__all__ = [
    "MigrationReport",
    "OperationRisk",
    "RiskAssessmentEngine",
    "RiskLevel",
    "assess",
    "assess_async",
]

K = OperationKind


class RiskLevel(enum.StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    @classmethod
    def of(cls, score: float) -> RiskLevel:
        if score >= 75:
            return cls.CRITICAL
        if score >= 50:
            return cls.HIGH
        if score >= 25:
            return cls.MEDIUM
        return cls.LOW


@dataclass
class OperationRisk:
    """The risk of one operation.

    Attributes:
        operation: the operation.
        scores: ``{"data_loss", "availability", "performance", "rollback"}`` -> 0-100.
        overall_score: the highest dimension.
        overall_risk_level: LOW < 25 <= MEDIUM < 50 <= HIGH < 75 <= CRITICAL.
        reasons: the facts behind the scores, one sentence each.
        lock: the lock the statement takes on this server; rewrites / scans.
    """

    operation: Operation
    scores: dict[str, float]
    reasons: list[str]
    lock: str | None
    rewrites: bool
    scans: bool

    @property
    def overall_score(self) -> float:
        return max(self.scores.values()) if self.scores else 0.0

    @property
    def overall_risk_level(self) -> RiskLevel:
        return RiskLevel.of(self.overall_score)

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation.kind.value,
            "table": self.operation.table,
            "column": self.operation.column_name,
            "sql": self.operation.sql,
            "scores": {k: round(v, 1) for k, v in self.scores.items()},
            "overall_score": round(self.overall_score, 1),
            "overall_risk_level": self.overall_risk_level.value,
            "lock": self.lock,
            "rewrites": self.rewrites,
            "scans": self.scans,
            "reasons": list(self.reasons),
        }


@dataclass
class MigrationReport:
    """What ``assess()`` found: per-operation risks, rule findings, and strategies.

    ``overall_score`` and ``overall_risk_level`` are those of the riskiest operation;
    an unsuppressed error finding makes the level at least HIGH.
    """

    dialect: str
    server_version: str
    operations: list[OperationRisk]
    findings: list[Finding]
    recommended_strategies: list[str] = field(default_factory=list)

    @property
    def overall_score(self) -> float:
        score = max((o.overall_score for o in self.operations), default=0.0)
        if any(f.severity == "error" and not f.suppressed for f in self.findings):
            score = max(score, 50.0)
        return score

    @property
    def overall_risk_level(self) -> RiskLevel:
        return RiskLevel.of(self.overall_score)

    @property
    def safe(self) -> bool:
        """No unsuppressed error or warning, and a LOW overall risk."""
        active = [f for f in self.findings if not f.suppressed and f.severity != "info"]
        return not active and self.overall_risk_level is RiskLevel.LOW

    def to_dict(self) -> dict[str, Any]:
        return {
            "dialect": self.dialect,
            "server_version": self.server_version,
            "overall_score": round(self.overall_score, 1),
            "overall_risk_level": self.overall_risk_level.value,
            "safe": self.safe,
            "operations": [o.to_dict() for o in self.operations],
            "findings": [f.to_dict() for f in self.findings],
            "recommended_strategies": list(self.recommended_strategies),
        }


def _size_factor(rows: int | None) -> float:
    """0 for an empty table, ~50 at 10,000 rows, ~75 at 1,000,000, 100 at 10**8."""
    if not rows:
        return 0.0
    return min(100.0, 12.5 * math.log10(rows + 1))


def score_operation(op: Operation, ctx: Context) -> OperationRisk:
    """The four scores of one operation, with their reasons."""
    effect = ctx.effect(op)
    rows = ctx.rows(op.table)
    known = rows is not None
    size = _size_factor(rows) if known else 50.0
    reasons: list[str] = []
    if known:
        reasons.append(ctx.rows_text(op.table))
    else:
        if op.table:
            reasons.append(f"{op.table}: no facts (the table does not exist yet)")
        else:
            reasons.append("no table named: the statement's effect is unknown")
    facts = ctx.table(op.table)
    size_bytes = getattr(facts, "size_bytes", None) if facts is not None else None
    if isinstance(size_bytes, int) and size_bytes > 0:
        reasons.append(f"{op.table} takes {size_bytes / 2**20:,.1f} MB")
    if effect.lock:
        who = (
            "reads and writes wait"
            if effect.blocks_reads
            else "writes wait"
            if effect.blocks_writes
            else "reads and writes continue"
        )
        version = ".".join(str(v) for v in ctx.version[:3])
        reasons.append(f"takes {effect.lock} on {ctx.flavor} {version} ({who})")
    if effect.rewrites:
        reasons.append("rewrites the table" + (f": {effect.note}" if effect.note else ""))
    elif effect.scans:
        reasons.append("reads every row under the lock")

    data_loss = 0.0
    if op.kind in (K.DROP_TABLE, K.TRUNCATE_TABLE):
        data_loss = 60 + 0.4 * size if known and rows else 20.0
    elif op.kind is K.DROP_COLUMN:
        data_loss = 45 + 0.4 * size if known and rows else 15.0
    elif op.kind is K.DELETE_ROWS:
        data_loss = (70.0 if op.where is None else 35.0) if (rows or not known) else 5.0
    elif op.kind is K.ALTER_COLUMN_TYPE:
        data_loss = 20.0 if rows else 0.0  # a narrowing cast can truncate or fail
    if op.cascade:
        data_loss = max(data_loss, 70.0)
        reasons.append("CASCADE drops dependents too")

    if effect.fails_with_rows and (rows or not known):
        availability = 100.0
        reasons.append("fails while the table has rows")
    elif effect.blocks_reads:
        availability = 15 + (0.85 * size if effect.rewrites or effect.scans else 0.1 * size)
    elif effect.blocks_writes:
        availability = 10 + (0.6 * size if effect.rewrites or effect.scans else 0.05 * size)
    else:
        availability = 0.2 * size if effect.scans else 0.0
    performance = size if effect.rewrites else 0.6 * size if effect.scans else 0.0

    rollback = {
        K.DROP_TABLE: 95.0,
        K.TRUNCATE_TABLE: 95.0,
        K.DROP_COLUMN: 85.0,
        K.DELETE_ROWS: 80.0,
        K.ALTER_COLUMN_TYPE: 45.0,
        K.UPDATE_ROWS: 50.0,
        K.DROP_CONSTRAINT: 25.0,
        K.SET_NOT_NULL: 15.0,
        K.RENAME_TABLE: 20.0,
        K.RENAME_COLUMN: 20.0,
    }.get(op.kind, 5.0)
    if op.kind in (K.DROP_TABLE, K.DROP_COLUMN) and known and not rows:
        rollback = 30.0
    if op.kind is K.ALTER_COLUMN_TYPE and not effect.rewrites:
        rollback = 15.0  # changed back in the catalog as cheaply

    views = ctx.views(op.table)
    if views and op.kind in (K.ALTER_COLUMN_TYPE, K.DROP_COLUMN, K.RENAME_COLUMN, K.DROP_TABLE):
        availability = max(availability, 60.0)
        reasons.append(f"{len(views)} dependent views: {', '.join(views)}")
    triggers = ctx.triggers(op.table)
    if triggers and op.kind in (K.UPDATE_ROWS, K.ALTER_COLUMN_TYPE, K.DROP_COLUMN):
        performance = min(100.0, performance + 10 * len(triggers))
        reasons.append(f"{len(triggers)} triggers: {', '.join(triggers)}")
    referencing = ctx.referencing(op.table)
    if referencing and op.kind in (K.DROP_TABLE, K.TRUNCATE_TABLE, K.RENAME_TABLE):
        data_loss = max(data_loss, 80.0 if op.kind is not K.RENAME_TABLE else data_loss)
        availability = max(availability, 50.0)
        reasons.append(f"{len(referencing)} foreign keys of other tables point at {op.table}")
    if effect.other_tables:
        reasons.append(f"also locks {', '.join(effect.other_tables)}")

    scores = {
        "data_loss": round(min(100.0, data_loss), 1),
        "availability": round(min(100.0, availability), 1),
        "performance": round(min(100.0, performance), 1),
        "rollback": round(min(100.0, rollback), 1),
    }
    return OperationRisk(op, scores, reasons, effect.lock, effect.rewrites, effect.scans)


_LOCK_TIMEOUT = re.compile(
    r"^\s*set\s+(?:local\s+|session\s+)?lock_timeout\s*(?:=|to)\s*'?\s*(\d+)",
    re.IGNORECASE,
)
_CONSTRAINT_OPTIONS = (
    (re.compile(r"generated\s+always\s+as\s*\(.*\)\s*stored", re.I | re.S), "generated_stored"),
    (re.compile(r"\bas\s+identity\b", re.I), "identity"),
    (re.compile(r"\bauto_increment\b", re.I), "auto_increment"),
)


def normalize(ops: Sequence[Operation]) -> list[Operation]:
    """Operations as the rules read them: schema-qualified table names, column
    constraints as options (generated, identity, auto-increment), and MySQL's MODIFY
    marked where it drops attributes it does not repeat."""
    # copies: the caller's Operation objects are never changed
    out = [
        dataclasses.replace(op, options=dict(op.options), columns=list(op.columns)) for op in ops
    ]
    for op in out:
        schema = op.options.get("schema")
        if isinstance(schema, str) and schema and "." not in op.table:
            op.table = f"{schema}.{op.table}"
        for text in op.options.get("column_constraints") or []:
            for pattern, key in _CONSTRAINT_OPTIONS:
                if isinstance(text, str) and pattern.search(text):
                    op.options[key] = True
    for i, op in enumerate(out):
        if op.options.get("implicit"):
            for earlier in reversed(out[:i]):
                same = earlier.table == op.table and earlier.column_name == op.column_name
                if same and earlier.kind is K.ALTER_COLUMN_TYPE:
                    earlier.options["mysql_modify"] = True
                    break
    return out


def _lock_timeout_first(ops: Sequence[Operation], ctx: Context) -> bool:
    """A non-zero ``SET lock_timeout`` comes before the first statement that takes a
    lock blocking writes (0 turns the timeout off)."""
    for op in ops:
        if op.kind is K.RAW and op.sql:
            match = _LOCK_TIMEOUT.match(op.sql)
            if match:
                return int(match.group(1)) > 0
            continue
        if op.kind not in (K.CREATE_TABLE,) and ctx.effect(op).blocks_writes:
            return False
    return False


def _case_folded(dialect: str, facts: dict[str, Any], name: str) -> str:
    """PostgreSQL folds unquoted names to lower case: ``USERS`` is ``users`` unless a
    table of that exact spelling exists."""
    found = facts.get(name)
    if dialect == "postgresql" and (found is None or not getattr(found, "exists", False)):
        lower = facts.get(name.lower())
        if lower is not None and getattr(lower, "exists", False):
            return name.lower()
    return name


async def _context(db: DataFlow, ops: Sequence[Operation], in_transaction: bool) -> Context:
    from ._facts import gather_facts

    named = {o.table for o in ops if o.table} | {o.references[0] for o in ops if o.references}
    if db.dialect.name == "postgresql":
        named |= {n.lower() for n in named}
    server, facts = await gather_facts(db, sorted(named))
    for op in ops:
        if op.table:
            op.table = _case_folded(server.dialect, facts, op.table)
    ops = _without_no_ops(ops, facts)
    nulls = await _count_nulls(db, ops, facts)
    ctx = Context(
        dialect=server.dialect,
        version=tuple(server.version),
        flavor=server.flavor,
        tables=dict(facts),
        operations=list(ops),
        in_transaction=in_transaction,
        nulls=nulls,
    )
    ctx.lock_timeout_set = _lock_timeout_first(ops, ctx)
    return ctx


def _without_no_ops(ops: Sequence[Operation], facts: dict[str, Any]) -> list[Operation]:
    """MySQL's MODIFY restates a column: the NULL and DEFAULT changes it implies are left
    out when the column already is that way."""
    out = []
    for op in ops:
        if op.options.get("implicit"):
            table = facts.get(op.table)
            column = getattr(table, "columns", {}).get(op.column_name) if table else None
            if column is not None:
                if op.kind is K.DROP_NOT_NULL and column.nullable:
                    continue
                if op.kind is K.DROP_DEFAULT and column.default is None:
                    continue
        out.append(op)
    return out


#: Columns of tables up to this many rows get their NULLs counted exactly; bigger tables
#: use the planner's statistics where the database keeps them (PostgreSQL null_frac).
COUNT_NULLS_BELOW = 5_000_000


async def _count_nulls(
    db: DataFlow, ops: Sequence[Operation], facts: dict[str, Any]
) -> dict[tuple[str, str], int]:
    """NULLs in the columns the migration makes NOT NULL: the fact that decides whether
    SET NOT NULL fails."""
    wanted = [
        (o.table, o.column_name)
        for o in ops
        if o.kind is K.SET_NOT_NULL and o.column_name and o.table
    ]
    out: dict[tuple[str, str], int] = {}
    d = db.dialect
    async with db._adapter.acquire() as conn:
        for table, column in wanted:
            assert column is not None
            found = facts.get(table)
            if found is None or not getattr(found, "exists", False):
                continue
            if column not in getattr(found, "columns", {}):
                continue
            if getattr(found, "rows", 0) > COUNT_NULLS_BELOW:
                continue
            parts = table.split(".")
            schema = getattr(d, "schema", None)
            if len(parts) == 1 and schema:
                parts = [schema, table]
            name = ".".join(d.quote(p) for p in parts)
            rows = await conn.fetch(f"SELECT count(*) FROM {name} WHERE {d.quote(column)} IS NULL")
            out[(table, column)] = int(rows[0][0])
    return out


@engine_bound
async def assess_async(
    migration: str | Operation | Sequence[Operation],
    dataflow: DataFlow,
    *,
    suppress: dict[str, str] | None = None,
    in_transaction: bool = True,
) -> MigrationReport:
    """Async version of :func:`assess`."""
    from ._ddl import parse_ddl
    from ._mitigation import MitigationStrategyEngine

    _check_suppressions(suppress)
    if isinstance(migration, str):
        ops = parse_ddl(migration, dataflow.dialect.name)
    elif isinstance(migration, Operation):
        ops = [migration]
    else:
        ops = list(migration)
    ops = normalize(ops)
    ctx = await _context(dataflow, ops, in_transaction)
    ops = list(ctx.operations)
    risks = []
    for i, op in enumerate(ops):
        ctx.index = i
        risks.append(score_operation(op, ctx))
    findings = check_rules(ops, ctx, suppress)
    version = ".".join(str(v) for v in ctx.version)
    report = MigrationReport(ctx.dialect, version, risks, findings)
    report.recommended_strategies = MitigationStrategyEngine.strategies_for(report)
    return report


def assess(
    migration: str | Operation | Sequence[Operation],
    dataflow: DataFlow,
    *,
    suppress: dict[str, str] | None = None,
    in_transaction: bool = True,
) -> MigrationReport:
    """Judge a migration against the live database it will run on. Reads only.

    Args:
        migration: DDL text (one or many statements), an Operation, or a list of them.
        dataflow: the database it will run on (read-only or existing-schema mode is fine).
        suppress: rule id -> the reason for accepting its findings (a reason is
            required: an empty one is refused).
        in_transaction: the migration will run as one transaction.

    Returns:
        A MigrationReport: ``overall_risk_level``, ``overall_score``, per-operation
        scores with their reasons, rule findings, ``recommended_strategies``.

    Raises:
        MigrationError: ``DF-MIGRATION-PARSE`` for text that is not SQL;
            ``DF-MIGRATION-SUPPRESSION`` for an unknown rule or a missing reason.

    Example::

        report = assess("ALTER TABLE users ADD COLUMN status text NOT NULL", db)
        report.overall_risk_level   # RiskLevel.CRITICAL when users has rows
    """
    return run_sync(
        assess_async(migration, dataflow, suppress=suppress, in_transaction=in_transaction)
    )


def _check_suppressions(suppress: dict[str, str] | None) -> None:
    from ..errors import MigrationError
    from ._rules import RULES

    for rule_id, reason in (suppress or {}).items():
        if rule_id not in RULES:
            from ..models._model import suggest

            close = suggest(rule_id, RULES)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise MigrationError(
                f"cannot suppress unknown rule {rule_id!r}{hint}",
                code="DF-MIGRATION-SUPPRESSION",
                details={"rule": rule_id, "suggestions": close},
            )
        if not isinstance(reason, str) or not reason.strip():
            raise MigrationError(
                f"suppressing {rule_id!r} needs a reason (why it is safe here)",
                code="DF-MIGRATION-SUPPRESSION",
                details={"rule": rule_id},
            )


class RiskAssessmentEngine:
    """Scores operations against the live database (the seed's entry point).

    Example::

        engine = RiskAssessmentEngine(db)
        risk = await engine.assess_operation_risk(
            operation_type="drop_column", table_name="users", column_name="email"
        )
        risk.overall_risk_level
    """

    def __init__(self, dataflow: DataFlow) -> None:
        self.dataflow = dataflow

    @engine_bound
    async def assess_operation_risk(
        self,
        operation_type: str | OperationKind,
        table_name: str,
        column_name: str | None = None,
        **details: Any,
    ) -> OperationRisk:
        """The risk of one operation, described by its kind and table (``details``
        are further Operation fields: ``data_type``, ``column``, ``new_name``, ...)."""
        op = Operation(
            OperationKind(operation_type), table_name, column_name=column_name, **details
        )
        ctx = await _context(self.dataflow, normalize([op]), True)
        return score_operation(ctx.operations[0], ctx)

    async def assess_migration(
        self, migration: str | Sequence[Operation], **options: Any
    ) -> MigrationReport:
        """The whole report for DDL text or operations (see :func:`assess`)."""
        return await assess_async(migration, self.dataflow, **options)
