"""ForeignKeyAnalyzer on real databases: a chain customers <- orders <- order_lines (ON
DELETE CASCADE), invoices (SET NULL), payments (NO ACTION) and a self-referencing
employees table, with real rows. Every figure the analyzer gives is checked against the
database: counted with SELECT count(*), or by running the statement and comparing."""

from __future__ import annotations

from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from dataflow_engine import DataFlow, _loop
from dataflow_engine.errors import DataFlowError, IntegrityError, ValidationError
from dataflow_engine.migrations import (
    AddForeignKeyPlan,
    FKImpact,
    ForeignKeyAnalyzer,
    Operation,
    OperationKind,
)
from dataflow_engine.migrations._fk import (
    KeyType,
    mysql_type_mismatch,
    run_steps,
    sqlite_affinity,
    with_constraint,
)

from .sql import fetch, insert_rows, qualified, run_sql
from .test_facts import analyze

BACKENDS = ["sqlite-file", "postgresql", "mysql"]
T = TypeVar("T")


def sync(coro: Coroutine[Any, Any, T]) -> T:
    return _loop.run_sync(coro)


def key(db: DataFlow) -> str:
    return {
        "postgresql": "id int PRIMARY KEY",
        "mysql": "id int PRIMARY KEY",
        "sqlite": "id INTEGER PRIMARY KEY",
    }[db.dialect.name]


def shop(db: DataFlow) -> None:
    """The schema and its rows: customer c has c orders, each order two lines; one
    invoice per customer plus one without; payments only for customer 5's orders; an
    employee tree 1 <- (2, 3), 2 <- (4, 5), 4 <- 6."""
    pk = key(db)
    run_sql(
        db,
        f"CREATE TABLE customers ({pk}, name varchar(40) NOT NULL)",
        f"CREATE TABLE orders ({pk}, customer_id int NOT NULL, note varchar(40),"
        " CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id)"
        " REFERENCES customers (id) ON DELETE CASCADE)",
        f"CREATE TABLE order_lines ({pk}, order_id int,"
        " CONSTRAINT lines_order_fk FOREIGN KEY (order_id) REFERENCES orders (id)"
        " ON DELETE CASCADE)",
        f"CREATE TABLE invoices ({pk}, customer_id int,"
        " CONSTRAINT invoices_customer_fk FOREIGN KEY (customer_id)"
        " REFERENCES customers (id) ON DELETE SET NULL)",
        f"CREATE TABLE payments ({pk}, order_id int NOT NULL,"
        " CONSTRAINT payments_order_fk FOREIGN KEY (order_id) REFERENCES orders (id))",
        f"CREATE TABLE employees ({pk}, manager_id int,"
        " CONSTRAINT employees_manager_fk FOREIGN KEY (manager_id)"
        " REFERENCES employees (id) ON DELETE CASCADE)",
    )
    insert_rows(db, "customers", "id, name", [(c, f"c{c}") for c in range(1, 6)])
    orders = [(c * 10 + i, c) for c in range(1, 6) for i in range(c)]
    insert_rows(db, "orders", "id, customer_id", orders)
    lines = [(o * 10 + j, o) for o, _ in orders for j in range(2)]
    insert_rows(db, "order_lines", "id, order_id", lines)
    invoices = [(c, c) for c in range(1, 6)] + [(99, None)]
    insert_rows(db, "invoices", "id, customer_id", invoices)
    payments = [(i, o) for i, (o, c) in enumerate(orders) if c == 5]
    insert_rows(db, "payments", "id, order_id", payments)
    tree = [(1, None), (2, 1), (3, 1), (4, 2), (5, 2), (6, 4)]
    for row in tree:  # parents first
        insert_rows(db, "employees", "id, manager_id", [row])


def count(db: DataFlow, table: str, where: str = "") -> int:
    return int(fetch(db, f"SELECT count(*) FROM {qualified(db, table)} {where}")[0][0])


def counts(db: DataFlow) -> dict[str, int]:
    tables = ["customers", "orders", "order_lines", "invoices", "payments", "employees"]
    return {t: count(db, t) for t in tables}


def effects(impact: FKImpact) -> dict[str | None, str]:
    return {e.foreign_key.name: e.outcome for e in impact.effects}


@pytest.fixture
def db(db_url: str) -> Iterator[DataFlow]:
    instance = DataFlow(db_url)
    shop(instance)
    yield instance
    instance.close()


@pytest.fixture
def fks(db: DataFlow) -> ForeignKeyAnalyzer:
    return ForeignKeyAnalyzer(db)


# -- the keys and their referencing rows ---------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_keys_in_both_directions_with_actions_and_real_row_counts(
    db: DataFlow, fks: ForeignKeyAnalyzer
) -> None:
    impact = sync(fks.analyze_foreign_key_impact("orders", "drop_table"))
    inbound = {fk.name: fk for fk in impact.foreign_keys_in}
    assert set(inbound) == {"lines_order_fk", "payments_order_fk"}
    assert inbound["lines_order_fk"].on_delete == "CASCADE"
    assert inbound["payments_order_fk"].on_delete in ("NO ACTION", "RESTRICT")
    assert inbound["lines_order_fk"].rows == count(db, "order_lines") == 30
    assert inbound["payments_order_fk"].rows == count(db, "payments") == 5
    assert all(fk.rows_exact for fk in impact.foreign_keys_in)
    (out,) = impact.foreign_keys_out
    assert (out.name, out.ref_table, out.columns) == (
        "orders_customer_fk",
        "customers",
        ("customer_id",),
    )
    assert out.on_delete == "CASCADE"
    column = sync(fks.analyze_foreign_key_impact("customers", "rename_column", "name"))
    assert column.foreign_keys_in == [] and column.effects == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_delete_reaches_every_table_of_the_cascade_as_the_database_does(
    db: DataFlow, fks: ForeignKeyAnalyzer
) -> None:
    impact = sync(fks.analyze_foreign_key_impact("customers", "delete_rows", where="id IN (1, 2)"))
    assert not impact.breaks
    assert impact.rows_by_table("CASCADE") == {"orders": 3, "order_lines": 6}
    assert impact.rows_by_table("SET NULL") == {"invoices": 2}
    assert impact.rows_by_table("DELETE") == {"customers": 2}
    assert all(r.exact for r in impact.cascade)
    assert {r.table: r.depth for r in impact.cascade if r.action == "CASCADE"} == {
        "orders": 1,
        "order_lines": 2,
    }
    assert effects(impact)["orders_customer_fk"] == "cascades"
    assert effects(impact)["invoices_customer_fk"] == "sets-null"
    # the figures are what the database does
    before = counts(db)
    run_sql(db, "DELETE FROM customers WHERE id IN (1, 2)")
    after = counts(db)
    gone = {t: before[t] - after[t] for t in before if before[t] != after[t]}
    assert gone == {"customers": 2, "orders": 3, "order_lines": 6}
    assert count(db, "invoices", "WHERE customer_id IS NULL") == 1 + 2
    assert impact.deleted_rows == sum(gone.values())


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_self_reference_cascades_down_the_whole_tree(
    db: DataFlow, fks: ForeignKeyAnalyzer
) -> None:
    impact = sync(fks.analyze_foreign_key_impact("employees", "delete_rows", where="id = 2"))
    reached = [(r.action, r.rows, r.depth) for r in impact.cascade]
    assert reached == [("DELETE", 1, 0), ("CASCADE", 2, 1), ("CASCADE", 1, 2)]
    assert impact.rows_by_table() == {"employees": 4}
    before = count(db, "employees")
    run_sql(db, "DELETE FROM employees WHERE id = 2")
    assert before - count(db, "employees") == impact.deleted_rows == 4


@pytest.mark.parametrize("backend", BACKENDS)
def test_referencing_rows_without_an_action_block_the_delete(
    db: DataFlow, fks: ForeignKeyAnalyzer
) -> None:
    impact = sync(fks.analyze_foreign_key_impact("customers", "delete_rows", where="id = 5"))
    assert impact.breaks
    (blocked,) = impact.breaking
    assert blocked.foreign_key.name == "payments_order_fk" and blocked.outcome == "blocks"
    assert blocked.direction == "chain"  # payments -> orders, one key down the cascade
    assert "5 rows of payments" in blocked.message
    assert impact.rows_by_table("CASCADE") == {"orders": 5, "order_lines": 10}
    with pytest.raises(IntegrityError):
        run_sql(db, "DELETE FROM customers WHERE id = 5")
    fine = sync(fks.analyze_foreign_key_impact("customers", "DELETE FROM customers WHERE id = 4"))
    assert not fine.breaks and fine.deleted_rows == 1 + 4 + 8


@pytest.mark.parametrize("backend", BACKENDS)
def test_large_tables_are_estimated_not_walked(db: DataFlow) -> None:
    for table in ("customers", "orders", "order_lines", "invoices", "payments"):
        analyze(db, table)
    fks = ForeignKeyAnalyzer(db, count_rows_below=0)
    impact = sync(fks.analyze_foreign_key_impact("customers", "delete_rows", where="id = 1"))
    assert impact.cascade and not any(r.exact for r in impact.cascade)
    assert {r.table for r in impact.cascade} == {
        "customers",
        "orders",
        "order_lines",
        "invoices",
        "payments",
    }
    assert any("upper bound" in n for n in impact.notes)
    if db.dialect.name != "mysql":  # InnoDB samples its statistics
        assert impact.rows_by_table("CASCADE")["order_lines"] == count(db, "order_lines")


# -- what breaks, checked by running the statement -----------------------------------------


def fails(db: DataFlow, sql: str) -> bool:
    try:
        run_sql(db, sql)
    except DataFlowError:
        return True
    return False


@pytest.mark.parametrize("backend", BACKENDS)
def test_dropping_a_referenced_table_is_what_each_database_does(
    db: DataFlow, fks: ForeignKeyAnalyzer
) -> None:
    impact = sync(fks.analyze_foreign_key_impact("orders", "drop_table"))
    assert impact.breaks
    expected = {"lines_order_fk": "fails", "payments_order_fk": "fails"}
    if db.dialect.name == "sqlite":
        # the implicit DELETE cascades into order_lines, payments block it
        expected["lines_order_fk"] = "dangles"
        assert impact.rows_by_table("CASCADE") == {"order_lines": 30}
        assert impact.rows_by_table("NO ACTION") == {"payments": 5}
    assert effects(impact) == {**expected, "orders_customer_fk": "drops"}
    assert [fk.name for fk in impact.drop_order] == (
        [] if db.dialect.name == "sqlite" else ["lines_order_fk", "payments_order_fk"]
    )
    assert fails(db, "DROP TABLE orders")
    # without payments: SQLite deletes the lines and leaves their key dangling
    run_sql(db, "DROP TABLE payments")
    impact = sync(fks.analyze_foreign_key_impact("orders", "drop_table"))
    if db.dialect.name == "sqlite":
        assert effects(impact)["lines_order_fk"] == "dangles"
        run_sql(db, "DROP TABLE orders")
        assert count(db, "order_lines") == 0
        assert fails(db, "INSERT INTO order_lines (id, order_id) VALUES (1, NULL)")
    else:
        assert effects(impact)["lines_order_fk"] == "fails"
        for step in impact.steps:  # drop the keys first, as the impact says
            run_sql(db, step.sql)
        run_sql(db, "DROP TABLE orders")
        assert count(db, "order_lines") == 30


@pytest.mark.parametrize("backend", BACKENDS)
def test_dropping_or_retyping_a_referenced_column(db: DataFlow, fks: ForeignKeyAnalyzer) -> None:
    dropped = sync(fks.analyze_foreign_key_impact("customers", "drop_column", "id"))
    assert effects(dropped) == {"orders_customer_fk": "fails", "invoices_customer_fk": "fails"}
    assert fails(db, "ALTER TABLE customers DROP COLUMN id")

    retype = sync(
        fks.analyze_foreign_key_impact("customers", "alter_column_type", "id", data_type="bigint")
    )
    # InnoDB needs int -> int: the change and the key's types both fail there
    outcome = {"postgresql": "follows", "mysql": "mismatch", "sqlite": "follows"}[db.dialect.name]
    assert set(effects(retype).values()) == {outcome}
    if db.dialect.name == "mysql":
        assert fails(db, "ALTER TABLE customers MODIFY id bigint NOT NULL")
        names = [fk.name for fk in retype.drop_order]
        assert set(names) == {"invoices_customer_fk", "orders_customer_fk"}
        assert [fk.name for fk in retype.recreate_order] == names[::-1]
        sync(_run(db, retype))
        types = fetch(
            db,
            "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS"
            " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('customers', 'orders',"
            " 'invoices') AND COLUMN_NAME IN ('id', 'customer_id')",
        )
        assert {(str(t), str(c)): str(d) for t, c, d in types} == {
            ("customers", "id"): "bigint",
            ("orders", "id"): "int",
            ("orders", "customer_id"): "bigint",
            ("invoices", "id"): "int",
            ("invoices", "customer_id"): "bigint",
        }
        after = sync(fks.analyze_foreign_key_impact("customers", "drop_table"))
        assert {fk.name for fk in after.foreign_keys_in} == set(names)
    elif db.dialect.name == "postgresql":
        run_sql(db, "ALTER TABLE customers ALTER COLUMN id TYPE bigint")
        text = sync(
            fks.analyze_foreign_key_impact(
                "customers",
                Operation(
                    OperationKind.ALTER_COLUMN_TYPE, "customers", column_name="id", data_type="text"
                ),
            )
        )
        assert set(effects(text).values()) == {"mismatch"}
        assert fails(db, "ALTER TABLE customers ALTER COLUMN id TYPE text USING id::text")
        sync(_run(db, text))  # drop, change every tied column, add back: runs
        assert count(db, "orders", "WHERE customer_id = '3'") == 3
        assert fails(db, "INSERT INTO orders (id, customer_id) VALUES (999, '42')")
    own = sync(fks.analyze_foreign_key_impact("orders", "drop_column", "customer_id"))
    expected = {"postgresql": "drops", "mysql": "fails", "sqlite": "fails"}[db.dialect.name]
    assert effects(own) == {"orders_customer_fk": expected}
    assert fails(db, "ALTER TABLE orders DROP COLUMN customer_id") == (expected == "fails")


async def _run(db: DataFlow, impact: FKImpact) -> None:
    async with db._adapter.acquire() as conn:
        await run_steps(conn, impact.steps, atomic=False)


@pytest.mark.parametrize("backend", BACKENDS)
def test_truncating_a_referenced_table(db: DataFlow, fks: ForeignKeyAnalyzer) -> None:
    impact = sync(fks.analyze_foreign_key_impact("orders", "truncate_table"))
    if db.dialect.name == "sqlite":
        # no TRUNCATE: a DELETE, whose actions fire (payments block it)
        assert effects(impact)["payments_order_fk"] == "blocks"
        assert effects(impact)["lines_order_fk"] == "cascades"
        return
    assert set(effects(impact).values()) == {"fails"}
    assert fails(db, "TRUNCATE TABLE orders")
    if db.dialect.name == "postgresql":
        cascade = sync(fks.analyze_foreign_key_impact("customers", "truncate_table", cascade=True))
        assert cascade.rows_by_table("TRUNCATE") == {
            "customers": 5,
            "orders": 15,
            "invoices": 6,
            "order_lines": 30,
            "payments": 5,
        }
        before = counts(db)
        run_sql(db, "TRUNCATE customers CASCADE")
        after = counts(db)
        assert {t: before[t] - after[t] for t in before if before[t] != after[t]} == (
            cascade.rows_by_table()
        )


@pytest.mark.parametrize("backend", BACKENDS)
def test_renames_keep_the_keys(db: DataFlow, fks: ForeignKeyAnalyzer) -> None:
    impact = sync(fks.analyze_foreign_key_impact("customers", "rename_column", "id"))
    assert set(effects(impact).values()) == {"follows"} and not impact.breaks
    run_sql(db, "ALTER TABLE customers RENAME COLUMN id TO cid")
    after = sync(fks.analyze_foreign_key_impact("customers", "drop_table"))
    assert {fk.ref_columns for fk in after.foreign_keys_in} == {("cid",)}
    assert fails(db, "INSERT INTO orders (id, customer_id) VALUES (998, 77)")


# -- orphans ---------------------------------------------------------------------------------


def add_orphans(db: DataFlow) -> None:
    """notes -> orders with three orphaned rows (two distinct keys) and a NULL, inserted
    past the key: SQLite with foreign_keys off, MySQL with FOREIGN_KEY_CHECKS=0,
    PostgreSQL by adding the key NOT VALID afterwards."""
    pk = key(db)
    rows = [(1, 10), (2, 7777), (3, 7777), (4, 8888), (5, None), (6, 21)]
    fk = "CONSTRAINT notes_order_fk FOREIGN KEY (order_id) REFERENCES orders (id)"
    if db.dialect.name == "postgresql":
        run_sql(db, f"CREATE TABLE notes ({pk}, order_id int)")
        insert_rows(db, "notes", "id, order_id", rows)
        run_sql(db, f"ALTER TABLE notes ADD {fk} NOT VALID")
        return
    run_sql(db, f"CREATE TABLE notes ({pk}, order_id int, {fk})")
    off, on = {
        "mysql": ("SET SESSION foreign_key_checks = 0", "SET SESSION foreign_key_checks = 1"),
        "sqlite": ("PRAGMA foreign_keys = OFF", "PRAGMA foreign_keys = ON"),
    }[db.dialect.name]
    mark = "%s" if db.dialect.name == "mysql" else "?"

    async def work() -> None:
        async with db._adapter.acquire() as conn:  # one connection: the setting is its own
            await conn.execute(off)
            try:
                await conn.executemany(
                    f"INSERT INTO notes (id, order_id) VALUES ({mark}, {mark})", rows
                )
            finally:
                await conn.execute(on)

    sync(work())


@pytest.mark.parametrize("backend", BACKENDS)
def test_orphans_are_found_exactly(db: DataFlow, fks: ForeignKeyAnalyzer) -> None:
    add_orphans(db)
    (report,) = sync(fks.find_orphans("notes"))
    assert report.foreign_key.name == "notes_order_fk"
    orders = qualified(db, "orders")
    expected = count(
        db, "notes", f"WHERE order_id IS NOT NULL AND order_id NOT IN (SELECT id FROM {orders})"
    )
    assert report.rows == expected == 3
    assert report.sample == [(7777,), (8888,)]
    assert report.validated is (False if db.dialect.name == "postgresql" else None)
    assert int(fetch(db, report.sql)[0][0]) == 3  # the query, to run again later
    assert sync(fks.find_orphans("orders"))[0].rows == 0
    assert sync(fks.find_orphans("no_such_table")) == []
    if db.dialect.name == "postgresql":
        assert fails(db, "ALTER TABLE notes VALIDATE CONSTRAINT notes_order_fk")
    with pytest.raises(ValidationError):
        sync(fks.find_orphans("notes", sample_size=-1))


# -- adding a key ----------------------------------------------------------------------------


def problems(plan: AddForeignKeyPlan) -> dict[str, bool]:
    return {p.code: p.blocking for p in plan.problems}


async def _apply(db: DataFlow, plan: AddForeignKeyPlan) -> None:
    async with db._adapter.acquire() as conn:
        await run_steps(conn, plan.steps, atomic=plan.atomic)


@pytest.mark.parametrize("backend", BACKENDS)
def test_plan_add_foreign_key_refuses_orphans_then_runs_safely(
    db: DataFlow, fks: ForeignKeyAnalyzer
) -> None:
    pk = key(db)
    run_sql(
        db,
        f"CREATE TABLE shipments ({pk}, order_id int, carrier varchar(20))",
        "CREATE INDEX shipments_carrier ON shipments (carrier)",
        "CREATE VIEW late_shipments AS SELECT id, order_id FROM shipments WHERE carrier = 'x'",
    )
    insert_rows(
        db, "shipments", "id, order_id, carrier", [(1, 10, "a"), (2, 21, "x"), (3, 4242, "b")]
    )
    plan = sync(fks.plan_add_foreign_key("shipments", "order_id", "orders", on_delete="cascade"))
    assert not plan.ready
    assert problems(plan) == {"orphans": True}
    assert plan.orphans is not None and plan.orphans.sample == [(4242,)]
    assert plan.ref_columns == ["id"] and plan.on_delete == "CASCADE"
    run_sql(db, "DELETE FROM shipments WHERE id = 3")
    plan = sync(fks.plan_add_foreign_key("shipments", ["order_id"], "orders", ["id"]))
    assert plan.ready and plan.problems == []
    sqls = [s.sql for s in plan.steps]
    if db.dialect.name == "postgresql":
        assert sqls[0].startswith("CREATE INDEX CONCURRENTLY") and not plan.steps[0].transactional
        assert sqls[1].endswith("NOT VALID") and "VALIDATE CONSTRAINT" in sqls[2]
        assert len(sqls) == 3
    elif db.dialect.name == "mysql":
        (only,) = sqls
        assert "ALGORITHM=COPY, LOCK=SHARED" in only
    else:
        assert sqls[0] == "PRAGMA foreign_keys = OFF" and plan.atomic
        assert any(s.startswith("INSERT INTO") for s in sqls)
        assert any("shipments_carrier" in s for s in sqls)  # the index comes back
        assert plan.steps[-3].check
    sync(_apply(db, plan))
    after = sync(fks.analyze_foreign_key_impact("shipments", "add_column"))
    assert [fk.name for fk in after.foreign_keys_out] == ["fk_shipments_order_id"]
    assert count(db, "shipments") == 2
    assert count(db, "late_shipments") == 1  # the view still reads the table
    assert fails(db, "INSERT INTO shipments (id, order_id) VALUES (9, 5555)")
    if db.dialect.name == "sqlite":
        assert fetch(db, "PRAGMA foreign_keys")[0][0] == 1
        indexes = {
            str(r[0]) for r in fetch(db, "SELECT name FROM sqlite_schema WHERE type = 'index'")
        }
        assert {"shipments_carrier", "ix_shipments_order_id"} <= indexes
    again = sync(fks.plan_add_foreign_key("shipments", "order_id", "orders"))
    assert problems(again)["already-exists"] is False
    assert problems(again)["name-taken"] is True


@pytest.mark.parametrize("backend", BACKENDS)
def test_plan_add_foreign_key_refuses_type_mismatch_and_non_unique_keys(
    db: DataFlow, fks: ForeignKeyAnalyzer
) -> None:
    pk = key(db)
    run_sql(
        db,
        f"CREATE TABLE refunds ({pk}, order_code varchar(10), customer_id bigint,"
        " note varchar(40) NOT NULL)",
    )
    plan = sync(fks.plan_add_foreign_key("refunds", "order_code", "orders", "id"))
    if db.dialect.name == "sqlite":
        # SQLite compares any affinities: a warning, not a refusal
        assert problems(plan) == {"affinity-mismatch": False}
        assert plan.ready
    else:
        assert problems(plan) == {"type-mismatch": True}
        assert not plan.ready
        assert fails(
            db,
            "ALTER TABLE refunds ADD CONSTRAINT x FOREIGN KEY (order_code) REFERENCES orders (id)",
        )
    widened = sync(fks.plan_add_foreign_key("refunds", "customer_id", "customers"))
    # PostgreSQL compares bigint with int; InnoDB needs the same integer size
    assert problems(widened) == ({"type-mismatch": True} if db.dialect.name == "mysql" else {})
    loose = sync(fks.plan_add_foreign_key("refunds", "note", "orders", "note"))
    assert problems(loose)["no-unique-key"] is True
    nulls = sync(
        fks.plan_add_foreign_key("refunds", "note", "customers", "name", on_delete="SET NULL")
    )
    assert {"no-unique-key", "set-null-not-null"} <= set(problems(nulls))
    missing = sync(fks.plan_add_foreign_key("refunds", "nope", "customers"))
    assert problems(missing) == {"column-missing": True}
    assert problems(sync(fks.plan_add_foreign_key("nothing", "a", "customers"))) == {
        "table-missing": True
    }
    with pytest.raises(ValidationError):
        sync(fks.plan_add_foreign_key("refunds", [], "customers"))
    with pytest.raises(ValidationError):
        sync(fks.plan_add_foreign_key("refunds", "customer_id", "customers", on_delete="BOOM"))


@pytest.mark.parametrize("backend", ["mysql"])
def test_mysql_character_sets_must_match(db: DataFlow, fks: ForeignKeyAnalyzer) -> None:
    run_sql(
        db,
        "CREATE TABLE codes (code varchar(10) PRIMARY KEY)",
        "CREATE TABLE uses (id int PRIMARY KEY, code varchar(20) CHARACTER SET latin1)",
    )
    plan = sync(fks.plan_add_foreign_key("uses", "code", "codes"))
    assert problems(plan) == {"charset-mismatch": True}
    assert fails(db, "ALTER TABLE uses ADD FOREIGN KEY (code) REFERENCES codes (code)")
    run_sql(db, "ALTER TABLE uses MODIFY code varchar(20) CHARACTER SET utf8mb4")
    collation = fetch(
        db,
        "SELECT COLLATION_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()"
        " AND TABLE_NAME = 'codes'",
    )[0][0]
    run_sql(db, f"ALTER TABLE uses MODIFY code varchar(20) COLLATE {collation}")
    assert sync(fks.plan_add_foreign_key("uses", "code", "codes")).ready


@pytest.mark.parametrize("backend", BACKENDS)
def test_arguments_are_checked(db: DataFlow, fks: ForeignKeyAnalyzer) -> None:
    op = Operation(OperationKind.DROP_TABLE, "orders")
    with pytest.raises(ValidationError):
        sync(fks.analyze_foreign_key_impact("orders", op, "id"))
    with pytest.raises(ValidationError):
        sync(fks.analyze_foreign_key_impact("orders", 42))  # type: ignore[arg-type]
    missing = sync(fks.analyze_foreign_key_impact("no_such_table", "drop_table"))
    assert not missing.exists and not missing.breaks
    as_dict = sync(fks.analyze_foreign_key_impact("orders", "drop_table")).to_dict()
    assert as_dict["breaks"] is True and as_dict["operation"] == "drop_table"


# -- pure parts ------------------------------------------------------------------------------


def test_mysql_key_type_rules() -> None:
    def t(base: str, **kw: Any) -> KeyType:
        return KeyType(text=base, base=base, **kw)

    assert mysql_type_mismatch(t("int"), t("int"), "mysql") is None
    assert mysql_type_mismatch(t("int"), t("bigint"), "mariadb")
    assert mysql_type_mismatch(t("int"), t("int", unsigned=True), "mysql")
    utf = {"charset": "utf8mb4", "collation": "utf8mb4_general_ci"}
    assert mysql_type_mismatch(t("char", **utf), t("varchar", **utf), "mysql") is None
    latin = {"charset": "latin1", "collation": "latin1_swedish_ci"}
    assert "character set" in str(
        mysql_type_mismatch(t("varchar", **latin), t("varchar", **utf), "mysql")
    )
    d1 = t("decimal", precision=10, scale=2)
    d2 = t("decimal", precision=12, scale=2)
    assert mysql_type_mismatch(d1, d2, "mariadb") is None
    assert mysql_type_mismatch(d1, d2, "mysql")


def test_sqlite_affinity_and_table_rebuild_text() -> None:
    assert [sqlite_affinity(t) for t in ("BIGINT", "varchar(9)", "", "DOUBLE", "DECIMAL")] == [
        "INTEGER",
        "TEXT",
        "BLOB",
        "REAL",
        "NUMERIC",
    ]
    sql = 'CREATE TABLE "a b" (id INTEGER PRIMARY KEY, x INT) STRICT'
    assert with_constraint(sql, '"new"', "FOREIGN KEY (x) REFERENCES p (id)") == (
        'CREATE TABLE "new" (id INTEGER PRIMARY KEY, x INT, FOREIGN KEY (x) REFERENCES p (id))'
        " STRICT"
    )
    assert with_constraint("CREATE TABLE t AS SELECT 1", '"n"', "x") is None
