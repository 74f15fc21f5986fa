"""GDPRExportNode and GDPRAnonymizeNode, on every backend, with two subjects: everything
about one is found (or anonymised), and nothing of the other is touched."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from dataflow_engine import (
    DataFlow,
    LocalRuntime,
    ReadOnlyError,
    UniqueViolation,
    ValidationError,
    WorkflowBuilder,
    WorkflowValidationError,
)
from dataflow_engine.nodes._gdpr import anonymous_value
from tests.migrations.sql import fetch, insert_rows, run_sql, table
from tests.support import one, run

PERSONAL = {
    "Customer": ["name", "email", "phone", "born"],
    "Order": ["address"],
    "OrderItem": ["note"],
    "Ticket": ["subject_line"],
}
REFERENCES = {"Ticket.requester": "Customer"}


def define(db: DataFlow) -> None:
    """A shop: orders refer to customers and items to orders by <model>_id names; a
    ticket names its customer in a field of its own (a declared reference)."""

    @db.model
    class Customer:
        name: str
        email: str
        phone: str | None = None
        born: dt.date = dt.date(2000, 1, 1)
        __dataflow__ = {"unique": [["email"]], "versioned": True}

    @db.model
    class Order:
        customer_id: int
        address: str
        total: float
        __dataflow__ = {"soft_delete": True}

    @db.model
    class OrderItem:
        order_id: int
        sku: str
        note: str | None = None

    @db.model
    class Ticket:
        requester: int
        subject_line: str


@pytest.fixture
def shop(db: DataFlow) -> dict[str, Any]:
    """Two customers, Ann and Bob, each with two orders (one of Ann's soft-deleted),
    items and a ticket. Returns their ids."""
    define(db)
    ids: dict[str, Any] = {"db": db}
    for who in ("ann", "bob"):
        customer = one(
            db,
            "CustomerCreateNode",
            {"name": who.title(), "email": f"{who}@x.io", "phone": "+44 1", "born": "1990-05-01"},
        )
        orders = []
        for n in range(2):
            order = one(
                db,
                "OrderCreateNode",
                {"customer_id": customer["id"], "address": f"{n} {who} street", "total": 1.0},
            )
            orders.append(order["id"])
            one(
                db,
                "OrderItemBulkCreateNode",
                {
                    "data": [
                        {"order_id": order["id"], "sku": "A", "note": f"for {who}"},
                        {"order_id": order["id"], "sku": "B"},
                    ]
                },
            )
        one(db, "TicketCreateNode", {"requester": customer["id"], "subject_line": f"{who} help"})
        ids[who] = {"customer": customer["id"], "orders": orders}
    one(db, "OrderDeleteNode", {"id": ids["ann"]["orders"][1]})  # soft-deleted
    return ids


def snapshot(db: DataFlow) -> dict[str, list[tuple[Any, ...]]]:
    return {
        name: sorted(fetch(db, f"SELECT * FROM {table(db, name)}"), key=repr)
        for name in ("customers", "orders", "order_items", "tickets")
    }


def gdpr(db: DataFlow, node: str, **params: Any) -> Any:
    return one(db, node, params)


def test_export_finds_every_row_that_references_the_subject(shop: dict[str, Any]) -> None:
    db = shop["db"]
    ann = shop["ann"]
    out = gdpr(db, "GDPRExportNode", match={"email": "ann@x.io"}, references=REFERENCES)
    assert out["found"] is True
    assert out["subjects"] == [{"model": "Customer", "id": ann["customer"]}]
    records = out["records"]
    assert set(records) == {"Customer", "Order", "OrderItem", "Ticket"}
    assert [r["email"] for r in records["Customer"]] == ["ann@x.io"]
    assert sorted(r["id"] for r in records["Order"]) == sorted(ann["orders"])
    assert any(r["deleted_at"] is not None for r in records["Order"])  # soft-deleted too
    assert {r["order_id"] for r in records["OrderItem"]} == set(ann["orders"])
    assert len(records["OrderItem"]) == 4
    assert [r["subject_line"] for r in records["Ticket"]] == ["ann help"]
    assert out["count"] == 1 + 2 + 4 + 1
    assert {(e["from"], e["to"], e["source"]) for e in out["references"]} == {
        ("Order.customer_id", "Customer.id", "convention"),
        ("OrderItem.order_id", "Order.id", "convention"),
        ("Ticket.requester", "Customer.id", "declared"),
    }
    assert "bob" not in repr(records)
    by_key = gdpr(db, "GDPRExportNode", model="Customer", id=ann["customer"])
    assert by_key["count"] == 1 + 2 + 4  # no declared reference: the ticket is not followed
    assert gdpr(db, "GDPRExportNode", match={"email": "nobody@x.io"}) == {
        "found": False,
        "subjects": [],
        "records": {},
        "count": 0,
        "references": by_key["references"],
        "audit": {},
    }


def test_anonymise_replaces_personal_fields_and_leaves_the_other_subject_alone(
    shop: dict[str, Any],
) -> None:
    db = shop["db"]
    ann, bob = shop["ann"], shop["bob"]
    before = snapshot(db)
    bob_before = gdpr(
        db, "GDPRExportNode", model="Customer", id=bob["customer"], references=REFERENCES
    )
    out = gdpr(
        db,
        "GDPRAnonymizeNode",
        match={"email": "ann@x.io"},
        personal=PERSONAL,
        references=REFERENCES,
    )
    assert out["found"] is True and out["subjects"] == [
        {"model": "Customer", "id": ann["customer"]}
    ]
    assert out["anonymized"] == {"Customer": 1, "Order": 2, "OrderItem": 4, "Ticket": 1}
    assert out["count"] == 8
    # Bob's rows are exactly as they were.
    bob_after = gdpr(
        db, "GDPRExportNode", model="Customer", id=bob["customer"], references=REFERENCES
    )
    assert bob_after == bob_before
    # Ann's rows: still linked (keys and references unchanged), personal fields replaced.
    after = gdpr(db, "GDPRExportNode", model="Customer", id=ann["customer"], references=REFERENCES)
    assert after["count"] == 8
    [customer] = after["records"]["Customer"]
    assert customer["email"].startswith("anon-") and customer["email"].endswith(
        "@anonymized.invalid"
    )
    assert customer["name"].startswith("anon-") and "Ann" not in customer["name"]
    assert customer["phone"] is None  # nullable: erased
    assert isinstance(customer["born"], dt.date) and customer["born"] != dt.date(1990, 5, 1)
    assert customer["version"] == 2  # written through the model's own update
    assert all(o["address"].startswith("anon-") for o in after["records"]["Order"])
    assert sum(o["deleted_at"] is not None for o in after["records"]["Order"]) == 1
    assert all(i["note"] is None for i in after["records"]["OrderItem"])
    assert {i["sku"] for i in after["records"]["OrderItem"]} == {"A", "B"}  # not personal
    assert after["records"]["Ticket"][0]["subject_line"].startswith("anon-")
    assert "ann" not in repr(after["records"]).lower().replace("anon", "")
    # Row counts are unchanged: nothing was deleted or added.
    assert {k: len(v) for k, v in snapshot(db).items()} == {k: len(v) for k, v in before.items()}
    # Idempotent: the same values again.
    gdpr(db, "GDPRAnonymizeNode", model="Customer", id=ann["customer"], personal=PERSONAL)
    again = gdpr(db, "GDPRExportNode", model="Customer", id=ann["customer"])
    assert again["records"]["Customer"][0]["email"] == customer["email"]
    # The second subject too: unique emails stay unique.
    gdpr(db, "GDPRAnonymizeNode", model="Customer", id=bob["customer"], personal=PERSONAL)
    emails = fetch(db, f"SELECT email FROM {table(db, 'customers')}")
    assert len({e for (e,) in emails}) == 2 and all(e.startswith("anon-") for (e,) in emails)


def test_anonymise_in_a_workflow_from_a_read(shop: dict[str, Any]) -> None:
    db = shop["db"]
    results = run(
        db,
        ("CustomerReadNode", "who", {"filter": {"email": "bob@x.io"}}),
        ("GDPRAnonymizeNode", "forget", {"model": "Customer", "personal": PERSONAL}),
        ("CustomerCountNode", "left", {"filter": {"email": {"$startswith": "anon-"}}}),
        connections=(("who", "id", "forget", "id"),),
        transaction=True,
    )
    assert results["forget"]["anonymized"]["Customer"] == 1
    assert results["left"]["count"] == 1
    names = fetch(db, f"SELECT name FROM {table(db, 'customers')} ORDER BY id")
    assert names[0] == ("Ann",) and names[1][0].startswith("anon-")


def test_too_many_rows_is_refused_and_nothing_changes(shop: dict[str, Any]) -> None:
    db = shop["db"]
    before = snapshot(db)
    with pytest.raises(ValidationError) as info:
        gdpr(db, "GDPRAnonymizeNode", match={"email": "ann@x.io"}, personal=PERSONAL, max_rows=3)
    assert info.value.code == "DF-PARAM-RANGE" and "max_rows=3" in info.value.message
    assert snapshot(db) == before


def test_a_failed_write_rolls_back_every_row(db: DataFlow) -> None:
    @db.model
    class Person:
        email: str
        __dataflow__ = {"unique": [["email"]]}

    @db.model
    class Note:
        person_id: int
        body: str
        __dataflow__ = {"unique": [["body"]]}

    ann = one(db, "PersonCreateNode", {"email": "ann@x.io"})
    bob = one(db, "PersonCreateNode", {"email": "bob@x.io"})
    note = one(db, "NoteCreateNode", {"person_id": ann["id"], "body": "ann's note"})
    # Bob's note already holds the value Ann's note would get: the second write fails,
    # after Ann's email was written in the same transaction.
    taken = anonymous_value(db.get_model("Note"), db.get_model("Note").fields["body"], note["id"])
    one(db, "NoteCreateNode", {"person_id": bob["id"], "body": taken})
    before = {
        name: sorted(fetch(db, f"SELECT * FROM {table(db, name)}"), key=repr)
        for name in ("people", "notes")
    }
    with pytest.raises(UniqueViolation):
        gdpr(
            db,
            "GDPRAnonymizeNode",
            model="Person",
            id=ann["id"],
            personal={"Person": ["email"], "Note": ["body"]},
        )
    after = {
        name: sorted(fetch(db, f"SELECT * FROM {table(db, name)}"), key=repr)
        for name in ("people", "notes")
    }
    assert after == before


def test_a_read_only_dataflow_exports_and_refuses_to_anonymise(
    shop: dict[str, Any], db_url: str
) -> None:
    if db_url == "sqlite://":
        pytest.skip("an in-memory database cannot be opened twice")
    before = snapshot(shop["db"])
    with DataFlow(db_url, read_only=True) as reader:
        define(reader)
        exported = gdpr(reader, "GDPRExportNode", match={"email": "ann@x.io"})
        assert exported["count"] == 7
        with pytest.raises(ReadOnlyError) as info:
            gdpr(reader, "GDPRAnonymizeNode", match={"email": "ann@x.io"}, personal=PERSONAL)
        assert info.value.code == "DF-READ-ONLY"
    assert snapshot(shop["db"]) == before


def test_foreign_keys_of_an_existing_database_are_followed(db: DataFlow) -> None:
    run_sql(
        db,
        "CREATE TABLE members (id INTEGER PRIMARY KEY, email VARCHAR(60) NOT NULL UNIQUE, "
        "name VARCHAR(40) NOT NULL)",
        "CREATE TABLE visits (id INTEGER PRIMARY KEY, member_ref INTEGER NOT NULL, "
        "place VARCHAR(80), FOREIGN KEY (member_ref) REFERENCES members (id))",
    )
    insert_rows(db, "members", "id, email, name", [(1, "ann@x.io", "Ann"), (2, "bob@x.io", "Bob")])
    insert_rows(
        db,
        "visits",
        "id, member_ref, place",
        [(1, 1, "Paris"), (2, 1, "Rome"), (3, 2, "Oslo")],
    )
    db.register_schema_as_models(tables=["members", "visits"])
    out = gdpr(db, "GDPRExportNode", match={"email": "ann@x.io"})
    assert {(e["from"], e["to"], e["source"]) for e in out["references"]} == {
        ("Visit.member_ref", "Member.id", "foreign_key")
    }
    assert sorted(v["place"] for v in out["records"]["Visit"]) == ["Paris", "Rome"]
    # The reference column cannot be anonymised: the foreign key would break.
    with pytest.raises(ValidationError) as info:
        gdpr(
            db, "GDPRAnonymizeNode", match={"email": "ann@x.io"}, personal={"Visit": ["member_ref"]}
        )
    assert info.value.code == "DF-GDPR-FIELD" and "member_ref" in info.value.message
    done = gdpr(
        db,
        "GDPRAnonymizeNode",
        match={"email": "ann@x.io"},
        personal={"Member": ["email", "name"], "Visit": ["place"]},
    )
    assert done["anonymized"] == {"Member": 1, "Visit": 2}
    rows = fetch(db, f"SELECT id, email, name FROM {table(db, 'members')} ORDER BY id")
    assert rows[1] == (2, "bob@x.io", "Bob")
    assert rows[0][1].endswith("@anonymized.invalid") and len(rows[0][1]) <= 60
    visits = fetch(db, f"SELECT id, member_ref, place FROM {table(db, 'visits')} ORDER BY id")
    assert visits == [(1, 1, None), (2, 1, None), (3, 2, "Oslo")]


def test_personal_fields_declared_on_the_model(db: DataFlow) -> None:
    @db.model
    class Patient:
        name: str
        code: str
        ward: str = "A"
        __dataflow__ = {"personal": ["name", "ward"]}

    @db.model
    class Visitor:  # the same list as a class attribute
        name: str
        patient_id: int
        __personal__ = ["name"]

    assert db.get_model("Patient").personal == ("name", "ward")
    assert db.get_model("Visitor").personal == ("name",)
    for code, name in (("P1", "Ann"), ("P2", "Bob")):
        patient = one(db, "PatientCreateNode", {"name": name, "code": code, "ward": f"{name} W"})
        one(db, "VisitorCreateNode", {"name": f"{name}'s son", "patient_id": patient["id"]})
    out = gdpr(db, "GDPRAnonymizeNode", match={"code": "P1"})
    assert out["fields"] == {"Patient": ["name", "ward"], "Visitor": ["name"]}
    assert out["anonymized"] == {"Patient": 1, "Visitor": 1}
    rows = fetch(db, f"SELECT name, code, ward FROM {table(db, 'patients')} ORDER BY code")
    assert rows[0][0].startswith("anon-") and rows[0][2].startswith("anon-")
    assert rows[1] == ("Bob", "P2", "Bob W")
    # The parameter replaces a model's own list, for the models it names.
    out = gdpr(db, "GDPRAnonymizeNode", match={"code": "P2"}, personal={"Patient": ["ward"]})
    assert out["fields"] == {"Patient": ["ward"], "Visitor": ["name"]}
    rows = fetch(db, f"SELECT name, ward FROM {table(db, 'patients')} WHERE code = 'P2'")
    assert rows[0][0] == "Bob" and rows[0][1].startswith("anon-")
    visitors = fetch(db, f"SELECT name FROM {table(db, 'visitors')} ORDER BY id")
    assert all(name.startswith("anon-") for (name,) in visitors)


def test_the_personal_option_round_trips_through_the_registry(db: DataFlow, db_url: str) -> None:
    from dataflow_engine.models._serialize import model_from_definition, model_to_definition

    @db.model
    class Patient:
        name: str
        code: str
        __dataflow__ = {"personal": ["name"]}

    @db.model
    class Ward:
        label: str

    definition = model_to_definition(db.get_model("Patient"))
    assert definition["personal"] == ["name"]
    assert "personal" not in model_to_definition(db.get_model("Ward"))  # checksum unchanged
    assert model_from_definition(definition).personal == ("name",)
    one(db, "PatientCreateNode", {"name": "Ann", "code": "P1"})
    if db_url == "sqlite://":
        return  # another instance would be another in-memory database
    with DataFlow(db_url) as other:  # another process, without the class
        other.reconstruct_models_from_registry()
        out = gdpr(other, "GDPRAnonymizeNode", match={"code": "P1"})
        assert out["fields"] == {"Patient": ["name"]}
    assert fetch(db, f"SELECT name FROM {table(db, 'patients')}")[0][0].startswith("anon-")


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ({"__dataflow__": {"personal": ["nmae"]}}, "did you mean 'name'"),
        ({"__dataflow__": {"personal": "name"}}, "must be a list of field names"),
        ({"__dataflow__": {"personal": {"name": True}}}, "must be a list of field names"),
        ({"__dataflow__": {"personal": [3]}}, "not a field of the model"),
        ({"__dataflow__": {"personal": ["x'; DROP TABLE t; --"]}}, "not a field of the model"),
        ({"__personal__": ["nme"]}, "did you mean 'name'"),
        (
            {"__dataflow__": {"personal": ["name"]}, "__personal__": ["name"]},
            "declared twice",
        ),
    ],
)
def test_a_bad_personal_option_is_refused_when_the_model_is_defined(
    db: DataFlow, declared: dict[str, Any], message: str
) -> None:
    from dataflow_engine import ModelError

    namespace: dict[str, Any] = {"__annotations__": {"name": str, "code": str}, **declared}
    with pytest.raises(ModelError) as info:
        db.model(type("Patient", (), namespace))
    assert info.value.code == "DF-MODEL-OPTION"
    assert message in info.value.message and "Patient" in info.value.message
    assert info.value.details["option"] == "personal"
    assert db.list_models() == []


@pytest.mark.parametrize(
    ("params", "code", "where"),
    [
        ({"personal": PERSONAL}, "DF-GDPR-SUBJECT", ["id"]),
        ({"id": 1, "personal": PERSONAL}, "DF-GDPR-SUBJECT", ["model"]),
        (
            {"model": "Customer", "id": 1, "match": {"email": "a"}, "personal": PERSONAL},
            "DF-PARAM-CONFLICT",
            ["id"],
        ),
        ({"model": "Custmer", "id": 1, "personal": PERSONAL}, "DF-MODEL-UNKNOWN", ["model"]),
        ({"model": "Customer", "id": "one", "personal": PERSONAL}, "DF-PARAM-TYPE", ["id"]),
        ({"model": "Customer", "id": 2**70, "personal": PERSONAL}, "DF-PARAM-TYPE", ["id"]),
        ({"match": {}, "personal": PERSONAL}, "DF-GDPR-SUBJECT", ["match"]),
        (
            {"match": {"email": {"$ne": None}}, "personal": PERSONAL},
            "DF-GDPR-SUBJECT",
            ["match", "email"],
        ),
        ({"match": {"email": None}, "personal": PERSONAL}, "DF-GDPR-SUBJECT", ["match", "email"]),
        ({"match": {"emial": "a"}, "personal": PERSONAL}, "DF-PARAM-UNKNOWN-FIELD", ["match"]),
        (
            {"model": "Customer", "match": {"emial": "a"}, "personal": PERSONAL},
            "DF-PARAM-UNKNOWN-FIELD",
            ["match", "emial"],
        ),
        ({"match": {"email": "a"}}, "DF-PARAM-MISSING", ["personal"]),
        (
            {"match": {"email": "a"}, "personal": {"Custmer": ["name"]}},
            "DF-MODEL-UNKNOWN",
            ["personal", "Custmer"],
        ),
        (
            {"match": {"email": "a"}, "personal": {"Customer": ["nmae"]}},
            "DF-PARAM-UNKNOWN-FIELD",
            ["personal", "Customer", 0],
        ),
        (
            {"match": {"email": "a"}, "personal": {"Customer": "name"}},
            "DF-PARAM-TYPE",
            ["personal", "Customer"],
        ),
        (
            {"match": {"email": "a"}, "personal": {"Customer": ["id"]}},
            "DF-GDPR-FIELD",
            ["personal", "Customer", 0],
        ),
        (
            {"match": {"email": "a"}, "personal": {"Customer": ["created_at"]}},
            "DF-GDPR-FIELD",
            ["personal", "Customer", 0],
        ),
        (
            {"match": {"email": "a"}, "personal": {"Order": ["customer_id"]}},
            "DF-GDPR-FIELD",
            ["personal", "Order", 0],
        ),
        (
            {
                "match": {"email": "a"},
                "personal": PERSONAL,
                "references": {"Ticket.requester": "Custmer"},
            },
            "DF-MODEL-UNKNOWN",
            ["references", "Ticket.requester"],
        ),
        (
            {"match": {"email": "a"}, "personal": PERSONAL, "references": {"Ticket": "Customer"}},
            "DF-GDPR-REFERENCE",
            ["references", "Ticket"],
        ),
        (
            {
                "match": {"email": "a"},
                "personal": PERSONAL,
                "references": {"Ticket.subject_line": "Customer"},
            },
            "DF-GDPR-REFERENCE",
            ["references", "Ticket.subject_line"],
        ),
        (
            {"match": {"email": "a"}, "personal": PERSONAL, "max_rows": 0},
            "DF-PARAM-RANGE",
            ["max_rows"],
        ),
    ],
)
def test_bad_parameters_are_refused_when_the_workflow_is_built(
    shop: dict[str, Any], params: dict[str, Any], code: str, where: list[Any]
) -> None:
    db = shop["db"]
    before = snapshot(db)
    with pytest.raises(WorkflowValidationError) as info:
        one(db, "GDPRAnonymizeNode", params)
    found = [(d.code, list(d.path[3:])) for d in info.value.diagnostics]
    assert (code, where) in found, found
    assert snapshot(db) == before


def test_hostile_and_unicode_values_are_only_values(shop: dict[str, Any]) -> None:
    db = shop["db"]
    for value in ("' OR 1=1 --", "ann@x.io'; DROP TABLE customers; --", "zoë@ü.io", "x" * 10_000):
        out = gdpr(db, "GDPRExportNode", match={"email": value})
        assert out["found"] is False and out["count"] == 0
    assert len(fetch(db, f"SELECT * FROM {table(db, 'customers')}")) == 2


def test_tenancy_and_the_audit_log_apply_to_anonymisation(db: DataFlow) -> None:
    @db.model
    class Member:
        email: str
        name: str
        __dataflow__ = {
            "multi_tenant": True,
            "audit_log": True,
            "soft_delete": True,
            "unique": [["tenant_id", "email"]],
        }

    @db.model
    class Visit:
        member_id: int
        place: str
        __dataflow__ = {"multi_tenant": True, "audit_log": True, "soft_delete": True}

    runtime = LocalRuntime(dataflow=db)

    def run_as(tenant: str, node: str, params: dict[str, Any]) -> Any:
        wf = WorkflowBuilder()
        wf.add_node(node, "n", params)
        return runtime.execute(wf.build(db), tenant_id=tenant)[0]["n"]

    members = {}
    for tenant in ("acme", "globex"):  # the same person in two tenants
        member = run_as(tenant, "MemberCreateNode", {"email": "ann@x.io", "name": "Ann"})
        members[tenant] = member["id"]
        for place in ("Paris", "Rome"):
            run_as(tenant, "VisitCreateNode", {"member_id": member["id"], "place": place})
    rome = run_as("acme", "VisitListNode", {"filter": {"place": "Rome"}})["records"][0]
    run_as("acme", "VisitDeleteNode", {"id": rome["id"]})  # soft-deleted, still personal
    out = run_as(
        "acme",
        "GDPRAnonymizeNode",
        {"match": {"email": "ann@x.io"}, "personal": {"Member": ["name"], "Visit": ["place"]}},
    )
    assert out["subjects"] == [{"model": "Member", "id": members["acme"]}]
    assert out["anonymized"] == {"Member": 1, "Visit": 2}
    rows = fetch(db, f"SELECT tenant_id, name FROM {table(db, 'members')} ORDER BY tenant_id")
    assert rows[0][0] == "acme" and rows[0][1].startswith("anon-")
    assert rows[1] == ("globex", "Ann")
    places = fetch(
        db, f"SELECT tenant_id, place, deleted_at FROM {table(db, 'visits')} ORDER BY id"
    )
    assert [p for t, p, _ in places if t == "globex"] == ["Paris", "Rome"]
    acme = [(p, d) for t, p, d in places if t == "acme"]
    assert all(p.startswith("anon-") for p, _ in acme)
    assert sum(d is not None for _, d in acme) == 1  # still soft-deleted
    # Every anonymised row has its audit entry, the soft-deleted one included; no entry
    # of the tenant's rows keeps a place any more, and the other tenant's are untouched.
    trail = db.audit_trail("Visit", tenant_id="acme", limit=None)
    assert [e["action"] for e in trail] == ["create", "create", "delete", "update", "update"]
    assert all(e["after"]["place"].startswith("anon-") for e in trail)
    assert "Paris" not in repr(trail) and "Rome" not in repr(trail)
    theirs = db.audit_trail("Visit", tenant_id="globex", limit=None)
    assert [e["after"]["place"] for e in theirs] == ["Paris", "Rome"]
    assert [e["after"]["name"] for e in db.audit_trail("Member", tenant_id="globex")] == ["Ann"]
    (member,) = db.audit_trail("Member", tenant_id="acme")[:1]
    assert member["after"]["name"].startswith("anon-")


def test_concurrent_anonymisations_of_two_subjects(shop: dict[str, Any]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    db = shop["db"]
    jobs = [shop["ann"]["customer"], shop["bob"]["customer"]] * 2

    def forget(customer: int) -> Any:
        return gdpr(db, "GDPRAnonymizeNode", model="Customer", id=customer, personal=PERSONAL)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(forget, jobs))
    assert [r["count"] for r in results] == [7, 7, 7, 7]
    rows = fetch(db, f"SELECT email, name FROM {table(db, 'customers')}")
    assert len({email for email, _ in rows}) == 2
    assert all(email.startswith("anon-") and name.startswith("anon-") for email, name in rows)


def test_anonymisation_invalidates_cached_answers(db_url: str) -> None:
    with DataFlow(db_url, cache=True) as db:

        @db.model
        class Patient:
            name: str

        one(db, "PatientCreateNode", {"name": "Ann"})
        assert one(db, "PatientListNode", {})["records"][0]["name"] == "Ann"  # cached now
        gdpr(db, "GDPRAnonymizeNode", match={"name": "Ann"}, personal={"Patient": ["name"]})
        assert one(db, "PatientListNode", {})["records"][0]["name"].startswith("anon-")


# -- the audit log ---------------------------------------------------------------------------

#: Each subject's values when created, then as changed: by Update (name, phone),
#: BulkUpdate (email), BulkUpsert (renamed); parcels created, one's address updated.
ANN = {
    "create": {
        "name": "Annabel Lee",
        "email": "annabel@x.io",
        "phone": "+44 7700 900001",
        "born": "1990-05-01",
    },
    "update": {"name": "Annabel Lee-Smith", "phone": "+44 7700 900002"},
    "email": "annabel.lee@x.io",
    "renamed": "Annabel L.",
    "addresses": ["12 Lee Lane", "14 Lee Lane", "12a Lee Lane"],
}
BOB = {
    "create": {
        "name": "Robert Roe",
        "email": "robert@x.io",
        "phone": "+44 7700 900009",
        "born": "1985-03-04",
    },
    "update": {"name": "Robert Roe-Smith", "phone": "+44 7700 900008"},
    "email": "bob.roe@x.io",
    "renamed": "Bob R.",
    "addresses": ["3 Roe Road", "5 Roe Road", "3b Roe Road"],
}


def values_of(who: dict[str, Any]) -> list[str]:
    """Every personal value the subject had at some time (the trail keeps old ones)."""
    return [
        *who["create"].values(),
        *who["update"].values(),
        who["email"],
        who["renamed"],
        *who["addresses"],
    ]


ANN_VALUES = values_of(ANN)


def define_audited(db: DataFlow) -> None:
    @db.model
    class Client:
        name: str
        email: str
        phone: str | None = None
        born: dt.date = dt.date(2000, 1, 1)
        __dataflow__ = {
            "audit_log": True,
            "versioned": True,
            "unique": [["email"]],
            "personal": ["name", "email", "phone", "born"],
        }

    @db.model
    class Parcel:
        client_id: int
        address: str
        weight: float
        __dataflow__ = {"audit_log": True, "soft_delete": True, "personal": ["address"]}


def history(db: DataFlow, who: dict[str, Any]) -> dict[str, Any]:
    """A client and two parcels, changed through several nodes (every entry kind)."""
    client = one(db, "ClientCreateNode", who["create"])["id"]
    update = {"id": client, "version": 1, "fields": who["update"]}
    one(db, "ClientUpdateNode", update, actor="clerk")
    one(db, "ClientBulkUpdateNode", {"filter": {"id": client}, "update": {"email": who["email"]}})
    renamed = [{"email": who["email"], "name": who["renamed"]}]
    one(db, "ClientBulkUpsertNode", {"data": renamed, "match_fields": ["email"]})
    first, second, changed = who["addresses"]
    data = [
        {"client_id": client, "address": first, "weight": 1.5},
        {"client_id": client, "address": second, "weight": 2.5},
    ]
    parcels = one(db, "ParcelBulkCreateNode", {"data": data, "return_ids": True})["ids"]
    one(db, "ParcelUpdateNode", {"id": parcels[0], "fields": {"address": changed}})
    one(db, "ParcelDeleteNode", {"id": parcels[1]})  # soft-deleted: still the subject's
    return {"client": client, "parcels": parcels}


def audit_rows(db: DataFlow) -> list[dict[str, Any]]:
    """The audit table as the database holds it (raw values, no decoding)."""
    from dataflow_engine.nodes._audit import audit_columns

    rows = fetch(db, f"SELECT * FROM {table(db, 'dataflow_audit_log')} ORDER BY id")
    return [dict(zip(audit_columns(), row, strict=True)) for row in rows]


def owned_by(rows: list[dict[str, Any]], ids: dict[str, Any]) -> list[dict[str, Any]]:
    """The raw entries of one subject's records."""
    import json

    keys = {("Client", ids["client"]), *(("Parcel", p) for p in ids["parcels"])}
    return [r for r in rows if (r["model"], json.loads(r["record_id"])) in keys]


@pytest.fixture
def audited(db: DataFlow) -> dict[str, Any]:
    define_audited(db)
    return {
        "db": db,
        "ann": history(db, ANN),
        "bob": history(db, BOB),
    }


def test_export_includes_the_audit_entries_of_the_subjects_records(
    audited: dict[str, Any],
) -> None:
    db, ann = audited["db"], audited["ann"]
    out = gdpr(db, "GDPRExportNode", model="Client", id=ann["client"])
    assert out["count"] == 3 and set(out["audit"]) == {"Client", "Parcel"}
    # Each model's entries, oldest first, as db.audit_trail gives them.
    assert out["audit"]["Client"] == db.audit_trail("Client", record_id=ann["client"], limit=None)
    parcels = [e for e in db.audit_trail("Parcel", limit=None) if e["record_id"] in ann["parcels"]]
    assert out["audit"]["Parcel"] == parcels
    assert [e["action"] for e in out["audit"]["Client"]] == ["create", "update", "update", "update"]
    assert [e["action"] for e in parcels] == ["create", "create", "update", "delete"]
    assert out["audit"]["Client"][1]["actor"] == "clerk"
    assert out["audit"]["Client"][0]["after"]["born"] == dt.date(1990, 5, 1)  # Python types
    assert [value for value in values_of(BOB) if value in repr(out)] == []
    # A tenant bound to the run sees the entries written for it only (as db.audit_trail).
    with db.tenant("acme"):
        assert gdpr(db, "GDPRExportNode", model="Client", id=ann["client"])["audit"] == {}


def test_anonymise_scrubs_the_subjects_audit_trail(audited: dict[str, Any]) -> None:
    db, ann, bob = audited["db"], audited["ann"], audited["bob"]
    raw_before = audit_rows(db)
    assert all(value in repr(raw_before) for value in ANN_VALUES)  # the test's premise
    trail_before = db.audit_trail("Client", record_id=ann["client"], limit=None)
    out = one(db, "GDPRAnonymizeNode", {"model": "Client", "id": ann["client"]}, actor="dpo")
    assert out["anonymized"] == {"Client": 1, "Parcel": 2}
    raw_after = audit_rows(db)
    # No entry keeps any value Ann's records ever had, in any column.
    text = repr(raw_after)
    assert [value for value in ANN_VALUES if value in text] == []
    # Bob's entries are exactly as they were.
    assert owned_by(raw_after, bob) == owned_by(raw_before, bob)
    assert all(value in text for value in values_of(BOB))
    # Ann's entries are kept (who, what, when), and the anonymisation has its own.
    mine_before, mine_after = owned_by(raw_before, ann), owned_by(raw_after, ann)
    kept = ("id", "model", "record_key", "record_id", "action", "tenant_id", "actor", "at")
    assert [{k: r[k] for k in kept} for r in mine_after[: len(mine_before)]] == [
        {k: r[k] for k in kept} for r in mine_before
    ]
    added = mine_after[len(mine_before) :]
    assert [(r["model"], r["action"], r["actor"]) for r in added] == [
        ("Client", "update", "dpo"),
        ("Parcel", "update", "dpo"),
        ("Parcel", "update", "dpo"),
    ]
    # Read back: the personal fields hold the values the record holds now, in every
    # entry (before and after); every other field is as it was recorded.
    client = one(db, "ClientReadNode", {"id": ann["client"]})
    trail = db.audit_trail("Client", record_id=ann["client"], limit=None)
    assert len(trail) == len(trail_before) + 1
    personal = ("name", "email", "phone", "born")
    for old, new in zip(trail_before, trail, strict=False):
        for side in ("before", "after"):
            if old[side] is None:
                assert new[side] is None
                continue
            assert {k: new[side][k] for k in personal} == {k: client[k] for k in personal}
            others = {k: v for k, v in old[side].items() if k not in personal}
            assert {k: v for k, v in new[side].items() if k not in personal} == others
    assert client["phone"] is None and client["email"].endswith("@anonymized.invalid")
    assert trail[-1]["before"]["version"] == 4 and trail[-1]["after"]["version"] == 5
    # Anonymising again changes nothing more in the trail than its own new entries.
    again = audit_rows(db)
    gdpr(db, "GDPRAnonymizeNode", model="Client", id=ann["client"])
    assert audit_rows(db)[: len(again)] == again
    # The export no longer finds the values either.
    exported = gdpr(db, "GDPRExportNode", model="Client", id=ann["client"])
    assert [value for value in ANN_VALUES if value in repr(exported)] == []


def test_a_failed_anonymisation_rolls_back_the_rows_and_the_audit_scrub(
    db: DataFlow, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataflow_engine.adapters import mysql, postgres, sqlite

    @db.model
    class Person:
        email: str
        __dataflow__ = {"audit_log": True, "unique": [["email"]], "personal": ["email"]}

    @db.model
    class Note:
        person_id: int
        body: str
        __dataflow__ = {"audit_log": True, "unique": [["body"]], "personal": ["body"]}

    ann = one(db, "PersonCreateNode", {"email": "ann@x.io"})
    bob = one(db, "PersonCreateNode", {"email": "bob@x.io"})
    note = one(db, "NoteCreateNode", {"person_id": ann["id"], "body": "ann's note"})
    # Bob's note already holds the value Ann's note would get: the Note write fails, after
    # Ann's Person row was anonymised and its audit entries scrubbed, in one transaction.
    taken = anonymous_value(db.get_model("Note"), db.get_model("Note").fields["body"], note["id"])
    one(db, "NoteCreateNode", {"person_id": bob["id"], "body": taken})
    tables = ("people", "notes", "dataflow_audit_log")

    def everything() -> dict[str, list[tuple[Any, ...]]]:
        return {name: fetch(db, f"SELECT * FROM {table(db, name)} ORDER BY id") for name in tables}

    before = everything()
    sent: list[str] = []

    def spy(original: Any) -> Any:
        async def recording(self: Any, sql: str, *args: Any) -> Any:
            sent.append(sql)
            return await original(self, sql, *args)

        return recording

    for cls in (sqlite._SQLiteConnection, postgres._PgConnection, mysql._MyConnection):
        for method in ("execute", "executemany"):
            if method in cls.__dict__:
                monkeypatch.setattr(cls, method, spy(cls.__dict__[method]))
    with pytest.raises(UniqueViolation):
        gdpr(db, "GDPRAnonymizeNode", model="Person", id=ann["id"])
    monkeypatch.undo()
    scrubbed = [sql for sql in sent if sql.startswith("UPDATE") and "dataflow_audit_log" in sql]
    assert scrubbed, "the scrub of Person's entries ran before the failing write"
    assert everything() == before
    assert "ann@x.io" in repr(before["dataflow_audit_log"])


def test_the_trail_of_a_reused_or_changed_key_is_scrubbed_for_its_record_only(
    db: DataFlow,
) -> None:
    @db.model
    class Patient:
        code: str
        name: str
        __dataflow__ = {"audit_log": True, "primary_key": "code", "personal": ["name"]}

    one(db, "PatientCreateNode", {"code": "P1", "name": "Former Holder"})
    one(db, "PatientDeleteNode", {"id": "P1"})  # gone: its key is free again
    one(db, "PatientCreateNode", {"code": "P1", "name": "Annabel Lee"})
    one(db, "PatientUpdateNode", {"id": "P1", "fields": {"name": "Annabel Lee-Smith"}})
    one(db, "PatientCreateNode", {"code": "P2", "name": "Key Changer"})
    one(db, "PatientBulkUpdateNode", {"filter": {"code": "P2"}, "update": {"code": "P9"}})
    one(db, "PatientUpdateNode", {"id": "P9", "fields": {"name": "Key Changer Jr"}})

    exported = gdpr(db, "GDPRExportNode", model="Patient", id="P1")
    assert [(e["action"], e["after"]["name"]) for e in exported["audit"]["Patient"]] == [
        ("create", "Annabel Lee"),
        ("update", "Annabel Lee-Smith"),
    ]
    changed = gdpr(db, "GDPRExportNode", model="Patient", id="P9")["audit"]["Patient"]
    assert [(e["record_id"], e["action"]) for e in changed] == [
        ("P2", "create"),
        ("P9", "update"),
        ("P9", "update"),
    ]
    gdpr(db, "GDPRAnonymizeNode", model="Patient", id="P1")
    gdpr(db, "GDPRAnonymizeNode", model="Patient", id="P9")
    text = repr(audit_rows(db))
    assert "Annabel" not in text and "Key Changer" not in text
    # The record that held P1 before is another person: its entries are as written.
    former = db.audit_trail("Patient", record_id="P1", limit=None)[:2]
    assert [(e["action"], (e["before"] or e["after"])["name"]) for e in former] == [
        ("create", "Former Holder"),
        ("delete", "Former Holder"),
    ]
