"""db.health(), db.health_async() and HealthCheckNode, on every backend and against
databases that cannot be reached."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from pathlib import Path
from typing import Any

import pytest

from dataflow_engine import (
    ConfigurationError,
    DataFlow,
    LocalRuntime,
    ValidationError,
    WorkflowValidationError,
)
from tests.support import one, run

UNREACHABLE = {
    "postgresql": "postgresql://postgres@127.0.0.1:1/nowhere",
    "mysql": "mysql://root@127.0.0.1:1/nowhere",
}


def check_up(report: dict[str, Any], db: DataFlow) -> None:
    assert report["status"] == "up" and report["error"] is None
    database = report["database"]
    assert database["status"] == "up" and database["error"] is None
    assert database["dialect"] == db.dialect.name
    assert isinstance(database["latency_ms"], float) and database["latency_ms"] >= 0
    assert isinstance(database["server_version"], str) and database["server_version"]
    assert report["databases"]["primary"] == database and database["replicas"] == []
    pool = report["pool"]
    assert set(pool) == {"size", "idle", "in_use", "max_size"}
    assert pool["size"] >= 1 and pool["in_use"] == pool["size"] - pool["idle"]
    assert pool["max_size"] >= pool["size"]
    assert report["cache"] is None
    assert dt.datetime.fromisoformat(report["checked_at"]).tzinfo is not None
    assert isinstance(report["seconds"], float) and report["seconds"] >= 0


def test_health_reports_a_reachable_database(db: DataFlow) -> None:
    report = db.health()
    check_up(report, db)
    assert report["mode"] == {
        "read_only": False,
        "existing_schema_mode": False,
        "auto_migrate": True,
    }
    assert "password" not in report["database"]["url"]


def test_health_async_from_another_event_loop(db: DataFlow) -> None:
    async def check() -> dict[str, Any]:
        return await db.health_async(timeout=10)

    check_up(asyncio.run(check()), db)
    check_up(asyncio.run(check()), db)  # a second loop: the pool still works


def test_health_check_node_in_a_workflow_and_in_a_workflow_transaction(db: DataFlow) -> None:
    @db.model
    class Probe:
        name: str

    check_up(one(db, "HealthCheckNode", {}), db)
    # transaction=True: the round trip runs on the workflow's connection (SQLite has one).
    results = run(
        db,
        ("ProbeCreateNode", "write", {"name": "x"}),
        ("HealthCheckNode", "health", {"timeout": 10}),
        transaction=True,
    )
    check_up(results["health"], db)
    assert results["health"]["pool"]["in_use"] >= 1  # the workflow's connection


def test_health_reports_the_safety_modes(db: DataFlow, db_url: str) -> None:
    db.health()  # the database exists (a SQLite file is made on first use)
    modes = {"read_only": True, "existing_schema_mode": True, "auto_migrate": False}
    with DataFlow(db_url, **modes) as reader:
        report = reader.health()
        check_up(report, reader)
        assert report["mode"] == modes
        # A read: allowed where every write is refused.
        assert one(reader, "HealthCheckNode", {})["mode"] == modes


@pytest.mark.parametrize("dialect", ["postgresql", "mysql", "sqlite"])
def test_an_unreachable_database_is_reported_down_never_raised(
    dialect: str, tmp_path: Path
) -> None:
    url = UNREACHABLE.get(dialect) or f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}"
    with DataFlow(url) as db:
        report = db.health(timeout=10)
        assert report["status"] == "down"
        assert report["database"]["status"] == "down"
        assert report["error"] == report["database"]["error"]
        assert report["error"]["code"] == "DF-DB-CONNECT"
        assert report["error"]["message"]
        assert report["database"]["latency_ms"] is None
        assert report["database"]["server_version"] is None
        assert report["pool"]["size"] == 0
        # The node reports it too; the workflow does not fail.
        node = one(db, "HealthCheckNode", {"timeout": 10})
        assert node["status"] == "down" and node["error"]["code"] == "DF-DB-CONNECT"
        assert asyncio.run(db.health_async())["status"] == "down"


@pytest.mark.parametrize(
    ("timeout", "code"),
    [
        (0, "DF-PARAM-RANGE"),
        (-1, "DF-PARAM-RANGE"),
        (math.nan, "DF-PARAM-RANGE"),
        (math.inf, "DF-PARAM-RANGE"),
        (10**9, "DF-PARAM-RANGE"),
        ("5", "DF-PARAM-TYPE"),
        (True, "DF-PARAM-TYPE"),
        (None, "DF-PARAM-TYPE"),
    ],
)
def test_bad_arguments_still_raise(timeout: Any, code: str) -> None:
    with DataFlow("sqlite://") as db:
        with pytest.raises(ValidationError) as info:
            db.health(timeout=timeout)
        assert info.value.code == code
        with pytest.raises(ValidationError):
            asyncio.run(db.health_async(timeout=timeout))
        if timeout is not None:  # null means the default for a node parameter
            with pytest.raises(WorkflowValidationError) as built:
                one(db, "HealthCheckNode", {"timeout": timeout})
            [problem] = built.value.diagnostics
            assert problem.code == code and problem.path == ("nodes", 0, "params", "timeout")


def test_a_closed_dataflow_raises() -> None:
    db = DataFlow("sqlite://")
    db.close()
    with pytest.raises(ConfigurationError) as info:
        db.health()
    assert info.value.code == "DF-CONFIG-CLOSED"


def test_a_configured_cache_is_reported(db_url: str) -> None:
    with DataFlow(db_url, cache=True) as db:
        report = db.health()
        assert report["status"] == "up"
        assert report["cache"]["status"] == "up" and report["cache"]["error"] is None
        assert one(db, "HealthCheckNode", {})["cache"]["status"] == "up"


@pytest.mark.parametrize(
    ("cache", "status"),
    [("redis://127.0.0.1:6379/15", "up"), ("redis://127.0.0.1:1/0", "degraded")],
)
def test_a_redis_cache_that_cannot_be_reached_degrades_the_status(cache: str, status: str) -> None:
    with DataFlow("sqlite://", cache=cache) as db:
        report = db.health(timeout=10)
        assert report["status"] == status
        assert report["database"]["status"] == "up"
        if status == "up":
            assert report["cache"]["status"] == "up"
        else:
            assert report["cache"]["status"] == "down"
            assert report["cache"]["error"]["code"] == "DF-CACHE-UNAVAILABLE"
            assert "127.0.0.1:1" in report["cache"]["error"]["message"]


def test_health_check_node_declares_a_read() -> None:
    with DataFlow("sqlite://") as db:
        node = db.nodes["HealthCheckNode"]
        described = node.describe()
        assert described["writes"] is False and described["model"] is None
        assert [p["name"] for p in described["parameters"]] == ["timeout"]
        assert {"status", "database", "pool", "mode", "cache"} <= set(described["outputs"])
        results, _ = LocalRuntime(dataflow=db).execute(
            {
                "nodes": [
                    {"id": "h", "type": "HealthCheckNode"},
                    {"id": "count", "type": "HealthCheckNode"},
                ],
            }
        )
        assert results["h"]["status"] == results["count"]["status"] == "up"


def test_a_read_only_mcp_server_runs_the_reads_and_refuses_the_writes(tmp_path: Path) -> None:
    import anyio
    from mcp import Client

    from dataflow_mcp import ServerConfig, create_server

    url = f"sqlite:///{tmp_path / 'app.db'}"
    with DataFlow(url) as db:
        db.health()  # makes the file
    server = create_server(ServerConfig(database_url=url))
    nodes = [
        {"id": "saga", "type": "TransactionManagerNode", "params": {"steps": []}},
        {"id": "health", "type": "HealthCheckNode"},
        {"id": "export", "type": "GDPRExportNode", "params": {"match": {"email": "a@x.io"}}},
        {"id": "forget", "type": "GDPRAnonymizeNode", "params": {"match": {"email": "a"}}},
    ]

    async def calls() -> tuple[Any, Any]:
        async with Client(server) as client:
            checked = await client.call_tool("validate_workflow", {"workflow": {"nodes": nodes}})
            ran = await client.call_tool(
                "run_workflow", {"workflow": {"nodes": [{"id": "h", "type": "HealthCheckNode"}]}}
            )
            return checked, ran

    checked, ran = anyio.run(calls)
    diagnostics = checked.structured_content["diagnostics"]
    assert {d["node_id"] for d in diagnostics if d["code"] == "DF-READ-ONLY"} == {
        "saga",
        "forget",
    }
    assert not ran.is_error
    assert ran.structured_content["results"]["h"]["status"] == "up"
    assert ran.structured_content["results"]["h"]["mode"]["read_only"] is True
