"""The REST API: an ASGI application (Starlette) over the generated nodes.

Every endpoint is a short function over one node of a model, run through the engine's
async runtime: the node validates, the engine enforces soft delete, versions and
read-only, and errors come back as problem documents with the engine's codes.
"""

from __future__ import annotations

import base64
import hmac
import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import ConfigurationError, ModelError, UnsupportedError, ValidationError
from ..models import FieldKind, ModelDef
from ..models._model import suggest
from ..nodes import Node, Param
from ._convert import (
    decode_record,
    decode_update,
    dumps,
    json_value,
    parse_json,
    path_value,
    records,
)
from ._health import database_health
from ._problems import Problem, problem_for
from ._run import Runner, tenancy_available

if TYPE_CHECKING:
    from .._dataflow import DataFlow

__all__ = ["TenantSource", "create_app"]

#: Where a request's tenant comes from: a header name, or a function of the request.
TenantSource = str | Callable[[Request], "str | Awaitable[str | None] | None"]

JSON = "application/json"
PROBLEM = "application/problem+json"

#: Paths the API itself serves; a table with one of these names is served with a "_".
RESERVED = frozenset({"health", "openapi.json"})

_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.~-]*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_MAX_TENANT = 255

#: Query parameters of List (and Count, Read, Delete) served over HTTP; ``aggregate`` is
#: a pipeline, which has its own shape and is not a listing.
_LIST_QUERY = ("filter", "order_by", "fields", "limit", "offset", "cursor", "with_total")
_PAGING = ("offset", "cursor")  # replaced by the next page's cursor in its link
_BULK_KINDS = {
    "create": "BulkCreate",
    "update": "BulkUpdate",
    "delete": "BulkDelete",
    "upsert": "BulkUpsert",
}


@dataclass(frozen=True)
class Settings:
    """What the application serves and how; checked once by :func:`create_app`."""

    read_only: bool
    tokens: tuple[bytes, ...]
    tenant: TenantSource | None
    default_limit: int
    max_limit: int
    max_body_bytes: int
    title: str
    version: str


class Resource:
    """One model served at ``/{name}``."""

    def __init__(self, db: DataFlow, model: ModelDef, name: str, read_only: bool) -> None:
        self.model = model
        self.name = name
        self.nodes: dict[str, type[Node]] = {
            kind: db.nodes[type_name] for kind, type_name in model.node_names.items()
        }
        self.writable = not read_only and not model.read_only
        self.key = [model.fields[k] for k in model.primary_key]
        names = [f.name for f in self.key]
        plain = all(_IDENT.fullmatch(n) for n in names) and len(set(names)) == len(names)
        #: the path parameter of each key field (the field name where it is usable)
        self.key_params = names if plain else [f"key{i}" for i in range(len(names))]
        self.item_path = f"/{name}/" + "/".join("{" + p + "}" for p in self.key_params)
        self.float_fields = [n for n, f in model.fields.items() if f.kind is FieldKind.FLOAT]
        #: query parameters per endpoint, from the node declarations
        self.list_query = self.query("List", (*_LIST_QUERY, "include_deleted"))
        self.count_query = self.query("Count", ("filter", "include_deleted"))
        self.read_query = self.query("Read", ("include_deleted",))
        self.delete_query = self.query("Delete", ("hard",))

    def record(self, row: dict[str, Any]) -> dict[str, Any]:
        """A record ready for :func:`dumps`."""
        return records([row], self.float_fields)[0]

    def query(self, kind: str, names: Iterable[str]) -> dict[str, Param]:
        """The declared parameters of a node served as query parameters."""
        declared = self.nodes[kind].parameters()
        return {n: declared[n] for n in names if n in declared}


def _check_int(name: str, value: Any, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ConfigurationError(
            f"api(): {name} must be an integer from {minimum} to {maximum}, got {value!r}",
            details={"option": name},
        )
    return value


def _tokens(token: str | Sequence[str] | None) -> tuple[bytes, ...]:
    if token is None:
        return ()
    given = [token] if isinstance(token, str) else token
    if isinstance(given, str | bytes) or not isinstance(given, Sequence) or not given:
        raise ConfigurationError(
            "api(): token must be a string, or a non-empty list of strings (several tokens "
            "are accepted while one is being rotated)",
            details={"option": "token"},
        )
    out = []
    for t in given:
        if not isinstance(t, str) or not _TOKEN_CHARS.fullmatch(t) or len(t) < 8:
            raise ConfigurationError(
                "api(): a bearer token must be at least 8 characters of A-Z a-z 0-9 - . _ ~ "
                "+ / (then = padding), as RFC 6750 allows",
                details={"option": "token"},
            )
        out.append(t.encode("ascii"))
    return tuple(out)


def _tenant_source(tenant: Any) -> TenantSource | None:
    if tenant is None:
        return None
    if isinstance(tenant, str):
        if not _HEADER_NAME.fullmatch(tenant):
            raise ConfigurationError(
                f"api(): tenant must be a header name such as 'X-Tenant-ID', or a function "
                f"of the request; got {tenant[:80]!r}",
                details={"option": "tenant"},
            )
    elif not callable(tenant):
        raise ConfigurationError(
            "api(): tenant must be a header name such as 'X-Tenant-ID', or a function "
            f"taking the request and returning the tenant id; got {type(tenant).__name__}",
            details={"option": "tenant"},
        )
    if not tenancy_available():
        raise UnsupportedError(
            "api(): multi-tenancy is not available in this release of the engine "
            "(its runtime takes no tenant_id); remove the tenant option",
            details={"option": "tenant"},
        )
    return tenant  # type: ignore[no-any-return]


def _selected(
    db: DataFlow, models: Sequence[str] | None, tables: Sequence[str] | None
) -> list[ModelDef]:
    def names(option: str, value: Any) -> list[str]:
        if isinstance(value, str) or not isinstance(value, Sequence) or not value:
            raise ConfigurationError(
                f"api(): {option} must be a non-empty list of names, e.g. {option}=['users']",
                details={"option": option},
            )
        if not all(isinstance(v, str) and v for v in value):
            raise ConfigurationError(
                f"api(): every entry of {option} must be a non-empty string",
                details={"option": option},
            )
        return list(dict.fromkeys(value))

    if models is not None and tables is not None:
        raise ConfigurationError(
            "api(): give models or tables, not both", details={"option": "tables"}
        )
    if models is not None:
        return [db.get_model(n) for n in names("models", models)]
    registered = [db.get_model(n) for n in db.list_models()]
    if tables is not None:
        by_table = {m.table_name: m for m in registered}
        out = []
        for table in names("tables", tables):
            if table not in by_table:
                close = suggest(table, by_table)
                hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
                raise ModelError(
                    f"api(): no registered model has the table {table!r}{hint} (register it "
                    "first: db.register_schema_as_models(tables=[...]))",
                    code="DF-MODEL-UNKNOWN",
                    details={"table": table, "suggestions": close},
                )
            out.append(by_table[table])
        return out
    if not registered:
        raise ConfigurationError(
            "api(): this DataFlow has no models to serve; declare some with @db.model or "
            "register existing tables with db.register_schema_as_models()",
            details={"option": "models"},
        )
    return registered


def _resource_names(models: Sequence[ModelDef]) -> list[str]:
    """Each model's path segment: its table name when that is URL-safe, else the
    snake_case model name; reserved and repeated names get a suffix."""
    out: list[str] = []
    for m in models:
        base = m.table_name
        if not _SEGMENT.fullmatch(base):
            base = re.sub(r"(?<!^)(?=[A-Z])", "_", m.name).lower()
        if base in RESERVED:
            base += "_"
        name, n = base, 2
        while name in out:
            name, n = f"{base}{n}", n + 1
        out.append(name)
    return out


def create_app(db: DataFlow, **options: Any) -> Starlette:
    """The REST API over ``db``'s models; the options are :meth:`DataFlow.api`'s.

    Raises:
        ConfigurationError: an unknown option (with the closest name) or an invalid value.
    """
    known = [p for p in inspect.signature(_create_app).parameters if p != "db"]
    for key in options:
        if key not in known:
            close = suggest(key, known)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigurationError(
                f"api(): unknown option {key!r}{hint} (options: {', '.join(known)})",
                details={"option": key, "suggestions": close},
            )
    return _create_app(db, **options)


def _create_app(
    db: DataFlow,
    *,
    models: Sequence[str] | None = None,
    tables: Sequence[str] | None = None,
    token: str | Sequence[str] | None = None,
    read_only: bool | None = None,
    tenant: TenantSource | None = None,
    default_limit: int | None = None,
    max_limit: int = 1000,
    max_body_bytes: int = 10 * 1024 * 1024,
    title: str = "DataFlow API",
    version: str | None = None,
) -> Starlette:
    from .. import __version__
    from ._openapi import openapi_document

    db._check_open()
    if read_only is not None and not isinstance(read_only, bool):
        raise ConfigurationError(
            f"api(): read_only must be True, False or None, got {read_only!r}",
            details={"option": "read_only"},
        )
    if not isinstance(title, str) or not title:
        raise ConfigurationError("api(): title must be a non-empty string")
    if version is not None and (not isinstance(version, str) or not version):
        raise ConfigurationError("api(): version must be a non-empty string")
    max_limit = _check_int("max_limit", max_limit, 1, 1_000_000)
    settings = Settings(
        read_only=bool(read_only) or db.settings.read_only,
        tokens=_tokens(token),
        tenant=_tenant_source(tenant),
        default_limit=(
            min(100, max_limit)
            if default_limit is None
            else _check_int("default_limit", default_limit, 1, max_limit)
        ),
        max_limit=max_limit,
        max_body_bytes=_check_int("max_body_bytes", max_body_bytes, 1024, 2**40),
        title=title,
        version=version or __version__,
    )
    selected = _selected(db, models, tables)
    tenanted = [m.name for m in selected if m.multi_tenant]
    if tenanted and settings.tenant is None:
        raise ConfigurationError(
            f"api(): {', '.join(tenanted)} {'is' if len(tenanted) == 1 else 'are'} "
            "multi-tenant: say where a request's tenant comes from, e.g. "
            "api(tenant='X-Tenant-ID') (a header) or api(tenant=lambda request: ...)",
            details={"option": "tenant", "models": tenanted},
        )
    resources = [
        Resource(db, m, name, settings.read_only)
        for m, name in zip(selected, _resource_names(selected), strict=True)
    ]
    api = _Api(db, settings, resources)
    document = dumps(openapi_document(settings, resources))
    routes: list[BaseRoute] = [
        Route("/health", api.endpoint(api.health, tenant=False), methods=["GET"]),
        Route(
            "/openapi.json",
            lambda request: Response(document, media_type=JSON),
            methods=["GET"],
        ),
    ]
    for r in resources:
        routes += api.routes(r)
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_exception},  # type: ignore[dict-item]
    )
    app.state.dataflow = db
    app.state.openapi = document
    if settings.tokens:
        app.add_middleware(_BearerToken, tokens=settings.tokens, open_paths={"/health"})
    return app


async def _http_exception(request: Request, exc: HTTPException) -> Response:
    """Routing's own answers (no such path, method not allowed) as problem documents."""
    code = {404: "DF-API-NOT-FOUND", 405: "DF-API-METHOD-NOT-ALLOWED"}.get(
        exc.status_code, "DF-API-HTTP"
    )
    if exc.status_code == 404:
        detail = f"no endpoint at {request.url.path}; the endpoints are listed at /openapi.json"
    elif exc.status_code == 405:
        detail = (
            f"{request.method} is not allowed on {request.url.path}; "
            f"allowed: {(exc.headers or {}).get('Allow', '')}"
        )
    else:
        detail = str(exc.detail)
    problem = Problem(exc.status_code, code, detail, headers=dict(exc.headers or {}))
    return _problem_response(problem, request.url.path)


def _problem_response(exc: BaseException, path: str) -> Response:
    status, headers, body = problem_for(exc, path)
    return Response(body, status_code=status, headers=headers, media_type=PROBLEM)


class _BearerToken:
    """ASGI middleware: ``Authorization: Bearer <token>`` on every request but the open
    paths, compared in constant time with every accepted token; else a 401 problem."""

    def __init__(self, app: ASGIApp, tokens: tuple[bytes, ...], open_paths: set[str]) -> None:
        self.app = app
        self.tokens = tokens
        self.open_paths = open_paths

    def allowed(self, header: bytes) -> bool:
        scheme, _, given = header.strip().partition(b" ")
        given = given.strip()
        ok = False
        for token in self.tokens:  # every token compared: the time says nothing
            ok |= hmac.compare_digest(given, token)
        return scheme.lower() == b"bearer" and ok

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        root = str(scope.get("root_path", ""))
        if root and path.startswith(root):  # mounted under a prefix
            path = path[len(root) :]
        if scope["type"] != "http" or path in self.open_paths:
            await self.app(scope, receive, send)
            return
        header = b""
        for name, value in scope.get("headers") or ():
            if name == b"authorization":
                header = value
                break
        if self.allowed(header):
            await self.app(scope, receive, send)
            return
        detail = (
            "this API needs a bearer token: send Authorization: Bearer <token>"
            if not header
            else "the bearer token is not valid; send Authorization: Bearer <token>"
        )
        response = _problem_response(
            Problem(401, "DF-API-UNAUTHORIZED", detail), str(scope.get("path", ""))
        )
        await response(scope, receive, send)


Handler = Callable[[Request, "str | None"], Awaitable[Response]]


class _Api:
    """The endpoints: request in, one node run, JSON (or a problem) out."""

    def __init__(self, db: DataFlow, settings: Settings, resources: list[Resource]) -> None:
        self.db = db
        self.settings = settings
        self.resources = resources
        self.runner = Runner(db)

    # -- plumbing ----------------------------------------------------------------------------

    def endpoint(self, handler: Handler, *, tenant: bool = True) -> Callable[..., Any]:
        async def run(request: Request) -> Response:
            try:
                bound = await self.tenant_of(request) if tenant else None
                return await handler(request, bound)
            except Exception as exc:  # every failure is a problem document
                return _problem_response(exc, request.url.path)

        return run

    async def tenant_of(self, request: Request) -> str | None:
        source = self.settings.tenant
        if source is None:
            return None
        if isinstance(source, str):
            value: Any = request.headers.get(source)
            where = f"the {source} header"
        else:
            value = source(request)
            if inspect.isawaitable(value):
                value = await value
            where = "the request"
        if value is None or value == "":
            raise Problem(
                400,
                "DF-API-TENANT-REQUIRED",
                f"this API serves several tenants: name yours in {where}",
                details={"source": where},
            )
        if (
            not isinstance(value, str)
            or len(value) > _MAX_TENANT
            or not value.isprintable()
            or value != value.strip()
        ):
            raise Problem(
                400,
                "DF-API-TENANT-INVALID",
                f"the tenant id from {where} must be printable text of at most "
                f"{_MAX_TENANT} characters without surrounding spaces",
                details={"source": where},
            )
        return value

    async def body(self, request: Request) -> Any:
        """The request's JSON body, strictly parsed, at most ``max_body_bytes``."""
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != JSON and not (media.startswith("application/") and media.endswith("+json")):
            raise Problem(
                415,
                "DF-API-MEDIA-TYPE",
                f"send the body as JSON with Content-Type: application/json (got "
                f"{media[:80] or 'no Content-Type'})",
            )
        limit = self.settings.max_body_bytes
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            raise self.too_large(limit)
        chunks = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise self.too_large(limit)
            chunks.append(chunk)
        data = b"".join(chunks)
        if not data.strip():
            raise Problem(400, "DF-API-MALFORMED-JSON", "the request body is empty; send JSON")
        return parse_json(data, "the request body")

    @staticmethod
    def too_large(limit: int) -> Problem:
        return Problem(
            413,
            "DF-API-BODY-TOO-LARGE",
            f"the request body is larger than {limit:,} bytes; send fewer records per request",
            details={"max_body_bytes": limit},
        )

    @staticmethod
    def json(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
        return Response(dumps(payload), status_code=status, headers=headers, media_type=JSON)

    def query(self, request: Request, accepted: Mapping[str, Param]) -> dict[str, Any]:
        """Query parameters typed by their node declaration; unknown or repeated names
        are refused (with the closest names)."""
        out: dict[str, Any] = {}
        for key, text in request.query_params.multi_items():
            param = accepted.get(key)
            if param is None:
                close = suggest(key, accepted)
                hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
                known = ", ".join(accepted) or "none"
                raise ValidationError(
                    f"unknown query parameter {key[:80]!r}{hint} (accepted: {known})",
                    code="DF-PARAM-UNKNOWN",
                    details={"param": key[:80], "suggestions": close},
                )
            if key in out:
                raise ValidationError(
                    f"the query parameter {key!r} is given twice; give it once",
                    code="DF-PARAM-DUPLICATE",
                    details={"param": key},
                )
            out[key] = _query_value(param, text)
        return out

    def key(self, resource: Resource, request: Request) -> Any:
        values = {
            f.name: path_value(f, request.path_params[p])
            for f, p in zip(resource.key, resource.key_params, strict=True)
        }
        return next(iter(values.values())) if len(values) == 1 else values

    # -- routes ------------------------------------------------------------------------------

    def routes(self, r: Resource) -> list[BaseRoute]:
        """One route per path, dispatching on the method (so a 405 lists them all)."""

        def ep(handler: Callable[[Resource, Request, str | None], Awaitable[Response]]) -> Any:
            async def bound(request: Request, tenant: str | None) -> Response:
                return await handler(r, request, tenant)

            return self.endpoint(bound)

        refuse = self.endpoint(self.refuse_write(r), tenant=False)

        def write(handler: Callable[[Resource, Request, str | None], Awaitable[Response]]) -> Any:
            return ep(handler) if r.writable else refuse

        base = f"/{r.name}"
        paths: dict[str, dict[str, Any]] = {
            base: {"GET": ep(self.list_records), "POST": write(self.create_record)},
            f"{base}/count": {"GET": ep(self.count_records)},
        }
        for action in _BULK_KINDS:
            paths[f"{base}/bulk/{action}"] = {"POST": write(self.bulk(action))}
        if r.key:
            paths[r.item_path] = {
                "GET": ep(self.read_record),
                "PATCH": write(self.update_record),
                "DELETE": write(self.delete_record),
            }
        return [_route(path, handlers) for path, handlers in paths.items()]

    def refuse_write(self, r: Resource) -> Handler:
        async def refuse(request: Request, tenant: str | None) -> Response:
            if r.model.read_only:
                reason = r.model.read_only_reason or "its table has no primary key"
                detail = f"{r.name} is read-only: {reason}"
            else:
                detail = f"this API is read-only; {request.method} {request.url.path} writes"
            raise Problem(403, "DF-READ-ONLY", detail, details={"resource": r.name})

        return refuse

    async def health(self, request: Request, tenant: str | None) -> Response:
        return self.json(await database_health(self.db))

    async def list_records(self, r: Resource, request: Request, tenant: str | None) -> Response:
        params = self.query(request, r.list_query)
        limit = params.setdefault("limit", self.settings.default_limit)
        if isinstance(limit, int) and limit > self.settings.max_limit:
            raise ValidationError(
                f"limit must be at most {self.settings.max_limit}; follow next_cursor for "
                "more records",
                code="DF-PARAM-RANGE",
                details={"param": "limit", "maximum": self.settings.max_limit},
            )
        out = await self.runner.run(r.nodes["List"], params, tenant)
        cursor = out["next_cursor"]
        headers = None
        if cursor is not None:
            kept = [kv for kv in request.query_params.multi_items() if kv[0] not in _PAGING]
            query = urlencode([*kept, ("cursor", cursor)])
            headers = {"Link": f'<{request.url.path}?{query}>; rel="next"'}
        payload = {
            "records": records(out["records"], r.float_fields),
            "count": out["count"],
            "total": out["total"],
            "next_cursor": cursor,
        }
        return self.json(payload, headers=headers)

    async def count_records(self, r: Resource, request: Request, tenant: str | None) -> Response:
        params = self.query(request, r.count_query)
        out = await self.runner.run(r.nodes["Count"], params, tenant)
        return self.json({"count": out["count"]})

    async def create_record(self, r: Resource, request: Request, tenant: str | None) -> Response:
        self.query(request, {})
        record = await self.body(request)
        _object(record, "the request body (the record to create)")
        out = await self.runner.run(r.nodes["Create"], decode_record(r.model, record), tenant)
        headers = {}
        if r.key:
            headers["Location"] = self.location(r, out)
        _etag(r, out, headers)
        return self.json(r.record(out), 201, headers)

    def location(self, r: Resource, row: Mapping[str, Any]) -> str:
        """The URL of a record: one percent-encoded segment per key field."""
        parts = [quote(_segment(row[f.name]), safe="") for f in r.key]
        return f"/{r.name}/" + "/".join(parts)

    async def read_record(self, r: Resource, request: Request, tenant: str | None) -> Response:
        params = self.query(request, r.read_query)
        params["id"] = self.key(r, request)
        out = dict(await self.runner.run(r.nodes["Read"], params, tenant))
        out.pop("found", None)
        headers: dict[str, str] = {}
        _etag(r, out, headers)
        return self.json(r.record(out), headers=headers)

    async def update_record(self, r: Resource, request: Request, tenant: str | None) -> Response:
        self.query(request, {})
        key = self.key(r, request)
        doc = await self.body(request)
        _object(doc, "the request body (the fields to change)")
        params: dict[str, Any] = {"id": key}
        if r.model.versioned:
            doc = dict(doc)
            params["version"] = _expected_version(doc.pop("version", None), request)
        params["fields"] = decode_update(r.model, doc)
        out = dict(await self.runner.run(r.nodes["Update"], params, tenant))
        out.pop("updated", None)
        headers: dict[str, str] = {}
        _etag(r, out, headers)
        return self.json(r.record(out), headers=headers)

    async def delete_record(self, r: Resource, request: Request, tenant: str | None) -> Response:
        params = self.query(request, r.delete_query)
        params["id"] = self.key(r, request)
        out = await self.runner.run(r.nodes["Delete"], params, tenant)
        return self.json({"id": out["id"], "deleted": True})

    def bulk(self, action: str) -> Callable[[Resource, Request, str | None], Awaitable[Response]]:
        kind = _BULK_KINDS[action]

        async def handler(r: Resource, request: Request, tenant: str | None) -> Response:
            self.query(request, {})
            params = await self.body(request)
            _object(params, f"the request body (the parameters of {kind})")
            params = dict(params)
            if isinstance(params.get("data"), list):
                params["data"] = [
                    decode_record(r.model, rec, f"data[{i}]: ")
                    for i, rec in enumerate(params["data"])
                ]
            if "update" in params:
                params["update"] = decode_update(r.model, params["update"])
            out = await self.runner.run(r.nodes[kind], params, tenant)
            return self.json(out, 201 if kind == "BulkCreate" else 200)

        return handler


def _route(path: str, handlers: dict[str, Any]) -> Route:
    if "GET" in handlers:
        handlers = {**handlers, "HEAD": handlers["GET"]}
    if len(handlers) == 1:
        return Route(path, next(iter(handlers.values())), methods=list(handlers))

    async def dispatch(request: Request) -> Response:
        response: Response = await handlers[request.method](request)
        return response

    return Route(path, dispatch, methods=list(handlers))


def _segment(value: Any) -> str:
    """A key value as a path segment (bytes as unpadded base64url, as paths take them)."""
    if isinstance(value, bytes):
        return base64.urlsafe_b64encode(value).decode("ascii").rstrip("=")
    return str(json_value(value))


def _object(value: Any, what: str) -> None:
    if not isinstance(value, dict):
        raise ValidationError(
            f"{what} must be a JSON object, got {_json_type(value)}",
            code="DF-PARAM-TYPE",
            details={"expected": "object", "given": _json_type(value)},
        )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _etag(r: Resource, row: Mapping[str, Any], headers: dict[str, str]) -> None:
    if r.model.versioned and isinstance(row.get("version"), int):
        headers["ETag"] = f'"{row["version"]}"'


_ETAG = re.compile(r'(?:W/)?"?(\d{1,18})"?')


def _expected_version(given: Any, request: Request) -> int:
    """The version a PATCH expects: ``"version"`` in the body, or ``If-Match``."""
    header = request.headers.get("if-match")
    if header is not None:
        match = _ETAG.fullmatch(header.strip())
        if match is None:
            raise ValidationError(
                'If-Match must carry the version you read, e.g. If-Match: "3"',
                code="DF-PARAM-TYPE",
                details={"param": "If-Match"},
            )
        from_header = int(match.group(1))
        if given is not None and given != from_header:
            raise ValidationError(
                "the body's version and If-Match differ; send one of them",
                code="DF-PARAM-CONFLICT",
                details={"param": "version"},
            )
        return from_header
    if given is None:
        raise Problem(
            428,
            "DF-API-VERSION-REQUIRED",
            'this model is versioned: send the version you read, as If-Match: "3" or as '
            '"version": 3 in the body',
        )
    if isinstance(given, bool) or not isinstance(given, int):
        raise ValidationError(
            f"version must be an integer, got {_json_type(given)}",
            code="DF-PARAM-TYPE",
            details={"param": "version"},
        )
    return given


_BOOL_TEXT = {"true": True, "1": True, "false": False, "0": False}
_INT = re.compile(r"-?\d{1,19}")


def _query_value(param: Param, text: str) -> Any:
    """A query parameter's text as the value its node parameter declares."""
    name, kind = param.name, param.type
    if kind in ("filter", "update", "dict"):
        return parse_json(text, f"the {name} query parameter")
    if kind == "order_by":
        if text.lstrip().startswith("["):
            return parse_json(text, f"the {name} query parameter")
        return [part.strip() for part in text.split(",") if part.strip()]
    if kind == "list[str]":
        return [part.strip() for part in text.split(",") if part.strip()]
    if kind == "int":
        if not _INT.fullmatch(text.strip()):
            raise ValidationError(
                f"the query parameter {name!r} must be an integer, got {text[:40]!r}",
                code="DF-PARAM-TYPE",
                details={"param": name, "expected": "int"},
            )
        return int(text)
    if kind == "bool":
        value = _BOOL_TEXT.get(text.strip().lower())
        if value is None:
            raise ValidationError(
                f"the query parameter {name!r} must be true or false, got {text[:40]!r}",
                code="DF-PARAM-TYPE",
                details={"param": name, "expected": "bool"},
            )
        return value
    return text
