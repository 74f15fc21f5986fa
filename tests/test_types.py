"""Every type of the type table round-trips to the same Python type, on every backend."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal

import pytest

from dataflow_engine import DataFlow
from tests.support import one


class Color(str, enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.Enum):
    LOW = 1
    HIGH = 2


VALUES = {
    "s": "héllo wörld ✓ 🎉",
    "i": -(2**62) + 7,
    "f": 3.141592653589793,
    "b": False,
    "d": Decimal("12345678901234567890.0123456789"),
    "ts": dt.datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=dt.UTC),
    "day": dt.date(1999, 12, 31),
    "t": dt.time(13, 14, 15, 16),
    "u": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "raw": bytes(range(256)),
    "doc": {"nested": {"list": [1, 2.5, "x", None, True]}, "ünï": "✓"},
    "items": [1, "two", {"three": 3}],
    "tags": ["a", "b"],
    "color": Color.GREEN,
    "level": Level.HIGH,
}


@pytest.fixture
def typed(db: DataFlow) -> DataFlow:
    @db.model
    class Everything:
        s: str
        i: int
        f: float
        b: bool
        d: Decimal
        ts: dt.datetime
        day: dt.date
        t: dt.time
        u: uuid.UUID
        raw: bytes
        doc: dict
        items: list
        tags: list[str]
        color: Color
        level: Level
        maybe: int | None = None

    return db


def _assert_same(row: dict[str, object]) -> None:
    for name, value in VALUES.items():
        assert row[name] == value, name
        assert type(row[name]) is type(value), name
    assert row["maybe"] is None


def test_round_trip_through_create_read_and_list(typed: DataFlow) -> None:
    created = one(typed, "EverythingCreateNode", dict(VALUES))
    _assert_same(created)
    _assert_same(one(typed, "EverythingReadNode", {"id": created["id"]}))
    _assert_same(one(typed, "EverythingListNode", {})["records"][0])


def test_round_trip_through_bulk_create(typed: DataFlow) -> None:
    one(typed, "EverythingBulkCreateNode", {"data": [dict(VALUES), dict(VALUES)]})
    rows = one(typed, "EverythingListNode", {})["records"]
    assert len(rows) == 2
    for row in rows:
        _assert_same(row)


def test_filters_on_typed_values(typed: DataFlow) -> None:
    one(typed, "EverythingCreateNode", dict(VALUES))
    other = dict(
        VALUES,
        d=Decimal("9.5"),
        ts=VALUES["ts"] - dt.timedelta(days=400),  # type: ignore[operator]
        day=dt.date(2001, 1, 1),
        u=uuid.uuid4(),
        color=Color.RED,
        b=True,
        i=5,
    )
    one(typed, "EverythingCreateNode", other)

    def count(flt: dict[str, object]) -> int:
        return int(one(typed, "EverythingCountNode", {"filter": flt})["count"])

    assert count({"d": {"$gt": Decimal("10")}}) == 1
    assert count({"d": {"$lt": "100"}}) == 1  # decimal ordering is numeric, not textual
    assert count({"d": Decimal("9.50")}) == 1  # equal decimals match whatever the scale
    assert count({"ts": {"$gte": dt.datetime(2024, 1, 1, tzinfo=dt.UTC)}}) == 1
    assert count({"ts": {"$gte": "2023-06-01T00:00:00+00:00"}}) == 1
    assert count({"day": {"$lt": dt.date(2000, 1, 1)}}) == 1
    assert count({"u": VALUES["u"]}) == 1
    assert count({"u": str(VALUES["u"])}) == 1
    assert count({"color": "red"}) == 1
    assert count({"color": {"$in": [Color.RED, "green"]}}) == 2
    assert count({"b": True}) == 1
    assert count({"level": Level.HIGH}) == 2
    assert count({"i": {"$gt": 4, "$lt": 6}}) == 1


def test_naive_datetimes_are_taken_as_utc(typed: DataFlow) -> None:
    values = dict(VALUES, ts=dt.datetime(2024, 5, 6, 7, 8, 9))
    row = one(typed, "EverythingCreateNode", values)
    assert row["ts"] == dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)


def test_other_time_zones_are_the_same_instant(typed: DataFlow) -> None:
    tz = dt.timezone(dt.timedelta(hours=5, minutes=30))
    local = dt.datetime(2024, 5, 6, 12, 0, tzinfo=tz)
    row = one(typed, "EverythingCreateNode", dict(VALUES, ts=local))
    assert row["ts"] == local and row["ts"].utcoffset() == dt.timedelta(0)


def test_decimal_order_is_numeric_and_offset_works_without_limit(db: DataFlow) -> None:
    @db.model
    class Price:
        amount: Decimal

    one(
        db,
        "PriceBulkCreateNode",
        {"data": [{"amount": a} for a in ("10.00", "9.50", "100", "-1.5", "9.499")]},
    )
    rows = one(db, "PriceListNode", {"order_by": ["amount"]})["records"]
    assert [r["amount"] for r in rows] == [
        Decimal(x) for x in ("-1.5", "9.499", "9.50", "10.00", "100")
    ]
    rows = one(db, "PriceListNode", {"order_by": ["-amount"], "offset": 3})["records"]
    assert [r["amount"] for r in rows] == [Decimal("9.499"), Decimal("-1.5")]
    first = one(db, "PriceListNode", {"order_by": ["amount"], "limit": 2})
    rest = one(
        db, "PriceListNode", {"order_by": ["amount"], "limit": 5, "cursor": first["next_cursor"]}
    )
    assert [r["amount"] for r in rest["records"]] == [Decimal(x) for x in ("9.50", "10.00", "100")]


def test_regex_word_boundaries_mean_the_same_everywhere(db: DataFlow) -> None:
    @db.model
    class Phrase:
        text: str

    one(
        db,
        "PhraseBulkCreateNode",
        {"data": [{"text": t} for t in ("Ann Lee", "Annie", "joANN", "ann")]},
    )

    def matching(flt: dict[str, object]) -> list[str]:
        rows = one(db, "PhraseListNode", {"filter": {"text": flt}, "order_by": ["text"]})
        return [r["text"] for r in rows["records"]]

    assert matching({"$regex": r"\bAnn\b"}) == ["Ann Lee"]
    assert matching({"$regex": r"\bann\b", "$options": "i"}) == ["Ann Lee", "ann"]
    assert matching({"$regex": r"^ann$", "$options": "i"}) == ["ann"]
    assert matching({"$not": {"$regex": "^Ann"}}) == ["ann", "joANN"]
