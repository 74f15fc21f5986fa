"""Nodes: the eleven generated kinds, the system nodes every ``DataFlow`` has (sagas,
health checks, GDPR), their declarations, and node-type resolution."""

from ._base import ExecContext, Node, OutputSpec, Param
from ._crud import NODE_CLASSES
from ._plan import ModelPlan
from ._registry import all_node_types, resolve_node_type, system_node_classes
from ._system import SystemNode

__all__ = [
    "NODE_CLASSES",
    "ExecContext",
    "ModelPlan",
    "Node",
    "OutputSpec",
    "Param",
    "SystemNode",
    "all_node_types",
    "resolve_node_type",
    "system_node_classes",
]
