"""The metrics of a run (``runtime.last_metrics``): seconds and rows per node, the total,
the failing node, and a saga's per-step seconds; on every backend."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dataflow_engine import (
    AsyncLocalRuntime,
    DataFlow,
    LocalRuntime,
    NotFoundError,
    WorkflowBuilder,
)


@pytest.fixture
def users(db: DataFlow) -> DataFlow:
    @db.model
    class User:
        name: str
        age: int

    return db


def build(db: DataFlow, *nodes: tuple[str, str, dict[str, Any]]) -> Any:
    wf = WorkflowBuilder()
    for node_type, node_id, params in nodes:
        wf.add_node(node_type, node_id, params)
    return wf.build(db)


def check_seconds(metrics: dict[str, Any], node_ids: list[str]) -> None:
    seconds = metrics["node_seconds"]
    assert list(seconds) == node_ids
    assert all(isinstance(s, float) and s >= 0 for s in seconds.values())
    assert isinstance(metrics["total_seconds"], float)
    # Each node ran within the run: the run lasted at least as long as any of them.
    assert metrics["total_seconds"] >= max(seconds.values())


def test_every_node_has_its_seconds_and_rows(users: DataFlow) -> None:
    runtime = LocalRuntime(dataflow=users)
    wf = build(
        users,
        ("UserCreateNode", "create", {"name": "Ann", "age": 30}),
        ("UserBulkCreateNode", "bulk", {"data": [{"name": f"u{i}", "age": i} for i in range(5)]}),
        ("UserListNode", "list", {"filter": {"age": {"$lt": 3}}}),
        ("UserCountNode", "count", {}),
        ("UserReadNode", "missing", {"id": 424242, "raise_on_not_found": False}),
        (
            "UserBulkUpdateNode",
            "older",
            {"filter": {"age": {"$gte": 3}}, "update": {"$inc": {"age": 1}}},
        ),
        ("UserBulkUpsertNode", "upsert", {"data": [{"id": 1, "name": "A", "age": 31}]}),
        ("UserBulkDeleteNode", "purge", {"filter": {"age": 0}}),
        ("HealthCheckNode", "health", {}),
    )
    runtime.execute(wf)
    metrics = runtime.last_metrics
    check_seconds(metrics, [n.id for n in wf.nodes])
    assert metrics["failed_node"] is None
    assert metrics["node_rows"] == {
        "create": 1,
        "bulk": 5,
        "list": 3,
        "count": 6,
        "missing": 0,
        "older": 3,
        "upsert": 1,
        "purge": 1,
    }  # a health check handles no rows
    first = runtime.last_metrics
    runtime.execute(build(users, ("UserCountNode", "again", {})))
    assert list(runtime.last_metrics["node_seconds"]) == ["again"]
    assert "again" not in first["node_seconds"]  # each run has its own metrics


def test_a_failed_run_keeps_the_metrics_of_the_nodes_that_ran_and_of_the_failing_one(
    users: DataFlow,
) -> None:
    runtime = LocalRuntime(dataflow=users)
    wf = build(
        users,
        ("UserCreateNode", "create", {"name": "Ann", "age": 30}),
        ("UserReadNode", "boom", {"id": 424242}),
        ("UserCountNode", "never", {}),
    )
    with pytest.raises(NotFoundError):
        runtime.execute(wf)
    metrics = runtime.last_metrics
    check_seconds(metrics, ["create", "boom"])
    assert metrics["failed_node"] == "boom"
    assert metrics["node_rows"] == {"create": 1}


def test_a_saga_reports_the_seconds_of_each_step_and_compensation(users: DataFlow) -> None:
    runtime = LocalRuntime(dataflow=users)
    steps = [
        {
            "id": "ann",
            "type": "UserCreateNode",
            "params": {"name": "Ann", "age": 30},
            "compensation": {"type": "UserDeleteNode", "inputs": {"id": "ann.id"}},
        },
        {"id": "bob", "type": "UserCreateNode", "params": {"name": "Bob", "age": 31}},
        {"id": "all", "type": "UserListNode", "params": {}},
    ]
    runtime.execute(build(users, ("TransactionManagerNode", "saga", {"steps": steps})))
    metrics = runtime.last_metrics
    step_seconds = metrics["node_metrics"]["saga"]["step_seconds"]
    assert list(step_seconds) == ["ann", "bob", "all"]
    assert all(isinstance(s, float) and s >= 0 for s in step_seconds.values())
    assert metrics["node_seconds"]["saga"] >= sum(step_seconds.values())
    assert metrics["node_rows"]["saga"] == 1 + 1 + 2

    failing = [*steps[:2], {"id": "boom", "type": "UserReadNode", "params": {"id": 424242}}]
    with pytest.raises(NotFoundError):
        runtime.execute(build(users, ("TransactionManagerNode", "saga", {"steps": failing})))
    metrics = runtime.last_metrics
    assert metrics["failed_node"] == "saga"
    reported = metrics["node_metrics"]["saga"]
    assert list(reported["step_seconds"]) == ["ann", "bob", "boom"]
    assert list(reported["compensation_seconds"]) == ["ann"]  # bob has no compensation
    assert all(s >= 0 for s in reported["compensation_seconds"].values())


def test_the_async_runtime_records_the_same_metrics(users: DataFlow) -> None:
    runtime = AsyncLocalRuntime(dataflow=users)
    wf = build(
        users,
        ("UserCreateNode", "create", {"name": "Ann", "age": 30}),
        ("UserCountNode", "count", {}),
    )
    asyncio.run(runtime.execute(wf))
    check_seconds(runtime.last_metrics, ["create", "count"])
    assert runtime.last_metrics["node_rows"] == {"create": 1, "count": 1}
