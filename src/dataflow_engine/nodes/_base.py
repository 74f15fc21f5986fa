"""The node base class: declared parameters and outputs, validation, execution context."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import Diagnostic, ReadOnlyError, TenantError, ValidationError
from ..models import ModelDef
from ..models._model import suggest

if TYPE_CHECKING:
    from .._dataflow import DataFlow
    from ..adapters import Connection

__all__ = [
    "MAX_TENANT_ID",
    "Binding",
    "ExecContext",
    "Node",
    "OutputSpec",
    "Param",
    "Problems",
    "bind_actor",
    "bind_tenant",
    "bound_actor",
    "bound_tenant",
    "check_actor",
    "check_tenant_id",
    "tenant_required",
]


@dataclass(frozen=True)
class Param:
    """One declared node parameter.

    Attributes:
        name: the parameter name.
        type: a readable type (``"int"``, ``"dict"``, ``"list[dict]"``, ``"filter"``, ...).
        required: must be given (by value or by a connection).
        default: the value when omitted.
        doc: one line for humans (shown by the LSP, the MCP server and the schemas).
        aliases: other accepted names (``conditions`` for ``filter``).
    """

    name: str
    type: str
    required: bool = False
    default: Any = None
    doc: str = ""
    aliases: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "default": self.default,
            "doc": self.doc,
            "aliases": list(self.aliases),
        }


#: An output shape: ``"row"`` (a record of the model), ``"rows"`` (a list of them),
#: or a scalar type name such as ``"int"``.
OutputSpec = dict[str, str]


class Problems:
    """Collects diagnostics at build time, or raises the first one at run time."""

    def __init__(
        self, node_id: str | None, *, collect: bool, pending: frozenset[str] = frozenset()
    ):
        self.node_id = node_id
        self.collect = collect
        self.pending = pending
        self.items: list[Diagnostic] = []

    def add(
        self,
        code: str,
        message: str,
        path: tuple[str | int, ...] = (),
        details: Mapping[str, Any] | None = None,
    ) -> None:
        if self.collect:
            self.items.append(
                Diagnostic(
                    code, message, path=("params", *path), node_id=self.node_id, details=details
                )
            )
            return
        raise ValidationError(
            message,
            code=code,
            details={"node_id": self.node_id, "path": list(path), **(details or {})},
        )

    def error(self, exc: ValidationError, path: tuple[str | int, ...] = ()) -> None:
        if not self.collect:
            if self.node_id and "node_id" not in exc.details:
                exc.details["node_id"] = self.node_id
            raise exc
        self.items.append(
            Diagnostic(
                exc.code,
                exc.message,
                path=("params", *path),
                node_id=self.node_id,
                details=exc.details,
            )
        )

    def provided(self, name: str) -> bool:
        """True when a connection will fill ``name`` (or a path below it) at run time."""
        return bool(self.pending) and any(
            p == name or p.startswith(name + ".") for p in self.pending
        )


@dataclass
class ExecContext:
    """What a running node needs: its ``DataFlow``, in a workflow transaction the
    connection every node shares, and the run's tenant and actor.

    ``tenant_id`` and ``actor`` are passed in explicitly by the runtime: nodes run on the
    engine's loop, where the caller's context variables are not visible.
    """

    dataflow: DataFlow
    tx_connection: Connection | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    tenant_id: str | None = None
    actor: str | None = None
    #: The running node (its model's database; whether it writes), and the databases this
    #: run has written to, whose later reads skip the replicas (read-your-writes).
    node: type[Node] | None = None
    written: set[object] | None = None

    def tenant_for(self, model: ModelDef, node_type: str) -> str | None:
        """The tenant every statement on ``model`` is scoped to; None for a model that is
        not multi-tenant (a bound tenant does not concern it).

        Raises:
            TenantError: ``DF-TENANT-REQUIRED`` when the model is multi-tenant and the run
                has no tenant.
        """
        if not model.multi_tenant:
            return None
        if self.tenant_id is None:
            raise tenant_required(model, node_type)
        return self.tenant_id

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """The connection the node runs on: the workflow transaction's; else one to its
        model's database, or to a read replica of it for a read when this run has not
        written to that database."""
        if self.tx_connection is not None:
            yield self.tx_connection
            return
        node = self.node
        if node is None:
            source = self.dataflow._adapter.acquire()
        else:
            database = self.dataflow._database(node.model)
            if node.writes and self.written is not None:
                self.written.add(database)
            if node.writes or (self.written is not None and database in self.written):
                source = database.acquire()
            else:
                source = database.acquire_read()
        async with source as conn:
            yield conn

    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[Connection]:
        """A connection inside a transaction (the workflow's, or a new one)."""
        async with self.connection() as conn:
            if conn.in_transaction:
                yield conn
            else:
                async with conn.transaction():
                    yield conn


# -- the tenant and actor a run is bound to --------------------------------------------------

#: The longest tenant id: the ``tenant_id`` column is indexed, and MySQL indexes
#: ``VARCHAR(255)``.
MAX_TENANT_ID = 255

_TENANT: ContextVar[str | None] = ContextVar("dataflow_tenant", default=None)
_ACTOR: ContextVar[str | None] = ContextVar("dataflow_actor", default=None)


def check_tenant_id(value: Any) -> str:
    """``value`` as a tenant id: a non-empty string of at most 255 characters.

    Raises:
        TenantError: ``DF-TENANT-INVALID``.
    """
    problem = None
    if not isinstance(value, str):
        problem = f"a string, got {type(value).__name__}"
    elif not value:
        problem = "a non-empty string"
    elif len(value) > MAX_TENANT_ID:
        problem = f"at most {MAX_TENANT_ID} characters, got {len(value)}"
    elif "\x00" in value:
        problem = "free of NUL characters"
    else:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            problem = "valid Unicode text (no lone surrogates)"
    if problem is not None:
        raise TenantError(
            f"a tenant id must be {problem}; bind one with "
            "runtime.execute(wf, tenant_id='acme') or with db.tenant('acme'): ...",
            code="DF-TENANT-INVALID",
            details={"type": type(value).__name__},
        )
    return str(value)


def check_actor(value: Any) -> str:
    """``value`` as an actor name: a non-empty string.

    Raises:
        ValidationError: ``DF-PARAM-ACTOR``.
    """
    if not isinstance(value, str) or not value:
        raise ValidationError(
            "an actor must be a non-empty string naming who acts, e.g. "
            f"runtime.execute(wf, actor='alice'); got {value!r:.80}",
            code="DF-PARAM-ACTOR",
            details={"type": type(value).__name__},
        )
    return value


def bound_tenant(explicit: str | None = None) -> str | None:
    """The tenant for a run started here: ``explicit`` when given, else the one bound by
    ``db.tenant(...)`` in the calling context. Read in the caller's thread or task."""
    return check_tenant_id(explicit) if explicit is not None else _TENANT.get()


def bound_actor(explicit: str | None = None) -> str | None:
    """The actor for a run started here: ``explicit`` when given, else the one bound by
    ``db.actor(...)`` in the calling context."""
    return check_actor(explicit) if explicit is not None else _ACTOR.get()


class Binding:
    """Binds a value of a context variable for a ``with`` or ``async with`` block.

    The binding is per thread and per asyncio task (a ``ContextVar``); blocks nest, the
    innermost wins, and leaving a block restores what was bound before.
    """

    __slots__ = ("_tokens", "_var", "value")

    def __init__(self, var: ContextVar[str | None], value: str) -> None:
        self._var = var
        self.value = value
        self._tokens: list[Token[str | None]] = []

    def __enter__(self) -> str:
        self._tokens.append(self._var.set(self.value))
        return self.value

    def __exit__(self, *exc: object) -> None:
        # The innermost entry made in this context: one Binding object may be entered by
        # several tasks or threads at once, each in a context of its own.
        for i in range(len(self._tokens) - 1, -1, -1):
            try:
                self._var.reset(self._tokens[i])
            except ValueError:  # entered in another context
                continue
            del self._tokens[i]
            return

    async def __aenter__(self) -> str:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__()


def tenant_required(model: ModelDef, node_type: str | None = None) -> TenantError:
    """The refusal of a statement on a multi-tenant model when the run has no tenant."""
    where = f"{node_type}: " if node_type else ""
    return TenantError(
        f"{where}{model.name} is multi-tenant and no tenant is bound; run the workflow "
        "with runtime.execute(wf, tenant_id='acme'), or inside a with db.tenant('acme'): block",
        code="DF-TENANT-REQUIRED",
        details={"model": model.name, "node_type": node_type},
    )


def bind_tenant(tenant_id: Any) -> Binding:
    """A ``with`` / ``async with`` block running workflows for ``tenant_id``."""
    return Binding(_TENANT, check_tenant_id(tenant_id))


def bind_actor(actor: Any) -> Binding:
    """A ``with`` / ``async with`` block running workflows on behalf of ``actor``."""
    return Binding(_ACTOR, check_actor(actor))


class Node:
    """Base of every generated node. Subclasses set ``kind`` and implement ``run``.

    A node class declares its parameters and outputs once; the workflow validator, the
    runtime, the LSP, the MCP server and the JSON Schemas all read that declaration.
    """

    kind: ClassVar[str] = ""
    type_name: ClassVar[str] = ""
    model: ClassVar[ModelDef]
    dataflow: ClassVar[DataFlow]
    writes: ClassVar[bool] = False
    description: ClassVar[str] = ""
    #: parameters whose value is a document keyed by model field names
    field_documents: ClassVar[tuple[str, ...]] = ()
    _parameters: ClassVar[dict[str, Param]]
    _outputs: ClassVar[OutputSpec]
    _aliases: ClassVar[dict[str, str]]

    @classmethod
    def parameters(cls) -> dict[str, Param]:
        """The declared parameters, by name (computed once per node class)."""
        cached: dict[str, Param] | None = cls.__dict__.get("_parameters")
        if cached is None:
            cached = cls._declare_parameters()
            cls._parameters = cached
        return cached

    @classmethod
    def outputs(cls) -> OutputSpec:
        """The declared output keys and their shapes (computed once per node class)."""
        cached: OutputSpec | None = cls.__dict__.get("_outputs")
        if cached is None:
            cached = cls._declare_outputs()
            cls._outputs = cached
        return cached

    @classmethod
    def _declare_parameters(cls) -> dict[str, Param]:
        raise NotImplementedError

    @classmethod
    def _declare_outputs(cls) -> OutputSpec:
        raise NotImplementedError

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """A JSON-friendly declaration: type, kind, model, description, params, outputs."""
        return {
            "type": cls.type_name,
            "kind": cls.kind,
            "model": cls.model.name,
            "description": cls.description,
            "writes": cls.writes,
            "parameters": [p.to_dict() for p in cls.parameters().values()],
            "outputs": dict(cls.outputs()),
        }

    @classmethod
    def aliases(cls) -> dict[str, str]:
        """Alternative parameter names, mapped to the declared name."""
        cached: dict[str, str] | None = cls.__dict__.get("_aliases")
        if cached is None:
            cached = {a: p.name for p in cls.parameters().values() for a in p.aliases}
            cls._aliases = cached
        return cached

    @classmethod
    def canonical(cls, params: Mapping[str, Any], problems: Problems) -> dict[str, Any]:
        """Resolve aliases and report unknown parameter names."""
        declared = cls.parameters()
        aliases = cls.aliases()
        out: dict[str, Any] = {}
        for key, value in params.items():
            name = aliases.get(key, key)
            if name not in declared:
                close = suggest(str(key), list(declared) + list(aliases))
                hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
                problems.add(
                    "DF-PARAM-UNKNOWN",
                    f"{cls.type_name} has no parameter {key!r}{hint}",
                    (str(key),),
                    {"param": key, "suggestions": close},
                )
                continue
            if name in out:
                problems.add(
                    "DF-PARAM-DUPLICATE",
                    f"{cls.type_name}: {key!r} and {name!r} name the same parameter; give one",
                    (str(key),),
                )
                continue
            out[name] = value
        return out

    @classmethod
    def normalize(cls, params: Mapping[str, Any], problems: Problems) -> dict[str, Any]:
        """Validate and normalise parameters (all problems at build time, first at run)."""
        raise NotImplementedError

    @classmethod
    def validate_params(
        cls,
        params: Mapping[str, Any],
        *,
        node_id: str | None = None,
        pending: frozenset[str] = frozenset(),
    ) -> list[Diagnostic]:
        """Every problem with ``params``; ``pending`` names inputs connections will fill."""
        problems = Problems(node_id, collect=True, pending=pending)
        cls.normalize(params, problems)
        return problems.items

    @classmethod
    def check(
        cls,
        params: Mapping[str, Any],
        *,
        node_id: str | None = None,
        pending: frozenset[str] = frozenset(),
    ) -> tuple[dict[str, Any], list[Diagnostic]]:
        """Normalised parameters and every problem (the parameters are usable as prepared
        parameters when there is no problem and nothing is pending)."""
        problems = Problems(node_id, collect=True, pending=pending)
        normalized = cls.normalize(params, problems)
        return normalized, problems.items

    @classmethod
    def prepare(cls, params: Mapping[str, Any], node_id: str | None = None) -> dict[str, Any]:
        """Validated, normalised parameters; raises the first ``ValidationError``."""
        return cls.normalize(params, Problems(node_id, collect=False))

    async def run(self, ctx: ExecContext, params: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def check_writable(cls) -> None:
        if cls.writes and cls.dataflow.settings.read_only:
            raise ReadOnlyError(
                f"{cls.type_name} writes, and this DataFlow is read-only",
                details={"node_type": cls.type_name},
            )
        if cls.writes and cls.model.read_only:
            raise ReadOnlyError(
                f"model {cls.model.name} is read-only (its table has no primary key)",
                details={"model": cls.model.name},
            )


def type_check(value: Any, type_name: str) -> bool:
    """Whether a literal parameter value has the declared parameter type."""
    check: Callable[[Any], bool] | None = _TYPE_CHECKS.get(type_name)
    return True if check is None else check(value)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "int": _is_int,
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "dict": lambda v: isinstance(v, Mapping),
    "filter": lambda v: isinstance(v, Mapping),
    "update": lambda v: isinstance(v, Mapping),
    # Each record is checked by the node, so a bad one is named by its index.
    "list[dict]": lambda v: isinstance(v, list | tuple),
    "list[str]": lambda v: isinstance(v, list | tuple) and all(isinstance(x, str) for x in v),
    "list": lambda v: isinstance(v, list | tuple),
}
