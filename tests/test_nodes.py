"""Every node's parameters and outputs, on every backend."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from dataflow_engine import (
    DataFlow,
    MultipleRecordsError,
    NotFoundError,
    OptimisticLockError,
    UniqueViolation,
    ValidationError,
    WorkflowError,
    WorkflowValidationError,
)
from tests.support import one, run

AUTO = {"id", "created_at", "updated_at"}


@pytest.fixture
def users(db: DataFlow) -> DataFlow:
    @db.model
    class User:
        name: str
        email: str
        age: int
        department: str
        active: bool = True
        nickname: str | None = None
        __dataflow__ = {"unique": [["email"]], "indexes": [["department", "age"]]}

    return db


def seed(db: DataFlow, n: int = 10) -> list[int]:
    data = [
        {
            "name": f"user{i}",
            "email": f"u{i}@x.io",
            "age": 20 + i,
            "department": "eng" if i % 2 == 0 else "ops",
            "active": i % 3 != 0,
        }
        for i in range(n)
    ]
    out = one(db, "UserBulkCreateNode", {"data": data, "return_ids": True})
    assert out["inserted"] == n
    return list(out["ids"])


def test_create_returns_the_stored_row_with_id_and_auto_columns(users: DataFlow) -> None:
    row = one(
        users, "UserCreateNode", {"name": "Ann", "email": "a@x.io", "age": 30, "department": "eng"}
    )
    assert isinstance(row["id"], int)
    assert row["name"] == "Ann" and row["age"] == 30 and row["active"] is True
    assert row["nickname"] is None
    assert isinstance(row["created_at"], dt.datetime) and row["created_at"].tzinfo is not None
    assert row["created_at"] == row["updated_at"]
    assert set(row) == AUTO | {"name", "email", "age", "department", "active", "nickname"}
    second = one(
        users, "UserCreateNode", {"name": "Bo", "email": "b@x.io", "age": 31, "department": "ops"}
    )
    assert second["id"] != row["id"]


def test_read_by_id_and_by_filter(users: DataFlow) -> None:
    ids = seed(users)
    row = one(users, "UserReadNode", {"id": ids[3]})
    assert row["found"] is True and row["email"] == "u3@x.io"
    by_filter = one(users, "UserReadNode", {"filter": {"email": "u4@x.io"}})
    assert by_filter["id"] == ids[4]
    alias = one(users, "UserReadNode", {"conditions": {"email": "u5@x.io"}})
    assert alias["id"] == ids[5]


def test_read_not_found_raises_or_reports(users: DataFlow) -> None:
    seed(users, 2)
    with pytest.raises(NotFoundError) as info:
        one(users, "UserReadNode", {"id": 999_999})
    assert info.value.code == "DF-NOT-FOUND"
    assert isinstance(info.value, WorkflowError) and info.value.node_id == "n"
    assert one(users, "UserReadNode", {"id": 999_999, "raise_on_not_found": False}) == {
        "found": False
    }


def test_read_filter_matching_several_rows_is_an_error(users: DataFlow) -> None:
    seed(users)
    with pytest.raises(MultipleRecordsError):
        one(users, "UserReadNode", {"filter": {"department": "eng"}})


def test_update_by_id_and_filter_with_alias(users: DataFlow) -> None:
    ids = seed(users, 3)
    before = one(users, "UserReadNode", {"id": ids[0]})
    row = one(users, "UserUpdateNode", {"id": ids[0], "fields": {"name": "renamed"}})
    assert row["updated"] is True and row["name"] == "renamed" and row["id"] == ids[0]
    assert row["updated_at"] >= before["updated_at"]
    assert row["created_at"] == before["created_at"]
    row = one(
        users,
        "UserUpdateNode",
        {"conditions": {"email": "u1@x.io"}, "updates": {"$inc": {"age": 5}}},
    )
    assert row["age"] == 26


def test_update_matching_nothing_is_not_found(users: DataFlow) -> None:
    seed(users, 2)
    with pytest.raises(NotFoundError):
        one(users, "UserUpdateNode", {"id": 424242, "fields": {"name": "x"}})
    with pytest.raises(NotFoundError):
        one(users, "UserUpdateNode", {"filter": {"email": "none"}, "fields": {"name": "x"}})


def test_delete_by_id_and_filter(users: DataFlow) -> None:
    ids = seed(users, 4)
    assert one(users, "UserDeleteNode", {"id": ids[0]}) == {"id": ids[0], "deleted": True}
    assert one(users, "UserDeleteNode", {"filter": {"email": "u1@x.io"}}) == {
        "id": ids[1],
        "deleted": True,
    }
    assert one(users, "UserCountNode", {})["count"] == 2
    with pytest.raises(NotFoundError):
        one(users, "UserDeleteNode", {"id": ids[0]})


def test_list_filter_order_limit_offset_fields_total(users: DataFlow) -> None:
    seed(users, 10)
    out = one(
        users,
        "UserListNode",
        {
            "filter": {"department": "eng"},
            "order_by": ["-age"],
            "limit": 2,
            "offset": 1,
            "fields": ["name", "age"],
            "with_total": True,
        },
    )
    assert out["records"] == [{"name": "user6", "age": 26}, {"name": "user4", "age": 24}]
    assert out["count"] == 2 and out["total"] == 5
    assert set(out) == {"records", "count", "total", "next_cursor"}
    asc = one(users, "UserListNode", {"order_by": [{"age": 1}], "fields": ["age"]})
    assert [r["age"] for r in asc["records"]] == list(range(20, 30))
    assert asc["total"] is None and asc["next_cursor"] is None


def test_list_cursor_pages_through_everything_once_even_with_inserts(users: DataFlow) -> None:
    seed(users, 25)
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, object] = {"order_by": ["department", "-age"], "limit": 7}
        if cursor:
            params["cursor"] = cursor
        out = one(users, "UserListNode", params)
        seen += [r["id"] for r in out["records"]]
        pages += 1
        if pages == 1:  # an insert sorting before the cursor must not shift later pages
            one(
                users,
                "UserCreateNode",
                {"name": "late", "email": "late@x.io", "age": 99, "department": "aaa"},
            )
        cursor = out["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 25
    assert pages == 4


def test_list_cursor_with_a_different_order_is_refused(users: DataFlow) -> None:
    seed(users, 5)
    out = one(users, "UserListNode", {"order_by": ["age"], "limit": 2})
    with pytest.raises(ValidationError) as info:
        one(users, "UserListNode", {"order_by": ["name"], "limit": 2, "cursor": out["next_cursor"]})
    assert info.value.code == "DF-PARAM-CURSOR"
    with pytest.raises(ValidationError):
        one(users, "UserListNode", {"limit": 2, "cursor": "not-a-cursor"})


def test_count(users: DataFlow) -> None:
    seed(users, 10)
    assert one(users, "UserCountNode", {}) == {"count": 10}
    assert one(users, "UserCountNode", {"filter": {"age": {"$gte": 25}}}) == {"count": 5}


def test_upsert_creates_then_updates(users: DataFlow) -> None:
    params = {
        "where": {"email": "z@x.io"},
        "create": {"name": "Zed", "age": 40, "department": "eng"},
        "update": {"$inc": {"age": 1}},
    }
    first = one(users, "UserUpsertNode", params)
    assert first["action"] == "created"
    assert first["record"]["email"] == "z@x.io" and first["record"]["age"] == 40
    second = one(users, "UserUpsertNode", params)
    assert second["action"] == "updated" and second["record"]["age"] == 41
    assert second["record"]["id"] == first["record"]["id"]
    assert one(users, "UserCountNode", {})["count"] == 1


def test_bulk_create_ids_conflicts_and_atomicity(users: DataFlow) -> None:
    ids = seed(users, 3)
    assert len(ids) == 3 and len(set(ids)) == 3
    dup = [
        {"name": "a", "email": "new@x.io", "age": 1, "department": "x"},
        {"name": "b", "email": "u0@x.io", "age": 2, "department": "x"},
    ]
    with pytest.raises(UniqueViolation):
        one(users, "UserBulkCreateNode", {"data": dup})
    assert one(users, "UserCountNode", {})["count"] == 3  # nothing written
    out = one(users, "UserBulkCreateNode", {"data": dup, "on_conflict": "ignore"})
    assert out == {"inserted": 1, "ids": None}
    out = one(users, "UserBulkCreateNode", {"data": [], "return_ids": True})
    assert out == {"inserted": 0, "ids": []}


def test_bulk_create_in_small_batches_returns_ids_in_order(users: DataFlow) -> None:
    data = [{"name": f"n{i}", "email": f"e{i}", "age": i, "department": "d"} for i in range(25)]
    out = one(users, "UserBulkCreateNode", {"data": data, "batch_size": 4, "return_ids": True})
    assert out["inserted"] == 25 and out["ids"] == sorted(out["ids"])
    rows = one(users, "UserListNode", {"order_by": ["id"]})["records"]
    assert [r["email"] for r in rows] == [f"e{i}" for i in range(25)]


def test_bulk_update_with_values_and_operators(users: DataFlow) -> None:
    seed(users, 10)
    assert one(
        users, "UserBulkUpdateNode", {"filter": {"department": "ops"}, "update": {"active": False}}
    ) == {"updated": 5}
    assert one(users, "UserCountNode", {"filter": {"active": True, "department": "ops"}}) == {
        "count": 0
    }
    one(
        users,
        "UserBulkUpdateNode",
        {
            "filter": {"age": {"$lt": 22}},
            "update": {"$inc": {"age": 100}, "$set": {"nickname": "old"}},
        },
    )
    rows = one(users, "UserListNode", {"filter": {"nickname": "old"}, "order_by": ["age"]})
    assert [r["age"] for r in rows["records"]] == [120, 121]
    out = one(users, "UserBulkUpdateNode", {"update": {"$unset": {"nickname": True}}, "all": True})
    assert out == {"updated": 10}
    assert one(users, "UserCountNode", {"filter": {"nickname": None}})["count"] == 10


def test_bulk_update_min_max_mul_current_date(db: DataFlow) -> None:
    @db.model
    class Stat:
        name: str
        score: int | None = None
        ratio: float = 1.0
        seen: dt.datetime | None = None

    one(
        db,
        "StatBulkCreateNode",
        {"data": [{"name": "a", "score": 5}, {"name": "b", "score": 50}, {"name": "c"}]},
    )
    one(db, "StatBulkUpdateNode", {"all": True, "update": {"$min": {"score": 10}}})
    rows = {r["name"]: r for r in one(db, "StatListNode", {})["records"]}
    assert (rows["a"]["score"], rows["b"]["score"], rows["c"]["score"]) == (5, 10, None)
    one(db, "StatBulkUpdateNode", {"all": True, "update": {"$max": {"score": 7}}})
    rows = {r["name"]: r for r in one(db, "StatListNode", {})["records"]}
    assert (rows["a"]["score"], rows["b"]["score"], rows["c"]["score"]) == (7, 10, 7)
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    one(
        db,
        "StatBulkUpdateNode",
        {
            "filter": {"name": "a"},
            "update": {"$mul": {"ratio": 2.5}, "$currentDate": {"seen": True}},
        },
    )
    a = one(db, "StatReadNode", {"filter": {"name": "a"}})
    assert a["ratio"] == 2.5 and a["seen"] >= before


def test_bulk_delete_and_the_empty_filter_guard(users: DataFlow) -> None:
    seed(users, 6)
    with pytest.raises(WorkflowValidationError) as info:
        one(users, "UserBulkDeleteNode", {})
    assert "DF-PARAM-UNSAFE-BULK" in str(info.value)
    with pytest.raises(WorkflowValidationError):
        one(users, "UserBulkDeleteNode", {"filter": {}})
    with pytest.raises(WorkflowValidationError):
        one(users, "UserBulkUpdateNode", {"update": {"age": 1}})
    assert one(users, "UserCountNode", {})["count"] == 6
    assert one(users, "UserBulkDeleteNode", {"filter": {"department": "eng"}}) == {"deleted": 3}
    assert one(users, "UserBulkDeleteNode", {"filter": {}, "all": True}) == {"deleted": 3}
    assert one(users, "UserCountNode", {})["count"] == 0


def test_bulk_upsert_with_and_without_a_unique_constraint(users: DataFlow) -> None:
    seed(users, 3)
    out = one(
        users,
        "UserBulkUpsertNode",
        {
            "data": [
                {"name": "changed", "email": "u0@x.io", "age": 70, "department": "eng"},
                {"name": "fresh", "email": "f@x.io", "age": 1, "department": "eng"},
            ],
            "match_fields": ["email"],
        },
    )
    assert out == {"inserted": 1, "updated": 1}
    row = one(users, "UserReadNode", {"filter": {"email": "u0@x.io"}})
    assert row["name"] == "changed" and row["age"] == 70
    # 'name' has no unique constraint: matching still works, and only update_fields change.
    out = one(
        users,
        "UserBulkUpsertNode",
        {
            "data": [
                {"name": "fresh", "email": "f@x.io", "age": 2, "department": "ops"},
                {"name": "other", "email": "o@x.io", "age": 3, "department": "ops"},
            ],
            "match_fields": ["name"],
            "update_fields": ["age"],
        },
    )
    assert out == {"inserted": 1, "updated": 1}
    fresh = one(users, "UserReadNode", {"filter": {"name": "fresh"}})
    assert fresh["age"] == 2 and fresh["department"] == "eng"
    assert one(users, "UserCountNode", {})["count"] == 5


def test_bulk_upsert_duplicates_in_one_call_last_wins(users: DataFlow) -> None:
    out = one(
        users,
        "UserBulkUpsertNode",
        {
            "data": [
                {"name": "a", "email": "d@x.io", "age": 1, "department": "x"},
                {"name": "b", "email": "d@x.io", "age": 2, "department": "x"},
            ],
            "match_fields": ["email"],
        },
    )
    assert out == {"inserted": 1, "updated": 0}
    assert one(users, "UserReadNode", {"filter": {"email": "d@x.io"}})["name"] == "b"


def test_soft_delete_model(db: DataFlow) -> None:
    @db.model
    class Doc:
        title: str
        __dataflow__ = {"soft_delete": True}

    ids = one(
        db, "DocBulkCreateNode", {"data": [{"title": t} for t in "abcd"], "return_ids": True}
    )["ids"]
    assert one(db, "DocDeleteNode", {"id": ids[0]}) == {"id": ids[0], "deleted": True}
    assert one(db, "DocCountNode", {})["count"] == 3
    assert one(db, "DocCountNode", {"include_deleted": True})["count"] == 4
    with pytest.raises(NotFoundError):
        one(db, "DocReadNode", {"id": ids[0]})
    assert one(db, "DocReadNode", {"id": ids[0], "include_deleted": True})["deleted_at"]
    assert one(db, "DocBulkDeleteNode", {"filter": {"title": "b"}}) == {"deleted": 1}
    assert one(db, "DocBulkDeleteNode", {"filter": {"title": "b"}, "soft_delete": False}) == {
        "deleted": 1
    }
    assert one(db, "DocDeleteNode", {"id": ids[2], "hard": True})["deleted"] is True
    assert one(db, "DocCountNode", {"include_deleted": True})["count"] == 2
    listed = one(db, "DocListNode", {})["records"]
    assert [r["title"] for r in listed] == ["d"]


def test_versioned_model_optimistic_lock(db: DataFlow) -> None:
    @db.model
    class Counter:
        name: str
        value: int = 0
        __dataflow__ = {"versioned": True}

    row = one(db, "CounterCreateNode", {"name": "c"})
    assert row["version"] == 1
    row = one(
        db, "CounterUpdateNode", {"id": row["id"], "version": 1, "fields": {"$inc": {"value": 1}}}
    )
    assert (row["version"], row["value"]) == (2, 1)
    with pytest.raises(OptimisticLockError) as info:
        one(db, "CounterUpdateNode", {"id": row["id"], "version": 1, "fields": {"value": 9}})
    assert info.value.code == "DF-OPTIMISTIC-LOCK"
    with pytest.raises(WorkflowValidationError):
        one(db, "CounterUpdateNode", {"id": row["id"], "fields": {"value": 9}})


def test_composite_primary_key(db: DataFlow) -> None:
    @db.model
    class Membership:
        org: str
        member: int
        role: str
        __dataflow__ = {"primary_key": ["org", "member"]}

    one(db, "MembershipCreateNode", {"org": "acme", "member": 1, "role": "admin"})
    one(db, "MembershipCreateNode", {"org": "acme", "member": 2, "role": "dev"})
    row = one(db, "MembershipReadNode", {"id": {"org": "acme", "member": 2}})
    assert row["role"] == "dev"
    row = one(db, "MembershipUpdateNode", {"id": ["acme", 1], "fields": {"role": "owner"}})
    assert row["role"] == "owner"
    out = one(db, "MembershipDeleteNode", {"id": {"org": "acme", "member": 1}})
    assert out == {"id": {"org": "acme", "member": 1}, "deleted": True}
    with pytest.raises(UniqueViolation):
        one(db, "MembershipCreateNode", {"org": "acme", "member": 2, "role": "again"})


def test_node_outputs_match_their_declarations(users: DataFlow) -> None:
    ids = seed(users, 2)
    results = run(
        users,
        ("UserCreateNode", "create", {"name": "x", "email": "x@x", "age": 1, "department": "d"}),
        ("UserReadNode", "read", {"id": ids[0]}),
        ("UserUpdateNode", "update", {"id": ids[0], "fields": {"age": 2}}),
        ("UserListNode", "list", {}),
        ("UserCountNode", "count", {}),
        (
            "UserUpsertNode",
            "upsert",
            {"where": {"email": "y@y"}, "create": {"name": "y", "age": 1, "department": "d"}},
        ),
        (
            "UserBulkCreateNode",
            "bulk_create",
            {"data": [{"name": "z", "email": "z@z", "age": 1, "department": "d"}]},
        ),
        ("UserBulkUpdateNode", "bulk_update", {"filter": {"name": "z"}, "update": {"age": 3}}),
        (
            "UserBulkUpsertNode",
            "bulk_upsert",
            {
                "data": [{"name": "z", "email": "z@z", "age": 4, "department": "d"}],
                "match_fields": ["email"],
            },
        ),
        ("UserBulkDeleteNode", "bulk_delete", {"filter": {"name": "z"}}),
        ("UserDeleteNode", "delete", {"id": ids[1]}),
    )
    for node_id, output in results.items():
        declared = users.nodes[f"User{_kind(node_id)}Node"].outputs()
        if "found" in declared or ("updated" in declared and "records" not in declared):
            assert set(output) <= set(declared), node_id
        else:
            assert set(output) == set(declared), node_id


def _kind(node_id: str) -> str:
    return "".join(part.capitalize() for part in node_id.split("_"))


def test_bulk_delete_soft_delete_flag_on_a_plain_model(users: DataFlow) -> None:
    seed(users, 3)
    with pytest.raises(WorkflowValidationError) as info:
        one(users, "UserBulkDeleteNode", {"filter": {"age": 20}, "soft_delete": True})
    assert "soft_delete" in str(info.value)
    assert one(users, "UserBulkDeleteNode", {"filter": {"age": 20}, "soft_delete": False}) == {
        "deleted": 1
    }


def test_sqlite_files_use_wal(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    db = DataFlow(f"sqlite:///{path}")
    try:

        @db.model
        class Row:
            name: str

        one(db, "RowCreateNode", {"name": "x"})
        raw = sqlite3.connect(path)  # another process's view of the same file
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        raw.close()
    finally:
        db.close()
