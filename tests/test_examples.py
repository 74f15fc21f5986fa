"""The examples run as a user would run them, and print what they promise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(name: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_quickstart_runs_on_embedded_sqlite() -> None:
    out = _run("quickstart.py")
    assert "Inserted 4 users" in out
    assert "Grace" in out and "Inactive users: 1" in out
    assert "DF-FILTER-UNKNOWN-FIELD" in out and "did you mean 'age'" in out


@pytest.mark.parametrize("backend_kind", ["sqlite-file", "postgresql"])
def test_basic_crud(backend_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if backend_kind == "postgresql":
        from tests.conftest import pg_url

        url = pg_url(request.getfixturevalue("pg_database"))
    else:
        url = f"sqlite:///{tmp_path / 'crud.db'}"
    out = _run("basic_crud.py", url)
    assert "updated price: 8.49" in out
    assert "3 products under 4" in out
    assert "reading it again: DF-NOT-FOUND" in out


def test_safe_connection_modes() -> None:
    out = _run("safe_connection_modes.py")
    assert "registered: Customer, OrderLine, Order, PageView" in out
    assert "PageView is read-only: the table has no primary key" in out
    assert "a model without its table: DF-SCHEMA-TABLE-MISSING" in out
    assert "write refused by the engine: DF-READ-ONLY" in out


def test_cross_session_models() -> None:
    out = _run("cross_session_models.py")
    assert "first session registered Order (version 1)" in out
    assert "second session rebuilt: Customer, Order, OrderLine" in out
    assert "order 3: 120" in out


def test_explore_database_samples_every_table() -> None:
    out = _run("explore_database.py")
    assert "4 tables and views" in out
    assert "order_lines (table; key: order_id, line" in out
    assert "-> customers via customer_id (on delete CASCADE)" in out
    assert "page_views (table; key: no primary key" in out
    assert out.count("sample:") == 3 + 3 + 3 + 2


def test_mcp_session_explores_the_shop() -> None:
    out = _run("mcp_session.py")
    assert "tools: describe_database, search_tables" in out
    assert 'tables: ["customers", "order_lines", "orders", "page_views"]' in out
    assert '{"order_id": 3, "customer_id": 3' in out
    assert "error: [DF-FILTER-UNKNOWN-FIELD]" in out and "did you mean 'total'?" in out
    assert "error: [DF-READ-ONLY]" in out


@pytest.mark.parametrize("backend", ["sqlite-memory", "postgresql", "mysql"])
def test_saas_notes(db_url: str) -> None:
    out = _run("saas_notes.py", db_url)
    assert "Without a tenant: DF-TENANT-REQUIRED" in out
    assert "acme looking for globex's note finds 0 notes" in out
    assert "likes: 20, version: 21" in out  # twenty concurrent writers, none lost
    assert "saga compensated (DF-DB-UNIQUE-VIOLATION): compensated ['draft']" in out
    assert "acme's notes after the saga: ['Acme roadmap']" in out
    assert "visible after delete: 0" in out
    assert "audit: 22 entries, first ('create', 'ann'), last ('delete', 'ann')" in out
    assert "health: up" in out
    hits = int(out.split("cache: ")[1].split(" hits")[0])
    assert hits >= 1  # the repeated List at least
