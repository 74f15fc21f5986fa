"""Whether the database answers: the one function ``/health`` asks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._problems import Problem

if TYPE_CHECKING:
    from .._dataflow import DataFlow

__all__ = ["HEALTH_TIMEOUT", "database_health"]

#: Seconds the database may take to answer before it counts as down.
HEALTH_TIMEOUT = 5.0


async def database_health(db: DataFlow) -> dict[str, Any]:
    """Whether the database answers, by ``DataFlow.health`` (one round trip per database,
    replicas and cache included).

    Returns:
        ``{"status": "up" | "degraded", "dialect": ...}``; nothing more, since the
        endpoint is open (no URL, versions or pool figures).

    Raises:
        Problem: ``503`` with the engine's code (``DF-DB-CONNECT``, ``DF-DB-TIMEOUT``,
            ...) when the primary database does not answer within ``HEALTH_TIMEOUT``.
        ConfigurationError: ``DF-CONFIG-CLOSED``, the DataFlow is closed.
    """
    db._check_open()
    report = await db.health_async(HEALTH_TIMEOUT)
    if report["status"] not in ("up", "degraded"):
        error = report.get("error") or {}
        code = str(error.get("code") or "DF-DB-CONNECT")
        message = str(error.get("message") or "the database does not answer")
        raise Problem(
            503,
            code,
            f"the database does not answer: {message}",
            details={"dialect": db.dialect.name},
            headers={"Retry-After": "1"},
        )
    return {"status": report["status"], "dialect": db.dialect.name}
