"""The runtimes: threads, running event loops, several DataFlow instances, lifecycle."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from dataflow_engine import (
    AmbiguousNodeTypeError,
    AsyncLocalRuntime,
    DataFlow,
    LocalRuntime,
    ModelError,
    NodeTypeError,
    WorkflowBuilder,
)
from tests.support import one


def define(db: DataFlow) -> None:
    @db.model
    class Item:
        name: str
        qty: int = 0


def create_item(name: str) -> WorkflowBuilder:
    wf = WorkflowBuilder()
    wf.add_node("ItemCreateNode", "c", {"name": name})
    return wf


def test_sync_runtime_from_many_threads(db: DataFlow) -> None:
    define(db)
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for i in range(10):
                LocalRuntime(dataflow=db).execute(create_item(f"{k}-{i}").build(db))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert one(db, "ItemCountNode", {})["count"] == 60


def test_sync_runtime_inside_a_running_event_loop(db: DataFlow) -> None:
    define(db)

    async def notebook_cell() -> int:
        results, _ = LocalRuntime(dataflow=db).execute(create_item("from-loop").build(db))
        return int(results["c"]["id"])

    assert asyncio.run(notebook_cell()) >= 1
    assert one(db, "ItemCountNode", {})["count"] == 1


def test_async_runtime(db: DataFlow) -> None:
    define(db)

    async def main() -> list[int]:
        runtime = AsyncLocalRuntime(dataflow=db)
        outs = await asyncio.gather(
            *(runtime.execute(create_item(f"n{i}").build(db)) for i in range(5))
        )
        results, run_id = await runtime.execute(
            {"nodes": [{"id": "n", "type": "ItemCountNode", "params": {}}]}
        )
        assert isinstance(run_id, str) and len(run_id) == 32
        assert results["n"]["count"] == 5
        return [int(r["c"]["id"]) for r, _ in outs]

    ids = asyncio.run(main())
    assert len(set(ids)) == 5


def test_zero_config_memory_database_is_shared_by_the_instance_only() -> None:
    a, b = DataFlow(), DataFlow()
    try:
        define(a)
        define(b)
        LocalRuntime(dataflow=a).execute(create_item("x").build(a))
        LocalRuntime(dataflow=a).execute(create_item("y").build(a))
        assert one(a, "ItemCountNode", {})["count"] == 2
        assert one(b, "ItemCountNode", {})["count"] == 0
    finally:
        a.close()
        b.close()


def test_two_instances_with_the_same_node_names(tmp_path: Path) -> None:
    a = DataFlow(f"sqlite:///{tmp_path / 'a.db'}")
    b = DataFlow(f"sqlite:///{tmp_path / 'b.db'}")
    try:
        define(a)
        define(b)
        wf = create_item("x")
        with pytest.raises(AmbiguousNodeTypeError) as info:
            LocalRuntime().execute(wf)
        message = str(info.value)
        assert "a.db" in message and "b.db" in message and "dataflow=" in message
        LocalRuntime(dataflow=a).execute(wf)
        by_class = WorkflowBuilder()
        by_class.add_node(b.nodes["ItemCreateNode"], "c", {"name": "y"})
        LocalRuntime().execute(by_class)
        assert one(a, "ItemListNode", {})["records"][0]["name"] == "x"
        assert one(b, "ItemListNode", {})["records"][0]["name"] == "y"
        b.close()
        LocalRuntime().execute(create_item("z"))  # only a defines it now
        assert one(a, "ItemCountNode", {})["count"] == 2
    finally:
        a.close()
        b.close()


def test_unknown_node_type_suggests_the_closest(db: DataFlow) -> None:
    define(db)
    wf = WorkflowBuilder()
    wf.add_node("ItemCreatNode", "c", {"name": "x"})
    with pytest.raises(Exception) as info:
        LocalRuntime(dataflow=db).execute(wf)
    assert "ItemCreateNode" in str(info.value)
    from dataflow_engine.nodes import resolve_node_type

    with pytest.raises(NodeTypeError):
        resolve_node_type("ItemCreatNode", db)


def test_model_classes_are_not_instantiable(db: DataFlow) -> None:
    @db.model
    class Thing:
        name: str

    with pytest.raises(ModelError) as info:
        Thing(name="x")
    assert "ThingCreateNode" in str(info.value)
    assert info.value.code == "DF-MODEL-NOT-INSTANTIABLE"


def test_closed_instance_refuses_work(db: DataFlow) -> None:
    define(db)
    db.close()
    with pytest.raises(Exception) as info:
        LocalRuntime(dataflow=db).execute(create_item("x").build(db))
    assert "DF-CONFIG-CLOSED" in str(info.value)


def test_environment_variable_selects_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "env.db"
    monkeypatch.setenv("DATAFLOW_DATABASE_URL", f"sqlite:///{path}")
    db = DataFlow()
    try:
        define(db)
        LocalRuntime(dataflow=db).execute(create_item("x").build(db))
    finally:
        db.close()
    assert path.exists()
    again = DataFlow(f"sqlite:///{path}")
    try:
        define(again)
        assert one(again, "ItemCountNode", {})["count"] == 1
    finally:
        again.close()


@pytest.mark.parametrize("backend_kind", ["sqlite-file", "postgresql"])
def test_a_script_that_never_closes_exits_promptly(
    backend_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend_kind == "postgresql":
        from tests.conftest import pg_url

        url = pg_url(request.getfixturevalue("pg_database"))
    else:
        url = f"sqlite:///{tmp_path / 'script.db'}"
    script = textwrap.dedent(f"""
        from dataflow_engine import DataFlow, LocalRuntime, WorkflowBuilder
        db = DataFlow({url!r})
        @db.model
        class ExitCheck:
            name: str
        wf = WorkflowBuilder()
        wf.add_node("ExitCheckCreateNode", "c", {{"name": "x"}})
        print(LocalRuntime().execute(wf.build())[0]["c"]["name"])
    """)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "x"
    assert time.monotonic() - started < 15
