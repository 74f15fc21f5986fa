"""Running one generated node per request through the engine's async runtime, and the
one place a request's tenant reaches the engine."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from ..errors import WorkflowValidationError
from ..workflow import AsyncLocalRuntime, Workflow, WorkflowBuilder

if TYPE_CHECKING:
    from .._dataflow import DataFlow
    from ..nodes import Node

__all__ = ["Runner", "tenancy_available"]


def tenancy_available() -> bool:
    """Whether the runtime takes a ``tenant_id`` (multi-tenant models)."""
    return "tenant_id" in inspect.signature(AsyncLocalRuntime.execute).parameters


class Runner:
    """Runs nodes of one ``DataFlow``, the way a program runs a built workflow.

    A node type that needs no parameter (List, Count) is built once and run with the
    request's parameters as overrides, which the runtime validates; the others are built
    per request (``build()`` validates, the run reuses what it validated). Every engine
    rule applies either way: validation, soft delete, versions, read-only.
    """

    def __init__(self, db: DataFlow) -> None:
        self.db = db
        self.runtime = AsyncLocalRuntime(dataflow=db)
        self._built: dict[type[Node], Workflow | None] = {}

    async def run(self, node: type[Node], params: dict[str, Any], tenant: str | None) -> Any:
        """The node's output.

        Raises:
            WorkflowValidationError: bad parameters, every problem listed.
            WorkflowError: the node failed (also an instance of the cause's class).
        """
        if node not in self._built:
            wf = WorkflowBuilder()
            wf.add_node(node, "n", {})
            try:
                self._built[node] = wf.build(self.db)
            except WorkflowValidationError:
                self._built[node] = None
        built = self._built[node]
        if built is not None:
            results = await self.execute(built, {"n": params}, tenant)
        else:
            wf = WorkflowBuilder()
            wf.add_node(node, "n", params)
            results = await self.execute(wf.build(self.db), None, tenant)
        return results["n"]

    async def execute(
        self,
        workflow: Workflow,
        parameters: dict[str, dict[str, Any]] | None,
        tenant: str | None,
    ) -> dict[str, Any]:
        """Run a built workflow for a request; its tenant (when the API has a tenant
        source) is bound for the whole run by the runtime."""
        if tenant is None:
            results, _ = await self.runtime.execute(workflow, parameters=parameters)
        else:
            bound: dict[str, Any] = {"tenant_id": tenant}
            results, _ = await self.runtime.execute(workflow, parameters=parameters, **bound)
        return results
