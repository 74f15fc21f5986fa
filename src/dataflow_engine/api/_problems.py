"""Errors as RFC 9457 problem documents (``application/problem+json``).

Every error answer carries ``type`` (``urn:dataflow:error:<code>``), ``title`` (the
status's phrase: the same for every occurrence of a code), ``status``, ``detail`` (the
engine's message: what was wrong and what to do), ``instance`` (the request path),
``code`` (the engine's stable code) and ``details`` (structured facts, suggestions
included). A workflow validation error's diagnostics become ``errors``.
"""

from __future__ import annotations

import http
import logging
from typing import Any

from ..errors import (
    CheckViolation,
    ConfigurationError,
    ConnectError,
    ConnectionLost,
    DataFlowError,
    DriverMissingError,
    IntegrityError,
    ModelError,
    MultipleRecordsError,
    NotFoundError,
    NotNullViolation,
    OptimisticLockError,
    QueryTimeout,
    ReadOnlyError,
    SchemaError,
    SerializationFailure,
    UnsupportedError,
    ValidationError,
    WorkflowError,
    WorkflowValidationError,
)
from ._convert import dumps, json_value

__all__ = ["PROBLEM_TYPE", "Problem", "problem_for", "status_for"]

_log = logging.getLogger("dataflow_engine.api")

#: The ``type`` of a problem: this prefix and the engine's code.
PROBLEM_TYPE = "urn:dataflow:error:"

#: The most problems one answer lists (a bulk request may have one per record).
MAX_ERRORS = 100

# Most specific first: the first class an error is an instance of gives the status.
_STATUS: tuple[tuple[type[DataFlowError], int], ...] = (
    (ValidationError, 422),
    (UnsupportedError, 422),
    (ReadOnlyError, 403),
    (NotFoundError, 404),
    (OptimisticLockError, 409),
    (MultipleRecordsError, 409),
    (NotNullViolation, 422),
    (CheckViolation, 422),
    (IntegrityError, 409),  # unique and foreign-key violations: the data conflicts
    (SerializationFailure, 409),  # a deadlock: retrying may succeed
    (ConnectError, 503),
    (ConnectionLost, 503),
    (QueryTimeout, 503),
    (DriverMissingError, 500),
    (SchemaError, 500),
    (ModelError, 500),
    (ConfigurationError, 500),
)

# Codes whose status differs from their class's.
_CODE_STATUS = {
    "DF-API-MALFORMED-JSON": 400,  # not JSON at all (JSON of the wrong shape is a 422)
    "DF-DB-REGEX-LIMIT": 422,  # a catastrophic $regex: the request's own doing
    "DF-DB-DATA": 422,  # a value the column cannot hold (out of range, too long)
    "DF-DB-LOCK-TIMEOUT": 503,
    "DF-DB-BUSY": 503,
    "DF-DB-DEADLOCK": 409,
    "DF-DB-AUTH": 503,
    "DF-DB-UNKNOWN-DATABASE": 503,
    "DF-CONFIG-CLOSED": 503,
}


class Problem(Exception):
    """An error answer made by the API itself (not the engine): malformed requests,
    authentication, sizes, media types, routing."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.details = details or {}
        self.headers = headers or {}


def status_for(exc: DataFlowError) -> int:
    """The HTTP status of an engine error."""
    status = _CODE_STATUS.get(exc.code)
    if status is not None:
        return status
    for cls, code in _STATUS:
        if isinstance(exc, cls):
            return code
    return 500


def _cause(exc: DataFlowError) -> DataFlowError:
    """A failed workflow node's own error (the API runs one node per request)."""
    while isinstance(exc, WorkflowError) and isinstance(exc.cause, DataFlowError):
        exc = exc.cause
    return exc


def document(
    status: int,
    code: str,
    detail: str,
    instance: str,
    details: dict[str, Any] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A problem document."""
    try:
        title = http.HTTPStatus(status).phrase
    except ValueError:  # pragma: no cover - every status used here has a phrase
        title = "Error"
    out: dict[str, Any] = {
        "type": PROBLEM_TYPE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
        "details": json_value(_short(details or {})),
    }
    if errors:
        out["errors"] = errors
    return out


def problem_for(exc: BaseException, instance: str) -> tuple[int, dict[str, str], bytes]:
    """The status, extra headers and body of the answer to ``exc``."""
    headers: dict[str, str] = {}
    if isinstance(exc, Problem):
        status = exc.status
        body = document(status, exc.code, exc.detail, instance, exc.details)
        headers.update(exc.headers)
    elif isinstance(exc, WorkflowValidationError):
        diagnostics = [
            {
                "code": d.code,
                "message": d.message,
                "path": _param_path(d.path),
                **({"details": json_value(_short(d.details))} if d.details else {}),
            }
            for d in exc.diagnostics[:MAX_ERRORS]
        ]
        status = max((_diagnostic_status(d.code) for d in exc.diagnostics), default=422)
        if len(exc.diagnostics) == 1:  # one problem: say it plainly
            only = exc.diagnostics[0]
            body = document(status, only.code, only.message, instance, only.details, diagnostics)
        else:
            body = document(
                status,
                exc.code,
                f"the request has {len(exc.diagnostics)} problems: "
                + "; ".join(d["message"] for d in diagnostics[:10]),
                instance,
                {"problems": len(exc.diagnostics)},
                diagnostics,
            )
    elif isinstance(exc, DataFlowError):
        cause = _cause(exc)
        status = status_for(cause)
        details = {k: v for k, v in cause.details.items() if k not in ("node_id", "run_id")}
        body = document(status, cause.code, _short(cause.message, 2_000), instance, details)
        if status == 503:
            headers["Retry-After"] = "1"
        if status >= 500:
            _log.warning("%s %s: %s", status, instance, cause)
    else:  # a defect: logged with its traceback, answered without it
        _log.error("unexpected error answering %s", instance, exc_info=exc)
        status = 500
        body = document(
            status,
            "DF-API-INTERNAL",
            "the server failed to answer this request; the error is in its log",
            instance,
        )
    if status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="dataflow"')
    return status, headers, dumps(body)


def _param_path(path: tuple[str | int, ...]) -> list[str | int]:
    """A diagnostic's path from the node's parameters on (``["data", 3, "age"]``)."""
    return list(path[path.index("params") + 1 :]) if "params" in path else list(path)


def _diagnostic_status(code: str) -> int:
    if code == "DF-READ-ONLY":
        return 403
    return 422


def _short(value: Any, limit: int = 500) -> Any:
    """Long strings in error details cut to ``limit`` characters (never echoed whole)."""
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + f"... ({len(value):,} characters)"
    if isinstance(value, dict):
        return {k: _short(v, limit) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_short(v, limit) for v in value[:50]]
    return value
