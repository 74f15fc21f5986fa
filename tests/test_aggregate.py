"""Aggregation pipelines: one SQL statement per pipeline, the same answer as MongoDB's
(the reference evaluator) on every database."""

from __future__ import annotations

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
        "tags": [None, [], ["x"], ["x", "y"], ["y", "x", "x"], ["é", "z"]][k % 6],
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
        tags: list[str] | None = None

    one(db, "SaleBulkCreateNode", {"data": ROWS})
    return db


def aggregate(db: DataFlow, pipeline: list[Any], **extra: Any) -> list[dict[str, Any]]:
    out = one(db, "SaleListNode", {"aggregate": pipeline, **extra})
    assert out["count"] == len(out["records"]) and out["next_cursor"] is None
    return list(out["records"])


def same(got: list[dict[str, Any]], want: list[dict[str, Any]], ordered: bool) -> None:
    def value(v: Any) -> Any:
        if isinstance(v, float):
            return round(v, 9)
        if isinstance(v, Decimal):
            return Decimal(v).quantize(Decimal("1E-9"))
        if isinstance(v, list):
            return [value(x) for x in v]
        return v

    def norm(doc: dict[str, Any]) -> dict[str, Any]:
        # $addToSet outputs ("set" names) have no order: compare them sorted.
        return {
            k: sorted(value(v), key=repr) if k.startswith("set") and v else value(v)
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
        ([{"$unwind": "$kind"}], "DF-FILTER-TYPE"),
        ([{"$sort": {"tags": 1}}], "DF-FILTER-TYPE"),
        ([{"$unwind": {"path": "$tags", "keep": True}}], "DF-FILTER-PIPELINE"),
        ([{"$unwind": {"path": "$tags", "includeArrayIndex": "qty"}}], "DF-FILTER-PIPELINE"),
        (
            [
                {"$group": {"_id": "$kind", "n": {"$sum": 1}}},
                {"$group": {"_id": None, "f": {"$first": "$n"}}},
            ],
            "DF-FILTER-PIPELINE",  # $first needs a known order
        ),
        ([{"$group": {"_id": None, "p": {"$push": "$amount"}}}], "DF-UNSUPPORTED"),
        ([{"$project": {"qty": 1, "price": 0}}], "DF-FILTER-PIPELINE"),
        ([{"$project": {"q": {"$add": ["$qty", 1]}}}], "DF-UNSUPPORTED"),
        ([{"$group": {"_id": {"a.b": "$kind"}}}], "DF-FILTER-PIPELINE"),
        ([{"$limit": -1}], "DF-FILTER-PIPELINE"),
        ([{"$skip": 10**30}], "out of range"),
    ]:
        with pytest.raises(WorkflowValidationError) as info:
            aggregate(sales, pipeline)
        assert code in str(info.value), (pipeline, str(info.value))
    with pytest.raises(WorkflowValidationError) as info:
        aggregate(sales, [{"$count": "n"}], order_by=["qty"])
    assert "DF-PARAM-CONFLICT" in str(info.value)
    with pytest.raises(UnsupportedError):
        from dataflow_engine.query import parse_pipeline

        parse_pipeline([{"$lookup": {"from": "x"}}], sales.get_model("Sale"))


def test_unwind(sales: DataFlow) -> None:
    for pipeline, ordered in [
        ([{"$unwind": "$tags"}, {"$project": {"kind": 1, "tags": 1}}], True),
        (
            [
                {"$unwind": {"path": "$tags", "preserveNullAndEmptyArrays": True}},
                {"$project": {"qty": 1, "tags": 1}},
            ],
            True,
        ),
        (
            [
                {"$sort": {"qty": -1}},
                {"$unwind": {"path": "$tags", "includeArrayIndex": "i"}},
                {"$project": {"tags": 1, "i": 1}},
                {"$limit": 12},
            ],
            True,
        ),
        (
            [
                {"$unwind": "$tags"},
                {"$match": {"tags": {"$gte": "y"}}},
                {"$group": {"_id": "$tags", "n": {"$sum": 1}, "q": {"$sum": "$qty"}}},
                {"$sort": {"_id": 1}},
            ],
            True,
        ),
    ]:
        same(aggregate(sales, pipeline), run_pipeline(ROWS, pipeline), ordered)


def test_first_last_push_and_add_to_set(sales: DataFlow) -> None:
    for pipeline in [
        # no $sort: the documents come in primary-key order
        [{"$group": {"_id": "$kind", "f": {"$first": "$qty"}, "l": {"$last": "$amount"}}}],
        [
            {"$sort": {"price": -1}},
            {
                "$group": {
                    "_id": "$region",
                    "f": {"$first": "$qty"},
                    "l": {"$last": "$price"},
                    "p": {"$push": "$kind"},
                    "set": {"$addToSet": "$qty"},
                    "n": {"$sum": 1},
                }
            },
            {"$sort": {"_id": 1}},
        ],
        [
            {"$match": {"qty": {"$lt": 0}}},
            {"$group": {"_id": None, "p": {"$push": "$price"}, "set": {"$addToSet": "$kind"}}},
        ],
        [
            {"$unwind": "$tags"},
            {"$sort": {"qty": 1, "tags": 1}},
            {"$group": {"_id": "$kind", "p": {"$push": "$tags"}, "f": {"$first": "$tags"}}},
            {"$sort": {"_id": -1}},
        ],
    ]:
        ordered = "$sort" in pipeline[-1]  # groups come in no particular order
        same(aggregate(sales, pipeline), run_pipeline(ROWS, pipeline), ordered)


def test_document_ids_can_be_matched_sorted_and_projected(sales: DataFlow) -> None:
    pipeline = [
        {"$group": {"_id": {"r": "$region", "k": "$kind"}, "q": {"$sum": "$qty"}}},
        {"$match": {"_id.k": "a", "q": {"$gt": 0}}},
        {"$sort": {"_id.r": 1}},
    ]
    got = aggregate(sales, pipeline)
    assert got and all(set(d) == {"_id", "q"} and d["_id"]["k"] == "a" for d in got)
    same(got, run_pipeline(ROWS, pipeline), ordered=True)
    regroup = [
        {"$group": {"_id": {"r": "$region", "k": "$kind"}, "q": {"$sum": "$qty"}}},
        {"$group": {"_id": "$_id.k", "best": {"$max": "$q"}}},
        {"$sort": {"_id": 1}},
    ]
    same(aggregate(sales, regroup), run_pipeline(ROWS, regroup), ordered=True)


def test_project_keeps_drops_and_renames(sales: DataFlow) -> None:
    for pipeline in [
        [{"$project": {"tags": 0, "amount": 0}}, {"$limit": 5}],
        # keeping id keeps the key that breaks ties between equal totals
        [{"$project": {"total": "$amount", "qty": 1, "id": 1}}, {"$sort": {"total": -1}}],
        # the order survives a $project that drops the field it sorts by
        [{"$sort": {"price": 1}}, {"$project": {"kind": 1}}, {"$skip": 2}, {"$limit": 9}],
        [{"$sort": {"qty": -1}}, {"$project": {"q": "$qty", "kind": 1}}],
    ]:
        auto = ("id", "created_at", "updated_at")  # columns the reference rows lack
        got = [{k: v for k, v in d.items() if k not in auto} for d in aggregate(sales, pipeline)]
        want = [{k: v for k, v in d.items() if k not in auto} for d in run_pipeline(ROWS, pipeline)]
        assert [list(d) for d in got] == [list(d) for d in want]  # the same fields, in order
        same(got, want, ordered=True)


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
    unwound = draw(st.booleans())
    if unwound:
        stages.append({"$unwind": "$tags"})
        key = draw(st.sampled_from(["$region", "$kind", "$tags", None]))
    else:
        key = draw(_key)
    # id (and the element) complete the order, so "first" is one document everywhere
    by = draw(st.sampled_from(["qty", "price", "kind"]))
    tie = {"tags": 1} if unwound else {}
    stages.append({"$sort": {by: draw(st.sampled_from([1, -1])), "id": 1, **tie}})
    accumulators: dict[str, Any] = {}
    for i in range(draw(st.integers(1, 4))):
        acc = draw(
            st.sampled_from(
                ["$sum", "$avg", "$min", "$max", "$first", "$last", "$push", "$addToSet"]
            )
        )
        src = draw(
            st.sampled_from(["$qty", "$price", "$kind"])
            if acc in ("$push", "$addToSet", "$first", "$last")
            else _num
        )
        accumulators[f"{'set' if acc == '$addToSet' else 'a'}{i}"] = {acc: src}
    stages.append({"$group": {"_id": key, "n": {"$sum": 1}, **accumulators}})
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
        want = run_pipeline(rows, pipeline)
        same(got, want, ordered=True)

    ids = [r["id"] for r in aggregate(sales, [{"$project": {"id": 1}}])]
    rows = [dict(r, id=i) for r, i in zip(ROWS, ids, strict=True)]
    check()
