"""``DataFlow``: one database, its models and their generated nodes."""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from . import _loop
from .adapters import Adapter, Connection, create_adapter
from .config import Settings
from .dialects import Params
from .errors import (
    ConfigurationError,
    DatabaseError,
    DataFlowError,
    ModelError,
    SchemaError,
    UniqueViolation,
    UnsupportedError,
    ValidationError,
)
from .models import ModelDef, build_model
from .models._model import suggest
from .nodes import NODE_CLASSES, ModelPlan, Node
from .nodes._registry import register_instance, unregister_instance

if TYPE_CHECKING:
    from .discovery import TableInfo

_log = logging.getLogger("dataflow_engine")

__all__ = ["DataFlow"]

T = TypeVar("T", bound=type)

_OPTIONS = {
    "auto_migrate",
    "existing_schema_mode",
    "read_only",
    "cache",
    "pool_size",
    "pool_timeout",
    "command_timeout",
    "echo",
    "application_id",
    "read_replica",
    "databases",
}


def _refuse_instantiation(cls: type, *args: Any, **kwargs: Any) -> Any:
    model: ModelDef = cls.__dataflow_model__  # type: ignore[attr-defined]
    raise ModelError(
        f"{cls.__name__} is a DataFlow model (a table schema), not a class to instantiate. "
        f"To create a record, add a {model.node_names['Create']} to a workflow: "
        f"wf.add_node({model.node_names['Create']!r}, 'create', {{...fields...}})",
        code="DF-MODEL-NOT-INSTANTIABLE",
        details={"model": cls.__name__},
    )


def _table_names(tables: Sequence[str] | None) -> list[str] | None:
    if tables is None:
        return None
    if isinstance(tables, str) or not all(isinstance(t, str) and t for t in tables):
        raise ValidationError(
            "tables must be a list of table names, e.g. ['users', 'orders']",
            code="DF-PARAM-TYPE",
            details={"param": "tables"},
        )
    return list(dict.fromkeys(tables))


@functools.cache
def _registry_model() -> ModelDef:
    """The registry table: one row per (application, model)."""

    class DataflowModelRegistry:
        application_id: str
        model_name: str
        definition: dict  # type: ignore[type-arg]
        checksum: str
        version: int
        __dataflow__ = {
            "table": "dataflow_model_registry",
            "primary_key": ["application_id", "model_name"],
        }

    return build_model(DataflowModelRegistry)


def _snake(kind: str) -> str:
    """``BulkCreate`` -> ``bulk_create``."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in kind).lstrip("_")


class DataFlow:
    """A database and the models defined on it.

    Args:
        url: a database URL; defaults to ``DATAFLOW_DATABASE_URL``, else an in-memory SQLite
            database shared by every connection of this instance. Passwords may contain
            unescaped special characters.
        auto_migrate: create missing tables and add missing nullable columns (default True).
        existing_schema_mode: never run DDL (for databases someone else owns).
        read_only: refuse every write.
        pool_size: the maximum number of pooled connections.
        pool_timeout: seconds to wait for a connection.
        command_timeout: seconds after which a statement is cancelled (``QueryTimeout``).
        echo: log every statement to the ``dataflow_engine.sql`` logger.
        application_id: a stable name for this application.

    Example::

        db = DataFlow()

        @db.model
        class User:
            name: str
            age: int

    Raises:
        ConfigurationError: an invalid URL or option.
    """

    def __init__(self, url: str | None = None, **options: Any) -> None:
        for key in options:
            if key not in _OPTIONS:
                close = suggest(key, _OPTIONS)[:1]
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ConfigurationError(
                    f"unknown DataFlow option {key!r}{hint}", details={"option": key}
                )
        for key in ("cache", "read_replica", "databases"):
            if options.get(key):
                raise UnsupportedError(
                    f"the {key!r} option is not available in this release",
                    details={"option": key},
                )
        settings_args = {
            k: v for k, v in options.items() if k not in ("cache", "read_replica", "databases")
        }
        self.settings = Settings.resolve(url, **settings_args)
        self._adapter: Adapter = create_adapter(self.settings)
        self.dialect = self._adapter.dialect
        self._models: dict[str, ModelDef] = {}
        self.nodes: dict[str, type[Node]] = {}
        self._plans: dict[str, ModelPlan] = {}
        self._ready: set[str] = set()
        self._ready_lock: Any = None
        self._registry_table: bool | None = None
        self._memory_registry: dict[str, tuple[dict[str, Any], str, int]] = {}
        self.closed = False
        register_instance(self)
        _loop.register_closer(self)

    def __repr__(self) -> str:
        return f"<DataFlow {self.settings.url.redacted()} at {id(self):#x}>"

    # -- models ------------------------------------------------------------------------

    def model(self, cls: T) -> T:
        """Register an annotated class as a model and generate its eleven nodes.

        Returns the class itself; instantiating it raises a ``ModelError`` that explains
        how to create a record instead.

        Raises:
            ModelError: an unsupported field type, bad option, or a name too long for
                the database.
        """
        self._check_open()
        model = build_model(cls)
        self.dialect.check_identifier(model.table_name, "table")
        for f in model.fields.values():
            self.dialect.check_identifier(f.column, "column")
        self._register(model)
        cls.__dataflow_model__ = model  # type: ignore[attr-defined]
        cls.__new__ = staticmethod(_refuse_instantiation)  # type: ignore[assignment]
        return cls

    def _register(self, model: ModelDef) -> None:
        old = self._models.get(model.name)
        if old is not None:
            for name in old.node_names.values():
                self.nodes.pop(name, None)
        self._models[model.name] = model
        self._plans.pop(model.name, None)
        self._ready.discard(model.name)
        for kind, name in model.node_names.items():
            base = NODE_CLASSES[kind]
            self.nodes[name] = type(
                name,
                (base,),
                {
                    "type_name": name,
                    "model": model,
                    "dataflow": self,
                    "__module__": "dataflow_engine.nodes.generated",
                    "__doc__": f"{base.description} (model {model.name})",
                },
            )

    def list_models(self) -> list[str]:
        """The names of the registered models, in definition order."""
        return list(self._models)

    def get_model(self, name: str) -> ModelDef:
        """The definition of a registered model.

        Raises:
            ModelError: ``DF-MODEL-UNKNOWN`` with the closest names.
        """
        try:
            return self._models[name]
        except KeyError:
            close = suggest(name, self._models)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise ModelError(
                f"no model named {name!r}{hint}",
                code="DF-MODEL-UNKNOWN",
                details={"model": name, "suggestions": close},
            ) from None

    # -- existing databases --------------------------------------------------------------

    def discover_schema(
        self,
        tables: Sequence[str] | None = None,
        schema: str | None = None,
        *,
        use_real_inspection: bool = True,
    ) -> dict[str, TableInfo]:
        """Read the tables and views of an existing database from its own catalogs.

        Columns (type, nullability, default, generated, comment), primary keys (composite
        too), foreign keys in both directions, unique constraints, indexes, checks and row
        estimates; names exactly as the database spells them. Never invented: a failure
        to connect or read is an error. ``use_real_inspection`` is accepted for
        compatibility and changes nothing.

        Args:
            tables: only these tables or views (exact names); None for all.
            schema: the PostgreSQL schema or MySQL database; the URL's by default.

        Returns:
            Table name -> :class:`~dataflow_engine.discovery.TableInfo`.

        Raises:
            SchemaError: ``DF-SCHEMA-TABLE-MISSING`` for a named table that is not there.
            ConnectError: the database cannot be reached.
        """
        self._check_open()
        return _loop.run_sync(self.discover_schema_async(tables, schema))

    @_loop.engine_bound
    async def discover_schema_async(
        self, tables: Sequence[str] | None = None, schema: str | None = None
    ) -> dict[str, TableInfo]:
        """Async version of :meth:`discover_schema`."""
        self._check_open()
        wanted = _table_names(tables)
        async with self._adapter.acquire() as conn:
            found = await self._adapter.discover(conn, schema, wanted)
        result = {t.name: t for t in found}
        missing = [n for n in wanted or () if n not in result]
        if missing:
            raise SchemaError(
                f"no table or view named {', '.join(repr(n) for n in missing)} in "
                f"{schema or 'the database'}",
                code="DF-SCHEMA-TABLE-MISSING",
                details={"tables": missing, "schema": schema},
            )
        return result

    def register_schema_as_models(
        self, tables: Sequence[str] | None = None, schema: str | None = None
    ) -> dict[str, Any]:
        """Register existing tables as models, with their eleven nodes; never DDL.

        Types stay exact (NUMERIC is ``Decimal``, DATE is ``date``, JSON is JSON, enums
        are ``Enum`` types, arrays are lists); table and column names are kept exactly
        (a column that is not a usable identifier gets a snake_case field name). Views,
        tables without a primary key and tables whose key no field can hold are
        registered read-only, with the reason. Columns no DataFlow type holds exactly are
        left out and listed.

        Returns:
            ``{"registered_models": [...], "generated_nodes": {table: {"create": ...}},
            "success_count": n, "error_count": n, "errors": [{"table", "code",
            "message"}], "read_only": {model: reason}, "skipped_columns": {model: [...]}}``
        """
        self._check_open()
        return _loop.run_sync(self.register_schema_as_models_async(tables, schema))

    @_loop.engine_bound
    async def register_schema_as_models_async(
        self, tables: Sequence[str] | None = None, schema: str | None = None
    ) -> dict[str, Any]:
        """Async version of :meth:`register_schema_as_models`."""
        from .discovery._register import model_from_table, model_name_for

        self._check_open()
        wanted = _table_names(tables)
        async with self._adapter.acquire() as conn:
            found = {t.name: t for t in await self._adapter.discover(conn, schema, wanted)}
        out: dict[str, Any] = {
            "registered_models": [],
            "generated_nodes": {},
            "success_count": 0,
            "error_count": 0,
            "errors": [],
            "read_only": {},
            "skipped_columns": {},
        }
        for name in wanted or ():
            if name not in found:
                out["errors"].append(
                    {
                        "table": name,
                        "code": "DF-SCHEMA-TABLE-MISSING",
                        "message": f"no table or view named {name!r}",
                    }
                )
        own = _registry_model().table_name
        for table in found.values():
            if wanted is None and table.name == own:
                continue  # DataFlow's own registry is not one of the application's tables
            model_name = self._free_model_name(model_name_for(table.name), table)
            try:
                model, skipped = model_from_table(table, model_name)
                self.dialect.check_identifier(model.table_name, "table")
                self._register(model)
            except DataFlowError as exc:
                out["errors"].append(
                    {"table": table.name, "code": exc.code, "message": exc.message}
                )
                continue
            out["registered_models"].append(model.name)
            out["generated_nodes"][table.name] = {
                _snake(kind): node for kind, node in model.node_names.items()
            }
            if model.read_only:
                out["read_only"][model.name] = model.read_only_reason
            if skipped:
                out["skipped_columns"][model.name] = skipped
        out["success_count"] = len(out["registered_models"])
        out["error_count"] = len(out["errors"])
        registered = [self._models[n] for n in out["registered_models"]]
        async with self._adapter.acquire() as conn:
            await self._save_definitions(conn, registered)
        return out

    def _free_model_name(self, name: str, table: TableInfo) -> str:
        """``name``, unless a model of another table has it (then Name2, Name3, ...)."""
        candidate, n = name, 2
        while True:
            existing = self._models.get(candidate)
            if existing is None or (existing.table_name == table.name and not existing.managed):
                return candidate
            candidate, n = f"{name}{n}", n + 1

    def explain(self, model: str, *, filter: Any = None, pipeline: Any = None) -> dict[str, Any]:
        """The SQL, parameters and database plan of a List over ``model`` with ``filter``
        (or of an aggregation ``pipeline``); the statement itself does not run.

        Raises:
            FilterError: a bad filter or pipeline, with suggestions.
            ModelError: ``DF-MODEL-UNKNOWN``.
        """
        self._check_open()
        return _loop.run_sync(self.explain_async(model, filter=filter, pipeline=pipeline))

    @_loop.engine_bound
    async def explain_async(
        self, model: str, *, filter: Any = None, pipeline: Any = None
    ) -> dict[str, Any]:
        """Async version of :meth:`explain`."""
        from .query import parse_filter, parse_pipeline

        self._check_open()
        definition = self.get_model(model)
        plan = self._plan(definition)
        d = self.dialect
        node = parse_filter(filter, definition)
        stages = parse_pipeline(pipeline, definition) if pipeline is not None else None
        await self._ensure_ready(definition)
        p = Params(d)
        where = plan.where(node, p)
        if stages is not None:
            sql, _ = plan.pipeline_sql(where, stages, p)
        else:
            sql = f"SELECT {plan.select} FROM {plan.table} WHERE {where}"
        async with self._adapter.acquire() as conn:
            rows = await conn.fetch(d.explain_sql(sql), p.values)
        return {"sql": sql, "params": list(p.values), "plan": d.explain_result(rows)}

    # -- the model registry --------------------------------------------------------------

    @property
    def application_id(self) -> str:
        """The name models are registered under: the ``application_id`` option, else one
        derived from the URL (database, schema; never a memory address)."""
        if self.settings.application_id:
            return self.settings.application_id
        url = self.settings.url
        if url.dialect == "sqlite":
            import os

            where = ":memory:" if url.is_memory else os.path.abspath(url.database or "")
            return f"sqlite:{where}"
        port = f":{url.port}" if url.port else ""
        schema = f"/{url.schema}" if url.schema else ""
        return f"{url.dialect}://{url.host or ''}{port}/{url.database or ''}{schema}"

    async def _registry_usable(self, conn: Connection) -> bool:
        """Whether the registry table exists (creating it unless no DDL may run); without
        it the registry lives in this process's memory."""
        if self._registry_table is not None:
            return self._registry_table
        model = _registry_model()
        schema = getattr(self.dialect, "schema", None)
        columns = await self._adapter.table_columns(conn, model.table_name, schema)
        usable = columns is not None
        s = self.settings
        if not usable and s.auto_migrate and not s.existing_schema_mode and not s.read_only:
            try:
                if schema:
                    await self._adapter.ensure_schema(conn, schema)
                async with conn.transaction():
                    for statement in self.dialect.create_table_sql(model):
                        await conn.execute(statement)
                usable = True
            except UniqueViolation:  # created by another process at the same moment
                usable = True
            except DatabaseError as exc:
                # A role that may not create tables still works; its registry stays here.
                _log.warning("the model registry lives in memory: %s", exc.message)
        self._registry_table = usable
        return usable

    async def _save_definitions(self, conn: Connection, models: Sequence[ModelDef]) -> None:
        """Store each model's definition; the version goes up only when it changed. Where
        the registry table cannot be used, the registry lives in this process's memory."""
        from .models._serialize import checksum, model_to_definition

        usable = await self._registry_usable(conn) and not self.settings.read_only
        for model in models:
            definition = model_to_definition(model)
            digest = checksum(definition)
            if usable:
                try:
                    await self._store_definition(conn, model.name, definition, digest)
                    continue
                except DatabaseError as exc:  # e.g. no INSERT privilege on the registry
                    _log.warning("model %s is registered in memory only: %s", model.name, exc)
            old = self._memory_registry.get(model.name)
            version = 1 if old is None else old[2] + (old[1] != digest)
            self._memory_registry[model.name] = (definition, digest, version)

    async def _store_definition(
        self, conn: Connection, name: str, definition: dict[str, Any], digest: str
    ) -> None:
        """One row of the registry table: inserted, or updated (version + 1) when its
        checksum differs; the row is locked from the read to the write."""
        registry = _registry_model()
        d = self.dialect
        table = d.table(registry)
        f = registry.fields
        app = self.application_id

        def key(p: Params) -> str:
            return (
                f"{d.column(f['application_id'])} = {p.add(app)} AND "
                f"{d.column(f['model_name'])} = {p.add(name)}"
            )

        async with conn.transaction():
            p = Params(d)
            rows = await conn.fetch(
                f"SELECT {d.column(f['checksum'])} FROM {table} WHERE {key(p)}" + d.lock_suffix(),
                p.values,
            )
            now = d.now()
            if not rows:
                names = ["application_id", "model_name", "definition", "checksum"]
                names += ["version", "created_at", "updated_at"]
                values = [app, name, definition, digest, 1, now, now]
                sql = d.insert_sql(registry, [f[n] for n in names], 1, 1, ignore_conflicts=True)
                encoded = [d.encode(f[n], v) for n, v in zip(names, values, strict=True)]
                await conn.execute(sql, encoded)
            elif rows[0][0] != digest:
                p = Params(d)
                vcol = d.column(f["version"])
                new = p.add_field(f["definition"], definition)
                sets = (
                    f"{d.column(f['definition'])} = {new}, "
                    f"{d.column(f['checksum'])} = {p.add(digest)}, "
                    f"{vcol} = {vcol} + 1, "
                    f"{d.column(f['updated_at'])} = {p.add_field(f['updated_at'], now)}"
                )
                await conn.execute(f"UPDATE {table} SET {sets} WHERE {key(p)}", p.values)

    def registry_entries(self) -> list[dict[str, Any]]:
        """This application's registry: ``[{"model", "version", "checksum",
        "definition"}]`` (from the registry table, or this process's memory)."""
        self._check_open()
        return _loop.run_sync(self.registry_entries_async())

    @_loop.engine_bound
    async def registry_entries_async(self) -> list[dict[str, Any]]:
        """Async version of :meth:`registry_entries`."""
        self._check_open()
        async with self._adapter.acquire() as conn:
            if not await self._registry_usable(conn):
                return [
                    {"model": n, "version": v, "checksum": c, "definition": dfn}
                    for n, (dfn, c, v) in self._memory_registry.items()
                ]
            registry = _registry_model()
            d = self.dialect
            f = registry.fields
            p = Params(d)
            cols = [f[n] for n in ("model_name", "version", "checksum", "definition")]
            rows = await conn.fetch(
                f"SELECT {d.select_list(cols)} FROM {d.table(registry)} WHERE "
                f"{d.column(f['application_id'])} = {p.add(self.application_id)} "
                f"ORDER BY {d.order_sql([(f['model_name'], False)])}",
                p.values,
            )
        decode = d.row_decoder(cols)
        return [
            {
                "model": r["model_name"],
                "version": r["version"],
                "checksum": r["checksum"],
                "definition": r["definition"],
            }
            for r in map(decode, rows)
        ]

    def reconstruct_models_from_registry(self) -> list[str]:
        """Register, in this process, every model this application's registry holds
        (written by another process), with its nodes. Never DDL.

        Returns:
            The names of the models rebuilt.
        """
        self._check_open()
        return _loop.run_sync(self.reconstruct_models_from_registry_async())

    @_loop.engine_bound
    async def reconstruct_models_from_registry_async(self) -> list[str]:
        """Async version of :meth:`reconstruct_models_from_registry`."""
        from .models._serialize import model_from_definition

        names = []
        for entry in await self.registry_entries_async():
            model = model_from_definition(entry["definition"])
            self._register(model)
            self._ready.add(model.name)  # its table is the registering process's concern
            names.append(model.name)
        return names

    def _plan(self, model: ModelDef) -> ModelPlan:
        plan = self._plans.get(model.name)
        if plan is None or plan.model is not model:
            plan = self._plans[model.name] = ModelPlan(model, self.dialect)
        return plan

    # -- schema ------------------------------------------------------------------------

    async def _ensure_ready(self, model: ModelDef) -> None:
        if model.name in self._ready:
            return
        if self._ready_lock is None:
            import asyncio

            self._ready_lock = asyncio.Lock()
        async with self._ready_lock:
            if model.name in self._ready:
                return
            s = self.settings
            async with self._adapter.acquire() as conn:
                writable = not s.existing_schema_mode and not s.read_only
                if s.auto_migrate and writable and model.managed:
                    await self._migrate(conn, model)
                await self._save_definitions(conn, [model])
            self._ready.add(model.name)

    async def _migrate(self, conn: Connection, model: ModelDef) -> None:
        d = self.dialect
        schema = model.schema or getattr(d, "schema", None)
        if schema:
            await self._adapter.ensure_schema(conn, schema)
        columns = await self._adapter.table_columns(conn, model.table_name, schema)
        if columns is None:
            try:
                async with conn.transaction():
                    for statement in d.create_table_sql(model):
                        await conn.execute(statement)
            except UniqueViolation:  # another process created it at the same moment
                pass
            return
        for f in model.fields.values():
            if f.column in columns:
                continue
            if not f.nullable and d.default_ddl(f) is None:
                raise SchemaError(
                    f"table {model.table_name!r} has no column {f.column!r}, and auto_migrate "
                    "only adds nullable columns or columns with a constant default; declare "
                    f"'{f.name}: {f.type_name} | None', give it a default, or migrate the "
                    "table yourself",
                    code="DF-SCHEMA-MIGRATION-REQUIRED",
                    details={"table": model.table_name, "column": f.column},
                )
            await conn.execute(d.add_column_sql(model, f))

    def create_tables(self) -> None:
        """Create every registered model's table now (otherwise done on first use)."""
        self._check_open()
        _loop.run_sync(self.create_tables_async())

    @_loop.engine_bound
    async def create_tables_async(self) -> None:
        """Async version of :meth:`create_tables`."""
        self._check_open()
        for model in self._models.values():
            await self._ensure_ready(model)

    async def _lock_for_upsert(self, conn: Connection, model: ModelDef) -> None:
        await self._adapter.lock_for_upsert(conn, self.dialect.table(model))

    # -- lifecycle ---------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise ConfigurationError(
                "this DataFlow is closed; create a new one", code="DF-CONFIG-CLOSED"
            )

    def close(self, timeout: float | None = 10.0) -> None:
        """Release every connection and unregister this instance's node types."""
        if self.closed:
            return
        self.closed = True
        unregister_instance(self)
        _loop.unregister_closer(self)
        try:
            _loop.run_sync(self._adapter.close(), timeout=timeout)
        except Exception:  # pragma: no cover - closing is best effort
            pass

    async def aclose(self) -> None:
        """Async version of :meth:`close`."""
        if self.closed:
            return
        self.closed = True
        unregister_instance(self)
        _loop.unregister_closer(self)
        await _loop.run_async(self._adapter.close())

    def __enter__(self) -> DataFlow:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> DataFlow:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def server_version(self) -> str:
        """The database server's version (SQLite's library version for SQLite)."""
        self._check_open()
        return _loop.run_sync(self._adapter.server_version())

    @_loop.engine_bound
    async def server_version_async(self) -> str:
        """Async version of :meth:`server_version`."""
        self._check_open()
        return await self._adapter.server_version()

    def describe(self) -> Mapping[str, Any]:
        """Dialect, URL (redacted), safety modes and models."""
        return {
            "dialect": self.dialect.name,
            "url": self.settings.url.redacted(),
            "read_only": self.settings.read_only,
            "existing_schema_mode": self.settings.existing_schema_mode,
            "auto_migrate": self.settings.auto_migrate,
            "models": self.list_models(),
        }
