"""One migration at a time: a lock shared by every process and machine using a database.

The lock is *advisory*: it coordinates DataFlow migrations, and anything else that takes
a lock of the same name the same way; it does not stop another tool from running DDL.

How each database keeps it:

- PostgreSQL: a session-level advisory lock, ``pg_try_advisory_lock(key)`` polled with
  backoff, where ``key`` is the first 8 bytes of ``sha256(name.encode("utf-8"))`` read
  as a big-endian signed 64-bit integer. Advisory locks are per database, so every
  schema of one database shares a name.
- MySQL / MariaDB: ``GET_LOCK(name, 0)`` polled with backoff, the name qualified by the
  URL's database (``"app.dataflow_migrations"``, since named locks are server-wide); a
  name longer than the server's 64 characters becomes ``"dataflow:"`` and the first 55
  hex digits of its SHA-256.
- SQLite: the database has no lock that other processes can see and that ends with its
  holder, so the lock is a row of the table ``dataflow_migration_lock``, refreshed by a
  heartbeat while it is held; a row whose heartbeat is older than ``stale_after``
  belongs to a holder that died and is taken over by one conditional write (never two
  winners).

PostgreSQL and MySQL hold the lock on a connection of its own, opened for the hold and
closed after it (the pool's connections are never lent out with a lock on them), so a
holder that dies releases the lock the moment the server sees its connection drop.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import hashlib
import logging
import math
import os
import random
import re
import socket
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from .. import _loop
from ..adapters import Connection, create_adapter
from ..dialects.mysql import MySQLDialect
from ..errors import (
    ConfigurationError,
    DatabaseError,
    MigrationError,
    MigrationLockTimeout,
    SerializationFailure,
    UnsupportedError,
)

if TYPE_CHECKING:
    from .._dataflow import DataFlow

__all__ = ["MigrationLockManager"]

_log = logging.getLogger("dataflow_engine.migrations")

#: The lock every migration takes unless told otherwise.
DEFAULT_LOCK_NAME = "dataflow_migrations"
LOCK_TABLE = "dataflow_migration_lock"

_FIRST_DELAY = 0.05  # seconds between the first attempts; grows to _MAX_DELAY
_MAX_DELAY = 0.5
_MYSQL_NAME_LIMIT = 64

# The locks the current task or thread holds, as (id(DataFlow), lock name): taking one of
# them again would wait on itself, so it is refused at once.
_held: contextvars.ContextVar[frozenset[tuple[int, str]]] = contextvars.ContextVar(
    "dataflow_migration_locks_held", default=frozenset()
)


def _postgres_lock_key(name: str) -> int:
    """The PostgreSQL advisory-lock key of a lock name: stable across versions and hosts.

    The first 8 bytes of ``sha256(name.encode("utf-8"))``, big-endian, signed. Another
    tool takes the same lock with ``SELECT pg_advisory_lock(<key>)``.
    """
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big", signed=True)


def _mysql_lock_name(database: str | None, name: str) -> str:
    """The MySQL named lock for a lock name: ``"<database>.<name>"``, or, when that is
    longer than the server's 64 characters, ``"dataflow:"`` and the first 55 hex digits
    of its SHA-256."""
    full = f"{database}.{name}" if database else name
    if len(full) <= _MYSQL_NAME_LIMIT:
        return full
    return "dataflow:" + hashlib.sha256(full.encode("utf-8")).hexdigest()[:55]


def _holder_info(
    lock: str,
    *,
    pid: int | None = None,
    host: str | None = None,
    connection_id: int | None = None,
    client: str | None = None,
    since: datetime | None = None,
    heartbeat_at: datetime | None = None,
    stale: bool = False,
) -> dict[str, Any]:
    return {
        "lock": lock,
        "pid": pid,
        "host": host,
        "connection_id": connection_id,
        "client": client,
        "since": since,
        "heartbeat_at": heartbeat_at,
        "stale": stale,
    }


def _describe(holder: dict[str, Any] | None) -> str:
    """A holder in words, with whatever the database could tell."""
    if holder is None:
        return "another session (the database does not say which)"
    parts = []
    if holder["pid"] is not None:
        parts.append(f"process {holder['pid']}")
    if holder["host"]:
        parts.append(f"on host {holder['host']!r}")
    session = []
    if holder["connection_id"] is not None:
        session.append(f"connection id {holder['connection_id']}")
    if holder["client"]:
        session.append(f"from {holder['client']}")
    if session:
        parts.append(f"({' '.join(session)})")
    if not parts or holder["pid"] is None:
        parts.insert(0, "a session")
    if holder["since"] is not None:
        parts.append(f"since {holder['since'].isoformat(timespec='seconds')}")
    if holder["heartbeat_at"] is not None:
        parts.append(f"(last heartbeat {holder['heartbeat_at'].isoformat(timespec='seconds')})")
    return " ".join(parts)


def _jsonable(holder: dict[str, Any] | None) -> dict[str, Any] | None:
    if holder is None:
        return None
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in holder.items()}


def _utc(epoch: Any) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(float(epoch), UTC)


@dataclasses.dataclass
class _Hold:
    """One acquisition: what was taken, on which connection, and whether it was lost."""

    name: str
    token: str
    info: dict[str, Any]
    conn: Connection | None = None  # the dedicated connection, where the lock lives on one
    resources: AsyncExitStack = dataclasses.field(default_factory=AsyncExitStack)
    heartbeat: _Heartbeat | None = None


class _Claim:
    """Hands an acquired lock to the caller, or, when the caller has given up meanwhile
    (cancelled, interrupted), tells the acquiring side to release it: never orphaned."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hold: _Hold | None = None
        self._abandoned = False

    def offer(self, hold: _Hold) -> bool:
        """The acquiring side: False when nobody will take the lock any more."""
        with self._lock:
            if self._abandoned:
                return False
            self._hold = hold
            return True

    def abandon(self) -> _Hold | None:
        """The caller gave up: the lock it must release, if it was acquired already."""
        with self._lock:
            self._abandoned = True
            hold, self._hold = self._hold, None
            return hold


class _Heartbeat:
    """A daemon thread refreshing a held lock row every ``interval`` seconds.

    A thread rather than a task: the engine's loop runs only while some caller drives it,
    and the body of a lock may be a blocking script that never does.
    """

    def __init__(
        self, beat: Callable[[], Coroutine[Any, Any, bool]], interval: float, name: str
    ) -> None:
        self._beat = beat
        self._interval = interval
        self._name = name
        self._stop = threading.Event()
        self.lost = False
        self._thread = threading.Thread(
            target=self._run, daemon=True, name="dataflow-migration-lock-heartbeat"
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                alive = _loop.run_sync(self._beat(), timeout=max(self._interval * 4, 5.0))
            except Exception as exc:  # kept trying: one missed beat is not a lost lock
                if self._stop.is_set():
                    return
                _log.warning("migration lock %r: heartbeat failed: %s", self._name, exc)
                continue
            if not alive and not self._stop.is_set():
                self.lost = True
                _log.error(
                    "migration lock %r was taken over by another process (this holder "
                    "missed its heartbeats for longer than stale_after)",
                    self._name,
                )
                return


class _Strategy(ABC):
    """How one database takes, keeps, releases and reports the lock."""

    #: The lock belongs to a server session: it is held on a connection of its own.
    dedicated: ClassVar[bool] = True
    #: The database's name in messages.
    label: ClassVar[str]

    def __init__(self, dataflow: DataFlow, stale_after: float) -> None:
        self.dataflow = dataflow
        self.stale_after = stale_after

    def heartbeat_interval(self) -> float | None:
        """Seconds between heartbeats while held; None when the server keeps the lock."""
        return None

    async def prepare(self, conn: Connection) -> None:  # noqa: B027
        """Make the lock usable on this database (before the first attempt)."""

    @abstractmethod
    async def attempt(self, conn: Connection, hold: _Hold) -> bool:
        """Try once to take the lock, without waiting; True when taken."""

    @abstractmethod
    async def release(self, conn: Connection, hold: _Hold) -> bool:
        """Give the lock up; False when it was no longer held (lost meanwhile)."""

    async def beat(self, conn: Connection, hold: _Hold) -> bool:
        """Refresh a held lock; False when another holder has it now."""
        return True

    @abstractmethod
    async def holder(self, conn: Connection, name: str) -> dict[str, Any] | None:
        """Who holds the lock, or None when nobody does."""


class _PostgresStrategy(_Strategy):
    label = "PostgreSQL"

    _LOCKS = (
        "FROM pg_catalog.pg_locks l "
        "LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
        "AND l.database = (SELECT oid FROM pg_catalog.pg_database "
        "WHERE datname = current_database()) "
        "AND l.classid::bigint = $1 AND l.objid::bigint = $2"
    )
    _TAG = re.compile(r"^dataflow-lock pid=(\d+) host=(\S*)")

    async def attempt(self, conn: Connection, hold: _Hold) -> bool:
        rows = await conn.fetch(
            "SELECT pg_try_advisory_lock($1), pg_backend_pid()", (_postgres_lock_key(hold.name),)
        )
        if not rows[0][0]:
            return False
        hold.info["connection_id"] = int(rows[0][1])
        # The session says who holds it (pg_stat_activity shows it to other sessions).
        tag = f"dataflow-lock pid={hold.info['pid']} host={hold.info['host']}"
        await conn.fetch("SELECT set_config('application_name', $1, false)", (tag[:63],))
        return True

    async def release(self, conn: Connection, hold: _Hold) -> bool:
        rows = await conn.fetch("SELECT pg_advisory_unlock($1)", (_postgres_lock_key(hold.name),))
        return bool(rows[0][0])

    async def holder(self, conn: Connection, name: str) -> dict[str, Any] | None:
        unsigned = _postgres_lock_key(name) & 0xFFFF_FFFF_FFFF_FFFF
        rows = await conn.fetch(
            "SELECT l.pid, a.application_name, host(a.client_addr), a.client_port, "
            "a.state_change " + self._LOCKS + " LIMIT 1",
            (unsigned >> 32, unsigned & 0xFFFF_FFFF),
        )
        if not rows:
            return None
        backend, app, addr, port, since = rows[0]
        tag = self._TAG.match(app or "")
        client = None if addr is None else f"{addr}:{port}" if port and port > 0 else str(addr)
        return _holder_info(
            name,
            pid=int(tag.group(1)) if tag else None,
            host=(tag.group(2) or None) if tag else None,
            connection_id=int(backend),
            client=client,
            since=since,  # the holder's last statement: the one that took the lock
        )


class _MySQLStrategy(_Strategy):
    label = "MySQL"

    def _name(self, name: str) -> str:
        return _mysql_lock_name(self.dataflow.settings.url.database, name)

    async def attempt(self, conn: Connection, hold: _Hold) -> bool:
        rows = await conn.fetch("SELECT GET_LOCK(%s, 0), CONNECTION_ID()", (self._name(hold.name),))
        if rows[0][0] != 1:
            return False
        hold.info["connection_id"] = int(rows[0][1])
        return True

    async def release(self, conn: Connection, hold: _Hold) -> bool:
        rows = await conn.fetch("SELECT RELEASE_LOCK(%s)", (self._name(hold.name),))
        return bool(rows[0][0] == 1)

    async def holder(self, conn: Connection, name: str) -> dict[str, Any] | None:
        rows = await conn.fetch("SELECT IS_USED_LOCK(%s)", (self._name(name),))
        if not rows or rows[0][0] is None:
            return None
        connection_id = int(rows[0][0])
        info = _holder_info(name, connection_id=connection_id)
        # MariaDB counts a session's idle time in milliseconds too; MySQL in seconds.
        dialect = self.dataflow.dialect
        mariadb = isinstance(dialect, MySQLDialect) and dialect.mariadb
        idle = "TIME_MS * 1000 MICROSECOND" if mariadb else "TIME SECOND"
        try:  # another user's session is visible with the PROCESS privilege only
            found = await conn.fetch(
                f"SELECT HOST, UTC_TIMESTAMP(6) - INTERVAL {idle} "
                "FROM information_schema.PROCESSLIST WHERE ID = %s",
                (connection_id,),
            )
            # The client's process id, from the connection attributes the driver sends
            # (empty unless performance_schema is on).
            pid = await conn.fetch(
                "SELECT ATTR_VALUE FROM performance_schema.session_connect_attrs "
                "WHERE PROCESSLIST_ID = %s AND ATTR_NAME = '_pid'",
                (connection_id,),
            )
        except DatabaseError:
            found = pid = []
        if found:
            client, since = found[0]
            info["client"] = client or None
            if isinstance(since, datetime):
                # The holder's session has been idle since its GET_LOCK.
                info["since"] = since if since.tzinfo else since.replace(tzinfo=UTC)
        if pid and str(pid[0][0]).isdigit():
            info["pid"] = int(pid[0][0])
        return info


class _SQLiteStrategy(_Strategy):
    label = "SQLite"
    dedicated = False

    _COLUMNS = "name, holder, pid, host, acquired_at, heartbeat_at, stale_after"

    def __init__(self, dataflow: DataFlow, stale_after: float) -> None:
        super().__init__(dataflow, stale_after)
        self._table_ready = False

    def heartbeat_interval(self) -> float:
        return max(self.stale_after / 4, 0.05)

    async def _table_exists(self, conn: Connection) -> bool:
        if not self._table_ready:
            adapter = self.dataflow._adapter
            self._table_ready = await adapter.table_columns(conn, LOCK_TABLE, None) is not None
        return self._table_ready

    async def prepare(self, conn: Connection) -> None:
        settings = self.dataflow.settings
        if settings.read_only:
            raise MigrationError(
                "the migration lock on SQLite is a row in the table "
                f"{LOCK_TABLE!r}, and this DataFlow is read_only: open it without "
                "read_only to take the lock (a read-only DataFlow cannot migrate anyway)",
                code="DF-MIGRATION-LOCK-UNAVAILABLE",
                details={"dialect": "sqlite", "table": LOCK_TABLE, "reason": "read_only"},
            )
        if await self._table_exists(conn):
            return
        if settings.existing_schema_mode:
            raise MigrationError(
                f"the migration lock on SQLite needs the table {LOCK_TABLE!r}, which does "
                "not exist, and existing_schema_mode forbids creating it: create it once "
                "from a DataFlow without existing_schema_mode (taking the lock there does "
                "it), or have the database's owner create it",
                code="DF-MIGRATION-LOCK-UNAVAILABLE",
                details={"dialect": "sqlite", "table": LOCK_TABLE, "reason": "existing_schema"},
            )
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {LOCK_TABLE} ("
            "name TEXT PRIMARY KEY NOT NULL, holder TEXT NOT NULL, pid INTEGER, host TEXT, "
            "acquired_at REAL NOT NULL, heartbeat_at REAL NOT NULL, stale_after REAL NOT NULL)"
        )
        self._table_ready = True

    async def _row(self, conn: Connection, name: str) -> Sequence[Any] | None:
        rows = await conn.fetch(f"SELECT {self._COLUMNS} FROM {LOCK_TABLE} WHERE name = ?", (name,))
        return rows[0] if rows else None

    def _stale(self, row: Sequence[Any], now: float) -> bool:
        # Stale by the holder's own promise (its stale_after) and by this process's.
        return float(row[5]) + max(float(row[6]), self.stale_after) < now

    async def attempt(self, conn: Connection, hold: _Hold) -> bool:
        try:
            row = await self._row(conn, hold.name)
            now = time.time()
            if row is not None and not self._stale(row, now):
                return False
            # One statement decides: the row is inserted, or replaced only while it is
            # still stale; of two processes taking over at once, the second finds it fresh.
            taken = await conn.execute(
                f"INSERT INTO {LOCK_TABLE} ({self._COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
                "pid = excluded.pid, host = excluded.host, acquired_at = excluded.acquired_at, "
                "heartbeat_at = excluded.heartbeat_at, stale_after = excluded.stale_after "
                f"WHERE {LOCK_TABLE}.heartbeat_at + MAX({LOCK_TABLE}.stale_after, ?) < ?",
                (
                    hold.name,
                    hold.token,
                    hold.info["pid"],
                    hold.info["host"],
                    now,
                    now,
                    self.stale_after,
                    self.stale_after,
                    now,
                ),
            )
        except SerializationFailure:  # another process is writing: try again later
            return False
        if taken != 1:
            return False
        if row is not None:
            _log.warning(
                "migration lock %r: took it over from %s, whose heartbeat stopped",
                hold.name,
                _describe(self._info(hold.name, row, now)),
            )
        hold.info["since"] = hold.info["heartbeat_at"] = _utc(now)
        return True

    async def beat(self, conn: Connection, hold: _Hold) -> bool:
        now = time.time()
        refreshed = await conn.execute(
            f"UPDATE {LOCK_TABLE} SET heartbeat_at = ? WHERE name = ? AND holder = ?",
            (now, hold.name, hold.token),
        )
        return refreshed == 1

    async def release(self, conn: Connection, hold: _Hold) -> bool:
        deleted = await conn.execute(
            f"DELETE FROM {LOCK_TABLE} WHERE name = ? AND holder = ?", (hold.name, hold.token)
        )
        return deleted == 1

    def _info(self, name: str, row: Sequence[Any], now: float) -> dict[str, Any]:
        return _holder_info(
            name,
            pid=row[2],
            host=row[3],
            since=_utc(row[4]),
            heartbeat_at=_utc(row[5]),
            stale=self._stale(row, now),
        )

    async def holder(self, conn: Connection, name: str) -> dict[str, Any] | None:
        if not await self._table_exists(conn):
            return None
        row = await self._row(conn, name)
        return None if row is None else self._info(name, row, time.time())


_STRATEGIES: dict[str, type[_Strategy]] = {
    "postgresql": _PostgresStrategy,
    "mysql": _MySQLStrategy,
    "sqlite": _SQLiteStrategy,
}


def _check_seconds(what: str, value: object, *, positive: bool) -> float:
    number = math.nan
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    if not number >= 0 or math.isinf(number) or (positive and number == 0):
        wanted = "a positive number of seconds" if positive else "a number of seconds >= 0"
        raise ConfigurationError(
            f"{what} must be {wanted}, got {value!r}", details={"option": what}
        )
    return number


class MigrationLockManager:
    """One migration at a time across every process and machine sharing a database.

    The lock is advisory: it coordinates DataFlow migrations, and anything else that
    takes a lock of the same name the same way; it does not stop other tools from
    running DDL.

    - PostgreSQL: a session-level advisory lock on a connection of its own, held for the
      body and released after it; if the holder dies, the server releases the lock as
      soon as the connection drops. The key is the first 8 bytes of
      ``sha256(name.encode("utf-8"))`` as a big-endian signed 64-bit integer, so another
      tool can take the same lock with ``pg_advisory_lock(key)``.
    - MySQL / MariaDB: ``GET_LOCK("<database>.<name>")`` on a connection of its own, with
      the same semantics (names over 64 characters are hashed: see the module).
    - SQLite: a row in the table ``dataflow_migration_lock``, refreshed by a heartbeat
      every ``stale_after / 4`` seconds; a holder whose heartbeat is older than
      ``stale_after`` (its own and the taker's) is presumed dead and taken over. Creating
      that table is DDL: refused under ``existing_schema_mode`` or ``read_only``
      (``DF-MIGRATION-LOCK-UNAVAILABLE``) unless it already exists. ``stale_after`` must
      be longer than anything that can stop the heartbeat (a single write transaction of
      the body holds SQLite's write lock and so delays it).

    The lock is **not re-entrant**: taking a lock that the current task (or thread)
    already holds, through any manager of the same ``DataFlow``, raises
    ``MigrationError`` ``DF-MIGRATION-LOCK-REENTRANT`` at once instead of waiting on
    itself. Other tasks and threads of the same process wait like other processes.

    Args:
        dataflow: the database to lock.
        lock_name: the lock taken when a call names none; one name for every migration
            of the database is what makes them run one at a time.
        stale_after: seconds after which a SQLite lock row without a heartbeat is taken
            over (PostgreSQL and MySQL need none: the server sees a holder die).

    Raises:
        ConfigurationError: an empty lock name or a non-positive ``stale_after``.
        UnsupportedError: a database without a lock mechanism here.

    Example::

        locks = MigrationLockManager(db)
        async with locks.acquire_migration_lock(timeout=60):
            ...  # run the migration

        with locks.lock(timeout=60):  # the same from a script
            ...
    """

    def __init__(
        self,
        dataflow: DataFlow,
        *,
        lock_name: str = DEFAULT_LOCK_NAME,
        stale_after: float = 30.0,
    ) -> None:
        self.dataflow = dataflow
        self.lock_name = self._checked_name(lock_name, "lock_name")
        self.stale_after = _check_seconds("stale_after", stale_after, positive=True)
        strategy = _STRATEGIES.get(dataflow.dialect.name)
        if strategy is None:  # pragma: no cover - every dialect has one
            raise UnsupportedError(
                f"no migration lock for the {dataflow.dialect.name} dialect",
                details={"dialect": dataflow.dialect.name},
            )
        self._strategy = strategy(dataflow, self.stale_after)

    @staticmethod
    def _checked_name(name: object, what: str) -> str:
        if not isinstance(name, str) or not name:
            raise ConfigurationError(
                f"{what} must be a non-empty string, got {name!r}", details={"option": what}
            )
        return name

    def _resolve(self, name: str | None) -> str:
        return self.lock_name if name is None else self._checked_name(name, "name")

    # -- public API --------------------------------------------------------------------

    @asynccontextmanager
    async def acquire_migration_lock(
        self, name: str | None = None, *, timeout: float = 30.0, wait: bool = True
    ) -> AsyncIterator[dict[str, Any]]:
        """Hold the lock for the body of an ``async with`` block.

        It is released when the block ends, by an exception too.

        Args:
            name: the lock; the manager's ``lock_name`` by default.
            timeout: seconds to wait for another holder to finish.
            wait: False to fail at once when the lock is held.

        Yields:
            This holder, as :meth:`holder` describes it.

        Raises:
            MigrationLockTimeout: the lock is held elsewhere beyond ``timeout`` (or at all,
                with ``wait=False``); the message names the lock and its holder.
            MigrationError: ``DF-MIGRATION-LOCK-REENTRANT`` when this task already holds
                it; ``DF-MIGRATION-LOCK-UNAVAILABLE`` when SQLite's lock table cannot be
                created; ``DF-MIGRATION-LOCK-LOST`` after a body that ended normally when
                the lock was lost while it ran (its connection died, or its heartbeat
                stopped long enough for another process to take it over).

        Example::

            async with locks.acquire_migration_lock("v42", timeout=60):
                ...
        """
        lock, seconds = self._resolve(name), _check_seconds("timeout", timeout, positive=False)
        held = self._enter_check(lock)
        claim = _Claim()
        try:
            hold = await _loop.run_async(self._acquire(lock, seconds, wait, claim))
        except BaseException:
            orphan = claim.abandon()
            if orphan is not None:
                await asyncio.shield(_loop.run_async(self._release(orphan, quiet=True)))
            raise
        token = _held.set(held | {(id(self.dataflow), lock)})
        try:
            yield dict(hold.info)
        except BaseException:
            _held.reset(token)
            # Shielded: a cancelled caller must not leave the lock behind.
            await asyncio.shield(_loop.run_async(self._release(hold, quiet=True)))
            raise
        _held.reset(token)
        await asyncio.shield(_loop.run_async(self._release(hold, quiet=False)))

    @contextmanager
    def lock(
        self, name: str | None = None, *, timeout: float = 30.0, wait: bool = True
    ) -> Iterator[dict[str, Any]]:
        """Blocking version of :meth:`acquire_migration_lock`, for scripts.

        Example::

            with MigrationLockManager(db).lock(timeout=60):
                ...
        """
        lock, seconds = self._resolve(name), _check_seconds("timeout", timeout, positive=False)
        held = self._enter_check(lock)
        claim = _Claim()
        try:
            hold = _loop.run_sync(self._acquire(lock, seconds, wait, claim))
        except BaseException:
            orphan = claim.abandon()
            if orphan is not None:
                _loop.run_sync(self._release(orphan, quiet=True))
            raise
        token = _held.set(held | {(id(self.dataflow), lock)})
        try:
            yield dict(hold.info)
        except BaseException:
            _held.reset(token)
            _loop.run_sync(self._release(hold, quiet=True))
            raise
        _held.reset(token)
        _loop.run_sync(self._release(hold, quiet=False))

    async def is_locked(self, name: str | None = None) -> bool:
        """Whether some process holds the lock now (a stale SQLite row does not count).

        Example::

            if await locks.is_locked():
                print("a migration is running:", await locks.holder())
        """
        found = await self.holder(name)
        return found is not None and not found["stale"]

    async def holder(self, name: str | None = None) -> dict[str, Any] | None:
        """Who holds the lock, or None when nobody does.

        Returns:
            ``{"lock", "pid", "host", "connection_id", "client", "since", "heartbeat_at",
            "stale"}``; a value the database cannot tell is None. ``pid`` and ``host``
            are the holder's process and machine (PostgreSQL: from the holder session's
            ``application_name``; MySQL cannot tell them), ``connection_id`` and
            ``client`` its server session, ``since`` when it took the lock (a datetime
            in UTC), ``heartbeat_at`` its last heartbeat and ``stale`` whether that is
            older than ``stale_after`` (SQLite only).
        """
        lock = self._resolve(name)
        self.dataflow._check_open()
        return await _loop.run_async(self._holder(lock))

    # -- on the engine's loop ----------------------------------------------------------

    def _enter_check(self, lock: str) -> frozenset[tuple[int, str]]:
        self.dataflow._check_open()
        held = _held.get()
        if (id(self.dataflow), lock) in held:
            raise MigrationError(
                f"the migration lock {lock!r} is already held by this task; it is not "
                "re-entrant: run the nested step inside the block that holds it, without "
                "taking it again",
                code="DF-MIGRATION-LOCK-REENTRANT",
                details={"lock": lock},
            )
        return held

    async def _holder(self, lock: str) -> dict[str, Any] | None:
        async with self.dataflow._adapter.acquire() as conn:
            return await self._strategy.holder(conn, lock)

    @asynccontextmanager
    async def _connection(self, hold: _Hold) -> AsyncIterator[Connection]:
        if hold.conn is not None:
            yield hold.conn
        else:
            async with self.dataflow._adapter.acquire() as conn:
                yield conn

    async def _acquire(self, lock: str, timeout: float, wait: bool, claim: _Claim) -> _Hold:
        strategy = self._strategy
        host = socket.gethostname()
        hold = _Hold(
            name=lock,
            token=f"{host}/{os.getpid()}/{uuid.uuid4().hex}",
            info=_holder_info(lock, pid=os.getpid(), host=host),
        )
        deadline = time.monotonic() + timeout
        delay = _FIRST_DELAY
        unsure = False
        try:
            if strategy.dedicated:
                # A connection of its own, outside the pool: it never goes back to the pool
                # with the lock on it, and closing it ends the session and the lock.
                settings = dataclasses.replace(self.dataflow.settings, pool_size=1)
                adapter = create_adapter(settings)
                hold.resources.push_async_callback(adapter.close)
                hold.conn = await hold.resources.enter_async_context(adapter.acquire())
            async with self._connection(hold) as conn:
                await strategy.prepare(conn)
            while True:
                async with self._connection(hold) as conn:
                    unsure = True  # interrupted in here, the attempt may have succeeded
                    if await strategy.attempt(conn, hold):
                        break
                    unsure = False
                remaining = deadline - time.monotonic()
                if not wait or remaining <= 0:
                    async with self._connection(hold) as conn:
                        holder = await strategy.holder(conn, lock)
                    raise self._timeout(lock, holder, timeout, wait)
                await asyncio.sleep(min(delay * random.uniform(0.5, 1.0), remaining))
                delay = min(delay * 1.6, _MAX_DELAY)
        except BaseException:
            if unsure:
                try:
                    async with self._connection(hold) as conn:
                        await strategy.release(conn, hold)
                except Exception as exc:  # its connection, closed next, ends it anyway
                    _log.debug("releasing an interrupted attempt: %s", exc)
            await self._close_quietly(hold)
            raise
        if hold.info["since"] is None:
            hold.info["since"] = datetime.now(UTC)
        interval = strategy.heartbeat_interval()
        if interval is not None:
            hold.heartbeat = _Heartbeat(lambda: self._beat(hold), interval, lock)
            hold.heartbeat.start()
        if not claim.offer(hold):  # the caller stopped waiting just now
            await self._release(hold, quiet=True)
            raise asyncio.CancelledError
        _log.info("migration lock %r acquired by %s", lock, _describe(hold.info))
        return hold

    async def _beat(self, hold: _Hold) -> bool:
        if self.dataflow.closed:
            return True  # nothing to refresh through; the release will say what happened
        async with self._connection(hold) as conn:
            alive = await self._strategy.beat(conn, hold)
        if alive:
            hold.info["heartbeat_at"] = datetime.now(UTC)
        return alive

    async def _release(self, hold: _Hold, *, quiet: bool) -> None:
        """Give the lock up; unless ``quiet`` (the body failed: its error matters more),
        raise ``DF-MIGRATION-LOCK-LOST`` when it had been lost while held."""
        if hold.heartbeat is not None:
            hold.heartbeat.stop()
        reason = None
        try:
            async with self._connection(hold) as conn:
                released = await self._strategy.release(conn, hold)
            if not released:
                reason = "another process holds it now"
        except DatabaseError as exc:
            reason = f"releasing it failed: {exc.message}"
        finally:
            await self._close_quietly(hold)
        if hold.heartbeat is not None and hold.heartbeat.lost:
            reason = "its heartbeat stopped for longer than stale_after and it was taken over"
        if reason is None:
            _log.info("migration lock %r released", hold.name)
            return
        message = (
            f"the migration lock {hold.name!r} was lost while the block ran ({reason}); "
            "another migration may have run at the same time: check the schema before "
            "going on"
        )
        if quiet:
            _log.error("%s", message)
            return
        raise MigrationError(
            message, code="DF-MIGRATION-LOCK-LOST", details={"lock": hold.name, "reason": reason}
        )

    async def _close_quietly(self, hold: _Hold) -> None:
        try:
            await hold.resources.aclose()
        except Exception as exc:  # the session is gone either way, and the lock with it
            _log.debug("closing the migration lock's connection: %s", exc)
        hold.conn = None

    def _timeout(
        self, lock: str, holder: dict[str, Any] | None, timeout: float, wait: bool
    ) -> MigrationLockTimeout:
        who = _describe(holder)
        if wait:
            what = f"gave up after waiting {timeout:g}s; wait for it to finish or allow longer"
        else:
            what = "not waiting (wait=False); try again later, or wait with a timeout"
        if self._strategy.heartbeat_interval() is not None:
            what += (
                f"; a holder that died is taken over once its heartbeat is "
                f"{self.stale_after:g}s old"
            )
        return MigrationLockTimeout(
            f"the migration lock {lock!r} on {self._strategy.label} is held by {who}: {what}",
            details={
                "lock": lock,
                "holder": _jsonable(holder),
                "timeout": timeout,
                "wait": wait,
                "dialect": self.dataflow.dialect.name,
            },
        )
