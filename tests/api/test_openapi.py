"""The OpenAPI 3.1 document: valid, generated from the node declarations and the model
fields, with every error answer; and schemathesis, from that document, finds no server
error and no answer that breaks it."""

from __future__ import annotations

import datetime as dt
import enum
import json
import uuid
from decimal import Decimal
from typing import Any

import httpx
import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.definitions import OPENAPI_31

from dataflow_engine import DataFlow
from tests.support import one


class Size(enum.Enum):
    S = "small"
    L = "large"


def catalogue(db: DataFlow) -> DataFlow:
    @db.model
    class Product:
        name: str
        price: Decimal
        size: Size = Size.S
        stock: int = 0
        weight: float | None = None
        released: dt.date | None = None
        restocked: dt.datetime | None = None
        sku: uuid.UUID | None = None
        image: bytes | None = None
        labels: list[str] | None = None
        specs: dict | None = None  # type: ignore[type-arg]
        on_sale: bool = False
        __dataflow__ = {"soft_delete": True, "unique": [["name"]]}

    @db.model
    class Stock:
        warehouse: str
        product: int
        amount: int
        __dataflow__ = {"primary_key": ["warehouse", "product"], "versioned": True}

    return db


def document(app: Any) -> dict[str, Any]:
    async def get() -> dict[str, Any]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            return dict((await http.get("/openapi.json")).json())

    import asyncio

    return asyncio.run(get())


def test_the_document_is_valid_openapi_3_1() -> None:
    db = catalogue(DataFlow())
    doc = document(db.api())
    jsonschema.Draft202012Validator(OPENAPI_31).validate(doc)
    assert doc["openapi"] == "3.1.0"
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert "default" in op["responses"], (method, path)
            assert op["operationId"]
    # every error answer is a problem document
    for response in doc["components"]["responses"].values():
        assert list(response["content"]) == ["application/problem+json"]
    db.close()


def test_records_keep_exact_types_and_nullability() -> None:
    db = catalogue(DataFlow())
    schemas = document(db.api())["components"]["schemas"]
    product = schemas["Product"]["properties"]
    assert product["price"] == {
        "type": "string",
        "format": "decimal",
        "pattern": product["price"]["pattern"],
        "description": "an exact decimal number, as a string of digits",
    }
    assert product["released"]["format"] == "date" and product["released"]["type"] == [
        "string",
        "null",
    ]
    assert product["restocked"]["format"] == "date-time"
    assert product["sku"]["format"] == "uuid"
    assert product["image"]["contentEncoding"] == "base64"
    assert product["size"]["enum"] == ["small", "large"]
    assert product["labels"]["items"] == {"type": "string"}
    assert product["id"]["readOnly"] is True and product["id"]["format"] == "int64"
    assert set(schemas["Product"]["required"]) == set(db.get_model("Product").fields)
    assert "required" not in schemas["ProductPartial"]  # `fields` projections
    create = schemas["ProductCreate"]
    assert create["required"] == ["name", "price"]
    assert create["properties"]["size"]["default"] == "small"
    assert create["properties"]["price"]["type"] == ["string", "number"]
    assert create["additionalProperties"] is False
    # the key may be given (the database numbers the record otherwise); stamps may not
    key = create["properties"]["id"]
    assert "readOnly" not in key and "numbered by the database" in key["description"]
    assert "created_at" not in create["properties"]
    assert "id" not in schemas["ProductUpdateDocument"]["properties"]  # no renumbering
    db.close()


def test_parameters_come_from_the_node_declarations() -> None:
    db = catalogue(DataFlow())
    doc = document(db.api(max_limit=500, default_limit=50))
    listing = doc["paths"]["/products"]["get"]
    params = {p["name"]: p for p in listing["parameters"]}
    declared = db.nodes["ProductListNode"].parameters()
    assert set(params) == {
        "filter",
        "order_by",
        "fields",
        "limit",
        "offset",
        "cursor",
        "with_total",
        "include_deleted",
    }
    assert params["limit"]["schema"]["maximum"] == 500
    assert params["limit"]["schema"]["default"] == 50
    assert params["cursor"]["description"] == declared["cursor"].doc
    assert params["filter"]["content"]["application/json"]["schema"]["$ref"].endswith("/Filter")
    bulk = doc["components"]["schemas"]["ProductBulkUpsert"]
    upsert = db.nodes["ProductBulkUpsertNode"].parameters()
    assert set(bulk["properties"]) == set(upsert)
    assert bulk["required"] == ["data"]
    assert bulk["properties"]["batch_size"]["description"] == upsert["batch_size"].doc
    hard = doc["components"]["schemas"]["ProductBulkDelete"]["properties"]["hard"]
    assert hard["default"] is False
    # composite keys: one path segment per key field; versioned: If-Match and 428
    stock = doc["paths"]["/stocks/{warehouse}/{product}"]
    path_params = [p["name"] for p in stock["get"]["parameters"] if p["in"] == "path"]
    assert path_params == ["warehouse", "product"]
    assert "428" in stock["patch"]["responses"]
    assert any(p["name"] == "If-Match" for p in stock["patch"]["parameters"])
    db.close()


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def fuzz(schema: Any, examples: int, headers: dict[str, str] | None = None) -> list[str]:
    """Every operation, with valid and invalid requests; the failures found."""
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=True,  # the same requests on every run: CI stays deterministic
                suppress_health_check=list(HealthCheck),
            )
            def check(case: Any) -> None:
                case.call_and_validate(checks=CHECKS, headers=headers)

            try:
                check()
            except Unsatisfiable:  # no invalid request exists (GET /health)
                assert mode is GenerationMode.NEGATIVE
            except Exception as exc:  # collected: every operation is tried
                failures.append(f"{mode.value} {operation.label}: {exc}"[:3000])
    return failures


@pytest.mark.timeout(900)
def test_schemathesis_finds_no_server_error_and_no_schema_violation(db: DataFlow) -> None:
    catalogue(db)
    one(
        db,
        "ProductBulkCreateNode",
        {
            "data": [
                {"name": f"p{i}", "price": f"{i}.5", "weight": 1.5 * i, "labels": ["x"]}
                for i in range(5)
            ]
        },
    )
    one(db, "StockCreateNode", {"warehouse": "w1", "product": 1, "amount": 3})
    schema = schemathesis.openapi.from_asgi("/openapi.json", db.api(max_limit=50))
    failures = fuzz(schema, examples=12)
    assert not failures, "\n\n".join(failures)


TOKEN = {"Authorization": "Bearer token-for-tests"}


def test_schemathesis_on_a_read_only_api_with_a_token() -> None:
    db = catalogue(DataFlow())
    app = db.api(read_only=True, token="token-for-tests")
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers=TOKEN)
    methods = {result.ok().method.upper() for result in schema.get_all_operations()}
    assert methods == {"GET"}
    failures = fuzz(schema, examples=8, headers=TOKEN)
    assert not failures, "\n\n".join(failures)
    body = json.loads(app.state.openapi)
    assert body["security"] == [{"bearer": []}]
    db.close()
