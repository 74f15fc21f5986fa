"""Test fixtures: one backend suite, run on every configured database.

Backends: ``sqlite-memory``, ``sqlite-file`` and ``postgresql``. PostgreSQL is reached at
``DATAFLOW_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``);
each test run creates its own database there and drops it at the end, and each test
gets its own schema. When a server is unreachable its tests are skipped, unless
``DATAFLOW_TEST_REQUIRE_ALL=1``, which turns the skip into a failure (CI sets it).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from dataflow_engine import DataFlow

REQUIRE_ALL = os.environ.get("DATAFLOW_TEST_REQUIRE_ALL", "").lower() in ("1", "true", "yes")
PG_ADMIN_URL = os.environ.get(
    "DATAFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
MYSQL_ADMIN_URL = os.environ.get("DATAFLOW_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
# "mysql-noreturning" runs the MySQL 8 code path (no RETURNING) against the same server.
BACKENDS = ["sqlite-memory", "sqlite-file", "postgresql", "mysql", "mysql-noreturning"]
RUN_TAG = uuid.uuid4().hex[:8]


def _unavailable(what: str, why: object) -> None:
    message = f"{what} is not available: {why}"
    if REQUIRE_ALL:
        pytest.fail(message + " (DATAFLOW_TEST_REQUIRE_ALL=1 forbids skipping)")
    pytest.skip(message)


async def _pg_admin(sql: str, database: str | None = None) -> None:
    import asyncpg

    url = PG_ADMIN_URL if database is None else PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _run(make: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run an admin coroutine to completion, also from a fixture set up inside a running
    event loop (async tests): there, on a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(make())
        return
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(make())).result()


def pg_admin(sql: str, database: str | None = None) -> None:
    """Run one statement as the PostgreSQL admin (test setup only, never the engine)."""
    _run(lambda: _pg_admin(sql, database))


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database created for this test run and dropped after it."""
    name = f"dataflow_test_{RUN_TAG}"
    try:
        pg_admin(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # any failure means the server is unusable
        _unavailable("PostgreSQL", exc)
    yield name
    pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _mysql_admin(sql: str) -> None:
    import asyncmy

    from dataflow_engine.config import parse_url

    url = parse_url(MYSQL_ADMIN_URL)
    conn = await asyncmy.connect(
        host=url.host,
        port=url.port or 3306,
        user=url.username,
        password=url.password or "",
        connect_timeout=10,
    )
    try:
        async with conn.cursor() as cur:
            await cur.execute(sql)
    finally:
        conn.close()


def mysql_admin(sql: str) -> None:
    """Run one statement as the MySQL admin (test setup only, never the engine)."""
    _run(lambda: _mysql_admin(sql))


@pytest.fixture(scope="session")
def mysql_server() -> str:
    """The MySQL/MariaDB admin URL, checked once per run."""
    try:
        mysql_admin("SELECT 1")
    except Exception as exc:  # any failure means the server is unusable
        _unavailable("MySQL/MariaDB", exc)
    return MYSQL_ADMIN_URL


def mysql_url(database: str, **query: str) -> str:
    base = MYSQL_ADMIN_URL.rsplit("/", 1)[0]
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return f"{base}/{database}" + (f"?{qs}" if qs else "")


def pg_url(database: str, schema: str | None = None) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{database}" + (f"?schema={schema}" if schema else "")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database URL on the current backend."""
    if backend == "sqlite-memory":
        yield "sqlite://"
    elif backend == "sqlite-file":
        yield f"sqlite:///{tmp_path / 'test.db'}"
    elif backend == "postgresql":
        database = request.getfixturevalue("pg_database")
        schema = f"t_{uuid.uuid4().hex[:12]}"
        yield pg_url(database, schema)
        pg_admin(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE', database)
    else:
        request.getfixturevalue("mysql_server")
        database = f"dataflow_test_{RUN_TAG}_{uuid.uuid4().hex[:10]}"
        mysql_admin(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
        options = {"returning": "off"} if backend == "mysql-noreturning" else {}
        yield mysql_url(database, **options)
        mysql_admin(f"DROP DATABASE IF EXISTS `{database}`")


@pytest.fixture
def db(db_url: str) -> Iterator[DataFlow]:
    """A DataFlow on the current backend, closed after the test."""
    instance = DataFlow(db_url)
    yield instance
    instance.close()
