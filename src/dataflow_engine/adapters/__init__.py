"""Database adapters. Drivers are imported lazily, by URL scheme."""

from __future__ import annotations

from ..config import Settings
from ..errors import UnsupportedError
from ._base import Adapter, Connection

__all__ = ["Adapter", "Connection", "create_adapter"]


def create_adapter(settings: Settings) -> Adapter:
    """The adapter for the settings' URL (imports no driver until it connects)."""
    dialect = settings.url.dialect
    if dialect == "sqlite":
        from .sqlite import SQLiteAdapter

        return SQLiteAdapter(settings)
    if dialect == "postgresql":
        from .postgres import PostgresAdapter

        return PostgresAdapter(settings)
    if dialect == "mysql":
        from .mysql import MySQLAdapter

        return MySQLAdapter(settings)
    raise UnsupportedError(
        f"the {dialect} dialect is not available in this release",
        details={"dialect": dialect},
    )
