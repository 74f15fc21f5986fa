"""``dataflow api``: serve a database's tables as a REST API (OpenAPI 3.1) with uvicorn.

Options come from the command line, then ``DATAFLOW_*`` variables, then the defaults.
It fails closed: an unknown ``DATAFLOW_API_*`` variable or a value that is not valid
stops it before it serves anything (exit 2). The database is opened in existing-schema
mode (never DDL) and, unless ``--allow-writes``, read-only.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import click

__all__ = ["ApiConfig", "api_command", "parse_api_config"]

#: Exit statuses, as the other data commands use them.
EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 1, 2, 3

#: variable -> option name
ENV = {
    "DATAFLOW_DATABASE_URL": "url",
    "DATAFLOW_API_HOST": "host",
    "DATAFLOW_API_PORT": "port",
    "DATAFLOW_API_TABLES": "tables",
    "DATAFLOW_API_TOKEN": "token",
    "DATAFLOW_API_ALLOW_WRITES": "allow_writes",
    "DATAFLOW_API_TENANT_HEADER": "tenant_header",
    "DATAFLOW_API_DEFAULT_LIMIT": "default_limit",
    "DATAFLOW_API_MAX_LIMIT": "max_limit",
    "DATAFLOW_API_MAX_BODY_BYTES": "max_body_bytes",
    "DATAFLOW_API_STATEMENT_TIMEOUT": "statement_timeout",
    "DATAFLOW_API_LOG_LEVEL": "log_level",
    "DATAFLOW_APPLICATION_ID": "application_id",
}
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


@dataclass(frozen=True)
class ApiConfig:
    """How ``dataflow api`` serves (see docs/rest.md for each option)."""

    url: str
    host: str = "127.0.0.1"
    port: int = 8000
    tables: tuple[str, ...] | None = None
    token: str | None = None
    allow_writes: bool = False
    tenant_header: str | None = None
    default_limit: int = 100
    max_limit: int = 1000
    max_body_bytes: int = 10 * 1024 * 1024
    statement_timeout: float = 30.0
    log_level: str = "warning"
    application_id: str | None = None


class ConfigError(click.UsageError):
    """An option or variable that is unknown or not valid (exit 2)."""


def _label(name: str) -> str:
    var = next((k for k, v in ENV.items() if v == name), "")
    flag = "--url" if name == "url" else f"--{name.replace('_', '-')}"
    return f"{flag}{' / ' + var if var else ''}"


def _int(name: str, text: str, low: int, high: int) -> int:
    stripped = text.strip()
    if not stripped.lstrip("-").isdigit() or not low <= int(stripped) <= high:
        raise ConfigError(f"{_label(name)} must be an integer from {low} to {high}, got {text!r}")
    return int(stripped)


def _float(name: str, text: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise ConfigError(f"{_label(name)} must be a number from {low:g} to {high:g}, got {text!r}")
    return value


def _bool(name: str, text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{_label(name)} must be true or false, got {text!r}")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_api_config(given: Mapping[str, Any], environ: Mapping[str, str]) -> ApiConfig:
    """Options given on the command line (None when absent) over ``DATAFLOW_*``
    variables over the defaults.

    Raises:
        click.UsageError: an unknown ``DATAFLOW_API_*`` variable, or a value that is not
            valid (the server must not start half-configured).
    """
    unknown = sorted(k for k in environ if k.startswith("DATAFLOW_API_") and k not in ENV)
    if unknown:
        known = ", ".join(k for k in ENV if k.startswith("DATAFLOW_API_"))
        raise ConfigError(f"unknown variable(s) {', '.join(unknown)}; known: {known}")
    text: dict[str, str] = {}
    for var, name in ENV.items():
        if var in environ:
            text[name] = environ[var]
    flags: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    for name, value in flags.items():
        if not isinstance(value, bool):
            text[name] = str(value)
    url = text.get("url", "").strip()
    if not url:
        raise ConfigError("name the database: --url URL or DATAFLOW_DATABASE_URL")
    allow_writes = flags.get("allow_writes")
    if allow_writes is None and "allow_writes" in text:
        allow_writes = _bool("allow_writes", text["allow_writes"])
    tables = None
    if text.get("tables", "").strip():
        tables = tuple(dict.fromkeys(t.strip() for t in text["tables"].split(",") if t.strip()))
    max_limit = _int("max_limit", text.get("max_limit", "1000"), 1, 1_000_000)
    config = ApiConfig(
        url=url,
        host=text.get("host", "127.0.0.1").strip() or "127.0.0.1",
        port=_int("port", text.get("port", "8000"), 1, 65535),
        tables=tables,
        token=text.get("token") or None,
        allow_writes=bool(allow_writes),
        tenant_header=text.get("tenant_header") or None,
        default_limit=_int(
            "default_limit", text.get("default_limit", str(min(100, max_limit))), 1, max_limit
        ),
        max_limit=max_limit,
        max_body_bytes=_int("max_body_bytes", text.get("max_body_bytes", "10485760"), 1024, 2**40),
        statement_timeout=_float(
            "statement_timeout", text.get("statement_timeout", "30"), 0.1, 86_400
        ),
        log_level=text.get("log_level", "warning").strip().lower(),
        application_id=text.get("application_id") or None,
    )
    if config.log_level not in LOG_LEVELS:
        raise ConfigError(
            f"{_label('log_level')} must be one of {', '.join(LOG_LEVELS)}, "
            f"got {config.log_level!r}"
        )
    if not _loopback(config.host) and not config.token:
        raise ConfigError(
            f"serving beyond loopback ({config.host}) needs a bearer token: --token or "
            "DATAFLOW_API_TOKEN"
        )
    return config


def _fail(exc: Any) -> SystemExit:
    """One line on standard error, and the exit status for an engine error."""
    from dataflow_engine.errors import ConfigurationError, ConnectError, DatabaseError

    click.echo(f"Error: [{exc.code}] {exc.message}", err=True)
    if isinstance(exc, ConfigurationError):
        return SystemExit(EXIT_USAGE)
    if isinstance(exc, ConnectError) or (
        isinstance(exc, DatabaseError) and exc.code in ("DF-DB-AUTH", "DF-DB-UNKNOWN-DATABASE")
    ):
        return SystemExit(EXIT_UNREACHABLE)
    if isinstance(exc, DatabaseError) and exc.code.startswith("DF-DB-DRIVER"):
        return SystemExit(EXIT_UNREACHABLE)
    return SystemExit(EXIT_FAILED)


def build_app(config: ApiConfig) -> tuple[Any, Any]:
    """The DataFlow (existing-schema mode, read-only unless writes are allowed) with its
    tables registered, and the ASGI app over them.

    Raises:
        DataFlowError: the database cannot be reached, a table is missing, an option is
            refused by the API.
    """
    from dataflow_engine import DataFlow, SchemaError

    db = DataFlow(
        config.url,
        read_only=not config.allow_writes,
        existing_schema_mode=True,
        command_timeout=config.statement_timeout,
        application_id=config.application_id,
    )
    try:
        found = db.register_schema_as_models(tables=list(config.tables) if config.tables else None)
        missing = [e for e in found["errors"] if e["code"] == "DF-SCHEMA-TABLE-MISSING"]
        if missing:
            raise SchemaError(
                "; ".join(e["message"] for e in missing),
                code="DF-SCHEMA-TABLE-MISSING",
                details={"tables": [e["table"] for e in missing]},
            )
        if not found["registered_models"]:
            raise SchemaError(
                "the database has no table to serve"
                + (f" ({found['errors'][0]['message']})" if found["errors"] else ""),
                code="DF-SCHEMA-TABLE-MISSING",
            )
        app = db.api(
            token=config.token,
            read_only=not config.allow_writes,
            tenant=config.tenant_header,
            default_limit=config.default_limit,
            max_limit=config.max_limit,
            max_body_bytes=config.max_body_bytes,
        )
    except BaseException:
        db.close()
        raise
    return db, app


@click.command("api")
@click.option("--url", metavar="URL", help="the database URL (DATAFLOW_DATABASE_URL)")
@click.option("--host", metavar="H", help="the address to listen on (DATAFLOW_API_HOST; 127.0.0.1)")
@click.option("--port", metavar="N", help="the port (DATAFLOW_API_PORT; 8000)")
@click.option(
    "--tables",
    metavar="T,...",
    help="serve only these tables (DATAFLOW_API_TABLES; default: every table)",
)
@click.option(
    "--token",
    help="the bearer token every request but /health must carry (DATAFLOW_API_TOKEN); "
    "required beyond loopback",
)
@click.option(
    "--read-only/--allow-writes",
    "read_only",
    default=None,
    help="refuse writes (the default) or serve the write endpoints (DATAFLOW_API_ALLOW_WRITES)",
)
@click.option(
    "--tenant-header",
    metavar="NAME",
    help="the header naming a request's tenant, e.g. X-Tenant-ID (DATAFLOW_API_TENANT_HEADER)",
)
@click.option(
    "--default-limit", metavar="N", help="records in a listing without limit (100, or the max)"
)
@click.option("--max-limit", metavar="N", help="the most records a listing may ask for (1000)")
@click.option("--max-body-bytes", metavar="N", help="the largest request body (10485760)")
@click.option(
    "--statement-timeout", metavar="N", help="seconds before a statement is cancelled (30)"
)
@click.option("--log-level", help=f"uvicorn's log level: {', '.join(LOG_LEVELS)} (warning)")
@click.option("--application-id", help="the model registry's application id")
@click.option(
    "--print-openapi",
    is_flag=True,
    help="write the OpenAPI document to standard output and exit (serves nothing)",
)
def api_command(read_only: bool | None, print_openapi: bool, **given: Any) -> None:
    """Serve the database's tables as a REST API with an OpenAPI 3.1 document.

    Every table (or those of --tables) is discovered and registered as a model without
    DDL; each gets list, get, create, update, delete, count and bulk endpoints. Safe by
    default: read-only, loopback only. GET /openapi.json describes the endpoints; GET
    /health answers whether the database does.
    """
    import os

    given["allow_writes"] = None if read_only is None else not read_only
    config = parse_api_config(given, os.environ)
    try:
        import uvicorn
    except ImportError as exc:
        click.echo(
            f"Error: the REST API needs the 'api' extra: pip install 'dataflow-engine[api]' "
            f"({exc})",
            err=True,
        )
        raise SystemExit(EXIT_FAILED) from None
    from dataflow_engine import DataFlowError, run_on_engine_loop

    try:
        db, app = build_app(config)
    except DataFlowError as exc:
        raise _fail(exc) from None
    try:
        if print_openapi:
            click.echo(app.state.openapi.decode("utf-8"))
            return
        models = db.list_models()
        mode = "read-only" if not config.allow_writes else "read-write"
        click.echo(
            f"dataflow api: {len(models)} table(s) of {db.settings.url.redacted()} at "
            f"http://{config.host}:{config.port} ({mode}; OpenAPI at /openapi.json)",
            err=True,
        )
        server = uvicorn.Server(
            uvicorn.Config(app, host=config.host, port=config.port, log_level=config.log_level)
        )
        # On the engine's own loop: every request reaches the database without a thread hop.
        run_on_engine_loop(server.serve)
        if not server.started:  # the port is taken, or the address is not this machine's
            click.echo(f"Error: cannot listen on {config.host}:{config.port}", err=True)
            raise SystemExit(EXIT_FAILED)
    except KeyboardInterrupt:
        pass
    finally:
        db.close()
