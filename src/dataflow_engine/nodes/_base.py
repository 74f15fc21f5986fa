"""The node base class: declared parameters and outputs, validation, execution context."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import Diagnostic, ReadOnlyError, ValidationError
from ..models import ModelDef
from ..models._model import suggest

if TYPE_CHECKING:
    from .._dataflow import DataFlow
    from ..adapters import Connection

__all__ = ["ExecContext", "Node", "OutputSpec", "Param", "Problems"]


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
    """What a running node needs: its ``DataFlow`` and, in a workflow transaction, the
    connection every node shares."""

    dataflow: DataFlow
    tx_connection: Connection | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        if self.tx_connection is not None:
            yield self.tx_connection
            return
        async with self.dataflow._adapter.acquire() as conn:
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
