"""Schema operations: what a migration does, as structured objects.

An operation is given directly (``Operation(OperationKind.ADD_COLUMN, "users",
column=ColumnDefinition("status", "text", nullable=False))``) or read from DDL text by
:func:`parse_ddl` (sqlglot). Rules, the risk engine and the executing components all work
on these objects, never on SQL text.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ColumnDefinition", "DefaultValueType", "Operation", "OperationKind"]


class OperationKind(enum.StrEnum):
    """What an operation does."""

    CREATE_TABLE = "create_table"
    DROP_TABLE = "drop_table"
    RENAME_TABLE = "rename_table"
    TRUNCATE_TABLE = "truncate_table"
    ADD_COLUMN = "add_column"
    DROP_COLUMN = "drop_column"
    RENAME_COLUMN = "rename_column"
    ALTER_COLUMN_TYPE = "alter_column_type"
    SET_NOT_NULL = "set_not_null"
    DROP_NOT_NULL = "drop_not_null"
    SET_DEFAULT = "set_default"
    DROP_DEFAULT = "drop_default"
    ADD_INDEX = "add_index"
    DROP_INDEX = "drop_index"
    ADD_FOREIGN_KEY = "add_foreign_key"
    ADD_CHECK = "add_check"
    ADD_UNIQUE = "add_unique"
    ADD_PRIMARY_KEY = "add_primary_key"
    DROP_CONSTRAINT = "drop_constraint"
    VALIDATE_CONSTRAINT = "validate_constraint"
    ADD_EXCLUSION = "add_exclusion"
    CREATE_VIEW = "create_view"
    DROP_VIEW = "drop_view"
    CREATE_TRIGGER = "create_trigger"
    UPDATE_ROWS = "update_rows"
    DELETE_ROWS = "delete_rows"
    RAW = "raw"  # a statement understood only as text (reported, never guessed at)


class DefaultValueType(enum.StrEnum):
    """How a NOT NULL column's existing rows get a value (NotNullColumnHandler)."""

    STATIC = "static"  # one constant
    COMPUTED = "computed"  # an SQL expression over the row's other columns
    FUNCTION = "function"  # a database function (now(), gen_random_uuid(), ...)
    CONDITIONAL = "conditional"  # CASE over the row: [(condition, value), ...] + else
    SEQUENCE = "sequence"  # the next values of a sequence (or row numbers)
    FOREIGN_KEY = "foreign_key"  # a key of a referenced table's row (a lookup)


@dataclass
class ColumnDefinition:
    """A column as a migration declares it.

    Attributes:
        name: the column name.
        data_type: the SQL type as written for the target database (``"text"``,
            ``"varchar(20)"``, ``"bigint"``).
        nullable: NULL allowed.
        default: the DEFAULT expression as SQL text (``"'active'"``, ``"0"``,
            ``"now()"``), or None.
        default_type: how existing rows get a value (NotNullColumnHandler), with
            ``default_expression`` (computed / function / sequence name), ``conditions``
            (conditional: ``[(sql_condition, sql_value), ...]``) and
            ``foreign_key_reference`` (``"table.column"`` for a foreign-key default).
        unique: a UNIQUE constraint on the column.
        primary_key: part of the primary key.
        references: ``"table.column"`` for a foreign key.
    """

    name: str
    data_type: str
    nullable: bool = True
    default: str | None = None
    default_type: DefaultValueType = DefaultValueType.STATIC
    default_expression: str | None = None
    conditions: list[tuple[str, str]] = field(default_factory=list)
    foreign_key_reference: str | None = None
    unique: bool = False
    primary_key: bool = False
    references: str | None = None


@dataclass
class Operation:
    """One schema change.

    Attributes:
        kind: what it does.
        table: the table it changes (for an index, the indexed table).
        column: the column added, or the one a column operation changes.
        column_name: the column's name (``column.name`` when a definition is given).
        new_name: the new name (renames).
        data_type: the new type (ALTER COLUMN TYPE).
        default: the new DEFAULT expression as SQL text (SET DEFAULT).
        index: the index or constraint name.
        columns: the indexed / constrained columns.
        unique: a unique index.
        concurrently: CREATE / DROP INDEX CONCURRENTLY (PostgreSQL).
        not_valid: ADD CONSTRAINT ... NOT VALID (PostgreSQL).
        references: ``(table, [columns])`` of a foreign key.
        expression: a CHECK expression, a view's query, an UPDATE's SET clause.
        where: an UPDATE's or DELETE's condition (None: every row).
        cascade: DROP ... CASCADE.
        if_exists: IF EXISTS / IF NOT EXISTS given.
        sql: the statement's text, when it came from DDL.
        options: anything else the statement said (kept for rules that need it).
    """

    kind: OperationKind
    table: str
    column: ColumnDefinition | None = None
    column_name: str | None = None
    new_name: str | None = None
    data_type: str | None = None
    default: str | None = None
    index: str | None = None
    columns: list[str] = field(default_factory=list)
    unique: bool = False
    concurrently: bool = False
    not_valid: bool = False
    references: tuple[str, list[str]] | None = None
    expression: str | None = None
    where: str | None = None
    cascade: bool = False
    if_exists: bool = False
    sql: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.column is not None and self.column_name is None:
            self.column_name = self.column.name
