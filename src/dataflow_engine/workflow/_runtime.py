"""Runtimes: an async core, and a sync facade that drives it on the engine's loop."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from .. import _loop
from ..errors import DataFlowError, ValidationError, WorkflowError
from ..nodes import ExecContext, Node, resolve_node_type
from ._builder import Workflow, WorkflowBuilder

if TYPE_CHECKING:
    from .._dataflow import DataFlow

__all__ = ["AsyncLocalRuntime", "LocalRuntime"]

_ERROR_CLASSES: dict[type[BaseException], type[WorkflowError]] = {}


def _workflow_error(
    node_id: str, cause: BaseException, results: Mapping[str, Any], run_id: str
) -> WorkflowError:
    """A ``WorkflowError`` that is also an instance of the cause's engine error class, so
    ``except UniqueViolation`` works around a workflow run."""
    cause_cls = type(cause)
    if not isinstance(cause, DataFlowError) or isinstance(cause, WorkflowError):
        return WorkflowError(node_id, cause, results, run_id)
    cls = _ERROR_CLASSES.get(cause_cls)
    if cls is None:
        cls = type(
            f"WorkflowError[{cause_cls.__name__}]",
            (WorkflowError, cause_cls),
            {"__module__": "dataflow_engine.errors"},
        )
        _ERROR_CLASSES[cause_cls] = cls
    err = cls(node_id, cause, results, run_id)
    err.code = cause.code
    err.details.update({k: v for k, v in cause.details.items() if k not in err.details})
    return err


def _get_path(value: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(value, Mapping):
            if part not in value:
                raise KeyError(part)
            value = value[part]
        elif isinstance(value, list | tuple):
            value = value[int(part)]
        else:
            raise KeyError(part)
    return value


def _set_path(params: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    target = params
    for part in parts[:-1]:
        child = target.get(part)
        child = dict(child) if isinstance(child, Mapping) else {}
        target[part] = child
        target = child
    target[parts[-1]] = value


def _as_workflow(
    workflow: Workflow | WorkflowBuilder | Mapping[str, Any], dataflow: DataFlow | None
) -> Workflow:
    if isinstance(workflow, Workflow):
        return workflow
    if isinstance(workflow, WorkflowBuilder):
        return workflow.build(dataflow)
    if isinstance(workflow, Mapping):
        return WorkflowBuilder.from_dict(workflow).build(dataflow)
    raise ValidationError(
        f"execute() takes a Workflow, a WorkflowBuilder or a workflow dict, got "
        f"{type(workflow).__name__}",
        code="DF-WORKFLOW-MALFORMED",
    )


async def execute_workflow(
    workflow: Workflow | WorkflowBuilder | Mapping[str, Any],
    *,
    parameters: Mapping[str, Mapping[str, Any]] | None = None,
    transaction: bool = False,
    dataflow: DataFlow | None = None,
    run_id: str | None = None,
    metrics: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], str]:
    """Run a workflow on the current (engine) loop. See :class:`LocalRuntime`."""
    wf = _as_workflow(workflow, dataflow)
    run_id = run_id or os.urandom(16).hex()
    specs = {n.id: n for n in wf.nodes}
    if parameters is not None and (
        not isinstance(parameters, Mapping)
        or not all(isinstance(v, Mapping) for v in parameters.values())
    ):
        raise ValidationError(
            "parameters must map node ids to parameter dicts, e.g. {'create': {'email': 'b@x'}}",
            code="DF-WORKFLOW-PARAMETERS",
        )
    overrides = dict(parameters or {})
    unknown = [k for k in overrides if k not in specs]
    if unknown:
        raise ValidationError(
            f"parameters name unknown node id(s) {', '.join(map(repr, unknown))}; "
            f"nodes: {', '.join(specs)}",
            code="DF-WORKFLOW-PARAMETERS",
            details={"unknown": unknown},
        )
    classes: dict[str, type[Node]] = {}
    for spec in wf.nodes:
        t = spec.type
        classes[spec.id] = t if isinstance(t, type) else resolve_node_type(t, dataflow)
    for cls in set(classes.values()):
        owner = cls.dataflow
        owner._check_open()
        if cls.model.name not in owner._ready:
            await owner._ensure_ready(cls.model)
    incoming = wf.incoming()
    results: dict[str, Any] = {}
    timings: dict[str, float] = {}
    async with AsyncExitStack() as stack:
        tx_conns: dict[int, Any] = {}
        if transaction:
            for db in {id(c.dataflow): c.dataflow for c in classes.values()}.values():
                conn = await stack.enter_async_context(db._adapter.acquire())
                await stack.enter_async_context(conn.transaction())
                tx_conns[id(db)] = conn
        for node_id in wf.order:
            cls = classes[node_id]
            spec = specs[node_id]
            started = time.perf_counter()
            try:
                cls.check_writable()
                ctx = ExecContext(cls.dataflow, tx_conns.get(id(cls.dataflow)))
                cached = wf.prepared.get(node_id)
                if (
                    cached is not None
                    and cached[0] is cls
                    and node_id not in overrides
                    and node_id not in incoming
                ):
                    # Validated by build() for this very node class; nodes never mutate
                    # their parameters, so the same prepared values serve every run.
                    results[node_id] = await cls().run(ctx, cached[1])
                    continue
                params = dict(spec.params)
                if node_id in overrides:
                    params.update(overrides[node_id])
                for c in incoming.get(node_id, ()):
                    try:
                        value = _get_path(results[c.source], c.output_path)
                    except (KeyError, IndexError, ValueError):
                        raise ValidationError(
                            f"connection {c.source}.{c.output_path} -> {node_id}.{c.input_path}:"
                            f" the output of {c.source!r} has no {c.output_path!r}",
                            code="DF-CONNECTION-PATH-MISSING",
                            details={"source": c.source, "output_path": c.output_path},
                        ) from None
                    _fill(cls, params, c.input_path, value)
                prepared = cls.prepare(params, node_id)
                results[node_id] = await cls().run(ctx, prepared)
            except Exception as exc:
                raise _workflow_error(node_id, exc, results, run_id) from exc
            finally:
                timings[node_id] = time.perf_counter() - started
    if metrics is not None:
        metrics["node_seconds"] = timings
    return results, run_id


def _fill(cls: type[Node], params: dict[str, Any], input_path: str, value: Any) -> None:
    head, _, rest = input_path.partition(".")
    head = cls.aliases().get(head, head)
    if (
        cls.kind == "BulkCreate"
        and not rest
        and head not in cls.parameters()
        and head in cls.model.fields
    ):
        data = params.get("data") or []
        params["data"] = [
            {**r, head: value} if isinstance(r, Mapping) and head not in r else r for r in data
        ]
        return
    _set_path(params, f"{head}.{rest}" if rest else head, value)


class LocalRuntime:
    """Runs workflows synchronously, from scripts, threads, or inside a running event loop.

    Args:
        dataflow: resolve node type names in this ``DataFlow`` only (needed when two open
            instances define the same node names).

    Example::

        results, run_id = LocalRuntime().execute(wf.build())
    """

    def __init__(self, dataflow: DataFlow | None = None) -> None:
        self.dataflow = dataflow
        self.last_metrics: dict[str, Any] = {}

    def execute(
        self,
        workflow: Workflow | WorkflowBuilder | Mapping[str, Any],
        parameters: Mapping[str, Mapping[str, Any]] | None = None,
        transaction: bool = False,
    ) -> tuple[dict[str, Any], str]:
        """Run the workflow and return ``(results, run_id)``.

        Args:
            workflow: a built workflow (or a builder or definition dict, built here).
            parameters: per-node parameter overrides, ``{"node_id": {"param": value}}``.
            transaction: run every node in one transaction per database; any failure
                rolls all of it back.

        Raises:
            WorkflowError: a node failed; carries ``node_id``, ``cause`` and ``results``.
            WorkflowValidationError: the workflow is invalid.
        """
        metrics: dict[str, Any] = {}
        result = _loop.run_sync(
            execute_workflow(
                workflow,
                parameters=parameters,
                transaction=transaction,
                dataflow=self.dataflow,
                metrics=metrics,
            )
        )
        self.last_metrics = metrics
        return result


class AsyncLocalRuntime:
    """The async runtime: ``results, run_id = await AsyncLocalRuntime().execute(wf)``."""

    def __init__(self, dataflow: DataFlow | None = None) -> None:
        self.dataflow = dataflow
        self.last_metrics: dict[str, Any] = {}

    async def execute(
        self,
        workflow: Workflow | WorkflowBuilder | Mapping[str, Any],
        parameters: Mapping[str, Mapping[str, Any]] | None = None,
        transaction: bool = False,
    ) -> tuple[dict[str, Any], str]:
        """Run the workflow; the same contract as :meth:`LocalRuntime.execute`."""
        metrics: dict[str, Any] = {}
        result = await _loop.run_async(
            execute_workflow(
                workflow,
                parameters=parameters,
                transaction=transaction,
                dataflow=self.dataflow,
                metrics=metrics,
            )
        )
        self.last_metrics = metrics
        return result
