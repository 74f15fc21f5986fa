"""Filter documents parsed into the AST: operators, MongoDB null semantics, errors."""

from __future__ import annotations

import datetime as dt
import enum
import re
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dataflow_engine.errors import (
    DataFlowError,
    FilterError,
    UnsupportedError,
    ValidationError,
)
from dataflow_engine.models import build_model
from dataflow_engine.query import (
    FIELD_OPERATORS,
    And,
    Compare,
    Const,
    Exists,
    In,
    JsonElemMatch,
    JsonExists,
    JsonRef,
    JsonSize,
    JsonTest,
    Like,
    Not,
    Or,
    Regex,
    escape_like,
    parse_filter,
)


class Status(str, enum.Enum):
    ACTIVE = "active"
    ARCHIVED = "archived"


class Level(enum.Enum):
    LOW = 1
    HIGH = 2


class Person:
    name: str
    age: int
    score: float
    active: bool
    balance: Decimal
    born: dt.date
    seen_at: dt.datetime | None = None
    opens: dt.time | None = None
    ref: uuid.UUID | None = None
    photo: bytes | None = None
    meta: dict | None = None
    tags: list[str] | None = None
    status: Status = Status.ACTIVE
    level: Level | None = None
    nickname: str | None = None


MODEL = build_model(Person)
F = MODEL.fields


def parse(document: Any) -> Any:
    return parse_filter(document, MODEL)


def filter_error(document: Any) -> FilterError:
    with pytest.raises(FilterError) as info:
        parse(document)
    return info.value


# -- structure ---------------------------------------------------------------------------


@pytest.mark.parametrize("document", [None, {}])
def test_an_empty_filter_matches_everything(document: Any) -> None:
    assert parse(document) is None


def test_a_plain_value_means_equality() -> None:
    assert parse({"name": "Ann"}) == Compare(F["name"], "eq", "Ann")


def test_keys_of_one_document_are_combined_with_and() -> None:
    assert parse({"name": "Ann", "age": 30}) == And(
        (Compare(F["name"], "eq", "Ann"), Compare(F["age"], "eq", 30))
    )


def test_several_operators_on_one_field_are_combined_with_and() -> None:
    assert parse({"age": {"$gte": 18, "$lt": 65}}) == And(
        (Compare(F["age"], "gte", 18), Compare(F["age"], "lt", 65))
    )


# -- comparison --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "op"),
    [
        ("$eq", "eq"),
        ("$ne", "ne"),
        ("$gt", "gt"),
        ("$gte", "gte"),
        ("$lt", "lt"),
        ("$lte", "lte"),
    ],
)
def test_comparison_operators(operator: str, op: str) -> None:
    assert parse({"age": {operator: 30}}) == Compare(F["age"], op, 30)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param({"nickname": None}, Exists(F["nickname"], False), id="plain-null"),
        pytest.param({"nickname": {"$eq": None}}, Exists(F["nickname"], False), id="eq-null"),
        pytest.param({"nickname": {"$ne": None}}, Exists(F["nickname"], True), id="ne-null"),
        pytest.param({"age": {"$gte": None}}, Exists(F["age"], False), id="gte-null"),
        pytest.param({"age": {"$lte": None}}, Exists(F["age"], False), id="lte-null"),
        pytest.param({"age": {"$gt": None}}, Const(False), id="gt-null"),
        pytest.param({"age": {"$lt": None}}, Const(False), id="lt-null"),
        # A non-nullable field may still be compared with null (it simply never matches).
        pytest.param({"name": None}, Exists(F["name"], False), id="non-nullable-null"),
    ],
)
def test_null_follows_mongodb_semantics(document: dict[str, Any], expected: Any) -> None:
    assert parse(document) == expected


def test_ne_is_kept_as_ne_so_dialects_can_match_nulls() -> None:
    # The SQL for this must also match NULL nicknames (checked in tests/dialects).
    assert parse({"nickname": {"$ne": "x"}}) == Compare(F["nickname"], "ne", "x")


# -- $in / $nin --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param({"age": {"$in": [1, 2]}}, In(F["age"], (1, 2), False, False), id="in"),
        pytest.param({"age": {"$nin": [1, 2]}}, In(F["age"], (1, 2), True, False), id="nin"),
        pytest.param({"age": {"$in": []}}, Const(False), id="in-empty-matches-nothing"),
        pytest.param({"age": {"$nin": []}}, Const(True), id="nin-empty-matches-everything"),
        pytest.param(
            {"age": {"$in": [1, None]}}, In(F["age"], (1,), False, True), id="in-with-null"
        ),
        pytest.param(
            {"age": {"$nin": [1, None]}}, In(F["age"], (1,), True, True), id="nin-with-null"
        ),
        pytest.param({"age": {"$in": [None]}}, In(F["age"], (), False, True), id="in-only-null"),
        pytest.param({"age": {"$nin": [None]}}, In(F["age"], (), True, True), id="nin-only-null"),
        pytest.param(
            {"age": {"$in": [3, 1, 3, 1]}},
            In(F["age"], (3, 1, 3, 1), False, False),
            id="duplicates",
        ),
        pytest.param(
            {"age": {"$in": (1, 2)}}, In(F["age"], (1, 2), False, False), id="tuple-accepted"
        ),
    ],
)
def test_in_and_nin(document: dict[str, Any], expected: Any) -> None:
    assert parse(document) == expected


@pytest.mark.parametrize("operator", ["$in", "$nin"])
@pytest.mark.parametrize("operand", [1, "a", {"a": 1}, None])
def test_in_and_nin_take_a_list(operator: str, operand: Any) -> None:
    error = filter_error({"age": {operator: operand}})
    assert error.code == "DF-FILTER-MALFORMED"
    assert error.details["operator"] == operator


def test_in_values_are_validated_one_by_one() -> None:
    error = filter_error({"age": {"$in": [1, "two"]}})
    assert error.code == "DF-FILTER-TYPE"
    assert "[1]" in error.message


# -- logic -------------------------------------------------------------------------------


def test_and_or_nor() -> None:
    a, b = {"name": "a"}, {"age": 1}
    ca, cb = Compare(F["name"], "eq", "a"), Compare(F["age"], "eq", 1)
    assert parse({"$and": [a, b]}) == And((ca, cb))
    assert parse({"$or": [a, b]}) == Or((ca, cb))
    assert parse({"$nor": [a, b]}) == Not(Or((ca, cb)))


def test_a_single_document_in_a_logical_list_is_the_document_itself() -> None:
    ca = Compare(F["name"], "eq", "a")
    assert parse({"$and": [{"name": "a"}]}) == ca
    assert parse({"$or": [{"name": "a"}]}) == ca
    assert parse({"$nor": [{"name": "a"}]}) == Not(ca)


def test_an_empty_document_inside_a_logical_list_matches_everything() -> None:
    assert parse({"$or": [{}, {"name": "a"}]}) == Or((Const(True), Compare(F["name"], "eq", "a")))


def test_logical_operators_combine_with_field_keys() -> None:
    assert parse({"age": 1, "$or": [{"name": "a"}, {"name": "b"}]}) == And(
        (
            Compare(F["age"], "eq", 1),
            Or((Compare(F["name"], "eq", "a"), Compare(F["name"], "eq", "b"))),
        )
    )


def test_top_level_not_negates_a_document() -> None:
    assert parse({"$not": {"name": "a"}}) == Not(Compare(F["name"], "eq", "a"))


def test_field_level_not_negates_an_operator_document() -> None:
    assert parse({"age": {"$not": {"$gt": 5}}}) == Not(Compare(F["age"], "gt", 5))


@pytest.mark.parametrize("pattern", ["^a", re.compile("^a", re.IGNORECASE)])
def test_field_level_not_accepts_a_regular_expression(pattern: Any) -> None:
    node = parse({"name": {"$not": pattern}})
    assert isinstance(node, Not)
    assert isinstance(node.item, Regex)
    assert node.item.pattern == "^a"


@pytest.mark.parametrize("operand", [5, None, {}, {"a": 1}])
def test_field_level_not_needs_an_operator_document(operand: Any) -> None:
    assert filter_error({"age": {"$not": operand}}).code == "DF-FILTER-MALFORMED"


@pytest.mark.parametrize("operator", ["$and", "$or", "$nor"])
@pytest.mark.parametrize("operand", [[], {}, {"name": "a"}, "x", None])
def test_logical_lists_must_be_non_empty_lists(operator: str, operand: Any) -> None:
    error = filter_error({operator: operand})
    assert error.code == "DF-FILTER-MALFORMED"
    assert error.details["operator"] == operator


@pytest.mark.parametrize("operator", ["$and", "$or", "$nor"])
def test_logical_list_items_must_be_documents(operator: str) -> None:
    error = filter_error({operator: [{"name": "a"}, "name"]})
    assert error.code == "DF-FILTER-MALFORMED"
    assert f"{operator}[1]" in error.message


# -- element -----------------------------------------------------------------------------


@pytest.mark.parametrize("exists", [True, False])
def test_exists(exists: bool) -> None:
    assert parse({"nickname": {"$exists": exists}}) == Exists(F["nickname"], exists)


@pytest.mark.parametrize("operand", [1, 0, "true", None])
def test_exists_takes_a_boolean(operand: Any) -> None:
    assert filter_error({"nickname": {"$exists": operand}}).code == "DF-FILTER-TYPE"


# -- text --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "operand", "pattern", "case_insensitive"),
    [
        ("$like", "A%_b", "A%_b", False),
        ("$ilike", "a%", "a%", True),
        ("$contains", "nn", "%nn%", False),
        ("$startswith", "An", "An%", False),
        ("$endswith", "nn", "%nn", False),
        # The three text helpers match their argument literally.
        ("$contains", "50%", "%50\\%%", False),
        ("$startswith", "a_b", "a\\_b%", False),
        ("$endswith", "C:\\dir", "%C:\\\\dir", False),
        ("$contains", "%_\\", "%\\%\\_\\\\%", False),
    ],
)
def test_like_operators(operator: str, operand: str, pattern: str, case_insensitive: bool) -> None:
    assert parse({"name": {operator: operand}}) == Like(F["name"], pattern, case_insensitive)


def test_text_operators_apply_to_enum_fields() -> None:
    assert parse({"status": {"$startswith": "act"}}) == Like(F["status"], "act%", False)


@pytest.mark.parametrize(
    "operator", ["$like", "$ilike", "$contains", "$startswith", "$endswith", "$regex"]
)
@pytest.mark.parametrize("field", ["age", "active", "balance", "born"])
def test_text_operators_refuse_non_text_fields(operator: str, field: str) -> None:
    error = filter_error({field: {operator: "a"}})
    assert error.code == "DF-FILTER-TYPE"
    assert error.details["field"] == field


@pytest.mark.parametrize("operator", ["$like", "$ilike", "$contains", "$startswith", "$endswith"])
@pytest.mark.parametrize("operand", [1, None, ["a"]])
def test_text_operators_take_a_string(operator: str, operand: Any) -> None:
    assert filter_error({"name": {operator: operand}}).code == "DF-FILTER-TYPE"


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("plain", "plain"),
        ("100%", "100\\%"),
        ("a_b", "a\\_b"),
        ("back\\slash", "back\\\\slash"),
        ("\\%", "\\\\\\%"),
    ],
)
def test_escape_like(text: str, escaped: str) -> None:
    assert escape_like(text) == escaped


def _like_matches(pattern: str, text: str) -> bool:
    """A small LIKE interpreter (escape character ``\\``) for checking patterns."""
    regex, i = "", 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            regex += re.escape(pattern[i + 1])
            i += 2
            continue
        regex += ".*" if char == "%" else "." if char == "_" else re.escape(char)
        i += 1
    return re.fullmatch(regex, text, re.DOTALL) is not None


_TEXT = st.text(alphabet="ab%_\\", max_size=6)


@given(needle=_TEXT, haystack=_TEXT)
def test_contains_startswith_endswith_match_literally(needle: str, haystack: str) -> None:
    for operator, expected in (
        ("$contains", needle in haystack),
        ("$startswith", haystack.startswith(needle)),
        ("$endswith", haystack.endswith(needle)),
    ):
        node = parse({"name": {operator: needle}})
        assert _like_matches(node.pattern, haystack) is expected, (operator, node.pattern)


@pytest.mark.parametrize(
    ("options", "normalised"),
    [(None, ""), ("", ""), ("i", "i"), ("mi", "im"), ("xsmi", "imsx"), ("ii", "i")],
)
def test_regex_options(options: str | None, normalised: str) -> None:
    document: dict[str, Any] = {"$regex": "^A"}
    if options is not None:
        document["$options"] = options
    assert parse({"name": document}) == Regex(F["name"], "^A", normalised)


def test_a_compiled_pattern_carries_its_flags() -> None:
    pattern = re.compile("^a.b$", re.IGNORECASE | re.MULTILINE | re.DOTALL | re.VERBOSE)
    assert parse({"name": {"$regex": pattern}}) == Regex(F["name"], "^a.b$", "imsx")


@pytest.mark.parametrize("options", ["g", "iu", 1, ["i"]])
def test_unknown_regex_options_are_refused(options: Any) -> None:
    error = filter_error({"name": {"$regex": "a", "$options": options}})
    assert error.code == "DF-FILTER-REGEX"


@pytest.mark.parametrize("pattern", ["(", "[a-", "a{2,1}", "*a"])
def test_an_invalid_regular_expression_is_refused(pattern: str) -> None:
    error = filter_error({"name": {"$regex": pattern}})
    assert error.code == "DF-FILTER-REGEX"
    assert error.details["operator"] == "$regex"


def test_regex_takes_a_string() -> None:
    assert filter_error({"name": {"$regex": 5}}).code == "DF-FILTER-TYPE"


def test_options_without_regex_is_malformed() -> None:
    assert filter_error({"name": {"$options": "i"}}).code == "DF-FILTER-MALFORMED"


# -- numeric -----------------------------------------------------------------------------


def test_between_is_inclusive_on_both_ends() -> None:
    assert parse({"age": {"$between": [18, 65]}}) == And(
        (Compare(F["age"], "gte", 18), Compare(F["age"], "lte", 65))
    )


@pytest.mark.parametrize("operand", [[1], [1, 2, 3], 5, "1,2", None, {"low": 1}])
def test_between_takes_two_values(operand: Any) -> None:
    error = filter_error({"age": {"$between": operand}})
    assert error.code == "DF-FILTER-MALFORMED"
    assert error.details["operator"] == "$between"


def test_between_values_are_validated() -> None:
    assert filter_error({"age": {"$between": [1, "z"]}}).code == "DF-FILTER-TYPE"


# -- values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "given", "expected"),
    [
        ("score", 3, 3.0),
        ("balance", "12.50", Decimal("12.50")),
        ("balance", 3, Decimal(3)),
        ("born", "2024-02-29", dt.date(2024, 2, 29)),
        (
            "seen_at",
            "2024-01-02T03:04:05",
            dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        ),
        (
            "seen_at",
            "2024-01-02T03:04:05+02:00",
            dt.datetime(2024, 1, 2, 1, 4, 5, tzinfo=dt.UTC),
        ),
        ("opens", "09:30", dt.time(9, 30)),
        (
            "ref",
            "12345678-1234-5678-1234-567812345678",
            uuid.UUID("12345678-1234-5678-1234-567812345678"),
        ),
        ("status", "archived", Status.ARCHIVED),
        ("status", "ARCHIVED", Status.ARCHIVED),
        ("level", 2, Level.HIGH),
        ("level", "HIGH", Level.HIGH),
    ],
)
def test_values_are_normalised_to_the_field_type(field: str, given: Any, expected: Any) -> None:
    node = parse({field: {"$gt": given}})
    assert node == Compare(F[field], "gt", expected)
    assert type(node.value) is type(expected)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("age", "thirty"),
        ("age", 1.5),
        ("age", True),
        ("age", 2**63),
        ("active", 1),
        ("active", "true"),
        ("score", float("nan")),
        ("score", "1.5"),
        ("name", 5),
        ("balance", "abc"),
        ("born", "29/02/2024"),
        ("born", dt.datetime(2024, 1, 1, tzinfo=dt.UTC)),
        ("ref", "not-a-uuid"),
        ("status", "deleted"),
        ("photo", "text"),
        ("tags", ["a", 1]),
    ],
)
def test_a_value_of_the_wrong_type_is_a_type_error(field: str, value: Any) -> None:
    error = filter_error({field: value})
    assert error.code == "DF-FILTER-TYPE"
    assert error.details["field"] == field
    assert f"filter.{field}" in error.message


def test_json_fields_match_the_value_or_an_element() -> None:
    root = JsonRef(F["meta"], ())
    assert parse({"meta": {"a": 1}}) == JsonTest(root, "eq", {"a": 1})
    assert parse({"meta": {"$gt": 5}}) == JsonTest(root, "gt", 5)
    assert parse({"tags": ("x", "y")}) == JsonTest(JsonRef(F["tags"], ()), "eq", ["x", "y"])


def test_dotted_paths_lead_into_json_fields() -> None:
    ref = JsonRef(F["meta"], ("address", "lines", 0))
    assert parse({"meta.address.lines.0": "x"}) == JsonTest(ref, "eq", "x")
    assert parse({"meta.a": {"$exists": True}}) == JsonExists(JsonRef(F["meta"], ("a",)))
    assert parse({"meta.1234567890": 1}) == JsonTest(JsonRef(F["meta"], ("1234567890",)), "eq", 1)


def test_null_on_a_json_path_matches_null_and_missing() -> None:
    ref = JsonRef(F["meta"], ("a",))
    assert parse({"meta.a": None}) == Or((Not(JsonExists(ref)), JsonTest(ref, "eq", None)))


def test_elem_match_binds_the_element() -> None:
    node = parse({"meta.items": {"$elemMatch": {"sku": "A", "qty": {"$gte": 2}}}})
    assert node == JsonElemMatch(
        JsonRef(F["meta"], ("items",)),
        0,
        And(
            (
                JsonTest(JsonRef(0, ("sku",)), "eq", "A"),
                JsonTest(JsonRef(0, ("qty",)), "gte", 2),
            )
        ),
    )
    inner = parse({"meta.o": {"$elemMatch": {"lines": {"$elemMatch": {"$gt": 1}}}}})
    assert inner.cond == JsonElemMatch(JsonRef(0, ("lines",)), 1, JsonTest(JsonRef(1, ()), "gt", 1))


def test_all_and_size() -> None:
    ref = JsonRef(F["tags"], ())
    assert parse({"tags": {"$all": ["a", "b"]}}) == And(
        (JsonTest(ref, "eq", "a"), JsonTest(ref, "eq", "b"))
    )
    assert parse({"tags": {"$all": []}}) == Const(False)
    assert parse({"tags": {"$size": 0}}) == JsonSize(ref, 0)


@pytest.mark.parametrize(
    ("document", "code"),
    [
        ({"age.x": 1}, "DF-FILTER-UNKNOWN-FIELD"),  # not a JSON field
        ({"nope.tags": "a"}, "DF-FILTER-UNKNOWN-FIELD"),
        ({"meta..a": 1}, "DF-FILTER-MALFORMED"),
        ({"meta.a.": 1}, "DF-FILTER-MALFORMED"),
        ({"meta.$a": 1}, "DF-FILTER-MALFORMED"),
        ({'meta.a"b': 1}, "DF-FILTER-MALFORMED"),
        ({"meta.a\\b": 1}, "DF-FILTER-MALFORMED"),
        ({"meta." + ".".join("a" * 33): 1}, "DF-FILTER-MALFORMED"),
        ({"meta.a": {"$size": -1}}, "DF-FILTER-TYPE"),
        ({"meta.a": {"$size": "2"}}, "DF-FILTER-TYPE"),
        ({"meta.a": {"$size": True}}, "DF-FILTER-TYPE"),
        ({"age": {"$size": 2}}, "DF-FILTER-TYPE"),
        ({"age": {"$elemMatch": {"$gt": 1}}}, "DF-FILTER-TYPE"),
        ({"meta.a": {"$elemMatch": {}}}, "DF-FILTER-MALFORMED"),
        ({"meta.a": {"$elemMatch": 5}}, "DF-FILTER-MALFORMED"),
        ({"meta.a": {"$elemMatch": {"x": 1, "$nope": 2}}}, "DF-FILTER-UNKNOWN-OPERATOR"),
        ({"meta.a": {"$elemMatch": {"$not": 5}}}, "DF-FILTER-MALFORMED"),
        ({"meta.a": {"$all": "x"}}, "DF-FILTER-MALFORMED"),
        ({"meta.a": {"$gt": {"b": 1}}}, "DF-FILTER-TYPE"),
        ({"meta.a": {"$gt": True}}, "DF-FILTER-TYPE"),
        ({"meta.a": float("nan")}, "DF-FILTER-TYPE"),
        ({"meta.a": {"$gt": 2**64}}, "DF-FILTER-TYPE"),
        ({"tags": 1}, "DF-FILTER-TYPE"),  # list[str]: can never match
        ({"tags": {"$in": [["a", 1]]}}, "DF-FILTER-TYPE"),
        ({"meta.a": dt.date(2024, 1, 1)}, "DF-FILTER-TYPE"),
        ({"meta.a": {"$in": [b"x"]}}, "DF-FILTER-TYPE"),
        ({"meta.a": {"$like": 5}}, "DF-FILTER-TYPE"),
        ({"meta.a": {"$like": "a\\"}}, "DF-FILTER-MALFORMED"),
        ({"meta.a": {"$regex": "("}}, "DF-FILTER-REGEX"),
        ({"meta.a": {"$options": "i"}}, "DF-FILTER-MALFORMED"),
        ({"meta.a": {"$type": "strnig"}}, "DF-FILTER-UNKNOWN-OPERATOR"),
        ({"meta.a": {"$gt": 1, "b": 2}}, "DF-FILTER-MALFORMED"),
        ({"meta.a": {"$elemmatch": {"b": 1}}}, "DF-FILTER-UNKNOWN-OPERATOR"),
    ],
)
def test_bad_json_conditions_are_filter_errors(document: Any, code: str) -> None:
    assert filter_error(document).code == code


def test_a_json_operator_typo_suggests_the_operator() -> None:
    assert filter_error({"meta.a": {"$elemmatch": {"b": 1}}}).details["suggestions"] == [
        "$elemMatch"
    ]


@pytest.mark.parametrize(
    "document",
    [
        {"meta.a": {"$type": "int"}},
        {"meta.a": {"$type": ["string", "double"]}},
        {"meta.a": {"$mod": [2, 0]}},
        {"meta.a": {"$all": [{"$elemMatch": {"b": 1}}]}},
    ],
)
def test_what_json_cannot_mean_everywhere_is_unsupported(document: Any) -> None:
    with pytest.raises(UnsupportedError):
        parse(document)


def test_deeply_nested_elem_match_is_refused() -> None:
    document: Any = {"$gt": 1}
    for _ in range(100):
        document = {"$elemMatch": document}
    assert filter_error({"meta.a": document}).code == "DF-FILTER-MALFORMED"


# -- unknown names -----------------------------------------------------------------------


def test_an_unknown_operator_suggests_the_closest_ones() -> None:
    error = filter_error({"age": {"$gtee": 5}})
    assert error.code == "DF-FILTER-UNKNOWN-OPERATOR"
    assert error.details["operator"] == "$gtee"
    assert error.details["suggestions"][0] == "$gte"
    assert "'$gte'" in error.message


@pytest.mark.parametrize(
    ("typo", "meant"),
    [("$inn", "$in"), ("$regx", "$regex"), ("$contain", "$contains"), ("$exist", "$exists")],
)
def test_field_operator_typos(typo: str, meant: str) -> None:
    error = filter_error({"name": {typo: "a"}})
    assert error.code == "DF-FILTER-UNKNOWN-OPERATOR"
    assert meant in error.details["suggestions"]


def test_options_is_never_suggested_on_its_own() -> None:
    error = filter_error({"name": {"$option": "a"}})
    assert "$options" not in error.details["suggestions"]


def test_an_unknown_top_level_operator_suggests_logical_ones() -> None:
    error = filter_error({"$orr": [{"name": "a"}]})
    assert error.code == "DF-FILTER-UNKNOWN-OPERATOR"
    assert error.details["suggestions"][0] == "$or"


def test_every_field_operator_is_documented() -> None:
    assert all(op.startswith("$") and text for op, text in FIELD_OPERATORS.items())


def test_an_unknown_field_suggests_the_closest_ones() -> None:
    error = filter_error({"nmae": "Ann"})
    assert error.code == "DF-FILTER-UNKNOWN-FIELD"
    assert error.details["field"] == "nmae"
    assert error.details["model"] == "Person"
    assert error.details["suggestions"] == ["name"]
    assert "'name'" in error.message


def test_an_unknown_field_with_nothing_close_has_no_suggestions() -> None:
    assert filter_error({"zzzzzz": 1}).details["suggestions"] == []


def test_unknown_fields_are_found_inside_logical_operators() -> None:
    error = filter_error({"$or": [{"name": "a"}, {"$and": [{"agee": 1}]}]})
    assert error.code == "DF-FILTER-UNKNOWN-FIELD"
    assert error.details["suggestions"] == ["age"]


def test_auto_columns_can_be_filtered() -> None:
    assert parse({"id": 1}) == Compare(F["id"], "eq", 1)
    assert isinstance(parse({"created_at": {"$gte": "2024-01-01T00:00:00Z"}}), Compare)


@pytest.mark.parametrize("operator", ["$where", "$text"])
def test_recognised_top_level_operators_that_are_not_available(operator: str) -> None:
    with pytest.raises(UnsupportedError) as info:
        parse({operator: {"$eq": ["$age", "$score"]}})
    assert info.value.details["operator"] == operator


# -- malformed documents -----------------------------------------------------------------


@pytest.mark.parametrize("document", [[{"name": "a"}], "name = 'a'", 5, True])
def test_a_filter_must_be_an_object(document: Any) -> None:
    assert filter_error(document).code == "DF-FILTER-MALFORMED"


def test_keys_must_be_strings() -> None:
    assert filter_error({1: "a"}).code == "DF-FILTER-MALFORMED"


def test_operators_and_plain_keys_cannot_be_mixed() -> None:
    assert filter_error({"name": {"$eq": "a", "b": 1}}).code == "DF-FILTER-MALFORMED"


def test_a_sub_document_on_a_scalar_field_is_malformed() -> None:
    error = filter_error({"age": {"gt": 5}})
    assert error.code == "DF-FILTER-MALFORMED"
    assert "$gt" in error.message


def test_an_empty_sub_document_on_a_scalar_field_is_malformed() -> None:
    assert filter_error({"age": {}}).code == "DF-FILTER-MALFORMED"


def test_filter_errors_belong_to_the_error_tree() -> None:
    error = filter_error({"nmae": 1})
    assert isinstance(error, ValidationError)
    assert isinstance(error, DataFlowError)
    assert error.to_dict() == {
        "code": "DF-FILTER-UNKNOWN-FIELD",
        "message": error.message,
        "details": {"model": "Person", "field": "nmae", "suggestions": ["name"]},
    }
    assert str(error).startswith("[DF-FILTER-UNKNOWN-FIELD] ")
