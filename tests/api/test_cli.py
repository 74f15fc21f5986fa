"""``dataflow api``: the real command, serving a database it discovers, configured by
options and ``DATAFLOW_*`` variables, failing closed on anything unknown or invalid."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from dataflow_cli._api import parse_api_config
from tests.api.conftest import problem

pytestmark = pytest.mark.timeout(120)

TOKEN = "cli-token-1234"


@pytest.fixture
def shop_url(tmp_path: Path) -> str:
    """A SQLite file made with sqlite3 itself."""
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, status TEXT NOT NULL, total NUMERIC)"
        )
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.executemany(
            "INSERT INTO orders VALUES (?, ?, ?)", [(1, "paid", "19.99"), (2, "open", "5.00")]
        )
    conn.close()
    return f"sqlite:///{path}"


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATAFLOW_")}
    return {**env, **extra}


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "dataflow_cli", "api", *args]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(*args: str, **env: str) -> Iterator[httpx.Client]:
    port = free_port()
    proc = subprocess.Popen(
        command("--port", str(port), *args),
        env=environment(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise AssertionError(f"dataflow api exited: {proc.communicate()}")
                try:
                    http.get("/health")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            yield http
    finally:
        proc.terminate()
        proc.wait(30)


def test_serves_the_discovered_tables_read_only_by_default(shop_url: str) -> None:
    with running(DATAFLOW_DATABASE_URL=shop_url, DATAFLOW_API_TOKEN=TOKEN) as http:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        problem(http.get("/orders"), 401, "DF-API-UNAUTHORIZED")
        paid = http.get("/orders", params={"filter": '{"status": "paid"}'}, headers=auth).json()
        assert [r["id"] for r in paid["records"]] == [1]
        assert http.get("/orders/2", headers=auth).json()["status"] == "open"
        assert http.get("/notes", headers=auth).json()["count"] == 0  # no key: listed only
        problem(http.post("/orders", json={"status": "x"}, headers=auth), 403, "DF-READ-ONLY")
        doc = http.get("/openapi.json", headers=auth).json()
        assert "post" not in doc["paths"]["/orders"]


def test_allow_writes_and_tables(shop_url: str) -> None:
    with running("--url", shop_url, "--allow-writes", "--tables", "orders") as http:
        made = http.post("/orders", json={"status": "new", "total": "7.25"})
        assert made.status_code == 201, made.text
        assert http.get("/orders/count").json() == {"count": 3}
        problem(http.get("/notes"), 404, "DF-API-NOT-FOUND")
    path = shop_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT status FROM orders WHERE id = 3").fetchone() == ("new",)
    conn.close()


def test_print_openapi(shop_url: str) -> None:
    out = subprocess.run(
        command("--url", shop_url, "--print-openapi", "--max-limit", "20"),
        env=environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    limit = [p for p in doc["paths"]["/orders"]["get"]["parameters"] if p["name"] == "limit"]
    assert limit[0]["schema"]["maximum"] == 20


@pytest.mark.parametrize(
    ("args", "env", "status", "message"),
    [
        ([], {"DATAFLOW_API_PORTT": "1"}, 2, "unknown variable(s) DATAFLOW_API_PORTT"),
        (["--port", "0"], {}, 2, "--port / DATAFLOW_API_PORT must be an integer"),
        ([], {"DATAFLOW_API_ALLOW_WRITES": "maybe"}, 2, "must be true or false"),
        (["--host", "0.0.0.0"], {}, 2, "needs a bearer token"),
        (["--max-limit", "10", "--default-limit", "50"], {}, 2, "--default-limit"),
        (["--log-level", "loud"], {}, 2, "--log-level"),
        (["--tables", "ordrs"], {}, 1, "[DF-SCHEMA-TABLE-MISSING]"),
        (["--token", "short"], {}, 2, "[DF-CONFIG-INVALID]"),
        ([], {"DATAFLOW_API_TENANT_HEADER": "X Tenant"}, 2, "[DF-CONFIG-INVALID]"),
        (["--bogus"], {}, 2, "No such option '--bogus'"),
    ],
)
def test_fails_closed(
    shop_url: str, args: list[str], env: dict[str, str], status: int, message: str
) -> None:
    out = subprocess.run(
        command("--url", shop_url, *args),
        env=environment(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == status, out.stderr
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_an_unreachable_database_exits_3() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    out = subprocess.run(
        command("--url", url), env=environment(), capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 3, out.stderr
    assert "[DF-DB-CONNECT]" in out.stderr


def test_options_win_over_variables() -> None:
    env = {"DATAFLOW_DATABASE_URL": "sqlite://", "DATAFLOW_API_PORT": "9001"}
    config = parse_api_config({"port": "9002", "allow_writes": None}, env)
    assert config.port == 9002 and config.url == "sqlite://" and not config.allow_writes
    config = parse_api_config({}, {**env, "DATAFLOW_API_ALLOW_WRITES": "yes"})
    assert config.allow_writes and config.port == 9001
    assert parse_api_config({"allow_writes": False}, {**env, "DATAFLOW_API_ALLOW_WRITES": "1"})
    assert not parse_api_config(
        {"allow_writes": False}, {**env, "DATAFLOW_API_ALLOW_WRITES": "1"}
    ).allow_writes
    assert parse_api_config({"tables": "a, b,a"}, env).tables == ("a", "b")
