"""MySQL/MariaDB discovery against the real server: every detail read from the catalogs.

The schema is built in raw SQL with the driver (never through DataFlow), then read back
through DataFlow's own connection. Where MariaDB and MySQL 8 spell something differently
(display widths, expression text), ``spelled(mariadb, mysql)`` picks the server's.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from unittest.mock import ANY

import pytest

from dataflow_engine import DataFlow, _loop
from dataflow_engine.adapters import Connection
from dataflow_engine.discovery import (
    CheckInfo,
    ColumnInfo,
    ForeignKeyInfo,
    IndexInfo,
    TableInfo,
    UniqueInfo,
)
from dataflow_engine.discovery._mysql import (
    _default,
    _enum_values,
    _indexes,
    _kind,
    discover,
)
from dataflow_engine.errors import DatabaseError, DataFlowError, SchemaError, ValidationError
from tests.conftest import MYSQL_ADMIN_URL, mysql_admin, mysql_url

CATALOG_QUERIES = 7


async def _sql_async(database: str, statements: Sequence[str]) -> list[Any]:
    import asyncmy

    from dataflow_engine.config import parse_url

    url = parse_url(MYSQL_ADMIN_URL)
    conn = await asyncmy.connect(
        host=url.host,
        port=url.port or 3306,
        user=url.username,
        password=url.password or "",
        db=database,
        autocommit=True,
        connect_timeout=10,
    )
    rows: list[Any] = []
    try:
        async with conn.cursor() as cur:
            for statement in statements:
                await cur.execute(statement)
                rows = list(await cur.fetchall()) if cur.description else []
    finally:
        conn.close()
    return rows


def sql(database: str, *statements: str) -> list[Any]:
    """Run statements in ``database`` with the driver; the last one's rows."""
    return asyncio.run(_sql_async(database, statements))


@pytest.fixture
def database(mysql_server: str) -> Iterator[str]:
    name = f"disc_{uuid.uuid4().hex[:10]}"
    mysql_admin(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    yield name
    mysql_admin(f"DROP DATABASE IF EXISTS `{name}`")


class Shop:
    def __init__(self, name: str, other: str, mariadb: bool) -> None:
        self.name = name
        self.other = other
        self.mariadb = mariadb

    def spelled(self, mariadb: Any, mysql: Any = ANY) -> Any:
        return mariadb if self.mariadb else mysql


def shop_schema(name: str, other: str, *, uuid_type: bool) -> list[str]:
    return [
        """CREATE TABLE customers (
            id INT NOT NULL AUTO_INCREMENT,
            email VARCHAR(120) NOT NULL COMMENT 'login address',
            name VARCHAR(80) NOT NULL DEFAULT 'it''s anonymous',
            credit DECIMAL(12,2) NOT NULL DEFAULT 0.00,
            visits INT NOT NULL DEFAULT 7,
            born DATE NULL,
            wakes TIME NULL,
            seen DATETIME(6) NULL,
            created TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
            prefs JSON NULL,
            grade ENUM('a','b''c') NOT NULL DEFAULT 'a',
            active BOOLEAN NOT NULL DEFAULT TRUE,
            token VARBINARY(16) NULL,
            tags SET('x','y') NULL,
            spot GEOMETRY NULL,
            big BIGINT UNSIGNED NULL,
            credit_x2 DECIMAL(13,2) AS (credit * 2) STORED,
            domain VARCHAR(120) AS (SUBSTRING_INDEX(email, '@', -1)) VIRTUAL,
            PRIMARY KEY (id),
            CONSTRAINT uq_customers_email UNIQUE (email),
            CONSTRAINT ck_customers_credit CHECK (credit >= 0),
            KEY ix_customers_name_born (name, born)
        ) COMMENT 'people who buy'""",
        *(["ALTER TABLE customers ADD COLUMN external UUID NULL"] if uuid_type else []),
        """CREATE TABLE orders (
            id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
            customer_id INT NOT NULL,
            placed DATETIME(6) NOT NULL,
            CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id)
        )""",
        """CREATE TABLE `OrderItems` (
            line_no INT NOT NULL,
            order_id BIGINT NOT NULL,
            `Qty` SMALLINT NOT NULL DEFAULT 1,
            PRIMARY KEY (order_id, line_no),
            CONSTRAINT fk_items_order FOREIGN KEY (order_id) REFERENCES orders (id)
                ON UPDATE CASCADE ON DELETE RESTRICT
        )""",
        """CREATE TABLE shipments (
            id INT NOT NULL PRIMARY KEY,
            item_order BIGINT NOT NULL,
            item_line INT NOT NULL,
            CONSTRAINT fk_shipments_item FOREIGN KEY (item_order, item_line)
                REFERENCES `OrderItems` (order_id, line_no) ON DELETE CASCADE
        )""",
        """CREATE TABLE employees (
            id INT NOT NULL PRIMARY KEY,
            manager_id INT NULL,
            CONSTRAINT fk_employees_manager FOREIGN KEY (manager_id)
                REFERENCES employees (id) ON DELETE SET NULL
        )""",
        "CREATE TABLE audit_log (message TEXT NOT NULL, at DATETIME NULL)",
        "CREATE VIEW customer_emails AS SELECT id, email FROM customers",
        f"""CREATE TABLE `{other}`.invoices (
            id INT NOT NULL PRIMARY KEY,
            customer_id INT NOT NULL,
            CONSTRAINT fk_invoices_customer FOREIGN KEY (customer_id)
                REFERENCES `{name}`.customers (id) ON DELETE CASCADE
        )""",
        "INSERT INTO customers (email) VALUES ('a@x.io'), ('b@x.io'), ('c@y.io')",
        "ANALYZE TABLE customers",
    ]


@pytest.fixture(scope="module")
def shop(mysql_server: str) -> Iterator[Shop]:
    name = f"disc_{uuid.uuid4().hex[:10]}"
    other = f"{name}_other"
    mysql_admin(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    mysql_admin(f"CREATE DATABASE `{other}` CHARACTER SET utf8mb4")
    try:
        version = str(sql(name, "SELECT VERSION()")[0][0])
        mariadb = "mariadb" in version.lower()
        major, minor = (int(part) for part in version.split(".")[:2])
        sql(name, *shop_schema(name, other, uuid_type=mariadb and (major, minor) >= (10, 7)))
        yield Shop(name, other, mariadb)
    finally:
        mysql_admin(f"DROP DATABASE IF EXISTS `{other}`")
        mysql_admin(f"DROP DATABASE IF EXISTS `{name}`")


class ProxyConnection(Connection):
    """Delegates to a real connection, counting (and optionally rewriting) fetches."""

    def __init__(
        self,
        inner: Connection,
        before: Callable[[ProxyConnection], Any] | None = None,
        rewrite: Callable[[int, list[Sequence[Any]]], list[Sequence[Any]]] | None = None,
    ) -> None:
        self.inner = inner
        self.dialect = inner.dialect
        self.statements: list[str] = []
        self._before = before
        self._rewrite = rewrite

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        if self._before is not None:
            await self._before(self)
        self.statements.append(sql)
        rows = await self.inner.fetch(sql, params)
        if self._rewrite is not None:
            rows = self._rewrite(len(self.statements), rows)
        return rows

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return await self.inner.execute(sql, params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        return await self.inner.executemany(sql, rows)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        async with self.inner.transaction():
            yield

    def transaction(self) -> Any:
        return self._transaction()

    @property
    def in_transaction(self) -> bool:
        return self.inner.in_transaction


def run_discover(
    database: str,
    schema: str | None = None,
    tables: Sequence[str] | None = None,
    proxy: Callable[[Connection], ProxyConnection] | None = None,
) -> tuple[list[TableInfo], ProxyConnection | None]:
    db = DataFlow(mysql_url(database), existing_schema_mode=True)
    seen: list[ProxyConnection] = []

    async def go() -> list[TableInfo]:
        async with db._adapter.acquire() as conn:
            if proxy is not None:
                seen.append(proxy(conn))
                conn = seen[-1]
            return await discover(conn, schema, tables)

    try:
        return _loop.run_sync(go()), (seen[0] if seen else None)
    finally:
        db.close()


@pytest.fixture(scope="module")
def found(shop: Shop) -> dict[str, TableInfo]:
    tables, _ = run_discover(shop.name)
    return {t.name: t for t in tables}


# -- tables and views ------------------------------------------------------------------


def test_every_table_and_view_by_exact_name(shop: Shop, found: dict[str, TableInfo]) -> None:
    assert list(found) == [
        "OrderItems",
        "audit_log",
        "customer_emails",
        "customers",
        "employees",
        "orders",
        "shipments",
    ]
    assert {t.schema for t in found.values()} == {shop.name}
    assert {name: t.kind for name, t in found.items()} == {
        "OrderItems": "table",
        "audit_log": "table",
        "customer_emails": "view",
        "customers": "table",
        "employees": "table",
        "orders": "table",
        "shipments": "table",
    }
    assert [c.name for c in found["OrderItems"].columns] == ["line_no", "order_id", "Qty"]


def test_comments_and_row_estimates(found: dict[str, TableInfo]) -> None:
    assert found["customers"].comment == "people who buy"
    assert found["orders"].comment is None  # '' in the catalog
    assert found["customer_emails"].comment is None  # the catalog says "VIEW"
    assert found["customers"].row_estimate == 3  # exact after ANALYZE TABLE on 3 rows
    assert found["orders"].row_estimate == 0
    assert found["customer_emails"].row_estimate is None


def test_view(shop: Shop, found: dict[str, TableInfo]) -> None:
    view = found["customer_emails"]
    assert view.columns == (
        ColumnInfo("id", shop.spelled("int(11)", "int"), "int", False, default="0", position=1),
        ColumnInfo(
            "email",
            "varchar(120)",
            "str",
            False,
            comment="login address",
            max_length=120,
            position=2,
        ),
    )
    assert (view.primary_key, view.foreign_keys, view.unique, view.indexes, view.checks) == (
        (),
        (),
        (),
        (),
        (),
    )
    assert view.referenced_by == ()


# -- columns ---------------------------------------------------------------------------


def test_customer_columns(shop: Shop, found: dict[str, TableInfo]) -> None:
    s = shop.spelled
    expected = [
        ColumnInfo("id", s("int(11)", "int"), "int", False, auto_increment=True, position=1),
        ColumnInfo(
            "email",
            "varchar(120)",
            "str",
            False,
            comment="login address",
            max_length=120,
            position=2,
        ),
        ColumnInfo(
            "name",
            "varchar(80)",
            "str",
            False,
            default="'it''s anonymous'",
            max_length=80,
            position=3,
        ),
        ColumnInfo(
            "credit",
            "decimal(12,2)",
            "decimal",
            False,
            default="0.00",
            precision=12,
            scale=2,
            position=4,
        ),
        ColumnInfo("visits", s("int(11)", "int"), "int", False, default="7", position=5),
        ColumnInfo("born", "date", "date", True, position=6),
        ColumnInfo("wakes", "time", "time", True, position=7),
        ColumnInfo("seen", "datetime(6)", "datetime", True, position=8),
        ColumnInfo(
            "created",
            "timestamp",
            "datetime",
            False,
            default=s("current_timestamp()", "CURRENT_TIMESTAMP"),
            position=9,
        ),
        ColumnInfo("prefs", s("longtext", "json"), "json", True, position=10),
        ColumnInfo(
            "grade",
            "enum('a','b''c')",
            "enum",
            False,
            default="'a'",
            enum_values=("a", "b'c"),
            position=11,
        ),
        ColumnInfo("active", "tinyint(1)", "bool", False, default="1", position=12),
        ColumnInfo("token", "varbinary(16)", "bytes", True, max_length=16, position=13),
        ColumnInfo("tags", "set('x','y')", None, True, position=14),
        ColumnInfo("spot", "geometry", None, True, position=15),
        ColumnInfo("big", s("bigint(20) unsigned", "bigint unsigned"), "int", True, position=16),
        ColumnInfo(
            "credit_x2",
            "decimal(13,2)",
            "decimal",
            True,
            generated=s("`credit` * 2", "(`credit` * 2)"),
            precision=13,
            scale=2,
            position=17,
        ),
        ColumnInfo(
            "domain",
            "varchar(120)",
            "str",
            True,
            generated=s("substring_index(`email`,'@',-1)"),
            max_length=120,
            position=18,
        ),
    ]
    if shop.mariadb and any(c.name == "external" for c in found["customers"].columns):
        expected.append(ColumnInfo("external", "uuid", "uuid", True, position=19))
    assert list(found["customers"].columns) == expected


def test_mixed_case_column_and_small_integers(found: dict[str, TableInfo]) -> None:
    qty = found["OrderItems"].column("Qty")
    assert (qty.kind, qty.default, qty.nullable) == ("int", "1", False)
    assert qty.type.startswith("smallint")
    message = found["audit_log"].column("message")
    assert (message.kind, message.type, message.max_length) == ("str", "text", 65535)
    assert found["audit_log"].column("at").kind == "datetime"
    assert found["orders"].column("id").auto_increment


# -- keys ------------------------------------------------------------------------------


def test_primary_keys_in_key_order(found: dict[str, TableInfo]) -> None:
    assert found["OrderItems"].primary_key == ("order_id", "line_no")  # not column order
    assert found["customers"].primary_key == ("id",)
    assert found["audit_log"].primary_key == ()


def test_foreign_keys_with_actions(shop: Shop, found: dict[str, TableInfo]) -> None:
    default_rule = shop.spelled("RESTRICT", "NO ACTION")  # InnoDB's default, as each says
    assert found["orders"].foreign_keys == (
        ForeignKeyInfo(
            "fk_orders_customer",
            "orders",
            ("customer_id",),
            "customers",
            ("id",),
            on_update=default_rule,
            on_delete=default_rule,
            schema=shop.name,
            ref_schema=shop.name,
        ),
    )
    assert found["OrderItems"].foreign_keys == (
        ForeignKeyInfo(
            "fk_items_order",
            "OrderItems",
            ("order_id",),
            "orders",
            ("id",),
            on_update="CASCADE",
            on_delete="RESTRICT",
            schema=shop.name,
            ref_schema=shop.name,
        ),
    )
    assert found["shipments"].foreign_keys == (
        ForeignKeyInfo(
            "fk_shipments_item",
            "shipments",
            ("item_order", "item_line"),
            "OrderItems",
            ("order_id", "line_no"),
            on_update=default_rule,
            on_delete="CASCADE",
            schema=shop.name,
            ref_schema=shop.name,
        ),
    )


def test_self_reference_is_in_both_lists(shop: Shop, found: dict[str, TableInfo]) -> None:
    employees = found["employees"]
    (fk,) = employees.foreign_keys
    assert fk == ForeignKeyInfo(
        "fk_employees_manager",
        "employees",
        ("manager_id",),
        "employees",
        ("id",),
        on_update=shop.spelled("RESTRICT", "NO ACTION"),
        on_delete="SET NULL",
        schema=shop.name,
        ref_schema=shop.name,
    )
    assert employees.referenced_by == (fk,)


def test_referenced_by_from_any_schema(shop: Shop, found: dict[str, TableInfo]) -> None:
    referencing = found["customers"].referenced_by
    assert [(f.schema, f.table, f.name) for f in referencing] == [
        (shop.name, "orders", "fk_orders_customer"),
        (shop.other, "invoices", "fk_invoices_customer"),
    ]
    invoices = referencing[1]
    assert invoices == ForeignKeyInfo(
        "fk_invoices_customer",
        "invoices",
        ("customer_id",),
        "customers",
        ("id",),
        on_update=shop.spelled("RESTRICT", "NO ACTION"),
        on_delete="CASCADE",
        schema=shop.other,
        ref_schema=shop.name,
    )
    assert found["orders"].foreign_keys[0] in referencing
    assert found["OrderItems"].referenced_by == found["shipments"].foreign_keys
    assert found["orders"].referenced_by == found["OrderItems"].foreign_keys


def test_unique_constraints_and_indexes(found: dict[str, TableInfo]) -> None:
    customers = found["customers"]
    assert customers.unique == (UniqueInfo("uq_customers_email", ("email",)),)
    assert customers.indexes == (
        IndexInfo("PRIMARY", ("id",), unique=True, primary=True),
        IndexInfo("ix_customers_name_born", ("name", "born")),
        IndexInfo("uq_customers_email", ("email",), unique=True),
    )
    assert found["OrderItems"].unique == ()  # the primary key is not listed as unique
    assert found["OrderItems"].indexes[0] == IndexInfo(
        "PRIMARY", ("order_id", "line_no"), unique=True, primary=True
    )
    assert found["audit_log"].indexes == ()


def test_checks_without_mariadb_json_valid(shop: Shop, found: dict[str, TableInfo]) -> None:
    assert found["customers"].checks == (
        CheckInfo("ck_customers_credit", shop.spelled("`credit` >= 0", "(`credit` >= 0)")),
    )
    assert found["orders"].checks == ()


# -- filtering and schemas -------------------------------------------------------------


def test_tables_filter(shop: Shop, found: dict[str, TableInfo]) -> None:
    tables, _ = run_discover(shop.name, tables=["customers", "OrderItems", "missing"])
    assert [t.name for t in tables] == ["OrderItems", "customers"]
    by_name = {t.name: t for t in tables}
    assert by_name == {"OrderItems": found["OrderItems"], "customers": found["customers"]}
    # Referencing tables outside the filter still appear.
    assert {f.table for f in by_name["customers"].referenced_by} == {"orders", "invoices"}
    assert by_name["OrderItems"].referenced_by[0].table == "shipments"


def test_tables_filter_is_exact(shop: Shop) -> None:
    tables, _ = run_discover(shop.name, tables=["orderitems", "CUSTOMERS"])
    assert tables == []
    assert run_discover(shop.name, tables=[])[0] == []


def test_explicit_schema(shop: Shop, found: dict[str, TableInfo]) -> None:
    tables, _ = run_discover(shop.other, schema=shop.name, tables=["employees"])
    assert tables == [found["employees"]]
    (invoices,), _ = run_discover(shop.name, schema=shop.other)
    assert invoices.schema == shop.other
    assert invoices.foreign_keys == (found["customers"].referenced_by[1],)


# -- bounded queries -------------------------------------------------------------------


def _chain(count: int) -> list[str]:
    statements = []
    for i in range(count):
        ref = f", CONSTRAINT fk_t{i} FOREIGN KEY (prev) REFERENCES t{i - 1} (id)" if i else ""
        statements.append(
            f"CREATE TABLE t{i} (id INT PRIMARY KEY, prev INT, label VARCHAR(20) UNIQUE,"
            f" CHECK (id >= 0), KEY ix_t{i} (label, prev){ref})"
        )
    return statements


def test_query_count_does_not_grow_with_tables(database: str) -> None:
    sql(database, *_chain(3))
    few, few_conn = run_discover(database, proxy=ProxyConnection)
    sql(database, *_chain(60)[3:])
    many, many_conn = run_discover(database, proxy=ProxyConnection)
    assert few_conn is not None and many_conn is not None
    assert len(few) == 3 and len(many) == 60
    assert len(few_conn.statements) == len(many_conn.statements) == CATALOG_QUERIES
    assert all(len(t.indexes) >= 3 and len(t.checks) == 1 for t in many)
    t59 = next(t for t in many if t.name == "t59")
    assert t59.foreign_keys[0].ref_table == "t58"
    assert t59.unique == (UniqueInfo("label", ("label",)),)


def test_bound_parameters_not_interpolated(database: str) -> None:
    sql(database, "CREATE TABLE `it's 100%` (id INT PRIMARY KEY)")
    tables, conn = run_discover(database, tables=["it's 100%"], proxy=ProxyConnection)
    assert [t.name for t in tables] == ["it's 100%"]
    assert conn is not None
    assert not any("it's" in statement for statement in conn.statements)


# -- errors ----------------------------------------------------------------------------


def test_unknown_database_raises(mysql_server: str) -> None:
    with pytest.raises(DataFlowError) as info:
        run_discover(f"disc_missing_{uuid.uuid4().hex[:8]}")
    assert info.value.code == "DF-DB-UNKNOWN-DATABASE"


def test_unknown_schema_raises(database: str) -> None:
    with pytest.raises(SchemaError) as info:
        run_discover(database, schema=f"disc_missing_{uuid.uuid4().hex[:8]}")
    assert info.value.code == "DF-SCHEMA-MISSING"


def test_lost_connection_mid_discovery_raises(shop: Shop) -> None:
    async def kill_before_third(proxy: ProxyConnection) -> None:
        if len(proxy.statements) == 2:
            try:
                await proxy.inner.execute("KILL CONNECTION_ID()")
            except DataFlowError:
                pass  # the server may answer the KILL itself with an error

    # Never a partial or empty result: the translated driver error reaches the caller.
    with pytest.raises(DatabaseError):
        run_discover(shop.name, proxy=lambda conn: ProxyConnection(conn, before=kill_before_third))


def test_a_string_is_not_a_list_of_tables(shop: Shop) -> None:
    with pytest.raises(ValidationError):
        run_discover(shop.name, tables="customers")


def test_mysql8_check_query(shop: Shop, found: dict[str, TableInfo]) -> None:
    """The MySQL 8 form of the check query (joined through TABLE_CONSTRAINTS) runs and
    finds the same checks; here the server facts are rewritten to look like MySQL's."""

    def like_mysql(call: int, rows: list[Sequence[Any]]) -> list[Sequence[Any]]:
        if call == 1:
            _, schema, exists, expressions, checks, _ = rows[0]
            return [("8.0.36", schema, exists, expressions, checks, 0)]
        return rows

    tables, conn = run_discover(
        shop.name,
        tables=["customers", "orders"],
        proxy=lambda c: ProxyConnection(c, rewrite=like_mysql),
    )
    assert conn is not None and "TABLE_CONSTRAINTS" in conn.statements[-1]
    assert [t.checks for t in tables] == [found["customers"].checks, ()]
    assert tables[0].column("prefs").kind == "json"


# -- pure parts: MySQL 8 spellings that MariaDB never produces -------------------------


@pytest.mark.parametrize(
    ("raw", "data_type", "extra", "expected"),
    [
        (None, "varchar", "", None),
        ("abc", "varchar", "", "'abc'"),
        ("it's \\ x", "varchar", "", "'it''s \\\\ x'"),
        ("NULL", "varchar", "", "'NULL'"),  # the string NULL, not "no default"
        ("7", "int", "", "7"),
        ("0.00", "decimal", "", "0.00"),
        ("2020", "year", "", "2020"),
        ("b'101'", "bit", "", "b'101'"),
        ("2020-01-02", "date", "", "'2020-01-02'"),
        ("a", "enum", "", "'a'"),
        ("CURRENT_TIMESTAMP", "timestamp", "DEFAULT_GENERATED", "CURRENT_TIMESTAMP"),
        ("CURRENT_TIMESTAMP(6)", "datetime", "", "CURRENT_TIMESTAMP(6)"),
        ("(1 + 2)", "int", "DEFAULT_GENERATED", "(1 + 2)"),
        ("0x6162", "varbinary", "", "0x6162"),
        (b"abc", "char", "", "'abc'"),
    ],
)
def test_mysql_raw_defaults_become_expressions(
    raw: Any, data_type: str, extra: str, expected: str | None
) -> None:
    assert _default(raw, data_type, extra, quoted=False) == expected


def test_mariadb_defaults_are_already_expressions() -> None:
    assert _default("NULL", "varchar", "", quoted=True) is None
    assert _default("'NULL'", "varchar", "", quoted=True) == "'NULL'"
    assert _default("current_timestamp()", "timestamp", "", quoted=True) == "current_timestamp()"


@pytest.mark.parametrize(
    ("data_type", "column_type", "kind"),
    [
        ("tinyint", "tinyint(1)", "bool"),
        ("tinyint", "tinyint(4)", "int"),
        ("tinyint", "tinyint", "int"),
        ("tinyint", "tinyint(1) unsigned", "int"),
        ("bigint", "bigint unsigned", "int"),
        ("mediumint", "mediumint(9)", "int"),
        ("decimal", "decimal(10,2)", "decimal"),
        ("double", "double", "float"),
        ("float", "float", "float"),
        ("char", "char(36)", "str"),
        ("mediumtext", "mediumtext", "str"),
        ("json", "json", "json"),
        ("longblob", "longblob", "bytes"),
        ("binary", "binary(16)", "bytes"),
        ("timestamp", "timestamp(6)", "datetime"),
        ("uuid", "uuid", "uuid"),
        ("set", "set('a')", None),
        ("bit", "bit(1)", None),
        ("year", "year", None),
        ("point", "point", None),
        ("inet6", "inet6", None),
    ],
)
def test_kind_mapping(data_type: str, column_type: str, kind: str | None) -> None:
    assert _kind(data_type, column_type) == kind


def test_json_valid_check_marks_only_text_columns() -> None:
    assert _kind("longtext", "longtext", is_json=True) == "json"
    assert _kind("int", "int", is_json=True) == "int"


def test_enum_values_unescape() -> None:
    assert _enum_values("enum('a','b''c')") == ("a", "b'c")
    assert _enum_values("enum('x\\\\y','p,q','it\\'s','(a)')") == ("x\\y", "p,q", "it's", "(a)")
    assert _enum_values("enum('')") == ("",)


def test_expression_index_parts() -> None:
    rows = [
        ("t", "ix_expr", 1, 2, "b", None),
        ("t", "ix_expr", 1, 1, None, "lower(`a`)"),
        ("t", "PRIMARY", 0, 1, "id", None),
    ]
    assert _indexes(rows) == {
        "t": [
            IndexInfo("PRIMARY", ("id",), unique=True, primary=True),
            IndexInfo("ix_expr", ("lower(`a`)", "b")),
        ]
    }
