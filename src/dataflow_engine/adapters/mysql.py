"""MySQL and MariaDB through asyncmy: a pool per ``DataFlow``, exact session settings.

asyncmy was chosen over aiomysql: its protocol is compiled (Cython) and it ships
manylinux wheels; on this project's benchmark machine a 100-row SELECT took 0.37 ms with
asyncmy against 1.35 ms with aiomysql, and single inserts were on par (docs/mysql.md).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from .. import errors as e
from ..config import Settings
from ..dialects.mysql import MySQLDialect
from ._base import Adapter, Connection
from ._errors import MYSQL_ERRNO, label

__all__ = ["MySQLAdapter"]

_SQL_MODE = (
    "STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,"
    "NO_ENGINE_SUBSTITUTION"
)
_REGEX_GAVE_UP = 1139  # ER_REGEXP_ERROR, e.g. "match limit exceeded"
_DUPLICATE_KEY = 1062
_IGNORE_CHUNK = 500


def _utc_datetime(text: Any) -> Any:
    """DATETIME text from the server (always UTC here) as an aware datetime."""
    raw = text.decode() if isinstance(text, bytes | bytearray) else text
    try:
        return dt.datetime.fromisoformat(raw + "+00:00")  # several times faster than replace()
    except ValueError:  # not a date (a zero date from a lax server): leave it as text
        return raw


def _conversions() -> dict[Any, Any]:
    from asyncmy import converters
    from asyncmy.constants import FIELD_TYPE

    conv = dict(converters.conversions)
    conv[FIELD_TYPE.DATETIME] = _utc_datetime
    conv[FIELD_TYPE.TIMESTAMP] = _utc_datetime
    return conv


class _MyConnection(Connection):
    def __init__(self, adapter: MySQLAdapter, conn: Any) -> None:
        self.dialect = adapter.dialect
        self._adapter = adapter
        self._conn = conn
        self._depth = 0
        self.named_locks: list[str] = []

    async def _run(self, sql: str, params: Sequence[Any], *, many: bool = False) -> Any:
        self._adapter.before(sql, params if not many else f"[{len(params)} rows]")
        try:
            async with self._conn.cursor() as cur:
                if many:
                    await cur.executemany(sql, params)
                else:
                    # Always a parameter tuple: the driver then formats every statement,
                    # which is what turns the dialect's doubled '%' back into one.
                    await cur.execute(sql, tuple(params))
                rows = await cur.fetchall() if cur.description else None
                result = (rows, cur.rowcount, cur.lastrowid)
        except Exception as exc:
            await self._fail(exc)
            raise AssertionError("unreachable") from exc  # pragma: no cover
        if sql.startswith("INSERT IGNORE"):
            await self._check_ignored()
        elif " REGEXP " in sql:
            await self._check_regex()
        return result

    async def _check_regex(self) -> None:
        """MariaDB's REGEXP answers false, with only a warning, when PCRE gives up (its
        match limit): a wrong answer, so it is raised instead."""
        async with self._conn.cursor() as cur:
            await cur.execute("SHOW WARNINGS", ())
            warnings = await cur.fetchall()
        for _level, code, message in warnings:
            if int(code) == _REGEX_GAVE_UP:
                raise e.QueryTimeout(
                    f"the regular expression was abandoned by the server ({message}); "
                    "nested quantifiers such as (a|aa)+ backtrack exponentially",
                    code="DF-DB-REGEX-LIMIT",
                    details={"dialect": "mysql", "errno": int(code)},
                )

    async def _fail(self, exc: Exception) -> None:
        translated = self._adapter.translate(exc)
        if translated is None:
            raise exc
        if isinstance(translated, e.ConnectionLost | e.QueryTimeout):
            # A lost or cancelled connection is not reused; idle ones may be dead too.
            self._conn.close()
            if isinstance(translated, e.ConnectionLost):
                self._adapter.expire_idle()
        raise translated from exc

    async def _check_ignored(self) -> None:
        """INSERT IGNORE downgrades every error to a warning; only duplicates may pass."""
        async with self._conn.cursor() as cur:
            await cur.execute("SHOW WARNINGS", ())
            warnings = await cur.fetchall()
        for _level, code, message in warnings:
            if int(code) != _DUPLICATE_KEY:
                cls, err_code = MYSQL_ERRNO.get(int(code), (e.DatabaseError, "DF-DB-DATA"))
                raise cls(
                    f"{label(cls)}: {message}",
                    code=err_code,
                    details={"dialect": "mysql", "errno": int(code)},
                )

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        rows, _, _ = await self._run(sql, params)
        return list(rows or ())

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        _, rowcount, _ = await self._run(sql, params)
        return int(rowcount)

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> Any:
        _, rowcount, lastrowid = await self._run(sql, params)
        return lastrowid if rowcount else None

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        if not rows:
            return 0
        if sql.startswith("INSERT IGNORE"):
            # The driver would split a batch into several statements, and SHOW WARNINGS
            # covers only the last: send our own multi-row statements, each checked.
            head, _, one_row = sql.partition(" VALUES ")
            total = 0
            for start in range(0, len(rows), _IGNORE_CHUNK):
                chunk = rows[start : start + _IGNORE_CHUNK]
                statement = f"{head} VALUES " + ", ".join([one_row] * len(chunk))
                total += await self.execute(statement, [v for r in chunk for v in r])
            return total
        _, rowcount, _ = await self._run(sql, rows, many=True)
        return int(rowcount)

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        self._depth += 1
        name = f"df_sp_{self._depth}"
        outer = self._depth == 1
        try:
            await self.execute("BEGIN" if outer else f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                try:
                    await self.execute("ROLLBACK" if outer else f"ROLLBACK TO SAVEPOINT {name}")
                except Exception:  # pragma: no cover - the original error matters more
                    pass
                raise
            await self.execute("COMMIT" if outer else f"RELEASE SAVEPOINT {name}")
        finally:
            self._depth -= 1
            if outer:
                await self._release_locks()

    async def _release_locks(self) -> None:
        locks, self.named_locks = self.named_locks, []
        for name in locks:
            try:
                await self.execute("SELECT RELEASE_LOCK(%s)", (name,))
            except Exception:  # the session is gone, and its locks with it
                pass

    def transaction(self) -> Any:
        return self._transaction()


class MySQLAdapter(Adapter):
    """An asyncmy pool that lives as long as its ``DataFlow``.

    Every connection uses UTC (``time_zone = '+00:00'``), a strict ``sql_mode``, and the
    ``FOUND_ROWS`` client flag, so an UPDATE reports the rows it matched (as PostgreSQL
    and SQLite do), not only the rows whose values changed.
    """

    discovery_module = "_mysql"

    dialect: MySQLDialect

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.dialect = MySQLDialect()
        self._pool: Any = None
        self._open_lock = asyncio.Lock()
        # Connections already given the session settings. The object itself is kept, so
        # a new connection can never inherit a dead one's id (and its "ready" mark).
        self._ready: dict[int, Any] = {}
        self._version = ""

    def _session_sql(self) -> list[str]:
        # max_error_count: INSERT IGNORE's warnings are all read back, not the first 64.
        statements = [
            f"SET time_zone = '+00:00', sql_mode = '{_SQL_MODE}', max_error_count = 65535"
        ]
        timeout = self.settings.command_timeout
        if timeout is not None:
            seconds = max(1, math.ceil(timeout))
            limit = (
                f"max_statement_time = {timeout}"
                if self.dialect.mariadb
                else f"max_execution_time = {int(timeout * 1000)}"
            )
            statements.append(f"SET innodb_lock_wait_timeout = {seconds}, {limit}")
        if self.settings.read_only:
            statements.append("SET SESSION TRANSACTION READ ONLY")
        return statements

    async def open(self) -> None:
        if self._pool is not None:
            return
        async with self._open_lock:
            if self._pool is not None:
                return
            try:
                import asyncmy
                from asyncmy.constants import CLIENT
            except ImportError as exc:
                raise e.DriverMissingError(
                    "MySQL needs the asyncmy driver: pip install 'dataflow-engine[mysql]'"
                ) from exc
            import logging

            # The driver logs every warning (each skipped duplicate) at WARNING level;
            # the adapter reads warnings itself and raises what matters.
            logging.getLogger("asyncmy").setLevel(logging.ERROR)
            url = self.settings.url
            try:
                pool = await asyncmy.create_pool(
                    minsize=1,
                    maxsize=self.settings.pool_size,
                    host=url.host,
                    port=url.port or 3306,
                    user=url.username or "root",
                    password=url.password or "",
                    database=url.database,
                    charset="utf8mb4",
                    autocommit=True,
                    client_flag=CLIENT.FOUND_ROWS,
                    conv=_conversions(),
                    connect_timeout=self.settings.pool_timeout,
                )
            except Exception as exc:
                translated = self.translate(exc)
                if isinstance(translated, e.ConnectError):
                    raise translated from exc
                raise e.ConnectError(
                    f"cannot connect to {url.redacted()}: {exc}", details={"url": url.redacted()}
                ) from exc
            async with pool.acquire() as conn, conn.cursor() as cur:
                await cur.execute("SELECT VERSION()", ())
                self._version = str((await cur.fetchone())[0])
            mariadb = "mariadb" in self._version.lower()
            wanted = url.query.get("returning", "auto").lower()
            if wanted not in ("auto", "off"):
                raise e.ConfigurationError(
                    f"?returning={wanted!r}: use 'auto' (the server decides) or 'off'",
                    code="DF-CONFIG-URL",
                )
            returning = mariadb and _at_least(self._version, (10, 5)) and wanted == "auto"
            self.dialect.configure(mariadb=mariadb, returning=returning)
            self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
            try:
                await asyncio.wait_for(pool.wait_closed(), timeout=5)
            except Exception:  # pragma: no cover - closing is best effort
                pool.terminate()

    def expire_idle(self) -> None:
        """Close idle connections so the next call opens fresh ones."""
        if self._pool is not None:
            self._expiry = asyncio.ensure_future(self._pool.clear())

    @asynccontextmanager
    async def _acquire(self) -> AsyncIterator[Connection]:
        if self._pool is None:
            await self.open()
        pool = self._pool  # close() may clear the attribute while this block runs
        if pool is None:
            raise e.ConfigurationError("this DataFlow is closed", code="DF-CONFIG-CLOSED")
        try:
            if pool.freesize:  # the common case, without a timer task per call
                raw = await pool.acquire()
            else:
                raw = await asyncio.wait_for(pool.acquire(), self.settings.pool_timeout)
        except TimeoutError as exc:
            raise e.QueryTimeout(
                f"no pooled connection became free within {self.settings.pool_timeout}s "
                f"(pool_size={self.settings.pool_size})",
                code="DF-DB-POOL-TIMEOUT",
                details={"dialect": "mysql"},
            ) from exc
        except Exception as exc:
            translated = self.translate(exc)
            if translated is None:
                raise
            raise translated from exc
        try:
            wrapped = _MyConnection(self, raw)
            if self._ready.get(id(raw)) is not raw:
                for statement in self._session_sql():
                    await wrapped.execute(statement)
                if len(self._ready) > 4 * self.settings.pool_size:
                    self._ready = {k: c for k, c in self._ready.items() if c.connected}
                self._ready[id(raw)] = raw
            yield wrapped
        finally:
            if not raw.connected:
                self._ready.pop(id(raw), None)
            try:
                pool.release(raw)
            except Exception:  # pragma: no cover - never mask the original error
                raw.close()

    def acquire(self) -> Any:
        return self._acquire()

    async def table_columns(
        self, conn: Connection, table: str, schema: str | None
    ) -> list[str] | None:
        rows = await conn.fetch(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = DATABASE() AND table_name = %s ORDER BY ordinal_position",
            (table,),
        )
        if rows:
            return [str(r[0]) for r in rows]
        exists = await conn.fetch(
            "SELECT 1 FROM information_schema.tables "
            "WHERE table_schema = DATABASE() AND table_name = %s",
            (table,),
        )
        return [] if exists else None

    async def lock_for_upsert(self, conn: Connection, table: str) -> None:
        # InnoDB's gap locks are shared, so two upserts of a key that is not there yet
        # both pass SELECT ... FOR UPDATE and deadlock on insert. A named lock, held
        # until the transaction ends, serialises them (PostgreSQL: an advisory lock).
        assert isinstance(conn, _MyConnection)
        import hashlib

        name = "dataflow:" + hashlib.sha1(table.encode()).hexdigest()[:40]
        rows = await conn.fetch("SELECT GET_LOCK(%s, %s)", (name, self.settings.pool_timeout))
        if not rows or rows[0][0] != 1:
            raise e.QueryTimeout(
                f"waited {self.settings.pool_timeout}s for another upsert of {table}",
                code="DF-DB-LOCK-TIMEOUT",
                details={"dialect": "mysql"},
            )
        conn.named_locks.append(name)

    def translate(self, exc: BaseException) -> e.DataFlowError | None:
        if isinstance(exc, e.DataFlowError):
            return exc
        try:
            from asyncmy import errors as my
        except ImportError:  # pragma: no cover
            return None
        if isinstance(exc, my.MySQLError):
            errno = int(exc.args[0]) if exc.args and isinstance(exc.args[0], int) else 0
            message = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
            found = MYSQL_ERRNO.get(errno)
            if found is None and isinstance(exc, my.OperationalError) and errno >= 2000:
                found = (e.ConnectionLost, None)  # client-side CR_* errors: the link broke
            if found is None and isinstance(exc, my.IntegrityError):
                found = (e.IntegrityError, None)
            cls, code = found or (e.DatabaseError, None)
            return cls(
                f"{label(cls)}: {message}",
                code=code,
                details={"dialect": "mysql", "errno": errno},
            )
        if isinstance(exc, TimeoutError):
            return e.QueryTimeout(
                f"the statement timed out after {self.settings.command_timeout}s",
                details={"dialect": "mysql"},
            )
        if isinstance(exc, ConnectionError | OSError | RuntimeError):
            return e.ConnectionLost(
                f"the connection to MySQL was lost: {exc}; the next call reconnects",
                details={"dialect": "mysql"},
            )
        return None

    async def server_version(self) -> str:
        if self._pool is None:
            await self.open()
        return self._version


def _at_least(version: str, wanted: tuple[int, int]) -> bool:
    parts = version.split("-")[0].split(".")
    try:
        return (int(parts[0]), int(parts[1])) >= wanted
    except (ValueError, IndexError):
        return False
