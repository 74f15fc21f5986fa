"""Every endpoint of the REST API, through a real uvicorn server, on every backend."""

from __future__ import annotations

import base64
import datetime as dt
import enum
import json
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from dataflow_engine import DataFlow
from tests.api.conftest import Serve, problem
from tests.support import one


class Tier(enum.Enum):
    BASIC = "basic"
    GOLD = "gold"


@pytest.fixture
def shop(db: DataFlow) -> DataFlow:
    @db.model
    class Customer:
        name: str
        email: str
        age: int
        tier: Tier = Tier.BASIC
        balance: Decimal = Decimal("0")
        born: dt.date | None = None
        seen: dt.datetime | None = None
        uid: uuid.UUID | None = None
        photo: bytes | None = None
        tags: list[str] = []
        meta: dict | None = None  # type: ignore[type-arg]
        score: float = 0.0
        active: bool = True
        __dataflow__ = {"unique": [["email"]], "soft_delete": True}

    @db.model
    class Account:
        owner: str
        amount: int
        __dataflow__ = {"versioned": True}

    @db.model
    class Membership:
        org: str
        member: int
        role: str
        __dataflow__ = {"primary_key": ["org", "member"]}

    return db


def customer(i: int, **extra: Any) -> dict[str, Any]:
    return {"name": f"c{i}", "email": f"c{i}@x.io", "age": 20 + i, **extra}


def test_create_read_update_delete_with_exact_types(shop: DataFlow, serve: Serve) -> None:
    uid = uuid.uuid4()
    body = customer(
        1,
        tier="gold",
        balance="12345678901234.0000000001",
        born="1990-02-03",
        seen="2024-05-06T07:08:09.123456+02:00",
        uid=str(uid),
        photo=base64.b64encode(b"\x00\xffpng").decode(),
        tags=["a", "b"],
        meta={"nested": {"k": [1, 2.5, None]}},
        score=1.5,
    )
    with serve(shop.api()) as http:
        created = http.post("/customers", json=body)
        assert created.status_code == 201, created.text
        row = created.json()
        assert created.headers["location"] == f"/customers/{row['id']}"
        assert row["balance"] == "12345678901234.0000000001"  # exact, as text
        assert row["born"] == "1990-02-03"
        assert dt.datetime.fromisoformat(row["seen"]) == dt.datetime(
            2024, 5, 6, 5, 8, 9, 123456, tzinfo=dt.UTC
        )
        assert row["uid"] == str(uid)
        assert base64.b64decode(row["photo"]) == b"\x00\xffpng"
        assert row["tier"] == "gold"
        assert row["tags"] == ["a", "b"]
        assert row["meta"] == {"nested": {"k": [1, 2.5, None]}}
        assert row["deleted_at"] is None

        read = http.get(f"/customers/{row['id']}")
        assert read.status_code == 200
        assert read.json() == row  # no "found" flag: the record itself

        changed = http.patch(
            f"/customers/{row['id']}", json={"$set": {"age": 41}, "$inc": {"score": 2}}
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["age"] == 41
        assert changed.json()["score"] == 3.5
        assert "updated" not in changed.json()

        gone = http.delete(f"/customers/{row['id']}")
        assert gone.json() == {"id": row["id"], "deleted": True}
        problem(http.get(f"/customers/{row['id']}"), 404, "DF-NOT-FOUND")
        # soft delete: still there for who asks
        kept = http.get(f"/customers/{row['id']}", params={"include_deleted": "true"})
        assert kept.status_code == 200
        assert kept.json()["deleted_at"] is not None
        assert one(shop, "CustomerCountNode", {"include_deleted": True})["count"] == 1
        hard = http.delete(f"/customers/{row['id']}", params={"hard": "true"})
        assert hard.status_code == 200, hard.text  # removes the soft-deleted row too
        assert one(shop, "CustomerCountNode", {"include_deleted": True})["count"] == 0


def test_list_filters_orders_projects_and_pages_with_cursors(shop: DataFlow, serve: Serve) -> None:
    one(shop, "CustomerBulkCreateNode", {"data": [customer(i) for i in range(25)]})
    with serve(shop.api(default_limit=10, max_limit=20)) as http:
        first = http.get("/customers", params={"order_by": "-age", "limit": 3, "fields": "id,age"})
        assert first.status_code == 200, first.text
        page = first.json()
        assert [r["age"] for r in page["records"]] == [44, 43, 42]
        assert set(page["records"][0]) == {"id", "age"}
        assert page["count"] == 3 and page["total"] is None and page["next_cursor"]
        link = first.headers["link"]
        assert link.endswith('>; rel="next"')

        seen = [r["age"] for r in page["records"]]
        nxt = http.get(link[1 : link.index(">")])  # the Link header's URL continues
        assert nxt.status_code == 200, nxt.text
        seen += [r["age"] for r in nxt.json()["records"]]
        assert seen == [44, 43, 42, 41, 40, 39]

        flt = json.dumps({"age": {"$gte": 30, "$lt": 40}, "name": {"$startswith": "c"}})
        filtered = http.get("/customers", params={"filter": flt, "with_total": "true"}).json()
        assert filtered["total"] == 10
        assert filtered["count"] == 10  # the default limit
        assert filtered["next_cursor"] is None

        everything: list[int] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 7, "order_by": "age"}
            if cursor:
                params["cursor"] = cursor
            body = http.get("/customers", params=params).json()
            everything += [r["age"] for r in body["records"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert everything == list(range(20, 45))

        assert http.get("/customers/count").json() == {"count": 25}
        counted = http.get("/customers/count", params={"filter": json.dumps({"age": {"$lt": 22}})})
        assert counted.json() == {"count": 2}

        too_many = problem(http.get("/customers", params={"limit": 21}), 422, "DF-PARAM-RANGE")
        assert too_many["details"]["maximum"] == 20
        problem(http.get("/customers", params={"cursor": "garbage"}), 422, "DF-PARAM-CURSOR")
        bad = problem(
            http.get("/customers", params={"filter": json.dumps({"agee": 3})}),
            422,
            "DF-FILTER-UNKNOWN-FIELD",
        )
        assert "age" in bad["details"]["suggestions"]
        broken = http.get("/customers", params={"filter": "{not json"})
        problem(broken, 400, "DF-API-MALFORMED-JSON")
        typo = problem(http.get("/customers", params={"limt": 3}), 422, "DF-PARAM-UNKNOWN")
        assert typo["details"]["suggestions"] == ["limit"]
        problem(http.get("/customers", params={"limit": "ten"}), 422, "DF-PARAM-TYPE")


def test_bulk_endpoints_are_atomic_and_guarded(shop: DataFlow, serve: Serve) -> None:
    with serve(shop.api()) as http:
        made = http.post(
            "/customers/bulk/create",
            json={"data": [customer(i) for i in range(5)], "return_ids": True},
        )
        assert made.status_code == 201, made.text
        assert made.json()["inserted"] == 5 and len(made.json()["ids"]) == 5

        # one bad record: nothing is written, and the record is named
        bad = http.post(
            "/customers/bulk/create",
            json={"data": [customer(10), {**customer(11), "age": "old"}]},
        )
        body = problem(bad, 422, "DF-PARAM-TYPE")
        assert body["errors"][0]["path"] == ["data", 1, "age"]
        dup = http.post("/customers/bulk/create", json={"data": [customer(20), customer(0)]})
        problem(dup, 409, "DF-DB-UNIQUE-VIOLATION")
        assert http.get("/customers/count").json() == {"count": 5}

        updated = http.post(
            "/customers/bulk/update",
            json={"filter": {"age": {"$gte": 22}}, "update": {"$set": {"tier": "gold"}}},
        )
        assert updated.json() == {"updated": 3}
        problem(
            http.post("/customers/bulk/update", json={"update": {"age": 1}}),
            422,
            "DF-PARAM-UNSAFE-BULK",
        )

        upserted = http.post(
            "/customers/bulk/upsert",
            json={
                "data": [{**customer(0), "age": 99}, customer(7)],
                "match_fields": ["email"],
            },
        )
        assert upserted.json() == {"inserted": 1, "updated": 1}

        problem(http.post("/customers/bulk/delete", json={}), 422, "DF-PARAM-UNSAFE-BULK")
        deleted = http.post("/customers/bulk/delete", json={"filter": {"tier": "gold"}})
        assert deleted.json() == {"deleted": 3}
        assert http.get("/customers/count").json() == {"count": 3}
        wiped = http.post("/customers/bulk/delete", json={"all": True, "hard": True})
        assert wiped.json() == {"deleted": 6}


def test_versioned_records_need_the_version_read(shop: DataFlow, serve: Serve) -> None:
    with serve(shop.api()) as http:
        acc = http.post("/accounts", json={"owner": "ann", "amount": 10})
        assert acc.headers["etag"] == '"1"'
        key = acc.json()["id"]
        problem(http.patch(f"/accounts/{key}", json={"amount": 11}), 428, "DF-API-VERSION-REQUIRED")
        ok = http.patch(f"/accounts/{key}", json={"amount": 11}, headers={"If-Match": '"1"'})
        assert ok.status_code == 200, ok.text
        assert ok.json()["version"] == 2 and ok.headers["etag"] == '"2"'
        stale = http.patch(f"/accounts/{key}", json={"amount": 12, "version": 1})
        body = problem(stale, 409, "DF-OPTIMISTIC-LOCK")
        assert body["details"]["actual"] == 2
        assert http.get(f"/accounts/{key}").json()["amount"] == 11
        by_body = http.patch(f"/accounts/{key}", json={"amount": 12, "version": 2})
        assert by_body.json()["version"] == 3


def test_composite_keys_are_path_segments(shop: DataFlow, serve: Serve) -> None:
    with serve(shop.api(models=["Membership"])) as http:
        made = http.post("/memberships", json={"org": "acme corp", "member": 2, "role": "dev"})
        assert made.status_code == 201, made.text
        assert made.headers["location"] == "/memberships/acme%20corp/2"
        assert http.get("/memberships/acme%20corp/2").json()["role"] == "dev"
        changed = http.patch("/memberships/acme%20corp/2", json={"role": "lead"})
        assert changed.json()["role"] == "lead"
        problem(http.get("/memberships/acme%20corp/3"), 404, "DF-NOT-FOUND")
        problem(http.get("/memberships/acme%20corp/x"), 422, "DF-PARAM-TYPE")
        gone = http.delete("/memberships/acme%20corp/2")
        assert gone.json() == {"id": {"org": "acme corp", "member": 2}, "deleted": True}
        # only the models asked for are served
        problem(http.get("/customers"), 404, "DF-API-NOT-FOUND")


def test_conflicts_and_validation_are_problems(shop: DataFlow, serve: Serve) -> None:
    with serve(shop.api()) as http:
        assert http.post("/customers", json=customer(1)).status_code == 201
        problem(http.post("/customers", json=customer(1)), 409, "DF-DB-UNIQUE-VIOLATION")
        unknown = problem(
            http.post("/customers", json={**customer(2), "nmae": "x"}),
            422,
            "DF-PARAM-UNKNOWN-FIELD",
        )
        assert unknown["details"]["suggestions"] == ["name"]
        several = problem(
            http.post("/customers", json={"email": "e@x", "age": "x"}), 422, "DF-WORKFLOW-INVALID"
        )
        assert {e["code"] for e in several["errors"]} == {"DF-PARAM-MISSING", "DF-PARAM-TYPE"}
        stamped = {**customer(3), "created_at": "2020-01-01T00:00:00Z"}
        problem(http.post("/customers", json=stamped), 422, "DF-PARAM-READ-ONLY-FIELD")
        # the auto-increment key may be given (a copy keeps its keys); once only
        given = http.post("/customers", json={**customer(3), "id": 700})
        assert given.status_code == 201 and given.json()["id"] == 700, given.text
        problem(
            http.post("/customers", json={**customer(9), "id": 700}), 409, "DF-DB-UNIQUE-VIOLATION"
        )
        for i, bad_value in enumerate(
            [{"tier": "platinum"}, {"balance": "1e"}, {"photo": "%%"}, {"age": 2**64}]
        ):
            refused = http.post("/customers", json={**customer(4 + i), **bad_value})
            problem(refused, 422, "DF-PARAM-TYPE")
        problem(http.post("/customers", json=[customer(8)]), 422, "DF-PARAM-TYPE")
        problem(http.patch("/customers/999", json={"age": 1}), 404, "DF-NOT-FOUND")
        # nothing half-written by any of the refused requests
        assert http.get("/customers/count").json() == {"count": 2}  # customers 1 and 3


def test_unicode_and_injection_text_are_plain_values(shop: DataFlow, serve: Serve) -> None:
    name = "Zoë 😀 '; DROP TABLE customers; --"
    with serve(shop.api()) as http:
        made = http.post("/customers", json=customer(1, name=name))
        assert made.json()["name"] == name
        found = http.get("/customers", params={"filter": json.dumps({"name": name})})
        assert [r["name"] for r in found.json()["records"]] == [name]
        evil = json.dumps({'name"; DROP TABLE customers; --': 1})
        problem(http.get("/customers", params={"filter": evil}), 422, "DF-FILTER-UNKNOWN-FIELD")
        order = http.get("/customers", params={"order_by": "name;drop"})
        problem(order, 422, "DF-FILTER-UNKNOWN-FIELD")
        assert http.get("/customers/count").json() == {"count": 1}


def test_the_hop_from_another_loop_serves_the_same(shop: DataFlow, serve: Serve) -> None:
    """Any ASGI server (its own loop): each request hops to the engine's loop."""
    with serve(shop.api(), engine_loop=False) as http:
        assert http.post("/customers", json=customer(1)).status_code == 201
        assert http.get("/customers").json()["count"] == 1
        problem(http.post("/customers", json=customer(1)), 409, "DF-DB-UNIQUE-VIOLATION")


def test_concurrent_requests_each_get_their_answer(shop: DataFlow, serve: Serve) -> None:
    import concurrent.futures

    with serve(shop.api()) as http:
        base = str(http.base_url)

        def create(i: int) -> int:
            with httpx.Client(base_url=base, timeout=60) as own:
                return own.post("/customers", json=customer(i)).status_code

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(create, [i % 20 for i in range(40)]))
        assert sorted(codes) == [201] * 20 + [409] * 20
        assert http.get("/customers/count").json() == {"count": 20}


def test_an_unencodable_decimal_in_a_bulk_create_is_a_422(
    shop: DataFlow, serve: Serve, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("the COPY path is PostgreSQL's")
    with serve(shop.api()) as http:
        body = {"data": [customer(1, balance="1e-20000")]}
        problem(http.post("/customers/bulk/create", json=body), 422, "DF-DB-DATA")
