"""Concurrent writers: upserts of one key from many threads leave one row and lose no
increment; concurrent bulk upserts never duplicate a key."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from dataflow_engine import DataFlow
from tests.support import one


def _shared(db_url: str, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'shared.db'}" if db_url == "sqlite://" else db_url


def _threads(n: int, work: object) -> list[BaseException]:
    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            work(k)  # type: ignore[operator]
        except BaseException as exc:  # collected and asserted by the caller
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


@pytest.mark.parametrize("writers", [12])
def test_concurrent_upserts_of_one_key(db: DataFlow, writers: int) -> None:
    @db.model
    class Tally:
        key: str
        hits: int = 0
        __dataflow__ = {"unique": [["key"]]}

    db.create_tables()
    params = {"where": {"key": "k"}, "create": {"hits": 1}, "update": {"$inc": {"hits": 1}}}
    actions: list[str] = []

    def work(_: int) -> None:
        actions.append(one(db, "TallyUpsertNode", params)["action"])

    assert _threads(writers, work) == []
    rows = one(db, "TallyListNode", {})["records"]
    assert len(rows) == 1 and rows[0]["hits"] == writers
    assert actions.count("created") == 1


def test_concurrent_bulk_upserts_never_duplicate_a_key(db: DataFlow) -> None:
    @db.model
    class Item:
        sku: str
        qty: int = 0

    db.create_tables()
    totals = {"inserted": 0, "updated": 0}
    lock = threading.Lock()

    def work(k: int) -> None:
        data = [{"sku": f"s{i}", "qty": k} for i in range(20)]
        out = one(db, "ItemBulkUpsertNode", {"data": data, "match_fields": ["sku"]})
        with lock:
            totals["inserted"] += out["inserted"]
            totals["updated"] += out["updated"]

    assert _threads(6, work) == []
    assert one(db, "ItemCountNode", {})["count"] == 20
    assert totals == {"inserted": 20, "updated": 100}


def test_keyset_pages_see_every_existing_row_once_while_rows_are_inserted(
    db: DataFlow,
) -> None:
    @db.model
    class Event:
        kind: str
        score: int | None = None

    data = [
        {"kind": f"k{i % 37}", "score": None if i % 11 == 0 else (i * 7919) % 1000}
        for i in range(10_000)
    ]
    existing = set(one(db, "EventBulkCreateNode", {"data": data, "return_ids": True})["ids"])
    stop = threading.Event()
    inserted = [0]

    def inserter() -> None:
        n = 0
        while not stop.is_set() and n < 200:
            one(
                db,
                "EventBulkCreateNode",
                {
                    "data": [
                        {"kind": f"new{n}", "score": (n * 31) % 1000},
                        {"kind": "k0", "score": None},
                    ]
                },
            )
            n += 1
        inserted[0] = n

    worker = threading.Thread(target=inserter)
    worker.start()
    seen: list[int] = []
    cursor = None
    try:
        while True:
            params: dict[str, object] = {
                "order_by": ["-score", "kind"],
                "limit": 500,
                "fields": ["id"],
            }
            if cursor:
                params["cursor"] = cursor
            out = one(db, "EventListNode", params)
            seen += [r["id"] for r in out["records"]]
            cursor = out["next_cursor"]
            if cursor is None:
                break
    finally:
        stop.set()
        worker.join(60)
    assert inserted[0] > 0
    counts: dict[int, int] = {}
    for i in seen:
        counts[i] = counts.get(i, 0) + 1
    assert all(counts.get(i) == 1 for i in existing), "an existing row was missed or repeated"
    assert max(counts.values()) == 1
