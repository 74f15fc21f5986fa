"""Database URLs and settings.

URLs are parsed leniently: a password may contain ``@ # $ ! : /`` and ``%`` unescaped
(``postgresql://admin:MySecret#123$@localhost:5432/app``); percent-escapes are decoded.
Settings come from keyword arguments, then ``DATAFLOW_*`` environment variables, then
defaults.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigurationError

__all__ = ["DatabaseURL", "Settings", "parse_url"]

_SCHEMES = {
    "sqlite": "sqlite",
    "sqlite3": "sqlite",
    "sqlite+aiosqlite": "sqlite",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "postgresql+asyncpg": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
    "mysql+asyncmy": "mysql",
    "mysql+aiomysql": "mysql",
}

_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


def _decode(text: str) -> str:
    # Decode only well-formed %XX escapes so a raw '%' in a password survives.
    if not _PERCENT_ESCAPE.search(text):
        return text
    from urllib.parse import unquote

    return unquote(text)


def _query(text: str) -> dict[str, str]:
    if not text:
        return {}
    from urllib.parse import parse_qsl

    return dict(parse_qsl(text))


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed database URL.

    Attributes:
        dialect: ``"sqlite"``, ``"postgresql"`` or ``"mysql"``.
        username, password, host, port, database: the parts, decoded.
        query: the query-string options (``schema``, ``sslmode``, ...).
        raw_scheme: the scheme as written.
    """

    dialect: str
    raw_scheme: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    host: str | None = None
    port: int | None = None
    database: str | None = None
    query: dict[str, str] = field(default_factory=dict)

    @property
    def is_memory(self) -> bool:
        """True for an in-memory SQLite database."""
        return self.dialect == "sqlite" and self.database in (None, "", ":memory:")

    @property
    def schema(self) -> str | None:
        """The schema named by ``?schema=`` (PostgreSQL), if any."""
        return self.query.get("schema")

    def redacted(self) -> str:
        """The URL with the password replaced by ``***``, safe to log or show."""
        if self.dialect == "sqlite":
            return f"sqlite:///{self.database}" if not self.is_memory else "sqlite://"
        auth = ""
        if self.username:
            auth = self.username + (":***" if self.password is not None else "") + "@"
        port = f":{self.port}" if self.port else ""
        host = f"[{self.host}]" if self.host and ":" in self.host else (self.host or "")
        qs = "&".join(f"{k}={v}" for k, v in self.query.items())
        return f"{self.raw_scheme}://{auth}{host}{port}/{self.database or ''}" + (
            f"?{qs}" if qs else ""
        )

    def __str__(self) -> str:
        return self.redacted()


def parse_url(url: str) -> DatabaseURL:
    """Parse a database URL, tolerating unescaped special characters in the password.

    Args:
        url: e.g. ``"postgresql://u:P@ssw0rd!@host:5432/db?schema=app"``,
            ``"sqlite:///path/to.db"``, ``"sqlite://"`` (in memory).

    Returns:
        The parsed :class:`DatabaseURL`.

    Raises:
        ConfigurationError: the scheme is unknown or the URL has no host.
    """
    if not isinstance(url, str) or "://" not in url:
        raise ConfigurationError(
            f"not a database URL: {url!r}; expected e.g. 'postgresql://user:pass@host/db' "
            "or 'sqlite:///path.db'",
            code="DF-CONFIG-URL",
        )
    scheme, rest = url.split("://", 1)
    dialect = _SCHEMES.get(scheme.lower())
    if dialect is None:
        raise ConfigurationError(
            f"unknown database URL scheme {scheme!r}; use one of "
            "sqlite, postgresql, mysql, mariadb",
            code="DF-CONFIG-URL",
            details={"scheme": scheme},
        )
    if dialect == "sqlite":
        path, _, qs = rest.partition("?")
        # sqlite:///relative.db -> 'relative.db'; sqlite:////abs/x.db -> '/abs/x.db'
        if path.startswith("/"):
            path = path[1:]
        database = _decode(path) or None
        return DatabaseURL(dialect="sqlite", raw_scheme=scheme, database=database, query=_query(qs))

    # Credentials end at the last '@' before the host; the host part holds no '@'.
    query: dict[str, str] = {}
    # Split the query string off the host part only (a password may contain '?').
    at = rest.rfind("@")
    creds, hostpart = (rest[:at], rest[at + 1 :]) if at >= 0 else ("", rest)
    hostpart, _, qs = hostpart.partition("?")
    query = _query(qs)
    hostport, _, database = hostpart.partition("/")
    username: str | None = None
    password: str | None = None
    if at >= 0:
        user, sep, pw = creds.partition(":")
        username = _decode(user) or None
        password = _decode(pw) if sep else None
    host: str | None
    port: int | None = None
    if hostport.startswith("["):  # IPv6 literal
        end = hostport.find("]")
        if end < 0:
            raise ConfigurationError(
                f"database URL {scheme}://...: IPv6 host is missing its closing ']'",
                code="DF-CONFIG-URL",
            )
        host = hostport[1:end]
        port_text = hostport[end + 2 :] if hostport[end + 1 : end + 2] == ":" else ""
    else:
        host, _, port_text = hostport.partition(":")
    if port_text:
        if not port_text.isdigit():
            raise ConfigurationError(
                f"invalid port {port_text!r} in database URL {scheme}://...; "
                "if the password contains '/', percent-encode it as %2F",
                code="DF-CONFIG-URL",
            )
        port = int(port_text)
    if not host:
        raise ConfigurationError(f"database URL {scheme}://... names no host", code="DF-CONFIG-URL")
    return DatabaseURL(
        dialect=dialect,
        raw_scheme=scheme,
        username=username,
        password=password,
        host=host,
        port=port,
        database=_decode(database) or None,
        query=query,
    )


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(
        f"environment variable {name}={raw!r} is not a boolean; use true or false",
        code="DF-CONFIG-ENV",
        details={"variable": name},
    )


def _env_number(name: str, default: float | None, kind: type[int] | type[float]) -> Any:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ConfigurationError(
            f"environment variable {name}={raw!r} is not a number",
            code="DF-CONFIG-ENV",
            details={"variable": name},
        ) from None


@dataclass(frozen=True)
class Settings:
    """Resolved settings of one :class:`~dataflow_engine.DataFlow`.

    Each option can also be set by an environment variable: ``DATAFLOW_DATABASE_URL``,
    ``DATAFLOW_AUTO_MIGRATE``, ``DATAFLOW_EXISTING_SCHEMA_MODE``, ``DATAFLOW_READ_ONLY``,
    ``DATAFLOW_POOL_SIZE``, ``DATAFLOW_POOL_TIMEOUT``, ``DATAFLOW_COMMAND_TIMEOUT``,
    ``DATAFLOW_CACHE_URL``, ``DATAFLOW_ECHO``, ``DATAFLOW_APPLICATION_ID``.
    """

    url: DatabaseURL
    auto_migrate: bool = True
    existing_schema_mode: bool = False
    read_only: bool = False
    pool_size: int = 10
    pool_timeout: float = 30.0
    command_timeout: float | None = None
    cache: str | None = None
    echo: bool = False
    application_id: str | None = None

    @classmethod
    def resolve(
        cls,
        url: str | None = None,
        *,
        auto_migrate: bool | None = None,
        existing_schema_mode: bool | None = None,
        read_only: bool | None = None,
        pool_size: int | None = None,
        pool_timeout: float | None = None,
        command_timeout: float | None = None,
        cache: str | None = None,
        echo: bool | None = None,
        application_id: str | None = None,
    ) -> Settings:
        """Combine explicit options, ``DATAFLOW_*`` variables and defaults."""
        raw_url = url or os.environ.get("DATAFLOW_DATABASE_URL") or "sqlite://"
        parsed = parse_url(raw_url)
        size = pool_size if pool_size is not None else _env_number("DATAFLOW_POOL_SIZE", 10, int)
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ConfigurationError(
                f"pool_size must be a positive integer, got {size!r}", code="DF-CONFIG-INVALID"
            )
        return cls(
            url=parsed,
            auto_migrate=(
                auto_migrate
                if auto_migrate is not None
                else _env_bool("DATAFLOW_AUTO_MIGRATE", True)
            ),
            existing_schema_mode=(
                existing_schema_mode
                if existing_schema_mode is not None
                else _env_bool("DATAFLOW_EXISTING_SCHEMA_MODE", False)
            ),
            read_only=(
                read_only if read_only is not None else _env_bool("DATAFLOW_READ_ONLY", False)
            ),
            pool_size=size,
            pool_timeout=(
                pool_timeout
                if pool_timeout is not None
                else _env_number("DATAFLOW_POOL_TIMEOUT", 30.0, float)
            ),
            command_timeout=(
                command_timeout
                if command_timeout is not None
                else _env_number("DATAFLOW_COMMAND_TIMEOUT", None, float)
            ),
            cache=cache if cache is not None else os.environ.get("DATAFLOW_CACHE_URL") or None,
            echo=echo if echo is not None else _env_bool("DATAFLOW_ECHO", False),
            application_id=application_id or os.environ.get("DATAFLOW_APPLICATION_ID") or None,
        )
