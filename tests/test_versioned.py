"""Versioned models (optimistic locking): every write bumps the version, Update and
BulkUpdate refuse a stale one, and concurrent writers that retry lose no increment; on every
backend."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from dataflow_engine import (
    AsyncLocalRuntime,
    DataFlow,
    LocalRuntime,
    OptimisticLockError,
    WorkflowBuilder,
    WorkflowValidationError,
)
from tests.support import one

WRITERS = 20


@pytest.fixture
def counters(db: DataFlow) -> DataFlow:
    @db.model
    class Counter:
        name: str
        value: int = 0
        __dataflow__ = {"versioned": True}

    return db


def state(db: DataFlow, key: int) -> tuple[int, int]:
    row = one(db, "CounterReadNode", {"id": key})
    return row["version"], row["value"]


# -- every write bumps the version -----------------------------------------------------------


def test_every_kind_of_update_increments_the_version(counters: DataFlow) -> None:
    key = one(counters, "CounterCreateNode", {"name": "c"})["id"]
    assert state(counters, key) == (1, 0)
    one(counters, "CounterUpdateNode", {"id": key, "version": 1, "fields": {"value": 1}})
    assert state(counters, key) == (2, 1)
    one(counters, "CounterBulkUpdateNode", {"filter": {"name": "c"}, "update": {"value": 2}})
    assert state(counters, key) == (3, 2)
    one(
        counters,
        "CounterUpsertNode",
        {"where": {"name": "c"}, "create": {"name": "c"}, "update": {"$inc": {"value": 1}}},
    )
    assert state(counters, key) == (4, 3)
    one(
        counters,
        "CounterBulkUpsertNode",
        {"data": [{"name": "c", "value": 9}], "match_fields": ["name"]},
    )
    assert state(counters, key) == (5, 9)
    # An upsert that matches and has nothing to update writes nothing.
    one(counters, "CounterUpsertNode", {"where": {"name": "c"}, "create": {"name": "c"}})
    assert state(counters, key) == (5, 9)
    # New records start at 1, however they are created.
    one(counters, "CounterBulkCreateNode", {"data": [{"name": "n1"}]})
    one(counters, "CounterUpsertNode", {"where": {"name": "n2"}, "create": {"name": "n2"}})
    one(counters, "CounterBulkUpsertNode", {"data": [{"name": "n3"}], "match_fields": ["name"]})
    fresh = one(counters, "CounterListNode", {"filter": {"name": {"$ne": "c"}}})["records"]
    assert [r["version"] for r in fresh] == [1, 1, 1]


def test_update_with_a_stale_version_is_refused_with_both_versions(counters: DataFlow) -> None:
    key = one(counters, "CounterCreateNode", {"name": "c"})["id"]
    one(counters, "CounterUpdateNode", {"id": key, "version": 1, "fields": {"value": 5}})
    with pytest.raises(OptimisticLockError) as info:
        one(counters, "CounterUpdateNode", {"id": key, "version": 1, "fields": {"value": 6}})
    err = info.value
    assert err.code == "DF-OPTIMISTIC-LOCK"
    assert (err.details["expected"], err.details["actual"], err.details["id"]) == (1, 2, key)
    assert "version 2" in err.message and "retry" in err.message
    assert state(counters, key) == (2, 5)


# -- BulkUpdate's version --------------------------------------------------------------------


def test_bulk_update_with_version_updates_only_when_every_record_is_at_it(
    counters: DataFlow,
) -> None:
    ids = one(
        counters,
        "CounterBulkCreateNode",
        {"data": [{"name": f"c{i}", "value": i} for i in range(4)], "return_ids": True},
    )["ids"]
    one(counters, "CounterUpdateNode", {"id": ids[3], "version": 1, "fields": {"value": 30}})
    # c3 is at version 2: a filter selecting it refuses, and writes nothing at all.
    with pytest.raises(OptimisticLockError) as info:
        one(
            counters,
            "CounterBulkUpdateNode",
            {"filter": {"value": {"$gte": 1}}, "version": 1, "update": {"$inc": {"value": 100}}},
        )
    details = info.value.details
    assert (details["expected"], details["actual"], details["id"]) == (1, 2, ids[3])
    assert details["stale"] == [{"id": ids[3], "version": 2}] and details["stale_count"] == 1
    assert [state(counters, k) for k in ids] == [(1, 0), (1, 1), (1, 2), (2, 30)]
    # Every selected record at the version: all of them are updated, and bumped.
    out = one(
        counters,
        "CounterBulkUpdateNode",
        {"filter": {"value": {"$lt": 3}}, "version": 1, "update": {"$inc": {"value": 100}}},
    )
    assert out == {"updated": 3}
    assert [state(counters, k) for k in ids] == [(2, 100), (2, 101), (2, 102), (2, 30)]
    # Selecting nothing updates nothing, whatever the version.
    out = one(
        counters,
        "CounterBulkUpdateNode",
        {"filter": {"name": "none"}, "version": 7, "update": {"value": 0}},
    )
    assert out == {"updated": 0}
    # 'all' with a version.
    out = one(
        counters, "CounterBulkUpdateNode", {"all": True, "version": 2, "update": {"value": 0}}
    )
    assert out == {"updated": 4}
    assert [state(counters, k) for k in ids] == [(3, 0)] * 4


def test_bulk_update_version_is_validated(counters: DataFlow) -> None:
    bad: list[tuple[Any, str]] = [
        (0, "DF-PARAM-RANGE"),
        (-1, "DF-PARAM-RANGE"),
        (2**70, "DF-PARAM-RANGE"),
        ("1", "DF-PARAM-TYPE"),
        (True, "DF-PARAM-TYPE"),
        (1.0, "DF-PARAM-TYPE"),
    ]
    for value, code in bad:
        for node, params in (
            ("CounterBulkUpdateNode", {"all": True, "update": {"value": 1}}),
            ("CounterUpdateNode", {"id": 1, "fields": {"value": 1}}),
        ):
            with pytest.raises(WorkflowValidationError) as info:
                one(counters, node, {**params, "version": value})
            assert [d.code for d in info.value.diagnostics] == [code], (node, value)


def test_version_is_only_a_parameter_of_versioned_models(db: DataFlow) -> None:
    @db.model
    class Plain:
        name: str

    with pytest.raises(WorkflowValidationError) as info:
        one(db, "PlainBulkUpdateNode", {"all": True, "version": 1, "update": {"name": "x"}})
    assert [d.code for d in info.value.diagnostics] == ["DF-PARAM-UNKNOWN"]
    assert "version" not in db.nodes["PlainBulkUpdateNode"].parameters()


# -- concurrent writers ----------------------------------------------------------------------


def _increment_by_update(db: DataFlow, key: int, runtime: LocalRuntime) -> int:
    """Read the counter, write value + 1 at the version read; retry on a conflict.
    Returns the number of conflicts met."""
    conflicts = 0
    while True:
        read = WorkflowBuilder()
        read.add_node("CounterReadNode", "r", {"id": key})
        row = runtime.execute(read.build(db))[0]["r"]
        write = WorkflowBuilder()
        write.add_node(
            "CounterUpdateNode",
            "u",
            {"id": key, "version": row["version"], "fields": {"value": row["value"] + 1}},
        )
        try:
            runtime.execute(write.build(db))
            return conflicts
        except OptimisticLockError:
            conflicts += 1


def _increment_by_bulk_update(db: DataFlow, key: int, runtime: LocalRuntime) -> int:
    conflicts = 0
    while True:
        read = WorkflowBuilder()
        read.add_node("CounterReadNode", "r", {"id": key})
        row = runtime.execute(read.build(db))[0]["r"]
        write = WorkflowBuilder()
        write.add_node(
            "CounterBulkUpdateNode",
            "u",
            {
                "filter": {"id": key},
                "version": row["version"],
                "update": {"value": row["value"] + 1},
            },
        )
        try:
            out = runtime.execute(write.build(db))[0]["u"]
            assert out == {"updated": 1}
            return conflicts
        except OptimisticLockError:
            conflicts += 1


@pytest.mark.parametrize("increment", [_increment_by_update, _increment_by_bulk_update])
def test_twenty_threads_incrementing_with_retries_lose_nothing(
    counters: DataFlow, increment: Any
) -> None:
    key = one(counters, "CounterCreateNode", {"name": "shared"})["id"]
    start = threading.Barrier(WRITERS)

    def writer() -> int:
        runtime = LocalRuntime(dataflow=counters)
        start.wait()
        return int(increment(counters, key, runtime))

    with ThreadPoolExecutor(WRITERS) as pool:
        conflicts = list(pool.map(lambda _: writer(), range(WRITERS)))
    assert len(conflicts) == WRITERS
    assert state(counters, key) == (1 + WRITERS, WRITERS)


@pytest.mark.parametrize("kind", ["Update", "BulkUpdate"])
def test_twenty_async_tasks_incrementing_with_retries_lose_nothing(
    counters: DataFlow, kind: str
) -> None:
    key = one(counters, "CounterCreateNode", {"name": "shared"})["id"]
    read = WorkflowBuilder()
    read.add_node("CounterReadNode", "r", {"id": key})
    read_wf = read.build(counters)
    write = WorkflowBuilder()
    if kind == "Update":
        write.add_node("CounterUpdateNode", "u", {"id": key, "version": 1, "fields": {"value": 0}})
    else:
        write.add_node(
            "CounterBulkUpdateNode",
            "u",
            {"filter": {"id": key}, "version": 1, "update": {"value": 0}},
        )
    write_wf = write.build(counters)
    values = "fields" if kind == "Update" else "update"

    async def writer(runtime: AsyncLocalRuntime) -> None:
        while True:
            row = (await runtime.execute(read_wf))[0]["r"]
            change = {"version": row["version"], values: {"value": row["value"] + 1}}
            try:
                await runtime.execute(write_wf, parameters={"u": change})
                return
            except OptimisticLockError:
                await asyncio.sleep(0)

    async def main() -> None:
        runtime = AsyncLocalRuntime(dataflow=counters)
        await asyncio.gather(*(writer(runtime) for _ in range(WRITERS)))

    asyncio.run(main())
    assert state(counters, key) == (1 + WRITERS, WRITERS)


def test_concurrent_audited_versioned_writers_leave_one_entry_per_increment(db: DataFlow) -> None:
    @db.model
    class Tally:
        value: int = 0
        __dataflow__ = {"versioned": True, "audit_log": True}

    key = one(db, "TallyCreateNode", {})["id"]
    start = threading.Barrier(WRITERS)

    def writer() -> None:
        runtime = LocalRuntime(dataflow=db)
        start.wait()
        while True:
            row = one(db, "TallyReadNode", {"id": key})
            wf = WorkflowBuilder()
            wf.add_node(
                "TallyUpdateNode",
                "u",
                {"id": key, "version": row["version"], "fields": {"value": row["value"] + 1}},
            )
            try:
                runtime.execute(wf.build(db))
                return
            except OptimisticLockError:
                continue

    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(lambda _: writer(), range(WRITERS)))
    updates = [e for e in db.audit_trail("Tally", limit=None) if e["action"] == "update"]
    assert len(updates) == WRITERS
    # Each entry is one step: its before is the previous entry's after.
    chain = sorted(updates, key=lambda e: e["after"]["version"])
    assert [(e["before"]["value"], e["after"]["value"]) for e in chain] == [
        (i, i + 1) for i in range(WRITERS)
    ]
