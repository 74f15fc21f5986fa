"""Bad input gets a clear error with a stable code, and nothing is half-written."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataflow_engine import (
    ConfigurationError,
    DataFlow,
    ModelError,
    NotNullViolation,
    UniqueViolation,
    ValidationError,
    WorkflowValidationError,
)
from dataflow_engine.errors import IdentifierTooLongError
from tests.support import one

INJECTIONS = [
    "'; DROP TABLE notes; --",
    '" OR 1=1 --',
    "Robert'); DELETE FROM notes WHERE ('1'='1",
    "%_\\%\\_",
    "$1 ? %s :name",
    "\x00nul byte inside\x00",
    "line\nbreak\r\ttab",
]


@pytest.fixture
def notes(db: DataFlow) -> DataFlow:
    @db.model
    class Note:
        title: str
        body: str = ""
        rank: int = 0
        __dataflow__ = {"unique": [["title"]]}

    return db


def _codes(exc: WorkflowValidationError) -> set[str]:
    return {d.code for d in exc.diagnostics}


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_strings_are_stored_and_matched_byte_for_byte(notes: DataFlow, text: str) -> None:
    if "\x00" in text and notes.dialect.name == "postgresql":
        with pytest.raises(Exception) as info:  # PostgreSQL text cannot hold NUL
            one(notes, "NoteCreateNode", {"title": text})
        assert getattr(info.value, "code", "").startswith("DF-")
        return
    row = one(notes, "NoteCreateNode", {"title": text, "body": text})
    assert row["title"] == text and row["body"] == text
    assert one(notes, "NoteReadNode", {"filter": {"title": text}})["body"] == text
    assert one(notes, "NoteCountNode", {"filter": {"body": {"$contains": text}}})["count"] == 1
    assert one(notes, "NoteCountNode", {"filter": {"title": {"$ne": text}}})["count"] == 0
    assert one(notes, "NoteCountNode", {})["count"] == 1


def test_unicode_and_a_megabyte_of_text(notes: DataFlow) -> None:
    big = ("ünïcødé ✓ 🎉 " * 80_000)[:1_000_000]
    row = one(notes, "NoteCreateNode", {"title": "Ωmega 🎉", "body": big})
    back = one(notes, "NoteReadNode", {"id": row["id"]})
    assert back["body"] == big and back["title"] == "Ωmega 🎉"


def test_unknown_field_wrong_type_missing_field(notes: DataFlow) -> None:
    with pytest.raises(WorkflowValidationError) as info:
        one(notes, "NoteCreateNode", {"title": "x", "bdy": "typo"})
    assert _codes(info.value) == {"DF-PARAM-UNKNOWN-FIELD"}
    assert "did you mean 'body'" in str(info.value)
    with pytest.raises(WorkflowValidationError) as info:
        one(notes, "NoteCreateNode", {"title": "x", "rank": "high"})
    assert _codes(info.value) == {"DF-PARAM-TYPE"}
    with pytest.raises(WorkflowValidationError) as info:
        one(notes, "NoteCreateNode", {"title": "x", "rank": True})
    assert _codes(info.value) == {"DF-PARAM-TYPE"}
    with pytest.raises(WorkflowValidationError) as info:
        one(notes, "NoteCreateNode", {"body": "no title"})
    assert _codes(info.value) == {"DF-PARAM-MISSING"}
    with pytest.raises(WorkflowValidationError) as info:
        one(notes, "NoteCreateNode", {"title": None})
    assert _codes(info.value) == {"DF-PARAM-NULL"}
    with pytest.raises(WorkflowValidationError) as info:
        one(notes, "NoteCreateNode", {"title": "x", "created_at": "2020-01-01T00:00:00Z"})
    assert _codes(info.value) == {"DF-PARAM-READ-ONLY-FIELD"}
    with pytest.raises(WorkflowValidationError) as info:
        one(notes, "NoteCreateNode", {"title": "x", "id": "5; DROP TABLE notes"})
    assert _codes(info.value) == {"DF-PARAM-TYPE"}
    assert one(notes, "NoteCountNode", {})["count"] == 0


def test_huge_integers_and_wrong_bulk_rows_write_nothing(notes: DataFlow) -> None:
    with pytest.raises(WorkflowValidationError) as info:
        one(notes, "NoteCreateNode", {"title": "x", "rank": 2**70})
    assert _codes(info.value) == {"DF-PARAM-TYPE"}
    rows = [{"title": f"t{i}", "rank": i} for i in range(50)]
    rows[37]["rank"] = "oops"  # type: ignore[assignment]
    with pytest.raises(WorkflowValidationError) as info:
        one(notes, "NoteBulkCreateNode", {"data": rows})
    assert info.value.diagnostics[0].path[:5] == ("nodes", 0, "params", "data", 37)
    assert one(notes, "NoteCountNode", {})["count"] == 0


def test_runtime_values_from_connections_are_validated_too(notes: DataFlow) -> None:
    with pytest.raises(ValidationError) as info:
        one(notes, "NoteCreateNode", {"title": "x"}, parameters={"n": {"rank": "bad"}})
    assert info.value.code == "DF-PARAM-TYPE"
    assert one(notes, "NoteCountNode", {})["count"] == 0


def test_duplicate_unique_value_writes_nothing(notes: DataFlow) -> None:
    one(notes, "NoteCreateNode", {"title": "same", "body": "first"})
    with pytest.raises(UniqueViolation) as info:
        one(notes, "NoteCreateNode", {"title": "same", "body": "second"})
    assert info.value.code == "DF-DB-UNIQUE-VIOLATION"
    assert isinstance(info.value.__cause__, UniqueViolation)
    assert info.value.__cause__.__cause__ is not None  # the driver's own error
    rows = one(notes, "NoteListNode", {})["records"]
    assert [r["body"] for r in rows] == ["first"]


def test_not_null_violation_is_translated(db_url: str, tmp_path: Path) -> None:
    if db_url == "sqlite://":  # two instances must share one database here
        db_url = f"sqlite:///{tmp_path / 'shared.db'}"
    strict = DataFlow(db_url)
    loose = DataFlow(db_url)
    try:

        @strict.model
        class Strict:
            name: str

        one(strict, "StrictCreateNode", {"name": "ok"})

        # The same table seen through a model that wrongly believes the column nullable:
        # the database's NOT NULL constraint answers, translated.
        @loose.model
        class Strict:  # type: ignore[no-redef]  # noqa: F811
            name: str | None = None

        with pytest.raises(NotNullViolation) as info:
            one(loose, "StrictCreateNode", {})
        assert info.value.code == "DF-DB-NOT-NULL-VIOLATION"
        assert one(strict, "StrictCountNode", {})["count"] == 1
    finally:
        strict.close()
        loose.close()


def test_empty_lists_are_handled(notes: DataFlow) -> None:
    assert one(notes, "NoteBulkCreateNode", {"data": []}) == {"inserted": 0, "ids": None}
    assert one(notes, "NoteBulkUpsertNode", {"data": [], "match_fields": ["title"]}) == {
        "inserted": 0,
        "updated": 0,
    }
    one(notes, "NoteCreateNode", {"title": "a"})
    assert one(notes, "NoteCountNode", {"filter": {"title": {"$in": []}}})["count"] == 0
    assert one(notes, "NoteCountNode", {"filter": {"title": {"$nin": []}}})["count"] == 1


def test_model_definition_errors() -> None:
    db = DataFlow()
    try:
        with pytest.raises(ModelError) as info:

            @db.model
            class Bad:
                when: complex

        assert info.value.code == "DF-MODEL-FIELD-TYPE"
        with pytest.raises(ModelError) as info:

            @db.model
            class Opts:
                name: str
                __dataflow__ = {"soft_delet": True}

        assert "soft_delete" in str(info.value)
        with pytest.raises(ModelError):

            @db.model
            class Empty:
                pass
    finally:
        db.close()


def test_identifiers_longer_than_the_dialect_allows_are_refused(db: DataFlow) -> None:
    limit = db.dialect.max_identifier_length
    if limit > 1000:  # SQLite has no limit: a long name simply works

        @db.model
        class VeryLong:
            name: str
            __dataflow__ = {"table": "t" * 200}

        assert one(db, "VeryLongCountNode", {})["count"] == 0
        return
    with pytest.raises(IdentifierTooLongError):

        @db.model
        class Long:
            name: str
            __dataflow__ = {"table": "t" * (limit + 1)}

    with pytest.raises(IdentifierTooLongError):
        db.model(type("LongColumn", (), {"__annotations__": {"c" * (limit + 1): str}}))

    @db.model
    class Fits:
        name: str
        __dataflow__ = {"table": "t" * limit}

    assert one(db, "FitsCountNode", {})["count"] == 0


def test_unknown_dataflow_option_and_bad_url() -> None:
    with pytest.raises(ConfigurationError) as info:
        DataFlow("sqlite://", auto_migrat=True)
    assert "auto_migrate" in str(info.value)
    with pytest.raises(ConfigurationError):
        DataFlow("oracle://x/y")
    with pytest.raises(ConfigurationError):
        DataFlow("not a url")
