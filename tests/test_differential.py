"""Differential test: random filters over a table of edge values; every database must
return exactly the rows the reference evaluator (tests/reference.py) says match.

The number of generated filters per backend is DATAFLOW_DIFF_EXAMPLES (default 2,000).
A failure prints the filter and hypothesis's seed, so it can be replayed with
``pytest --hypothesis-seed=N``.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataflow_engine import DataFlow
from dataflow_engine.nodes import ExecContext
from tests.reference import matches
from tests.support import one

EXAMPLES = int(os.environ.get("DATAFLOW_DIFF_EXAMPLES", "2000"))

TEXTS = [
    "",
    " ",
    "a",
    "A",
    "a ",
    "ab",
    "Ab",
    "abc",
    "abc\n",
    "b",
    "é",
    "É",
    "e",
    "ñ",
    "%",
    "_",
    "\\",
    "a%b",
    "a_b",
    "x\\y",
    "Zeta",
    "zeta",
    "ünï",
    "🎉",
    "line\nbreak",
    "10",
    "9",
]
INTS = [0, 1, -1, 2, 7, 10, -10, 2**53, 2**53 + 1, -(2**53) - 1, 2**62, -(2**62)]
FLOATS = [0.0, -0.0, 0.5, -0.5, 1.0, 2.5, 1e-9, 1e300, -1e300, 3.141592653589793]

# JSON documents: missing keys, JSON null, numbers of both kinds and 2^53+1, strings,
# booleans, nested objects, arrays of scalars, of arrays and of objects, digit keys.
JSON_DOCS: list[Any] = [
    None,
    {},
    {"a": 1},
    {"a": 1.0},
    {"a": -1},
    {"a": 2**53 + 1},
    {"a": 0.5},
    {"a": "1"},
    {"a": ""},
    {"a": "abc"},
    {"a": "Abc"},
    {"a": "é"},
    {"a": True},
    {"a": False},
    {"a": None},
    {"a": [1, 2]},
    {"a": [1, "1", None]},
    {"a": []},
    {"a": [[1, 2], 3]},
    {"a": {"b": 1}},
    {"a": {"b": [1, 2]}},
    {"a": {"b": None}},
    {"a": {"b": "x", "c": True}},
    {"tags": ["x", "y"]},
    {"tags": ["y"]},
    {"tags": "x"},
    {"tags": ["X", "x", "x"]},
    {"items": [{"sku": "A", "q": 2}, {"sku": "B", "q": 5}]},
    {"items": [{"sku": "B", "q": 1}]},
    {"items": [{"sku": "A"}, 3, "A", None]},
    {"a": 2, "tags": [], "items": []},
    {"a": "🎉", "b": {"c": {"d": -0.0}}},
    {"0": 1, "a": ["z", {"b": 2}]},
    {"a": [{"b": 1}, {"b": "x"}]},
]

ROWS: list[dict[str, Any]] = []
for k in range(64):
    ROWS.append(
        {
            "s": None if k % 9 == 0 else TEXTS[k % len(TEXTS)],
            "t": None if k % 5 == 1 else TEXTS[(k * 7) % len(TEXTS)],
            "i": None if k % 7 == 3 else INTS[k % len(INTS)],
            "f": None if k % 6 == 2 else FLOATS[(k * 3) % len(FLOATS)],
            "b": None if k % 8 == 5 else bool(k % 3),
            "j": JSON_DOCS[k % len(JSON_DOCS)],
        }
    )

FIELD_VALUES = {"s": TEXTS, "t": TEXTS, "i": INTS, "f": FLOATS, "b": [True, False]}
TEXT_FIELDS = ("s", "t")


def _value(field: str) -> st.SearchStrategy[Any]:
    return st.sampled_from(FIELD_VALUES[field])


# Paths that exist in many documents are listed more than once, to draw them more often.
JSON_PATHS = ["j", "j.a", "j.a", "j.a", "j.a.b", "j.a.0", "j.tags", "j.tags", "j.items"]
JSON_PATHS += ["j.items", "j.items.0.sku", "j.0", "j.b.c.d"]
JSON_SCALARS = [1, 1.0, -1, 0, 2, 0.5, 2**53, 2**53 + 1, "1", "", "abc", "x", "X", "é", "🎉"]
JSON_VALUES = [*JSON_SCALARS, True, False, None, [1, 2], [], {"b": 1}, [[1, 2], 3], ["x", "y"]]
JSON_ORDERED = [v for v in JSON_SCALARS] + [None]


@st.composite
def _json_condition(draw: st.DrawFn, depth: int = 0) -> Any:
    """An operator document (or plain value) for a JSON value."""
    ops = ["plain", "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists"]
    ops += ["$type", "$size", "$all", "$not", "$regex", "$like", "$contains", "$between"]
    if depth < 2:
        ops.append("$elemMatch")
    op = draw(st.sampled_from(ops))
    if op == "plain":
        return draw(st.sampled_from(JSON_VALUES))
    if op in ("$eq", "$ne"):
        return {op: draw(st.sampled_from(JSON_VALUES))}
    if op in ("$gt", "$gte", "$lt", "$lte"):
        return {op: draw(st.sampled_from(JSON_ORDERED))}
    if op in ("$in", "$nin", "$all"):
        return {op: draw(st.lists(st.sampled_from(JSON_VALUES), max_size=3))}
    if op == "$exists":
        return {op: draw(st.booleans())}
    if op == "$type":
        names = ["string", "number", "bool", "null", "object", "array", "date"]
        return {op: draw(st.one_of(st.sampled_from(names), st.lists(st.sampled_from(names))))}
    if op == "$size":
        return {op: draw(st.integers(0, 3))}
    if op == "$not":
        return {op: draw(st.sampled_from([{"$gt": 1}, {"$eq": "x"}, {"$in": [None, 1]}]))}
    if op == "$regex":
        return {op: draw(st.sampled_from(["^a", "b", "^x$", "1"])), "$options": "i"}
    if op == "$like":
        return {op: draw(st.sampled_from(["a%", "_", "%b%", "1"]))}
    if op == "$contains":
        return {op: draw(st.sampled_from(["a", "x", ""]))}
    if op == "$between":
        low, high = sorted(
            draw(st.lists(st.sampled_from([-1, 0, 1, 2, 0.5]), min_size=2, max_size=2))
        )
        return {op: [low, high]}
    # $elemMatch: an operator document on the element, or a filter on its fields
    inner = draw(
        st.one_of(
            st.sampled_from([{"$gt": 1}, {"$eq": "x"}, {"$in": ["y", 2]}, {"$type": "array"}]),
            st.dictionaries(
                st.sampled_from(["sku", "q", "b", "0"]),
                _json_condition(depth + 1),
                min_size=1,
                max_size=2,
            ),
        )
    )
    return {op: inner}


@st.composite
def _leaf(draw: st.DrawFn) -> dict[str, Any]:
    field = draw(st.sampled_from([*FIELD_VALUES, "j"]))
    if field == "j":
        return {draw(st.sampled_from(JSON_PATHS)): draw(_json_condition())}
    ops = [
        "eq",
        "plain",
        "$ne",
        "$gt",
        "$gte",
        "$lt",
        "$lte",
        "$in",
        "$nin",
        "$exists",
        "null",
        "$not",
        "$between",
        "$type",
        "$expr",
    ]
    if field == "i":
        ops.append("$mod")
    if field in TEXT_FIELDS:
        ops += ["$like", "$ilike", "$contains", "$startswith", "$endswith", "$regex"]
    op = draw(st.sampled_from(ops))
    if op == "plain":
        return {field: draw(_value(field))}
    if op == "null":
        return {field: None}
    if op == "eq":
        return {field: {"$eq": draw(st.one_of(_value(field), st.none()))}}
    if op in ("$in", "$nin"):
        values = draw(st.lists(st.one_of(_value(field), st.none()), max_size=4))
        return {field: {op: values}}
    if op == "$mod":
        return {
            field: {
                "$mod": [
                    draw(st.sampled_from([1, 2, 3, -3, 7])),
                    draw(st.sampled_from([-1, 0, 1, 2])),
                ]
            }
        }
    if op == "$type":
        names = ["string", "int", "long", "double", "number", "bool", "null", "date"]
        return {
            field: {
                "$type": draw(
                    st.one_of(
                        st.sampled_from(names),
                        st.lists(st.sampled_from(names), min_size=1, max_size=2),
                    )
                )
            }
        }
    if op == "$expr":
        cmp = draw(st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"]))
        if field in TEXT_FIELDS:
            other = "t" if field == "s" else "s"
            right: Any = draw(st.one_of(st.just(f"${other}"), _value(field), st.none()))
        else:
            right = draw(st.one_of(_value(field), st.none()))
        return {"$expr": {cmp: [f"${field}", right]}}
    if op == "$exists":
        return {field: {"$exists": draw(st.booleans())}}
    if op == "$between":
        low, high = sorted([draw(_value(field)), draw(_value(field))], key=_sort_key)
        return {field: {"$between": [low, high]}}
    if op == "$not":
        inner = draw(st.sampled_from(["$gt", "$lt", "$eq", "$in"]))
        value: Any = [draw(_value(field))] if inner == "$in" else draw(_value(field))
        return {field: {"$not": {inner: value}}}
    if op in ("$like", "$ilike"):
        pattern = draw(
            st.sampled_from(
                ["a%", "%b", "_", "A_", "%\\%%", "%\\_%", "é%", "%", "ab", "%\\\\%", "_b%"]
            )
        )
        return {field: {op: pattern}}
    if op == "$regex":
        pattern = draw(
            st.sampled_from(
                [
                    "^a",
                    "b$",
                    "^$",
                    "a.c",
                    "^ab?c?$",
                    "\\d",
                    "[aé]",
                    "^z",
                    "c$",
                    "^line.break$",
                    "^.{2}$",
                    "\\w+",
                ]
            )
        )
        options = draw(st.sampled_from(["", "i", "m", "s", "ms", "is"]))
        return {field: {"$regex": pattern, "$options": options}}
    if op in ("$contains", "$startswith", "$endswith"):
        return {field: {op: draw(st.sampled_from(["a", "%", "_", "\\", "b", "é", ""]))}}
    return {field: {op: draw(_value(field))}}


def _sort_key(v: Any) -> Any:
    return (str(type(v)), v)


_filters = st.recursive(
    _leaf(),
    lambda children: st.one_of(
        st.builds(lambda xs: {"$and": xs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda xs: {"$or": xs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda xs: {"$nor": xs}, st.lists(children, min_size=1, max_size=2)),
        st.builds(lambda x: {"$not": x}, children),
        st.builds(lambda a, b: {**a, **b}, children, children),
    ),
    max_leaves=6,
)


def test_reference_evaluator_follows_mongodb_on_known_cases() -> None:
    row = {"s": None, "i": 5}
    assert matches(row, {"s": None}) and matches(row, {"s": {"$ne": "x"}})
    assert not matches(row, {"s": {"$gt": ""}}) and matches(row, {"s": {"$gte": None}})
    assert matches(row, {"s": {"$nin": ["x"]}}) and not matches(row, {"s": {"$in": []}})
    assert matches(row, {"s": {"$not": {"$regex": "a"}}})
    assert not matches(row, {"i": {"$gt": "4"}})  # no cross-type ordering


@pytest.fixture
def table(db: DataFlow) -> tuple[DataFlow, list[dict[str, Any]]]:
    @db.model
    class Edge:
        s: str | None = None
        t: str | None = None
        i: int | None = None
        f: float | None = None
        b: bool | None = None
        j: dict | None = None  # type: ignore[type-arg]
        __dataflow__ = {"indexes": [["t"]]}

    ids = one(db, "EdgeBulkCreateNode", {"data": ROWS, "return_ids": True})["ids"]
    rows = [dict(r, id=i) for r, i in zip(ROWS, ids, strict=True)]
    return db, rows


_json_filters = st.recursive(
    st.builds(lambda p, c: {p: c}, st.sampled_from(JSON_PATHS), _json_condition()),
    lambda children: st.one_of(
        st.builds(lambda xs: {"$or": xs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda x: {"$not": x}, children),
        st.builds(lambda a, b: {**a, **b}, children, children),
    ),
    max_leaves=3,
)


def test_filters_match_the_reference_on_every_database(
    table: tuple[DataFlow, list[dict[str, Any]]],
) -> None:
    _check_against_reference(table, _filters, EXAMPLES)


def test_json_filters_match_the_reference_on_every_database(
    table: tuple[DataFlow, list[dict[str, Any]]],
) -> None:
    """Conditions on a JSON field and on dotted paths into it, on their own."""
    _check_against_reference(table, _json_filters, max(EXAMPLES // 2, 1))


def _check_against_reference(
    table: tuple[DataFlow, list[dict[str, Any]]],
    filters: st.SearchStrategy[dict[str, Any]],
    examples: int,
) -> None:
    db, rows = table
    model = db.get_model("Edge")
    node = db.nodes["EdgeListNode"]
    from dataflow_engine import _loop

    async def ids_for(flt: dict[str, Any]) -> list[int]:
        prepared = node.prepare({"filter": flt, "fields": ["id"]})
        out = await node().run(ExecContext(db), prepared)
        return sorted(r["id"] for r in out["records"])

    _loop.run_sync(db._ensure_ready(model))

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(filters)
    def check(flt: dict[str, Any]) -> None:
        expected = sorted(r["id"] for r in rows if matches(r, flt, ("j",)))
        got = _loop.run_sync(ids_for(flt))
        assert got == expected, (
            f"filter {flt!r}: database {db.dialect.name} returned "
            f"{len(got)} rows, the reference {len(expected)}"
        )

    check()
