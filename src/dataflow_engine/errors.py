"""The engine's errors: one tree, rooted at :class:`DataFlowError`.

Every error carries a stable ``code`` (``"DF-FILTER-UNKNOWN-OPERATOR"``), a message that
says what was wrong and what to do instead, and structured ``details``. The same codes
appear in MCP tool errors and LSP diagnostics.

::

    DataFlowError
    ├── ConfigurationError            DF-CONFIG-*
    ├── ModelError                    DF-MODEL-*
    │   └── IdentifierTooLongError    DF-MODEL-IDENTIFIER-TOO-LONG
    ├── ValidationError               DF-PARAM-* (bad node parameters)
    │   ├── FilterError               DF-FILTER-* (bad filter, order or update documents)
    │   └── TenantError               DF-TENANT-* (tenant missing, invalid, or another's)
    ├── UnsupportedError              DF-UNSUPPORTED
    ├── WorkflowValidationError       DF-WORKFLOW-INVALID (every problem, with node ids)
    ├── NodeTypeError                 DF-NODE-*
    │   └── AmbiguousNodeTypeError    DF-NODE-AMBIGUOUS
    ├── WorkflowError                 DF-WORKFLOW-NODE-FAILED (a node failed while running)
    ├── ReadOnlyError                 DF-READ-ONLY
    ├── SchemaError                   DF-SCHEMA-*
    ├── NotFoundError                 DF-NOT-FOUND
    ├── MultipleRecordsError          DF-MULTIPLE-RECORDS
    ├── OptimisticLockError           DF-OPTIMISTIC-LOCK
    ├── MigrationError                DF-MIGRATION-* (parse, lock, plan, rollback)
    │   └── MigrationLockTimeout      DF-MIGRATION-LOCK-TIMEOUT
    └── DatabaseError                 DF-DB-* (translated driver errors; driver error is __cause__)
        ├── IntegrityError            DF-DB-INTEGRITY
        │   ├── UniqueViolation       DF-DB-UNIQUE-VIOLATION
        │   ├── ForeignKeyViolation   DF-DB-FOREIGN-KEY-VIOLATION
        │   ├── NotNullViolation      DF-DB-NOT-NULL-VIOLATION
        │   └── CheckViolation        DF-DB-CHECK-VIOLATION
        ├── ConnectionLost            DF-DB-CONNECTION-LOST
        ├── ConnectError              DF-DB-CONNECT
        ├── QueryTimeout              DF-DB-TIMEOUT
        ├── SerializationFailure      DF-DB-SERIALIZATION
        └── DriverMissingError        DF-DB-DRIVER-MISSING
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "AmbiguousNodeTypeError",
    "CheckViolation",
    "ConfigurationError",
    "ConnectError",
    "ConnectionLost",
    "DataFlowError",
    "DatabaseError",
    "Diagnostic",
    "DriverMissingError",
    "FilterError",
    "ForeignKeyViolation",
    "IdentifierTooLongError",
    "IntegrityError",
    "MigrationError",
    "MigrationLockTimeout",
    "ModelError",
    "MultipleRecordsError",
    "NodeTypeError",
    "NotFoundError",
    "NotNullViolation",
    "OptimisticLockError",
    "QueryTimeout",
    "ReadOnlyError",
    "SchemaError",
    "SerializationFailure",
    "TenantError",
    "UniqueViolation",
    "UnsupportedError",
    "ValidationError",
    "WorkflowError",
    "WorkflowValidationError",
]


class DataFlowError(Exception):
    """Root of every error the engine raises.

    Attributes:
        code: a stable identifier such as ``"DF-PARAM-UNKNOWN"``.
        message: what was wrong and what to do instead.
        details: structured facts (node id, field, operator, dialect, ...).
    """

    default_code = "DF-ERROR"

    def __init__(
        self, message: str, *, code: str | None = None, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details: dict[str, Any] = dict(details or {})

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly description: code, message, details."""
        return {"code": self.code, "message": self.message, "details": _jsonable(self.details)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


class ConfigurationError(DataFlowError):
    """A URL, option or environment variable is invalid."""

    default_code = "DF-CONFIG-INVALID"


class ModelError(DataFlowError):
    """A model definition is invalid, or a model was used the wrong way."""

    default_code = "DF-MODEL-INVALID"


class IdentifierTooLongError(ModelError):
    """A table, column or index name is longer than the dialect allows."""

    default_code = "DF-MODEL-IDENTIFIER-TOO-LONG"


class ValidationError(DataFlowError):
    """A node parameter is unknown, missing, or of the wrong type."""

    default_code = "DF-PARAM-INVALID"


class FilterError(ValidationError):
    """A filter, order or update document is invalid."""

    default_code = "DF-FILTER-INVALID"


class TenantError(ValidationError):
    """A multi-tenant model was used without a valid tenant, or with another tenant's value.

    Codes: ``DF-TENANT-REQUIRED`` (no tenant bound), ``DF-TENANT-INVALID`` (a tenant id
    that is not a non-empty string), ``DF-TENANT-MISMATCH`` (a record names a tenant
    other than the bound one).
    """

    default_code = "DF-TENANT-REQUIRED"


class UnsupportedError(DataFlowError):
    """The operation cannot be expressed exactly on this dialect or is not available."""

    default_code = "DF-UNSUPPORTED"


class Diagnostic:
    """One problem found by the workflow validator.

    Attributes:
        code: stable error code.
        message: what is wrong and how to fix it.
        severity: ``"error"`` or ``"warning"``.
        path: a path into the workflow definition, e.g. ``("nodes", 0, "params", "age")``.
        node_id: the node the problem belongs to, when there is one.
        details: structured facts, e.g. ``{"suggestions": ["age"]}`` for an unknown name.
    """

    __slots__ = ("code", "details", "message", "node_id", "path", "severity")

    def __init__(
        self,
        code: str,
        message: str,
        *,
        path: Sequence[str | int] = (),
        node_id: str | None = None,
        severity: str = "error",
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.path: tuple[str | int, ...] = tuple(path)
        self.node_id = node_id
        self.severity = severity
        self.details: dict[str, Any] = dict(details or {})

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "severity": self.severity,
            "path": list(self.path),
            "node_id": self.node_id,
        }

    def __repr__(self) -> str:
        where = f" node {self.node_id!r}" if self.node_id else ""
        return f"<Diagnostic {self.code}{where}: {self.message}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Diagnostic) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.code, self.message, self.path, self.node_id))


class WorkflowValidationError(DataFlowError):
    """``build()`` found problems; ``diagnostics`` lists every one with its node id."""

    default_code = "DF-WORKFLOW-INVALID"

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        lines = [
            f"  - {d.node_id or '<workflow>'}: [{d.code}] {d.message}" for d in self.diagnostics
        ]
        super().__init__(
            f"the workflow has {len(self.diagnostics)} problem(s):\n" + "\n".join(lines),
            details={"diagnostics": [d.to_dict() for d in self.diagnostics]},
        )


class NodeTypeError(DataFlowError):
    """A node type name is unknown."""

    default_code = "DF-NODE-UNKNOWN-TYPE"


class AmbiguousNodeTypeError(NodeTypeError):
    """Two open ``DataFlow`` instances define the same node type name."""

    default_code = "DF-NODE-AMBIGUOUS"


class WorkflowError(DataFlowError):
    """A node failed while the workflow ran.

    Attributes:
        node_id: the failing node.
        results: outputs of the nodes that completed before it.
        cause: the underlying error (also ``__cause__``).
    """

    default_code = "DF-WORKFLOW-NODE-FAILED"

    def __init__(
        self, node_id: str, cause: BaseException, results: Mapping[str, Any], run_id: str
    ) -> None:
        self.node_id = node_id
        self.cause = cause
        self.results = dict(results)
        self.run_id = run_id
        cause_code = getattr(cause, "code", type(cause).__name__)
        super().__init__(
            f"node {node_id!r} failed: {cause}",
            details={"node_id": node_id, "cause_code": cause_code, "run_id": run_id},
        )


class ReadOnlyError(DataFlowError):
    """A write was attempted on a read-only ``DataFlow``."""

    default_code = "DF-READ-ONLY"


class SchemaError(DataFlowError):
    """The database schema does not match what the model needs."""

    default_code = "DF-SCHEMA-MISMATCH"


class NotFoundError(DataFlowError):
    """No record matched an id or filter that had to match one."""

    default_code = "DF-NOT-FOUND"


class MultipleRecordsError(DataFlowError):
    """A filter that had to match at most one record matched several."""

    default_code = "DF-MULTIPLE-RECORDS"


class OptimisticLockError(DataFlowError):
    """The record's version changed since it was read."""

    default_code = "DF-OPTIMISTIC-LOCK"


class MigrationError(DataFlowError):
    """A schema migration could not be read, planned, locked or carried out."""

    default_code = "DF-MIGRATION"


class MigrationLockTimeout(MigrationError):
    """Another process holds the migration lock longer than the caller would wait."""

    default_code = "DF-MIGRATION-LOCK-TIMEOUT"


class DatabaseError(DataFlowError):
    """An error reported by the database or its driver (the driver error is ``__cause__``)."""

    default_code = "DF-DB-ERROR"


class IntegrityError(DatabaseError):
    """A constraint rejected the statement; nothing was written."""

    default_code = "DF-DB-INTEGRITY"


class UniqueViolation(IntegrityError):
    """A unique constraint or primary key rejected a duplicate value."""

    default_code = "DF-DB-UNIQUE-VIOLATION"


class ForeignKeyViolation(IntegrityError):
    """A foreign key rejected the statement."""

    default_code = "DF-DB-FOREIGN-KEY-VIOLATION"


class NotNullViolation(IntegrityError):
    """A NOT NULL column received no value."""

    default_code = "DF-DB-NOT-NULL-VIOLATION"


class CheckViolation(IntegrityError):
    """A CHECK constraint rejected a value."""

    default_code = "DF-DB-CHECK-VIOLATION"


class ConnectionLost(DatabaseError):
    """The connection to the database was lost; the next call reconnects."""

    default_code = "DF-DB-CONNECTION-LOST"


class ConnectError(DatabaseError):
    """The database could not be reached or refused the credentials."""

    default_code = "DF-DB-CONNECT"


class QueryTimeout(DatabaseError):
    """The statement ran longer than the configured timeout and was cancelled."""

    default_code = "DF-DB-TIMEOUT"


class SerializationFailure(DatabaseError):
    """A deadlock or serialization failure; retrying the transaction may succeed."""

    default_code = "DF-DB-SERIALIZATION"


class DriverMissingError(DatabaseError):
    """The driver package for the URL's scheme is not installed."""

    default_code = "DF-DB-DRIVER-MISSING"
