"""A dropped database connection: a clear error, and the next workflow reconnects."""

from __future__ import annotations

import asyncio

import pytest

from dataflow_engine import ConnectionLost, DataFlow
from tests.support import one


def _kill_backends(db: DataFlow) -> int:
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
    if db.dialect.name != "postgresql":
        # SQLite has no server connection to lose: the same workflow keeps working.
        @db.model
        class Ping:
            n: int

        assert one(db, "PingCreateNode", {"n": 1})["n"] == 1
        return

    @db.model
    class Ping:  # type: ignore[no-redef]
        n: int

    one(db, "PingCreateNode", {"n": 1})
    assert _kill_backends(db) >= 1
    with pytest.raises(ConnectionLost) as info:
        one(db, "PingCreateNode", {"n": 2})
    assert info.value.code == "DF-DB-CONNECTION-LOST"
    assert "reconnect" in str(info.value)
    assert one(db, "PingCreateNode", {"n": 3})["n"] == 3
    assert one(db, "PingCountNode", {})["count"] == 2


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
