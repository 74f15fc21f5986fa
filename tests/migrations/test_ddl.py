"""parse_ddl: DDL / DML text -> Operations, per dialect (pure, no database).

Each case is (dialect, text, expected operations); an expected operation is its kind and
the fields that matter (``options`` is compared as a subset, ``column`` field by field).
"""

from __future__ import annotations

import doctest
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from dataflow_engine.errors import MigrationError, UnsupportedError
from dataflow_engine.migrations import ColumnDefinition, Operation, OperationKind, _ddl, parse_ddl

K = OperationKind
PG, MY, LITE = "postgresql", "mysql", "sqlite"
DIALECTS = [PG, MY, LITE]

Expected = tuple[OperationKind, dict[str, Any]]


@pytest.fixture(autouse=True)
def _quiet_sqlglot() -> Iterator[None]:
    # sqlglot warns when it falls back to a Command; the fallback is what is under test.
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


def check(op: Operation, kind: OperationKind, fields: dict[str, Any]) -> None:
    assert op.kind is kind, op
    for key, value in fields.items():
        if key == "options":
            assert {k: op.options.get(k) for k in value} == value, op.options
        elif key == "column":
            assert op.column is not None
            assert {k: getattr(op.column, k) for k in value} == value, op.column
        else:
            assert getattr(op, key) == value, (key, op)


def case(dialect: str, text: str, *expected: Expected, id: str) -> Any:
    return pytest.param(dialect, text, list(expected), id=f"{dialect}-{id}")


POSTGRES = [
    # ALTER TABLE ... ADD COLUMN
    case(
        PG,
        "ALTER TABLE users ADD COLUMN status text NOT NULL DEFAULT 'a''b'",
        (
            K.ADD_COLUMN,
            {
                "table": "users",
                "column_name": "status",
                "column": {"data_type": "text", "nullable": False, "default": "'a''b'"},
            },
        ),
        id="add-column-not-null-quoted-default",
    ),
    case(
        PG,
        "ALTER TABLE users ADD COLUMN created_at timestamptz DEFAULT now() UNIQUE "
        "REFERENCES orgs (id)",
        (
            K.ADD_COLUMN,
            {
                "column": {
                    "name": "created_at",
                    "data_type": "timestamptz",
                    "nullable": True,
                    "default": "now()",
                    "unique": True,
                    "references": "orgs.id",
                },
                "references": ("orgs", ["id"]),
            },
        ),
        id="add-column-function-default-unique-references",
    ),
    case(
        PG,
        "ALTER TABLE users ADD COLUMN id bigint PRIMARY KEY, "
        "ADD COLUMN IF NOT EXISTS tags text[] DEFAULT '{}'::text[]",
        (K.ADD_COLUMN, {"column": {"primary_key": True, "nullable": False}}),
        (
            K.ADD_COLUMN,
            {"if_exists": True, "column": {"data_type": "text[]", "default": "'{}'::text[]"}},
        ),
        id="add-column-primary-key-and-if-not-exists",
    ),
    case(
        PG,
        "ALTER TABLE t ADD COLUMN amount numeric(12, 2) DEFAULT (1 + 2) CHECK (amount >= 0)",
        (
            K.ADD_COLUMN,
            {
                "column": {"data_type": "numeric(12, 2)", "default": "(1 + 2)"},
                "options": {"check": "amount >= 0"},
            },
        ),
        id="add-column-expression-default-and-check",
    ),
    case(
        PG,
        "ALTER TABLE public.users ADD COLUMN x int",
        (K.ADD_COLUMN, {"table": "users", "options": {"schema": "public"}}),
        id="schema-qualified-table",
    ),
    case(
        PG,
        'ALTER TABLE "public"."User Table" ADD COLUMN "Näme ü" varchar(10) DEFAULT \'é\'',
        (
            K.ADD_COLUMN,
            {
                "table": "User Table",
                "column_name": "Näme ü",
                "column": {"data_type": "varchar(10)", "default": "'é'"},
                "options": {"schema": "public"},
            },
        ),
        id="quoted-unicode-names",
    ),
    case(
        PG,
        "ALTER TABLE Users ADD COLUMN Email text",
        (K.ADD_COLUMN, {"table": "Users", "column_name": "Email"}),
        id="unquoted-names-as-written",
    ),
    # DROP / RENAME
    case(
        PG,
        "ALTER TABLE users DROP COLUMN legacy CASCADE",
        (K.DROP_COLUMN, {"column_name": "legacy", "cascade": True, "if_exists": False}),
        id="drop-column-cascade",
    ),
    case(
        PG,
        "ALTER TABLE users DROP COLUMN IF EXISTS legacy",
        (K.DROP_COLUMN, {"column_name": "legacy", "cascade": False, "if_exists": True}),
        id="drop-column-if-exists",
    ),
    case(
        PG,
        "ALTER TABLE users RENAME COLUMN name TO full_name",
        (K.RENAME_COLUMN, {"column_name": "name", "new_name": "full_name"}),
        id="rename-column",
    ),
    case(
        PG,
        "ALTER TABLE users RENAME name TO full_name",
        (K.RENAME_COLUMN, {"column_name": "name", "new_name": "full_name"}),
        id="rename-column-without-keyword",
    ),
    case(
        PG,
        "ALTER TABLE users RENAME TO people",
        (K.RENAME_TABLE, {"table": "users", "new_name": "people"}),
        id="rename-table",
    ),
    # ALTER COLUMN
    case(
        PG,
        "ALTER TABLE t ALTER COLUMN n TYPE bigint USING n::bigint",
        (
            K.ALTER_COLUMN_TYPE,
            {"column_name": "n", "data_type": "bigint", "expression": "n::bigint"},
        ),
        id="alter-type-using",
    ),
    case(
        PG,
        "ALTER TABLE t ALTER n SET DATA TYPE timestamp with time zone",
        (
            K.ALTER_COLUMN_TYPE,
            {"column_name": "n", "data_type": "timestamp with time zone", "expression": None},
        ),
        id="alter-set-data-type",
    ),
    case(
        PG,
        "ALTER TABLE t ALTER COLUMN a SET NOT NULL, ALTER COLUMN b DROP NOT NULL",
        (K.SET_NOT_NULL, {"column_name": "a"}),
        (K.DROP_NOT_NULL, {"column_name": "b"}),
        id="set-and-drop-not-null",
    ),
    case(
        PG,
        "ALTER TABLE t ALTER COLUMN a SET DEFAULT now(), ALTER COLUMN b DROP DEFAULT",
        (K.SET_DEFAULT, {"column_name": "a", "default": "now()"}),
        (K.DROP_DEFAULT, {"column_name": "b", "default": None}),
        id="set-and-drop-default",
    ),
    # constraints
    case(
        PG,
        "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) "
        "REFERENCES public.users (id) ON DELETE CASCADE NOT VALID",
        (
            K.ADD_FOREIGN_KEY,
            {
                "index": "orders_user_fk",
                "columns": ["user_id"],
                "references": ("users", ["id"]),
                "not_valid": True,
                "options": {
                    "references_schema": "public",
                    "reference_options": ["ON DELETE CASCADE"],
                },
            },
        ),
        id="foreign-key-not-valid",
    ),
    case(
        PG,
        "ALTER TABLE orders ADD FOREIGN KEY (user_id) REFERENCES users (id)",
        (K.ADD_FOREIGN_KEY, {"index": None, "not_valid": False, "references": ("users", ["id"])}),
        id="foreign-key-unnamed",
    ),
    case(
        PG,
        "ALTER TABLE t ADD CONSTRAINT positive CHECK (amount > 0) NOT VALID",
        (K.ADD_CHECK, {"index": "positive", "expression": "amount > 0", "not_valid": True}),
        id="check-not-valid",
    ),
    case(
        PG,
        "ALTER TABLE t ADD CHECK (amount > 0) NOT VALID",
        (K.ADD_CHECK, {"index": None, "expression": "amount > 0", "not_valid": True}),
        id="check-unnamed-not-valid",
    ),
    case(
        PG,
        "ALTER TABLE t ADD CONSTRAINT t_email_key UNIQUE (email, tenant)",
        (K.ADD_UNIQUE, {"index": "t_email_key", "columns": ["email", "tenant"], "unique": True}),
        id="unique",
    ),
    case(
        PG,
        "ALTER TABLE t ADD CONSTRAINT t_pkey PRIMARY KEY (id)",
        (K.ADD_PRIMARY_KEY, {"index": "t_pkey", "columns": ["id"]}),
        id="primary-key",
    ),
    case(
        PG,
        "ALTER TABLE t ADD CONSTRAINT t_email_key UNIQUE USING INDEX t_email_idx",
        (K.ADD_UNIQUE, {"index": "t_email_key", "options": {"using_index": "t_email_idx"}}),
        id="unique-using-index",
    ),
    case(
        PG,
        "ALTER TABLE t ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_id_idx",
        (K.ADD_PRIMARY_KEY, {"index": "t_pkey", "options": {"using_index": "t_id_idx"}}),
        id="primary-key-using-index",
    ),
    case(
        PG,
        "ALTER TABLE bookings ADD CONSTRAINT no_overlap "
        "EXCLUDE USING gist (room WITH =, during WITH &&)",
        (
            K.ADD_EXCLUSION,
            {"index": "no_overlap", "columns": ["room", "during"], "options": {"using": "gist"}},
        ),
        id="exclude",
    ),
    case(
        PG,
        "ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk",
        (K.VALIDATE_CONSTRAINT, {"table": "orders", "index": "orders_user_fk"}),
        id="validate-constraint",
    ),
    case(
        PG,
        "ALTER TABLE t DROP CONSTRAINT IF EXISTS t_email_key CASCADE",
        (K.DROP_CONSTRAINT, {"index": "t_email_key", "cascade": True, "if_exists": True}),
        id="drop-constraint",
    ),
    # several actions, some of which sqlglot cannot read
    case(
        PG,
        "ALTER TABLE IF EXISTS t VALIDATE CONSTRAINT c, ADD COLUMN z int DEFAULT 0, "
        "ALTER COLUMN q SET STATISTICS 100",
        (K.VALIDATE_CONSTRAINT, {"index": "c", "if_exists": True}),
        (K.ADD_COLUMN, {"column": {"name": "z", "default": "0"}}),
        (K.RAW, {"table": "t", "options": {"action": "ALTER COLUMN q SET STATISTICS 100"}}),
        id="mixed-actions-one-unknown",
    ),
    # indexes
    case(
        PG,
        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS users_email ON public.users "
        "(email, lower(name)) WHERE deleted_at IS NULL",
        (
            K.ADD_INDEX,
            {
                "table": "users",
                "index": "users_email",
                "columns": ["email", "lower(name)"],
                "unique": True,
                "concurrently": True,
                "if_exists": True,
                "where": "deleted_at IS NULL",
                "options": {"schema": "public"},
            },
        ),
        id="create-index-concurrently",
    ),
    case(
        PG,
        "CREATE INDEX ON t USING gin (doc)",
        (K.ADD_INDEX, {"index": None, "unique": False, "options": {"using": "gin"}}),
        id="create-index-unnamed",
    ),
    case(
        PG,
        "DROP INDEX CONCURRENTLY IF EXISTS public.users_email",
        (
            K.DROP_INDEX,
            {
                "table": "",
                "index": "users_email",
                "concurrently": True,
                "if_exists": True,
                "options": {"index_schema": "public"},
            },
        ),
        id="drop-index-concurrently",
    ),
    # tables, views, triggers
    case(
        PG,
        "CREATE TABLE t2 AS SELECT * FROM t",
        (K.CREATE_TABLE, {"table": "t2", "expression": "SELECT * FROM t", "columns": []}),
        id="create-table-as",
    ),
    case(
        PG,
        "DROP TABLE IF EXISTS a, s.b CASCADE",
        (K.DROP_TABLE, {"table": "a", "cascade": True, "if_exists": True}),
        (K.DROP_TABLE, {"table": "b", "cascade": True, "options": {"schema": "s"}}),
        id="drop-tables-cascade",
    ),
    case(
        PG,
        "TRUNCATE users, events RESTART IDENTITY CASCADE",
        (K.TRUNCATE_TABLE, {"table": "users", "cascade": True}),
        (K.TRUNCATE_TABLE, {"table": "events", "options": {"restart_identity": True}}),
        id="truncate",
    ),
    case(
        PG,
        "CREATE OR REPLACE VIEW active AS SELECT id FROM users WHERE active",
        (
            K.CREATE_VIEW,
            {
                "table": "active",
                "expression": "SELECT id FROM users WHERE active",
                "options": {"replace": True},
            },
        ),
        id="create-view",
    ),
    case(
        PG,
        "CREATE MATERIALIZED VIEW mv AS SELECT 1",
        (K.CREATE_VIEW, {"table": "mv", "options": {"materialized": True}}),
        id="create-materialized-view",
    ),
    case(
        PG,
        "DROP VIEW IF EXISTS a, b CASCADE",
        (K.DROP_VIEW, {"table": "a", "cascade": True, "if_exists": True}),
        (K.DROP_VIEW, {"table": "b"}),
        id="drop-views",
    ),
    case(
        PG,
        "CREATE TRIGGER audit BEFORE UPDATE ON public.users FOR EACH ROW "
        "EXECUTE FUNCTION audit_row()",
        (
            K.CREATE_TRIGGER,
            {
                "table": "users",
                "options": {
                    "trigger": "audit",
                    "schema": "public",
                    "timing": "BEFORE",
                    "events": ["UPDATE"],
                },
            },
        ),
        id="create-trigger",
    ),
    # rows
    case(
        PG,
        "UPDATE users SET status = 'a''b', n = n + 1 WHERE id > 5",
        (
            K.UPDATE_ROWS,
            {
                "table": "users",
                "columns": ["status", "n"],
                "expression": "status = 'a''b', n = n + 1",
                "where": "id > 5",
            },
        ),
        id="update-where",
    ),
    case(
        PG,
        "UPDATE t SET (a, b) = (1, 2) FROM o",
        (K.UPDATE_ROWS, {"columns": ["a", "b"], "where": None, "options": {"from": "o"}}),
        id="update-every-row",
    ),
    case(
        PG,
        "DELETE FROM sessions WHERE expires_at < now()",
        (K.DELETE_ROWS, {"table": "sessions", "where": "expires_at < now()"}),
        id="delete-where",
    ),
    case(PG, "DELETE FROM sessions", (K.DELETE_ROWS, {"where": None}), id="delete-every-row"),
    # understood by sqlglot, not mapped
    case(PG, "INSERT INTO t VALUES (1)", (K.RAW, {"table": "t"}), id="raw-insert"),
    case(
        PG, "CREATE EXTENSION pgcrypto", (K.RAW, {"options": {"command": "CREATE"}}), id="raw-cmd"
    ),
    case(PG, "ALTER INDEX a RENAME TO b", (K.RAW, {}), id="raw-alter-index"),
    case(
        PG,
        "ALTER TABLE t ADD COLUMN",
        (K.RAW, {"table": "t", "options": {"action": "ADD COLUMN"}}),
        id="raw-incomplete-action",
    ),
    case(
        PG,
        "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql; DROP TABLE x",
        (K.RAW, {"table": ""}),
        (K.DROP_TABLE, {"table": "x"}),
        id="function-body-with-semicolon",
    ),
]

MYSQL = [
    case(
        MY,
        "ALTER TABLE users MODIFY COLUMN age bigint NOT NULL",
        (
            K.ALTER_COLUMN_TYPE,
            {"column_name": "age", "data_type": "bigint", "column": {"nullable": False}},
        ),
        (K.SET_NOT_NULL, {"column_name": "age"}),
        (K.DROP_DEFAULT, {"column_name": "age", "options": {"implicit": True}}),
        id="modify-not-null",
    ),
    case(
        MY,
        "ALTER TABLE users MODIFY age varchar(20)",
        (K.ALTER_COLUMN_TYPE, {"data_type": "varchar(20)"}),
        (K.DROP_NOT_NULL, {"column_name": "age", "options": {"implicit": True}}),
        (K.DROP_DEFAULT, {"options": {"implicit": True}}),
        id="modify-omitting-not-null-drops-it",
    ),
    case(
        MY,
        "ALTER TABLE users MODIFY age int NULL DEFAULT 0",
        (K.ALTER_COLUMN_TYPE, {"data_type": "int"}),
        (K.DROP_NOT_NULL, {"options": {"implicit": None}}),
        (K.SET_DEFAULT, {"default": "0"}),
        id="modify-explicit-null-and-default",
    ),
    case(
        MY,
        "ALTER TABLE users CHANGE COLUMN name full_name varchar(100) NOT NULL DEFAULT ''",
        (
            K.ALTER_COLUMN_TYPE,
            {"column_name": "name", "column": {"name": "full_name", "data_type": "varchar(100)"}},
        ),
        (K.SET_NOT_NULL, {"column_name": "name"}),
        (K.SET_DEFAULT, {"column_name": "name", "default": "''"}),
        (K.RENAME_COLUMN, {"column_name": "name", "new_name": "full_name"}),
        id="change-renames-and-redefines",
    ),
    case(
        MY,
        "ALTER TABLE `User Table` ADD COLUMN `x y` int unsigned AFTER id, "
        "ALGORITHM=INPLACE, LOCK=NONE",
        (
            K.ADD_COLUMN,
            {
                "table": "User Table",
                "column_name": "x y",
                "column": {"data_type": "int unsigned"},
                "options": {"algorithm": "INPLACE", "lock": "NONE", "position": "AFTER id"},
            },
        ),
        id="backticks-position-online-ddl",
    ),
    case(
        MY,
        "ALTER TABLE t ADD COLUMN s enum('a','B') NOT NULL DEFAULT 'a'",
        (K.ADD_COLUMN, {"column": {"data_type": "enum('a','B')", "default": "'a'"}}),
        id="enum-type-as-written",
    ),
    case(
        MY,
        "ALTER TABLE users DROP INDEX ix, DROP FOREIGN KEY fk, DROP PRIMARY KEY, "
        "ADD INDEX ix2 (a), ADD FULLTEXT KEY ft (b), ADD UNIQUE KEY uk (c)",
        (K.DROP_INDEX, {"index": "ix"}),
        (K.DROP_CONSTRAINT, {"index": "fk", "options": {"constraint_type": "foreign_key"}}),
        (K.DROP_CONSTRAINT, {"index": None, "options": {"constraint_type": "primary_key"}}),
        (K.ADD_INDEX, {"index": "ix2", "columns": ["a"]}),
        (K.ADD_INDEX, {"index": "ft", "options": {"index_kind": "FULLTEXT"}}),
        (K.ADD_UNIQUE, {"index": "uk", "columns": ["c"]}),
        id="index-and-key-actions",
    ),
    case(
        MY,
        "ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES o (id)",
        (K.ADD_FOREIGN_KEY, {"index": "fk", "references": ("o", ["id"])}),
        id="foreign-key",
    ),
    case(
        MY,
        "CREATE UNIQUE INDEX ix ON users (email(10), b)",
        (K.ADD_INDEX, {"table": "users", "columns": ["email(10)", "b"], "unique": True}),
        id="create-index-prefix",
    ),
    case(
        MY,
        "DROP INDEX ix ON users",
        (K.DROP_INDEX, {"table": "users", "index": "ix"}),
        id="drop-index-on-table",
    ),
    case(
        MY,
        "RENAME TABLE a TO b, db.c TO d",
        (K.RENAME_TABLE, {"table": "a", "new_name": "b"}),
        (K.RENAME_TABLE, {"table": "c", "new_name": "d", "options": {"schema": "db"}}),
        id="rename-table-statement",
    ),
    case(
        MY,
        "ALTER TABLE users RENAME COLUMN a TO b",
        (K.RENAME_COLUMN, {"column_name": "a", "new_name": "b"}),
        id="rename-column",
    ),
    case(
        MY,
        "CREATE DEFINER=`root`@`localhost` TRIGGER trg BEFORE INSERT ON db.t FOR EACH ROW "
        "BEGIN IF NEW.a IS NULL THEN SET NEW.a = 1; END IF; END; DROP TABLE t2",
        (K.CREATE_TRIGGER, {"table": "t", "options": {"trigger": "trg", "schema": "db"}}),
        (K.DROP_TABLE, {"table": "t2"}),
        id="trigger-body-then-drop",
    ),
    case(
        MY,
        "ALTER TABLE t ALGORITHM=INPLACE",
        (K.RAW, {"table": "t", "options": {"command": "ALTER"}}),
        id="alter-without-actions-is-raw",
    ),
    case(
        MY,
        "DELETE FROM t WHERE id = 1 LIMIT 5",
        (K.DELETE_ROWS, {"where": "id = 1", "options": {"limit": "5"}}),
        id="delete-limit",
    ),
    case(
        MY,
        "UPDATE t SET a = 1 ORDER BY id LIMIT 5",
        (K.UPDATE_ROWS, {"expression": "a = 1", "where": None, "options": {"limit": "5"}}),
        id="update-limit",
    ),
]

SQLITE = [
    case(
        LITE,
        "ALTER TABLE t ADD COLUMN x INT NOT NULL DEFAULT 0",
        (K.ADD_COLUMN, {"column": {"data_type": "INT", "nullable": False, "default": "0"}}),
        id="add-column-type-as-written",
    ),
    case(
        LITE,
        "ALTER TABLE t RENAME a TO b",
        (K.RENAME_COLUMN, {"column_name": "a", "new_name": "b"}),
        id="rename-column-without-keyword",
    ),
    case(LITE, "ALTER TABLE t DROP COLUMN a", (K.DROP_COLUMN, {"column_name": "a"}), id="drop"),
    case(
        LITE,
        "ALTER TABLE [t] ADD COLUMN `x` int",
        (K.ADD_COLUMN, {"table": "t", "column_name": "x"}),
        id="bracket-and-backtick-names",
    ),
    case(
        LITE,
        "CREATE INDEX IF NOT EXISTS ix ON users (a) WHERE a IS NOT NULL",
        (K.ADD_INDEX, {"index": "ix", "where": "a IS NOT NULL", "if_exists": True}),
        id="partial-index",
    ),
    case(
        LITE,
        "CREATE TRIGGER IF NOT EXISTS main.tr AFTER DELETE ON main.users BEGIN "
        "DELETE FROM x WHERE id = OLD.id; UPDATE y SET b = CASE WHEN 1 THEN 2 END; END; "
        "DROP TABLE users",
        (
            K.CREATE_TRIGGER,
            {"table": "users", "if_exists": True, "options": {"trigger": "tr", "schema": "main"}},
        ),
        (K.DROP_TABLE, {"table": "users"}),
        id="trigger-body-then-drop",
    ),
    case(
        LITE,
        "CREATE TRIGGER tr AFTER INSERT ON users BEGIN SELECT 1; DROP TABLE users",
        (K.CREATE_TRIGGER, {"table": "users"}),
        (K.DROP_TABLE, {"table": "users", "sql": "DROP TABLE users"}),
        id="unclosed-trigger-body-hides-nothing",
    ),
]

# Statements every dialect reads the same way.
COMMON = (
    [
        case(
            dialect,
            "ALTER TABLE users ADD COLUMN x int; DROP TABLE users",
            (K.ADD_COLUMN, {"table": "users", "sql": "ALTER TABLE users ADD COLUMN x int"}),
            (K.DROP_TABLE, {"table": "users", "sql": "DROP TABLE users"}),
            id="injection-looking-text-is-two-statements",
        )
        for dialect in DIALECTS
    ]
    + [
        case(
            dialect,
            "ALTER TABLE t ADD COLUMN a text DEFAULT 'x;y' -- a ; in a comment\n; DELETE FROM t",
            (K.ADD_COLUMN, {"column": {"default": "'x;y'"}}),
            (K.DELETE_ROWS, {"table": "t", "where": None}),
            id="semicolons-in-strings-and-comments",
        )
        for dialect in DIALECTS
    ]
    + [
        case(
            dialect,
            "UPDATE accounts SET balance = 0 WHERE closed; DELETE FROM accounts WHERE closed",
            (
                K.UPDATE_ROWS,
                {"columns": ["balance"], "expression": "balance = 0", "where": "closed"},
            ),
            (K.DELETE_ROWS, {"where": "closed"}),
            id="update-and-delete",
        )
        for dialect in DIALECTS
    ]
    + [
        case(
            dialect,
            "CREATE VIEW v AS SELECT 1 AS one; DROP VIEW v",
            (K.CREATE_VIEW, {"table": "v"}),
            (K.DROP_VIEW, {"table": "v"}),
            id="view",
        )
        for dialect in DIALECTS
    ]
)


@pytest.mark.parametrize(("dialect", "text", "expected"), POSTGRES + MYSQL + SQLITE + COMMON)
def test_statement_maps_to_operations(dialect: str, text: str, expected: list[Expected]) -> None:
    ops = parse_ddl(text, dialect)
    assert [op.kind for op in ops] == [kind for kind, _ in expected]
    for op, (kind, fields) in zip(ops, expected, strict=True):
        check(op, kind, fields)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("text", ["", "   ", ";;", "-- nothing here\n/* or here */"])
def test_empty_text_gives_no_operations(dialect: str, text: str) -> None:
    assert parse_ddl(text, dialect) == []


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_operation_carries_its_own_statement_text(dialect: str) -> None:
    text = (
        "-- migration 42\n"
        "ALTER TABLE users ADD COLUMN a int, DROP COLUMN b;  /* between */\n"
        "\n"
        "CREATE INDEX users_a ON users (a) -- trailing\n"
        ";"
    )
    ops = parse_ddl(text, dialect)
    assert [op.sql for op in ops] == [
        "ALTER TABLE users ADD COLUMN a int, DROP COLUMN b",
        "ALTER TABLE users ADD COLUMN a int, DROP COLUMN b",
        "CREATE INDEX users_a ON users (a)",
    ]


def test_create_table_columns_and_constraints() -> None:
    text = (
        'CREATE TABLE IF NOT EXISTS app."User Table" ('
        " id serial PRIMARY KEY,"
        " \"Näme\" text NOT NULL DEFAULT 'x',"
        " org_id int REFERENCES public.orgs (id) ON DELETE SET NULL CHECK (org_id > 0),"
        " a int, b int,"
        " CONSTRAINT ab_key UNIQUE (a, b),"
        " CONSTRAINT positive CHECK (a > 0),"
        " PRIMARY KEY (a, b))"
    )
    [op] = parse_ddl(text)
    check(
        op,
        K.CREATE_TABLE,
        {
            "table": "User Table",
            "if_exists": True,
            "columns": ["id", "Näme", "org_id", "a", "b"],
            "options": {"schema": "app"},
        },
    )
    columns = op.options["columns"]
    assert all(isinstance(column, ColumnDefinition) for column in columns)
    assert columns[0] == ColumnDefinition("id", "serial", nullable=False, primary_key=True)
    assert columns[1] == ColumnDefinition("Näme", "text", nullable=False, default="'x'")
    assert columns[2] == ColumnDefinition("org_id", "int", references="orgs.id")
    assert columns[3].primary_key and not columns[3].nullable  # from PRIMARY KEY (a, b)
    constraints = op.options["constraints"]
    assert [c.kind for c in constraints] == [
        K.ADD_FOREIGN_KEY,  # org_id REFERENCES ...
        K.ADD_CHECK,  # org_id CHECK (...)
        K.ADD_UNIQUE,
        K.ADD_CHECK,
        K.ADD_PRIMARY_KEY,
    ]
    check(
        constraints[0],
        K.ADD_FOREIGN_KEY,
        {
            "columns": ["org_id"],
            "references": ("orgs", ["id"]),
            "options": {"references_schema": "public"},
        },
    )
    check(constraints[1], K.ADD_CHECK, {"columns": ["org_id"], "expression": "org_id > 0"})
    check(constraints[2], K.ADD_UNIQUE, {"index": "ab_key", "columns": ["a", "b"]})
    check(constraints[3], K.ADD_CHECK, {"index": "positive", "expression": "a > 0"})
    assert all(c.table == "User Table" and c.sql == text for c in constraints)


def test_sqlite_types_are_kept_as_written() -> None:
    # sqlglot would render INT as INTEGER: in SQLite that turns the column into the rowid.
    [op] = parse_ddl("CREATE TABLE t (id INT PRIMARY KEY, n numeric, b boolean, c)", "sqlite")
    assert [(c.name, c.data_type) for c in op.options["columns"]] == [
        ("id", "INT"),
        ("n", "numeric"),
        ("b", "boolean"),
        ("c", ""),
    ]


def test_mysql_create_table_keys() -> None:
    text = (
        "CREATE TABLE t (id int PRIMARY KEY AUTO_INCREMENT, s varchar(20) NOT NULL,"
        " KEY ix (s), UNIQUE KEY uk (s)) ENGINE=InnoDB"
    )
    [op] = parse_ddl(text, "mysql")
    assert op.columns == ["id", "s"]
    assert op.options["columns"][0].primary_key
    assert [(c.kind, c.index, c.columns) for c in op.options["constraints"]] == [
        (K.ADD_INDEX, "ix", ["s"]),
        (K.ADD_UNIQUE, "uk", ["s"]),
    ]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    "text",
    ["hello world this is not sql", "hello world", "42", "ALTER TABLE", "SELEC 1 FROM t"],
)
def test_text_that_is_not_sql_is_an_error(dialect: str, text: str) -> None:
    with pytest.raises(MigrationError) as info:
        parse_ddl(text, dialect)
    error = info.value
    assert error.code == "DF-MIGRATION-PARSE"
    assert error.details["statement"] == text
    assert error.details["dialect"] == dialect
    assert error.details["number"] == 1
    assert error.details["problem"]
    assert error.details["position"]["line"] == 1
    assert "statement 1" in error.message


def test_error_names_the_statement_and_where_it_is() -> None:
    text = "ALTER TABLE t ADD COLUMN a int;\n\nDROP TABLE ;\nDROP TABLE x"
    with pytest.raises(MigrationError) as info:
        parse_ddl(text)
    details = info.value.details
    assert details["statement"] == "DROP TABLE"
    assert details["number"] == 2
    assert details["position"]["line"] == 3
    assert "statement 2" in info.value.message
    assert "line 3" in info.value.message


def test_unterminated_string_is_an_error() -> None:
    with pytest.raises(MigrationError) as info:
        parse_ddl("ALTER TABLE t ADD COLUMN a text DEFAULT 'oops")
    assert info.value.code == "DF-MIGRATION-PARSE"
    assert info.value.details["position"] is None
    assert "ALTER TABLE t" in info.value.details["statement"]


def test_not_a_statement_message_says_what_to_do() -> None:
    with pytest.raises(MigrationError) as info:
        parse_ddl("users.email")
    assert "not an SQL statement" in info.value.message
    assert info.value.details["position"] == {"line": 1, "column": 1, "offset": 0}


def test_unknown_dialect_is_unsupported() -> None:
    with pytest.raises(UnsupportedError) as info:
        parse_ddl("DROP TABLE t", "oracle")
    assert info.value.details == {"dialect": "oracle", "supported": DIALECTS}


def test_operations_are_independent_objects() -> None:
    first, second = parse_ddl("ALTER TABLE t ADD COLUMN a int, ADD COLUMN b int")
    first.options["x"] = 1
    assert "x" not in second.options


def test_parse_ddl_is_exported() -> None:
    import dataflow_engine.migrations as migrations

    assert migrations.parse_ddl is parse_ddl
    assert "parse_ddl" in migrations.__all__


def test_docstring_examples_run() -> None:
    result = doctest.testmod(_ddl)
    assert result.attempted > 0
    assert result.failed == 0
