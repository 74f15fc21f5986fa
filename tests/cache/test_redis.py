"""The Redis cache against real Redis servers: shared by processes, exact types, and
correct answers whatever happens to Redis (killed, paused, down at start, back)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import subprocess
import sys
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from dataflow_engine import DataFlow
from tests.cache.conftest import RedisServer, drop_prefix, eventually
from tests.support import one

ROOT = Path(__file__).resolve().parents[2]


def _people(db: DataFlow) -> DataFlow:
    @db.model
    class Person:
        name: str

    return db


def _names(db: DataFlow) -> list[str]:
    return [r["name"] for r in one(db, "PersonListNode", {})["records"]]


class Peer:
    """Another OS process running DataFlow on the same database and Redis."""

    def __init__(self, database_url: str, cache_url: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.cache.peer", database_url, cache_url],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, command: str) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the peer process ended (exit {self.proc.poll()})"
        return json.loads(line)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture
def peer_url(backend: str, db_url: str) -> str:
    if backend == "sqlite-memory":
        pytest.skip("an in-memory database cannot be shared by two processes")
    return db_url


def test_two_processes_share_answers_and_see_each_others_writes(
    peer_url: str, shared_redis: str
) -> None:
    with DataFlow(peer_url, cache=shared_redis) as db:
        _people(db).create_tables()
        one(db, "PersonCreateNode", {"name": "ann"})
        peer = Peer(peer_url, shared_redis)
        try:
            assert peer.ask("names") == ["ann"]  # B: a miss, stored in Redis
            assert peer.ask("stats")["misses"] == 1
            assert _names(db) == ["ann"]  # A: served from B's answer
            assert db.cache_stats()["hits"] == 1
            assert peer.ask("names") == ["ann"]
            assert peer.ask("stats")["hits"] == 1

            one(db, "PersonCreateNode", {"name": "bob"})  # A writes ...
            assert peer.ask("names") == ["ann", "bob"]  # ... B reads it right after
            assert peer.ask("count") == 2

            peer.ask("create cy")  # and the other way round
            assert _names(db) == ["ann", "bob", "cy"]
            assert one(db, "PersonCountNode", {})["count"] == 3
        finally:
            peer.close()


def test_answers_read_back_from_redis_keep_their_exact_types(
    tmp_path: Path, shared_redis: str
) -> None:
    url = f"sqlite:///{tmp_path / 'types.db'}"

    def model(db: DataFlow) -> None:
        @db.model
        class Row:
            price: Decimal
            at: dt.datetime
            day: dt.date
            ref: uuid.UUID
            blob: bytes
            meta: dict  # type: ignore[type-arg]
            score: float | None = None

    values = {
        "price": Decimal("-0.10"),
        "at": dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
        "day": dt.date(1999, 12, 31),
        "ref": uuid.uuid4(),
        "blob": bytes(range(256)),
        "meta": {"nested": [1, 2.5, "three", None, {"t": True}]},
        "score": float("inf"),
    }
    with DataFlow(url, cache=shared_redis) as a, DataFlow(url, cache=shared_redis) as b:
        model(a)
        model(b)
        one(a, "RowCreateNode", values)
        stored = one(a, "RowListNode", {})
        read = one(b, "RowListNode", {})  # b has no local copy: decoded from Redis
        assert b.cache_stats()["hits"] == 1
        assert read == stored
        for name, value in values.items():
            got = read["records"][0][name]
            assert got == value and type(got) is type(value), name


def _cached_rows(server: RedisServer, tmp_path: Path, prefix: str) -> DataFlow:
    db = DataFlow(
        f"sqlite:///{tmp_path / 'app.db'}", cache=f"{server.url}?prefix={prefix}&timeout=0.2"
    )
    _people(db)
    for name in ("ann", "bob"):
        one(db, "PersonCreateNode", {"name": name})
    return db


def _outage_warnings(caplog: pytest.LogCaptureFixture) -> int:
    return sum("unavailable" in r.getMessage() for r in caplog.records)


@pytest.fixture
def private_server(private_redis: RedisServer) -> Iterator[RedisServer]:
    private_redis.start()
    yield private_redis


def test_killing_redis_mid_run_changes_no_answer(
    private_server: RedisServer,
    tmp_path: Path,
    prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="dataflow_engine.cache")
    with _cached_rows(private_server, tmp_path, prefix) as db:
        assert _names(db) == ["ann", "bob"]
        assert _names(db) == ["ann", "bob"]
        assert db.cache_stats()["hits"] == 1
        private_server.kill()
        for _ in range(5):
            assert _names(db) == ["ann", "bob"]
        one(db, "PersonCreateNode", {"name": "cy"})
        assert _names(db) == ["ann", "bob", "cy"]
        assert one(db, "PersonCountNode", {})["count"] == 3
        stats = db.cache_stats()
        assert stats["available"] is False and stats["errors"] >= 1
        assert _outage_warnings(caplog) == 1  # once per outage, not per call


def test_a_write_while_redis_is_unreachable_is_never_hidden_afterwards(
    private_server: RedisServer, tmp_path: Path, prefix: str
) -> None:
    # Paused, not killed: Redis keeps the answers stored before the write.
    with _cached_rows(private_server, tmp_path, prefix) as db:
        assert one(db, "PersonCountNode", {})["count"] == 2
        assert _names(db) == ["ann", "bob"]
        private_server.pause()
        one(db, "PersonCreateNode", {"name": "cy"})  # the invalidation cannot reach Redis
        assert db.cache_stats()["pending_invalidations"] > 0
        private_server.resume()
        for _ in range(3):
            assert _names(db) == ["ann", "bob", "cy"]
            assert one(db, "PersonCountNode", {})["count"] == 3
        # Once Redis answers again the pending invalidation goes first, then hits resume.
        hits = db.cache_stats()["hits"]

        def caught_up() -> bool:
            assert _names(db) == ["ann", "bob", "cy"]
            return bool(db.cache_stats()["hits"] > hits)

        assert eventually(caught_up)
        assert db.cache_stats()["pending_invalidations"] == 0
        assert one(db, "PersonCountNode", {})["count"] == 3


def test_redis_down_at_start_then_back(
    private_redis: RedisServer,
    tmp_path: Path,
    prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="dataflow_engine.cache")
    with _cached_rows(private_redis, tmp_path, prefix) as db:  # nothing listens yet
        for _ in range(3):
            assert _names(db) == ["ann", "bob"]
        assert _outage_warnings(caplog) == 1
        assert db.cache_stats()["hits"] == 0
        private_redis.start()

        def used_again() -> bool:
            assert _names(db) == ["ann", "bob"]
            return bool(db.cache_stats()["hits"] > 0)

        assert eventually(used_again)
        one(db, "PersonCreateNode", {"name": "cy"})
        assert _names(db) == ["ann", "bob", "cy"]
        assert db.cache_stats()["available"] is True
        assert any("available again" in r.getMessage() for r in caplog.records)


def test_importing_the_engine_does_not_import_redis() -> None:
    code = (
        "import sys, dataflow_engine\n"
        "db = dataflow_engine.DataFlow(cache='memory')\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'redis'], 'redis imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_a_missing_redis_package_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "redis.py"
    blocker.write_text("raise ImportError('no redis here')\n")
    code = (
        "import dataflow_engine\n"
        "try:\n"
        "    dataflow_engine.DataFlow(cache='redis://127.0.0.1:1/0')\n"
        "except dataflow_engine.DataFlowError as exc:\n"
        "    print(exc.code)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert out.stdout.strip() == "DF-DB-DRIVER-MISSING"


def test_keys_live_under_the_prefix(tmp_path: Path, shared_redis: str, prefix: str) -> None:
    from tests.cache.conftest import REDIS_URL, redis_client

    with DataFlow(f"sqlite:///{tmp_path / 'k.db'}", cache=shared_redis) as db:
        _people(db)
        one(db, "PersonCreateNode", {"name": "ann"})
        _names(db)
        stats = db.cache_stats()
        assert stats["entries"] == 1 and stats["bytes"] > 0 and stats["prefix"] == prefix
    client: Any = redis_client(REDIS_URL)
    keys = [k.decode() for k in client.scan_iter(match=f"{prefix}:*")]
    client.close()
    assert keys and all(k.startswith(f"{prefix}:") for k in keys)
    drop_prefix(REDIS_URL, prefix)


def test_damaged_or_hostile_entries_in_redis_are_never_served(
    tmp_path: Path, shared_redis: str, prefix: str
) -> None:
    from tests.cache.conftest import REDIS_URL, redis_client

    url = f"sqlite:///{tmp_path / 'd.db'}"
    with DataFlow(url, cache=shared_redis) as a, DataFlow(url, cache=shared_redis) as b:
        _people(a)
        _people(b)
        one(a, "PersonCreateNode", {"name": "ann"})
        assert _names(a) == ["ann"]
        client: Any = redis_client(REDIS_URL)
        try:
            for key in client.scan_iter(match=f"{prefix}:v:*"):
                header = client.get(key).split(b"[", 1)[0].split(b"{", 1)[0]
                client.set(key, header + b'["e:os.system","echo hacked"]')
            assert _names(b) == ["ann"]  # b has no local copy: it reads the damaged entry
            for key in client.scan_iter(match=f"{prefix}:v:*"):
                client.set(key, b"\x80\x04garbage")
        finally:
            client.close()
        assert one(b, "PersonCountNode", {})["count"] == 1
        assert _names(a) == ["ann"]


def test_the_health_check_reports_the_cache(
    private_redis: RedisServer, tmp_path: Path, prefix: str
) -> None:
    with _cached_rows(private_redis, tmp_path, prefix) as db:  # nothing listens yet
        assert db.health()["cache"]["status"] == "down"
        assert _names(db) == ["ann", "bob"]
        private_redis.start()
        assert eventually(lambda: db.health()["cache"]["status"] == "up")
        assert db.health()["cache"]["backend"] == "redis"
