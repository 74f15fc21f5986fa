"""Validation checkpoints: checks measured before and after a migration, and a rollback
when one fails, where the database can roll back.

:meth:`ValidationCheckpointManager.run_migration` takes the pre-state (a schema snapshot and
the value of every check), runs the migration, measures the checks again, and keeps the
migration only when every check holds:

- PostgreSQL and SQLite run everything (checks, migration, checks) in one transaction, and
  roll it back when a check fails or a statement fails: DDL included, nothing stays. The
  pre-state is then read again and compared (``CheckpointReport.restored``).
- MySQL / MariaDB commit each DDL statement as it runs (an *implicit commit*), so a
  migration with DDL cannot be rolled back. It runs statement by statement, and a failed
  check is reported as such: ``rolled_back`` is False, the report lists every statement that
  ran (and stays applied) and the schema changes that remain. A migration of DML only
  (``UPDATE``, ``INSERT``, ``DELETE``) runs in one transaction there too, and is rolled
  back for real. A callable migration runs in a transaction; if it sent a statement that
  commits implicitly, nothing is claimed to be rolled back.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import _loop
from ..adapters import Connection
from ..adapters._base import is_ddl
from ..errors import DataFlowError, ValidationError
from ._facts import split_name
from ._staging import (
    StatementOutcome,
    _Database,
    database_of,
    error_dict,
    refuse_ddl,
    run_one,
    split_statements,
)
from ._state import SchemaDiff, SchemaSnapshot, capture_on, diff_snapshots

if TYPE_CHECKING:
    from .._dataflow import DataFlow

__all__ = ["CheckResult", "Checkpoint", "CheckpointReport", "ValidationCheckpointManager"]

#: A migration given as code: called with the connection (inside the transaction).
MigrationCallable = Callable[[Connection], Awaitable[Any]]

_KINDS = ("row_count", "no_nulls", "unique", "foreign_keys_valid", "custom")
_WHEN = ("both", "after")


@dataclass(frozen=True)
class Checkpoint:
    """A named check, measured before and after a migration. Make one with the
    constructors: :meth:`row_count`, :meth:`no_nulls`, :meth:`unique`,
    :meth:`foreign_keys_valid`, :meth:`custom`.

    Attributes:
        name: the check's name in the report.
        kind: ``row_count``, ``no_nulls``, ``unique``, ``foreign_keys_valid`` or ``custom``.
        table: the table checked (``"schema.table"`` allowed).
        columns: the columns checked.
        delta: ``row_count``: the expected change (after - before); None accepts any.
        sql: ``custom``: a query whose first column of the first row is the value.
        expect: ``custom``: the expected value, or a predicate ``value -> bool``.
        when: ``"both"``: must hold before the migration too (else it is not run) and
            after; ``"after"``: only after (the migration is what makes it hold). A
            ``row_count`` compares the two and ignores ``when``.
    """

    name: str
    kind: str
    table: str | None = None
    columns: tuple[str, ...] = ()
    delta: int | None = 0
    sql: str | None = None
    expect: Any = None
    when: str = "both"

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValidationError(
                f"unknown checkpoint kind {self.kind!r}; use one of {', '.join(_KINDS)}",
                details={"kind": self.kind},
            )
        if self.when not in _WHEN:
            raise ValidationError(
                f"when must be 'both' or 'after', not {self.when!r}", details={"when": self.when}
            )
        if self.kind != "custom" and (not isinstance(self.table, str) or not self.table):
            raise ValidationError(
                f"a {self.kind} checkpoint needs a table name", details={"checkpoint": self.name}
            )

    @classmethod
    def row_count(cls, table: str, *, delta: int | None = 0, name: str | None = None) -> Checkpoint:
        """The table's row count changes by exactly ``delta`` (0: unchanged; None: any).

        Args:
            table: the table (``"schema.table"`` allowed).
            delta: the expected ``after - before``; None accepts any change.
            name: the name in the report (default ``row_count(<table>)``).

        Returns:
            The checkpoint.

        Raises:
            ValidationError: ``delta`` is not an integer or None; ``table`` is empty.

        Example::

            Checkpoint.row_count("orders")            # no row lost or added
            Checkpoint.row_count("audit", delta=1)   # exactly one row added
        """
        if delta is not None and (not isinstance(delta, int) or isinstance(delta, bool)):
            raise ValidationError(f"delta must be an integer or None, got {delta!r}")
        return cls(name or f"row_count({table})", "row_count", table, delta=delta)

    @classmethod
    def no_nulls(
        cls, table: str, column: str, *, when: str = "both", name: str | None = None
    ) -> Checkpoint:
        """No row has NULL in ``column``.

        Args:
            table, column: what to check.
            when: ``"both"`` (must hold before too) or ``"after"``.
            name: the name in the report (default ``no_nulls(<table>.<column>)``).

        Returns:
            The checkpoint.

        Raises:
            ValidationError: an empty table name or an unknown ``when``.

        Example::

            Checkpoint.no_nulls("users", "email")
        """
        return cls(name or f"no_nulls({table}.{column})", "no_nulls", table, (column,), when=when)

    @classmethod
    def unique(
        cls,
        table: str,
        columns: str | Sequence[str],
        *,
        when: str = "both",
        name: str | None = None,
    ) -> Checkpoint:
        """No two rows share a value of ``columns`` (rows with a NULL among them aside, as a
        unique constraint sees it).

        Args:
            table: the table.
            columns: one column name, or several (their combination must be unique).
            when, name: as for :meth:`no_nulls`.

        Returns:
            The checkpoint; its value is the number of values held by several rows.

        Raises:
            ValidationError: no column, an empty table name or an unknown ``when``.

        Example::

            Checkpoint.unique("users", "email")
            Checkpoint.unique("memberships", ["team_id", "user_id"])
        """
        cols = (columns,) if isinstance(columns, str) else tuple(columns)
        if not cols:
            raise ValidationError("a unique checkpoint needs at least one column")
        label = name or f"unique({table}: {', '.join(cols)})"
        return cls(label, "unique", table, cols, when=when)

    @classmethod
    def foreign_keys_valid(
        cls, table: str, *, when: str = "both", name: str | None = None
    ) -> Checkpoint:
        """Every foreign key of ``table`` (as the catalog says at the time of the check)
        points at an existing row: no orphans, also for keys the database does not
        enforce (SQLite with foreign keys off, ``NOT VALID``, MySQL with checks off).

        Args:
            table: the referencing table.
            when, name: as for :meth:`no_nulls`.

        Returns:
            The checkpoint; its value is ``{foreign key: rows pointing at no row}``.

        Raises:
            ValidationError: an empty table name or an unknown ``when``.

        Example::

            Checkpoint.foreign_keys_valid("order_lines")
        """
        return cls(name or f"foreign_keys_valid({table})", "foreign_keys_valid", table, when=when)

    @classmethod
    def custom(
        cls, sql: str, expect: Any, *, name: str = "custom", when: str = "both"
    ) -> Checkpoint:
        """A query of your own: the first column of its first row (None when it returns no
        row) must equal ``expect``, or satisfy it when ``expect`` is a callable.

        Args:
            sql: a query (unqualified names resolve as in the migration).
            expect: the value, or a predicate ``value -> bool``.
            name: the name in the report.
            when: ``"both"`` or ``"after"``.

        Returns:
            The checkpoint.

        Raises:
            ValidationError: an empty query or an unknown ``when``.

        Example::

            Checkpoint.custom("SELECT count(*) FROM orders WHERE total < 0", 0,
                              name="no negative totals")
            Checkpoint.custom("SELECT max(version) FROM schema_info", lambda v: v >= 42)
        """
        if not isinstance(sql, str) or not sql.strip():
            raise ValidationError("a custom checkpoint needs a query", details={"name": name})
        return cls(name, "custom", sql=sql, expect=expect, when=when)


@dataclass
class CheckResult:
    """One checkpoint's outcome.

    Attributes:
        name, kind: the checkpoint's.
        passed: it held (before, where it must, and after); None when it was not judged
            (the migration did not get that far).
        before, after: the measured values (rows, NULLs, duplicated values, orphans, or the
            custom query's value); None when not measured.
        message: the values in words.
        error: the error of a measurement that failed (a table the migration dropped...).
    """

    name: str
    kind: str
    passed: bool | None = None
    before: Any = None
    after: Any = None
    message: str = ""
    error: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "passed": self.passed,
            "before": _plain(self.before),
            "after": _plain(self.after),
            "message": self.message,
            "error": self.error,
        }


@dataclass
class CheckpointReport:
    """What :meth:`ValidationCheckpointManager.run_migration` did.

    Attributes:
        dialect: the database's dialect.
        status: ``"committed"`` (it ran, every check held, it stays), ``"rolled_back"``
            (a check or a statement failed and a rollback undid everything),
            ``"not_run"`` (a check failed before; nothing ran) or ``"not_rolled_back"`` (a
            check or a statement failed and what ran stays applied: MySQL's DDL).
        transactional: it ran as one transaction that a rollback undoes.
        rolled_back: a rollback undid it.
        restored: after a rollback, the schema and every check's value were read again and
            equal the pre-state (None when nothing was rolled back).
        checks: one :class:`CheckResult` per checkpoint.
        statements: every statement of the migration, with its outcome (for a callable,
            those it sent).
        diff: the schema changes it made: those that stay (committed, not rolled back), or
            those it would have made (rolled back after its statements ran).
        error: the failing statement's (or callable's) error.
        message: what happened, in words; says plainly what stays applied.
        seconds: the whole run.
    """

    dialect: str
    status: str
    transactional: bool
    rolled_back: bool
    checks: list[CheckResult]
    statements: list[StatementOutcome]
    message: str
    restored: bool | None = None
    diff: SchemaDiff | None = None
    error: dict[str, Any] | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """The migration ran and every check held."""
        return self.status == "committed"

    @property
    def failed_checks(self) -> list[CheckResult]:
        return [c for c in self.checks if c.passed is False]

    @property
    def applied(self) -> list[StatementOutcome]:
        """The statements that ran and stay applied."""
        if self.status in ("committed", "not_rolled_back"):
            return [s for s in self.statements if s.ok]
        return []

    def to_dict(self) -> dict[str, Any]:
        return {
            "dialect": self.dialect,
            "status": self.status,
            "ok": self.ok,
            "transactional": self.transactional,
            "rolled_back": self.rolled_back,
            "restored": self.restored,
            "message": self.message,
            "checks": [c.to_dict() for c in self.checks],
            "statements": [s.to_dict() for s in self.statements],
            "diff": None if self.diff is None else self.diff.to_dict(),
            "error": self.error,
            "seconds": self.seconds,
        }


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


# -- measuring ------------------------------------------------------------------------------


class _Measure:
    """Measures checkpoints on one connection (inside the migration's transaction, where
    there is one; on PostgreSQL each measurement in a savepoint, so that a failing one
    spoils nothing)."""

    def __init__(self, dataflow: DataFlow, database: _Database) -> None:
        self.dataflow = dataflow
        self.database = database
        self.dialect = dataflow.dialect

    def table(self, name: str) -> str:
        schema, table = split_name(name)
        quoted = self.dialect.quote(table)
        return quoted if schema is None else f"{self.dialect.quote(schema)}.{quoted}"

    async def value(self, conn: Connection, check: Checkpoint) -> Any:
        q = self.dialect.quote
        if check.kind == "custom":
            rows = await conn.fetch(self.database.raw(str(check.sql)))
            return rows[0][0] if rows else None
        table = self.table(str(check.table))
        if check.kind == "foreign_keys_valid":
            return await self.orphans(conn, str(check.table))
        if check.kind == "row_count":
            sql = f"SELECT COUNT(*) FROM {table}"
        elif check.kind == "no_nulls":
            sql = f"SELECT COUNT(*) FROM {table} WHERE {q(check.columns[0])} IS NULL"
        else:  # unique: the values held by more than one row
            cols = ", ".join(q(c) for c in check.columns)
            present = " AND ".join(f"{q(c)} IS NOT NULL" for c in check.columns)
            sql = (
                f"SELECT COUNT(*) FROM (SELECT 1 AS one FROM {table} WHERE {present} "
                f"GROUP BY {cols} HAVING COUNT(*) > 1) AS duplicated"
            )
        rows = await conn.fetch(sql)
        return int(rows[0][0])

    async def orphans(self, conn: Connection, name: str) -> dict[str, int]:
        """Foreign key label -> rows of ``name`` whose key points at no row."""
        q = self.dialect.quote
        schema, table = split_name(name)
        adapter = self.dataflow._adapter
        infos = await adapter.discover(conn, schema or self.dialect.schema, [table])
        if not infos:
            from ..errors import SchemaError

            raise SchemaError(
                f"no table {name!r} to check foreign keys of",
                code="DF-SCHEMA-TABLE-MISSING",
                details={"table": name},
            )
        found: dict[str, int] = {}
        for fk in infos[0].foreign_keys:
            parent = (
                q(fk.ref_table)
                if fk.ref_schema is None
                else (f"{q(fk.ref_schema)}.{q(fk.ref_table)}")
            )
            refs = fk.ref_columns or await self._primary_key(conn, fk.ref_schema, fk.ref_table)
            present = " AND ".join(f"c.{q(c)} IS NOT NULL" for c in fk.columns)
            match = " AND ".join(
                f"p.{q(r)} = c.{q(col)}" for col, r in zip(fk.columns, refs, strict=False)
            )
            rows = await conn.fetch(
                f"SELECT COUNT(*) FROM {self.table(name)} c WHERE {present} "
                f"AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {match})"
            )
            label = fk.name or f"({', '.join(fk.columns)}) -> {fk.ref_table}"
            found[label] = int(rows[0][0])
        return found

    async def _primary_key(
        self, conn: Connection, schema: str | None, table: str
    ) -> tuple[str, ...]:
        infos = await self.dataflow._adapter.discover(conn, schema, [table])
        return infos[0].primary_key if infos else ()

    async def measure(
        self, conn: Connection, check: Checkpoint
    ) -> tuple[Any, dict[str, Any] | None]:
        """(value, None), or (None, the error) when the measurement failed."""
        try:
            if conn.in_transaction and self.database.failure_aborts_transaction:
                async with conn.transaction():  # a savepoint
                    return await self.value(conn, check), None
            return await self.value(conn, check), None
        except DataFlowError as exc:
            return None, error_dict(exc)


def _holds(check: Checkpoint, value: Any, before: Any) -> bool:
    """Whether a measured value satisfies the check (``before``: the pre-state value for a
    row count)."""
    if check.kind == "row_count":
        if before is None or value is None:
            return before is None and value is None and check.delta is None
        return check.delta is None or bool(value - before == check.delta)
    if check.kind == "custom":
        if callable(check.expect):
            return bool(check.expect(value))
        return bool(value == check.expect)
    if check.kind == "foreign_keys_valid":
        return value is not None and bool(sum(value.values()) == 0)
    return bool(value == 0)


def _describe(check: Checkpoint, before: Any, after: Any, *, once: bool = False) -> str:
    """The values in words (``once``: a single measurement, no migration)."""

    def shown(value: Any) -> str:
        if isinstance(value, dict):
            total = sum(value.values())
            detail = ", ".join(f"{k}: {v}" for k, v in value.items() if v)
            return f"{total}" + (f" ({detail})" if detail else "")
        return "not measured" if value is None else repr(value)

    what = {
        "row_count": f"{check.table}: rows",
        "no_nulls": f"{check.table}.{check.columns[0] if check.columns else ''}: NULLs",
        "unique": f"{check.table} ({', '.join(check.columns)}): values held by several rows",
        "foreign_keys_valid": f"{check.table}: rows whose foreign key points at no row",
        "custom": f"{check.name}: value",
    }[check.kind]
    if once:
        return f"{what} {shown(after)}"
    text = f"{what} {shown(before)} before, {shown(after)} after"
    if check.kind == "row_count":
        if check.delta is None:
            text += "; any change accepted"
        else:
            text += "; expected no change" if check.delta == 0 else f"; expected {check.delta:+d}"
    elif check.kind == "custom":
        text += (
            "; expected a value the predicate accepts"
            if callable(check.expect)
            else (f"; expected {check.expect!r}")
        )
    return text


_LABELS = {"postgresql": "PostgreSQL", "mysql": "MySQL/MariaDB", "sqlite": "SQLite"}


# -- the manager ------------------------------------------------------------------------------


class _Stop(Exception):
    """Ends the migration's transaction with a rollback."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Recorder(Connection):
    """The connection a callable migration gets: every statement it sends is recorded."""

    def __init__(self, conn: Connection) -> None:
        self.dialect = conn.dialect
        self._conn = conn
        self.outcomes: list[StatementOutcome] = []

    async def _timed(self, sql: str, call: Callable[[], Awaitable[Any]]) -> Any:
        outcome = StatementOutcome(sql)
        self.outcomes.append(outcome)
        started = time.perf_counter()
        try:
            result = await call()
        except DataFlowError as exc:
            outcome.status, outcome.error = "failed", error_dict(exc)
            raise
        finally:
            outcome.seconds = time.perf_counter() - started
        outcome.status = "ok"
        if isinstance(result, int) and result >= 0:
            outcome.rows = result
        return result

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        rows: list[Sequence[Any]] = await self._timed(sql, lambda: self._conn.fetch(sql, params))
        return rows

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(await self._timed(sql, lambda: self._conn.execute(sql, params)))

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return await self._timed(sql, lambda: self._conn.insert(sql, params))

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        return int(await self._timed(sql, lambda: self._conn.executemany(sql, rows)))

    def transaction(self) -> AbstractAsyncContextManager[None]:
        return self._conn.transaction()

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction


@dataclass
class _Run:
    """What one run found, as it goes."""

    checks: list[CheckResult]
    statements: list[StatementOutcome] = field(default_factory=list)
    before: SchemaSnapshot | None = None
    after: SchemaSnapshot | None = None
    pre: list[Any] = field(default_factory=list)
    error: dict[str, Any] | None = None


class ValidationCheckpointManager:
    """Runs a migration between checks, and undoes it when a check fails (where the
    database can: see the module documentation for MySQL).

    Running a migration writes: refused under ``read_only`` (``MigrationError``
    ``DF-MIGRATION-READ-ONLY``), and under ``existing_schema_mode`` when the migration
    text holds DDL (``DF-MIGRATION-DDL-REFUSED``).

    Args:
        dataflow: the database to migrate.

    Example::

        checks = ValidationCheckpointManager(db)
        report = await checks.run_migration(
            "ALTER TABLE users ADD COLUMN status text; UPDATE users SET status = 'active'",
            [Checkpoint.row_count("users"), Checkpoint.no_nulls("users", "status", when="after")],
        )
        report.status          # 'committed' or 'rolled_back'
        report.failed_checks   # the checks that did not hold
    """

    def __init__(self, dataflow: DataFlow) -> None:
        self.dataflow = dataflow
        self._database = database_of(dataflow)
        self._measure = _Measure(dataflow, self._database)

    async def evaluate(self, checkpoints: Sequence[Checkpoint]) -> list[CheckResult]:
        """Measure checkpoints now, without a migration (reads only).

        Args:
            checkpoints: the checks (``when`` is ignored; a row count always holds).

        Returns:
            One :class:`CheckResult` per checkpoint, its value in ``after``.

        Raises:
            ValidationError: ``checkpoints`` holds something that is not a Checkpoint.

        Example::

            [r.passed for r in await checks.evaluate([Checkpoint.no_nulls("users", "email")])]
        """
        checks = _checked(checkpoints)
        self.dataflow._check_open()
        return await _loop.run_async(self._evaluate(checks))

    async def _evaluate(self, checks: list[Checkpoint]) -> list[CheckResult]:
        results = []
        database, schema = self._database, self.dataflow.dialect.schema
        async with self.dataflow._adapter.acquire() as conn, database.scoped(conn, schema):
            for check in checks:
                value, error = await self._measure.measure(conn, check)
                passed = error is None and (
                    check.kind == "row_count" or _holds(check, value, value)
                )
                results.append(
                    CheckResult(
                        check.name,
                        check.kind,
                        passed,
                        after=value,
                        message=_describe(check, None, value, once=True),
                        error=error,
                    )
                )
        return results

    async def run_migration(
        self,
        migration: str | MigrationCallable,
        checkpoints: Sequence[Checkpoint] = (),
    ) -> CheckpointReport:
        """Measure the checks, run the migration, measure again; keep it only if they hold.

        Args:
            migration: SQL text (one or more statements), or an async callable taking the
                connection (``async def migrate(conn): await conn.execute(...)``); the
                callable's statements are the connection's own (MySQL: ``%`` doubled).
                Unqualified names resolve in the URL's schema (PostgreSQL) or database.
            checkpoints: the checks.

        Returns:
            The :class:`CheckpointReport`: ``status``, the checks' values before and after,
            every statement's outcome, the schema changes, and a message that says what
            stays applied.

        Raises:
            MigrationError: ``DF-MIGRATION-READ-ONLY``, ``DF-MIGRATION-DDL-REFUSED``,
                ``DF-MIGRATION-PARSE``.
            ValidationError: ``migration`` or ``checkpoints`` of the wrong type.
            Exception: anything a callable migration raises that is not a database error
                propagates after the rollback.

        Example::

            report = await checks.run_migration(
                "UPDATE users SET email = NULL WHERE id = 1",
                [Checkpoint.no_nulls("users", "email")],
            )
            report.status, report.restored   # ('rolled_back', True) on PostgreSQL
        """
        checks = _checked(checkpoints)
        self.dataflow._check_open()
        statements: list[str] | None = None
        if isinstance(migration, str):
            statements = split_statements(migration, self.dataflow.dialect.name)
            if any(is_ddl(s) for s in statements) or self.dataflow.settings.read_only:
                refuse_ddl(self.dataflow, "this migration")
        elif callable(migration):
            if self.dataflow.settings.read_only:
                refuse_ddl(self.dataflow, "a migration")
        else:
            raise ValidationError(
                "migration must be SQL text or an async callable taking the connection, "
                f"not {type(migration).__name__}",
                details={"param": "migration"},
            )
        return await _loop.run_async(self._run(migration, statements, checks))

    async def _run(
        self,
        migration: str | MigrationCallable,
        statements: list[str] | None,
        checks: list[Checkpoint],
    ) -> CheckpointReport:
        database = self._database
        started = time.perf_counter()
        run = _Run([CheckResult(c.name, c.kind) for c in checks])
        run.statements = [StatementOutcome(s) for s in statements or ()]
        async with self.dataflow._adapter.acquire() as conn:
            if statements is not None and any(database.commits(s) for s in statements):
                report = await self._without_transaction(conn, statements, checks, run)
            else:
                call = None if isinstance(migration, str) else migration
                report = await self._in_transaction(conn, statements, call, checks, run)
        report.seconds = time.perf_counter() - started
        return report

    def _report(
        self, run: _Run, status: str, message: str, *, transactional: bool, **extra: Any
    ) -> CheckpointReport:
        return CheckpointReport(
            dialect=self.dataflow.dialect.name,
            status=status,
            transactional=transactional,
            rolled_back=status == "rolled_back",
            checks=run.checks,
            statements=run.statements,
            message=message,
            **extra,
        )

    async def _pre(self, conn: Connection, checks: list[Checkpoint], run: _Run) -> bool:
        """Take the pre-state; False when a check that must hold before does not."""
        run.before = await capture_on(self.dataflow, conn)
        blocked = False
        for check, result in zip(checks, run.checks, strict=True):
            value, error = await self._measure.measure(conn, check)
            run.pre.append(value)
            result.before, result.message = value, _describe(check, value, None)
            if check.when == "after":
                continue
            holds = check.kind == "row_count" or _holds(check, value, value)
            if error is not None or not holds:
                result.error, result.passed, blocked = error, False, True
        return not blocked

    async def _post(self, conn: Connection, checks: list[Checkpoint], run: _Run) -> bool:
        """Measure after the migration; False when a check fails."""
        ok = True
        for check, result, before in zip(checks, run.checks, run.pre, strict=True):
            value, error = await self._measure.measure(conn, check)
            result.after, result.error = value, error
            result.passed = error is None and _holds(check, value, before)
            result.message = _describe(check, before, value)
            ok = ok and result.passed
        run.after = await capture_on(self.dataflow, conn)
        return ok

    async def _apply(
        self,
        conn: Connection,
        statements: list[str] | None,
        call: MigrationCallable | None,
        run: _Run,
    ) -> bool:
        """Run the migration; False when a statement failed (its error captured)."""
        if statements is not None:
            for outcome in run.statements:
                if not await run_one(conn, outcome, self._database.raw(outcome.sql)):
                    run.error = outcome.error
                    return False
            return True
        assert call is not None
        recorder = _Recorder(conn)
        run.statements = recorder.outcomes
        try:
            await call(recorder)
        except DataFlowError as exc:
            run.error = error_dict(exc)
            return False
        return True

    async def _in_transaction(
        self,
        conn: Connection,
        statements: list[str] | None,
        call: MigrationCallable | None,
        checks: list[Checkpoint],
        run: _Run,
    ) -> CheckpointReport:
        database = self._database
        reason = ""
        try:
            async with conn.transaction():
                await database.resolve_in(conn, self.dataflow.dialect.schema, local=True)
                if not await self._pre(conn, checks, run):
                    raise _Stop("not_run")
                if not await self._apply(conn, statements, call, run):
                    raise _Stop("statement")
                if not await self._post(conn, checks, run):
                    raise _Stop("check")
        except _Stop as stop:
            reason = stop.reason
        diff = _diff(run)
        # MySQL: a statement of a callable ended the transaction by itself; nothing of what
        # ran before or after it was undone by the rollback.
        committing = [
            s for s in run.statements if s.status != "not_run" and database.commits(s.sql)
        ]
        if committing:
            return self._not_rolled_back(run, reason, committing, diff)
        if not reason:
            return self._report(
                run, "committed", _committed_message(run), transactional=True, diff=diff
            )
        if reason == "not_run":
            return self._report(run, "not_run", _not_run_message(run), transactional=True)
        restored = await self._restored(conn, checks, run)
        return self._report(
            run,
            "rolled_back",
            _rolled_back_message(run, reason, restored),
            transactional=True,
            restored=restored,
            diff=diff,
            error=run.error,
        )

    async def _restored(self, conn: Connection, checks: list[Checkpoint], run: _Run) -> bool:
        """Read the pre-state again after a rollback: the same schema and check values."""
        async with self._database.scoped(conn, self.dataflow.dialect.schema):
            now = await capture_on(self.dataflow, conn)
            values = [(await self._measure.measure(conn, c))[0] for c in checks]
        return now == run.before and values == run.pre

    async def _without_transaction(
        self, conn: Connection, statements: list[str], checks: list[Checkpoint], run: _Run
    ) -> CheckpointReport:
        """MySQL DDL: statement by statement, each committed as it runs."""
        if not await self._pre(conn, checks, run):
            return self._report(run, "not_run", _not_run_message(run), transactional=False)
        reason = "" if await self._apply(conn, statements, None, run) else "statement"
        if not await self._post(conn, checks, run):
            reason = reason or "check"
        committing = [
            s for s in run.statements if s.status != "not_run" and self._database.commits(s.sql)
        ]
        return self._not_rolled_back(run, reason, committing, _diff(run))

    def _not_rolled_back(
        self,
        run: _Run,
        reason: str,
        committing: list[StatementOutcome],
        diff: SchemaDiff | None,
    ) -> CheckpointReport:
        if not reason:
            return self._report(
                run, "committed", _committed_message(run), transactional=False, diff=diff
            )
        dialect = _LABELS.get(self.dataflow.dialect.name, self.dataflow.dialect.name)
        ran = [s for s in run.statements if s.status != "not_run"]
        lines = [f"  {i}. {s.sql}" + ("" if s.ok else " (failed)") for i, s in enumerate(ran, 1)]
        first = _quoted(committing[0].sql) if committing else "its DDL"
        message = (
            f"{_failure(run, reason)}, and the migration could NOT be rolled back: {dialect} "
            f"commits {first} and every other DDL statement as it runs (an implicit commit), "
            "so nothing was undone. These statements ran and stay applied:\n" + "\n".join(lines)
        )
        not_run = [s.sql for s in run.statements if s.status == "not_run"]
        if not_run:
            message += "\nThese did not run: " + "; ".join(not_run)
        if diff:
            message += "\nSchema changes that remain: " + "; ".join(diff.summary())
        return self._report(
            run, "not_rolled_back", message, transactional=False, diff=diff, error=run.error
        )


def _diff(run: _Run) -> SchemaDiff | None:
    if run.before is None or run.after is None:
        return None
    return diff_snapshots(run.before, run.after)


def _checked(checkpoints: Sequence[Checkpoint]) -> list[Checkpoint]:
    if isinstance(checkpoints, Checkpoint):
        return [checkpoints]
    checks = list(checkpoints)
    for check in checks:
        if not isinstance(check, Checkpoint):
            raise ValidationError(
                f"checkpoints must be Checkpoint objects (Checkpoint.row_count(...), ...), "
                f"not {type(check).__name__}",
                details={"param": "checkpoints"},
            )
    return checks


def _quoted(sql: str) -> str:
    text = " ".join(sql.split())
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _failure(run: _Run, reason: str) -> str:
    if reason == "statement":
        failed = next((s for s in run.statements if s.status == "failed"), None)
        where = f"the statement {_quoted(failed.sql)}" if failed else "the migration"
        message = (run.error or {}).get("message", "")
        return f"{where} failed ({message})"
    names = ", ".join(c.name for c in run.checks if c.passed is False)
    return f"the check(s) {names} failed after the migration"


def _committed_message(run: _Run) -> str:
    n = len([s for s in run.statements if s.ok])
    return f"the migration ran ({n} statement(s)) and every check held; it stays applied"


def _not_run_message(run: _Run) -> str:
    names = ", ".join(c.name for c in run.checks if c.passed is False)
    return f"the check(s) {names} did not hold before the migration; nothing was run"


def _rolled_back_message(run: _Run, reason: str, restored: bool) -> str:
    text = f"{_failure(run, reason)}: rolled back, nothing of the migration stays"
    if restored:
        return text + " (the schema and every check's value were read again: as before)"
    return (
        text + "; but reading the pre-state again found differences (another session "
        "changed the data or schema meanwhile?)"
    )
