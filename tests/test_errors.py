"""Driver errors arrive translated: foreign keys, timeouts and lock conflicts."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from dataflow_engine import DataFlow, ForeignKeyViolation, QueryTimeout
from dataflow_engine.errors import SerializationFailure
from tests.support import one

PARENT_CHILD = [
    "CREATE TABLE parents (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, "
    "created_at TEXT, updated_at TEXT)",
    "CREATE TABLE children (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
    "parent_id INTEGER NOT NULL REFERENCES parents(id), created_at TEXT, updated_at TEXT)",
]
MY_PARENT_CHILD = [
    "CREATE TABLE parents (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
    "name VARCHAR(50) NOT NULL UNIQUE, "
    "created_at DATETIME(6), updated_at DATETIME(6)) ENGINE=InnoDB",
    "CREATE TABLE children (id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50) NOT NULL, "
    "parent_id BIGINT NOT NULL, created_at DATETIME(6), updated_at DATETIME(6), "
    "FOREIGN KEY (parent_id) REFERENCES parents(id)) ENGINE=InnoDB",
]
PG_PARENT_CHILD = [
    "CREATE TABLE {s}.parents (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE, "
    "created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ)",
    "CREATE TABLE {s}.children (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, "
    "parent_id BIGINT NOT NULL REFERENCES {s}.parents(id), created_at TIMESTAMPTZ, "
    "updated_at TIMESTAMPTZ)",
]


def _file_url(db_url: str, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'fk.db'}" if db_url == "sqlite://" else db_url


def _create_tables(url: str) -> None:
    """Create tables with a foreign key the way another tool would (raw driver)."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        for sql in PARENT_CHILD:
            conn.execute(sql)
        conn.commit()
        conn.close()
        return
    if url.startswith("mysql"):
        for sql in MY_PARENT_CHILD:
            asyncio.run(_mysql(url, sql))
        return
    import asyncpg

    base, schema = url.split("?schema=")

    async def go() -> None:
        conn = await asyncpg.connect(base)
        try:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            for sql in PG_PARENT_CHILD:
                await conn.execute(sql.format(s=f'"{schema}"'))
        finally:
            await conn.close()

    asyncio.run(go())


async def _mysql(
    url: str,
    *statements: str,
    hold: threading.Event | None = None,
    locked: threading.Event | None = None,
) -> None:
    """Run statements on a raw connection to the test database (setup only)."""
    import asyncmy

    from dataflow_engine.config import parse_url

    parsed = parse_url(url)
    conn = await asyncmy.connect(
        host=parsed.host,
        port=parsed.port or 3306,
        user=parsed.username,
        password=parsed.password or "",
        database=parsed.database,
        autocommit=True,
    )
    try:
        async with conn.cursor() as cur:
            for sql in statements:
                await cur.execute(sql)
            if locked is not None and hold is not None:
                locked.set()
                while not hold.is_set():
                    await asyncio.sleep(0.05)
                await cur.execute("ROLLBACK")
    finally:
        conn.close()


def test_foreign_key_violation_is_translated(db_url: str, tmp_path: Path) -> None:
    url = _file_url(db_url, tmp_path)
    _create_tables(url)
    db = DataFlow(url)
    try:

        @db.model
        class Parent:
            name: str

        @db.model
        class Child:
            name: str
            parent_id: int

        parent = one(db, "ParentCreateNode", {"name": "p"})
        one(db, "ChildCreateNode", {"name": "ok", "parent_id": parent["id"]})
        with pytest.raises(ForeignKeyViolation) as info:
            one(db, "ChildCreateNode", {"name": "orphan", "parent_id": 987654})
        assert info.value.code == "DF-DB-FOREIGN-KEY-VIOLATION"
        with pytest.raises(ForeignKeyViolation):
            one(db, "ParentDeleteNode", {"id": parent["id"]})
        assert one(db, "ChildCountNode", {})["count"] == 1
    finally:
        db.close()


def test_ignoring_duplicates_never_hides_another_error(db_url: str, tmp_path: Path) -> None:
    """on_conflict='ignore' skips duplicate keys only; a foreign-key error still raises,
    even after many skipped duplicates, and nothing is written."""
    url = _file_url(db_url, tmp_path)
    _create_tables(url)
    db = DataFlow(url)
    try:

        @db.model
        class Parent:
            name: str
            __dataflow__ = {"unique": [["name"]]}

        @db.model
        class Child:
            name: str
            parent_id: int

        parent = one(db, "ParentCreateNode", {"name": "p0"})
        rows = [{"name": "p0"}] * 80  # 80 duplicates: more warnings than MySQL shows by default
        assert one(db, "ParentBulkCreateNode", {"data": rows, "on_conflict": "ignore"}) == {
            "inserted": 0,
            "ids": None,
        }
        kids = [{"name": f"k{i}", "parent_id": parent["id"]} for i in range(70)]
        kids.append({"name": "orphan", "parent_id": 987654})
        with pytest.raises(ForeignKeyViolation):
            one(db, "ChildBulkCreateNode", {"data": kids, "on_conflict": "ignore"})
        assert one(db, "ChildCountNode", {})["count"] == 0
    finally:
        db.close()


def test_statement_blocked_past_the_timeout(db_url: str, tmp_path: Path) -> None:
    """Another session holds a lock; our statement gives up with a clear error."""
    url = _file_url(db_url, tmp_path)
    db = DataFlow(url, command_timeout=1.0)
    try:

        @db.model
        class Slot:
            name: str

        row = one(db, "SlotCreateNode", {"name": "a"})
        release = threading.Event()
        locked = threading.Event()
        if url.startswith("sqlite"):

            def hold() -> None:
                conn = sqlite3.connect(url.removeprefix("sqlite:///"))
                conn.execute("BEGIN IMMEDIATE")
                locked.set()
                release.wait(30)
                conn.rollback()
                conn.close()

            expected: tuple[type[Exception], ...] = (QueryTimeout, SerializationFailure)
        elif url.startswith("mysql"):

            def hold() -> None:
                asyncio.run(
                    _mysql(
                        url,
                        "BEGIN",
                        f"SELECT * FROM slots WHERE id = {row['id']} FOR UPDATE",
                        hold=release,
                        locked=locked,
                    )
                )

            expected = (QueryTimeout,)
        else:
            import asyncpg

            base, schema = url.split("?schema=")

            def hold() -> None:
                async def go() -> None:
                    conn = await asyncpg.connect(base)
                    tx = conn.transaction()
                    await tx.start()
                    await conn.execute(
                        f'SELECT * FROM "{schema}".slots WHERE id = $1 FOR UPDATE', row["id"]
                    )
                    locked.set()
                    while not release.is_set():
                        await asyncio.sleep(0.05)
                    await tx.rollback()
                    await conn.close()

                asyncio.run(go())

            expected = (QueryTimeout,)
        holder = threading.Thread(target=hold)
        holder.start()
        try:
            assert locked.wait(10)
            with pytest.raises(expected) as info:
                one(db, "SlotUpdateNode", {"id": row["id"], "fields": {"name": "b"}})
            assert info.value.code.startswith("DF-DB-")
        finally:
            release.set()
            holder.join()
        assert one(db, "SlotUpdateNode", {"id": row["id"], "fields": {"name": "c"}})["name"] == "c"
    finally:
        db.close()


@pytest.mark.parametrize("backend", ["postgresql", "mysql"])
def test_deadlock_is_a_serialization_failure(backend: str, db_url: str) -> None:
    """Two engine connections lock two rows in opposite orders; the server breaks the
    deadlock by failing one of them, and that failure arrives translated."""
    from dataflow_engine import _loop
    from dataflow_engine.dialects import Params

    db = DataFlow(db_url)
    try:

        @db.model
        class Seat:
            name: str
            taken: int = 0

        ids = one(
            db, "SeatBulkCreateNode", {"data": [{"name": "a"}, {"name": "b"}], "return_ids": True}
        )["ids"]
        plan = db._plan(db.get_model("Seat"))
        d = db.dialect

        def update(key: int) -> tuple[str, list[object]]:
            p = Params(d)
            return (
                f"UPDATE {plan.table} SET {d.quote('taken')} = {p.add(1)} "
                f"WHERE {plan.pk_where([key], p)}",
                p.values,
            )

        async def clash() -> list[BaseException | None]:
            async def side(
                first: int, second: int, started: asyncio.Event, other_started: asyncio.Event
            ) -> BaseException | None:
                async with db._adapter.acquire() as conn:
                    try:
                        async with conn.transaction():
                            await conn.execute(*update(first))
                            started.set()
                            await other_started.wait()
                            await conn.execute(*update(second))
                    except Exception as exc:  # the deadlock victim's error
                        return exc
                return None

            e1, e2 = asyncio.Event(), asyncio.Event()
            return list(
                await asyncio.gather(side(ids[0], ids[1], e1, e2), side(ids[1], ids[0], e2, e1))
            )

        outcomes = _loop.run_sync(clash())
        failures = [o for o in outcomes if o is not None]
        assert len(failures) == 1, outcomes
        assert isinstance(failures[0], SerializationFailure)
        assert failures[0].code == "DF-DB-DEADLOCK"
    finally:
        db.close()
