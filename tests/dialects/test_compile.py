"""Golden SQL: filter documents and the SQL and parameters each dialect must produce.

The full table is snapshot-tested (``__snapshots__/test_compile.ambr``); the tests below
it spell out the semantics that matter most so a reader need not open the snapshot.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import uuid
from decimal import Decimal
from typing import Any

import pytest

from dataflow_engine.dialects import (
    DIALECTS,
    Dialect,
    MySQLDialect,
    Params,
    PostgresDialect,
    SQLiteDialect,
)
from dataflow_engine.errors import IdentifierTooLongError, ModelError
from dataflow_engine.models import FieldKind, build_model
from dataflow_engine.query import parse_filter, parse_order_by, parse_update


class Status(str, enum.Enum):
    ACTIVE = "active"
    ARCHIVED = "archived"


class Level(enum.Enum):
    LOW = 1
    HIGH = 2


class Item:
    name: str
    qty: int
    score: float
    active: bool
    price: Decimal
    due: dt.date
    seen_at: dt.datetime | None = None
    opens: dt.time | None = None
    ref: uuid.UUID | None = None
    blob: bytes | None = None
    meta: dict | None = None
    tags: list[str] | None = None
    status: Status = Status.ACTIVE
    level: Level | None = None
    nick: str | None = None


MODEL = build_model(Item)
SQLITE = SQLiteDialect()
POSTGRES = PostgresDialect()
MARIADB = MySQLDialect(mariadb=True)
MYSQL8 = MySQLDialect(mariadb=False)
GOLDEN_DIALECTS = {"sqlite": SQLITE, "postgresql": POSTGRES, "mariadb": MARIADB, "mysql8": MYSQL8}
BOTH = [pytest.param(SQLITE, id="sqlite"), pytest.param(POSTGRES, id="postgresql")]
INJECTION = "'; DROP TABLE users; --"


def compile_filter(dialect: Dialect, document: Any) -> tuple[str, list[Any]]:
    params = Params(dialect)
    sql = dialect.compile_filter(parse_filter(document, MODEL), params)
    return sql, params.values


def golden(document: Any) -> dict[str, dict[str, Any]]:
    out = {}
    for name, dialect in GOLDEN_DIALECTS.items():
        sql, values = compile_filter(dialect, document)
        out[name] = {"sql": sql, "params": values}
    return out


GOLDEN: dict[str, Any] = {
    # structure
    "empty": {},
    "eq": {"name": "Ann"},
    "implicit-and": {"name": "Ann", "qty": 3},
    "explicit-eq": {"qty": {"$eq": 3}},
    "two-operators-one-field": {"qty": {"$gte": 1, "$lt": 10}},
    # comparison
    "ne": {"nick": {"$ne": "x"}},
    "gt": {"qty": {"$gt": 1}},
    "gte": {"qty": {"$gte": 1}},
    "lt": {"qty": {"$lt": 1}},
    "lte": {"qty": {"$lte": 1}},
    # nulls
    "eq-null": {"nick": None},
    "eq-op-null": {"nick": {"$eq": None}},
    "ne-null": {"nick": {"$ne": None}},
    "gt-null": {"qty": {"$gt": None}},
    "gte-null": {"qty": {"$gte": None}},
    # $in / $nin
    "in": {"qty": {"$in": [1, 2, 3]}},
    "in-empty": {"qty": {"$in": []}},
    "in-with-null": {"qty": {"$in": [1, None]}},
    "in-only-null": {"qty": {"$in": [None]}},
    "nin": {"qty": {"$nin": [1, 2]}},
    "nin-empty": {"qty": {"$nin": []}},
    "nin-with-null": {"qty": {"$nin": [1, None]}},
    "nin-only-null": {"qty": {"$nin": [None]}},
    "in-enum": {"status": {"$in": ["active", Status.ARCHIVED]}},
    "in-json": {"meta": {"$in": [{"b": 1, "a": 2}, {"c": []}]}},
    # logic
    "and": {"$and": [{"name": "a"}, {"qty": 1}]},
    "or": {"$or": [{"name": "a"}, {"qty": 1}]},
    "nor": {"$nor": [{"name": "a"}, {"qty": 1}]},
    "not-top": {"$not": {"name": "a"}},
    "not-field": {"qty": {"$not": {"$gt": 5}}},
    "or-with-empty": {"$or": [{}, {"qty": 1}]},
    "nested": {
        "active": True,
        "$or": [
            {"qty": {"$gt": 10}},
            {"$and": [{"nick": None}, {"name": {"$startswith": "A"}}]},
        ],
    },
    # element
    "exists-true": {"nick": {"$exists": True}},
    "exists-false": {"nick": {"$exists": False}},
    # text
    "like": {"name": {"$like": "A%_"}},
    "ilike": {"name": {"$ilike": "a%"}},
    "contains": {"name": {"$contains": "nn"}},
    "contains-wildcards": {"name": {"$contains": "50%_\\"}},
    "startswith": {"name": {"$startswith": "A_"}},
    "endswith": {"name": {"$endswith": "%"}},
    "regex": {"name": {"$regex": "^A.*n$"}},
    "regex-i": {"name": {"$regex": "^a", "$options": "i"}},
    "regex-m": {"name": {"$regex": "^a", "$options": "m"}},
    "regex-s": {"name": {"$regex": "a.b", "$options": "s"}},
    "regex-ms": {"name": {"$regex": "^a.b", "$options": "sm"}},
    "regex-x": {"name": {"$regex": "a b # comment", "$options": "x"}},
    "regex-imsx": {"name": {"$regex": "a", "$options": "xsmi"}},
    "regex-compiled": {"name": {"$regex": re.compile("^a", re.IGNORECASE)}},
    "not-regex": {"name": {"$not": re.compile("^a")}},
    # numeric
    "between": {"qty": {"$between": [1, 10]}},
    # value encodings
    "bool": {"active": False},
    "float": {"score": {"$gte": 2}},
    "decimal-eq": {"price": "9.99"},
    "decimal-ne": {"price": {"$ne": Decimal("1.0")}},
    "decimal-gt": {"price": {"$gt": 5}},
    "decimal-in": {"price": {"$in": ["1.5", "2.5"]}},
    "date": {"due": {"$lt": "2024-02-29"}},
    "datetime-naive": {"seen_at": {"$gte": dt.datetime(2024, 1, 2, 3, 4, 5)}},
    "datetime-aware": {"seen_at": {"$gte": "2024-01-02T03:04:05.5+02:00"}},
    "time": {"opens": {"$lt": "09:30"}},
    "uuid": {"ref": "12345678-1234-5678-1234-567812345678"},
    "uuid-in": {"ref": {"$in": [uuid.UUID(int=1), uuid.UUID(int=2)]}},
    "bytes": {"blob": b"\x00\xff"},
    "enum-value": {"status": "archived"},
    "enum-name": {"status": "ARCHIVED"},
    "enum-int-by-value": {"level": 2},
    "enum-int-ne": {"level": {"$ne": "LOW"}},
    "json-eq": {"meta": {"z": 1, "a": [True, None]}},
    "list-eq": {"tags": ["x", "y"]},
    "mod": {"qty": {"$mod": [3, -1]}},
    "expr-fields": {"$expr": {"$gt": ["$name", "$nick"]}},
    "expr-value-lt": {"$expr": {"$lt": ["$qty", 5]}},
    "expr-and": {"$expr": {"$and": [{"$eq": ["$name", "$nick"]}, {"$gte": ["$qty", 1]}]}},
    # JSON: paths, arrays, types
    "json-path-eq": {"meta.a.b": "x"},
    "json-path-number": {"meta.a": {"$gt": 2}},
    "json-path-float": {"meta.a": {"$lte": 2.5}},
    "json-path-string-order": {"meta.a": {"$lt": "m"}},
    "json-path-bool": {"meta.flag": True},
    "json-path-null": {"meta.a": None},
    "json-path-ne": {"meta.a": {"$ne": 1}},
    "json-path-in": {"meta.a": {"$in": [1, "1", None]}},
    "json-path-exists": {"meta.a": {"$exists": False}},
    "json-path-index": {"meta.items.0.sku": "A1"},
    "json-path-document": {"meta.a": {"k": [1, 2]}},
    "json-path-type": {"meta.a": {"$type": ["string", "array"]}},
    "json-path-regex": {"meta.a": {"$regex": "^x", "$options": "i"}},
    "json-path-like": {"meta.a": {"$ilike": "x%"}},
    "json-size": {"tags": {"$size": 2}},
    "json-all": {"tags": {"$all": ["x", "y"]}},
    "json-elem-match-operators": {"meta.scores": {"$elemMatch": {"$gte": 80, "$lt": 90}}},
    "json-elem-match-document": {
        "meta.items": {"$elemMatch": {"sku": "A1", "qty": {"$gte": 2}, "parts": {"$size": 1}}}
    },
    "json-elem-match-nested": {
        "meta.orders": {"$elemMatch": {"lines": {"$elemMatch": {"sku": {"$in": ["a", "b"]}}}}}
    },
    "json-root-type-null": {"meta": {"$type": "null"}},
    "auto-columns": {"id": {"$in": [1, 2]}, "created_at": {"$gte": "2024-01-01T00:00:00Z"}},
    # injection: every value is a parameter
    "injection-eq": {"name": INJECTION},
    "injection-contains": {"name": {"$contains": INJECTION}},
    "injection-regex": {"name": {"$regex": INJECTION}},
    "injection-in": {"name": {"$in": [INJECTION, "x"]}},
}


@pytest.mark.parametrize("case", list(GOLDEN))
def test_filter_golden(case: str, snapshot: Any) -> None:
    assert golden(GOLDEN[case]) == snapshot


def _placeholders_match(dialect: Dialect, sql: str, values: list[Any]) -> None:
    if isinstance(dialect, SQLiteDialect):
        assert sql.count("?") == len(values), sql
    else:
        used = {int(n) for n in re.findall(r"\$(\d+)", sql)}
        assert used == set(range(1, len(values) + 1)), sql


@pytest.mark.parametrize("dialect", BOTH)
@pytest.mark.parametrize("case", list(GOLDEN))
def test_every_placeholder_has_exactly_one_parameter(dialect: Dialect, case: str) -> None:
    sql, values = compile_filter(dialect, GOLDEN[case])
    _placeholders_match(dialect, sql, values)


# -- semantics spelled out ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "sqlite", "postgresql"),
    [
        pytest.param({}, "1=1", "1=1", id="empty"),
        pytest.param({"nick": None}, '"nick" IS NULL', '"nick" IS NULL', id="null"),
        pytest.param(
            {"nick": {"$ne": None}}, '"nick" IS NOT NULL', '"nick" IS NOT NULL', id="ne-null"
        ),
        # $ne matches NULLs.
        pytest.param(
            {"nick": {"$ne": "x"}},
            '"nick" IS NOT ?',
            '"nick" IS DISTINCT FROM $1',
            id="ne-matches-null",
        ),
        pytest.param({"qty": {"$in": []}}, "1=0", "1=0", id="in-empty"),
        pytest.param({"qty": {"$nin": []}}, "1=1", "1=1", id="nin-empty"),
        pytest.param({"qty": {"$gt": None}}, "1=0", "1=0", id="gt-null"),
        pytest.param(
            {"qty": {"$in": [1, None]}},
            '("qty" IN (?) OR "qty" IS NULL)',
            '("qty" = ANY($1) OR "qty" IS NULL)',
            id="in-with-null",
        ),
        # $nin matches NULLs unless null is listed.
        pytest.param(
            {"qty": {"$nin": [1]}},
            '("qty" IS NULL OR NOT ("qty" IN (?)))',
            '("qty" IS NULL OR NOT ("qty" = ANY($1)))',
            id="nin-matches-null",
        ),
        pytest.param(
            {"qty": {"$nin": [1, None]}},
            '("qty" IS NOT NULL AND NOT ("qty" IN (?)))',
            '("qty" IS NOT NULL AND NOT ("qty" = ANY($1)))',
            id="nin-with-null",
        ),
        # $not matches rows where the inner condition is false or unknown (NULL).
        pytest.param(
            {"qty": {"$not": {"$gt": 5}}},
            '(("qty" > ?) IS NOT TRUE)',
            '(("qty" > $1) IS NOT TRUE)',
            id="not-matches-null",
        ),
        pytest.param(
            {"$nor": [{"qty": 1}, {"nick": "a"}]},
            '((("qty" = ? OR "nick" = ?)) IS NOT TRUE)',
            '((("qty" = $1 OR "nick" = $2)) IS NOT TRUE)',
            id="nor",
        ),
    ],
)
def test_mongodb_null_semantics(document: Any, sqlite: str, postgresql: str) -> None:
    assert compile_filter(SQLITE, document)[0] == sqlite
    assert compile_filter(POSTGRES, document)[0] == postgresql


@pytest.mark.parametrize("dialect", list(GOLDEN_DIALECTS.values()), ids=list(GOLDEN_DIALECTS))
@pytest.mark.parametrize(
    "document",
    [
        {"name": INJECTION},
        {"name": {"$ne": INJECTION}},
        {"name": {"$gt": INJECTION}},
        {"name": {"$in": [INJECTION]}},
        {"name": {"$nin": [INJECTION, None]}},
        {"name": {"$like": INJECTION}},
        {"name": {"$ilike": INJECTION}},
        {"name": {"$contains": INJECTION}},
        {"name": {"$startswith": INJECTION}},
        {"name": {"$endswith": INJECTION}},
        {"name": {"$regex": INJECTION}},
        {"name": {"$between": [INJECTION, INJECTION + "z"]}},
        {"meta": {"k": INJECTION}},
        {"meta.k": INJECTION},
        {"meta.k": {"$regex": INJECTION}},
        {"meta.k": {"$elemMatch": {"x": INJECTION}}},
        {"meta.it's": {"$in": [INJECTION]}},
        {"$or": [{"nick": INJECTION}, {"$not": {"name": INJECTION}}]},
    ],
)
def test_values_are_never_inlined(dialect: Dialect, document: Any) -> None:
    sql, values = compile_filter(dialect, document)
    assert "DROP" not in sql
    # The only literals are the dialect's constants: type names, '$[*]', '{}', '\\'.
    for literal in re.findall(r"'([^']*)'", sql):
        assert re.fullmatch(r"[A-Za-z $\[\]*{}\\]*", literal), literal
    assert "DROP TABLE" in repr(values)


@pytest.mark.parametrize("dialect", BOTH)
def test_identifiers_are_quoted(dialect: Dialect) -> None:
    sql, _ = compile_filter(dialect, {"name": "a", "qty": {"$in": [1]}, "nick": {"$exists": True}})
    assert re.findall(r'"(\w+)"', sql) == ["name", "qty", "nick"]
    assert dialect.quote('we"ird') == '"we""ird"'


@pytest.mark.parametrize(
    ("options", "prefix"),
    [
        ("", "(?p)"),  # MongoDB default: '.' excludes newline, ^ and $ anchor the string
        ("i", "(?pi)"),
        ("m", "(?n)"),
        ("s", "(?s)"),
        ("ms", "(?w)"),
        ("x", "(?px)"),
        ("imsx", "(?wxi)"),
    ],
)
def test_postgresql_regex_options(options: str, prefix: str) -> None:
    sql, values = compile_filter(POSTGRES, {"name": {"$regex": "^a", "$options": options}})
    assert sql == '"name" ~ $1'
    # In multiline mode ^ is spelled as PCRE's: not after a newline that ends the text.
    caret = "(?:\\A|(?<=\\n)(?!\\Z))" if "m" in options else "^"
    assert values == [prefix + caret + "a"]


def test_sqlite_regex_uses_the_registered_function() -> None:
    sql, values = compile_filter(SQLITE, {"name": {"$regex": "^a", "$options": "mi"}})
    assert sql == 'df_regexp(?, ?, "name")'
    assert values == ["^a", "im"]


def test_postgresql_regex_word_boundary_keeps_its_meaning() -> None:
    try:
        _, values = compile_filter(POSTGRES, {"name": {"$regex": r"\bAnn\b"}})
    except Exception as exc:  # an explicit refusal is also acceptable
        assert type(exc).__name__ == "UnsupportedError"
        return
    assert "\\b" not in values[0]


def test_like_escape_character_is_declared() -> None:
    for dialect in (SQLITE, POSTGRES):
        sql, values = compile_filter(dialect, {"name": {"$contains": "5%"}})
        assert sql.endswith("ESCAPE '\\'")
        assert values == ["%5\\%%"]


def test_ilike() -> None:
    assert compile_filter(SQLITE, {"name": {"$ilike": "a%"}})[0] == (
        "df_lower(\"name\") LIKE df_lower(?) ESCAPE '\\'"
    )
    assert compile_filter(POSTGRES, {"name": {"$ilike": "a%"}})[0] == (
        "\"name\" ILIKE $1 ESCAPE '\\'"
    )


# -- values bound per dialect ------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "sqlite", "postgresql"),
    [
        ("active", True, 1, True),
        ("active", False, 0, False),
        ("price", "9.50", "9.50", Decimal("9.50")),
        ("due", "2024-02-29", "2024-02-29", dt.date(2024, 2, 29)),
        (
            "seen_at",
            dt.datetime(2024, 1, 2, 3, 4, 5),
            "2024-01-02T03:04:05.000000+00:00",
            dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        ),
        (
            "seen_at",
            "2024-01-02T03:04:05.25-05:00",
            "2024-01-02T08:04:05.250000+00:00",
            dt.datetime(2024, 1, 2, 3, 4, 5, 250000, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
        ),
        ("opens", "09:30", "09:30:00.000000", dt.time(9, 30)),
        ("ref", uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001", uuid.UUID(int=1)),
        ("blob", b"\x00", b"\x00", b"\x00"),
        ("status", Status.ARCHIVED, "archived", "archived"),
        ("level", Level.HIGH, "HIGH", "HIGH"),
    ],
)
def test_values_are_encoded_for_the_driver(
    field: str, value: Any, sqlite: Any, postgresql: Any
) -> None:
    assert compile_filter(SQLITE, {field: value})[1] == [sqlite]
    assert compile_filter(POSTGRES, {field: value})[1] == [postgresql]


def test_json_documents_are_bound_as_json() -> None:
    # SQLite and MySQL get canonical JSON text; PostgreSQL the value, sent as jsonb.
    for value, text in (({"b": 1, "a": "é"}, '{"a":"é","b":1}'), (["b", "a"], '["b","a"]')):
        assert set(compile_filter(SQLITE, {"meta.k": value})[1]) == {'$."k"', text}
        assert set(map(repr, compile_filter(POSTGRES, {"meta.k": value})[1])) == {
            repr('strict $."k"'),
            repr(value),
        }
        assert text in compile_filter(MARIADB, {"meta.k": value})[1]


def test_sqlite_datetimes_sort_as_text() -> None:
    early = compile_filter(SQLITE, {"seen_at": dt.datetime(999, 1, 1, tzinfo=dt.UTC)})[1][0]
    late = compile_filter(SQLITE, {"seen_at": "2024-01-01T00:00:00.000001+14:00"})[1][0]
    assert len(early) == len(late)
    assert early < late


def test_sqlite_compares_decimals_exactly() -> None:
    sql, values = compile_filter(SQLITE, {"price": {"$gte": "0.10"}})
    assert sql == 'df_deccmp("price", ?) >= 0'
    assert values == ["0.10"]
    assert compile_filter(POSTGRES, {"price": {"$gte": "0.10"}})[0] == '"price" >= $1'


# -- order, paging, updates --------------------------------------------------------------


@pytest.mark.parametrize(
    ("dialect", "text"),
    [(SQLITE, '"{}"'), (POSTGRES, '"{}" COLLATE "C"')],  # PostgreSQL: code-point order
)
def test_order_puts_nulls_first_ascending_and_last_descending(dialect: Dialect, text: str) -> None:
    items = parse_order_by(["-qty", "name", "nick", "-seen_at"], MODEL)
    name, nick = text.format("name"), text.format("nick")
    assert dialect.order_sql(items) == (
        f'"qty" DESC, {name}, {nick} ASC NULLS FIRST, "seen_at" DESC NULLS LAST'
    )


@pytest.mark.parametrize(
    ("dialect", "limit", "offset", "sql", "values"),
    [
        (SQLITE, 10, None, " LIMIT ?", [10]),
        (SQLITE, 10, 20, " LIMIT ? OFFSET ?", [10, 20]),
        (SQLITE, None, None, "", []),
        (POSTGRES, 10, 0, " LIMIT $1", [10]),
        (POSTGRES, 10, 20, " LIMIT $1 OFFSET $2", [10, 20]),
        (POSTGRES, None, 20, " OFFSET $1", [20]),
    ],
)
def test_limit_and_offset_are_parameters(
    dialect: Dialect, limit: int | None, offset: int | None, sql: str, values: list[int]
) -> None:
    params = Params(dialect)
    assert dialect.limit_sql(limit, offset, params) == sql
    assert params.values == values


def test_sqlite_offset_without_limit_keeps_a_limit_clause() -> None:
    params = Params(SQLITE)
    sql = SQLITE.limit_sql(None, 20, params)
    assert sql.lstrip().startswith("LIMIT ")
    assert " OFFSET " in sql
    assert 20 in params.values
    _placeholders_match(SQLITE, sql, params.values)


def test_sqlite_orders_decimals_by_value() -> None:
    assert SQLITE.order_sql(parse_order_by("price", MODEL)) != '"price"'


NOW = dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC)

UPDATES: dict[str, Any] = {
    "set": {"name": "Ann", "active": True, "nick": None},
    "set-json": {"meta": {"b": 1, "a": 2}},
    "inc": {"$inc": {"qty": 2}},
    "inc-decimal": {"$inc": {"price": "0.10"}},
    "mul": {"$mul": {"score": 1.5}},
    "mul-decimal": {"$mul": {"price": 2}},
    "min": {"$min": {"qty": 0}},
    "max": {"$max": {"seen_at": "2024-01-01T00:00:00Z"}},
    "min-decimal": {"$min": {"price": "1.5"}},
    "unset": {"$unset": {"nick": "", "seen_at": ""}},
    "current-date": {"$currentDate": {"seen_at": True, "due": {"$type": "date"}, "opens": True}},
    "injection": {"name": INJECTION},
}


def compile_update(dialect: Dialect, document: Any) -> tuple[str, list[Any]]:
    params = Params(dialect)
    parts = [dialect.set_sql(item, params, NOW) for item in parse_update(document, MODEL)]
    return ", ".join(parts), params.values


@pytest.mark.parametrize("case", list(UPDATES))
def test_update_golden(case: str, snapshot: Any) -> None:
    out = {}
    for name, dialect in GOLDEN_DIALECTS.items():
        sql, values = compile_update(dialect, UPDATES[case])
        out[name] = {"sql": sql, "params": values}
    assert out == snapshot


PIPELINES: dict[str, list[Any]] = {
    "group-sort-limit": [
        {"$match": {"qty": {"$gt": 1}}},
        {
            "$group": {
                "_id": "$name",
                "n": {"$sum": 1},
                "q": {"$sum": "$qty"},
                "avg": {"$avg": "$qty"},
                "lo": {"$min": "$name"},
            }
        },
        {"$sort": {"q": -1}},
        {"$limit": 5},
    ],
    "group-null-count": [{"$group": {"_id": None, "c": {"$count": {}}}}],
    "count": [{"$match": {"name": "a"}}, {"$count": "n"}],
    "skip-project": [{"$sort": {"qty": 1}}, {"$skip": 2}, {"$project": {"name": 1}}],
    "group-document-key": [{"$group": {"_id": {"n": "$name", "q": "$qty"}, "c": {"$sum": 1}}}],
    "document-key-match-sort": [
        {"$group": {"_id": {"n": "$name", "q": "$qty"}, "c": {"$sum": 1}}},
        {"$match": {"_id.q": {"$gt": 1}}},
        {"$sort": {"_id.n": 1}},
    ],
    "unwind": [{"$unwind": "$tags"}, {"$group": {"_id": "$tags", "n": {"$sum": 1}}}],
    "unwind-options": [
        {"$sort": {"qty": -1}},
        {
            "$unwind": {
                "path": "$tags",
                "preserveNullAndEmptyArrays": True,
                "includeArrayIndex": "i",
            }
        },
        {"$project": {"tags": 1, "i": 1}},
    ],
    "first-last-push": [
        {"$sort": {"qty": 1}},
        {
            "$group": {
                "_id": "$name",
                "f": {"$first": "$qty"},
                "l": {"$last": "$score"},
                "p": {"$push": "$nick"},
            }
        },
    ],
    "project-rename-exclude": [
        {"$project": {"blob": 0, "meta": 0}},
        {"$project": {"label": "$name", "qty": 1}},
    ],
}
ADD_TO_SET = [{"$group": {"_id": "$name", "s": {"$addToSet": "$qty"}}}]


@pytest.mark.parametrize("case", list(PIPELINES))
def test_pipeline_golden(case: str, snapshot: Any) -> None:
    from dataflow_engine.query import parse_pipeline

    out = {}
    for name, dialect in GOLDEN_DIALECTS.items():
        params = Params(dialect)
        stages = parse_pipeline(PIPELINES[case], MODEL)
        sql, _ = dialect.pipeline_sql("SELECT * FROM t", stages, params)
        out[name] = {"sql": sql, "params": params.values}
    assert out == snapshot


def test_add_to_set_golden(snapshot: Any) -> None:
    from dataflow_engine.query import parse_pipeline

    out = {}
    for name, dialect in GOLDEN_DIALECTS.items():
        if name == "mysql8":
            continue
        sql, _ = dialect.pipeline_sql(
            "SELECT * FROM t", parse_pipeline(ADD_TO_SET, MODEL), Params(dialect)
        )
        out[name] = sql
    assert out == snapshot


def test_add_to_set_is_unsupported_on_mysql8() -> None:
    from dataflow_engine.errors import UnsupportedError
    from dataflow_engine.query import parse_pipeline

    with pytest.raises(UnsupportedError) as info:
        MYSQL8.pipeline_sql("SELECT * FROM t", parse_pipeline(ADD_TO_SET, MODEL), Params(MYSQL8))
    assert info.value.details == {"dialect": "mysql", "operator": "$addToSet"}


@pytest.mark.parametrize("dialect", BOTH)
@pytest.mark.parametrize("case", list(UPDATES))
def test_every_update_placeholder_has_exactly_one_parameter(dialect: Dialect, case: str) -> None:
    sql, values = compile_update(dialect, UPDATES[case])
    _placeholders_match(dialect, sql, values)
    assert "DROP" not in sql


# -- DDL ---------------------------------------------------------------------------------


class Customer:
    email: str
    name: str
    department: str
    age: int
    score: float = 0.5
    active: bool = True
    status: Status = Status.ACTIVE
    level: Level | None = None
    motto: str | None = "it's fine"
    balance: Decimal = Decimal("0")
    __dataflow__ = {
        "soft_delete": True,
        "versioned": True,
        "indexes": [["department", "age"]],
        "unique": [["email"]],
    }


class OrderLine:
    order_id: int
    line: int
    sku: str
    __dataflow__ = {"primary_key": ["order_id", "line"], "table": "order lines"}


@pytest.mark.parametrize("model", [Item, Customer, OrderLine], ids=lambda m: m.__name__)
def test_create_table_golden(model: type, snapshot: Any) -> None:
    definition = build_model(model)
    assert {d.name: d.create_table_sql(definition) for d in (SQLITE, POSTGRES)} == snapshot


# The type table of DESIGN.md section 2.
TYPE_TABLE = [
    (FieldKind.STR, "TEXT", "TEXT"),
    (FieldKind.INT, "BIGINT", "INTEGER"),
    (FieldKind.FLOAT, "DOUBLE PRECISION", "REAL"),
    (FieldKind.BOOL, "BOOLEAN", "INTEGER"),
    (FieldKind.DECIMAL, "NUMERIC", "TEXT"),
    (FieldKind.DATETIME, "TIMESTAMPTZ", "TEXT"),
    (FieldKind.DATE, "DATE", "TEXT"),
    (FieldKind.TIME, "TIME", "TEXT"),
    (FieldKind.UUID, "UUID", "TEXT"),
    (FieldKind.BYTES, "BYTEA", "BLOB"),
    (FieldKind.JSON, "JSONB", "TEXT"),
    (FieldKind.ENUM, "TEXT", "TEXT"),
]


@pytest.mark.parametrize(("kind", "postgresql", "sqlite"), TYPE_TABLE)
def test_column_types(kind: FieldKind, postgresql: str, sqlite: str) -> None:
    field = next(f for f in MODEL.fields.values() if f.kind is kind)
    assert POSTGRES.column_type(field) == postgresql
    assert SQLITE.column_type(field) == sqlite


def test_every_field_kind_has_a_column_type() -> None:
    assert {row[0] for row in TYPE_TABLE} == set(FieldKind)


@pytest.mark.parametrize("dialect", BOTH)
def test_enum_columns_carry_a_check_constraint(dialect: Dialect) -> None:
    ddl = dialect.create_table_sql(build_model(Customer))[0]
    status = (
        """"status" TEXT NOT NULL DEFAULT 'active' CHECK ("status" IN ('active', 'archived'))"""
    )
    assert status in ddl
    assert """"level" TEXT CHECK ("level" IN ('LOW', 'HIGH'))""" in ddl


def test_postgresql_schema_qualifies_tables() -> None:
    ddl = PostgresDialect(schema="app").create_table_sql(build_model(Customer))
    assert ddl[0].startswith('CREATE TABLE IF NOT EXISTS "app"."customers" (')
    assert ddl[1].endswith('ON "app"."customers" ("department", "age")')
    assert SQLiteDialect(schema="app").table(build_model(Customer)) == '"customers"'


def test_dialect_registry() -> None:
    assert DIALECTS["sqlite"] is SQLiteDialect
    assert DIALECTS["postgresql"] is PostgresDialect


@pytest.mark.parametrize("dialect", BOTH)
def test_a_non_finite_float_default_is_not_rendered_as_sql(dialect: Dialect) -> None:
    class Limit:
        ceiling: float = float("inf")

    ddl = dialect.create_table_sql(build_model(Limit))[0]
    assert "DEFAULT inf" not in ddl


# -- identifiers -------------------------------------------------------------------------


def test_postgresql_allows_63_bytes() -> None:
    assert POSTGRES.check_identifier("a" * 63, "table") == "a" * 63


@pytest.mark.parametrize("name", ["a" * 64, "é" * 32, "表" * 22])
def test_postgresql_refuses_identifiers_longer_than_63_bytes(name: str) -> None:
    with pytest.raises(IdentifierTooLongError) as info:
        POSTGRES.check_identifier(name, "table")
    error = info.value
    assert isinstance(error, ModelError)
    assert error.code == "DF-MODEL-IDENTIFIER-TOO-LONG"
    assert error.details == {"identifier": name, "dialect": "postgresql", "limit": 63}
    assert "__dataflow__['table']" in error.message


def test_sqlite_has_no_identifier_limit() -> None:
    assert SQLITE.check_identifier("a" * 500, "table") == "a" * 500


def test_create_table_refuses_a_long_table_name_on_postgresql() -> None:
    class Thing:
        x: int
        __dataflow__ = {"table": "t" * 64}

    model = build_model(Thing)
    with pytest.raises(IdentifierTooLongError):
        POSTGRES.create_table_sql(model)
    assert SQLITE.create_table_sql(model)


def test_create_table_refuses_a_long_column_name_on_postgresql() -> None:
    namespace: dict[str, Any] = {"__annotations__": {"c" * 64: int}}
    model = build_model(type("Wide", (), namespace))
    with pytest.raises(IdentifierTooLongError) as info:
        POSTGRES.create_table_sql(model)
    assert info.value.details["identifier"] == "c" * 64


def test_long_index_names_are_shortened_deterministically() -> None:
    class Thing:
        first_rather_long_column_name: int
        second_rather_long_column_name: int
        __dataflow__ = {
            "table": "a_table_with_a_long_name",
            "indexes": [["first_rather_long_column_name", "second_rather_long_column_name"]],
        }

    model = build_model(Thing)
    first = POSTGRES.create_table_sql(model)[1]
    assert first == POSTGRES.create_table_sql(model)[1]
    name = first.split('"')[1]
    assert name.startswith("ix_a_table_with_a_long_")
    assert len(name.encode()) <= 63


def test_long_index_names_fit_in_63_bytes_with_multibyte_table_names() -> None:
    class Thing:
        a: int
        __dataflow__ = {"table": "表" * 21, "indexes": [["a"]]}

    model = build_model(Thing)
    index_sql = POSTGRES.create_table_sql(model)[1]
    assert len(index_sql.split('"')[1].encode()) <= 63
