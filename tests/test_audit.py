"""The audit log: an exact entry per record every write node touches, in the write's own
transaction, read back through ``db.audit_trail``; on every backend."""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Any

import pytest

from dataflow_engine import (
    DataFlow,
    ModelError,
    OptimisticLockError,
    SchemaError,
    UniqueViolation,
    ValidationError,
    WorkflowError,
    WorkflowValidationError,
)
from dataflow_engine.errors import TenantError
from tests.support import one, run


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Size(enum.Enum):  # not every value a string: stored by name
    SMALL = 1
    LARGE = 2


def item(name: str, **extra: Any) -> dict[str, Any]:
    """An Item record whose every field is a type that must survive the audit log."""
    values: dict[str, Any] = {
        "name": name,
        "price": Decimal("12.50"),
        "made": dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        "day": dt.date(2024, 2, 29),
        "clock": dt.time(23, 59, 58),
        "ref": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "blob": b"\x00\xff\x10 binary",
        "color": Color.BLUE,
        "size": Size.LARGE,
        "ratio": 0.1,
        "big": 2**62,
        "flag": True,
        "meta": {"ünï": "cödé ✓", "nested": {"n": 1, "f": 2.5, "l": [1, "x", None]}},
        "scores": [1.0, 2.5],
        "note": None,
    }
    values.update(extra)
    return values


@pytest.fixture
def items(db: DataFlow) -> DataFlow:
    @db.model
    class Item:
        name: str
        price: Decimal
        made: dt.datetime
        day: dt.date
        clock: dt.time
        ref: uuid.UUID
        blob: bytes
        color: Color
        size: Size
        ratio: float
        big: int
        flag: bool
        meta: dict  # type: ignore[type-arg]
        scores: list[float]
        note: str | None = None
        __dataflow__ = {"audit_log": True, "soft_delete": True, "unique": [["name"]]}

    return db


def stored(db: DataFlow, model: str, key: Any) -> dict[str, Any]:
    """A record as the database holds it now (deleted or not)."""
    row = dict(one(db, f"{model}ReadNode", {"id": key, "include_deleted": True}))
    del row["found"]
    return row


def entries(db: DataFlow, **filters: Any) -> list[tuple[str, Any, Any, Any]]:
    """``(action, record_id, before, after)`` of the trail, oldest first."""
    return [
        (e["action"], e["record_id"], e["before"], e["after"])
        for e in db.audit_trail(limit=None, **filters)
    ]


# -- single-record nodes ---------------------------------------------------------------------


def test_create_update_delete_entries_hold_the_exact_records(items: DataFlow) -> None:
    created = one(items, "ItemCreateNode", item("a"))
    key = created["id"]
    after_create = stored(items, "Item", key)
    one(items, "ItemUpdateNode", {"id": key, "fields": {"price": Decimal("99.99"), "note": "n"}})
    after_update = stored(items, "Item", key)
    one(items, "ItemDeleteNode", {"id": key})
    after_delete = stored(items, "Item", key)
    one(items, "ItemDeleteNode", {"id": key, "hard": True})

    assert entries(items) == [
        ("create", key, None, after_create),
        ("update", key, after_create, after_update),
        ("delete", key, after_update, after_delete),  # soft: after is the marked record
        ("delete", key, after_delete, None),  # hard
    ]
    # Every value has its field's Python type again.
    trail = items.audit_trail("Item")
    after = trail[0]["after"]
    assert after == created
    assert isinstance(after["price"], Decimal) and after["price"] == Decimal("12.50")
    assert after["made"] == item("a")["made"] and after["made"].tzinfo is not None
    assert (after["day"], after["clock"]) == (dt.date(2024, 2, 29), dt.time(23, 59, 58))
    assert after["ref"] == uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert after["blob"] == b"\x00\xff\x10 binary"
    assert (after["color"], after["size"]) == (Color.BLUE, Size.LARGE)
    assert (after["ratio"], after["big"], after["flag"]) == (0.1, 2**62, True)
    assert after["meta"] == item("a")["meta"] and after["scores"] == [1.0, 2.5]
    assert type(after["scores"][0]) is float and after["note"] is None
    assert trail[2]["after"]["deleted_at"] is not None
    assert [e["model"] for e in trail] == ["Item"] * 4
    assert all(isinstance(e["at"], dt.datetime) and e["at"].tzinfo for e in trail)


def test_infinite_and_huge_floats_round_trip(db: DataFlow, backend: str) -> None:
    if backend.startswith("mysql"):
        pytest.skip("MySQL's DOUBLE holds no infinity")

    @db.model
    class Reading:
        value: float
        __dataflow__ = {"audit_log": True}

    ids = [
        one(db, "ReadingCreateNode", {"value": v})["id"]
        for v in (float("inf"), float("-inf"), 1e300, -0.0, 5e-324)
    ]
    values = [e["after"]["value"] for e in db.audit_trail("Reading")]
    assert values == [stored(db, "Reading", k)["value"] for k in ids]
    assert values[:4] == [float("inf"), float("-inf"), 1e300, 0.0]


def test_update_and_delete_by_filter_are_audited(items: DataFlow) -> None:
    key = one(items, "ItemCreateNode", item("a"))["id"]
    before = stored(items, "Item", key)
    one(items, "ItemUpdateNode", {"filter": {"name": "a"}, "fields": {"$inc": {"big": 1}}})
    after = stored(items, "Item", key)
    assert after["big"] == 2**62 + 1
    one(items, "ItemDeleteNode", {"filter": {"name": "a"}, "hard": True})
    assert entries(items)[1:] == [("update", key, before, after), ("delete", key, after, None)]


def test_upsert_entries_for_create_update_and_no_change(items: DataFlow) -> None:
    out = one(items, "ItemUpsertNode", {"where": {"name": "u"}, "create": item("u")})
    key = out["record"]["id"]
    first = stored(items, "Item", key)
    out = one(
        items,
        "ItemUpsertNode",
        {"where": {"name": "u"}, "create": item("u"), "update": {"color": Color.RED}},
    )
    assert out["action"] == "updated"
    second = stored(items, "Item", key)
    # A match without 'update' writes nothing, so it is not in the log.
    one(items, "ItemUpsertNode", {"where": {"name": "u"}, "create": item("u")})
    assert entries(items) == [("create", key, None, first), ("update", key, first, second)]
    assert second["color"] is Color.RED


def test_failed_writes_leave_no_entries(items: DataFlow) -> None:
    with pytest.raises(WorkflowValidationError):
        one(items, "ItemCreateNode", item("bad", price="not a number"))
    with pytest.raises(WorkflowError):
        one(items, "ItemUpdateNode", {"id": 4242, "fields": {"note": "x"}})
    with pytest.raises(WorkflowError):
        one(items, "ItemDeleteNode", {"id": 4242})
    assert items.audit_trail() == []


# -- bulk nodes ------------------------------------------------------------------------------


def test_bulk_create_entries_one_per_inserted_record(items: DataFlow) -> None:
    out = one(
        items,
        "ItemBulkCreateNode",
        {"data": [item("b1"), item("b2", note="two")], "return_ids": True},
    )
    assert out["inserted"] == 2
    ids = out["ids"]
    # Without ids wanted (the COPY / executemany fast paths otherwise), and skipping a
    # duplicate: the skipped record has no entry.
    out = one(
        items,
        "ItemBulkCreateNode",
        {"data": [item("b3"), item("b1", note="dup")], "on_conflict": "ignore"},
    )
    assert out == {"inserted": 1, "ids": None}
    b3 = one(items, "ItemReadNode", {"filter": {"name": "b3"}})["id"]
    assert entries(items) == [
        ("create", ids[0], None, stored(items, "Item", ids[0])),
        ("create", ids[1], None, stored(items, "Item", ids[1])),
        ("create", b3, None, stored(items, "Item", b3)),
    ]


def test_bulk_update_entries_hold_each_record_before_and_after(items: DataFlow) -> None:
    ids = one(
        items,
        "ItemBulkCreateNode",
        {"data": [item(f"r{i}", big=i) for i in range(5)], "return_ids": True},
    )["ids"]
    before = [stored(items, "Item", k) for k in ids]
    out = one(
        items,
        "ItemBulkUpdateNode",
        {"filter": {"big": {"$gte": 2}}, "update": {"$inc": {"big": 10}, "$set": {"note": "up"}}},
    )
    assert out == {"updated": 3}
    after = [stored(items, "Item", k) for k in ids]
    assert [a["big"] for a in after] == [0, 1, 12, 13, 14]
    updates = [e for e in entries(items) if e[0] == "update"]
    assert sorted(updates, key=lambda e: e[1]) == [
        ("update", ids[i], before[i], after[i]) for i in (2, 3, 4)
    ]


def test_bulk_delete_entries_soft_and_hard(items: DataFlow) -> None:
    ids = one(
        items,
        "ItemBulkCreateNode",
        {"data": [item(f"d{i}", big=i) for i in range(4)], "return_ids": True},
    )["ids"]
    live = [stored(items, "Item", k) for k in ids]
    assert one(items, "ItemBulkDeleteNode", {"filter": {"big": {"$lt": 2}}}) == {"deleted": 2}
    marked = [stored(items, "Item", k) for k in ids[:2]]
    assert all(m["deleted_at"] is not None for m in marked)
    assert one(items, "ItemBulkDeleteNode", {"all": True, "hard": True}) == {"deleted": 4}
    deletes = [e for e in entries(items) if e[0] == "delete"]
    assert sorted(deletes[:2], key=lambda e: e[1]) == [
        ("delete", ids[i], live[i], marked[i]) for i in (0, 1)
    ]
    hard = sorted(deletes[2:], key=lambda e: e[1])
    assert hard == [
        ("delete", ids[0], marked[0], None),
        ("delete", ids[1], marked[1], None),
        ("delete", ids[2], live[2], None),
        ("delete", ids[3], live[3], None),
    ]


def test_bulk_upsert_entries_for_inserted_and_updated_records(items: DataFlow) -> None:
    existing = one(items, "ItemCreateNode", item("e1"))
    before = stored(items, "Item", existing["id"])
    out = one(
        items,
        "ItemBulkUpsertNode",
        {
            "data": [item("e1", note="changed"), item("n1", big=7)],
            "match_fields": ["name"],
        },
    )
    assert out == {"inserted": 1, "updated": 1}
    new = one(items, "ItemReadNode", {"filter": {"name": "n1"}})["id"]
    trail = entries(items)
    assert trail[1:] == [
        ("update", existing["id"], before, stored(items, "Item", existing["id"])),
        ("create", new, None, stored(items, "Item", new)),
    ]
    assert trail[1][3]["note"] == "changed"


# -- transactions ----------------------------------------------------------------------------


def test_a_rolled_back_workflow_leaves_no_entries(items: DataFlow) -> None:
    with pytest.raises(WorkflowError):
        run(
            items,
            ("ItemCreateNode", "create", item("t1")),
            ("ItemBulkCreateNode", "bulk", {"data": [item("t2"), item("t3")]}),
            ("ItemUpdateNode", "fail", {"id": 987654, "fields": {"note": "x"}}),
            transaction=True,
        )
    assert items.audit_trail() == []
    assert one(items, "ItemCountNode", {"include_deleted": True}) == {"count": 0}
    # The same workflow that succeeds writes every entry.
    results = run(
        items,
        ("ItemCreateNode", "create", item("t1")),
        ("ItemUpdateNode", "touch", {"filter": {"name": "t1"}, "fields": {"note": "ok"}}),
        transaction=True,
    )
    assert [e[0] for e in entries(items)] == ["create", "update"]
    assert items.audit_trail()[1]["after"]["note"] == results["touch"]["note"] == "ok"


def test_a_bulk_create_failing_on_a_unique_violation_leaves_no_entries(items: DataFlow) -> None:
    one(items, "ItemCreateNode", item("taken"))
    for return_ids in (False, True):
        with pytest.raises(UniqueViolation):
            one(
                items,
                "ItemBulkCreateNode",
                {"data": [item("fresh"), item("taken")], "return_ids": return_ids},
            )
    assert [e[0] for e in entries(items)] == ["create"]
    assert one(items, "ItemCountNode", {"filter": {"name": "fresh"}}) == {"count": 0}


# -- the trail -------------------------------------------------------------------------------


@pytest.fixture
def notes(db: DataFlow) -> DataFlow:
    @db.model
    class Note:
        body: str
        __dataflow__ = {"audit_log": True}

    @db.model
    class Plain:
        body: str

    return db


def test_trail_filters_order_and_who(notes: DataFlow) -> None:
    a = one(notes, "NoteCreateNode", {"body": "a"})["id"]
    with notes.actor("alice"):
        b = one(notes, "NoteCreateNode", {"body": "b"})["id"]
        one(notes, "NoteUpdateNode", {"id": a, "fields": {"body": "a2"}})
    run(notes, ("NoteUpdateNode", "u", {"id": b, "fields": {"body": "b2"}}), actor="bob")
    one(notes, "PlainCreateNode", {"body": "not audited"})

    trail = notes.audit_trail()
    assert [(e["action"], e["record_id"], e["actor"]) for e in trail] == [
        ("create", a, None),
        ("create", b, "alice"),
        ("update", a, "alice"),
        ("update", b, "bob"),
    ]
    assert [e["at"] for e in trail] == sorted(e["at"] for e in trail)
    assert notes.audit_trail("Note", record_id=a) == [trail[0], trail[2]]
    assert notes.audit_trail(record_id=b) == [trail[1], trail[3]]
    assert notes.audit_trail(limit=2) == trail[:2]
    assert notes.audit_trail(limit=0) == []
    since = trail[2]["at"]
    assert notes.audit_trail(since=since) == [e for e in trail if e["at"] >= since]
    assert notes.audit_trail(since=since.isoformat()) == notes.audit_trail(since=since)
    assert notes.audit_trail("Note", record_id=999) == []


def test_trail_arguments_are_validated(notes: DataFlow) -> None:
    one(notes, "NoteCreateNode", {"body": "a"})
    with pytest.raises(ModelError) as info:
        notes.audit_trail("Nope")
    assert info.value.code == "DF-MODEL-UNKNOWN"
    with pytest.raises(ModelError) as info:
        notes.audit_trail("Plain")
    assert info.value.code == "DF-MODEL-NOT-AUDITED"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"limit": -1}, "DF-PARAM-RANGE"),
        ({"limit": 2**70}, "DF-PARAM-RANGE"),
        ({"limit": "10"}, "DF-PARAM-TYPE"),
        ({"limit": True}, "DF-PARAM-TYPE"),
        ({"since": "yesterday"}, "DF-PARAM-TYPE"),
        ({"since": 12}, "DF-PARAM-TYPE"),
        ({"model": 3}, "DF-PARAM-TYPE"),
        ({"model": "Note", "record_id": "x'; DROP TABLE notes; --"}, "DF-PARAM-TYPE"),
        ({"model": "Note", "record_id": 2**70}, "DF-PARAM-TYPE"),
        ({"record_id": [1, 2]}, "DF-PARAM-TYPE"),
        ({"record_id": object()}, "DF-PARAM-TYPE"),
    ]
    for kwargs, code in cases:
        with pytest.raises(ValidationError) as err:
            notes.audit_trail(**kwargs)
        assert err.value.code == code, kwargs
    with pytest.raises(TenantError):
        notes.audit_trail(tenant_id="")
    assert len(notes.audit_trail()) == 1  # nothing was disturbed


def test_trail_without_any_audited_write_is_empty(db: DataFlow) -> None:
    @db.model
    class Thing:
        name: str

    one(db, "ThingCreateNode", {"name": "x"})
    assert db.audit_trail() == []


def test_trail_from_async_code(notes: DataFlow) -> None:
    key = one(notes, "NoteCreateNode", {"body": "a"})["id"]

    async def main() -> list[dict[str, Any]]:
        return await notes.audit_trail_async("Note", record_id=key)

    (entry,) = asyncio.run(main())
    assert (entry["action"], entry["after"]["body"]) == ("create", "a")


# -- keys ------------------------------------------------------------------------------------


def test_string_and_composite_keys(db: DataFlow) -> None:
    @db.model
    class Code:
        code: str
        label: str
        __dataflow__ = {"audit_log": True, "primary_key": "code"}

    @db.model
    class Seat:
        row: str
        number: int
        holder: str
        __dataflow__ = {"audit_log": True, "primary_key": ["row", "number"]}

    long_code = "é\"'\\" * 60  # 240 characters that JSON escapes
    one(db, "CodeCreateNode", {"code": long_code, "label": "x"})
    one(db, "CodeUpdateNode", {"id": long_code, "fields": {"label": "y"}})
    one(
        db,
        "SeatBulkCreateNode",
        {"data": [{"row": "A", "number": n, "holder": "h"} for n in (1, 2)]},
    )
    one(db, "SeatBulkUpdateNode", {"filter": {"number": 2}, "update": {"holder": "z"}})

    trail = db.audit_trail("Code", record_id=long_code)
    assert [(e["action"], e["record_id"]) for e in trail] == [
        ("create", long_code),
        ("update", long_code),
    ]
    seat = db.audit_trail("Seat", record_id={"row": "A", "number": 2})
    assert [(e["action"], e["record_id"]) for e in seat] == [
        ("create", {"row": "A", "number": 2}),
        ("update", {"row": "A", "number": 2}),
    ]
    assert seat[1]["before"]["holder"] == "h" and seat[1]["after"]["holder"] == "z"
    assert db.audit_trail("Seat", record_id=["A", 2]) == seat  # in key order
    assert db.audit_trail(record_id={"number": 2, "row": "A"}) == seat


def test_a_bulk_update_that_changes_a_key_is_audited_under_the_new_key(db: DataFlow) -> None:
    @db.model
    class Code:
        code: str
        label: str
        __dataflow__ = {"audit_log": True, "primary_key": "code"}

    one(db, "CodeCreateNode", {"code": "old", "label": "x"})
    one(db, "CodeBulkUpdateNode", {"filter": {"code": "old"}, "update": {"code": "new"}})
    (entry,) = db.audit_trail("Code", record_id="new")
    assert entry["before"]["code"] == "old" and entry["after"]["code"] == "new"


# -- with the other model options ------------------------------------------------------------


def test_audit_with_soft_delete(db: DataFlow) -> None:
    @db.model
    class Doc:
        title: str
        __dataflow__ = {"audit_log": True, "soft_delete": True}

    key = one(db, "DocCreateNode", {"title": "t"})["id"]
    one(db, "DocDeleteNode", {"id": key})
    deleted = stored(db, "Doc", key)
    # Deleting a record already (soft-)deleted finds nothing: no entry.
    with pytest.raises(WorkflowError):
        one(db, "DocDeleteNode", {"id": key})
    # An upsert that brings the deleted record back is a create, whose before is the
    # deleted record.
    out = one(db, "DocUpsertNode", {"where": {"title": "t"}, "create": {"title": "t"}})
    assert out["action"] == "created" and out["record"]["id"] == key
    restored = stored(db, "Doc", key)
    assert restored["deleted_at"] is None
    assert [e[0] for e in entries(db)] == ["create", "delete", "create"]
    assert entries(db)[1][3] == deleted
    assert entries(db)[2] == ("create", key, deleted, restored)
    # BulkUpsert bringing one back, too.
    one(db, "DocBulkDeleteNode", {"filter": {"title": "t"}})
    deleted = stored(db, "Doc", key)
    one(db, "DocBulkUpsertNode", {"data": [{"title": "t"}], "match_fields": ["title"]})
    assert entries(db)[-1] == ("create", key, deleted, stored(db, "Doc", key))


def test_audit_with_versions(db: DataFlow) -> None:
    @db.model
    class Counter:
        name: str
        value: int = 0
        __dataflow__ = {"audit_log": True, "versioned": True}

    key = one(db, "CounterCreateNode", {"name": "c"})["id"]
    one(db, "CounterUpdateNode", {"id": key, "version": 1, "fields": {"$inc": {"value": 1}}})
    with pytest.raises(OptimisticLockError):
        one(db, "CounterUpdateNode", {"id": key, "version": 1, "fields": {"value": 9}})
    with pytest.raises(OptimisticLockError):
        one(
            db,
            "CounterBulkUpdateNode",
            {"filter": {"name": "c"}, "version": 1, "update": {"value": 9}},
        )
    one(
        db, "CounterBulkUpdateNode", {"filter": {"name": "c"}, "version": 2, "update": {"value": 5}}
    )
    one(
        db,
        "CounterUpsertNode",
        {"where": {"name": "c"}, "create": {"name": "c"}, "update": {"$inc": {"value": 1}}},
    )
    one(
        db, "CounterBulkUpsertNode", {"data": [{"name": "c", "value": 0}], "match_fields": ["name"]}
    )
    trail = db.audit_trail("Counter")
    assert [
        (e["action"], e["before"] and e["before"]["version"], e["after"]["version"]) for e in trail
    ] == [
        ("create", None, 1),
        ("update", 1, 2),
        ("update", 2, 3),
        ("update", 3, 4),
        ("update", 4, 5),
    ]
    assert [e["after"]["value"] for e in trail] == [0, 1, 5, 6, 0]


def test_audit_records_the_tenant_and_a_tenant_sees_its_own_trail(db: DataFlow) -> None:
    @db.model
    class Memo:
        text: str
        __dataflow__ = {"audit_log": True, "multi_tenant": True}

    with db.tenant("acme"):
        a = one(db, "MemoCreateNode", {"text": "a"})["id"]
    with db.tenant("globex"):
        g = one(db, "MemoCreateNode", {"text": "g"})["id"]
        one(
            db,
            "MemoBulkUpsertNode",
            {"data": [{"text": "g"}, {"text": "h"}], "match_fields": ["text"]},
        )
    every = db.audit_trail()
    assert [(e["tenant_id"], e["action"]) for e in every] == [
        ("acme", "create"),
        ("globex", "create"),
        ("globex", "update"),
        ("globex", "create"),
    ]
    with db.tenant("acme"):
        assert [e["record_id"] for e in db.audit_trail()] == [a]
    globex = db.audit_trail(tenant_id="globex")
    assert [e["record_id"] for e in globex][:2] == [g, g]
    assert all(e["after"]["tenant_id"] == "globex" for e in globex)


# -- the model registry ----------------------------------------------------------------------


def test_an_audited_model_rebuilt_from_the_registry_is_audited(
    notes: DataFlow, db_url: str
) -> None:
    from dataflow_engine.models._serialize import (
        checksum,
        model_from_definition,
        model_to_definition,
    )

    definition = model_to_definition(notes.get_model("Note"))
    assert definition["audit_log"] is True
    assert checksum(model_to_definition(model_from_definition(definition))) == checksum(definition)
    assert "audit_log" not in model_to_definition(notes.get_model("Plain"))  # unchanged
    first = one(notes, "NoteCreateNode", {"body": "declared"})["id"]
    one(notes, "PlainCreateNode", {"body": "registered"})  # a model is registered when used

    def check(db: DataFlow) -> None:
        assert db.get_model("Note").audit_log and not db.get_model("Plain").audit_log
        key = one(db, "NoteCreateNode", {"body": "rebuilt"})["id"]
        one(db, "NoteBulkUpdateNode", {"filter": {"id": key}, "update": {"body": "again"}})
        one(db, "PlainCreateNode", {"body": "not audited"})
        trail = db.audit_trail("Note", record_id=key)
        assert [(e["action"], e["after"]["body"]) for e in trail] == [
            ("create", "rebuilt"),
            ("update", "again"),
        ]
        assert [e["record_id"] for e in db.audit_trail()] == [first, key, key]

    if db_url == "sqlite://":  # one in-memory database: rebuilt in place, from its registry
        assert sorted(notes.reconstruct_models_from_registry()) == ["Note", "Plain"]
        assert notes.get_model("Note").source is None  # the class is gone, the option is not
        check(notes)
        return
    with DataFlow(db_url) as other:  # another process, without the classes
        assert sorted(other.reconstruct_models_from_registry()) == ["Note", "Plain"]
        check(other)


# -- where no DDL may run --------------------------------------------------------------------


def test_existing_schema_mode_uses_the_audit_table_or_refuses_audited_writes(
    db_url: str,
) -> None:
    if db_url == "sqlite://":
        pytest.skip("an in-memory database is not shared between DataFlow instances")

    def define(db: DataFlow, audited: bool) -> None:
        class Entry:
            text: str
            __dataflow__ = {"audit_log": audited}

        db.model(Entry)

    # The model's table exists, the audit table does not: writes are refused, untouched.
    with DataFlow(db_url) as first:
        define(first, audited=False)
        one(first, "EntryCreateNode", {"text": "seed"})
    with DataFlow(db_url, existing_schema_mode=True) as guarded:
        define(guarded, audited=True)
        with pytest.raises(SchemaError) as info:
            one(guarded, "EntryCreateNode", {"text": "refused"})
        assert info.value.code == "DF-SCHEMA-AUDIT-TABLE-MISSING"
        assert "existing_schema_mode" in info.value.message
        with pytest.raises(SchemaError):
            one(guarded, "EntryBulkUpdateNode", {"all": True, "update": {"text": "x"}})
        assert one(guarded, "EntryCountNode", {}) == {"count": 1}
        assert one(guarded, "EntryCountNode", {"filter": {"text": "x"}}) == {"count": 0}
        assert guarded.audit_trail() == []
    # Once the table exists (created by a DataFlow that may), it is used.
    with DataFlow(db_url) as owner:
        define(owner, audited=True)
        owner.create_tables()
        assert "dataflow_audit_log" in owner.discover_schema()
        assert "DataflowAuditLog" not in owner.register_schema_as_models()["registered_models"]
    with DataFlow(db_url, existing_schema_mode=True) as guarded:
        define(guarded, audited=True)
        one(guarded, "EntryCreateNode", {"text": "audited"})
        (entry,) = guarded.audit_trail("Entry")
        assert entry["after"]["text"] == "audited"
