"""Workflows: validation at build(), connections, overrides, order and transactions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataflow_engine import (
    DataFlow,
    LocalRuntime,
    UniqueViolation,
    WorkflowBuilder,
    WorkflowError,
    WorkflowValidationError,
)
from tests.support import one, run


@pytest.fixture
def shop(db: DataFlow) -> DataFlow:
    @db.model
    class Customer:
        name: str
        email: str
        tier: str = "basic"
        __dataflow__ = {"unique": [["email"]]}

    @db.model
    class Order:
        customer_id: int
        total: float
        status: str = "new"

    return db


def codes(exc: WorkflowValidationError) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for d in exc.diagnostics:
        out.setdefault(d.node_id or "", set()).add(d.code)
    return out


def test_build_reports_every_problem_with_its_node_id(shop: DataFlow) -> None:
    wf = WorkflowBuilder()
    wf.add_node("CustomerCreateNod", "typo", {})
    wf.add_node("CustomerCreateNode", "unknown_field", {"name": "a", "email": "b", "nmae": 1})
    wf.add_node("CustomerCreateNode", "missing", {"name": "a"})
    wf.add_node("OrderCreateNode", "wrong_type", {"customer_id": "seven", "total": 1.0})
    wf.add_node("OrderListNode", "bad_filter", {"filter": {"totl": 1, "status": {"$regx": "x"}}})
    wf.add_node("OrderListNode", "bad_param", {"limitt": 5})
    wf.add_node("OrderCountNode", "dup", {})
    wf.add_node("OrderCountNode", "dup", {})
    wf.add_connection("ghost", "id", "missing", "email")
    wf.add_connection("missing", "idd", "bad_param", "limit")
    with pytest.raises(WorkflowValidationError) as info:
        wf.build()
    found = codes(info.value)
    assert "DF-NODE-UNKNOWN-TYPE" in found["typo"]
    assert "CustomerCreateNode" in str(info.value)  # the suggestion
    assert "DF-PARAM-UNKNOWN-FIELD" in found["unknown_field"]
    assert "'name'" in str(info.value)
    assert "DF-PARAM-MISSING" in found["missing"]
    assert "DF-PARAM-TYPE" in found["wrong_type"]
    assert "DF-FILTER-UNKNOWN-FIELD" in found["bad_filter"]
    assert "DF-PARAM-UNKNOWN" in found["bad_param"]
    assert "DF-WORKFLOW-DUPLICATE-ID" in found["dup"]
    assert "DF-CONNECTION-UNKNOWN-NODE" in found["ghost"]
    assert "DF-CONNECTION-UNKNOWN-OUTPUT" in found["missing"]
    assert info.value.code == "DF-WORKFLOW-INVALID"


def test_unknown_operator_in_filter_and_update_is_reported(shop: DataFlow) -> None:
    wf = WorkflowBuilder()
    wf.add_node("OrderListNode", "a", {"filter": {"total": {"$gtt": 3}}})
    wf.add_node("OrderBulkUpdateNode", "b", {"filter": {"total": 1}, "update": {"$incc": {}}})
    wf.add_node("OrderListNode", "c", {"order_by": ["-totl"]})
    with pytest.raises(WorkflowValidationError) as info:
        wf.build()
    found = codes(info.value)
    assert found["a"] == {"DF-FILTER-UNKNOWN-OPERATOR"}
    assert found["b"] == {"DF-FILTER-UNKNOWN-OPERATOR"}
    assert found["c"] == {"DF-FILTER-UNKNOWN-FIELD"}
    assert "$gt" in str(info.value)


def test_cycles_are_refused(shop: DataFlow) -> None:
    wf = WorkflowBuilder()
    wf.add_node("CustomerReadNode", "a", {})
    wf.add_node("CustomerReadNode", "b", {})
    wf.add_connection("a", "id", "b", "id")
    wf.add_connection("b", "id", "a", "id")
    with pytest.raises(WorkflowValidationError) as info:
        wf.build()
    assert "DF-WORKFLOW-CYCLE" in {d.code for d in info.value.diagnostics}


def test_connections_with_dotted_paths(shop: DataFlow) -> None:
    results = run(
        shop,
        ("CustomerCreateNode", "customer", {"name": "Ann", "email": "ann@x"}),
        (
            "OrderBulkCreateNode",
            "orders",
            {"data": [{"total": 5.0}, {"total": 7.5}, {"total": 1.0, "customer_id": 0}]},
        ),
        ("OrderListNode", "list", {"filter": {"total": {"$gt": 2}}, "order_by": ["total"]}),
        ("CustomerReadNode", "again", {}),
        ("OrderUpdateNode", "mark", {"fields": {"status": "paid"}}),
        connections=(
            ("customer", "id", "orders", "customer_id"),
            ("customer", "id", "list", "filter.customer_id"),
            ("list", "records.0.customer_id", "again", "id"),
            ("list", "records.1.id", "mark", "id"),
        ),
    )
    cid = results["customer"]["id"]
    assert results["orders"]["inserted"] == 3
    totals = [(r["customer_id"], r["total"]) for r in results["list"]["records"]]
    assert totals == [(cid, 5.0), (cid, 7.5)]  # the explicit customer_id 0 was kept
    assert results["again"]["email"] == "ann@x"
    assert results["mark"]["status"] == "paid" and results["mark"]["total"] == 7.5


def test_connection_to_a_missing_runtime_path_fails_clearly(shop: DataFlow) -> None:
    with pytest.raises(WorkflowError) as info:
        run(
            shop,
            ("OrderListNode", "list", {}),
            ("OrderReadNode", "read", {}),
            connections=(("list", "records.0.id", "read", "id"),),
        )
    assert info.value.node_id == "read"
    assert info.value.code == "DF-CONNECTION-PATH-MISSING"


def test_parameter_overrides_at_execute(shop: DataFlow) -> None:
    wf = WorkflowBuilder()
    wf.add_node("CustomerCreateNode", "c", {"name": "x", "email": "x@x"})
    built = wf.build()
    runtime = LocalRuntime(dataflow=shop)
    first, _ = runtime.execute(built)
    second, _ = runtime.execute(built, parameters={"c": {"email": "y@y", "tier": "gold"}})
    assert first["c"]["email"] == "x@x"
    assert (second["c"]["email"], second["c"]["tier"]) == ("y@y", "gold")
    with pytest.raises(Exception) as info:
        runtime.execute(built, parameters={"nope": {}})
    assert getattr(info.value, "code", "") == "DF-WORKFLOW-PARAMETERS"


def test_nodes_run_in_insertion_order_unless_a_connection_needs_otherwise(
    shop: DataFlow,
) -> None:
    results = run(
        shop,
        ("CustomerCountNode", "before", {}),
        ("CustomerCreateNode", "create", {"name": "a", "email": "a@a"}),
        ("CustomerListNode", "after", {}),
        ("CustomerReadNode", "read", {}),
        ("CustomerCreateNode", "source", {"name": "b", "email": "b@b"}),
        connections=(("source", "id", "read", "id"),),
    )
    assert results["before"]["count"] == 0
    assert [r["email"] for r in results["after"]["records"]] == ["a@a"]
    assert results["read"]["email"] == "b@b"
    wf = WorkflowBuilder()
    wf.add_node("CustomerCountNode", "x", {})
    wf.add_node("CustomerReadNode", "read", {})
    wf.add_node("CustomerCreateNode", "source", {"name": "c", "email": "c@c"})
    wf.add_connection("source", "id", "read", "id")
    assert wf.build().order == ["x", "source", "read"]


def test_transaction_rolls_back_everything_when_the_third_node_fails(shop: DataFlow) -> None:
    with pytest.raises(WorkflowError) as info:
        run(
            shop,
            ("CustomerCreateNode", "one", {"name": "a", "email": "same@x"}),
            ("OrderCreateNode", "two", {"customer_id": 1, "total": 3.0}),
            ("CustomerCreateNode", "three", {"name": "b", "email": "same@x"}),
            transaction=True,
        )
    assert isinstance(info.value, UniqueViolation)
    assert info.value.node_id == "three"
    assert set(info.value.results) == {"one", "two"}
    assert isinstance(info.value.cause, UniqueViolation)
    assert one(shop, "CustomerCountNode", {})["count"] == 0
    assert one(shop, "OrderCountNode", {})["count"] == 0


def test_without_transaction_earlier_nodes_stay_committed(shop: DataFlow) -> None:
    with pytest.raises(WorkflowError):
        run(
            shop,
            ("CustomerCreateNode", "one", {"name": "a", "email": "same@x"}),
            ("CustomerCreateNode", "two", {"name": "b", "email": "same@x"}),
            ("CustomerCountNode", "never", {}),
        )
    assert one(shop, "CustomerCountNode", {})["count"] == 1


def test_transaction_commits_on_success_and_reads_see_own_writes(shop: DataFlow) -> None:
    results = run(
        shop,
        ("CustomerCreateNode", "c", {"name": "a", "email": "a@x"}),
        ("CustomerCountNode", "n", {}),
        (
            "CustomerBulkUpsertNode",
            "u",
            {"data": [{"name": "z", "email": "a@x"}], "match_fields": ["email"]},
        ),
        transaction=True,
    )
    assert results["n"]["count"] == 1 and results["u"] == {"inserted": 0, "updated": 1}
    assert one(shop, "CustomerReadNode", {"filter": {"email": "a@x"}})["name"] == "z"


def test_definition_round_trip_and_load(shop: DataFlow, tmp_path: Path) -> None:
    wf = WorkflowBuilder()
    wf.add_node("CustomerCreateNode", "c", {"name": "a", "email": "a@x"})
    wf.add_node("CustomerReadNode", "r", {})
    wf.add_connection("c", "id", "r", "id")
    definition = wf.to_dict()
    assert definition == {
        "nodes": [
            {"id": "c", "type": "CustomerCreateNode", "params": {"name": "a", "email": "a@x"}},
            {"id": "r", "type": "CustomerReadNode", "params": {}},
        ],
        "connections": [{"from": "c.id", "to": "r.id"}],
    }
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(definition))
    loaded = WorkflowBuilder.load(path)
    assert loaded.to_dict() == definition
    results, _ = LocalRuntime(dataflow=shop).execute(definition)
    assert results["r"]["email"] == "a@x"
    yaml_path = tmp_path / "wf.yaml"
    yaml_path.write_text(
        "nodes:\n  - id: n\n    type: CustomerCountNode\n    params: {filter: {tier: basic}}\n"
    )
    results, _ = LocalRuntime(dataflow=shop).execute(WorkflowBuilder.load(yaml_path).build())
    assert results["n"]["count"] == 1


def test_node_class_can_be_passed_instead_of_a_name(shop: DataFlow) -> None:
    wf = WorkflowBuilder()
    wf.add_node(shop.nodes["CustomerCountNode"], "n", {})
    results, _ = LocalRuntime().execute(wf.build())
    assert results["n"] == {"count": 0}


def test_a_built_workflow_runs_again_and_again_with_the_same_result(shop: DataFlow) -> None:
    wf = WorkflowBuilder()
    wf.add_node(
        "CustomerBulkUpsertNode",
        "upsert",
        {
            "data": [{"name": "a", "email": "a@x"}, {"name": "b", "email": "b@x"}],
            "match_fields": ["email"],
        },
    )
    wf.add_node("OrderBulkCreateNode", "orders", {"data": [{"customer_id": 1, "total": 2.0}]})
    wf.add_node(
        "CustomerUpdateNode",
        "touch",
        {"filter": {"email": "a@x"}, "fields": {"$set": {"tier": "gold"}}},
    )
    wf.add_node("OrderCountNode", "count", {})
    built = wf.build()
    wf.add_node("OrderCountNode", "added_later", {})  # does not change the built workflow
    runtime = LocalRuntime(dataflow=shop)
    first, _ = runtime.execute(built)
    second, _ = runtime.execute(built)
    assert first["upsert"] == {"inserted": 2, "updated": 0}
    assert second["upsert"] == {"inserted": 0, "updated": 2}
    assert (first["count"]["count"], second["count"]["count"]) == (1, 2)
    assert second["touch"]["tier"] == "gold" and "added_later" not in second
