"""NotNullColumnHandler on real databases: every strategy fills a populated table in
batches and leaves the column NOT NULL; plans name each server's steps and locks;
validation catches each bad input; a failure mid-backfill leaves the table as it was.

Tables are built with one set-based INSERT ... SELECT (generate_series, a recursive CTE,
a cross join of digits), never row by row.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dataflow_engine import DataFlow
from dataflow_engine.errors import IntegrityError, MigrationError, ValidationError
from dataflow_engine.migrations import (
    ColumnDefinition,
    DefaultValueType,
    MigrationLockManager,
    NotNullAdditionPlan,
    NotNullAdditionResult,
    NotNullColumnHandler,
    gather_facts_sync,
)
from dataflow_engine.migrations._not_null import (
    _split_reference,
    _sqlite_add_column_text,
    _sqlite_rebuilt_create,
)
from tests.migrations.sql import fetch, qualified, run_sql

BACKENDS = ["sqlite-file", "postgresql", "mysql"]
on_every_backend = pytest.mark.parametrize("backend", BACKENDS)

S = DefaultValueType

#: The big table: 100,000 rows on every backend, batches of 10,000.
BIG = 100_000
BATCH = 10_000


# -- helpers ---------------------------------------------------------------------------------


def pct(db: DataFlow) -> str:
    """A literal % in SQL sent through the adapter (the MySQL driver formats every
    statement)."""
    return "%%" if db.dialect.name == "mysql" else "%"


def numbers(db: DataFlow, n: int) -> tuple[str, str]:
    """(prefix, FROM clause) yielding g = 1..n in one set-based statement."""
    name = db.dialect.name
    if name == "postgresql":
        return "", f"generate_series(1, {n}) AS n(g)"
    if name == "sqlite":
        return (
            f"WITH RECURSIVE n(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM n WHERE g < {n}) ",
            "n",
        )
    digits = " UNION ALL ".join(f"SELECT {d} AS d" for d in range(10))
    parts = [f"({digits}) AS d{i}" for i in range(6)]
    value = " + ".join(f"{10**i} * d{i}.d" for i in range(6))
    return "", f"(SELECT {value} + 1 AS g FROM {' CROSS JOIN '.join(parts)}) AS n WHERE g <= {n}"


def mod(db: DataFlow, a: str, b: int) -> str:
    return f"MOD({a}, {b})" if db.dialect.name == "mysql" else f"({a} % {b})"


def make_tables(db: DataFlow, n: int, *, key: str = "id int PRIMARY KEY") -> None:
    """``categories`` (3 rows) and ``orders`` with ``n`` rows: ids 2, 4, ... (not dense),
    price 1..100, qty 1..7, kind alpha / beta / gamma."""
    prefix, source = numbers(db, n)
    kind = f"CASE {mod(db, 'g', 3)} WHEN 0 THEN 'alpha' WHEN 1 THEN 'beta' ELSE 'gamma' END"
    run_sql(
        db,
        "CREATE TABLE categories (id int PRIMARY KEY, code varchar(20) NOT NULL UNIQUE)",
        "INSERT INTO categories (id, code) VALUES (1, 'misc'), (7, 'general'), (9, 'archive')",
        f"CREATE TABLE orders ({key}, price int NOT NULL, qty int NOT NULL,"
        " kind varchar(10) NOT NULL)",
        f"{prefix}INSERT INTO {qualified(db, 'orders')} (id, price, qty, kind)"
        f" SELECT 2 * g, {mod(db, 'g', 100)} + 1, {mod(db, 'g', 7)} + 1, {kind} FROM {source}",
    )


def scalar(db: DataFlow, sql: str) -> Any:
    return fetch(db, sql)[0][0]


def plan(
    db: DataFlow, column: ColumnDefinition, table: str = "orders", **kw: Any
) -> NotNullAdditionPlan:
    handler = NotNullColumnHandler(db, **kw.pop("handler", {}))
    return asyncio.run(handler.plan_not_null_addition(table, column, **kw))


def execute(db: DataFlow, the_plan: NotNullAdditionPlan, **kw: Any) -> NotNullAdditionResult:
    handler = NotNullColumnHandler(db, **kw.pop("handler", {}))
    return asyncio.run(handler.execute_not_null_addition(the_plan, **kw))


def problems(db: DataFlow, column: ColumnDefinition, table: str = "orders", **kw: Any) -> list[str]:
    handler = NotNullColumnHandler(db, **kw)
    found = asyncio.run(handler.validate_strategy(table, column))
    return [d.code for d in found]


def column_names(db: DataFlow, table: str = "orders") -> list[str]:
    _, facts = gather_facts_sync(db, [table])
    return list(facts[table].columns)


def uuid_function(db: DataFlow) -> tuple[str, str]:
    """(type, volatile function giving a fresh identifier per call)."""
    return {
        "postgresql": ("uuid", "gen_random_uuid()"),
        "mysql": ("char(36)", "uuid()"),
        "sqlite": ("char(32)", "lower(hex(randomblob(16)))"),
    }[db.dialect.name]


def strategy_column(db: DataFlow, strategy: DefaultValueType) -> ColumnDefinition:
    if strategy is S.STATIC:
        return ColumnDefinition("status", "varchar(20)", nullable=False, default="'active'")
    if strategy is S.COMPUTED:
        return ColumnDefinition(
            "total",
            "bigint",
            nullable=False,
            default_type=S.COMPUTED,
            default_expression="price * qty",
        )
    if strategy is S.FUNCTION:
        data_type, function = uuid_function(db)
        return ColumnDefinition(
            "token", data_type, nullable=False, default_type=S.FUNCTION, default_expression=function
        )
    if strategy is S.CONDITIONAL:
        return ColumnDefinition(
            "tier",
            "varchar(10)",
            nullable=False,
            default_type=S.CONDITIONAL,
            conditions=[("price > 90", "'gold'"), ("kind LIKE 'b%'", "'silver'")],
            default="'bronze'",
        )
    if strategy is S.SEQUENCE:
        return ColumnDefinition("seq_no", "bigint", nullable=False, default_type=S.SEQUENCE)
    return ColumnDefinition(
        "category_id",
        "integer",
        nullable=False,
        default_type=S.FOREIGN_KEY,
        foreign_key_reference="categories.id",
        default_expression="code = 'general'",
    )


def wrong_rows(db: DataFlow, strategy: DefaultValueType, n: int) -> dict[str, Any]:
    """For each check, the rows whose value differs from what the strategy says (each
    must be 0), and the facts that must hold."""
    t = qualified(db, "orders")
    count = f"SELECT COUNT(*) FROM {t}"
    p = pct(db)
    if strategy is S.STATIC:
        return {"not active": scalar(db, f"{count} WHERE status IS NULL OR status <> 'active'")}
    if strategy is S.COMPUTED:
        return {"not price*qty": scalar(db, f"{count} WHERE total IS NULL OR total <> price * qty")}
    if strategy is S.FUNCTION:
        distinct = scalar(db, f"SELECT COUNT(DISTINCT token) FROM {t}")
        return {"repeated or NULL": n - distinct}
    if strategy is S.CONDITIONAL:
        return {
            "gold": scalar(db, f"{count} WHERE price > 90 AND tier <> 'gold'"),
            "silver": scalar(
                db, f"{count} WHERE NOT price > 90 AND kind LIKE 'b{p}' AND tier <> 'silver'"
            ),
            "bronze": scalar(
                db, f"{count} WHERE NOT price > 90 AND NOT kind LIKE 'b{p}' AND tier <> 'bronze'"
            ),
            "NULL": scalar(db, f"{count} WHERE tier IS NULL"),
        }
    if strategy is S.SEQUENCE:
        # ids are 2, 4, 6, ...: numbering from 1 in key order gives id / 2.
        return {
            "not id/2": scalar(db, f"{count} WHERE seq_no IS NULL OR seq_no * 2 <> id"),
            "repeated": n - scalar(db, f"SELECT COUNT(DISTINCT seq_no) FROM {t}"),
            "not increasing": scalar(
                db,
                "SELECT COUNT(*) FROM (SELECT seq_no, LAG(seq_no) OVER (ORDER BY id) AS prev"
                f" FROM {t}) AS x WHERE prev >= seq_no",
            ),
        }
    c = qualified(db, "categories")
    return {
        "dangling": scalar(
            db, f"{count} AS o LEFT JOIN {c} AS c ON c.id = o.category_id WHERE c.id IS NULL"
        ),
        "not general": scalar(db, f"{count} WHERE category_id IS NULL OR category_id <> 7"),
    }


def assert_not_null(db: DataFlow, column: str) -> None:
    """The catalog says NOT NULL, and the database refuses a NULL."""
    _, facts = gather_facts_sync(db, ["orders"])
    assert facts["orders"].columns[column].nullable is False
    with pytest.raises(IntegrityError):
        run_sql(
            db,
            f"INSERT INTO {qualified(db, 'orders')} (id, price, qty, kind, {column})"
            " VALUES (-1, 1, 1, 'x', NULL)",
        )


# -- every strategy on a populated table ---------------------------------------------------


@on_every_backend
@pytest.mark.parametrize("strategy", list(DefaultValueType), ids=lambda s: s.value)
def test_each_strategy_fills_every_row_in_batches_and_enforces_not_null(
    db: DataFlow, strategy: DefaultValueType
) -> None:
    make_tables(db, BIG)
    column = strategy_column(db, strategy)
    the_plan = plan(db, column, batch_size=BATCH)
    assert the_plan.problems == [], the_plan.problems
    assert the_plan.estimated_rows == pytest.approx(BIG, rel=0.5)

    result = execute(db, the_plan)

    assert result.steps == [s.name for s in the_plan.steps]
    if strategy is S.STATIC:  # one catalog statement: nothing is written
        assert (result.rows_backfilled, result.batches) == (0, 0)
        assert result.steps == ["add-column-not-null"]
    else:
        assert result.rows_backfilled == BIG
        # ten full batches, then the open-ended last one (rows appended meanwhile)
        assert result.batches == BIG // BATCH + 1
    assert scalar(db, f"SELECT COUNT(*) FROM {qualified(db, 'orders')}") == BIG
    assert wrong_rows(db, strategy, BIG) == dict.fromkeys(wrong_rows(db, strategy, BIG), 0)
    assert_not_null(db, column.name)


@on_every_backend
def test_future_rows_get_the_default_where_one_applies(db: DataFlow) -> None:
    make_tables(db, 50)
    t = qualified(db, "orders")
    sequenced = db.dialect.name == "postgresql"  # elsewhere SEQUENCE leaves no DEFAULT
    strategies = [S.STATIC, S.FUNCTION, S.CONDITIONAL] + ([S.SEQUENCE] if sequenced else [])
    for strategy in strategies:
        done = plan(db, strategy_column(db, strategy))
        assert done.default_sql is not None
        execute(db, done)
    run_sql(db, f"INSERT INTO {t} (id, price, qty, kind) VALUES (1001, 5, 5, 'beta')")
    status, token, tier = fetch(db, f"SELECT status, token, tier FROM {t} WHERE id = 1001")[0]
    assert (status, tier) == ("active", "bronze")
    assert token is not None
    if sequenced:
        assert scalar(db, f"SELECT seq_no FROM {t} WHERE id = 1001") == 51


@on_every_backend
def test_without_a_default_for_future_rows_the_plan_warns_and_inserts_must_give_it(
    db: DataFlow,
) -> None:
    make_tables(db, 50)
    computed = plan(db, strategy_column(db, S.COMPUTED))
    assert computed.default_sql is None
    assert any("no DEFAULT for future rows" in w for w in computed.warnings)
    execute(db, computed)
    with pytest.raises(IntegrityError):
        run_sql(
            db,
            f"INSERT INTO {qualified(db, 'orders')} (id, price, qty, kind) VALUES (-5, 1, 1, 'x')",
        )


@on_every_backend
def test_a_function_like_current_timestamp_is_evaluated_as_the_batches_run(db: DataFlow) -> None:
    make_tables(db, 3_000)
    data_type = {"postgresql": "timestamptz", "mysql": "datetime", "sqlite": "text"}[
        db.dialect.name
    ]
    column = ColumnDefinition(
        "seen_at", data_type, nullable=False, default_type=S.FUNCTION, default="CURRENT_TIMESTAMP"
    )
    the_plan = plan(db, column, batch_size=1_000)
    assert any("evaluated as each batch runs" in w for w in the_plan.warnings)
    before = scalar(db, "SELECT CURRENT_TIMESTAMP")
    result = execute(db, the_plan)
    after = scalar(db, "SELECT CURRENT_TIMESTAMP")
    assert (result.rows_backfilled, result.batches) == (3_000, 4)
    t = qualified(db, "orders")
    lo, hi = fetch(db, f"SELECT MIN(seen_at), MAX(seen_at) FROM {t}")[0]
    assert before <= lo <= hi <= after
    assert_not_null(db, "seen_at")


# -- batching by other keys ---------------------------------------------------------------


@on_every_backend
def test_a_composite_primary_key_is_batched_by_its_key_order(db: DataFlow) -> None:
    prefix, source = numbers(db, 2_500)
    run_sql(
        db,
        "CREATE TABLE pairs (a int NOT NULL, b int NOT NULL, v int NOT NULL, PRIMARY KEY (b, a))",
        f"{prefix}INSERT INTO {qualified(db, 'pairs')} (a, b, v)"
        f" SELECT {mod(db, 'g', 50)}, g / 50, g FROM {source}",
    )
    t = qualified(db, "pairs")
    for column in (
        ColumnDefinition("n", "bigint", nullable=False, default_type=S.SEQUENCE),
        ColumnDefinition(
            "w", "bigint", nullable=False, default_type=S.COMPUTED, default_expression="v * 2"
        ),
    ):
        the_plan = plan(db, column, table="pairs", batch_size=300)
        assert the_plan.batch_key == ("b", "a")
        result = execute(db, the_plan)
        assert (result.rows_backfilled, result.batches) == (2_500, 2_500 // 300 + 1)
    assert scalar(db, f"SELECT COUNT(*) FROM {t} WHERE w <> v * 2") == 0
    assert scalar(db, f"SELECT COUNT(DISTINCT n) FROM {t}") == 2_500
    assert (
        scalar(
            db,
            "SELECT COUNT(*) FROM (SELECT n, LAG(n) OVER (ORDER BY b, a) AS prev"
            f" FROM {t}) AS x WHERE prev >= n",
        )
        == 0
    )


@on_every_backend
def test_a_table_without_a_primary_key_is_filled_by_one_update(db: DataFlow) -> None:
    prefix, source = numbers(db, 1_000)
    run_sql(
        db,
        "CREATE TABLE loose (v int NOT NULL)",
        f"{prefix}INSERT INTO {qualified(db, 'loose')} (v) SELECT g FROM {source}",
    )
    column = ColumnDefinition(
        "w", "int", nullable=False, default_type=S.COMPUTED, default_expression="v + 1"
    )
    the_plan = plan(db, column, table="loose", batch_size=100)
    assert the_plan.batch_key == ()
    assert the_plan.estimated_batches == 1
    assert any("no primary key" in w for w in the_plan.warnings)
    result = execute(db, the_plan)
    assert (result.rows_backfilled, result.batches) == (1_000, 1)
    assert scalar(db, f"SELECT COUNT(*) FROM {qualified(db, 'loose')} WHERE w <> v + 1") == 0
    sequence = ColumnDefinition("n", "int", nullable=False, default_type=S.SEQUENCE)
    assert problems(db, sequence, table="loose") == ["DF-MIGRATION-NOT-NULL-NO-KEY"]


# -- planning -----------------------------------------------------------------------------

EXPECTED_STEPS = {
    "postgresql": {
        S.STATIC: ["add-column-not-null"],
        S.COMPUTED: [
            "add-column",
            "backfill",
            "add-check",
            "validate-check",
            "set-not-null",
            "drop-check",
        ],
        S.SEQUENCE: [
            "add-column",
            "create-sequence",
            "backfill",
            "add-check",
            "validate-check",
            "set-not-null",
            "drop-check",
        ],
    },
    "mysql": {
        S.STATIC: ["add-column-not-null"],
        S.COMPUTED: ["add-column", "backfill", "modify-not-null"],
        S.SEQUENCE: ["add-column", "backfill", "modify-not-null"],
    },
    "sqlite": {
        S.STATIC: ["add-column-not-null"],
        S.COMPUTED: ["add-column", "backfill", "rebuild"],
        S.SEQUENCE: ["add-column", "backfill", "rebuild"],
    },
}


@on_every_backend
def test_the_plan_names_each_servers_steps_and_their_locks(db: DataFlow) -> None:
    make_tables(db, 1_000)
    name = db.dialect.name
    for strategy, steps in EXPECTED_STEPS[name].items():
        the_plan = plan(db, strategy_column(db, strategy), batch_size=300)
        assert [s.name for s in the_plan.steps] == steps, strategy
        assert the_plan.problems == []
        assert (the_plan.estimated_rows, the_plan.rows_exact) == (1_000, True)
        assert the_plan.batch_size == 300
        assert the_plan.batch_key == ("id",)
        assert the_plan.executable
        if strategy is S.STATIC:
            (step,) = the_plan.steps
            assert len(step.statements) == 1
            assert "NOT NULL DEFAULT 'active'" in step.statements[0]
            assert not step.effect.rewrites and not step.effect.scans  # a catalog change
            assert the_plan.estimated_batches == 0
        else:
            assert the_plan.estimated_batches == 1_000 // 300 + 1
            backfill = next(s for s in the_plan.steps if s.name == "backfill")
            assert backfill.batched
            assert any(st.startswith("UPDATE") or "UPDATE" in st for st in backfill.statements)
    effects = {
        s.name: s.effect for s in plan(db, strategy_column(db, S.COMPUTED), batch_size=300).steps
    }
    if name == "postgresql":
        assert effects["add-column"].lock == "AccessExclusiveLock"
        assert not effects["add-column"].rewrites
        assert effects["backfill"].lock == "RowExclusiveLock"
        assert not effects["add-check"].scans
        assert effects["validate-check"].lock == "ShareUpdateExclusiveLock"
        assert effects["validate-check"].scans and not effects["validate-check"].blocks_writes
        assert effects["set-not-null"].lock == "AccessExclusiveLock"
        assert not effects["set-not-null"].scans  # proven by the validated check
    elif name == "mysql":
        assert effects["add-column"].lock == "metadata"
        assert effects["modify-not-null"].rewrites
    else:
        assert effects["rebuild"].lock == "database" and effects["rebuild"].rewrites


@pytest.mark.parametrize("backend", ["postgresql"])
def test_postgresql_static_constant_is_one_catalog_statement(db: DataFlow) -> None:
    make_tables(db, 1_000)
    the_plan = plan(db, strategy_column(db, S.STATIC))
    (step,) = the_plan.steps
    assert step.statements == (
        f'ALTER TABLE "{db.dialect.schema}"."orders" ADD COLUMN "status" varchar(20) NOT NULL'
        " DEFAULT 'active'",
    )
    assert step.effect.lock == "AccessExclusiveLock"
    assert not step.effect.rewrites and not step.effect.scans
    assert step.effect.note == "catalog only"
    before = fetch(db, "SELECT relfilenode FROM pg_class WHERE relname = 'orders'")
    execute(db, the_plan)
    # the same storage: no row was rewritten
    assert fetch(db, "SELECT relfilenode FROM pg_class WHERE relname = 'orders'") == before


@pytest.mark.parametrize("backend", ["sqlite-file"])
def test_sqlite_plan_shows_the_rebuild_procedure(db: DataFlow) -> None:
    make_tables(db, 10)
    rebuild = plan(db, strategy_column(db, S.COMPUTED)).steps[-1]
    text = list(rebuild.statements)
    assert text[:2] == ["PRAGMA foreign_keys = OFF", "BEGIN IMMEDIATE"]
    assert text[-2:] == ["COMMIT", "PRAGMA foreign_keys = ON"]
    create = next(s for s in text if s.startswith("CREATE TABLE"))
    assert create.startswith('CREATE TABLE "df_new_orders"')
    assert '"total" bigint NOT NULL' in create
    assert 'DROP TABLE "main"."orders"' in text
    assert "PRAGMA legacy_alter_table = ON" in text
    assert 'PRAGMA "main".foreign_key_check("orders")' in text


def test_plan_to_dict_is_json() -> None:
    import json

    the_plan = NotNullAdditionPlan(
        table="t",
        column=ColumnDefinition("c", "int", nullable=False, default="0"),
        strategy=S.STATIC,
        dialect="sqlite",
        flavor="sqlite",
        server_version=(3, 45),
        steps=[],
        batch_size=10,
        estimated_rows=0,
        rows_exact=True,
        estimated_batches=0,
        batch_key=(),
        value_sql="(0)",
        default_sql="0",
    )
    assert json.loads(json.dumps(the_plan.to_dict()))["strategy"] == "static"
    assert not the_plan.executable  # not made by the handler


# -- validation ----------------------------------------------------------------------------

C = ColumnDefinition
P = "DF-MIGRATION-NOT-NULL-"

BAD = {
    "expression-does-not-compile": (
        C("x", "int", nullable=False, default_type=S.COMPUTED, default_expression="price * nope"),
        P + "EXPRESSION",
    ),
    "condition-does-not-compile": (
        C(
            "x",
            "varchar(5)",
            nullable=False,
            default_type=S.CONDITIONAL,
            conditions=[("price > 1", "'a'"), ("nope > 1", "'b'")],
            default="'c'",
        ),
        P + "EXPRESSION",
    ),
    "referenced-table-missing": (
        C("x", "int", nullable=False, default_type=S.FOREIGN_KEY, foreign_key_reference="nope.id"),
        P + "REFERENCE-MISSING",
    ),
    "referenced-column-missing": (
        C(
            "x",
            "int",
            nullable=False,
            default_type=S.FOREIGN_KEY,
            foreign_key_reference="categories.nope",
        ),
        P + "REFERENCE-MISSING",
    ),
    "referenced-column-not-a-key": (
        C(
            "x",
            "int",
            nullable=False,
            default_type=S.FOREIGN_KEY,
            foreign_key_reference="orders.price",
        ),
        P + "REFERENCE-NOT-KEY",
    ),
    "foreign-key-lookup-finds-nothing": (
        C(
            "x",
            "int",
            nullable=False,
            default_type=S.FOREIGN_KEY,
            foreign_key_reference="categories.id",
            default_expression="code = 'nope'",
        ),
        P + "REFERENCE-VALUE",
    ),
    "foreign-key-lookup-finds-two": (
        C(
            "x",
            "int",
            nullable=False,
            default_type=S.FOREIGN_KEY,
            foreign_key_reference="categories.id",
            default_expression="id > 1",
        ),
        P + "REFERENCE-VALUE",
    ),
    "foreign-key-default-does-not-exist": (
        C(
            "x",
            "int",
            nullable=False,
            default_type=S.FOREIGN_KEY,
            foreign_key_reference="categories.id",
            default="999",
        ),
        P + "REFERENCE-VALUE",
    ),
    "column-exists": (C("price", "int", nullable=False, default="0"), P + "COLUMN-EXISTS"),
    "computed-would-leave-nulls": (
        C(
            "x",
            "int",
            nullable=False,
            default_type=S.COMPUTED,
            default_expression="CASE WHEN qty > 3 THEN price END",
        ),
        P + "NULLS",
    ),
    "static-null": (C("x", "int", nullable=False, default="NULL"), P + "NULLS"),
    "static-reads-columns": (C("x", "int", nullable=False, default="price"), P + "READS-COLUMNS"),
    "conditional-without-else": (
        C(
            "x",
            "varchar(5)",
            nullable=False,
            default_type=S.CONDITIONAL,
            conditions=[("price > 1", "'a'")],
        ),
        P + "MISSING-INPUT",
    ),
    "computed-without-expression": (
        C("x", "int", nullable=False, default_type=S.COMPUTED),
        P + "MISSING-INPUT",
    ),
    "nullable": (C("x", "int", default="0"), P + "NULLABLE"),
    "unused-input": (
        C(
            "x",
            "int",
            nullable=False,
            default_type=S.COMPUTED,
            default_expression="price",
            conditions=[("price > 1", "1")],
        ),
        P + "UNUSED-INPUT",
    ),
    "unknown-strategy": (C("x", "int", nullable=False, default_type="magic"), P + "STRATEGY"),  # type: ignore[arg-type]
    "a-unique-constraint": (
        C("x", "int", nullable=False, default="0", unique=True),
        P + "UNSUPPORTED",
    ),
}


@on_every_backend
@pytest.mark.parametrize("case", list(BAD))
def test_validation_catches_each_bad_input_with_its_code(db: DataFlow, case: str) -> None:
    make_tables(db, 200)
    column, code = BAD[case]
    assert problems(db, column) == [code]
    the_plan = plan(db, column)
    assert [d.code for d in the_plan.problems] == [code]
    assert the_plan.steps == [] and not the_plan.executable
    with pytest.raises(MigrationError) as caught:
        execute(db, the_plan)
    assert caught.value.code == P + "INVALID"
    assert column_names(db) == ["id", "price", "qty", "kind"]


@on_every_backend
def test_validation_paths_point_into_the_column_definition(db: DataFlow) -> None:
    make_tables(db, 20)
    column, _ = BAD["condition-does-not-compile"]
    found = asyncio.run(NotNullColumnHandler(db).validate_strategy("orders", column))
    assert [d.path for d in found] == [("conditions", 1, 0)]
    assert "nope" in found[0].message


@on_every_backend
def test_a_volatile_static_default_is_refused(db: DataFlow) -> None:
    make_tables(db, 20)
    function = {"postgresql": "random()", "mysql": "rand()", "sqlite": "random()"}[db.dialect.name]
    column = C("x", "float", nullable=False, default=function)
    assert problems(db, column) == [P + "NOT-CONSTANT"]


@on_every_backend
def test_a_value_that_fails_on_some_rows_is_found_before_anything_changes(db: DataFlow) -> None:
    make_tables(db, 200)
    column = C(
        "x", "int", nullable=False, default_type=S.COMPUTED, default_expression="100 / (id - 300)"
    )
    # PostgreSQL raises division by zero; MySQL's SELECT and SQLite give NULL
    expected = P + ("VALUE-FAILS" if db.dialect.name == "postgresql" else "NULLS")
    assert problems(db, column) == [expected]
    # ... unless the table is over null_scan_rows: then the backfill finds it (below)
    assert problems(db, column, null_scan_rows=100) == []


@on_every_backend
def test_missing_table_and_valid_input(db: DataFlow) -> None:
    make_tables(db, 20)
    good = strategy_column(db, S.COMPUTED)
    assert problems(db, good) == []
    assert problems(db, good, table="nope") == [P + "TABLE-MISSING"]


@pytest.mark.parametrize("backend", ["postgresql"])
def test_postgresql_sequence_named_must_exist_and_is_used(db: DataFlow) -> None:
    make_tables(db, 100)
    missing = C(
        "n", "bigint", nullable=False, default_type=S.SEQUENCE, default_expression="nope_seq"
    )
    assert problems(db, missing) == [P + "SEQUENCE-MISSING"]
    run_sql(db, "CREATE SEQUENCE order_numbers START 1000")
    named = C(
        "n", "bigint", nullable=False, default_type=S.SEQUENCE, default_expression="order_numbers"
    )
    the_plan = plan(db, named)
    assert [s.name for s in the_plan.steps][:2] == ["add-column", "backfill"]  # none created
    assert the_plan.default_sql is not None and "order_numbers" in the_plan.default_sql
    execute(db, the_plan)
    t = qualified(db, "orders")
    assert fetch(db, f"SELECT MIN(n), MAX(n), COUNT(DISTINCT n) FROM {t}") == [(1000, 1099, 100)]


@pytest.mark.parametrize("backend", ["sqlite-file", "mysql"])
def test_naming_a_sequence_where_there_are_none_is_refused(db: DataFlow) -> None:
    make_tables(db, 20)
    named = C("n", "bigint", nullable=False, default_type=S.SEQUENCE, default_expression="s")
    assert problems(db, named) == [P + "UNSUPPORTED"]


@on_every_backend
def test_plans_and_results_describe_themselves_as_json(db: DataFlow) -> None:
    import json

    make_tables(db, 30)
    the_plan = plan(db, strategy_column(db, S.FOREIGN_KEY))
    described = json.loads(json.dumps(the_plan.to_dict()))
    assert described["reference_value"] == 7
    assert [s["name"] for s in described["steps"]] == [s.name for s in the_plan.steps]
    assert described["steps"][0]["lock"] == the_plan.steps[0].effect.lock
    result = execute(db, the_plan)
    assert json.loads(json.dumps(result.to_dict()))["rows_backfilled"] == 30


@on_every_backend
def test_a_dataflow_that_forbids_ddl_is_reported_and_refused(db: DataFlow, db_url: str) -> None:
    make_tables(db, 20)
    column = strategy_column(db, S.COMPUTED)
    the_plan = plan(db, column)
    guarded = DataFlow(db_url, existing_schema_mode=True)
    try:
        assert problems(guarded, column) == ["DF-MIGRATION-DDL-REFUSED"]
        with pytest.raises(MigrationError) as caught:
            execute(guarded, the_plan)
        assert caught.value.code == "DF-MIGRATION-DDL-REFUSED"
    finally:
        guarded.close()
    assert column_names(db) == ["id", "price", "qty", "kind"]


def test_bad_arguments_raise_validation_errors(tmp_path: Any) -> None:
    db = DataFlow(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with pytest.raises(ValidationError):
            NotNullColumnHandler(db, batch_size=0)
        handler = NotNullColumnHandler(db)
        with pytest.raises(ValidationError):
            asyncio.run(handler.plan_not_null_addition("", C("x", "int", nullable=False)))
        with pytest.raises(ValidationError):
            asyncio.run(handler.plan_not_null_addition("t", "x int"))  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            asyncio.run(handler.execute_not_null_addition("plan"))  # type: ignore[arg-type]
    finally:
        db.close()


# -- failure and rollback -------------------------------------------------------------------


def table_state(db: DataFlow) -> tuple[Any, ...]:
    t = qualified(db, "orders")
    _, facts = gather_facts_sync(db, ["orders"])
    f = facts["orders"]
    return (
        list(f.columns),
        sorted(i.name for i in f.indexes),
        fetch(db, f"SELECT COUNT(*), SUM(price), SUM(qty) FROM {t}")[0],
    )


@on_every_backend
def test_a_failure_mid_backfill_leaves_the_table_as_it_was(db: DataFlow) -> None:
    make_tables(db, 20_000)
    before = table_state(db)
    # id 30,000 is row 15,000: the eighth batch of 2,000 divides by zero (PostgreSQL and
    # MySQL raise; SQLite gives NULL, which the batch's check finds).
    column = C(
        "ratio",
        "int",
        nullable=False,
        default_type=S.COMPUTED,
        default_expression="price * 1000 / (id - 30000)",
    )
    no_scan = {"null_scan_rows": 0}
    the_plan = plan(db, column, batch_size=2_000, handler=no_scan)
    assert the_plan.problems == []
    with pytest.raises(MigrationError) as caught:
        execute(db, the_plan)
    error = caught.value
    assert error.code == P + "STEP-FAILED"
    assert error.details["step"] == "backfill"
    assert error.details["rolled_back"] is True
    assert error.details["steps_done"][0] == "add-column"
    assert error.details["batches"] == 7  # seven batches were committed, then undone
    assert "backfill" in error.message
    assert table_state(db) == before
    if db.dialect.name == "postgresql":
        leftovers = fetch(
            db,
            "SELECT count(*) FROM pg_class WHERE relname LIKE 'orders_ratio%' OR relname LIKE"
            " 'df_nn%'",
        )
        assert leftovers == [(0,)]


@on_every_backend
def test_a_failure_in_the_first_step_changes_nothing(db: DataFlow) -> None:
    make_tables(db, 100)
    before = table_state(db)
    column = C(
        "x", "no_such_type(3)", nullable=False, default_type=S.COMPUTED, default_expression="qty"
    )
    if db.dialect.name == "sqlite":  # SQLite takes any type name: make the expression fail
        column = C("x", "int", nullable=False, default_type=S.COMPUTED, default_expression="qty")
        the_plan = plan(db, column)
        run_sql(db, f"ALTER TABLE {qualified(db, 'orders')} ADD COLUMN x int")
    else:
        the_plan = plan(db, column)
    with pytest.raises(MigrationError) as caught:
        execute(db, the_plan)
    if db.dialect.name == "sqlite":  # the database changed since the plan
        assert caught.value.code == P + "INVALID"
        return
    assert caught.value.code == P + "STEP-FAILED"
    assert caught.value.details["step"] == "add-column"
    assert caught.value.details["rolled_back"] is False
    assert table_state(db) == before


# -- what the table keeps ------------------------------------------------------------------


def add_dependents(db: DataFlow) -> None:
    """An index, a foreign key out and one in, a trigger, a view."""
    name = db.dialect.name
    statements = [
        "CREATE INDEX orders_kind ON orders (kind)",
        "ALTER TABLE orders ADD COLUMN cat int REFERENCES categories (id)"
        if name != "mysql"
        else "ALTER TABLE orders ADD COLUMN cat int, ADD CONSTRAINT orders_cat"
        " FOREIGN KEY (cat) REFERENCES categories (id)",
        "CREATE TABLE notes (id int PRIMARY KEY, order_id int REFERENCES orders (id))"
        if name != "mysql"
        else "CREATE TABLE notes (id int PRIMARY KEY, order_id int,"
        " FOREIGN KEY (order_id) REFERENCES orders (id))",
        "INSERT INTO notes (id, order_id) VALUES (1, 2), (2, 4)",
        "CREATE TABLE audit (order_id int)",
        "CREATE VIEW big_orders AS SELECT id, price FROM orders WHERE price > 50",
    ]
    if name == "postgresql":
        statements += [
            "CREATE FUNCTION log_order() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN INSERT INTO audit (order_id) VALUES (NEW.id); RETURN NEW; END $$",
            "CREATE TRIGGER orders_log AFTER INSERT ON orders FOR EACH ROW"
            " EXECUTE FUNCTION log_order()",
        ]
    elif name == "mysql":
        statements.append(
            "CREATE TRIGGER orders_log AFTER INSERT ON orders FOR EACH ROW"
            " INSERT INTO audit (order_id) VALUES (NEW.id)"
        )
    else:
        statements.append(
            "CREATE TRIGGER orders_log AFTER INSERT ON orders BEGIN"
            " INSERT INTO audit (order_id) VALUES (NEW.id); END"
        )
    run_sql(db, *statements)


def shape(db: DataFlow) -> dict[str, Any]:
    _, facts = gather_facts_sync(db, ["orders"])
    f = facts["orders"]
    return {
        "indexes": sorted((i.name, i.columns, i.unique, i.primary) for i in f.indexes),
        "out": sorted((k.columns, k.ref_table, k.ref_columns) for k in f.foreign_keys_out),
        "in": sorted((k.table, k.columns, k.ref_columns) for k in f.foreign_keys_in),
        "triggers": f.triggers,
        "views": f.dependent_views,
    }


@on_every_backend
def test_indexes_foreign_keys_triggers_and_views_are_kept(db: DataFlow) -> None:
    make_tables(db, 3_000)
    add_dependents(db)
    before = shape(db)
    assert before["triggers"] == ["orders_log"] and before["views"] == ["big_orders"]
    execute(db, plan(db, strategy_column(db, S.COMPUTED), batch_size=1_000))
    assert shape(db) == before
    t = qualified(db, "orders")
    run_sql(db, f"INSERT INTO {t} (id, price, qty, kind, total) VALUES (1, 60, 2, 'x', 120)")
    assert scalar(db, f"SELECT COUNT(*) FROM {qualified(db, 'audit')}") == 1  # the trigger fired
    assert scalar(db, f"SELECT COUNT(*) FROM {qualified(db, 'big_orders')}") == 1_500 + 1
    with pytest.raises(IntegrityError):  # the foreign key out still holds
        run_sql(
            db, f"INSERT INTO {t} (id, price, qty, kind, total, cat) VALUES (3, 1, 1, 'x', 1, 99)"
        )
    with pytest.raises(IntegrityError):  # and the one in
        run_sql(db, f"DELETE FROM {t} WHERE id = 2")


@pytest.mark.parametrize("backend", ["sqlite-file"])
def test_sqlite_rebuild_keeps_the_autoincrement_counter_and_foreign_keys_on(db: DataFlow) -> None:
    run_sql(
        db,
        "CREATE TABLE counted (id INTEGER PRIMARY KEY AUTOINCREMENT, v int NOT NULL,"
        " CHECK (v > 0)) ",
        "INSERT INTO counted (v) VALUES (1), (2), (3), (4)",
        "DELETE FROM counted WHERE id > 2",
    )
    column = C("w", "int", nullable=False, default_type=S.COMPUTED, default_expression="v * 10")
    execute(db, plan(db, column, table="counted"))
    run_sql(db, "INSERT INTO counted (v, w) VALUES (9, 90)")
    assert scalar(db, "SELECT MAX(id) FROM counted") == 5  # 3 and 4 are not reused
    assert scalar(db, "PRAGMA foreign_keys") == 1
    with pytest.raises(IntegrityError):  # the CHECK was kept
        run_sql(db, "INSERT INTO counted (v, w) VALUES (0, 1)")
    sql = scalar(db, "SELECT sql FROM sqlite_schema WHERE name = 'counted'")
    assert '"w" int NOT NULL' in sql and "AUTOINCREMENT" in sql


# -- the migration lock -------------------------------------------------------------------


@on_every_backend
def test_execution_holds_the_migration_lock_and_runs_inside_a_held_one(db: DataFlow) -> None:
    make_tables(db, 100)
    locks = MigrationLockManager(db)
    the_plan = plan(db, strategy_column(db, S.COMPUTED))

    async def inside() -> NotNullAdditionResult:
        async with locks.acquire_migration_lock(timeout=5):
            return await NotNullColumnHandler(db).execute_not_null_addition(the_plan)

    assert asyncio.run(inside()).rows_backfilled == 100
    assert not asyncio.run(locks.is_locked())


# -- pure parts -----------------------------------------------------------------------------


def test_references_are_split_into_table_and_column() -> None:
    assert _split_reference("categories.id") == ('"categories"', "id")
    assert _split_reference("shop.categories.id") == ('"shop"."categories"', "id")
    assert _split_reference('"odd.name".id') == ('"odd.name"', "id")
    assert _split_reference("id") is None
    assert _split_reference("a.b.c.d") is None


def test_sqlite_create_text_is_rewritten_where_add_column_put_the_column() -> None:
    original = 'CREATE TABLE "my (t)" (id INTEGER PRIMARY KEY, "c" text) WITHOUT ROWID'
    added = _sqlite_add_column_text(original, '"n" int NULL')
    assert (
        added
        == 'CREATE TABLE "my (t)" (id INTEGER PRIMARY KEY, "c" text, "n" int NULL) WITHOUT ROWID'
    )
    rebuilt = _sqlite_rebuilt_create(
        added, '"df_new"', '"n" int NULL', '"n" int NOT NULL DEFAULT 0'
    )
    assert rebuilt == (
        'CREATE TABLE "df_new" (id INTEGER PRIMARY KEY, "c" text, "n" int NOT NULL DEFAULT 0)'
        " WITHOUT ROWID"
    )
    with pytest.raises(MigrationError):
        _sqlite_rebuilt_create(original, '"x"', '"n" int NULL', "")
