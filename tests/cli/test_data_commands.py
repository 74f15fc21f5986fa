"""``dataflow discover / query / import / export``, run as a user runs them: the real
command in a subprocess, against SQLite files, PostgreSQL and MySQL."""

from __future__ import annotations

import base64
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from dataflow_engine import DataFlow
from tests.support import one

from .conftest import dataflow, every_backend, sql

UTC = dt.UTC

SHOP = (
    "CREATE TABLE customers (id INTEGER NOT NULL, name VARCHAR(100) NOT NULL, PRIMARY KEY (id))",
    "CREATE TABLE orders (id INTEGER NOT NULL, customer_id INTEGER NOT NULL, "
    "total NUMERIC(10,2) NOT NULL, note VARCHAR(200), PRIMARY KEY (id), "
    "FOREIGN KEY (customer_id) REFERENCES customers (id))",
    "CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 100",
    "INSERT INTO customers (id, name) VALUES (1, 'Ann'), (2, 'Bob')",
    "INSERT INTO orders (id, customer_id, total, note) VALUES "
    "(1, 1, 50.00, NULL), (2, 1, 150.50, 'rush'), (3, 2, 999.99, '')",
)

#: A SQLite table as another application declares it: the declared types give exact kinds.
THINGS = (
    "CREATE TABLE {name} (code TEXT NOT NULL PRIMARY KEY, label TEXT, "
    "price NUMERIC(12,2) NOT NULL, qty INTEGER NOT NULL, ratio REAL, active BOOLEAN NOT NULL, "
    "born DATE, seen TIMESTAMP, at TIME, payload BLOB, meta JSON)"
)

READINGS = (
    "CREATE TABLE readings (code VARCHAR(20) NOT NULL, qty INTEGER NOT NULL, "
    "price NUMERIC(12,2), label VARCHAR(100), PRIMARY KEY (code))"
)


_ITEM_TYPES = {
    "sqlite": "code TEXT NOT NULL, label TEXT, price NUMERIC(12,2) NOT NULL, "
    "qty INTEGER NOT NULL, ratio REAL, active BOOLEAN NOT NULL, born DATE, seen TIMESTAMP, "
    "at TIME, payload BLOB, meta JSON",
    "postgresql": "code VARCHAR(100) NOT NULL, label TEXT, price NUMERIC(12,2) NOT NULL, "
    "qty BIGINT NOT NULL, ratio DOUBLE PRECISION, active BOOLEAN NOT NULL, born DATE, "
    "seen TIMESTAMPTZ, at TIME, payload BYTEA, meta JSONB",
    "mysql": "code VARCHAR(100) NOT NULL, label TEXT, price DECIMAL(12,2) NOT NULL, "
    "qty BIGINT NOT NULL, ratio DOUBLE, active BOOLEAN NOT NULL, born DATE, "
    "seen DATETIME(6), at TIME, payload LONGBLOB, meta JSON",
}


def _items(url: str, *tables: str) -> None:
    """Tables of every tricky type, as another application would declare them."""
    from dataflow_engine.config import parse_url

    columns = _ITEM_TYPES[parse_url(url).dialect]
    sql(url, *(f"CREATE TABLE {t} ({columns}, PRIMARY KEY (code))" for t in tables))


def _fill(url: str, table: str, rows: list[dict[str, Any]]) -> None:
    with DataFlow(url, existing_schema_mode=True) as db:
        result = db.register_schema_as_models(tables=[table])
        model = db.get_model(result["registered_models"][0])
        one(db, model.node_names["BulkCreate"], {"data": rows})


ITEMS = [
    {
        "code": "a",
        "label": "plain",
        "price": Decimal("1.50"),
        "qty": 1,
        "ratio": 0.1 + 0.2,
        "active": True,
        "born": dt.date(2024, 2, 29),
        "seen": dt.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "at": dt.time(12, 30, 15),
        "payload": b"\x00\x01\xff",
        "meta": {"k": [1, "é", None], "nested": {"x": 1.25}},
    },
    {
        "code": 'b, "quoted"\nsecond line',
        "label": "",
        "price": Decimal("-0.01"),
        "qty": -(2**62),
        "ratio": None,
        "active": False,
        "born": None,
        "seen": None,
        "at": None,
        "payload": b"",
        "meta": None,
    },
    {
        "code": "ünï😀 ",
        "label": None,
        "price": Decimal("12345678.90"),
        "qty": 0,
        "ratio": -1.5e300,
        "active": True,
        "born": dt.date(1999, 12, 31),
        "seen": dt.datetime(2030, 6, 1, 23, 59, 59, tzinfo=UTC),
        "at": dt.time(0, 0),
        "payload": bytes(range(256)),
        "meta": {"quote": '"', "comma": ",", "newline": "\n"},
    },
]


def _rows(url: str, table: str, order: str = "code") -> list[dict[str, Any]]:
    """A table's rows as the engine reads them (a registered model, read-only)."""
    with DataFlow(url, existing_schema_mode=True, read_only=True) as db:
        result = db.register_schema_as_models(tables=[table])
        model = db.get_model(result["registered_models"][0])
        out = one(db, model.node_names["List"], {"order_by": [order]})
    return list(out["records"])


def _count(url: str, table: str) -> int:
    with DataFlow(url, existing_schema_mode=True, read_only=True) as db:
        result = db.register_schema_as_models(tables=[table])
        model = db.get_model(result["registered_models"][0])
        return int(one(db, model.node_names["Count"], {})["count"])


def _no_traceback(done: Any) -> None:
    assert "Traceback" not in done.stderr, done.stderr


# -- discover -----------------------------------------------------------------------------


@every_backend
def test_discover_shows_tables_views_keys_both_ways_and_counts(db_url: str) -> None:
    sql(db_url, *SHOP)
    done = dataflow("discover", db_url, "--format", "json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["row_counts"] == "estimate"
    tables = {t["name"]: t for t in document["tables"]}
    assert {"customers", "orders", "big_orders"} <= set(tables)
    assert tables["big_orders"]["kind"] == "view"
    assert tables["orders"]["primary_key"] == ["id"]
    (fk,) = tables["orders"]["foreign_keys"]
    assert (fk["columns"], fk["ref_table"], fk["ref_columns"]) == (
        ["customer_id"],
        "customers",
        ["id"],
    )
    (incoming,) = tables["customers"]["referenced_by"]
    assert (incoming["table"], incoming["columns"]) == ("orders", ["customer_id"])
    assert "row_estimate" in tables["orders"]
    assert [c["name"] for c in tables["orders"]["columns"]] == [
        "id",
        "customer_id",
        "total",
        "note",
    ]

    exact = dataflow("discover", db_url, "--format", "json", "--exact-counts")
    assert exact.returncode == 0, exact.stderr
    counts = {t["name"]: t["row_count"] for t in json.loads(exact.stdout)["tables"]}
    assert counts["customers"] == 2 and counts["orders"] == 3 and counts["big_orders"] == 2

    table = dataflow("discover", db_url, "--tables", "orders,customers")
    assert table.returncode == 0, table.stderr
    assert "rows (estimate)" in table.stdout
    assert "customer_id → customers(id)" in table.stdout
    assert "orders(customer_id)" in table.stdout  # customers is referenced by orders
    assert "big_orders" not in table.stdout
    assert "NUMERIC" in table.stdout.upper() or "DECIMAL" in table.stdout.upper()


def test_discover_reads_the_url_from_the_environment_and_never_shows_a_password(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    sql(url, *SHOP)
    done = dataflow("discover", "--exact-counts", env={"DATAFLOW_DATABASE_URL": url})
    assert done.returncode == 0, done.stderr
    assert "customers" in done.stdout and "rows" in done.stdout

    refused = dataflow("discover", "postgresql://app:Sup3rSecretPw@127.0.0.1:1/shop")
    assert refused.returncode == 3
    assert "Sup3rSecretPw" not in refused.stdout + refused.stderr
    assert "DF-DB-CONNECT" in refused.stderr and "app:***@" in refused.stderr
    _no_traceback(refused)

    missing = dataflow("discover", url, "--tables", "custmers")
    assert missing.returncode == 1
    assert "DF-SCHEMA-TABLE-MISSING" in missing.stderr and "custmers" in missing.stderr


# -- query --------------------------------------------------------------------------------


@every_backend
def test_query_prints_exact_values_in_every_format(db_url: str) -> None:
    _items(db_url, "items")
    _fill(db_url, "items", ITEMS)
    base = ("query", db_url, "items", "--order-by", "-qty,code")

    lines = dataflow(*base, "--format", "jsonl")
    assert lines.returncode == 0, lines.stderr
    records = [json.loads(line) for line in lines.stdout.splitlines()]
    assert [r["qty"] for r in records] == [1, 0, -(2**62)]
    first = records[0]
    assert Decimal(first["price"]) == Decimal("1.50")
    assert first["ratio"] == 0.1 + 0.2
    assert dt.datetime.fromisoformat(first["seen"]) == ITEMS[0]["seen"]
    assert first["born"] == "2024-02-29" and first["at"] == "12:30:15"
    assert base64.b64decode(first["payload"]["base64"]) == b"\x00\x01\xff"
    assert first["meta"] == {"k": [1, "é", None], "nested": {"x": 1.25}}
    assert records[2]["label"] == "" and records[1]["label"] is None

    array = dataflow(*base, "--format", "json", "--fields", "code,label", "--limit", "2")
    assert array.returncode == 0, array.stderr
    assert json.loads(array.stdout) == [
        {"code": "a", "label": "plain"},
        {"code": "ünï😀 ", "label": None},
    ]
    assert "more records match than the 2 shown" in array.stderr

    filtered = dataflow(
        "query", db_url, "items", "--filter", '{"price": {"$gt": "1"}, "active": true}',
        "--format", "json",
    )  # fmt: skip
    assert filtered.returncode == 0, filtered.stderr
    assert [r["code"] for r in json.loads(filtered.stdout)] == ["a", "ünï😀 "]

    table = dataflow("query", db_url, "items", "--fields", "code,label,payload", "--limit", "5")
    assert table.returncode == 0, table.stderr
    assert "plain" in table.stdout and "NULL" in table.stdout and "3 records" in table.stdout
    assert "\\x0001ff" in table.stdout


@every_backend
def test_query_failures_give_the_engine_code_and_exit_code(db_url: str) -> None:
    sql(db_url, *SHOP)
    bad_field = dataflow("query", db_url, "orders", "--filter", '{"totl": {"$gt": 1}}')
    assert bad_field.returncode == 1
    assert "DF-FILTER-UNKNOWN-FIELD" in bad_field.stderr
    assert "did you mean 'total'?" in bad_field.stderr
    assert bad_field.stderr.count("\n") == 1  # one line
    _no_traceback(bad_field)

    bad_operator = dataflow("query", db_url, "orders", "--filter", '{"total": {"$gtt": 1}}')
    assert bad_operator.returncode == 1 and "DF-FILTER-UNKNOWN-OPERATOR" in bad_operator.stderr
    assert "$gt" in bad_operator.stderr

    not_json = dataflow("query", db_url, "orders", "--filter", "{total: 1}")
    assert not_json.returncode == 1 and "DF-FILTER-MALFORMED" in not_json.stderr

    unknown = dataflow("query", db_url, "ordres")
    assert unknown.returncode == 1
    assert "DF-SCHEMA-TABLE-MISSING" in unknown.stderr and "'orders'" in unknown.stderr
    _no_traceback(unknown)

    bad_order = dataflow("query", db_url, "orders", "--order-by", "-nope")
    assert bad_order.returncode == 1 and "nope" in bad_order.stderr

    view = dataflow("query", db_url, "big_orders", "--format", "jsonl")
    assert view.returncode == 0, view.stderr
    assert sorted(json.loads(line)["id"] for line in view.stdout.splitlines()) == [2, 3]

    injection = dataflow("query", db_url, "orders; DROP TABLE orders", "--format", "json")
    assert injection.returncode == 1 and "DF-SCHEMA-TABLE-MISSING" in injection.stderr
    assert _count(db_url, "orders") == 3


def test_bad_urls_are_usage_or_connection_errors(tmp_path: Path) -> None:
    malformed = dataflow("query", "nosuchscheme://x/y", "t")
    assert malformed.returncode == 2 and "DF-CONFIG-URL" in malformed.stderr
    missing_file = dataflow("query", f"sqlite:///{tmp_path / 'absent.db'}", "t")
    assert missing_file.returncode == 3 and "no SQLite database file" in missing_file.stderr
    assert not (tmp_path / "absent.db").exists()  # never created by looking
    unreachable = dataflow("export", "mysql://root:pw@127.0.0.1:1/db", "t", "-")
    assert unreachable.returncode == 3 and "DF-DB-CONNECT" in unreachable.stderr
    for result in (malformed, missing_file, unreachable):
        _no_traceback(result)


# -- export and import ----------------------------------------------------------------------


@every_backend
def test_export_then_import_into_an_empty_copy_gives_identical_rows(
    db_url: str, tmp_path: Path
) -> None:
    _items(db_url, "items", "items_csv", "items_jsonl")
    _fill(db_url, "items", ITEMS)
    source = _rows(db_url, "items")
    assert len(source) == 3
    for kind in ("csv", "jsonl"):
        path = tmp_path / f"items.{kind}"
        done = dataflow("export", db_url, "items", str(path))
        assert done.returncode == 0, done.stderr
        assert "exported 3 records of items" in done.stderr
        loaded = dataflow("import", db_url, f"items_{kind}", str(path))
        assert loaded.returncode == 0, loaded.stderr
        assert "imported 3 rows" in loaded.stdout
        assert _rows(db_url, f"items_{kind}") == source, kind

    to_stdout = dataflow("export", db_url, "items", "-", "--filter", '{"qty": {"$gte": 0}}')
    assert to_stdout.returncode == 0, to_stdout.stderr
    header = to_stdout.stdout.splitlines()[0]
    assert header.split(",")[:4] == ["code", "label", "price", "qty"]
    assert "a,plain," in to_stdout.stdout and '"ünï😀 ",,' in to_stdout.stdout  # NULL is empty


@every_backend
def test_import_of_100k_rows_with_bad_lines_writes_nothing_or_only_the_good_rows(
    db_url: str, tmp_path: Path
) -> None:
    sql(db_url, READINGS)
    path = tmp_path / "readings.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write("code,qty,price,label\n")
        for i in range(100_000):
            if i == 30_000:
                out.write(f"r{i},thirty,1.00,bad number\n")
            elif i == 70_000:
                out.write(f"r{i},1,2\n")  # a malformed line: a cell is missing
            else:
                out.write(f"r{i},{i},{i}.{i % 100:02d},{'' if i % 7 else 'label ' + str(i)}\n")

    aborted = dataflow("import", db_url, "readings", str(path))
    assert aborted.returncode == 1, aborted.stderr
    assert (
        "line 30002: [DF-IMPORT-VALUE] column 'qty': 'thirty' is not an integer" in aborted.stderr
    )
    assert "line 70002: [DF-IMPORT-FORMAT] 3 cells, but the header has 4" in aborted.stderr
    assert "2 of 100,000 rows are invalid; nothing was written" in aborted.stderr
    _no_traceback(aborted)
    assert _count(db_url, "readings") == 0

    skipped = dataflow("import", db_url, "readings", str(path), "--on-error", "skip")
    assert skipped.returncode == 4, skipped.stderr
    assert "line 30002" in skipped.stderr and "line 70002" in skipped.stderr
    assert "imported 99,998 rows into readings; 2 bad row(s) skipped" in skipped.stdout
    assert "\x1b[" not in skipped.stderr  # no progress bar when not a terminal
    assert _count(db_url, "readings") == 99_998
    rows = {r["code"]: r for r in _rows(db_url, "readings")}
    assert "r30000" not in rows and "r70000" not in rows
    assert rows["r99999"]["qty"] == 99_999 and Decimal(rows["r99999"]["price"]) == Decimal(
        "99999.99"
    )
    assert rows["r7"]["label"] == "label 7" and rows["r8"]["label"] is None


@every_backend
def test_a_row_the_database_refuses_rolls_back_every_batch(db_url: str, tmp_path: Path) -> None:
    sql(db_url, READINGS)
    path = tmp_path / "readings.csv"
    path.write_text(
        "code,qty,price,label\nr1,1,,\nr2,2,,\nr3,3,,\nr4,4,,\nr1,5,,again\n", encoding="utf-8"
    )
    aborted = dataflow("import", db_url, "readings", str(path), "--batch-size", "2")
    assert aborted.returncode == 1
    assert "DF-DB-UNIQUE-VIOLATION" in aborted.stderr and "lines 6-6" in aborted.stderr
    assert "nothing was written" in aborted.stderr
    assert _count(db_url, "readings") == 0  # the first two batches were rolled back too

    ignored = dataflow(
        "import", db_url, "readings", str(path), "--batch-size", "2", "--on-conflict", "ignore"
    )
    assert ignored.returncode == 0, ignored.stderr
    assert "imported 4 rows into readings; 1 already present, skipped" in ignored.stdout
    assert [r["qty"] for r in _rows(db_url, "readings")] == [1, 2, 3, 4]

    sql(db_url, "DELETE FROM readings WHERE code IN ('r3', 'r4')")
    skipped = dataflow(
        "import", db_url, "readings", str(path), "--batch-size", "2", "--on-error", "skip"
    )
    assert skipped.returncode == 4, skipped.stderr
    for line in (2, 3, 6):  # r1 and r2 exist; the batch is retried a row at a time
        assert f"line {line}: [DF-DB-UNIQUE-VIOLATION]" in skipped.stderr
    assert "imported 2 rows" in skipped.stdout
    assert _count(db_url, "readings") == 4


def test_import_reports_every_bad_row_with_its_line_and_reason(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    sql(url, THINGS.format(name="things"))
    path = tmp_path / "things.csv"
    header = "code,label,price,qty,ratio,active,born,seen,at,payload,meta\n"
    good = "ok,,1.5,1,,yes,,,,,\n"
    bad = [
        "q1,,1.5,1,,maybe,,,,,\n",  # line 3: not a boolean
        "q2,,1.5,1,,true,2024-13-01,,,,\n",  # line 4: no such date
        'q3,,1.5,1,,true,,,,,"{bad json"\n',  # line 5
        "q4,,,1,,true,,,,,\n",  # line 6: price is NOT NULL
        "q5,,1.5,1,,true,,,,not base64!,\n",  # line 7
        'q6,"unclosed,1.5,1,,true,,,,,\n',  # line 8: runs to the end of the file
    ]
    path.write_text(header + good + "".join(bad), encoding="utf-8")
    done = dataflow("import", url, "things", str(path))
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0].startswith("line 3: ") and "'maybe' is not a boolean" in lines[0]
    assert lines[1].startswith("line 4: ") and "born" in lines[1] and "ISO-8601" in lines[1]
    assert lines[2].startswith("line 5: ") and "is not JSON" in lines[2]
    assert lines[3].startswith("line 6: ") and "NOT NULL" in lines[3]
    assert lines[4].startswith("line 7: ") and "base64" in lines[4]
    assert lines[5].startswith("line 8: ") and "never closed" in lines[5]
    assert "6 of 7 rows are invalid; nothing was written" in lines[-1]
    assert _count(url, "things") == 0

    capped = dataflow("import", url, "things", str(path), "--max-errors", "2")
    assert "... and 4 more bad row(s)" in capped.stderr

    wrong_header = tmp_path / "wrong.csv"
    wrong_header.write_text("code,lable,qty\nx,y,1\n", encoding="utf-8")
    refused = dataflow("import", url, "things", str(wrong_header))
    assert refused.returncode == 1 and "DF-IMPORT-HEADER" in refused.stderr
    assert "unknown column 'lable' (did you mean 'label'?)" in refused.stderr
    assert "required column 'price'" in refused.stderr

    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    assert "no header row" in dataflow("import", url, "things", str(empty)).stderr

    undecodable = tmp_path / "latin1.csv"
    undecodable.write_bytes((header + good).encode() + "z,caf\xe9,1,1,,t,,,,,\n".encode("latin-1"))
    latin = dataflow("import", url, "things", str(undecodable))
    assert latin.returncode == 1 and "line 3: [DF-IMPORT-FORMAT] not UTF-8 text" in latin.stderr


def test_empty_cells_booleans_json_lines_and_a_round_trip_of_declared_types(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    sql(url, THINGS.format(name="things"), THINGS.format(name="things_copy"))
    csv_path = tmp_path / "things.csv"
    csv_path.write_text(
        "code,label,price,qty,active,meta,payload,seen\n"
        "null-label,,0.10,1,0,,,\n"
        'empty-label,"",0.10,2,No,null,"",2024-05-06T07:08:09.123456+02:00\n'
        'json,x,0.10,3,TRUE,"{""a"": [1, 2.5]}",\\x0aff,2024-05-06 07:08:09Z\n',
        encoding="utf-8",
    )
    done = dataflow("import", url, "things", str(csv_path), "--quiet")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    rows = {r["code"]: r for r in _rows(url, "things")}
    assert rows["null-label"]["label"] is None and rows["null-label"]["payload"] is None
    assert rows["empty-label"]["label"] == "" and rows["empty-label"]["payload"] == b""
    assert rows["null-label"]["active"] is False and rows["json"]["active"] is True
    assert rows["json"]["meta"] == {"a": [1, 2.5]} and rows["json"]["payload"] == b"\n\xff"
    assert rows["empty-label"]["seen"] == dt.datetime(2024, 5, 6, 5, 8, 9, 123456, tzinfo=UTC)

    jsonl = tmp_path / "more.jsonl"
    jsonl.write_text(
        json.dumps({"code": "j1", "price": 12.30, "qty": 5, "active": True, "ratio": 1,
                    "payload": {"base64": "AAE="}, "at": "10:11:12"})
        + "\n\n"
        + json.dumps({"code": "j2", "price": "1", "qty": "5", "active": True})
        + "\n[1, 2]\n"
        + json.dumps({"code": "j3", "pryce": "1", "qty": 1, "active": True})
        + "\n",
        encoding="utf-8",
    )  # fmt: skip
    loaded = dataflow("import", url, "things", "-", "--format", "jsonl", "--on-error", "skip",
                      stdin=jsonl.read_text(encoding="utf-8"))  # fmt: skip
    assert loaded.returncode == 4, loaded.stderr
    assert "line 3: [DF-PARAM-TYPE]" in loaded.stderr and "qty" in loaded.stderr
    assert "line 4: [DF-IMPORT-FORMAT] a JSON object was expected, got list" in loaded.stderr
    assert "line 5: [DF-PARAM-UNKNOWN-FIELD]" in loaded.stderr
    assert "did you mean 'price'?" in loaded.stderr
    j1 = {r["code"]: r for r in _rows(url, "things")}["j1"]
    assert Decimal(j1["price"]) == Decimal("12.30") and j1["ratio"] == 1.0
    assert j1["payload"] == b"\x00\x01" and j1["at"] == dt.time(10, 11, 12)

    for kind in ("csv", "jsonl"):
        exported = tmp_path / f"copy.{kind}"
        assert dataflow("export", url, "things", str(exported)).returncode == 0
        sql(url, "DELETE FROM things_copy")
        again = dataflow("import", url, "things_copy", str(exported))
        assert again.returncode == 0, again.stderr
        assert _rows(url, "things_copy") == _rows(url, "things"), kind


_TICKETS = {
    "sqlite": "id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL, "
    "shout TEXT GENERATED ALWAYS AS (upper(title)) STORED",
    "postgresql": "id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, title text NOT NULL, "
    "shout text GENERATED ALWAYS AS (upper(title)) STORED",
    "mysql": "id int AUTO_INCREMENT PRIMARY KEY, title varchar(100) NOT NULL, "
    "shout varchar(100) AS (upper(title)) STORED",
}


@every_backend
def test_export_then_import_keeps_auto_increment_keys_and_leaves_computed_columns(
    db_url: str, tmp_path: Path
) -> None:
    from dataflow_engine.config import parse_url

    columns = _TICKETS[parse_url(db_url).dialect]
    tables = ("tickets", "tickets_csv", "tickets_jsonl", "tickets_new")
    sql(db_url, *(f"CREATE TABLE {t} ({columns})" for t in tables))
    sql(
        db_url,
        "INSERT INTO tickets (title) VALUES ('one'), ('two'), ('three'), ('four'), ('five')",
        "DELETE FROM tickets WHERE title IN ('two', 'four')",
    )
    source = _rows(db_url, "tickets", "id")
    assert [(r["id"], r["shout"]) for r in source] == [(1, "ONE"), (3, "THREE"), (5, "FIVE")]
    for kind in ("csv", "jsonl"):
        path = tmp_path / f"tickets.{kind}"
        assert dataflow("export", db_url, "tickets", str(path)).returncode == 0
        loaded = dataflow("import", db_url, f"tickets_{kind}", str(path))
        assert loaded.returncode == 0, loaded.stderr
        assert "imported 3 rows" in loaded.stdout
        assert "computed by the database, not imported: shout" in loaded.stdout
        assert _rows(db_url, f"tickets_{kind}", "id") == source, kind
        # the database numbers the next record after the largest key imported
        with DataFlow(db_url, existing_schema_mode=True) as db:
            model = db.get_model(
                db.register_schema_as_models(tables=[f"tickets_{kind}"])["registered_models"][0]
            )
            made = one(db, model.node_names["Create"], {"title": "six"})
        assert made["id"] == 6 and made["shout"] == "SIX"

    # a key already there is a refused row: nothing is written
    again = dataflow("import", db_url, "tickets_csv", str(tmp_path / "tickets.csv"))
    assert again.returncode == 1 and "DF-DB-UNIQUE" in again.stderr, again.stderr
    assert len(_rows(db_url, "tickets_csv", "id")) == 4
    # an empty key cell is numbered by the database, like every row with --ignore-generated
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("id,title\n10,ten\n,next\n", encoding="utf-8")
    assert dataflow("import", db_url, "tickets_csv", str(mixed)).returncode == 0
    assert [r["id"] for r in _rows(db_url, "tickets_csv", "id")] == [1, 3, 5, 6, 10, 11]
    renumbered = dataflow(
        "import", db_url, "tickets_new", str(tmp_path / "tickets.csv"), "--ignore-generated"
    )
    assert renumbered.returncode == 0, renumbered.stderr
    rows = _rows(db_url, "tickets_new", "id")
    assert [(r["id"], r["title"]) for r in rows] == [(1, "one"), (2, "three"), (3, "five")]


def test_read_only_tables_are_refused_and_views_exported(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    sql(url, *SHOP, "CREATE TABLE logs (line TEXT)")
    path = tmp_path / "customers.csv"
    path.write_text("id,name\n10,Cy\n", encoding="utf-8")

    for table in ("big_orders", "logs"):
        view = dataflow("import", url, table, str(path))
        assert view.returncode == 1 and "DF-READ-ONLY" in view.stderr, view.stderr

    exported = dataflow("export", url, "big_orders", str(tmp_path / "big.jsonl"))
    assert exported.returncode == 0, exported.stderr  # no primary key: one query
    assert len((tmp_path / "big.jsonl").read_text(encoding="utf-8").splitlines()) == 2


def test_a_failed_export_leaves_no_file_and_options_come_from_the_environment(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    sql(url, *SHOP)
    target = tmp_path / "out.csv"
    failed = dataflow("export", url, "orders", str(target), "--filter", '{"nope": 1}')
    assert failed.returncode == 1 and "DF-FILTER-UNKNOWN-FIELD" in failed.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "shop.db"]

    done = dataflow(
        "query", url, "orders", "--order-by", "id",
        env={"DATAFLOW_QUERY_FORMAT": "jsonl", "DATAFLOW_QUERY_LIMIT": "2"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["id"] for line in done.stdout.splitlines()] == [1, 2]

    unknown_format = dataflow("export", url, "orders", str(tmp_path / "out.xlsx"))
    assert unknown_format.returncode == 2 and "--format csv" in unknown_format.stderr


@pytest.mark.parametrize("command", ["discover", "query", "import", "export"])
def test_every_data_command_has_help(command: str) -> None:
    done = dataflow(command, "--help")
    assert done.returncode == 0, done.stderr
    assert "usage" in done.stdout.lower() and "URL" in done.stdout


def test_a_progress_bar_is_drawn_on_a_terminal_only(tmp_path: Path) -> None:
    import os
    import pty
    import subprocess

    from .conftest import DATAFLOW

    url = f"sqlite:///{tmp_path / 'app.db'}"
    sql(url, READINGS)
    path = tmp_path / "readings.csv"
    path.write_text("code,qty,price,label\n" + "".join(f"r{i},{i},,\n" for i in range(5000)))
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [*DATAFLOW, "import", url, "readings", str(path)],
        stdout=subprocess.PIPE,
        stderr=follower,
        env={k: v for k, v in os.environ.items() if not k.startswith("DATAFLOW_")},
    )
    os.close(follower)
    drawn = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the command has ended and closed the terminal
            break
        if not chunk:
            break
        drawn += chunk
    os.close(leader)
    assert process.wait(timeout=120) == 0
    assert process.stdout is not None and b"imported 5,000 rows" in process.stdout.read()
    assert b"importing readings" in drawn and b"100%" in drawn
    process.stdout.close()

    piped = dataflow("import", url, "readings", str(path), "--on-conflict", "ignore")
    assert piped.returncode == 0 and piped.stderr == ""  # not a terminal: no bar
