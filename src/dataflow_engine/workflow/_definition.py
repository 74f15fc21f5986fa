"""The workflow definition (a plain dict) and its validator, shared by every front door.

Format::

    {"nodes": [{"id": "create", "type": "UserCreateNode", "params": {...}}, ...],
     "connections": [{"from": "create.id", "to": "read.id"}, ...]}
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import AmbiguousNodeTypeError, Diagnostic, NodeTypeError
from ..models import FieldKind
from ..nodes import Node, resolve_node_type
from ..query import FIELD_OPERATORS, LOGICAL_OPERATORS, UPDATE_OPERATORS

if TYPE_CHECKING:
    from .._dataflow import DataFlow

__all__ = ["execution_order", "parse_endpoint", "validate_structure", "validate_workflow"]

_DOC_PARAMS = {"filter", "fields", "where", "create", "update", "data"}


def parse_endpoint(text: Any) -> tuple[str, str] | None:
    """``"node.output.path"`` -> ``("node", "output.path")``; None when malformed."""
    if not isinstance(text, str) or "." not in text:
        return None
    node, path = text.split(".", 1)
    if not node or not path:
        return None
    return node, path


def _node_class(type_ref: Any, dataflow: DataFlow | None) -> type[Node]:
    if isinstance(type_ref, type) and issubclass(type_ref, Node):
        return type_ref
    return resolve_node_type(str(type_ref), dataflow)


def output_path_problem(cls: type[Node], path: str) -> str | None:
    """Why ``path`` is not an output of ``cls``, or None when it is."""
    parts = path.split(".")
    spec = cls.outputs()
    head = parts[0]
    if head not in spec:
        from ..models._model import suggest

        close = suggest(head, spec)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        return f"{cls.type_name} has no output {head!r}{hint} (outputs: {', '.join(spec)})"
    shape = spec[head]
    rest = parts[1:]
    if shape == "rows":
        if not rest:
            return None
        if not rest[0].lstrip("-").isdigit():
            return f"{head} is a list; index it first, e.g. '{head}.0.{rest[0]}'"
        rest = rest[1:]
        shape = "row"
    if shape == "row":
        if not rest:
            return None
        field = cls.model.fields.get(rest[0])
        if field is None:
            return f"{cls.model.name} has no field {rest[0]!r}"
        if len(rest) > 1 and field.kind is not FieldKind.JSON:
            return f"{cls.model.name}.{rest[0]} is {field.type_name}; it has no {rest[1]!r}"
        return None
    if rest and not any(t in shape for t in ("dict", "list", "any")):
        field = cls.model.fields.get(head)
        if field is None or field.kind is not FieldKind.JSON:
            return f"output {head!r} is {shape}; it has no {rest[0]!r}"
    return None


def input_path_problem(cls: type[Node], path: str) -> str | None:
    """Why ``path`` is not an input of ``cls``, or None when it is."""
    parts = path.split(".")
    declared = cls.parameters()
    aliases = cls.aliases()
    head = aliases.get(parts[0], parts[0])
    model = cls.model
    if head not in declared:
        if cls.kind == "BulkCreate" and head in model.writable_fields and len(parts) == 1:
            return None  # filled into every record
        from ..models._model import suggest

        close = suggest(head, list(declared))
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        return f"{cls.type_name} has no parameter {parts[0]!r}{hint}"
    if len(parts) > 1 and head in _DOC_PARAMS and head != "data":
        key = parts[1]
        if (
            key not in model.fields
            and key not in FIELD_OPERATORS
            and (key not in LOGICAL_OPERATORS and key not in UPDATE_OPERATORS)
        ):
            return f"{model.name} has no field {key!r} (in {head})"
    return None


_KEYS: dict[str, tuple[str, ...]] = {
    "workflow": ("nodes", "connections", "$schema"),
    "node": ("id", "type", "params"),
    "connection": ("from", "to"),
}


def _unknown_keys(
    value: Mapping[str, Any], where: str, path: tuple[str | int, ...]
) -> list[Diagnostic]:
    """A key the format does not have is a typo (a misspelt 'connections' would drop
    every connection): reported, never ignored."""
    from ..models._model import suggest

    allowed = _KEYS[where]
    out = []
    for key in value:
        if key in allowed:
            continue
        close = suggest(str(key), [k for k in allowed if not k.startswith("$")])
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        out.append(
            Diagnostic(
                "DF-WORKFLOW-UNKNOWN-KEY",
                f"a {where} has no key {key!r}{hint} (keys: {', '.join(allowed)})",
                path=(*path, str(key)),
                details={"key": key, "suggestions": close},
            )
        )
    return out


def validate_structure(definition: Mapping[str, Any]) -> list[Diagnostic]:
    """Problems with the shape of a definition alone (no node types are resolved)."""
    diags: list[Diagnostic] = _unknown_keys(definition, "workflow", ())
    nodes = definition.get("nodes")
    if not isinstance(nodes, list):
        diags.append(
            Diagnostic(
                "DF-WORKFLOW-MALFORMED", "the workflow needs a 'nodes' list", path=("nodes",)
            )
        )
    else:
        for i, node in enumerate(nodes):
            if isinstance(node, Mapping):
                diags += _unknown_keys(node, "node", ("nodes", i))
            if not isinstance(node, Mapping):
                diags.append(
                    Diagnostic(
                        "DF-WORKFLOW-MALFORMED",
                        "a node must be an object with 'id', 'type' and 'params'",
                        path=("nodes", i),
                    )
                )
            elif not isinstance(node.get("params", {}) or {}, Mapping):
                diags.append(
                    Diagnostic(
                        "DF-WORKFLOW-MALFORMED",
                        "params must be an object",
                        node_id=str(node.get("id")),
                        path=("nodes", i, "params"),
                    )
                )
    connections = definition.get("connections", []) or []
    if not isinstance(connections, list):
        diags.append(
            Diagnostic(
                "DF-WORKFLOW-MALFORMED", "'connections' must be a list", path=("connections",)
            )
        )
        return diags
    for j, conn in enumerate(connections):
        if not isinstance(conn, Mapping):
            diags.append(
                Diagnostic(
                    "DF-WORKFLOW-MALFORMED",
                    "a connection must be {'from': 'a.out', 'to': 'b.in'}",
                    path=("connections", j),
                )
            )
            continue
        diags += _unknown_keys(conn, "connection", ("connections", j))
        for key in ("from", "to"):
            if parse_endpoint(conn.get(key)) is None:
                diags.append(
                    Diagnostic(
                        "DF-CONNECTION-MALFORMED",
                        f"connection {key} {conn.get(key)!r} must look like 'node_id.path'",
                        path=("connections", j, key),
                    )
                )
    return diags


def validate_workflow(
    definition: Mapping[str, Any],
    dataflow: DataFlow | None = None,
    *,
    prepared: dict[str, tuple[type[Node], dict[str, Any]]] | None = None,
    order: list[str] | None = None,
    runtime: Mapping[str, Iterable[str]] | None = None,
) -> list[Diagnostic]:
    """Every problem in a workflow definition, each with a code, node id and path.

    Checks node types (with suggestions), parameters (unknown, missing, literal types,
    fields and operators inside filters and updates), connections (unknown nodes,
    outputs and inputs), duplicate ids and cycles. When ``prepared`` is given, it receives
    the node class and validated parameters of every node that has no problem and no
    incoming connection; ``order`` receives the execution order. ``runtime`` names, per
    node id, parameter paths (``"filter.age"``) whose values exist only when the program
    runs (a variable in source code): they are treated like inputs a connection fills.
    """
    diags = validate_structure(definition)  # the shape; what follows skips what it reported
    nodes = definition.get("nodes")
    if not isinstance(nodes, list):
        return diags
    connections = definition.get("connections", []) or []
    if not isinstance(connections, list):
        connections = []
    classes: dict[str, type[Node]] = {}
    index: dict[str, int] = {}
    for i, node in enumerate(nodes):
        if not isinstance(node, Mapping):
            continue
        node_id = node.get("id")
        if not isinstance(node_id, str) or not node_id or "." in node_id:
            diags.append(
                Diagnostic(
                    "DF-WORKFLOW-NODE-ID",
                    f"node id {node_id!r} must be a non-empty string without '.'",
                    path=("nodes", i, "id"),
                )
            )
            continue
        if node_id in index:
            diags.append(
                Diagnostic(
                    "DF-WORKFLOW-DUPLICATE-ID",
                    f"node id {node_id!r} is used twice",
                    node_id=node_id,
                    path=("nodes", i, "id"),
                )
            )
            continue
        index[node_id] = i
        if not isinstance(node.get("params", {}) or {}, Mapping):
            continue
        try:
            cls = _node_class(node.get("type"), dataflow)
        except AmbiguousNodeTypeError as exc:
            diags.append(
                Diagnostic(
                    exc.code,
                    exc.message,
                    node_id=node_id,
                    path=("nodes", i, "type"),
                    severity="warning",
                )
            )
            from ..nodes import all_node_types

            cls = all_node_types()[str(node.get("type"))]
        except NodeTypeError as exc:
            diags.append(
                Diagnostic(
                    exc.code,
                    exc.message,
                    node_id=node_id,
                    path=("nodes", i, "type"),
                    details=exc.details,
                )
            )
            continue
        classes[node_id] = cls
    pending: dict[str, set[str]] = {nid: set() for nid in classes}
    for nid, paths in (runtime or {}).items():
        if nid in pending:
            pending[nid].update(paths)
    edges: list[tuple[str, str]] = []
    for j, conn in enumerate(connections):
        if not isinstance(conn, Mapping):
            continue
        src, dst = parse_endpoint(conn.get("from")), parse_endpoint(conn.get("to"))
        if src is None or dst is None:
            continue
        ok = True
        for key, (nid, path), problem in (
            ("from", src, output_path_problem),
            ("to", dst, input_path_problem),
        ):
            if nid not in index:
                from ..models._model import suggest

                close = suggest(nid, index)
                hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
                diags.append(
                    Diagnostic(
                        "DF-CONNECTION-UNKNOWN-NODE",
                        f"connection {key} names unknown node {nid!r}{hint}",
                        path=("connections", j, key),
                        node_id=nid,
                        details={"suggestions": close},
                    )
                )
                ok = False
            elif nid in classes:
                why = problem(classes[nid], path)
                if why:
                    code = (
                        "DF-CONNECTION-UNKNOWN-OUTPUT"
                        if key == "from"
                        else "DF-CONNECTION-UNKNOWN-INPUT"
                    )
                    diags.append(Diagnostic(code, why, path=("connections", j, key), node_id=nid))
                    ok = False
        if ok:
            edges.append((src[0], dst[0]))
            if dst[0] in pending:
                cls = classes[dst[0]]
                head, _, rest = dst[1].partition(".")
                head = cls.aliases().get(head, head)
                pending[dst[0]].add(f"{head}.{rest}" if rest else head)
    for node_id, cls in classes.items():
        i = index[node_id]
        params = nodes[i].get("params", {}) or {}
        normalized, found = cls.check(params, node_id=node_id, pending=frozenset(pending[node_id]))
        for d in found:
            d.path = ("nodes", i, *d.path)
            diags.append(d)
        if prepared is not None and not found and not pending[node_id]:
            prepared[node_id] = (cls, normalized)
    sequence, cycle = execution_order(list(index), edges)
    if order is not None:
        order[:] = sequence
    if cycle:
        diags.append(
            Diagnostic(
                "DF-WORKFLOW-CYCLE",
                "the connections form a cycle through " + " -> ".join(cycle),
                path=("connections",),
                node_id=cycle[0],
            )
        )
    return diags


def execution_order(
    node_ids: Sequence[str], edges: Sequence[tuple[str, str]]
) -> tuple[list[str], list[str]]:
    """A stable topological order: insertion order, except where a connection needs an
    earlier result. Returns ``(order, cycle)``; ``cycle`` lists the nodes left in a cycle."""
    position = {nid: i for i, nid in enumerate(node_ids)}
    incoming: dict[str, int] = dict.fromkeys(node_ids, 0)
    outgoing: dict[str, list[str]] = {nid: [] for nid in node_ids}
    for a, b in set(edges):
        if a in position and b in position:
            incoming[b] += 1
            outgoing[a].append(b)
    heap = [position[n] for n in node_ids if incoming[n] == 0]
    heapq.heapify(heap)
    order: list[str] = []
    while heap:
        nid = node_ids[heapq.heappop(heap)]
        order.append(nid)
        for nxt in outgoing[nid]:
            incoming[nxt] -= 1
            if incoming[nxt] == 0:
                heapq.heappush(heap, position[nxt])
    cycle = [n for n in node_ids if incoming[n] > 0]
    return order, cycle
