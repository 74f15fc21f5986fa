"""ColumnRemovalManager on real databases: a table with data, an index, a unique and a check
constraint, a foreign key, views and triggers on the column; a removal that succeeds, and
a failure injected after each of the seven stages, which must leave the schema and every
row exactly as they were."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from dataflow_engine import DataFlow, MigrationError
from dataflow_engine.config import parse_url
from dataflow_engine.migrations import (
    ColumnRemovalManager,
    RemovalPlan,
    RemovalResult,
    RemovalStage,
)
from dataflow_engine.migrations._removal import (
    _View,
    backup_table_name,
    drop_order,
    query_uses_column,
    table_items,
    without_items,
)
from tests.conftest import mysql_admin
from tests.migrations.sql import fetch, insert_rows, qualified, run_sql

BACKENDS = ["sqlite-file", "postgresql", "mysql"]
on_every_backend = pytest.mark.parametrize("backend", BACKENDS)

ROWS = 300


class Injected(Exception):
    """The failure a test injects after a stage."""


# -- the schema ------------------------------------------------------------------------------


def schema_sql(db: DataFlow) -> list[str]:
    """categories <- items.category_id (the column removed) <- views, triggers; orders ->
    items.id; every kind of object that depends on the column, and some that do not."""
    name = db.dialect.name
    key = {
        "postgresql": "id serial PRIMARY KEY",
        "mysql": "id int AUTO_INCREMENT PRIMARY KEY",
        "sqlite": "id INTEGER PRIMARY KEY",
    }[name]
    statements = [
        "CREATE TABLE categories (id int PRIMARY KEY, name varchar(40) NOT NULL)",
        f"CREATE TABLE items ({key}, code varchar(20) NOT NULL,"
        " category_id int NOT NULL, qty int DEFAULT 7, note varchar(200),"
        " price numeric(8, 2) DEFAULT 0,"
        " CONSTRAINT items_category_fk FOREIGN KEY (category_id) REFERENCES categories (id),"
        " CONSTRAINT items_category_code UNIQUE (category_id, code),"
        " CONSTRAINT items_category_positive CHECK (category_id > 0))",
        "CREATE TABLE orders (id int PRIMARY KEY, item_id int NOT NULL,"
        " CONSTRAINT orders_item FOREIGN KEY (item_id) REFERENCES items (id) ON DELETE CASCADE)",
        "CREATE INDEX items_category ON items (category_id)",
        "CREATE INDEX items_qty ON items (qty)",
        "CREATE VIEW items_by_category AS SELECT id, category_id FROM items",
        "CREATE VIEW items_by_category_ids AS SELECT id FROM items_by_category",
        "CREATE VIEW category_counts AS"
        " SELECT category_id, COUNT(*) AS n FROM items GROUP BY category_id",
        "CREATE VIEW item_codes AS SELECT id, code FROM items",
    ]
    if name == "postgresql":
        statements += [
            "CREATE FUNCTION keep_qty() RETURNS trigger LANGUAGE plpgsql"
            " AS $$ BEGIN RETURN NEW; END $$",
            "CREATE TRIGGER items_keep BEFORE UPDATE ON items"
            " FOR EACH ROW EXECUTE FUNCTION keep_qty()",
            "CREATE FUNCTION guard_category() RETURNS trigger LANGUAGE plpgsql"
            " AS $$ BEGIN NEW.category_id := GREATEST(NEW.category_id, 1); RETURN NEW; END $$",
            "CREATE TRIGGER items_category_guard BEFORE UPDATE OF category_id ON items"
            " FOR EACH ROW EXECUTE FUNCTION guard_category()",
        ]
    elif name == "mysql":
        # Both fire BEFORE UPDATE, in this order; items_keep would clobber qty if it fired
        # while a rollback restores the column's values.
        statements += [
            "CREATE TRIGGER items_keep BEFORE UPDATE ON items FOR EACH ROW SET NEW.qty = 1",
            "CREATE TRIGGER items_category_guard BEFORE UPDATE ON items"
            " FOR EACH ROW SET NEW.category_id = GREATEST(NEW.category_id, 1)",
        ]
    else:
        statements += [
            "CREATE TRIGGER items_keep AFTER UPDATE ON items BEGIN SELECT 1; END",
            "CREATE TRIGGER items_category_guard AFTER UPDATE OF category_id ON items"
            " BEGIN SELECT NEW.category_id; END",
        ]
    return statements


def build(db: DataFlow) -> None:
    run_sql(db, *schema_sql(db))
    insert_rows(db, "categories", "id, name", [(i, f"category {i}") for i in range(1, 6)])
    insert_rows(
        db,
        "items",
        "code, category_id, qty, note, price",
        [
            (
                f"c{i:04d}",
                i % 5 + 1,
                None if i % 7 == 0 else i % 13,
                None if i % 3 else f"note {i}",
                Decimal(i) / 4 if db.dialect.name != "sqlite" else f"{i / 4:.2f}",
            )
            for i in range(ROWS)
        ],
    )
    insert_rows(db, "orders", "id, item_id", [(i, i * 3 + 1) for i in range(50)])


# -- snapshots -------------------------------------------------------------------------------


def checksum(rows: list[Any]) -> str:
    return hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()


def tables(db: DataFlow) -> list[str]:
    name, schema = db.dialect.name, db.dialect.schema
    if name == "postgresql":
        sql = f"SELECT tablename FROM pg_tables WHERE schemaname = '{schema}'"
    elif name == "mysql":
        sql = (
            "SELECT TABLE_NAME FROM information_schema.TABLES"
            " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'"
        )
    else:
        sql = "SELECT name FROM sqlite_schema WHERE type = 'table'"
    return sorted(str(r[0]) for r in fetch(db, sql))


def snapshot(db: DataFlow) -> dict[str, Any]:
    """Everything a removal could change: tables, columns (types, nullability, defaults,
    order), indexes, constraints, views and triggers by name and definition, and a
    checksum of every row of every table."""
    name, schema = db.dialect.name, db.dialect.schema
    found: dict[str, Any] = {"tables": tables(db)}
    if name == "postgresql":
        queries = {
            "columns": "SELECT table_name, column_name, ordinal_position, data_type,"
            " character_maximum_length, numeric_precision, numeric_scale, is_nullable,"
            f" column_default FROM information_schema.columns WHERE table_schema = '{schema}'"
            " ORDER BY 1, 3",
            "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes"
            f" WHERE schemaname = '{schema}' ORDER BY 2",
            "constraints": "SELECT conrelid::regclass::text, conname,"
            " pg_get_constraintdef(oid) FROM pg_constraint"
            f" WHERE connamespace = '{schema}'::regnamespace ORDER BY 2",
            "views": "SELECT viewname, definition FROM pg_views"
            f" WHERE schemaname = '{schema}' ORDER BY 1",
            "triggers": "SELECT tgname, pg_get_triggerdef(t.oid), tgenabled FROM pg_trigger t"
            " JOIN pg_class c ON c.oid = t.tgrelid"
            f" WHERE NOT tgisinternal AND c.relnamespace = '{schema}'::regnamespace ORDER BY 1",
        }
    elif name == "mysql":
        queries = {
            "columns": "SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE,"
            " IS_NULLABLE, COLUMN_DEFAULT, EXTRA, COLLATION_NAME, COLUMN_COMMENT"
            " FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1, 3",
            "indexes": "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME"
            " FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()"
            " ORDER BY 1, 2, 4",
            "constraints": "SELECT c.TABLE_NAME, c.CONSTRAINT_NAME, c.CONSTRAINT_TYPE,"
            " r.UPDATE_RULE, r.DELETE_RULE, r.REFERENCED_TABLE_NAME, k.CHECK_CLAUSE"
            " FROM information_schema.TABLE_CONSTRAINTS c"
            " LEFT JOIN information_schema.REFERENTIAL_CONSTRAINTS r"
            "  ON r.CONSTRAINT_SCHEMA = c.CONSTRAINT_SCHEMA"
            "  AND r.CONSTRAINT_NAME = c.CONSTRAINT_NAME AND r.TABLE_NAME = c.TABLE_NAME"
            " LEFT JOIN information_schema.CHECK_CONSTRAINTS k"
            "  ON k.CONSTRAINT_SCHEMA = c.CONSTRAINT_SCHEMA"
            "  AND k.CONSTRAINT_NAME = c.CONSTRAINT_NAME AND k.TABLE_NAME = c.TABLE_NAME"
            " WHERE c.TABLE_SCHEMA = DATABASE() ORDER BY 1, 2",
            "views": "SELECT TABLE_NAME, VIEW_DEFINITION, CHECK_OPTION, DEFINER, SECURITY_TYPE"
            " FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1",
            "triggers": "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING,"
            " EVENT_MANIPULATION, ACTION_ORDER, ACTION_STATEMENT, SQL_MODE, DEFINER"
            " FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY 1",
        }
        # Keys and constraints as SHOW CREATE TABLE prints them (their order aside).
        for table in found["tables"]:
            text = str(fetch(db, f"SHOW CREATE TABLE `{table}`")[0][1])
            lines = [line.strip().rstrip(",") for line in text.splitlines()]
            found[f"create {table}"] = (
                [line for line in lines if line.startswith("`")],
                sorted(line for line in lines[1:-1] if not line.startswith("`")),
                lines[-1],
            )
    else:
        queries = {
            "objects": "SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY 1, 2",
        }
        for table in found["tables"]:
            found[f"columns {table}"] = fetch(db, f'PRAGMA table_xinfo("{table}")')
            found[f"keys {table}"] = fetch(db, f'PRAGMA foreign_key_list("{table}")')
    for key, sql in queries.items():
        found[key] = [tuple(r) for r in fetch(db, sql)]
    for table in found["tables"]:
        found[f"rows {table}"] = checksum(
            fetch(db, f"SELECT * FROM {qualified(db, table)} ORDER BY 1")
        )
    return found


def backup_tables(db: DataFlow) -> list[str]:
    return [t for t in tables(db) if t.startswith("_dataflow_backup_")]


def removal(db: DataFlow) -> ColumnRemovalManager:
    return ColumnRemovalManager(db)


def plan_of(db: DataFlow, table: str, column: str, **options: Any) -> RemovalPlan:
    return asyncio.run(removal(db).plan_column_removal(table, column, **options))


def execute(db: DataFlow, plan: RemovalPlan, **options: Any) -> RemovalResult:
    return asyncio.run(removal(db).execute_safe_removal(plan, **options))


# -- against the databases -----------------------------------------------------------------


@on_every_backend
def test_the_column_is_removed_with_a_backup_and_its_dependents_handled(db: DataFlow) -> None:
    build(db)
    items = qualified(db, "items")
    others = fetch(db, f"SELECT id, code, qty, note, price FROM {items} ORDER BY id")
    values = fetch(db, f"SELECT id, category_id FROM {items} ORDER BY id")
    orders = checksum(fetch(db, f"SELECT * FROM {qualified(db, 'orders')} ORDER BY id"))
    replacement = "CREATE VIEW items_by_category AS SELECT id, code FROM items"
    if db.dialect.name == "postgresql":
        replacement = replacement.replace(" items", f" {items}")

    plan = plan_of(db, "items", "category_id", replacements={"items_by_category": replacement})
    assert [s.stage for s in plan.stages] == list(RemovalStage)
    assert plan.transactional is (db.dialect.name != "mysql")
    assert plan.table_rebuild is (db.dialect.name == "sqlite")
    assert plan.backup_table.startswith("_dataflow_backup_items_category_id_")
    assert (plan.rows, plan.rows_exact, plan.primary_key) == (ROWS, True, ("id",))
    outcome = {(o.kind, o.name): o.outcome for o in plan.objects}
    assert outcome[("view", "items_by_category")] == "replaced"
    assert outcome[("view", "items_by_category_ids")] == "recreated"
    assert outcome[("view", "category_counts")] == "lost"
    assert outcome[("trigger", "items_category_guard")] == "lost"
    assert ("view", "item_codes") not in outcome and ("trigger", "items_keep") not in outcome
    assert outcome[("index", "items_category")] == "lost" and ("index", "items_qty") not in outcome
    assert outcome[("foreign_key", "items_category_fk")] == "lost"
    assert outcome[("check", "items_category_positive")] == "lost"
    unique = "index" if db.dialect.name == "mysql" else "unique"  # MySQL: a unique key
    assert outcome[(unique, "items_category_code")] == "lost"
    assert any("category_counts" in line for line in plan.lost)
    drops = [
        sql.split()[-1].split(".")[-1].strip('"`')
        for sql in plan.stage(RemovalStage.DEPENDENTS).statements
        if sql.startswith("DROP VIEW")
    ]
    # Readers are dropped before what they read.
    assert drops.index("items_by_category_ids") < drops.index("items_by_category")
    assert plan.stage(RemovalStage.VALIDATION).statements == ()

    seen: list[RemovalStage] = []
    result = execute(db, plan, on_stage=seen.append)
    assert seen == list(RemovalStage) and result.stages_completed == tuple(RemovalStage)
    assert (result.rows, result.backup_table) == (ROWS, plan.backup_table)
    assert {o.name for o in result.lost} >= {"category_counts", "items_category_guard"}
    assert {o.name for o in result.recreated} == {"items_by_category", "items_by_category_ids"}

    after = snapshot(db)
    assert "category_id" not in [c[0] for c in _columns(db, "items")]
    assert fetch(db, f"SELECT id, code, qty, note, price FROM {items} ORDER BY id") == others
    backup = qualified(db, plan.backup_table)
    assert fetch(db, f"SELECT id, category_id FROM {backup} ORDER BY id") == values
    assert backup_tables(db) == [plan.backup_table]
    assert checksum(fetch(db, f"SELECT * FROM {qualified(db, 'orders')} ORDER BY id")) == orders
    views = _names(db, "view")
    assert {"items_by_category", "items_by_category_ids", "item_codes"} <= views
    assert "category_counts" not in views
    assert _names(db, "trigger") == {"items_keep"}
    indexes = _names(db, "index")
    assert "items_qty" in indexes and "items_category" not in indexes
    assert fetch(db, f"SELECT COUNT(*) FROM {qualified(db, 'items_by_category_ids')}")[0][0] == ROWS
    assert after["tables"] == sorted(["categories", "items", "orders", plan.backup_table])
    # The foreign keys that remain still hold: deleting an item cascades to its orders.
    run_sql(db, f"DELETE FROM {items} WHERE id = 1")
    assert fetch(db, f"SELECT COUNT(*) FROM {qualified(db, 'orders')}")[0][0] == 49


@on_every_backend
@pytest.mark.parametrize("stage", list(RemovalStage))
def test_a_failure_after_any_stage_leaves_schema_and_data_exactly_as_before(
    db: DataFlow, stage: RemovalStage
) -> None:
    build(db)
    before = snapshot(db)
    plan = plan_of(db, "items", "category_id")

    def fail(done: RemovalStage) -> None:
        if done is stage:
            raise Injected(f"injected after {done.value}")

    with pytest.raises(MigrationError) as caught:
        execute(db, plan, on_stage=fail)
    error = caught.value
    assert error.code == "DF-MIGRATION-REMOVAL-FAILED", error
    assert isinstance(error.__cause__, Injected)
    assert error.details["stage"] == stage.value and error.details["rolled_back"] is True
    assert error.details["how"] == ("compensation" if db.dialect.name == "mysql" else "transaction")
    after = snapshot(db)
    assert backup_tables(db) == []
    assert after == before
    if db.dialect.name == "sqlite":  # the rebuild's settings are restored too
        assert fetch(db, "PRAGMA foreign_keys") == [(1,)]
        assert fetch(db, "PRAGMA legacy_alter_table") == [(0,)]
    # Still usable: the same plan runs once nothing is injected.
    assert execute(db, plan).stages_completed == tuple(RemovalStage)


@on_every_backend
def test_a_plain_indexed_column_without_keeping_the_backup(db: DataFlow) -> None:
    build(db)
    plan = plan_of(db, "items", "qty")
    assert plan.table_rebuild is False  # SQLite drops it with ALTER TABLE once its index is gone
    # MySQL's items_keep sets NEW.qty: it goes too (elsewhere it does not mention qty).
    uses_qty = {"items_keep"} if db.dialect.name == "mysql" else set()
    assert {o.name for o in plan.objects} == {"items_qty", *uses_qty}
    assert plan.stage(RemovalStage.CONSTRAINTS).steps == ()
    result = execute(db, plan, keep_backup=False)
    assert result.backup_table is None and backup_tables(db) == []
    assert "qty" not in [c[0] for c in _columns(db, "items")]
    assert "items_qty" not in _names(db, "index")
    assert _names(db, "trigger") == {"items_keep", "items_category_guard"} - uses_qty


@pytest.mark.parametrize("backend", ["mysql"])
def test_a_compensation_that_fails_is_reported_and_keeps_the_backup(
    db: DataFlow, db_url: str
) -> None:
    build(db)
    plan = plan_of(db, "items", "category_id")
    database = parse_url(db_url).database

    def sabotage(done: RemovalStage) -> None:
        if done is RemovalStage.INDEXES:
            # Another session takes the name of a dropped view: recreating it must fail.
            mysql_admin(f"CREATE VIEW `{database}`.category_counts AS SELECT 1 AS n")
            raise Injected("injected after indexes")

    with pytest.raises(MigrationError) as caught:
        execute(db, plan, on_stage=sabotage)
    error = caught.value
    assert error.code == "DF-MIGRATION-REMOVAL-ROLLBACK-FAILED"
    assert isinstance(error.__cause__, Injected) and error.details["stage"] == "indexes"
    (failed,) = error.details["failed"]
    assert "category_counts" in failed["statement"] and "restore by hand" in error.message
    # Everything else was undone; the values stay in the backup until someone looks.
    assert error.details["backup_table"] == plan.backup_table
    assert backup_tables(db) == [plan.backup_table]
    assert "category_id" in [c[0] for c in _columns(db, "items")]
    assert {"items_category", "items_category_code"} <= _names(db, "index")
    assert "items_by_category_ids" in _names(db, "view")


@pytest.mark.parametrize("backend", ["sqlite-file", "postgresql"])
def test_what_is_refused_and_why(db: DataFlow, db_url: str) -> None:
    build(db)
    guarded = DataFlow(db_url, existing_schema_mode=True)
    try:
        with pytest.raises(MigrationError) as caught:
            ColumnRemovalManager(guarded)
        assert caught.value.code == "DF-MIGRATION-DDL-REFUSED"
        assert "existing_schema_mode" in caught.value.message
    finally:
        guarded.close()

    def refused(table: str, column: str, **options: Any) -> MigrationError:
        with pytest.raises(MigrationError) as caught:
            plan_of(db, table, column, **options)
        return caught.value

    assert refused("items", "id").code == "DF-MIGRATION-REMOVAL-UNSUPPORTED"
    assert refused("items", "nope").code == "DF-MIGRATION-REMOVAL-NOT-FOUND"
    assert refused("nope", "x").code == "DF-MIGRATION-REMOVAL-NOT-FOUND"
    assert refused("item_codes", "code").code == "DF-MIGRATION-REMOVAL-NOT-FOUND"  # a view
    error = refused(
        "items", "category_id", replacements={"item_codes": "CREATE VIEW x AS SELECT 1"}
    )
    assert error.code == "DF-MIGRATION-REMOVAL-REPLACEMENT" and "item_codes" in error.message
    run_sql(db, "CREATE TABLE tags (id int PRIMARY KEY, label varchar(20) NOT NULL UNIQUE)")
    run_sql(
        db,
        "CREATE TABLE tagged (id int PRIMARY KEY, label varchar(20) REFERENCES tags (label))",
    )
    error = refused("tags", "label")
    assert error.code == "DF-MIGRATION-REMOVAL-UNSUPPORTED" and "tagged" in error.message
    run_sql(db, "CREATE TABLE loose (a int, b int)")
    assert refused("loose", "b").code == "DF-MIGRATION-REMOVAL-UNSUPPORTED"

    # A plan is checked against the database before it runs.
    plan = plan_of(db, "items", "note")
    run_sql(db, "CREATE INDEX items_note ON items (note)")
    with pytest.raises(MigrationError) as caught:
        execute(db, plan)
    assert caught.value.code == "DF-MIGRATION-REMOVAL-STALE-PLAN"
    assert "note" in [c[0] for c in _columns(db, "items")]


# -- helpers reading the catalogs ------------------------------------------------------------


def _columns(db: DataFlow, table: str) -> list[tuple[str, ...]]:
    name, schema = db.dialect.name, db.dialect.schema
    if name == "sqlite":
        return [(str(r[1]),) for r in fetch(db, f'PRAGMA table_info("{table}")')]
    where = f"table_schema = '{schema}'" if name == "postgresql" else "table_schema = DATABASE()"
    sql = (
        "SELECT column_name FROM information_schema.columns"
        f" WHERE {where} AND table_name = '{table}' ORDER BY ordinal_position"
    )
    return [(str(r[0]),) for r in fetch(db, sql)]


def _names(db: DataFlow, kind: str) -> set[str]:
    name, schema = db.dialect.name, db.dialect.schema
    if name == "sqlite":
        sql = f"SELECT name FROM sqlite_schema WHERE type = '{kind}'"
    elif name == "postgresql":
        sql = {
            "view": f"SELECT viewname FROM pg_views WHERE schemaname = '{schema}'",
            "index": f"SELECT indexname FROM pg_indexes WHERE schemaname = '{schema}'",
            "trigger": "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            f" WHERE NOT tgisinternal AND c.relnamespace = '{schema}'::regnamespace",
        }[kind]
    else:
        sql = {
            "view": "SELECT TABLE_NAME FROM information_schema.VIEWS"
            " WHERE TABLE_SCHEMA = DATABASE()",
            "index": "SELECT INDEX_NAME FROM information_schema.STATISTICS"
            " WHERE TABLE_SCHEMA = DATABASE()",
            "trigger": "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS"
            " WHERE TRIGGER_SCHEMA = DATABASE()",
        }[kind]
    return {str(r[0]) for r in fetch(db, sql)}


# -- the pure parts ---------------------------------------------------------------------------


def test_backup_names_fit_the_database() -> None:
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert backup_table_name("items", "qty", when, limit=63) == (
        "_dataflow_backup_items_qty_20250102030405"
    )

    def utf8(name: str) -> int:
        return len(name.encode())

    long = backup_table_name("ä" * 40, "column_" * 8, when, limit=63, length=utf8)
    assert (
        utf8(long) <= 63
        and long.startswith("_dataflow_backup_ä")
        and long.endswith("_20250102030405")
    )
    other = backup_table_name("ä" * 40, "column_" * 9, when, limit=63, length=utf8)
    assert other != long  # the hash tells them apart
    assert len(backup_table_name("t" * 64, "c", when, limit=64)) == 64


def test_sqlite_table_text_is_cut_precisely() -> None:
    sql = (
        "CREATE TABLE t (\n  id INTEGER PRIMARY KEY, -- the key\n  a int NOT NULL,\n"
        "  b text DEFAULT 'x,y' CHECK (b <> ''),\n  CONSTRAINT u UNIQUE (a, b),\n"
        "  CHECK (a > 0)\n) STRICT"
    )
    items, without_rowid = table_items(sql)
    assert [i.column for i in items] == ["id", "a", "b", None, None]
    assert not without_rowid and items[2].expressions == ("b <> ''",)
    assert without_items(sql, items, [items[1], items[3], items[4]]) == (
        "CREATE TABLE t (\n  id INTEGER PRIMARY KEY, -- the key\n"
        "  b text DEFAULT 'x,y' CHECK (b <> '')\n) STRICT"
    )
    assert without_items(sql, items, [items[2]]).count("b text") == 0


def test_views_are_dropped_readers_first() -> None:
    def view(name: str, uses: bool, *reads: str) -> _View:
        return _View((None, name), name, "view", uses, frozenset((None, r) for r in reads))

    views = [
        view("base", True, "t"),
        view("over", False, "base"),
        view("over_over", False, "over", "t"),
        view("unrelated", False, "t"),
    ]
    order = [v.label for v in drop_order(views)]
    assert order == ["over_over", "over", "base"]


def test_view_queries_are_read_for_the_column() -> None:
    def uses(sql: str) -> bool:
        return query_uses_column(sql, "sqlite", True, "items", "qty")

    assert uses("CREATE VIEW v AS SELECT i.qty FROM items AS i")
    assert uses("CREATE VIEW v AS SELECT id FROM items WHERE qty > 1")
    assert not uses("CREATE VIEW v AS SELECT id, code FROM items")
    assert not uses("CREATE VIEW v AS SELECT * FROM items")  # SQLite expands it when read
    assert not uses("CREATE VIEW v AS SELECT o.qty FROM items i JOIN orders o ON o.id = i.id")
    assert not uses("CREATE VIEW v AS SELECT qty FROM orders")
    mariadb = "select `s`.`items`.`id` AS `id`,`s`.`items`.`qty` AS `qty` from `s`.`items`"
    assert query_uses_column(mariadb, "mysql", False, "items", "qty")
