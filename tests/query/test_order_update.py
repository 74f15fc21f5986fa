"""``order_by``, ``fields`` projections and update documents."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from dataflow_engine.errors import FilterError
from dataflow_engine.models import build_model
from dataflow_engine.query import (
    UPDATE_OPERATORS,
    SetItem,
    parse_fields,
    parse_order_by,
    parse_update,
)


class Account:
    name: str
    age: int
    score: float
    balance: Decimal
    active: bool
    photo: bytes | None = None
    meta: dict | None = None
    nickname: str | None = None
    last_login: dt.datetime | None = None
    birthday: dt.date | None = None
    alarm: dt.time | None = None
    __dataflow__ = {"soft_delete": True, "versioned": True}


MODEL = build_model(Account)
F = MODEL.fields


def order(value: Any) -> list[tuple[str, bool]]:
    return [(field.name, desc) for field, desc in parse_order_by(value, MODEL)]


def error_of(fn: Any, value: Any) -> FilterError:
    with pytest.raises(FilterError) as info:
        fn(value, MODEL)
    return info.value


# -- order_by ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        ([], []),
        ("age", [("age", False)]),
        ("-age", [("age", True)]),
        ("+age", [("age", False)]),
        (["-age", "name"], [("age", True), ("name", False)]),
        (("-age", "name"), [("age", True), ("name", False)]),
        ([{"age": -1}], [("age", True)]),
        ([{"age": -1}, {"name": 1}], [("age", True), ("name", False)]),
        ({"age": -1}, [("age", True)]),
        ({"age": -1, "name": 1}, [("age", True), ("name", False)]),
        ({"age": "desc", "name": "asc"}, [("age", True), ("name", False)]),
        ({"age": "DESC", "name": "ASC"}, [("age", True), ("name", False)]),
        (["-age", {"name": 1}], [("age", True), ("name", False)]),
        ("created_at", [("created_at", False)]),
        ("-nickname", [("nickname", True)]),
    ],
)
def test_order_by_forms(value: Any, expected: list[tuple[str, bool]]) -> None:
    assert order(value) == expected


def test_order_by_returns_the_model_fields() -> None:
    [(field, desc)] = parse_order_by("-age", MODEL)
    assert field is F["age"]
    assert desc is True


@pytest.mark.parametrize("value", ["agee", "-agee", ["name", "-agee"], [{"agee": 1}]])
def test_order_by_an_unknown_field_suggests_one(value: Any) -> None:
    error = error_of(parse_order_by, value)
    assert error.code == "DF-FILTER-UNKNOWN-FIELD"
    assert error.details["field"] == "agee"
    assert error.details["suggestions"] == ["age"]
    assert error.details["param"] == "order_by"


@pytest.mark.parametrize("direction", [0, 2, -2, "up", None, 1.5])
def test_order_by_direction_must_be_one_or_minus_one(direction: Any) -> None:
    error = error_of(parse_order_by, {"age": direction})
    assert error.code == "DF-FILTER-ORDER"
    assert error.details["field"] == "age"


def test_order_by_direction_true_is_refused() -> None:
    assert error_of(parse_order_by, {"age": True}).code == "DF-FILTER-ORDER"


@pytest.mark.parametrize("value", [["age", "-age"], [{"age": 1}, "name", "age"]])
def test_order_by_refuses_a_field_listed_twice(value: Any) -> None:
    assert error_of(parse_order_by, value).code == "DF-FILTER-ORDER"


def test_order_by_refuses_json_fields() -> None:
    assert error_of(parse_order_by, "meta").code == "DF-FILTER-ORDER"


@pytest.mark.parametrize("value", [5, True, {"age"}, ["age", 3], [["age", -1]]])
def test_order_by_refuses_other_shapes(value: Any) -> None:
    assert error_of(parse_order_by, value).code == "DF-FILTER-ORDER"


# -- fields ------------------------------------------------------------------------------


def test_fields_none_means_every_field() -> None:
    assert parse_fields(None, MODEL) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["id", "name"], ["id", "name"]),
        (["name", "id"], ["name", "id"]),
        (("age",), ["age"]),
        (["name", "name", "age"], ["name", "age"]),
    ],
)
def test_fields_projection(value: Any, expected: list[str]) -> None:
    fields = parse_fields(value, MODEL)
    assert fields is not None
    assert [f.name for f in fields] == expected


@pytest.mark.parametrize("value", ["name", [], {"name": 1}, 5])
def test_fields_must_be_a_non_empty_list(value: Any) -> None:
    assert error_of(parse_fields, value).code == "DF-FILTER-FIELDS"


def test_fields_with_an_unknown_name_suggests_one() -> None:
    error = error_of(parse_fields, ["id", "nmae"])
    assert error.code == "DF-FILTER-UNKNOWN-FIELD"
    assert error.details["suggestions"] == ["name"]
    assert error.details["param"] == "fields"


# -- updates -----------------------------------------------------------------------------


def items(document: Any) -> list[tuple[str, str, Any]]:
    return [(i.field.name, i.op, i.value) for i in parse_update(document, MODEL)]


def update_error(document: Any) -> FilterError:
    return error_of(parse_update, document)


NOW = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"name": "Ann", "age": 31}, [("name", "set", "Ann"), ("age", "set", 31)]),
        ({"nickname": None}, [("nickname", "set", None)]),
        ({"$set": {"name": "Ann"}}, [("name", "set", "Ann")]),
        ({"$inc": {"age": 1}}, [("age", "inc", 1)]),
        ({"$inc": {"age": -3}}, [("age", "inc", -3)]),
        ({"$inc": {"score": 1}}, [("score", "inc", 1.0)]),
        ({"$inc": {"balance": "0.10"}}, [("balance", "inc", Decimal("0.10"))]),
        ({"$mul": {"score": 1.5}}, [("score", "mul", 1.5)]),
        ({"$min": {"age": 18}}, [("age", "min", 18)]),
        ({"$max": {"name": "Zed"}}, [("name", "max", "Zed")]),
        ({"$max": {"last_login": NOW}}, [("last_login", "max", NOW)]),
        ({"$unset": {"nickname": ""}}, [("nickname", "unset", None)]),
        ({"$currentDate": {"last_login": True}}, [("last_login", "currentDate", None)]),
        (
            {"$currentDate": {"birthday": {"$type": "date"}}},
            [("birthday", "currentDate", None)],
        ),
        (
            {"$currentDate": {"alarm": {"$type": "timestamp"}}},
            [("alarm", "currentDate", None)],
        ),
        (
            {"$set": {"name": "A"}, "$inc": {"age": 1}, "$unset": {"meta": 1}},
            [("name", "set", "A"), ("age", "inc", 1), ("meta", "unset", None)],
        ),
        ({"meta": {"a": [1, 2]}}, [("meta", "set", {"a": [1, 2]})]),
    ],
)
def test_update_documents(document: dict[str, Any], expected: list[tuple[str, str, Any]]) -> None:
    assert items(document) == expected


def test_update_values_are_normalised() -> None:
    [item] = parse_update({"last_login": "2024-01-02T03:04:05"}, MODEL)
    assert item == SetItem(F["last_login"], "set", NOW)


def test_every_update_operator_in_design_is_known() -> None:
    assert set(UPDATE_OPERATORS) == {
        "$set",
        "$inc",
        "$mul",
        "$min",
        "$max",
        "$unset",
        "$currentDate",
    }


def test_mixing_plain_fields_and_operators_is_refused() -> None:
    error = update_error({"name": "Ann", "$inc": {"age": 1}})
    assert error.code == "DF-FILTER-UPDATE"
    assert "$set" in error.message


@pytest.mark.parametrize("document", [{}, None, [], "name=1", 5])
def test_an_update_must_be_a_non_empty_object(document: Any) -> None:
    assert update_error(document).code == "DF-FILTER-UPDATE"


def test_the_parameter_name_appears_in_messages() -> None:
    with pytest.raises(FilterError) as info:
        parse_update({"nmae": 1}, MODEL, param="updates")
    assert info.value.message.startswith("updates.nmae")


def test_an_unknown_update_operator_suggests_one() -> None:
    error = update_error({"$sett": {"name": "a"}})
    assert error.code == "DF-FILTER-UNKNOWN-OPERATOR"
    assert error.details["operator"] == "$sett"
    assert error.details["suggestions"][0] == "$set"


@pytest.mark.parametrize("operator", ["$push", "$rename", "$setOnInsert"])
def test_update_operators_outside_the_list_are_refused(operator: str) -> None:
    assert update_error({operator: {"name": "a"}}).code == "DF-FILTER-UNKNOWN-OPERATOR"


@pytest.mark.parametrize("body", [{}, None, 1, ["name"]])
def test_an_operator_takes_a_non_empty_object(body: Any) -> None:
    assert update_error({"$set": body}).code == "DF-FILTER-UPDATE"


@pytest.mark.parametrize("field", ["id", "created_at", "updated_at", "deleted_at", "version"])
@pytest.mark.parametrize("operator", [None, "$set", "$inc", "$unset"])
def test_automatic_columns_cannot_be_updated(field: str, operator: str | None) -> None:
    document = {field: 1} if operator is None else {operator: {field: 1}}
    error = update_error(document)
    assert error.code == "DF-PARAM-READ-ONLY-FIELD"
    assert error.details["field"] == field


def test_an_unknown_field_suggests_one() -> None:
    error = update_error({"$inc": {"agee": 1}})
    assert error.code == "DF-FILTER-UNKNOWN-FIELD"
    assert error.details["suggestions"] == ["age"]


def test_a_field_updated_twice_is_refused() -> None:
    error = update_error({"$set": {"age": 1}, "$inc": {"age": 1}})
    assert error.code == "DF-FILTER-UPDATE"
    assert error.details["field"] == "age"


@pytest.mark.parametrize(
    "document",
    [
        {"$inc": {"name": 1}},
        {"$mul": {"name": 2}},
        {"$inc": {"active": 1}},
        {"$inc": {"meta": 1}},
        {"$inc": {"last_login": 1}},
        {"$inc": {"age": None}},
        {"$mul": {"age": None}},
        {"$min": {"photo": b"x"}},
        {"$max": {"meta": {"a": 1}}},
        {"$min": {"age": None}},
        {"$currentDate": {"age": True}},
        {"$currentDate": {"name": True}},
        {"$currentDate": {"last_login": False}},
        {"$currentDate": {"last_login": {"$type": "week"}}},
    ],
)
def test_an_operator_that_does_not_apply_to_the_field_type(document: dict[str, Any]) -> None:
    assert update_error(document).code == "DF-FILTER-TYPE"


@pytest.mark.parametrize(
    "document",
    [
        {"age": "31"},
        {"age": True},
        {"$inc": {"age": True}},
        {"$inc": {"age": 1.5}},
        {"$set": {"active": 1}},
        {"$max": {"age": "x"}},
        {"score": float("nan")},
    ],
)
def test_a_value_of_the_wrong_type_is_refused(document: dict[str, Any]) -> None:
    error = update_error(document)
    assert error.code == "DF-PARAM-TYPE"
    assert "field" in error.details


@pytest.mark.parametrize("document", [{"age": None}, {"$set": {"name": None}}])
def test_null_for_a_non_nullable_field_is_refused(document: dict[str, Any]) -> None:
    assert update_error(document).code == "DF-PARAM-NULL"


@pytest.mark.parametrize("field", ["name", "age", "balance"])
def test_unset_of_a_non_nullable_field_is_refused(field: str) -> None:
    error = update_error({"$unset": {field: ""}})
    assert error.code == "DF-PARAM-NULL"
    assert error.details["field"] == field
