"""``DataFlow``: one database, its models and their generated nodes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from . import _loop
from .adapters import Adapter, Connection, create_adapter
from .config import Settings
from .errors import ConfigurationError, ModelError, SchemaError, UniqueViolation, UnsupportedError
from .models import ModelDef, build_model
from .models._model import suggest
from .nodes import NODE_CLASSES, ModelPlan, Node
from .nodes._registry import register_instance, unregister_instance

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
            if s.auto_migrate and not s.existing_schema_mode and not s.read_only:
                async with self._adapter.acquire() as conn:
                    await self._migrate(conn, model)
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
