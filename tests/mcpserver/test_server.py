"""The MCP server through the SDK's in-memory client, on every backend, over a database
made in raw SQL (tests/test_existing.py's fixture)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer

from dataflow_engine import DataFlow
from dataflow_mcp import ServerConfig, create_server
from tests.test_existing import existing_url  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(120)


def session(server: MCPServer, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """Run tool calls in one client session; return each CallToolResult."""

    async def go() -> list[Any]:
        async with Client(server) as client:
            return [await client.call_tool(name, args) for name, args in calls]

    return anyio.run(go)


def ok(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text
    return dict(result.structured_content)


def failed(result: Any) -> dict[str, Any]:
    assert result.is_error, result.structured_content
    return dict(result.structured_content["error"])


@pytest.fixture
def served(existing_url: str) -> Iterator[tuple[MCPServer, str]]:  # noqa: F811
    # Seed a few rows with a writable DataFlow; the server itself opens read-only.
    with DataFlow(existing_url, existing_schema_mode=True) as db:
        db.register_schema_as_models(tables=["order_items", "employees"])
        with db:
            from tests.support import one

            one(
                db,
                "OrderItemBulkCreateNode",
                {
                    "data": [
                        {
                            "order_id": o,
                            "line": n,
                            "sku": f"S{o}{n}",
                            "qty": n,
                            "price": f"{o}.{n}5",
                        }
                        for o in range(1, 4)
                        for n in range(1, 4)
                    ]
                },
            )
            one(db, "EmployeeCreateNode", {"name": "Boss"})
    server = create_server(ServerConfig(database_url=existing_url, max_rows=5))
    yield server, existing_url


def test_discovery_tools(served: tuple[MCPServer, str]) -> None:
    server, _ = served
    info, names, summary, full, table, missing = session(
        server,
        [
            ("describe_database", {}),
            ("search_tables", {"pattern": "*", "detail": "names"}),
            ("search_tables", {"pattern": "order", "detail": "summary"}),
            ("search_tables", {"pattern": "employees", "detail": "full"}),
            ("describe_table", {"table": "employees"}),
            ("describe_table", {"table": "employes"}),
        ],
    )
    info = ok(info)
    assert info["read_only"] and info["existing_schema_mode"] and not info["writes_enabled"]
    assert info["tables"] >= 4 and info["views"] == 1 and info["max_rows"] == 5
    assert {"Customers", "order_items", "employees", "audit_log", "big_customers"} <= set(
        ok(names)["tables"]
    )
    (items,) = [ok(summary)["tables"]]
    assert [t["name"] for t in items] == ["order_items"]
    assert items[0]["primary_key"] == ["order_id", "line"]
    (emp,) = ok(full)["tables"]
    assert emp["foreign_keys"][0]["ref_table"] == "employees"
    assert ok(table)["table"]["referenced_by"][0]["on_delete"] == "SET NULL"
    error = failed(missing)
    assert error["code"] == "DF-SCHEMA-TABLE-MISSING" and "employees" in error["message"]


def test_query_tools(served: tuple[MCPServer, str]) -> None:
    server, _ = served
    page1, count, agg, record, none, explained, bad, unknown = session(
        server,
        [
            ("query", {"table": "order_items", "order_by": ["order_id", "line"], "limit": 50}),
            ("count", {"table": "order_items", "filter": {"qty": {"$gte": 2}}}),
            (
                "aggregate",
                {
                    "table": "order_items",
                    "pipeline": [
                        {"$group": {"_id": "$order_id", "n": {"$sum": 1}, "q": {"$sum": "$qty"}}},
                        {"$sort": {"_id": 1}},
                    ],
                },
            ),
            ("get_record", {"table": "order_items", "id": {"order_id": 2, "line": 3}}),
            ("get_record", {"table": "order_items", "id": {"order_id": 9, "line": 9}}),
            ("explain", {"table": "order_items", "filter": {"sku": "S11"}}),
            ("query", {"table": "order_items", "filter": {"qtty": 1}}),
            ("query", {"table": "order_itemz"}),
        ],
    )
    first = ok(page1)
    assert first["count"] == 5 and first["truncated"] and first["next_cursor"]  # the row cap
    assert first["records"][0] == {
        "order_id": 1,
        "line": 1,
        "sku": "S11",
        "qty": 1,
        "price": "1.15",
    }
    assert ok(count)["count"] == 6
    assert ok(agg)["records"] == [
        {"_id": 1, "n": 3, "q": 6},
        {"_id": 2, "n": 3, "q": 6},
        {"_id": 3, "n": 3, "q": 6},
    ]
    assert ok(record)["record"]["sku"] == "S23"
    assert ok(none) == {"model": "OrderItem", "found": False, "record": None}
    explanation = ok(explained)
    assert "WHERE" in explanation["sql"] and explanation["params"] == ["S11"]
    assert explanation["plan"]
    error = failed(bad)
    assert error["code"] == "DF-FILTER-UNKNOWN-FIELD" and "'qty'" in error["message"]
    assert failed(unknown)["code"] == "DF-SCHEMA-TABLE-MISSING"
    (page2,) = session(
        server,
        [
            (
                "query",
                {
                    "table": "order_items",
                    "order_by": ["order_id", "line"],
                    "cursor": first["next_cursor"],
                },
            )
        ],
    )
    second = ok(page2)
    assert [(r["order_id"], r["line"]) for r in second["records"]] == [
        (2, 3),
        (3, 1),
        (3, 2),
        (3, 3),
    ]
    assert not second["truncated"]


def test_models_workflows_resources_and_prompt(served: tuple[MCPServer, str]) -> None:
    server, _ = served
    registered, models, described, valid, invalid, ran, refused = session(
        server,
        [
            ("register_tables", {"tables": ["order_items", "audit_log"]}),
            ("list_models", {}),
            ("describe_model", {"model": "OrderItem"}),
            (
                "validate_workflow",
                {
                    "workflow": {
                        "nodes": [
                            {
                                "id": "l",
                                "type": "OrderItemListNode",
                                "params": {"filter": {"qty": 1}},
                            }
                        ]
                    }
                },
            ),
            (
                "validate_workflow",
                {"workflow": {"nodes": [{"id": "l", "type": "OrderItemListNod", "params": {}}]}},
            ),
            (
                "run_workflow",
                {"workflow": {"nodes": [{"id": "c", "type": "OrderItemCountNode", "params": {}}]}},
            ),
            (
                "run_workflow",
                {
                    "workflow": {
                        "nodes": [
                            {"id": "d", "type": "OrderItemBulkDeleteNode", "params": {"all": True}}
                        ]
                    }
                },
            ),
        ],
    )
    reg = ok(registered)
    assert sorted(reg["registered_models"]) == ["AuditLog", "OrderItem"]
    assert "primary key" in reg["read_only"]["AuditLog"]
    assert {m["name"] for m in ok(models)["models"]} >= {"OrderItem", "AuditLog"}
    nodes = ok(described)["nodes"]
    assert "filter" in [p["name"] for p in nodes["OrderItemListNode"]["parameters"]]
    assert ok(valid)["valid"]
    problems = ok(invalid)
    assert not problems["valid"]
    assert problems["diagnostics"][0]["code"] == "DF-NODE-UNKNOWN-TYPE"
    assert ok(ran)["results"]["c"]["count"] == 9
    assert failed(refused)["code"] == "DF-READ-ONLY"

    async def read() -> tuple[Any, Any, Any, Any]:
        async with Client(server) as client:
            tools = await client.list_tools()
            schema = await client.read_resource("dataflow://schema")
            model = await client.read_resource("dataflow://models/OrderItem")
            prompt = await client.get_prompt("explore_database", {"goal": "find late orders"})
            return tools, schema, model, prompt

    tools, schema, model, prompt = anyio.run(read)
    by_name = {t.name: t for t in tools.tools}
    assert "create_records" not in by_name  # no write tools unless enabled
    assert by_name["query"].annotations.read_only_hint
    assert by_name["query"].output_schema is not None
    assert "order_items" in schema.contents[0].text
    assert '"table_name": "order_items"' in model.contents[0].text
    assert "find late orders" in prompt.messages[0].content.text


def test_write_tools_only_when_enabled(existing_url: str) -> None:  # noqa: F811
    server = create_server(ServerConfig(database_url=existing_url, allow_writes=True))
    preview, created, counted, dry_update, update, dry_delete, delete = session(
        server,
        [
            ("create_records", {"table": "employees", "data": [{"name": "A"}, {"name": "B"}]}),
            (
                "create_records",
                {"table": "employees", "data": [{"name": "A"}, {"name": "B"}], "dry_run": False},
            ),
            ("count", {"table": "employees"}),
            (
                "update_records",
                {"table": "employees", "filter": {"name": "A"}, "update": {"name": "C"}},
            ),
            (
                "update_records",
                {
                    "table": "employees",
                    "filter": {"name": "A"},
                    "update": {"name": "C"},
                    "dry_run": False,
                },
            ),
            ("delete_records", {"table": "employees", "filter": {"name": {"$in": ["B", "C"]}}}),
            (
                "delete_records",
                {"table": "employees", "filter": {"name": {"$in": ["B", "C"]}}, "dry_run": False},
            ),
        ],
    )
    assert ok(preview) == {"dry_run": True, "affected": 2, "sample": [{"name": "A"}, {"name": "B"}]}
    assert ok(created)["affected"] == 2
    assert ok(counted)["count"] == 2
    assert ok(dry_update)["affected"] == 1 and ok(dry_update)["sample"][0]["name"] == "A"
    assert ok(update)["affected"] == 1
    assert ok(dry_delete)["affected"] == 2
    assert ok(delete)["affected"] == 2

    async def annotations() -> dict[str, Any]:
        async with Client(server) as client:
            return {t.name: t.annotations for t in (await client.list_tools()).tools}

    upsert = [
        {"order_id": 1, "line": 1, "sku": "U", "qty": 4},
        {"order_id": 5, "line": 1, "sku": "N", "qty": 1},
    ]
    one_row = [{"order_id": 1, "line": 1, "sku": "A", "qty": 1}]
    seeded, preview, merged, read = session(
        server,
        [
            ("create_records", {"table": "order_items", "data": one_row, "dry_run": False}),
            ("upsert_records", {"table": "order_items", "data": upsert}),
            ("upsert_records", {"table": "order_items", "data": upsert, "dry_run": False}),
            ("get_record", {"table": "order_items", "id": {"order_id": 1, "line": 1}}),
        ],
    )
    assert ok(seeded)["affected"] == 1
    assert ok(preview)["sample"] == [{"would_update": 1, "would_insert": 1}]
    assert ok(merged)["sample"] == [{"inserted": 1, "updated": 1}]
    assert ok(read)["record"]["sku"] == "U"

    notes = anyio.run(annotations)
    assert notes["delete_records"].destructive_hint and not notes["delete_records"].read_only_hint
    assert notes["create_records"].idempotent_hint is False
    assert notes["upsert_records"].destructive_hint and notes["upsert_records"].idempotent_hint


def test_instances_share_models_through_the_registry(existing_url: str) -> None:  # noqa: F811
    """One instance (writes enabled) registers a table; another, read-only, started later
    with the same application id, knows the model without registering it. The registry
    table is made once beforehand: the servers themselves never run DDL."""
    with DataFlow(existing_url, application_id="fleet") as admin:
        assert admin.registry_entries() == []
    first = create_server(
        ServerConfig(database_url=existing_url, allow_writes=True, application_id="fleet")
    )
    (registered,) = session(first, [("register_tables", {"tables": ["order_items"]})])
    assert ok(registered)["registered_models"] == ["OrderItem"]
    second = create_server(ServerConfig(database_url=existing_url, application_id="fleet"))
    (models,) = session(second, [("list_models", {})])
    assert [m["name"] for m in ok(models)["models"]] == ["OrderItem"]


def test_records_spell_every_kind_of_value_as_json(db_url: str) -> None:
    from tests.support import one

    if db_url == "sqlite://":
        pytest.skip("the server opens its own connection: an in-memory database is private")

    uid = uuid.UUID("12345678-1234-5678-1234-567812345678")
    with DataFlow(db_url) as db:

        @db.model
        class Reading:
            at: dt.datetime
            day: dt.date
            amount: Decimal
            uid: uuid.UUID
            blob: bytes
            ratio: float
            meta: dict[str, Any]
            note: str

        one(
            db,
            "ReadingBulkCreateNode",
            {
                "data": [
                    {
                        "at": dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC),
                        "day": dt.date(2024, 2, 29),
                        "amount": Decimal("12.30"),
                        "uid": uid,
                        "blob": b"\x00\xff",
                        "ratio": float("inf") if db.dialect.name == "postgresql" else 0.5,
                        "meta": {"k": [1, "é", None]},
                        "note": 'Zoë 😀 "quoted"',
                    }
                ]
            },
        )
    server = create_server(ServerConfig(database_url=db_url))
    (answer,) = session(server, [("query", {"table": "readings"})])
    (record,) = ok(answer)["records"]
    skip = ("created_at", "updated_at", "amount")  # a decimal keeps its value, not its scale
    assert {k: v for k, v in record.items() if k not in skip} == {
        "id": 1,
        "at": "2026-01-02T03:04:05.123456+00:00",
        "day": "2024-02-29",
        "uid": str(uid),
        "blob": "AP8=",
        "ratio": "Infinity" if db_url.startswith("postgresql") else 0.5,
        "meta": {"k": [1, "é", None]},
        "note": 'Zoë 😀 "quoted"',
    }
    assert Decimal(record["amount"]) == Decimal("12.30")
    # the text content carries the same records, as JSON
    assert json.loads(answer.content[0].text)["records"] == [record]
