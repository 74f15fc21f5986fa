"""Database URLs and settings.

URLs are parsed leniently: a password may contain ``@ # $ ! : /`` and ``%`` unescaped
(``postgresql://admin:MySecret#123$@localhost:5432/app``); percent-escapes are decoded.
Settings come from keyword arguments, then ``DATAFLOW_*`` environment variables, then
defaults.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import ConfigurationError

__all__ = ["PRIMARY", "DatabaseURL", "Settings", "parse_url"]

#: The name of the database the ``url`` option names (``__dataflow__["database"]``'s default).
PRIMARY = "primary"

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
    ``DATAFLOW_CACHE_URL``, ``DATAFLOW_ECHO``, ``DATAFLOW_APPLICATION_ID``,
    ``DATAFLOW_READ_REPLICA_URL`` (one replica of the primary).
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
    databases: dict[str, DatabaseURL] = field(default_factory=dict)
    read_replicas: dict[str, tuple[DatabaseURL, ...]] = field(default_factory=dict)

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
        cache: str | bool | None = None,
        echo: bool | None = None,
        application_id: str | None = None,
        databases: Mapping[str, str] | None = None,
        read_replica: Any = None,
    ) -> Settings:
        """Combine explicit options, ``DATAFLOW_*`` variables and defaults."""
        raw_url = url or os.environ.get("DATAFLOW_DATABASE_URL") or "sqlite://"
        parsed = parse_url(raw_url)
        named = _databases(databases)
        if read_replica is None:
            read_replica = os.environ.get("DATAFLOW_READ_REPLICA_URL") or None
        replicas = _replicas(read_replica, {PRIMARY: parsed, **named})
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
            cache=(
                ("memory" if cache else "off")
                if isinstance(cache, bool)
                else cache
                if cache is not None
                else os.environ.get("DATAFLOW_CACHE_URL") or None
            ),
            echo=echo if echo is not None else _env_bool("DATAFLOW_ECHO", False),
            application_id=application_id or os.environ.get("DATAFLOW_APPLICATION_ID") or None,
            databases=named,
            read_replicas=replicas,
        )

    def for_database(self, name: str) -> Settings:
        """The settings of the database ``name`` (:data:`PRIMARY` or a ``databases`` name):
        its own URL, every other setting shared."""
        return self if name == PRIMARY else replace(self, url=self.databases[name])

    def for_replica(self, url: DatabaseURL) -> Settings:
        """The settings of a read replica at ``url``: read-only and never DDL, whatever
        the database's own settings say."""
        return replace(self, url=url, read_only=True, existing_schema_mode=True)


_DATABASE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,62}")


def _option_url(option: str, value: Any) -> DatabaseURL:
    """A URL given in an option, parsed; errors name the option."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(
            f"{option} must be a database URL such as 'postgresql://user:pass@host/db', "
            f"got {type(value).__name__} {str(value)[:80]!r}",
            code="DF-CONFIG-URL",
            details={"option": option},
        )
    try:
        return parse_url(value)
    except ConfigurationError as exc:
        raise ConfigurationError(
            f"{option}: {exc.message}", code=exc.code, details={**exc.details, "option": option}
        ) from None


def _databases(value: Any) -> dict[str, DatabaseURL]:
    """The ``databases`` option: names (besides the primary) -> parsed URLs."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            "databases must map names to URLs, e.g. "
            "{'analytics': 'postgresql://user:pass@host/analytics'}, "
            f"got {type(value).__name__}",
            code="DF-CONFIG-DATABASES",
            details={"option": "databases"},
        )
    out: dict[str, DatabaseURL] = {}
    for name, url in value.items():
        if not isinstance(name, str) or not _DATABASE_NAME.fullmatch(name):
            raise ConfigurationError(
                f"database name {str(name)[:80]!r} is not usable: a name starts with a "
                "letter or '_' and has at most 63 letters, digits, '_', '.' or '-'",
                code="DF-CONFIG-DATABASES",
                details={"option": "databases", "name": str(name)[:200]},
            )
        if name == PRIMARY:
            raise ConfigurationError(
                f"databases cannot name {PRIMARY!r}: that is the database the url names; "
                "give the other databases other names",
                code="DF-CONFIG-DATABASES",
                details={"option": "databases", "name": name},
            )
        out[name] = _option_url(f"databases[{name!r}]", url)
    return out


def _replicas(
    value: Any, databases: Mapping[str, DatabaseURL]
) -> dict[str, tuple[DatabaseURL, ...]]:
    """The ``read_replica`` option: a URL or a list of URLs (replicas of the primary), or
    a mapping of database names to those."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        per_database = dict(value)
    else:
        per_database = {PRIMARY: value}
    out: dict[str, tuple[DatabaseURL, ...]] = {}
    for name, urls in per_database.items():
        database = databases.get(name) if isinstance(name, str) else None
        if database is None:
            known = ", ".join(repr(n) for n in databases)
            raise ConfigurationError(
                f"read_replica names the database {str(name)[:80]!r}, which this DataFlow "
                f"does not have; the databases are {known}",
                code="DF-CONFIG-REPLICA",
                details={"option": "read_replica", "database": str(name)[:200]},
            )
        items = [urls] if isinstance(urls, str) else urls
        if not isinstance(items, list | tuple) or not items:
            raise ConfigurationError(
                f"read_replica for {name!r} must be a URL or a non-empty list of URLs, "
                f"got {type(urls).__name__} {str(urls)[:80]!r}",
                code="DF-CONFIG-REPLICA",
                details={"option": "read_replica", "database": name},
            )
        parsed = []
        for i, url in enumerate(items):
            option = (
                "read_replica"
                if name == PRIMARY and isinstance(urls, str)
                else (f"read_replica[{name!r}][{i}]")
            )
            replica = _option_url(option, url)
            if replica.dialect != database.dialect:
                raise ConfigurationError(
                    f"{option} is a {replica.dialect} database, but {name!r} is "
                    f"{database.dialect}: a replica must be the same kind of database as "
                    "the one it copies",
                    code="DF-CONFIG-REPLICA",
                    details={"option": "read_replica", "database": name},
                )
            if replica.is_memory:
                raise ConfigurationError(
                    f"{option} is an in-memory SQLite database, which nothing can copy "
                    "into; give the path of the replica's file",
                    code="DF-CONFIG-REPLICA",
                    details={"option": "read_replica", "database": name},
                )
            parsed.append(replica)
        out[name] = tuple(parsed)
    return out
