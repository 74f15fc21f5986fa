"""``assess()`` on real databases: the scores move with the facts (rows, views,
triggers, foreign keys), each fact is named in the reasons, and the report is the same
through the Python API, the ``dataflow migrate assess`` command and the MCP tool."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from dataflow_engine import DataFlow, MigrationError
from dataflow_engine.migrations import RiskAssessmentEngine, RiskLevel, assess

from .sql import insert_rows, run_sql
from .test_facts import items_sql, trigger_sql

BACKENDS = ["sqlite-file", "postgresql", "mysql"]


@pytest.fixture
def db(db_url: str) -> Iterator[DataFlow]:
    instance = DataFlow(db_url)
    run_sql(instance, *items_sql(instance))
    yield instance
    instance.close()


def fill(db: DataFlow, n: int) -> None:
    insert_rows(db, "items", "code, qty", [(f"c{i}", i) for i in range(n)])


def rules(report: object) -> set[str]:
    return {f.rule for f in report.findings}  # type: ignore[attr-defined]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_required_column_is_fine_on_an_empty_table_and_critical_with_rows(
    db: DataFlow, backend: str
) -> None:
    ddl = "ALTER TABLE items ADD COLUMN status varchar(10) NOT NULL"
    empty = assess(ddl, db)
    assert "adding-required-field" not in rules(empty)
    assert "items has 0 rows" in empty.operations[0].reasons
    fill(db, 300)
    full = assess(ddl, db)
    assert "adding-required-field" in rules(full)
    # PostgreSQL and SQLite refuse the statement; MySQL fills in '' silently
    expected = (RiskLevel.HIGH, RiskLevel.CRITICAL) if backend == "mysql" else (RiskLevel.CRITICAL,)
    assert full.overall_risk_level in expected
    assert any("items has 300 rows" in r for r in full.operations[0].reasons)
    assert any("items has 300 rows" in f.message for f in full.findings)
    assert full.overall_score > empty.overall_score


@pytest.mark.parametrize("backend", BACKENDS)
def test_scores_grow_with_the_row_count(db: DataFlow, backend: str) -> None:
    ddl = "ALTER TABLE items DROP COLUMN note"
    fill(db, 10)
    small = assess(ddl, db).operations[0]
    fill_more = [(f"d{i}", i) for i in range(20_000)]
    insert_rows(db, "items", "code, qty", fill_more)
    big = assess(ddl, db).operations[0]
    assert big.scores["data_loss"] > small.scores["data_loss"]
    assert any("20,010 rows" in r for r in big.reasons), big.reasons
    if backend != "sqlite-file" or any(" MB" in r for r in small.reasons):
        # the table's size is a fact in the reasons wherever the database reports it
        sizes = [r for r in big.reasons if r.startswith("items takes ")]
        assert sizes, big.reasons


@pytest.mark.parametrize("backend", BACKENDS)
def test_views_triggers_and_foreign_keys_are_named(db: DataFlow, backend: str) -> None:
    fill(db, 50)
    ref = {
        "postgresql": "id serial PRIMARY KEY",
        "mysql": "id int AUTO_INCREMENT PRIMARY KEY",
        "sqlite": "id INTEGER PRIMARY KEY",
    }[db.dialect.name]
    run_sql(
        db,
        "CREATE VIEW big_items AS SELECT id, qty FROM items WHERE qty > 10",
        f"CREATE TABLE item_lines ({ref}, item_id int REFERENCES items (id),"
        " FOREIGN KEY (item_id) REFERENCES items (id))",
        *trigger_sql(db),
    )
    before = assess("ALTER TABLE items DROP COLUMN qty", db)
    reasons = " | ".join(before.operations[0].reasons)
    assert "big_items" in reasons, reasons
    assert "items_keep" in reasons, reasons
    assert "dependent-views" in rules(before)
    dropped = assess("DROP TABLE items", db)
    assert "referenced-table" in rules(dropped)
    assert any("foreign keys of other tables" in r for r in dropped.operations[0].reasons)
    assert dropped.overall_risk_level in (RiskLevel.HIGH, RiskLevel.CRITICAL)


@pytest.mark.parametrize("backend", ["postgresql"])
def test_postgresql_claims_name_the_lock_and_the_version(db: DataFlow, backend: str) -> None:
    fill(db, 100)
    report = assess("ALTER TABLE items ALTER COLUMN qty TYPE bigint", db)
    risk = report.operations[0]
    assert risk.lock == "AccessExclusiveLock" and risk.rewrites
    assert any(r.startswith("takes AccessExclusiveLock on postgresql") for r in risk.reasons)
    safe = assess("ALTER TABLE items ALTER COLUMN note TYPE varchar(400)", db).operations[0]
    assert not safe.rewrites
    assert safe.overall_score < risk.overall_score


@pytest.mark.parametrize("backend", ["sqlite-file"])
def test_suppressions_need_a_known_rule_and_a_reason(db: DataFlow, backend: str) -> None:
    fill(db, 5)
    ddl = "ALTER TABLE items DROP COLUMN note"
    plain = assess(ddl, db)
    assert "ban-drop-column" in rules(plain)
    accepted = assess(ddl, db, suppress={"ban-drop-column": "note has been unused since v3"})
    [finding] = [f for f in accepted.findings if f.rule == "ban-drop-column"]
    assert finding.suppressed == "note has been unused since v3"
    with pytest.raises(MigrationError) as unknown:
        assess(ddl, db, suppress={"ban-drop-colum": "typo"})
    assert unknown.value.code == "DF-MIGRATION-SUPPRESSION"
    assert "ban-drop-column" in unknown.value.message
    with pytest.raises(MigrationError) as empty:
        assess(ddl, db, suppress={"ban-drop-column": " "})
    assert "needs a reason" in empty.value.message


@pytest.mark.parametrize("backend", ["sqlite-file"])
def test_not_sql_is_a_parse_error(db: DataFlow, backend: str) -> None:
    with pytest.raises(MigrationError) as caught:
        assess("please drop the users table", db)
    assert caught.value.code == "DF-MIGRATION-PARSE"


@pytest.mark.parametrize("backend", ["postgresql", "mysql"])
def test_assessing_reads_only(db_url: str, db: DataFlow, backend: str) -> None:
    fill(db, 20)
    with DataFlow(db_url, read_only=True, existing_schema_mode=True) as reader:
        report = assess("ALTER TABLE items ALTER COLUMN qty SET NOT NULL", reader)
        assert report.operations[0].operation.table == "items"
    engine = RiskAssessmentEngine(db)
    import asyncio

    risk = asyncio.run(
        engine.assess_operation_risk(
            operation_type="drop_column", table_name="items", column_name="note"
        )
    )
    assert risk.scores["data_loss"] > 0
    assert any("items has 20 rows" in r for r in risk.reasons)


@pytest.mark.parametrize("backend", ["sqlite-file", "postgresql"])
def test_the_command_prints_findings_and_fails_on_errors(
    db_url: str, db: DataFlow, backend: str
) -> None:
    fill(db, 40)
    command = [sys.executable, "-m", "dataflow_cli", "migrate", "assess"]
    ddl = "ALTER TABLE items ADD COLUMN status varchar(10) NOT NULL"
    done = subprocess.run(
        [*command, ddl, "--url", db_url], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr
    assert "adding-required-field" in done.stdout
    assert "items has 40 rows" in done.stdout
    assert "overall risk CRITICAL" in done.stdout
    as_json = subprocess.run(
        [*command, "ALTER TABLE items ADD COLUMN extra text", "--url", db_url, "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["operations"][0]["operation"] == "add_column"
    assert report["overall_risk_level"] in ("LOW", "MEDIUM")


@pytest.mark.parametrize("backend", ["sqlite-file", "postgresql"])
def test_the_mcp_tool_answers_on_a_read_only_server(
    db_url: str, db: DataFlow, backend: str
) -> None:
    import anyio

    fill(db, 12)
    anyio.run(_mcp_session, db_url)
    # analysis only: the column is still there
    from .sql import fetch, qualified

    assert fetch(db, f"SELECT note FROM {qualified(db, 'items')} LIMIT 1") is not None


async def _mcp_session(db_url: str) -> None:
    from mcp import Client

    from dataflow_mcp import ServerConfig, create_server

    server = create_server(ServerConfig(database_url=db_url))
    async with Client(server) as client:
        result = await client.call_tool(
            "assess_migration", {"ddl": "ALTER TABLE items DROP COLUMN note"}
        )
        assert not result.is_error, result.content
        answer = result.structured_content
        assert answer["findings"] and answer["operations"][0]["table"] == "items"
        assert any("items has 12 rows" in r for r in answer["operations"][0]["reasons"])
        bad = await client.call_tool("assess_migration", {"ddl": "please drop the users table"})
        assert bad.is_error
        assert bad.structured_content["error"]["code"] == "DF-MIGRATION-PARSE"


@pytest.mark.parametrize("backend", ["postgresql"])
def test_names_are_resolved_as_postgresql_resolves_them(db: DataFlow, backend: str) -> None:
    fill(db, 30)
    schema = db.dialect.schema
    other = f"{schema}_other"
    run_sql(
        db,
        f'CREATE SCHEMA "{other}"',
        f'CREATE TABLE "{other}".items (id int PRIMARY KEY, qty int)',
    )
    try:
        # the other schema's items is empty: no failure there, whatever this one holds
        qualified = assess(f'ALTER TABLE "{other}".items ADD COLUMN s text NOT NULL', db)
        assert "adding-required-field" not in rules(qualified)
        assert f"{other}.items has 0 rows" in qualified.operations[0].reasons
        # unquoted upper case is folded: ITEMS is items
        folded = assess("ALTER TABLE ITEMS ADD COLUMN s text NOT NULL", db)
        assert "adding-required-field" in rules(folded)
        assert any("items has 30 rows" in r for r in folded.operations[0].reasons)
    finally:
        run_sql(db, f'DROP SCHEMA "{other}" CASCADE')


@pytest.mark.parametrize("backend", ["postgresql"])
def test_lock_timeout_counts_only_when_set_first_and_not_zero(db: DataFlow, backend: str) -> None:
    fill(db, 5)
    alter = "ALTER TABLE items ADD COLUMN x2 text"
    assert "require-timeout-settings" in rules(assess(alter, db))
    assert "require-timeout-settings" not in rules(assess(f"SET lock_timeout = '2s'; {alter}", db))
    assert "require-timeout-settings" in rules(assess(f"SET lock_timeout = 0; {alter}", db))
    assert "require-timeout-settings" in rules(assess(f"{alter}; SET lock_timeout = '2s'", db))


@pytest.mark.parametrize("backend", ["postgresql"])
def test_generated_and_identity_columns_are_rewrites(db: DataFlow, backend: str) -> None:
    fill(db, 50)
    for ddl, rule in (
        (
            "ALTER TABLE items ADD COLUMN g int GENERATED ALWAYS AS (qty * 2) STORED",
            "adding-stored-generated-column",
        ),
        (
            "ALTER TABLE items ADD COLUMN i bigint GENERATED BY DEFAULT AS IDENTITY",
            "adding-serial-primary-key-field",
        ),
    ):
        report = assess(ddl, db)
        assert report.operations[0].rewrites, ddl
        assert rule in rules(report), ddl
