"""Health checks: ``HealthCheckNode`` and ``DataFlow.health()`` share :func:`check_health`."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any

from ..config import PRIMARY
from ..errors import DataFlowError, ValidationError
from ._base import ExecContext, OutputSpec, Param, Problems
from ._system import SystemNode, number_param

if TYPE_CHECKING:
    from .._dataflow import DataFlow
    from ..adapters import Adapter, Connection
    from ..adapters._routing import Database

__all__ = ["DEFAULT_TIMEOUT", "MAX_TIMEOUT", "HealthCheckNode", "check_health", "health_timeout"]

#: Seconds a health check waits for the database (and for the cache) by default.
DEFAULT_TIMEOUT = 5.0
#: The longest timeout a health check accepts.
MAX_TIMEOUT = 3600.0


def health_timeout(value: Any) -> float:
    """``value`` as a health-check timeout in seconds.

    Raises:
        ValidationError: ``DF-PARAM-TYPE`` for a non-number (bool included),
            ``DF-PARAM-RANGE`` for zero, a negative, an infinite or a NaN value, or more
            than ``MAX_TIMEOUT``.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(
            f"timeout must be a number of seconds, e.g. 2.5; got {type(value).__name__}",
            code="DF-PARAM-TYPE",
            details={"param": "timeout", "expected": "number"},
        )
    if not (math.isfinite(value) and 0 < value <= MAX_TIMEOUT):
        raise ValidationError(
            f"timeout must be more than 0 and at most {MAX_TIMEOUT:g} seconds, got {value!r}",
            code="DF-PARAM-RANGE",
            details={"param": "timeout", "maximum": MAX_TIMEOUT},
        )
    return float(value)


def _error(exc: BaseException, timeout: float, *, cache: bool = False) -> dict[str, Any]:
    if isinstance(exc, DataFlowError):
        return {"code": exc.code, "message": exc.message}
    if cache:
        what = f"no answer within {timeout:g}s" if isinstance(exc, TimeoutError) else str(exc)
        return {"code": "DF-CACHE-UNAVAILABLE", "message": f"{type(exc).__name__}: {what}"}
    if isinstance(exc, TimeoutError):
        return {"code": "DF-DB-TIMEOUT", "message": f"no answer within {timeout:g}s"}
    return {"code": "DF-DB-ERROR", "message": f"{type(exc).__name__}: {exc}"}


def pool_stats(adapter: Adapter) -> dict[str, Any]:
    """An adapter's connections: ``size`` (open), ``idle``, ``in_use`` and ``max_size``.
    SQLite has one connection per database, lent out under a lock."""
    found: Any = adapter
    pool = getattr(found, "_pool", None)
    max_size = adapter.settings.pool_size
    if pool is not None and hasattr(pool, "get_idle_size"):  # asyncpg
        size, idle = int(pool.get_size()), int(pool.get_idle_size())
    elif pool is not None and hasattr(pool, "freesize"):  # asyncmy
        size, idle = int(pool.size), int(pool.freesize)
    elif hasattr(found, "_conn"):  # SQLite
        size = 0 if found._conn is None else 1
        lock = getattr(found, "_lock", None)
        idle = size - (1 if size and lock is not None and lock.locked() else 0)
        max_size = 1
    else:
        size = idle = 0
    return {"size": size, "idle": idle, "in_use": size - idle, "max_size": max_size}


async def _cache_health(db: DataFlow, timeout: float) -> dict[str, Any] | None:
    """The cache's own report, through its ``health()`` (sync or async) when it has one
    (``"unknown"`` when it has none); None when no cache is configured."""
    cache = getattr(db, "_cache", None)
    if cache is None:
        return None
    probe = getattr(cache, "health", None)
    if not callable(probe):
        return {"status": "unknown", "error": None}
    try:
        async with asyncio.timeout(timeout):
            if inspect.iscoroutinefunction(probe):
                found = await probe()
            else:  # a blocking probe (a Redis ping) must not hold up the engine's loop
                found = await asyncio.to_thread(probe)
                if inspect.isawaitable(found):
                    found = await found
    except Exception as exc:
        return {"status": "down", "error": _error(exc, timeout, cache=True)}
    if isinstance(found, Mapping):
        return {"status": "up", "error": None, **found}
    return {"status": "up" if found else "down", "error": None}


async def _probe(
    adapter: Adapter,
    timeout: float,
    acquire: Callable[[], AbstractAsyncContextManager[Connection]] | None = None,
) -> dict[str, Any]:
    """One database (or replica): a round trip, its latency and the server version."""
    report: dict[str, Any] = {
        "status": "up",
        "dialect": adapter.dialect.name,
        "url": adapter.settings.url.redacted(),
        "latency_ms": None,
        "server_version": None,
        "error": None,
    }
    try:
        async with asyncio.timeout(timeout), (acquire or adapter.acquire)() as conn:
            sent = time.perf_counter()
            await conn.fetch("SELECT 1")
            report["latency_ms"] = (time.perf_counter() - sent) * 1000.0
    except Exception as exc:
        report["status"] = "down"
        report["error"] = _error(exc, timeout)
    if report["status"] == "up":
        # Asked once the connection is back (a pool of one must not wait for itself);
        # the database answered, so a version it cannot tell leaves it up.
        try:
            async with asyncio.timeout(timeout):
                report["server_version"] = await adapter.server_version()
        except Exception:
            report["server_version"] = None
    report["pool"] = pool_stats(adapter)
    return report


async def _check_database(
    database: Database,
    timeout: float,
    acquire: Callable[[], AbstractAsyncContextManager[Connection]] | None,
) -> dict[str, Any]:
    reports = await asyncio.gather(
        _probe(database.adapter, timeout, acquire),
        *(_probe(replica, timeout) for replica in database.replicas),
    )
    return {**reports[0], "replicas": list(reports[1:])}


async def check_health(
    db: DataFlow,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    connection: Callable[[], AbstractAsyncContextManager[Connection]] | None = None,
) -> dict[str, Any]:
    """The health of ``db``: never raises for a database that cannot be reached.

    Every database of ``db`` (the primary, and each of the ``databases`` option) and
    each read replica gets a round trip, concurrently, each within ``timeout``.

    Args:
        db: the ``DataFlow`` to check.
        timeout: seconds to wait for each database (and for the cache).
        connection: where the primary's round trip runs (a workflow's connection); a
            connection of its pool by default.

    Returns:
        ``{"status": "up" | "degraded" | "down", "error": the primary's error or None,
        "database": {...} (the primary),
        "databases": {name: {...}}, "pool": {...} (the primary's), "mode": {...},
        "cache": {...} or None, "checked_at": ISO-8601, "seconds": float}``. ``down``:
        the primary database does not answer; ``degraded``: it does, and another
        database, a replica or the cache does not.
    """
    started = time.perf_counter()
    checked_at = dt.datetime.now(dt.UTC).isoformat()
    settings = db.settings
    names = list(db._databases)
    found = await asyncio.gather(
        *(
            _check_database(db._databases[n], timeout, connection if n == PRIMARY else None)
            for n in names
        ),
        _cache_health(db, timeout),
    )
    databases: dict[str, dict[str, Any]] = {
        n: report for n, report in zip(names, found[:-1], strict=True) if report is not None
    }
    cache: dict[str, Any] | None = found[-1]
    primary = databases[PRIMARY]
    others = [r for n, r in databases.items() if n != PRIMARY]
    replicas = [r for report in databases.values() for r in report["replicas"]]
    if primary["status"] != "up":
        status = "down"
    elif any(r["status"] != "up" for r in [*others, *replicas]) or (
        cache is not None and cache.get("status") not in ("up", "unknown")
    ):
        status = "degraded"
    else:
        status = "up"
    return {
        "status": status,
        "error": primary["error"],
        "database": primary,
        "databases": databases,
        "pool": primary["pool"],
        "mode": {
            "read_only": settings.read_only,
            "existing_schema_mode": settings.existing_schema_mode,
            "auto_migrate": settings.auto_migrate,
        },
        "cache": cache,
        "checked_at": checked_at,
        "seconds": time.perf_counter() - started,
    }


class HealthCheckNode(SystemNode):
    """Reports whether the database answers (with the round trip's latency), its server
    version, the pool, the safety modes and the cache; a database that cannot be reached
    is reported as ``status: "down"`` with the error's code, never raised."""

    kind = "HealthCheck"
    description = (
        "Check the database (a round trip, with its latency), server version, pool, "
        "safety modes and cache; reports status 'up', 'degraded' or 'down', never fails "
        "because the database is down."
    )

    @classmethod
    def _declare_parameters(cls) -> dict[str, Param]:
        return {
            "timeout": Param(
                "timeout",
                "number",
                default=DEFAULT_TIMEOUT,
                doc=f"seconds to wait for the database (at most {MAX_TIMEOUT:g})",
            ),
        }

    @classmethod
    def _declare_outputs(cls) -> OutputSpec:
        return {
            "status": "str",
            "error": "dict | None",
            "database": "dict",
            "databases": "dict",
            "pool": "dict",
            "mode": "dict",
            "cache": "dict | None",
            "checked_at": "str",
            "seconds": "float",
        }

    @classmethod
    def _validate(cls, params: dict[str, Any], problems: Problems) -> None:
        number_param(cls, params, "timeout", problems, maximum=MAX_TIMEOUT)

    async def run(self, ctx: ExecContext, params: dict[str, Any]) -> dict[str, Any]:
        timeout = params.get("timeout") or DEFAULT_TIMEOUT
        # In a workflow transaction, the primary's round trip runs on the workflow's
        # connection (SQLite has only one); otherwise on one of the primary's own.
        held = ctx.tx_connection

        @asynccontextmanager
        async def workflow_connection() -> AsyncIterator[Connection]:
            assert held is not None
            yield held

        return await check_health(
            type(self).dataflow,
            timeout=timeout,
            connection=workflow_connection if held is not None else None,
        )
