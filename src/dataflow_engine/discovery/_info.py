"""What discovery reports about an existing database: plain, immutable descriptions read
from the database's own catalogs (never guessed, never mocked)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "CheckInfo",
    "ColumnInfo",
    "ForeignKeyInfo",
    "IndexInfo",
    "TableInfo",
    "UniqueInfo",
]

#: The portable names of column types, the ``kind`` of a :class:`ColumnInfo`; None means
#: DataFlow has no exact mapping for the database type (the column is reported, and a
#: registered model leaves it out).
KINDS = (
    "str",
    "int",
    "float",
    "bool",
    "decimal",
    "datetime",  # with a time zone (timestamptz; MySQL DATETIME/TIMESTAMP, read as UTC)
    "naive_datetime",  # PostgreSQL timestamp without time zone
    "date",
    "time",
    "uuid",
    "bytes",
    "json",
    "enum",
    "array",
)


@dataclass(frozen=True)
class ColumnInfo:
    """One column.

    Attributes:
        name: the exact column name (case and quoting kept).
        type: the database's own spelling of the type (``numeric(10,2)``,
            ``character varying(40)``, ``bigint unsigned``, ``TEXT``...).
        kind: one of ``KINDS``, or None when no DataFlow type holds it exactly.
        nullable: NULL is allowed.
        default: the default expression as the catalog gives it, or None.
        generated: the expression of a generated (computed) column, or None.
        auto_increment: serial/identity, AUTO_INCREMENT, or SQLite's INTEGER PRIMARY KEY.
        comment: the column comment, or None.
        enum_values: the allowed values of an enum type, in order.
        array_kind: for ``kind == "array"``, the kind of its elements.
        precision, scale: for decimals; max_length: for character types.
        position: 1-based ordinal position in the table.
    """

    name: str
    type: str
    kind: str | None
    nullable: bool
    default: str | None = None
    generated: str | None = None
    auto_increment: bool = False
    comment: str | None = None
    enum_values: tuple[str, ...] | None = None
    array_kind: str | None = None
    precision: int | None = None
    scale: int | None = None
    max_length: int | None = None
    position: int = 0


@dataclass(frozen=True)
class ForeignKeyInfo:
    """A foreign key from ``schema.table (columns)`` to ``ref_schema.ref_table
    (ref_columns)``; actions are ``NO ACTION``, ``RESTRICT``, ``CASCADE``, ``SET NULL`` or
    ``SET DEFAULT``."""

    name: str | None
    table: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    on_update: str = "NO ACTION"
    on_delete: str = "NO ACTION"
    schema: str | None = None
    ref_schema: str | None = None


@dataclass(frozen=True)
class UniqueInfo:
    """A unique constraint (not the primary key)."""

    name: str | None
    columns: tuple[str, ...]


@dataclass(frozen=True)
class IndexInfo:
    """An index; ``columns`` holds column names, or expression text for expression parts."""

    name: str
    columns: tuple[str, ...]
    unique: bool = False
    primary: bool = False
    partial: str | None = None  # the WHERE of a partial index


@dataclass(frozen=True)
class CheckInfo:
    """A check constraint and its expression as the catalog gives it."""

    name: str | None
    expression: str


@dataclass(frozen=True)
class TableInfo:
    """A table or view.

    ``foreign_keys`` are this table's own; ``referenced_by`` are other tables' foreign
    keys pointing here. ``row_estimate`` is the catalog's estimate (statistics, not a
    count), None when the database keeps none.
    """

    name: str
    schema: str | None
    kind: str  # "table" or "view"
    columns: tuple[ColumnInfo, ...]
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKeyInfo, ...] = ()
    referenced_by: tuple[ForeignKeyInfo, ...] = ()
    unique: tuple[UniqueInfo, ...] = ()
    indexes: tuple[IndexInfo, ...] = ()
    checks: tuple[CheckInfo, ...] = ()
    row_estimate: int | None = None
    comment: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def column(self, name: str) -> ColumnInfo:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict of everything above."""
        return asdict(self)
