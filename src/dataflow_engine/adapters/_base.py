"""The adapter interface: a pool of connections that run SQL and translate driver errors."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, ClassVar

from ..config import Settings
from ..dialects import Dialect
from ..errors import DataFlowError

if TYPE_CHECKING:
    from ..discovery import TableInfo

__all__ = ["Adapter", "Connection", "is_ddl", "log_sql"]


def log_sql(sql: str, params: Any, database: str = "primary", replica: bool = False) -> None:
    """Log a statement to the ``dataflow_engine.sql`` logger (``echo=True``).

    Each record carries ``database`` (``"primary"`` or a name from the ``databases``
    option) and ``replica`` (True for a read replica's statement); statements sent
    anywhere but the primary are prefixed with ``[name]`` or ``[name replica]``.
    """
    import logging

    # The arguments stay (sql, params); a database name holds no '%' (config.py checks).
    where = (
        f"[{database} replica] " if replica else "" if database == "primary" else f"[{database}] "
    )
    logging.getLogger("dataflow_engine.sql").info(
        where + "%s %r", sql, params, extra={"database": database, "replica": replica}
    )


_DDL = frozenset({"CREATE", "ALTER", "DROP", "TRUNCATE", "RENAME", "COMMENT", "GRANT", "REVOKE"})


def is_ddl(sql: str) -> bool:
    """Whether a statement changes the schema (its first keyword)."""
    head = sql.lstrip(" \t\r\n(").split(None, 1)
    return bool(head) and head[0].upper() in _DDL


class Connection(ABC):
    """One database connection. Every statement the engine sends passes through here."""

    dialect: Dialect

    @abstractmethod
    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        """Run a query and return its rows (each indexable in select-list order)."""

    @abstractmethod
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement and return the number of rows it affected."""

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run an INSERT and return the generated id (None when a conflict skipped it).

        Only used where the database has no ``INSERT ... RETURNING``.
        """
        raise NotImplementedError

    @abstractmethod
    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Run a statement once per parameter row; returns rows affected."""

    async def copy_records(
        self,
        table: str,
        schema: str | None,
        columns: Sequence[str],
        records: Sequence[Sequence[Any]],
    ) -> int | None:
        """Bulk-load records with the database's fastest path; None when there is none."""
        return None

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[None]:
        """A transaction; nested calls create savepoints."""

    @property
    @abstractmethod
    def in_transaction(self) -> bool:
        """True while a transaction is open on this connection."""


class Adapter(ABC):
    """A driver behind a small interface: open, acquire a connection, close."""

    dialect: Dialect
    #: The database this adapter serves, as statement logs name it: ``"primary"`` or a
    #: name from the ``databases`` option; ``replica`` is True for a read replica's.
    database_name: str = "primary"
    replica: bool = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def before(self, sql: str, params: Any) -> None:
        """Called with every statement before it is sent: the one place existing-schema
        mode refuses DDL, whatever code path built it, and ``echo`` logs.

        Raises:
            SchemaError: ``DF-SCHEMA-DDL-REFUSED`` for DDL in existing-schema mode.
        """
        if self.settings.existing_schema_mode and is_ddl(sql):
            from ..errors import SchemaError

            raise SchemaError(
                f"existing_schema_mode forbids changing the schema; refused: {sql[:120]}",
                code="DF-SCHEMA-DDL-REFUSED",
                details={"statement": sql[:500]},
            )
        if self.settings.echo:
            log_sql(sql, params, self.database_name, self.replica)

    @abstractmethod
    async def open(self) -> None:
        """Connect (create the pool); raises ``ConnectError`` when unreachable."""

    @abstractmethod
    async def close(self) -> None:
        """Release every connection."""

    @abstractmethod
    def acquire(self) -> AbstractAsyncContextManager[Connection]:
        """Borrow a connection for the duration of the ``async with`` block."""

    @abstractmethod
    async def table_columns(
        self, conn: Connection, table: str, schema: str | None
    ) -> list[str] | None:
        """The column names of a table, or None when it does not exist."""

    #: The module of ``dataflow_engine.discovery`` that reads this database's catalogs.
    discovery_module: ClassVar[str]

    async def discover(
        self, conn: Connection, schema: str | None, tables: Sequence[str] | None
    ) -> list[TableInfo]:
        """Tables and views of ``schema`` (the URL's when None), read from the catalogs."""
        import importlib

        module = importlib.import_module(f"dataflow_engine.discovery.{self.discovery_module}")
        found: list[TableInfo] = await module.discover(conn, schema or self.dialect.schema, tables)
        return found

    async def ensure_schema(self, conn: Connection, schema: str) -> None:  # noqa: B027
        """Create the schema a URL names, where the database has schemas."""

    async def lock_for_upsert(self, conn: Connection, table: str) -> None:  # noqa: B027
        """Serialise bulk upserts of one table inside the current transaction."""

    @abstractmethod
    def translate(self, exc: BaseException) -> DataFlowError | None:
        """The engine error for a driver exception, or None when it is not the driver's."""

    async def server_version(self) -> str:
        return ""
