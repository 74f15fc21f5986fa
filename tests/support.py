"""Helpers shared by the tests."""

from __future__ import annotations

from typing import Any

from dataflow_engine import DataFlow, LocalRuntime, WorkflowBuilder

__all__ = ["one", "run"]


def run(
    db: DataFlow,
    *nodes: tuple[str, str, dict[str, Any]],
    connections: tuple[tuple[str, str, str, str], ...] = (),
    **kwargs: Any,
) -> Any:
    """Build and run a workflow of ``(type, id, params)`` nodes; return the results."""
    wf = WorkflowBuilder()
    for node_type, node_id, params in nodes:
        wf.add_node(node_type, node_id, params)
    for conn in connections:
        wf.add_connection(*conn)
    results, _ = LocalRuntime(dataflow=db).execute(wf.build(db), **kwargs)
    return results


def one(db: DataFlow, node_type: str, params: dict[str, Any], **kwargs: Any) -> Any:
    """Run a single node and return its output."""
    return run(db, (node_type, "n", params), **kwargs)["n"]
