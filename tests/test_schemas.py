"""The generated JSON Schemas are fresh, valid draft-07, and accept what the engine does."""

from __future__ import annotations

import datetime as dt
import enum
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from dataflow_engine import DataFlow, WorkflowBuilder, workflow_json_schema
from dataflow_engine.workflow import validate_workflow

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import generate_schemas  # noqa: E402


@pytest.mark.parametrize("name", sorted(generate_schemas.SCHEMAS))
def test_schema_file_is_fresh(name: str) -> None:
    on_disk = (ROOT / "schemas" / name).read_text(encoding="utf-8")
    assert on_disk == generate_schemas.render(name), (
        f"schemas/{name} is stale: run python scripts/generate_schemas.py"
    )


def test_filter_schema_accepts_valid_and_rejects_invalid_documents() -> None:
    schema = json.loads((ROOT / "schemas" / "filter.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    good = [
        {"age": {"$gte": 18, "$lt": 65}, "name": None},
        {"$or": [{"a": 1}, {"b": {"$in": [1, 2, None]}}], "$not": {"c": {"$exists": True}}},
        {"name": {"$regex": "^a", "$options": "im"}, "x": {"$not": {"$like": "a%"}}},
    ]
    bad = [
        {"age": {"$gtt": 5}},
        {"$or": []},
        {"name": {"$regex": "a", "$options": "q"}},
        {"$where": "1"},
    ]
    for doc in good:
        assert validator.is_valid(doc), doc
    for doc in bad:
        assert not validator.is_valid(doc), doc


# -- the workflow schema ---------------------------------------------------------------------


class Status(enum.Enum):
    ACTIVE = "active"
    BLOCKED = "blocked"


@pytest.fixture
def club() -> Iterator[DataFlow]:
    """Two models: Member has an Enum, a datetime, nullable fields and JSON fields (and soft
    delete and versions, for the parameters they add); Note refers to a Member."""
    db = DataFlow("sqlite://")

    @db.model
    class Member:
        name: str
        email: str
        status: Status = Status.ACTIVE
        joined: dt.datetime | None = None
        nickname: str | None = None
        settings: dict = {}
        tags: list[str] = []
        __dataflow__ = {"soft_delete": True, "versioned": True}

    @db.model
    class Note:
        member_id: int
        body: str
        score: float = 0.0

    yield db
    db.close()


def workflow(*nodes: tuple[str, str, Any], connections: tuple[str, ...] = ()) -> dict[str, Any]:
    """A definition made by WorkflowBuilder; ``connections`` are ``"a.out -> b.in"``."""
    wf = WorkflowBuilder()
    for node_type, node_id, params in nodes:
        wf.add_node(node_type, node_id, params)
    for text in connections:
        source, target = (part.strip() for part in text.split("->"))
        a, out = source.split(".", 1)
        b, into = target.split(".", 1)
        wf.add_connection(a, out, b, into)
    return wf.to_dict()


def validator(schema: dict[str, Any]) -> jsonschema.Draft7Validator:
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def engine_problems(definition: dict[str, Any], db: DataFlow | None) -> list[str]:
    """The codes the engine's validator reports, through both of its front doors."""
    found = [d.code for d in validate_workflow(definition, db)]
    if not found:
        assert WorkflowBuilder.from_dict(definition).validate(db) == []
    return found


def valid_member_workflows() -> list[dict[str, Any]]:
    """Valid workflows for each of the eleven node kinds of Member (and a few of Note)."""
    return [
        workflow(
            (
                "MemberCreateNode",
                "create",
                {
                    "name": "Ann",
                    "email": "ann@x",
                    "status": "blocked",
                    "joined": "2024-05-01T09:30:00+00:00",
                    "nickname": None,
                    "settings": {"theme": "dark"},
                    "tags": ["a", "b"],
                },
            ),
            ("MemberCreateNode", "by_name", {"name": "Bo", "email": "bo@x", "status": "ACTIVE"}),
        ),
        workflow(
            ("MemberReadNode", "by_id", {"id": 1, "include_deleted": True}),
            ("MemberReadNode", "by_filter", {"conditions": {"email": "ann@x"}, "id": None}),
            ("MemberReadNode", "maybe", {"filter": {"name": "x"}, "raise_on_not_found": False}),
        ),
        workflow(
            ("MemberUpdateNode", "plain", {"id": 1, "fields": {"nickname": "A"}, "version": 1}),
            (
                "MemberUpdateNode",
                "ops",
                {
                    "id": {"id": 2},
                    "updates": {"$set": {"status": "active"}, "$unset": {"joined": ""}},
                    "version": 3,
                },
            ),
        ),
        workflow(
            ("MemberDeleteNode", "soft", {"id": 1}),
            ("MemberDeleteNode", "hard", {"filter": {"email": "ann@x"}, "hard": True}),
        ),
        workflow(
            (
                "MemberListNode",
                "page",
                {
                    "filter": {
                        "$or": [
                            {"status": "active"},
                            {"joined": {"$gte": "2024-01-01T00:00:00+00:00"}},
                        ],
                        "settings.theme": "dark",
                        "nickname": {"$ne": None},
                    },
                    "order_by": ["-joined", "name", "+email"],
                    "limit": 10,
                    "offset": 0,
                    "fields": ["id", "name", "settings"],
                    "with_total": True,
                    "include_deleted": False,
                },
            ),
            ("MemberListNode", "sorted", {"sort": {"name": -1}, "limit": None, "cursor": None}),
            ("MemberListNode", "keys", {"order_by": [{"email": "asc"}, "-id"], "offset": 5}),
            ("MemberListNode", "one_key", {"order_by": "-created_at"}),
            (
                "MemberListNode",
                "counts",
                {
                    "filter": {"$not": {"status": "blocked"}},
                    "aggregate": [{"$group": {"_id": "$status", "n": {"$sum": 1}}}],
                },
            ),
        ),
        workflow(
            ("MemberCountNode", "all", {}),
            (
                "MemberCountNode",
                "nicknamed",
                {"filter": {"$and": [{"nickname": {"$exists": True}}]}},
            ),
        ),
        workflow(
            (
                "MemberUpsertNode",
                "upsert",
                {
                    "where": {"email": "ann@x"},
                    "create": {"name": "Ann", "email": "ann@x", "tags": []},
                    "update": {"$set": {"name": "Ann B"}},
                },
            ),
            (
                "MemberUpsertNode",
                "from_where",
                {"where": {"email": "c@x", "name": "C"}, "create": {}},
            ),
        ),
        workflow(
            (
                "MemberBulkCreateNode",
                "many",
                {
                    "data": [
                        {"name": "A", "email": "a@x"},
                        {"name": "B", "email": "b@x", "status": "BLOCKED", "joined": None},
                    ],
                    "batch_size": 100,
                    "on_conflict": "ignore",
                    "return_ids": True,
                },
            ),
        ),
        workflow(
            (
                "MemberBulkUpdateNode",
                "block",
                {"filter": {"tags": ["x"]}, "update": {"status": "blocked"}},
            ),
            ("MemberBulkUpdateNode", "everyone", {"all": True, "fields": {"nickname": None}}),
        ),
        workflow(
            ("MemberBulkDeleteNode", "blocked", {"filter": {"status": {"$in": ["blocked"]}}}),
            ("MemberBulkDeleteNode", "purge", {"all": True, "soft_delete": False, "hard": True}),
        ),
        workflow(
            (
                "MemberBulkUpsertNode",
                "by_id",
                {"data": [{"id": 1, "name": "A", "email": "a@x"}], "update_fields": ["name"]},
            ),
            (
                "MemberBulkUpsertNode",
                "by_email",
                {"data": [{"name": "B", "email": "b@x"}], "conflict_columns": ["email"]},
            ),
        ),
        # Parameters a connection supplies are not missing: neither here nor in the schema.
        workflow(
            ("MemberCreateNode", "member", {"name": "Ann", "email": "ann@x"}),
            ("MemberReadNode", "again", {}),
            ("NoteBulkCreateNode", "notes", {"data": [{"body": "hi"}, {"body": "yo", "score": 2}]}),
            ("NoteListNode", "theirs", {"filter": {"score": {"$gt": 1}}}),
            ("MemberUpdateNode", "touch", {"fields": {"nickname": "A"}}),
            connections=(
                "member.id -> again.id",
                "member.id -> notes.member_id",
                "member.id -> theirs.filter.member_id",
                "again.id -> touch.id",
                "again.version -> touch.version",
            ),
        ),
        {"nodes": [{"id": "bare", "type": "MemberCountNode", "params": None}], "connections": None},
        {"$schema": "./workflow.schema.json", "nodes": [{"id": "c", "type": "NoteCountNode"}]},
    ]


def test_generic_workflow_schema_accepts_real_definitions_and_rejects_malformed_ones(
    club: DataFlow,
) -> None:
    check = validator(json.loads((ROOT / "schemas" / "workflow.schema.json").read_text()))
    assert check.schema == workflow_json_schema()
    for definition in valid_member_workflows():
        assert list(check.iter_errors(definition)) == [], definition
    node = {"id": "n", "type": "MemberCountNode", "params": {}}
    malformed = {
        "node without id": {"nodes": [{"type": "MemberCountNode"}]},
        "id with '.'": {"nodes": [{**node, "id": "a.b"}]},
        "empty id": {"nodes": [{**node, "id": ""}]},
        "node without type": {"nodes": [{"id": "n"}]},
        "params not an object": {"nodes": [{**node, "params": [1]}]},
        "no nodes": {"connections": []},
        "'from' without a dot": {"nodes": [node], "connections": [{"from": "n", "to": "n.id"}]},
        "'to' with an empty path": {
            "nodes": [node],
            "connections": [{"from": "n.count", "to": "n."}],
        },
        "connection without 'to'": {"nodes": [node], "connections": [{"from": "n.count"}]},
    }
    for what, definition in malformed.items():
        assert not check.is_valid(definition), what
        assert engine_problems(definition, club), what  # the engine refuses them too
    # Stricter than the engine, on purpose: it ignores unknown keys, which are typos.
    typos = [
        {"nodes": [node], "conections": [{"from": "n.count", "to": "n.filter"}]},
        {"nodes": [{**node, "parms": {}}]},
        {"nodes": [node], "connections": [{"from": "n.count", "to": "n.filter", "x": 1}]},
    ]
    for definition in typos:
        assert not check.is_valid(definition), definition


def test_project_workflow_schema_agrees_with_the_engine(club: DataFlow) -> None:
    check = validator(workflow_json_schema(club.nodes, title="Club workflows"))
    assert check.schema["title"] == "Club workflows"
    assert "$id" not in json.dumps(check.schema)
    assert set(check.schema["definitions"]["node"]["properties"]["type"]["enum"]) == set(club.nodes)
    kinds = set()
    for definition in valid_member_workflows():
        assert engine_problems(definition, club) == [], definition
        assert list(check.iter_errors(definition)) == [], definition
        kinds |= {n["type"] for n in definition["nodes"] if n["type"].startswith("Member")}
    assert len(kinds) == 11

    invalid = {
        "DF-NODE-UNKNOWN-TYPE": ("MemberCreateNod", {"name": "a", "email": "b"}),
        "DF-PARAM-UNKNOWN": ("MemberListNode", {"limitt": 5}),
        "DF-FILTER-UNKNOWN-OPERATOR": ("MemberListNode", {"filter": {"name": {"$regx": "a"}}}),
        "DF-PARAM-UNKNOWN-FIELD": ("MemberCreateNode", {"name": "a", "email": "b", "nick": 1}),
        "DF-PARAM-TYPE": ("MemberListNode", {"limit": "ten"}),
        "DF-FILTER-UNKNOWN-FIELD": ("MemberCountNode", {"filter": {"$or": [{"nmae": "a"}]}}),
        "DF-PARAM-READ-ONLY-FIELD": (
            "MemberCreateNode",
            {"name": "a", "email": "b", "created_at": "2020-01-01T00:00:00Z"},
        ),
        "DF-PARAM-NULL": ("MemberCreateNode", {"name": None, "email": "b"}),
        "DF-FILTER-ORDER": ("MemberListNode", {"order_by": ["-settings"]}),
        "DF-FILTER-FIELDS": ("MemberListNode", {"fields": []}),
    }
    for code, (node_type, params) in invalid.items():
        definition = workflow((node_type, "n", params))
        assert code in engine_problems(definition, club), code
        error = jsonschema.exceptions.best_match(check.iter_errors(definition))
        assert error is not None, code
        where = "type" if code == "DF-NODE-UNKNOWN-TYPE" else "params"
        assert list(error.absolute_path)[:3] == ["nodes", 0, where], (code, error.message)
    more_invalid = [
        ("MemberCreateNode", {"name": "a", "email": "b", "status": "gone"}),
        ("MemberCreateNode", {"name": "a", "email": "b", "tags": [1]}),
        ("MemberBulkCreateNode", {"data": [{"name": "a", "email": "b", "nick": 1}]}),
        ("MemberUpsertNode", {"where": {"email": "b"}, "create": {"email": 5}}),
        ("MemberReadNode", {"id": "one"}),
        ("MemberBulkUpsertNode", {"data": [], "match_fields": ["nope"]}),
        ("MemberListNode", {"sort": {"name": 2}}),
        ("MemberUpdateNode", {"id": 1, "fields": None, "version": 1}),
    ]
    for node_type, params in more_invalid:
        definition = workflow((node_type, "n", params))
        assert engine_problems(definition, club), params
        assert not check.is_valid(definition), params


def test_project_workflow_schema_knows_composite_keys() -> None:
    db = DataFlow("sqlite://")
    try:

        @db.model
        class Seat:
            row: str
            number: int
            taken: bool = False
            __dataflow__ = {"primary_key": ["row", "number"]}

        check = validator(workflow_json_schema(db.nodes))
        valid = [
            ("SeatUpdateNode", {"id": {"row": "A", "number": 1}, "fields": {"taken": True}}),
            ("SeatUpdateNode", {"id": ["A", 1], "fields": {"$set": {"taken": True}}}),
            ("SeatReadNode", {"id": ["A", 1]}),
            ("SeatCreateNode", {"row": "A", "number": 1}),
        ]
        for node_type, params in valid:
            definition = workflow((node_type, "n", params))
            assert engine_problems(definition, db) == [], params
            assert check.is_valid(definition), params
        for params in ({"id": ["A"]}, {"id": {"row": "A"}}, {"id": {"row": "A", "number": "1"}}):
            definition = workflow(("SeatDeleteNode", "n", params))
            assert engine_problems(definition, db), params
            assert not check.is_valid(definition), params
    finally:
        db.close()
