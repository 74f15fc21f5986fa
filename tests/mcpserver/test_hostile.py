"""Hostile input to the MCP server in its default mode (read-only, existing schema).

Every tool is called with crafted names, filters, pipelines, ids, limits and workflows.
Each call must come back as a correct answer or as an error result carrying a ``DF-``
code: never an exception in the client, never a hang. Checksums of every table's rows
and of the catalog, read with the raw driver before and after, must not change, and the
server must still answer a plain query at the end.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import queue
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import anyio
import pytest
from mcp import Client
from mcp_types import CallToolResult

from dataflow_engine.config import DatabaseURL, parse_url
from dataflow_mcp import ServerConfig, create_server
from tests.test_existing import existing_url  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(180)

MB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[2]
HOSTILE_NAMES = [
    "users; DROP TABLE x",
    '"; --',
    'employees" ; DROP TABLE "employees',
    "order_items'--",
    "employees`; DROP TABLE `employees`; --",
    "order_items/*",
]
SEEDED_ITEMS = [
    {"order_id": 1, "line": 1, "sku": "S11", "qty": 1},
    {"order_id": 1, "line": 2, "sku": "S12", "qty": 2},
    {"order_id": 2, "line": 1, "sku": "it's; --", "qty": 3},
]


# -- the fixture database, seeded and checksummed with the raw driver ------------------


def seed_statements(dialect: str) -> list[str]:
    q = "`" if dialect == "mysql" else '"'
    return [
        "INSERT INTO employees (id, name, manager_id) VALUES (1, 'Boss', NULL), (2, 'Ann', 1)",
        "INSERT INTO order_items (order_id, line, sku, qty, price) VALUES "
        "(1, 1, 'S11', 1, 1.15), (1, 2, 'S12', 2, NULL), (2, 1, 'it''s; --', 3, 9.99)",
        f"INSERT INTO {q}Customers{q} ({q}Name{q}, balance) VALUES ('Zoë', 150), ('Bob', 5)",
        "INSERT INTO audit_log (at, message) VALUES ('2024-01-02 03:04:05', 'seeded')",
    ]


def digest(value: Any) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()


def rows_digest(rows: Any) -> str:
    return digest(sorted(repr(tuple(row)) for row in rows))


def seed(url: str) -> None:
    parsed = parse_url(url)
    statements = seed_statements(parsed.dialect)
    if parsed.dialect == "sqlite":
        with sqlite3.connect(parsed.database or "") as conn:
            for statement in statements:
                conn.execute(statement)
        conn.close()
    elif parsed.dialect == "postgresql":
        asyncio.run(_pg_seed(parsed, statements))
    else:
        asyncio.run(_mysql_seed(parsed, statements))


def snapshot(url: str) -> dict[str, str]:
    """A checksum of the catalog and one of each table's rows, read with the raw driver."""
    parsed = parse_url(url)
    if parsed.dialect == "sqlite":
        return _sqlite_snapshot(parsed)
    if parsed.dialect == "postgresql":
        return asyncio.run(_pg_snapshot(parsed))
    return asyncio.run(_mysql_snapshot(parsed))


def _sqlite_snapshot(parsed: DatabaseURL) -> dict[str, str]:
    conn = sqlite3.connect(f"file:{parsed.database}?mode=ro", uri=True)
    try:
        catalog = conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
        out = {"catalog": digest(catalog)}
        for (table,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        ).fetchall():
            out[f"rows of {table}"] = rows_digest(conn.execute(f'SELECT * FROM "{table}"'))
        return out
    finally:
        conn.close()


async def _pg_connect(parsed: DatabaseURL) -> Any:
    import asyncpg

    return await asyncpg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        password=parsed.password,
        database=parsed.database,
    )


async def _pg_seed(parsed: DatabaseURL, statements: list[str]) -> None:
    conn = await _pg_connect(parsed)
    try:
        await conn.execute(f'SET search_path TO "{parsed.schema}"')
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _pg_snapshot(parsed: DatabaseURL) -> dict[str, str]:
    schema = parsed.schema
    conn = await _pg_connect(parsed)
    try:
        catalog = {
            "columns": await conn.fetch(
                "SELECT table_name, column_name, data_type, is_nullable, column_default"
                " FROM information_schema.columns WHERE table_schema = $1"
                " ORDER BY table_name, ordinal_position",
                schema,
            ),
            "tables": await conn.fetch(
                "SELECT table_name, table_type FROM information_schema.tables"
                " WHERE table_schema = $1 ORDER BY table_name",
                schema,
            ),
            "indexes": await conn.fetch(
                "SELECT tablename, indexname, indexdef FROM pg_indexes"
                " WHERE schemaname = $1 ORDER BY tablename, indexname",
                schema,
            ),
            "constraints": await conn.fetch(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
                " FROM pg_constraint WHERE connamespace ="
                " (SELECT oid FROM pg_namespace WHERE nspname = $1) ORDER BY 1, 2",
                schema,
            ),
            "views": await conn.fetch(
                "SELECT viewname, definition FROM pg_views WHERE schemaname = $1 ORDER BY viewname",
                schema,
            ),
            "enums": await conn.fetch(
                "SELECT t.typname, e.enumlabel FROM pg_enum e JOIN pg_type t"
                " ON t.oid = e.enumtypid WHERE t.typnamespace ="
                " (SELECT oid FROM pg_namespace WHERE nspname = $1)"
                " ORDER BY t.typname, e.enumsortorder",
                schema,
            ),
        }
        out = {"catalog": digest({k: [tuple(r) for r in v] for k, v in catalog.items()})}
        for table, kind in catalog["tables"]:
            if kind == "BASE TABLE":
                rows = await conn.fetch(f'SELECT * FROM "{schema}"."{table}"')
                out[f"rows of {table}"] = rows_digest(rows)
        return out
    finally:
        await conn.close()


async def _mysql_connect(parsed: DatabaseURL) -> Any:
    import asyncmy

    return await asyncmy.connect(
        host=parsed.host,
        port=parsed.port or 3306,
        user=parsed.username,
        password=parsed.password or "",
        database=parsed.database,
    )


async def _mysql_seed(parsed: DatabaseURL, statements: list[str]) -> None:
    conn = await _mysql_connect(parsed)
    try:
        async with conn.cursor() as cur:
            for statement in statements:
                await cur.execute(statement)
        await conn.commit()
    finally:
        conn.close()


MYSQL_CATALOG = {
    "columns": "SELECT table_name, column_name, column_type, is_nullable, column_default, extra"
    " FROM information_schema.columns WHERE table_schema = %s"
    " ORDER BY table_name, ordinal_position",
    "tables": "SELECT table_name, table_type FROM information_schema.tables"
    " WHERE table_schema = %s ORDER BY table_name",
    "indexes": "SELECT table_name, index_name, seq_in_index, column_name, non_unique"
    " FROM information_schema.statistics WHERE table_schema = %s ORDER BY 1, 2, 3",
    "constraints": "SELECT table_name, constraint_name, constraint_type"
    " FROM information_schema.table_constraints WHERE table_schema = %s ORDER BY 1, 2",
    "foreign_keys": "SELECT table_name, constraint_name, referenced_table_name, update_rule,"
    " delete_rule FROM information_schema.referential_constraints"
    " WHERE constraint_schema = %s ORDER BY 1, 2",
    "checks": "SELECT constraint_name, check_clause FROM information_schema.check_constraints"
    " WHERE constraint_schema = %s ORDER BY 1",
    "views": "SELECT table_name, view_definition FROM information_schema.views"
    " WHERE table_schema = %s ORDER BY 1",
}


async def _mysql_snapshot(parsed: DatabaseURL) -> dict[str, str]:
    conn = await _mysql_connect(parsed)
    try:
        catalog: dict[str, list[tuple[Any, ...]]] = {}
        async with conn.cursor() as cur:
            for key, sql in MYSQL_CATALOG.items():
                await cur.execute(sql, (parsed.database,))
                catalog[key] = [tuple(r) for r in await cur.fetchall()]
            out = {"catalog": digest(catalog)}
            for table, kind in catalog["tables"]:
                if kind == "BASE TABLE":
                    await cur.execute(f"SELECT * FROM `{parsed.database}`.`{table}`")
                    out[f"rows of {table}"] = rows_digest(await cur.fetchall())
        await conn.commit()
        return out
    finally:
        conn.close()


@pytest.fixture
def seeded_url(existing_url: str) -> str:  # noqa: F811
    seed(existing_url)
    return existing_url


# -- what each call must come back with ----------------------------------------------

Verdict = Callable[[CallToolResult], str | None]


def text_of(result: CallToolResult) -> str:
    first = result.content[0] if result.content else None
    text = getattr(first, "text", repr(first))
    return text if len(text) <= 300 else text[:300] + f"... ({len(text)} characters)"


def code_of(result: CallToolResult) -> str | None:
    content = result.structured_content or {}
    error = content.get("error")
    return error.get("code") if isinstance(error, dict) else None


def fails(*codes: str) -> Verdict:
    """An error result with one of ``codes`` (any ``DF-`` code when none is named)."""

    def verdict(result: CallToolResult) -> str | None:
        if not result.is_error:
            return f"expected an error ({' or '.join(codes) or 'DF-*'}), got {text_of(result)}"
        code = code_of(result)
        if not code or not code.startswith("DF-"):
            return f"an error without a DF- code: {text_of(result)}"
        if codes and code not in codes:
            return f"expected {' or '.join(codes)}, got {text_of(result)}"
        return None

    return verdict


def answers(check: Callable[[dict[str, Any]], bool] = lambda _: True) -> Verdict:
    """A result (not an error) whose structured content passes ``check``."""

    def verdict(result: CallToolResult) -> str | None:
        if result.is_error:
            return f"expected an answer, got {text_of(result)}"
        try:
            right = check(dict(result.structured_content or {}))
        except (KeyError, TypeError, IndexError):
            right = False
        return None if right else f"a wrong answer: {text_of(result)}"

    return verdict


def either(*verdicts: Verdict) -> Verdict:
    def verdict(result: CallToolResult) -> str | None:
        problems = [v(result) for v in verdicts]
        return None if None in problems else " / ".join(p for p in problems if p)

    return verdict


def refused_by_schema(argument: str) -> Verdict:
    """Refused before the tool does any work: an error result with a DF- code naming the
    argument (see test_arguments_outside_the_input_schema_carry_a_df_code)."""

    def verdict(result: CallToolResult) -> str | None:
        if not result.is_error or argument not in text_of(result):
            return f"expected a refusal naming {argument!r}, got {text_of(result)}"
        if not (code_of(result) or "").startswith("DF-"):
            return f"expected a DF- code, got {text_of(result)}"
        return None

    return verdict


def records(*keys: tuple[int, int]) -> Callable[[dict[str, Any]], bool]:
    """The answer lists exactly these order_items, by key, in any order."""
    return lambda out: sorted((r["order_id"], r["line"]) for r in out["records"]) == sorted(keys)


def counted(n: int) -> Callable[[dict[str, Any]], bool]:
    return lambda out: out["count"] == n


def tables_named(*names: str) -> Callable[[dict[str, Any]], bool]:
    return lambda out: sorted(out["tables"]) == sorted(names) and out["total"] == len(names)


def deep_and(levels: int) -> dict[str, Any]:
    doc: dict[str, Any] = {"qty": 1}
    for _ in range(levels):
        doc = {"$and": [doc]}
    return doc


def deep_not(levels: int) -> dict[str, Any]:
    doc: dict[str, Any] = {"qty": {"$gte": 1}}
    for _ in range(levels):
        doc = {"$not": doc}
    return doc


def workflow(*nodes: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"workflow": {"nodes": list(nodes), **more}}


def node(type_: Any, params: Any = None, id_: Any = "n") -> dict[str, Any]:
    return {"id": id_, "type": type_, "params": {} if params is None else params}


ALL = (1, 1), (1, 2), (2, 1)
ITEMS = "order_items"
Call = tuple[str, dict[str, Any], Verdict]


def call(tool: str, verdict: Verdict, **args: Any) -> Call:
    return tool, args, verdict


def barrage() -> Iterator[Call]:
    big = "x" * (10 * MB)
    missing = fails("DF-SCHEMA-TABLE-MISSING")
    unknown_field = fails("DF-FILTER-UNKNOWN-FIELD")
    unknown_operator = fails("DF-FILTER-UNKNOWN-OPERATOR")
    unsupported = fails("DF-UNSUPPORTED")
    too_deep = fails("DF-FILTER-MALFORMED")
    read_only = fails("DF-READ-ONLY")

    yield call("describe_database", answers(lambda out: out["read_only"] and out["tables"] == 4))
    yield call(
        "register_tables",
        answers(lambda out: sorted(out["registered_models"]) == ["Employee", "OrderItem"]),
        tables=[ITEMS, "employees"],
    )

    # table and model names that try to break out of an identifier
    for name in HOSTILE_NAMES:
        yield call("describe_table", missing, table=name)
        yield call("query", missing, table=name)
        yield call("count", missing, table=name, filter={"id": 1})
        yield call("aggregate", missing, table=name, pipeline=[{"$count": "n"}])
        yield call("get_record", missing, table=name, id=1)
        yield call("explain", missing, table=name)
        yield call("describe_model", fails("DF-MODEL-UNKNOWN"), model=name)
        yield call("query", fails("DF-MODEL-UNKNOWN"), model=name)
        yield call("search_tables", answers(tables_named()), pattern=name, detail="names")
    yield call(
        "register_tables",
        answers(
            lambda out: (
                out["registered_models"] == []
                and {e["code"] for e in out["errors"]} == {"DF-SCHEMA-TABLE-MISSING"}
                and len(out["errors"]) == len(HOSTILE_NAMES)
            )
        ),
        tables=HOSTILE_NAMES,
    )
    yield call(
        "list_models",
        answers(lambda out: sorted(m["name"] for m in out["models"]) == ["Employee", "OrderItem"]),
    )

    # search patterns full of glob metacharacters (and SQL LIKE ones, which mean nothing)
    for pattern, found in [
        ("[!a-z]*", ()),
        ("[", ()),
        ("[]-[]", ()),
        ("?" * 100, ()),
        ("*_*", ("audit_log", "big_customers", ITEMS)),
        ("_", ("audit_log", "big_customers", ITEMS)),
        ("%", ()),
        ("\\", ()),
        ("[o]rder?items", (ITEMS,)),
        ("ORDER", (ITEMS,)),
        ("*" * 500 + "s", ("Customers", "big_customers", "employees", ITEMS)),
    ]:
        yield call("search_tables", answers(tables_named(*found)), pattern=pattern, detail="names")
    # a pattern, a table or a model name over 512 characters is refused before any work
    yield call("search_tables", fails("DF-PARAM-RANGE"), pattern="*" * 5000 + "s")

    # field names and filter keys with quotes, semicolons and comment markers
    for key in ["sku'--", 'sku"; DROP TABLE order_items; --', "sku/*", "sku`", "", "qty)--"]:
        yield call("query", unknown_field, table=ITEMS, filter={key: 1})
        yield call("count", unknown_field, table=ITEMS, filter={"$or": [{key: 1}]})
        yield call("explain", unknown_field, table=ITEMS, filter={key: 1})
        yield call("query", unknown_field, table=ITEMS, fields=[key])
        yield call("query", unknown_field, table=ITEMS, order_by=[f"-{key}"])
        group = {"$group": {"_id": f"${key}", "n": {"$sum": 1}}}
        yield call("aggregate", unknown_field, table=ITEMS, pipeline=[group])
    malformed_path = fails("DF-FILTER-MALFORMED")
    yield call("query", answers(counted(0)), table="Customers", filter={"profile.a'b": 1})
    yield call("query", malformed_path, table="Customers", filter={'profile."); DROP x; --': 1})
    yield call("query", malformed_path, table="Customers", filter={"profile.$where": 1})

    # operators that do not exist (or must not)
    yield call("query", unsupported, table=ITEMS, filter={"$where": "1 = 1"})
    yield call("query", unsupported, table=ITEMS, filter={"qty": {"$where": 1}})
    yield call("count", unknown_operator, table=ITEMS, filter={"$function": {"body": "x"}})
    yield call("explain", unknown_operator, table=ITEMS, filter={"$eval": "db.dropDatabase()"})
    yield call("query", unknown_operator, table=ITEMS, filter={"qty": {"$gtee": 1}})
    yield call("query", unknown_operator, table=ITEMS, filter={"$expr": {"$function": 1}})
    where = [{"$match": {"$where": "sleep(10)"}}]
    yield call("aggregate", unsupported, table=ITEMS, pipeline=where)

    # values that look like SQL are only ever values
    yield call("query", answers(records((2, 1))), table=ITEMS, filter={"sku": "it's; --"})
    yield call("query", answers(counted(0)), table=ITEMS, filter={"sku": "' OR '1'='1"})
    quoted_in = {"sku": {"$in": ["S11", "'); DELETE FROM order_items; --"]}}
    yield call("count", answers(counted(1)), table=ITEMS, filter=quoted_in)
    yield call("query", fails("DF-FILTER-TYPE"), table=ITEMS, filter={"qty": "1 OR 1=1"})
    yield call("query", fails("DF-FILTER-TYPE"), table=ITEMS, filter={"qty": {"$gt": "0; --"}})
    # (explain with a quote in a value: test_explain_keeps_a_quoted_value_a_parameter)

    # pipelines with stages that write or reach other tables
    for stage in [{"$out": ITEMS}, {"$merge": {"into": "employees"}}, {"$merge": "x"}]:
        yield call("aggregate", unknown_operator, table=ITEMS, pipeline=[stage])
        yield call("explain", unknown_operator, table=ITEMS, pipeline=[stage])
        yield call("aggregate", unknown_operator, table=ITEMS, pipeline=[{"$match": {}}, stage])
    lookup = {"$lookup": {"from": "employees", "as": "e"}}
    yield call("aggregate", unsupported, table=ITEMS, pipeline=[lookup])
    yield call("explain", unsupported, table=ITEMS, pipeline=[lookup])
    evil_group = {"$group": {"_id": None, "n": {"$eval": 1}}}
    yield call("aggregate", unknown_operator, table=ITEMS, pipeline=[evil_group])
    odd_name = {"$group": {"_id": None, "n; DROP TABLE x": {"$sum": 1}}}
    yield call(
        "aggregate",
        answers(lambda out: out["records"] == [{"_id": None, "n; DROP TABLE x": 3}]),
        table=ITEMS,
        pipeline=[odd_name],
    )
    yield call(
        "aggregate",
        answers(lambda out: out["records"] == [{'n"; --': 3}]),
        table=ITEMS,
        pipeline=[{"$count": 'n"; --'}],
    )

    # nesting as deep as the client serialises (deeper: see the stdio tests below)
    yield call("query", too_deep, table=ITEMS, filter=deep_and(120))
    yield call("count", too_deep, table=ITEMS, filter=deep_not(120))
    yield call("explain", too_deep, table=ITEMS, filter=deep_not(120))
    yield call("aggregate", too_deep, table=ITEMS, pipeline=[{"$match": deep_and(120)}])
    deep_count = workflow(node("OrderItemCountNode", {"filter": deep_and(120)}))
    yield call("run_workflow", too_deep, **deep_count)
    yield call("query", answers(records((1, 1))), table=ITEMS, filter=deep_and(30))
    yield call("count", answers(counted(0)), table=ITEMS, filter=deep_not(31))

    # limits
    yield call("query", answers(records(*ALL)), table=ITEMS, limit=10**12)
    yield call("query", answers(records(*ALL)), table=ITEMS, limit=10**30)
    yield call("query", refused_by_schema("limit"), table=ITEMS, limit=-1)
    yield call("query", refused_by_schema("limit"), table=ITEMS, limit=0)
    yield call("search_tables", answers(), limit=10**12)  # capped, like every answer
    yield call("search_tables", refused_by_schema("limit"), limit=-1)
    yield call("aggregate", answers(records(*ALL)), table=ITEMS, pipeline=[{"$limit": 10**12}])
    yield call("aggregate", answers(records()), table=ITEMS, pipeline=[{"$skip": 10**12}])
    for stage in [{"$limit": -1}, {"$skip": -1}, {"$limit": 10**30}, {"$limit": "1; --"}]:
        yield call("aggregate", fails("DF-FILTER-PIPELINE"), table=ITEMS, pipeline=[stage])
    listing = workflow(node("OrderItemListNode", {"limit": -1}))
    yield call("run_workflow", fails("DF-PARAM-RANGE"), **listing)
    listing = workflow(node("OrderItemListNode", {"limit": 10**12}))
    yield call("run_workflow", answers(lambda out: out["results"]["n"]["count"] == 3), **listing)

    # 10 MB strings, as values and as names
    yield call("query", answers(counted(0)), table=ITEMS, filter={"sku": big})
    too_big = either(answers(counted(0)), fails("DF-DB-TOO-BIG"))  # MySQL's max_allowed_packet
    yield call("count", too_big, table=ITEMS, filter={"sku": {"$in": [big, big]}})
    yield call("explain", answers(), table=ITEMS, filter={"sku": {"$ne": big}})
    too_long = fails("DF-PARAM-RANGE")
    yield call("describe_table", too_long, table=big)
    yield call("query", too_long, table=big)
    yield call("register_tables", too_long, tables=[big])
    yield call("describe_model", fails("DF-MODEL-UNKNOWN"), model=big)
    del big

    # ids of the wrong type
    for bad in ["abc", 1.5, True, None, [1], {"$gt": 0}, "1; DROP TABLE employees", 10**30]:
        yield call("get_record", fails(), table="employees", id=bad)
    for bad in [
        "abc",
        7,
        {"order_id": 1},
        {"order_id": "x'--", "line": 1},
        {"order_id": 1, "line": 1, "sku'--": 2},
        {"$or": [{"order_id": 1}]},
    ]:
        yield call("get_record", fails("DF-PARAM-TYPE"), table=ITEMS, id=bad)
    yield call("get_record", fails("DF-PARAM-CONFLICT"), table="audit_log", id=1)  # no key
    yield call(
        "get_record",
        answers(lambda out: out["found"] and out["record"]["sku"] == "it's; --"),
        table=ITEMS,
        id=[2, 1],
    )
    yield call(
        "get_record",
        answers(lambda out: out["record"] == {"id": 2, "name": "Ann", "manager_id": 1}),
        table="employees",
        id=2,
    )

    # workflows: not objects, malformed, unknown node types, and every kind of write node
    for definition in [[], "DROP TABLE employees", 42, None, [{"nodes": []}]]:
        yield call("validate_workflow", refused_by_schema("workflow"), workflow=definition)
        yield call("run_workflow", refused_by_schema("workflow"), workflow=definition)
    for definition in [
        {},
        {"nodes": "x"},
        {"nodes": [1, "x", None]},
        {"nodes": [node("OrderItemListNode", "not an object")]},
        {"nodes": [node("OrderItemListNode")], "connections": "x"},
        {"nodes": [node("OrderItemListNode")], "connections": [{"from": 1, "to": None}]},
    ]:
        invalid = answers(lambda out: not out["valid"])
        yield call("validate_workflow", invalid, workflow=definition)
        yield call("run_workflow", fails(), workflow=definition)
    unknown_type = answers(
        lambda out: [d["code"] for d in out["diagnostics"]] == ["DF-NODE-UNKNOWN-TYPE"]
    )
    for kind in ["NoSuchNode", "employeedeletenode", "EmployeeDeleteNode ", 5, ["X"], {"$e": 1}]:
        yield call("validate_workflow", unknown_type, **workflow(node(kind)))
        yield call("run_workflow", fails("DF-NODE-UNKNOWN-TYPE"), **workflow(node(kind)))
    item = {"order_id": 1, "line": 1, "sku": "M", "qty": 1}
    for write in [
        node("EmployeeCreateNode", {"name": "Mallory"}),
        node("EmployeeUpdateNode", {"id": 1, "fields": {"name": "Mallory"}}),
        node("EmployeeDeleteNode", {"id": 2}),
        node("EmployeeBulkCreateNode", {"data": [{"name": "Mallory"}]}),
        node("EmployeeBulkUpdateNode", {"filter": {"id": 1}, "update": {"name": "M"}}),
        node("EmployeeBulkUpdateNode", {"all": True, "update": {"name": "M"}}),
        node("EmployeeBulkDeleteNode", {"filter": {"id": {"$gte": 0}}}),
        node("EmployeeBulkDeleteNode", {"all": True}),
        node("OrderItemUpsertNode", {"where": item, "create": item, "update": {"qty": 99}}),
        node("OrderItemBulkUpsertNode", {"data": [item]}),
    ]:
        yield call("run_workflow", read_only, **workflow(write))
        after_a_read = workflow(node("EmployeeListNode", id_="r"), {**write, "id": "w"})
        yield call("run_workflow", read_only, **after_a_read)
    fed = workflow(
        node("EmployeeListNode", {"limit": 1}, id_="r"),
        node("EmployeeDeleteNode", id_="w"),
        connections=[{"from": "r.records.0.id", "to": "w.id"}],
    )
    yield call("run_workflow", read_only, **fed)
    yield call("run_workflow", fails(), **workflow(node("EmployeeDeleteNode")))  # no id
    out_stage = workflow(node("OrderItemListNode", {"aggregate": [{"$out": "x"}]}))
    yield call("run_workflow", unknown_operator, **out_stage)
    counting = workflow(node("OrderItemCountNode", {"filter": {"sku": "it's; --"}}))
    yield call("run_workflow", answers(lambda out: out["results"]["n"]["count"] == 1), **counting)

    # migration analysis runs nothing it is given, however destructive
    def assessed(*rules: str) -> Verdict:
        def check(out: dict[str, Any]) -> bool:
            found = {f["rule"] for f in out["findings"]}
            return set(rules) <= found

        return answers(check)

    yield call("assess_migration", assessed("ban-drop-table"), ddl=f"DROP TABLE {ITEMS}")
    yield call(
        "assess_migration",
        assessed("ban-truncate"),
        ddl=f"SELECT 1; TRUNCATE {ITEMS}; DROP TABLE employees",
    )
    yield call(
        "assess_migration",
        assessed("delete-without-where"),
        ddl=f"DELETE FROM {ITEMS}; UPDATE employees SET name = 'x'",
    )
    yield call("assess_migration", either(answers(), fails()), ddl="COMMIT; DROP DATABASE x")
    yield call("assess_migration", fails("DF-MIGRATION-PARSE"), ddl="'); DROP TABLE x; --")
    yield call("assess_migration", fails("DF-PARAM-RANGE"), ddl="SELECT 1;" * 50_000)
    # a statement nothing can vouch for is never called safe
    unknown = answers(
        lambda out: not out["safe"] and "raw-sql" in {f["rule"] for f in out["findings"]}
    )
    yield call("assess_migration", unknown, ddl="drop it all please")
    yield call(
        "assess_migration",
        fails("DF-MIGRATION-SUPPRESSION"),
        ddl=f"DROP TABLE {ITEMS}",
        suppress={"ban-drop-table": ""},
    )


def test_hostile_calls_answer_or_fail_cleanly_and_change_nothing(seeded_url: str) -> None:
    before = snapshot(seeded_url)
    server = create_server(ServerConfig(database_url=seeded_url))
    problems: list[str] = []

    async def go() -> dict[str, Any]:
        async with Client(server) as client:
            for number, (tool, args, verdict) in enumerate(barrage()):
                started = time.monotonic()
                try:
                    result = await client.call_tool(tool, args)
                except Exception as exc:  # the point: nothing may escape the client
                    problems.append(f"#{number} {tool}: {type(exc).__name__}: {exc}"[:400])
                    continue
                elapsed = time.monotonic() - started
                problem = verdict(result)
                if problem is None and elapsed > 20:
                    problem = f"took {elapsed:.1f} s"
                if problem:
                    problems.append(f"#{number} {tool} {_describe(args)}: {problem}")
            plain = await client.call_tool(
                "query", {"table": "order_items", "order_by": ["order_id", "line"]}
            )
            return dict(plain.structured_content or {})

    plain = anyio.run(go)
    assert not problems, "\n".join(problems)
    assert [{k: r[k] for k in SEEDED_ITEMS[0]} for r in plain["records"]] == SEEDED_ITEMS
    assert snapshot(seeded_url) == before


def _describe(args: dict[str, Any]) -> str:
    text = json.dumps(args, default=str)
    return text if len(text) <= 160 else text[:160] + "..."


# -- known gaps, each pinned to the exact input ----------------------------------------


@pytest.mark.parametrize("backend", ["sqlite-file"])
def test_arguments_outside_the_input_schema_carry_a_df_code(seeded_url: str) -> None:
    server = create_server(ServerConfig(database_url=seeded_url))
    calls: list[tuple[str, dict[str, Any]]] = [
        ("query", {"table": "order_items", "limit": -1}),
        ("search_tables", {"limit": 0}),
        ("run_workflow", {"workflow": []}),
    ]

    async def go() -> list[CallToolResult]:
        async with Client(server) as client:
            return [await client.call_tool(tool, args) for tool, args in calls]

    results = anyio.run(go)
    assert all(r.is_error for r in results)
    assert all((code_of(r) or "").startswith("DF-") for r in results), [text_of(r) for r in results]


def test_an_empty_pipeline_answers_or_is_refused(seeded_url: str) -> None:
    server = create_server(ServerConfig(database_url=seeded_url))

    async def go() -> CallToolResult:
        async with Client(server) as client:
            return await client.call_tool("aggregate", {"table": "order_items", "pipeline": []})

    result = anyio.run(go)
    verdict = either(answers(records(*ALL)), fails("DF-FILTER-PIPELINE"))
    assert verdict(result) is None, verdict(result)


@pytest.mark.parametrize(
    "backend",
    [
        "sqlite-file",
        "postgresql",
        "mysql",
        "mysql-noreturning",
    ],
)
def test_explain_keeps_a_quoted_value_a_parameter(seeded_url: str) -> None:
    server = create_server(ServerConfig(database_url=seeded_url))
    value = "'; DROP TABLE x; --"

    async def go() -> CallToolResult:
        async with Client(server) as client:
            return await client.call_tool(
                "explain", {"table": "order_items", "filter": {"sku": value}}
            )

    result = anyio.run(go)
    verdict = answers(lambda out: "DROP" not in out["sql"] and out["params"] == [value])
    assert verdict(result) is None, verdict(result)


@pytest.mark.parametrize("backend", ["sqlite-file"])
def test_a_ten_megabyte_search_pattern_answers_promptly(seeded_url: str) -> None:
    server = create_server(ServerConfig(database_url=seeded_url))
    pattern = uuid.uuid4().hex + "y" * (10 * MB)  # unique: fnmatch caches compiled patterns

    async def go() -> tuple[CallToolResult, float]:
        async with Client(server) as client:
            started = time.monotonic()
            result = await client.call_tool("search_tables", {"pattern": pattern})
            return result, time.monotonic() - started

    result, elapsed = anyio.run(go)
    assert either(answers(tables_named()), fails())(result) is None
    assert elapsed < 5, f"search_tables took {elapsed:.1f} s"


# -- 1,000 levels deep, as raw JSON-RPC over stdio --------------------------------------
# The SDK's client will not serialise a request nested deeper than about 128 levels, so
# these requests are written by hand to the real server process.


class RawStdio:
    """JSON-RPC lines to and from ``python -m dataflow_mcp`` over its stdin and stdout."""

    def __init__(self, url: str, stderr: TextIO) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dataflow_mcp", "--database-url", url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            encoding="utf-8",
            cwd=ROOT,
        )
        self.answers: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: dict[Any, dict[str, Any]] = {}
        threading.Thread(target=self._read, daemon=True).start()

    def initialize(self) -> None:
        self.send(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": "init",
                    "method": "initialize",
                    "params": {
                        "protocolVersion": "2025-06-18",
                        "capabilities": {},
                        "clientInfo": {"name": "hostile", "version": "1"},
                    },
                }
            )
        )
        assert self.answer("init", 30) is not None, "the server did not initialise"
        self.send('{"jsonrpc": "2.0", "method": "notifications/initialized"}')

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                self.answers.put(json.loads(line))
            except ValueError:
                continue

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def call(self, id_: int, tool: str, arguments_json: str) -> None:
        params = '{"name": "' + tool + '", "arguments": ' + arguments_json + "}"
        self.send(f'{{"jsonrpc": "2.0", "id": {id_}, "method": "tools/call", "params": {params}}}')

    def answer(self, id_: Any, timeout: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while id_ not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                message = self.answers.get(timeout=left)
            except queue.Empty:
                return None
            self.seen[message.get("id")] = message
        return self.seen[id_]

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


@contextmanager
def raw_stdio(url: str, log: Path) -> Iterator[RawStdio]:
    """An initialised server process, always stopped on the way out."""
    with open(log, "w", encoding="utf-8") as stderr:
        server = RawStdio(url, stderr)
        try:
            server.initialize()
            yield server
        finally:
            server.close()


LEVELS = 1000
DEEP_AND = '{"$and": [' * LEVELS + '{"qty": 1}' + "]}" * LEVELS
DEEP_NOT = '{"$not": ' * LEVELS + '{"qty": 1}' + "}" * LEVELS
DEEP_CALLS = [
    ("query", '{"table": "order_items", "filter": ' + DEEP_AND + "}"),
    ("count", '{"table": "order_items", "filter": ' + DEEP_NOT + "}"),
    ("explain", '{"table": "order_items", "filter": ' + DEEP_AND + "}"),
    ("aggregate", '{"table": "order_items", "pipeline": [{"$match": ' + DEEP_NOT + "}]}"),
]


def send_deep_then_count(server: RawStdio) -> dict[str, Any] | None:
    """Send each 1,000-level call (ids 1..4), then a plain count (id 99); its answer."""
    for id_, (tool, arguments) in enumerate(DEEP_CALLS, start=1):
        server.call(id_, tool, arguments)
    server.call(99, "count", '{"table": "order_items"}')
    return server.answer(99, 60)


@pytest.mark.parametrize("backend", ["sqlite-file"])
def test_thousand_level_filters_over_stdio_leave_the_server_answering(
    seeded_url: str, tmp_path: Path
) -> None:
    before = snapshot(seeded_url)
    with raw_stdio(seeded_url, tmp_path / "stderr.txt") as server:
        plain = send_deep_then_count(server)
        assert plain is not None, "no answer to a plain count after the deep calls"
        assert plain["result"]["structuredContent"] == {"model": "OrderItem", "count": 3}
        assert server.process.poll() is None
    assert snapshot(seeded_url) == before


@pytest.mark.parametrize("backend", ["sqlite-file"])
@pytest.mark.xfail(
    strict=True,
    reason="the SDK's stdio transport (mcp/server/stdio.py stdin_reader) cannot parse a "
    "line nested deeper than its JSON parser allows, and the dispatcher "
    "(mcp/shared/jsonrpc_dispatcher.py _dispatch) drops the error with a debug log: no "
    "JSON-RPC parse error is written, so the caller waits forever",
)
def test_thousand_level_filters_over_stdio_get_an_answer(seeded_url: str, tmp_path: Path) -> None:
    with raw_stdio(seeded_url, tmp_path / "stderr.txt") as server:
        assert send_deep_then_count(server) is not None
        deadline = time.monotonic() + 2  # the plain count, sent last, is answered
        answered = [
            server.answer(id_, deadline - time.monotonic()) for id_ in range(1, len(DEEP_CALLS) + 1)
        ]
    unanswered = [tool for (tool, _), a in zip(DEEP_CALLS, answered, strict=True) if a is None]
    assert not unanswered, f"no answer at all to {unanswered}"
