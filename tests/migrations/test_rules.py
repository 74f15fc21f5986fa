"""Every rule of the catalogue has a case that triggers it and one that passes, judged
with the facts a live database would give (rows, views, triggers, keys, version)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from dataflow_engine.migrations import ColumnDefinition, Operation, OperationKind
from dataflow_engine.migrations._facts import (
    ColumnFacts,
    ForeignKeyFacts,
    IndexFacts,
    TableFacts,
)
from dataflow_engine.migrations._rules import RULES, Context, check_rules

K = OperationKind


def table(
    name: str = "users",
    rows: int = 50_000,
    *,
    views: tuple[str, ...] = (),
    triggers: tuple[str, ...] = (),
    referenced_by: tuple[str, ...] = (),
    indexes: tuple[IndexFacts, ...] = (),
    columns: dict[str, str] | None = None,
    size: int | None = None,
) -> TableFacts:
    cols = {
        n: ColumnFacts(n, t, True, None, n == "id")
        for n, t in (
            columns
            or {
                "id": "bigint",
                "email": "text",
                "age": "integer",
                "label": "character varying(100)",
            }
        ).items()
    }
    fks = [
        ForeignKeyFacts(None, None, other, ("user_id",), None, name, ("id",))
        for other in referenced_by
    ]
    return TableFacts(
        name,
        None,
        True,
        rows=rows,
        size_bytes=size,
        columns=cols,
        indexes=list(indexes),
        foreign_keys_in=fks,
        dependent_views=list(views),
        triggers=list(triggers),
    )


def col(name: str, data_type: str = "text", **kw: object) -> ColumnDefinition:
    return ColumnDefinition(name, data_type, **kw)  # type: ignore[arg-type]


@dataclass
class Case:
    ops: list[Operation]
    facts: list[TableFacts] = field(default_factory=lambda: [table()])
    dialect: str = "postgresql"
    version: tuple[int, ...] = (16, 4)
    flavor: str = "postgresql"
    in_transaction: bool = True
    lock_timeout: bool = True
    nulls: dict[tuple[str, str], int] = field(default_factory=dict)


def raw(sql: str) -> Operation:
    return Operation(K.RAW, "", sql=sql)


EMPTY = [table(rows=0)]
MYSQL = {"dialect": "mysql", "version": (10, 11, 6), "flavor": "mariadb"}
SQLITE = {"dialect": "sqlite", "version": (3, 45, 1), "flavor": "sqlite"}

# rule id -> (a case that triggers it, a case that does not)
CASES: dict[str, tuple[Case, Case]] = {
    "adding-required-field": (
        Case([Operation(K.ADD_COLUMN, "users", column=col("status", nullable=False))]),
        Case([Operation(K.ADD_COLUMN, "users", column=col("status", nullable=False))], EMPTY),
    ),
    "set-not-null-with-nulls": (
        Case(
            [Operation(K.SET_NOT_NULL, "users", column_name="age")],
            nulls={("users", "age"): 12},
        ),
        Case([Operation(K.SET_NOT_NULL, "users", column_name="age")], nulls={("users", "age"): 0}),
    ),
    "unique-on-existing-data": (
        Case([Operation(K.ADD_INDEX, "users", columns=["email"], unique=True, index="u")]),
        Case([Operation(K.ADD_INDEX, "users", columns=["email"], unique=True, index="u")], EMPTY),
    ),
    "ban-drop-table": (
        Case([Operation(K.DROP_TABLE, "users")]),
        Case([Operation(K.CREATE_TABLE, "users")]),
    ),
    "ban-drop-column": (
        Case([Operation(K.DROP_COLUMN, "users", column_name="email")]),
        Case([Operation(K.ADD_COLUMN, "users", column=col("x"))]),
    ),
    "ban-truncate": (Case([Operation(K.TRUNCATE_TABLE, "users")]), Case([raw("SELECT 1")])),
    "drop-cascade": (
        Case([Operation(K.DROP_COLUMN, "users", column_name="email", cascade=True)]),
        Case([Operation(K.DROP_COLUMN, "users", column_name="email")]),
    ),
    "delete-without-where": (
        Case([Operation(K.UPDATE_ROWS, "users", expression="age = 0")]),
        Case([Operation(K.UPDATE_ROWS, "users", expression="age = 0", where="id < 1000")]),
    ),
    "backfill-with-ddl": (
        Case(
            [
                Operation(K.ADD_COLUMN, "users", column=col("x")),
                Operation(K.UPDATE_ROWS, "users", expression="x = 'a'", where="id < 10"),
            ]
        ),
        Case(
            [
                Operation(K.ADD_COLUMN, "users", column=col("x")),
                Operation(K.UPDATE_ROWS, "users", expression="x = 'a'", where="id < 10"),
            ],
            in_transaction=False,
        ),
    ),
    "adding-field-with-default": (
        Case(
            [Operation(K.ADD_COLUMN, "users", column=col("k", "uuid", default="gen_random_uuid()"))]
        ),
        Case([Operation(K.ADD_COLUMN, "users", column=col("k", "text", default="'a'"))]),
    ),
    "changing-column-type": (
        Case([Operation(K.ALTER_COLUMN_TYPE, "users", column_name="age", data_type="bigint")]),
        Case([Operation(K.ALTER_COLUMN_TYPE, "users", column_name="label", data_type="text")]),
    ),
    "adding-not-nullable-field": (
        Case([Operation(K.SET_NOT_NULL, "users", column_name="email")]),
        Case(
            [
                Operation(
                    K.ADD_CHECK, "users", expression="email IS NOT NULL", not_valid=True, index="c"
                ),
                Operation(K.VALIDATE_CONSTRAINT, "users", index="c"),
                Operation(K.SET_NOT_NULL, "users", column_name="email"),
            ],
            in_transaction=False,
        ),
    ),
    "require-concurrent-index-creation": (
        Case([Operation(K.ADD_INDEX, "users", columns=["age"], index="i")]),
        Case([Operation(K.ADD_INDEX, "users", columns=["age"], index="i", concurrently=True)]),
    ),
    "require-concurrent-index-deletion": (
        Case([Operation(K.DROP_INDEX, "i", index="i")]),
        Case([Operation(K.DROP_INDEX, "i", index="i", concurrently=True)]),
    ),
    "ban-concurrent-index-creation-in-transaction": (
        Case(
            [
                Operation(K.ADD_COLUMN, "users", column=col("x")),
                Operation(K.ADD_INDEX, "users", columns=["x"], index="i", concurrently=True),
            ]
        ),
        Case([Operation(K.ADD_INDEX, "users", columns=["x"], index="i", concurrently=True)]),
    ),
    "constraint-missing-not-valid": (
        Case(
            [
                Operation(
                    K.ADD_FOREIGN_KEY,
                    "users",
                    columns=["org"],
                    references=("orgs", ["id"]),
                    index="fk",
                )
            ]
        ),
        Case(
            [
                Operation(
                    K.ADD_FOREIGN_KEY,
                    "users",
                    columns=["org"],
                    references=("orgs", ["id"]),
                    not_valid=True,
                    index="fk",
                )
            ]
        ),
    ),
    "validate-in-same-transaction": (
        Case(
            [
                Operation(K.ADD_CHECK, "users", expression="age > 0", not_valid=True, index="c"),
                Operation(K.VALIDATE_CONSTRAINT, "users", index="c"),
            ]
        ),
        Case([Operation(K.VALIDATE_CONSTRAINT, "users", index="c")]),
    ),
    "disallowed-unique-constraint": (
        Case([Operation(K.ADD_UNIQUE, "users", columns=["email"], index="u")]),
        Case(
            [
                Operation(
                    K.ADD_UNIQUE,
                    "users",
                    columns=["email"],
                    index="u",
                    options={"using_index": "ui"},
                )
            ]
        ),
    ),
    "adding-exclusion-constraint": (
        Case([Operation(K.ADD_EXCLUSION, "users", index="x")]),
        Case([Operation(K.ADD_EXCLUSION, "users", index="x")], EMPTY),
    ),
    "renaming-column": (
        Case([Operation(K.RENAME_COLUMN, "users", column_name="email", new_name="mail")]),
        Case([Operation(K.ADD_COLUMN, "users", column=col("mail"))]),
    ),
    "renaming-table": (
        Case([Operation(K.RENAME_TABLE, "users", new_name="people")]),
        Case([Operation(K.CREATE_TABLE, "people")]),
    ),
    "ban-drop-not-null": (
        Case([Operation(K.DROP_NOT_NULL, "users", column_name="email")]),
        Case([Operation(K.DROP_DEFAULT, "users", column_name="email")]),
    ),
    "dropping-constraint": (
        Case([Operation(K.DROP_CONSTRAINT, "users", index="users_org_fk")]),
        Case([Operation(K.VALIDATE_CONSTRAINT, "users", index="users_org_fk")]),
    ),
    "adding-serial-primary-key-field": (
        Case([Operation(K.ADD_COLUMN, "users", column=col("n", "bigserial"))]),
        Case([Operation(K.ADD_COLUMN, "users", column=col("n", "bigserial"))], EMPTY),
    ),
    "adding-stored-generated-column": (
        Case(
            [
                Operation(
                    K.ADD_COLUMN,
                    "users",
                    column=col("g", "int"),
                    options={"generated_stored": True},
                )
            ]
        ),
        Case([Operation(K.ADD_COLUMN, "users", column=col("g", "int"))]),
    ),
    "require-timeout-settings": (
        Case([Operation(K.DROP_COLUMN, "users", column_name="email")], lock_timeout=False),
        Case([Operation(K.DROP_COLUMN, "users", column_name="email")]),
    ),
    "transaction-nesting": (Case([raw("COMMIT")]), Case([raw("SET lock_timeout = '2s'")])),
    "raw-sql": (
        Case([raw("DO $$ BEGIN PERFORM 1; END $$")]),
        Case([raw("SET lock_timeout = '1s'")]),
    ),
    "ban-drop-database": (Case([raw("DROP SCHEMA app")]), Case([raw("SELECT 1")])),
    "dependent-views": (
        Case([Operation(K.DROP_COLUMN, "users", column_name="age")], [table(views=("adults",))]),
        Case([Operation(K.DROP_COLUMN, "users", column_name="age")]),
    ),
    "triggers-on-table": (
        Case(
            [Operation(K.UPDATE_ROWS, "users", expression="age = 1", where="id = 1")],
            [table(triggers=("audit",))],
        ),
        Case([Operation(K.UPDATE_ROWS, "users", expression="age = 1", where="id = 1")]),
    ),
    "referenced-table": (
        Case(
            [Operation(K.RENAME_TABLE, "users", new_name="people")],
            [table(referenced_by=("orders",))],
        ),
        Case([Operation(K.RENAME_TABLE, "users", new_name="people")]),
    ),
    "prefer-text-field": (
        Case([Operation(K.ADD_COLUMN, "users", column=col("c", "varchar(30)"))]),
        Case([Operation(K.ADD_COLUMN, "users", column=col("c", "text"))]),
    ),
    "ban-char-field": (
        Case([Operation(K.ADD_COLUMN, "users", column=col("c", "char(2)"))]),
        Case([Operation(K.ADD_COLUMN, "users", column=col("c", "text"))]),
    ),
    "prefer-bigint-over-int": (
        Case([Operation(K.ADD_COLUMN, "users", column=col("n", "integer"))]),
        Case([Operation(K.ADD_COLUMN, "users", column=col("n", "bigint"))]),
    ),
    "prefer-bigint-over-smallint": (
        Case([Operation(K.ADD_COLUMN, "users", column=col("n", "smallint"))]),
        Case([Operation(K.ADD_COLUMN, "users", column=col("n", "bigint"))]),
    ),
    "prefer-timestamptz": (
        Case([Operation(K.ADD_COLUMN, "users", column=col("t", "timestamp"))]),
        Case([Operation(K.ADD_COLUMN, "users", column=col("t", "timestamptz"))]),
    ),
    "prefer-jsonb": (
        Case([Operation(K.ADD_COLUMN, "users", column=col("j", "json"))]),
        Case([Operation(K.ADD_COLUMN, "users", column=col("j", "jsonb"))]),
    ),
    "prefer-identity": (
        Case([Operation(K.ADD_COLUMN, "users", column=col("n", "serial"))], EMPTY),
        Case([Operation(K.ADD_COLUMN, "users", column=col("n", "bigint"))]),
    ),
    "ban-float-for-money": (
        Case([Operation(K.ADD_COLUMN, "users", column=col("m", "double precision"))]),
        Case([Operation(K.ADD_COLUMN, "users", column=col("m", "numeric(12,2)"))]),
    ),
    "mysql-utf8-charset": (
        Case(
            [Operation(K.ADD_COLUMN, "users", column=col("c", "varchar(10) character set utf8"))],
            **MYSQL,
        ),
        Case(
            [
                Operation(
                    K.ADD_COLUMN, "users", column=col("c", "varchar(10) character set utf8mb4")
                )
            ],
            **MYSQL,
        ),
    ),
    "mysql-enum-column": (
        Case([Operation(K.ADD_COLUMN, "users", column=col("e", "enum('a','b')"))], **MYSQL),
        Case([Operation(K.ADD_COLUMN, "users", column=col("e", "varchar(10)"))], **MYSQL),
    ),
    "prefer-robust-stmts": (
        Case(
            [Operation(K.ADD_INDEX, "users", columns=["age"], index="i", concurrently=True)],
            in_transaction=False,
        ),
        Case(
            [
                Operation(
                    K.ADD_INDEX,
                    "users",
                    columns=["age"],
                    index="i",
                    concurrently=True,
                    if_exists=True,
                )
            ],
            in_transaction=False,
        ),
    ),
    "index-too-many-columns": (
        Case(
            [
                Operation(
                    K.ADD_INDEX, "users", columns=["a", "b", "c", "d"], index="i", concurrently=True
                )
            ]
        ),
        Case([Operation(K.ADD_INDEX, "users", columns=["a", "b"], index="i", concurrently=True)]),
    ),
    "foreign-key-without-index": (
        Case(
            [
                Operation(
                    K.ADD_FOREIGN_KEY,
                    "users",
                    columns=["org"],
                    references=("orgs", ["id"]),
                    not_valid=True,
                    index="fk",
                )
            ]
        ),
        Case(
            [
                Operation(
                    K.ADD_FOREIGN_KEY,
                    "users",
                    columns=["org"],
                    references=("orgs", ["id"]),
                    not_valid=True,
                    index="fk",
                )
            ],
            [table(indexes=(IndexFacts("users_org", ("org",)),))],
        ),
    ),
    "mysql-inline-references-ignored": (
        Case(
            [Operation(K.ADD_COLUMN, "users", column=col("org", "bigint", references="orgs.id"))],
            **MYSQL,
        ),
        Case([Operation(K.ADD_COLUMN, "users", column=col("org", "bigint"))], **MYSQL),
    ),
    "mysql-modify-drops-attributes": (
        Case(
            [
                Operation(
                    K.ALTER_COLUMN_TYPE,
                    "users",
                    column_name="age",
                    data_type="bigint",
                    options={"mysql_modify": True},
                )
            ],
            **MYSQL,
        ),
        Case(
            [Operation(K.ALTER_COLUMN_TYPE, "users", column_name="age", data_type="bigint")],
            **MYSQL,
        ),
    ),
    "sqlite-alter-unsupported": (
        Case(
            [Operation(K.ALTER_COLUMN_TYPE, "users", column_name="age", data_type="bigint")],
            **SQLITE,
        ),
        Case([Operation(K.ADD_COLUMN, "users", column=col("x"))], **SQLITE),
    ),
    "sqlite-drop-column-limits": (
        Case(
            [Operation(K.DROP_COLUMN, "users", column_name="age")],
            [table(indexes=(IndexFacts("users_age", ("age",)),))],
            **SQLITE,
        ),
        Case([Operation(K.DROP_COLUMN, "users", column_name="age")], **SQLITE),
    ),
    "large-table-rewrite": (
        Case(
            [Operation(K.ALTER_COLUMN_TYPE, "users", column_name="age", data_type="bigint")],
            [table(rows=2_000_000)],
        ),
        Case(
            [Operation(K.ALTER_COLUMN_TYPE, "users", column_name="age", data_type="bigint")],
            [table(rows=2_000)],
        ),
    ),
    "add-column-default-mysql-old": (
        Case(
            [Operation(K.ADD_COLUMN, "users", column=col("x"))],
            dialect="mysql",
            version=(5, 7, 40),
            flavor="mysql",
        ),
        Case([Operation(K.ADD_COLUMN, "users", column=col("x"))], **MYSQL),
    ),
    "creating-table-without-primary-key": (
        Case([Operation(K.CREATE_TABLE, "logs", options={"columns": [col("line")]})]),
        Case(
            [
                Operation(
                    K.CREATE_TABLE,
                    "logs",
                    options={"columns": [col("id", "bigint", primary_key=True)]},
                )
            ]
        ),
    ),
    "volatile-default-set": (
        Case([Operation(K.SET_DEFAULT, "users", column_name="k", default="gen_random_uuid()")]),
        Case([Operation(K.SET_DEFAULT, "users", column_name="k", default="'x'")]),
    ),
    "adding-unique-column": (
        Case([Operation(K.ADD_COLUMN, "users", column=col("code", unique=True))]),
        Case([Operation(K.ADD_COLUMN, "users", column=col("code"))]),
    ),
    "dropping-primary-key": (
        Case(
            [Operation(K.DROP_CONSTRAINT, "users", index="users_pkey")],
            [table(indexes=(IndexFacts("users_pkey", ("id",), unique=True, primary=True),))],
        ),
        Case([Operation(K.DROP_CONSTRAINT, "users", index="users_pkey")]),
    ),
    "unnamed-constraint": (
        Case(
            [Operation(K.ADD_CHECK, "users", expression="age > 0", not_valid=True, sql="ALTER ...")]
        ),
        Case(
            [
                Operation(
                    K.ADD_CHECK,
                    "users",
                    expression="age > 0",
                    not_valid=True,
                    index="c",
                    sql="ALTER ...",
                )
            ]
        ),
    ),
}


def _run(case: Case) -> set[str]:
    ops = list(case.ops)
    ctx = Context(
        dialect=case.dialect,
        version=case.version,
        flavor=case.flavor,
        tables={f.name: f for f in case.facts},
        operations=ops,
        in_transaction=case.in_transaction,
        lock_timeout_set=case.lock_timeout,
        nulls=dict(case.nulls),
    )
    return {f.rule for f in check_rules(ops, ctx)}


def test_every_rule_has_cases() -> None:
    assert sorted(CASES) == sorted(RULES)
    assert len(RULES) >= 55


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_the_rule_triggers_on_its_case_and_not_on_the_safe_one(rule_id: str) -> None:
    triggering, passing = CASES[rule_id]
    assert rule_id in _run(triggering), f"{rule_id} did not trigger"
    assert rule_id not in _run(passing), f"{rule_id} triggered on the safe case"


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_every_rule_is_documented(rule_id: str) -> None:
    r = RULES[rule_id]
    assert r.title and r.what and r.why and r.instead
    assert r.severity in ("error", "warning", "info")
    assert r.sources


def test_the_rule_documentation_is_fresh() -> None:
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(root / "scripts"))
    import generate_rule_docs

    on_disk = (root / "docs" / "migration-rules.md").read_text(encoding="utf-8")
    assert on_disk == generate_rule_docs.render(), (
        "docs/migration-rules.md is stale: run python scripts/generate_rule_docs.py"
    )


def test_an_unrelated_check_does_not_excuse_set_not_null() -> None:
    ops = [
        Operation(K.ADD_CHECK, "users", expression="age > 0", not_valid=True, index="c"),
        Operation(K.VALIDATE_CONSTRAINT, "users", index="c"),
        Operation(K.SET_NOT_NULL, "users", column_name="email"),
    ]
    assert "adding-not-nullable-field" in _run(Case(ops, in_transaction=False))


def test_the_timeout_rule_fires_on_the_first_statement_that_blocks_writes() -> None:
    ops = [
        Operation(K.ADD_INDEX, "users", columns=["age"], index="i", concurrently=True),
        Operation(K.ALTER_COLUMN_TYPE, "users", column_name="age", data_type="bigint"),
    ]
    ctx = Context("postgresql", (16, 4), "postgresql", {"users": table()}, ops)
    found = [f for f in check_rules(ops, ctx) if f.rule == "require-timeout-settings"]
    assert [f.operation for f in found] == [1]


def test_sqlite_refuses_unique_columns_and_dropping_its_key() -> None:
    unique = Operation(K.ADD_COLUMN, "users", column=col("code", unique=True))
    assert "sqlite-alter-unsupported" in _run(Case([unique], EMPTY, **SQLITE))
    drop_key = Operation(K.DROP_COLUMN, "users", column_name="id")
    assert "sqlite-drop-column-limits" in _run(Case([drop_key], **SQLITE))
