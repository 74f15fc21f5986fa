"""The OpenAPI 3.1 document, generated from the node declarations and the model fields.

Request bodies and query parameters are the nodes' declared parameters (names, types,
docs, defaults); records are the model's fields with exact JSON spellings: date-time,
date and uuid formats, decimals as strings of digits (never a float), bytes as base64.
Every operation lists its error answers (``application/problem+json``).
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

from ..models import DATABASE_DEFAULT, MISSING, Field, FieldKind
from ..nodes import Param
from ._convert import NON_FINITE, json_value
from ._problems import PROBLEM_TYPE

if TYPE_CHECKING:
    from ._app import Resource, Settings

__all__ = ["openapi_document"]

INT64: dict[str, Any] = {
    "type": "integer",
    "format": "int64",
    "minimum": -(2**63),
    "maximum": 2**63 - 1,
}
#: Decimal text: digits, an optional point, an optional exponent of at most 4 digits.
DECIMAL_PATTERN = r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d{1,4})?\s*$"
TIME_PATTERN = r"^\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$"
_MAX_COUNT = 2**62

_ERRORS = {
    "400": ("BadRequest", "the request is malformed: JSON that does not parse, no body"),
    "401": ("Unauthorized", "no bearer token, or not a valid one"),
    "403": ("Forbidden", "the API or this model is read-only"),
    "404": ("NotFound", "no record has this key"),
    "409": ("Conflict", "a unique key, a foreign key or the record's version conflicts"),
    "413": ("TooLarge", "the body is larger than the server accepts"),
    "415": ("MediaType", "the body is not sent as application/json"),
    "422": ("Invalid", "a parameter, field, filter or value is not valid (with suggestions)"),
    "428": ("VersionRequired", "a versioned record is changed without the version read"),
    "503": ("Unavailable", "the database cannot be reached; retry later"),
}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    out = dict(schema)
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    kind = out.get("type")
    if isinstance(kind, str):
        out["type"] = [kind, "null"]
    elif isinstance(kind, list):
        out["type"] = [*kind, "null"]
    elif "enum" not in out:
        return {"anyOf": [schema, {"type": "null"}]}
    return out


def field_schema(f: Field, *, output: bool) -> dict[str, Any]:
    """The JSON Schema of a field's value, as the API sends it (``output``) or takes it."""
    k = f.kind
    s: dict[str, Any]
    if k is FieldKind.STR:
        s = {"type": "string"}
    elif k is FieldKind.INT:
        s = dict(INT64)
    elif k is FieldKind.FLOAT:
        s = {"type": "number", "format": "double"}
        if output:  # what JSON cannot carry is spelt as text
            s = {"anyOf": [s, {"type": "string", "enum": list(NON_FINITE.values())}]}
    elif k is FieldKind.BOOL:
        s = {"type": "boolean"}
    elif k is FieldKind.DECIMAL:
        s = {"type": "string", "format": "decimal", "pattern": DECIMAL_PATTERN}
        if not output:
            s["type"] = ["string", "number"]
        s["description"] = "an exact decimal number, as a string of digits"
    elif k is FieldKind.DATETIME:
        s = {"type": "string", "format": "date-time"}
    elif k is FieldKind.DATE:
        s = {"type": "string", "format": "date"}
    elif k is FieldKind.TIME:
        s = {"type": "string", "pattern": TIME_PATTERN, "description": "HH:MM:SS[.ffffff]"}
    elif k is FieldKind.UUID:
        s = {"type": "string", "format": "uuid"}
    elif k is FieldKind.BYTES:
        s = {"type": "string", "contentEncoding": "base64"}
    elif k is FieldKind.ENUM:
        values = [json_value(m.value) for m in f.python_type]
        s = {"enum": values}
        if all(isinstance(v, str) for v in values):
            s["type"] = "string"
    elif f.python_type is dict:
        s = {"type": "object"}
    else:
        items: dict[str, Any] = {}
        if f.item_type is not None:
            items = {
                str: {"type": "string"},
                int: dict(INT64),
                float: {"type": "number"},
                bool: {"type": "boolean"},
            }[f.item_type]
        s = {"type": "array", "items": items}
    if f.nullable:
        s = _nullable(s)
    if f.db_type:
        s["description"] = (s.get("description", "") + f" (column type {f.db_type})").strip()
    if not output and f.default is not MISSING and f.default is not DATABASE_DEFAULT:
        default = f.default.value if isinstance(f.default, enum.Enum) else f.default
        s["default"] = json_value(default)
    if f.auto:
        s["readOnly"] = True
    return s


def _record(r: Resource, *, required: bool) -> dict[str, Any]:
    fields = r.model.fields
    out: dict[str, Any] = {
        "type": "object",
        "properties": {n: field_schema(f, output=True) for n, f in fields.items()},
        "additionalProperties": False,
    }
    if required:
        out["required"] = list(fields)
    return out


def _record_input(r: Resource, *, partial: bool, key: bool = False) -> dict[str, Any]:
    """A record's body: the writable fields; for inserts (``partial`` False, or upserts
    with ``key``) also the auto-increment columns, which the database numbers when left
    out; upserts also take the rest of the key, to match on."""
    writable = r.model.writable_fields
    settable = r.model.insertable_fields if key or not partial else writable
    props = {n: field_schema(f, output=False) for n, f in settable.items()}
    for f in r.key if key else ():
        if f.name not in props:
            props[f.name] = field_schema(f, output=False)
    for n, f in settable.items():
        if f.identity:
            props[n].pop("readOnly", None)
            props[n]["description"] = (
                props[n].get("description", "") + " numbered by the database when left out"
            ).strip()
    for f in r.key if key else ():
        props[f.name].pop("readOnly", None)
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    required = [n for n, f in writable.items() if f.required]
    if required and not partial:
        out["required"] = required
    return out


_UPDATE_OPERATORS = {
    "$set": "set these fields",
    "$inc": "add to numeric fields",
    "$mul": "multiply numeric fields",
    "$min": "keep the smaller value",
    "$max": "keep the larger value",
    "$unset": "set these fields to null",
    "$currentDate": "set these fields to the current date-time",
}


def _update_document(r: Resource) -> dict[str, Any]:
    doc = _record_input(r, partial=True)
    doc["description"] = (
        "new values (fields not named are kept), or update operators: "
        + ", ".join(f"{op} ({what})" for op, what in _UPDATE_OPERATORS.items())
    )
    for op in _UPDATE_OPERATORS:
        doc["properties"][op] = {"type": "object", "description": _UPDATE_OPERATORS[op]}
    return doc


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _key_schema(r: Resource) -> dict[str, Any]:
    if len(r.key) == 1:
        s = field_schema(r.key[0], output=True)
        s.pop("readOnly", None)
        return s
    return {
        "type": "object",
        "properties": {f.name: field_schema(f, output=True) for f in r.key},
        "required": [f.name for f in r.key],
        "additionalProperties": False,
    }


def _param_schema(r: Resource, kind: str, p: Param, settings: Settings) -> dict[str, Any]:
    """A declared node parameter's schema (the JSON a body or query parameter carries)."""
    name, t = p.name, p.type
    m = r.model.name
    s: dict[str, Any]
    if t == "filter":
        s = _ref("Filter")
    elif t == "update":
        s = _ref(f"{m}UpdateDocument")
    elif t == "order_by":
        s = {
            "type": "array",
            "items": {
                "anyOf": [
                    {"type": "string", "description": "a field; '-field' for descending"},
                    {"type": "object", "additionalProperties": {"enum": [1, -1]}},
                ]
            },
        }
    elif t == "list[dict]":
        item = f"{m}Create" if kind == "BulkCreate" else f"{m}UpsertRecord"
        s = {"type": "array", "items": _ref(item)}
    elif t == "list[str]":
        names = list(r.model.fields) if name == "fields" else list(r.model.writable_fields)
        if name == "match_fields":
            names = list(dict.fromkeys([*r.model.primary_key, *names]))
        s = {"type": "array", "items": {"enum": names}, "minItems": 1, "uniqueItems": True}
    elif t == "int":
        s = {"type": "integer", "minimum": 0, "maximum": _MAX_COUNT}
        if name == "limit":
            s["maximum"] = settings.max_limit
        elif name == "batch_size":
            s["minimum"] = 1
    elif t == "bool":
        s = {"type": "boolean"}
    elif t == "str":
        s = {"type": "string"}
        if name == "on_conflict":
            s["enum"] = ["error", "ignore"]
    else:
        s = {}
    if p.doc:
        s = {**s, "description": p.doc} if "$ref" not in s else {"$ref": s["$ref"]}
    if p.default is not None and "$ref" not in s:
        s["default"] = json_value(p.default)
    if name == "limit":
        s["default"] = settings.default_limit
    return s


def _body(r: Resource, kind: str, settings: Settings) -> dict[str, Any]:
    node = r.nodes[kind]
    params = node.parameters()
    return {
        "type": "object",
        "description": node.description,
        "properties": {n: _param_schema(r, kind, p, settings) for n, p in params.items()},
        "required": [n for n, p in params.items() if p.required],
        "additionalProperties": False,
    }


def _output(r: Resource, kind: str) -> dict[str, Any]:
    """A node's declared outputs as a response schema."""
    props: dict[str, Any] = {}
    for name, shape in r.nodes[kind].outputs().items():
        if shape == "rows":
            s: dict[str, Any] = {"type": "array", "items": _ref(f"{r.model.name}Partial")}
        elif shape == "row":
            s = _ref(r.model.name)
        elif name in ("id", "ids"):
            s = _key_schema(r) if name == "id" else {"type": "array", "items": _key_schema(r)}
            if shape.endswith("| None"):
                s = _nullable(s)
        else:
            base, _, rest = shape.partition(" | ")
            s = {"int": {"type": "integer"}, "str": {"type": "string"}}.get(base, {})
            if base == "bool":
                s = {"type": "boolean"}
            if rest == "None":
                s = _nullable(s)
        props[name] = s
    return {
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }


def _query(r: Resource, kind: str, names: tuple[str, ...], settings: Settings) -> list[Any]:
    out = []
    for name, p in r.query(kind, names).items():
        param: dict[str, Any] = {"name": name, "in": "query", "required": False}
        if p.doc:
            param["description"] = p.doc
        if p.type == "filter":
            param["content"] = {"application/json": {"schema": _ref("Filter")}}
            param["description"] = (
                f"{p.doc}: a JSON object, e.g. "
                '{"age": {"$gte": 18}, "status": {"$in": ["a", "b"]}}'
            )
        elif p.type in ("order_by", "list[str]"):
            param["schema"] = {"type": "string"}
            param["description"] = (
                "comma-separated fields, '-' first for descending (e.g. -age,name)"
                if p.type == "order_by"
                else "comma-separated field names"
            )
            param["explode"] = False
        else:
            param["schema"] = _param_schema(r, kind, p, settings)
        out.append(param)
    return out


def _responses(ok: str, schema: dict[str, Any], *codes: str, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        ok: {
            "description": extra.pop("description", "success"),
            "content": {"application/json": {"schema": schema}},
        }
    }
    if extra.get("headers"):
        out[ok]["headers"] = extra["headers"]
    for code in codes:
        out[code] = {"$ref": f"#/components/responses/{_ERRORS[code][0]}"}
    out["default"] = {"$ref": "#/components/responses/Error"}
    return out


def _header(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "schema": schema or {"type": "string"}}


def openapi_document(settings: Settings, resources: list[Resource]) -> dict[str, Any]:
    """The API's OpenAPI 3.1 document."""
    schemas: dict[str, Any] = {
        "Problem": {
            "type": "object",
            "description": "an error (RFC 9457)",
            "properties": {
                "type": {
                    "type": "string",
                    "format": "uri-reference",
                    "description": f"{PROBLEM_TYPE}<code>",
                },
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string", "description": "what was wrong and what to do"},
                "instance": {"type": "string"},
                "code": {"type": "string", "description": "the engine's stable error code"},
                "details": {"type": "object", "description": "facts, e.g. suggestions"},
                "errors": {
                    "type": "array",
                    "description": "every problem found in the request",
                    "items": {
                        "type": "object",
                        "properties": {
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                            "path": {"type": "array", "items": {"type": ["string", "integer"]}},
                            "details": {"type": "object"},
                        },
                        "required": ["code", "message", "path"],
                    },
                },
            },
            "required": ["type", "title", "status", "detail", "code"],
        },
        "Filter": {
            "type": "object",
            "description": "a MongoDB-style filter document: field: value, field: {$op: value} "
            "($eq $ne $gt $gte $lt $lte $in $nin $exists $regex $like $contains ...), "
            "$and/$or/$nor lists",
        },
        "Health": {
            "type": "object",
            "properties": {
                "status": {
                    "enum": ["up", "degraded"],
                    "description": "degraded: the primary answers, a replica or the cache not",
                },
                "dialect": {"type": "string"},
            },
            "required": ["status", "dialect"],
        },
    }
    problem = {"application/problem+json": {"schema": _ref("Problem")}}
    responses = {
        name: {"description": description, "content": problem}
        for name, description in _ERRORS.values()
    }
    responses["Error"] = {"description": "any other error", "content": problem}
    tenant_header: list[dict[str, Any]] = []
    if isinstance(settings.tenant, str):
        tenant_header.append(
            {
                "name": settings.tenant,
                "in": "header",
                "required": True,
                "description": "the tenant the request acts for",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            }
        )
    auth = ("401",) if settings.tokens else ()
    paths: dict[str, Any] = {
        "/health": {
            "get": {
                "operationId": "health",
                "summary": "Whether the database answers",
                "tags": ["service"],
                "security": [],
                "responses": _responses("200", _ref("Health"), "503"),
            }
        }
    }
    for r in resources:
        m, base = r.model.name, f"/{r.name}"
        schemas[m] = _record(r, required=True)
        schemas[f"{m}Partial"] = _record(r, required=False)
        schemas[f"{m}List"] = _output(r, "List")
        tag = [m]
        common = list(tenant_header)
        paths[base] = {
            "get": {
                "operationId": f"list_{r.name}",
                "summary": f"List {m} records",
                "description": r.nodes["List"].description,
                "tags": tag,
                "parameters": common + _query(r, "List", tuple(r.list_query), settings),
                "responses": _responses(
                    "200",
                    _ref(f"{m}List"),
                    "400",
                    *auth,
                    "422",
                    "503",
                    headers={"Link": _header('the next page: <url>; rel="next"')},
                ),
            }
        }
        paths[f"{base}/count"] = {
            "get": {
                "operationId": f"count_{r.name}",
                "summary": f"Count {m} records",
                "tags": tag,
                "parameters": common + _query(r, "Count", ("filter", "include_deleted"), settings),
                "responses": _responses("200", _output(r, "Count"), "400", *auth, "422", "503"),
            }
        }
        if r.key:
            key_params: list[dict[str, Any]] = [
                {
                    "name": p,
                    "in": "path",
                    "required": True,
                    "description": f"the key field {f.name!r}",
                    "schema": {
                        k: v for k, v in field_schema(f, output=False).items() if k != "readOnly"
                    },
                }
                for f, p in zip(r.key, r.key_params, strict=True)
            ]
            for kp in key_params:
                if kp["schema"].get("contentEncoding") == "base64":
                    kp["schema"]["contentEncoding"] = "base64url"
            paths[r.item_path] = {
                "get": {
                    "operationId": f"get_{r.name}",
                    "summary": f"Read one {m} record by its key",
                    "tags": tag,
                    "parameters": common
                    + key_params
                    + _query(r, "Read", ("include_deleted",), settings),
                    "responses": _responses(
                        "200",
                        _ref(m),
                        "400",
                        *auth,
                        "404",
                        "422",
                        "503",
                        headers=_etag_header(r),
                    ),
                }
            }
        if not r.writable:
            continue
        schemas[f"{m}Create"] = _record_input(r, partial=False)
        schemas[f"{m}UpsertRecord"] = _record_input(r, partial=True, key=True)
        schemas[f"{m}UpdateDocument"] = _update_document(r)
        writes = ("400", *auth, "403", "409", "413", "415", "422", "503")
        paths[base]["post"] = {
            "operationId": f"create_{r.name}",
            "summary": f"Create a {m} record",
            "description": r.nodes["Create"].description,
            "tags": tag,
            "parameters": list(common),
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref(f"{m}Create")}},
            },
            "responses": _responses(
                "201",
                _ref(m),
                *writes,
                description="created",
                headers={"Location": _header("the new record's URL"), **_etag_header(r)},
            ),
        }
        if r.key:
            if r.model.versioned:
                schemas[f"{m}UpdateDocument"]["properties"]["version"] = {
                    "type": "integer",
                    "description": 'the version you read (or send If-Match: "<version>")',
                }
            item = paths[r.item_path]
            key_params = [p for p in item["get"]["parameters"] if p["in"] == "path"]
            update_params = common + key_params
            if r.model.versioned:
                update_params = [
                    *update_params,
                    {
                        "name": "If-Match",
                        "in": "header",
                        "required": False,
                        "description": 'the version you read, as an ETag: "3"',
                        "schema": {"type": "string"},
                    },
                ]
            item["patch"] = {
                "operationId": f"update_{r.name}",
                "summary": f"Change a {m} record",
                "description": r.nodes["Update"].description,
                "tags": tag,
                "parameters": update_params,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(f"{m}UpdateDocument")}},
                },
                "responses": _responses(
                    "200",
                    _ref(m),
                    *writes,
                    "404",
                    *(("428",) if r.model.versioned else ()),
                    headers=_etag_header(r),
                ),
            }
            item["delete"] = {
                "operationId": f"delete_{r.name}",
                "summary": f"Delete a {m} record",
                "description": r.nodes["Delete"].description,
                "tags": tag,
                "parameters": common + key_params + _query(r, "Delete", ("hard",), settings),
                "responses": _responses(
                    "200", _output(r, "Delete"), "400", *auth, "403", "404", "409", "422", "503"
                ),
            }
        for action, kind in (
            ("create", "BulkCreate"),
            ("update", "BulkUpdate"),
            ("delete", "BulkDelete"),
            ("upsert", "BulkUpsert"),
        ):
            schemas[f"{m}{kind}"] = _body(r, kind, settings)
            paths[f"{base}/bulk/{action}"] = {
                "post": {
                    "operationId": f"bulk_{action}_{r.name}",
                    "summary": f"{kind} of {m} records (atomic: all or none)",
                    "description": r.nodes[kind].description,
                    "tags": tag,
                    "parameters": list(common),
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref(f"{m}{kind}")}},
                    },
                    "responses": _responses(
                        "201" if kind == "BulkCreate" else "200", _output(r, kind), *writes
                    ),
                }
            }
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": settings.title,
            "version": settings.version,
            "description": "Generated by DataFlow from its models and their nodes. Errors are "
            "application/problem+json documents carrying the engine's stable code.",
        },
        "paths": paths,
        "components": {"schemas": schemas, "responses": responses},
    }
    if settings.read_only:
        document["info"]["description"] += " This API is read-only."
    if settings.tokens:
        document["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        document["security"] = [{"bearer": []}]
    return document


def _etag_header(r: Resource) -> dict[str, Any]:
    if not r.model.versioned:
        return {}
    return {"ETag": _header('the record\'s version, e.g. "3" (send it back as If-Match)')}
