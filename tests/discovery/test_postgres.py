"""PostgreSQL discovery against a real server: a schema built in raw SQL, read back from
the catalogs through DataFlow's own connection."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import asyncpg
import pytest

from dataflow_engine import DataFlow, _loop
from dataflow_engine.discovery import TableInfo
from dataflow_engine.discovery._postgres import discover
from dataflow_engine.errors import ConnectError, ConnectionLost, ValidationError
from tests.conftest import PG_ADMIN_URL, pg_admin, pg_url


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


SCHEMA_SQL = """
SET search_path TO {s};
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
ALTER TYPE mood ADD VALUE 'meh' BEFORE 'ok';
CREATE DOMAIN short_code AS varchar(8);
CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0);

CREATE TABLE departments (
    code text,
    region text,
    name varchar(80) NOT NULL,
    budget numeric(12,2) NOT NULL DEFAULT 0,
    CONSTRAINT departments_pkey PRIMARY KEY (region, code),
    CONSTRAINT departments_name_key UNIQUE (name)
);

CREATE TABLE employees (
    id serial PRIMARY KEY,
    manager_id integer
        CONSTRAINT employees_manager_fk REFERENCES employees (id) ON DELETE SET NULL,
    dept_region text,
    dept_code text,
    email text NOT NULL,
    hired_on date NOT NULL DEFAULT CURRENT_DATE,
    starts_at time,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamp,
    mood mood DEFAULT 'ok',
    past_moods mood[],
    salary positive_int,
    badge uuid,
    photo bytea,
    active boolean NOT NULL DEFAULT true,
    notice interval,
    extension short_code,
    CONSTRAINT employees_dept_fk FOREIGN KEY (dept_region, dept_code)
        REFERENCES departments (region, code) ON UPDATE CASCADE ON DELETE RESTRICT,
    CONSTRAINT employees_salary_cap CHECK (salary < 1000000)
);
CREATE UNIQUE INDEX employees_email_lower ON employees (lower(email));
CREATE INDEX employees_hired_active ON employees (hired_on) WHERE active;
COMMENT ON TABLE employees IS 'People on the payroll';
COMMENT ON COLUMN employees.email IS 'Work address';

CREATE TABLE "OrderItems" (
    order_id bigint,
    line integer,
    "Qty" integer NOT NULL DEFAULT 1 CONSTRAINT "OrderItems_Qty_positive" CHECK ("Qty" > 0),
    "Unit ""Price"" EUR" numeric(10,2) NOT NULL,
    total numeric GENERATED ALWAYS AS ("Qty" * "Unit ""Price"" EUR") STORED,
    ticket bigint GENERATED ALWAYS AS IDENTITY,
    tags text[],
    scores integer[],
    payload json,
    meta jsonb,
    sold_by integer REFERENCES employees (id),
    PRIMARY KEY (order_id, line)
);

CREATE TABLE log_lines (
    message text,
    gone integer,
    code char(3),
    label varchar(40),
    ratio real,
    weight double precision,
    tiny smallint
);
ALTER TABLE log_lines DROP COLUMN gone;
INSERT INTO log_lines (message) VALUES ('a'), ('b'), ('c');

CREATE VIEW active_employees AS SELECT id, email FROM employees WHERE active;
CREATE MATERIALIZED VIEW department_sizes AS
    SELECT dept_code, count(*) AS n FROM employees GROUP BY dept_code;

CREATE TABLE measurements (at date NOT NULL, value double precision) PARTITION BY RANGE (at);
CREATE TABLE measurements_2024 PARTITION OF measurements
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');

CREATE SCHEMA {o};
CREATE TABLE {o}.audits (
    id integer PRIMARY KEY,
    dept_region text,
    dept_code text,
    CONSTRAINT audits_dept_fk FOREIGN KEY (dept_region, dept_code)
        REFERENCES departments (region, code) ON DELETE CASCADE
);
"""

ALL_NAMES = [
    "OrderItems",
    "active_employees",
    "department_sizes",
    "departments",
    "employees",
    "log_lines",
    "measurements",
]


@pytest.fixture
def schemas(pg_database: str) -> Iterator[tuple[str, str]]:
    """A fresh schema holding the objects above, and a mixed-case schema referencing it."""
    tag = uuid.uuid4().hex[:10]
    schema, other = f"disc_{tag}", f'Audit "Ops" {tag}'
    pg_admin(f"CREATE SCHEMA {_quote(schema)}", pg_database)
    try:
        pg_admin(SCHEMA_SQL.format(s=_quote(schema), o=_quote(other)), pg_database)
        pg_admin(f"ANALYZE {_quote(schema)}.log_lines", pg_database)
        yield schema, other
    finally:
        pg_admin(f"DROP SCHEMA IF EXISTS {_quote(other)} CASCADE", pg_database)
        pg_admin(f"DROP SCHEMA IF EXISTS {_quote(schema)} CASCADE", pg_database)


class CountingConnection:
    """Counts the queries sent through it."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.calls = 0

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        self.calls += 1
        return await self.conn.fetch(sql, params)  # type: ignore[no-any-return]


def run_discover(
    database: str,
    schema: str | None,
    tables: Sequence[str] | None = None,
    wrap: Callable[[Any], Any] | None = None,
) -> list[TableInfo]:
    db = DataFlow(pg_url(database, schema), existing_schema_mode=True)

    async def go() -> list[TableInfo]:
        async with db._adapter.acquire() as conn:
            return await discover(wrap(conn) if wrap else conn, schema, tables)

    try:
        return _loop.run_sync(go())
    finally:
        db.close()


def by_name(tables: list[TableInfo]) -> dict[str, TableInfo]:
    return {t.name: t for t in tables}


def test_every_table_and_view_with_its_kind(schemas: tuple[str, str], pg_database: str) -> None:
    schema, _ = schemas
    tables = run_discover(pg_database, schema)

    assert [t.name for t in tables] == ALL_NAMES  # partitions are not listed
    kinds = {t.name: t.kind for t in tables}
    assert kinds == {
        "OrderItems": "table",
        "active_employees": "view",
        "department_sizes": "view",
        "departments": "table",
        "employees": "table",
        "log_lines": "table",
        "measurements": "table",
    }
    assert all(t.schema == schema for t in tables)
    assert by_name(tables)["department_sizes"].extra["relkind"] == "m"


def test_columns(schemas: tuple[str, str], pg_database: str) -> None:
    schema, _ = schemas
    t = by_name(run_discover(pg_database, schema))
    emp = t["employees"]

    # name -> (kind, nullable, has default, auto_increment, array_kind)
    expected = {
        "id": ("int", False, True, True, None),
        "manager_id": ("int", True, False, False, None),
        "dept_region": ("str", True, False, False, None),
        "dept_code": ("str", True, False, False, None),
        "email": ("str", False, False, False, None),
        "hired_on": ("date", False, True, False, None),
        "starts_at": ("time", True, False, False, None),
        "created_at": ("datetime", False, True, False, None),
        "updated_at": ("naive_datetime", True, False, False, None),
        "mood": ("enum", True, True, False, None),
        "past_moods": ("array", True, False, False, "enum"),
        "salary": ("int", True, False, False, None),
        "badge": ("uuid", True, False, False, None),
        "photo": ("bytes", True, False, False, None),
        "active": ("bool", False, True, False, None),
        "notice": (None, True, False, False, None),
        "extension": ("str", True, False, False, None),
    }
    assert [c.name for c in emp.columns] == list(expected)
    assert [c.position for c in emp.columns] == list(range(1, len(expected) + 1))
    for c in emp.columns:
        kind, nullable, has_default, auto, array_kind = expected[c.name]
        assert (c.kind, c.nullable, c.default is not None, c.auto_increment, c.array_kind) == (
            kind,
            nullable,
            has_default,
            auto,
            array_kind,
        ), c
        assert c.generated is None
    assert emp.column("id").default.startswith("nextval(")  # type: ignore[union-attr]
    assert emp.column("created_at").default == "now()"
    assert emp.column("active").default == "true"
    assert emp.column("hired_on").default == "CURRENT_DATE"
    assert emp.column("mood").default.startswith("'ok'::")  # type: ignore[union-attr]
    assert emp.column("mood").enum_values == ("sad", "meh", "ok", "happy")
    assert emp.column("past_moods").enum_values == ("sad", "meh", "ok", "happy")
    assert emp.column("email").enum_values is None
    assert emp.column("email").comment == "Work address"
    assert emp.column("id").comment is None
    assert emp.column("id").type == "integer"
    assert emp.column("updated_at").type == "timestamp without time zone"
    assert emp.column("notice").type == "interval"
    assert emp.column("extension").max_length == 8  # through the domain
    assert emp.column("salary").type.endswith("positive_int")

    items = t["OrderItems"]
    assert [c.name for c in items.columns] == [
        "order_id",
        "line",
        "Qty",
        'Unit "Price" EUR',
        "total",
        "ticket",
        "tags",
        "scores",
        "payload",
        "meta",
        "sold_by",
    ]
    qty = items.column("Qty")
    assert (qty.kind, qty.nullable, qty.default) == ("int", False, "1")
    price = items.column('Unit "Price" EUR')
    assert (price.kind, price.type, price.precision, price.scale) == (
        "decimal",
        "numeric(10,2)",
        10,
        2,
    )
    total = items.column("total")
    assert total.kind == "decimal" and total.precision is None and total.default is None
    assert total.generated is not None
    assert '"Qty"' in total.generated and '"Unit ""Price"" EUR"' in total.generated
    assert not total.auto_increment
    ticket = items.column("ticket")
    assert (ticket.kind, ticket.auto_increment, ticket.default, ticket.nullable) == (
        "int",
        True,
        None,
        False,
    )
    assert (items.column("tags").kind, items.column("tags").array_kind) == ("array", "str")
    assert items.column("tags").type == "text[]"
    assert (items.column("scores").kind, items.column("scores").array_kind) == ("array", "int")
    assert items.column("payload").kind == "json"
    assert items.column("meta").kind == "json"
    assert items.column("meta").type == "jsonb"

    dept = t["departments"]
    budget = dept.column("budget")
    assert (budget.kind, budget.precision, budget.scale, budget.default) == ("decimal", 12, 2, "0")
    name = dept.column("name")
    assert (name.kind, name.type, name.max_length) == ("str", "character varying(80)", 80)

    logs = t["log_lines"]
    assert [(c.name, c.position) for c in logs.columns] == [
        ("message", 1),
        ("code", 2),
        ("label", 3),
        ("ratio", 4),
        ("weight", 5),
        ("tiny", 6),
    ]
    assert (logs.column("code").kind, logs.column("code").max_length) == ("str", 3)
    assert logs.column("code").type == "character(3)"
    assert logs.column("label").max_length == 40
    assert logs.column("ratio").kind == "float"
    assert logs.column("weight").kind == "float"
    assert logs.column("tiny").kind == "int"

    view = t["active_employees"]
    assert [(c.name, c.kind) for c in view.columns] == [("id", "int"), ("email", "str")]
    assert view.primary_key == () and view.indexes == () and view.row_estimate is None
    sizes = t["department_sizes"]
    assert [(c.name, c.kind) for c in sizes.columns] == [("dept_code", "str"), ("n", "int")]


def test_keys_constraints_indexes_and_comments(schemas: tuple[str, str], pg_database: str) -> None:
    schema, other = schemas
    t = by_name(run_discover(pg_database, schema))
    dept, emp, items, logs = t["departments"], t["employees"], t["OrderItems"], t["log_lines"]

    assert dept.primary_key == ("region", "code")  # key order, not column order
    assert items.primary_key == ("order_id", "line")
    assert emp.primary_key == ("id",)
    assert logs.primary_key == ()

    manager_fk = next(fk for fk in emp.foreign_keys if fk.name == "employees_manager_fk")
    assert manager_fk.columns == ("manager_id",)
    assert (manager_fk.schema, manager_fk.table) == (schema, "employees")
    assert (manager_fk.ref_schema, manager_fk.ref_table, manager_fk.ref_columns) == (
        schema,
        "employees",
        ("id",),
    )
    assert (manager_fk.on_update, manager_fk.on_delete) == ("NO ACTION", "SET NULL")
    assert manager_fk in emp.referenced_by  # a self-reference is in both lists

    dept_fk = next(fk for fk in emp.foreign_keys if fk.name == "employees_dept_fk")
    assert dept_fk.columns == ("dept_region", "dept_code")
    assert (dept_fk.ref_table, dept_fk.ref_columns) == ("departments", ("region", "code"))
    assert (dept_fk.on_update, dept_fk.on_delete) == ("CASCADE", "RESTRICT")
    assert {fk.name for fk in emp.foreign_keys} == {"employees_manager_fk", "employees_dept_fk"}

    assert {(fk.schema, fk.table, fk.name, fk.on_delete) for fk in dept.referenced_by} == {
        (schema, "employees", "employees_dept_fk", "RESTRICT"),
        (other, "audits", "audits_dept_fk", "CASCADE"),
    }
    assert dept.foreign_keys == ()
    assert {(fk.table, fk.columns) for fk in emp.referenced_by} == {
        ("employees", ("manager_id",)),
        ("OrderItems", ("sold_by",)),
    }
    (sold_by,) = items.foreign_keys
    assert (sold_by.on_update, sold_by.on_delete) == ("NO ACTION", "NO ACTION")

    assert [(u.name, u.columns) for u in dept.unique] == [("departments_name_key", ("name",))]
    assert emp.unique == ()  # a unique index is not a unique constraint

    indexes = {i.name: i for i in emp.indexes}
    assert set(indexes) == {"employees_pkey", "employees_email_lower", "employees_hired_active"}
    assert (indexes["employees_pkey"].primary, indexes["employees_pkey"].unique) == (True, True)
    assert indexes["employees_pkey"].columns == ("id",)
    assert indexes["employees_email_lower"].unique
    assert not indexes["employees_email_lower"].primary
    assert indexes["employees_email_lower"].columns == ("lower(email)",)
    assert indexes["employees_email_lower"].partial is None
    partial = indexes["employees_hired_active"]
    assert partial.columns == ("hired_on",) and not partial.unique
    assert partial.partial is not None and "active" in partial.partial
    dept_indexes = {i.name: i.columns for i in dept.indexes}
    assert dept_indexes == {
        "departments_pkey": ("region", "code"),
        "departments_name_key": ("name",),
    }

    assert [c.name for c in emp.checks] == ["employees_salary_cap"]
    assert emp.checks[0].expression.startswith("CHECK (")
    assert "salary" in emp.checks[0].expression and "< 1000000" in emp.checks[0].expression
    assert [c.name for c in items.checks] == ["OrderItems_Qty_positive"]
    assert '"Qty" > 0' in items.checks[0].expression
    assert dept.checks == ()  # NOT NULL is not a check

    assert emp.comment == "People on the payroll"
    assert dept.comment is None

    assert logs.row_estimate == 3  # analyzed in the fixture
    for table in t.values():
        assert table.row_estimate is None or (
            isinstance(table.row_estimate, int) and table.row_estimate >= 0
        )


def test_partitioned_table_is_reported_once(schemas: tuple[str, str], pg_database: str) -> None:
    schema, _ = schemas
    measurements = by_name(run_discover(pg_database, schema))["measurements"]
    assert [(c.name, c.kind, c.nullable) for c in measurements.columns] == [
        ("at", "date", False),
        ("value", "float", True),
    ]
    assert run_discover(pg_database, schema, ["measurements_2024"]) == []


def test_filter_by_table_names(schemas: tuple[str, str], pg_database: str) -> None:
    schema, other = schemas
    tables = run_discover(pg_database, schema, ["departments", "OrderItems", "missing"])
    assert [t.name for t in tables] == ["OrderItems", "departments"]
    dept = by_name(tables)["departments"]
    # Referencing tables outside the filter (and outside the schema) are still listed.
    assert {(fk.schema, fk.table) for fk in dept.referenced_by} == {
        (schema, "employees"),
        (other, "audits"),
    }
    (items,) = run_discover(pg_database, schema, ["OrderItems"])
    assert items.foreign_keys[0].ref_table == "employees"

    assert run_discover(pg_database, schema, ["orderitems"]) == []  # names are exact
    assert run_discover(pg_database, schema, []) == []
    assert run_discover(pg_database, f"no_such_{uuid.uuid4().hex[:8]}") == []


def test_schema_name_with_quotes_and_spaces(schemas: tuple[str, str], pg_database: str) -> None:
    schema, other = schemas
    db = DataFlow(pg_url(pg_database), existing_schema_mode=True)

    async def go() -> list[TableInfo]:
        async with db._adapter.acquire() as conn:
            return await discover(conn, other, None)

    try:
        (audits,) = _loop.run_sync(go())
    finally:
        db.close()
    assert (audits.schema, audits.name, audits.primary_key) == (other, "audits", ("id",))
    (fk,) = audits.foreign_keys
    assert (fk.schema, fk.ref_schema, fk.ref_table) == (other, schema, "departments")
    assert audits.referenced_by == ()


def test_a_single_name_is_rejected(schemas: tuple[str, str], pg_database: str) -> None:
    schema, _ = schemas
    with pytest.raises(ValidationError):
        run_discover(pg_database, schema, "employees")


def test_query_count_does_not_grow_with_tables(pg_database: str) -> None:
    tag = uuid.uuid4().hex[:10]
    small, large = f"disc_small_{tag}", f"disc_large_{tag}"

    def table_sql(schema: str, i: int) -> str:
        return (
            f'CREATE TABLE "{schema}".t{i} (id integer PRIMARY KEY, '
            f'parent integer REFERENCES "{schema}".t{i} (id), '
            f"note varchar(20) UNIQUE CHECK (note <> ''), tags text[]); "
            f'CREATE INDEX t{i}_note ON "{schema}".t{i} (lower(note)) WHERE id > 0; '
            f"COMMENT ON TABLE \"{schema}\".t{i} IS 'table {i}'"
        )

    pg_admin(
        f'CREATE SCHEMA "{small}"; CREATE SCHEMA "{large}"; '
        + "; ".join(table_sql(small, i) for i in range(3))
        + "; "
        + "; ".join(table_sql(large, i) for i in range(60)),
        pg_database,
    )
    try:
        counters: list[CountingConnection] = []

        def counting(conn: Any) -> CountingConnection:
            counters.append(CountingConnection(conn))
            return counters[-1]

        assert len(run_discover(pg_database, small, wrap=counting)) == 3
        found = run_discover(pg_database, large, wrap=counting)
        assert len(found) == 60
        assert all(len(t.indexes) == 3 and len(t.checks) == 1 for t in found)
        small_calls, large_calls = (c.calls for c in counters)
        assert small_calls == large_calls == 5
    finally:
        pg_admin(
            f'DROP SCHEMA IF EXISTS "{small}" CASCADE; DROP SCHEMA IF EXISTS "{large}" CASCADE',
            pg_database,
        )


def test_extension_types_by_name(pg_database: str) -> None:
    # A database of its own: extensions are per database, and their type OIDs vary.
    database = f"{pg_database}_ext_{uuid.uuid4().hex[:6]}"
    pg_admin(f'CREATE DATABASE "{database}"')
    try:
        try:
            pg_admin("CREATE EXTENSION citext; CREATE EXTENSION hstore", database)
        except asyncpg.PostgresError as exc:
            pytest.skip(f"citext/hstore are not installed on this server: {exc}")
        pg_admin(
            "CREATE DOMAIN ci_name AS citext; "
            "CREATE TABLE people (nick citext, nicks citext[], alias ci_name, attrs hstore)",
            database,
        )
        (people,) = run_discover(database, "public")
        assert [(c.name, c.kind, c.array_kind) for c in people.columns] == [
            ("nick", "str", None),
            ("nicks", "array", "str"),
            ("alias", "str", None),
            ("attrs", None, None),
        ]
        assert run_discover(database, None) == [people]
    finally:
        pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def test_unreachable_database_raises(pg_database: str) -> None:
    with pytest.raises(ConnectError):
        run_discover(f"no_such_db_{uuid.uuid4().hex[:8]}", "public")


def test_connection_lost_midway_raises(schemas: tuple[str, str], pg_database: str) -> None:
    schema, _ = schemas

    class KilledAfterFirstQuery(CountingConnection):
        async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
            if self.calls == 1:
                await self.conn.fetch("SELECT pg_terminate_backend(pg_backend_pid())")
            return await super().fetch(sql, params)

    with pytest.raises(ConnectionLost):
        run_discover(pg_database, schema, wrap=KilledAfterFirstQuery)


def test_connection_killed_while_idle_is_connection_lost(
    schemas: tuple[str, str], pg_database: str
) -> None:
    schema, _ = schemas
    admin_url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + pg_database

    class KilledBetweenQueries(CountingConnection):
        async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
            if self.calls == 1:
                pid = (await self.conn.fetch("SELECT pg_backend_pid()"))[0][0]
                admin = await asyncpg.connect(admin_url)
                try:
                    await admin.execute("SELECT pg_terminate_backend($1, 5000)", pid)
                finally:
                    await admin.close()
            return await super().fetch(sql, params)

    with pytest.raises(ConnectionLost):
        run_discover(pg_database, schema, wrap=KilledBetweenQueries)
