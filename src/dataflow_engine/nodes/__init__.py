"""Nodes: the eleven generated kinds, their declarations, and node-type resolution."""

from ._base import ExecContext, Node, OutputSpec, Param
from ._crud import NODE_CLASSES
from ._plan import ModelPlan
from ._registry import all_node_types, resolve_node_type

__all__ = [
    "NODE_CLASSES",
    "ExecContext",
    "ModelPlan",
    "Node",
    "OutputSpec",
    "Param",
    "all_node_types",
    "resolve_node_type",
]
