"""JSON fields on every backend: paths, arrays, $elemMatch, hostile keys and values.

The differential test (test_differential.py) checks random JSON filters against the
reference evaluator; these are the cases a reader should be able to see at a glance.
"""

from __future__ import annotations

from typing import Any

import pytest

from dataflow_engine import DataFlow
from dataflow_engine.errors import WorkflowValidationError
from tests.support import one

ORDERS: list[dict[str, Any]] = [
    {
        "ref": "o1",
        "doc": {
            "customer": {"name": "Zoë", "city": "Lyon", "vip": True},
            "lines": [{"sku": "A1", "qty": 2}, {"sku": "B2", "qty": 10}],
            "tags": ["urgent", "gift"],
            "total": 120.5,
        },
    },
    {
        "ref": "o2",
        "doc": {
            "customer": {"name": "Ann", "city": "Paris", "vip": False},
            "lines": [{"sku": "A1", "qty": 1}],
            "tags": [],
            "total": 15,
        },
    },
    {
        "ref": "o3",
        "doc": {
            "customer": {"name": "Bob", "city": None},
            "lines": [{"sku": "C3", "qty": 3, "parts": [{"id": 7}]}],
            "tags": "urgent",
            "total": "n/a",
        },
    },
    {"ref": "o4", "doc": {"weird key": {"it's": 1, "ключ": "значение", "a;b--": 2}}},
    {"ref": "o5", "doc": None},
]


@pytest.fixture
def orders(db: DataFlow) -> DataFlow:
    @db.model
    class Order:
        ref: str
        doc: dict | None = None  # type: ignore[type-arg]

    one(db, "OrderBulkCreateNode", {"data": ORDERS})
    return db


def refs(db: DataFlow, flt: dict[str, Any]) -> list[str]:
    out = one(db, "OrderListNode", {"filter": flt, "order_by": "ref"})["records"]
    return [r["ref"] for r in out]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"doc.customer.city": "Lyon"}, ["o1"]),
        ({"doc.customer.vip": True}, ["o1"]),
        ({"doc.customer.vip": 1}, []),  # a boolean is not a number
        ({"doc.customer.city": None}, ["o3", "o4", "o5"]),  # null, missing, NULL column
        ({"doc.customer.city": {"$exists": True}}, ["o1", "o2", "o3"]),
        ({"doc.customer.name": {"$gt": "Ann"}}, ["o1", "o3"]),  # code-point order: Z < a
        ({"doc.customer.name": {"$regex": "^z", "$options": "i"}}, ["o1"]),
        ({"doc.total": {"$gte": 15}}, ["o1", "o2"]),  # "n/a" is not a number
        ({"doc.total": 15.0}, ["o2"]),
        ({"doc.tags": "urgent"}, ["o1", "o3"]),  # an element, or the value itself
        ({"doc.tags": {"$size": 0}}, ["o2"]),
        ({"doc.tags": {"$all": ["gift", "urgent"]}}, ["o1"]),
        ({"doc.tags": {"$ne": "urgent"}}, ["o2", "o4", "o5"]),
        ({"doc.lines": {"$elemMatch": {"sku": "A1", "qty": {"$gte": 2}}}}, ["o1"]),
        ({"doc.lines.0.sku": "A1"}, ["o1", "o2"]),
        ({"doc.lines.1.qty": {"$gt": 5}}, ["o1"]),
        ({"doc.lines": {"$elemMatch": {"parts": {"$elemMatch": {"id": 7}}}}}, ["o3"]),
        ({"doc.lines.sku": "A1"}, []),  # arrays on the way are not searched
        ({"doc.weird key.it's": 1}, ["o4"]),
        ({"doc.weird key.ключ": "значение"}, ["o4"]),
        ({"doc.weird key.a;b--": 2}, ["o4"]),
        ({"doc": {"$type": "null"}}, ["o5"]),
        ({"doc.customer": {"name": "Ann", "city": "Paris", "vip": False}}, ["o2"]),
        ({"doc.customer": {"vip": False, "city": "Paris", "name": "Ann"}}, ["o2"]),  # key order
        ({"$or": [{"doc.total": {"$lt": 20}}, {"doc.tags": {"$size": 2}}]}, ["o1", "o2"]),
        ({"doc.lines": {"$not": {"$size": 1}}}, ["o1", "o4", "o5"]),
    ],
)
def test_json_conditions(orders: DataFlow, flt: dict[str, Any], expected: list[str]) -> None:
    assert refs(orders, flt) == expected


def test_json_paths_work_in_count_update_and_delete(orders: DataFlow) -> None:
    flt = {"doc.customer.city": {"$in": ["Lyon", "Paris"]}}
    assert one(orders, "OrderCountNode", {"filter": flt})["count"] == 2
    updated = one(orders, "OrderBulkUpdateNode", {"filter": flt, "update": {"ref": "x"}})
    assert updated["updated"] == 2
    deleted = one(orders, "OrderBulkDeleteNode", {"filter": {"doc.tags": "gift"}})
    assert deleted["deleted"] == 1
    assert refs(orders, {}) == ["o3", "o4", "o5", "x"]


def test_hostile_json_values_are_data(orders: DataFlow) -> None:
    hostile = "'; DROP TABLE orders; --"
    assert refs(orders, {"doc.customer.name": hostile}) == []
    assert refs(orders, {"doc.lines": {"$elemMatch": {"sku": {"$regex": hostile}}}}) == []
    assert refs(orders, {f"doc.{hostile}": 1}) == []
    assert len(refs(orders, {})) == 5


def test_a_long_array_and_a_deep_path(db: DataFlow) -> None:
    @db.model
    class Blob:
        doc: dict  # type: ignore[type-arg]

    deep: dict[str, Any] = {"leaf": "x"}
    for _ in range(20):
        deep = {"n": deep}
    one(db, "BlobCreateNode", {"doc": {"xs": list(range(2000)), "deep": deep}})
    listed = one(db, "BlobListNode", {"filter": {"doc.xs": 1999}})["records"]
    assert len(listed) == 1
    assert one(db, "BlobCountNode", {"filter": {"doc.xs": {"$size": 2000}}})["count"] == 1
    path = "doc.deep." + ".".join(["n"] * 20) + ".leaf"
    assert one(db, "BlobCountNode", {"filter": {path: "x"}})["count"] == 1


def test_a_bad_path_is_refused_before_any_sql(orders: DataFlow) -> None:
    with pytest.raises(WorkflowValidationError) as info:
        refs(orders, {"ref.length": 3})
    assert [d.code for d in info.value.diagnostics] == ["DF-FILTER-UNKNOWN-FIELD"]
