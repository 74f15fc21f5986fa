"""``DataFlow``: one database, its models and their generated nodes."""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from . import _loop
from .adapters import Adapter, Connection, create_adapter
from .adapters._routing import Database, create_databases
from .cache import QueryCache, open_cache
from .config import PRIMARY, Settings
from .dialects import Params
from .errors import (
    ConfigurationError,
    DatabaseError,
    DataFlowError,
    ModelError,
    SchemaError,
    UniqueViolation,
    ValidationError,
)
from .models import ModelDef, build_model
from .models._model import suggest
from .nodes import NODE_CLASSES, ModelPlan, Node
from .nodes._registry import register_instance, register_system_nodes, unregister_instance

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from .discovery import TableInfo
    from .nodes._base import Binding

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
        databases: more databases, by name (``{"analytics": "postgresql://..."}``); a
            model with ``__dataflow__ = {"database": "analytics"}`` lives there. Every
            other option applies to each of them too.
        read_replica: a replica of the primary (a URL, or a list of URLs taken in turn),
            or ``{database name: URL or list}``: reads outside a workflow transaction go
            there (see docs/routing.md).
        cache: cache List, Read and Count answers: ``True`` or ``"memory"`` (this
            process), ``"redis://host:6379/0"`` (shared by every process using that
            Redis), ``False`` for none (the default; see docs/cache.md).

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
        self.settings = Settings.resolve(url, **options)
        self._adapter: Adapter = create_adapter(self.settings)
        self.dialect = self._adapter.dialect
        self._databases: dict[str, Database] = create_databases(self.settings, self._adapter)
        self._models: dict[str, ModelDef] = {}
        self.nodes: dict[str, type[Node]] = {}
        self._plans: dict[str, ModelPlan] = {}
        self._ready: set[str] = set()
        self._ready_lock: Any = None
        self._registry_table: bool | None = None
        self._memory_registry: dict[str, tuple[dict[str, Any], str, int]] = {}
        #: database name -> its audit table takes rows (absent: not known yet)
        self._audit_tables: dict[str, bool] = {}
        self._audit_problems: dict[str, str] = {}
        self.closed = False
        self._cache: QueryCache | None = open_cache(self)
        register_system_nodes(self)  # TransactionManagerNode, HealthCheckNode, GDPR*Node
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
        dialect = self._database(model).dialect
        dialect.check_identifier(model.table_name, "table")
        for f in model.fields.values():
            dialect.check_identifier(f.column, "column")
        self._register(model)
        cls.__dataflow_model__ = model  # type: ignore[attr-defined]
        cls.__new__ = staticmethod(_refuse_instantiation)  # type: ignore[assignment]
        return cls

    def _register(self, model: ModelDef) -> None:
        self._database(model)
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
        database: str = PRIMARY,
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
            database: which of this DataFlow's databases (``databases`` option) to read.

        Returns:
            Table name -> :class:`~dataflow_engine.discovery.TableInfo`.

        Raises:
            SchemaError: ``DF-SCHEMA-TABLE-MISSING`` for a named table that is not there.
            ConnectError: the database cannot be reached.
        """
        self._check_open()
        return _loop.run_sync(self.discover_schema_async(tables, schema, database=database))

    @_loop.engine_bound
    async def discover_schema_async(
        self,
        tables: Sequence[str] | None = None,
        schema: str | None = None,
        *,
        database: str = PRIMARY,
    ) -> dict[str, TableInfo]:
        """Async version of :meth:`discover_schema`."""
        self._check_open()
        wanted = _table_names(tables)
        adapter = self._named_database(database).adapter
        async with adapter.acquire() as conn:
            found = await adapter.discover(conn, schema, wanted)
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
        self,
        tables: Sequence[str] | None = None,
        schema: str | None = None,
        *,
        database: str = PRIMARY,
    ) -> dict[str, Any]:
        """Register existing tables as models, with their eleven nodes; never DDL.

        Types stay exact (NUMERIC is ``Decimal``, DATE is ``date``, JSON is JSON, enums
        are ``Enum`` types, arrays are lists); the models live in ``database`` (one of this
        DataFlow's databases, the primary by default); table and column names are kept exactly
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
        return _loop.run_sync(
            self.register_schema_as_models_async(tables, schema, database=database)
        )

    @_loop.engine_bound
    async def register_schema_as_models_async(
        self,
        tables: Sequence[str] | None = None,
        schema: str | None = None,
        *,
        database: str = PRIMARY,
    ) -> dict[str, Any]:
        """Async version of :meth:`register_schema_as_models`."""
        from .discovery._register import model_from_table, model_name_for

        self._check_open()
        wanted = _table_names(tables)
        source = self._named_database(database)
        async with source.adapter.acquire() as conn:
            found = {t.name: t for t in await source.adapter.discover(conn, schema, wanted)}
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
        from .nodes._audit import AUDIT_TABLE

        own = {_registry_model().table_name, AUDIT_TABLE}
        for table in found.values():
            if wanted is None and table.name in own:
                continue  # DataFlow's own tables are not among the application's tables
            model_name = self._free_model_name(model_name_for(table.name), table)
            try:
                model, skipped = model_from_table(table, model_name)
                model.database = database
                source.dialect.check_identifier(model.table_name, "table")
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
        d = plan.dialect
        node = parse_filter(filter, definition)
        stages = parse_pipeline(pipeline, definition) if pipeline is not None else None
        await self._ensure_ready(definition)
        p = Params(d)
        where = plan.where(node, p)
        if stages is not None:
            sql, _ = plan.pipeline_sql(where, stages, p)
        else:
            sql = f"SELECT {plan.select} FROM {plan.table} WHERE {where}"
        async with self._database(definition).acquire() as conn:
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
        entries = await self.registry_entries_async()
        models = [model_from_definition(e["definition"]) for e in entries]
        for model in models:
            self._database(model)  # an unknown database fails before any model is registered
        for model in models:
            self._register(model)
            self._ready.add(model.name)  # its table is the registering process's concern
            names.append(model.name)
        return names

    def _plan(self, model: ModelDef) -> ModelPlan:
        plan = self._plans.get(model.name)
        if plan is None or plan.model is not model:
            dialect = self._database(model).dialect
            plan = self._plans[model.name] = ModelPlan(model, dialect)
        return plan

    def _database(self, model: ModelDef) -> Database:
        """The database ``model`` lives in (``__dataflow__["database"]``).

        Raises:
            ModelError: ``DF-MODEL-UNKNOWN-DATABASE``, with the names this DataFlow has.
        """
        database = self._databases.get(model.database)
        if database is None:
            known = ", ".join(repr(n) for n in self._databases)
            raise ModelError(
                f"model {model.name} names the database {model.database!r}, which this "
                f"DataFlow does not have (it has {known}); add it with "
                f"DataFlow(url, databases={{{model.database!r}: 'postgresql://...'}}) or "
                "name one of those",
                code="DF-MODEL-UNKNOWN-DATABASE",
                details={
                    "model": model.name,
                    "database": model.database,
                    "databases": list(self._databases),
                },
            )
        return database

    def _named_database(self, name: str) -> Database:
        """The database called ``name``; ``DF-CONFIG-UNKNOWN-DATABASE`` otherwise."""
        database = self._databases.get(name) if isinstance(name, str) else None
        if database is None:
            known = ", ".join(repr(n) for n in self._databases)
            raise ConfigurationError(
                f"this DataFlow has no database named {str(name)[:80]!r}; it has {known}",
                code="DF-CONFIG-UNKNOWN-DATABASE",
                details={"database": str(name)[:200], "databases": list(self._databases)},
            )
        return database

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
            database = self._database(model)
            writable = not s.existing_schema_mode and not s.read_only
            migrate = s.auto_migrate and writable and model.managed
            if migrate and database.adapter is not self._adapter:
                async with database.acquire() as conn:
                    await self._migrate(conn, model)
            async with self._adapter.acquire() as conn:  # the registry lives in the primary
                if migrate and database.adapter is self._adapter:
                    await self._migrate(conn, model)
                await self._save_definitions(conn, [model])
            if model.audit_log:
                await self._prepare_audit_table(database)
            self._ready.add(model.name)

    async def _migrate(self, conn: Connection, model: ModelDef) -> None:
        database = self._database(model)
        d = database.dialect
        schema = model.schema or getattr(d, "schema", None)
        if schema:
            await database.adapter.ensure_schema(conn, schema)
        columns = await database.adapter.table_columns(conn, model.table_name, schema)
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
        database = self._database(model)
        await database.adapter.lock_for_upsert(conn, database.dialect.table(model))

    # -- the audit log -----------------------------------------------------------------

    async def _audit_columns(self, database: Database, conn: Connection) -> list[str] | None:
        from .nodes._audit import AUDIT_TABLE

        schema = getattr(database.dialect, "schema", None)
        return await database.adapter.table_columns(conn, AUDIT_TABLE, schema)

    async def _prepare_audit_table(self, database: Database) -> None:
        """Make ``database``'s audit table ready when an audited model becomes ready: it
        is created unless no DDL may run (existing-schema mode, read-only, or
        ``auto_migrate=False``); then only an existing table is used."""
        if self._audit_tables.get(database.name):
            return
        from .nodes._audit import audit_columns, audit_model

        s = self.settings
        async with database.acquire() as conn:
            columns = await self._audit_columns(database, conn)
            may_create = s.auto_migrate and not s.existing_schema_mode and not s.read_only
            if columns is None and may_create:
                d = database.dialect
                schema = getattr(d, "schema", None)
                try:
                    if schema:
                        await database.adapter.ensure_schema(conn, schema)
                    async with conn.transaction():
                        for statement in d.create_table_sql(audit_model()):
                            await conn.execute(statement)
                except UniqueViolation:  # created by another process at the same moment
                    pass
                except DatabaseError as exc:  # e.g. a role that may not create tables
                    _log.warning("the audit table could not be created: %s", exc.message)
                    self._audit_problems[database.name] = f"creating it failed ({exc.message})"
                columns = await self._audit_columns(database, conn)
        found = columns is not None and all(c in columns for c in audit_columns())
        self._audit_tables[database.name] = found

    async def _require_audit_table(self, model: ModelDef, conn: Connection) -> None:
        """Raise unless the audit table of ``model``'s database takes rows (looked up again
        while it is missing: a table created since is used).

        Raises:
            SchemaError: ``DF-SCHEMA-AUDIT-TABLE-MISSING`` or ``-MISMATCH``.
        """
        database = self._database(model)
        if self._audit_tables.get(database.name):
            return
        from .nodes._audit import AUDIT_TABLE, audit_columns

        columns = await self._audit_columns(database, conn)
        missing = [c for c in audit_columns() if c not in (columns or ())]
        if columns is not None and not missing:
            self._audit_tables[database.name] = True
            return
        details = {"model": model.name, "table": AUDIT_TABLE, "database": database.name}
        if columns is not None:
            raise SchemaError(
                f"model {model.name} keeps an audit log, and the table {AUDIT_TABLE!r} lacks "
                f"the column(s) {', '.join(missing)}; add them (see docs/enterprise.md for "
                "its columns) or drop the table to have it created again; nothing was written",
                code="DF-SCHEMA-AUDIT-TABLE-MISMATCH",
                details={**details, "missing": missing},
            )
        s = self.settings
        if s.existing_schema_mode:
            why = "existing_schema_mode never creates tables"
        elif not s.auto_migrate:
            why = "auto_migrate is off"
        else:
            why = self._audit_problems.get(database.name, "it has not been created")
        raise SchemaError(
            f"model {model.name} keeps an audit log, and the {database.name!r} database has "
            f"no {AUDIT_TABLE!r} table ({why}), so its writes are refused; create the table "
            "(a DataFlow with auto_migrate creates it when an audited model is first used), "
            "or remove 'audit_log' from the model; nothing was written",
            code="DF-SCHEMA-AUDIT-TABLE-MISSING",
            details=details,
        )

    def audit_trail(
        self,
        model: str | None = None,
        record_id: Any = None,
        since: Any = None,
        limit: int | None = 100,
        *,
        tenant_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """The audit log of audited models, oldest first.

        Each entry is ``{"model", "record_id", "action", "before", "after", "tenant_id",
        "actor", "at"}``: ``action`` is ``"create"``, ``"update"`` or ``"delete"`` (soft
        or hard; a soft delete's ``after`` is the marked record, a hard one's None);
        ``before`` / ``after`` hold every field with its Python type, as stored.

        Args:
            model: only this model's entries (its name).
            record_id: only this record's (its key; a dict for a composite key).
            since: only entries written at or after this time (a ``datetime``, or an
                ISO-8601 string; a naive one is UTC).
            limit: at most this many entries (None: all).
            tenant_id: only this tenant's entries. With none given, the tenant bound by
                ``db.tenant(...)`` applies, if any: a tenant sees only its own trail.

        Example::

            with db.actor("alice"):
                LocalRuntime().execute(wf.build())
            db.audit_trail("Invoice", record_id=7)[-1]["actor"]  # 'alice'

        Raises:
            ModelError: ``DF-MODEL-UNKNOWN`` for an unknown model, ``DF-MODEL-NOT-AUDITED``
                for one without ``audit_log``.
            ValidationError: a bad ``record_id``, ``since`` or ``limit``.
            TenantError: ``DF-TENANT-INVALID`` for a bad ``tenant_id``.
        """
        self._check_open()
        from .nodes._base import bound_tenant

        tenant = bound_tenant(tenant_id)
        return _loop.run_sync(self._audit_trail(model, record_id, since, limit, tenant))

    async def audit_trail_async(
        self,
        model: str | None = None,
        record_id: Any = None,
        since: Any = None,
        limit: int | None = 100,
        *,
        tenant_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Async version of :meth:`audit_trail`."""
        self._check_open()
        from .nodes._base import bound_tenant

        # The bound tenant is read here, in the caller's task; the query runs on the
        # engine's loop, where the caller's context variables are not visible.
        tenant = bound_tenant(tenant_id)
        return await self._audit_trail(model, record_id, since, limit, tenant)

    @_loop.engine_bound
    async def _audit_trail(
        self, model: Any, record_id: Any, since: Any, limit: Any, tenant: str | None
    ) -> list[dict[str, Any]]:
        from .nodes._audit import (
            audit_columns,
            audit_model,
            entry_output,
            key_digest,
        )

        self._check_open()
        definition = self._audited_model(model)
        key = None if record_id is None else self._audit_key(definition, record_id)
        audit = audit_model()
        f = audit.fields
        if since is not None:
            since = f["at"].validate(since, where="audit_trail: since: ")
        number = isinstance(limit, int) and not isinstance(limit, bool)
        if limit is not None and not (number and 0 <= limit <= 2**62):
            raise ValidationError(
                f"audit_trail: limit must be a whole number from 0 to {2**62}, or None for "
                f"every entry; got {limit!r:.80}",
                code="DF-PARAM-RANGE" if number else "DF-PARAM-TYPE",
                details={"param": "limit"},
            )
        if definition is not None:
            databases = [self._database(definition)]
        else:
            databases = list(self._databases.values())
        fields = [f[c] for c in audit_columns()]
        entries: list[tuple[Any, int, Any, dict[str, Any]]] = []
        for position, database in enumerate(databases):
            d = database.dialect
            async with database.acquire() as conn:
                if not self._audit_tables.get(database.name):
                    columns = await self._audit_columns(database, conn)
                    if columns is None:
                        continue  # nothing was ever audited in this database
                p = Params(d)
                conds = []
                if definition is not None:
                    conds.append(f"{d.column(f['model'])} = {p.add(definition.name)}")
                if key is not None:
                    conds.append(f"{d.column(f['record_key'])} = {p.add(key_digest(key))}")
                if since is not None:
                    conds.append(f"{d.column(f['at'])} >= {p.add_field(f['at'], since)}")
                if tenant is not None:
                    conds.append(f"{d.column(f['tenant_id'])} = {p.add(tenant)}")
                sql = f"SELECT {d.select_list(fields)} FROM {d.table(audit)}"
                if conds:
                    sql += " WHERE " + " AND ".join(conds)
                sql += f" ORDER BY {d.order_sql([(f['id'], False)])}"
                sql += d.limit_sql(limit, None, p)
                decode = d.row_decoder(fields)
                for raw in await conn.fetch(sql, p.values):
                    row = decode(raw)
                    entries.append((row["at"], position, row["id"], row))
        if len(databases) > 1:
            entries.sort(key=lambda e: e[:3])
        return [entry_output(self._models.get(row["model"]), row) for *_, row in entries[:limit]]

    def _audited_model(self, name: Any) -> ModelDef | None:
        if name is None:
            return None
        if not isinstance(name, str):
            raise ValidationError(
                f"audit_trail: model must be a model name, got {type(name).__name__}",
                code="DF-PARAM-TYPE",
                details={"param": "model"},
            )
        definition = self.get_model(name)
        if not definition.audit_log:
            raise ModelError(
                f"model {name} does not keep an audit log; set __dataflow__ = "
                "{'audit_log': True} on it to record its writes",
                code="DF-MODEL-NOT-AUDITED",
                details={"model": name},
            )
        return definition

    def _audit_key(self, definition: ModelDef | None, record_id: Any) -> str:
        """The canonical JSON text of a record id, as the audit log stores it."""
        from .nodes._audit import key_text

        if definition is not None:
            plan = self._plan(definition)
            return key_text(plan.pk_fields, plan.pk_values(record_id, param="record_id"))
        if isinstance(record_id, Mapping) and record_id:
            names = sorted(str(k) for k in record_id)
            return key_text(names, [record_id[k] for k in names])
        if isinstance(record_id, list | tuple | Mapping):
            raise ValidationError(
                "audit_trail: record_id must be a key value, or a dict of a composite key's "
                "fields; to give a composite key as a list, name the model too",
                code="DF-PARAM-TYPE",
                details={"param": "record_id"},
            )
        return key_text(["id"], [record_id])

    # -- tenant and actor --------------------------------------------------------------

    def tenant(self, tenant_id: str) -> Binding:
        """Bind the tenant that workflows started inside the block run for.

        Usable with ``with`` and ``async with``; the binding belongs to the current thread
        or asyncio task (a context variable), the innermost block wins, and leaving the
        block restores the previous one. A ``tenant_id=`` given to ``execute`` wins over
        it. Every statement a node sends for a multi-tenant model is scoped to this
        tenant; nodes of other models ignore it.

        Example::

            with db.tenant("acme"):
                results, _ = LocalRuntime().execute(wf.build())

        Raises:
            TenantError: ``DF-TENANT-INVALID`` unless ``tenant_id`` is a non-empty string
                of at most 255 characters.
        """
        from .nodes._base import bind_tenant

        return bind_tenant(tenant_id)

    def actor(self, actor: str) -> Binding:
        """Bind who acts for workflows started inside the block (the audit log records it).

        Works like :meth:`tenant`, with ``with`` and ``async with``; an ``actor=`` given
        to ``execute`` wins over it.

        Example::

            with db.actor("alice"), db.tenant("acme"):
                LocalRuntime().execute(wf.build())

        Raises:
            ValidationError: ``DF-PARAM-ACTOR`` unless ``actor`` is a non-empty string.
        """
        from .nodes._base import bind_actor

        return bind_actor(actor)

    # -- the query cache ---------------------------------------------------------------

    def cache_stats(self) -> dict[str, Any]:
        """How the query cache is doing: ``backend`` (``"memory"``, ``"redis"`` or None),
        ``hits``, ``misses``, ``hit_ratio``, ``bypassed`` (reads it did not serve: inside a
        transaction, or Redis unavailable), ``invalidations``, ``entries`` and ``bytes``
        held, and the bounds; for Redis also ``available``, ``errors``,
        ``pending_invalidations`` and this process's ``local_entries``/``local_bytes``.
        """
        self._check_open()
        if self._cache is None:
            return {"backend": None, "hits": 0, "misses": 0, "hit_ratio": 0.0}
        return _loop.run_sync(self._cache.stats())

    def invalidate_cache(self, model: str | None = None) -> None:
        """Forget the cached answers of ``model`` (every model when None), in every
        process sharing the cache: call it after writing to the tables outside DataFlow.

        Raises:
            ModelError: ``DF-MODEL-UNKNOWN``.
        """
        self._check_open()
        models = list(self._models.values()) if model is None else [self.get_model(model)]
        if self._cache is not None:
            _loop.run_sync(self._cache.invalidate(models))

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
            _loop.run_sync(self._close_pools(), timeout=timeout)
        except Exception:  # pragma: no cover - closing is best effort
            pass

    async def aclose(self) -> None:
        """Async version of :meth:`close`."""
        if self.closed:
            return
        self.closed = True
        unregister_instance(self)
        _loop.unregister_closer(self)
        await _loop.run_async(self._close_pools())

    async def _close_pools(self) -> None:
        """Close the cache, then the pools of every database and read replica."""
        if self._cache is not None:
            await self._cache.close()
        for database in self._databases.values():
            await database.close()

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

    def health(self, timeout: float = 5.0) -> dict[str, Any]:
        """Whether the databases answer, and how this DataFlow is set up; never raises
        because a database cannot be reached (it is reported ``"down"``).

        Args:
            timeout: seconds to wait for each database (and for the cache).

        Returns:
            ``{"status": "up" | "degraded" | "down", "database": {"status", "dialect",
            "url", "latency_ms", "server_version", "error", "pool", "replicas"},
            "databases": {name: {...}}, "pool": {...}, "mode": {"read_only",
            "existing_schema_mode", "auto_migrate"}, "cache": {...} or None,
            "checked_at", "seconds"}`` (see docs/enterprise.md).

        Raises:
            ValidationError: a ``timeout`` that is not a positive number of seconds.
            ConfigurationError: ``DF-CONFIG-CLOSED`` after ``close()``.

        Example::

            report = db.health()
            if report["status"] != "up":
                print(report["database"]["error"])
        """
        from .nodes._health import health_timeout

        seconds = health_timeout(timeout)
        self._check_open()
        return _loop.run_sync(self.health_async(seconds))

    @_loop.engine_bound
    async def health_async(self, timeout: float = 5.0) -> dict[str, Any]:
        """Async version of :meth:`health`."""
        from .nodes._health import check_health, health_timeout

        seconds = health_timeout(timeout)
        self._check_open()
        return await check_health(self, timeout=seconds)

    def describe(self) -> Mapping[str, Any]:
        """Dialect, URL (redacted), safety modes and models."""
        return {
            "dialect": self.dialect.name,
            "url": self.settings.url.redacted(),
            "databases": {
                name: {
                    "dialect": db.dialect.name,
                    "url": db.adapter.settings.url.redacted(),
                    "read_replicas": [r.settings.url.redacted() for r in db.replicas],
                }
                for name, db in self._databases.items()
            },
            "read_only": self.settings.read_only,
            "existing_schema_mode": self.settings.existing_schema_mode,
            "auto_migrate": self.settings.auto_migrate,
            "models": self.list_models(),
        }

    def api(self, **options: Any) -> Starlette:
        """A REST API over this DataFlow's models: an ASGI application (Starlette) with an
        OpenAPI 3.1 document at ``/openapi.json`` (docs/rest.md). Needs the ``api`` extra.

        Args:
            models: serve only these models (names); by default every registered model.
            tables: serve only the models of these tables (instead of ``models``).
            token: a bearer token (or a list, while rotating) every request but
                ``/health`` must carry; compared in constant time.
            read_only: serve no writes (the default when this DataFlow is read-only).
            tenant: the tenant of a request: a header name (``"X-Tenant-ID"``), or a
                function of the Starlette request returning the tenant id.
            default_limit, max_limit: records in a listing when no limit is given, and
                the most a request may ask for (100 and 1000).
            max_body_bytes: the largest request body accepted (10 MiB).
            title, version: the OpenAPI document's ``info``.

        Example::

            app = db.api(token=os.environ["API_TOKEN"])
            uvicorn.run(app)  # GET /users?filter={"age":{"$gte":18}}&limit=10

        Raises:
            ConfigurationError: an invalid option, or the ``api`` extra is missing.
            ModelError: ``DF-MODEL-UNKNOWN`` for a model or table not registered.
        """
        try:
            from .api import create_app
        except ImportError as exc:  # starlette comes with the api extra
            raise ConfigurationError(
                f"the REST API needs the 'api' extra: pip install 'dataflow-engine[api]' ({exc})",
                code="DF-CONFIG-MISSING-EXTRA",
            ) from None
        return create_app(self, **options)
