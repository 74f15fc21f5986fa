"""SQLite discovery, read from a database created in raw SQL (never through DataFlow)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from dataflow_engine import DataFlow, _loop
from dataflow_engine import errors as e
from dataflow_engine.discovery import (
    CheckInfo,
    ColumnInfo,
    ForeignKeyInfo,
    IndexInfo,
    TableInfo,
    UniqueInfo,
)
from dataflow_engine.discovery._sqlite import _kind, discover

SCHEMA = """
CREATE TABLE "Customers" (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name VARCHAR(80) NOT NULL, -- display name
    email TEXT UNIQUE,
    referrer_id INTEGER REFERENCES "Customers" (id) ON DELETE SET NULL,
    active BOOLEAN NOT NULL DEFAULT 1,
    created DATETIME DEFAULT CURRENT_TIMESTAMP,
    note TEXT DEFAULT 'a, (b',
    status TEXT CHECK (status IN ('new', 'gold')),
    CONSTRAINT name_ok CHECK (name <> 'x, )')
);
CREATE TABLE products (
    sku TEXT NOT NULL,
    variant INT NOT NULL,
    price NUMERIC(12,2) NOT NULL,
    released DATE,
    opens TIME,
    attrs JSON,
    token UUID,
    image BLOB,
    price_x2 NUMERIC GENERATED ALWAYS AS (price * 2) STORED,
    label TEXT AS (sku || '-' || variant) VIRTUAL,
    PRIMARY KEY (sku, variant),
    CONSTRAINT uq_token UNIQUE (token)
);
CREATE TABLE "OrderItems" (
    "Order Id" INTEGER NOT NULL,
    "Line No" INTEGER NOT NULL,
    "Qty" INTEGER NOT NULL DEFAULT 1 CHECK ("Qty" > 0),
    sku TEXT NOT NULL,
    variant INT NOT NULL,
    customer INTEGER,
    PRIMARY KEY ("Order Id", "Line No"),
    CONSTRAINT fk_product FOREIGN KEY (sku, variant) REFERENCES products (sku, variant)
        ON UPDATE CASCADE ON DELETE RESTRICT,
    FOREIGN KEY (customer) REFERENCES customers  -- the table name only
);
CREATE TABLE audit_log (at TEXT, message TEXT, payload);
CREATE INDEX ix_items_big ON "OrderItems" ("Qty") WHERE "Qty" > 10;
CREATE INDEX ix_customers_email ON "Customers" (lower(email) COLLATE NOCASE DESC, name);
CREATE VIEW "Big Orders" AS SELECT "Order Id", "Qty" FROM "OrderItems" WHERE "Qty" > 10;
"""


def make_db(path: Path, script: str) -> Path:
    raw = sqlite3.connect(path)
    try:
        raw.executescript(script)
        raw.commit()
    finally:
        raw.close()
    return path


def run(path: Path, work: Any) -> Any:
    """Run ``work(conn)`` on a DataFlow connection to the database at ``path``."""
    db = DataFlow(f"sqlite:///{path}", existing_schema_mode=True)

    async def go() -> Any:
        async with db._adapter.acquire() as conn:
            return await work(conn)

    try:
        return _loop.run_sync(go())
    finally:
        db.close()


def discovered(
    path: Path, schema: str | None = None, tables: Sequence[str] | None = None
) -> list[TableInfo]:
    return run(path, lambda conn: discover(conn, schema, tables))  # type: ignore[no-any-return]


def col(name: str, type_: str, kind: str | None, position: int, **more: Any) -> ColumnInfo:
    more.setdefault("nullable", True)
    return ColumnInfo(name=name, type=type_, kind=kind, position=position, **more)


SELF_FK = ForeignKeyInfo(
    name=None,
    table="Customers",
    columns=("referrer_id",),
    ref_table="Customers",
    ref_columns=("id",),
    on_delete="SET NULL",
)
PRODUCT_FK = ForeignKeyInfo(
    name="fk_product",
    table="OrderItems",
    columns=("sku", "variant"),
    ref_table="products",
    ref_columns=("sku", "variant"),
    on_update="CASCADE",
    on_delete="RESTRICT",
)
# REFERENCES customers: the stored spelling of the table, and its primary key.
CUSTOMER_FK = ForeignKeyInfo(
    name=None,
    table="OrderItems",
    columns=("customer",),
    ref_table="Customers",
    ref_columns=("id",),
)

CUSTOMERS = TableInfo(
    name="Customers",
    schema=None,
    kind="table",
    columns=(
        col("id", "INTEGER", "int", 1, nullable=False, auto_increment=True),
        col("name", "VARCHAR(80)", "str", 2, nullable=False, max_length=80, comment="display name"),
        col("email", "TEXT", "str", 3),
        col("referrer_id", "INTEGER", "int", 4),
        col("active", "BOOLEAN", "bool", 5, nullable=False, default="1"),
        col("created", "DATETIME", "datetime", 6, default="CURRENT_TIMESTAMP"),
        col("note", "TEXT", "str", 7, default="'a, (b'"),
        col("status", "TEXT", "str", 8),
    ),
    primary_key=("id",),
    foreign_keys=(SELF_FK,),
    referenced_by=(SELF_FK, CUSTOMER_FK),
    unique=(UniqueInfo(None, ("email",)),),
    indexes=(
        IndexInfo("ix_customers_email", ("lower(email)", "name")),
        IndexInfo("sqlite_autoindex_Customers_1", ("email",), unique=True),
    ),
    checks=(
        CheckInfo(None, "status IN ('new', 'gold')"),
        CheckInfo("name_ok", "name <> 'x, )'"),
    ),
    row_estimate=3,
)

PRODUCTS = TableInfo(
    name="products",
    schema=None,
    kind="table",
    columns=(
        col("sku", "TEXT", "str", 1, nullable=False),
        col("variant", "INT", "int", 2, nullable=False),
        col("price", "NUMERIC(12,2)", "decimal", 3, nullable=False, precision=12, scale=2),
        col("released", "DATE", "date", 4),
        col("opens", "TIME", "time", 5),
        col("attrs", "JSON", "json", 6),
        col("token", "UUID", "uuid", 7),
        col("image", "BLOB", "bytes", 8),
        col("price_x2", "NUMERIC", "decimal", 9, generated="price * 2"),
        col("label", "TEXT", "str", 10, generated="sku || '-' || variant"),
    ),
    primary_key=("sku", "variant"),
    referenced_by=(PRODUCT_FK,),
    unique=(UniqueInfo("uq_token", ("token",)),),
    indexes=(
        IndexInfo("sqlite_autoindex_products_1", ("sku", "variant"), unique=True, primary=True),
        IndexInfo("sqlite_autoindex_products_2", ("token",), unique=True),
    ),
)

ORDER_ITEMS = TableInfo(
    name="OrderItems",
    schema=None,
    kind="table",
    columns=(
        col("Order Id", "INTEGER", "int", 1, nullable=False),
        col("Line No", "INTEGER", "int", 2, nullable=False),
        col("Qty", "INTEGER", "int", 3, nullable=False, default="1"),
        col("sku", "TEXT", "str", 4, nullable=False),
        col("variant", "INT", "int", 5, nullable=False),
        col("customer", "INTEGER", "int", 6),
    ),
    primary_key=("Order Id", "Line No"),
    foreign_keys=(PRODUCT_FK, CUSTOMER_FK),
    indexes=(
        IndexInfo("ix_items_big", ("Qty",), partial='"Qty" > 10'),
        IndexInfo(
            "sqlite_autoindex_OrderItems_1", ("Order Id", "Line No"), unique=True, primary=True
        ),
    ),
    checks=(CheckInfo(None, '"Qty" > 0'),),
)

AUDIT_LOG = TableInfo(
    name="audit_log",
    schema=None,
    kind="table",
    columns=(
        col("at", "TEXT", "str", 1),
        col("message", "TEXT", "str", 2),
        col("payload", "", None, 3),
    ),
)

BIG_ORDERS = TableInfo(
    name="Big Orders",
    schema=None,
    kind="view",
    columns=(col("Order Id", "INTEGER", "int", 1), col("Qty", "INTEGER", "int", 2)),
)


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    path = make_db(tmp_path / "shop.db", SCHEMA)
    raw = sqlite3.connect(path)
    raw.executemany(
        'INSERT INTO "Customers" (name, email) VALUES (?, ?)',
        [("Ann", "ann@example.com"), ("Bob", "bob@example.com"), ("Cy", "cy@example.com")],
    )
    raw.execute('ANALYZE "Customers"')
    raw.commit()
    raw.close()
    return path


def test_every_table_and_view_in_detail(shop: Path) -> None:
    tables = discovered(shop)

    assert [t.name for t in tables] == [
        "Big Orders",
        "Customers",
        "OrderItems",
        "audit_log",
        "products",
    ]
    by_name = {t.name: t for t in tables}
    assert by_name["Customers"] == CUSTOMERS
    assert by_name["products"] == PRODUCTS
    assert by_name["OrderItems"] == ORDER_ITEMS
    assert by_name["audit_log"] == AUDIT_LOG
    assert by_name["Big Orders"] == BIG_ORDERS
    assert by_name["Customers"].extra == {
        "without_rowid": False,
        "strict": False,
        "autoincrement": True,
    }
    assert by_name["OrderItems"].extra["autoincrement"] is False
    assert by_name["Big Orders"].extra == {}


def test_internal_tables_are_left_out(shop: Path) -> None:
    names = {t.name for t in discovered(shop)}
    assert not {n for n in names if n.lower().startswith("sqlite_")}  # sequence, stat1


def test_row_estimate_comes_only_from_sqlite_stat1(shop: Path) -> None:
    by_name = {t.name: t for t in discovered(shop)}
    assert by_name["Customers"].row_estimate == 3
    assert by_name["OrderItems"].row_estimate is None  # not analyzed: never counted


def test_requested_tables_match_any_case_and_keep_the_stored_spelling(shop: Path) -> None:
    tables = discovered(shop, tables=["PRODUCTS", "orderitems", "missing"])

    assert tables == [ORDER_ITEMS, PRODUCTS]


def test_referenced_by_includes_tables_outside_the_request(shop: Path) -> None:
    (customers,) = discovered(shop, "main", ["Customers"])
    (products,) = discovered(shop, None, ["products"])

    assert customers.referenced_by == (SELF_FK, CUSTOMER_FK)
    assert products.referenced_by == (PRODUCT_FK,)  # named from OrderItems' own SQL


def test_no_tables_requested_or_present(shop: Path, tmp_path: Path) -> None:
    assert discovered(shop, tables=[]) == []
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    assert discovered(empty) == []


def test_a_string_for_tables_is_refused(shop: Path) -> None:
    with pytest.raises(e.ValidationError):
        discovered(shop, tables="products")


def test_quoting_comments_and_rowid_rules(tmp_path: Path) -> None:
    path = make_db(
        tmp_path / "tricky.db",
        '''
        CREATE TABLE [tricky table] (
            `Note` TEXT DEFAULT '-- not a comment, (really)', -- a note, with (parens)
            "say ""hi""" TEXT CONSTRAINT hi_ck CHECK ("say ""hi""" <> ')'),
            /* a block, comment ( */ n INTEGER PRIMARY KEY DESC,
            g INT GENERATED ALWAYS AS (abs(n) + length(']')) VIRTUAL
        ) STRICT;
        CREATE TABLE tags (tag TEXT PRIMARY KEY, weight REAL) WITHOUT ROWID;
        CREATE TABLE codes (
            code INT PRIMARY KEY,
            label CHARACTER VARYING(20),
            parent INT,
            FOREIGN KEY (PARENT) REFERENCES CODES ON DELETE SET DEFAULT
        );
        ''',
    )
    codes, tags, tricky = discovered(path)

    # INTEGER PRIMARY KEY DESC is not the rowid (SQLite's quirk): it has an index of its
    # own; STRICT makes the key NOT NULL.
    assert tricky == TableInfo(
        name="tricky table",
        schema=None,
        kind="table",
        columns=(
            col(
                "Note",
                "TEXT",
                "str",
                1,
                default="'-- not a comment, (really)'",
                comment="a note, with (parens)",
            ),
            col('say "hi"', "TEXT", "str", 2),
            col("n", "INTEGER", "int", 3, nullable=False),
            col("g", "INT", "int", 4, generated="abs(n) + length(']')"),
        ),
        primary_key=("n",),
        indexes=(IndexInfo("sqlite_autoindex_tricky table_1", ("n",), unique=True, primary=True),),
        checks=(CheckInfo("hi_ck", '"say ""hi""" <> \')\''),),
    )
    assert tricky.extra == {"without_rowid": False, "strict": True, "autoincrement": False}

    assert tags.primary_key == ("tag",)
    assert tags.columns[0] == col("tag", "TEXT", "str", 1, nullable=False)
    assert tags.extra["without_rowid"] is True

    # INT (not INTEGER) PRIMARY KEY is no rowid alias, and stays nullable.
    assert codes.columns == (
        col("code", "INT", "int", 1),
        col("label", "CHARACTER VARYING(20)", "str", 2, max_length=20),
        col("parent", "INT", "int", 3),
    )
    fk = ForeignKeyInfo(None, "codes", ("parent",), "codes", ("code",), on_delete="SET DEFAULT")
    assert codes.foreign_keys == codes.referenced_by == (fk,)


class CountingConnection:
    """Delegates to a connection and records every query sent."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.queries: list[str] = []

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        self.queries.append(sql)
        return await self.conn.fetch(sql, params)  # type: ignore[no-any-return]


def many_tables(path: Path, count: int, analyze: bool = False) -> Path:
    statements = ["CREATE TABLE t0 (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"]
    for i in range(1, count):
        statements.append(
            f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, up INTEGER REFERENCES t{i - 1}, "
            f"v TEXT CHECK (v <> ''));\nCREATE INDEX ix{i} ON t{i} (v) WHERE v > 'a'"
        )
    if analyze:
        statements.append("INSERT INTO t0 (v) VALUES ('x'); ANALYZE")
    return make_db(path, ";\n".join(statements))


def count_queries(path: Path, tables: Sequence[str] | None = None) -> tuple[int, int]:
    async def work(conn: Any) -> tuple[int, int]:
        counting = CountingConnection(conn)
        found = await discover(counting, None, tables)  # type: ignore[arg-type]
        return len(counting.queries), len(found)

    return run(path, work)  # type: ignore[no-any-return]


def test_a_fixed_number_of_queries_whatever_the_number_of_tables(tmp_path: Path) -> None:
    assert count_queries(many_tables(tmp_path / "few.db", 3)) == (4, 3)
    many = many_tables(tmp_path / "many.db", 60)
    assert count_queries(many) == (4, 60)
    assert count_queries(many, ["t1", "t7"]) == (4, 2)
    # sqlite_stat1 present: one query more to read it
    assert count_queries(many_tables(tmp_path / "stats.db", 60, analyze=True)) == (5, 60)


def test_an_attached_database(shop: Path, tmp_path: Path) -> None:
    other = make_db(
        tmp_path / "other.db",
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
        "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent)",
    )

    async def work(conn: Any) -> list[TableInfo]:
        await conn.execute("ATTACH DATABASE ? AS aux", (str(other),))
        return await discover(conn, "AUX", None)

    child, parent = run(shop, work)

    fk = ForeignKeyInfo(
        None, "child", ("parent_id",), "parent", ("id",), schema="aux", ref_schema="aux"
    )
    assert (child.name, child.schema, child.foreign_keys) == ("child", "aux", (fk,))
    assert (parent.name, parent.schema, parent.referenced_by) == ("parent", "aux", (fk,))


def test_an_unknown_schema_is_an_error(shop: Path) -> None:
    with pytest.raises(e.SchemaError) as raised:
        discovered(shop, "nope")
    assert raised.value.code == "DF-SCHEMA-MISSING"


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are notes, not a SQLite database\n" * 100)
    with pytest.raises(e.DataFlowError) as raised:
        discovered(path)
    assert raised.value.code == "DF-DB-CONNECT"


def test_a_broken_view_is_reported_not_skipped(tmp_path: Path) -> None:
    path = make_db(
        tmp_path / "broken.db",
        "CREATE TABLE gone (x INT); CREATE VIEW v AS SELECT x FROM gone; DROP TABLE gone",
    )
    with pytest.raises(e.DataFlowError, match="gone"):
        discovered(path)


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("INTEGER", ("int", None, None, None)),
        ("int(11)", ("int", None, None, None)),
        ("BigInt", ("int", None, None, None)),
        ("UNSIGNED  BIG INT", ("int", None, None, None)),
        ("TINYINT", ("int", None, None, None)),
        ("boolean", ("bool", None, None, None)),
        ("BOOL", ("bool", None, None, None)),
        ("REAL", ("float", None, None, None)),
        ("DOUBLE PRECISION", ("float", None, None, None)),
        ("FLOAT", ("float", None, None, None)),
        ("NUMERIC", ("decimal", None, None, None)),
        ("NUMERIC( 12 , 2 )", ("decimal", 12, 2, None)),
        ("DECIMAL(10)", ("decimal", 10, 0, None)),
        ("TEXT", ("str", None, None, None)),
        ("VARCHAR(255)", ("str", None, None, 255)),
        ("CHAR(2)", ("str", None, None, 2)),
        ("NVARCHAR(30)", ("str", None, None, 30)),
        ("CLOB", ("str", None, None, None)),
        ("DATE", ("date", None, None, None)),
        ("DATETIME", ("datetime", None, None, None)),
        ("TIMESTAMP", ("datetime", None, None, None)),
        ("TIME", ("time", None, None, None)),
        ("UUID", ("uuid", None, None, None)),
        ("BLOB", ("bytes", None, None, None)),
        ("JSON", ("json", None, None, None)),
        ("", (None, None, None, None)),
        ("STRING", (None, None, None, None)),  # numeric affinity: not text
        ("POINT", (None, None, None, None)),
        ("VARCHAR(10", (None, None, None, None)),
    ],
)
def test_kind_of_a_declared_type(declared: str, expected: tuple[Any, ...]) -> None:
    assert _kind(declared) == expected
