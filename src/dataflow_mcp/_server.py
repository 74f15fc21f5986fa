"""The MCP server: thin tools over the engine's public API.

Every tool answers with structured content (its output schema comes from the return
model), and every failure is a tool result the model can read: the engine's error code,
its message (with the closest valid names) and, for workflows, every diagnostic.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field, WithJsonSchema

from dataflow_engine import AsyncLocalRuntime, DataFlow, WorkflowBuilder
from dataflow_engine.discovery import TableInfo
from dataflow_engine.errors import (
    DataFlowError,
    ModelError,
    ReadOnlyError,
    SchemaError,
    ValidationError,
    WorkflowError,
    WorkflowValidationError,
)
from dataflow_engine.jsonvalues import dumps, json_value, loads, records, row_json
from dataflow_engine.models import FieldKind, ModelDef
from dataflow_engine.models._model import suggest
from dataflow_engine.nodes import resolve_node_type

from ._config import ServerConfig

__all__ = ["create_server"]

#: The most bytes a listing of tables carries, whatever the limit asked.
LISTING_BYTES = 7_000

READ = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
REGISTER = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)

INSTRUCTIONS = """\
DataFlow: a database, seen through its own catalogs and queried with MongoDB-style
filter documents (never raw SQL). Start with describe_database, then search_tables
(detail="names" first on big databases), describe_table, and query/count/aggregate on a
table (it is registered on the fly). Filters: {"age": {"$gte": 18}, "$or": [...]}; see
the dataflow://query-language resource. Answers are capped in rows and bytes: follow
next_cursor for more. Errors carry a code and the closest valid names."""


#: Records are free-form objects. The schema says only "an array of records": a client
#: validating an answer against it then does not walk every record (which costs more
#: than the query itself with a jsonschema validator). The server side does not walk them
#: either (``Any``): the tools build them from the engine's rows, already JSON values.
RecordList = Annotated[
    Any,
    WithJsonSchema({"type": "array", "description": "records: objects, field -> value"}),
]

# -- output models ----------------------------------------------------------------------


class ToolFailure(BaseModel):
    code: str = Field(description="the engine's stable error code, e.g. DF-FILTER-UNKNOWN-FIELD")
    message: str = Field(description="what was wrong and what to do instead")
    details: dict[str, Any] = Field(default_factory=dict)
    diagnostics: list[dict[str, Any]] = Field(default_factory=list)


class DatabaseInfo(BaseModel):
    dialect: str
    server_version: str
    url: str = Field(description="the URL, password hidden")
    read_only: bool
    existing_schema_mode: bool
    writes_enabled: bool = Field(description="whether the write tools exist on this server")
    tables: int
    views: int
    models: int
    max_rows: int
    max_bytes: int


class TablesPage(BaseModel):
    tables: list[Any] = Field(description="names, summaries or full descriptions")
    total: int = Field(description="tables and views matching the pattern")
    truncated: bool


class TableDescription(BaseModel):
    table: dict[str, Any]


class Registration(BaseModel):
    registered_models: list[str]
    generated_nodes: dict[str, dict[str, str]]
    read_only: dict[str, str]
    skipped_columns: dict[str, list[dict[str, str]]]
    errors: list[dict[str, str]]


class ModelList(BaseModel):
    models: list[dict[str, Any]]


class ModelDescription(BaseModel):
    model: dict[str, Any]
    nodes: dict[str, Any] = Field(description="each node's parameters and outputs")


class Records(BaseModel):
    model: str
    records: RecordList
    count: int
    truncated: bool = Field(description="more records exist than this answer carries")
    next_cursor: str | None = Field(description="pass as cursor for the next page")


class Count(BaseModel):
    model: str
    count: int


class Record(BaseModel):
    model: str
    found: bool
    record: dict[str, Any] | None


class Explanation(BaseModel):
    sql: str
    params: list[Any]
    plan: Any


class Validation(BaseModel):
    valid: bool
    diagnostics: list[dict[str, Any]]


class MigrationAssessment(BaseModel):
    dialect: str
    server_version: str
    overall_score: float = Field(description="0-100: the riskiest statement's score")
    overall_risk_level: str = Field(description="LOW, MEDIUM, HIGH or CRITICAL")
    safe: bool = Field(description="no error or warning finding, and LOW risk")
    operations: list[dict[str, Any]] = Field(
        description="per statement: scores (data_loss, availability, performance, "
        "rollback), the lock, rewrites, and the reasons"
    )
    findings: list[dict[str, Any]] = Field(description="rules broken, with facts and fixes")
    recommended_strategies: list[str]


class WorkflowRun(BaseModel):
    run_id: str
    results: dict[str, Any]
    truncated: bool


class WriteResult(BaseModel):
    dry_run: bool
    affected: int = Field(description="records created, updated or deleted (or that would be)")
    sample: RecordList = Field(description="up to 5 of the records concerned")


# -- the server ---------------------------------------------------------------------------


class _State:
    """The database, its discovered tables (read once, refreshed on demand) and caps.

    Every tool is a coroutine over the engine's async API: served on the engine's own
    loop (``dataflow-mcp`` does), a tool call reaches the database with no thread hop."""

    def __init__(self, db: DataFlow, config: ServerConfig) -> None:
        self.db = db
        self.config = config
        self.runtime = AsyncLocalRuntime(dataflow=db)
        self._tables: dict[str, TableInfo] | None = None
        self._built: dict[str, Any] = {}
        self._unbuildable: set[str] = set()
        self._registry_read = False

    async def ready(self) -> None:
        """Models other instances registered (a shared registry) are known before the
        first answer. A database that cannot be read yet is tried again next time; the
        tool itself then says what is wrong."""
        if not self._registry_read:
            try:
                await self.db.reconstruct_models_from_registry_async()
                self._registry_read = True
            except DataFlowError:
                pass

    async def tables(self, refresh: bool = False) -> dict[str, TableInfo]:
        # Two first calls at once may both read the catalogs: harmless, and no lock is
        # held across an await.
        if self._tables is None or refresh:
            self._tables = await self.db.discover_schema_async()
        return self._tables

    async def model_for(self, table: str | None, model: str | None) -> ModelDef:
        """The model named, or the model of a table (registered on the fly, no DDL)."""
        _text_arg("table", table)
        _text_arg("model", model)
        if model:
            return self.db.get_model(model)
        if not table:
            raise ModelError(
                "name a table (e.g. table='orders') or a model (model='Order')",
                code="DF-PARAM-MISSING",
            )
        for name in self.db.list_models():
            found = self.db.get_model(name)
            if found.table_name == table:
                return found
        result = await self.db.register_schema_as_models_async(tables=[table])
        if result["errors"]:
            error = result["errors"][0]
            if error["code"] == "DF-SCHEMA-TABLE-MISSING":
                raise self.missing(table, await self.tables())
            raise ModelError(error["message"], code=error["code"], details={"table": table})
        return self.db.get_model(result["registered_models"][0])

    @staticmethod
    def missing(table: str, known: Iterable[str]) -> SchemaError:
        """``DF-SCHEMA-TABLE-MISSING`` with the closest table names."""
        close = suggest(table, known)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        return SchemaError(
            f"no table or view named {table!r}{hint}",
            code="DF-SCHEMA-TABLE-MISSING",
            details={"table": table, "suggestions": close},
        )

    async def run(self, node_type: str, params: dict[str, Any]) -> dict[str, Any]:
        """One node with these parameters. A node type that needs no parameter is built
        once and run with the parameters given as overrides (validated by the runtime),
        the way a script runs a built workflow; the others are built each time."""
        built = self._built.get(node_type)
        if built is None and node_type not in self._unbuildable:
            wf = WorkflowBuilder()
            wf.add_node(node_type, "n", {})
            try:
                built = self._built[node_type] = wf.build(self.db)
            except WorkflowValidationError:
                self._unbuildable.add(node_type)
        if built is not None:
            results, _ = await self.runtime.execute(built, parameters={"n": params})
            return dict(results["n"])
        wf = WorkflowBuilder()
        wf.add_node(node_type, "n", params)
        results, _ = await self.runtime.execute(wf.build(self.db))
        return dict(results["n"])

    def capped(
        self, rows: list[dict[str, Any]], model: ModelDef | None = None
    ) -> tuple[list[dict[str, Any]], bool, str]:
        """Rows as JSON values within the row and byte caps, whether some were cut, and
        their JSON text (for the answer's text content). The JSON text is written once
        (``jsonvalues.dumps``, orjson) and read back as the records; a model's records
        need a per-value pass only for floats JSON cannot carry."""
        limit = self.config.max_rows
        page = rows[:limit]
        if model is not None:
            floats = [n for n, f in model.fields.items() if f.kind is FieldKind.FLOAT]
            ready = records(page, floats)
        else:
            ready = [row_json(r) for r in page]
        data = dumps(ready)
        if len(data) <= self.config.max_bytes:
            return loads(data), len(rows) > limit, data.decode("utf-8")
        kept: list[Any] = []
        size = 2
        for row in ready:
            size += len(dumps(row)) + 1
            if kept and size > self.config.max_bytes:
                break
            kept.append(row)
        data = dumps(kept)
        return loads(data), True, data.decode("utf-8")


class _Payload:
    """An answer already made of JSON values: sent as it is, no second pass. ``records``
    is the JSON text of its records when already made (spliced into the text content)."""

    __slots__ = ("data", "records")

    def __init__(self, data: dict[str, Any], records: str | None = None) -> None:
        self.data = data
        self.records = records


async def _answer(
    make: Callable[[], Awaitable[BaseModel | _Payload]], state: _State
) -> CallToolResult:
    try:
        await state.ready()
        out = await make()
    except WorkflowValidationError as exc:
        diagnostics = [json_value(d.to_dict()) for d in exc.diagnostics]
        if len(exc.diagnostics) == 1:  # one problem: say it plainly
            only = exc.diagnostics[0]
            failure = ToolFailure(code=only.code, message=only.message, diagnostics=diagnostics)
        else:
            failure = ToolFailure(code=exc.code, message=exc.message, diagnostics=diagnostics)
    except WorkflowError as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, DataFlowError) else exc
        failure = ToolFailure(
            code=cause.code, message=cause.message, details=json_value(cause.details)
        )
    except DataFlowError as exc:
        failure = ToolFailure(code=exc.code, message=exc.message, details=json_value(exc.details))
    else:
        if isinstance(out, _Payload):
            payload = out.data
            if out.records is not None:  # the records' text is made once
                rest = json.dumps({k: v for k, v in payload.items() if k != "records"})
                text = (
                    f'{{"records": {out.records}, {rest[1:]}'
                    if len(rest) > 2
                    else (f'{{"records": {out.records}}}')
                )
            else:
                text = json.dumps(payload, ensure_ascii=False)
        else:
            payload = out.model_dump(mode="json")
            text = json.dumps(payload, ensure_ascii=False)
        # Built from JSON values already: not validated again here (the SDK dumps it).
        return CallToolResult.model_construct(
            content=[TextContent(type="text", text=text)], structured_content=payload
        )
    failure.message = _short(failure.message, 2_000)
    failure.details = _short(failure.details)
    body = failure.model_dump(mode="json")
    return CallToolResult(
        content=[TextContent(type="text", text=f"[{failure.code}] {failure.message}")],
        structured_content={"error": body},
        is_error=True,
    )


TableArg = Annotated[
    str | None,
    Field(
        description="a table or view name, exactly as the database spells it", examples=["orders"]
    ),
]
ModelArg = Annotated[
    str | None, Field(description="a registered model name (instead of table)", examples=["Order"])
]
FilterArg = Annotated[
    dict[str, Any] | None,
    Field(
        description="a MongoDB-style filter document",
        examples=[{"status": "paid", "total": {"$gte": 100}}],
    ),
]


def create_server(config: ServerConfig | None = None, db: DataFlow | None = None) -> MCPServer:
    """The MCP server over one database.

    By default the database is opened read-only and in existing-schema mode (the engine
    refuses writes and DDL, and so does the database connection); ``allow_writes`` adds
    the write tools and opens it writable (still without DDL).

    Args:
        config: the options (``parse_config`` reads them from argv and the environment).
        db: an open DataFlow to serve instead of one made from ``config``.
    """
    config = config or ServerConfig()
    if db is None:
        db = DataFlow(
            config.database_url,
            read_only=not config.allow_writes,
            existing_schema_mode=True,
            command_timeout=config.statement_timeout,
            application_id=config.application_id,
        )
    state = _State(db, config)
    server: MCPServer = MCPServer("dataflow", instructions=INSTRUCTIONS)

    @server.tool(annotations=READ)
    async def describe_database(
        refresh: Annotated[bool, Field(description="read the catalogs again")] = False,
    ) -> Annotated[CallToolResult, DatabaseInfo]:
        """The database: dialect, server version, safety mode, table/view/model counts."""

        async def make() -> DatabaseInfo:
            tables = await state.tables(refresh)
            views = sum(1 for t in tables.values() if t.kind == "view")
            return DatabaseInfo(
                dialect=db.dialect.name,
                server_version=await db.server_version_async(),
                url=db.settings.url.redacted(),
                read_only=db.settings.read_only,
                existing_schema_mode=db.settings.existing_schema_mode,
                writes_enabled=config.allow_writes,
                tables=len(tables) - views,
                views=views,
                models=len(db.list_models()),
                max_rows=config.max_rows,
                max_bytes=config.max_bytes,
            )

        return await _answer(make, state)

    @server.tool(annotations=READ)
    async def search_tables(
        pattern: Annotated[
            str, Field(description="a glob (order*) or a substring, any case", examples=["order*"])
        ] = "*",
        detail: Annotated[
            Literal["names", "summary", "full"],
            Field(description="names: just names; summary: kind, key, size; full: everything"),
        ] = "summary",
        limit: Annotated[int, Field(description="at most this many tables (1 to 1000)")] = 50,
    ) -> Annotated[CallToolResult, TablesPage]:
        """Find tables and views by name, with as much detail as asked (start small)."""

        async def make() -> TablesPage:
            _text_arg("pattern", pattern)
            _at_least_one("limit", limit)
            tables = await state.tables()
            glob = pattern if any(c in pattern for c in "*?[") else f"*{pattern}*"
            found = [t for n, t in tables.items() if fnmatch.fnmatch(n.lower(), glob.lower())]
            describe = {"names": lambda t: t.name, "summary": _summary, "full": _full}[detail]
            items: list[Any] = []
            size = 0
            for t in found[:limit]:
                item = describe(t)
                size += len(json.dumps(item, ensure_ascii=False))
                if items and size > LISTING_BYTES:
                    break  # progressive disclosure: narrow the pattern or page with limit
                items.append(item)
            return TablesPage(tables=items, total=len(found), truncated=len(items) < len(found))

        return await _answer(make, state)

    @server.tool(annotations=READ)
    async def describe_table(
        table: Annotated[str, Field(description="the table or view")],
    ) -> Annotated[CallToolResult, TableDescription]:
        """Columns (type, nullability, default), primary key, foreign keys both ways,
        unique constraints, indexes, checks and the row estimate of one table."""

        async def make() -> TableDescription:
            _text_arg("table", table)
            tables = await state.tables()
            if table not in tables:
                tables = await state.tables(refresh=True)
            if table not in tables:
                raise state.missing(table, tables)
            return TableDescription(table=_full(tables[table]))

        return await _answer(make, state)

    @server.tool(annotations=REGISTER)
    async def register_tables(
        tables: Annotated[list[str], Field(description="table names", examples=[["orders"]])],
    ) -> Annotated[CallToolResult, Registration]:
        """Register tables as models with their nodes (never DDL)."""

        async def make() -> Registration:
            for name in tables:
                _text_arg("tables", name)
            result = await db.register_schema_as_models_async(tables=tables)
            return Registration(**{k: result[k] for k in Registration.model_fields})

        return await _answer(make, state)

    @server.tool(annotations=READ)
    async def list_models() -> Annotated[CallToolResult, ModelList]:
        """The registered models: name, table, read-only reason, node names."""

        async def make() -> ModelList:
            models = []
            for name in db.list_models():
                m = db.get_model(name)
                models.append(
                    {
                        "name": name,
                        "table": m.table_name,
                        "read_only": m.read_only_reason or m.read_only,
                        "nodes": list(m.node_names.values()),
                    }
                )
            return ModelList(models=models)

        return await _answer(make, state)

    @server.tool(annotations=READ)
    async def describe_model(
        model: Annotated[str, Field(description="a model name")],
    ) -> Annotated[CallToolResult, ModelDescription]:
        """A model's fields and types, and each of its nodes' parameters and outputs."""

        async def make() -> ModelDescription:
            m = db.get_model(model)
            nodes = {name: json_value(db.nodes[name].describe()) for name in m.node_names.values()}
            return ModelDescription(model=json_value(m.to_dict()), nodes=nodes)

        return await _answer(make, state)

    @server.tool(annotations=READ)
    async def query(
        table: TableArg = None,
        model: ModelArg = None,
        filter: FilterArg = None,
        fields: Annotated[list[str] | None, Field(description="only these fields")] = None,
        order_by: Annotated[
            str | list[str] | None, Field(description="'-total' or ['-total', 'id']")
        ] = None,
        limit: Annotated[int | None, Field(description="at most this many (capped)")] = None,
        cursor: Annotated[str | None, Field(description="next_cursor of the previous page")] = None,
    ) -> Annotated[CallToolResult, Records]:
        """Records of a table or model matching a filter, a page at a time."""

        async def make() -> _Payload:
            if limit is not None:
                _at_least_one("limit", limit)  # and capped below, whatever asked
            m = await state.model_for(table, model)
            cap = min(limit or config.max_rows, config.max_rows)
            params: dict[str, Any] = {"filter": filter, "limit": cap}
            for key, value in (("fields", fields), ("order_by", order_by), ("cursor", cursor)):
                if value is not None:
                    params[key] = value
            out = await state.run(m.node_names["List"], params)
            rows, cut, text = state.capped(out["records"], m)
            next_cursor = out["next_cursor"]
            if cut and len(rows) < len(out["records"]):
                # The byte cap stopped early: ask again for exactly what fits, so the
                # cursor continues right after the last record returned.
                out = await state.run(m.node_names["List"], {**params, "limit": len(rows)})
                rows, _, text = state.capped(out["records"], m)
                next_cursor = out["next_cursor"]
            return _Payload(
                {
                    "model": m.name,
                    "records": rows,
                    "count": len(rows),
                    "truncated": next_cursor is not None,
                    "next_cursor": next_cursor,
                },
                text,
            )

        return await _answer(make, state)

    @server.tool(annotations=READ)
    async def count(
        table: TableArg = None, model: ModelArg = None, filter: FilterArg = None
    ) -> Annotated[CallToolResult, Count]:
        """How many records of a table or model match a filter."""

        async def make() -> Count:
            m = await state.model_for(table, model)
            out = await state.run(m.node_names["Count"], {"filter": filter})
            return Count(model=m.name, count=out["count"])

        return await _answer(make, state)

    @server.tool(annotations=READ)
    async def aggregate(
        pipeline: Annotated[
            list[dict[str, Any]],
            Field(
                description="$match $group $sort $limit $skip $project $count $unwind stages",
                examples=[[{"$group": {"_id": "$status", "n": {"$sum": 1}}}]],
            ),
        ],
        table: TableArg = None,
        model: ModelArg = None,
    ) -> Annotated[CallToolResult, Records]:
        """An aggregation pipeline over a table or model, in one statement."""

        async def make() -> Records:
            m = await state.model_for(table, model)
            out = await state.run(m.node_names["List"], {"aggregate": pipeline})
            rows, cut, _ = state.capped(out["records"])
            return Records(
                model=m.name, records=rows, count=len(rows), truncated=cut, next_cursor=None
            )

        return await _answer(make, state)

    @server.tool(annotations=READ)
    async def get_record(
        id: Annotated[
            Any, Field(description="the primary key; {'a': 1, 'b': 2} for a composite key")
        ],
        table: TableArg = None,
        model: ModelArg = None,
    ) -> Annotated[CallToolResult, Record]:
        """One record by its primary key."""

        async def make() -> Record:
            m = await state.model_for(table, model)
            out = await state.run(m.node_names["Read"], {"id": id, "raise_on_not_found": False})
            found = bool(out.pop("found", True))
            return Record(model=m.name, found=found, record=json_value(out) if found else None)

        return await _answer(make, state)

    @server.tool(annotations=READ)
    async def explain(
        table: TableArg = None,
        model: ModelArg = None,
        filter: FilterArg = None,
        pipeline: Annotated[
            list[dict[str, Any]] | None, Field(description="an aggregation pipeline")
        ] = None,
    ) -> Annotated[CallToolResult, Explanation]:
        """The SQL and parameters a filter or pipeline compiles to, and the database's
        plan for it (the statement is not run)."""

        async def make() -> Explanation:
            m = await state.model_for(table, model)
            out = await db.explain_async(m.name, filter=filter, pipeline=pipeline)
            return Explanation(
                sql=out["sql"], params=json_value(out["params"]), plan=json_value(out["plan"])
            )

        return await _answer(make, state)

    @server.tool(annotations=READ)
    async def validate_workflow(
        workflow: Annotated[
            Any,
            Field(
                description="{'nodes': [{'id', 'type', 'params'}], 'connections': [{'from', 'to'}]}"
            ),
        ],
    ) -> Annotated[CallToolResult, Validation]:
        """Every problem in a workflow definition, as build() would report it."""

        async def make() -> Validation:
            from dataflow_engine.workflow import validate_workflow as check

            _workflow_arg(workflow)
            found = [json_value(d.to_dict()) for d in check(workflow, db)]
            if not config.allow_writes:
                found += _write_nodes(workflow, db)
            errors = [d for d in found if d.get("severity", "error") == "error"]
            return Validation(valid=not errors, diagnostics=found)

        return await _answer(make, state)

    @server.tool(annotations=READ if not config.allow_writes else REGISTER)
    async def run_workflow(
        workflow: Annotated[Any, Field(description="a workflow definition")],
    ) -> Annotated[CallToolResult, WorkflowRun]:
        """Validate and run a workflow; read-only servers run only read nodes."""

        async def make() -> WorkflowRun:
            _workflow_arg(workflow)
            built = WorkflowBuilder.from_dict(workflow).build(db)
            if not config.allow_writes:
                writers = [n.id for n in built.nodes if resolve_node_type(str(n.type), db).writes]
                if writers:
                    raise ReadOnlyError(
                        f"this server is read-only; node(s) {', '.join(writers)} would write",
                        details={"nodes": writers},
                    )
            results, run_id = await state.runtime.execute(built)
            plain = json_value(results)
            text = json.dumps(plain, ensure_ascii=False)
            truncated = len(text) > config.max_bytes
            if truncated:
                plain = {
                    node: _cap_node(value, config.max_bytes // max(1, len(plain)))
                    for node, value in plain.items()
                }
            return WorkflowRun(run_id=run_id, results=plain, truncated=truncated)

        return await _answer(make, state)

    @server.tool(annotations=READ)
    async def assess_migration(
        ddl: Annotated[
            str,
            Field(
                description="the migration's SQL: one or more DDL statements",
                examples=["ALTER TABLE users ADD COLUMN status text NOT NULL"],
            ),
        ],
        suppress: Annotated[
            dict[str, str] | None,
            Field(description="rule id -> why its findings are acceptable here"),
        ] = None,
        in_transaction: Annotated[
            bool, Field(description="the migration runs as one transaction")
        ] = True,
    ) -> Annotated[CallToolResult, MigrationAssessment]:
        """Judge a schema change against this database before it runs (analysis only,
        nothing is executed): the lock each statement takes here, rewrites, risk scores
        from real row counts, sizes, views, triggers and foreign keys, and the rules it
        breaks with safer alternatives."""

        async def make() -> _Payload:
            if len(ddl) > _MAX_DDL:
                raise ValidationError(
                    f"ddl is {len(ddl):,} characters long; at most {_MAX_DDL:,} are accepted",
                    code="DF-PARAM-RANGE",
                    details={"param": "ddl", "length": len(ddl)},
                )
            from dataflow_engine.migrations import assess_async  # sqlglot: loaded when first used

            report = await assess_async(ddl, db, suppress=suppress, in_transaction=in_transaction)
            return _Payload(report.to_dict())

        return await _answer(make, state)

    if config.allow_writes:
        _add_write_tools(server, state)

    @server.resource("dataflow://schema", mime_type="application/json")
    async def schema_overview() -> str:
        """Every table and view: kind, primary key, column count, row estimate."""
        tables = await state.tables()
        return json.dumps(
            {"dialect": db.dialect.name, "tables": [_summary(t) for t in tables.values()]},
            ensure_ascii=False,
        )

    @server.resource("dataflow://models/{name}", mime_type="application/json")
    async def model_resource(name: str) -> str:
        """One registered model: fields, key, nodes."""
        await state.ready()
        return json.dumps(json_value(db.get_model(name).to_dict()), ensure_ascii=False)

    @server.resource("dataflow://query-language", mime_type="text/markdown")
    def query_language() -> str:
        """The filter and pipeline operators."""
        from dataflow_engine.query import FIELD_OPERATORS, LOGICAL_OPERATORS, STAGES

        lines = ["# Filter operators"]
        lines += [f"- `{k}`: {v}" for k, v in {**FIELD_OPERATORS, **LOGICAL_OPERATORS}.items()]
        lines += ["", "# Pipeline stages"] + [f"- `{k}`: {v}" for k, v in STAGES.items()]
        return "\n".join(lines)

    @server.prompt()
    def explore_database(goal: str = "understand what this database holds") -> str:
        """How to explore an unknown database with these tools."""
        return (
            f"Goal: {goal}.\n"
            "1. Call describe_database for the dialect, safety mode and size.\n"
            "2. Call search_tables with detail='names' (then 'summary' on what looks "
            "relevant); never ask for everything at once on a big database.\n"
            "3. describe_table on the central tables: keys and foreign keys show how they "
            "join.\n"
            "4. count, then query with a small limit and fields, to sample real rows.\n"
            "5. aggregate to summarise (group by a status or a month).\n"
            "Use filters, not SQL; errors name the closest valid fields and operators."
        )

    return server


_MAX_NAME = 512


_MAX_DDL = 200_000


def _text_arg(name: str, value: Any) -> None:
    """Names and patterns are short: a huge one is refused before any work (and never
    echoed back whole)."""
    if isinstance(value, str) and len(value) > _MAX_NAME:
        raise ValidationError(
            f"{name} is {len(value):,} characters long; at most {_MAX_NAME} are accepted",
            code="DF-PARAM-RANGE",
            details={"param": name, "length": len(value)},
        )


def _at_least_one(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(
            f"{name} must be a positive integer, got {str(value)[:40]}",
            code="DF-PARAM-RANGE",
            details={"param": name},
        )


def _workflow_arg(workflow: Any) -> None:
    if not isinstance(workflow, dict):
        raise ValidationError(
            "workflow must be an object: {'nodes': [{'id', 'type', 'params'}], "
            f"'connections': [...]}}, got {type(workflow).__name__}",
            code="DF-WORKFLOW-MALFORMED",
        )


def _write_nodes(workflow: dict[str, Any], db: DataFlow) -> list[dict[str, Any]]:
    """A read-only server's diagnostics for the nodes of a workflow that would write."""
    found = []
    for i, node in enumerate(workflow.get("nodes") or []):
        if not isinstance(node, dict):
            continue
        try:
            writes = resolve_node_type(str(node.get("type")), db).writes
        except DataFlowError:
            continue  # an unknown type: the validator said so already
        if writes:
            found.append(
                {
                    "code": "DF-READ-ONLY",
                    "message": f"{node.get('type')} writes, and this server is read-only",
                    "node_id": node.get("id"),
                    "path": ["nodes", i, "type"],
                    "severity": "error",
                }
            )
    return found


def _short(value: Any, limit: int = 500) -> Any:
    """Long strings in error details cut to ``limit`` characters."""
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + f"... ({len(value):,} characters)"
    if isinstance(value, dict):
        return {k: _short(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_short(v, limit) for v in value[:50]]
    return value


def _cap_node(value: Any, budget: int) -> Any:
    if isinstance(value, dict) and isinstance(value.get("records"), list):
        rows: list[Any] = []
        size = 0
        for row in value["records"]:
            size += len(json.dumps(row, ensure_ascii=False))
            if rows and size > budget:
                break
            rows.append(row)
        return {**value, "records": rows, "truncated": True}
    return value


def _summary(table: TableInfo) -> dict[str, Any]:
    return {
        "name": table.name,
        "kind": table.kind,
        "columns": len(table.columns),
        "primary_key": list(table.primary_key),
        "rows": table.row_estimate,
        **({"comment": table.comment} if table.comment else {}),
    }


def _full(table: TableInfo) -> dict[str, Any]:
    def column(c: Any) -> dict[str, Any]:
        out = {"name": c.name, "type": c.type, "nullable": c.nullable}
        for key in ("default", "generated", "comment", "enum_values"):
            if getattr(c, key):
                out[key] = json_value(getattr(c, key))
        if c.auto_increment:
            out["auto_increment"] = True
        return out

    def fk(f: Any) -> dict[str, Any]:
        return {
            "table": f.table,
            "columns": list(f.columns),
            "ref_table": f.ref_table,
            "ref_columns": list(f.ref_columns),
            "on_delete": f.on_delete,
            "on_update": f.on_update,
        }

    return {
        "name": table.name,
        "schema": table.schema,
        "kind": table.kind,
        "columns": [column(c) for c in table.columns],
        "primary_key": list(table.primary_key),
        "foreign_keys": [fk(f) for f in table.foreign_keys],
        "referenced_by": [fk(f) for f in table.referenced_by],
        "unique": [list(u.columns) for u in table.unique],
        "indexes": [
            {"name": i.name, "columns": list(i.columns), "unique": i.unique} for i in table.indexes
        ],
        "checks": [c.expression for c in table.checks],
        "rows": table.row_estimate,
        "comment": table.comment,
    }


def _add_write_tools(server: MCPServer, state: _State) -> None:
    create = ToolAnnotations(
        read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
    )
    change = ToolAnnotations(
        read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
    )
    # upsert_records overwrites what it matches (destructive) and gives the same state
    # when repeated (idempotent).
    db = state.db

    async def preview(m: ModelDef, kind: str, params: dict[str, Any]) -> WriteResult:
        """A dry run of a filtered write: the node is validated as if it ran, then the
        records it would touch are counted and sampled."""
        wf = WorkflowBuilder()
        wf.add_node(m.node_names[kind], "n", params)
        wf.build(db)
        flt = params["filter"]
        n = (await state.run(m.node_names["Count"], {"filter": flt}))["count"]
        rows = (await state.run(m.node_names["List"], {"filter": flt, "limit": 5}))["records"]
        return WriteResult(dry_run=True, affected=n, sample=[row_json(r) for r in rows])

    @server.tool(annotations=create)
    async def create_records(
        data: Annotated[list[dict[str, Any]], Field(description="the records to insert")],
        table: TableArg = None,
        model: ModelArg = None,
        dry_run: Annotated[bool, Field(description="validate only; write nothing")] = True,
    ) -> Annotated[CallToolResult, WriteResult]:
        """Insert records (one statement per batch, all or nothing)."""

        async def make() -> WriteResult:
            m = await state.model_for(table, model)
            wf = WorkflowBuilder()
            wf.add_node(m.node_names["BulkCreate"], "n", {"data": data, "return_ids": True})
            built = wf.build(db)  # validates every record first
            if dry_run:
                return WriteResult(dry_run=True, affected=len(data), sample=json_value(data[:5]))
            results, _ = await state.runtime.execute(built, transaction=True)
            return WriteResult(
                dry_run=False,
                affected=results["n"]["inserted"],
                sample=[{"id": json_value(i)} for i in (results["n"]["ids"] or [])[:5]],
            )

        return await _answer(make, state)

    @server.tool(annotations=change)
    async def upsert_records(
        data: Annotated[list[dict[str, Any]], Field(description="the records")],
        match_fields: Annotated[
            list[str] | None,
            Field(description="the fields that identify a record (default: the primary key)"),
        ] = None,
        table: TableArg = None,
        model: ModelArg = None,
        dry_run: Annotated[bool, Field(description="say how many exist; write nothing")] = True,
    ) -> Annotated[CallToolResult, WriteResult]:
        """Insert records, or update those that already exist (matched by key)."""

        async def make() -> WriteResult:
            m = await state.model_for(table, model)
            params: dict[str, Any] = {"data": data}
            if match_fields is not None:
                params["match_fields"] = match_fields
            wf = WorkflowBuilder()
            wf.add_node(m.node_names["BulkUpsert"], "n", params)
            built = wf.build(db)  # validates every record first
            if dry_run:
                keys = match_fields or list(m.primary_key)
                matches = [{k: r.get(k) for k in keys} for r in data[:1000]]
                existing = 0
                if matches:
                    flt = {"$or": matches}
                    existing = (await state.run(m.node_names["Count"], {"filter": flt}))["count"]
                return WriteResult(
                    dry_run=True,
                    affected=len(data),
                    sample=[{"would_update": existing, "would_insert": len(data) - existing}],
                )
            results, _ = await state.runtime.execute(built, transaction=True)
            out = results["n"]
            return WriteResult(
                dry_run=False,
                affected=out["inserted"] + out["updated"],
                sample=[{"inserted": out["inserted"], "updated": out["updated"]}],
            )

        return await _answer(make, state)

    @server.tool(annotations=change)
    async def update_records(
        filter: Annotated[dict[str, Any], Field(description="which records")],
        update: Annotated[dict[str, Any], Field(description="{'$set': {...}} or plain values")],
        table: TableArg = None,
        model: ModelArg = None,
        dry_run: Annotated[bool, Field(description="count and show them; change nothing")] = True,
    ) -> Annotated[CallToolResult, WriteResult]:
        """Update every record a filter matches, in one statement."""

        async def make() -> WriteResult:
            m = await state.model_for(table, model)
            params = {"filter": filter, "update": update}
            if dry_run:
                return await preview(m, "BulkUpdate", params)
            out = await state.run(m.node_names["BulkUpdate"], params)
            return WriteResult(dry_run=False, affected=out["updated"], sample=[])

        return await _answer(make, state)

    @server.tool(annotations=change)
    async def delete_records(
        filter: Annotated[dict[str, Any], Field(description="which records")],
        table: TableArg = None,
        model: ModelArg = None,
        dry_run: Annotated[bool, Field(description="count and show them; delete nothing")] = True,
    ) -> Annotated[CallToolResult, WriteResult]:
        """Delete every record a filter matches, in one statement."""

        async def make() -> WriteResult:
            m = await state.model_for(table, model)
            if dry_run:
                return await preview(m, "BulkDelete", {"filter": filter})
            out = await state.run(m.node_names["BulkDelete"], {"filter": filter})
            return WriteResult(dry_run=False, affected=out["deleted"], sample=[])

        return await _answer(make, state)
