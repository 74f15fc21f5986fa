"""TransactionManagerNode: saga steps with compensations, on every backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from dataflow_engine import (
    AmbiguousNodeTypeError,
    DataFlow,
    DataFlowError,
    LocalRuntime,
    NotFoundError,
    ReadOnlyError,
    UniqueViolation,
    WorkflowBuilder,
    WorkflowError,
    WorkflowValidationError,
)
from dataflow_engine.workflow import validate_workflow
from tests.migrations.sql import fetch, table
from tests.support import one, run


@pytest.fixture
def shop(db: DataFlow) -> DataFlow:
    @db.model
    class Customer:
        name: str
        email: str
        __dataflow__ = {"unique": [["email"]]}

    @db.model
    class Order:
        customer_id: int
        total: float

    @db.model
    class Payment:
        order_id: int
        reference: str
        __dataflow__ = {"unique": [["reference"]]}

    customer = one(db, "CustomerCreateNode", {"name": "Ann", "email": "ann@x.io"})
    order = one(db, "OrderCreateNode", {"customer_id": customer["id"], "total": 5.0})
    one(db, "PaymentCreateNode", {"order_id": order["id"], "reference": "PAY-1"})
    return db


def snapshot(db: DataFlow) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the database, read with raw SQL."""
    return {
        name: sorted(fetch(db, f"SELECT * FROM {table(db, name)}"), key=repr)
        for name in sorted(db.discover_schema())
    }


def order_steps(reference: str) -> list[dict[str, Any]]:
    """Create a customer, an order of it, a payment of the order; each undone by a Delete
    of the record it created, whose id comes from the step's own output."""
    return [
        {
            "id": "customer",
            "type": "CustomerCreateNode",
            "params": {"name": "Bo", "email": "bo@x.io"},
            "compensation": {"type": "CustomerDeleteNode", "inputs": {"id": "customer.id"}},
        },
        {
            "id": "order",
            "type": "OrderCreateNode",
            "params": {"total": 9.5},
            "inputs": {"customer_id": "customer.id"},
            "compensation": {"type": "OrderDeleteNode", "inputs": {"id": "order.id"}},
        },
        {
            "id": "payment",
            "type": "PaymentCreateNode",
            "params": {"reference": reference},
            "inputs": {"order_id": "order.id"},
            "compensation": {"type": "PaymentDeleteNode", "inputs": {"id": "payment.id"}},
        },
    ]


def saga(db: DataFlow, **params: Any) -> Any:
    return one(db, "TransactionManagerNode", params)


def test_a_failure_in_step_3_compensates_steps_2_and_1_and_leaves_every_table_as_before(
    shop: DataFlow,
) -> None:
    before = snapshot(shop)
    with pytest.raises(UniqueViolation) as info:
        saga(shop, steps=order_steps("PAY-1"))  # the reference is taken: step 3 fails
    err = info.value
    assert isinstance(err, WorkflowError) and err.node_id == "n"
    assert err.code == "DF-DB-UNIQUE-VIOLATION"
    assert "'payment' (3 of 3" in err.message and "compensated 'order', 'customer'" in err.message
    report = err.details["saga"]
    assert report["status"] == "compensated"
    assert report["completed"] == ["customer", "order"]
    assert report["failed"]["step"] == "payment" and report["failed"]["index"] == 3
    assert report["failed"]["code"] == "DF-DB-UNIQUE-VIOLATION"
    assert report["compensated"] == ["order", "customer"]  # reverse order
    assert report["compensation_errors"] == [] and report["skipped"] == []
    assert [s["status"] for s in report["steps"]] == ["completed", "completed", "failed"]
    assert report["steps"][0]["compensation"]["status"] == "compensated"
    assert snapshot(shop) == before


def test_a_saga_that_succeeds_feeds_each_output_forward(shop: DataFlow) -> None:
    results = run(
        shop,
        ("CustomerCreateNode", "owner", {"name": "Cy", "email": "cy@x.io"}),
        (
            "TransactionManagerNode",
            "saga",
            {
                "steps": [
                    {
                        "id": "order",
                        "type": "OrderCreateNode",
                        "params": {"total": 1.5},
                        "inputs": {"customer_id": "context.owner"},
                    },
                    {
                        "id": "paid",
                        "type": "PaymentCreateNode",
                        "params": {"reference": "PAY-2"},
                        "inputs": {"order_id": "order.id"},
                    },
                    {
                        "id": "orders",
                        "type": "OrderListNode",
                        "params": {"order_by": ["id"]},
                        "inputs": {"filter.customer_id": "order.customer_id"},
                    },
                ]
            },
        ),
        ("PaymentReadNode", "check", {}),
        connections=(
            ("owner", "id", "saga", "context.owner"),
            ("saga", "results.paid.id", "check", "id"),
        ),
    )
    out = results["saga"]
    owner = results["owner"]["id"]
    assert out["status"] == "completed" and out["failed"] is None
    assert out["completed"] == ["order", "paid", "orders"] and out["compensated"] == []
    assert out["results"]["order"]["customer_id"] == owner
    assert out["results"]["paid"]["order_id"] == out["results"]["order"]["id"]
    assert [r["id"] for r in out["results"]["orders"]["records"]] == [out["results"]["order"]["id"]]
    assert results["check"]["reference"] == "PAY-2"
    assert all(s["status"] == "completed" and s["seconds"] >= 0 for s in out["steps"])


def test_a_failed_compensation_is_reported_and_the_earlier_ones_still_run(
    shop: DataFlow,
) -> None:
    before = snapshot(shop)
    steps = order_steps("PAY-1")
    # The order's compensation names a record that does not exist: it fails.
    steps[1]["compensation"] = {"type": "OrderDeleteNode", "params": {"id": 987654}}
    out = saga(shop, steps=steps, raise_on_failure=False)
    assert out["status"] == "compensation_failed"
    assert out["compensated"] == ["customer"]
    [problem] = out["compensation_errors"]
    assert problem["step"] == "order" and problem["code"] == "DF-NOT-FOUND"
    assert out["steps"][1]["compensation"]["status"] == "failed"
    after = snapshot(shop)
    orders = table(shop, "orders")
    # Only the order whose compensation failed remains.
    assert len(fetch(shop, f"SELECT * FROM {orders}")) == len(before["orders"]) + 1
    assert {k: v for k, v in after.items() if k != "orders"} == {
        k: v for k, v in before.items() if k != "orders"
    }
    with pytest.raises(UniqueViolation) as info:  # raised: still the step's error class
        saga(shop, steps=steps)
    assert info.value.code == "DF-SAGA-COMPENSATION-FAILED"
    assert info.value.details["step_code"] == "DF-DB-UNIQUE-VIOLATION"
    assert "failed too" in info.value.message


def test_transaction_mode_rolls_everything_back_without_compensating(shop: DataFlow) -> None:
    before = snapshot(shop)
    steps = order_steps("PAY-1")
    steps[0]["compensation"] = {"type": "CustomerDeleteNode", "params": {"id": 987654}}
    out = saga(shop, steps=steps, mode="transaction", raise_on_failure=False)
    assert out["status"] == "rolled_back"
    assert out["failed"]["step"] == "payment" and out["compensated"] == []
    assert [s["status"] for s in out["steps"]] == ["rolled_back", "rolled_back", "failed"]
    assert snapshot(shop) == before
    done = saga(shop, steps=order_steps("PAY-9"), mode="transaction")
    assert done["status"] == "completed"
    assert fetch(shop, f"SELECT reference FROM {table(shop, 'payments')} ORDER BY reference") == [
        ("PAY-1",),
        ("PAY-9",),
    ]


@pytest.mark.parametrize("mode", ["saga", "transaction"])
def test_a_saga_inside_a_workflow_transaction_undoes_only_its_own_steps(
    shop: DataFlow, mode: str
) -> None:
    before = snapshot(shop)
    results = run(
        shop,
        (
            "TransactionManagerNode",
            "saga",
            {"steps": order_steps("PAY-1"), "mode": mode, "raise_on_failure": False},
        ),
        ("CustomerCreateNode", "later", {"name": "Di", "email": "di@x.io"}),
        transaction=True,
    )
    assert results["saga"]["status"] == ("compensated" if mode == "saga" else "rolled_back")
    after = snapshot(shop)
    customers = fetch(shop, f"SELECT email FROM {table(shop, 'customers')} ORDER BY email")
    assert customers == [("ann@x.io",), ("di@x.io",)]
    assert after["orders"] == before["orders"] and after["payments"] == before["payments"]


def test_steps_span_two_databases_and_are_compensated_in_both(shop: DataFlow) -> None:
    ledger = DataFlow("sqlite://")
    try:

        @ledger.model
        class Entry:
            account: str
            amount: float

        before = snapshot(shop)
        steps = order_steps("PAY-1")
        steps.insert(
            1,
            {
                "id": "entry",
                "type": "EntryCreateNode",
                "params": {"account": "sales", "amount": 9.5},
                "compensation": {"type": "EntryDeleteNode", "inputs": {"id": "entry.id"}},
            },
        )
        out = saga(shop, steps=steps, raise_on_failure=False)
        assert out["status"] == "compensated"
        assert out["compensated"] == ["order", "entry", "customer"]
        assert snapshot(shop) == before
        assert one(ledger, "EntryCountNode", {}) == {"count": 0}
        # One transaction cannot cover two databases: refused when the workflow is built.
        with pytest.raises(WorkflowValidationError) as info:
            saga(shop, steps=steps, mode="transaction")
        [problem] = info.value.diagnostics
        assert problem.code == "DF-SAGA-MODE"
        assert problem.path == ("nodes", 0, "params", "mode")
    finally:
        ledger.close()


def test_nested_steps_are_validated_when_the_workflow_is_built(shop: DataFlow) -> None:
    steps: list[Any] = [
        {"id": "a", "type": "CustomerCreatNode", "params": {"name": "x", "email": "y"}},
        {
            "id": "b",
            "type": "OrderCreateNode",
            "params": {"total": "lots", "colour": 1},
            "inputs": {"customer_id": "c.id"},
            "compensaton": {},
        },
        {
            "id": "c",
            "type": "CustomerReadNode",
            "inputs": {"id": "b.nope", "filter.emial": "context.email"},
            "compensation": {"type": "CustomerDeleteNode", "inputs": {"id": "d.id"}},
        },
        {"id": "c", "type": "CustomerCountNode"},
        {"id": "context", "type": "CustomerCountNode"},
        "not a step",
    ]
    definition = {
        "nodes": [{"id": "s", "type": "TransactionManagerNode", "params": {"steps": steps}}]
    }
    found = {(d.code, tuple(d.path[3:])) for d in validate_workflow(definition, shop)}
    expected = {
        ("DF-NODE-UNKNOWN-TYPE", ("steps", 0, "type")),
        ("DF-PARAM-TYPE", ("steps", 1, "params", "total")),
        ("DF-PARAM-UNKNOWN-FIELD", ("steps", 1, "params", "colour")),
        ("DF-SAGA-INPUT", ("steps", 1, "inputs", "customer_id")),  # a later step
        ("DF-SAGA-STEP", ("steps", 1, "compensaton")),
        ("DF-SAGA-INPUT", ("steps", 2, "inputs", "id")),  # b has no output 'nope'
        ("DF-SAGA-INPUT", ("steps", 2, "inputs", "filter.emial")),
        ("DF-SAGA-INPUT", ("steps", 2, "compensation", "inputs", "id")),
        ("DF-SAGA-STEP", ("steps", 3, "id")),  # used twice
        ("DF-SAGA-STEP", ("steps", 4, "id")),  # reserved
        ("DF-SAGA-STEP", ("steps", 5)),
    }
    assert found == expected
    diags = {tuple(d.path[3:]): d for d in validate_workflow(definition, shop)}
    assert "CustomerCreateNode" in diags[("steps", 0, "type")].message  # the suggestion
    assert "runs later" in diags[("steps", 1, "inputs", "customer_id")].message
    assert all(d.node_id == "s" for d in diags.values())
    assert all(d.path[:3] == ("nodes", 0, "params") for d in validate_workflow(definition, shop))


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"steps": []}, "DF-PARAM-RANGE"),
        (
            {"steps": [{"id": f"s{i}", "type": "CustomerCountNode"} for i in range(1001)]},
            "DF-PARAM-RANGE",
        ),
        ({"steps": "CustomerCountNode"}, "DF-PARAM-TYPE"),
        ({"steps": [{"id": "a", "type": "CustomerCountNode"}], "mode": "eventual"}, "DF-SAGA-MODE"),
        ({"steps": [{"id": "a", "type": "'; DROP TABLE customers; --"}]}, "DF-NODE-UNKNOWN-TYPE"),
        ({"steps": [{"id": "a", "type": "CustomerCountNode", "inputs": ["x"]}]}, "DF-SAGA-INPUT"),
        ({"steps": [{"id": "a", "type": "CustomerCountNode", "params": [1]}]}, "DF-SAGA-STEP"),
        ({"steps": [{"id": "a.b", "type": "CustomerCountNode"}]}, "DF-SAGA-STEP"),
        ({"steps": [{"id": "a", "type": None}]}, "DF-NODE-UNKNOWN-TYPE"),
        ({"steps": [{"id": "a", "type": "CustomerCountNode"}], "context": [1]}, "DF-PARAM-TYPE"),
    ],
)
def test_bad_saga_parameters_are_refused_before_anything_runs(
    shop: DataFlow, params: dict[str, Any], code: str
) -> None:
    with pytest.raises(WorkflowValidationError) as info:
        saga(shop, **params)
    assert {d.code for d in info.value.diagnostics} == {code}


def test_unicode_step_ids_and_values(shop: DataFlow) -> None:
    out = saga(
        shop,
        steps=[
            {
                "id": "kunde_ü",
                "type": "CustomerCreateNode",
                "params": {"name": "Zoë", "email": "z@ü.io"},
            },
            {
                "id": "bestellung",
                "type": "OrderCreateNode",
                "params": {"total": 1.0},
                "inputs": {"customer_id": "kunde_ü.id"},
            },
        ],
    )
    assert out["results"]["kunde_ü"]["name"] == "Zoë"
    assert out["results"]["bestellung"]["customer_id"] == out["results"]["kunde_ü"]["id"]


def test_a_saga_definition_round_trips_through_json_and_yaml(
    shop: DataFlow, tmp_path: Path
) -> None:
    wf = WorkflowBuilder()
    wf.add_node("TransactionManagerNode", "saga", {"steps": order_steps("PAY-3")})
    definition = wf.to_dict()
    assert json.loads(json.dumps(definition)) == definition
    path = tmp_path / "saga.yaml"
    path.write_text(yaml.safe_dump(definition), encoding="utf-8")
    results, _ = LocalRuntime(dataflow=shop).execute(WorkflowBuilder.load(path).build(shop))
    assert results["saga"]["status"] == "completed"
    assert results["saga"]["results"]["payment"]["reference"] == "PAY-3"


def test_an_input_missing_at_run_time_fails_the_step_and_compensates(shop: DataFlow) -> None:
    before = snapshot(shop)
    steps = order_steps("PAY-5")
    steps[2]["inputs"] = {"order_id": "context.order"}  # a null: checked when it arrives
    with pytest.raises(DataFlowError) as info:
        saga(shop, steps=steps, context={"order": None})
    assert info.value.code == "DF-PARAM-NULL"
    assert info.value.details["saga"]["compensated"] == ["order", "customer"]
    assert snapshot(shop) == before


def test_a_read_only_dataflow_refuses_the_saga_before_any_step_runs(
    shop: DataFlow, db_url: str
) -> None:
    if db_url == "sqlite://":
        pytest.skip("an in-memory database cannot be opened twice")
    before = snapshot(shop)
    reader = DataFlow(db_url, read_only=True)
    try:
        reader.register_schema_as_models(tables=["customers", "orders", "payments"])
        with pytest.raises(ReadOnlyError):
            LocalRuntime(dataflow=reader).execute(
                {
                    "nodes": [
                        {
                            "id": "saga",
                            "type": "TransactionManagerNode",
                            "params": {"steps": order_steps("PAY-7")},
                        }
                    ]
                }
            )
    finally:
        reader.close()
    assert snapshot(shop) == before


def test_two_open_dataflows_make_the_name_ambiguous_until_one_is_chosen(shop: DataFlow) -> None:
    other = DataFlow("sqlite://")
    try:
        definition = {
            "nodes": [{"id": "h", "type": "HealthCheckNode", "params": {}}],
        }
        with pytest.raises(AmbiguousNodeTypeError) as info:
            LocalRuntime().execute(WorkflowBuilder.from_dict(definition).build(shop))
        assert "LocalRuntime(dataflow=db)" in info.value.message
        results, _ = LocalRuntime(dataflow=other).execute(definition)
        assert results["h"]["database"]["dialect"] == "sqlite"
    finally:
        other.close()


def test_step_errors_keep_their_class(shop: DataFlow) -> None:
    with pytest.raises(NotFoundError) as info:
        saga(shop, steps=[{"id": "r", "type": "CustomerReadNode", "params": {"id": 424242}}])
    assert info.value.details["saga"]["status"] == "compensated"
    assert info.value.details["saga"]["compensated"] == []
    assert "no earlier step" in info.value.message


def test_a_multi_tenant_step_without_a_tenant_refuses_the_saga_before_any_step(
    shop: DataFlow,
) -> None:
    @shop.model
    class Invoice:
        number: str
        __dataflow__ = {"multi_tenant": True}

    before = snapshot(shop)
    steps = [
        *order_steps("PAY-8")[:1],
        {"id": "invoice", "type": "InvoiceCreateNode", "params": {"number": "I-1"}},
    ]
    with pytest.raises(DataFlowError) as info:
        saga(shop, steps=steps)
    assert info.value.code == "DF-TENANT-REQUIRED"
    assert snapshot(shop) == before
    wf = WorkflowBuilder()
    wf.add_node("TransactionManagerNode", "saga", {"steps": steps})
    results, _ = LocalRuntime(dataflow=shop).execute(wf.build(shop), tenant_id="acme")
    assert results["saga"]["results"]["invoice"]["tenant_id"] == "acme"


def test_the_project_json_schema_describes_the_system_nodes(shop: DataFlow) -> None:
    import jsonschema

    from dataflow_engine import workflow_json_schema

    schema = workflow_json_schema(shop.nodes)
    jsonschema.Draft7Validator.check_schema(schema)
    check = jsonschema.Draft7Validator(schema)
    good = {
        "nodes": [
            {"id": "saga", "type": "TransactionManagerNode", "params": {"steps": order_steps("X")}},
            {"id": "h", "type": "HealthCheckNode", "params": {"timeout": 2.5}},
            {"id": "e", "type": "GDPRExportNode", "params": {"model": "Customer", "id": 1}},
            {
                "id": "a",
                "type": "GDPRAnonymizeNode",
                "params": {"match": {"email": "a@x.io"}, "personal": {"Customer": ["name"]}},
            },
        ]
    }
    assert validate_workflow(good, shop) == []
    assert list(check.iter_errors(good)) == []
    bad = [
        ("TransactionManagerNode", {"steps": [{"id": "a"}]}),  # no type
        ("TransactionManagerNode", {"steps": [{"id": "a.b", "type": "CustomerCountNode"}]}),
        ("TransactionManagerNode", {"steps": order_steps("X"), "mode": "eventual"}),
        ("TransactionManagerNode", {"steps": [{"id": "a", "type": "T", "input": {}}]}),
        ("HealthCheckNode", {"timeout": -1}),
        ("GDPRExportNode", {"match": {"email": {"$ne": None}}}),
        ("GDPRAnonymizeNode", {"match": {"email": "a"}, "personal": {"Customer": "name"}}),
    ]
    for node_type, params in bad:
        definition = {"nodes": [{"id": "n", "type": node_type, "params": params}]}
        assert validate_workflow(definition, shop), params  # the engine refuses it
        assert not check.is_valid(definition), params  # and so does the schema


def test_writes_of_saga_steps_invalidate_cached_answers(db_url: str) -> None:
    with DataFlow(db_url, cache=True) as db:

        @db.model
        class Gadget:
            name: str

        assert one(db, "GadgetCountNode", {}) == {"count": 0}  # cached now
        for mode in ("saga", "transaction"):
            step = {"id": "g", "type": "GadgetCreateNode", "params": {"name": mode}}
            assert saga(db, steps=[step], mode=mode)["status"] == "completed"
        assert one(db, "GadgetCountNode", {}) == {"count": 2}
