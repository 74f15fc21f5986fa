"""Migration facts read from real databases: tables built in raw SQL through a DataFlow
connection, their facts read back as data, views, triggers and keys appear."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterator

import pytest

from dataflow_engine import DataFlow
from dataflow_engine.config import parse_url
from dataflow_engine.errors import ValidationError
from dataflow_engine.migrations import (
    ServerFacts,
    TableFacts,
    gather_facts,
    gather_facts_sync,
)
from dataflow_engine.migrations._facts import (
    Stats,
    dependents,
    should_count,
    split_name,
    tables_read_by,
    version_tuple,
)
from dataflow_engine.migrations._facts_mysql import definition_edges
from dataflow_engine.migrations._facts_postgres import planner_estimate

from .sql import fetch, insert_rows, run_sql

BACKENDS = ["sqlite-file", "postgresql", "mysql"]

#: The row estimates after ANALYZE of an unchanged table: PostgreSQL's planner estimate
#: and SQLite's sqlite_stat1 are exact; InnoDB samples pages.
TOLERANCE = {"postgresql": 0.0, "sqlite": 0.0, "mysql": 0.5}


# -- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def db(db_url: str) -> Iterator[DataFlow]:
    instance = DataFlow(db_url)
    yield instance
    instance.close()


def analyze(db: DataFlow, table: str) -> None:
    if db.dialect.name == "mysql":
        fetch(db, f"ANALYZE TABLE {table}")  # answers with a result set
    elif db.dialect.name == "postgresql":
        run_sql(db, f"ANALYZE {table}")
    else:
        run_sql(db, "ANALYZE")


def schema_of(db: DataFlow, db_url: str) -> str:
    """The schema a qualified name uses on this backend."""
    if db.dialect.name == "postgresql":
        return str(db.dialect.schema)
    if db.dialect.name == "mysql":
        return str(parse_url(db_url).database)
    return "main"


def items_sql(db: DataFlow) -> list[str]:
    key = {
        "postgresql": "id serial PRIMARY KEY",
        "mysql": "id int AUTO_INCREMENT PRIMARY KEY",
        "sqlite": "id INTEGER PRIMARY KEY",
    }[db.dialect.name]
    return [
        f"CREATE TABLE items ({key}, code varchar(20) NOT NULL UNIQUE,"
        " qty int DEFAULT 7, note varchar(200))",
        "CREATE INDEX items_qty ON items (qty)",
    ]


def trigger_sql(db: DataFlow) -> list[str]:
    if db.dialect.name == "postgresql":
        return [
            "CREATE FUNCTION keep_qty() RETURNS trigger LANGUAGE plpgsql"
            " AS $$ BEGIN RETURN NEW; END $$",
            "CREATE TRIGGER items_keep BEFORE UPDATE ON items"
            " FOR EACH ROW EXECUTE FUNCTION keep_qty()",
        ]
    if db.dialect.name == "mysql":
        return ["CREATE TRIGGER items_keep BEFORE UPDATE ON items FOR EACH ROW SET NEW.qty = 1"]
    return ["CREATE TRIGGER items_keep AFTER UPDATE ON items BEGIN SELECT 1; END"]


# -- against the databases -----------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_rows_size_columns_and_indexes_follow_the_data(db: DataFlow) -> None:
    run_sql(db, *items_sql(db))
    _, facts = gather_facts_sync(db, ["items"])
    empty = facts["items"]
    assert (empty.exists, empty.kind, empty.rows, empty.rows_exact) == (True, "table", 0, True)
    assert list(empty.columns) == ["id", "code", "qty", "note"]
    assert empty.columns["id"].is_primary_key and not empty.columns["id"].nullable
    assert empty.columns["code"].nullable is False and empty.columns["code"].default is None
    assert empty.columns["qty"].nullable is True and empty.columns["qty"].default == "7"
    assert empty.columns["note"].nullable is True and not empty.columns["note"].is_primary_key
    assert empty.columns["note"].type in ("varchar(200)", "character varying(200)")
    by_columns = {index.columns: index for index in empty.indexes}
    assert by_columns["code",].unique and not by_columns["code",].primary
    assert not by_columns["qty",].unique and by_columns["qty",].name == "items_qty"
    assert all(index.valid for index in empty.indexes)
    if db.dialect.name != "sqlite":  # SQLite's INTEGER PRIMARY KEY is the rowid: no index
        assert by_columns["id",].primary and by_columns["id",].unique
    assert empty.relfilenode is None or db.dialect.name == "postgresql"

    insert_rows(db, "items", "code, qty", [(f"c{i}", i % 50) for i in range(5000)])
    analyze(db, "items")
    _, facts = gather_facts_sync(db, ["items"])
    full = facts["items"]
    assert (full.rows, full.rows_exact) == (5000, True)
    assert empty.size_bytes is not None and full.size_bytes is not None
    assert full.size_bytes > empty.size_bytes + 50_000

    _, estimated = gather_facts_sync(db, ["items"], count_rows_below=0)
    guess = estimated["items"]
    assert guess.rows_exact is False
    assert abs(guess.rows - 5000) <= 5000 * TOLERANCE[db.dialect.name]


@pytest.mark.parametrize("backend", BACKENDS)
def test_views_triggers_and_foreign_keys_appear(db: DataFlow) -> None:
    run_sql(db, *items_sql(db))
    _, facts = gather_facts_sync(db, ["items"])
    assert (facts["items"].dependent_views, facts["items"].triggers) == ([], [])
    assert facts["items"].foreign_keys_in == []

    run_sql(
        db,
        "CREATE TABLE orders (id int PRIMARY KEY, item_id int NOT NULL,"
        " CONSTRAINT orders_item FOREIGN KEY (item_id) REFERENCES items (id) ON DELETE CASCADE)",
        "CREATE VIEW cheap_items AS SELECT id, code FROM items WHERE qty < 10",
        "CREATE VIEW cheap_codes AS SELECT code FROM cheap_items",
        "CREATE VIEW unrelated AS SELECT id FROM orders",
        *trigger_sql(db),
    )
    insert_rows(db, "items", "code", [("a",), ("b",)])
    insert_rows(db, "orders", "id, item_id", [(1, 1), (2, 1), (3, 2)])
    _, facts = gather_facts_sync(db, ["items", "orders", "cheap_items"])
    items = facts["items"]
    assert items.dependent_views == ["cheap_codes", "cheap_items"]  # through views too
    assert items.triggers == ["items_keep"]
    (incoming,) = items.foreign_keys_in
    assert (incoming.table, incoming.columns, incoming.ref_table, incoming.ref_columns) == (
        "orders",
        ("item_id",),
        "items",
        ("id",),
    )
    assert incoming.on_delete == "CASCADE"
    assert (incoming.rows, incoming.rows_exact) == (3, True)
    assert db.dialect.name == "sqlite" or incoming.name == "orders_item"
    orders = facts["orders"]
    assert [fk.ref_table for fk in orders.foreign_keys_out] == ["items"]
    assert orders.foreign_keys_in == [] and orders.dependent_views == ["unrelated"]
    assert (orders.rows, orders.rows_exact) == (3, True)
    view = facts["cheap_items"]
    assert (view.kind, view.dependent_views, view.rows_exact) == ("view", ["cheap_codes"], False)


@pytest.mark.parametrize("backend", BACKENDS)
def test_missing_tables_qualified_names_and_the_server(db: DataFlow, db_url: str) -> None:
    run_sql(db, *items_sql(db))
    schema = schema_of(db, db_url)
    # Reads only: a read-only DataFlow that may not change the schema gets the same facts.
    guarded = DataFlow(db_url, read_only=True, existing_schema_mode=True)
    try:
        server, facts = gather_facts_sync(
            guarded, ["items", f"{schema}.items", "nope", "no_such_schema.items"]
        )
    finally:
        guarded.close()
    assert facts["items"] == facts[f"{schema}.items"]
    assert facts["items"].exists and facts["items"].schema == (
        None if db.dialect.name == "sqlite" else schema
    )
    assert facts["nope"] == TableFacts(name="nope", schema=None, exists=False)
    assert not facts["no_such_schema.items"].exists

    assert isinstance(server, ServerFacts) and server.dialect == db.dialect.name
    text = db.server_version()
    if db.dialect.name == "sqlite":
        assert server.version == sqlite3.sqlite_version_info and server.flavor == "sqlite"
    elif db.dialect.name == "postgresql":
        assert server.flavor == "postgresql" and server.version[0] >= 10
        assert text.startswith(".".join(map(str, server.version)))
    else:
        assert server.flavor == ("mariadb" if "mariadb" in text.lower() else "mysql")
        assert len(server.version) == 3 and server.version >= (5, 7, 0)
        assert text.startswith(".".join(map(str, server.version)))


@pytest.mark.parametrize("backend", ["postgresql"])
def test_relfilenode_changes_when_the_table_is_rewritten(db: DataFlow) -> None:
    run_sql(db, *items_sql(db))
    insert_rows(db, "items", "code, qty", [("a", 1), ("b", 2)])
    _, facts = gather_facts_sync(db, ["items"])
    before = facts["items"].relfilenode
    assert isinstance(before, int) and before > 0

    run_sql(db, "ALTER TABLE items ADD COLUMN y int")  # metadata only
    _, facts = gather_facts_sync(db, ["items"])
    assert facts["items"].relfilenode == before
    assert facts["items"].columns["y"].nullable

    run_sql(db, "ALTER TABLE items ALTER COLUMN qty TYPE bigint")  # rewrites the heap
    _, facts = gather_facts_sync(db, ["items"])
    assert facts["items"].relfilenode not in (None, before)
    assert facts["items"].columns["qty"].type == "bigint"


class Recorder(logging.Handler):
    """Every statement DataFlow sends (the echo log)."""

    def __init__(self) -> None:
        super().__init__()
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.statements.append(record.getMessage())


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_number_of_statements_does_not_grow_with_the_tables(db_url: str) -> None:
    db = DataFlow(db_url, echo=True)
    try:
        statements = []
        for i in range(20):
            ref = f", up int REFERENCES t{i - 1} (id)" if i else ""
            statements += [
                f"CREATE TABLE t{i} (id int PRIMARY KEY, v varchar(20) UNIQUE{ref})",
                f"CREATE INDEX t{i}_v ON t{i} (v, id)",
                f"CREATE VIEW v{i} AS SELECT id FROM t{i}",
            ]
        run_sql(db, *statements)
        names = [f"t{i}" for i in range(20)]
        gather_facts_sync(db, names[:1])  # the pool is open before counting

        def count(tables: list[str]) -> tuple[int, dict[str, TableFacts]]:
            recorder = Recorder()
            logger = logging.getLogger("dataflow_engine.sql")
            logger.addHandler(recorder)
            logger.setLevel(logging.INFO)
            try:
                _, facts = gather_facts_sync(db, tables)
            finally:
                logger.removeHandler(recorder)
            return len(recorder.statements), facts

        one, _ = count(names[:1])
        twenty, facts = count(names)
        assert one == twenty <= 16
        assert all(f.exists and f.dependent_views == [f"v{n[1:]}"] for n, f in facts.items())
        assert all(len(facts[n].foreign_keys_in) == 1 for n in names[:19])
    finally:
        db.close()


@pytest.mark.parametrize("backend", ["sqlite-file"])
def test_the_async_entry_point_from_another_event_loop(db: DataFlow) -> None:
    run_sql(db, *items_sql(db))

    async def main() -> tuple[ServerFacts, dict[str, TableFacts]]:
        return await gather_facts(db, ["items"])

    server, facts = asyncio.run(main())
    assert server.dialect == "sqlite" and facts["items"].exists
    with pytest.raises(ValidationError):
        gather_facts_sync(db, "items")
    with pytest.raises(ValidationError):
        gather_facts_sync(db, [""])


# -- the pure parts ---------------------------------------------------------------------------


def test_names_split_on_unquoted_dots() -> None:
    assert split_name("users") == (None, "users")
    assert split_name("public.users") == ("public", "users")
    assert split_name('"odd.schema"."a.b"') == ("odd.schema", "a.b")
    assert split_name("`shop`.`it``s`") == ("shop", "it`s")
    assert split_name("a.b.c") == (None, "a.b.c")
    assert split_name('"Mixed Case"') == (None, "Mixed Case")


def test_versions_are_read_from_the_leading_number() -> None:
    assert version_tuple("10.11.6-MariaDB-0+deb12u1") == (10, 11, 6)
    assert version_tuple("8.0.36") == (8, 0, 36)
    assert version_tuple("3.45.1") == (3, 45, 1)
    assert version_tuple("unknown") == ()


def test_the_planner_estimate() -> None:
    # analyzed: the density of the last ANALYZE, applied to the pages there are now
    assert planner_estimate(5000, 25, 50 * 8192, 40, 8192) == 10_000
    # never analyzed: the density from the column widths; an empty heap is empty
    assert planner_estimate(-1, 0, 10 * 8192, 36, 8192) == round((8192 - 24) / 64 * 10)
    assert planner_estimate(-1, 0, 0, 36, 8192) == 0


def test_small_tables_are_counted() -> None:
    assert should_count(Stats(estimate=10, data_bytes=8192), 100, 1 << 20)
    assert not should_count(Stats(estimate=1000, data_bytes=8192), 100, 1 << 20)
    assert not should_count(Stats(estimate=None, data_bytes=2 << 20), 100, 1 << 20)
    assert should_count(None, 100, 1 << 20)  # nothing known: count
    assert not should_count(Stats(estimate=0), 0, 1 << 20)  # 0 turns counting off


def test_views_over_views_are_followed() -> None:
    edges = [
        (("s", "v1"), ("s", "t")),
        (("s", "v2"), ("s", "v1")),
        (("o", "v3"), ("s", "v2")),
        (("s", "w"), ("s", "u")),
        (("s", "loop"), ("s", "loop")),
    ]
    found = dependents(edges, [("s", "t"), ("s", "u"), ("s", "x")])
    assert found == {
        ("s", "t"): {("s", "v1"), ("s", "v2"), ("o", "v3")},
        ("s", "u"): {("s", "w")},
        ("s", "x"): set(),
    }


def test_mariadb_view_definitions_are_parsed_with_a_text_fallback() -> None:
    rows = [
        ("shop", "v", "select `shop`.`t`.`id` AS `id` from `shop`.`t` where `shop`.`t`.`id` > 1"),
        ("shop", "w", "select `x`.`id` AS `id` from (select `id` from `other`.`u`) `x`"),
        ("shop", "c", "with `q` as (select 1 AS `a`) select `q`.`a` AS `a` from `q`"),
        ("shop", "broken", "select ??? from `t` ((("),
    ]
    edges = definition_edges(rows, [("shop", "t")])
    assert (("shop", "v"), ("shop", "t")) in edges
    assert (("shop", "w"), ("other", "u")) in edges
    assert not [e for e in edges if e[0] == ("shop", "c")]  # a CTE is not a table
    assert (("shop", "broken"), ("shop", "t")) in edges  # the text search


def test_sqlite_view_sql_leaves_out_its_own_name_and_ctes() -> None:
    read = tables_read_by(
        'CREATE VIEW "V" AS WITH c AS (SELECT * FROM "Users") SELECT * FROM c, orders',
        "sqlite",
        create=True,
    )
    assert read == {(None, "Users"), (None, "orders")}
