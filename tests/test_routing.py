"""Several databases in one DataFlow, and read replicas, on real servers.

Replication is not set up here: a "replica" is a second database of the same kind that
the test fills with different rows, so a test can tell which database answered a read.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from dataflow_engine import (
    ConfigurationError,
    DataFlow,
    ModelError,
    ReadOnlyError,
    SchemaError,
    UniqueViolation,
    WorkflowError,
    _loop,
)
from tests.conftest import (
    MYSQL_ADMIN_URL,
    PG_ADMIN_URL,
    RUN_TAG,
    mysql_admin,
    mysql_url,
    pg_admin,
    pg_url,
)
from tests.support import one, run

KINDS = ["sqlite", "postgresql", "mysql"]
#: (primary, analytics): dialects differ in every pair.
PAIRS = [("sqlite", "postgresql"), ("postgresql", "mysql"), ("mysql", "sqlite")]
UNREACHABLE = {
    "postgresql": "postgresql://postgres@127.0.0.1:1/nothing",
    "mysql": "mysql://root@127.0.0.1:1/nothing",
}

MakeDatabase = Callable[[str], str]


# -- databases and helpers ----------------------------------------------------------------


@pytest.fixture
def make_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeDatabase]:
    """Creates a fresh, empty database of a kind and returns its URL; each is removed after
    the test."""
    drops: list[Callable[[], None]] = []

    def make(kind: str) -> str:
        name = f"dataflow_test_{RUN_TAG}_{uuid.uuid4().hex[:8]}"
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / (name + '.db')}"
        if kind == "postgresql":
            request.getfixturevalue("pg_database")  # skips (or fails) without a server
            pg_admin(f'CREATE DATABASE "{name}"')
            drops.append(lambda: pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return pg_url(name)
        request.getfixturevalue("mysql_server")
        mysql_admin(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        drops.append(lambda: mysql_admin(f"DROP DATABASE IF EXISTS `{name}`"))
        return mysql_url(name)

    yield make
    for drop in reversed(drops):
        drop()


def database_name(url: str) -> str:
    return url.rsplit("/", 1)[1].split("?")[0]


async def _pg_fetch(sql: str, *args: Any) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def pg_connections(url: str) -> int:
    """How many sessions are connected to the database ``url`` names."""
    rows = asyncio.run(
        _pg_fetch("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", database_name(url))
    )
    return int(rows[0][0])


def no_connections_left(url: str) -> bool:
    """Whether every session to ``url``'s database has ended (the server ends a closed
    session's backend a moment after the client let go, so this waits for that)."""
    for _ in range(100):
        if pg_connections(url) == 0:
            return True
        asyncio.run(asyncio.sleep(0.05))
    return False


async def _mysql_kill(user: str) -> None:
    import asyncmy

    from dataflow_engine.config import parse_url

    url = parse_url(MYSQL_ADMIN_URL)
    conn = await asyncmy.connect(
        host=url.host, port=url.port or 3306, user=url.username, password=url.password or ""
    )
    try:
        async with conn.cursor() as cur:
            await cur.execute(
                "SELECT id FROM information_schema.processlist WHERE user = %s", (user,)
            )
            for (pid,) in await cur.fetchall():
                try:
                    await cur.execute(f"KILL CONNECTION {int(pid)}")
                except Exception:  # the session ended by itself meanwhile
                    pass
    finally:
        conn.close()


def item_model(db: DataFlow) -> DataFlow:
    @db.model
    class Item:
        name: str
        qty: int = 0

    return db


def seed_items(url: str, names: list[str]) -> None:
    """Rows written to ``url`` directly (as replication would have copied them)."""
    with item_model(DataFlow(url)) as plain:
        one(plain, "ItemBulkCreateNode", {"data": [{"name": n} for n in names]})


def item_names(db: DataFlow, **kwargs: Any) -> list[str]:
    records = one(db, "ItemListNode", {"order_by": ["name"]}, **kwargs)["records"]
    return [r["name"] for r in records]


def names_in(url: str) -> list[str]:
    with item_model(DataFlow(url)) as plain:
        return item_names(plain)


class Recorder(logging.Handler):
    """Every statement logged by ``echo``, with the database that received it."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def statements(self, *, replica: bool) -> list[str]:
        return [str(r.args[0]) for r in self.records if r.replica is replica]  # type: ignore[attr-defined, index]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    handler = Recorder()
    logger = logging.getLogger("dataflow_engine.sql")
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old)


def replica_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "dataflow_engine" and r.levelno == logging.WARNING and "replica" in r.msg
    ]


# -- read replicas --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_reads_go_to_the_replica_and_writes_to_the_primary(
    kind: str, make_database: MakeDatabase
) -> None:
    primary, replica = make_database(kind), make_database(kind)
    seed_items(replica, ["on-replica"])
    with item_model(DataFlow(primary, read_replica=replica)) as db:
        created = one(db, "ItemCreateNode", {"name": "written"})
        assert item_names(db) == ["on-replica"]
        assert one(db, "ItemCountNode", {})["count"] == 1
        assert one(db, "ItemReadNode", {"filter": {"name": "on-replica"}})["found"] is True
        counted = one(db, "ItemListNode", {"aggregate": [{"$count": "n"}]})["records"]
        assert counted == [{"n": 1}]
        one(db, "ItemUpdateNode", {"id": created["id"], "fields": {"qty": 5}})
        one(db, "ItemBulkCreateNode", {"data": [{"name": "bulk"}]})
    with item_model(DataFlow(primary)) as plain:
        rows = one(plain, "ItemListNode", {"order_by": ["name"]})["records"]
        assert [(r["name"], r["qty"]) for r in rows] == [("bulk", 0), ("written", 5)]
    assert names_in(replica) == ["on-replica"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_run_reads_what_it_wrote_from_the_primary(kind: str, make_database: MakeDatabase) -> None:
    primary, replica = make_database(kind), make_database(kind)
    seed_items(replica, ["on-replica"])
    with item_model(DataFlow(primary, read_replica=replica)) as db:
        results = run(
            db,
            ("ItemListNode", "before", {}),
            ("ItemCreateNode", "create", {"name": "new"}),
            ("ItemListNode", "after", {}),
            ("ItemCountNode", "count", {}),
        )
        assert [r["name"] for r in results["before"]["records"]] == ["on-replica"]
        assert [r["name"] for r in results["after"]["records"]] == ["new"]
        assert results["count"]["count"] == 1
        # Read-your-writes lasts for the run: the next run that only reads uses the replica.
        assert item_names(db) == ["on-replica"]
        # Inside a workflow transaction every statement goes to the primary.
        assert item_names(db, transaction=True) == ["new"]


@pytest.mark.parametrize("kind", KINDS)
def test_only_reads_reach_the_replica(
    kind: str, make_database: MakeDatabase, recorder: Recorder
) -> None:
    primary, replica = make_database(kind), make_database(kind)
    seed_items(replica, ["on-replica"])
    with item_model(DataFlow(primary, read_replica=replica, echo=True)) as db:
        created = one(db, "ItemCreateNode", {"name": "a"})
        one(db, "ItemUpdateNode", {"id": created["id"], "fields": {"qty": 2}})
        one(
            db,
            "ItemUpsertNode",
            {"where": {"name": "b"}, "create": {"name": "b"}, "update": {"qty": 1}},
        )
        one(db, "ItemBulkCreateNode", {"data": [{"name": "c"}, {"name": "d"}]})
        one(db, "ItemBulkUpdateNode", {"filter": {"name": "c"}, "update": {"$inc": {"qty": 1}}})
        one(db, "ItemBulkUpsertNode", {"data": [{"name": "e"}], "match_fields": ["name"]})
        one(db, "ItemBulkDeleteNode", {"filter": {"name": "d"}})
        one(db, "ItemDeleteNode", {"id": created["id"]})
        item_names(db)
        one(db, "ItemCountNode", {"filter": {"qty": {"$gte": 0}}})
        one(db, "ItemReadNode", {"filter": {"name": "on-replica"}})
        one(db, "ItemListNode", {"aggregate": [{"$group": {"_id": "$name", "n": {"$sum": 1}}}]})
        one(db, "ItemListNode", {"limit": 1, "with_total": True})
    sent = recorder.statements(replica=True)
    assert sent, "no statement reached the replica"
    for sql in sent:
        head = sql.lstrip("( \n").split(None, 1)[0].upper()
        # MySQL sessions are set up with SET (time zone, and the read-only transaction mode).
        assert head in ("SELECT", "WITH") or (kind == "mysql" and head == "SET"), sql
    if kind == "mysql":
        assert "SET SESSION TRANSACTION READ ONLY" in sent
    on_primary = recorder.statements(replica=False)
    for verb in ("INSERT", "UPDATE", "DELETE"):
        assert any(s.lstrip().upper().startswith(verb) for s in on_primary), verb
    assert names_in(replica) == ["on-replica"]


@pytest.mark.parametrize("kind", KINDS)
def test_the_replica_session_is_read_only_on_the_server(
    kind: str, make_database: MakeDatabase
) -> None:
    primary, replica = make_database(kind), make_database(kind)
    seed_items(replica, ["on-replica"])
    with item_model(DataFlow(primary, read_replica=replica)) as db:
        item_names(db)
        database = db._databases["primary"]
        table = database.dialect.table(db.get_model("Item"))

        async def through_the_engine() -> None:
            async with database.acquire_read() as conn:
                await conn.execute(f"DELETE FROM {table}")

        with pytest.raises(ReadOnlyError) as refused:
            _loop.run_sync(through_the_engine())
        assert refused.value.code == "DF-READ-ONLY-REPLICA"

        async def below_the_engine() -> None:  # what a bug past that check would meet
            async with database.replicas[0].acquire() as conn:
                await conn.execute(f"DELETE FROM {table}")

        with pytest.raises(ReadOnlyError):
            _loop.run_sync(below_the_engine())
    assert names_in(replica) == ["on-replica"]


@pytest.mark.parametrize("kind", KINDS)
def test_an_unreachable_replica_sends_reads_to_the_primary_with_a_warning(
    kind: str, make_database: MakeDatabase, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    primary = make_database(kind)
    seed_items(primary, ["on-primary"])
    missing = UNREACHABLE.get(kind, f"sqlite:///{tmp_path / 'no' / 'such.db'}")
    caplog.set_level(logging.WARNING, logger="dataflow_engine")
    with item_model(DataFlow(primary, read_replica=missing)) as db:
        assert item_names(db) == ["on-primary"]
        assert one(db, "ItemCountNode", {})["count"] == 1
        warnings = replica_warnings(caplog)
        # Said once, then the replica is left alone for a while (not retried per read).
        assert len(warnings) == 1
        assert "unreachable" in warnings[0] and "the database itself" in warnings[0]


def test_a_replica_lost_during_use_hands_reads_to_the_primary_until_it_is_back_pg(
    make_database: MakeDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    primary, replica = make_database("postgresql"), make_database("postgresql")
    seed_items(primary, ["on-primary"])
    seed_items(replica, ["on-replica"])
    name = database_name(replica)
    caplog.set_level(logging.WARNING, logger="dataflow_engine")
    with item_model(DataFlow(primary, read_replica=replica)) as db:
        db._databases["primary"].retry_after = 0  # try the replica again on every read
        assert item_names(db) == ["on-replica"]
        pg_admin(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        pg_admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        )
        try:
            assert item_names(db) == ["on-primary"]
            assert replica_warnings(caplog)
        finally:
            pg_admin(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        assert item_names(db) == ["on-replica"]


def test_a_replica_lost_during_use_hands_reads_to_the_primary_until_it_is_back_mysql(
    make_database: MakeDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    primary, replica = make_database("mysql"), make_database("mysql")
    seed_items(primary, ["on-primary"])
    seed_items(replica, ["on-replica"])
    # The replica is read through an account that may only SELECT, as replicas often are.
    user = f"dfr_{uuid.uuid4().hex[:8]}"
    mysql_admin(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'Se#cret$1'")
    try:
        mysql_admin(f"GRANT SELECT ON `{database_name(replica)}`.* TO '{user}'@'%'")
        reader = replica.replace("root@", f"{user}:Se#cret$1@", 1)
        caplog.set_level(logging.WARNING, logger="dataflow_engine")
        with item_model(DataFlow(primary, read_replica=reader)) as db:
            db._databases["primary"].retry_after = 0
            assert item_names(db) == ["on-replica"]
            mysql_admin(f"ALTER USER '{user}'@'%' ACCOUNT LOCK")
            asyncio.run(_mysql_kill(user))
            try:
                assert item_names(db) == ["on-primary"]
                assert replica_warnings(caplog)
            finally:
                mysql_admin(f"ALTER USER '{user}'@'%' ACCOUNT UNLOCK")
            assert item_names(db) == ["on-replica"]
    finally:
        mysql_admin(f"DROP USER IF EXISTS '{user}'@'%'")


@pytest.mark.parametrize("kind", KINDS)
def test_reads_take_turns_over_several_replicas_and_skip_an_unreachable_one(
    kind: str, make_database: MakeDatabase, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    primary, first, second = make_database(kind), make_database(kind), make_database(kind)
    seed_items(first, ["first"])
    seed_items(second, ["second"])
    with item_model(DataFlow(primary, read_replica=[first, second])) as db:
        seen = [item_names(db) for _ in range(4)]
        assert sorted(map(tuple, seen)) == [("first",), ("first",), ("second",), ("second",)]
    missing = UNREACHABLE.get(kind, f"sqlite:///{tmp_path / 'no' / 'such.db'}")
    caplog.set_level(logging.WARNING, logger="dataflow_engine")
    with item_model(DataFlow(primary, read_replica=[missing, second])) as db:
        assert [item_names(db) for _ in range(3)] == [["second"]] * 3
        assert len(replica_warnings(caplog)) == 1
        assert "another replica" in replica_warnings(caplog)[0]


def test_replica_pools_open_on_first_read_and_close_with_the_dataflow(
    make_database: MakeDatabase,
) -> None:
    primary, replica, analytics = (make_database("postgresql") for _ in range(3))
    seed_items(replica, ["on-replica"])
    assert no_connections_left(replica)
    db = item_model(DataFlow(primary, read_replica=replica, databases={"analytics": analytics}))
    try:
        one(db, "ItemCreateNode", {"name": "written"})
        assert pg_connections(replica) == 0 and pg_connections(analytics) == 0
        assert item_names(db) == ["on-replica"]
        assert pg_connections(replica) > 0 and pg_connections(analytics) == 0
    finally:
        db.close()
    assert no_connections_left(primary) and no_connections_left(replica)


# -- several databases -------------------------------------------------------------------------


def two_databases(db: DataFlow) -> DataFlow:
    @db.model
    class Customer:
        name: str
        email: str
        balance: Decimal = Decimal("0")
        active: bool = True
        __dataflow__ = {"unique": [["email"]]}

    @db.model
    class Event:
        customer_id: int
        kind: str
        payload: dict  # type: ignore[type-arg]
        at: dt.datetime
        __dataflow__ = {"database": "analytics", "indexes": [["kind"]], "unique": [["kind", "at"]]}

    return db


def tables_in(url: str) -> set[str]:
    with DataFlow(url, existing_schema_mode=True) as plain:
        return set(plain.discover_schema())


@pytest.mark.parametrize(("primary_kind", "analytics_kind"), PAIRS)
def test_each_model_lives_in_its_own_database(
    primary_kind: str, analytics_kind: str, make_database: MakeDatabase
) -> None:
    primary, analytics = make_database(primary_kind), make_database(analytics_kind)
    at = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)
    with two_databases(DataFlow(primary, databases={"analytics": analytics})) as db:
        customer = one(
            db,
            "CustomerCreateNode",
            {"name": "Ann", "email": "a@x.io", "balance": Decimal("10.25")},
        )
        assert customer["balance"] == Decimal("10.25") and customer["active"] is True
        event = one(
            db,
            "EventCreateNode",
            {"customer_id": customer["id"], "kind": "signup", "payload": {"n": [1, 2]}, "at": at},
        )
        assert event["payload"] == {"n": [1, 2]} and event["at"] == at
        assert one(db, "EventReadNode", {"id": event["id"]})["kind"] == "signup"
        one(db, "EventUpdateNode", {"id": event["id"], "fields": {"payload": {"n": []}}})
        one(
            db,
            "EventBulkUpsertNode",
            {
                "data": [
                    {"customer_id": 1, "kind": "signup", "payload": {"n": [3]}, "at": at},
                    {"customer_id": 1, "kind": "login", "payload": {}, "at": at},
                ],
                "match_fields": ["kind", "at"],
            },
        )
        found = one(db, "EventListNode", {"filter": {"kind": {"$regex": "^sign"}}})["records"]
        assert [(r["kind"], r["payload"]) for r in found] == [("signup", {"n": [3]})]
        assert one(db, "EventCountNode", {})["count"] == 2
        assert one(db, "CustomerCountNode", {"filter": {"balance": {"$gt": Decimal("10.2")}}}) == {
            "count": 1
        }
        plan = db.explain("Event", filter={"kind": "login"})
        assert "events" in plan["sql"]
        assert set(db.discover_schema(database="analytics")) == {"events"}
        assert db.describe()["databases"]["analytics"]["dialect"] == analytics_kind
    assert "customers" in tables_in(primary) and "events" not in tables_in(primary)
    # The model registry lives in the primary only.
    assert tables_in(analytics) == {"events"}


@pytest.mark.parametrize(("primary_kind", "analytics_kind"), PAIRS)
def test_a_workflow_touches_both_databases_with_a_transaction_in_each(
    primary_kind: str, analytics_kind: str, make_database: MakeDatabase
) -> None:
    primary, analytics = make_database(primary_kind), make_database(analytics_kind)
    at = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    with two_databases(DataFlow(primary, databases={"analytics": analytics})) as db:
        one(db, "CustomerCreateNode", {"name": "Old", "email": "old@x.io"})
        nodes = (
            ("CustomerCreateNode", "customer", {"name": "Bo", "email": "bo@x.io"}),
            ("EventCreateNode", "event", {"kind": "signup", "payload": {}, "at": at}),
            ("EventCountNode", "events", {}),
            ("CustomerCreateNode", "again", {"name": "Dup", "email": "old@x.io"}),
        )
        links = (("customer", "id", "event", "customer_id"),)
        with pytest.raises(WorkflowError) as failed:
            run(db, *nodes, connections=links, transaction=True)
        assert isinstance(failed.value, UniqueViolation)
        assert failed.value.node_id == "again"
        # Inside the transaction the event count saw the event; both were rolled back.
        assert failed.value.results["events"]["count"] == 1
        assert one(db, "EventCountNode", {})["count"] == 0
        assert one(db, "CustomerCountNode", {})["count"] == 1

        results = run(db, *nodes[:3], connections=links, transaction=True)
        customer_id = results["customer"]["id"]
        assert results["event"]["customer_id"] == customer_id
        events = one(db, "EventListNode", {"filter": {"customer_id": customer_id}})
        assert [r["kind"] for r in events["records"]] == ["signup"]
        assert one(db, "CustomerCountNode", {})["count"] == 2

        # Without a transaction each node commits on its own: the event stays.
        with pytest.raises(WorkflowError):
            event = {"customer_id": 9, "kind": "later", "payload": {}, "at": at}
            run(db, ("EventCreateNode", "event", event), nodes[3])
        assert one(db, "EventCountNode", {})["count"] == 2


def test_replicas_per_database_and_read_your_writes_per_database(
    make_database: MakeDatabase,
) -> None:
    primary = make_database("sqlite")
    analytics, replica = make_database("postgresql"), make_database("postgresql")
    at = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    # The replica's own copy of the events table, with a row of its own.
    with two_databases(DataFlow("sqlite://", databases={"analytics": replica})) as seeding:
        one(
            seeding,
            "EventCreateNode",
            {"customer_id": 0, "kind": "copied", "payload": {}, "at": at},
        )
    with two_databases(
        DataFlow(primary, databases={"analytics": analytics}, read_replica={"analytics": replica})
    ) as db:
        results = run(
            db,
            ("CustomerCreateNode", "customer", {"name": "Ann", "email": "a@x.io"}),
            ("CustomerCountNode", "customers", {}),
            ("EventListNode", "events", {}),
        )
        assert results["customers"]["count"] == 1  # the primary has no replica
        # Writing to the primary does not send the analytics reads away from their replica.
        assert [r["kind"] for r in results["events"]["records"]] == ["copied"]
        results = run(
            db,
            (
                "EventCreateNode",
                "event",
                {"customer_id": 1, "kind": "fresh", "payload": {}, "at": at},
            ),
            ("EventListNode", "events", {}),
        )
        assert [r["kind"] for r in results["events"]["records"]] == ["fresh"]


def test_settings_apply_to_every_database(make_database: MakeDatabase) -> None:
    primary, analytics = make_database("sqlite"), make_database("postgresql")
    at = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    event = {"customer_id": 1, "kind": "k", "payload": {}, "at": at}
    with item_model(DataFlow(primary)) as plain:  # read-only mode needs the file to exist
        plain.create_tables()
    read_only = two_databases(DataFlow(primary, databases={"analytics": analytics}, read_only=True))
    with read_only, pytest.raises(ReadOnlyError):
        one(read_only, "EventCreateNode", event)
    with (
        two_databases(
            DataFlow(primary, databases={"analytics": analytics}, existing_schema_mode=True)
        ) as db,
        pytest.raises(SchemaError),
    ):
        one(db, "EventListNode", {})
    assert tables_in(analytics) == set()  # neither mode ran DDL there
    with (
        two_databases(
            DataFlow(primary, databases={"analytics": analytics}, auto_migrate=False)
        ) as db,
        pytest.raises(SchemaError),
    ):
        one(db, "EventCreateNode", event)
    assert tables_in(analytics) == set()


def test_the_registry_remembers_where_each_model_lives(make_database: MakeDatabase) -> None:
    primary, analytics = make_database("sqlite"), make_database("sqlite")
    at = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    with two_databases(DataFlow(primary, databases={"analytics": analytics})) as db:
        one(db, "EventCreateNode", {"customer_id": 1, "kind": "k", "payload": {}, "at": at})
        db.create_tables()
    with DataFlow(primary, databases={"analytics": analytics}) as later:
        assert sorted(later.reconstruct_models_from_registry()) == ["Customer", "Event"]
        assert later.get_model("Event").database == "analytics"
        assert one(later, "EventCountNode", {})["count"] == 1
    with DataFlow(primary) as without:
        with pytest.raises(ModelError) as unknown:
            without.reconstruct_models_from_registry()
        assert unknown.value.code == "DF-MODEL-UNKNOWN-DATABASE"
        assert without.list_models() == []  # none registered, not some


def test_existing_tables_of_another_database_are_registered_there(
    make_database: MakeDatabase,
) -> None:
    primary, analytics = make_database("sqlite"), make_database("postgresql")
    seed_items(analytics, ["there"])
    with DataFlow(primary, databases={"analytics": analytics}, existing_schema_mode=True) as db:
        out = db.register_schema_as_models(["items"], database="analytics")
        assert out["registered_models"] == ["Item"]
        assert db.get_model("Item").database == "analytics"
        rows = one(db, "ItemListNode", {})["records"]
        assert [r["name"] for r in rows] == ["there"]
        with pytest.raises(ConfigurationError) as unknown:
            db.discover_schema(database="reports")
        assert unknown.value.code == "DF-CONFIG-UNKNOWN-DATABASE"
        assert "'primary', 'analytics'" in unknown.value.message


# -- bad configuration -------------------------------------------------------------------------


def test_a_model_naming_an_unknown_database_is_refused_at_definition() -> None:
    with DataFlow("sqlite://", databases={"analytics": "sqlite://"}) as db:
        with pytest.raises(ModelError) as refused:

            @db.model
            class Report:
                title: str
                __dataflow__ = {"database": "reports"}

        err = refused.value
        assert err.code == "DF-MODEL-UNKNOWN-DATABASE"
        assert err.details["databases"] == ["primary", "analytics"]
        assert "'reports'" in err.message and "'analytics'" in err.message
        assert db.list_models() == [] and "ReportCreateNode" not in db.nodes


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"databases": "postgresql://h/db"}, "DF-CONFIG-DATABASES"),
        ({"databases": {"primary": "sqlite://"}}, "DF-CONFIG-DATABASES"),
        ({"databases": {"": "sqlite://"}}, "DF-CONFIG-DATABASES"),
        ({"databases": {"a'; DROP TABLE x; --": "sqlite://"}}, "DF-CONFIG-DATABASES"),
        ({"databases": {"ünïcode": "sqlite://"}}, "DF-CONFIG-DATABASES"),
        ({"databases": {"x" * 64: "sqlite://"}}, "DF-CONFIG-DATABASES"),
        ({"databases": {1: "sqlite://"}}, "DF-CONFIG-DATABASES"),
        ({"databases": {"analytics": 5}}, "DF-CONFIG-URL"),
        ({"databases": {"analytics": "oracle://h/db"}}, "DF-CONFIG-URL"),
        ({"read_replica": []}, "DF-CONFIG-REPLICA"),
        ({"read_replica": {"primary": []}}, "DF-CONFIG-REPLICA"),
        ({"read_replica": 5}, "DF-CONFIG-REPLICA"),
        ({"read_replica": {"analytics": "sqlite:///r.db"}}, "DF-CONFIG-REPLICA"),
        ({"read_replica": "postgresql://h/db"}, "DF-CONFIG-REPLICA"),
        ({"read_replica": "sqlite://"}, "DF-CONFIG-REPLICA"),
        ({"read_replica": ["sqlite:///r.db", "nonsense"]}, "DF-CONFIG-URL"),
    ],
)
def test_bad_routing_options_are_refused_before_anything_opens(
    options: dict[str, Any], code: str, tmp_path: Path
) -> None:
    path = tmp_path / "primary.db"
    with pytest.raises(ConfigurationError) as refused:
        DataFlow(f"sqlite:///{path}", **options)
    assert refused.value.code == code
    assert not path.exists()


def test_a_replica_url_may_come_from_the_environment(
    make_database: MakeDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    primary, replica = make_database("sqlite"), make_database("sqlite")
    seed_items(replica, ["on-replica"])
    monkeypatch.setenv("DATAFLOW_READ_REPLICA_URL", replica)
    with item_model(DataFlow(primary)) as db:
        assert item_names(db) == ["on-replica"]
