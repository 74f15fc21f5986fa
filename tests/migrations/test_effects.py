"""The lock and rewrite each PostgreSQL statement really causes, watched from a second
connection (``pg_locks``) and through the table's storage id (``relfilenode``), against
what the risk engine claims (``effect_of``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from dataflow_engine.migrations import ColumnDefinition, Operation, OperationKind
from dataflow_engine.migrations._effects import PG_LOCKS, effect_of

from ..conftest import pg_admin, pg_url

K = OperationKind
CASES: list[tuple[str, Operation, str | None]] = [
    # (statement, operation, the column's current type)
    (
        "ALTER TABLE t ADD COLUMN c1 int",
        Operation(K.ADD_COLUMN, "t", column=ColumnDefinition("c1", "int")),
        None,
    ),
    (
        "ALTER TABLE t ADD COLUMN c2 int NOT NULL DEFAULT 0",
        Operation(K.ADD_COLUMN, "t", column=ColumnDefinition("c2", "int", False, "0")),
        None,
    ),
    (
        "ALTER TABLE t ADD COLUMN c3 uuid DEFAULT gen_random_uuid()",
        Operation(
            K.ADD_COLUMN, "t", column=ColumnDefinition("c3", "uuid", default="gen_random_uuid()")
        ),
        None,
    ),
    (
        "ALTER TABLE t ALTER COLUMN n TYPE bigint",
        Operation(K.ALTER_COLUMN_TYPE, "t", column_name="n", data_type="bigint"),
        "integer",
    ),
    (
        "ALTER TABLE t ALTER COLUMN label TYPE varchar(200)",
        Operation(K.ALTER_COLUMN_TYPE, "t", column_name="label", data_type="varchar(200)"),
        "varchar(100)",
    ),
    (
        "ALTER TABLE t ALTER COLUMN label TYPE text",
        Operation(K.ALTER_COLUMN_TYPE, "t", column_name="label", data_type="text"),
        "varchar(100)",
    ),
    (
        "ALTER TABLE t ALTER COLUMN n SET NOT NULL",
        Operation(K.SET_NOT_NULL, "t", column_name="n"),
        None,
    ),
    (
        "ALTER TABLE t ALTER COLUMN n DROP NOT NULL",
        Operation(K.DROP_NOT_NULL, "t", column_name="n"),
        None,
    ),
    (
        "ALTER TABLE t ALTER COLUMN n SET DEFAULT 5",
        Operation(K.SET_DEFAULT, "t", column_name="n", default="5"),
        None,
    ),
    ("ALTER TABLE t DROP COLUMN label", Operation(K.DROP_COLUMN, "t", column_name="label"), None),
    (
        "ALTER TABLE t RENAME COLUMN label TO title",
        Operation(K.RENAME_COLUMN, "t", column_name="label", new_name="title"),
        None,
    ),
    ("CREATE INDEX t_n ON t (n)", Operation(K.ADD_INDEX, "t", index="t_n", columns=["n"]), None),
    ("DROP INDEX t_label", Operation(K.DROP_INDEX, "t_label", index="t_label"), None),
    (
        "ALTER TABLE t ADD CONSTRAINT t_p FOREIGN KEY (p) REFERENCES parent (id)",
        Operation(K.ADD_FOREIGN_KEY, "t", columns=["p"], references=("parent", ["id"])),
        None,
    ),
    (
        "ALTER TABLE t ADD CONSTRAINT t_p FOREIGN KEY (p) REFERENCES parent (id) NOT VALID",
        Operation(
            K.ADD_FOREIGN_KEY, "t", columns=["p"], references=("parent", ["id"]), not_valid=True
        ),
        None,
    ),
    (
        "ALTER TABLE t ADD CONSTRAINT t_c CHECK (n >= 0)",
        Operation(K.ADD_CHECK, "t", expression="n >= 0"),
        None,
    ),
    (
        "ALTER TABLE t ADD CONSTRAINT t_c CHECK (n >= 0) NOT VALID",
        Operation(K.ADD_CHECK, "t", expression="n >= 0", not_valid=True),
        None,
    ),
    (
        "ALTER TABLE t VALIDATE CONSTRAINT t_old",
        Operation(K.VALIDATE_CONSTRAINT, "t", index="t_old"),
        None,
    ),
    (
        "ALTER TABLE t ADD CONSTRAINT t_u UNIQUE (id, n)",
        Operation(K.ADD_UNIQUE, "t", columns=["id", "n"]),
        None,
    ),
    ("ALTER TABLE t RENAME TO t2", Operation(K.RENAME_TABLE, "t", new_name="t2"), None),
    ("TRUNCATE t", Operation(K.TRUNCATE_TABLE, "t"), None),
    ("UPDATE t SET n = n + 1", Operation(K.UPDATE_ROWS, "t", expression="n = n + 1"), None),
]


@pytest.fixture
def pg_schema(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    database = request.getfixturevalue("pg_database")
    schema = f"eff_{uuid.uuid4().hex[:10]}"
    pg_admin(f'CREATE SCHEMA "{schema}"', database)
    yield pg_url(database), schema
    pg_admin(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE', database)


async def _observe(url: str, schema: str, sql: str) -> tuple[str | None, set[str], bool]:
    import asyncpg

    a = await asyncpg.connect(url)
    b = await asyncpg.connect(url)
    try:
        for conn in (a, b):
            await conn.execute(f'SET search_path TO "{schema}"')
        await a.execute(
            "CREATE TABLE parent (id int PRIMARY KEY);"
            "INSERT INTO parent SELECT g FROM generate_series(1, 10) g;"
            "CREATE TABLE t (id int PRIMARY KEY, n int, label varchar(100), p int);"
            "INSERT INTO t SELECT g, g, 'x' || g, 1 + g % 10 FROM generate_series(1, 2000) g;"
            "CREATE INDEX t_label ON t (label);"
            "ALTER TABLE t ADD CONSTRAINT t_old CHECK (n > -1) NOT VALID;"
        )
        before = await a.fetchval("SELECT relfilenode FROM pg_class WHERE oid = 't'::regclass")
        oid = await a.fetchval("SELECT 't'::regclass::oid")
        parent = await a.fetchval("SELECT 'parent'::regclass::oid")
        pid = await a.fetchval("SELECT pg_backend_pid()")
        tx = a.transaction()
        await tx.start()
        try:
            await a.execute(sql)
            rows = await b.fetch(
                "SELECT relation, mode FROM pg_locks WHERE pid = $1 AND relation = ANY($2)",
                pid,
                [oid, parent],
            )
            after = await a.fetchval("SELECT relfilenode FROM pg_class WHERE oid = $1", oid)
        finally:
            await tx.rollback()
        on_table = [r["mode"] for r in rows if r["relation"] == oid]
        on_parent = {r["mode"] for r in rows if r["relation"] == parent}
        strongest = max(on_table, key=PG_LOCKS.index) if on_table else None
        return strongest, on_parent, before != after
    finally:
        await a.close()
        await b.close()


@pytest.mark.parametrize(("sql", "op", "old_type"), CASES, ids=[c[0] for c in CASES])
def test_the_claimed_lock_and_rewrite_are_what_postgresql_does(
    pg_schema: tuple[str, str], sql: str, op: Operation, old_type: str | None
) -> None:
    url, schema = pg_schema
    lock, on_parent, rewritten = asyncio.run(_observe(url, schema, sql))
    version = (int(asyncio.run(_server_version(url)).split(".")[0]),)
    claimed = effect_of(op, "postgresql", version, old_type=old_type)
    assert claimed.lock == lock, f"{sql}: claimed {claimed.lock}, observed {lock}"
    assert claimed.rewrites == rewritten, f"{sql}: claimed rewrite {claimed.rewrites}"
    if claimed.other_tables:
        assert on_parent, f"{sql}: the referenced table should be locked too"


async def _server_version(url: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()
