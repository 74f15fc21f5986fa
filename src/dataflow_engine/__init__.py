"""DataFlow: annotated classes become tables and workflow nodes, on SQLite and PostgreSQL.

Example::

    from dataflow_engine import DataFlow, LocalRuntime, WorkflowBuilder

    db = DataFlow()  # in-memory SQLite

    @db.model
    class User:
        name: str
        age: int

    wf = WorkflowBuilder()
    wf.add_node("UserCreateNode", "create", {"name": "Ann", "age": 30})
    results, run_id = LocalRuntime().execute(wf.build())
"""

from ._dataflow import DataFlow
from ._loop import run_on_engine_loop
from .errors import (
    AmbiguousNodeTypeError,
    ConfigurationError,
    ConnectionLost,
    DatabaseError,
    DataFlowError,
    FilterError,
    ForeignKeyViolation,
    MigrationError,
    MigrationLockTimeout,
    ModelError,
    MultipleRecordsError,
    NodeTypeError,
    NotFoundError,
    NotNullViolation,
    OptimisticLockError,
    QueryTimeout,
    ReadOnlyError,
    SchemaError,
    TenantError,
    UniqueViolation,
    UnsupportedError,
    ValidationError,
    WorkflowError,
    WorkflowValidationError,
)
from .workflow import (
    AsyncLocalRuntime,
    LocalRuntime,
    Workflow,
    WorkflowBuilder,
    workflow_json_schema,
)

__version__ = "0.1.0"

__all__ = [
    "AmbiguousNodeTypeError",
    "AsyncLocalRuntime",
    "ConfigurationError",
    "ConnectionLost",
    "DataFlow",
    "DataFlowError",
    "DatabaseError",
    "FilterError",
    "ForeignKeyViolation",
    "LocalRuntime",
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
    "TenantError",
    "UniqueViolation",
    "UnsupportedError",
    "ValidationError",
    "Workflow",
    "WorkflowBuilder",
    "WorkflowError",
    "WorkflowValidationError",
    "__version__",
    "run_on_engine_loop",
    "workflow_json_schema",
]
