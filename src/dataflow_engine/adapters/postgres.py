"""PostgreSQL through asyncpg: a pool per ``DataFlow``, prepared-statement cache, COPY."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from .. import errors as e
from ..config import Settings
from ..dialects import PostgresDialect
from ._base import Adapter, Connection
from ._errors import PG_SQLSTATE, label

__all__ = ["PostgresAdapter"]


def _count(status: str) -> int:
    tail = status.rsplit(" ", 1)[-1] if status else ""
    return int(tail) if tail.isdigit() else 0


def _jsonb_encode(value: Any) -> bytes:
    return b"\x01" + json.dumps(value, ensure_ascii=False).encode()


def _jsonb_decode(data: bytes) -> Any:
    return json.loads(data[1:])


def _json_encode(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


async def _keep_session(conn: Any) -> None:
    """Pool release hook. The engine leaves no session state behind (no SET, LISTEN,
    session advisory locks or temporary tables; open transactions are rolled back by the
    driver first), so the default reset round trip on every release is skipped."""


async def _init_connection(conn: Any) -> None:
    # Binary codecs, so COPY (binary) works for JSON columns too.
    await conn.set_type_codec(
        "jsonb", encoder=_jsonb_encode, decoder=_jsonb_decode, schema="pg_catalog", format="binary"
    )
    await conn.set_type_codec(
        "json", encoder=_json_encode, decoder=json.loads, schema="pg_catalog", format="binary"
    )


def _is_closed(conn: Any) -> bool:
    try:
        return bool(conn.is_closed())
    except Exception:  # a proxy the pool already took back
        return True


class _PgConnection(Connection):
    def __init__(self, adapter: PostgresAdapter, conn: Any) -> None:
        self.dialect = adapter.dialect
        self._adapter = adapter
        self._conn = conn
        self._depth = 0

    async def _guard(self, call: Any) -> Any:
        """Await ``call()``, translating what the driver raises, including when it raises
        at the call itself (a pooled connection the driver already took back)."""
        try:
            return await call()
        except Exception as exc:
            translated = self._adapter.translate(exc)
            if translated is None:
                raise
            if isinstance(translated, e.ConnectionLost) or _is_closed(self._conn):
                # Drop this connection and every idle one: a server restart or an admin
                # kill ends them all, and the next call must get a fresh connection.
                try:
                    self._conn.terminate()
                except Exception:  # already detached from the pool by the driver
                    pass
                self._adapter.expire_idle()
                if not isinstance(translated, e.ConnectionLost):
                    translated = e.ConnectionLost(
                        f"the connection to PostgreSQL was lost: {exc}; the next call reconnects",
                        details={"dialect": "postgresql"},
                    )
            raise translated from exc

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        self._adapter.before(sql, params)
        return await self._guard(lambda: self._conn.fetch(sql, *params))  # type: ignore[no-any-return]

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        self._adapter.before(sql, params)
        return _count(await self._guard(lambda: self._conn.execute(sql, *params)))

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        self._adapter.before(sql, f"[{len(rows)} rows]")
        await self._guard(lambda: self._conn.executemany(sql, rows))
        return len(rows)

    async def copy_records(
        self,
        table: str,
        schema: str | None,
        columns: Sequence[str],
        records: Sequence[Sequence[Any]],
    ) -> int | None:
        self._adapter.before(f"COPY {table} ({', '.join(columns)})", f"[{len(records)} rows]")
        try:
            status = await self._guard(
                lambda: self._conn.copy_records_to_table(
                    table, records=records, columns=list(columns), schema_name=schema
                )
            )
        except (ValueError, OverflowError, TypeError) as exc:
            # COPY encodes values on the client, and asyncpg raises the codec's own error
            # for a value PostgreSQL's binary format cannot hold (a NUMERIC exponent past
            # its range); the INSERT path reports the same as a data error.
            raise e.DatabaseError(
                f"a value cannot be stored in {table}: {exc}",
                code="DF-DB-DATA",
                details={"dialect": "postgresql", "table": table},
            ) from exc
        return _count(status)

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        tx = self._conn.transaction()
        await self._guard(tx.start)
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            try:
                await tx.rollback()
            except Exception:  # pragma: no cover - the original error matters more
                pass
            raise
        self._depth -= 1
        await self._guard(tx.commit)

    def transaction(self) -> Any:
        return self._transaction()


class PostgresAdapter(Adapter):
    """An asyncpg pool that lives as long as its ``DataFlow``."""

    discovery_module = "_postgres"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.dialect = PostgresDialect(schema=settings.url.schema)
        self._pool: Any = None
        self._open_lock = asyncio.Lock()

    async def open(self) -> None:
        if self._pool is not None:
            return
        async with self._open_lock:
            if self._pool is not None:
                return
            try:
                import asyncpg
            except ImportError as exc:
                raise e.DriverMissingError(
                    "PostgreSQL needs the asyncpg driver: pip install 'dataflow-engine[postgres]'"
                ) from exc
            url = self.settings.url
            server_settings = {"application_name": "dataflow"}
            if self.settings.read_only:
                server_settings["default_transaction_read_only"] = "on"
            if self.settings.command_timeout is not None:
                # The server stops a statement itself, even when the client is gone.
                millis = max(1, int(self.settings.command_timeout * 1000))
                server_settings["statement_timeout"] = str(millis)
            ssl = url.query.get("sslmode")
            try:
                self._pool = await asyncpg.create_pool(
                    host=url.host,
                    port=url.port or 5432,
                    user=url.username,
                    password=url.password,
                    database=url.database,
                    min_size=1,
                    max_size=self.settings.pool_size,
                    command_timeout=self.settings.command_timeout,
                    init=_init_connection,
                    reset=_keep_session,
                    server_settings=server_settings,
                    ssl=ssl if ssl and ssl != "disable" else None,
                    timeout=self.settings.pool_timeout,
                )
            except Exception as exc:
                translated = self.translate(exc)
                if isinstance(translated, e.ConnectError):
                    raise translated from exc
                raise e.ConnectError(
                    f"cannot connect to {url.redacted()}: {exc}",
                    details={"url": url.redacted()},
                ) from exc

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), timeout=5)
            except (TimeoutError, Exception):
                pool.terminate()

    @asynccontextmanager
    async def _acquire(self) -> AsyncIterator[Connection]:
        if self._pool is None:
            await self.open()
        pool = self._pool  # close() may clear the attribute while this block runs
        if pool is None:
            raise e.ConfigurationError("this DataFlow is closed", code="DF-CONFIG-CLOSED")
        try:
            raw = await pool.acquire(timeout=self.settings.pool_timeout)
        except TimeoutError as exc:
            raise e.QueryTimeout(
                f"no pooled connection became free within {self.settings.pool_timeout}s "
                f"(pool_size={self.settings.pool_size})",
                code="DF-DB-POOL-TIMEOUT",
                details={"dialect": "postgresql", "pool_size": self.settings.pool_size},
            ) from exc
        except Exception as exc:
            translated = self.translate(exc)
            if translated is None:
                raise
            raise translated from exc
        try:
            yield _PgConnection(self, raw)
        finally:
            try:
                await pool.release(raw)
            except BaseException:  # never let a failed release mask the original error
                raw.terminate()

    def acquire(self) -> Any:
        return self._acquire()

    def expire_idle(self) -> None:
        """Make the pool replace its connections before they are used again."""
        if self._pool is not None:
            self._expiry = asyncio.ensure_future(self._pool.expire_connections())

    async def table_columns(
        self, conn: Connection, table: str, schema: str | None
    ) -> list[str] | None:
        rows = await conn.fetch(
            "SELECT a.attname FROM pg_catalog.pg_attribute a "
            "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = $1 AND n.nspname = COALESCE($2, current_schema()) "
            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            (table, schema),
        )
        if not rows:
            exists = await conn.fetch(
                "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
                "ON n.oid = c.relnamespace WHERE c.relname = $1 "
                "AND n.nspname = COALESCE($2, current_schema())",
                (table, schema),
            )
            return [] if exists else None
        return [str(r[0]) for r in rows]

    async def ensure_schema(self, conn: Connection, schema: str) -> None:
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.dialect.quote(schema)}")

    async def lock_for_upsert(self, conn: Connection, table: str) -> None:
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", (table,))

    def translate(self, exc: BaseException) -> e.DataFlowError | None:
        import asyncpg

        if isinstance(exc, e.DataFlowError):
            return exc
        if isinstance(exc, asyncpg.PostgresError):
            state = getattr(exc, "sqlstate", "") or ""
            found = PG_SQLSTATE.get(state) or PG_SQLSTATE.get(state[:2])
            cls, code = found or (e.DatabaseError, None)
            detail = getattr(exc, "detail", None)
            message = str(exc) + (f" ({detail})" if detail else "")
            return cls(
                f"{label(cls)}: {message}",
                code=code,
                details={
                    "dialect": "postgresql",
                    "sqlstate": state,
                    "constraint": getattr(exc, "constraint_name", None),
                    "table": getattr(exc, "table_name", None),
                    "column": getattr(exc, "column_name", None),
                },
            )
        lost = (
            asyncpg.exceptions.ConnectionDoesNotExistError,
            asyncpg.exceptions._base.InternalClientError,
        )
        # A connection the server ended is "closed", or, when it sat idle in our hands,
        # already detached from its pool ("released back to the pool").
        gone = ("closed", "released back to the pool")
        if isinstance(exc, lost) or (
            isinstance(exc, asyncpg.InterfaceError) and any(g in str(exc) for g in gone)
        ):
            return e.ConnectionLost(
                f"the connection to PostgreSQL was lost: {exc}; the next call reconnects",
                details={"dialect": "postgresql"},
            )
        if isinstance(exc, TimeoutError):
            return e.QueryTimeout(
                f"the statement timed out after {self.settings.command_timeout}s",
                details={"dialect": "postgresql", "timeout": self.settings.command_timeout},
            )
        if isinstance(exc, ConnectionError | OSError):
            return e.ConnectError(
                f"cannot reach PostgreSQL at {self.settings.url.redacted()}: {exc}",
                details={"dialect": "postgresql"},
            )
        return None

    async def server_version(self) -> str:
        async with self.acquire() as conn:
            rows = await conn.fetch("SHOW server_version")
            return str(rows[0][0])
