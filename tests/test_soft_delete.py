"""Soft delete on every node kind, alone and with multi-tenancy, on every backend."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from dataflow_engine import DataFlow, NotFoundError, UniqueViolation
from tests.support import one


@pytest.fixture
def items(db: DataFlow) -> DataFlow:
    @db.model
    class Item:
        name: str
        qty: int = 0
        kind: str = "a"
        __dataflow__ = {"soft_delete": True, "versioned": True, "unique": [["name"]]}

    return db


def seed(db: DataFlow, names: list[str], **extra: Any) -> list[int]:
    data = [{"name": n, **extra} for n in names]
    out = one(db, "ItemBulkCreateNode", {"data": data, "return_ids": True})
    return list(out["ids"])


def names(db: DataFlow, **params: Any) -> list[str]:
    out = one(db, "ItemListNode", {"order_by": ["name"], **params})
    return [r["name"] for r in out["records"]]


def test_created_rows_are_live(items: DataFlow) -> None:
    row = one(items, "ItemCreateNode", {"name": "a"})
    assert row["deleted_at"] is None
    seed(items, ["b", "c"])
    assert one(items, "ItemCountNode", {}) == {"count": 3}
    assert names(items, include_deleted=True) == ["a", "b", "c"]


def test_delete_marks_the_row_and_reads_skip_it(items: DataFlow) -> None:
    ids = seed(items, ["a", "b", "c"])
    assert one(items, "ItemDeleteNode", {"id": ids[0]}) == {"id": ids[0], "deleted": True}
    with pytest.raises(NotFoundError):
        one(items, "ItemReadNode", {"id": ids[0]})
    hidden = one(items, "ItemReadNode", {"id": ids[0], "include_deleted": True})
    assert hidden["found"] is True and isinstance(hidden["deleted_at"], dt.datetime)
    assert names(items) == ["b", "c"]
    assert names(items, include_deleted=True) == ["a", "b", "c"]
    assert one(items, "ItemCountNode", {}) == {"count": 2}
    assert one(items, "ItemCountNode", {"include_deleted": True}) == {"count": 3}
    pipeline = [{"$group": {"_id": None, "n": {"$count": {}}}}]
    assert one(items, "ItemListNode", {"aggregate": pipeline})["records"][0]["n"] == 2
    assert (
        one(items, "ItemListNode", {"aggregate": pipeline, "include_deleted": True})["records"][0][
            "n"
        ]
        == 3
    )
    # A deleted record is gone for every write that addresses one record.
    with pytest.raises(NotFoundError):
        one(items, "ItemDeleteNode", {"id": ids[0]})
    with pytest.raises(NotFoundError):
        one(items, "ItemUpdateNode", {"id": ids[0], "fields": {"qty": 1}, "version": 1})
    with pytest.raises(NotFoundError):
        one(items, "ItemUpdateNode", {"filter": {"name": "a"}, "fields": {"qty": 1}, "version": 1})
    with pytest.raises(NotFoundError):
        one(items, "ItemDeleteNode", {"filter": {"name": "a"}})
    assert one(items, "ItemReadNode", {"id": ids[0], "include_deleted": True})["qty"] == 0


def test_filters_that_must_match_one_record_ignore_deleted_ones(items: DataFlow) -> None:
    seed(items, ["a", "b"], kind="k")
    one(items, "ItemDeleteNode", {"filter": {"name": "a"}})
    # 'kind': 'k' matches a deleted and a live record: the live one is the only match.
    assert one(items, "ItemReadNode", {"filter": {"kind": "k"}})["name"] == "b"
    updated = one(
        items, "ItemUpdateNode", {"filter": {"kind": "k"}, "fields": {"qty": 7}, "version": 1}
    )
    assert (updated["name"], updated["qty"], updated["version"]) == ("b", 7, 2)
    assert one(items, "ItemDeleteNode", {"filter": {"kind": "k"}})["deleted"] is True
    assert names(items) == []


def test_hard_delete_removes_rows_deleted_or_not(items: DataFlow) -> None:
    ids = seed(items, ["a", "b", "c", "d", "e"])
    one(items, "ItemBulkDeleteNode", {"filter": {"name": {"$in": ["a", "b", "c"]}}})
    one(items, "ItemDeleteNode", {"id": ids[0], "hard": True})  # by id, already soft-deleted
    one(items, "ItemDeleteNode", {"filter": {"name": "b"}, "hard": True})  # by filter
    assert names(items, include_deleted=True) == ["c", "d", "e"]
    with pytest.raises(NotFoundError):
        one(items, "ItemDeleteNode", {"id": ids[0], "hard": True})
    out = one(items, "ItemBulkDeleteNode", {"filter": {"name": {"$in": ["c", "d"]}}, "hard": True})
    assert out == {"deleted": 2}  # the soft-deleted 'c' is purged too
    assert one(items, "ItemBulkDeleteNode", {"all": True, "soft_delete": False}) == {"deleted": 1}
    assert one(items, "ItemCountNode", {"include_deleted": True}) == {"count": 0}


def test_bulk_update_skips_deleted_rows(items: DataFlow) -> None:
    seed(items, ["a", "b", "c"])
    one(items, "ItemDeleteNode", {"filter": {"name": "a"}})
    out = one(items, "ItemBulkUpdateNode", {"all": True, "update": {"$inc": {"qty": 5}}})
    assert out == {"updated": 2}
    rows = one(items, "ItemListNode", {"order_by": ["name"], "include_deleted": True})["records"]
    assert [(r["name"], r["qty"]) for r in rows] == [("a", 0), ("b", 5), ("c", 5)]


def test_bulk_delete_counts_the_rows_it_deletes(items: DataFlow) -> None:
    seed(items, ["a", "b", "c"])
    assert one(items, "ItemBulkDeleteNode", {"filter": {"name": {"$ne": "c"}}}) == {"deleted": 2}
    assert one(items, "ItemBulkDeleteNode", {"filter": {"name": {"$ne": "c"}}}) == {"deleted": 0}
    assert one(items, "ItemBulkDeleteNode", {"all": True, "soft_delete": True}) == {"deleted": 1}
    assert one(items, "ItemCountNode", {}) == {"count": 0}
    assert one(items, "ItemCountNode", {"include_deleted": True}) == {"count": 3}


def test_upsert_brings_a_deleted_record_back(items: DataFlow) -> None:
    (first,) = seed(items, ["a"], qty=5, kind="old")
    before = one(items, "ItemReadNode", {"id": first})
    one(items, "ItemDeleteNode", {"id": first})
    out = one(
        items,
        "ItemUpsertNode",
        {"where": {"name": "a"}, "create": {"name": "a", "qty": 1}, "update": {"qty": 100}},
    )
    record = out["record"]
    assert out["action"] == "created"  # it was not there
    assert record["id"] == first  # the same row, which the unique name would demand anyway
    assert (record["qty"], record["kind"], record["deleted_at"]) == (1, "a", None)
    assert record["created_at"] >= before["created_at"] and record["version"] == 2
    assert one(items, "ItemCountNode", {"include_deleted": True}) == {"count": 1}
    # Live again: the next upsert updates it.
    out = one(
        items,
        "ItemUpsertNode",
        {"where": {"name": "a"}, "create": {"name": "a"}, "update": {"qty": 100}},
    )
    assert out["action"] == "updated" and out["record"]["qty"] == 100


def test_upsert_without_a_unique_key_restores_the_latest_deleted(db: DataFlow) -> None:
    @db.model
    class Note:
        topic: str
        text: str = ""
        __dataflow__ = {"soft_delete": True}

    ids = one(
        db,
        "NoteBulkCreateNode",
        {"data": [{"topic": "x", "text": "1"}, {"topic": "x", "text": "2"}], "return_ids": True},
    )["ids"]
    one(db, "NoteDeleteNode", {"id": ids[0]})
    one(db, "NoteDeleteNode", {"id": ids[1]})
    out = one(
        db, "NoteUpsertNode", {"where": {"topic": "x"}, "create": {"topic": "x", "text": "3"}}
    )
    assert out["action"] == "created" and out["record"]["id"] == ids[1]
    assert out["record"]["text"] == "3"
    assert one(db, "NoteCountNode", {}) == {"count": 1}
    assert one(db, "NoteCountNode", {"include_deleted": True}) == {"count": 2}


def test_bulk_upsert_brings_deleted_keys_back(items: DataFlow) -> None:
    ids = seed(items, ["a", "b"], qty=5, kind="old")
    one(items, "ItemDeleteNode", {"id": ids[0]})
    out = one(
        items,
        "ItemBulkUpsertNode",
        {
            "data": [{"name": "a", "qty": 1}, {"name": "b", "qty": 2}, {"name": "c", "qty": 3}],
            "match_fields": ["name"],
        },
    )
    assert out == {"inserted": 2, "updated": 1}  # 'a' came back, 'c' is new, 'b' updated
    rows = one(items, "ItemListNode", {"order_by": ["name"]})["records"]
    assert [(r["name"], r["qty"], r["kind"], r["version"]) for r in rows] == [
        ("a", 1, "a", 2),  # a new record's values: the default kind, not the old one
        ("b", 2, "old", 2),  # an update changes only the fields given
        ("c", 3, "a", 1),
    ]
    assert rows[0]["id"] == ids[0]
    assert one(items, "ItemCountNode", {"include_deleted": True}) == {"count": 3}


def test_bulk_create_does_not_bring_deleted_records_back(items: DataFlow) -> None:
    seed(items, ["a"])
    one(items, "ItemDeleteNode", {"filter": {"name": "a"}})
    with pytest.raises(UniqueViolation):  # the deleted row still holds the unique name
        one(items, "ItemBulkCreateNode", {"data": [{"name": "a"}]})
    out = one(items, "ItemBulkCreateNode", {"data": [{"name": "a"}], "on_conflict": "ignore"})
    assert out["inserted"] == 0
    assert names(items) == []


# -- with multi-tenancy -----------------------------------------------------------------------


@pytest.fixture
def tenant_items(db: DataFlow) -> DataFlow:
    @db.model
    class Card:
        name: str
        qty: int = 0
        __dataflow__ = {
            "soft_delete": True,
            "multi_tenant": True,
            "unique": [["tenant_id", "name"]],
        }

    for tenant in ("t1", "t2"):
        data = [{"name": "x", "qty": 1}, {"name": "y", "qty": 1}]
        one(db, "CardBulkCreateNode", {"data": data}, tenant_id=tenant)
    return db


def cards(db: DataFlow, tenant: str, **params: Any) -> list[tuple[str, int, bool]]:
    out = one(db, "CardListNode", {"order_by": ["name"], **params}, tenant_id=tenant)
    return [(r["name"], r["qty"], r["deleted_at"] is not None) for r in out["records"]]


def test_soft_delete_stays_in_the_tenant(tenant_items: DataFlow) -> None:
    db = tenant_items
    one(db, "CardDeleteNode", {"filter": {"name": "x"}}, tenant_id="t1")
    assert cards(db, "t1") == [("y", 1, False)]
    assert cards(db, "t1", include_deleted=True) == [("x", 1, True), ("y", 1, False)]
    assert cards(db, "t2", include_deleted=True) == [("x", 1, False), ("y", 1, False)]
    assert one(db, "CardCountNode", {"include_deleted": True}, tenant_id="t1") == {"count": 2}
    theirs = one(db, "CardReadNode", {"filter": {"name": "x"}}, tenant_id="t2")
    with pytest.raises(NotFoundError):  # include_deleted never reaches another tenant
        one(db, "CardReadNode", {"id": theirs["id"], "include_deleted": True}, tenant_id="t1")
    with pytest.raises(NotFoundError):
        one(db, "CardDeleteNode", {"id": theirs["id"], "hard": True}, tenant_id="t1")


def test_upsert_restores_only_the_tenants_deleted_record(tenant_items: DataFlow) -> None:
    db = tenant_items
    one(db, "CardBulkDeleteNode", {"filter": {"name": "x"}}, tenant_id="t1")
    one(db, "CardBulkDeleteNode", {"filter": {"name": "x"}}, tenant_id="t2")
    out = one(
        db,
        "CardUpsertNode",
        {"where": {"name": "x"}, "create": {"name": "x", "qty": 9}},
        tenant_id="t1",
    )
    assert out["action"] == "created" and out["record"]["tenant_id"] == "t1"
    assert cards(db, "t1") == [("x", 9, False), ("y", 1, False)]
    assert cards(db, "t2", include_deleted=True) == [("x", 1, True), ("y", 1, False)]
    out = one(
        db,
        "CardBulkUpsertNode",
        {"data": [{"name": "x", "qty": 5}, {"name": "z", "qty": 5}], "match_fields": ["name"]},
        tenant_id="t2",
    )
    assert out == {"inserted": 2, "updated": 0}
    assert cards(db, "t2", include_deleted=True) == [
        ("x", 5, False),
        ("y", 1, False),
        ("z", 5, False),
    ]
    assert cards(db, "t1") == [("x", 9, False), ("y", 1, False)]


def test_bulk_operations_on_deleted_rows_stay_in_the_tenant(tenant_items: DataFlow) -> None:
    db = tenant_items
    one(db, "CardBulkDeleteNode", {"all": True}, tenant_id="t1")
    one(db, "CardBulkDeleteNode", {"filter": {"name": "y"}}, tenant_id="t2")
    assert one(db, "CardBulkUpdateNode", {"all": True, "update": {"qty": 50}}, tenant_id="t1") == {
        "updated": 0
    }
    assert one(db, "CardBulkDeleteNode", {"all": True, "hard": True}, tenant_id="t1") == {
        "deleted": 2
    }
    assert one(db, "CardCountNode", {"include_deleted": True}, tenant_id="t1") == {"count": 0}
    assert cards(db, "t2", include_deleted=True) == [("x", 1, False), ("y", 1, True)]
