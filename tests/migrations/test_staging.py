"""StagingEnvironmentManager on real databases: a foreign-key chain (customers <- orders <-
order_lines) and a self-referencing hierarchy (employees.manager_id) with thousands of rows,
copied with a bounded, referentially intact sample; a migration that changes the copy only;
and nothing left behind after cleanup."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from dataflow_engine import DataFlow, MigrationError, SchemaError, ValidationError, _loop
from dataflow_engine.migrations import (
    SchemaStateManager,
    StagingEnvironment,
    StagingEnvironmentManager,
)
from dataflow_engine.migrations._staging import STAGING_PREFIX, components

from .sql import fetch_async as fetch
from .sql import table

BACKENDS = ["sqlite-file", "postgresql", "mysql"]
on_every_backend = pytest.mark.parametrize("backend", BACKENDS)

CUSTOMERS, ORDERS, LINES, EMPLOYEES = 1500, 4000, 9000, 2500


# -- helpers -----------------------------------------------------------------------------------


async def run_sql(
    db: DataFlow, *statements: str, rows: Sequence[tuple[str, list[tuple[Any, ...]]]] = ()
) -> None:
    """Raw SQL (and ``executemany`` batches) through the DataFlow's connection; on
    PostgreSQL in the URL's schema."""

    async def work() -> None:
        async with db._adapter.acquire() as conn:
            schema = db.dialect.schema
            async with conn.transaction():
                if db.dialect.name == "postgresql" and schema:
                    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                    await conn.execute(f'SET LOCAL search_path TO "{schema}"')
                for statement in statements:
                    await conn.execute(statement)
                for sql, batch in rows:
                    await conn.executemany(sql, batch)

    await _loop.run_async(work())


def marks(db: DataFlow, n: int) -> str:
    return ", ".join(db.dialect.placeholder(i + 1) for i in range(n))


async def build_shop(db: DataFlow) -> None:
    """The chain and the hierarchy, with thousands of rows, a view and a trigger."""
    key = {
        "postgresql": "id serial PRIMARY KEY",
        "mysql": "id int AUTO_INCREMENT PRIMARY KEY",
        "sqlite": "id INTEGER PRIMARY KEY",
    }[db.dialect.name]
    trigger = {
        "postgresql": [
            "CREATE FUNCTION keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; "
            "END $$",
            "CREATE TRIGGER orders_keep BEFORE UPDATE ON orders FOR EACH ROW "
            "EXECUTE FUNCTION keep()",
        ],
        "mysql": ["CREATE TRIGGER orders_keep BEFORE UPDATE ON orders FOR EACH ROW SET @x = 1"],
        "sqlite": ["CREATE TRIGGER orders_keep AFTER UPDATE ON orders BEGIN SELECT 1; END"],
    }[db.dialect.name]
    # Children reference parents spread over the whole table, so a sample of the first
    # rows of each table would be full of orphans.
    customers = [(i, f"customer {i}", f"c{i}@example.com") for i in range(1, CUSTOMERS + 1)]
    orders = [(i, (i * 7919) % CUSTOMERS + 1, (i % 50) + 1) for i in range(1, ORDERS + 1)]
    lines = [(i, (i * 104729) % ORDERS + 1, i % 5 + 1) for i in range(1, LINES + 1)]
    # A tree five wide: employee i reports to (i - 2) // 5 + 1; the root has no manager.
    employees = [(1, None, "chief")] + [
        (i, (i - 2) // 5 + 1, f"employee {i}") for i in range(2, EMPLOYEES + 1)
    ]
    await run_sql(
        db,
        f"CREATE TABLE customers ({key}, name varchar(60) NOT NULL, email varchar(80) UNIQUE)",
        f"CREATE TABLE orders ({key}, customer_id int NOT NULL REFERENCES customers(id), "
        "qty int NOT NULL DEFAULT 1)",
        "CREATE INDEX orders_qty ON orders (qty)",
        f"CREATE TABLE order_lines ({key}, order_id int NOT NULL REFERENCES orders(id), "
        "amount int NOT NULL)",
        f"CREATE TABLE employees ({key}, manager_id int REFERENCES employees(id), "
        "name varchar(60) NOT NULL)",
        "CREATE VIEW busy_customers AS SELECT c.id, c.name FROM customers c "
        "JOIN orders o ON o.customer_id = c.id WHERE o.qty > 40",
        *trigger,
        rows=[
            (f"INSERT INTO customers (id, name, email) VALUES ({marks(db, 3)})", customers),
            (f"INSERT INTO orders (id, customer_id, qty) VALUES ({marks(db, 3)})", orders),
            (f"INSERT INTO order_lines (id, order_id, amount) VALUES ({marks(db, 3)})", lines),
            (f"INSERT INTO employees (id, manager_id, name) VALUES ({marks(db, 3)})", employees),
        ],
    )


async def leftovers(db: DataFlow, folder: Path) -> set[str]:
    """Every schema (PostgreSQL: all of the test database), staging database (MySQL: the
    server is shared) or file (SQLite: the database's folder) there is now."""
    if db.dialect.name == "postgresql":
        return {str(r[0]) for r in await fetch(db, "SELECT nspname FROM pg_namespace")}
    if db.dialect.name == "mysql":
        found = await fetch(db, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
        return {str(r[0]) for r in found if str(r[0]).startswith(STAGING_PREFIX)}
    return set(os.listdir(folder))


async def orphans(staging: StagingEnvironment) -> dict[str, int]:
    """Rows of the copy whose foreign key points at no row of the copy (LEFT JOIN)."""
    copy = staging.dataflow
    checks = {
        "orders": ("orders", "customer_id", "customers"),
        "order_lines": ("order_lines", "order_id", "orders"),
        "employees": ("employees", "manager_id", "employees"),
    }
    found = {}
    for label, (child, column, parent) in checks.items():
        rows = await fetch(
            copy,
            f"SELECT COUNT(*) FROM {table(copy, child)} c LEFT JOIN {table(copy, parent)} p "
            f"ON p.id = c.{column} WHERE c.{column} IS NOT NULL AND p.id IS NULL",
        )
        found[label] = int(rows[0][0])
    return found


async def counts(db: DataFlow, names: Sequence[str]) -> dict[str, int]:
    return {n: int((await fetch(db, f"SELECT COUNT(*) FROM {table(db, n)}"))[0][0]) for n in names}


TABLES = ("customers", "orders", "order_lines", "employees")


# -- against the databases ---------------------------------------------------------------------


@on_every_backend
@pytest.mark.asyncio
async def test_a_staging_copy_is_faithful_bounded_intact_and_leaves_nothing(
    db: DataFlow, tmp_path: Path
) -> None:
    await build_shop(db)
    states = SchemaStateManager(db)
    original = await states.capture_snapshot()
    original_counts = await counts(db, TABLES)
    before = await leftovers(db, tmp_path)

    staging = await StagingEnvironmentManager(db).create_staging(sample_rows=600)
    assert staging.name.startswith(STAGING_PREFIX)
    assert (await leftovers(db, tmp_path)) != before  # the copy exists while it is used
    # Parents are filled before their children.
    order = staging.tables
    assert order.index("customers") < order.index("orders") < order.index("order_lines")
    assert set(order) == set(TABLES)

    # The structure: the same tables, columns, keys, indexes and view as the original.
    copy = await staging.snapshot()
    difference = [c.describe() for c in SchemaStateManager.diff(original, copy).changes]
    if db.dialect.name == "postgresql":
        # The trigger's function lives in the original schema: not copied, and said so.
        assert difference == ["trigger removed: orders.orders_keep"]
        assert list(staging.skipped) == ["trigger orders.orders_keep"]
    else:
        assert difference == [] and copy == original
        assert staging.skipped == {}

    # The sample: bounded per table, never empty here, and no foreign key left dangling.
    sampled = await counts(staging.dataflow, TABLES)
    assert sampled == staging.rows
    assert all(0 < n <= 600 for n in sampled.values()), sampled
    assert sampled["customers"] == 600 and sampled["employees"] == 600
    assert await orphans(staging) == {"orders": 0, "order_lines": 0, "employees": 0}
    # ... and the rows are the original's own.
    copied = await fetch(
        staging.dataflow, f"SELECT id, name FROM {table(staging.dataflow, 'employees')}"
    )
    originals = dict(await fetch(db, f"SELECT id, name FROM {table(db, 'employees')}"))
    assert all(originals[i] == name for i, name in copied)

    # A migration in staging changes staging only.
    run = await staging.run(
        "ALTER TABLE orders ADD COLUMN note varchar(20); "
        "UPDATE customers SET name = 'renamed'; "
        "INSERT INTO customers (name, email) VALUES ('new', 'new@example.com')"
    )
    assert run.ok, run.to_dict()
    assert [s.status for s in run.statements] == ["ok", "ok", "ok"]
    assert run.statements[1].rows == 600
    assert all(s.seconds > 0 for s in run.statements)
    assert run.diff is not None and run.diff.columns_added == [("orders", "note")]
    assert await states.capture_snapshot() == original
    assert await counts(db, TABLES) == original_counts
    assert not await fetch(db, f"SELECT id FROM {table(db, 'customers')} WHERE name = 'renamed'")
    # The new row got an id past the sample's (the copy's own sequence, not the original's).
    (new_id,) = (
        await fetch(
            staging.dataflow,
            f"SELECT id FROM {table(staging.dataflow, 'customers')} WHERE name = 'new'",
        )
    )[0]
    assert new_id > 600

    report = await staging.assess("ALTER TABLE orders DROP COLUMN qty")
    assert report.dialect == db.dialect.name and report.operations

    await staging.cleanup()
    await staging.cleanup()  # idempotent
    assert staging.closed
    assert await leftovers(db, tmp_path) == before
    with pytest.raises(MigrationError) as closed:
        await staging.run("SELECT 1")
    assert closed.value.code == "DF-MIGRATION-STAGING-CLOSED"
    assert await states.capture_snapshot() == original


@on_every_backend
@pytest.mark.asyncio
async def test_a_subset_brings_its_parents_and_a_failure_is_captured(
    db: DataFlow, tmp_path: Path
) -> None:
    await build_shop(db)
    before = await leftovers(db, tmp_path)
    manager = StagingEnvironmentManager(db)
    async with await manager.create_staging(["order_lines"], sample_rows=50) as staging:
        assert staging.tables == ("customers", "orders", "order_lines")
        assert all(0 < n <= 50 for n in staging.rows.values())
        sampled = await counts(staging.dataflow, staging.tables)
        assert sampled == staging.rows
        assert (await orphans_of_chain(staging)) == 0
        run = await staging.run(
            "ALTER TABLE missing_table ADD COLUMN x int; ALTER TABLE orders ADD COLUMN y int"
        )
        assert not run.ok
        assert [s.status for s in run.statements] == ["failed", "not_run"]
        assert run.failed is not None and run.failed.error is not None
        assert run.failed.error["code"].startswith("DF-")
        assert run.diff is not None and not run.diff
        every = await staging.run(
            "ALTER TABLE missing_table ADD COLUMN x int; ALTER TABLE orders ADD COLUMN y int",
            stop_on_error=False,
        )
        assert [s.status for s in every.statements] == ["failed", "ok"]
        if db.dialect.name != "sqlite":
            # Naming the original's schema or database would reach outside the copy.
            original = db.dialect.schema or db.settings.url.database
            with pytest.raises(MigrationError) as outside:
                await staging.run(
                    f"ALTER TABLE orders ADD COLUMN z int; DROP TABLE {original}.orders"
                )
            assert outside.value.code == "DF-MIGRATION-STAGING-OUTSIDE"
            assert "z" not in {c.name for c in (await staging.snapshot()).tables["orders"].columns}
    assert staging.closed
    # A view over a table that is not copied cannot be made: skipped, with the reason.
    async with await manager.create_staging(["customers"], sample_rows=5) as alone:
        assert alone.tables == ("customers",) and alone.rows == {"customers": 5}
        assert "view busy_customers" in alone.skipped
        assert "busy_customers" not in (await alone.snapshot()).views
    assert await leftovers(db, tmp_path) == before


async def orphans_of_chain(staging: StagingEnvironment) -> int:
    copy = staging.dataflow
    rows = await fetch(
        copy,
        f"SELECT COUNT(*) FROM {table(copy, 'order_lines')} l LEFT JOIN {table(copy, 'orders')} o "
        f"ON o.id = l.order_id LEFT JOIN {table(copy, 'customers')} c ON c.id = o.customer_id "
        "WHERE o.id IS NULL OR c.id IS NULL",
    )
    return int(rows[0][0])


@pytest.mark.parametrize("backend", ["sqlite-file", "postgresql"])
@pytest.mark.asyncio
async def test_structure_only_and_refusals(db: DataFlow, db_url: str, tmp_path: Path) -> None:
    await build_shop(db)
    before = await leftovers(db, tmp_path)
    manager = StagingEnvironmentManager(db)
    async with await manager.create_staging(sample_rows=0) as staging:
        assert set(staging.rows.values()) == {0}
        original = await SchemaStateManager(db).capture_snapshot()
        changes = SchemaStateManager.diff(original, await staging.snapshot()).changes
        expected = ["trigger_removed"] if db.dialect.name == "postgresql" else []
        assert [c.kind for c in changes] == expected
    assert await leftovers(db, tmp_path) == before

    with pytest.raises(SchemaError) as missing:
        await manager.create_staging(["no_such_table"])
    assert missing.value.code == "DF-SCHEMA-TABLE-MISSING"
    with pytest.raises(ValidationError):
        await manager.create_staging("orders")
    with pytest.raises(ValidationError):
        await manager.create_staging(sample_rows=-1)
    for options, code in (
        ({"existing_schema_mode": True}, "DF-MIGRATION-DDL-REFUSED"),
        ({"read_only": True}, "DF-MIGRATION-READ-ONLY"),
    ):
        guarded = DataFlow(db_url, **options)
        try:
            with pytest.raises(MigrationError) as refused:
                await StagingEnvironmentManager(guarded).create_staging()
            assert refused.value.code == code
        finally:
            await guarded.aclose()
    assert await leftovers(db, tmp_path) == before


@pytest.mark.asyncio
async def test_an_in_memory_database_is_staged_in_a_temporary_file() -> None:
    db = DataFlow("sqlite://")
    try:
        await build_shop(db)
        staging = await StagingEnvironmentManager(db).create_staging(sample_rows=10)
        assert os.path.exists(staging.location)
        assert staging.rows["order_lines"] <= 10
        await staging.cleanup()
        assert not any(os.path.exists(staging.location + s) for s in ("", "-wal", "-shm"))
    finally:
        await db.aclose()


# -- pure ----------------------------------------------------------------------------------------


def test_components_order_parents_first_and_group_cycles() -> None:
    edges = {
        "lines": ["orders"],
        "orders": ["customers"],
        "customers": [],
        "employees": ["employees"],
        "a": ["b"],
        "b": ["a", "customers"],
    }
    groups = components(edges)
    assert sorted(map(tuple, groups)) == sorted(
        [("customers",), ("orders",), ("lines",), ("employees",), ("a", "b")]
    )
    position = {name: i for i, group in enumerate(groups) for name in group}
    assert position["customers"] < position["orders"] < position["lines"]
    assert position["customers"] < position["a"] == position["b"]
