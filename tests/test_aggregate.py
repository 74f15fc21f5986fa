"""Aggregation pipelines: one SQL statement per pipeline, the same answer as MongoDB's
(the reference evaluator) on every database."""

from __future__ import annotations

import math
import os
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataflow_engine import DataFlow, UnsupportedError, WorkflowValidationError
from tests.reference import run_pipeline
from tests.support import one

EXAMPLES = int(os.environ.get("DATAFLOW_DIFF_EXAMPLES", "2000")) // 10

ROWS = [
    {
        "region": ["eu", "us", "asia", None][k % 4],
        "kind": ["a", "b"][k % 2],
        "qty": None if k % 7 == 3 else (k * 37) % 50 - 10,
        "price": None if k % 5 == 1 else ((k * 13) % 40) / 4,
        "amount": None if k % 6 == 0 else Decimal((k * 11) % 300) / 100,
    }
    for k in range(60)
]


@pytest.fixture
def sales(db: DataFlow) -> DataFlow:
    @db.model
    class Sale:
        region: str | None = None
        kind: str = "a"
        qty: int | None = None
        price: float | None = None
        amount: Decimal | None = None

    one(db, "SaleBulkCreateNode", {"data": ROWS})
    return db


def aggregate(db: DataFlow, pipeline: list[Any], **extra: Any) -> list[dict[str, Any]]:
    out = one(db, "SaleListNode", {"aggregate": pipeline, **extra})
    assert out["count"] == len(out["records"]) and out["next_cursor"] is None
    return list(out["records"])


def same(got: list[dict[str, Any]], want: list[dict[str, Any]], ordered: bool) -> None:
    def norm(doc: dict[str, Any]) -> dict[str, Any]:
        return {
            k: (
                round(v, 9)
                if isinstance(v, float)
                else Decimal(v).quantize(Decimal("1E-9"))
                if isinstance(v, Decimal)
                else v
            )
            for k, v in doc.items()
        }

    g, w = [norm(d) for d in got], [norm(d) for d in want]
    if not ordered:
        g, w = sorted(g, key=repr), sorted(w, key=repr)
    assert g == w


def test_group_sort_and_accumulators(sales: DataFlow) -> None:
    pipeline = [
        {"$match": {"qty": {"$gte": 0}}},
        {
            "$group": {
                "_id": "$region",
                "n": {"$sum": 1},
                "q": {"$sum": "$qty"},
                "avg": {"$avg": "$price"},
                "lo": {"$min": "$price"},
                "hi": {"$max": "$qty"},
                "amt": {"$sum": "$amount"},
                "first_kind": {"$min": "$kind"},
                "c": {"$count": {}},
            }
        },
        {"$sort": {"_id": 1}},
    ]
    got = aggregate(sales, pipeline)
    same(got, run_pipeline(ROWS, pipeline), ordered=True)
    assert all(type(d["q"]) is int and type(d["n"]) is int for d in got)
    assert all(isinstance(d["amt"], Decimal) for d in got)


def test_whole_table_group_count_and_paging_stages(sales: DataFlow) -> None:
    for pipeline, ordered in [
        ([{"$group": {"_id": None, "total": {"$sum": "$qty"}, "avg": {"$avg": "$amount"}}}], True),
        ([{"$match": {"region": "eu"}}, {"$count": "n"}], True),
        ([{"$match": {"region": "nowhere"}}, {"$count": "n"}], True),  # no document
        ([{"$match": {"qty": None}}, {"$group": {"_id": None, "s": {"$sum": "$qty"}}}], True),
        (
            [
                {"$sort": {"qty": -1, "price": 1}},
                {"$skip": 3},
                {"$limit": 5},
                {"$project": {"qty": 1, "price": 1}},
            ],
            False,
        ),
        ([{"$group": {"_id": {"r": "$region", "k": "$kind"}, "q": {"$sum": "$qty"}}}], False),
        (
            [
                {"$group": {"_id": "$kind", "q": {"$sum": "$qty"}}},
                {"$match": {"q": {"$gt": 0}}},
                {"$sort": {"q": -1}},
                {"$limit": 1},
            ],
            True,
        ),
    ]:
        same(aggregate(sales, pipeline), run_pipeline(ROWS, pipeline), ordered)


def test_pipeline_errors_are_precise(sales: DataFlow) -> None:
    for pipeline, code in [
        ([{"$gruop": {"_id": None}}], "DF-FILTER-UNKNOWN-OPERATOR"),
        ([{"$group": {"_id": "$regoin"}}], "DF-FILTER-UNKNOWN-FIELD"),
        ([{"$group": {"_id": None, "x": {"$summ": "$qty"}}}], "DF-FILTER-UNKNOWN-OPERATOR"),
        ([{"$group": {"_id": None, "x": {"$sum": "$region"}}}], "DF-FILTER-TYPE"),
        ([{"$unwind": "$tags"}], "DF-UNSUPPORTED"),
        ([{"$limit": -1}], "DF-FILTER-PIPELINE"),
    ]:
        with pytest.raises(WorkflowValidationError) as info:
            aggregate(sales, pipeline)
        assert code in str(info.value), (pipeline, str(info.value))
    with pytest.raises(WorkflowValidationError) as info:
        aggregate(sales, [{"$count": "n"}], order_by=["qty"])
    assert "DF-PARAM-CONFLICT" in str(info.value)
    with pytest.raises(UnsupportedError):
        from dataflow_engine.query import parse_pipeline

        parse_pipeline(
            [{"$group": {"_id": None, "f": {"$first": "$qty"}}}], sales.get_model("Sale")
        )


_num = st.sampled_from(["$qty", "$price", "$amount"])
_key = st.sampled_from(["$region", "$kind", None])


@st.composite
def _pipelines(draw: st.DrawFn) -> list[dict[str, Any]]:
    stages: list[dict[str, Any]] = []
    if draw(st.booleans()):
        stages.append(
            {
                "$match": draw(
                    st.sampled_from(
                        [
                            {"qty": {"$gt": 0}},
                            {"region": {"$in": ["eu", None]}},
                            {"price": None},
                            {"$or": [{"kind": "a"}, {"amount": {"$gte": Decimal("1")}}]},
                        ]
                    )
                )
            }
        )
    accumulators = {
        f"a{i}": {draw(st.sampled_from(["$sum", "$avg", "$min", "$max"])): draw(_num)}
        for i in range(draw(st.integers(1, 3)))
    }
    stages.append({"$group": {"_id": draw(_key), "n": {"$sum": 1}, **accumulators}})
    stages.append({"$sort": {"_id": 1}})
    if draw(st.booleans()):
        stages.append({"$limit": draw(st.integers(0, 3))})
    return stages


def test_random_pipelines_match_the_reference(sales: DataFlow) -> None:
    @settings(
        max_examples=max(EXAMPLES, 20), deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(_pipelines())
    def check(pipeline: list[dict[str, Any]]) -> None:
        got = aggregate(sales, pipeline)
        want = run_pipeline(ROWS, pipeline)
        same(got, want, ordered=True)

    check()
    assert math.isfinite(1.0)
