"""Discovery of existing databases from their own catalogs."""

from ._info import CheckInfo, ColumnInfo, ForeignKeyInfo, IndexInfo, TableInfo, UniqueInfo

__all__ = [
    "CheckInfo",
    "ColumnInfo",
    "ForeignKeyInfo",
    "IndexInfo",
    "TableInfo",
    "UniqueInfo",
]
