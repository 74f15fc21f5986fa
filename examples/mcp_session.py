"""An MCP client session against DataFlow's MCP server, in one process: the agent's view.

The server opens a small shop database read-only (made here with sqlite3, as another
application would have made it); the client discovers it, registers a table, queries it,
aggregates it, and gets a readable error for a typo.

python examples/mcp_session.py [DATABASE_URL]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from dataflow_mcp import ServerConfig, create_server

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shop_db import run_example


def show(title: str, result: Any) -> None:
    print(f"\n> {title}")
    if result.is_error:
        print(f"  error: {result.content[0].text}")
        return
    _print(result.structured_content, "  ")


def _print(data: dict[str, Any], indent: str) -> None:
    for key, value in data.items():
        if isinstance(value, dict) and len(json.dumps(value)) > 90:
            print(f"{indent}{key}:")
            _print(value, indent + "  ")
        elif isinstance(value, list) and len(json.dumps(value)) > 90:
            print(f"{indent}{key}:")
            for item in value:
                print(f"{indent}  - {json.dumps(item, ensure_ascii=False)}")
        else:
            print(f"{indent}{key}: {json.dumps(value, ensure_ascii=False)}")


async def agent(url: str) -> None:
    server = create_server(ServerConfig(database_url=url, max_rows=3))
    async with Client(server) as client:
        tools = await client.list_tools()
        print("tools:", ", ".join(t.name for t in tools.tools))
        show("describe_database", await client.call_tool("describe_database", {}))
        show(
            "search_tables (names)",
            await client.call_tool("search_tables", {"detail": "names"}),
        )
        show("describe_table orders", await client.call_tool("describe_table", {"table": "orders"}))
        show(
            "query orders with total >= 10, biggest first",
            await client.call_tool(
                "query",
                {"table": "orders", "filter": {"total": {"$gte": 10}}, "order_by": "-total"},
            ),
        )
        show(
            "aggregate: orders per customer",
            await client.call_tool(
                "aggregate",
                {
                    "table": "orders",
                    "pipeline": [
                        {
                            "$group": {
                                "_id": "$customer_id",
                                "orders": {"$sum": 1},
                                "spent": {"$sum": "$total"},
                            }
                        },
                        {"$sort": {"spent": -1}},
                    ],
                },
            ),
        )
        show(
            "a typo in a filter",
            await client.call_tool("count", {"table": "orders", "filter": {"totl": 5}}),
        )
        show(
            "a write on a read-only server",
            await client.call_tool(
                "run_workflow",
                {
                    "workflow": {
                        "nodes": [
                            {"id": "d", "type": "OrderBulkDeleteNode", "params": {"all": True}}
                        ]
                    }
                },
            ),
        )


def main(url: str) -> None:
    anyio.run(agent, url)


if __name__ == "__main__":
    run_example(main)
