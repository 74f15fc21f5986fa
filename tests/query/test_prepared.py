"""Prepared filters: a document whose shape was seen before is served from a template,
and must compile to exactly the SQL and parameters a fresh parse gives."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataflow_engine.dialects import MySQLDialect, Params, PostgresDialect, SQLiteDialect
from dataflow_engine.errors import FilterError
from dataflow_engine.models import build_model
from dataflow_engine.query import Bound, parse_filter, prepare_filter
from tests.test_differential import _filters

DIALECTS = [
    SQLiteDialect(),
    PostgresDialect(),
    MySQLDialect(mariadb=True),
    MySQLDialect(mariadb=False),
]


class Edge:
    s: str | None = None
    t: str | None = None
    i: int | None = None
    f: float | None = None
    b: bool | None = None
    j: dict | None = None  # type: ignore[type-arg]
    d: Decimal | None = None
    when: dt.datetime | None = None


MODEL = build_model(Edge)


def both(
    document: Any, offset: int = 0
) -> list[tuple[tuple[str, list[Any]], tuple[str, list[Any]]]]:
    out = []
    prepared = prepare_filter(document, MODEL, parse_filter)
    plain = parse_filter(document, MODEL)
    for dialect in DIALECTS:
        p1, p2 = Params(dialect), Params(dialect)
        p1.values = ["x"] * offset
        p2.values = ["x"] * offset
        out.append(
            (
                (dialect.compile_filter(prepared, p1), p1.values),
                (dialect.compile_filter(plain, p2), p2.values),
            )
        )
    return out


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_filters, st.integers(0, 3))
def test_prepared_filters_compile_like_fresh_ones(document: dict[str, Any], offset: int) -> None:
    for prepared, plain in both(document, offset):
        assert prepared == plain


def test_a_seen_shape_is_bound_not_parsed() -> None:
    first = {"i": {"$gte": 1, "$lt": 9}, "s": {"$in": ["a", "b"]}, "b": True}
    prepare_filter(first, MODEL, parse_filter)
    again = prepare_filter(
        {"i": {"$gte": 5, "$lt": 7}, "s": {"$in": ["c", "d"]}, "b": False}, MODEL, parse_filter
    )
    assert isinstance(again, Bound)
    assert again.values == [5, 7, "c", "d", False]
    for prepared, plain in both({"i": {"$gte": 5, "$lt": 7}, "s": {"$in": ["c", "d"]}, "b": False}):
        assert prepared == plain


@pytest.mark.parametrize(
    "documents",
    [
        [{"s": {"$regex": "^a"}}, {"s": {"$regex": "^b", "$options": "i"}}],
        [{"s": {"$contains": "%"}}, {"s": {"$contains": "_"}}],
        [{"i": {"$exists": True}}, {"i": {"$exists": False}}],
        [{"i": None}, {"i": 0}],
        [{"i": {"$in": [1, 2]}}, {"i": {"$in": [1, None]}}, {"i": {"$in": [1, 2, 3]}}],
        [{"j.a": 1}, {"j.a": "1"}, {"j.b": 1}],
        [{"i": {"$mod": [2, 0]}}, {"i": {"$mod": [3, 1]}}],
        [{"s": {"$type": "string"}}, {"s": {"$type": "null"}}],
        [{"$expr": {"$gt": ["$i", 1]}}, {"$expr": {"$gt": ["$i", 2]}}],
        [{"b": True}, {"i": 1}, {"b": False}],
        [{"d": Decimal("1.5")}, {"d": "2.5"}, {"when": "2024-01-01T00:00:00Z"}],
    ],
)
def test_values_that_shape_the_sql_are_never_mixed_up(documents: list[dict[str, Any]]) -> None:
    for _ in range(2):
        for document in documents:
            for prepared, plain in both(document):
                assert prepared == plain


def test_a_bad_value_in_a_seen_shape_is_the_parsers_error() -> None:
    prepare_filter({"i": {"$gt": 1}}, MODEL, parse_filter)
    with pytest.raises(FilterError) as info:
        prepare_filter({"i": {"$gt": "many"}}, MODEL, parse_filter)
    assert info.value.code == "DF-FILTER-TYPE"
    assert "filter.i.$gt" in info.value.message
