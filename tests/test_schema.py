"""auto_migrate: tables created on first use, new nullable columns added, nothing dropped."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataflow_engine import DataFlow, SchemaError
from tests.support import one


def shared_url(db_url: str, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'shared.db'}" if db_url == "sqlite://" else db_url


def test_table_name_and_columns_follow_the_model(db: DataFlow) -> None:
    @db.model
    class OrderItem:
        sku: str

    @db.model
    class Person:
        name: str

    @db.model
    class Custom:
        name: str
        __dataflow__ = {"table": "Custom Table"}

    assert db.get_model("OrderItem").table_name == "order_items"
    assert db.get_model("Person").table_name == "people"
    db.create_tables()
    one(db, "CustomCreateNode", {"name": "quoted identifiers work"})
    assert one(db, "CustomCountNode", {})["count"] == 1
    assert set(db.list_models()) == {"OrderItem", "Person", "Custom"}
    assert db.get_model("Person").node_names["List"] == "PersonListNode"


def test_new_nullable_column_is_added_and_old_rows_keep_their_data(
    db_url: str, tmp_path: Path
) -> None:
    url = shared_url(db_url, tmp_path)
    first = DataFlow(url)

    @first.model
    class Account:
        name: str

    one(first, "AccountCreateNode", {"name": "old"})
    first.close()

    second = DataFlow(url)
    try:

        @second.model
        class Account:  # type: ignore[no-redef]
            name: str
            nickname: str | None = None
            score: int = 0

        rows = one(second, "AccountListNode", {})["records"]
        assert [(r["name"], r["nickname"], r["score"]) for r in rows] == [("old", None, 0)]
        row = one(second, "AccountCreateNode", {"name": "new", "nickname": "n", "score": 3})
        assert (row["nickname"], row["score"]) == ("n", 3)
    finally:
        second.close()


def test_new_required_column_without_default_is_refused(db_url: str, tmp_path: Path) -> None:
    url = shared_url(db_url, tmp_path)
    first = DataFlow(url)

    @first.model
    class Ledger:
        name: str

    first.create_tables()
    first.close()
    second = DataFlow(url)
    try:

        @second.model
        class Ledger:  # type: ignore[no-redef]
            name: str
            amount: int

        with pytest.raises(SchemaError) as info:
            one(second, "LedgerCountNode", {})
        assert info.value.code == "DF-SCHEMA-MIGRATION-REQUIRED"
        assert "amount" in str(info.value)
    finally:
        second.close()


def test_without_auto_migrate_a_missing_table_is_a_clear_error(db_url: str) -> None:
    db = DataFlow(db_url, auto_migrate=False)
    try:

        @db.model
        class Missing:
            name: str

        with pytest.raises(SchemaError) as info:
            one(db, "MissingCountNode", {})
        assert info.value.code == "DF-SCHEMA-TABLE-MISSING"
    finally:
        db.close()


def test_models_inherit_annotations_from_base_classes(db: DataFlow) -> None:
    class Timestamped:
        source: str = "api"

    @db.model
    class Event(Timestamped):
        kind: str

    row = one(db, "EventCreateNode", {"kind": "click"})
    assert row["source"] == "api" and row["kind"] == "click"


def test_read_only_refuses_writes_and_still_reads(db_url: str, tmp_path: Path) -> None:
    url = shared_url(db_url, tmp_path)
    writer = DataFlow(url)

    @writer.model
    class Entry:
        name: str

    one(writer, "EntryCreateNode", {"name": "kept"})
    writer.close()
    reader = DataFlow(url, read_only=True)
    try:

        @reader.model
        class Entry:  # type: ignore[no-redef]
            name: str

        from dataflow_engine import ReadOnlyError

        for node, params in [
            ("EntryCreateNode", {"name": "x"}),
            ("EntryBulkDeleteNode", {"all": True}),
            ("EntryBulkUpdateNode", {"all": True, "update": {"name": "y"}}),
        ]:
            with pytest.raises(ReadOnlyError) as info:
                one(reader, node, params)
            assert info.value.code == "DF-READ-ONLY"
        assert [r["name"] for r in one(reader, "EntryListNode", {})["records"]] == ["kept"]
    finally:
        reader.close()


def test_existing_schema_mode_never_creates_tables(db_url: str) -> None:
    db = DataFlow(db_url, existing_schema_mode=True)
    try:

        @db.model
        class NotThere:
            name: str

        with pytest.raises(SchemaError) as info:
            one(db, "NotThereCountNode", {})
        assert info.value.code == "DF-SCHEMA-TABLE-MISSING"
        assert "not_theres" in str(info.value)
    finally:
        db.close()
