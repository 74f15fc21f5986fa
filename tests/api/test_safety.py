"""Auth, read-only, tenancy, hostile requests and an unreachable database: every refusal is
a problem document, never a traceback, and nothing is half-written."""

from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path

import pytest

from dataflow_engine import ConfigurationError, DataFlow, ModelError
from dataflow_engine.api._run import tenancy_available
from tests.api.conftest import Serve, problem
from tests.support import one

TOKEN = "s3cret-token_123"


def users(db: DataFlow) -> DataFlow:
    @db.model
    class User:
        name: str
        age: int

    return db


@pytest.fixture
def mem() -> DataFlow:
    return users(DataFlow())


def test_a_bearer_token_guards_everything_but_health(mem: DataFlow, serve: Serve) -> None:
    with serve(mem.api(token=[TOKEN, "next-token-456"])) as http:
        missing = problem(http.get("/users"), 401, "DF-API-UNAUTHORIZED")
        assert "Authorization: Bearer" in missing["detail"]
        assert http.get("/users").headers["www-authenticate"].startswith("Bearer")
        wrong = {"Authorization": "Bearer not-the-token"}
        problem(http.get("/users", headers=wrong), 401, "DF-API-UNAUTHORIZED")
        problem(http.get("/openapi.json"), 401, "DF-API-UNAUTHORIZED")
        problem(http.get("/no/such/path"), 401, "DF-API-UNAUTHORIZED")  # routes not revealed
        problem(
            http.get("/users", headers={"Authorization": f"Basic {TOKEN}"}),
            401,
            "DF-API-UNAUTHORIZED",
        )
        assert http.get("/health").json() == {"status": "up", "dialect": "sqlite"}
        for token in (TOKEN, "next-token-456"):
            ok = http.get("/users", headers={"Authorization": f"bearer {token}"})
            assert ok.status_code == 200, ok.text
        doc = http.get("/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"}).json()
        assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        assert doc["paths"]["/health"]["get"]["security"] == []


def test_bad_api_options_are_refused_at_once(mem: DataFlow) -> None:
    with pytest.raises(ConfigurationError, match="at least 8 characters"):
        mem.api(token="short")
    with pytest.raises(ConfigurationError, match="token"):
        mem.api(token=[])
    with pytest.raises(ConfigurationError, match="max_limit"):
        mem.api(max_limit=0)
    with pytest.raises(ConfigurationError, match="default_limit"):
        mem.api(default_limit=5000)
    with pytest.raises(ConfigurationError, match="not both"):
        mem.api(models=["User"], tables=["users"])
    with pytest.raises(ConfigurationError, match="non-empty list"):
        mem.api(models=[])
    with pytest.raises(ModelError) as unknown:
        mem.api(tables=["usres"])
    assert unknown.value.details["suggestions"] == ["users"]
    with pytest.raises(ConfigurationError, match="header name"):
        mem.api(tenant="X Tenant")
    with pytest.raises(ConfigurationError, match="did you mean 'token'"):
        mem.api(toke=TOKEN)
    with pytest.raises(ConfigurationError, match="no models"):
        DataFlow().api()


def test_read_only_serves_no_writes(mem: DataFlow, serve: Serve) -> None:
    one(mem, "UserCreateNode", {"name": "ann", "age": 3})
    with serve(mem.api(read_only=True)) as http:
        doc = http.get("/openapi.json").json()
        assert set(doc["paths"]["/users"]) == {"get"}
        assert set(doc["paths"]["/users/{id}"]) == {"get"}
        assert not [p for p in doc["paths"] if "/bulk/" in p]
        assert "UserCreate" not in doc["components"]["schemas"]
        for method, path in [
            ("POST", "/users"),
            ("PATCH", "/users/1"),
            ("DELETE", "/users/1"),
            ("POST", "/users/bulk/delete"),
        ]:
            body = problem(http.request(method, path, json={"all": True}), 403, "DF-READ-ONLY")
            assert "read-only" in body["detail"]
        assert http.get("/users/1").json()["name"] == "ann"
    assert one(mem, "UserCountNode", {})["count"] == 1


def test_a_read_only_database_and_a_table_without_key(tmp_path: Path, serve: Serve) -> None:
    path = tmp_path / "legacy.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE events (kind TEXT NOT NULL, at TEXT)")
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT NOT NULL)")
        conn.execute("INSERT INTO events VALUES ('boot', '2024-01-01')")
        conn.execute("INSERT INTO items VALUES (1, 'one')")
    conn.close()
    db = DataFlow(f"sqlite:///{path}", existing_schema_mode=True, read_only=True)
    db.register_schema_as_models()
    with serve(db.api()) as http:
        doc = http.get("/openapi.json").json()
        assert "This API is read-only." in doc["info"]["description"]
        assert "/events/{id}" not in str(doc["paths"])  # no key: listed, never addressed
        assert http.get("/events").json()["records"] == [{"kind": "boot", "at": "2024-01-01"}]
        problem(http.post("/items", json={"label": "two"}), 403, "DF-READ-ONLY")
    db.close()
    writable = DataFlow(f"sqlite:///{path}", existing_schema_mode=True)
    writable.register_schema_as_models()
    with serve(writable.api()) as http:
        body = problem(http.post("/events", json={"kind": "x"}), 403, "DF-READ-ONLY")
        assert "primary key" in body["detail"]
        assert http.post("/items", json={"label": "two"}).status_code == 201
    writable.close()


def test_hostile_requests_get_problems(mem: DataFlow, serve: Serve) -> None:
    with serve(mem.api(max_body_bytes=4096)) as http:
        headers = {"Content-Type": "application/json"}
        problem(http.post("/users", content=b"{", headers=headers), 400, "DF-API-MALFORMED-JSON")
        problem(http.post("/users", content=b"", headers=headers), 400, "DF-API-MALFORMED-JSON")
        problem(
            http.post("/users", content=b'{"name": "a", "age": NaN}', headers=headers),
            400,
            "DF-API-MALFORMED-JSON",
        )
        problem(
            http.post("/users", content=b'{"name": "a", "age": 1e999}', headers=headers),
            400,
            "DF-API-MALFORMED-JSON",
        )
        problem(
            http.post("/users", content=b'{"name": "a", "name": "b", "age": 1}', headers=headers),
            400,
            "DF-API-MALFORMED-JSON",
        )
        problem(
            http.post("/users", content=b"\xff\xfe", headers=headers), 400, "DF-API-MALFORMED-JSON"
        )
        deep = b"[" * 1500 + b"]" * 1500
        problem(http.post("/users", content=deep, headers=headers), 400, "DF-API-MALFORMED-JSON")
        problem(
            http.post("/users", content=b"name=a", headers={"Content-Type": "text/plain"}),
            415,
            "DF-API-MEDIA-TYPE",
        )
        big = json.dumps({"name": "x" * 10_000, "age": 1}).encode()
        problem(http.post("/users", content=big, headers=headers), 413, "DF-API-BODY-TOO-LARGE")
        problem(http.put("/users"), 405, "DF-API-METHOD-NOT-ALLOWED")
        problem(http.get("/nowhere"), 404, "DF-API-NOT-FOUND")
        problem(http.get("/users/1", params={"x": "1"}), 422, "DF-PARAM-UNKNOWN")
        problem(http.get("/users?limit=1&limit=2"), 422, "DF-PARAM-DUPLICATE")
        problem(http.get("/users/99999999999999999999"), 422, "DF-PARAM-TYPE")
        deep_filter = json.dumps({"$and": [{"$or": [{"age": 1}]}]} | {"name": "a" * 5_000})
        assert http.get("/users", params={"filter": deep_filter}).status_code == 200
    assert one(mem, "UserCountNode", {})["count"] == 0


def test_a_bulk_request_lists_its_first_hundred_problems(mem: DataFlow, serve: Serve) -> None:
    with serve(mem.api()) as http:
        many = {"data": [{"name": i, "age": "x"} for i in range(300)]}
        listed = problem(http.post("/users/bulk/create", json=many), 422, "DF-WORKFLOW-INVALID")
        assert listed["details"]["problems"] == 600 and len(listed["errors"]) == 100
    assert one(mem, "UserCountNode", {})["count"] == 0


def test_an_unreachable_database_is_503(serve: Serve) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = users(DataFlow(f"postgresql://postgres@127.0.0.1:{port}/nowhere"))
    with serve(db.api()) as http:
        down = http.get("/health")
        problem(down, 503, "DF-DB-CONNECT")
        assert down.headers["retry-after"] == "1"
        assert "Traceback" not in down.text
        problem(http.get("/users"), 503, "DF-DB-CONNECT")
        problem(http.post("/users", json={"name": "a", "age": 1}), 503, "DF-DB-CONNECT")


@pytest.mark.skipif(not tenancy_available(), reason="the runtime takes no tenant_id")
def test_each_tenant_sees_only_its_records(db: DataFlow, serve: Serve) -> None:
    @db.model
    class Note:
        text: str
        __dataflow__ = {"multi_tenant": True}

    with pytest.raises(ConfigurationError, match="multi-tenant"):
        db.api()
    with serve(db.api(tenant="X-Tenant-ID")) as http:
        a = {"X-Tenant-ID": "acme"}
        b = {"X-Tenant-ID": "globex"}
        first = http.post("/notes", json={"text": "a1"}, headers=a).json()
        http.post("/notes/bulk/create", json={"data": [{"text": "b1"}, {"text": "b2"}]}, headers=b)
        assert [r["text"] for r in http.get("/notes", headers=a).json()["records"]] == ["a1"]
        assert http.get("/notes/count", headers=b).json() == {"count": 2}
        problem(http.get(f"/notes/{first['id']}", headers=b), 404, "DF-NOT-FOUND")
        problem(http.delete(f"/notes/{first['id']}", headers=b), 404, "DF-NOT-FOUND")
        everything = {"filter": {}, "all": True}
        assert http.post("/notes/bulk/delete", json=everything, headers=b).json() == {"deleted": 2}
        assert http.get("/notes/count", headers=a).json() == {"count": 1}
        problem(http.get("/notes"), 400, "DF-API-TENANT-REQUIRED")
        long = {"X-Tenant-ID": "t" * 300}
        problem(http.get("/notes", headers=long), 400, "DF-API-TENANT-INVALID")
        doc = http.get("/openapi.json").json()
        header = doc["paths"]["/notes"]["get"]["parameters"][0]
        assert header["name"] == "X-Tenant-ID" and header["required"] is True

    def from_subdomain(request: object) -> str | None:
        host = str(request.headers.get("host", ""))  # type: ignore[attr-defined]
        return host.split(".")[0] if host.endswith(".example.com") else None

    with serve(db.api(tenant=from_subdomain)) as http:
        listed = http.get("/notes", headers={"Host": "acme.example.com"}).json()
        assert [r["text"] for r in listed["records"]] == ["a1"]
        problem(http.get("/notes"), 400, "DF-API-TENANT-REQUIRED")
