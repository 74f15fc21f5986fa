"""A dropped database connection: a clear error, and the next workflow reconnects."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from dataflow_engine import ConnectionLost, DataFlow
from tests.support import one


def _kill_mysql(db: DataFlow, *, active_only: bool = False) -> int:
    import asyncmy

    url = db.settings.url

    async def kill() -> int:
        conn = await asyncmy.connect(
            host=url.host,
            port=url.port or 3306,
            user=url.username,
            password=url.password or "",
            autocommit=True,
        )
        try:
            async with conn.cursor() as cur:
                await cur.execute(
                    "SELECT id FROM information_schema.processlist WHERE db = %s "
                    "AND id <> CONNECTION_ID()"
                    + (" AND command = 'Query' AND info LIKE 'UPDATE%%'" if active_only else ""),
                    (url.database,),
                )
                ids = [r[0] for r in await cur.fetchall()]
                for pid in ids:
                    await cur.execute(f"KILL {int(pid)}")
                return len(ids)
        finally:
            conn.close()

    return asyncio.run(kill())


def _kill_backends(db: DataFlow, *, active_only: bool = False) -> int:
    if db.dialect.name == "mysql":
        return _kill_mysql(db, active_only=active_only)
    """Terminate every server session of this DataFlow's database (as an admin would)."""
    import asyncpg

    url = db.settings.url

    async def kill() -> int:
        conn = await asyncpg.connect(
            host=url.host, port=url.port, user=url.username, database=url.database
        )
        try:
            rows = await conn.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid() "
                "AND application_name = 'dataflow'",
                url.database,
            )
            return len(rows)
        finally:
            await conn.close()

    return asyncio.run(kill())


def test_dropped_connection_mid_workflow_then_reconnect(db: DataFlow) -> None:
    if db.dialect.name == "sqlite":
        # SQLite has no server connection to lose: the same workflow keeps working.
        @db.model
        class Ping:
            n: int

        assert one(db, "PingCreateNode", {"n": 1})["n"] == 1
        return

    @db.model
    class Ping:  # type: ignore[no-redef]
        n: int

    row = one(db, "PingCreateNode", {"n": 1})
    url = db.settings.url
    schema = url.schema
    release = threading.Event()
    locked = threading.Event()

    def hold_row_lock() -> None:
        if db.dialect.name == "mysql":
            from tests.test_errors import _mysql

            asyncio.run(
                _mysql(
                    str(db.settings.url.raw_scheme) + "://" + _my_auth(db),
                    "BEGIN",
                    f"SELECT 1 FROM pings WHERE id = {row['id']} FOR UPDATE",
                    hold=release,
                    locked=locked,
                )
            )
            return
        import asyncpg

        async def go() -> None:
            conn = await asyncpg.connect(
                host=url.host, port=url.port, user=url.username, database=url.database
            )
            tx = conn.transaction()
            await tx.start()
            await conn.execute(
                f'SELECT 1 FROM "{schema}".pings WHERE id = $1 FOR UPDATE', row["id"]
            )
            locked.set()
            while not release.is_set():
                await asyncio.sleep(0.05)
            await tx.rollback()
            await conn.close()

        asyncio.run(go())

    holder = threading.Thread(target=hold_row_lock)
    holder.start()
    outcome: list[BaseException | None] = []

    def blocked_workflow() -> None:
        try:
            one(db, "PingUpdateNode", {"id": row["id"], "fields": {"n": 2}})
            outcome.append(None)
        except BaseException as exc:  # collected and asserted below
            outcome.append(exc)

    try:
        assert locked.wait(10)
        worker = threading.Thread(target=blocked_workflow)
        worker.start()
        deadline = time.monotonic() + 10
        while _kill_backends(db, active_only=True) == 0:  # kill it while it waits
            assert time.monotonic() < deadline
            time.sleep(0.05)
        worker.join(20)
    finally:
        release.set()
        holder.join()
    assert len(outcome) == 1 and isinstance(outcome[0], ConnectionLost), outcome
    assert outcome[0].code == "DF-DB-CONNECTION-LOST"
    assert "reconnect" in str(outcome[0])
    assert one(db, "PingUpdateNode", {"id": row["id"], "fields": {"n": 3}})["n"] == 3
    # Idle connections killed behind the pool's back are replaced too.
    _kill_backends(db)
    time.sleep(0.2)
    for n in (4, 5):
        try:
            one(db, "PingCreateNode", {"n": n})
        except ConnectionLost:  # at most one call may see the dead connection
            continue
    assert one(db, "PingCreateNode", {"n": 6})["n"] == 6


def _my_auth(db: DataFlow) -> str:
    url = db.settings.url
    return f"{url.username}@{url.host}:{url.port or 3306}/{url.database}"


def test_unreachable_server_is_a_connect_error() -> None:
    from dataflow_engine.errors import ConnectError

    db = DataFlow("postgresql://nobody:secret@127.0.0.1:1/nothing", pool_timeout=3)
    try:

        @db.model
        class Nowhere:
            n: int

        with pytest.raises(ConnectError) as info:
            one(db, "NowhereCountNode", {})
        assert "secret" not in str(info.value)  # passwords never leak into messages
    finally:
        db.close()
