"""``WorkflowBuilder`` and the built, validated ``Workflow``."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import Diagnostic, ValidationError, WorkflowValidationError
from ..nodes import Node
from ._definition import (
    parse_endpoint,
    validate_structure,
    validate_workflow,
)

if TYPE_CHECKING:
    from pathlib import Path

    from .._dataflow import DataFlow

__all__ = ["Workflow", "WorkflowBuilder"]


@dataclass
class _NodeSpec:
    id: str
    type: str | type[Node]
    params: dict[str, Any]


@dataclass
class _Connection:
    source: str
    output_path: str
    target: str
    input_path: str


@dataclass
class Workflow:
    """A validated workflow, ready for a runtime.

    Attributes:
        nodes: node specs in insertion order.
        connections: the data connections.
        order: the node ids in execution order.
    """

    nodes: list[_NodeSpec]
    connections: list[_Connection]
    order: list[str] = field(default_factory=list)
    prepared: dict[str, tuple[type[Node], dict[str, Any]]] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The workflow definition (DESIGN §10 format)."""
        return _to_dict(self.nodes, self.connections)

    def incoming(self) -> dict[str, list[_Connection]]:
        """Connections by target node id (computed once)."""
        cached: dict[str, list[_Connection]] | None = self.__dict__.get("_incoming")
        if cached is None:
            cached = {}
            for c in self.connections:
                cached.setdefault(c.target, []).append(c)
            self.__dict__["_incoming"] = cached
        return cached


def _type_name(t: str | type[Node]) -> str:
    return t if isinstance(t, str) else t.type_name


def _to_dict(nodes: list[_NodeSpec], connections: list[_Connection]) -> dict[str, Any]:
    return {
        "nodes": [
            {"id": n.id, "type": _type_name(n.type), "params": copy.deepcopy(n.params)}
            for n in nodes
        ],
        "connections": [
            {"from": f"{c.source}.{c.output_path}", "to": f"{c.target}.{c.input_path}"}
            for c in connections
        ],
    }


def _structure_problems(definition: Any) -> list[Diagnostic]:
    if not isinstance(definition, Mapping):
        return [
            Diagnostic(
                "DF-WORKFLOW-MALFORMED",
                "a workflow definition is an object with 'nodes' and 'connections'",
            )
        ]
    problems = [
        d
        for d in validate_structure(definition)
        if d.code in ("DF-WORKFLOW-MALFORMED", "DF-CONNECTION-MALFORMED", "DF-WORKFLOW-UNKNOWN-KEY")
    ]
    return problems


class WorkflowBuilder:
    """Builds a workflow of nodes and connections.

    Example::

        wf = WorkflowBuilder()
        wf.add_node("UserCreateNode", "create", {"name": "Ann", "age": 30})
        wf.add_node("UserReadNode", "read", {})
        wf.add_connection("create", "id", "read", "id")
        results, run_id = LocalRuntime().execute(wf.build())
    """

    def __init__(self) -> None:
        self._nodes: list[_NodeSpec] = []
        self._connections: list[_Connection] = []

    def add_node(
        self,
        node_type: str | type[Node],
        node_id: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> str:
        """Add a node and return its id.

        Args:
            node_type: a node type name (``"UserCreateNode"``) or a node class.
            node_id: a unique id within the workflow (generated when omitted).
            params: the node's parameters.
        """
        if node_id is None:
            node_id = f"{_type_name(node_type)}_{len(self._nodes) + 1}"
        if params is not None and not isinstance(params, Mapping):
            raise ValidationError(
                f"add_node({node_id!r}): params must be a dict, got {type(params).__name__}",
                code="DF-PARAM-TYPE",
                details={"node_id": node_id},
            )
        self._nodes.append(_NodeSpec(node_id, node_type, dict(params or {})))
        return node_id

    def add_connection(
        self, source: str, output_path: str, target: str, input_path: str
    ) -> WorkflowBuilder:
        """Feed ``source``'s output at ``output_path`` into ``target``'s ``input_path``.

        Paths are dotted: ``"records.0.id"`` into ``"filter.customer_id"``.
        """
        self._connections.append(_Connection(source, output_path, target, input_path))
        return self

    connect = add_connection

    def to_dict(self) -> dict[str, Any]:
        """The workflow definition (DESIGN §10 format)."""
        return _to_dict(self._nodes, self._connections)

    @classmethod
    def from_dict(cls, definition: Any) -> WorkflowBuilder:
        """A builder holding a workflow definition (its parameters are checked by
        ``build()``).

        Raises:
            WorkflowValidationError: the definition's structure is malformed (nodes or
                connections that are not objects, endpoints that are not
                ``"node.path"``, keys the format does not have): nothing is silently
                dropped.
        """
        problems = _structure_problems(definition)
        if problems:
            raise WorkflowValidationError(problems)
        wf = cls()
        for node in definition.get("nodes", []) or []:
            wf._nodes.append(
                _NodeSpec(
                    str(node.get("id", "")), node.get("type", ""), dict(node.get("params") or {})
                )
            )
        for conn in definition.get("connections", []) or []:
            src, dst = parse_endpoint(conn.get("from")), parse_endpoint(conn.get("to"))
            assert src is not None and dst is not None
            wf._connections.append(_Connection(src[0], src[1], dst[0], dst[1]))
        return wf

    @classmethod
    def load(cls, path: str | Path) -> WorkflowBuilder:
        """Load a JSON or YAML workflow file.

        Raises:
            ValidationError: ``DF-WORKFLOW-FILE`` when the file cannot be read or parsed.
            WorkflowValidationError: the definition's structure is malformed.
        """
        from pathlib import Path

        try:
            text = Path(path).read_text(encoding="utf-8")
            if str(path).endswith((".yaml", ".yml")):
                import yaml

                data = yaml.safe_load(text)
            else:
                data = json.loads(text)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ValidationError(
                f"cannot read workflow file {str(path)!r}: {exc}",
                code="DF-WORKFLOW-FILE",
                details={"path": str(path)},
            ) from exc
        except Exception as exc:  # the YAML parser's own errors
            raise ValidationError(
                f"cannot parse workflow file {str(path)!r}: {exc}",
                code="DF-WORKFLOW-FILE",
                details={"path": str(path)},
            ) from exc
        return cls.from_dict(data)

    def _definition(self) -> dict[str, Any]:
        # The validator only reads, so parameters are passed by reference (no copy of a
        # 100,000-record BulkCreate), and node classes are kept as they are.
        return {
            "nodes": [{"id": n.id, "type": n.type, "params": n.params} for n in self._nodes],
            "connections": [
                {"from": f"{c.source}.{c.output_path}", "to": f"{c.target}.{c.input_path}"}
                for c in self._connections
            ],
        }

    def validate(self, dataflow: DataFlow | None = None) -> list[Any]:
        """Every problem in the workflow, as diagnostics (empty when it is valid)."""
        return validate_workflow(self._definition(), dataflow)

    def build(self, dataflow: DataFlow | None = None) -> Workflow:
        """Validate and return the workflow.

        The built workflow keeps the validated parameters, so running it does not
        validate literal parameters again. Later changes to the builder do not affect it.

        Raises:
            WorkflowValidationError: listing every problem with its node id.
        """
        prepared: dict[str, tuple[type[Node], dict[str, Any]]] = {}
        order: list[str] = []
        found = validate_workflow(self._definition(), dataflow, prepared=prepared, order=order)
        errors = [d for d in found if d.severity == "error"]
        if errors:
            raise WorkflowValidationError(errors)
        nodes = [_NodeSpec(n.id, n.type, dict(n.params)) for n in self._nodes]
        return Workflow(nodes, list(self._connections), order, prepared)
