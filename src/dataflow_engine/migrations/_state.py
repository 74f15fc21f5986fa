"""Schema snapshots, the difference between two of them, and their history.

:class:`SchemaStateManager` reads the live schema into a :class:`SchemaSnapshot`: every
table (columns with their types, nullability and defaults, primary key, indexes, foreign
keys, checks), every view with its definition and every trigger with its definition.
Tables, keys and indexes come from the engine's discovery (:mod:`dataflow_engine.discovery`);
view and trigger definitions and PostgreSQL's index validity from one catalog query each.

A snapshot is schema only (no rows) and is compared by its content: two snapshots of
identical schemas are ``==`` and have the same :attr:`~SchemaSnapshot.checksum`, whatever
their label, time, or the name of the schema or database they were taken in (definitions
are read with names relative to that schema, so a copy of a schema elsewhere, such as a
staging copy, compares equal to the original). :meth:`SchemaStateManager.diff` is pure.

The history lives in the table ``dataflow_schema_history`` (id, label, taken_at, checksum,
body with the snapshot as JSON), created on the first :meth:`~SchemaStateManager.record`
when the ``DataFlow`` allows DDL. The engine's own tables (the history, the migration
lock, the model registry) are left out of every snapshot.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from .. import _loop
from ..errors import MigrationError, SchemaError, UniqueViolation, ValidationError
from ._facts import as_text

if TYPE_CHECKING:
    from .._dataflow import DataFlow
    from ..adapters import Connection
    from ..discovery import TableInfo

__all__ = [
    "HISTORY_TABLE",
    "INTERNAL_TABLES",
    "CheckState",
    "ColumnState",
    "ForeignKeyState",
    "IndexState",
    "SchemaChange",
    "SchemaDiff",
    "SchemaSnapshot",
    "SchemaStateManager",
    "TableState",
    "TriggerState",
    "ViewState",
]

#: The table :meth:`SchemaStateManager.record` keeps snapshots in.
HISTORY_TABLE = "dataflow_schema_history"
#: The engine's own tables: never part of a snapshot, never copied to staging.
INTERNAL_TABLES = frozenset({HISTORY_TABLE, "dataflow_migration_lock", "dataflow_model_registry"})


# -- the snapshot -------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnState:
    """A column as the database describes it.

    Attributes:
        name: the exact column name.
        type: the type as the database spells it (``integer``, ``int(11)``, ``TEXT``).
        nullable: NULL is allowed.
        default: the default expression as the catalog gives it, or None.
        generated: the expression of a generated column, or None.
        auto_increment: serial/identity, AUTO_INCREMENT or SQLite's rowid alias.
    """

    name: str
    type: str
    nullable: bool
    default: str | None = None
    generated: str | None = None
    auto_increment: bool = False


@dataclass(frozen=True)
class IndexState:
    """An index (the primary key's and unique constraints' included).

    Attributes:
        name: the index name.
        columns: column names, or expression text for expression parts.
        unique, primary: a unique index; the primary key's index.
        partial: the WHERE clause of a partial index, or None.
        valid: False for a PostgreSQL index a failed ``CREATE INDEX CONCURRENTLY`` left.
    """

    name: str
    columns: tuple[str, ...]
    unique: bool = False
    primary: bool = False
    partial: str | None = None
    valid: bool = True


@dataclass(frozen=True)
class ForeignKeyState:
    """A foreign key of a table.

    Attributes:
        name: the constraint name (None for an unnamed SQLite key).
        columns: the referencing columns.
        ref_table, ref_columns: the referenced table and columns.
        on_delete, on_update: ``NO ACTION``, ``RESTRICT``, ``CASCADE``, ``SET NULL`` or
            ``SET DEFAULT``.
        ref_schema: the referenced table's schema or database when it is not the
            snapshot's own; None otherwise.
    """

    name: str | None
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    on_delete: str = "NO ACTION"
    on_update: str = "NO ACTION"
    ref_schema: str | None = None

    @property
    def label(self) -> str:
        """The name, or ``(a, b) -> parent(x, y)`` for an unnamed key."""
        if self.name:
            return self.name
        target = f"{self.ref_schema}.{self.ref_table}" if self.ref_schema else self.ref_table
        return f"({', '.join(self.columns)}) -> {target}({', '.join(self.ref_columns)})"


@dataclass(frozen=True)
class CheckState:
    """A check constraint: its name (None when unnamed) and expression."""

    name: str | None
    expression: str

    @property
    def label(self) -> str:
        """The name, or the expression of an unnamed check."""
        return self.name or self.expression


@dataclass(frozen=True)
class TableState:
    """One table of a snapshot.

    Attributes:
        name: the table name.
        columns: in table order.
        primary_key: the primary key's columns (empty without one).
        indexes, foreign_keys, checks: sorted by name.
    """

    name: str
    columns: tuple[ColumnState, ...]
    primary_key: tuple[str, ...] = ()
    indexes: tuple[IndexState, ...] = ()
    foreign_keys: tuple[ForeignKeyState, ...] = ()
    checks: tuple[CheckState, ...] = ()

    def column(self, name: str) -> ColumnState | None:
        """The column called ``name``, or None."""
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class ViewState:
    """A view: its name, its definition as the database gives it (names relative to the
    snapshot's schema) and whether it is materialized (PostgreSQL)."""

    name: str
    definition: str
    materialized: bool = False


@dataclass(frozen=True)
class TriggerState:
    """A trigger: its name, its table and its definition as the database gives it."""

    name: str
    table: str
    definition: str


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class SchemaSnapshot:
    """The schema of one database (schema) at one moment.

    Two snapshots are ``==`` when their schemas are identical: only ``dialect``,
    ``tables``, ``views`` and ``triggers`` are compared, and only they make up the
    ``checksum`` (a SHA-256 of their canonical JSON); ``id``, ``label``, ``taken_at`` and
    ``schema`` are not.

    Attributes:
        dialect: ``"postgresql"``, ``"mysql"`` or ``"sqlite"``.
        tables: name -> :class:`TableState`, sorted by name.
        views: name -> :class:`ViewState`, sorted by name.
        triggers: every :class:`TriggerState`, sorted by (table, name).
        schema: the PostgreSQL schema or MySQL database it was taken in (None for SQLite).
        label: what the caller called it.
        taken_at: when it was taken (UTC).
        id: its row in ``dataflow_schema_history`` once recorded, else None.
        checksum: 64 hex digits, equal for identical schemas.

    Example::

        before = await states.capture_snapshot("before v42")
        ...
        after = await states.capture_snapshot("after v42")
        before == after, before.checksum == after.checksum  # (False, False)
    """

    dialect: str
    tables: Mapping[str, TableState]
    views: Mapping[str, ViewState] = field(default_factory=dict)
    triggers: tuple[TriggerState, ...] = ()
    schema: str | None = field(default=None, compare=False)
    label: str | None = field(default=None, compare=False)
    taken_at: datetime = field(default_factory=_now, compare=False)
    id: int | None = field(default=None, compare=False)
    checksum: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        tables = {k: self.tables[k] for k in sorted(self.tables)}
        views = {k: self.views[k] for k in sorted(self.views)}
        triggers = tuple(sorted(self.triggers, key=lambda t: (t.table, t.name)))
        object.__setattr__(self, "tables", tables)
        object.__setattr__(self, "views", views)
        object.__setattr__(self, "triggers", triggers)
        text = json.dumps(self._content(), sort_keys=True, separators=(",", ":"))
        object.__setattr__(self, "checksum", hashlib.sha256(text.encode("utf-8")).hexdigest())

    def __hash__(self) -> int:
        return hash(self.checksum)

    def _content(self) -> dict[str, Any]:
        return {
            "dialect": self.dialect,
            "tables": [dataclasses.asdict(t) for t in self.tables.values()],
            "views": [dataclasses.asdict(v) for v in self.views.values()],
            "triggers": [dataclasses.asdict(t) for t in self.triggers],
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict of the snapshot (what the history table stores).

        Returns:
            ``{"id", "label", "taken_at" (ISO 8601), "dialect", "schema", "checksum",
            "tables": {name: {...}}, "views": {name: {...}}, "triggers": [...]}``.
        """
        content = self._content()
        return {
            "id": self.id,
            "label": self.label,
            "taken_at": self.taken_at.isoformat(),
            "dialect": self.dialect,
            "schema": self.schema,
            "checksum": self.checksum,
            "tables": {t["name"]: t for t in content["tables"]},
            "views": {v["name"]: v for v in content["views"]},
            "triggers": content["triggers"],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SchemaSnapshot:
        """Rebuild a snapshot from :meth:`to_dict`'s output (the checksum is recomputed).

        Args:
            data: a dict as :meth:`to_dict` returns it.

        Returns:
            The snapshot.

        Raises:
            ValidationError: ``DF-PARAM-INVALID`` when ``data`` is not such a dict.

        Example::

            copy = SchemaSnapshot.from_dict(json.loads(json.dumps(snapshot.to_dict())))
            copy == snapshot  # True
        """
        try:
            tables = {name: _table_from(t) for name, t in data["tables"].items()}
            views = {name: ViewState(**v) for name, v in data.get("views", {}).items()}
            triggers = tuple(TriggerState(**t) for t in data.get("triggers", ()))
            taken_at = datetime.fromisoformat(data["taken_at"])
            return cls(
                dialect=data["dialect"],
                tables=tables,
                views=views,
                triggers=triggers,
                schema=data.get("schema"),
                label=data.get("label"),
                taken_at=taken_at if taken_at.tzinfo else taken_at.replace(tzinfo=UTC),
                id=data.get("id"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValidationError(
                f"not a schema snapshot: {exc!r}; pass what SchemaSnapshot.to_dict() returns",
                details={"param": "data"},
            ) from exc


def _table_from(data: Mapping[str, Any]) -> TableState:
    return TableState(
        name=data["name"],
        columns=tuple(ColumnState(**c) for c in data["columns"]),
        primary_key=tuple(data.get("primary_key", ())),
        indexes=tuple(
            IndexState(**{**i, "columns": tuple(i["columns"])}) for i in data.get("indexes", ())
        ),
        foreign_keys=tuple(
            ForeignKeyState(
                **{**f, "columns": tuple(f["columns"]), "ref_columns": tuple(f["ref_columns"])}
            )
            for f in data.get("foreign_keys", ())
        ),
        checks=tuple(CheckState(**c) for c in data.get("checks", ())),
    )


# -- the difference -----------------------------------------------------------------------


@dataclass(frozen=True)
class SchemaChange:
    """One difference between two snapshots.

    Attributes:
        kind: ``table_added``, ``table_removed``, ``column_added``, ``column_removed``,
            ``column_changed``, ``primary_key_changed``, ``index_added``,
            ``index_removed``, ``foreign_key_added``, ``foreign_key_removed``,
            ``check_added``, ``check_removed``, ``view_added``, ``view_removed``,
            ``view_changed``, ``trigger_added``, ``trigger_removed`` or
            ``trigger_changed``.
        table: the table (a trigger's table; None for a view).
        name: the table, column, index, foreign key (its label), check, view or trigger.
        before, after: the state on each side (None where it does not exist).
        attributes: for ``column_changed``, what changed: ``type``, ``nullable``,
            ``default``.
    """

    kind: str
    table: str | None
    name: str
    before: Any = None
    after: Any = None
    attributes: tuple[str, ...] = ()

    def describe(self) -> str:
        """The change in one line, e.g. ``orders.total: type numeric -> bigint``."""
        where = f"{self.table}." if self.table and self.name != self.table else ""
        what = self.kind.replace("_", " ")
        if self.kind == "column_changed":
            parts = [
                f"{a} {getattr(self.before, a)!r} -> {getattr(self.after, a)!r}"
                for a in self.attributes
            ]
            return f"{where}{self.name}: {', '.join(parts)}"
        if self.kind == "primary_key_changed":
            return f"{self.name}: primary key {self.before} -> {self.after}"
        return f"{what}: {where}{self.name}"


@dataclass(frozen=True)
class SchemaDiff:
    """What changed from one snapshot to another (empty and falsy when nothing did).

    Attributes:
        changes: every difference, in a stable order: tables added and removed, then per
            table its columns, primary key, indexes, foreign keys and checks, then views,
            then triggers.
        before_checksum, after_checksum: the two snapshots' checksums.

    Example::

        diff = SchemaStateManager.diff(before, after)
        diff.columns_added          # [("orders", "note")]
        [c.describe() for c in diff.changes]
    """

    changes: tuple[SchemaChange, ...]
    before_checksum: str = ""
    after_checksum: str = ""

    def __bool__(self) -> bool:
        return bool(self.changes)

    def __len__(self) -> int:
        return len(self.changes)

    def of_kind(self, *kinds: str) -> list[SchemaChange]:
        """The changes of the given kinds, in order."""
        return [c for c in self.changes if c.kind in kinds]

    def _pairs(self, kind: str) -> list[tuple[str, str]]:
        return [(c.table or "", c.name) for c in self.of_kind(kind)]

    @property
    def tables_added(self) -> list[str]:
        return [c.name for c in self.of_kind("table_added")]

    @property
    def tables_removed(self) -> list[str]:
        return [c.name for c in self.of_kind("table_removed")]

    @property
    def columns_added(self) -> list[tuple[str, str]]:
        """(table, column) pairs."""
        return self._pairs("column_added")

    @property
    def columns_removed(self) -> list[tuple[str, str]]:
        """(table, column) pairs."""
        return self._pairs("column_removed")

    @property
    def columns_changed(self) -> list[SchemaChange]:
        """The ``column_changed`` changes (``attributes`` says what changed)."""
        return self.of_kind("column_changed")

    @property
    def indexes_added(self) -> list[tuple[str, str]]:
        """(table, index) pairs."""
        return self._pairs("index_added")

    @property
    def indexes_removed(self) -> list[tuple[str, str]]:
        """(table, index) pairs."""
        return self._pairs("index_removed")

    @property
    def foreign_keys_added(self) -> list[tuple[str, str]]:
        """(table, foreign key label) pairs."""
        return self._pairs("foreign_key_added")

    @property
    def foreign_keys_removed(self) -> list[tuple[str, str]]:
        """(table, foreign key label) pairs."""
        return self._pairs("foreign_key_removed")

    @property
    def views_changed(self) -> list[SchemaChange]:
        """Views added, removed or redefined."""
        return self.of_kind("view_added", "view_removed", "view_changed")

    @property
    def triggers_changed(self) -> list[SchemaChange]:
        """Triggers added, removed or redefined."""
        return self.of_kind("trigger_added", "trigger_removed", "trigger_changed")

    def summary(self) -> list[str]:
        """One line per change (:meth:`SchemaChange.describe`)."""
        return [c.describe() for c in self.changes]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict: checksums and ``changes`` as dicts."""

        def state(value: Any) -> Any:
            if dataclasses.is_dataclass(value) and not isinstance(value, type):
                return dataclasses.asdict(value)
            return value

        return {
            "before_checksum": self.before_checksum,
            "after_checksum": self.after_checksum,
            "changes": [
                {
                    "kind": c.kind,
                    "table": c.table,
                    "name": c.name,
                    "before": state(c.before),
                    "after": state(c.after),
                    "attributes": list(c.attributes),
                    "description": c.describe(),
                }
                for c in self.changes
            ],
        }


_COLUMN_ATTRIBUTES = ("type", "nullable", "default")


def diff_snapshots(before: SchemaSnapshot, after: SchemaSnapshot) -> SchemaDiff:
    """The changes that turn ``before`` into ``after`` (pure; see :class:`SchemaDiff`).

    Objects are matched by name (foreign keys by their whole definition, since SQLite's
    are unnamed); an index or key whose definition changed under the same name is
    reported removed and added. A table added or removed is one change, not one per
    column.
    """
    out: list[SchemaChange] = []
    a, b = before.tables, after.tables
    out += [SchemaChange("table_added", n, n, None, b[n]) for n in b if n not in a]
    out += [SchemaChange("table_removed", n, n, a[n], None) for n in a if n not in b]
    for name in sorted(set(a) & set(b)):
        out += _table_changes(a[name], b[name])
    va, vb = before.views, after.views
    for name in sorted(set(va) | set(vb)):
        out += _changed("view", None, name, va.get(name), vb.get(name))
    ta = {(t.table, t.name): t for t in before.triggers}
    tb = {(t.table, t.name): t for t in after.triggers}
    for key in sorted(set(ta) | set(tb)):
        out += _changed("trigger", key[0], key[1], ta.get(key), tb.get(key))
    return SchemaDiff(tuple(out), before.checksum, after.checksum)


def _changed(kind: str, table: str | None, name: str, old: Any, new: Any) -> list[SchemaChange]:
    if old is None:
        return [SchemaChange(f"{kind}_added", table, name, None, new)]
    if new is None:
        return [SchemaChange(f"{kind}_removed", table, name, old, None)]
    if old != new:
        return [SchemaChange(f"{kind}_changed", table, name, old, new)]
    return []


def _table_changes(old: TableState, new: TableState) -> list[SchemaChange]:
    t = old.name
    out: list[SchemaChange] = []
    before = {c.name: c for c in old.columns}
    after = {c.name: c for c in new.columns}
    out += [
        SchemaChange("column_added", t, n, None, c) for n, c in after.items() if n not in before
    ]
    out += [
        SchemaChange("column_removed", t, n, c, None) for n, c in before.items() if n not in after
    ]
    for n, c in before.items():
        other = after.get(n)
        if other is None:
            continue
        changed = tuple(a for a in _COLUMN_ATTRIBUTES if getattr(c, a) != getattr(other, a))
        if changed:
            out.append(SchemaChange("column_changed", t, n, c, other, changed))
    if old.primary_key != new.primary_key:
        out.append(SchemaChange("primary_key_changed", t, t, old.primary_key, new.primary_key))
    out += _keyed(t, "index", old.indexes, new.indexes, lambda i: i.name)
    out += _keyed(t, "foreign_key", old.foreign_keys, new.foreign_keys, None)
    out += _keyed(t, "check", old.checks, new.checks, None)
    return out


def _keyed(
    table: str, kind: str, old: Iterable[Any], new: Iterable[Any], by_name: Any
) -> list[SchemaChange]:
    """Added / removed objects; matched by name (``by_name``) or by their whole value."""
    key = by_name or (lambda x: x)
    before = {key(x): x for x in old}
    after = {key(x): x for x in new}
    out: list[SchemaChange] = []
    for k, x in after.items():
        previous = before.get(k)
        if previous == x:
            continue
        if previous is not None:  # same name, another definition
            out.append(SchemaChange(f"{kind}_removed", table, _label(previous), previous, None))
        out.append(SchemaChange(f"{kind}_added", table, _label(x), None, x))
    for k, x in before.items():
        if k not in after:
            out.append(SchemaChange(f"{kind}_removed", table, _label(x), x, None))
    return out


def _label(state: Any) -> str:
    return str(getattr(state, "label", None) or state.name)


# -- reading the live schema ----------------------------------------------------------------


class _Catalog:
    """What one database needs besides discovery: view and trigger definitions, invalid
    indexes, and the history table's statements. Subclasses override what differs."""

    #: ``CREATE TABLE`` of the history table; ``{table}`` is its (qualified) name.
    CREATE_HISTORY: ClassVar[str]

    def __init__(self, dataflow: DataFlow) -> None:
        self.dataflow = dataflow
        self.dialect = dataflow.dialect

    def schema(self) -> str | None:
        """The schema (database) snapshots read: the URL's."""
        return None

    def history_table(self) -> str:
        return self.dialect.quote(HISTORY_TABLE)

    @asynccontextmanager
    async def scope(self, conn: Connection) -> AsyncIterator[None]:
        """Read definitions with names relative to the snapshot's schema."""
        yield

    async def objects(
        self, conn: Connection, schema: str | None
    ) -> tuple[list[ViewState], list[TriggerState], set[tuple[str, str]]]:
        """The views, the triggers and the invalid (table, index) pairs of ``schema``."""
        raise NotImplementedError

    def encode_body(self, body: dict[str, Any]) -> Any:
        return json.dumps(body, sort_keys=True)

    def encode_time(self, moment: datetime) -> Any:
        return moment.isoformat()

    async def insert_history(self, conn: Connection, values: Sequence[Any]) -> int:
        marks = ", ".join(self.dialect.placeholder(i + 1) for i in range(4))
        rows = await conn.fetch(
            f"INSERT INTO {self.history_table()} (label, taken_at, checksum, body) "
            f"VALUES ({marks}) RETURNING id",
            values,
        )
        return int(rows[0][0])


class _PostgresCatalog(_Catalog):
    CREATE_HISTORY = (
        "CREATE TABLE IF NOT EXISTS {table} (id BIGSERIAL PRIMARY KEY, label TEXT, "
        "taken_at TIMESTAMPTZ NOT NULL, checksum CHAR(64) NOT NULL, body JSONB NOT NULL)"
    )
    _OBJECTS = """
SELECT 'view', c.relname::text, NULL, pg_catalog.pg_get_viewdef(c.oid, true), c.relkind::text
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('v', 'm')
UNION ALL
SELECT 'trigger', t.tgname::text, c.relname::text, pg_catalog.pg_get_triggerdef(t.oid, true), NULL
FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND NOT t.tgisinternal
UNION ALL
SELECT 'invalid_index', i.relname::text, c.relname::text, NULL, NULL
FROM pg_catalog.pg_index x JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
JOIN pg_catalog.pg_class c ON c.oid = x.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND NOT x.indisvalid
"""

    def schema(self) -> str:
        return self.dialect.schema or "public"

    def history_table(self) -> str:
        return f"{self.dialect.quote(self.schema())}.{self.dialect.quote(HISTORY_TABLE)}"

    @asynccontextmanager
    async def scope(self, conn: Connection) -> AsyncIterator[None]:
        # Defaults, views and triggers are printed with names relative to search_path. The
        # reads run in a transaction (a savepoint inside the caller's) that is then rolled
        # back, so the caller's own search_path is left as it was.
        try:
            async with conn.transaction():
                await conn.execute(f"SET LOCAL search_path TO {self.dialect.quote(self.schema())}")
                yield
                raise _Undo
        except _Undo:
            pass

    async def objects(
        self, conn: Connection, schema: str | None
    ) -> tuple[list[ViewState], list[TriggerState], set[tuple[str, str]]]:
        views, triggers, invalid = [], [], set()
        for what, name, table, definition, relkind in await conn.fetch(self._OBJECTS, (schema,)):
            if what == "view":
                views.append(ViewState(name, str(definition).strip(), relkind == "m"))
            elif what == "trigger":
                triggers.append(TriggerState(name, table, str(definition)))
            else:
                invalid.add((table, name))
        return views, triggers, invalid

    def encode_body(self, body: dict[str, Any]) -> Any:
        return body  # the adapter's jsonb codec encodes it

    def encode_time(self, moment: datetime) -> Any:
        return moment


class _MySQLCatalog(_Catalog):
    CREATE_HISTORY = (
        "CREATE TABLE IF NOT EXISTS {table} (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, "
        "label TEXT NULL, taken_at DATETIME(6) NOT NULL, checksum CHAR(64) NOT NULL, "
        "body JSON NOT NULL)"
    )
    _OBJECTS = (
        "SELECT 'view', TABLE_NAME, NULL, VIEW_DEFINITION, TABLE_SCHEMA "
        "FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE() "
        "UNION ALL "
        "SELECT 'trigger', TRIGGER_NAME, EVENT_OBJECT_TABLE, CONCAT(ACTION_TIMING, ' ', "
        "EVENT_MANIPULATION, ' FOR EACH ', ACTION_ORIENTATION, ' ', ACTION_STATEMENT), "
        "TRIGGER_SCHEMA FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()"
    )

    def schema(self) -> str | None:
        return self.dataflow.settings.url.database

    async def objects(
        self, conn: Connection, schema: str | None
    ) -> tuple[list[ViewState], list[TriggerState], set[tuple[str, str]]]:
        views, triggers = [], []
        for what, name, table, definition, database in await conn.fetch(self._OBJECTS):
            # The server qualifies every name with the database: drop it (relative names).
            own = f"`{as_text(database).replace('`', '``')}`."
            text = as_text(definition).replace(own, "")
            if what == "view":
                views.append(ViewState(as_text(name), text))
            else:
                triggers.append(TriggerState(as_text(name), as_text(table), text))
        return views, triggers, set()

    def encode_time(self, moment: datetime) -> Any:
        return moment.astimezone(UTC).replace(tzinfo=None)  # DATETIME holds UTC here

    async def insert_history(self, conn: Connection, values: Sequence[Any]) -> int:
        new_id = await conn.insert(
            f"INSERT INTO {self.history_table()} (label, taken_at, checksum, body) "
            "VALUES (%s, %s, %s, %s)",
            values,
        )
        return int(new_id)


class _SQLiteCatalog(_Catalog):
    CREATE_HISTORY = (
        "CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "label TEXT, taken_at TEXT NOT NULL, checksum TEXT NOT NULL, body TEXT NOT NULL)"
    )
    _OBJECTS = (
        "SELECT type, name, tbl_name, sql FROM main.sqlite_schema "
        "WHERE type IN ('view', 'trigger') AND sql IS NOT NULL"
    )

    async def objects(
        self, conn: Connection, schema: str | None
    ) -> tuple[list[ViewState], list[TriggerState], set[tuple[str, str]]]:
        views, triggers = [], []
        for kind, name, table, sql in await conn.fetch(self._OBJECTS):
            if kind == "view":
                views.append(ViewState(str(name), str(sql)))
            else:
                triggers.append(TriggerState(str(name), str(table), str(sql)))
        return views, triggers, set()


class _Undo(Exception):
    """Rolls back the reads' transaction on purpose."""


_CATALOGS: dict[str, type[_Catalog]] = {
    "postgresql": _PostgresCatalog,
    "mysql": _MySQLCatalog,
    "sqlite": _SQLiteCatalog,
}


def _catalog(dataflow: DataFlow) -> _Catalog:
    return _CATALOGS[dataflow.dialect.name](dataflow)


async def capture_on(
    dataflow: DataFlow, conn: Connection, label: str | None = None
) -> SchemaSnapshot:
    """Read the snapshot of ``dataflow``'s schema through ``conn`` (which may be inside a
    transaction: what it changed is seen). Used by the three managers."""
    catalog = _catalog(dataflow)
    schema = catalog.schema()
    async with catalog.scope(conn):
        try:
            infos = await dataflow._adapter.discover(conn, schema, None)
        except SchemaError as exc:
            if exc.code != "DF-SCHEMA-MISSING":
                raise
            infos = []  # no such schema yet: nothing in it
        views, triggers, invalid = await catalog.objects(conn, schema) if infos else ([], [], set())
    tables = {
        info.name: _table_state(info, invalid)
        for info in infos
        if info.kind == "table" and info.name not in INTERNAL_TABLES
    }
    return SchemaSnapshot(
        dialect=dataflow.dialect.name,
        tables=tables,
        views={v.name: v for v in views},
        triggers=tuple(t for t in triggers if t.table not in INTERNAL_TABLES),
        schema=schema if schema is not None else _schema_of(infos),
        label=label,
    )


def _schema_of(infos: Sequence[TableInfo]) -> str | None:
    return infos[0].schema if infos else None


def _table_state(info: TableInfo, invalid: set[tuple[str, str]]) -> TableState:
    foreign_keys = [
        ForeignKeyState(
            name=fk.name,
            columns=tuple(fk.columns),
            ref_table=fk.ref_table,
            ref_columns=tuple(fk.ref_columns),
            on_delete=fk.on_delete,
            on_update=fk.on_update,
            ref_schema=None if fk.ref_schema in (None, info.schema) else fk.ref_schema,
        )
        for fk in info.foreign_keys
    ]
    return TableState(
        name=info.name,
        columns=tuple(
            ColumnState(c.name, c.type, c.nullable, c.default, c.generated, c.auto_increment)
            for c in info.columns
        ),
        primary_key=tuple(info.primary_key),
        indexes=tuple(
            sorted(
                (
                    IndexState(
                        i.name,
                        tuple(i.columns),
                        i.unique,
                        i.primary,
                        i.partial,
                        (info.name, i.name) not in invalid,
                    )
                    for i in info.indexes
                ),
                key=lambda i: i.name,
            )
        ),
        foreign_keys=tuple(sorted(foreign_keys, key=lambda f: f.label)),
        checks=tuple(
            sorted(
                (CheckState(c.name, c.expression) for c in info.checks),
                key=lambda c: (c.name or "", c.expression),
            )
        ),
    )


# -- the manager -----------------------------------------------------------------------------


class SchemaStateManager:
    """Snapshots of the live schema, their differences, and a history kept in the database.

    - ``capture_snapshot`` reads; it works in ``read_only`` and ``existing_schema_mode``.
    - ``diff`` is pure.
    - ``record`` writes a row to ``dataflow_schema_history``, creating the table first
      when it does not exist; creating it is DDL, refused (``MigrationError``
      ``DF-MIGRATION-DDL-REFUSED``) under ``existing_schema_mode``; any write is refused
      under ``read_only`` (``DF-MIGRATION-READ-ONLY``).
    - ``history`` and ``load`` read it back (an absent table is an empty history).

    On PostgreSQL the snapshot is of the URL's schema (``public`` when it names none), on
    MySQL of the URL's database, on SQLite of the main database.

    Args:
        dataflow: the database to watch.

    Example::

        states = SchemaStateManager(db)
        before = await states.capture_snapshot("before")
        ...  # run a migration
        after = await states.record(await states.capture_snapshot("after"))
        print(states.diff(before, after).summary())
        [s.label for s in await states.history(limit=5)]  # newest first
    """

    def __init__(self, dataflow: DataFlow) -> None:
        self.dataflow = dataflow
        self._catalog = _catalog(dataflow)

    async def capture_snapshot(self, label: str | None = None) -> SchemaSnapshot:
        """Read the schema as it is now (reads only).

        Args:
            label: a name for the snapshot (kept in the history).

        Returns:
            The :class:`SchemaSnapshot` (not recorded: see :meth:`record`).

        Raises:
            DatabaseError: the catalogs could not be read (``ConnectError``...).

        Example::

            snapshot = await states.capture_snapshot("nightly")
            snapshot.tables["orders"].column("total").type  # 'numeric(10,2)'
        """
        self.dataflow._check_open()
        return await _loop.run_async(self._capture(label))

    async def _capture(self, label: str | None) -> SchemaSnapshot:
        async with self.dataflow._adapter.acquire() as conn:
            return await capture_on(self.dataflow, conn, label)

    @staticmethod
    def diff(before: SchemaSnapshot, after: SchemaSnapshot) -> SchemaDiff:
        """What changed from ``before`` to ``after`` (pure, no database).

        Args:
            before, after: two snapshots of the same dialect.

        Returns:
            The :class:`SchemaDiff`; empty (falsy) when the schemas are identical.

        Raises:
            ValidationError: ``DF-PARAM-INVALID`` when either is not a snapshot, or the
                two are of different dialects.

        Example::

            diff = SchemaStateManager.diff(before, after)
            diff.columns_added, diff.indexes_removed  # ([('orders', 'note')], [])
        """
        for name, value in (("before", before), ("after", after)):
            if not isinstance(value, SchemaSnapshot):
                raise ValidationError(
                    f"{name} must be a SchemaSnapshot, not {type(value).__name__}",
                    details={"param": name},
                )
        if before.dialect != after.dialect:
            raise ValidationError(
                f"cannot compare a {before.dialect} snapshot with a {after.dialect} one",
                details={"before": before.dialect, "after": after.dialect},
            )
        return diff_snapshots(before, after)

    async def record(self, snapshot: SchemaSnapshot) -> SchemaSnapshot:
        """Store a snapshot in ``dataflow_schema_history``.

        Args:
            snapshot: a snapshot (of this or any database of the same dialect).

        Returns:
            The same snapshot with its ``id`` set.

        Raises:
            MigrationError: ``DF-MIGRATION-READ-ONLY`` for a ``read_only`` DataFlow;
                ``DF-MIGRATION-DDL-REFUSED`` when the history table does not exist and
                ``existing_schema_mode`` forbids creating it.
            ValidationError: ``snapshot`` is not a :class:`SchemaSnapshot`.

        Example::

            saved = await states.record(await states.capture_snapshot("v42"))
            saved.id  # 1
        """
        if not isinstance(snapshot, SchemaSnapshot):
            raise ValidationError(
                f"record() takes a SchemaSnapshot, not {type(snapshot).__name__}",
                details={"param": "snapshot"},
            )
        self.dataflow._check_open()
        if self.dataflow.settings.read_only:
            raise MigrationError(
                f"recording a snapshot writes to {HISTORY_TABLE!r}, and this DataFlow is "
                "read_only: record from a DataFlow opened without read_only",
                code="DF-MIGRATION-READ-ONLY",
                details={"table": HISTORY_TABLE},
            )
        return await _loop.run_async(self._record(snapshot))

    async def _record(self, snapshot: SchemaSnapshot) -> SchemaSnapshot:
        catalog = self._catalog
        body = snapshot.to_dict()
        body.pop("id")
        async with self.dataflow._adapter.acquire() as conn:
            if not await self._history_exists(conn):
                await self._create_history(conn)
            values = (
                snapshot.label,
                catalog.encode_time(snapshot.taken_at),
                snapshot.checksum,
                catalog.encode_body(body),
            )
            new_id = await catalog.insert_history(conn, values)
        return dataclasses.replace(snapshot, id=new_id)

    async def _history_exists(self, conn: Connection) -> bool:
        adapter = self.dataflow._adapter
        return await adapter.table_columns(conn, HISTORY_TABLE, self._catalog.schema()) is not None

    async def _create_history(self, conn: Connection) -> None:
        if self.dataflow.settings.existing_schema_mode:
            raise MigrationError(
                f"the schema history needs the table {HISTORY_TABLE!r}, which does not exist, "
                "and existing_schema_mode forbids creating it: record once from a DataFlow "
                "without existing_schema_mode, or have the database's owner create it",
                code="DF-MIGRATION-DDL-REFUSED",
                details={"table": HISTORY_TABLE, "reason": "existing_schema_mode"},
            )
        schema = self._catalog.schema()
        if self.dataflow.dialect.name == "postgresql" and schema:
            await self.dataflow._adapter.ensure_schema(conn, schema)
        try:
            await conn.execute(
                self._catalog.CREATE_HISTORY.format(table=self._catalog.history_table())
            )
        except UniqueViolation:  # another process created it at the same moment
            pass

    async def history(self, limit: int = 20) -> list[SchemaSnapshot]:
        """The recorded snapshots, newest first.

        Args:
            limit: at most this many (a positive integer).

        Returns:
            Snapshots with their ``id``; ``[]`` when nothing was ever recorded.

        Raises:
            ValidationError: ``limit`` is not a positive integer.

        Example::

            for snapshot in await states.history(limit=10):
                print(snapshot.id, snapshot.label, snapshot.taken_at, snapshot.checksum[:12])
        """
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ValidationError(
                f"limit must be a positive integer, got {limit!r}", details={"param": "limit"}
            )
        self.dataflow._check_open()
        return await _loop.run_async(self._history(limit))

    async def _history(self, limit: int) -> list[SchemaSnapshot]:
        async with self.dataflow._adapter.acquire() as conn:
            if not await self._history_exists(conn):
                return []
            rows = await conn.fetch(
                f"SELECT id, body FROM {self._catalog.history_table()} ORDER BY id DESC "
                f"LIMIT {int(limit)}"
            )
        return [_loaded(row) for row in rows]

    async def load(self, snapshot_id: int) -> SchemaSnapshot:
        """One recorded snapshot.

        Args:
            snapshot_id: its ``id``.

        Returns:
            The snapshot, with its ``id``.

        Raises:
            MigrationError: ``DF-MIGRATION-SNAPSHOT-MISSING`` when there is no such id.
            ValidationError: ``snapshot_id`` is not an integer.

        Example::

            old = await states.load(1)
            states.diff(old, await states.capture_snapshot()).summary()
        """
        if not isinstance(snapshot_id, int) or isinstance(snapshot_id, bool):
            raise ValidationError(
                f"snapshot_id must be an integer, got {snapshot_id!r}",
                details={"param": "snapshot_id"},
            )
        self.dataflow._check_open()
        return await _loop.run_async(self._load(snapshot_id))

    async def _load(self, snapshot_id: int) -> SchemaSnapshot:
        rows: list[Sequence[Any]] = []
        async with self.dataflow._adapter.acquire() as conn:
            if await self._history_exists(conn):
                mark = self.dataflow.dialect.placeholder(1)
                rows = await conn.fetch(
                    f"SELECT id, body FROM {self._catalog.history_table()} WHERE id = {mark}",
                    (snapshot_id,),
                )
        if not rows:
            raise MigrationError(
                f"no snapshot with id {snapshot_id} in {HISTORY_TABLE!r}; list them with history()",
                code="DF-MIGRATION-SNAPSHOT-MISSING",
                details={"id": snapshot_id, "table": HISTORY_TABLE},
            )
        return _loaded(rows[0])


def _loaded(row: Sequence[Any]) -> SchemaSnapshot:
    body = row[1]
    data = body if isinstance(body, dict) else json.loads(as_text(body))
    return dataclasses.replace(SchemaSnapshot.from_dict(data), id=int(row[0]))
