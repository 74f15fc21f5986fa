"""Server options from the command line and ``DATAFLOW_*`` variables; fails closed."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dataflow_engine.errors import ConfigurationError

__all__ = ["ServerConfig", "parse_config"]


@dataclass(frozen=True)
class ServerConfig:
    """How the MCP server runs.

    Attributes:
        database_url: the database; ``DATAFLOW_DATABASE_URL`` when None.
        allow_writes: expose the write tools and open the database writable (default off:
            read-only plus existing-schema mode, enforced by the engine and the database).
        max_rows: the most records one answer carries; the agent cannot raise it.
        max_bytes: the most bytes of records one answer carries.
        statement_timeout: seconds a statement may run before it is cancelled.
        transport: ``stdio`` or ``http`` (streamable HTTP).
        host, port: where ``http`` listens.
        token: the bearer token ``http`` requires (required when host is not loopback).
        stateless: ``http`` keeps no session, so instances can sit behind a load balancer.
        application_id: the model registry's application id.
    """

    database_url: str | None = None
    allow_writes: bool = False
    max_rows: int = 100
    max_bytes: int = 32_000
    statement_timeout: float = 30.0
    transport: str = "stdio"
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    stateless: bool = False
    application_id: str | None = None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigurationError(f"dataflow-mcp: {message}", code="DF-CONFIG-INVALID")


def _label(name: str) -> str:
    """``max_rows`` -> ``max_rows (--max-rows / DATAFLOW_MCP_MAX_ROWS)``."""
    var = next((k for k, v in _ENV.items() if v == name), "")
    return f"{name} (--{name.replace('_', '-')}{' / ' + var if var else ''})"


def _bool(name: str, text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off", ""):
        return False
    raise ConfigurationError(
        f"{_label(name)} must be true or false, got {text!r}",
        code="DF-CONFIG-ENV",
        details={"variable": name},
    )


def _number(name: str, text: str, kind: type[int] | type[float], minimum: float) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise ConfigurationError(
            f"{_label(name)} must be a number, got {text!r}",
            code="DF-CONFIG-INVALID",
            details={"option": name},
        ) from None
    if value < minimum:
        raise ConfigurationError(
            f"{_label(name)} must be at least {minimum}, got {value}",
            code="DF-CONFIG-INVALID",
            details={"option": name},
        )
    return value


_ENV = {
    "DATAFLOW_DATABASE_URL": "database_url",
    "DATAFLOW_MCP_ALLOW_WRITES": "allow_writes",
    "DATAFLOW_MCP_MAX_ROWS": "max_rows",
    "DATAFLOW_MCP_MAX_BYTES": "max_bytes",
    "DATAFLOW_MCP_STATEMENT_TIMEOUT": "statement_timeout",
    "DATAFLOW_MCP_TRANSPORT": "transport",
    "DATAFLOW_MCP_HOST": "host",
    "DATAFLOW_MCP_PORT": "port",
    "DATAFLOW_MCP_TOKEN": "token",
    "DATAFLOW_MCP_STATELESS": "stateless",
    "DATAFLOW_APPLICATION_ID": "application_id",
}


def parse_config(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> ServerConfig:
    """Options from ``argv`` over ``DATAFLOW_*`` variables over the defaults.

    Raises:
        ConfigurationError: an unknown option, or a value that is not valid (the server
            must not start half-configured).
    """
    env = os.environ if environ is None else environ
    unknown = sorted(k for k in env if k.startswith("DATAFLOW_MCP_") and k not in _ENV)
    if unknown:
        raise ConfigurationError(
            f"unknown variable(s) {', '.join(unknown)}; known: "
            + ", ".join(k for k in _ENV if k.startswith("DATAFLOW_MCP_")),
            code="DF-CONFIG-ENV",
            details={"variables": unknown},
        )
    values: dict[str, object] = {}
    for var, key in _ENV.items():
        if var in env:
            values[key] = env[var]
    parser = _Parser(prog="dataflow-mcp", description="DataFlow's MCP server")
    parser.add_argument("--database-url")
    parser.add_argument("--allow-writes", action="store_true", default=None)
    parser.add_argument("--max-rows")
    parser.add_argument("--max-bytes")
    parser.add_argument("--statement-timeout")
    parser.add_argument("--transport", choices=("stdio", "http"))
    parser.add_argument("--host")
    parser.add_argument("--port")
    parser.add_argument("--token")
    parser.add_argument("--stateless", action="store_true", default=None)
    parser.add_argument("--application-id")
    args = parser.parse_args(list(argv or []))
    for key, value in vars(args).items():
        if value is not None:
            values[key] = value
    config = ServerConfig(
        database_url=_text(values.get("database_url")),
        allow_writes=_flag("allow_writes", values.get("allow_writes")),
        max_rows=int(_number("max_rows", str(values.get("max_rows", 100)), int, 1)),
        max_bytes=int(_number("max_bytes", str(values.get("max_bytes", 32_000)), int, 1_000)),
        statement_timeout=_number(
            "statement_timeout", str(values.get("statement_timeout", 30.0)), float, 0.1
        ),
        transport=str(values.get("transport", "stdio")),
        host=str(values.get("host", "127.0.0.1")),
        port=int(_number("port", str(values.get("port", 8765)), int, 1)),
        token=_text(values.get("token")),
        stateless=_flag("stateless", values.get("stateless")),
        application_id=_text(values.get("application_id")),
    )
    if config.transport not in ("stdio", "http"):
        raise ConfigurationError(
            f"transport must be stdio or http, got {config.transport!r}",
            code="DF-CONFIG-INVALID",
        )
    loopback = config.host in ("127.0.0.1", "localhost", "::1")
    if config.transport == "http" and not loopback and not config.token:
        raise ConfigurationError(
            "serving HTTP beyond loopback needs a bearer token (--token or DATAFLOW_MCP_TOKEN)",
            code="DF-CONFIG-INVALID",
        )
    return config


def _text(value: object) -> str | None:
    return None if value in (None, "") else str(value)


def _flag(name: str, value: object) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    return _bool(name, str(value))
