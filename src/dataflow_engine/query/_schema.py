"""JSON Schema (draft-07) of filter and update documents, generated from the operator tables."""

from __future__ import annotations

from typing import Any

from ._filter import FIELD_OPERATORS, LOGICAL_OPERATORS
from ._update import UPDATE_OPERATORS

__all__ = ["filter_json_schema"]

_SCALAR: dict[str, Any] = {"type": ["string", "number", "integer", "boolean", "null"]}
_VALUE: dict[str, Any] = {
    "description": "a value of the field's type; null matches NULL",
    "anyOf": [
        _SCALAR,
        # a JSON document to compare with; a key starting with '$' would be an operator
        {"type": "object", "propertyNames": {"pattern": "^[^$]"}},
        {"type": "array"},
    ],
}

# The operand each field operator takes.
_OPERANDS: dict[str, dict[str, Any]] = {
    "$eq": _VALUE,
    "$ne": _VALUE,
    "$gt": _VALUE,
    "$gte": _VALUE,
    "$lt": _VALUE,
    "$lte": _VALUE,
    "$in": {"type": "array", "items": _VALUE},
    "$nin": {"type": "array", "items": _VALUE},
    "$not": {"anyOf": [{"$ref": "#/definitions/operators"}, {"type": "string"}]},
    "$exists": {"type": "boolean"},
    "$like": {"type": "string"},
    "$ilike": {"type": "string"},
    "$contains": {"type": "string"},
    "$startswith": {"type": "string"},
    "$endswith": {"type": "string"},
    "$regex": {"type": "string"},
    "$options": {"type": "string", "pattern": "^[imsx]*$"},
    "$between": {"type": "array", "items": _VALUE, "minItems": 2, "maxItems": 2},
    "$mod": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2},
    "$type": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    "$all": {"type": "array", "items": _VALUE},
    "$size": {"type": "integer", "minimum": 0},
    "$elemMatch": {
        "anyOf": [{"$ref": "#/definitions/operators"}, {"$ref": "#"}],
        "minProperties": 1,
    },
}


def filter_json_schema() -> dict[str, Any]:
    """The draft-07 JSON Schema of a filter document (``schemas/filter.schema.json``)."""
    operators = {op: {**_OPERANDS[op], "description": doc} for op, doc in FIELD_OPERATORS.items()}
    logical: dict[str, Any] = {}
    for op, doc in LOGICAL_OPERATORS.items():
        if op == "$not":
            logical[op] = {"$ref": "#", "description": doc}
        elif op == "$expr":
            logical[op] = {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 1,
                "description": doc,
            }
        else:
            logical[op] = {
                "type": "array",
                "minItems": 1,
                "items": {"$ref": "#"},
                "description": doc,
            }
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://dataflow.dev/schemas/filter.schema.json",
        "title": "DataFlow filter document",
        "description": "A MongoDB-style filter. Generated from dataflow_engine.query; "
        "do not edit by hand (python scripts/generate_schemas.py).",
        "type": "object",
        "properties": logical,
        "patternProperties": {
            "^[^$].*$": {
                "description": "a field: a value (equality) or an operator document",
                "anyOf": [_VALUE, {"$ref": "#/definitions/operators"}],
            }
        },
        "additionalProperties": False,
        "definitions": {
            "operators": {
                "type": "object",
                "properties": operators,
                "additionalProperties": False,
                "minProperties": 1,
            },
            "update": update_json_schema(),
        },
    }


def update_json_schema() -> dict[str, Any]:
    """The draft-07 JSON Schema of an update document (values, or update operators)."""
    return {
        "description": "plain field values, or update operators (not both)",
        "anyOf": [
            {
                "type": "object",
                # a value to store: any JSON, '$' keys inside a JSON document included
                "patternProperties": {"^[^$].*$": {}},
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {
                    op: {"type": "object", "description": doc, "minProperties": 1}
                    for op, doc in UPDATE_OPERATORS.items()
                },
                "additionalProperties": False,
                "minProperties": 1,
            },
        ],
    }
