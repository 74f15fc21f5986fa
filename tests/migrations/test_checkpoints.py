"""ValidationCheckpointManager on real databases: a migration that keeps its checks green is
committed; one that breaks a check is rolled back on PostgreSQL and SQLite (data and schema
equal to before) and reported honestly on MySQL, where DDL cannot be rolled back."""

from __future__ import annotations

from typing import Any

import pytest

from dataflow_engine import DataFlow, MigrationError, ValidationError, _loop
from dataflow_engine.adapters import Connection
from dataflow_engine.migrations import (
    Checkpoint,
    CheckpointReport,
    SchemaStateManager,
    ValidationCheckpointManager,
)

from .sql import fetch_async as fetch
from .sql import table

BACKENDS = ["sqlite-file", "postgresql", "mysql"]
on_every_backend = pytest.mark.parametrize("backend", BACKENDS)

CUSTOMERS = 200


# -- helpers -----------------------------------------------------------------------------------


async def run_sql(
    db: DataFlow, *statements: str, rows: list[tuple[Any, ...]] | None = None
) -> None:
    """Raw SQL through the DataFlow's connection; on PostgreSQL in the URL's schema."""

    async def work() -> None:
        async with db._adapter.acquire() as conn:
            schema = db.dialect.schema
            async with conn.transaction():
                if db.dialect.name == "postgresql" and schema:
                    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                    await conn.execute(f'SET LOCAL search_path TO "{schema}"')
                for statement in statements:
                    await conn.execute(statement)
                if rows:
                    marks = ", ".join(db.dialect.placeholder(i + 1) for i in range(3))
                    await conn.executemany(
                        f"INSERT INTO customers (id, name, email) VALUES ({marks})", rows
                    )

    await _loop.run_async(work())


async def build(db: DataFlow) -> None:
    key = {
        "postgresql": "id serial PRIMARY KEY",
        "mysql": "id int AUTO_INCREMENT PRIMARY KEY",
        "sqlite": "id INTEGER PRIMARY KEY",
    }[db.dialect.name]
    await run_sql(
        db,
        f"CREATE TABLE customers ({key}, name varchar(60) NOT NULL, email varchar(80) UNIQUE)",
        f"CREATE TABLE orders ({key}, customer_id int REFERENCES customers(id), qty int)",
        rows=[(i, f"customer {i}", f"c{i}@example.com") for i in range(1, CUSTOMERS + 1)],
    )


async def data(db: DataFlow) -> list[tuple[Any, ...]]:
    return await fetch(db, f"SELECT id, name, email FROM {table(db, 'customers')} ORDER BY id")


def guards() -> list[Checkpoint]:
    return [
        Checkpoint.row_count("customers"),
        Checkpoint.no_nulls("customers", "email"),
        Checkpoint.unique("customers", "email"),
        Checkpoint.foreign_keys_valid("orders"),
        Checkpoint.custom("SELECT COUNT(*) FROM customers", CUSTOMERS, name="all customers"),
    ]


# -- against the databases ---------------------------------------------------------------------


@on_every_backend
@pytest.mark.asyncio
async def test_a_migration_that_keeps_the_checks_green_is_committed(db: DataFlow) -> None:
    await build(db)
    report = await ValidationCheckpointManager(db).run_migration(
        "ALTER TABLE customers ADD COLUMN tier int; UPDATE customers SET tier = 2 WHERE id <= 10",
        [
            *guards(),
            Checkpoint.custom(
                "SELECT COUNT(*) FROM customers WHERE tier = 2", 10, name="tiered", when="after"
            ),
        ],
    )
    assert isinstance(report, CheckpointReport)
    assert report.status == "committed" and report.ok, report.message
    assert not report.rolled_back and report.restored is None
    assert [s.status for s in report.statements] == ["ok", "ok"]
    assert report.statements[1].rows == 10
    assert [c.passed for c in report.checks] == [True] * 6
    assert report.checks[0].before == report.checks[0].after == CUSTOMERS
    assert report.checks[-1].after == 10
    assert report.diff is not None and report.diff.columns_added == [("customers", "tier")]
    assert report.transactional == (db.dialect.name != "mysql")
    rows = await fetch(db, f"SELECT COUNT(*) FROM {table(db, 'customers')} WHERE tier = 2")
    assert rows[0][0] == 10
    assert report.to_dict()["status"] == "committed"


@on_every_backend
@pytest.mark.asyncio
async def test_a_broken_check_is_rolled_back_or_reported_honestly(db: DataFlow) -> None:
    await build(db)
    states = SchemaStateManager(db)
    schema_before, data_before = await states.capture_snapshot(), await data(db)
    migration = (
        "ALTER TABLE customers ADD COLUMN tier int; UPDATE customers SET email = NULL WHERE id <= 3"
    )
    report = await ValidationCheckpointManager(db).run_migration(migration, guards())

    (failed,) = report.failed_checks
    assert failed.name == "no_nulls(customers.email)"
    assert (failed.before, failed.after) == (0, 3)
    assert [s.status for s in report.statements] == ["ok", "ok"]
    if db.dialect.name == "mysql":
        # DDL commits as it runs: nothing is claimed to be undone, and what stays is listed.
        assert report.status == "not_rolled_back" and not report.rolled_back
        assert not report.transactional and report.restored is None
        assert "could NOT be rolled back" in report.message
        assert "ALTER TABLE customers ADD COLUMN tier int" in report.message
        assert "UPDATE customers SET email = NULL WHERE id <= 3" in report.message
        assert [s.sql for s in report.applied] == [s.sql for s in report.statements]
        assert report.diff is not None and report.diff.columns_added == [("customers", "tier")]
        assert (await states.capture_snapshot()).tables["customers"].column("tier") is not None
        nulls = await fetch(
            db, f"SELECT COUNT(*) FROM {table(db, 'customers')} WHERE email IS NULL"
        )
        assert nulls[0][0] == 3
    else:
        assert report.status == "rolled_back" and report.rolled_back
        assert report.transactional and report.restored is True
        assert report.applied == []
        assert "rolled back" in report.message
        # What it would have changed is still reported.
        assert report.diff is not None and report.diff.columns_added == [("customers", "tier")]
        assert await states.capture_snapshot() == schema_before
        assert await data(db) == data_before


@on_every_backend
@pytest.mark.asyncio
async def test_a_data_only_migration_is_rolled_back_everywhere(db: DataFlow) -> None:
    await build(db)
    data_before = await data(db)
    report = await ValidationCheckpointManager(db).run_migration(
        "UPDATE customers SET name = 'x' WHERE id <= 5; DELETE FROM customers WHERE id = 7",
        guards(),
    )
    assert report.status == "rolled_back" and report.rolled_back and report.transactional
    assert report.restored is True
    assert {c.name for c in report.failed_checks} == {"row_count(customers)", "all customers"}
    assert report.checks[0].after == CUSTOMERS - 1
    assert await data(db) == data_before


@on_every_backend
@pytest.mark.asyncio
async def test_a_failing_statement_or_precheck(db: DataFlow) -> None:
    await build(db)
    checks = ValidationCheckpointManager(db)
    states = SchemaStateManager(db)
    schema_before = await states.capture_snapshot()

    report = await checks.run_migration(
        "ALTER TABLE customers ADD COLUMN tier int; ALTER TABLE no_such_table ADD COLUMN x int",
        [Checkpoint.row_count("customers")],
    )
    assert [s.status for s in report.statements] == ["ok", "failed"]
    assert report.error is not None and report.error["code"].startswith("DF-")
    assert "failed" in report.message
    if db.dialect.name == "mysql":
        assert report.status == "not_rolled_back"
        assert "ALTER TABLE customers ADD COLUMN tier int" in report.message
        await run_sql(db, "ALTER TABLE customers DROP COLUMN tier")  # undo by hand
    else:
        assert report.status == "rolled_back" and report.restored is True
        assert await states.capture_snapshot() == schema_before

    # A check that must already hold does not: nothing runs.
    await run_sql(db, "UPDATE customers SET email = NULL WHERE id = 1")
    blocked = await checks.run_migration(
        "ALTER TABLE customers ADD COLUMN flag int", [Checkpoint.no_nulls("customers", "email")]
    )
    assert blocked.status == "not_run" and not blocked.rolled_back
    assert [s.status for s in blocked.statements] == ["not_run"]
    assert blocked.checks[0].passed is False and blocked.checks[0].before == 1
    assert await states.capture_snapshot() == schema_before


@on_every_backend
@pytest.mark.asyncio
async def test_a_callable_migration_is_recorded_and_rolled_back(db: DataFlow) -> None:
    await build(db)
    data_before = await data(db)

    async def migrate(conn: Connection) -> None:
        await conn.execute("UPDATE customers SET name = 'renamed' WHERE id = 1")
        await conn.execute("DELETE FROM customers WHERE id = 2")

    report = await ValidationCheckpointManager(db).run_migration(migrate, guards())
    assert report.status == "rolled_back" and report.restored is True
    assert [(s.sql, s.status, s.rows) for s in report.statements] == [
        ("UPDATE customers SET name = 'renamed' WHERE id = 1", "ok", 1),
        ("DELETE FROM customers WHERE id = 2", "ok", 1),
    ]
    assert await data(db) == data_before

    async def grow(conn: Connection) -> None:
        await conn.execute(
            f"INSERT INTO customers (id, name, email) VALUES ({CUSTOMERS + 1}, 'new', 'new@x.io')"
        )

    async def with_ddl(conn: Connection) -> None:
        await conn.execute("ALTER TABLE customers ADD COLUMN tier int")
        await conn.execute("UPDATE customers SET email = NULL WHERE id = 3")

    mixed = await ValidationCheckpointManager(db).run_migration(with_ddl, guards())
    assert [s.status for s in mixed.statements] == ["ok", "ok"]
    assert [c.name for c in mixed.failed_checks] == ["no_nulls(customers.email)"]
    if db.dialect.name == "mysql":  # the ALTER committed the transaction it was sent in
        assert mixed.status == "not_rolled_back" and not mixed.rolled_back
        assert "could NOT be rolled back" in mixed.message
        assert "ALTER TABLE customers ADD COLUMN tier int" in mixed.message
        await run_sql(
            db,
            "ALTER TABLE customers DROP COLUMN tier",
            "UPDATE customers SET email = 'c3@example.com' WHERE id = 3",
        )
    else:
        assert mixed.status == "rolled_back" and mixed.restored is True
    assert await data(db) == data_before

    kept = await ValidationCheckpointManager(db).run_migration(
        grow, [Checkpoint.row_count("customers", delta=1)]
    )
    assert kept.status == "committed", kept.message
    assert len(await data(db)) == CUSTOMERS + 1


@on_every_backend
@pytest.mark.asyncio
async def test_foreign_keys_valid_counts_orphans(db: DataFlow) -> None:
    await build(db)

    # Orphans the database does not stop: its key checks are off for the insert.
    async def orphan() -> None:
        insert = f"INSERT INTO {table(db, 'orders')} (customer_id, qty) VALUES (9999, 1)"
        async with db._adapter.acquire() as conn:
            if db.dialect.name == "sqlite":
                await conn.execute("PRAGMA foreign_keys = OFF")
                await conn.execute(insert)
                await conn.execute("PRAGMA foreign_keys = ON")
            elif db.dialect.name == "mysql":
                await conn.execute("SET foreign_key_checks = 0")
                await conn.execute(insert)
                await conn.execute("SET foreign_key_checks = 1")
            else:
                async with conn.transaction():
                    await conn.execute("SET LOCAL session_replication_role = replica")
                    await conn.execute(insert)

    await _loop.run_async(orphan())
    checks = ValidationCheckpointManager(db)
    (result,) = await checks.evaluate([Checkpoint.foreign_keys_valid("orders")])
    assert result.passed is False and sum(result.after.values()) == 1
    (clean,) = await checks.evaluate([Checkpoint.foreign_keys_valid("customers")])
    assert clean.passed is True and clean.after == {}


@pytest.mark.parametrize("backend", ["sqlite-file", "postgresql"])
@pytest.mark.asyncio
async def test_a_dataflow_that_may_not_write_is_refused(db: DataFlow, db_url: str) -> None:
    await build(db)
    guarded = DataFlow(db_url, existing_schema_mode=True)
    read_only = DataFlow(db_url, read_only=True)
    try:
        with pytest.raises(MigrationError) as refused:
            await ValidationCheckpointManager(guarded).run_migration(
                "ALTER TABLE customers ADD COLUMN x int"
            )
        assert refused.value.code == "DF-MIGRATION-DDL-REFUSED"
        # Data only is no DDL: existing_schema_mode allows it.
        report = await ValidationCheckpointManager(guarded).run_migration(
            "UPDATE customers SET name = name", [Checkpoint.row_count("customers")]
        )
        assert report.status == "committed"
        with pytest.raises(MigrationError) as ro:
            await ValidationCheckpointManager(read_only).run_migration("UPDATE customers SET x = 1")
        assert ro.value.code == "DF-MIGRATION-READ-ONLY"
    finally:
        await guarded.aclose()
        await read_only.aclose()


# -- pure ----------------------------------------------------------------------------------------


def test_checkpoints_are_validated() -> None:
    assert Checkpoint.row_count("t").name == "row_count(t)"
    assert Checkpoint.unique("t", ["a", "b"]).columns == ("a", "b")
    assert Checkpoint.custom("SELECT 1", lambda v: v == 1).kind == "custom"
    with pytest.raises(ValidationError):
        Checkpoint.no_nulls("t", "c", when="sometimes")
    with pytest.raises(ValidationError):
        Checkpoint.row_count("t", delta=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Checkpoint.unique("t", [])
    with pytest.raises(ValidationError):
        Checkpoint("x", "row_count")
    with pytest.raises(ValidationError):
        Checkpoint.custom("", 1)
