"""SQLite through aiosqlite: one connection per database, WAL for files, FKs always on."""

from __future__ import annotations

import asyncio
import functools
import json
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal, InvalidOperation
from typing import Any

import regex

from .. import errors as e
from ..config import Settings
from ..dialects import SQLiteDialect
from ..query import ascii_classes, pcre_caret
from ._base import Adapter, Connection
from ._errors import SQLITE_ERRORNAME, label

__all__ = ["SQLiteAdapter"]


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str, options: str) -> Any:
    # The regex module reads patterns as re does (its version 0) and, unlike re, can give
    # up on a match that backtracks for too long.
    flags = 0  # case folds for every letter; the classes are made ASCII below, as in PCRE
    for letter, flag in (
        ("i", regex.IGNORECASE),
        ("m", regex.MULTILINE),
        ("s", regex.DOTALL),
        ("x", regex.VERBOSE),
    ):
        if letter in options:
            flags |= flag
    pattern = ascii_classes(pattern)
    if "m" in options:
        pattern = pcre_caret(pattern)
    return regex.compile(pattern, flags | regex.VERSION0)


#: Seconds one regular expression may spend on one value when no command_timeout is set.
REGEX_BUDGET = 10.0


def _regexp_within(budget: float, gave_up: list[str]) -> Any:
    """df_regexp with a time budget per value; an abandoned pattern is put in ``gave_up``
    for the adapter to report (SQLite itself says only that the function raised)."""

    def df_regexp(pattern: str, options: str, value: Any) -> int | None:
        if value is None:
            return None
        try:
            return 1 if _compiled(pattern, options).search(str(value), timeout=budget) else 0
        except TimeoutError:
            gave_up[:] = [pattern]
            raise

    return df_regexp


def _json_same(a: Any, b: Any) -> bool:
    """JSON equality: numbers by value (1 equals 1.0, never true), keys in any order."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _jsoneq(a: Any, b: Any) -> int | None:
    if a is None or b is None:
        return None
    return 1 if _json_same(json.loads(a), json.loads(b)) else 0


def _deccmp(a: Any, b: Any) -> int | None:
    if a is None or b is None:
        return None
    try:
        x, y = Decimal(str(a)), Decimal(str(b))
    except InvalidOperation:
        return None
    return (x > y) - (x < y)


def _decadd(a: Any, b: Any) -> str | None:
    if a is None or b is None:
        return None
    return str(Decimal(str(a)) + Decimal(str(b)))


def _decmul(a: Any, b: Any) -> str | None:
    if a is None or b is None:
        return None
    return str(Decimal(str(a)) * Decimal(str(b)))


def _decimal_collation(a: str, b: str) -> int:
    try:
        x, y = Decimal(a), Decimal(b)
    except InvalidOperation:
        return (a > b) - (a < b)
    return (x > y) - (x < y)


class _DecimalAggregate:
    """Exact SUM/AVG/MIN/MAX over Decimal text (SQLite's own would use floats)."""

    op = "sum"

    def __init__(self) -> None:
        self.values: list[Decimal] = []

    def step(self, value: Any) -> None:
        if value is not None:
            self.values.append(Decimal(str(value)))

    def finalize(self) -> str | None:
        if not self.values:
            return "0" if self.op == "sum" else None
        if self.op == "sum":
            return str(sum(self.values, Decimal(0)))
        if self.op == "avg":
            return str(sum(self.values, Decimal(0)) / len(self.values))
        return str(min(self.values) if self.op == "min" else max(self.values))


_DECIMAL_AGGREGATES = {
    op: type(f"_Decimal{op.title()}", (_DecimalAggregate,), {"op": op})
    for op in ("sum", "avg", "min", "max")
}


def _int64(value: int) -> int:
    if not -(2**63) <= value < 2**63:
        raise OverflowError("integer out of the 64-bit range")
    return value


def _intadd(a: Any, b: Any) -> int | None:
    return None if a is None or b is None else _int64(int(a) + int(b))


def _intmul(a: Any, b: Any) -> int | None:
    return None if a is None or b is None else _int64(int(a) * int(b))


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _setup(
    raw: sqlite3.Connection,
    is_file: bool,
    read_only: bool,
    regex_budget: float,
    gave_up: list[str],
) -> None:
    raw.execute("PRAGMA foreign_keys = ON")
    raw.execute("PRAGMA case_sensitive_like = ON")
    raw.execute("PRAGMA busy_timeout = 5000")
    if is_file and not read_only:
        raw.execute("PRAGMA journal_mode = WAL")
        raw.execute("PRAGMA synchronous = NORMAL")
    if read_only:
        raw.execute("PRAGMA query_only = ON")
    det = {"deterministic": True}
    raw.create_function("df_regexp", 3, _regexp_within(regex_budget, gave_up), **det)
    raw.create_function("df_deccmp", 2, _deccmp, **det)
    raw.create_function("df_jsoneq", 2, _jsoneq, **det)
    raw.create_function("df_decadd", 2, _decadd, **det)
    raw.create_function("df_decmul", 2, _decmul, **det)
    raw.create_function("df_lower", 1, _lower, **det)
    raw.create_function("df_intadd", 2, _intadd, **det)
    raw.create_function("df_intmul", 2, _intmul, **det)
    raw.create_collation("df_decimal", _decimal_collation)
    for op, aggregate in _DECIMAL_AGGREGATES.items():
        raw.create_aggregate(f"df_dec{op}", 1, aggregate)


class _SQLiteConnection(Connection):
    def __init__(self, adapter: SQLiteAdapter, conn: Any) -> None:
        self.dialect = adapter.dialect
        self._adapter = adapter
        self._conn = conn
        self._depth = 0

    async def _call(self, fn: Any) -> Any:
        timeout = self._adapter.settings.command_timeout
        try:
            if timeout is None:
                return await self._conn._execute(fn)
            task = asyncio.ensure_future(self._conn._execute(fn))
            try:
                return await asyncio.wait_for(asyncio.shield(task), timeout)
            except TimeoutError:
                await self._conn.interrupt()
                try:  # let the interrupted statement finish before the connection is reused
                    await task
                except sqlite3.Error:
                    pass
                raise e.QueryTimeout(
                    f"the statement ran longer than {timeout}s and was interrupted",
                    details={"timeout": timeout},
                ) from None
        except asyncio.CancelledError:
            # Interrupted (Ctrl-C, a cancelled task): stop the statement in its thread too.
            self._conn._conn.interrupt()
            raise
        except sqlite3.Error as exc:
            raise self._adapter.translate_sqlite(exc) from exc
        except UnicodeEncodeError as exc:
            raise e.DatabaseError(
                f"text cannot be stored as UTF-8 (a lone surrogate?): {exc}",
                code="DF-DB-DATA",
                details={"dialect": "sqlite"},
            ) from exc

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        self._adapter.before(sql, params)
        raw = self._conn._conn
        return await self._call(lambda: raw.execute(sql, params).fetchall())  # type: ignore[no-any-return]

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        self._adapter.before(sql, params)
        raw = self._conn._conn
        return await self._call(lambda: raw.execute(sql, params).rowcount)  # type: ignore[no-any-return]

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        self._adapter.before(sql, f"[{len(rows)} rows]")
        raw = self._conn._conn
        return await self._call(lambda: raw.executemany(sql, rows).rowcount)  # type: ignore[no-any-return]

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        self._depth += 1
        name = f"df_sp_{self._depth}"
        begin, commit, rollback = (
            ("BEGIN IMMEDIATE", "COMMIT", ("ROLLBACK",))
            if self._depth == 1
            else (
                f"SAVEPOINT {name}",
                f"RELEASE {name}",
                (f"ROLLBACK TO {name}", f"RELEASE {name}"),
            )
        )
        try:
            await self.execute(begin)
            try:
                yield
            except BaseException:
                try:
                    for statement in rollback:
                        await self.execute(statement)
                except Exception:  # pragma: no cover - the original error matters more
                    pass
                raise
            await self.execute(commit)
        finally:
            self._depth -= 1

    def transaction(self) -> Any:
        return self._transaction()


class SQLiteAdapter(Adapter):
    """One aiosqlite connection per ``DataFlow`` (the in-memory database lives in it).

    Statements are serialised through that connection; a borrowed connection is held for
    the whole ``async with`` block so a transaction is never interleaved with others.
    """

    discovery_module = "_sqlite"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.dialect = SQLiteDialect()
        self._conn: Any = None
        self._lock = asyncio.Lock()
        # $regex runs in Python here, where an interrupt cannot reach: each match has a
        # budget of its own (the command timeout, else REGEX_BUDGET seconds).
        self.regex_budget = settings.command_timeout or REGEX_BUDGET
        self._regex_gave_up: list[str] = []
        self._wrapped: _SQLiteConnection | None = None

    async def open(self) -> None:
        if self._conn is not None:
            return
        import aiosqlite

        url = self.settings.url
        path = url.database if url.database and not url.is_memory else ":memory:"
        read_only = self.settings.read_only and not url.is_memory
        target = f"file:{path}?mode=ro" if read_only else path
        conn = aiosqlite.connect(
            target, isolation_level=None, uri=read_only, check_same_thread=False
        )
        # The worker thread must never keep the interpreter alive at exit.
        conn._thread.daemon = True
        try:
            await conn
            await conn._execute(  # type: ignore[no-untyped-call]
                lambda: _setup(
                    conn._conn,
                    # WAL is a lasting change to the file: not on a database someone else owns
                    not url.is_memory and not self.settings.existing_schema_mode,
                    self.settings.read_only,
                    self.regex_budget,
                    self._regex_gave_up,
                )
            )
        except sqlite3.Error as exc:
            raise e.ConnectError(
                f"cannot open SQLite database {path!r}: {exc}", details={"path": path}
            ) from exc
        self._conn = conn
        self._wrapped = _SQLiteConnection(self, conn)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    @asynccontextmanager
    async def _acquire(self) -> AsyncIterator[Connection]:
        if self._conn is None:
            await self.open()
        async with self._lock:
            wrapped = self._wrapped
            assert wrapped is not None
            raw = self._conn._conn
            if wrapped._depth == 0 and raw.in_transaction:
                # A statement interrupted at the wrong moment may have left a transaction
                # open: never hand that state to the next user.
                await self._conn._execute(raw.rollback)
            yield wrapped

    def acquire(self) -> Any:
        return self._acquire()

    async def table_columns(
        self, conn: Connection, table: str, schema: str | None
    ) -> list[str] | None:
        quoted = self.dialect.quote(table)
        rows = await conn.fetch(f"PRAGMA table_info({quoted})")
        if not rows:
            return None
        return [str(r[1]) for r in rows]

    def translate(self, exc: BaseException) -> e.DataFlowError | None:
        return self.translate_sqlite(exc) if isinstance(exc, sqlite3.Error) else None

    def translate_sqlite(self, exc: sqlite3.Error) -> e.DataFlowError:
        name = getattr(exc, "sqlite_errorname", "") or ""
        message = str(exc)
        found = SQLITE_ERRORNAME.get(name)
        if found is None and name.startswith("SQLITE_CONSTRAINT"):
            found = SQLITE_ERRORNAME["SQLITE_CONSTRAINT"]
        if found is None and name.startswith("SQLITE_READONLY"):
            found = SQLITE_ERRORNAME["SQLITE_READONLY"]
        if self._regex_gave_up and "user-defined function raised exception" in message:
            pattern = self._regex_gave_up.pop()
            return e.QueryTimeout(
                f"the regular expression {pattern[:80]!r} ran longer than "
                f"{self.regex_budget}s on one "
                "value and was abandoned; nested quantifiers such as (a|aa)+ backtrack "
                "exponentially",
                code="DF-DB-REGEX-LIMIT",
                details={"dialect": "sqlite", "pattern": pattern[:200]},
            )
        if found is None and "user-defined function raised exception" in message:
            found = (e.DatabaseError, "DF-DB-DATA")  # e.g. an integer overflow in $inc
        if found is None and "no such table" in message:
            found = (e.SchemaError, "DF-SCHEMA-TABLE-MISSING")
        if found is None and "no such column" in message:
            found = (e.SchemaError, "DF-SCHEMA-COLUMN-MISSING")
        cls, code = found or (e.DatabaseError, None)
        return cls(
            f"{label(cls)}: {message}",
            code=code,
            details={"dialect": "sqlite", "driver_error": name or type(exc).__name__},
        )

    async def server_version(self) -> str:
        return sqlite3.sqlite_version
