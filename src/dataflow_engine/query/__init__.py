"""The query language: filter, order and update documents parsed into an AST (pure)."""

from ._ast import (
    And,
    Compare,
    Const,
    Exists,
    FieldCompare,
    In,
    JsonElemMatch,
    JsonExists,
    JsonRef,
    JsonSize,
    JsonTest,
    Like,
    Mod,
    Node,
    Not,
    Or,
    Regex,
)
from ._filter import (
    FIELD_OPERATORS,
    LOGICAL_OPERATORS,
    escape_like,
    parse_filter,
)
from ._order import OrderItem, parse_fields, parse_order_by
from ._pipeline import ACCUMULATORS, STAGES, Accumulator, Stage, parse_pipeline
from ._prepared import Bound, Encoded, Slot, bind, prepare_filter
from ._regex import ascii_classes, pcre_caret
from ._schema import filter_json_schema, update_json_schema
from ._update import UPDATE_OPERATORS, SetItem, parse_update

__all__ = [
    "ACCUMULATORS",
    "FIELD_OPERATORS",
    "LOGICAL_OPERATORS",
    "STAGES",
    "UPDATE_OPERATORS",
    "Accumulator",
    "And",
    "Bound",
    "Compare",
    "Const",
    "Encoded",
    "Exists",
    "FieldCompare",
    "In",
    "JsonElemMatch",
    "JsonExists",
    "JsonRef",
    "JsonSize",
    "JsonTest",
    "Like",
    "Mod",
    "Node",
    "Not",
    "Or",
    "OrderItem",
    "Regex",
    "SetItem",
    "Slot",
    "Stage",
    "ascii_classes",
    "bind",
    "escape_like",
    "filter_json_schema",
    "parse_fields",
    "parse_filter",
    "parse_order_by",
    "parse_pipeline",
    "parse_update",
    "pcre_caret",
    "prepare_filter",
    "update_json_schema",
]
