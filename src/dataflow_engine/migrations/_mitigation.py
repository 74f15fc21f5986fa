"""Mitigation strategies: what to do instead, from what an assessment found."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._operations import OperationKind

if TYPE_CHECKING:
    from ._risk import MigrationReport, OperationRisk

__all__ = ["MitigationStrategyEngine"]

K = OperationKind

#: Strategy id -> what to do. The ids are stable (reports and tests use them).
STRATEGIES = {
    "set-lock-timeout": "SET lock_timeout (e.g. '2s') before the statement and retry on "
    "timeout, so waiting for the lock never queues the table's traffic.",
    "expand-contract": "Expand / contract: add the new column or table, write both, "
    "backfill in batches, switch reads, then remove the old one in a later release.",
    "batched-backfill": "Backfill in batches by primary key range, each in its own short "
    "transaction, outside the schema change.",
    "concurrent-index": "CREATE (or DROP) INDEX CONCURRENTLY, outside a transaction.",
    "not-valid-then-validate": "Add the constraint NOT VALID, then VALIDATE CONSTRAINT in "
    "a separate transaction (a weaker lock).",
    "not-null-via-check": "On PostgreSQL 12+: ADD CHECK (col IS NOT NULL) NOT VALID, "
    "VALIDATE it, SET NOT NULL (no scan), drop the check; or NotNullColumnHandler.",
    "backup-first": "Back up the data before dropping it (ColumnRemovalManager keeps a "
    "copy) and remove it from code first.",
    "rehearse-in-staging": "Rehearse on a staging copy with a sample of the data "
    "(StagingEnvironmentManager) and time it.",
    "maintenance-window": "Run it in a maintenance window, or with an online schema "
    "change tool: it rewrites a large table under a lock.",
    "fix-data-first": "Fix the data the statement would fail on first (NULLs, "
    "duplicates), then run it.",
    "recreate-dependents": "Drop and recreate the dependent views in the same migration.",
    "acquire-migration-lock": "Run it under MigrationLockManager so only one process "
    "migrates at a time.",
}

_BY_RULE = {
    "adding-required-field": ["not-null-via-check", "batched-backfill"],
    "set-not-null-with-nulls": ["fix-data-first", "not-null-via-check"],
    "unique-on-existing-data": ["fix-data-first", "concurrent-index"],
    "ban-drop-table": ["backup-first"],
    "ban-drop-column": ["backup-first", "expand-contract"],
    "ban-truncate": ["backup-first"],
    "delete-without-where": ["batched-backfill", "backup-first"],
    "backfill-with-ddl": ["batched-backfill"],
    "adding-field-with-default": ["expand-contract", "batched-backfill"],
    "changing-column-type": ["expand-contract"],
    "adding-not-nullable-field": ["not-null-via-check"],
    "require-concurrent-index-creation": ["concurrent-index"],
    "require-concurrent-index-deletion": ["concurrent-index"],
    "constraint-missing-not-valid": ["not-valid-then-validate"],
    "disallowed-unique-constraint": ["concurrent-index"],
    "renaming-column": ["expand-contract"],
    "renaming-table": ["expand-contract"],
    "require-timeout-settings": ["set-lock-timeout"],
    "dependent-views": ["recreate-dependents"],
    "large-table-rewrite": ["maintenance-window", "rehearse-in-staging"],
}


class MitigationStrategyEngine:
    """Turns an assessment into ordered strategies (ids from ``STRATEGIES``)."""

    @staticmethod
    def strategies_for(report: MigrationReport) -> list[str]:
        """Strategy ids for a report's findings, most relevant first, no duplicates."""
        chosen: list[str] = []
        for finding in report.findings:
            if finding.suppressed:
                continue
            for strategy in _BY_RULE.get(finding.rule, []):
                if strategy not in chosen:
                    chosen.append(strategy)
        if report.overall_score >= 50 and "rehearse-in-staging" not in chosen:
            chosen.append("rehearse-in-staging")
        if report.operations and "acquire-migration-lock" not in chosen:
            chosen.append("acquire-migration-lock")
        return chosen

    @staticmethod
    def describe(strategy: str) -> str:
        return STRATEGIES[strategy]

    @staticmethod
    def for_operation(risk: OperationRisk) -> list[str]:
        """Strategies for one scored operation (no rule findings needed)."""
        op = risk.operation
        out: list[str] = []
        if risk.rewrites:
            out += ["expand-contract", "maintenance-window"]
        if op.kind in (K.DROP_TABLE, K.DROP_COLUMN, K.TRUNCATE_TABLE):
            out.append("backup-first")
        if op.kind is K.SET_NOT_NULL:
            out.append("not-null-via-check")
        if op.kind is K.ADD_INDEX and not op.concurrently:
            out.append("concurrent-index")
        if op.kind in (K.ADD_FOREIGN_KEY, K.ADD_CHECK) and not op.not_valid:
            out.append("not-valid-then-validate")
        if risk.lock and risk.lock not in ("metadata", "database"):
            out.append("set-lock-timeout")
        return list(dict.fromkeys(out))
