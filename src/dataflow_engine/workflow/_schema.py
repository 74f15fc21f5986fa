"""JSON Schema (draft-07) of the workflow definition: the format alone, or a project's nodes."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from typing import Any

from ..models import Field, FieldKind, ModelDef
from ..nodes import NODE_CLASSES, Node, Param
from ..nodes._base import type_check
from ..query import filter_json_schema

__all__ = ["workflow_json_schema"]

_DRAFT_07 = "http://json-schema.org/draft-07/schema#"
# The validator's parse_endpoint: a node id, a '.', a non-empty path. '[\s\S]' and not '.':
# a path into a JSON field may hold a line break, and the engine accepts it.
_ENDPOINT = r"^[^.]+\.[\s\S]+$"

_KIND_SCHEMAS: dict[FieldKind, dict[str, Any]] = {
    FieldKind.STR: {"type": "string"},
    FieldKind.INT: {"type": "integer"},
    FieldKind.FLOAT: {"type": "number"},
    FieldKind.BOOL: {"type": "boolean"},
    FieldKind.DECIMAL: {"type": ["number", "string"]},
    FieldKind.DATETIME: {"type": "string"},
    FieldKind.DATE: {"type": "string"},
    FieldKind.TIME: {"type": "string"},
    FieldKind.UUID: {"type": "string"},
    FieldKind.BYTES: {},  # JSON has no bytes (YAML's !!binary does)
}
_KIND_HINTS: dict[FieldKind, str] = {
    FieldKind.DECIMAL: "a number or a decimal string",
    FieldKind.DATETIME: "ISO-8601, e.g. 2024-05-01T09:30:00+00:00",
    FieldKind.DATE: "ISO-8601, e.g. 2024-05-01",
    FieldKind.TIME: "ISO-8601, e.g. 09:30:00",
    FieldKind.UUID: "a UUID string",
    FieldKind.BYTES: "bytes: YAML !!binary, or a connection",
}
_ITEM_TYPES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}

# Schemas of the readable parameter types (Param.type); a type not listed is not checked
# by the engine's type_check either, so it gets no constraint.
_PARAM_TYPES: dict[str, dict[str, Any]] = {
    "int": {"type": "integer"},
    "str": {"type": "string"},
    "bool": {"type": "boolean"},
    "dict": {"type": "object"},
    "list[dict]": {"type": "array", "items": {"type": "object"}},
    "list[str]": {"type": "array", "items": {"type": "string"}},
    "list": {"type": "array"},
    "number": {"type": "number"},
}

# The system nodes' parameters whose shape is more than their declared type:
# (kind, parameter) -> schema. A saga step's type may name a node of another DataFlow,
# so it is any string here.
_ACTION: dict[str, Any] = {
    "type": {"type": "string", "minLength": 1, "description": "a node type"},
    "params": {"type": ["object", "null"], "description": "the node's parameters"},
    "inputs": {
        "type": ["object", "null"],
        "description": "{'param.path': 'step_id.output.path' or 'context.name'}",
        "additionalProperties": {"type": "string", "pattern": _ENDPOINT},
    },
}
_SUBJECT_VALUE = {"type": ["string", "number", "boolean"]}
_SYSTEM_PARAMS: dict[tuple[str, str], dict[str, Any]] = {
    ("TransactionManager", "steps"): {
        "type": "array",
        "minItems": 1,
        "maxItems": 1000,
        "items": {
            "type": "object",
            "required": ["id", "type"],
            "properties": {
                "id": {
                    "type": "string",
                    "pattern": "^[^.]+$",
                    "not": {"const": "context"},
                    "description": "unique among the steps; no '.'; not 'context'",
                },
                **_ACTION,
                "compensation": {
                    "type": ["object", "null"],
                    "description": "the node that undoes this step, run when a later one fails",
                    "required": ["type"],
                    "properties": _ACTION,
                    "additionalProperties": False,
                },
            },
            "additionalProperties": False,
        },
    },
    ("TransactionManager", "mode"): {"enum": ["saga", "transaction"]},
    ("HealthCheck", "timeout"): {"type": "number", "exclusiveMinimum": 0, "maximum": 3600},
    # Not minProperties: connections may fill every key ("to": "export.match.email").
    ("GDPRExport", "match"): {"type": "object", "additionalProperties": _SUBJECT_VALUE},
    ("GDPRExport", "references"): {"type": "object", "additionalProperties": {"type": "string"}},
    ("GDPRAnonymize", "personal"): {
        "type": "object",
        "additionalProperties": {"type": "array", "items": {"type": "string"}},
    },
}
_SYSTEM_PARAMS[("GDPRAnonymize", "match")] = _SYSTEM_PARAMS[("GDPRExport", "match")]
_SYSTEM_PARAMS[("GDPRAnonymize", "references")] = _SYSTEM_PARAMS[("GDPRExport", "references")]

# Parameters holding records of the node's model: (kind, parameter) -> records or one.
_RECORD_PARAMS: dict[tuple[str, str], str] = {
    ("Upsert", "create"): "record",
    ("BulkCreate", "data"): "records",
    ("BulkUpsert", "data"): "keyed_records",
}
# Parameters listing field names: (kind, parameter) -> which fields, at least one.
_FIELD_LIST_PARAMS: dict[tuple[str, str], tuple[str, bool]] = {
    ("List", "fields"): ("all", True),
    ("BulkUpsert", "match_fields"): ("all", False),
    ("BulkUpsert", "update_fields"): ("writable", False),
}


def workflow_json_schema(
    nodes: Mapping[str, type[Node]] | None = None, *, title: str | None = None
) -> dict[str, Any]:
    """The draft-07 JSON Schema of a workflow definition (DESIGN §10).

    Without ``nodes`` it describes the format alone (``schemas/workflow.schema.json``):
    ``nodes`` of ``{"id", "type", "params"}`` and ``connections`` of ``{"from", "to"}``.
    With ``nodes`` (``db.nodes``) ``type`` is one of their names, and each node's
    ``params`` are checked against its type: known names and aliases only, the declared
    types, and, for the generated nodes, documents of their model (filters naming its
    fields, records of its writable fields, ``order_by`` and field lists of its fields).

    The schema never rejects a definition the engine accepts, with these exceptions:
    unknown keys at the top level, in a node or in a connection (the engine ignores them;
    they are usually typos, and a misspelt ``connections`` would drop every connection),
    and a literal record field or filter key a connection overwrites (the engine does not
    check it). ``"$schema"`` is allowed at the top level, for editors.

    No parameter is listed as ``required``, in ``params`` or in a record: a connection may
    supply any of them at run time, which the schema of one node cannot see;
    ``validate_workflow`` reports what is really missing.

    Args:
        nodes: node type name -> node class, e.g. ``db.nodes``; None for the format alone.
        title: the schema's title (default ``"DataFlow workflow"``).

    Returns:
        The schema, a JSON-serialisable dict without ``$id``.

    Example::

        schema = workflow_json_schema(db.nodes, title="Shop workflows")
        Path("workflow.schema.json").write_text(json.dumps(schema, indent=2))
    """
    defs = _Definitions()
    node: dict[str, Any] = {
        "type": "object",
        "description": "a node: a unique id, a node type and its parameters",
        "required": ["id", "type"],
        "properties": {
            "id": {
                "type": "string",
                "pattern": "^[^.]+$",
                "description": "unique within the workflow; no '.' (connections use it)",
            },
            "type": {"type": "string", "description": "a node type, e.g. UserCreateNode"},
            "params": {
                "type": ["object", "null"],
                "description": "the node's parameters (omitted or null: none)",
            },
        },
        "additionalProperties": False,
    }
    connection: dict[str, Any] = {
        "type": "object",
        "description": "feeds a node's output into a parameter of a later node",
        "required": ["from", "to"],
        "properties": {
            "from": {
                "type": "string",
                "pattern": _ENDPOINT,
                "description": "node_id.output.path, e.g. 'create.id' or 'list.records.0.id'",
            },
            "to": {
                "type": "string",
                "pattern": _ENDPOINT,
                "description": "node_id.param.path, e.g. 'read.id' or 'list.filter.user_id'",
            },
        },
        "additionalProperties": False,
    }
    defs.items["node"] = node
    defs.items["connection"] = connection
    if nodes is None:
        description = (
            "A DataFlow workflow definition: nodes and the connections between them. "
            "Generated from dataflow_engine.workflow; do not edit by hand "
            "(python scripts/generate_schemas.py)."
        )
    else:
        node["properties"]["type"].update(_names(list(nodes)))
        node["allOf"] = [
            {
                "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                "then": {"properties": {"params": _params_schema(cls, defs)}},
            }
            for name, cls in nodes.items()
        ]
        models = list(dict.fromkeys(cls.model.name for cls in nodes.values() if _model(cls)))
        description = (
            f"A DataFlow workflow definition for {len(nodes)} node types"
            + (f" of {', '.join(models)}" if models else "")
            + ". Generated from the models; regenerate it when they change."
        )
    return {
        "$schema": _DRAFT_07,
        "title": title or "DataFlow workflow",
        "description": description,
        "type": "object",
        "required": ["nodes"],
        "properties": {
            "$schema": {"type": "string", "description": "the JSON Schema this file follows"},
            "nodes": {
                "type": "array",
                "items": {"$ref": "#/definitions/node"},
                "description": "run in this order, except where a connection needs a result",
            },
            "connections": {
                "type": ["array", "null"],
                "items": {"$ref": "#/definitions/connection"},
                "description": "data connections between nodes",
            },
        },
        "additionalProperties": False,
        "definitions": defs.items,
    }


class _Definitions:
    """The shared ``definitions``: added once, on first use, and referred to by ``$ref``."""

    def __init__(self) -> None:
        self.items: dict[str, Any] = {}
        self._prefixes: dict[int, str] = {}

    def _add(self, name: str, build: Any) -> dict[str, str]:
        if name not in self.items:
            self.items[name] = {}  # reserved first: a definition may refer to itself
            self.items[name] = build()
        return {"$ref": f"#/definitions/{name}"}

    def _prefix(self, model: ModelDef) -> str:
        prefix = self._prefixes.get(id(model))
        if prefix is None:
            taken = set(self._prefixes.values())
            prefix, n = model.name, 1
            while prefix in taken:  # same-named models of different DataFlows
                n += 1
                prefix = f"{model.name}_{n}"
            self._prefixes[id(model)] = prefix
        return prefix

    def filter(self, model: ModelDef | None) -> dict[str, str]:
        """The filter schema of ``filter_json_schema()``; for a model, restricted to its
        field names (and dotted paths into its JSON fields) at every level."""
        if "filter" not in self.items:
            generic = filter_json_schema()
            inner = generic.pop("definitions")
            for key in ("$schema", "$id", "title"):
                generic.pop(key, None)
            self.items["filter"] = _rebase(generic)
            for name, schema in inner.items():
                assert name not in self.items, f"filter definition {name!r} clashes"
                self.items[name] = _rebase(schema)
        if model is None:
            return {"$ref": "#/definitions/filter"}
        name = f"{self._prefix(model)}.filter"
        return self._add(name, lambda: self._model_filter(model, name))

    def _model_filter(self, model: ModelDef, name: str) -> dict[str, Any]:
        self_ref = {"$ref": f"#/definitions/{name}"}
        properties: dict[str, Any] = {
            n: {"description": f"{model.name}.{n} ({f.type_name})"} for n, f in model.fields.items()
        }
        for op, spec in self.items["filter"]["properties"].items():
            if spec.get("$ref") == "#/definitions/filter":
                properties[op] = self_ref
            elif spec.get("items") == {"$ref": "#/definitions/filter"}:
                properties[op] = {"items": self_ref}
            else:
                properties[op] = {}
        schema: dict[str, Any] = {
            "description": f"a filter on {model.name}: its fields, and operators",
            "allOf": [{"$ref": "#/definitions/filter"}],
            "properties": properties,
        }
        json_fields = [n for n, f in model.fields.items() if f.kind is FieldKind.JSON]
        if json_fields:
            alternatives = "|".join(_regex_literal(n) for n in json_fields)
            schema["patternProperties"] = {f"^(?:{alternatives})\\.": {}}
        schema["additionalProperties"] = False
        return schema

    def update(self) -> dict[str, str]:
        self.filter(None)  # the update schema is one of the filter schema's definitions
        return {"$ref": "#/definitions/update"}

    def record(self, model: ModelDef, *, keyed: bool = False) -> dict[str, str]:
        """A record of ``model``: its writable fields, or (``keyed``, BulkUpsert) every
        field, since automatic fields that are match_fields may be given."""
        fields = model.fields if keyed else model.writable_fields
        if keyed and len(fields) == len(model.writable_fields):
            keyed = False
        name = f"{self._prefix(model)}.{'keyed_record' if keyed else 'record'}"
        what = "any field (automatic ones when matched on)" if keyed else "its writable fields"
        return self._add(
            name,
            lambda: {
                "type": "object",
                "description": f"a {model.name} record: {what}",
                "properties": {n: _field_property(model, f) for n, f in fields.items()},
                "additionalProperties": False,
            },
        )

    def order_by(self, model: ModelDef) -> dict[str, str]:
        """``order_by``: a key, or a list of keys; a key is ``'name'``, ``'-name'`` (also
        ``'+name'``) or ``{'name': 1 | -1 | 'asc' | 'desc'}``, for any non-JSON field."""
        names = [n for n, f in model.fields.items() if f.kind is not FieldKind.JSON]
        prefix = self._prefix(model)
        direction = self._add(
            "order_direction", lambda: {"enum": [1, -1, "asc", "desc", "ASC", "DESC"]}
        )

        def key() -> dict[str, Any]:
            named: dict[str, Any] = {"not": {}}
            if names:
                # The engine strips any run of '-' and '+'; a leading '-' means descending.
                pattern = "^[-+]+(?:" + "|".join(_regex_literal(n) for n in names) + ")$"
                named = {
                    "anyOf": [
                        {"enum": names + [f"-{n}" for n in names]},
                        {"type": "string", "pattern": pattern},
                    ]
                }
            by_direction = {
                "type": "object",
                "properties": dict.fromkeys(names, direction),
                "additionalProperties": False,
            }
            return {"anyOf": [named, by_direction]}

        key_ref = self._add(f"{prefix}.order_key", key)
        return self._add(
            f"{prefix}.order_by",
            lambda: {
                "description": f"{model.name} fields: 'name', '-name' or {{'name': -1}}",
                "anyOf": [key_ref, {"type": "array", "items": key_ref}],
            },
        )


def _params_schema(cls: type[Node], defs: _Definitions) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for param in cls.parameters().values():
        schema = _param_schema(cls, param, defs)
        properties[param.name] = _annotate(schema, param.doc, param.default)
        for alias in param.aliases:
            properties[alias] = _annotate(schema, f"same as {param.name!r}: {param.doc}", None)
    schema = {"properties": properties, "additionalProperties": False}
    return {"description": cls.description, **schema} if cls.description else schema


def _param_schema(cls: type[Node], param: Param, defs: _Definitions) -> dict[str, Any]:
    kind, model = cls.kind, _model(cls)
    if kind == "Create" and model is not None and param.name in model.fields:
        # Create's parameters are the record's fields; null only where the field is nullable.
        return _field_schema(model.fields[param.name])
    schema: dict[str, Any]
    if param.type == "filter":
        schema = defs.filter(model)
    elif param.type == "update":
        schema = defs.update()
    elif model is not None and param.type == "order_by":
        schema = defs.order_by(model)
    elif model is not None and kind in ("Read", "Update", "Delete") and param.name == "id":
        schema = _id_schema(model, param)
    elif model is not None and (kind, param.name) in _RECORD_PARAMS:
        shape = _RECORD_PARAMS[(kind, param.name)]
        record = defs.record(model, keyed=shape == "keyed_records")
        schema = record if shape == "record" else {"type": "array", "items": record}
    elif model is not None and (kind, param.name) in _FIELD_LIST_PARAMS:
        which, non_empty = _FIELD_LIST_PARAMS[(kind, param.name)]
        names = list(model.fields if which == "all" else model.writable_fields)
        schema = {"type": "array", "items": _names(names)}
        if non_empty:
            schema["minItems"] = 1
    elif model is None and (kind, param.name) in _SYSTEM_PARAMS:
        schema = dict(_SYSTEM_PARAMS[(kind, param.name)])
    else:
        schema = dict(_PARAM_TYPES.get(param.type, {}))
    # An optional parameter given as null takes its default (the nodes' _check_types).
    return schema if param.required else _or_null(schema)


def _model(cls: type[Node]) -> ModelDef | None:
    """The model of a generated node (a subclass of one of the eleven kinds), else None:
    other nodes get the generic schema of their parameter types."""
    base = NODE_CLASSES.get(cls.kind)
    if base is None or not issubclass(cls, base):
        return None
    model: ModelDef | None = getattr(cls, "model", None)
    return model


def _id_schema(model: ModelDef, param: Param) -> dict[str, Any]:
    """What ``pk_values`` accepts: the key's value, ``{key: value}``, or for a composite
    key ``{part: value, ...}`` or ``[value, ...]``."""
    pk = [model.fields[n] for n in model.primary_key]
    if not pk:
        return {"type": "null"}  # records without a key are selected by a filter
    keyed = {
        "type": "object",
        "properties": {f.name: _field_schema(f) for f in pk},
        "required": [f.name for f in pk],
        "additionalProperties": False,
    }
    if len(pk) > 1:
        positional = {
            "type": "array",
            "items": [_field_schema(f) for f in pk],
            "minItems": len(pk),
            "maxItems": len(pk),
        }
        return {"anyOf": [keyed, positional]}
    if not type_check({}, param.type):  # a type the node checks first (Read's int or str)
        return _field_schema(pk[0])
    return {"anyOf": [_field_schema(pk[0]), keyed]}


def _field_schema(f: Field) -> dict[str, Any]:
    """The JSON values ``Field.validate`` accepts for ``f``."""
    schema: dict[str, Any]
    if f.kind is FieldKind.ENUM:
        schema = _enum_schema(f.python_type)
    elif f.kind is FieldKind.JSON:
        if f.python_type is dict:
            schema = {"type": "object"}
        elif f.python_type is list:
            schema = {"type": "array"}
            if f.item_type in _ITEM_TYPES:
                schema["items"] = {"type": _ITEM_TYPES[f.item_type]}
        else:
            schema = {}  # any JSON value
    else:
        schema = dict(_KIND_SCHEMAS[f.kind])
    return _or_null(schema) if f.nullable else schema


def _field_property(model: ModelDef, f: Field) -> dict[str, Any]:
    hint = _KIND_HINTS.get(f.kind)
    doc = f"{model.name}.{f.name} ({f.type_name}{'; ' + hint if hint else ''})"
    return _annotate(_field_schema(f), doc, f.default)


def _enum_schema(enum_type: type[enum.Enum]) -> dict[str, Any]:
    """An enum's values and names, both accepted by ``Field.validate``."""
    default_missing = getattr(enum.Enum._missing_, "__func__", None)
    if getattr(enum_type._missing_, "__func__", None) is not default_missing:
        return {}  # a Flag or an enum with its own _missing_ accepts more than its members
    allowed: list[Any] = []
    for member in enum_type:
        json_able, value = _plain(member.value)
        if json_able and isinstance(value, str | int | float) and value not in allowed:
            allowed.append(value)
    allowed += [name for name in enum_type.__members__ if name not in allowed]
    return {"enum": allowed}


def _names(names: list[str]) -> dict[str, Any]:
    return {"enum": names} if names else {"not": {}}


def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema``, also accepting null."""
    if not schema:
        return schema
    out = dict(schema)
    if "enum" in out:
        if None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        return out
    plain = not any(k in out for k in ("$ref", "anyOf", "oneOf", "allOf", "not", "const"))
    if plain and "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        if "null" not in types:
            out["type"] = [*types, "null"]
        return out
    return {"anyOf": [out, {"type": "null"}]}


def _annotate(schema: dict[str, Any], doc: str, default: Any) -> dict[str, Any]:
    """``schema`` with a description and a JSON default (siblings of ``$ref`` are ignored
    in draft-07, so a reference is wrapped first)."""
    out: dict[str, Any] = {"allOf": [schema]} if "$ref" in schema else dict(schema)
    if doc:
        out["description"] = doc
    if default is not None:
        ok, value = _plain(default)
        if ok:
            out["default"] = value
    return out


def _plain(value: Any) -> tuple[bool, Any]:
    """``(True, value as plain JSON)``, or ``(False, None)`` when JSON cannot hold it."""
    if isinstance(value, enum.Enum):
        value = value.value
    try:
        return True, json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        return False, None


def _rebase(node: Any) -> Any:
    """A copy of a part of the filter schema, its ``#`` references pointing at the filter
    embedded under ``definitions`` (its own definitions keep their names)."""
    if isinstance(node, dict):
        return {
            k: "#/definitions/filter" if k == "$ref" and v == "#" else _rebase(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rebase(v) for v in node]
    return node


def _regex_literal(text: str) -> str:
    """``text`` as a regular expression matching itself, the same in ECMA-262 and Python:
    letters, digits and '_' as they are, every other character as a \\u escape."""
    return "".join(
        c if c.isalnum() or c == "_" or ord(c) > 0xFFFF else f"\\u{ord(c):04x}" for c in text
    )
