"""DataFlow performance harness (DESIGN section 12).

Each workload runs through DataFlow and through the raw driver (aiosqlite, asyncpg,
asyncmy) doing the same work, in the same process and run, and the ratio of the two
medians is compared with the workload's target. A ratio is the figure that counts, never
an absolute time.

Usage::

    python benchmarks/run.py [--backend sqlite|postgresql|mysql|all] [--quick] [--markdown]

SQLite runs on a file database in a temporary directory. PostgreSQL runs in a database
created for the run (``dataflow_bench_<hex>``) through an admin connection to
``DATAFLOW_BENCH_PG_ADMIN_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``)
and dropped at the end, even on failure. MySQL/MariaDB does the same through asyncmy and
``DATAFLOW_BENCH_MYSQL_ADMIN_URL`` (default ``mysql://root@127.0.0.1:3306/test``).

The exit status is 0 when every workload ran, whatever the ratios (this is a report), and
non-zero when a workload failed with an error.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

T = TypeVar("T")

DEFAULT_PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_MYSQL_ADMIN_URL = "mysql://root@127.0.0.1:3306/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
CACHED_LIST_TARGET = 0.2  # a cached List costs at most a fifth of the uncached one
DRIVER_MODULES = ("aiosqlite", "asyncpg", "asyncmy", "sqlite3")
IMPORT_TARGET_SECONDS = 0.150

TABLE_NAME = "users"
COLUMNS = ("id", "name", "email", "age", "department", "active", "created_at", "updated_at")
INSERT_COLUMNS = COLUMNS[1:]
DEPARTMENTS = ("eng", "ops", "sales", "support")
LIST_FILTER: dict[str, Any] = {"age": {"$gte": 30}, "department": "eng"}
LIST_LIMIT = 100
LIST_PARAMS = (30, "eng", LIST_LIMIT)  # LIST_FILTER's values, for the raw SELECT
AGG_PIPELINE: list[dict[str, Any]] = [
    {"$match": {"age": {"$gte": 30}}},
    {"$group": {"_id": "$department", "n": {"$sum": 1}, "total": {"$sum": "$age"}}},
    {"$sort": {"_id": 1}},
]
AGG_OPS, AGG_REPEATS = 5, 3


# -- sizes and results ------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    """How much work each workload does; ``--quick`` shrinks everything."""

    create_ops: int = 300
    create_repeats: int = 10
    list_table_rows: int = 100_000
    list_ops: int = 150
    list_repeats: int = 10
    bulk_rows: int = 100_000
    bulk_repeats: int = 3
    import_runs: int = 7
    warmup_ops: int = 50
    compile_calls: int = 20_000
    discovery_tables: int = 1_000


QUICK = Sizes(
    create_ops=100,
    create_repeats=4,
    list_table_rows=10_000,
    list_ops=50,
    list_repeats=4,
    bulk_rows=10_000,
    bulk_repeats=2,
    import_runs=3,
    warmup_ops=20,
    compile_calls=2_000,
    discovery_tables=100,
)


@dataclass
class Result:
    """One row of the report."""

    workload: str
    backend: str
    dataflow: float | None
    raw: float | None
    target: str
    passed: bool
    note: str = ""
    error: bool = False

    @property
    def ratio(self) -> float | None:
        if self.dataflow is None or not self.raw:
            return None
        return self.dataflow / self.raw


@dataclass
class Timings:
    """Per-repeat measurements of both sides, interleaved so drift hits both alike."""

    dataflow: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)

    def result(self, workload: str, backend: str, target: float, note: str = "") -> Result:
        df, raw = statistics.median(self.dataflow), statistics.median(self.raw)
        return Result(workload, backend, df, raw, f"<= {target:.1f}x", df / raw <= target, note)


# -- data -------------------------------------------------------------------------------------


def make_record(i: int) -> dict[str, Any]:
    """A deterministic user; a quarter are in 'eng', ages spread over 18..77."""
    return {
        "name": f"user{i}",
        "email": f"user{i}@example.com",
        "age": 18 + (i * 7919) % 60,
        "department": DEPARTMENTS[i % len(DEPARTMENTS)],
        "active": i % 10 != 0,
    }


def make_records(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [make_record(i) for i in range(start, start + n)]


# -- backends (the raw-driver side) -----------------------------------------------------------


class Backend(ABC):
    """A database for one run: its DataFlow URL and a raw driver connection to it."""

    name: str

    def quote(self, identifier: str) -> str:
        """An identifier quoted as DataFlow's dialect quotes it."""
        return f'"{identifier}"'

    def quoted(self, names: Sequence[str]) -> str:
        return ", ".join(self.quote(n) for n in names)

    @property
    def table(self) -> str:
        return self.quote(TABLE_NAME)

    def text_column(self, column: str) -> str:
        """A text column in a comparison, as DataFlow writes it (MySQL adds a collation)."""
        return self.quote(column)

    @property
    @abstractmethod
    def url(self) -> str:
        """The DataFlow URL of the benchmark database."""

    @abstractmethod
    async def setup(self) -> None:
        """Create the benchmark database."""

    @abstractmethod
    async def teardown(self) -> None:
        """Remove the benchmark database (must be safe after a partial setup)."""

    @abstractmethod
    async def connect(self) -> None:
        """Open the raw driver connection, configured as DataFlow configures its own."""

    @abstractmethod
    async def close(self) -> None:
        """Close the raw driver connection."""

    @abstractmethod
    def placeholder(self, index: int) -> str:
        """The driver's placeholder for the 1-based parameter ``index``."""

    @abstractmethod
    def stamp(self, now: dt.datetime) -> Any:
        """The driver value of a ``created_at`` / ``updated_at`` timestamp."""

    @abstractmethod
    def encode(self, record: Mapping[str, Any], stamp: Any) -> tuple[Any, ...]:
        """Driver values for ``INSERT_COLUMNS``, with ``stamp`` from :meth:`stamp`."""

    @abstractmethod
    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        """Run a statement and return all its rows, in one driver call."""

    @abstractmethod
    async def execute(self, sql: str) -> None:
        """Run a statement without parameters."""

    @abstractmethod
    async def bulk_insert(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert ``rows`` (in ``INSERT_COLUMNS`` order) in one transaction."""

    @abstractmethod
    async def clear(self) -> None:
        """Delete every row of the users table."""

    @abstractmethod
    async def version(self) -> str:
        """The database server (or library) version."""

    async def count(self) -> int:
        rows = await self.fetch(f"SELECT COUNT(*) FROM {self.table}")
        return int(rows[0][0])

    async def analyze(self) -> None:
        """Refresh the planner's statistics of the users table."""
        await self.execute(f"ANALYZE {self.table}")

    async def insert_returning(self, sql: str, params: Sequence[Any]) -> Sequence[Any]:
        """Run :meth:`insert_sql` and return the new row (``COLUMNS`` order)."""
        return (await self.fetch(sql, params))[0]

    def insert_sql(self, returning: bool = True) -> str:
        values = ", ".join(self.placeholder(i + 1) for i in range(len(INSERT_COLUMNS)))
        sql = f"INSERT INTO {self.table} ({self.quoted(INSERT_COLUMNS)}) VALUES ({values})"
        return f"{sql} RETURNING {self.quoted(COLUMNS)}" if returning else sql

    def aggregate_sql(self) -> str:
        """The hand-written SQL for AGG_PIPELINE."""
        p, q = self.placeholder, self.quote
        return (
            f"SELECT {q('department')}, COUNT(*), COALESCE(SUM({q('age')}), 0) "
            f"FROM {self.table} WHERE {q('age')} >= {p(1)} GROUP BY {q('department')} "
            f"ORDER BY {self.order_text('department')}"
        )

    def order_text(self, column: str) -> str:
        """A text column in ORDER BY, as DataFlow writes it (code-point order)."""
        return self.text_column(column)

    def list_sql(self) -> str:
        p, q = self.placeholder, self.quote
        return (
            f"SELECT {self.quoted(COLUMNS)} FROM {self.table} "
            f"WHERE ({q('age')} >= {p(1)} AND {self.text_column('department')} = {p(2)}) "
            f"ORDER BY {q('id')} LIMIT {p(3)}"
        )


class SQLiteBackend(Backend):
    """A file database in a temporary directory, through aiosqlite."""

    name = "sqlite"

    def __init__(self) -> None:
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._conn: Any = None

    @property
    def path(self) -> Path:
        assert self._dir is not None
        return Path(self._dir.name) / "bench.db"

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    async def setup(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="dataflow_bench_")

    async def teardown(self) -> None:
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    async def connect(self) -> None:
        import aiosqlite

        self._conn = await aiosqlite.connect(self.path, isolation_level=None)
        for pragma in (
            "PRAGMA journal_mode = WAL",
            "PRAGMA synchronous = NORMAL",
            "PRAGMA foreign_keys = ON",
            "PRAGMA busy_timeout = 5000",
        ):
            await self._conn.execute(pragma)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    def placeholder(self, index: int) -> str:
        return "?"

    def stamp(self, now: dt.datetime) -> Any:
        return now.isoformat(timespec="microseconds")

    def encode(self, record: Mapping[str, Any], stamp: Any) -> tuple[Any, ...]:
        return (
            record["name"],
            record["email"],
            record["age"],
            record["department"],
            int(record.get("active", True)),
            stamp,
            stamp,
        )

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return list(await self._conn.execute_fetchall(sql, params))

    async def execute(self, sql: str) -> None:
        await self._conn.execute(sql)

    async def bulk_insert(self, rows: list[tuple[Any, ...]]) -> None:
        sql = self.insert_sql(returning=False)
        await self._conn.execute("BEGIN IMMEDIATE")
        try:
            await self._conn.executemany(sql, rows)
        except BaseException:
            await self._conn.execute("ROLLBACK")
            raise
        await self._conn.execute("COMMIT")

    async def clear(self) -> None:
        await self._conn.execute(f"DELETE FROM {self.table}")

    async def version(self) -> str:
        rows = await self.fetch("SELECT sqlite_version()")
        return f"SQLite {rows[0][0]}"


class PostgresBackend(Backend):
    """A database created for the run, through asyncpg."""

    name = "postgresql"

    def order_text(self, column: str) -> str:
        return f'{self.quote(column)} COLLATE "C"'

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.database = f"dataflow_bench_{uuid.uuid4().hex[:12]}"
        self._created = False
        self._conn: Any = None

    @property
    def url(self) -> str:
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{self.database}"

    async def _admin(self, sql: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def setup(self) -> None:
        await self._admin(f'CREATE DATABASE "{self.database}"')
        self._created = True

    async def teardown(self) -> None:
        if self._created:
            await self._admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            self._created = False

    async def connect(self) -> None:
        import asyncpg

        self._conn = await asyncpg.connect(self.url)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    def placeholder(self, index: int) -> str:
        return f"${index}"

    def stamp(self, now: dt.datetime) -> Any:
        return now

    def encode(self, record: Mapping[str, Any], stamp: Any) -> tuple[Any, ...]:
        return (
            record["name"],
            record["email"],
            record["age"],
            record["department"],
            record.get("active", True),
            stamp,
            stamp,
        )

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return list(await self._conn.fetch(sql, *params))

    async def execute(self, sql: str) -> None:
        await self._conn.execute(sql)

    async def bulk_insert(self, rows: list[tuple[Any, ...]]) -> None:
        async with self._conn.transaction():
            await self._conn.copy_records_to_table(
                "users", records=rows, columns=list(INSERT_COLUMNS)
            )

    async def clear(self) -> None:
        await self._conn.execute(f"TRUNCATE {self.table} RESTART IDENTITY")

    async def version(self) -> str:
        rows = await self.fetch("SHOW server_version")
        return f"PostgreSQL {rows[0][0]}"


MYSQL_SQL_MODE = (
    "STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,"
    "NO_ENGINE_SUBSTITUTION"
)


class MySQLBackend(Backend):
    """A database created for the run on MySQL or MariaDB, through asyncmy.

    The raw connection is set up as DataFlow sets up its pooled ones: autocommit, the
    ``FOUND_ROWS`` client flag, ``utf8mb4``, UTC and a strict ``sql_mode``. Until it is
    connected the backend assumes MariaDB 10.5+ (``INSERT ... RETURNING``), as the dialect
    does; :meth:`connect` reads the server version and decides.
    """

    name = "mysql"

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.database = f"dataflow_bench_{uuid.uuid4().hex[:12]}"
        self._created = False
        self._conn: Any = None
        self.mariadb = True
        self.returning = True

    @property
    def url(self) -> str:
        parts = urllib.parse.urlsplit(self.admin_url)
        return urllib.parse.urlunsplit(parts._replace(path=f"/{self.database}"))

    @staticmethod
    def _connect_args(url: str) -> dict[str, Any]:
        parts = urllib.parse.urlsplit(url)
        from asyncmy.constants import CLIENT

        return {
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 3306,
            "user": urllib.parse.unquote(parts.username or "root"),
            "password": urllib.parse.unquote(parts.password or ""),
            "database": urllib.parse.unquote(parts.path.lstrip("/")) or None,
            "charset": "utf8mb4",
            "autocommit": True,
            "client_flag": CLIENT.FOUND_ROWS,
        }

    async def _admin(self, sql: str) -> None:
        import asyncmy

        conn = await asyncmy.connect(**self._connect_args(self.admin_url))
        try:
            async with conn.cursor() as cur:
                await cur.execute(sql)
        finally:
            conn.close()

    async def setup(self) -> None:
        await self._admin(f"CREATE DATABASE {self.quote(self.database)}")
        self._created = True

    async def teardown(self) -> None:
        if self._created:
            await self._admin(f"DROP DATABASE IF EXISTS {self.quote(self.database)}")
            self._created = False

    async def connect(self) -> None:
        import asyncmy

        self._conn = await asyncmy.connect(**self._connect_args(self.url))
        await self.execute(f"SET time_zone = '+00:00', sql_mode = '{MYSQL_SQL_MODE}'")
        rows = await self.fetch("SELECT VERSION()")
        release = str(rows[0][0])
        self.mariadb = "mariadb" in release.lower()
        numbers = tuple(int(n) for n in release.split("-")[0].split(".")[:2] if n.isdigit())
        self.returning = self.mariadb and numbers >= (10, 5)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def quote(self, identifier: str) -> str:
        return f"`{identifier}`"

    def text_column(self, column: str) -> str:
        collation = "utf8mb4_nopad_bin" if self.mariadb else "utf8mb4_0900_bin"
        return f"{self.quote(column)} COLLATE {collation}"

    def placeholder(self, index: int) -> str:
        return "%s"

    def stamp(self, now: dt.datetime) -> Any:
        return now.astimezone(dt.UTC).replace(tzinfo=None)  # DATETIME(6) holds naive UTC

    def encode(self, record: Mapping[str, Any], stamp: Any) -> tuple[Any, ...]:
        return (
            record["name"],
            record["email"],
            record["age"],
            record["department"],
            int(record.get("active", True)),
            stamp,
            stamp,
        )

    def insert_sql(self, returning: bool = True) -> str:
        return super().insert_sql(returning and self.returning)

    async def insert_returning(self, sql: str, params: Sequence[Any]) -> Sequence[Any]:
        async with self._conn.cursor() as cur:
            await cur.execute(sql, params)
            if self.returning:
                return (await cur.fetchall())[0]  # type: ignore[no-any-return]
            new_id = cur.lastrowid
        # No RETURNING (MySQL): read the row back by its key, as DataFlow does.
        select = f"SELECT {self.quoted(COLUMNS)} FROM {self.table} WHERE {self.quote('id')} = %s"
        return (await self.fetch(select, (new_id,)))[0]

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        async with self._conn.cursor() as cur:
            await cur.execute(sql, params)
            return list(await cur.fetchall())

    async def execute(self, sql: str) -> None:
        async with self._conn.cursor() as cur:
            await cur.execute(sql)
            if cur.description:
                await cur.fetchall()

    async def bulk_insert(self, rows: list[tuple[Any, ...]]) -> None:
        sql = self.insert_sql(returning=False)
        async with self._conn.cursor() as cur:
            await cur.execute("BEGIN")
            try:
                await cur.executemany(sql, rows)
            except BaseException:
                await cur.execute("ROLLBACK")
                raise
            await cur.execute("COMMIT")

    async def analyze(self) -> None:
        await self.execute(f"ANALYZE TABLE {self.table}")

    async def clear(self) -> None:
        await self.execute(f"TRUNCATE TABLE {self.table}")

    async def version(self) -> str:
        rows = await self.fetch("SELECT VERSION()")
        release = str(rows[0][0])
        product = "MariaDB" if self.mariadb else "MySQL"
        number = release.split("-")[0]
        return f"{product} {number}" + (f" ({release})" if release != number else "")


# -- the workloads ----------------------------------------------------------------------------


class Bench:
    """Runs every database workload for one backend.

    DataFlow is driven the way a user drives it: the blocking ``LocalRuntime`` from the
    main thread. The raw side awaits the driver on an event loop in the main thread.
    """

    def __init__(self, backend: Backend, sizes: Sizes, loop: asyncio.AbstractEventLoop) -> None:
        from dataflow_engine import DataFlow, LocalRuntime

        self.backend = backend
        self.sizes = sizes
        self.loop = loop
        self.db = DataFlow(backend.url)

        @self.db.model
        class User:
            name: str
            email: str
            age: int
            department: str
            active: bool = True

        try:
            self.db.create_tables()
        except BaseException:
            self.db.close()
            raise
        self.runtime = LocalRuntime(dataflow=self.db)
        self.counter = 10_000_000  # record numbers for inserts, distinct from the seed rows
        self._closers: list[Callable[[], None]] = []  # other DataFlows the workloads opened

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def next_records(self, n: int) -> list[dict[str, Any]]:
        start, self.counter = self.counter, self.counter + n
        return make_records(n, start)

    def close(self) -> None:
        for close in self._closers:
            close()
        self.db.close()

    # -- single-row create --------------------------------------------------------------------

    def _df_create_reused(self, records: list[dict[str, Any]]) -> float:
        from dataflow_engine import WorkflowBuilder

        wf = WorkflowBuilder()
        wf.add_node("UserCreateNode", "c", records[0])
        built = wf.build(self.db)
        execute = self.runtime.execute
        started = time.perf_counter()
        for record in records:
            results, _ = execute(built, parameters={"c": record})
        elapsed = time.perf_counter() - started
        _check(results["c"]["email"] == records[-1]["email"], "Create returned another row")
        return elapsed / len(records)

    def _df_create_rebuilt(self, records: list[dict[str, Any]]) -> float:
        from dataflow_engine import WorkflowBuilder

        execute = self.runtime.execute
        started = time.perf_counter()
        for record in records:
            wf = WorkflowBuilder()
            wf.add_node("UserCreateNode", "c", record)
            results, _ = execute(wf.build(self.db))
        elapsed = time.perf_counter() - started
        _check(results["c"]["email"] == records[-1]["email"], "Create returned another row")
        return elapsed / len(records)

    async def _raw_create(self, records: list[dict[str, Any]]) -> float:
        sql = self.backend.insert_sql()
        insert, encode, stamp = (
            self.backend.insert_returning,
            self.backend.encode,
            self.backend.stamp,
        )
        started = time.perf_counter()
        for record in records:
            new = await insert(sql, encode(record, stamp(dt.datetime.now(dt.UTC))))
            row = dict(zip(COLUMNS, new, strict=True))
        elapsed = time.perf_counter() - started
        _check(row["email"] == records[-1]["email"], "raw INSERT returned another row")
        return elapsed / len(records)

    def create(self, rebuild: bool) -> Result:
        s = self.sizes
        df_side = self._df_create_rebuilt if rebuild else self._df_create_reused
        df_side(self.next_records(s.warmup_ops))
        self.run(self._raw_create(self.next_records(s.warmup_ops)))
        timings = Timings()
        for _ in range(s.create_repeats):
            gc.collect()
            timings.raw.append(self.run(self._raw_create(self.next_records(s.create_ops))))
            gc.collect()
            timings.dataflow.append(df_side(self.next_records(s.create_ops)))
        if rebuild:
            name, note = "create, rebuilt per call", "WorkflowBuilder + build() + execute()"
        else:
            name, note = "create (1 row)", "built once; execute(parameters=...)"
        note += f"; per op, {s.create_ops} ops x {s.create_repeats}"
        return timings.result(name, self.backend.name, 2.0, note)

    # -- bulk create --------------------------------------------------------------------------

    def _df_bulk(self, data: list[dict[str, Any]]) -> tuple[float, float]:
        from dataflow_engine import WorkflowBuilder

        started = time.perf_counter()
        wf = WorkflowBuilder()
        wf.add_node("UserBulkCreateNode", "b", {"data": data})
        built = wf.build(self.db)
        mid = time.perf_counter()
        results, _ = self.runtime.execute(built)
        ended = time.perf_counter()
        _check(results["b"]["inserted"] == len(data), f"BulkCreate returned {results['b']}")
        return ended - started, mid - started

    async def _raw_bulk(self, data: list[dict[str, Any]]) -> float:
        encode = self.backend.encode
        started = time.perf_counter()
        stamp = self.backend.stamp(dt.datetime.now(dt.UTC))
        await self.backend.bulk_insert([encode(r, stamp) for r in data])
        return time.perf_counter() - started

    def bulk_create(self) -> Result:
        s = self.sizes
        data = make_records(s.bulk_rows)
        timings = Timings()
        builds: list[float] = []
        for _ in range(s.bulk_repeats):
            self.run(self.backend.clear())
            gc.collect()
            timings.raw.append(self.run(self._raw_bulk(data)))
            self._expect_rows(s.bulk_rows)
            self.run(self.backend.clear())
            gc.collect()
            total, build = self._df_bulk(data)
            self._expect_rows(s.bulk_rows)
            timings.dataflow.append(total)
            builds.append(build)
        note = f"{s.bulk_rows:,} rows x {s.bulk_repeats}; build() {_fmt(statistics.median(builds))}"
        return timings.result(f"bulk create ({s.bulk_rows:,})", self.backend.name, 1.3, note)

    def _expect_rows(self, n: int) -> None:
        found = self.run(self.backend.count())
        _check(found == n, f"expected {n} rows in the table, found {found}")

    # -- aggregate ----------------------------------------------------------------------------

    def _agg_workflow(self) -> Any:
        from dataflow_engine import WorkflowBuilder

        wf = WorkflowBuilder()
        wf.add_node("UserListNode", "a", {"aggregate": AGG_PIPELINE})
        return wf.build(self.db)

    def _df_agg(self, n: int) -> tuple[float, list[tuple[Any, ...]]]:
        built = self._agg_workflow()
        execute = self.runtime.execute
        started = time.perf_counter()
        for _ in range(n):
            results, _ = execute(built)
        elapsed = time.perf_counter() - started
        rows = [(r["_id"], r["n"], r["total"]) for r in results["a"]["records"]]
        return elapsed / n, rows

    async def _raw_agg(self, n: int) -> tuple[float, list[tuple[Any, ...]]]:
        sql, fetch = self.backend.aggregate_sql(), self.backend.fetch
        started = time.perf_counter()
        for _ in range(n):
            rows = [(r[0], int(r[1]), int(r[2])) for r in await fetch(sql, (30,))]
        return (time.perf_counter() - started) / n, rows

    def discover(self) -> Result:
        """discover_schema() over a database of many tables (made with the raw driver),
        with the number of catalog queries it sent; a second DataFlow, existing-schema
        mode, so nothing but reads reaches the database."""
        import logging

        from dataflow_engine import DataFlow

        n = self.sizes.discovery_tables
        q = self.backend.quote
        for i in range(n):
            self.run(
                self.backend.execute(
                    f"CREATE TABLE {q(f'disc_{i:04d}')} ({q('id')} INTEGER PRIMARY KEY, "
                    f"{q('name')} VARCHAR(50) NOT NULL, {q('parent_id')} INTEGER "
                    f"REFERENCES {q(f'disc_{max(i - 1, 0):04d}')} ({q('id')}))"
                )
            )
        sent: list[str] = []

        class Count(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                sent.append(record.getMessage())

        handler = Count()
        logger = logging.getLogger("dataflow_engine.sql")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        propagate, logger.propagate = logger.propagate, False  # counted, not printed
        try:
            with DataFlow(self.backend.url, existing_schema_mode=True, echo=True) as db:
                db.discover_schema(tables=["disc_0000"])  # connect before timing
                sent.clear()
                gc.collect()
                started = time.perf_counter()
                tables = db.discover_schema()
                elapsed = time.perf_counter() - started
        finally:
            logger.removeHandler(handler)
            logger.propagate = propagate
        found = [t for t in tables if t.startswith("disc_")]
        _check(len(found) == n, f"discovered {len(found)} of {n} tables")
        _check(tables["disc_0001"].foreign_keys[0].ref_table == "disc_0000", "a foreign key")
        return Result(
            f"discover {n:,} tables",
            self.backend.name,
            elapsed,
            None,
            f"<= {DISCOVERY_QUERY_TARGET} queries",
            len(sent) <= DISCOVERY_QUERY_TARGET,
            f"{len(sent)} catalog queries; {len(tables)} tables and views in all",
        )

    def mcp_query(self) -> Result:
        """The MCP ``query`` tool through the SDK's in-memory client, against the engine
        building and running the same List per call (a script with new parameters). The
        client and server run on the engine's loop, as ``dataflow-mcp`` serves."""
        from mcp import Client

        from dataflow_engine import DataFlow, LocalRuntime, WorkflowBuilder, run_on_engine_loop
        from dataflow_mcp import ServerConfig, create_server

        self._expect_rows(self.sizes.list_table_rows)
        args = {
            "table": TABLE_NAME,
            "filter": {"age": {"$gte": 30}, "department": "eng"},
            "order_by": "id",
            "limit": 100,
        }
        served = DataFlow(self.backend.url, read_only=True, existing_schema_mode=True)
        self._closers.append(served.close)  # pools end with the benchmark's database
        server = create_server(
            ServerConfig(database_url=self.backend.url, max_bytes=10**7), db=served
        )
        ops = self.sizes.list_ops

        async def through_mcp() -> float:
            async with Client(server) as client:
                for _ in range(10):
                    await client.call_tool("query", args)
                timings = []
                for _ in range(self.sizes.list_repeats):
                    gc.collect()
                    started = time.perf_counter()
                    for _ in range(ops):
                        result = await client.call_tool("query", args)
                    timings.append((time.perf_counter() - started) / ops)
                _check(not result.is_error, "the query tool failed")
                _check(len(result.structured_content["records"]) == 100, "100 records")
                return statistics.median(timings)

        mcp_time = run_on_engine_loop(through_mcp)
        sdk_time = run_on_engine_loop(self._mcp_sdk_floor, server, args)
        with DataFlow(self.backend.url, read_only=True, existing_schema_mode=True) as db:
            model = db.register_schema_as_models(tables=[TABLE_NAME])["registered_models"][0]
            runtime = LocalRuntime(dataflow=db)
            params = {k: v for k, v in args.items() if k != "table"}

            def engine_call() -> None:
                wf = WorkflowBuilder()
                wf.add_node(f"{model}ListNode", "n", params)
                runtime.execute(wf.build(db))

            for _ in range(10):
                engine_call()
            timings = []
            for _ in range(self.sizes.list_repeats):
                gc.collect()
                started = time.perf_counter()
                for _ in range(ops):
                    engine_call()
                timings.append((time.perf_counter() - started) / ops)
            engine_time = statistics.median(timings)
        note = (
            f"per op, {ops} ops x {self.sizes.list_repeats}; baseline: build + execute; "
            f"the SDK alone carrying the same answer: {_fmt(sdk_time)}"
        )
        return Result(
            "MCP query tool, 100 rows",
            self.backend.name,
            mcp_time,
            engine_time,
            f"<= {MCP_QUERY_TARGET:.1f}x",
            mcp_time / engine_time <= MCP_QUERY_TARGET,
            note,
        )

    async def _mcp_sdk_floor(self, server: Any, args: dict[str, Any]) -> float:
        """What the SDK's in-memory client and server cost for the query tool's answer
        alone: an async tool that returns that very answer, made in advance."""
        from mcp import Client
        from mcp.server.mcpserver import MCPServer
        from mcp.types import CallToolResult

        from dataflow_mcp._server import Records

        async with Client(server) as client:
            answer = await client.call_tool("query", args)
        floor = MCPServer("floor")

        async def query() -> CallToolResult:
            return CallToolResult(
                content=answer.content, structured_content=answer.structured_content
            )

        # The query tool's own output model (this module's annotations are strings).
        query.__annotations__["return"] = Annotated[CallToolResult, Records]
        floor.tool()(query)

        ops = self.sizes.list_ops
        async with Client(floor) as client:
            for _ in range(10):
                await client.call_tool("query", {})
            timings = []
            for _ in range(self.sizes.list_repeats):
                gc.collect()
                started = time.perf_counter()
                for _ in range(ops):
                    await client.call_tool("query", {})
                timings.append((time.perf_counter() - started) / ops)
        return statistics.median(timings)

    def rest_list(self, over: str) -> Result:
        """A List through the REST API: ``GET /users?filter=...&order_by=id&limit=100``,
        against the engine building and running the same List per call (a program with
        new parameters each time). ``over="asgi"``: httpx against ``db.api()`` in
        process, client and app on the engine's loop, as ``dataflow api`` serves; the note
        gives the app's own time, called as an ASGI server calls it. ``over="uvicorn"``:
        httpx over loopback to ``dataflow api`` in its own process (run after ``list``)."""
        import http.client
        import importlib.util
        import logging
        import urllib.parse

        import httpx

        from dataflow_engine import WorkflowBuilder, run_on_engine_loop

        self._expect_rows(self.sizes.list_table_rows)
        if importlib.util.find_spec("sniffio") is None:
            # httpx's ASGI transport tries `import sniffio` on every request; absent, each
            # try searches sys.path. Recorded as absent once: a client cost, not the API's.
            sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]
        # The MCP SDK turns INFO logging on; httpx would then log every request.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        query = {"filter": json.dumps(LIST_FILTER), "order_by": "id", "limit": LIST_LIMIT}
        ops, repeats = self.sizes.list_ops, self.sizes.list_repeats
        answers: list[Any] = []
        app = self.db.api()
        raw_query = urllib.parse.urlencode(query).encode()

        async def app_alone() -> float:
            scope = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "GET",
                "scheme": "http",
                "path": "/users",
                "raw_path": b"/users",
                "root_path": "",
                "query_string": raw_query,
                "headers": [(b"host", b"bench")],
                "server": ("bench", 80),
                "client": ("bench", 1),
            }

            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": b"", "more_body": False}

            body: list[bytes] = []

            async def send(message: Any) -> None:
                if message["type"] == "http.response.body":
                    body.append(message.get("body", b""))

            gc.collect()
            started = time.perf_counter()
            for _ in range(ops):
                await app(dict(scope), receive, send)
            elapsed = time.perf_counter() - started
            last = json.loads(body[-1])
            _check([r["id"] for r in last["records"]] == expected_ids, "the app's answer")
            return elapsed / ops

        async def fixed_answer(scope: Any, receive: Any, send: Any) -> None:
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": answer_bytes})

        async def client_alone() -> float:
            """httpx against an app that returns the same answer, made in advance."""
            transport = httpx.ASGITransport(app=fixed_answer)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
                gc.collect()
                started = time.perf_counter()
                for _ in range(ops):
                    await http.get("/users", params=query)
                return (time.perf_counter() - started) / ops

        async def in_process() -> float:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
                for _ in range(10):
                    (await http.get("/users", params=query)).raise_for_status()
                gc.collect()
                started = time.perf_counter()
                for _ in range(ops):
                    response = await http.get("/users", params=query)
                elapsed = time.perf_counter() - started
            answers.append(response.json())
            return elapsed / ops

        def with_httpx(http: httpx.Client) -> float:
            gc.collect()
            started = time.perf_counter()
            for _ in range(ops):
                http.get("/users", params=query)
            return (time.perf_counter() - started) / ops

        path = "/users?" + urllib.parse.urlencode(query)

        def over_loopback(port: int) -> float:
            """The leanest HTTP/1.1 client: the standard library's, one kept-alive
            connection (the API's cost, not a client library's)."""
            conn = http.client.HTTPConnection("127.0.0.1", port)
            try:
                for _ in range(10):
                    conn.request("GET", path)
                    conn.getresponse().read()
                gc.collect()
                started = time.perf_counter()
                for _ in range(ops):
                    conn.request("GET", path)
                    response = conn.getresponse()
                    body = response.read()
                elapsed = time.perf_counter() - started
            finally:
                conn.close()
            _check(response.status == 200, f"the API answered {response.status}")
            answers.append(json.loads(body))
            return elapsed / ops

        def engine() -> float:
            execute = self.runtime.execute
            params = {"filter": LIST_FILTER, "order_by": ["id"], "limit": LIST_LIMIT}
            gc.collect()
            started = time.perf_counter()
            for _ in range(ops):
                wf = WorkflowBuilder()
                wf.add_node("UserListNode", "l", params)
                results, _ = execute(wf.build(self.db))
            elapsed = time.perf_counter() - started
            answers.append(results["l"])
            return elapsed / ops

        engine()  # warm-up
        run_on_engine_loop(in_process)  # a warm-up, which keeps the answer
        answer_bytes = json.dumps(answers[-1]).encode()
        expected_ids = [r["id"] for r in answers.pop()["records"]]
        timings = Timings()
        floor: list[float] = []
        if over == "asgi":
            with_client: list[float] = []
            for _ in range(repeats):
                timings.dataflow.append(run_on_engine_loop(app_alone))
                with_client.append(run_on_engine_loop(in_process))
                floor.append(run_on_engine_loop(client_alone))
                timings.raw.append(engine())
            where = (
                "the app called as an ASGI server calls it, on the engine's loop; through "
                f"httpx's ASGI transport: {_fmt(statistics.median(with_client))}; httpx alone "
                f"carrying the same answer: {_fmt(statistics.median(floor))}"
            )
        else:
            httpx_times: list[float] = []
            with _api_server(self.backend.url) as (client, port):
                for _ in range(10):
                    client.get("/users", params=query).raise_for_status()
                for _ in range(repeats):
                    httpx_times.append(with_httpx(client))
                    timings.dataflow.append(over_loopback(port))
                    timings.raw.append(engine())
            with _api_server(None, answer_bytes) as (client, port):
                for _ in range(repeats):
                    floor.append(over_loopback(port))
                    answers.pop()
            where = (
                "http.client (kept alive) to `dataflow api` (uvicorn, another process) on "
                f"loopback; with httpx as the client: {_fmt(statistics.median(httpx_times))}; "
                "the client and uvicorn alone carrying the same answer: "
                f"{_fmt(statistics.median(floor))}"
            )
        ids = [r["id"] for r in answers[-1]["records"]]
        _check(len(ids) == LIST_LIMIT, f"the List returned {len(ids)} records")
        _check([r["id"] for r in answers[-2]["records"]] == ids, "REST and engine disagree")
        note = f"per op, {ops} ops x {repeats}; {where}; baseline: build + execute"
        name = f"REST list, 100 rows ({over})"
        return timings.result(name, self.backend.name, REST_LIST_TARGET, note)

    def mcp_search(self) -> Result:
        """``search_tables`` at summary level over the discovery workload's tables: the
        answer's size (run right after ``discover``)."""
        import anyio
        from mcp import Client

        from dataflow_engine import DataFlow
        from dataflow_mcp import ServerConfig, create_server

        served = DataFlow(self.backend.url, read_only=True, existing_schema_mode=True)
        self._closers.append(served.close)  # pools end with the benchmark's database
        server = create_server(ServerConfig(database_url=self.backend.url), db=served)

        async def ask() -> tuple[int, float]:
            async with Client(server) as client:
                started = time.perf_counter()
                result = await client.call_tool(
                    "search_tables", {"detail": "summary", "limit": 1000}
                )
                elapsed = time.perf_counter() - started
                _check(not result.is_error, "search_tables failed")
                return len(json.dumps(result.structured_content)), elapsed

        size, elapsed = anyio.run(ask)
        n = self.sizes.discovery_tables
        return Result(
            f"MCP search_tables, {n:,} tables",
            self.backend.name,
            elapsed,
            None,
            "< 8 KB answer",
            size < 8_000,
            f"{size:,} bytes at summary level (first call, discovery included)",
        )

    def aggregate(self) -> Result:
        """$match + $group + $sort over the List workload's table (run right after it)."""
        self._expect_rows(self.sizes.list_table_rows)
        _, df_rows = self._df_agg(2)
        _, raw_rows = self.run(self._raw_agg(2))
        _check(df_rows == raw_rows, "the pipeline and the hand-written SQL disagree")
        timings = Timings()
        for _ in range(AGG_REPEATS):
            gc.collect()
            timings.raw.append(self.run(self._raw_agg(AGG_OPS))[0])
            gc.collect()
            timings.dataflow.append(self._df_agg(AGG_OPS)[0])
        note = f"per op, {AGG_OPS} ops x {AGG_REPEATS}; $match, $group (count, sum), $sort"
        name = f"aggregate over {self.sizes.list_table_rows:,}"
        return timings.result(name, self.backend.name, 1.3, note)

    # -- filtered list ------------------------------------------------------------------------

    def _list_workflow(self) -> Any:
        from dataflow_engine import WorkflowBuilder

        wf = WorkflowBuilder()
        wf.add_node(
            "UserListNode", "l", {"filter": LIST_FILTER, "order_by": ["id"], "limit": LIST_LIMIT}
        )
        return wf.build(self.db)

    def _df_list(self, n: int, db: Any = None) -> float:
        """``n`` runs of the List workflow, on ``db`` (a second DataFlow) when given."""
        from dataflow_engine import LocalRuntime

        built = self._list_workflow() if db is None else self._list_workflow_for(db)
        execute = (self.runtime if db is None else LocalRuntime(dataflow=db)).execute
        started = time.perf_counter()
        for _ in range(n):
            results, _ = execute(built)
        elapsed = time.perf_counter() - started
        _check(results["l"]["count"] == LIST_LIMIT, f"List returned {results['l']['count']}")
        return elapsed / n

    async def _raw_list(self, n: int) -> float:
        sql, fetch = self.backend.list_sql(), self.backend.fetch
        started = time.perf_counter()
        for _ in range(n):
            records = [dict(zip(COLUMNS, r, strict=True)) for r in await fetch(sql, LIST_PARAMS)]
        elapsed = time.perf_counter() - started
        _check(len(records) == LIST_LIMIT, f"raw SELECT returned {len(records)} rows")
        return elapsed / n

    def _same_list(self) -> None:
        results, _ = self.runtime.execute(self._list_workflow())
        raw = self.run(self.backend.fetch(self.backend.list_sql(), LIST_PARAMS))
        _check(
            [r["id"] for r in results["l"]["records"]] == [r[0] for r in raw],
            "DataFlow's List and the raw SELECT returned different rows",
        )

    def list_filtered(self) -> Result:
        s = self.sizes
        self.run(self.backend.clear())
        stamp = self.backend.stamp(dt.datetime.now(dt.UTC))
        seed = [self.backend.encode(r, stamp) for r in make_records(s.list_table_rows)]
        self.run(self.backend.bulk_insert(seed))
        del seed
        self._expect_rows(s.list_table_rows)
        self.run(self.backend.analyze())
        self._same_list()
        self._df_list(s.warmup_ops)
        self.run(self._raw_list(s.warmup_ops))
        timings = Timings()
        for _ in range(s.list_repeats):
            gc.collect()
            timings.raw.append(self.run(self._raw_list(s.list_ops)))
            gc.collect()
            timings.dataflow.append(self._df_list(s.list_ops))
        note = f"per op, {s.list_ops} ops x {s.list_repeats}; 2-clause filter, order_by id"
        name = f"list {LIST_LIMIT} of {s.list_table_rows:,}"
        return timings.result(name, self.backend.name, 1.5, note)

    # -- cached list ----------------------------------------------------------------------------

    def cached_list(self, backend: str) -> Result:
        """The List workload answered by the query cache (``memory``: the in-process LRU;
        ``redis``: Redis at ``DATAFLOW_BENCH_REDIS_URL``), against the same List without a
        cache, in the same run; the 'raw' column is the uncached List here."""
        from dataflow_engine import DataFlow, LocalRuntime

        self._expect_rows(self.sizes.list_table_rows)
        prefix = f"dataflow_bench_{uuid.uuid4().hex[:12]}"
        if backend == "redis":
            base = os.environ.get("DATAFLOW_BENCH_REDIS_URL", DEFAULT_REDIS_URL)
            setting = f"{base}{'&' if '?' in base else '?'}prefix={prefix}"
        else:
            setting = "memory"
        s = self.sizes
        cached = DataFlow(self.backend.url, cache=setting)
        try:

            @cached.model
            class User:
                name: str
                email: str
                age: int
                department: str
                active: bool = True

            runtime = LocalRuntime(dataflow=cached)
            first = runtime.execute(self._list_workflow_for(cached))[0]["l"]["records"]
            again = runtime.execute(self._list_workflow_for(cached))[0]["l"]["records"]
            _check(first == again, "the cached List differs from the first answer")
            timings = Timings()
            for _ in range(s.list_repeats):
                gc.collect()
                timings.raw.append(self._df_list(s.list_ops))
                gc.collect()
                timings.dataflow.append(self._df_list(s.list_ops, cached))
            stats = cached.cache_stats()
            _check(stats["hits"] > 0, f"the {backend} cache served nothing: {stats}")
        finally:
            cached.close()
            if backend == "redis":
                self.run(_drop_redis_keys(setting, prefix))
        note = (
            f"per op, {s.list_ops} ops x {s.list_repeats}; 'raw' is the same List uncached; "
            f"hit ratio {stats['hit_ratio']:.2f}"
        )
        df, raw = statistics.median(timings.dataflow), statistics.median(timings.raw)
        passed = df / raw <= CACHED_LIST_TARGET
        target = f"<= {CACHED_LIST_TARGET:.1f}x"
        return Result(f"cached list ({backend})", self.backend.name, df, raw, target, passed, note)

    def _list_workflow_for(self, db: Any) -> Any:
        from dataflow_engine import WorkflowBuilder

        wf = WorkflowBuilder()
        wf.add_node(
            "UserListNode", "l", {"filter": LIST_FILTER, "order_by": ["id"], "limit": LIST_LIMIT}
        )
        return wf.build(db)


async def _drop_redis_keys(url: str, prefix: str) -> None:
    """Delete the keys a benchmark run left under ``prefix``."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url.split("?", 1)[0])
    try:
        async for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            await client.delete(key)
    finally:
        await client.aclose()


_FIXED_ANSWER_SERVER = """\
import sys, uvicorn
body = open(sys.argv[2], "rb").read()
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="error")
"""


@contextmanager
def _api_server(url: str | None, answer: bytes = b"") -> Iterator[Any]:
    """``dataflow api`` over ``url`` on a free loopback port, in its own process (or,
    without a URL, uvicorn answering every request with ``answer``); an httpx client and
    the port."""
    import socket

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATAFLOW_")}
    if url is None:
        fixed = tempfile.NamedTemporaryFile(suffix=".json", delete=False)  # noqa: SIM115
        fixed.write(answer)
        fixed.close()
        args = ["-c", _FIXED_ANSWER_SERVER, str(port), fixed.name]
    else:
        args = ["-m", "dataflow_cli", "api", "--url", url, "--tables", TABLE_NAME]
        args += ["--port", str(port), "--log-level", "error"]
    proc = subprocess.Popen(
        [sys.executable, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise BenchError(f"dataflow api exited: {proc.communicate()[1]}")
                try:
                    http.get("/health").raise_for_status()
                    break
                except httpx.TransportError:
                    _check(time.monotonic() < deadline, "dataflow api did not start")
                    time.sleep(0.1)
            yield http, port
    finally:
        proc.terminate()
        proc.wait(30)
        if url is None:
            os.unlink(fixed.name)


class BenchError(RuntimeError):
    """A workload produced a wrong result; its timings would mean nothing."""


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise BenchError(message)


@dataclass
class BackendRun:
    """What one backend produced: results, the server version, and the workloads that
    failed (each failure is printed as it happens; the other workloads still run)."""

    results: list[Result] = field(default_factory=list)
    version: str = ""
    failed: list[str] = field(default_factory=list)


#: Workloads that read the table the List workload seeds: --only runs it before them.
_READS_LIST_TABLE = {
    "aggregate",
    "mcp query",
    "rest list (asgi)",
    "rest list (uvicorn)",
    "cached list (memory)",
    "cached list (redis)",
}


def run_backend(backend: Backend, sizes: Sizes, only: set[str] | None = None) -> BackendRun:
    """Every database workload on one backend (or those named in ``only``, with the
    List workload first when they read its table); the database is removed afterwards.

    Raises:
        Exception: the database could not be set up (nothing ran).
    """
    loop = asyncio.new_event_loop()
    bench: Bench | None = None
    out = BackendRun()
    try:
        loop.run_until_complete(backend.setup())
        bench = b = Bench(backend, sizes, loop)
        loop.run_until_complete(backend.connect())
        out.version = loop.run_until_complete(backend.version())
        workloads: list[tuple[str, Callable[[], Result]]] = [
            ("create", lambda: b.create(rebuild=False)),
            ("create, rebuilt", lambda: b.create(rebuild=True)),
            ("list", b.list_filtered),
            ("aggregate", b.aggregate),  # reads the table the List workload seeded
            ("mcp query", b.mcp_query),  # so does this
            ("rest list (asgi)", lambda: b.rest_list("asgi")),  # and these
            ("rest list (uvicorn)", lambda: b.rest_list("uvicorn")),
            ("cached list (memory)", lambda: b.cached_list("memory")),  # and these
            ("cached list (redis)", lambda: b.cached_list("redis")),
            ("bulk create", b.bulk_create),
            ("discover", b.discover),
            ("mcp search", b.mcp_search),  # over the tables discover made
        ]
        if only is not None:
            wanted = only | ({"list"} if only & _READS_LIST_TABLE else set())
            wanted |= {"discover"} if "mcp search" in only else set()
            workloads = [(n, w) for n, w in workloads if n in wanted]
        for name, workload in workloads:
            print(f"  {backend.name}: {name}", file=sys.stderr, flush=True)
            try:
                out.results.append(workload())
            except Exception as exc:
                out.failed.append(f"{name} ({backend.name})")
                out.results.append(
                    Result(name, backend.name, None, None, "-", False, repr(exc), error=True)
                )
                traceback.print_exc()
        return out
    finally:
        try:
            if bench is not None:
                bench.close()
            loop.run_until_complete(backend.close())
        finally:
            try:
                loop.run_until_complete(backend.teardown())
            finally:
                loop.close()


# -- cold import ------------------------------------------------------------------------------

_IMPORT_PROBE = """\
import sys, time
started = time.perf_counter()
import dataflow_engine
elapsed = time.perf_counter() - started
loaded = [m for m in {drivers!r} if m in sys.modules]
print(elapsed, ",".join(loaded))
"""


def _bytecode_env(cache_dir: str) -> dict[str, str]:
    """An environment whose bytecode goes to ``cache_dir``: an installed package has its
    ``.pyc`` files, so compiling the sources is not part of the import being measured."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = cache_dir
    return env


def _probe_import(env: Mapping[str, str]) -> tuple[float, list[str]]:
    probe = _IMPORT_PROBE.format(drivers=DRIVER_MODULES)
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env
    ).stdout
    elapsed, _, loaded = out.strip().partition(" ")
    return float(elapsed), [m for m in loaded.split(",") if m]


@dataclass(frozen=True)
class ImportCost:
    """One module in ``-X importtime`` output; times in microseconds."""

    module: str
    self_us: int
    cumulative_us: int
    parent: str


def import_costs(env: Mapping[str, str]) -> list[ImportCost]:
    """Every module ``import dataflow_engine`` loads, with the module that imported it."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import dataflow_engine"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    entries: list[tuple[int, str, int, int]] = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        own, cumulative, label = line[len("import time:") :].split("|")
        if not own.strip().isdigit():
            continue  # the header line
        depth = (len(label) - len(label.lstrip()) - 1) // 2
        entries.append((depth, label.strip(), int(own), int(cumulative)))
    # The output is post-order: read backwards, the last entry one level up is the parent.
    costs: list[ImportCost] = []
    stack: list[str] = []
    for depth, module, self_us, cumulative_us in reversed(entries):
        del stack[depth:]
        costs.append(ImportCost(module, self_us, cumulative_us, stack[-1] if stack else ""))
        stack.append(module)
    costs.reverse()
    return costs


def format_import_costs(costs: Sequence[ImportCost], top: int = 10) -> str:
    """What the engine pulls in (cumulative) and what its own modules cost (self)."""
    engine = "dataflow_engine"
    total = next((c.cumulative_us for c in costs if c.module == engine), 0)
    own = [c for c in costs if c.module.split(".")[0] == engine]
    pulled = [c for c in costs if c.module.split(".")[0] != engine and c.parent.startswith(engine)]
    own.sort(key=lambda c: c.self_us, reverse=True)
    pulled.sort(key=lambda c: c.cumulative_us, reverse=True)
    lines = [f"import dataflow_engine (-X importtime, one run): {total / 1000:.1f} ms"]
    lines.append(f"  modules the engine imports, cumulative (top {top}):")
    lines += [
        f"    {c.cumulative_us / 1000:6.1f} ms  {c.module}  (from {c.parent})" for c in pulled[:top]
    ]
    lines.append(f"  engine modules, own time (top {top}):")
    lines += [f"    {c.self_us / 1000:6.1f} ms  {c.module}" for c in own[:top]]
    return "\n".join(lines)


def cold_import(sizes: Sizes, env: Mapping[str, str]) -> list[Result]:
    _probe_import(env)  # writes the bytecode cache; compiling is not import time
    runs = [_probe_import(env) for _ in range(sizes.import_runs)]
    elapsed = statistics.median(t for t, _ in runs)
    loaded = sorted({m for _, mods in runs for m in mods})
    target = f"< {IMPORT_TARGET_SECONDS * 1000:.0f} ms"
    note = f"median of {sizes.import_runs} fresh interpreters, bytecode cached"
    return [
        Result("cold import", "-", elapsed, None, target, elapsed < IMPORT_TARGET_SECONDS, note),
        Result(
            "import loads no driver",
            "-",
            None,
            None,
            "none of " + "/".join(DRIVER_MODULES),
            not loaded,
            "loaded: " + (", ".join(loaded) if loaded else "none"),
        ),
    ]


# -- filter compilation ----------------------------------------------------------------------

COMPILE_TARGET_SECONDS = 20e-6
DISCOVERY_QUERY_TARGET = 10  # a bounded number, however many tables
MCP_QUERY_TARGET = 1.5
REST_LIST_TARGET = 2.0


def filter_compile(sizes: Sizes) -> list[Result]:
    """A five-clause filter whose shape was seen before, with new values each call: the
    node's path from document to SQL and parameters (validation, binding, compilation)."""
    from dataflow_engine.dialects import MySQLDialect, Params, PostgresDialect, SQLiteDialect
    from dataflow_engine.models import build_model
    from dataflow_engine.query import parse_filter, prepare_filter

    class User:
        name: str
        age: int
        department: str
        active: bool
        score: float | None = None

    model = build_model(User)

    def document(i: int) -> dict[str, Any]:
        return {
            "age": {"$gte": i % 50, "$lt": 65},
            "department": {"$in": ["eng", f"ops{i}"]},
            "active": bool(i % 2),
            "name": {"$gt": f"A{i}"},
            "score": {"$ne": None},
        }

    results = []
    n = sizes.compile_calls
    for dialect in (SQLiteDialect(), PostgresDialect(), MySQLDialect()):
        docs = [document(i) for i in range(n * 6)]
        dialect.compile_filter(prepare_filter(docs[0], model, parse_filter), Params(dialect))
        timings = []
        for r in range(5):
            batch = docs[r * n : (r + 1) * n]
            gc.collect()
            started = time.perf_counter()
            for doc in batch:
                dialect.compile_filter(prepare_filter(doc, model, parse_filter), Params(dialect))
            timings.append((time.perf_counter() - started) / n)
        per_call = statistics.median(timings)
        results.append(
            Result(
                "filter compile, shape seen",
                dialect.name,
                per_call,
                None,
                f"< {COMPILE_TARGET_SECONDS * 1e6:.0f} us",
                per_call < COMPILE_TARGET_SECONDS,
                f"median of 5 batches of {n:,} documents",
            )
        )
    return results


# -- the report -------------------------------------------------------------------------------


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


HEADER = ("workload", "backend", "DataFlow", "raw", "ratio", "target", "result", "notes")


def _cells(r: Result) -> tuple[str, ...]:
    ratio = "-" if r.ratio is None else f"{r.ratio:.2f}x"
    return (
        r.workload,
        r.backend,
        _fmt(r.dataflow),
        _fmt(r.raw),
        ratio,
        r.target,
        "ERROR" if r.error else "PASS" if r.passed else "FAIL",
        r.note,
    )


def format_table(results: Sequence[Result]) -> str:
    rows = [HEADER, *(_cells(r) for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def format_markdown(results: Sequence[Result]) -> str:
    lines = [
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join("---" for _ in HEADER) + "|",
    ]
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in results]
    return "\n".join(lines)


def _revision() -> str:
    """The git commit being measured, ``+changes`` when the working tree differs from it."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "unknown"
    if not head:
        return "unknown"
    return f"{head}+changes" if dirty else head


def machine(versions: Mapping[str, str]) -> list[tuple[str, str]]:
    cpu = "unknown"
    mem = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    import sqlite3

    return [
        ("date", dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")),
        ("revision", _revision()),
        ("cpus (nproc)", str(os.cpu_count())),
        ("cpu", cpu),
        ("memory", mem),
        ("os", platform.platform()),
        ("python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("sqlite", versions.get("sqlite", f"SQLite {sqlite3.sqlite_version}")),
        ("postgresql", versions.get("postgresql", "not run")),
        ("mysql", versions.get("mysql", "not run")),
    ]


# -- main -------------------------------------------------------------------------------------


def _backends(choice: str, pg_admin_url: str, mysql_admin_url: str) -> list[Callable[[], Backend]]:
    factories: dict[str, Callable[[], Backend]] = {
        "sqlite": SQLiteBackend,
        "postgresql": lambda: PostgresBackend(pg_admin_url),
        "mysql": lambda: MySQLBackend(mysql_admin_url),
    }
    if choice == "all":
        return list(factories.values())
    return [factories[choice]]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgresql", "mysql", "all"),
        default="all",
        help="default: all",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    parser.add_argument(
        "--only",
        action="append",
        metavar="WORKLOAD",
        help="run only this workload (repeatable), e.g. 'rest list (uvicorn)', 'mcp query', "
        "'cold import'; those reading the List table run the List workload first",
    )
    parser.add_argument(
        "--pg-admin-url",
        default=os.environ.get("DATAFLOW_BENCH_PG_ADMIN_URL", DEFAULT_PG_ADMIN_URL),
        help="PostgreSQL URL used to create and drop the benchmark database",
    )
    parser.add_argument(
        "--mysql-admin-url",
        default=os.environ.get("DATAFLOW_BENCH_MYSQL_ADMIN_URL", DEFAULT_MYSQL_ADMIN_URL),
        help="MySQL/MariaDB URL used to create and drop the benchmark database",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else Sizes()

    results: list[Result] = []
    versions: dict[str, str] = {}
    failed: list[str] = []
    started = time.perf_counter()

    only = set(args.only) if args.only else None
    costs: list[ImportCost] = []
    if only is None or "cold import" in only:
        with tempfile.TemporaryDirectory(prefix="dataflow_bench_pycache_") as cache:
            env = _bytecode_env(cache)
            try:
                results += cold_import(sizes, env)
                costs = import_costs(env)
            except Exception:
                failed.append("cold import")
                traceback.print_exc()
    if only is None or "filter compile" in only:
        try:
            results += filter_compile(sizes)
        except Exception:
            failed.append("filter compile")
            traceback.print_exc()

    for factory in _backends(args.backend, args.pg_admin_url, args.mysql_admin_url):
        backend = factory()
        print(f"running {backend.name} ...", file=sys.stderr, flush=True)
        try:
            run = run_backend(backend, sizes, only)
        except Exception:
            failed.append(backend.name)
            traceback.print_exc()
            continue
        results += run.results
        failed += run.failed
        versions[backend.name] = run.version

    print()
    for key, value in machine(versions):
        print(f"{key + ':':<18} {value}")
    print(f"{'sizes:':<18} {'quick' if args.quick else 'default'}")
    print()
    print(format_table(results))
    if args.markdown:
        print()
        print(format_markdown(results))
    if costs:
        print()
        print(format_import_costs(costs))
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    if failed:
        print(f"\nerrors in: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
