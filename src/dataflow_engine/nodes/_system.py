"""Nodes that belong to a ``DataFlow`` rather than to one of its models.

``TransactionManagerNode`` (sagas), ``HealthCheckNode``, ``GDPRExportNode`` and
``GDPRAnonymizeNode`` are registered in every ``DataFlow``'s ``db.nodes`` under those
names, bound to that instance, and resolved like the generated nodes (``dataflow=`` on
the runtime, or the single open instance). They declare their parameters with ``Param``
like every node, so the validator, the JSON Schemas, the LSP and the MCP server read them.
They run other nodes (a saga's steps, a model's List and BulkUpdate) through the same
path as the runtime, so caching, tenancy, audit and routing apply to those as well.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from ..config import PRIMARY
from ..errors import SchemaError
from ..models import ModelDef
from ._base import ExecContext, Node, Problems
from ._crud import _check_types

if TYPE_CHECKING:
    from .._dataflow import DataFlow
    from ..adapters import Connection

__all__ = [
    "SYSTEM_MODEL",
    "Connections",
    "SystemNode",
    "ensure_tables",
    "number_param",
    "output_rows",
    "run_child",
    "sub_context",
]

#: Stands in for the model of a system node: no fields and no table, in the primary
#: database. Code that reads ``cls.model`` of any node (``model.name``, ``model.fields``,
#: ``model.database``) keeps working, and ``describe()`` reports ``"model": None``. Model
#: names are class names (CapWords) or come from tables the same way, so the lower-case
#: name does not clash with one.
SYSTEM_MODEL = ModelDef(
    name="dataflow",
    table_name="",
    fields={},
    primary_key=(),
    auto_id=False,
    stamps=(),
    managed=False,
)


class SystemNode(Node):
    """Base of the nodes that belong to a ``DataFlow`` rather than to one model."""

    model = SYSTEM_MODEL

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """A JSON-friendly declaration: type, kind, description, params, outputs."""
        return {**super().describe(), "model": None}

    @classmethod
    def normalize(cls, params: Mapping[str, Any], problems: Problems) -> dict[str, Any]:
        out = cls.canonical(params, problems)
        _check_types(cls, out, problems)
        cls._validate(out, problems)
        return out

    @classmethod
    def _validate(cls, params: dict[str, Any], problems: Problems) -> None:
        """Check and normalise the parameters beyond their declared types."""


def number_param(
    cls: type[Node],
    params: dict[str, Any],
    name: str,
    problems: Problems,
    *,
    maximum: float,
) -> None:
    """A positive, finite number of at most ``maximum`` (bool is not a number)."""
    value = params.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.add(
            "DF-PARAM-TYPE",
            f"{cls.type_name}: {name!r} must be a number of seconds, got {type(value).__name__}",
            (name,),
            {"param": name, "expected": "number"},
        )
        params.pop(name)
        return
    if not (math.isfinite(value) and 0 < value <= maximum):
        problems.add(
            "DF-PARAM-RANGE",
            f"{cls.type_name}: {name!r} must be more than 0 and at most {maximum:g}, got {value!r}",
            (name,),
            {"param": name, "maximum": maximum},
        )
        params.pop(name)


def sub_context(ctx: ExecContext, node: type[Node], connection: Connection | None) -> ExecContext:
    """The context of a node run on behalf of a system node: the same run (tenant, actor,
    the databases written so far), the node's own ``DataFlow``, and the connection it
    must use (None: it takes one of its model's database)."""
    return dataclasses.replace(
        ctx, dataflow=node.dataflow, tx_connection=connection, metrics={}, node=node
    )


async def run_child(
    node: type[Node], ctx: ExecContext, params: dict[str, Any], connection: Connection | None
) -> Any:
    """Run ``node`` as the runtime would (through the cache, which a write invalidates)."""
    from ..cache import run_node

    return await run_node(node, sub_context(ctx, node, connection), params)


def _key(db: DataFlow, model: ModelDef) -> tuple[int, str]:
    return (id(db), model.database)


class Connections:
    """One connection per database that a system node reaches, taken when first needed
    and held until the block ends; with ``transaction=True`` each is inside a
    transaction, committed when the block ends and rolled back when it raises.

    The workflow's own connection (``transaction=True`` runs) is reused for the primary
    database of the node's ``DataFlow``, inside a savepoint.
    """

    def __init__(self, ctx: ExecContext, *, transaction: bool) -> None:
        self._transaction = transaction
        self._stack = AsyncExitStack()
        self._conns: dict[tuple[int, str], Connection] = {}
        self._shared: dict[tuple[int, str], Connection] = {}
        if ctx.tx_connection is not None:
            self._shared[(id(ctx.dataflow), PRIMARY)] = ctx.tx_connection

    async def __aenter__(self) -> Connections:
        await self._stack.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> bool:
        return bool(await self._stack.__aexit__(*exc))

    def existing(self, db: DataFlow, model: ModelDef) -> Connection | None:
        """The connection already held for ``model``'s database, if any."""
        key = _key(db, model)
        return self._conns.get(key) or self._shared.get(key)

    async def get(self, db: DataFlow, model: ModelDef) -> Connection:
        """The connection for ``model``'s database (taken now if not yet held)."""
        key = _key(db, model)
        conn = self._conns.get(key)
        if conn is not None:
            return conn
        shared = self._shared.get(key)
        if shared is not None:
            conn = shared
            if self._transaction:
                await self._stack.enter_async_context(conn.transaction())  # a savepoint
        else:
            conn = await self._stack.enter_async_context(db._database(model).acquire())
            if self._transaction:
                from ..cache import watch_transaction

                watch_transaction(self._stack, db, conn)  # invalidates after the commit
                await self._stack.enter_async_context(conn.transaction())
        self._conns[key] = conn
        return conn


async def ensure_tables(ctx: ExecContext, db: DataFlow, models: Iterable[ModelDef]) -> None:
    """Make the tables of ``models`` ready before a system node uses them.

    The runtime prepares the tables of the nodes a workflow names; a system node reaches
    other models. Outside a workflow transaction this is what the runtime does. Inside
    one, preparing a table takes a second connection to the primary database, which may
    wait for the one the workflow holds (SQLite has only one), so the tables are only
    checked, and a missing one is an error.

    Raises:
        SchemaError: ``DF-SCHEMA-MIGRATION-REQUIRED`` inside a workflow transaction, for a
            table or column that does not exist yet.
    """
    missing = [m for m in models if m.fields and m.name not in db._ready]
    if not missing:
        return
    held = ctx.tx_connection if ctx.dataflow is db else None
    if held is None:
        for model in missing:
            await db._ensure_ready(model)
        return
    for model in missing:
        database = db._database(model)
        schema = model.schema or getattr(database.dialect, "schema", None)
        if model.database == PRIMARY:
            columns = await database.adapter.table_columns(held, model.table_name, schema)
        else:
            async with database.acquire() as conn:
                columns = await database.adapter.table_columns(conn, model.table_name, schema)
        absent = [f.column for f in model.fields.values() if f.column not in (columns or ())]
        if columns is None or absent:
            what = (
                f"table {model.table_name!r} does not exist"
                if columns is None
                else f"table {model.table_name!r} lacks column(s) {', '.join(absent)}"
            )
            raise SchemaError(
                f"{what}, and it cannot be prepared inside a workflow transaction; call "
                "db.create_tables() before running the workflow with transaction=True",
                code="DF-SCHEMA-MIGRATION-REQUIRED",
                details={"model": model.name, "table": model.table_name},
            )


def _count(key: str) -> Callable[[Mapping[str, Any]], Any]:
    return lambda out: out.get(key)


#: Rows a node matched, returned or wrote, read from its output, by node kind.
_ROWS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "Create": lambda out: 1,
    "Update": lambda out: 1,
    "Delete": lambda out: 1,
    "Upsert": lambda out: 1,
    "Read": lambda out: 1 if out.get("found") else 0,
    "List": _count("count"),
    "Count": _count("count"),
    "BulkCreate": _count("inserted"),
    "BulkUpdate": _count("updated"),
    "BulkDelete": _count("deleted"),
    "BulkUpsert": lambda out: (out.get("inserted") or 0) + (out.get("updated") or 0),
    "GDPRExport": _count("count"),
    "GDPRAnonymize": _count("count"),
}


def output_rows(cls: type[Node], output: Any) -> int | None:
    """How many rows a node matched, returned or wrote, judged from its output (None
    for a node that handles no rows, such as a health check)."""
    rows = _ROWS.get(cls.kind)
    if rows is None or not isinstance(output, Mapping):
        return None
    found = rows(output)
    return found if isinstance(found, int) and not isinstance(found, bool) else None
