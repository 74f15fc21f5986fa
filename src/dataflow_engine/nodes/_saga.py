"""``TransactionManagerNode``: steps that are node invocations, each with an optional
compensation, run as a saga (or in one database transaction)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..config import PRIMARY
from ..errors import DataFlowError, NodeTypeError, ValidationError
from ..models._model import suggest
from ._base import ExecContext, Node, OutputSpec, Param, Problems
from ._registry import resolve_node_type
from ._system import Connections, SystemNode, ensure_tables, output_rows, run_child

if TYPE_CHECKING:
    from .._dataflow import DataFlow
    from ..adapters import Connection

__all__ = ["MAX_STEPS", "TransactionManagerNode", "resolve_step_type"]

#: The most steps one saga may have.
MAX_STEPS = 1000
#: The source name of the saga's ``context`` parameter in a step's ``inputs``.
CONTEXT = "context"
_MODES = ("saga", "transaction")
_STEP_KEYS = ("id", "type", "params", "inputs", "compensation")
_ACTION_KEYS = ("type", "params", "inputs")


@dataclass(frozen=True)
class _Action:
    """A node invocation: its class, literal parameters, and inputs taken from earlier
    outputs as ``(input path, source, output path)``. ``prepared`` holds the validated
    parameters when nothing is filled in at run time."""

    cls: type[Node]
    params: Mapping[str, Any]
    inputs: tuple[tuple[str, str, str], ...]
    prepared: dict[str, Any] | None


@dataclass(frozen=True)
class _Step:
    id: str
    action: _Action
    compensation: _Action | None


def resolve_step_type(ref: Any, home: DataFlow) -> type[Node]:
    """The node class a step's ``type`` names: a node class as it is; a name from the
    saga's own ``DataFlow`` first, else from the one other open ``DataFlow`` defining it.

    Raises:
        NodeTypeError: ``DF-NODE-UNKNOWN-TYPE`` with the closest names.
        AmbiguousNodeTypeError: several other open ``DataFlow`` instances define it.
    """
    if isinstance(ref, type) and issubclass(ref, Node):
        return ref
    if not isinstance(ref, str) or not ref:
        raise NodeTypeError(
            f"a step's type must be a node type name such as 'UserCreateNode', got {ref!r:.80}",
            details={"node_type": repr(ref)[:80], "suggestions": []},
        )
    found = home.nodes.get(ref)
    return found if found is not None else resolve_node_type(ref)


class TransactionManagerNode(SystemNode):
    """Runs ``steps`` in order. When step N fails, the compensations of steps N-1 .. 1
    run in reverse order (every one of them, even after one fails); the output (or the
    raised error's ``details["saga"]``) says what ran, what failed and what was
    compensated.

    Example step list::

        [{"id": "customer", "type": "CustomerCreateNode", "params": {"name": "Ann"},
          "compensation": {"type": "CustomerDeleteNode", "inputs": {"id": "customer.id"}}},
         {"id": "order", "type": "OrderCreateNode", "params": {"total": 5},
          "inputs": {"customer_id": "customer.id"},
          "compensation": {"type": "OrderDeleteNode", "inputs": {"id": "order.id"}}}]
    """

    kind = "TransactionManager"
    writes = True
    description = (
        "Run steps (node invocations) in order; when one fails, run the compensations of "
        "the steps before it in reverse order (mode 'saga'), or roll back one database "
        "transaction (mode 'transaction')."
    )

    @classmethod
    def _declare_parameters(cls) -> dict[str, Param]:
        return {
            "steps": Param(
                "steps",
                "list[dict]",
                required=True,
                doc="[{id, type, params, inputs: {param.path: 'step.output.path'}, "
                "compensation: {type, params, inputs}}]",
            ),
            "mode": Param(
                "mode",
                "str",
                default="saga",
                doc="'saga' (each step commits; compensations undo) or 'transaction' (one "
                "transaction, rolled back on failure; every step on one database)",
            ),
            "context": Param(
                "context",
                "dict",
                default=None,
                doc="values steps take as inputs ('context.name'); connections may fill it",
            ),
            "raise_on_failure": Param(
                "raise_on_failure",
                "bool",
                default=True,
                doc="raise the failed step's error once compensated (false: report it)",
            ),
        }

    @classmethod
    def _declare_outputs(cls) -> OutputSpec:
        return {
            "status": "str",
            "results": "dict",
            "completed": "list[str]",
            "failed": "dict | None",
            "compensated": "list[str]",
            "compensation_errors": "list[dict]",
            "skipped": "list[str]",
            "steps": "list[dict]",
        }

    @classmethod
    def check_writable(cls) -> None:
        """Each step is checked against its own ``DataFlow`` when the saga runs."""

    @classmethod
    def _validate(cls, params: dict[str, Any], problems: Problems) -> None:
        mode = params.get("mode")
        if "mode" in params and mode not in _MODES:
            problems.add(
                "DF-SAGA-MODE",
                f"{cls.type_name}: mode must be 'saga' or 'transaction', got {mode!r:.80}",
                ("mode",),
                {"mode": repr(mode)[:80], "allowed": list(_MODES)},
            )
        into_steps = sorted(p for p in problems.pending if p.startswith("steps."))
        if into_steps:
            problems.add(
                "DF-SAGA-INPUT",
                f"{cls.type_name}: connect workflow outputs into 'context.<name>' (here "
                f"{into_steps[0]!r}) and take them in a step's inputs as 'context.<name>'",
                ("steps",),
            )
        if "steps" not in params or problems.provided("steps"):
            return
        context = params.get("context") or {}
        steps = _plan_steps(cls, params["steps"], context, problems)
        params["_steps"] = steps
        if steps and params.get("mode") == "transaction":
            used = {
                (id(a.cls.dataflow), a.cls.model.database): f"{a.cls.model.database} of "
                f"{a.cls.dataflow!r}"
                for a in _actions(steps)
            }
            if len(used) > 1:
                problems.add(
                    "DF-SAGA-MODE",
                    f"{cls.type_name}: mode 'transaction' needs every step on one database, "
                    f"and these steps use {len(used)} ({'; '.join(sorted(used.values()))}); "
                    "use mode 'saga' with compensations",
                    ("mode",),
                    {"databases": sorted(used.values())},
                )

    async def run(self, ctx: ExecContext, params: dict[str, Any]) -> dict[str, Any]:
        steps: list[_Step] = params["_steps"]
        context: Mapping[str, Any] = params.get("context") or {}
        actions = _actions(steps)
        # Before anything runs: a closed or read-only DataFlow, or a multi-tenant model
        # with no tenant bound, refuses the whole saga.
        for action in actions:
            action.cls.dataflow._check_open()
            action.cls.check_writable()
            ctx.tenant_for(action.cls.model, action.cls.type_name)
        by_db: dict[int, tuple[DataFlow, set[Any]]] = {}
        for action in actions:
            db = action.cls.dataflow
            by_db.setdefault(id(db), (db, set()))[1].add(action.cls.model)
        for db, models in by_db.values():
            await ensure_tables(ctx, db, [m for m in models if m.fields])
        report = _Report(steps)
        if params["mode"] == "transaction":
            await self._run_in_transaction(ctx, steps, context, report)
        else:
            await self._run_saga(ctx, steps, context, report)
        ctx.metrics["step_seconds"] = dict(report.step_seconds)
        if report.compensation_seconds:
            ctx.metrics["compensation_seconds"] = dict(report.compensation_seconds)
        if report.status == "completed":
            by_id = {s.id: s.action.cls for s in steps}
            counted = [output_rows(by_id[k], out) for k, out in report.results.items()]
            ctx.metrics["rows"] = sum(n for n in counted if n is not None)
        if report.error is not None and params["raise_on_failure"]:
            raise report.exception(len(steps))
        return report.output()

    async def _run_saga(
        self,
        ctx: ExecContext,
        steps: Sequence[_Step],
        context: Mapping[str, Any],
        report: _Report,
    ) -> None:
        # Inside a workflow transaction, steps on its database share its connection.
        connections = {(id(ctx.dataflow), PRIMARY): ctx.tx_connection}
        outputs: dict[str, Any] = {}
        done: list[_Step] = []
        for n, step in enumerate(steps, 1):
            started = time.perf_counter()
            try:
                outputs[step.id] = await _invoke(
                    ctx, step.action, outputs, context, step.id, connections, savepoint=True
                )
            except Exception as exc:
                report.step_failed(step, n, exc, time.perf_counter() - started)
                break
            report.step_done(step, outputs[step.id], time.perf_counter() - started)
            done.append(step)
        if report.error is None:
            return
        for step in reversed(done):
            if step.compensation is None:
                report.nothing_to_compensate(step)
                continue
            started = time.perf_counter()
            try:
                await _invoke(
                    ctx,
                    step.compensation,
                    outputs,
                    context,
                    f"{step.id}.compensation",
                    connections,
                    savepoint=True,
                )
            except Exception as exc:
                report.compensation_failed(step, exc, time.perf_counter() - started)
                continue
            report.compensation_done(step, time.perf_counter() - started)
        report.status = "compensation_failed" if report.compensation_errors else "compensated"

    async def _run_in_transaction(
        self,
        ctx: ExecContext,
        steps: Sequence[_Step],
        context: Mapping[str, Any],
        report: _Report,
    ) -> None:
        first = steps[0].action.cls
        outputs: dict[str, Any] = {}
        current: tuple[_Step, int, float] | None = None
        try:
            async with Connections(ctx, transaction=True) as held:
                conn = await held.get(first.dataflow, first.model)
                shared = {(id(first.dataflow), first.model.database): conn}
                for n, step in enumerate(steps, 1):
                    current = (step, n, time.perf_counter())
                    outputs[step.id] = await _invoke(
                        ctx, step.action, outputs, context, step.id, shared
                    )
                    report.step_done(step, outputs[step.id], time.perf_counter() - current[2])
                    current = None
        except Exception as exc:
            if current is not None:
                step, n, started = current
                report.step_failed(step, n, exc, time.perf_counter() - started)
            else:  # every step ran, and the commit failed
                report.commit_failed(exc)
            report.rolled_back()


async def _invoke(
    ctx: ExecContext,
    action: _Action,
    outputs: Mapping[str, Any],
    context: Mapping[str, Any],
    label: str,
    connections: Mapping[tuple[int, str], Connection | None],
    *,
    savepoint: bool = False,
) -> dict[str, Any]:
    """Run one step or compensation: fill its inputs, validate, run on its DataFlow."""
    from ..workflow._runtime import _fill, _get_path

    node_cls = action.cls
    params = action.prepared
    if params is None:
        raw = dict(action.params)
        for target, source, path in action.inputs:
            origin = context if source == CONTEXT else outputs[source]
            try:
                value = _get_path(origin, path)
            except (KeyError, IndexError, ValueError, TypeError):
                raise ValidationError(
                    f"{label}: input {target!r} takes {source}.{path}, and "
                    f"{'the context' if source == CONTEXT else 'the output of ' + repr(source)}"
                    f" has no {path!r}",
                    code="DF-SAGA-INPUT",
                    details={"step": label, "input": target, "source": f"{source}.{path}"},
                ) from None
            _fill(node_cls, raw, target, value)
        params = node_cls.prepare(raw, node_id=label)
    conn = connections.get((id(node_cls.dataflow), node_cls.model.database))
    if conn is not None and savepoint:
        # A failed step rolls back to here, and the transaction stays usable for the
        # compensations (PostgreSQL refuses every statement after an error otherwise).
        async with conn.transaction():
            result: dict[str, Any] = await run_child(node_cls, ctx, params, conn)
            return result
    result = await run_child(node_cls, ctx, params, conn)
    return result


def _actions(steps: Sequence[_Step]) -> list[_Action]:
    out = []
    for step in steps:
        out.append(step.action)
        if step.compensation is not None:
            out.append(step.compensation)
    return out


# -- validation ---------------------------------------------------------------------------


def _unknown_keys(
    cls: type[Node],
    raw: Mapping[str, Any],
    allowed: tuple[str, ...],
    path: tuple[str | int, ...],
    what: str,
    problems: Problems,
) -> None:
    for key in raw:
        if key in allowed:
            continue
        close = suggest(str(key), allowed)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        problems.add(
            "DF-SAGA-STEP",
            f"{cls.type_name}: {what} has no key {key!r}{hint} (keys: {', '.join(allowed)})",
            (*path, str(key)),
            {"key": str(key), "suggestions": close},
        )


def _plan_steps(
    cls: type[Node], steps: Any, context: Any, problems: Problems
) -> list[_Step] | None:
    """Every step validated, with paths into the definition; None when any is wrong."""
    if not isinstance(steps, list | tuple):
        return None  # the declared type was reported
    if not steps or len(steps) > MAX_STEPS:
        problems.add(
            "DF-PARAM-RANGE",
            f"{cls.type_name}: give between 1 and {MAX_STEPS} steps, got {len(steps)}",
            ("steps",),
            {"param": "steps", "count": len(steps)},
        )
        return None
    if not isinstance(context, Mapping):
        context = {}
    later = {s.get("id") for s in steps if isinstance(s, Mapping) and isinstance(s.get("id"), str)}
    known: dict[str, type[Node] | None] = {}
    planned: list[_Step] = []
    for i, raw in enumerate(steps):
        path: tuple[str | int, ...] = ("steps", i)
        if not isinstance(raw, Mapping):
            problems.add(
                "DF-SAGA-STEP",
                f"{cls.type_name}: steps[{i}] must be an object with 'id', 'type', 'params', "
                "and optionally 'inputs' and 'compensation'",
                path,
            )
            continue
        _unknown_keys(cls, raw, _STEP_KEYS, path, f"steps[{i}]", problems)
        sid = raw.get("id")
        if not isinstance(sid, str) or not sid or "." in sid or sid == CONTEXT:
            why = (
                f"is reserved (inputs name the saga's context as '{CONTEXT}.<name>')"
                if sid == CONTEXT
                else "must be a non-empty string without '.'"
            )
            problems.add(
                "DF-SAGA-STEP",
                f"{cls.type_name}: the id of steps[{i}] ({sid!r:.80}) {why}",
                (*path, "id"),
            )
            continue
        if sid in known:
            problems.add(
                "DF-SAGA-STEP",
                f"{cls.type_name}: step id {sid!r} is used twice",
                (*path, "id"),
                {"step": sid},
            )
            continue
        where = f"step {sid!r}"
        action = _plan_action(cls, raw, path, where, known, later, context, problems)
        known[sid] = action.cls if action is not None else None
        compensation = None
        comp = raw.get("compensation")
        if comp is not None:
            comp_path = (*path, "compensation")
            if not isinstance(comp, Mapping):
                problems.add(
                    "DF-SAGA-STEP",
                    f"{cls.type_name}: the compensation of {where} must be an object with "
                    "'type', 'params' and optionally 'inputs'",
                    comp_path,
                )
                continue
            _unknown_keys(cls, comp, _ACTION_KEYS, comp_path, f"{where}'s compensation", problems)
            compensation = _plan_action(
                cls,
                comp,
                comp_path,
                f"the compensation of {where}",
                known,
                later,
                context,
                problems,
            )
            if compensation is None:
                continue
        if action is not None:
            planned.append(_Step(sid, action, compensation))
    if len(planned) != len(steps) or (problems.collect and problems.items):
        return None
    return planned


def _plan_action(
    cls: type[Node],
    raw: Mapping[str, Any],
    path: tuple[str | int, ...],
    where: str,
    known: Mapping[str, type[Node] | None],
    later: set[Any],
    context: Mapping[str, Any],
    problems: Problems,
) -> _Action | None:
    """A step or a compensation: its node type resolved, inputs checked against earlier
    outputs, and its literal parameters validated by the node itself."""
    from ..workflow._definition import input_path_problem, parse_endpoint

    try:
        node_cls = resolve_step_type(raw.get("type"), cls.dataflow)
    except NodeTypeError as exc:
        if not problems.collect:
            raise
        problems.add(exc.code, f"{where}: {exc.message}", (*path, "type"), exc.details)
        return None
    params = raw.get("params")
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        problems.add(
            "DF-SAGA-STEP",
            f"{cls.type_name}: the params of {where} must be an object",
            (*path, "params"),
        )
        return None
    inputs = raw.get("inputs")
    if inputs is None:
        inputs = {}
    if not isinstance(inputs, Mapping):
        problems.add(
            "DF-SAGA-INPUT",
            f"{cls.type_name}: the inputs of {where} must be an object "
            "{'param.path': 'step_id.output.path'}",
            (*path, "inputs"),
        )
        return None
    wired: list[tuple[str, str, str]] = []
    pending: set[str] = set()
    for target, source in inputs.items():
        here = (*path, "inputs", str(target))
        why = (
            input_path_problem(node_cls, target)
            if isinstance(target, str) and target and "" not in target.split(".")
            else f"{target!r:.80} is not a parameter path such as 'id' or 'filter.user_id'"
        )
        if why:
            problems.add("DF-SAGA-INPUT", f"{where}: {why}", here, {"input": str(target)[:200]})
            continue
        head, _, rest = target.partition(".")
        head = node_cls.aliases().get(head, head)
        # Meant to be filled in even when its source is wrong: not also reported missing.
        pending.add(f"{head}.{rest}" if rest else head)
        endpoint = parse_endpoint(source)
        if endpoint is None:
            problems.add(
                "DF-SAGA-INPUT",
                f"{where}: input {target!r} must name an output as 'step_id.output.path' or "
                f"'{CONTEXT}.name', got {source!r:.80}",
                here,
            )
            continue
        sid, out_path = endpoint
        problem = _source_problem(cls, sid, out_path, known, later, context, problems)
        if problem:
            problems.add("DF-SAGA-INPUT", f"{where}: input {target!r}: {problem}", here)
            continue
        wired.append((target, sid, out_path))
    normalized, found = node_cls.check(params, node_id=problems.node_id, pending=frozenset(pending))
    for d in found:
        # d.path starts with "params": it becomes steps.<i>[.compensation].params....
        problems.add(
            d.code, f"{where} ({node_cls.type_name}): {d.message}", (*path, *d.path), d.details
        )
    # With problems it is still returned: later steps' inputs are checked against it.
    prepared = normalized if not pending and not found else None
    return _Action(node_cls, dict(params), tuple(wired), prepared)


def _source_problem(
    cls: type[Node],
    sid: str,
    out_path: str,
    known: Mapping[str, type[Node] | None],
    later: set[Any],
    context: Mapping[str, Any],
    problems: Problems,
) -> str | None:
    """Why ``sid.out_path`` is not a value a step can take, or None."""
    from ..workflow._definition import output_path_problem

    if sid == CONTEXT:
        head = out_path.split(".")[0]
        if head in context or problems.provided(f"{CONTEXT}.{head}") or problems.provided(CONTEXT):
            return None
        return (
            f"the context has no {head!r}; give it in the {CONTEXT!r} parameter or connect a "
            f"workflow output to '<this node>.{CONTEXT}.{head}'"
        )
    if sid in known:
        source_cls = known[sid]
        return None if source_cls is None else output_path_problem(source_cls, out_path)
    if sid in later:
        return f"step {sid!r} runs later; a step can take only the outputs of earlier steps"
    close = suggest(sid, [*known, CONTEXT])
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"no step {sid!r} runs before it{hint}"


# -- the report -----------------------------------------------------------------------------


def _error_info(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, DataFlowError):
        return {"code": exc.code, "message": exc.message, "details": dict(exc.details)}
    return {
        "code": "DF-SAGA-STEP-FAILED",
        "message": f"{type(exc).__name__}: {exc}",
        "details": {"exception": type(exc).__name__},
    }


class _Report:
    """What a saga did, step by step."""

    def __init__(self, steps: Sequence[_Step]) -> None:
        self.entries: dict[str, dict[str, Any]] = {
            s.id: {"id": s.id, "type": s.action.cls.type_name, "status": "skipped"} for s in steps
        }
        self.status = "completed"
        self.results: dict[str, Any] = {}
        self.completed: list[str] = []
        self.failed: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self.compensated: list[str] = []
        self.compensation_errors: list[dict[str, Any]] = []
        self.step_seconds: dict[str, float] = {}
        self.compensation_seconds: dict[str, float] = {}

    def step_done(self, step: _Step, output: Any, seconds: float) -> None:
        self.results[step.id] = output
        self.completed.append(step.id)
        self.step_seconds[step.id] = seconds
        self.entries[step.id].update(status="completed", seconds=seconds)

    def step_failed(self, step: _Step, n: int, exc: BaseException, seconds: float) -> None:
        info = _error_info(exc)
        self.error = exc
        self.failed = {"step": step.id, "index": n, "type": step.action.cls.type_name, **info}
        self.step_seconds[step.id] = seconds
        self.entries[step.id].update(status="failed", seconds=seconds, error=info)

    def commit_failed(self, exc: BaseException) -> None:
        self.error = exc
        self.failed = {"step": None, "index": None, "type": None, **_error_info(exc)}

    def rolled_back(self) -> None:
        self.status = "rolled_back"
        for sid in self.completed:
            self.entries[sid]["status"] = "rolled_back"

    def nothing_to_compensate(self, step: _Step) -> None:
        self.entries[step.id]["compensation"] = {"status": "none"}

    def compensation_done(self, step: _Step, seconds: float) -> None:
        self.compensated.append(step.id)
        self.compensation_seconds[step.id] = seconds
        self.entries[step.id]["compensation"] = {"status": "compensated", "seconds": seconds}

    def compensation_failed(self, step: _Step, exc: BaseException, seconds: float) -> None:
        info = _error_info(exc)
        self.compensation_errors.append({"step": step.id, **info})
        self.compensation_seconds[step.id] = seconds
        self.entries[step.id]["compensation"] = {
            "status": "failed",
            "seconds": seconds,
            "error": info,
        }

    def output(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "results": dict(self.results),
            "completed": list(self.completed),
            "failed": self.failed,
            "compensated": list(self.compensated),
            "compensation_errors": list(self.compensation_errors),
            "skipped": [s for s, e in self.entries.items() if e["status"] == "skipped"],
            "steps": [dict(e) for e in self.entries.values()],
        }

    def exception(self, total: int) -> DataFlowError:
        """The error a failed saga raises: of the failed step's error class (so
        ``except UniqueViolation`` works), with its code, unless a compensation failed
        (``DF-SAGA-COMPENSATION-FAILED``); the report is ``details["saga"]``."""
        cause = self.error
        assert cause is not None and self.failed is not None
        info = _error_info(cause)
        sid = self.failed["step"]
        if sid is None:
            head = f"the saga's transaction could not commit: {info['message']}"
        else:
            head = (
                f"saga step {sid!r} ({self.failed['index']} of {total}, {self.failed['type']}) "
                f"failed: {info['message']}"
            )
        if self.status == "rolled_back":
            tail = "the transaction was rolled back; nothing the steps wrote remains"
        elif self.compensation_errors:
            broken = ", ".join(repr(e["step"]) for e in self.compensation_errors)
            tail = (
                f"the compensation of step(s) {broken} failed too, so their writes remain "
                f"(compensated: {', '.join(map(repr, self.compensated)) or 'none'}); "
                "details['saga'] has every error"
            )
        elif self.compensated:
            tail = f"compensated {', '.join(map(repr, self.compensated))}, in that order"
        else:
            tail = "no earlier step had a compensation to run"
        code = "DF-SAGA-COMPENSATION-FAILED" if self.compensation_errors else info["code"]
        details = {**info["details"], "step": sid, "step_code": info["code"]}
        details["saga"] = self.output()
        message = f"{head}; {tail}"
        if isinstance(cause, DataFlowError):
            try:
                return type(cause)(message, code=code, details=details)
            except TypeError:  # an error class with a constructor of its own
                pass
        return DataFlowError(message, code=code, details=details)
