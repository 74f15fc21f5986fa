"""The query cache on every database backend, with each cache backend (the in-process LRU
and Redis): hits, exact types, invalidation by every write node kind, tenants, workflow
transactions; the LRU's bounds; configuration."""

from __future__ import annotations

import datetime as dt
import enum
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest

from dataflow_engine import ConfigurationError, DataFlow, WorkflowError
from tests.support import one, run


class Level(enum.Enum):
    LOW = "low"
    HIGH = "high"


def _users(db: DataFlow) -> DataFlow:
    @db.model
    class User:
        name: str
        email: str
        age: int
        department: str
        active: bool = True
        __dataflow__ = {"unique": [["email"]], "soft_delete": True}

    return db


def _seed(db: DataFlow, n: int = 4) -> list[int]:
    data = [
        {"name": f"u{i}", "email": f"u{i}@x.io", "age": 20 + i, "department": "eng"}
        for i in range(n)
    ]
    return list(one(db, "UserBulkCreateNode", {"data": data, "return_ids": True})["ids"])


def _stats(db: DataFlow) -> tuple[int, int]:
    s = db.cache_stats()
    return s["hits"], s["misses"]


def test_a_repeated_read_is_a_hit_after_a_miss(cached: DataFlow) -> None:
    ids = _seed(_users(cached))
    for node, params in (
        ("UserListNode", {"filter": {"age": {"$gte": 21}}, "order_by": ["-age"], "limit": 2}),
        ("UserReadNode", {"id": ids[1]}),
        ("UserCountNode", {"filter": {"department": "eng"}}),
    ):
        hits, misses = _stats(cached)
        first = one(cached, node, params)
        assert _stats(cached) == (hits, misses + 1)
        second = one(cached, node, params)
        assert _stats(cached) == (hits + 1, misses + 1)
        assert second == first
    stats = cached.cache_stats()
    assert stats["backend"] in ("memory", "redis")
    assert stats["entries"] == 3 and stats["bytes"] > 0
    assert stats["hit_ratio"] == 0.5


def test_other_parameters_are_other_entries(cached: DataFlow) -> None:
    _seed(_users(cached))
    by_age = one(cached, "UserListNode", {"order_by": [{"age": -1}], "limit": 1})
    by_name = one(cached, "UserListNode", {"order_by": [{"name": 1}], "limit": 1})
    assert by_age["records"][0]["name"] == "u3" and by_name["records"][0]["name"] == "u0"
    # Two spellings of one query are two entries, with the same answer.
    assert one(cached, "UserCountNode", {"filter": {"age": 21}})["count"] == 1
    assert one(cached, "UserCountNode", {"filter": {"age": {"$eq": 21}}})["count"] == 1
    assert _stats(cached) == (0, 4)
    # A read that includes deleted records is another query.
    one(cached, "UserDeleteNode", {"filter": {"name": "u0"}})
    assert one(cached, "UserCountNode", {})["count"] == 3
    assert one(cached, "UserCountNode", {"include_deleted": True})["count"] == 4


def _typed(db: DataFlow) -> None:
    @db.model
    class Item:
        name: str
        price: Decimal
        ratio: float
        seen_at: dt.datetime
        day: dt.date
        at: dt.time
        ref: uuid.UUID
        blob: bytes
        level: Level
        flag: bool
        meta: dict  # type: ignore[type-arg]
        tags: list[str]
        note: str | None = None


def test_answers_keep_their_exact_types_and_callers_cannot_change_them(
    cached: DataFlow,
) -> None:
    _typed(cached)
    values: dict[str, Any] = {
        "name": "ünï ☃",
        "price": Decimal("12.50"),
        "ratio": 0.1,
        "seen_at": dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC),
        "day": dt.date(2024, 2, 29),
        "at": dt.time(23, 59, 58),
        "ref": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "blob": b"\x00\xff\x10",
        "level": Level.HIGH,
        "flag": False,
        "meta": {"k": [1, {"x": None}]},
        "tags": ["a", "b"],
    }
    created = one(cached, "ItemCreateNode", values)
    first = one(cached, "ItemListNode", {})
    first["records"][0]["meta"]["k"].append("poison")
    first["records"][0]["tags"].clear()
    first["records"].append({"id": -1})
    read = one(cached, "ItemReadNode", {"id": created["id"]})
    read["name"] = "poison"
    second = one(cached, "ItemListNode", {})
    again = one(cached, "ItemReadNode", {"id": created["id"]})
    assert _stats(cached) == (2, 2)
    assert second["count"] == 1 and len(second["records"]) == 1
    record = second["records"][0]
    for name, value in values.items():
        assert record[name] == value and type(record[name]) is type(value), name
        assert again[name] == value and type(again[name]) is type(value), name
    assert record["note"] is None
    assert record["meta"] == {"k": [1, {"x": None}]} and record["tags"] == ["a", "b"]


def _write_cases(ids: list[int]) -> list[tuple[str, dict[str, Any], int]]:
    """(node, params, how many live users then) for every write node kind."""
    new = {"name": "n", "email": "n@x.io", "age": 50, "department": "ops"}
    return [
        ("UserCreateNode", new, 5),
        ("UserUpdateNode", {"id": ids[0], "fields": {"department": "ops"}}, 4),
        ("UserDeleteNode", {"id": ids[0]}, 3),
        ("UserUpsertNode", {"where": {"email": "n@x.io"}, "create": new, "update": {}}, 5),
        ("UserBulkCreateNode", {"data": [new, {**new, "email": "m@x.io"}]}, 6),
        ("UserBulkUpdateNode", {"filter": {"age": {"$gte": 22}}, "update": {"age": 99}}, 4),
        ("UserBulkDeleteNode", {"filter": {"age": {"$lt": 22}}}, 2),
        ("UserBulkUpsertNode", {"data": [new], "match_fields": ["email"]}, 5),
    ]


@pytest.mark.parametrize("case", range(8), ids=lambda i: _write_cases([0])[i][0])
def test_every_write_node_kind_invalidates_its_model(cached: DataFlow, case: int) -> None:
    ids = _seed(_users(cached))
    node, params, expected = _write_cases(ids)[case]
    read: dict[str, Any] = {"filter": {"department": "eng"}, "order_by": ["id"]}
    before = one(cached, "UserListNode", read)
    one(cached, "UserCountNode", {})
    one(cached, "UserReadNode", {"id": ids[0]})
    assert one(cached, "UserListNode", read) == before  # cached
    one(cached, node, params)
    assert one(cached, "UserCountNode", {})["count"] == expected
    after = one(cached, "UserListNode", read)
    assert after["records"] == _uncached_list(cached, read)
    if node in ("UserUpdateNode", "UserDeleteNode"):
        found = one(cached, "UserReadNode", {"id": ids[0], "raise_on_not_found": False})
        assert found.get("department") == "ops" if node == "UserUpdateNode" else not found["found"]


def _uncached_list(db: DataFlow, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The same List inside a workflow transaction, which the cache never answers."""
    return list(run(db, ("UserListNode", "n", params), transaction=True)["n"]["records"])


def test_a_write_in_one_workflow_is_seen_by_the_next_node_of_it(cached: DataFlow) -> None:
    _seed(_users(cached))
    assert one(cached, "UserCountNode", {})["count"] == 4
    new = {"name": "n", "email": "n@x.io", "age": 50, "department": "ops"}
    out = run(cached, ("UserCreateNode", "c", new), ("UserCountNode", "n", {}))
    assert out["n"]["count"] == 5


def test_reads_in_a_transaction_bypass_the_cache_and_writes_invalidate_after_commit(
    cached: DataFlow,
) -> None:
    _seed(_users(cached))
    assert one(cached, "UserCountNode", {})["count"] == 4
    entries = cached.cache_stats()["entries"]
    new = {"name": "n", "email": "n@x.io", "age": 50, "department": "ops"}
    out = run(
        cached,
        ("UserCreateNode", "c", new),
        ("UserCountNode", "n", {}),
        ("UserListNode", "l", {}),
        transaction=True,
    )
    assert out["n"]["count"] == 5 and out["l"]["count"] == 5
    stats = cached.cache_stats()
    # Nothing read inside the transaction was stored, nor served.
    assert stats["entries"] == entries and stats["bypassed"] >= 2 and stats["hits"] == 0
    assert one(cached, "UserCountNode", {})["count"] == 5  # the commit invalidated


def test_a_rolled_back_transaction_leaves_correct_answers(cached: DataFlow) -> None:
    _seed(_users(cached))
    assert one(cached, "UserCountNode", {})["count"] == 4
    dup = {"name": "d", "email": "u0@x.io", "age": 1, "department": "x"}
    new = {"name": "n", "email": "n@x.io", "age": 50, "department": "ops"}
    with pytest.raises(WorkflowError):
        run(cached, ("UserCreateNode", "a", new), ("UserCreateNode", "b", dup), transaction=True)
    assert one(cached, "UserCountNode", {})["count"] == 4
    # A failed write outside a transaction still invalidates (it may have written).
    with pytest.raises(WorkflowError):
        one(cached, "UserCreateNode", dup)
    assert one(cached, "UserCountNode", {})["count"] == 4


def test_tenants_never_share_answers(cached: DataFlow) -> None:
    @cached.model
    class Note:
        text: str
        __dataflow__ = {"multi_tenant": True}

    one(cached, "NoteCreateNode", {"text": "a1"}, tenant_id="a")
    one(cached, "NoteCreateNode", {"text": "a2"}, tenant_id="a")
    one(cached, "NoteCreateNode", {"text": "b1"}, tenant_id="b")
    for _ in range(2):
        assert one(cached, "NoteCountNode", {}, tenant_id="a")["count"] == 2
        assert one(cached, "NoteCountNode", {}, tenant_id="b")["count"] == 1
        names = [r["text"] for r in one(cached, "NoteListNode", {}, tenant_id="b")["records"]]
        assert names == ["b1"]
    assert _stats(cached) == (3, 3)


def test_two_instances_on_one_database_invalidate_each_other(
    backend: str, db_url: str, cached: DataFlow
) -> None:
    if backend == "sqlite-memory":
        pytest.skip("an in-memory database belongs to one DataFlow")
    _seed(_users(cached))
    with DataFlow(db_url, cache=cached.settings.cache) as other:
        _users(other)
        assert one(cached, "UserCountNode", {})["count"] == 4
        assert one(other, "UserCountNode", {})["count"] == 4
        one(other, "UserDeleteNode", {"filter": {"name": "u0"}})
        assert one(cached, "UserCountNode", {})["count"] == 3


def test_writes_outside_dataflow_are_seen_after_invalidate_cache(
    backend: str, db_url: str, cached: DataFlow
) -> None:
    if backend == "sqlite-memory":
        pytest.skip("an in-memory database belongs to one DataFlow")
    _seed(_users(cached))
    assert one(cached, "UserCountNode", {})["count"] == 4
    with DataFlow(db_url) as outside:  # no cache: its writes are not announced
        _users(outside)
        one(outside, "UserDeleteNode", {"filter": {"name": "u0"}})
    assert one(cached, "UserCountNode", {})["count"] == 4  # the documented caveat
    cached.invalidate_cache("User")
    assert one(cached, "UserCountNode", {})["count"] == 3
    cached.invalidate_cache()  # every model
    assert one(cached, "UserCountNode", {})["count"] == 3


def test_the_lru_is_bounded_by_entries_and_bytes(db_url: str) -> None:
    with DataFlow(db_url, cache="memory://?max_entries=2") as db:
        _seed(_users(db))
        for age in (20, 21, 22):
            one(db, "UserCountNode", {"filter": {"age": age}})
        assert db.cache_stats()["entries"] == 2
        one(db, "UserCountNode", {"filter": {"age": 22}})  # most recent: kept
        one(db, "UserCountNode", {"filter": {"age": 20}})  # least recent: evicted
        assert _stats(db) == (1, 4)
    with DataFlow(db_url, cache="memory://?max_bytes=3000") as db:
        _users(db)
        if not one(db, "UserCountNode", {})["count"]:  # in memory: a database of its own
            _seed(db)
        one(db, "UserListNode", {})
        one(db, "UserListNode", {"limit": 3})
        one(db, "UserListNode", {"limit": 2})
        stats = db.cache_stats()
        assert 0 < stats["bytes"] <= 3000 and stats["entries"] < 3


def test_entries_expire_after_ttl(db_url: str) -> None:
    with DataFlow(db_url, cache="memory://?ttl=0.05") as db:
        _seed(_users(db))
        one(db, "UserCountNode", {})
        time.sleep(0.1)
        one(db, "UserCountNode", {})
        assert _stats(db) == (0, 2)


def test_no_cache_by_default_and_the_switches(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATAFLOW_CACHE_URL", raising=False)
    with DataFlow(db_url) as db:
        assert db.cache_stats()["backend"] is None
    monkeypatch.setenv("DATAFLOW_CACHE_URL", "memory")
    with DataFlow(db_url) as db:
        assert db.cache_stats()["backend"] == "memory"
    with DataFlow(db_url, cache=False) as db:  # wins over the variable
        assert db.cache_stats()["backend"] is None
    with DataFlow(db_url, cache="off") as db:
        assert db.cache_stats()["backend"] is None


@pytest.mark.parametrize(
    "setting",
    [
        "memcached://x",
        "memory://?max_entries=0",
        "memory://?max_entries=ten",
        "memory://?ttl=-1",
        "memory://?tll=5",
        "memory://?prefix=x",
        "redis://h/0?timeout=0",
        "redis://h/0?prefix=a b",
        "redis://h/0?unknown=1",
        "x" * 5000,
        42,
        ["memory"],
    ],
)
def test_a_bad_cache_setting_is_a_clear_error(setting: Any) -> None:
    with pytest.raises(ConfigurationError) as info:
        DataFlow(cache=setting)
    assert info.value.code == "DF-CONFIG-CACHE"
    assert "cache" in info.value.message


def test_a_redis_password_never_appears_in_errors() -> None:
    with pytest.raises(ConfigurationError) as info:
        DataFlow(cache="redis://user:s3cret@host/0?nope=1")
    assert "s3cret" not in str(info.value)


def test_concurrent_readers_never_miss_a_completed_write(cached: DataFlow) -> None:
    import threading

    _users(cached)
    done = 0
    lock = threading.Lock()
    failures: list[str] = []

    def worker(t: int) -> None:
        nonlocal done
        for i in range(8):
            new = {"name": f"w{t}", "email": f"w{t}-{i}@x.io", "age": i, "department": "c"}
            one(cached, "UserCreateNode", new)
            with lock:
                done += 1
                floor = done
            seen = one(cached, "UserCountNode", {"filter": {"department": "c"}})["count"]
            if seen < floor:
                failures.append(f"saw {seen} after {floor} completed writes")

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert failures == []
    assert one(cached, "UserCountNode", {"filter": {"department": "c"}})["count"] == 32
