"""The DataFlow's own ``*_async`` methods can be awaited from any event loop: the work
runs on the engine's loop, so pools never get bound to a caller's loop that ends."""

from __future__ import annotations

import asyncio

import pytest

from dataflow_engine import DataFlow, LocalRuntime, WorkflowBuilder


@pytest.mark.backend
def test_async_methods_from_several_loops_then_sync(db_url: str) -> None:
    db = DataFlow(db_url)
    try:

        @db.model
        class Gadget:
            name: str

        db.create_tables()

        async def first() -> list[str]:
            await db.create_tables_async()
            return list(await db.discover_schema_async())

        async def second() -> int:
            found = await db.discover_schema_async(tables=["gadgets"])
            entries = await db.registry_entries_async()
            return len(found) + len(entries)

        assert "gadgets" in asyncio.run(first())  # a loop that ends here
        assert asyncio.run(second()) >= 1  # another loop: the pool still works
        wf = WorkflowBuilder()
        wf.add_node("GadgetCreateNode", "c", {"name": "x"})
        results, _ = LocalRuntime(dataflow=db).execute(wf.build(db))  # and the sync facade
        assert results["c"]["name"] == "x"
    finally:
        db.close()


@pytest.mark.backend
def test_a_program_run_on_the_engine_loop_awaits_the_engine_directly(db_url: str) -> None:
    from dataflow_engine import AsyncLocalRuntime, run_on_engine_loop

    db = DataFlow(db_url)
    try:

        @db.model
        class Widget:
            name: str

        async def main(names: list[str]) -> tuple[list[str], str]:
            runtime = AsyncLocalRuntime(dataflow=db)
            loop = asyncio.get_running_loop()
            for name in names:
                wf = WorkflowBuilder()
                wf.add_node("WidgetCreateNode", "c", {"name": name})
                await runtime.execute(wf.build(db))
            wf = WorkflowBuilder()
            wf.add_node("WidgetListNode", "l", {"order_by": ["name"]})
            results, _ = await runtime.execute(wf.build(db))
            version = await db.server_version_async()
            # Blocking calls cannot run on the loop they would wait for: refused clearly.
            with pytest.raises(RuntimeError, match="AsyncLocalRuntime or the async methods"):
                LocalRuntime(dataflow=db).execute(wf.build(db))
            assert asyncio.get_running_loop() is loop
            return [r["name"] for r in results["l"]["records"]], version

        names, version = run_on_engine_loop(main, ["b", "a", "ü"])
        assert names == ["a", "b", "ü"]
        assert version == db.server_version()  # the sync facade works again afterwards
    finally:
        db.close()
