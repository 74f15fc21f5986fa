"""What an operation does to its table on a given server: the lock it takes, whether it
rewrites or scans the table, and whether it fails on a table that has rows.

Pure: a function of the operation, the server (dialect, version) and the table's facts.
The PostgreSQL table follows the ALTER TABLE / CREATE INDEX documentation and is checked
by tests that watch ``pg_locks`` and ``relfilenode`` from a second connection. MySQL and
MariaDB run most ALTERs as online DDL (ALGORITHM=INPLACE/INSTANT, brief metadata locks);
SQLite locks the whole database file for any write, and rebuilds a table for what its
ALTER TABLE cannot do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._operations import Operation, OperationKind

__all__ = ["Effect", "effect_of", "is_volatile_default"]

#: PostgreSQL lock modes, weakest first; readers are blocked only by ACCESS EXCLUSIVE,
#: writers from SHARE up.
PG_LOCKS = (
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)
_BLOCKS_WRITES = PG_LOCKS.index("ShareLock")
_BLOCKS_READS = PG_LOCKS.index("AccessExclusiveLock")

_VOLATILE = re.compile(
    r"\b(random|clock_timestamp|timeofday|gen_random_uuid|uuid_generate_v[14]|nextval|"
    r"uuid\(\)|rand|sysdate|setseed)\b",
    re.IGNORECASE,
)


def is_volatile_default(expression: str | None) -> bool:
    """A DEFAULT whose value differs row by row (``gen_random_uuid()``, ``random()``,
    ``clock_timestamp()``, ``nextval(...)``): adding a column with it writes every row.
    ``now()`` / ``CURRENT_TIMESTAMP`` are stable within a statement, so not volatile."""
    return bool(expression and _VOLATILE.search(expression))


@dataclass(frozen=True)
class Effect:
    """What a statement does to its table.

    Attributes:
        lock: the strongest lock it takes on the table (PostgreSQL's name, e.g.
            ``"AccessExclusiveLock"``; ``"metadata"`` for MySQL's metadata lock;
            ``"database"`` for SQLite's write lock; ``None``: no lock on an existing
            table).
        blocks_reads: while it runs, reads of the table wait.
        blocks_writes: while it runs, writes to the table wait.
        rewrites: the table (and its indexes) is rewritten: time and disk space grow with
            its size, and the lock is held throughout.
        scans: every row is read (a validation) while the lock is held.
        fails_with_rows: the statement fails outright if the table has rows.
        other_tables: other tables locked too (a foreign key's referenced table).
        in_transaction: it can run inside a transaction (CONCURRENTLY cannot).
        note: a sentence saying why, for reports.
    """

    lock: str | None
    blocks_reads: bool
    blocks_writes: bool
    rewrites: bool = False
    scans: bool = False
    fails_with_rows: bool = False
    other_tables: tuple[str, ...] = ()
    in_transaction: bool = True
    note: str = ""


def _pg(lock: str | None, **kw: object) -> Effect:
    level = PG_LOCKS.index(lock) if lock else -1
    return Effect(
        lock,
        blocks_reads=level >= _BLOCKS_READS,
        blocks_writes=level >= _BLOCKS_WRITES,
        **kw,  # type: ignore[arg-type]
    )


_TEXT_TYPES = re.compile(r"^(character varying|varchar|text|citext)\b", re.IGNORECASE)


def _binary_coercible(old: str | None, new: str | None) -> bool:
    """A type change PostgreSQL makes without a rewrite: varchar(n) -> varchar(m >= n)
    or text, varchar -> text, numeric(p, s) -> numeric(q >= p, s)."""
    if not old or not new:
        return False
    old, new = old.strip().lower(), new.strip().lower()
    if _TEXT_TYPES.match(old) and new in ("text", "varchar", "character varying"):
        return True
    length = re.compile(r"^(?:character varying|varchar)\s*\((\d+)\)$")
    a, b = length.match(old), length.match(new)
    if a and b:
        return int(b.group(1)) >= int(a.group(1))
    numeric = re.compile(r"^(?:numeric|decimal)\s*\((\d+)\s*,\s*(\d+)\)$")
    a, b = numeric.match(old), numeric.match(new)
    return bool(a and b and a.group(2) == b.group(2) and int(b.group(1)) >= int(a.group(1)))


def _postgres(op: Operation, version: tuple[int, ...], old_type: str | None) -> Effect:
    k = OperationKind
    major = version[0] if version else 0
    exclusive = "AccessExclusiveLock"
    if op.kind is k.RAW:
        return _pg(None, note="not analysed")
    if op.kind is k.ADD_COLUMN:
        column = op.column
        default = column.default if column else None
        if op.options.get("generated_stored") or op.options.get("identity"):
            return _pg(exclusive, rewrites=True, note="every row gets its value written")
        if column is not None and not column.nullable and default is None:
            return _pg(exclusive, fails_with_rows=True, note="NOT NULL without a default")
        if is_volatile_default(default):
            return _pg(exclusive, rewrites=True, note="a volatile default is written per row")
        if default is not None and major < 11:
            return _pg(exclusive, rewrites=True, note="a default rewrites before PostgreSQL 11")
        return _pg(exclusive, note="catalog only")
    if op.kind is k.ALTER_COLUMN_TYPE:
        if _binary_coercible(old_type, op.data_type):
            return _pg(exclusive, note="binary-coercible: catalog only")
        return _pg(exclusive, rewrites=True, note="the table and its indexes are rewritten")
    if op.kind is k.SET_NOT_NULL:
        return _pg(exclusive, scans=True, note="every row is checked under the lock")
    if op.kind is k.ADD_INDEX:
        if op.concurrently:
            return _pg("ShareUpdateExclusiveLock", scans=True, in_transaction=False)
        return _pg("ShareLock", scans=True, note="writes wait while the index is built")
    if op.kind is k.DROP_INDEX:
        if op.concurrently:
            return _pg("ShareUpdateExclusiveLock", in_transaction=False)
        return _pg(exclusive)
    if op.kind is k.ADD_FOREIGN_KEY:
        other = (op.references[0],) if op.references else ()
        if op.not_valid:
            return _pg("ShareRowExclusiveLock", other_tables=other, note="not validated")
        return _pg(
            "ShareRowExclusiveLock",
            scans=True,
            other_tables=other,
            note="both tables' writes wait while every row is checked",
        )
    if op.kind is k.VALIDATE_CONSTRAINT:
        return _pg("ShareUpdateExclusiveLock", scans=True, note="reads and writes continue")
    if op.kind is k.ADD_CHECK:
        if op.not_valid:
            return _pg(exclusive, note="not validated: catalog only")
        return _pg(exclusive, scans=True, note="every row is checked under the lock")
    if op.kind in (k.ADD_UNIQUE, k.ADD_PRIMARY_KEY, k.ADD_EXCLUSION):
        if op.options.get("using_index"):
            return _pg(exclusive, note="an existing index is attached")
        return _pg(exclusive, scans=True, note="the index is built under the lock")
    if op.kind in (k.UPDATE_ROWS, k.DELETE_ROWS):
        return _pg("RowExclusiveLock", scans=op.where is None)
    if op.kind is k.CREATE_TABLE:
        return _pg(None)
    if op.kind in (k.CREATE_VIEW, k.DROP_VIEW):
        return _pg("AccessShareLock" if op.kind is k.CREATE_VIEW else None)
    if op.kind is k.CREATE_TRIGGER:
        return _pg("ShareRowExclusiveLock")
    if op.kind is k.TRUNCATE_TABLE:
        return _pg(exclusive, rewrites=True, note="new, empty storage: every row is gone")
    return _pg(exclusive)  # renames, drops, defaults, ...


def _mysql(op: Operation, flavor: str, version: tuple[int, ...], old_type: str | None) -> Effect:
    """MySQL / MariaDB online DDL: most ALTERs run INPLACE or INSTANT with a brief
    exclusive metadata lock at the start and end; some copy the table (writes wait)."""
    k = OperationKind
    instant_add = (flavor == "mysql" and version >= (8, 0, 12)) or (
        flavor == "mariadb" and version >= (10, 3)
    )
    brief = Effect("metadata", blocks_reads=False, blocks_writes=False)
    if op.kind is k.RAW:
        return Effect(None, False, False, note="not analysed")
    if op.kind is k.ADD_COLUMN:
        if op.options.get("auto_increment") or op.options.get("generated_stored"):
            return Effect("metadata", False, True, rewrites=True, note="every row is written")
        if instant_add:
            return Effect("metadata", False, False, note="ALGORITHM=INSTANT")
        return Effect("metadata", False, False, rewrites=True, note="INPLACE, rebuilds")
    if op.kind in (k.ALTER_COLUMN_TYPE, k.SET_NOT_NULL, k.DROP_NOT_NULL):
        return Effect("metadata", False, True, rewrites=True, note="ALGORITHM=COPY: writes wait")
    if op.kind in (k.DROP_COLUMN, k.ADD_PRIMARY_KEY):
        return Effect("metadata", False, False, rewrites=True, note="INPLACE, rebuilds")
    if op.kind in (k.ADD_INDEX, k.ADD_UNIQUE):
        return Effect("metadata", False, False, scans=True, note="INPLACE, concurrent DML")
    if op.kind is k.ADD_FOREIGN_KEY:
        return Effect("metadata", False, False, scans=True)
    if op.kind in (k.DROP_TABLE, k.TRUNCATE_TABLE):
        return Effect("metadata", True, True)
    if op.kind in (k.UPDATE_ROWS, k.DELETE_ROWS):
        return Effect("rows", False, False, scans=op.where is None)
    if op.kind is k.CREATE_TABLE:
        return Effect(None, False, False)
    return brief


def _sqlite(op: Operation) -> Effect:
    """SQLite: any write locks the whole database; what ALTER TABLE cannot do (a type
    change, NOT NULL, constraints) is a table rebuild (create, copy, drop, rename)."""
    k = OperationKind
    rebuild = {
        k.ALTER_COLUMN_TYPE,
        k.SET_NOT_NULL,
        k.DROP_NOT_NULL,
        k.SET_DEFAULT,
        k.DROP_DEFAULT,
        k.ADD_FOREIGN_KEY,
        k.ADD_CHECK,
        k.ADD_UNIQUE,
        k.ADD_PRIMARY_KEY,
        k.DROP_CONSTRAINT,
    }
    if op.kind is k.RAW:
        return Effect(None, False, False, note="not analysed")
    if op.kind in rebuild:
        return Effect(
            "database", True, True, rewrites=True, note="ALTER TABLE cannot: a table rebuild"
        )
    column = op.column if op.kind is k.ADD_COLUMN else None
    if column is not None and not column.nullable and column.default is None:
        return Effect("database", False, True, fails_with_rows=True)
    if op.kind is k.ADD_INDEX:
        return Effect("database", False, True, scans=True)
    if op.kind is k.CREATE_TABLE:
        return Effect(None, False, False)
    return Effect("database", False, True)


def effect_of(
    op: Operation,
    dialect: str,
    version: tuple[int, ...],
    *,
    flavor: str | None = None,
    old_type: str | None = None,
) -> Effect:
    """What ``op`` does to its table on this server.

    Args:
        op: the operation.
        dialect: "postgresql", "mysql" or "sqlite".
        version: the server's version, e.g. ``(16, 4)``.
        flavor: "mysql" or "mariadb" for the mysql dialect.
        old_type: the column's current type (type changes: binary-coercible or not).
    """
    if dialect == "postgresql":
        return _postgres(op, version, old_type)
    if dialect == "mysql":
        return _mysql(op, flavor or "mysql", version, old_type)
    return _sqlite(op)
