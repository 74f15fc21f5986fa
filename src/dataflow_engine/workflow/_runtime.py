"""Runtimes: an async core, and a sync facade that drives it on the engine's loop."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from .. import _loop
from ..cache import run_node, watch_transaction
from ..errors import DataFlowError, ValidationError, WorkflowError
from ..nodes import ExecContext, Node, resolve_node_type
from ..nodes._base import bound_actor, bound_tenant, check_actor, check_tenant_id, tenant_required
from ..nodes._system import output_rows
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
    tenant_id: str | None = None,
    actor: str | None = None,
) -> tuple[dict[str, Any], str]:
    """Run a workflow on the current (engine) loop. See :class:`LocalRuntime`.

    ``tenant_id`` and ``actor`` are given explicitly: this runs on the engine's loop,
    where the caller's ``db.tenant(...)`` / ``db.actor(...)`` bindings are not visible.
    """
    run_started = time.perf_counter()
    tenant_id = None if tenant_id is None else check_tenant_id(tenant_id)
    actor = None if actor is None else check_actor(actor)
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
    if tenant_id is None:  # refused before anything runs, so nothing is half done
        for node_id, cls in classes.items():
            if cls.model.multi_tenant:
                cause = tenant_required(cls.model, cls.type_name)
                raise _workflow_error(node_id, cause, {}, run_id) from cause
    for cls in set(classes.values()):
        owner = cls.dataflow
        owner._check_open()
        if cls.model.name not in owner._ready:
            await owner._ensure_ready(cls.model)
    incoming = wf.incoming()
    results: dict[str, Any] = {}
    timings: dict[str, float] = {}
    if metrics is not None:  # filled in as each node ends, so a failed run has them too
        metrics.update(
            total_seconds=0.0, node_seconds=timings, node_rows={}, node_metrics={}, failed_node=None
        )
    async with AsyncExitStack() as stack:
        tx_conns: dict[tuple[int, str], Any] = {}
        written: set[object] = set()  # databases this run wrote to (read-your-writes)
        if transaction:
            # One transaction per database the workflow touches, begun in a fixed order so
            # two runs never wait for each other's connections the opposite way round.
            touched = {(id(c.dataflow), c.model.database): c for c in classes.values()}
            for key in sorted(touched):
                owner = touched[key].dataflow
                database = owner._database(touched[key].model)
                conn = await stack.enter_async_context(database.acquire())
                watch_transaction(stack, owner, conn)  # cache invalidation after the commit
                await stack.enter_async_context(conn.transaction())
                tx_conns[key] = conn
        for node_id in wf.order:
            cls = classes[node_id]
            spec = specs[node_id]
            started = time.perf_counter()
            ctx: ExecContext | None = None
            try:
                cls.check_writable()
                ctx = ExecContext(
                    cls.dataflow,
                    tx_conns.get((id(cls.dataflow), cls.model.database)),
                    node=cls,
                    written=written,
                    tenant_id=tenant_id,
                    actor=actor,
                )
                cached = wf.prepared.get(node_id)
                if (
                    cached is not None
                    and cached[0] is cls
                    and node_id not in overrides
                    and node_id not in incoming
                ):
                    # Validated by build() for this very node class; nodes never mutate
                    # their parameters, so the same prepared values serve every run.
                    results[node_id] = await run_node(cls, ctx, cached[1])
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
                results[node_id] = await run_node(cls, ctx, prepared)
            except Exception as exc:
                raise _workflow_error(node_id, exc, results, run_id) from exc
            finally:
                timings[node_id] = time.perf_counter() - started
                if metrics is not None:
                    _note_node(metrics, node_id, cls, ctx, results, run_started)
    if metrics is not None:
        metrics["total_seconds"] = time.perf_counter() - run_started
    return results, run_id


def _note_node(
    metrics: dict[str, Any],
    node_id: str,
    cls: type[Node],
    ctx: ExecContext | None,
    results: Mapping[str, Any],
    run_started: float,
) -> None:
    """A node's metrics beyond its seconds: the rows it handled (or that it failed), and
    what it reported itself (a saga's per-step seconds)."""
    reported = dict(ctx.metrics) if ctx is not None else {}
    rows = reported.pop("rows", None)
    if node_id in results:
        if rows is None:
            rows = output_rows(cls, results[node_id])
        if rows is not None:
            metrics["node_rows"][node_id] = rows
    else:
        metrics["failed_node"] = node_id
    if reported:
        metrics["node_metrics"][node_id] = reported
    metrics["total_seconds"] = time.perf_counter() - run_started


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
        *,
        tenant_id: str | None = None,
        actor: str | None = None,
    ) -> tuple[dict[str, Any], str]:
        """Run the workflow and return ``(results, run_id)``.

        Args:
            workflow: a built workflow (or a builder or definition dict, built here).
            parameters: per-node parameter overrides, ``{"node_id": {"param": value}}``.
            transaction: run every node in one transaction per database; any failure
                rolls all of it back.
            tenant_id: the tenant every node on a multi-tenant model is scoped to; by
                default the one bound by ``with db.tenant(...)`` here.
            actor: who acts (recorded by the audit log); by default the one bound by
                ``with db.actor(...)`` here.

        Raises:
            WorkflowError: a node failed; carries ``node_id``, ``cause`` and ``results``.
            WorkflowValidationError: the workflow is invalid.
            TenantError: ``DF-TENANT-INVALID`` for a bad ``tenant_id``;
                ``DF-TENANT-REQUIRED`` (as a ``WorkflowError``) when a node's model is
                multi-tenant and no tenant is bound.
        """
        metrics: dict[str, Any] = {}
        self.last_metrics = metrics  # filled in while it runs: kept when the run fails
        # Read the bindings here, in the caller's context: the engine's loop cannot see them.
        tenant = bound_tenant(tenant_id)
        acting = bound_actor(actor)
        result = _loop.run_sync(
            execute_workflow(
                workflow,
                parameters=parameters,
                transaction=transaction,
                dataflow=self.dataflow,
                metrics=metrics,
                tenant_id=tenant,
                actor=acting,
            )
        )
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
        *,
        tenant_id: str | None = None,
        actor: str | None = None,
    ) -> tuple[dict[str, Any], str]:
        """Run the workflow; the same contract as :meth:`LocalRuntime.execute`."""
        metrics: dict[str, Any] = {}
        self.last_metrics = metrics  # filled in while it runs: kept when the run fails
        # Read the bindings in the awaiting task, before the work moves to the engine's loop.
        tenant = bound_tenant(tenant_id)
        acting = bound_actor(actor)
        result = await _loop.run_async(
            execute_workflow(
                workflow,
                parameters=parameters,
                transaction=transaction,
                dataflow=self.dataflow,
                metrics=metrics,
                tenant_id=tenant,
                actor=acting,
            )
        )
        return result
