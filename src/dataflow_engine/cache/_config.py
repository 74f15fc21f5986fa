"""The ``cache=`` option (and ``DATAFLOW_CACHE_URL``): off, the in-process LRU, or Redis."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError

__all__ = ["CacheConfig", "parse_cache"]

_OFF = frozenset({"", "off", "none", "false", "0", "no"})
_MEMORY = frozenset({"memory", "true", "1", "on", "yes", "lru"})
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")

# Options each backend takes from the URL's query string, with their bounds.
_COMMON = {"ttl", "max_entries", "max_bytes"}
_REDIS_ONLY = {"prefix", "timeout", "max_entry_bytes"}
# redis-py's own URL options that pass through unchanged (TLS and the client name).
_REDIS_PASSTHROUGH = {
    "ssl_cert_reqs",
    "ssl_ca_certs",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_check_hostname",
    "client_name",
}

_MAX_TTL = 10 * 365 * 24 * 3600.0


@dataclass(frozen=True)
class CacheConfig:
    """A parsed ``cache=`` setting.

    Attributes:
        backend: ``"memory"`` (the in-process LRU) or ``"redis"``.
        url: the Redis URL handed to the client (its password included; never logged);
            None for the LRU.
        ttl: seconds an entry lives at most (None: until evicted or invalidated).
        max_entries, max_bytes: bounds of the in-process LRU (for Redis: of the local copy
            of values this process decoded, see docs/cache.md).
        prefix: the first part of every Redis key.
        timeout: seconds a Redis call may take before the cache gives up on it.
        max_entry_bytes: larger answers are not stored in Redis.
    """

    backend: str
    url: str | None = None
    ttl: float | None = 60.0
    max_entries: int = 10_000
    max_bytes: int = 64 * 1024 * 1024
    prefix: str = "dataflow"
    timeout: float = 0.25
    max_entry_bytes: int = 1024 * 1024

    def describe(self) -> str:
        """The setting, safe to log: a Redis password is replaced by ``***``."""
        if self.url is None:
            return "memory"
        return _redact(self.url)


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    at = rest.rfind("@")
    if not sep or at < 0:
        return url
    creds, host = rest[:at], rest[at + 1 :]
    user, colon, _ = creds.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{host}"


def _error(message: str, **details: Any) -> ConfigurationError:
    return ConfigurationError(
        message, code="DF-CONFIG-CACHE", details={"option": "cache", **details}
    )


_FORMS = (
    "use cache=True or 'memory' for the in-process LRU, 'redis://host:6379/0' for Redis, "
    "or cache=False / 'off' for none"
)


def parse_cache(value: Any) -> CacheConfig | None:
    """The cache a ``cache=`` value (or ``DATAFLOW_CACHE_URL``) asks for; None for none.

    Accepted: ``None``, ``False``, ``"off"`` (no cache); ``True``, ``"memory"`` or
    ``"memory://?max_entries=N&max_bytes=N&ttl=S"`` (the in-process LRU);
    ``"redis://[user:password@]host:port/db?prefix=P&ttl=S&timeout=S"`` (also
    ``rediss://`` and ``unix://``).

    Raises:
        ConfigurationError: ``DF-CONFIG-CACHE`` for anything else, an unknown option or
            a value out of range.
    """
    if value is None or value is False:
        return None
    if value is True:
        return CacheConfig("memory")
    if not isinstance(value, str):
        raise _error(f"cache must be a bool or a string, got {type(value).__name__}; {_FORMS}")
    text = value.strip()
    if len(text) > 4096:
        raise _error(f"the cache setting is {len(text)} characters long; {_FORMS}")
    lowered = text.lower()
    if lowered in _OFF:
        return None
    if lowered in _MEMORY:
        return CacheConfig("memory")
    if lowered.startswith("memory://"):
        base, _, query = text.partition("?")
        if base.rstrip("/").lower() != "memory:":
            raise _error(f"unexpected text in the cache setting {text[:80]!r}; {_FORMS}")
        options, _ = _options(query, _COMMON, set())
        return CacheConfig("memory", **options)
    if lowered.startswith(_REDIS_SCHEMES):
        base, _, query = text.partition("?")
        options, passthrough = _options(query, _COMMON | _REDIS_ONLY, _REDIS_PASSTHROUGH)
        if passthrough:
            from urllib.parse import urlencode

            base = f"{base}?{urlencode(passthrough)}"
        return CacheConfig("redis", url=base, **options)
    raise _error(
        f"unknown cache setting {_redact(text)[:80]!r}; {_FORMS}", value=_redact(text)[:200]
    )


def _options(
    query: str, known: set[str], passthrough: set[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    from urllib.parse import parse_qsl

    from ..models._model import suggest

    out: dict[str, Any] = {}
    extra: dict[str, str] = {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise _error(
            f"the cache setting's options {query[:80]!r} are not name=value pairs"
        ) from None
    for name, raw in pairs:
        if name in passthrough:
            extra[name] = raw
            continue
        if name not in known:
            close = suggest(name, sorted(known | passthrough))[:1]
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise _error(
                f"unknown cache option {name[:60]!r}{hint} (options: {', '.join(sorted(known))})",
                name=name[:60],
            )
        out[name] = _value(name, raw)
    return out, extra


def _value(name: str, raw: str) -> Any:
    if name == "prefix":
        if not raw or len(raw) > 100 or any(c.isspace() or not c.isprintable() for c in raw):
            raise _error(
                "the cache prefix must be 1 to 100 printable characters without spaces, "
                f"got {raw[:40]!r}",
                name=name,
            )
        return raw
    if name in ("max_entries", "max_bytes", "max_entry_bytes"):
        if not raw.isdigit() or not 1 <= int(raw) <= 2**53:
            raise _error(
                f"cache option {name} must be a positive integer, got {raw[:40]!r}", name=name
            )
        return int(raw)
    try:
        number = float(raw)
    except ValueError:
        number = math.nan
    if name == "timeout":
        if not 0 < number <= 60:
            raise _error(
                f"cache option timeout must be seconds between 0 and 60, got {raw[:40]!r}",
                name=name,
            )
        return number
    # ttl: 0 means entries never expire (they are still invalidated by writes)
    if not 0 <= number <= _MAX_TTL:
        raise _error(
            f"cache option ttl must be seconds between 0 (no expiry) and {_MAX_TTL:.0f}, "
            f"got {raw[:40]!r}",
            name=name,
        )
    return number or None
