"""Workflows: the definition format, its validator, the builder and the runtimes."""

from ._builder import Workflow, WorkflowBuilder
from ._definition import execution_order, validate_workflow
from ._runtime import AsyncLocalRuntime, LocalRuntime, execute_workflow
from ._schema import workflow_json_schema

__all__ = [
    "AsyncLocalRuntime",
    "LocalRuntime",
    "Workflow",
    "WorkflowBuilder",
    "execute_workflow",
    "execution_order",
    "validate_workflow",
    "workflow_json_schema",
]
