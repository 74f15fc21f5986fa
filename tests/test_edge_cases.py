"""Edge cases found by trying to break the engine: each is a promise a user relies on."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from dataflow_engine import (
    AsyncLocalRuntime,
    DataFlow,
    DataFlowError,
    FilterError,
    LocalRuntime,
    ModelError,
    UnsupportedError,
    ValidationError,
    WorkflowBuilder,
    WorkflowError,
    WorkflowValidationError,
)
from dataflow_engine.errors import QueryTimeout
from tests.support import one


def _file(db_url: str, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'edge.db'}" if db_url == "sqlite://" else db_url


@pytest.fixture
def items(db: DataFlow) -> DataFlow:
    @db.model
    class Item:
        name: str
        qty: int = 0
        price: Decimal | None = None
        note: str | None = None

    db.create_tables()
    return db


def test_malformed_connection_in_a_definition_refuses_the_run(items: DataFlow) -> None:
    one(items, "ItemBulkCreateNode", {"data": [{"name": f"n{i}"} for i in range(5)]})
    definition = {
        "nodes": [
            {"id": "first", "type": "ItemReadNode", "params": {"filter": {"name": "n0"}}},
            {"id": "del", "type": "ItemBulkDeleteNode", "params": {"filter": {"qty": 0}}},
        ],
        "connections": [{"from": "first", "to": "del.filter.name"}],
    }
    with pytest.raises(WorkflowValidationError) as info:
        LocalRuntime(dataflow=items).execute(definition)
    assert "DF-CONNECTION-MALFORMED" in str(info.value)
    with pytest.raises(WorkflowValidationError):
        LocalRuntime(dataflow=items).execute({"nodes": "oops"})
    assert one(items, "ItemCountNode", {})["count"] == 5


def test_composed_empty_filters_do_not_bypass_the_bulk_guard(items: DataFlow) -> None:
    one(items, "ItemBulkCreateNode", {"data": [{"name": "a"}, {"name": "b"}]})
    for flt in ({"$and": [{}]}, {"$or": [{}]}, {"$and": [{}, {"$or": [{}]}]}):
        with pytest.raises(WorkflowValidationError) as info:
            one(items, "ItemBulkDeleteNode", {"filter": flt})
        assert "DF-PARAM-UNSAFE-BULK" in str(info.value)
    assert one(items, "ItemCountNode", {})["count"] == 2


def test_concurrent_upserts_without_a_unique_constraint(items: DataFlow) -> None:
    params = {"where": {"name": "only"}, "create": {"qty": 1}, "update": {"$inc": {"qty": 1}}}
    errors: list[BaseException] = []

    def work() -> None:
        try:
            one(items, "ItemUpsertNode", params)
        except BaseException as exc:  # asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    rows = one(items, "ItemListNode", {"filter": {"name": "only"}})["records"]
    assert [r["qty"] for r in rows] == [10]


def test_upsert_copies_eq_and_and_equalities_into_the_new_record(items: DataFlow) -> None:
    for where in ({"name": {"$eq": "x"}}, {"$and": [{"name": "y"}, {"qty": {"$gte": 0}}]}):
        for _ in range(2):
            one(
                items,
                "ItemUpsertNode",
                {"where": where, "create": {"qty": 1}, "update": {"$inc": {"qty": 1}}},
            )
    rows = {r["name"]: r["qty"] for r in one(items, "ItemListNode", {})["records"]}
    assert rows == {"x": 2, "y": 2}


def test_integer_overflow_is_an_error_not_a_float(items: DataFlow) -> None:
    row = one(items, "ItemCreateNode", {"name": "big", "qty": 2**63 - 1})
    with pytest.raises(DataFlowError) as info:
        one(items, "ItemUpdateNode", {"id": row["id"], "fields": {"$inc": {"qty": 1}}})
    assert info.value.code.startswith("DF-DB-")
    back = one(items, "ItemReadNode", {"id": row["id"]})
    assert back["qty"] == 2**63 - 1 and type(back["qty"]) is int


def test_bulk_upsert_matches_decimals_by_value(items: DataFlow) -> None:
    one(items, "ItemCreateNode", {"name": "d", "price": Decimal("1.5")})
    out = one(
        items,
        "ItemBulkUpsertNode",
        {"data": [{"name": "e", "price": Decimal("1.50")}], "match_fields": ["price"]},
    )
    assert out == {"inserted": 0, "updated": 1}


def test_bulk_upsert_on_generated_ids_inserts_unknown_ids_as_given(items: DataFlow) -> None:
    row = one(items, "ItemCreateNode", {"name": "a"})
    out = one(
        items,
        "ItemBulkUpsertNode",
        {"data": [{"id": row["id"], "name": "b"}], "match_fields": ["id"]},
    )
    assert out == {"inserted": 0, "updated": 1}
    out = one(
        items,
        "ItemBulkUpsertNode",
        {"data": [{"id": 424242, "name": "c"}], "match_fields": ["id"]},
    )
    assert out == {"inserted": 1, "updated": 0}
    assert one(items, "ItemReadNode", {"id": 424242})["name"] == "c"
    assert one(items, "ItemCreateNode", {"name": "d"})["id"] == 424243


def test_bulk_upsert_bumps_versions(db: DataFlow) -> None:
    @db.model
    class Doc:
        key: str
        body: str = ""
        __dataflow__ = {"versioned": True}

    row = one(db, "DocCreateNode", {"key": "k"})
    one(db, "DocBulkUpsertNode", {"data": [{"key": "k", "body": "new"}], "match_fields": ["key"]})
    assert one(db, "DocReadNode", {"id": row["id"]})["version"] == 2


def test_keyset_pages_with_nulls_in_a_descending_key(items: DataFlow) -> None:
    one(
        items,
        "ItemBulkCreateNode",
        {
            "data": [
                {"name": "a", "note": None},
                {"name": "a", "note": "x"},
                {"name": "b", "note": None},
                {"name": "b", "note": "y"},
                {"name": "c", "note": None},
            ]
        },
    )
    seen: list[int] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"order_by": ["name", "-note"], "limit": 2}
        if cursor:
            params["cursor"] = cursor
        out = one(items, "ItemListNode", params)
        seen += [r["id"] for r in out["records"]]
        cursor = out["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 5


def test_limit_zero_and_huge_limits(items: DataFlow) -> None:
    one(items, "ItemCreateNode", {"name": "a"})
    out = one(items, "ItemListNode", {"limit": 0, "with_total": True})
    assert out == {"records": [], "count": 0, "total": 1, "next_cursor": None}
    with pytest.raises(WorkflowValidationError) as info:
        one(items, "ItemListNode", {"limit": 2**63})
    assert "DF-PARAM-RANGE" in str(info.value)


def test_long_or_lists_compile_on_every_database(items: DataFlow) -> None:
    one(
        items,
        "ItemBulkCreateNode",
        {"data": [{"name": f"n{i}", "price": Decimal(i)} for i in range(50)]},
    )
    flt = {"$or": [{"name": f"n{i}"} for i in range(1500)]}
    assert one(items, "ItemCountNode", {"filter": flt})["count"] == 50
    prices = [Decimal(i) for i in range(1200)]
    assert one(items, "ItemCountNode", {"filter": {"price": {"$in": prices}}})["count"] == 50


def test_regex_end_anchor_and_unportable_constructs(items: DataFlow) -> None:
    one(items, "ItemBulkCreateNode", {"data": [{"name": "abc\n"}, {"name": "abc"}]})
    assert one(items, "ItemCountNode", {"filter": {"name": {"$regex": "abc$"}}})["count"] == 2
    for pattern in ("(?i)abc", "(?P<x>a)", "a++", "(?>a)"):
        with pytest.raises(WorkflowValidationError) as info:
            one(items, "ItemCountNode", {"filter": {"name": {"$regex": pattern}}})
        assert "DF-UNSUPPORTED" in str(info.value)


def test_extreme_values_round_trip_or_are_refused_clearly(db: DataFlow) -> None:
    @db.model
    class When:
        at: dt.datetime
        n: float = 0.0

    for value in (dt.datetime(1, 1, 1, tzinfo=dt.UTC), dt.datetime.max.replace(tzinfo=dt.UTC)):
        try:
            row = one(db, "WhenCreateNode", {"at": value})
        except DataFlowError as exc:
            assert exc.code in ("DF-PARAM-RANGE", "DF-DB-DATA")
            continue
        assert row["at"] == value
    with pytest.raises(WorkflowValidationError):
        one(db, "WhenCreateNode", {"at": dt.datetime.now(dt.UTC), "n": 10**400})


def test_unstorable_text_is_a_clear_error(items: DataFlow) -> None:
    with pytest.raises(DataFlowError) as info:
        one(items, "ItemCreateNode", {"name": "lone \ud800 surrogate"})
    assert info.value.code.startswith("DF-")
    assert one(items, "ItemCountNode", {})["count"] == 0


def test_reserved_output_names_and_bad_options_are_model_errors() -> None:
    db = DataFlow()
    try:
        with pytest.raises(ModelError):
            db.model(type("Flag", (), {"__annotations__": {"found": bool}}))
        with pytest.raises(ModelError):
            db.model(
                type("Idx", (), {"__annotations__": {"a": int}, "__dataflow__": {"indexes": 5}})
            )
    finally:
        db.close()


def test_bad_filter_shapes_and_files_raise_engine_errors(items: DataFlow, tmp_path: Path) -> None:
    with pytest.raises(WorkflowValidationError):
        one(items, "ItemCountNode", {"filter": {"name": {"$options": None}}})
    deep: dict[str, Any] = {"name": "x"}
    for _ in range(500):
        deep = {"$not": deep}
    with pytest.raises(WorkflowValidationError):
        one(items, "ItemCountNode", {"filter": deep})
    with pytest.raises(ValidationError) as info:
        WorkflowBuilder.load(tmp_path / "missing.json")
    assert info.value.code == "DF-WORKFLOW-FILE"
    (tmp_path / "bad.yaml").write_text("nodes: [unclosed")
    with pytest.raises(ValidationError):
        WorkflowBuilder.load(tmp_path / "bad.yaml")
    with pytest.raises(ValidationError):
        LocalRuntime(dataflow=items).execute(WorkflowBuilder().build(), parameters="x")  # type: ignore[arg-type]


def test_composite_key_read_accepts_a_list(db: DataFlow) -> None:
    @db.model
    class Pair:
        a: str
        b: int
        v: str = ""
        __dataflow__ = {"primary_key": ["a", "b"]}

    one(db, "PairCreateNode", {"a": "x", "b": 1, "v": "ok"})
    assert one(db, "PairReadNode", {"id": ["x", 1]})["v"] == "ok"


def test_closed_instance_refuses_create_tables(items: DataFlow) -> None:
    items.close()
    with pytest.raises(DataFlowError) as info:
        items.create_tables()
    assert info.value.code == "DF-CONFIG-CLOSED"


def test_cancelled_async_run_writes_nothing(db_url: str, tmp_path: Path) -> None:
    """A caller that gives up (a timeout) stops the work: a retry never runs it twice."""
    url = _file(db_url, tmp_path)
    db = DataFlow(url)
    try:

        @db.model
        class Log:
            line: str

        db.create_tables()
        wf = WorkflowBuilder()
        wf.add_node(
            "LogBulkCreateNode", "bulk", {"data": [{"line": f"l{i}"} for i in range(300_000)]}
        )
        built = wf.build(db)

        async def impatient() -> None:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(AsyncLocalRuntime(dataflow=db).execute(built), 0.05)

        asyncio.run(impatient())
        # Wait until the engine has settled, then look.
        for _ in range(100):
            count = one(db, "LogCountNode", {})["count"]
            if count in (0, 300_000):
                break
        assert one(db, "LogCountNode", {})["count"] == 0
    finally:
        db.close()


def test_sqlite_file_written_by_another_connection_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    db = DataFlow(f"sqlite:///{path}")
    try:

        @db.model
        class Note:
            text: str

        db.create_tables()
        raw = sqlite3.connect(path)
        raw.execute(
            "INSERT INTO notes (text, created_at, updated_at) VALUES ('x', "
            "'2024-01-01T00:00:00.000000+00:00', '2024-01-01T00:00:00.000000+00:00')"
        )
        raw.commit()
        raw.close()
        row = one(db, "NoteReadNode", {"filter": {"text": "x"}})
        assert row["created_at"] == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    finally:
        db.close()


def test_filter_errors_are_filter_errors() -> None:
    from dataflow_engine.models import build_model
    from dataflow_engine.query import parse_filter

    model = build_model(type("M", (), {"__annotations__": {"a": str}}))
    with pytest.raises(UnsupportedError):
        parse_filter({"a": {"$regex": "(?i)x"}}, model)
    with pytest.raises(FilterError):
        parse_filter({"a": {"$options": "i"}}, model)


def test_hostile_documents_get_clear_answers(items: DataFlow) -> None:
    one(items, "ItemBulkCreateNode", {"data": [{"name": f"n{i}", "qty": i} for i in range(30)]})
    big = list(range(100_000))
    assert one(items, "ItemCountNode", {"filter": {"qty": {"$in": big}}})["count"] == 30
    assert one(items, "ItemCountNode", {"filter": {"qty": {"$nin": big}}})["count"] == 0
    names = [f"n{i}" for i in range(100_000)]
    assert one(items, "ItemCountNode", {"filter": {"name": {"$in": names}}})["count"] == 30
    for key in ('name"; DROP TABLE items; --', "name/*", "$gt", "na`me", "name) OR (1=1"):
        with pytest.raises(WorkflowValidationError) as info:
            one(items, "ItemCountNode", {"filter": {key: 1}})
        assert info.value.diagnostics[0].code in (
            "DF-FILTER-UNKNOWN-FIELD",
            "DF-FILTER-UNKNOWN-OPERATOR",
        )
    deep: dict[str, Any] = {"qty": 1}
    for _ in range(1000):
        deep = {"$and": [deep]}
    with pytest.raises(WorkflowValidationError) as info:
        one(items, "ItemCountNode", {"filter": deep})
    assert "levels deep" in str(info.value)
    assert one(items, "ItemCountNode", {})["count"] == 30


def test_json_equality_never_matches_null_and_ne_keeps_it(db: DataFlow) -> None:
    @db.model
    class Blob:
        j: dict | None = None

    one(db, "BlobBulkCreateNode", {"data": [{"j": {"a": 1}}, {"j": None}, {"j": {"a": 2}}]})
    assert one(db, "BlobCountNode", {"filter": {"j": {"a": 1}}})["count"] == 1
    assert one(db, "BlobCountNode", {"filter": {"j": {"$ne": {"a": 1}}}})["count"] == 2
    assert one(db, "BlobBulkDeleteNode", {"filter": {"j": {"a": 1}}}) == {"deleted": 1}
    assert one(db, "BlobCountNode", {})["count"] == 2


def test_arithmetic_on_key_fields_is_refused(db: DataFlow) -> None:
    @db.model
    class Slot:
        zone: str
        n: int
        __dataflow__ = {"primary_key": ["zone", "n"]}

    one(db, "SlotCreateNode", {"zone": "a", "n": 1})
    with pytest.raises(WorkflowValidationError) as info:
        one(db, "SlotUpdateNode", {"id": ["a", 1], "fields": {"$inc": {"n": 1}}})
    assert "DF-FILTER-UPDATE" in str(info.value)
    row = one(db, "SlotUpdateNode", {"id": ["a", 1], "fields": {"n": 2}})
    assert (row["zone"], row["n"]) == ("a", 2)


def test_infinite_floats_round_trip_or_are_refused(db: DataFlow) -> None:
    @db.model
    class Reading:
        v: float

    for value in (float("inf"), float("-inf")):
        try:
            row = one(db, "ReadingCreateNode", {"v": value})
        except DataFlowError as exc:
            assert exc.code == "DF-PARAM-RANGE"
            continue
        assert row["v"] == value


def test_a_catastrophic_regex_is_the_right_answer_or_a_clear_error(db_url: str) -> None:
    """(a|aa)+ against 3,000 a's backtracks exponentially in PCRE and Python: MariaDB's
    PCRE gives up and would answer 'no match' with only a warning, Python's engine would
    run for ever. Each backend must either find the match ('b' is in the text) or say it
    gave up; never a wrong answer, never a hang."""
    db = DataFlow(db_url, command_timeout=1.0)
    try:

        @db.model
        class Text:
            s: str

        one(db, "TextBulkCreateNode", {"data": [{"s": "a" * 3000 + "!b"}, {"s": "b"}]})
        started = time.monotonic()
        try:
            found = one(db, "TextCountNode", {"filter": {"s": {"$regex": "(^(a|aa)+$)|b"}}})
        except WorkflowError as exc:
            # the pattern's own limit, or the statement's timeout when that came first
            assert isinstance(exc, QueryTimeout), exc
            assert exc.code in ("DF-DB-REGEX-LIMIT", "DF-DB-TIMEOUT")
        else:
            assert found["count"] == 2  # the right answer
        assert time.monotonic() - started < 20
        # The connection is still good afterwards.
        assert one(db, "TextCountNode", {"filter": {"s": {"$regex": "^b$"}}})["count"] == 1
    finally:
        db.close()
