"""Which open ``DataFlow`` defines a node type name."""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING

from ..errors import AmbiguousNodeTypeError, NodeTypeError
from ..models._model import suggest
from ._base import Node

if TYPE_CHECKING:
    from .._dataflow import DataFlow

__all__ = [
    "all_node_types",
    "register_instance",
    "register_system_nodes",
    "resolve_node_type",
    "system_node_classes",
    "unregister_instance",
]

_lock = threading.Lock()
_instances: list[weakref.ref[DataFlow]] = []


def register_instance(db: DataFlow) -> None:
    with _lock:
        _instances.append(weakref.ref(db))


def unregister_instance(db: DataFlow) -> None:
    with _lock:
        _instances[:] = [r for r in _instances if r() is not None and r() is not db]


def _open() -> list[DataFlow]:
    with _lock:
        return [db for r in _instances if (db := r()) is not None and not db.closed]


def all_node_types() -> dict[str, type[Node]]:
    """Every node type name defined by an open ``DataFlow`` (first definition wins)."""
    out: dict[str, type[Node]] = {}
    for db in _open():
        for name, cls in db.nodes.items():
            out.setdefault(name, cls)
    return out


def resolve_node_type(name: str, dataflow: DataFlow | None = None) -> type[Node]:
    """The node class a type name refers to.

    Raises:
        NodeTypeError: ``DF-NODE-UNKNOWN-TYPE`` with the closest names.
        AmbiguousNodeTypeError: two open ``DataFlow`` instances define ``name``.
    """
    if dataflow is not None:
        found = dataflow.nodes.get(name)
        if found is not None:
            return found
        candidates = list(dataflow.nodes)
    else:
        owners = [db for db in _open() if name in db.nodes]
        if len(owners) == 1:
            return owners[0].nodes[name]
        if len(owners) > 1:
            described = " and ".join(repr(db) for db in owners[:2])
            raise AmbiguousNodeTypeError(
                f"node type {name!r} is defined by more than one open DataFlow ({described}); "
                "run with LocalRuntime(dataflow=db), pass the node class to add_node "
                "(db.nodes[name]), or close the DataFlow you no longer use",
                details={"node_type": name, "instances": [repr(db) for db in owners]},
            )
        candidates = list(all_node_types())
    close = suggest(name, candidates)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise NodeTypeError(
        f"unknown node type {name!r}{hint}"
        + ("" if candidates else " (no model is defined: decorate a class with @db.model)"),
        details={"node_type": name, "suggestions": close},
    )


def system_node_classes() -> dict[str, type[Node]]:
    """The nodes every ``DataFlow`` has besides its models', by type name (unbound)."""
    from ._gdpr import GDPRAnonymizeNode, GDPRExportNode
    from ._health import HealthCheckNode
    from ._saga import TransactionManagerNode

    return {
        f"{cls.kind}Node": cls
        for cls in (TransactionManagerNode, HealthCheckNode, GDPRExportNode, GDPRAnonymizeNode)
    }


def register_system_nodes(db: DataFlow) -> None:
    """Add ``TransactionManagerNode``, ``HealthCheckNode``, ``GDPRExportNode`` and
    ``GDPRAnonymizeNode``, bound to ``db``, to ``db.nodes``. Like the generated nodes,
    a name resolves to the one open ``DataFlow`` defining it, or to ``dataflow=``."""
    from ._system import SYSTEM_MODEL

    for name, base in system_node_classes().items():
        db.nodes[name] = type(
            name,
            (base,),
            {
                "type_name": name,
                "dataflow": db,
                "__module__": "dataflow_engine.nodes.generated",
                "__doc__": base.__doc__,
            },
        )
    # No table stands behind it: the runtime's table preparation has nothing to do.
    db._ready.add(SYSTEM_MODEL.name)
