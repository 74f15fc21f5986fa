"""MigrationLockManager: one holder at a time across processes, on every backend.

Processes are real (``sys.executable`` running a small script), the databases are real,
and a holder that dies is killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dataflow_engine import ConfigurationError, DataFlow, MigrationError, MigrationLockTimeout
from dataflow_engine.config import parse_url
from dataflow_engine.migrations import MigrationLockManager
from dataflow_engine.migrations._lock import _mysql_lock_name, _postgres_lock_key
from tests.conftest import mysql_admin, pg_admin

BACKENDS = ["sqlite-file", "postgresql", "mysql"]
on_every_backend = pytest.mark.parametrize("backend", BACKENDS)

STALE_AFTER = 2.0  # seconds; SQLite's takeover of a dead holder waits this long

WORKER = textwrap.dedent(
    """
    import asyncio, os, sys, time
    from pathlib import Path

    from dataflow_engine import DataFlow
    from dataflow_engine.migrations import MigrationLockManager

    mode, url, lock, folder = sys.argv[1:5]
    folder = Path(folder)
    pid = os.getpid()
    db = DataFlow(url)
    locks = MigrationLockManager(db, stale_after=float(sys.argv[5]))

    def log(line):
        with open(folder / "log.txt", "a") as f:
            f.write(f"{line} {pid}\\n")

    def barrier():
        (folder / f"ready-{pid}").touch()
        while not (folder / "go").exists():
            time.sleep(0.01)

    async def rounds_async(n):
        for _ in range(n):
            async with locks.acquire_migration_lock(lock, timeout=30):
                log("start")
                await asyncio.sleep(0.1)
                log("end")
            await asyncio.sleep(0.01)

    def rounds_sync(n):
        for _ in range(n):
            with locks.lock(lock, timeout=30):
                log("start")
                time.sleep(0.1)
                log("end")
            time.sleep(0.01)

    if mode == "async":
        barrier()
        asyncio.run(rounds_async(int(sys.argv[6])))
    elif mode == "sync":
        barrier()
        rounds_sync(int(sys.argv[6]))
    else:  # "hold": take the lock and keep it until killed
        with locks.lock(lock, timeout=30):
            (folder / "held").write_text(str(pid))
            time.sleep(600)
    db.close()
    """
)


@pytest.fixture
def lock_name() -> str:
    return f"test_lock_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Any]:
    """Start worker processes (``worker(mode, url, lock, *args)``); killed after the test."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    procs: list[subprocess.Popen[str]] = []

    def start(mode: str, url: str, lock: str, *args: object) -> subprocess.Popen[str]:
        argv = [sys.executable, str(script), mode, url, lock, str(tmp_path), str(STALE_AFTER)]
        proc = subprocess.Popen(
            [*argv, *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def _wait_for(condition: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture
def pair(db_url: str) -> Iterator[tuple[MigrationLockManager, MigrationLockManager]]:
    """Two managers on two DataFlows of the same database (as two processes would be)."""
    first, second = DataFlow(db_url), DataFlow(db_url)
    yield (
        MigrationLockManager(first, stale_after=STALE_AFTER),
        MigrationLockManager(second, stale_after=STALE_AFTER),
    )
    first.close()
    second.close()


# -- across processes --------------------------------------------------------------------


@on_every_backend
def test_two_processes_never_hold_the_lock_at_once(
    db_url: str, lock_name: str, worker: Any, tmp_path: Path
) -> None:
    rounds = 4
    procs = [worker(api, db_url, lock_name, rounds) for api in ("async", "sync")]
    _wait_for(lambda: len(list(tmp_path.glob("ready-*"))) == 2, "both workers to start")
    (tmp_path / "go").touch()
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    lines = [line.split() for line in (tmp_path / "log.txt").read_text().splitlines()]
    assert len(lines) == 2 * 2 * rounds
    # Every start is followed by the end of the same process: no two bodies overlapped.
    for (event, pid), (next_event, next_pid) in zip(lines[::2], lines[1::2], strict=True):
        assert (event, next_event, next_pid) == ("start", "end", pid), lines
    assert sorted(pid for event, pid in lines if event == "end") == sorted(
        [str(p.pid) for p in procs] * rounds
    )


@on_every_backend
def test_a_killed_holder_releases_the_lock(
    db_url: str,
    backend: str,
    lock_name: str,
    worker: Any,
    tmp_path: Path,
    pair: tuple[MigrationLockManager, MigrationLockManager],
) -> None:
    locks, _ = pair
    holder = worker("hold", db_url, lock_name)
    _wait_for(lambda: (tmp_path / "held").exists() or holder.poll() is not None, "the holder")
    assert holder.poll() is None, holder.communicate()[1]

    assert asyncio.run(locks.is_locked(lock_name))
    who = asyncio.run(locks.holder(lock_name))
    assert who is not None and who["lock"] == lock_name and who["since"] is not None
    if backend != "mysql":  # MySQL cannot tell the client's process id here
        assert who["pid"] == holder.pid
    if backend != "sqlite-file":
        assert who["connection_id"] is not None
    with pytest.raises(MigrationLockTimeout) as caught, locks.lock(lock_name, wait=False):
        pass
    assert repr(lock_name) in caught.value.message
    if backend != "mysql":
        assert f"process {holder.pid}" in caught.value.message

    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(10)
    # PostgreSQL and MySQL free it when the connection drops; SQLite once the dead
    # holder's heartbeat is STALE_AFTER old. Either way, well within the timeout.
    with locks.lock(lock_name, timeout=20) as mine:
        assert mine["pid"] == os.getpid()
        now = asyncio.run(locks.holder(lock_name))
        assert now is not None and now["connection_id"] == mine["connection_id"]
        if backend != "mysql":
            assert now["pid"] == os.getpid()
    assert not asyncio.run(locks.is_locked(lock_name))


@pytest.mark.parametrize("backend", ["sqlite-file"])
def test_a_live_sqlite_holder_keeps_the_lock_past_stale_after(
    pair: tuple[MigrationLockManager, MigrationLockManager], lock_name: str
) -> None:
    # A blocking body that never touches the engine: the heartbeat must go on regardless.
    first, second = pair
    with first.lock(lock_name):
        time.sleep(2 * STALE_AFTER + 0.5)
        with pytest.raises(MigrationLockTimeout), second.lock(lock_name, wait=False):
            pass
        who = asyncio.run(second.holder(lock_name))
        assert who is not None and not who["stale"] and who["heartbeat_at"] > who["since"]


# -- timeouts, re-entry, release ---------------------------------------------------------


@on_every_backend
@pytest.mark.asyncio
async def test_wait_false_and_timeout_raise_naming_the_lock(
    pair: tuple[MigrationLockManager, MigrationLockManager], lock_name: str
) -> None:
    first, second = pair
    async with first.acquire_migration_lock(lock_name):
        with pytest.raises(MigrationLockTimeout) as no_wait:
            async with second.acquire_migration_lock(lock_name, wait=False):
                pytest.fail("acquired a held lock")
        assert no_wait.value.code == "DF-MIGRATION-LOCK-TIMEOUT"
        assert repr(lock_name) in no_wait.value.message
        assert "wait=False" in no_wait.value.message
        assert no_wait.value.details["holder"]["pid"] in (os.getpid(), None)

        started = time.monotonic()
        with pytest.raises(MigrationLockTimeout) as timed_out:
            async with second.acquire_migration_lock(lock_name, timeout=0.3):
                pytest.fail("acquired a held lock")
        assert time.monotonic() - started >= 0.3  # it did wait
        assert repr(lock_name) in timed_out.value.message
        assert "0.3s" in timed_out.value.message
        assert timed_out.value.details["lock"] == lock_name
    async with second.acquire_migration_lock(lock_name, wait=False):
        assert await first.is_locked(lock_name)


@on_every_backend
@pytest.mark.asyncio
async def test_the_lock_is_not_reentrant(
    pair: tuple[MigrationLockManager, MigrationLockManager], lock_name: str
) -> None:
    locks, _ = pair
    same_db = MigrationLockManager(locks.dataflow)
    async with locks.acquire_migration_lock(lock_name):
        for manager in (locks, same_db):
            with pytest.raises(MigrationError) as caught:
                async with manager.acquire_migration_lock(lock_name, timeout=10):
                    pytest.fail("took a lock this task holds")
            assert caught.value.code == "DF-MIGRATION-LOCK-REENTRANT"
            assert repr(lock_name) in caught.value.message
        with pytest.raises(MigrationError, match="not re-entrant"), locks.lock(lock_name):
            pass
        assert await locks.is_locked(lock_name)  # the refused attempts changed nothing
        async with locks.acquire_migration_lock(lock_name + "_other", wait=False):
            pass  # another name is another lock
    assert not await locks.is_locked(lock_name)


@on_every_backend
@pytest.mark.asyncio
async def test_other_tasks_of_the_process_wait_their_turn(
    pair: tuple[MigrationLockManager, MigrationLockManager], lock_name: str
) -> None:
    locks, _ = pair
    events: list[str] = []
    first_in = asyncio.Event()

    async def body(tag: str) -> None:
        if tag == "b":
            await first_in.wait()
        async with locks.acquire_migration_lock(lock_name, timeout=20):
            events.append(f"start {tag}")
            first_in.set()
            await asyncio.sleep(0.2)
            events.append(f"end {tag}")

    await asyncio.gather(body("a"), body("b"))
    assert events == ["start a", "end a", "start b", "end b"]


@on_every_backend
@pytest.mark.asyncio
async def test_an_exception_in_the_body_releases_the_lock(
    pair: tuple[MigrationLockManager, MigrationLockManager], lock_name: str
) -> None:
    first, second = pair
    with pytest.raises(RuntimeError, match="migration failed"):
        async with first.acquire_migration_lock(lock_name):
            raise RuntimeError("migration failed")
    assert not await second.is_locked(lock_name)
    with pytest.raises(RuntimeError, match="script failed"), first.lock(lock_name):
        raise RuntimeError("script failed")
    async with second.acquire_migration_lock(lock_name, wait=False):
        assert await first.is_locked(lock_name)


@on_every_backend
@pytest.mark.asyncio
async def test_a_cancelled_waiter_leaves_nothing_behind(
    pair: tuple[MigrationLockManager, MigrationLockManager], lock_name: str
) -> None:
    first, second = pair

    async def take() -> None:
        async with second.acquire_migration_lock(lock_name, timeout=30):
            pytest.fail("acquired a held lock")

    async with first.acquire_migration_lock(lock_name):
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(take(), 0.3)
    deadline = time.monotonic() + 10
    while await first.is_locked(lock_name):  # eventually: the waiter's attempts have stopped
        assert time.monotonic() < deadline, await first.holder(lock_name)
        await asyncio.sleep(0.05)
    async with second.acquire_migration_lock(lock_name, wait=False):
        pass


@on_every_backend
@pytest.mark.asyncio
async def test_a_lock_lost_during_the_body_is_reported(
    pair: tuple[MigrationLockManager, MigrationLockManager],
    lock_name: str,
    backend: str,
    db_url: str,
) -> None:
    first, second = pair
    with pytest.raises(MigrationError) as caught:
        async with first.acquire_migration_lock(lock_name) as mine:
            await asyncio.to_thread(_break_lock, backend, db_url, lock_name, mine)
            deadline = time.monotonic() + 10
            while await second.is_locked(lock_name):  # a server ends a session soon, not at once
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
    assert caught.value.code == "DF-MIGRATION-LOCK-LOST"
    assert repr(lock_name) in caught.value.message
    async with second.acquire_migration_lock(lock_name, timeout=10):
        pass


def _break_lock(backend: str, url: str, lock: str, mine: dict[str, Any]) -> None:
    """End a holder's claim from outside, as an admin (or a takeover) would."""
    if backend == "sqlite-file":
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        conn.execute("DELETE FROM dataflow_migration_lock WHERE name = ?", (lock,))
        conn.commit()
        conn.close()
    elif backend == "postgresql":
        database = parse_url(url).database
        pg_admin(f"SELECT pg_terminate_backend({int(mine['connection_id'])})", database)
    else:
        mysql_admin(f"KILL {int(mine['connection_id'])}")


# -- what each database sees -------------------------------------------------------------


def test_lock_keys_are_stable_and_fit_the_server() -> None:
    # Pinned: changing the key would let old and new versions migrate at the same time.
    assert _postgres_lock_key("dataflow_migrations") == -5523996912943757802
    digest = hashlib.sha256(b"v42").digest()[:8]
    assert _postgres_lock_key("v42") == int.from_bytes(digest, "big", signed=True)
    assert _mysql_lock_name("app", "dataflow_migrations") == "app.dataflow_migrations"
    long = _mysql_lock_name("d" * 40, "x" * 40)
    assert len(long) == 64 and long.startswith("dataflow:")
    assert long != _mysql_lock_name("d" * 40, "x" * 39 + "y")


@pytest.mark.parametrize("backend", ["postgresql", "mysql"])
@pytest.mark.asyncio
async def test_other_tools_see_the_same_lock(
    pair: tuple[MigrationLockManager, MigrationLockManager],
    lock_name: str,
    backend: str,
    db_url: str,
) -> None:
    locks, _ = pair
    url = parse_url(db_url)
    async with locks.acquire_migration_lock(lock_name):
        if backend == "postgresql":
            import asyncpg

            conn = await asyncpg.connect(
                host=url.host, port=url.port, user=url.username, database=url.database
            )
            try:
                key = _postgres_lock_key(lock_name)
                assert await conn.fetchval("SELECT pg_try_advisory_lock($1)", key) is False
            finally:
                await conn.close()
        else:
            import asyncmy

            conn = await asyncmy.connect(host=url.host, port=url.port, user=url.username)
            try:
                async with conn.cursor() as cur:
                    await cur.execute("SELECT IS_USED_LOCK(%s)", (f"{url.database}.{lock_name}",))
                    assert (await cur.fetchone())[0] is not None
            finally:
                conn.close()


@on_every_backend
def test_existing_schema_mode_takes_no_ddl(db_url: str, backend: str, lock_name: str) -> None:
    with DataFlow(db_url, existing_schema_mode=True) as guarded:
        locks = MigrationLockManager(guarded)
        if backend == "sqlite-file":
            with pytest.raises(MigrationError) as caught, locks.lock(lock_name):
                pass
            assert caught.value.code == "DF-MIGRATION-LOCK-UNAVAILABLE"
            assert "dataflow_migration_lock" in caught.value.message
            assert "existing_schema_mode" in caught.value.message
            assert not asyncio.run(locks.is_locked(lock_name))
            # Once the table exists (created by a DataFlow that may run DDL), the lock is
            # only rows: existing-schema mode may take it.
            with DataFlow(db_url) as owner, MigrationLockManager(owner).lock(lock_name):
                pass
        with locks.lock(lock_name, wait=False):
            assert asyncio.run(locks.is_locked(lock_name))


@on_every_backend
def test_read_only(db_url: str, backend: str, lock_name: str) -> None:
    with DataFlow(db_url) as owner, MigrationLockManager(owner).lock(lock_name):
        pass  # on SQLite: the lock table now exists
    with DataFlow(db_url, read_only=True) as reader:
        locks = MigrationLockManager(reader)
        assert not asyncio.run(locks.is_locked(lock_name))
        if backend != "sqlite-file":  # a server lock is no write
            with locks.lock(lock_name, wait=False):
                assert asyncio.run(locks.is_locked(lock_name))
            return
        with pytest.raises(MigrationError) as caught, locks.lock(lock_name):
            pass
        assert caught.value.code == "DF-MIGRATION-LOCK-UNAVAILABLE"
        assert "read_only" in caught.value.message


def test_bad_arguments_are_refused_up_front() -> None:
    with DataFlow() as db:
        with pytest.raises(ConfigurationError, match="stale_after"):
            MigrationLockManager(db, stale_after=0)
        with pytest.raises(ConfigurationError, match="lock_name"):
            MigrationLockManager(db, lock_name="")
        locks = MigrationLockManager(db)
        with pytest.raises(ConfigurationError, match="timeout"), locks.lock(timeout=-1):
            pass
