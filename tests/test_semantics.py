"""A filter means the same thing on every dialect: the traps of default collations,
padding, wildcards and quoting, checked on each backend."""

from __future__ import annotations

import pytest

from dataflow_engine import DataFlow
from tests.support import one

WORDS = ["Ann", "ann", "ANN", "ann ", "Änn", "anne", "a%n", "a_n", "a\\n", "résumé", "resume"]


@pytest.fixture
def words(db: DataFlow) -> DataFlow:
    @db.model
    class Word:
        text: str
        tag: str | None = None
        __dataflow__ = {"indexes": [["tag"]]}

    one(db, "WordBulkCreateNode", {"data": [{"text": w, "tag": w} for w in WORDS]})
    return db


def matching(db: DataFlow, flt: dict[str, object], field: str = "text") -> list[str]:
    rows = one(db, "WordListNode", {"filter": flt, "fields": [field]})["records"]
    return sorted(r[field] for r in rows)


@pytest.mark.parametrize("field", ["text", "tag"])  # LONGTEXT/TEXT and an indexed column
def test_equality_is_exact_case_accent_and_trailing_space(words: DataFlow, field: str) -> None:
    assert matching(words, {field: "ann"}, field) == ["ann"]
    assert matching(words, {field: "ann "}, field) == ["ann "]
    assert matching(words, {field: "resume"}, field) == ["resume"]
    assert matching(words, {field: {"$in": ["ANN", "résumé"]}}, field) == ["ANN", "résumé"]
    assert len(matching(words, {field: {"$ne": "ann"}}, field)) == len(WORDS) - 1
    assert matching(words, {field: {"$gt": "ann", "$lt": "anne"}}, field) == ["ann "]


def test_like_is_case_sensitive_and_ilike_is_not(words: DataFlow) -> None:
    assert matching(words, {"text": {"$like": "an%"}}) == ["ann", "ann ", "anne"]
    assert matching(words, {"text": {"$ilike": "an_"}}) == ["ANN", "Ann", "ann"]
    assert matching(words, {"text": {"$ilike": "änn"}}) == ["Änn"]
    assert matching(words, {"text": {"$startswith": "a%"}}) == ["a%n"]
    assert matching(words, {"text": {"$contains": "_"}}) == ["a_n"]
    assert matching(words, {"text": {"$endswith": "\\n"}}) == ["a\\n"]
    assert matching(words, {"text": {"$like": "a\\%n"}}) == ["a%n"]


def test_regex_case_follows_the_options_not_the_collation(words: DataFlow) -> None:
    assert matching(words, {"text": {"$regex": "^ann$"}}) == ["ann"]
    assert matching(words, {"text": {"$regex": "^ann$", "$options": "i"}}) == ["ANN", "Ann", "ann"]
    assert matching(words, {"text": {"$regex": "^r.sum.$"}}) == ["resume", "résumé"]


def test_order_is_by_code_point(words: DataFlow) -> None:
    rows = one(
        words,
        "WordListNode",
        {
            "order_by": ["text"],
            "fields": ["text"],
            "filter": {"text": {"$in": ["ann", "Ann", "ANN", "Änn"]}},
        },
    )
    assert [r["text"] for r in rows["records"]] == ["ANN", "Ann", "ann", "Änn"]


def test_identifiers_with_quotes_and_percent_signs(db: DataFlow) -> None:
    weird = type(
        "Weird",
        (),
        {
            "__annotations__": {"50% off": str, 'say "hi"': int, "it's": bool},
            "__dataflow__": {"table": "odd `table` 100%"},
        },
    )
    db.model(weird)
    row = one(db, "WeirdCreateNode", {"50% off": "yes", 'say "hi"': 1, "it's": True})
    assert row["50% off"] == "yes" and row['say "hi"'] == 1 and row["it's"] is True
    found = one(
        db, "WeirdListNode", {"filter": {"50% off": {"$like": "y%"}}, "order_by": ['-say "hi"']}
    )
    assert found["count"] == 1
    assert one(db, "WeirdUpdateNode", {"id": row["id"], "fields": {"it's": False}})["it's"] is False
