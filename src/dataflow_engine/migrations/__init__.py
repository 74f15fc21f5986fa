"""The migration safety suite: judge a schema change on the live database before it runs,
and carry it out safely (DESIGN §9)."""

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
from ._lock import MigrationLockManager
from ._mitigation import MitigationStrategyEngine
from ._operations import ColumnDefinition, DefaultValueType, Operation, OperationKind
from ._removal import ColumnRemovalManager, RemovalPlan, RemovalResult, RemovalStage
from ._risk import (
    MigrationReport,
    OperationRisk,
    RiskAssessmentEngine,
    RiskLevel,
    assess,
    assess_async,
)
from ._rules import RULES, Finding, Rule

__all__ = [
    "RULES",
    "ColumnDefinition",
    "ColumnFacts",
    "ColumnRemovalManager",
    "DefaultValueType",
    "Effect",
    "Finding",
    "ForeignKeyFacts",
    "IndexFacts",
    "MigrationLockManager",
    "MigrationReport",
    "MitigationStrategyEngine",
    "Operation",
    "OperationKind",
    "OperationRisk",
    "RemovalPlan",
    "RemovalResult",
    "RemovalStage",
    "RiskAssessmentEngine",
    "RiskLevel",
    "Rule",
    "ServerFacts",
    "TableFacts",
    "assess",
    "assess_async",
    "effect_of",
    "gather_facts",
    "gather_facts_sync",
    "parse_ddl",
]
