"""The databases of one ``DataFlow``, and the read replicas of each.

Every named database (``"primary"``, and each name of the ``databases`` option) has the
adapter that runs its writes, its transactions and its DDL, and optionally read replicas.
Reads outside a transaction may go to a replica, through a :class:`ReplicaConnection`:
it lets only reads through (the replica's session is read-only on the server as well),
and when the replica cannot be reached the read runs on the database itself, the
replica is left alone for ``retry_after`` seconds and a warning is logged.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any, NoReturn

from ..config import PRIMARY
from ..errors import ConnectError, ConnectionLost, DatabaseError, QueryTimeout, ReadOnlyError
from ._base import Adapter, Connection

if TYPE_CHECKING:
    from ..config import Settings
    from ..dialects import Dialect

__all__ = ["REPLICA_RETRY_SECONDS", "Database", "ReplicaConnection", "create_databases", "is_read"]

_log = logging.getLogger("dataflow_engine")

#: Seconds an unreachable replica is left alone before reads try it again.
REPLICA_RETRY_SECONDS = 30.0

_FIRST_WORD = re.compile(r"[\s(]*([A-Za-z]+)")
_READS = frozenset({"SELECT", "WITH", "VALUES"})

#: What makes a replica unusable for a while when a read finds it (rather than a read
#: that failed). Any database error while *getting* a connection does too (refused,
#: unknown database, authentication, not accepting connections), except a pool timeout:
#: a busy replica is not sent away, or its load would move onto the primary.
_UNREACHABLE = (ConnectError, ConnectionLost)


def is_read(sql: str) -> bool:
    """Whether a statement only reads, judged by its first keyword (``SELECT``, ``WITH``,
    ``VALUES``); anything else, comments first included, is not."""
    match = _FIRST_WORD.match(sql)
    return match is not None and match.group(1).upper() in _READS


class Database:
    """One database of a ``DataFlow``: its adapter, and the read replicas of it.

    Attributes:
        name: ``"primary"`` or a name from the ``databases`` option.
        adapter: the database itself: every write, transaction and DDL, and the reads
            that must see what this workflow run wrote.
        replicas: read-only adapters of the replicas, tried in turn.
        retry_after: seconds an unreachable replica is left alone.
    """

    def __init__(self, name: str, adapter: Adapter, replicas: Sequence[Adapter] = ()) -> None:
        self.name = name
        self.adapter = adapter
        self.replicas = list(replicas)
        self.retry_after = REPLICA_RETRY_SECONDS
        self._down_until = [0.0] * len(self.replicas)
        self._turn = 0

    def __repr__(self) -> str:
        return f"<Database {self.name} {self.adapter.settings.url.redacted()}>"

    @property
    def dialect(self) -> Dialect:
        """The dialect every statement for this database is compiled in."""
        return self.adapter.dialect

    def acquire(self) -> AbstractAsyncContextManager[Connection]:
        """A connection to the database itself."""
        return self.adapter.acquire()

    @asynccontextmanager
    async def acquire_read(self) -> AsyncIterator[Connection]:
        """A connection for reads: a reachable replica's (the next one in turn), else the
        database's own."""
        for index in self._in_turn():
            async with AsyncExitStack() as stack:
                try:
                    conn = await stack.enter_async_context(self.replicas[index].acquire())
                except DatabaseError as exc:
                    if isinstance(exc, QueryTimeout):
                        raise
                    self.mark_down(index, exc)
                    continue
                yield ReplicaConnection(self, index, conn)
                return
        async with self.adapter.acquire() as conn:
            yield conn

    def _in_turn(self) -> list[int]:
        """The replicas one read may try, in order: each that is not being left alone,
        starting with the next in turn (so reads are spread over them)."""
        count = len(self.replicas)
        if not count:
            return []
        start = self._turn % count
        self._turn = start + 1
        now = time.monotonic()
        order = [*range(start, count), *range(start)]
        return [i for i in order if self._down_until[i] <= now]

    def mark_down(self, index: int, exc: BaseException) -> None:
        """Leave replica ``index`` alone for ``retry_after`` seconds, saying why."""
        self._down_until[index] = time.monotonic() + self.retry_after
        _log.warning(
            "read replica %s of database %r is unreachable (%s); its reads go to %s for "
            "the next %ss",
            self.replicas[index].settings.url.redacted(),
            self.name,
            getattr(exc, "message", exc),
            "another replica (else the database itself)"
            if len(self.replicas) > 1
            else "the database itself",
            self.retry_after,
        )

    async def close(self) -> None:
        """Close the pools of the database and of its replicas (best effort each)."""
        for adapter in (self.adapter, *self.replicas):
            try:
                await adapter.close()
            except Exception:  # pragma: no cover - closing is best effort
                pass


class ReplicaConnection(Connection):
    """A read replica's connection, as the engine sees it.

    Reads pass; any other statement is refused before it is sent (``ReadOnlyError``
    ``DF-READ-ONLY-REPLICA``; the server refuses it too, its session being read-only).
    A read that finds the replica gone is run on the database itself.
    """

    def __init__(self, database: Database, index: int, conn: Connection) -> None:
        self.dialect = database.dialect
        self._database = database
        self._index = index
        self._conn = conn

    def _refuse(self, sql: str) -> NoReturn:
        name = self._database.name
        raise ReadOnlyError(
            f"refused to send a statement that is not a read to a read replica of the "
            f"{name!r} database: {sql[:120]}; writes and transactions go to the database "
            "itself, never to a replica",
            code="DF-READ-ONLY-REPLICA",
            details={"database": name, "statement": sql[:500]},
        )

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        if not is_read(sql):
            self._refuse(sql)
        try:
            return await self._conn.fetch(sql, params)
        except _UNREACHABLE as exc:
            self._database.mark_down(self._index, exc)
        async with self._database.adapter.acquire() as conn:
            return await conn.fetch(sql, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        self._refuse(sql)

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> Any:
        self._refuse(sql)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        self._refuse(sql)

    async def copy_records(
        self,
        table: str,
        schema: str | None,
        columns: Sequence[str],
        records: Sequence[Sequence[Any]],
    ) -> int | None:
        self._refuse(f"COPY {table}")

    def transaction(self) -> AbstractAsyncContextManager[None]:
        self._refuse("BEGIN")

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction


def create_databases(settings: Settings, primary: Adapter) -> dict[str, Database]:
    """Every database of a ``DataFlow`` by name, the primary (``primary``, the adapter of
    the URL) first, each with its replicas. Nothing connects until first used."""
    from . import create_adapter

    out: dict[str, Database] = {}
    for name in (PRIMARY, *settings.databases):
        adapter = primary if name == PRIMARY else create_adapter(settings.for_database(name))
        adapter.database_name = name
        replicas = []
        for url in settings.read_replicas.get(name, ()):
            replica = create_adapter(settings.for_replica(url))
            replica.database_name = name
            replica.replica = True
            replicas.append(replica)
        out[name] = Database(name, adapter, replicas)
    return out
