"""The cache's pure parts: key encoding, the exact JSON codec for Redis, snapshots and
the cache setting."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
import zoneinfo
from decimal import Decimal
from typing import Any

import pytest

from dataflow_engine.cache import parse_cache
from dataflow_engine.cache._codec import decode, encode, snapshot
from dataflow_engine.cache._keys import Uncacheable, digest, params_key


class Mood(enum.Enum):
    GOOD = 1
    BAD = "bad"


ENUMS = {f"{Mood.__module__}.{Mood.__qualname__}": Mood}


def _same(a: Any, b: Any) -> None:
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(a, float | Decimal) and a != a:
        assert b != b and str(a) == str(b)
    else:
        assert a == b


ANSWER: dict[str, Any] = {
    "records": [
        {
            "id": 2**70,
            "name": "lone \udc80 surrogate ☃",
            "price": Decimal("1.000"),
            "tiny": Decimal("-1E-30"),
            "at": dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=5))),
            "naive": dt.datetime(2024, 1, 1, 12),
            "day": dt.date(2024, 1, 1),
            "clock": dt.time(1, 2, 3, 4),
            "ref": uuid.UUID(int=7),
            "blob": b"\x00\x01",
            "mood": Mood.GOOD,
            "zero": -0.0,
            "nan": float("nan"),
            "json": {"a": [1, [2, {"b": None}]], "": "empty key"},
            "flag": True,
            "none": None,
        },
        {
            "id": 3,
            "name": "",
            "price": None,
            "tiny": Decimal("NaN"),
            "at": None,
            "naive": None,
            "day": None,
            "clock": None,
            "ref": None,
            "blob": b"",
            "mood": Mood.BAD,
            "zero": 1.5,
            "nan": float("-inf"),
            "json": [],
            "flag": False,
            "none": None,
        },
    ],
    "count": 2,
    "total": None,
    "next_cursor": "abc",
    "found": True,
    "odd": {1: "int key", (1, 2): ("a", dt.timedelta(days=-1, microseconds=5))},
    "ragged": [{"a": 1}, {"b": 2}, [Decimal("2")]],
}


def test_the_json_codec_gives_back_exact_types() -> None:
    _same(decode(encode(ANSWER, ENUMS), ENUMS), ANSWER)


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime(2024, 1, 1, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
        {1, 2},
        object(),
        Mood.GOOD,  # without the model's enums
    ],
)
def test_values_the_codec_cannot_hold_exactly_are_not_cached(value: Any) -> None:
    with pytest.raises(Uncacheable):
        encode({"records": [{"v": value}]}, {})


@pytest.mark.parametrize(
    "data", [b"", b"not json", b'["R", 1]', b'["e:nope.Enum", "X"]', b'["d", "abc"]', b"[[[[" * 5]
)
def test_damaged_data_raises_and_is_treated_as_a_miss(data: bytes) -> None:
    with pytest.raises(Exception):  # noqa: B017 - any error means "recompute"
        decode(data, ENUMS)


def test_snapshots_hand_out_fresh_copies() -> None:
    answer = {"records": [{"a": 1, "b": "x"}], "count": 1}
    snap = snapshot(answer)
    answer["records"][0]["a"] = 99
    first = snap.copy()
    first["records"][0]["a"] = 42
    first["records"].append({})
    assert snap.copy() == {"records": [{"a": 1, "b": "x"}], "count": 1}
    nested = {"records": [{"meta": {"k": [1]}}]}
    snap = snapshot(nested)
    snap.copy()["records"][0]["meta"]["k"].append(2)
    assert snap.copy() == {"records": [{"meta": {"k": [1]}}]}


def test_keys_are_stable_and_tell_values_and_orders_apart() -> None:
    base = {"filter": {"age": 1}, "order_by": [{"age": -1, "name": 1}], "_filter": object()}
    assert params_key(base) == params_key(dict(base))
    assert digest(params_key({"limit": 5})) == "6401086f907ac979ff95d82b9d95d515"
    different = [
        {"filter": {"age": 1}},
        {"filter": {"age": 1.0}},
        {"filter": {"age": True}},
        {"filter": {"age": "1"}},
        {"filter": {"age": Decimal("1")}},
        {"filter": {"age": Decimal("1.0")}},
        {"order_by": [{"age": -1, "name": 1}]},
        {"order_by": [{"name": 1, "age": -1}]},
        {"filter": {"a": "b", "c": ""}},
        {"filter": {"a": "b\x00c"}},
    ]
    assert len({params_key(p) for p in different}) == len(different)
    with pytest.raises(Uncacheable):
        params_key({"filter": {"age": {1, 2}}})


def test_the_cache_setting() -> None:
    assert parse_cache(None) is None and parse_cache(False) is None and parse_cache("off") is None
    assert parse_cache(True) == parse_cache("memory") == parse_cache(" Memory ")
    config = parse_cache("memory://?max_entries=5&max_bytes=1000&ttl=0")
    assert config is not None and config.max_entries == 5 and config.ttl is None
    config = parse_cache("redis://u:pw@h:6380/2?prefix=app&ttl=2.5&timeout=0.1&ssl_cert_reqs=none")
    assert config is not None and config.backend == "redis" and config.prefix == "app"
    assert config.url == "redis://u:pw@h:6380/2?ssl_cert_reqs=none"
    assert config.describe() == "redis://u:***@h:6380/2?ssl_cert_reqs=none"
    assert config.ttl == 2.5 and config.timeout == 0.1
