"""Auto-increment keys given explicitly: Create, BulkCreate and BulkUpsert may give the
key the database would number (a copy keeps its keys), and the database numbers the next
record after the largest key given, on every backend and for every kind of auto-increment
column (SERIAL, IDENTITY ALWAYS / BY DEFAULT, AUTO_INCREMENT, INTEGER PRIMARY KEY)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from dataflow_engine import DataFlow, WorkflowError, WorkflowValidationError
from dataflow_engine.config import parse_url
from dataflow_engine.errors import UniqueViolation
from dataflow_engine.models._serialize import model_from_definition, model_to_definition
from tests.cli.conftest import sql
from tests.support import one


def _ids(db: DataFlow, model: str) -> list[int]:
    return [r["id"] for r in one(db, f"{model}ListNode", {"order_by": "id"})["records"]]


@pytest.fixture(params=[{}, {"audit_log": True}], ids=["plain", "audited"])
def tickets(db: DataFlow, request: pytest.FixtureRequest) -> DataFlow:
    options = request.param

    @db.model
    class Ticket:
        title: str
        __dataflow__ = options

    return db


def test_create_and_bulk_create_keep_given_keys_and_number_the_rest_after_them(
    tickets: DataFlow,
) -> None:
    db = tickets
    assert one(db, "TicketCreateNode", {"id": 10, "title": "a"})["id"] == 10
    assert one(db, "TicketCreateNode", {"title": "b"})["id"] == 11
    plain = one(
        db, "TicketBulkCreateNode", {"data": [{"id": 100, "title": "c"}, {"id": 50, "title": "x"}]}
    )
    assert plain == {"inserted": 2, "ids": None}
    with_ids = one(
        db,
        "TicketBulkCreateNode",
        {"data": [{"id": 200, "title": "d"}, {"id": 150, "title": "e"}], "return_ids": True},
    )
    assert with_ids == {"inserted": 2, "ids": [200, 150]}
    assert one(db, "TicketCreateNode", {"title": "f"})["id"] == 201
    # records that leave the key out (or give None) are numbered after the keys before them
    mixed = one(
        db,
        "TicketBulkCreateNode",
        {
            "data": [{"id": 300, "title": "g"}, {"title": "h"}, {"id": None, "title": "i"}],
            "return_ids": True,
        },
    )
    assert mixed == {"inserted": 3, "ids": [300, 301, 302]}
    assert _ids(db, "Ticket") == [10, 11, 50, 100, 150, 200, 201, 300, 301, 302]
    stored = one(db, "TicketReadNode", {"id": 150})
    assert stored["title"] == "e" and stored["created_at"] is not None
    if db.get_model("Ticket").audit_log:
        trail = db.audit_trail("Ticket", 150)
        assert [e["action"] for e in trail] == ["create"] and trail[0]["after"]["id"] == 150


def test_a_given_key_that_exists_is_refused_and_nothing_is_written(tickets: DataFlow) -> None:
    db = tickets
    one(db, "TicketBulkCreateNode", {"data": [{"title": "a"}, {"title": "b"}]})
    with pytest.raises(WorkflowError) as failed:
        one(db, "TicketCreateNode", {"id": 2, "title": "again"})
    assert isinstance(failed.value.cause, UniqueViolation)
    with pytest.raises(WorkflowError) as failed:
        one(
            db, "TicketBulkCreateNode", {"data": [{"id": 7, "title": "x"}, {"id": 1, "title": "y"}]}
        )
    assert isinstance(failed.value.cause, UniqueViolation)
    assert _ids(db, "Ticket") == [1, 2]
    ignored = one(
        db,
        "TicketBulkCreateNode",
        {"data": [{"id": 1, "title": "x"}, {"id": 9, "title": "y"}], "on_conflict": "ignore"},
    )
    assert ignored["inserted"] == 1
    assert one(db, "TicketCreateNode", {"title": "z"})["id"] == 10


def test_the_numbering_never_moves_back(db: DataFlow) -> None:
    @db.model
    class Ticket:
        title: str

    one(db, "TicketBulkCreateNode", {"data": [{"title": str(n)} for n in range(5)]})
    assert one(db, "TicketCreateNode", {"id": -1, "title": "below"})["id"] == -1
    one(db, "TicketBulkCreateNode", {"data": [{"id": 3_000_000_000, "title": "big"}]})
    one(db, "TicketDeleteNode", {"id": 3_000_000_000})
    # the next number follows the largest key ever given (SQLite's AUTOINCREMENT and
    # MySQL's counter remember it too)
    assert one(db, "TicketCreateNode", {"title": "next"})["id"] == 3_000_000_001


def test_bad_keys_are_refused_before_anything_is_written(db: DataFlow) -> None:
    @db.model
    class Ticket:
        title: str

    with pytest.raises(WorkflowValidationError) as bad:
        one(db, "TicketCreateNode", {"id": "7; DROP TABLE tickets", "title": "x"})
    assert bad.value.diagnostics[0].code == "DF-PARAM-TYPE"
    with pytest.raises(WorkflowValidationError) as bad:
        one(db, "TicketBulkCreateNode", {"data": [{"id": 1, "title": "a"}, {"id": 2.5}]})
    assert [d.path[-2:] for d in bad.value.diagnostics] == [(1, "id"), (1, "title")]
    with pytest.raises(WorkflowValidationError) as bad:
        one(db, "TicketCreateNode", {"id": 2**63, "title": "x"})
    assert bad.value.diagnostics[0].code == "DF-PARAM-TYPE"
    # an update cannot renumber a record
    key = one(db, "TicketCreateNode", {"title": "a"})["id"]
    with pytest.raises(WorkflowValidationError) as bad:
        one(db, "TicketUpdateNode", {"id": key, "fields": {"id": 99}})
    assert bad.value.diagnostics[0].code == "DF-PARAM-READ-ONLY-FIELD"
    # MySQL numbers a record whose AUTO_INCREMENT column is 0: refused there, kept elsewhere
    if db.dialect.name == "mysql":
        for node, params in [
            ("TicketCreateNode", {"id": 0, "title": "zero"}),
            ("TicketBulkCreateNode", {"data": [{"id": 5, "title": "a"}, {"id": 0, "title": "b"}]}),
        ]:
            with pytest.raises(WorkflowError) as failed:
                one(db, node, params)
            assert failed.value.code == "DF-PARAM-RANGE"
            assert "AUTO_INCREMENT column is 0" in str(failed.value)
        assert _ids(db, "Ticket") == [key]
    else:
        assert one(db, "TicketCreateNode", {"id": 0, "title": "zero"})["id"] == 0


def test_upserts_on_the_key_insert_the_keys_they_do_not_find(db: DataFlow) -> None:
    @db.model
    class Ticket:
        title: str

    one(db, "TicketBulkCreateNode", {"data": [{"title": "a"}, {"title": "b"}]})
    merged = one(
        db,
        "TicketBulkUpsertNode",
        {"data": [{"id": 2, "title": "B"}, {"id": 40, "title": "new"}]},
    )
    assert (merged["inserted"], merged["updated"]) == (1, 1)
    rows = one(db, "TicketListNode", {"order_by": "id"})["records"]
    assert [(r["id"], r["title"]) for r in rows] == [(1, "a"), (2, "B"), (40, "new")]
    assert one(db, "TicketCreateNode", {"title": "next"})["id"] == 41
    # Upsert creates with where's equalities, the key included (MongoDB's rule)
    made = one(
        db,
        "TicketUpsertNode",
        {"where": {"id": 77}, "create": {"title": "upserted"}, "update": {"title": "x"}},
    )
    assert made["action"] == "created" and made["record"]["id"] == 77
    again = one(
        db,
        "TicketUpsertNode",
        {"where": {"id": 77}, "create": {"title": "upserted"}, "update": {"title": "changed"}},
    )
    assert again["action"] == "updated" and again["record"]["title"] == "changed"
    assert one(db, "TicketCreateNode", {"title": "after"})["id"] == 78


# -- tables of other applications ------------------------------------------------------------

_TABLES: dict[str, list[str]] = {
    "postgresql": [
        "CREATE TABLE serials (id serial PRIMARY KEY, name text NOT NULL)",
        "CREATE TABLE always_ids (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
        "name text NOT NULL)",
        "CREATE TABLE default_ids (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
        "name text NOT NULL)",
        # an auto-increment column that is not the key
        "CREATE TABLE numbered (code text PRIMARY KEY, n bigserial, name text NOT NULL)",
    ],
    "mysql": [
        "CREATE TABLE serials (id int AUTO_INCREMENT PRIMARY KEY, name varchar(50) NOT NULL)",
        "CREATE TABLE unsigned_ids (id bigint unsigned AUTO_INCREMENT PRIMARY KEY, "
        "name varchar(50) NOT NULL)",
    ],
    "sqlite": [
        "CREATE TABLE serials (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL)",
        "CREATE TABLE rowids (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
    ],
}


def test_registered_auto_increment_columns_take_given_values(backend: str, db_url: str) -> None:
    if backend == "sqlite-memory":
        pytest.skip("a raw-SQL fixture needs a database another connection can open")
    dialect = parse_url(db_url).dialect
    statements = _TABLES[dialect]
    sql(db_url, *statements)
    tables = [s.split()[2] for s in statements]
    with DataFlow(db_url, existing_schema_mode=True) as db:
        names = db.register_schema_as_models(tables=tables)["registered_models"]
        for name in names:
            model = db.get_model(name)
            nodes = model.node_names
            if model.table_name == "numbered":
                one(db, nodes["Create"], {"code": "a", "name": "x"})
                one(db, nodes["BulkCreate"], {"data": [{"code": "b", "n": 70, "name": "y"}]})
                made = one(db, nodes["Create"], {"code": "c", "name": "z"})
                assert made["n"] == 71, name
                # the definition stored in the registry keeps the column's nature
                rebuilt = model_from_definition(model_to_definition(model))
                assert rebuilt.fields["n"].identity and not rebuilt.fields["name"].identity
                continue
            assert model.auto_id, name
            one(db, nodes["Create"], {"name": "first"})
            given = one(db, nodes["Create"], {"id": 20, "name": "given"})
            assert given["id"] == 20, name
            bulk = one(
                db,
                nodes["BulkCreate"],
                {"data": [{"id": 30, "name": "b1"}, {"id": 25, "name": "b2"}]},
            )
            assert bulk["inserted"] == 2
            numbered: dict[str, Any] = one(db, nodes["Create"], {"name": "next"})
            assert numbered["id"] == 31, name
            listed = one(db, nodes["List"], {"order_by": "id"})["records"]
            assert [r["id"] for r in listed] == [1, 20, 25, 30, 31], name


@pytest.mark.parametrize("backend", ["postgresql"])  # sequence privileges are PostgreSQL's
def test_a_role_that_may_not_move_the_sequence_gets_a_clear_error_and_nothing_written(
    db_url: str,
) -> None:
    from tests.conftest import pg_admin

    parsed = parse_url(db_url)
    role = f"df_writer_{uuid.uuid4().hex[:8]}"
    sql(db_url, "CREATE TABLE tickets (id serial PRIMARY KEY, title text NOT NULL)")
    schema = f'"{parsed.schema}"'
    pg_admin(f'CREATE ROLE "{role}" LOGIN', parsed.database)
    try:
        for grant in (
            f'GRANT USAGE ON SCHEMA {schema} TO "{role}"',
            f'GRANT SELECT, INSERT ON {schema}.tickets TO "{role}"',
            f'GRANT USAGE ON SEQUENCE {schema}.tickets_id_seq TO "{role}"',  # not UPDATE
        ):
            pg_admin(grant, parsed.database)
        url = db_url.replace("postgres@", f"{role}@", 1)
        with DataFlow(url, existing_schema_mode=True) as db:
            db.register_schema_as_models(tables=["tickets"])
            assert one(db, "TicketCreateNode", {"title": "numbered"})["id"] == 1
            with pytest.raises(WorkflowError) as refused:
                one(db, "TicketCreateNode", {"id": 50, "title": "given"})
            assert refused.value.code == "DF-DB-PERMISSION"
            assert _ids(db, "Ticket") == [1]
    finally:
        pg_admin(f'DROP OWNED BY "{role}"', parsed.database)
        pg_admin(f'DROP ROLE "{role}"', parsed.database)
