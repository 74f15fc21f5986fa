"""Multi-tenant models: every node kind sees and touches only the bound tenant's rows, on
every backend."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from dataflow_engine import (
    AsyncLocalRuntime,
    DataFlow,
    LocalRuntime,
    NotFoundError,
    UniqueViolation,
    ValidationError,
    WorkflowBuilder,
    WorkflowError,
    WorkflowValidationError,
)
from dataflow_engine.errors import TenantError
from dataflow_engine.models._serialize import checksum, model_from_definition, model_to_definition
from dataflow_engine.nodes import ExecContext
from tests.support import one, run

TABLE = "tenant_notes"


def define(db: DataFlow) -> None:
    @db.model
    class Note:
        title: str
        rank: int = 0
        body: str = ""
        __dataflow__ = {
            "multi_tenant": True,
            "table": TABLE,
            "unique": [["tenant_id", "title"]],
        }

    @db.model
    class Source:
        """A plain model whose values feed connections."""

        text: str
        number: int = 0


@pytest.fixture
def notes(db: DataFlow) -> DataFlow:
    define(db)
    return db


def seed(db: DataFlow) -> dict[str, list[int]]:
    """t1: a1..a3 (ranks 1..3) and 'shared'; t2: b1, b2 and 'shared' (rank 10)."""
    ids: dict[str, list[int]] = {}
    for tenant, rows in (
        ("t1", [("a1", 1), ("a2", 2), ("a3", 3), ("shared", 4)]),
        ("t2", [("b1", 1), ("b2", 2), ("shared", 10)]),
    ):
        data = [{"title": t, "rank": r} for t, r in rows]
        out = one(db, "NoteBulkCreateNode", {"data": data, "return_ids": True}, tenant_id=tenant)
        ids[tenant] = list(out["ids"])
    return ids


def titles(db: DataFlow, tenant: str, **params: Any) -> list[str]:
    out = one(db, "NoteListNode", {"order_by": ["title"], **params}, tenant_id=tenant)
    return [r["title"] for r in out["records"]]


T1 = ["a1", "a2", "a3", "shared"]
T2 = ["b1", "b2", "shared"]


# -- binding the tenant -----------------------------------------------------------------------


def test_rows_are_stamped_with_the_bound_tenant(notes: DataFlow) -> None:
    row = one(notes, "NoteCreateNode", {"title": "x"}, tenant_id="t1")
    assert row["tenant_id"] == "t1"
    # COPY on PostgreSQL, one batched INSERT elsewhere; then the RETURNING / per-row paths.
    one(notes, "NoteBulkCreateNode", {"data": [{"title": "y"}, {"title": "z"}]}, tenant_id="t2")
    out = one(
        notes,
        "NoteBulkCreateNode",
        {"data": [{"title": "w"}], "return_ids": True},
        tenant_id="t2",
    )
    assert len(out["ids"]) == 1
    out = one(
        notes,
        "NoteBulkCreateNode",
        {"data": [{"title": "y"}, {"title": "v"}], "on_conflict": "ignore"},
        tenant_id="t2",
    )
    assert out["inserted"] == 1  # 'y' exists in t2
    listed = one(notes, "NoteListNode", {"order_by": ["title"]}, tenant_id="t2")["records"]
    assert [(r["title"], r["tenant_id"]) for r in listed] == [
        ("v", "t2"),
        ("w", "t2"),
        ("y", "t2"),
        ("z", "t2"),
    ]
    assert titles(notes, "t1") == ["x"]


def test_the_tenant_context_manager_with_and_async_with(notes: DataFlow) -> None:
    with notes.tenant("t1"):
        one(notes, "NoteCreateNode", {"title": "sync"})
        with notes.tenant("t2"):  # the innermost binding wins
            one(notes, "NoteCreateNode", {"title": "inner"})
        one(notes, "NoteCreateNode", {"title": "restored"})
        # An explicit tenant_id wins over the context.
        one(notes, "NoteCreateNode", {"title": "explicit"}, tenant_id="t2")

    async def main() -> None:
        async with notes.tenant("t2"):
            results, _ = await AsyncLocalRuntime(dataflow=notes).execute(
                {"nodes": [{"id": "c", "type": "NoteCreateNode", "params": {"title": "async"}}]}
            )
            assert results["c"]["tenant_id"] == "t2"

    asyncio.run(main())
    assert titles(notes, "t1") == ["restored", "sync"]
    assert titles(notes, "t2") == ["async", "explicit", "inner"]
    with pytest.raises(TenantError) as info:  # the block is over: nothing bound
        one(notes, "NoteCountNode", {})
    assert info.value.code == "DF-TENANT-REQUIRED"


def test_concurrent_tasks_each_keep_their_own_tenant(notes: DataFlow) -> None:
    runtime = AsyncLocalRuntime(dataflow=notes)

    async def work(tenant: str, n: int) -> int:
        async with notes.tenant(tenant):
            for i in range(n):
                wf = {"nodes": [{"id": "c", "type": "NoteCreateNode", "params": {"title": f"{i}"}}]}
                await runtime.execute(wf)
                await asyncio.sleep(0)
            results, _ = await runtime.execute(
                {"nodes": [{"id": "n", "type": "NoteCountNode", "params": {}}]}
            )
            return int(results["n"]["count"])

    async def main() -> list[int]:
        return list(await asyncio.gather(work("t1", 5), work("t2", 3), work("t3", 4)))

    assert asyncio.run(main()) == [5, 3, 4]
    assert [len(titles(notes, t)) for t in ("t1", "t2", "t3")] == [5, 3, 4]

    # One binding object entered by two tasks at once; the first to enter leaves first.
    shared = notes.tenant("t4")
    count = {"nodes": [{"id": "n", "type": "NoteCountNode", "params": {}}]}

    async def shared_main() -> list[int]:
        a_in, b_in, a_out = asyncio.Event(), asyncio.Event(), asyncio.Event()

        async def first() -> int:
            async with shared:
                a_in.set()
                await b_in.wait()
                results, _ = await runtime.execute(count)
            a_out.set()
            with pytest.raises(TenantError):  # left: nothing bound in this task any more
                await runtime.execute(count)
            return int(results["n"]["count"])

        async def second() -> int:
            await a_in.wait()
            async with shared:
                b_in.set()
                await a_out.wait()  # still inside after the other task left
                results, _ = await runtime.execute(count)
            return int(results["n"]["count"])

        return list(await asyncio.gather(first(), second()))

    assert asyncio.run(shared_main()) == [0, 0]


def test_a_binding_belongs_to_its_thread(notes: DataFlow) -> None:
    seen: list[BaseException] = []

    def other_thread() -> None:
        try:
            one(notes, "NoteCountNode", {})
        except TenantError as exc:
            seen.append(exc)

    with notes.tenant("t1"):
        one(notes, "NoteCreateNode", {"title": "mine"})
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
    assert [e.code for e in seen] == ["DF-TENANT-REQUIRED"]  # type: ignore[attr-defined]


def test_the_tenant_and_actor_reach_the_node(notes: DataFlow) -> None:
    count = notes.nodes["NoteCountNode"]

    class Probe(count):  # type: ignore[misc, valid-type]
        async def run(self, ctx: ExecContext, params: dict[str, Any]) -> dict[str, Any]:
            return {"tenant": ctx.tenant_id, "actor": ctx.actor}

    def probe(**kwargs: Any) -> Any:
        wf = WorkflowBuilder()
        wf.add_node(Probe, "p", {})
        return LocalRuntime(dataflow=notes).execute(wf.build(notes), **kwargs)[0]["p"]

    with notes.tenant("t1"), notes.actor("alice"):
        assert probe() == {"tenant": "t1", "actor": "alice"}
        assert probe(tenant_id="t2", actor="bob") == {"tenant": "t2", "actor": "bob"}

        async def main() -> Any:
            wf = WorkflowBuilder()
            wf.add_node(Probe, "p", {})
            results, _ = await AsyncLocalRuntime(dataflow=notes).execute(wf.build(notes))
            return results["p"]

        assert asyncio.run(main()) == {"tenant": "t1", "actor": "alice"}
    assert probe(tenant_id="t3") == {"tenant": "t3", "actor": None}


@pytest.mark.parametrize("bad", ["", 7, b"t1", "x" * 256, "a\x00b", "\ud800"])
def test_an_invalid_tenant_id_is_refused(notes: DataFlow, bad: Any) -> None:
    with pytest.raises(TenantError) as info:
        notes.tenant(bad)
    assert info.value.code == "DF-TENANT-INVALID"
    assert isinstance(info.value, ValidationError)
    with pytest.raises(TenantError) as info:
        one(notes, "NoteCreateNode", {"title": "x"}, tenant_id=bad)
    assert info.value.code == "DF-TENANT-INVALID"
    with notes.tenant("t1"):
        assert one(notes, "NoteCountNode", {})["count"] == 0  # nothing was written


@pytest.mark.parametrize("bad", ["", 3, None])
def test_an_invalid_actor_is_refused(notes: DataFlow, bad: Any) -> None:
    with pytest.raises(ValidationError) as info:
        notes.actor(bad)
    assert info.value.code == "DF-PARAM-ACTOR"
    if bad is not None:  # None means "not given" to execute()
        with pytest.raises(ValidationError):
            one(notes, "NoteCountNode", {}, tenant_id="t1", actor=bad)


def test_unicode_and_long_tenant_ids_are_distinct_tenants(notes: DataFlow) -> None:
    long_id = "ü" * 255
    for tenant in ("Ünïcode ✓", "ünïcode ✓", "ünïcode ✓ ", long_id):
        one(notes, "NoteCreateNode", {"title": tenant[:20]}, tenant_id=tenant)
    for tenant in ("Ünïcode ✓", "ünïcode ✓", "ünïcode ✓ ", long_id):
        assert titles(notes, tenant) == [tenant[:20]]


# -- nothing bound ----------------------------------------------------------------------------

ALL_NODES: list[tuple[str, dict[str, Any]]] = [
    ("NoteCreateNode", {"title": "x"}),
    ("NoteReadNode", {"id": 1}),
    ("NoteUpdateNode", {"id": 1, "fields": {"rank": 5}}),
    ("NoteDeleteNode", {"id": 1}),
    ("NoteListNode", {}),
    ("NoteCountNode", {}),
    ("NoteUpsertNode", {"where": {"title": "x"}, "create": {"title": "x"}}),
    ("NoteBulkCreateNode", {"data": [{"title": "x"}]}),
    ("NoteBulkUpdateNode", {"filter": {"title": "x"}, "update": {"rank": 1}}),
    ("NoteBulkDeleteNode", {"filter": {"title": "x"}}),
    ("NoteBulkUpsertNode", {"data": [{"title": "x"}], "match_fields": ["title"]}),
]


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...]]]:
    """Every statement sent through a real connection, recorded on its way to the driver."""
    from dataflow_engine.adapters import mysql, postgres, sqlite

    sent: list[tuple[str, tuple[Any, ...]]] = []

    def spy(kind: str, original: Any) -> Any:
        async def recording(self: Any, *args: Any, **kwargs: Any) -> Any:
            sent.append((kind, args))
            return await original(self, *args, **kwargs)

        return recording

    for cls in (sqlite._SQLiteConnection, postgres._PgConnection, mysql._MyConnection):
        for method in ("fetch", "execute", "executemany", "insert", "copy_records"):
            if method in cls.__dict__:
                monkeypatch.setattr(cls, method, spy(method, cls.__dict__[method]))
    return sent


def touching(sent: list[tuple[str, tuple[Any, ...]]], table: str) -> list[tuple[str, list[Any]]]:
    """The recorded statements on ``table``: (sql, the parameter rows it was sent with)."""
    out = []
    for kind, args in sent:
        if kind == "copy_records":
            if args[0] == table:
                out.append((f"COPY {args[0]} ({', '.join(args[2])})", list(args[3])))
        elif table in args[0]:
            params = args[1] if len(args) > 1 else ()
            out.append((args[0], list(params) if kind == "executemany" else [params]))
    return out


@pytest.mark.parametrize(("node_type", "params"), ALL_NODES, ids=[n for n, _ in ALL_NODES])
def test_nothing_bound_is_refused_before_any_sql(
    notes: DataFlow,
    statements: list[tuple[str, tuple[Any, ...]]],
    node_type: str,
    params: dict[str, Any],
) -> None:
    notes.create_tables()
    statements.clear()
    wf = WorkflowBuilder()
    wf.add_node("SourceCreateNode", "plain", {"text": "runs first"})
    wf.add_node(node_type, "n", params)
    with pytest.raises(TenantError) as info:
        LocalRuntime(dataflow=notes).execute(wf.build(notes))
    err = info.value
    assert err.code == "DF-TENANT-REQUIRED"
    assert isinstance(err, WorkflowError) and err.node_id == "n"
    assert "db.tenant(" in err.message and "tenant_id=" in err.message
    assert statements == []  # not even the plain node ran
    assert one(notes, "SourceCountNode", {})["count"] == 0


def test_models_that_are_not_multi_tenant_ignore_the_tenant(notes: DataFlow) -> None:
    one(notes, "SourceCreateNode", {"text": "from t1"}, tenant_id="t1")
    with notes.tenant("t2"):
        one(notes, "SourceCreateNode", {"text": "from t2"})
    rows = one(notes, "SourceListNode", {"order_by": ["text"]})["records"]
    assert [r["text"] for r in rows] == ["from t1", "from t2"]
    assert "tenant_id" not in rows[0]


def test_the_validator_does_not_ask_for_a_tenant_parameter(notes: DataFlow) -> None:
    for node_type, params in ALL_NODES:
        cls = notes.nodes[node_type]
        assert "tenant_id" not in cls.parameters()
        assert cls.validate_params(params) == []
    wf = WorkflowBuilder()
    wf.add_node("NoteCreateNode", "c", {"title": "x"})
    wf.build(notes)  # no tenant needed to build


# -- isolation, node by node --------------------------------------------------------------------


def test_read_update_delete_of_another_tenants_id_behave_as_missing(notes: DataFlow) -> None:
    ids = seed(notes)
    theirs = ids["t2"][0]
    with pytest.raises(NotFoundError) as info:
        one(notes, "NoteReadNode", {"id": theirs}, tenant_id="t1")
    with pytest.raises(NotFoundError) as never:
        one(notes, "NoteReadNode", {"id": 10**9}, tenant_id="t1")
    # Exactly what a key that never existed gets: nothing tells the two apart.
    assert info.value.cause.message.replace(str(theirs), "?") == never.value.cause.message.replace(
        str(10**9), "?"
    )
    assert one(
        notes, "NoteReadNode", {"id": theirs, "raise_on_not_found": False}, tenant_id="t1"
    ) == {"found": False}
    with pytest.raises(NotFoundError):
        one(notes, "NoteUpdateNode", {"id": theirs, "fields": {"rank": 99}}, tenant_id="t1")
    with pytest.raises(NotFoundError):
        one(notes, "NoteDeleteNode", {"id": theirs}, tenant_id="t1")
    with pytest.raises(NotFoundError):
        one(notes, "NoteReadNode", {"filter": {"title": "b1"}}, tenant_id="t1")
    with pytest.raises(NotFoundError):
        one(
            notes,
            "NoteUpdateNode",
            {"filter": {"title": "b1"}, "fields": {"rank": 9}},
            tenant_id="t1",
        )
    with pytest.raises(NotFoundError):
        one(notes, "NoteDeleteNode", {"filter": {"title": "b1"}}, tenant_id="t1")
    row = one(notes, "NoteReadNode", {"id": theirs}, tenant_id="t2")
    assert (row["title"], row["rank"]) == ("b1", 1)
    # 'shared' exists in both tenants: by filter each tenant finds exactly its own.
    mine = one(notes, "NoteReadNode", {"filter": {"title": "shared"}}, tenant_id="t1")
    assert mine["rank"] == 4 and mine["id"] == ids["t1"][3]
    updated = one(
        notes,
        "NoteUpdateNode",
        {"filter": {"title": "shared"}, "fields": {"rank": 40}},
        tenant_id="t1",
    )
    assert updated["rank"] == 40 and updated["tenant_id"] == "t1"
    one(notes, "NoteDeleteNode", {"filter": {"title": "shared"}}, tenant_id="t1")
    assert titles(notes, "t1") == ["a1", "a2", "a3"]
    assert titles(notes, "t2") == T2
    assert one(notes, "NoteReadNode", {"filter": {"title": "shared"}}, tenant_id="t2")["rank"] == 10


def test_list_count_and_aggregate_see_only_the_tenant(notes: DataFlow) -> None:
    seed(notes)
    assert titles(notes, "t1") == T1
    assert titles(notes, "t2") == T2
    assert one(notes, "NoteCountNode", {}, tenant_id="t1")["count"] == 4
    assert one(notes, "NoteCountNode", {"filter": {"rank": {"$gte": 2}}}, tenant_id="t2") == {
        "count": 2
    }
    out = one(
        notes,
        "NoteListNode",
        {"filter": {"rank": {"$lte": 3}}, "limit": 2, "with_total": True, "order_by": ["-rank"]},
        tenant_id="t1",
    )
    assert [r["title"] for r in out["records"]] == ["a3", "a2"] and out["total"] == 3
    page2 = one(
        notes,
        "NoteListNode",
        {
            "filter": {"rank": {"$lte": 3}},
            "limit": 2,
            "order_by": ["-rank"],
            "cursor": out["next_cursor"],
        },
        tenant_id="t1",
    )
    assert [r["title"] for r in page2["records"]] == ["a1"] and page2["next_cursor"] is None
    # A cursor from one tenant continues in the tenant that uses it, never in its own.
    other = one(
        notes,
        "NoteListNode",
        {
            "filter": {"rank": {"$lte": 3}},
            "limit": 2,
            "order_by": ["-rank"],
            "cursor": out["next_cursor"],
        },
        tenant_id="t2",
    )
    assert [r["title"] for r in other["records"]] == ["b2", "b1"]
    projected = one(notes, "NoteListNode", {"fields": ["title"], "offset": 3}, tenant_id="t2")
    assert projected["count"] == 0
    pipeline = [
        {"$group": {"_id": "$tenant_id", "n": {"$count": {}}, "top": {"$max": "$rank"}}},
    ]
    agg = one(notes, "NoteListNode", {"aggregate": pipeline}, tenant_id="t2")
    assert agg["records"] == [{"_id": "t2", "n": 3, "top": 10}]
    everything = one(notes, "NoteListNode", {"aggregate": [{"$match": {}}]}, tenant_id="t1")
    assert sorted(r["title"] for r in everything["records"]) == T1


WIDENING_FILTERS: list[dict[str, Any]] = [
    {"tenant_id": "t2"},
    {"tenant_id": {"$ne": "t1"}},
    {"tenant_id": {"$in": ["t1", "t2"]}},
    {"$or": [{"tenant_id": "t2"}, {"rank": {"$gte": 0}}]},
    {"$or": [{"tenant_id": "t2"}, {"tenant_id": {"$exists": True}}]},
    {"$not": {"tenant_id": "t1"}},
    {"$nor": [{"tenant_id": "t1"}]},
    {"$expr": {"$ne": ["$tenant_id", "t1"]}},
    {"$expr": {"$eq": ["$tenant_id", "$tenant_id"]}},
    {"$and": [{"$or": [{"rank": {"$gt": -1}}, {"tenant_id": "t2"}]}]},
    {"title": {"$in": ["a1", "b1", "shared"]}},
]


@pytest.mark.parametrize("flt", WIDENING_FILTERS, ids=[str(f) for f in WIDENING_FILTERS])
def test_a_filter_can_only_narrow_the_tenant(notes: DataFlow, flt: dict[str, Any]) -> None:
    seed(notes)
    listed = titles(notes, "t1", filter=flt)
    assert set(listed) <= set(T1)
    count = one(notes, "NoteCountNode", {"filter": flt}, tenant_id="t1")["count"]
    assert count == len(listed)
    agg = one(notes, "NoteListNode", {"aggregate": [{"$match": flt}]}, tenant_id="t1")
    assert sorted(r["title"] for r in agg["records"]) == listed
    updated = one(
        notes, "NoteBulkUpdateNode", {"filter": flt, "update": {"body": "touched"}}, tenant_id="t1"
    )
    assert updated["updated"] == len(listed)
    deleted = one(notes, "NoteBulkDeleteNode", {"filter": flt}, tenant_id="t1")
    assert deleted["deleted"] == len(listed)
    theirs = one(notes, "NoteListNode", {"order_by": ["title"]}, tenant_id="t2")["records"]
    assert [(r["title"], r["body"]) for r in theirs] == [(t, "") for t in T2]


def test_bulk_update_and_delete_with_all_stay_in_the_tenant(notes: DataFlow) -> None:
    seed(notes)
    assert one(
        notes,
        "NoteBulkUpdateNode",
        {"all": True, "update": {"$inc": {"rank": 100}}},
        tenant_id="t1",
    ) == {"updated": 4}
    assert one(notes, "NoteBulkDeleteNode", {"all": True}, tenant_id="t2") == {"deleted": 3}
    assert titles(notes, "t2") == []
    ranks = one(notes, "NoteListNode", {"order_by": ["title"]}, tenant_id="t1")["records"]
    assert [r["rank"] for r in ranks] == [101, 102, 103, 104]


def test_upsert_matches_and_creates_in_the_tenant(notes: DataFlow) -> None:
    seed(notes)
    out = one(
        notes,
        "NoteUpsertNode",
        {"where": {"title": "shared"}, "create": {"title": "shared"}, "update": {"rank": 44}},
        tenant_id="t1",
    )
    assert out["action"] == "updated" and out["record"]["rank"] == 44
    # 'b1' exists only in t2: for t1 it is absent, so it is created in t1.
    out = one(
        notes,
        "NoteUpsertNode",
        {"where": {"title": "b1"}, "create": {"title": "b1", "rank": 7}, "update": {"rank": 70}},
        tenant_id="t1",
    )
    assert out["action"] == "created" and out["record"]["tenant_id"] == "t1"
    assert out["record"]["rank"] == 7
    theirs = one(notes, "NoteListNode", {"order_by": ["title"]}, tenant_id="t2")["records"]
    assert [(r["title"], r["rank"]) for r in theirs] == [("b1", 1), ("b2", 2), ("shared", 10)]
    # Naming the bound tenant in where is a plain narrowing.
    out = one(
        notes,
        "NoteUpsertNode",
        {
            "where": {"tenant_id": "t1", "title": "a1"},
            "create": {"title": "a1"},
            "update": {"rank": 11},
        },
        tenant_id="t1",
    )
    assert out["action"] == "updated" and out["record"]["rank"] == 11


def test_bulk_upsert_matches_only_the_tenants_rows(notes: DataFlow) -> None:
    seed(notes)
    out = one(
        notes,
        "NoteBulkUpsertNode",
        {
            "data": [
                {"title": "shared", "rank": 5},
                {"title": "b1", "rank": 6},  # only t2 has it: an insert in t1
                {"title": "a1", "body": "kept rank"},
            ],
            "match_fields": ["title"],
        },
        tenant_id="t1",
    )
    assert out == {"inserted": 1, "updated": 2}
    mine = one(notes, "NoteListNode", {"order_by": ["title"]}, tenant_id="t1")["records"]
    assert [(r["title"], r["rank"], r["tenant_id"]) for r in mine] == [
        ("a1", 1, "t1"),
        ("a2", 2, "t1"),
        ("a3", 3, "t1"),
        ("b1", 6, "t1"),
        ("shared", 5, "t1"),
    ]
    theirs = one(notes, "NoteListNode", {"order_by": ["title"]}, tenant_id="t2")["records"]
    assert [(r["title"], r["rank"]) for r in theirs] == [("b1", 1), ("b2", 2), ("shared", 10)]
    # tenant_id may be a match field: the bound tenant fills it when a record leaves it out.
    out = one(
        notes,
        "NoteBulkUpsertNode",
        {
            "data": [{"title": "b2", "rank": 1}, {"title": "a2", "rank": 20, "tenant_id": "t2"}],
            "match_fields": ["tenant_id", "title"],
        },
        tenant_id="t2",
    )
    assert out == {"inserted": 1, "updated": 1}
    assert titles(notes, "t2") == ["a2", "b1", "b2", "shared"]
    assert one(notes, "NoteReadNode", {"filter": {"title": "a2"}}, tenant_id="t1")["rank"] == 2


# -- writes cannot name another tenant -------------------------------------------------------


def _refused(code: str, fn: Any) -> TenantError | ValidationError:
    with pytest.raises((TenantError, ValidationError, WorkflowValidationError)) as info:
        fn()
    err = info.value
    if isinstance(err, WorkflowValidationError):
        assert [d.code for d in err.diagnostics] == [code]
    else:
        assert err.code == code
    return err  # type: ignore[return-value]


def test_records_cannot_name_another_tenant(notes: DataFlow) -> None:
    seed(notes)
    before = {t: titles(notes, t) for t in ("t1", "t2")}
    mismatch = "DF-TENANT-MISMATCH"
    err = _refused(
        mismatch,
        lambda: one(notes, "NoteCreateNode", {"title": "x", "tenant_id": "t2"}, tenant_id="t1"),
    )
    assert "tenant_id" in err.message
    _refused(
        mismatch,
        lambda: one(
            notes,
            "NoteBulkCreateNode",
            {"data": [{"title": "x"}, {"title": "y", "tenant_id": "t2"}]},
            tenant_id="t1",
        ),
    )
    _refused(
        mismatch,
        lambda: one(
            notes,
            "NoteUpsertNode",
            {"where": {"title": "a1"}, "create": {"title": "a1", "tenant_id": "t2"}},
            tenant_id="t1",
        ),
    )
    _refused(
        mismatch,
        lambda: one(
            notes,
            "NoteUpsertNode",
            {"where": {"tenant_id": "t2", "title": "b1"}, "create": {"title": "b1"}},
            tenant_id="t1",
        ),
    )
    _refused(
        mismatch,
        lambda: one(
            notes,
            "NoteBulkUpsertNode",
            {"data": [{"title": "a1", "tenant_id": "t2"}], "match_fields": ["title"]},
            tenant_id="t1",
        ),
    )
    _refused(
        mismatch,
        lambda: one(
            notes,
            "NoteBulkUpsertNode",
            {"data": [{"title": "b1", "tenant_id": "t2"}], "match_fields": ["tenant_id", "title"]},
            tenant_id="t1",
        ),
    )
    # A value supplied when the workflow runs (a parameter override) is checked too.
    wf = WorkflowBuilder()
    wf.add_node("NoteCreateNode", "c", {"title": "x"})
    _refused(
        mismatch,
        lambda: LocalRuntime(dataflow=notes).execute(
            wf.build(notes), parameters={"c": {"tenant_id": "t2"}}, tenant_id="t1"
        ),
    )
    # Update documents never change a row's tenant, whatever the value or operator.
    read_only = "DF-PARAM-READ-ONLY-FIELD"
    for fields in (
        {"tenant_id": "t2"},
        {"tenant_id": "t1"},
        {"$set": {"tenant_id": "t2"}},
        {"$unset": {"tenant_id": ""}},
    ):
        _refused(
            read_only,
            lambda f=fields: one(
                notes, "NoteUpdateNode", {"filter": {"title": "a1"}, "fields": f}, tenant_id="t1"
            ),
        )
        _refused(
            read_only,
            lambda f=fields: one(
                notes, "NoteBulkUpdateNode", {"all": True, "update": f}, tenant_id="t1"
            ),
        )
        _refused(
            read_only,
            lambda f=fields: one(
                notes,
                "NoteUpsertNode",
                {"where": {"title": "a1"}, "create": {"title": "a1"}, "update": f},
                tenant_id="t1",
            ),
        )
    assert {t: titles(notes, t) for t in ("t1", "t2")} == before
    # The bound tenant's own id is accepted where a record may name it.
    row = one(notes, "NoteCreateNode", {"title": "own", "tenant_id": "t1"}, tenant_id="t1")
    assert row["tenant_id"] == "t1"
    out = one(
        notes,
        "NoteBulkCreateNode",
        {"data": [{"title": "own2", "tenant_id": "t1"}]},
        tenant_id="t1",
    )
    assert out["inserted"] == 1


def test_connections_that_feed_a_tenant_id_do_not_escape(notes: DataFlow) -> None:
    ids = seed(notes)
    theirs = ids["t2"][0]

    def fed(target: str, params: dict[str, Any], output: str, input_path: str) -> Any:
        results = run(
            notes,
            ("SourceCreateNode", "src", {"text": "t2", "number": theirs}),
            (target, "t", params),
            connections=(("src", output, "t", input_path),),
            tenant_id="t1",
        )
        return results["t"]

    assert fed("NoteListNode", {}, "text", "filter.tenant_id")["records"] == []
    assert fed("NoteCountNode", {}, "text", "filter.tenant_id") == {"count": 0}
    assert fed(
        "NoteBulkUpdateNode", {"update": {"rank": 0}, "filter": {}}, "text", "filter.tenant_id"
    ) == {"updated": 0}
    assert fed("NoteBulkDeleteNode", {"filter": {}}, "text", "filter.tenant_id") == {"deleted": 0}
    assert fed("NoteReadNode", {"raise_on_not_found": False}, "number", "id") == {"found": False}
    with pytest.raises(NotFoundError):
        fed("NoteUpdateNode", {"fields": {"rank": 0}}, "number", "id")
    with pytest.raises(NotFoundError):
        fed("NoteDeleteNode", {}, "number", "id")
    with pytest.raises(TenantError) as info:
        fed(
            "NoteUpsertNode",
            {"where": {"title": "z"}, "create": {"title": "z"}},
            "text",
            "create.tenant_id",
        )
    assert info.value.code == "DF-TENANT-MISMATCH"
    with pytest.raises(TenantError):
        fed(
            "NoteUpsertNode",
            {"where": {"title": "z"}, "create": {"title": "z"}},
            "text",
            "where.tenant_id",
        )
    with pytest.raises(WorkflowValidationError):  # not an input of Create: refused by build()
        fed("NoteCreateNode", {"title": "z"}, "text", "tenant_id")
    with pytest.raises(ValidationError) as info:
        fed(
            "NoteUpdateNode",
            {"id": ids["t1"][0], "fields": {"rank": 1}},
            "text",
            "fields.tenant_id",
        )
    assert info.value.code == "DF-PARAM-READ-ONLY-FIELD"
    assert titles(notes, "t2") == T2
    assert titles(notes, "t1") == T1
    assert one(notes, "NoteReadNode", {"id": theirs}, tenant_id="t2")["rank"] == 1


# -- transactions, constraints, registry -----------------------------------------------------


def test_a_transactional_workflow_is_scoped_and_rolls_back(notes: DataFlow) -> None:
    seed(notes)
    results = run(
        notes,
        ("NoteCreateNode", "create", {"title": "tx"}),
        ("NoteBulkCreateNode", "bulk", {"data": [{"title": "tx2"}, {"title": "tx3"}]}),
        ("NoteBulkUpdateNode", "bump", {"all": True, "update": {"$inc": {"rank": 1}}}),
        ("NoteUpdateNode", "edit", {"fields": {"body": "edited"}}),
        ("NoteListNode", "list", {"order_by": ["title"]}),
        connections=(("create", "id", "edit", "id"),),
        transaction=True,
        tenant_id="t2",
    )
    assert results["bump"] == {"updated": 6}
    assert results["edit"]["body"] == "edited" and results["edit"]["tenant_id"] == "t2"
    assert [r["title"] for r in results["list"]["records"]] == [*T2, "tx", "tx2", "tx3"]
    assert titles(notes, "t1") == T1
    with pytest.raises(UniqueViolation):
        run(
            notes,
            ("NoteCreateNode", "ok", {"title": "rolled back"}),
            ("NoteBulkDeleteNode", "wipe", {"all": True}),
            ("NoteCreateNode", "dup", {"title": "tx"}),
            ("NoteCreateNode", "dup2", {"title": "tx"}),
            transaction=True,
            tenant_id="t2",
        )
    assert titles(notes, "t2") == [*T2, "tx", "tx2", "tx3"]
    assert titles(notes, "t1") == T1


def test_uniqueness_is_global_unless_the_group_names_tenant_id(db: DataFlow) -> None:
    @db.model
    class Account:
        email: str
        handle: str
        __dataflow__ = {"multi_tenant": True, "unique": [["email"], ["tenant_id", "handle"]]}

    one(db, "AccountCreateNode", {"email": "a@x.io", "handle": "ann"}, tenant_id="t1")
    one(db, "AccountCreateNode", {"email": "b@x.io", "handle": "ann"}, tenant_id="t2")
    with pytest.raises(UniqueViolation):
        one(db, "AccountCreateNode", {"email": "a@x.io", "handle": "bo"}, tenant_id="t2")
    # An upsert in t2 does not see t1's row, and the global constraint still holds.
    with pytest.raises(UniqueViolation):
        one(
            db,
            "AccountUpsertNode",
            {"where": {"email": "a@x.io"}, "create": {"email": "a@x.io", "handle": "x"}},
            tenant_id="t2",
        )
    assert (
        one(db, "AccountReadNode", {"filter": {"email": "a@x.io"}}, tenant_id="t1")["handle"]
        == "ann"
    )
    # The (tenant_id, handle) constraint's index serves the tenant condition; a model
    # without such a group gets an index on tenant_id.
    assert db.get_model("Account").indexes == []

    @db.model
    class Tag:
        label: str
        __dataflow__ = {"multi_tenant": True, "indexes": [["label", "tenant_id"]]}

    assert db.get_model("Tag").indexes == [("label", "tenant_id"), ("tenant_id",)]
    one(db, "TagCreateNode", {"label": "x"}, tenant_id="t" * 255)
    assert one(db, "TagCountNode", {}, tenant_id="t" * 255) == {"count": 1}


def test_multi_tenant_round_trips_through_the_registry(db: DataFlow, db_url: str) -> None:
    define(db)
    definition = model_to_definition(db.get_model("Note"))
    assert definition["multi_tenant"] is True
    rebuilt = model_from_definition(definition)
    assert rebuilt.multi_tenant and rebuilt.fields["tenant_id"].auto
    assert checksum(model_to_definition(rebuilt)) == checksum(definition)
    plain = model_to_definition(db.get_model("Source"))
    assert "multi_tenant" not in plain  # unchanged for models without the option
    assert not model_from_definition(plain).multi_tenant
    seed(db)
    if db_url == "sqlite://":
        return  # another instance would be another in-memory database
    other = DataFlow(db_url)
    try:
        assert "Note" in other.reconstruct_models_from_registry()
        assert other.get_model("Note").multi_tenant
        with pytest.raises(TenantError):
            one(other, "NoteCountNode", {})
        assert one(other, "NoteCountNode", {}, tenant_id="t2") == {"count": 3}
    finally:
        other.close()


def test_explain_refuses_a_multi_tenant_model_rather_than_show_unscoped_sql(
    notes: DataFlow,
) -> None:
    with pytest.raises(TenantError) as info:
        notes.explain("Note", filter={"title": "a1"})
    assert info.value.code == "DF-TENANT-REQUIRED"


# -- every statement carries the tenant -------------------------------------------------------

_TENANT_CONDITION = re.compile(r"tenant_id\W*(?:\s+COLLATE\s+\w+)?\s*=\s*(?:\?|\$\d+|%s)")


@pytest.mark.parametrize("audited", [False, True], ids=["plain", "audited"])
def test_every_statement_on_a_multi_tenant_model_carries_the_tenant(
    db: DataFlow, statements: list[tuple[str, tuple[Any, ...]]], audited: bool
) -> None:
    """Every node kind, each through its several paths; audited, also the audit log's
    reads and writes (the audited bulk paths read, write and read back by key) and the
    GDPR nodes (which read and rewrite the model's audit entries)."""

    class Doc:
        title: str
        rank: int = 0
        note: str | None = None
        __dataflow__ = {
            "multi_tenant": True,
            "soft_delete": True,
            "versioned": True,
            "audit_log": audited,
            "personal": ["note"],
            "table": "tenant_docs",
            "unique": [["tenant_id", "title"]],
        }

    db.model(Doc)
    db.create_tables()
    one(db, "DocCreateNode", {"title": "d1", "note": "theirs"}, tenant_id="t2")
    statements.clear()

    def go(node_type: str, params: dict[str, Any], **kwargs: Any) -> Any:
        return one(db, f"{node_type}Node", params, tenant_id="t1", **kwargs)

    first = go("DocCreate", {"title": "d1", "rank": 1, "note": "mine"})
    go("DocBulkCreate", {"data": [{"title": "d2"}, {"title": "d3"}]})  # COPY on PostgreSQL
    go("DocBulkCreate", {"data": [{"title": "d4"}], "return_ids": True})
    go("DocBulkCreate", {"data": [{"title": "d4"}, {"title": "d5"}], "on_conflict": "ignore"})
    go("DocRead", {"id": first["id"]})
    go("DocRead", {"filter": {"title": "d2"}})
    go("DocUpdate", {"id": first["id"], "fields": {"rank": 2}, "version": 1})
    go("DocUpdate", {"filter": {"title": "d2"}, "fields": {"rank": 3}, "version": 1})
    with pytest.raises(WorkflowError):  # a stale version: the re-read is scoped too
        go("DocUpdate", {"id": first["id"], "fields": {"rank": 4}, "version": 1})
    page = go("DocList", {"limit": 2, "with_total": True, "order_by": ["title"]})
    go("DocList", {"limit": 2, "order_by": ["title"], "cursor": page["next_cursor"]})
    go("DocList", {"aggregate": [{"$group": {"_id": None, "n": {"$count": {}}}}]})
    go("DocCount", {"filter": {"$or": [{"rank": 2}, {"title": "d3"}]}})
    go("DocUpsert", {"where": {"title": "d1"}, "create": {"title": "d1"}, "update": {"rank": 5}})
    go("DocUpsert", {"where": {"title": "u1"}, "create": {"title": "u1", "note": "secret"}})
    go("DocDelete", {"id": first["id"]})
    go("DocDelete", {"filter": {"title": "d2"}})
    go("DocUpsert", {"where": {"title": "d1"}, "create": {"title": "d1"}})  # restores d1
    go("DocBulkUpdate", {"filter": {"rank": {"$gte": 0}}, "update": {"$inc": {"rank": 1}}})
    go("DocBulkUpdate", {"filter": {"title": "d1"}, "update": {"rank": 7}, "version": 5})
    go("DocBulkDelete", {"filter": {"title": "d3"}})
    go(
        "DocBulkUpsert",
        {
            "data": [{"title": "d2", "rank": 9}, {"title": "d4", "rank": 9}, {"title": "n1"}],
            "match_fields": ["title"],
        },
    )
    go("DocBulkDelete", {"filter": {"title": "d4"}, "hard": True})
    go("DocDelete", {"filter": {"title": "n1"}, "hard": True})
    go("DocDelete", {"filter": {"title": "d5"}})  # a soft-deleted row for the GDPR nodes
    # The GDPR nodes read the rows (and, audited, their audit entries) and anonymise
    # them, the soft-deleted one by its own UPDATE. Foreign keys are not followed: reading
    # the catalog is not a statement on the model's rows.
    subject = {"match": {"rank": 1}, "follow_foreign_keys": False}
    exported = go("GDPRExport", subject)
    assert sorted(r["title"] for r in exported["records"]["Doc"]) == ["d3", "d5", "u1"]
    assert go("GDPRAnonymize", subject)["anonymized"] == {"Doc": 3}  # d3, d5 deleted

    recorded = touching(statements, "tenant_docs")
    assert len(recorded) >= 30
    kinds = {sql.split()[0].upper() for sql, _ in recorded}
    assert {"SELECT", "INSERT", "UPDATE", "DELETE"} <= kinds
    trail = touching(statements, "dataflow_audit_log")
    if audited:
        # Entries written (the tenant among the values), read and rewritten.
        assert {sql.split()[0].upper() for sql, _ in trail} == {"INSERT", "SELECT", "UPDATE"}
        assert sum(len(rows) for sql, rows in trail if sql.startswith("INSERT")) >= 20
        assert len(exported["audit"]["Doc"]) >= 2
    else:
        assert trail == [] and exported["audit"] == {}
    for sql, params in recorded + trail:
        head = sql.split()[0].upper()
        if head in ("INSERT", "COPY"):
            assert "tenant_id" in sql, sql
        else:
            assert _TENANT_CONDITION.search(sql), sql
        for row in params:
            assert "t1" in list(row), (sql, row)
            assert "t2" not in list(row), (sql, row)
    # And what they did stayed in t1.
    theirs = one(db, "DocListNode", {"include_deleted": True}, tenant_id="t2")["records"]
    assert [(r["title"], r["note"], r["version"]) for r in theirs] == [("d1", "theirs", 1)]
    if audited:
        (entry,) = db.audit_trail("Doc", tenant_id="t2")
        assert entry["after"]["note"] == "theirs"
        assert "secret" not in repr(db.audit_trail("Doc", tenant_id="t1", limit=None))


def test_the_audit_paths_refuse_to_read_without_a_tenant(db: DataFlow) -> None:
    """The helpers the audited nodes use raise rather than send a statement by key alone
    when no tenant reaches them."""
    from dataflow_engine import _loop
    from dataflow_engine.nodes import _audit

    @db.model
    class Memo:
        text: str
        __dataflow__ = {"multi_tenant": True, "audit_log": True}

    one(db, "MemoCreateNode", {"text": "a"}, tenant_id="t1")
    plan = db._plan(db.get_model("Memo"))

    async def read(tenant: str | None) -> Any:
        async with db._adapter.acquire() as conn:
            return await _audit.fetch_row(conn, plan, [1], tenant=tenant)

    with pytest.raises(TenantError) as info:
        _loop.run_sync(read(None))
    assert info.value.code == "DF-TENANT-REQUIRED"
    assert _loop.run_sync(read("t2")) is None
    assert _loop.run_sync(read("t1"))["text"] == "a"


@pytest.fixture(autouse=True)
def _no_leftover_binding() -> Iterator[None]:
    """A test that fails inside a binding must not leak it into the next one."""
    yield
    from dataflow_engine.nodes._base import _ACTOR, _TENANT

    assert _TENANT.get() is None and _ACTOR.get() is None
