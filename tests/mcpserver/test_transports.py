"""The real ``python -m dataflow_mcp`` command over its transports: stdio through the SDK's
client, streamable HTTP behind the bearer token (with and without sessions), and the
options that must stop it before it serves anything."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "secret123"
ORDERS = [(1, "paid", "19.99"), (2, "open", "5.00"), (3, "paid", "120.50")]
PAID = [
    {"id": 1, "status": "paid", "total": "19.99"},
    {"id": 3, "status": "paid", "total": "120.5"},  # SQLite keeps NUMERIC as REAL
]
QUERY = {"table": "orders", "filter": {"status": "paid"}, "order_by": "id"}


@pytest.fixture
def shop_url(tmp_path: Path) -> str:
    """A SQLite file made with sqlite3 itself (the server only ever reads it)."""
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, status TEXT NOT NULL, total NUMERIC)"
        )
        conn.executemany("INSERT INTO orders VALUES (?, ?, ?)", ORDERS)
    conn.close()
    return f"sqlite:///{path}"


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without any DATAFLOW_ variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATAFLOW_")}
    return {**env, **extra}


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "dataflow_mcp", *args]


async def session(client: Client) -> tuple[set[str], dict[str, Any], dict[str, Any]]:
    """Tool names, then describe_database's and query's structured answers."""
    async with client:
        tools = {t.name for t in (await client.list_tools()).tools}
        info = await client.call_tool("describe_database", {})
        paid = await client.call_tool("query", QUERY)
    assert not info.is_error and not paid.is_error, (info.content, paid.content)
    return tools, dict(info.structured_content or {}), dict(paid.structured_content or {})


def check_session(tools: set[str], info: dict[str, Any], paid: dict[str, Any]) -> None:
    assert {"describe_database", "search_tables", "query", "run_workflow"} <= tools
    assert not tools & {"create_records", "update_records", "delete_records"}
    assert info["dialect"] == "sqlite" and info["tables"] == 1
    assert info["read_only"] and not info["writes_enabled"]
    assert paid == {
        "model": "Order",
        "records": PAID,
        "count": 2,
        "truncated": False,
        "next_cursor": None,
    }


# -- stdio ------------------------------------------------------------------------------


def test_stdio_lists_tools_and_answers(shop_url: str) -> None:
    server = StdioServerParameters(
        command=sys.executable, args=["-m", "dataflow_mcp", "--database-url", shop_url], cwd=ROOT
    )
    check_session(*anyio.run(session, Client(server)))


def test_an_unknown_option_stops_the_command() -> None:
    done = subprocess.run(
        command("--no-such-option"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=clean_environment(),
    )
    assert done.returncode == 2, done.stderr
    assert "--no-such-option" in done.stderr
    assert done.stdout == ""


def test_a_bad_variable_stops_the_command() -> None:
    done = subprocess.run(
        command(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=clean_environment(DATAFLOW_MCP_MAX_ROWS="abc"),
    )
    assert done.returncode == 2, done.stderr
    assert "max_rows" in done.stderr and "abc" in done.stderr
    assert done.stdout == ""


# -- streamable HTTP --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(url: str, tmp_path: Path, *options: str) -> Iterator[str]:
    """``python -m dataflow_mcp --transport http`` on a free loopback port; its /mcp URL.
    The process is always stopped on the way out."""
    port = free_port()
    log = tmp_path / f"http-{port}.log"
    with open(log, "w", encoding="utf-8") as out:
        process = subprocess.Popen(
            command("--transport", "http", "--port", str(port), "--database-url", url, *options),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=clean_environment(),
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, log.read_text(encoding="utf-8")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, "the server never listened"
                    time.sleep(0.1)
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def http_session(endpoint: str, token: str) -> tuple[set[str], dict[str, Any], dict[str, Any]]:
    async def go() -> tuple[set[str], dict[str, Any], dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx2.AsyncClient(headers=headers, timeout=30, trust_env=False) as http:
            return await session(Client(streamable_http_client(endpoint, http_client=http)))

    return anyio.run(go)


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "no-token", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


def test_http_needs_the_bearer_token(shop_url: str, tmp_path: Path) -> None:
    with serving(shop_url, tmp_path, "--token", TOKEN) as endpoint:
        with httpx2.Client(timeout=30, trust_env=False) as http:
            for headers in [
                {},
                {"Authorization": "Bearer secret12"},
                {"Authorization": f"Bearer {TOKEN}4"},
                {"Authorization": f"Bearer {TOKEN.upper()}"},
                {"Authorization": TOKEN},
                {"Authorization": f"Basic {TOKEN}"},
            ]:
                refused = http.post(endpoint, json=INITIALIZE, headers={**MCP_HEADERS, **headers})
                assert refused.status_code == 401, (headers, refused.text)
                assert "bearer token" in refused.json()["error"]
            assert http.get(endpoint, headers=MCP_HEADERS).status_code == 401
            accepted = http.post(
                endpoint,
                json=INITIALIZE,
                headers={**MCP_HEADERS, "Authorization": f"Bearer {TOKEN}"},
            )
            assert accepted.status_code == 200, accepted.text
            assert accepted.headers.get("mcp-session-id")  # a session was opened
        check_session(*http_session(endpoint, TOKEN))


def test_http_stateless_answers_tool_calls(shop_url: str, tmp_path: Path) -> None:
    with serving(shop_url, tmp_path, "--token", TOKEN, "--stateless") as endpoint:
        with httpx2.Client(timeout=30, trust_env=False) as http:
            headers = {**MCP_HEADERS, "Authorization": f"Bearer {TOKEN}"}
            assert http.post(endpoint, json=INITIALIZE).status_code == 401
            accepted = http.post(endpoint, json=INITIALIZE, headers=headers)
            assert accepted.status_code == 200, accepted.text
            assert "mcp-session-id" not in accepted.headers  # no session is kept
        check_session(*http_session(endpoint, TOKEN))
