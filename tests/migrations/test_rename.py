"""TableRenameAnalyzer on real databases: orders is read by two views, has a trigger and
keys both ways, is named by a trigger on another table (MySQL, SQLite) or a function
(PostgreSQL), by index and constraint names and by two applications' DataFlow models.
The analysis is compared with what the server does when the table is renamed."""

from __future__ import annotations

from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from dataflow_engine import DataFlow, _loop
from dataflow_engine.errors import DataFlowError, MigrationError, ValidationError
from dataflow_engine.migrations import (
    PlanStep,
    RenameImpact,
    RenamePlan,
    RiskLevel,
    TableRenameAnalyzer,
)
from dataflow_engine.migrations._rename import renamed_name

from .sql import fetch, insert_rows, qualified, run_sql

BACKENDS = ["sqlite-file", "postgresql", "mysql"]
T = TypeVar("T")


def sync(coro: Coroutine[Any, Any, T]) -> T:
    return _loop.run_sync(coro)


def schema(db: DataFlow) -> None:
    name = db.dialect.name
    auto = {
        "postgresql": "id serial PRIMARY KEY",
        "mysql": "id int AUTO_INCREMENT PRIMARY KEY",
        "sqlite": "id INTEGER PRIMARY KEY",
    }[name]
    run_sql(
        db,
        f"CREATE TABLE customers ({auto}, name varchar(40))",
        f"CREATE TABLE orders ({auto}, customer_id int NOT NULL, note varchar(40),"
        " CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id)"
        " ON DELETE CASCADE)",
        "CREATE INDEX orders_note_idx ON orders (note)",
        f"CREATE TABLE order_lines ({auto}, order_id int,"
        " CONSTRAINT order_lines_orders_fk FOREIGN KEY (order_id) REFERENCES orders (id))",
        f"CREATE TABLE audit ({auto}, n int)",
        "CREATE VIEW open_orders AS SELECT id, note FROM orders WHERE note <> 'closed'",
        "CREATE VIEW open_order_ids AS SELECT id FROM open_orders",
    )
    if name == "postgresql":
        run_sql(
            db,
            "CREATE FUNCTION orders_audit() RETURNS trigger LANGUAGE plpgsql"
            " SET search_path FROM CURRENT"
            " AS $$ BEGIN INSERT INTO audit (n) VALUES (NEW.id); RETURN NEW; END $$",
            "CREATE TRIGGER orders_audit AFTER INSERT ON orders"
            " FOR EACH ROW EXECUTE FUNCTION orders_audit()",
            "CREATE FUNCTION count_orders() RETURNS bigint LANGUAGE plpgsql"
            " SET search_path FROM CURRENT"
            " AS $$ BEGIN RETURN (SELECT count(*) FROM orders); END $$",
        )
    elif name == "mysql":
        run_sql(
            db,
            "CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW"
            " INSERT INTO audit (n) VALUES (NEW.id)",
            "CREATE TRIGGER customers_audit AFTER INSERT ON customers FOR EACH ROW"
            " INSERT INTO audit (n) SELECT COUNT(*) FROM orders",
        )
    else:
        run_sql(
            db,
            "CREATE TRIGGER orders_audit AFTER INSERT ON orders"
            " BEGIN INSERT INTO audit (n) VALUES (NEW.id); END",
            "CREATE TRIGGER customers_audit AFTER INSERT ON customers"
            " BEGIN INSERT INTO audit (n) SELECT count(*) FROM orders; END",
        )
    insert_rows(db, "customers", "id, name", [(1, "ann"), (2, "bob")])
    insert_rows(db, "orders", "id, customer_id, note", [(1, 1, "a"), (2, 1, "closed"), (3, 2, "b")])
    insert_rows(db, "order_lines", "id, order_id", [(1, 1), (2, 3)])


@pytest.fixture
def db(db_url: str) -> Iterator[DataFlow]:
    instance = DataFlow(db_url)
    schema(instance)
    yield instance
    instance.close()


@pytest.fixture
def renames(db: DataFlow) -> TableRenameAnalyzer:
    return TableRenameAnalyzer(db)


def by_name(deps: list[Any]) -> dict[str, str]:
    return {d.name: d.outcome for d in deps}


def count(db: DataFlow, table: str, where: str = "") -> int:
    return int(fetch(db, f"SELECT count(*) FROM {qualified(db, table)} {where}")[0][0])


def works(db: DataFlow, sql: str) -> bool:
    try:
        run_sql(db, sql)
    except DataFlowError:
        return False
    return True


def reads(db: DataFlow, table: str) -> bool:
    try:
        count(db, table)
    except DataFlowError:
        return False
    return True


# -- the analysis --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_impact_lists_everything_that_names_the_table(
    db: DataFlow, db_url: str, renames: TableRenameAnalyzer
) -> None:
    db.register_schema_as_models(tables=["orders"])
    other = DataFlow(db_url, application_id="billing")
    try:
        other.register_schema_as_models(tables=["orders", "customers"])
    finally:
        other.close()
    impact = sync(renames.analyze_table_rename("orders", "purchases"))
    dialect = db.dialect.name
    assert (impact.exists, impact.target_exists, impact.rows) == (True, False, 3)

    keys = {(d.name, d.direction): d.outcome for d in impact.foreign_keys}
    into = {"postgresql": "follows", "mysql": "rewritten", "sqlite": "rewritten"}[dialect]
    assert keys == {("order_lines_orders_fk", "in"): into, ("orders_customer_fk", "out"): "moves"}

    behaviour = {"postgresql": "follow", "mysql": "break", "sqlite": "rewrite"}[dialect]
    assert impact.view_behaviour == behaviour
    view = {"follow": "follows", "break": "breaks", "rewrite": "rewritten"}[behaviour]
    assert by_name(impact.views) == {"open_orders": view, "open_order_ids": view}
    definition = {v.name: v.definition or "" for v in impact.views}["open_orders"]
    assert "orders" in definition and "closed" in definition

    triggers = by_name(impact.triggers)
    assert triggers["orders_audit"] == "moves"
    if dialect == "postgresql":
        assert by_name(impact.routines) == {"count_orders (function)": "breaks"}
        (sequence,) = impact.sequences
        assert (sequence.name, sequence.outcome) == ("orders_id_seq", "follows")
    else:
        assert triggers["customers_audit"] == ("breaks" if dialect == "mysql" else "rewritten")
        assert impact.routines == [] and impact.sequences == []

    names = {d.name: d for d in impact.names}
    assert names["orders_note_idx"].new_name == "purchases_note_idx"
    assert names["order_lines_orders_fk"].new_name == "order_lines_purchases_fk"
    assert names["orders_customer_fk"].new_name == "purchases_customer_fk"
    assert all(d.outcome in ("cosmetic", "renamed") for d in impact.names)
    if dialect == "postgresql":
        assert {"orders_pkey", "orders_id_seq"} <= set(names)
        assert all(d.rename_sql for d in impact.names)
    if dialect == "mysql":
        assert names["orders_note_idx"].rename_sql and not names["orders_customer_fk"].rename_sql

    models = {(d.application_id, d.name) for d in impact.models}
    assert models == {(db.application_id, "Order"), ("billing", "Order")}
    assert all(d.outcome == "breaks" for d in impact.models)

    expected = RiskLevel.MEDIUM if dialect == "sqlite" else RiskLevel.HIGH
    assert impact.risk_level is expected, impact.risks
    assert impact.to_dict()["dependents"]

    taken = sync(renames.analyze_table_rename("orders", "customers"))
    assert taken.target_exists and taken.target_kind == "table"
    assert taken.risk_level is RiskLevel.CRITICAL
    if dialect == "postgresql":  # an index holds the name: relations share a namespace
        clash = sync(renames.analyze_table_rename("orders", "orders_note_idx"))
        assert clash.target_exists and clash.target_kind == "index"
    missing = sync(renames.analyze_table_rename("nothing_here", "x"))
    assert not missing.exists and missing.risk_level is RiskLevel.CRITICAL


# -- running it: the analysis against the server ------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_bare_rename_does_to_views_keys_and_triggers_what_the_analysis_said(
    db: DataFlow, renames: TableRenameAnalyzer
) -> None:
    plan = sync(renames.plan_table_rename("orders", "purchases", compatibility_view=False))
    impact = plan.impact
    assert [s.sql.split()[0] for s in plan.steps] == [
        "RENAME" if db.dialect.name == "mysql" else "ALTER"
    ]
    result = sync(renames.execute_table_rename(plan))
    assert result.transactional is (db.dialect.name != "mysql")
    assert count(db, "purchases") == 3 and not reads(db, "orders")

    # views: readable exactly where the analysis said they would be
    for view in impact.views:
        assert reads(db, view.name) is (view.outcome != "breaks"), view
    # keys: still enforced, now against purchases
    assert not works(db, "INSERT INTO order_lines (id, order_id) VALUES (50, 999)")
    assert works(db, "INSERT INTO order_lines (id, order_id) VALUES (51, 3)")
    # the trigger on the table moved with it
    before = count(db, "audit")
    run_sql(db, "INSERT INTO purchases (id, customer_id, note) VALUES (10, 1, 'x')")
    assert count(db, "audit") == before + 1
    # what names the table elsewhere
    for trigger in impact.triggers:
        if trigger.name == "customers_audit":
            fired = works(db, "INSERT INTO customers (id, name) VALUES (9, 'cy')")
            assert fired is (trigger.outcome != "breaks")
    if db.dialect.name == "postgresql":
        assert not reads(db, "(SELECT count_orders()) AS x")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_compatibility_view_keeps_the_old_name_working(
    db: DataFlow, renames: TableRenameAnalyzer
) -> None:
    plan = sync(renames.plan_table_rename("orders", "purchases"))
    assert plan.ready and plan.compatibility_view == "orders"
    assert plan.view_writable is (db.dialect.name != "sqlite")
    assert plan.steps[-1].sql.startswith("CREATE VIEW")
    assert [s.sql for s in plan.cleanup] == [plan.steps[-1].undo]
    if db.dialect.name == "sqlite":
        assert any("read-only" in n for n in plan.notes)
    sync(renames.execute_table_rename(plan))

    assert count(db, "orders") == count(db, "purchases") == 3  # old code reads on
    for view in ("open_orders", "open_order_ids"):  # MySQL's views read through it
        assert reads(db, view)
    if db.dialect.name == "postgresql":
        assert int(fetch(db, f"SELECT {qualified(db, 'count_orders')}()")[0][0]) == 3
    # writes through the old name: as plan.view_writable says
    audited = count(db, "audit")
    wrote = works(db, "INSERT INTO orders (id, customer_id, note) VALUES (20, 2, 'via view')")
    assert wrote is plan.view_writable
    assert count(db, "purchases", "WHERE note = 'via view'") == (1 if wrote else 0)
    if wrote:
        assert count(db, "audit") == audited + 1  # the table's trigger fired
    for step in plan.cleanup:
        run_sql(db, step.sql)
    assert not reads(db, "orders") and reads(db, "purchases")


@pytest.mark.parametrize("backend", BACKENDS)
def test_dependent_names_can_be_renamed_too(db: DataFlow, renames: TableRenameAnalyzer) -> None:
    plan = sync(
        renames.plan_table_rename(
            "orders", "purchases", compatibility_view=False, rename_dependents=True
        )
    )
    sync(renames.execute_table_rename(plan))
    after = sync(renames.analyze_table_rename("purchases", "orders"))
    names = {d.name for d in after.names}  # names embedding "purchases" now
    assert "purchases_note_idx" in names
    if db.dialect.name == "postgresql":
        assert [s.name for s in after.sequences] == ["purchases_id_seq"]
        run_sql(
            db,
            "SELECT setval('purchases_id_seq', 100)",
            "INSERT INTO purchases (customer_id, note) VALUES (1, 'seq')",  # the default
        )
        assert count(db, "purchases", "WHERE id = 101") == 1
    assert not any("orders" in d.name for d in after.names if d.outcome == "cosmetic") or (
        db.dialect.name != "postgresql"
    )
    assert count(db, "purchases", "WHERE note = 'a'") == 1


# -- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_execution_needs_ddl_a_clean_plan_and_unchanged_facts(
    db: DataFlow, db_url: str, renames: TableRenameAnalyzer
) -> None:
    guarded = DataFlow(db_url, existing_schema_mode=True)
    try:
        careful = TableRenameAnalyzer(guarded)
        plan = sync(careful.plan_table_rename("orders", "purchases"))  # reading is fine
        assert plan.ready
        with pytest.raises(MigrationError) as info:
            sync(careful.execute_table_rename(plan))
        assert info.value.code == "DF-MIGRATION-DDL-REFUSED"
    finally:
        guarded.close()
    assert reads(db, "orders")

    blocked = sync(renames.plan_table_rename("orders", "customers"))
    assert not blocked.ready and blocked.steps == []
    assert [p.code for p in blocked.problems] == ["target-exists"]
    with pytest.raises(MigrationError) as info:
        sync(renames.execute_table_rename(blocked))
    assert info.value.code == "DF-MIGRATION-PLAN-BLOCKED"

    stale = sync(renames.plan_table_rename("orders", "purchases"))
    run_sql(db, "CREATE TABLE purchases (id int)")
    with pytest.raises(MigrationError) as info:
        sync(renames.execute_table_rename(stale))
    assert info.value.code == "DF-MIGRATION-PLAN-STALE"

    with pytest.raises(ValidationError):
        sync(renames.analyze_table_rename("orders", "elsewhere.purchases"))
    with pytest.raises(ValidationError):
        sync(renames.analyze_table_rename("orders", ""))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_failing_step_leaves_the_table_as_it_was(
    db: DataFlow, renames: TableRenameAnalyzer
) -> None:
    plan = sync(renames.plan_table_rename("orders", "purchases", compatibility_view=False))
    broken = RenamePlan(
        impact=plan.impact,
        steps=[*plan.steps, PlanStep(f"CREATE TABLE {qualified(db, 'purchases')} (x int)", "x")],
        atomic=plan.atomic,
    )
    with pytest.raises(MigrationError) as info:
        sync(renames.execute_table_rename(broken))
    assert info.value.code == "DF-MIGRATION-RENAME-FAILED"
    # rolled back (PostgreSQL, SQLite) or undone step by step (MySQL)
    assert count(db, "orders") == 3 and not reads(db, "purchases")
    if db.dialect.name == "mysql":
        assert info.value.details["undone"] == [plan.steps[0].sql]


def test_renamed_name_replaces_the_table_name_as_a_word() -> None:
    assert renamed_name("orders_pkey", "orders", "purchases") == "purchases_pkey"
    assert renamed_name("fk_order_lines_orders", "orders", "p") == "fk_order_lines_p"
    assert renamed_name("preorders_idx", "orders", "p") is None
    assert renamed_name("ORDERS_idx", "orders", "p") is None
    assert renamed_name("ORDERS_idx", "orders", "p", ignore_case=True) == "p_idx"


def test_impact_types_are_plain_data() -> None:
    impact = RenameImpact(
        table="a",
        new_name="b",
        schema=None,
        dialect="sqlite",
        flavor="sqlite",
        version=(3, 45),
        exists=False,
    )
    assert impact.to_dict()["dependents"] == [] and impact.breaking == []
