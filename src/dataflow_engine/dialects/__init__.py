"""SQL dialects: one module per database, each overriding only what differs."""

from ._base import Dialect, Params, RowDecoder
from .postgres import PostgresDialect
from .sqlite import SQLiteDialect

__all__ = ["DIALECTS", "Dialect", "Params", "PostgresDialect", "RowDecoder", "SQLiteDialect"]

DIALECTS: dict[str, type[Dialect]] = {
    "sqlite": SQLiteDialect,
    "postgresql": PostgresDialect,
}
