"""SQL dialects: one module per database, each overriding only what differs."""

from ._base import Dialect, Params, RowDecoder
from .mysql import MySQLDialect
from .postgres import PostgresDialect
from .sqlite import SQLiteDialect

__all__ = [
    "DIALECTS",
    "Dialect",
    "MySQLDialect",
    "Params",
    "PostgresDialect",
    "RowDecoder",
    "SQLiteDialect",
]

DIALECTS: dict[str, type[Dialect]] = {
    "sqlite": SQLiteDialect,
    "postgresql": PostgresDialect,
    "mysql": MySQLDialect,
}
