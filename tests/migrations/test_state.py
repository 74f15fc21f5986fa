"""SchemaStateManager on real databases: snapshots of schemas built in raw SQL, the diff of a
change made with raw DDL, checksums, and the history table; plus the pure diff."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dataflow_engine import DataFlow, MigrationError, ValidationError
from dataflow_engine.migrations import SchemaDiff, SchemaSnapshot, SchemaStateManager
from dataflow_engine.migrations._state import (
    HISTORY_TABLE,
    ColumnState,
    ForeignKeyState,
    IndexState,
    TableState,
    ViewState,
)
from tests.conftest import RUN_TAG, mysql_admin, mysql_url, pg_admin, pg_url

from .sql import run_sql_async as run_sql

BACKENDS = ["sqlite-file", "postgresql", "mysql"]
on_every_backend = pytest.mark.parametrize("backend", BACKENDS)


# -- helpers -----------------------------------------------------------------------------------


def key(db: DataFlow) -> str:
    return {
        "postgresql": "id serial PRIMARY KEY",
        "mysql": "id int AUTO_INCREMENT PRIMARY KEY",
        "sqlite": "id INTEGER PRIMARY KEY",
    }[db.dialect.name]


def schema_sql(db: DataFlow) -> list[str]:
    """customers <- orders, tags, a view, a trigger, an index; plus a table to drop."""
    trigger = {
        "postgresql": [
            "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; "
            "END $$",
            "CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW "
            "EXECUTE FUNCTION touch()",
        ],
        "mysql": [
            "CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW SET NEW.qty = NEW.qty"
        ],
        "sqlite": ["CREATE TRIGGER orders_touch AFTER UPDATE ON orders BEGIN SELECT 1; END"],
    }[db.dialect.name]
    return [
        f"CREATE TABLE customers ({key(db)}, name varchar(50) NOT NULL, legacy int, "
        "email varchar(80) UNIQUE)",
        f"CREATE TABLE orders ({key(db)}, customer_id int NOT NULL REFERENCES customers(id), "
        "qty int DEFAULT 1, total numeric(10,2))",
        "CREATE INDEX orders_qty ON orders (qty)",
        f"CREATE TABLE tags ({key(db)}, label varchar(20), customer_id int)",
        f"CREATE TABLE scratch ({key(db)}, x int)",
        "CREATE VIEW big_orders AS SELECT id, qty FROM orders WHERE qty > 10",
        *trigger,
    ]


def change_sql(db: DataFlow) -> list[str]:
    """The same schema change, as each database spells it."""
    common = [
        "ALTER TABLE orders ADD COLUMN note varchar(40)",
        "ALTER TABLE customers DROP COLUMN legacy",
        "CREATE INDEX customers_name ON customers (name)",
        "DROP TABLE scratch",
        f"CREATE TABLE payments ({key(db)}, amount int)",
    ]
    if db.dialect.name == "sqlite":
        # No ALTER COLUMN and no ADD CONSTRAINT: rebuild tags, and redefine the view.
        return [
            *common,
            "DROP INDEX orders_qty",
            "CREATE TABLE tags_new (id INTEGER PRIMARY KEY, label varchar(60) NOT NULL "
            "DEFAULT 'x', customer_id int REFERENCES customers(id))",
            "DROP TABLE tags",
            "ALTER TABLE tags_new RENAME TO tags",
            "DROP VIEW big_orders",
            "CREATE VIEW big_orders AS SELECT id, qty FROM orders WHERE qty > 20",
            "DROP TRIGGER orders_touch",
            "CREATE TRIGGER orders_audit AFTER INSERT ON orders BEGIN SELECT 1; END",
        ]
    if db.dialect.name == "mysql":
        return [
            *common,
            "DROP INDEX orders_qty ON orders",
            "ALTER TABLE tags MODIFY label varchar(60) NOT NULL DEFAULT 'x'",
            "ALTER TABLE tags ADD CONSTRAINT tags_customer FOREIGN KEY (customer_id) "
            "REFERENCES customers(id)",
            "CREATE OR REPLACE VIEW big_orders AS SELECT id, qty FROM orders WHERE qty > 20",
            "DROP TRIGGER orders_touch",
            "CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW SET @n = 1",
        ]
    return [
        *common,
        "DROP INDEX orders_qty",
        "ALTER TABLE tags ALTER COLUMN label TYPE varchar(60), ALTER COLUMN label SET NOT NULL, "
        "ALTER COLUMN label SET DEFAULT 'x'",
        "ALTER TABLE tags ADD CONSTRAINT tags_customer FOREIGN KEY (customer_id) "
        "REFERENCES customers(id)",
        "CREATE OR REPLACE VIEW big_orders AS SELECT id, qty FROM orders WHERE qty > 20",
        "DROP TRIGGER orders_touch ON orders",
        "CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION touch()",
    ]


@pytest.fixture
def twin_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A second, empty database (schema) on the same backend as ``db_url``."""
    if backend == "sqlite-file":
        yield f"sqlite:///{tmp_path / 'twin.db'}"
    elif backend == "postgresql":
        schema = f"twin_{uuid.uuid4().hex[:10]}"
        yield pg_url(f"dataflow_test_{RUN_TAG}", schema)
        pg_admin(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE', f"dataflow_test_{RUN_TAG}")
    else:
        database = f"dataflow_test_{RUN_TAG}_twin_{uuid.uuid4().hex[:8]}"
        mysql_admin(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
        yield mysql_url(database)
        mysql_admin(f"DROP DATABASE IF EXISTS `{database}`")


# -- against the databases ---------------------------------------------------------------------


@on_every_backend
@pytest.mark.asyncio
async def test_a_snapshot_holds_tables_keys_indexes_views_and_triggers(db: DataFlow) -> None:
    await run_sql(db, *schema_sql(db))
    snapshot = await SchemaStateManager(db).capture_snapshot("start")
    assert sorted(snapshot.tables) == ["customers", "orders", "scratch", "tags"]
    orders = snapshot.tables["orders"]
    assert [c.name for c in orders.columns] == ["id", "customer_id", "qty", "total"]
    assert orders.primary_key == ("id",)
    assert orders.column("customer_id") is not None
    assert not orders.column("customer_id").nullable  # type: ignore[union-attr]
    assert orders.column("qty").default == "1"  # type: ignore[union-attr]
    assert "orders_qty" in {i.name for i in orders.indexes}
    (fk,) = orders.foreign_keys
    assert (fk.columns, fk.ref_table, fk.ref_columns, fk.ref_schema) == (
        ("customer_id",),
        "customers",
        ("id",),
        None,
    )
    assert list(snapshot.views) == ["big_orders"]
    assert [(t.table, t.name) for t in snapshot.triggers] == [("orders", "orders_touch")]
    assert snapshot.label == "start" and snapshot.id is None
    assert snapshot.dialect == db.dialect.name
    assert len(snapshot.checksum) == 64


@on_every_backend
@pytest.mark.asyncio
async def test_the_diff_lists_exactly_the_changes_made(db: DataFlow) -> None:
    await run_sql(db, *schema_sql(db))
    states = SchemaStateManager(db)
    before = await states.capture_snapshot("before")
    await run_sql(db, *change_sql(db))
    after = await states.capture_snapshot("after")
    diff = states.diff(before, after)

    found = {(c.kind, c.table, c.name) for c in diff.changes}
    fk_label = next(c.name for c in diff.changes if c.kind == "foreign_key_added")
    expected = {
        ("table_added", "payments", "payments"),
        ("table_removed", "scratch", "scratch"),
        ("column_added", "orders", "note"),
        ("column_removed", "customers", "legacy"),
        ("column_changed", "tags", "label"),
        ("index_added", "customers", "customers_name"),
        ("index_removed", "orders", "orders_qty"),
        ("foreign_key_added", "tags", fk_label),
        ("view_changed", None, "big_orders"),
        ("trigger_removed", "orders", "orders_touch"),
        ("trigger_added", "orders", "orders_audit"),
    }
    if db.dialect.name == "mysql":  # MySQL indexes a foreign key's columns itself
        expected.add(("index_added", "tags", "tags_customer"))
    assert found == expected
    (changed,) = diff.columns_changed
    assert changed.attributes == ("type", "nullable", "default")
    assert (changed.before.nullable, changed.after.nullable) == (True, False)
    assert "60" in changed.after.type
    assert diff.tables_added == ["payments"] and diff.tables_removed == ["scratch"]
    assert diff.columns_added == [("orders", "note")]
    assert diff.columns_removed == [("customers", "legacy")]
    assert diff.indexes_removed == [("orders", "orders_qty")]
    assert [c.kind for c in diff.views_changed] == ["view_changed"]
    assert len(diff.triggers_changed) == 2
    assert before != after and before.checksum != after.checksum
    assert diff.before_checksum == before.checksum and diff.after_checksum == after.checksum
    assert len(diff.summary()) == len(diff.changes)
    json.dumps(diff.to_dict())  # JSON-friendly
    assert not states.diff(after, await states.capture_snapshot())


@on_every_backend
@pytest.mark.asyncio
async def test_identical_schemas_have_equal_checksums(db: DataFlow, twin_url: str) -> None:
    await run_sql(db, *schema_sql(db))
    twin = DataFlow(twin_url)
    try:
        await run_sql(twin, *schema_sql(twin))
        first = await SchemaStateManager(db).capture_snapshot("one")
        again = await SchemaStateManager(db).capture_snapshot("two")
        other = await SchemaStateManager(twin).capture_snapshot("elsewhere")
    finally:
        await twin.aclose()
    assert first == again and first.checksum == again.checksum
    # Another schema or database with the same DDL: names are read relative to it.
    if db.dialect.name != "sqlite":
        assert first.schema != other.schema
    assert first == other and first.checksum == other.checksum
    assert not SchemaStateManager.diff(first, other)


@on_every_backend
@pytest.mark.asyncio
async def test_history_round_trips(db: DataFlow) -> None:
    await run_sql(db, *schema_sql(db))
    states = SchemaStateManager(db)
    assert await states.history() == []
    first = await states.record(await states.capture_snapshot("v1"))
    await run_sql(db, "ALTER TABLE orders ADD COLUMN note varchar(40)")
    second = await states.record(await states.capture_snapshot("v2"))
    assert first.id is not None and second.id is not None and second.id > first.id

    listed = await states.history(limit=10)
    assert [(s.id, s.label) for s in listed] == [(second.id, "v2"), (first.id, "v1")]
    assert [s.checksum for s in listed] == [second.checksum, first.checksum]
    assert [s.id for s in await states.history(limit=1)] == [second.id]

    loaded = await states.load(first.id)
    assert loaded == first and loaded.checksum == first.checksum
    assert (loaded.label, loaded.taken_at, loaded.schema) == (
        first.label,
        first.taken_at,
        first.schema,
    )
    assert states.diff(loaded, second).columns_added == [("orders", "note")]
    # The history table is the engine's own: never part of a snapshot.
    now = await states.capture_snapshot()
    assert HISTORY_TABLE not in now.tables and now == second

    with pytest.raises(MigrationError) as missing:
        await states.load(second.id + 1000)
    assert missing.value.code == "DF-MIGRATION-SNAPSHOT-MISSING"


@pytest.mark.parametrize("backend", ["sqlite-file", "postgresql"])
@pytest.mark.asyncio
async def test_recording_needs_a_dataflow_that_may_write(db: DataFlow, db_url: str) -> None:
    await run_sql(db, *schema_sql(db))
    guarded = DataFlow(db_url, existing_schema_mode=True)
    read_only = DataFlow(db_url, read_only=True)
    try:
        states = SchemaStateManager(guarded)
        snapshot = await states.capture_snapshot()  # reading is fine
        assert "orders" in snapshot.tables
        assert await states.history() == []
        with pytest.raises(MigrationError) as refused:
            await states.record(snapshot)
        assert refused.value.code == "DF-MIGRATION-DDL-REFUSED"
        with pytest.raises(MigrationError) as ro:
            await SchemaStateManager(read_only).record(snapshot)
        assert ro.value.code == "DF-MIGRATION-READ-ONLY"
        # Once the table exists, existing_schema_mode may record (a row, not DDL).
        await SchemaStateManager(db).record(snapshot)
        assert (await states.record(snapshot)).id == 2
    finally:
        await guarded.aclose()
        await read_only.aclose()


# -- pure ----------------------------------------------------------------------------------------


def column(
    name: str, type_: str = "int", nullable: bool = True, default: Any = None
) -> ColumnState:
    return ColumnState(name, type_, nullable, default)


def snap(*tables: TableState, views: dict[str, ViewState] | None = None) -> SchemaSnapshot:
    return SchemaSnapshot("postgresql", {t.name: t for t in tables}, views or {})


def test_the_diff_is_pure_and_matches_by_name() -> None:
    users = TableState(
        "users",
        (column("id", nullable=False), column("email", "text")),
        ("id",),
        (IndexState("users_email", ("email",)),),
    )
    changed = TableState(
        "users",
        (column("id", nullable=False), column("email", "varchar(80)", default="''")),
        ("id",),
        (IndexState("users_email", ("email", "id")),),
        (ForeignKeyState(None, ("id",), "accounts", ("id",)),),
    )
    diff = SchemaStateManager.diff(snap(users), snap(changed))
    assert [(c.kind, c.name) for c in diff.changes] == [
        ("column_changed", "email"),
        ("index_removed", "users_email"),
        ("index_added", "users_email"),
        ("foreign_key_added", "(id) -> accounts(id)"),
    ]
    assert diff.columns_changed[0].attributes == ("type", "default")
    assert "email: type 'text' -> 'varchar(80)'" in diff.summary()[0]
    assert not SchemaStateManager.diff(snap(users), snap(users))
    assert isinstance(diff, SchemaDiff) and len(diff) == 4


def test_snapshots_compare_by_content_and_survive_json() -> None:
    base = snap(
        TableState("a", (column("id"),)),
        views={"v": ViewState("v", "SELECT 1")},
    )
    relabelled = SchemaSnapshot("postgresql", dict(base.tables), dict(base.views), label="x")
    assert base == relabelled and hash(base) == hash(relabelled)
    copy = SchemaSnapshot.from_dict(json.loads(json.dumps(base.to_dict())))
    assert copy == base and copy.checksum == base.checksum
    assert snap(TableState("a", (column("id", "bigint"),))).checksum != base.checksum
    with pytest.raises(ValidationError):
        SchemaSnapshot.from_dict({"tables": 1})
    with pytest.raises(ValidationError):
        SchemaStateManager.diff(base, SchemaSnapshot("sqlite", {}))
    with pytest.raises(ValidationError):
        SchemaStateManager.diff(base, "not a snapshot")  # type: ignore[arg-type]
