"""The migration safety suite: judge a schema change on the live database before it runs,
and carry it out safely (DESIGN §9)."""

from ._checkpoints import Checkpoint, CheckpointReport, ValidationCheckpointManager
from ._ddl import parse_ddl
from ._effects import Effect, effect_of
from ._facts import (
    ColumnFacts,
    ForeignKeyFacts,
    IndexFacts,
    ServerFacts,
    TableFacts,
    gather_facts,
    gather_facts_sync,
)
from ._fk import (
    AddForeignKeyPlan,
    CascadeReach,
    FKEffect,
    FKImpact,
    ForeignKeyAnalyzer,
    OrphanReport,
    PlanProblem,
    PlanStep,
)
from ._lock import MigrationLockManager
from ._mitigation import MitigationStrategyEngine
from ._not_null import NotNullAdditionPlan, NotNullAdditionResult, NotNullColumnHandler
from ._operations import ColumnDefinition, DefaultValueType, Operation, OperationKind
from ._removal import ColumnRemovalManager, RemovalPlan, RemovalResult, RemovalStage
from ._rename import (
    RenameDependent,
    RenameImpact,
    RenamePlan,
    RenameResult,
    TableRenameAnalyzer,
)
from ._risk import (
    MigrationReport,
    OperationRisk,
    RiskAssessmentEngine,
    RiskLevel,
    assess,
    assess_async,
)
from ._rules import RULES, Finding, Rule
from ._staging import StagingEnvironment, StagingEnvironmentManager
from ._state import SchemaDiff, SchemaSnapshot, SchemaStateManager

__all__ = [
    "RULES",
    "AddForeignKeyPlan",
    "CascadeReach",
    "Checkpoint",
    "CheckpointReport",
    "ColumnDefinition",
    "ColumnFacts",
    "ColumnRemovalManager",
    "DefaultValueType",
    "Effect",
    "FKEffect",
    "FKImpact",
    "Finding",
    "ForeignKeyAnalyzer",
    "ForeignKeyFacts",
    "IndexFacts",
    "MigrationLockManager",
    "MigrationReport",
    "MitigationStrategyEngine",
    "NotNullAdditionPlan",
    "NotNullAdditionResult",
    "NotNullColumnHandler",
    "Operation",
    "OperationKind",
    "OperationRisk",
    "OrphanReport",
    "PlanProblem",
    "PlanStep",
    "RemovalPlan",
    "RemovalResult",
    "RemovalStage",
    "RenameDependent",
    "RenameImpact",
    "RenamePlan",
    "RenameResult",
    "RiskAssessmentEngine",
    "RiskLevel",
    "Rule",
    "SchemaDiff",
    "SchemaSnapshot",
    "SchemaStateManager",
    "ServerFacts",
    "StagingEnvironment",
    "StagingEnvironmentManager",
    "TableFacts",
    "TableRenameAnalyzer",
    "ValidationCheckpointManager",
    "assess",
    "assess_async",
    "effect_of",
    "gather_facts",
    "gather_facts_sync",
    "parse_ddl",
]
