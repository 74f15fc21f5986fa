"""Models from annotated classes: the type table, auto columns, options and validation."""

from __future__ import annotations

import datetime as dt
import enum
import typing
import uuid
from decimal import Decimal
from typing import Any, ClassVar, Optional

import pytest

from dataflow_engine.errors import ModelError, ValidationError
from dataflow_engine.models import MISSING, NODE_KINDS, FieldKind, ModelDef, build_model


class Color(str, enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.Enum):
    LOW = 1
    HIGH = 2


def model_of(**annotations: Any) -> ModelDef:
    """A model whose fields are ``annotations`` (no defaults)."""
    return build_model(type("Sample", (), {"__annotations__": annotations}))


def field_of(annotation: Any, default: Any = MISSING) -> Any:
    namespace: dict[str, Any] = {"__annotations__": {"value": annotation}}
    if default is not MISSING:
        namespace["value"] = default
    return build_model(type("Sample", (), namespace)).fields["value"]


# -- the type table ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "kind", "type_name"),
    [
        (str, FieldKind.STR, "str"),
        (int, FieldKind.INT, "int"),
        (float, FieldKind.FLOAT, "float"),
        (bool, FieldKind.BOOL, "bool"),
        (Decimal, FieldKind.DECIMAL, "Decimal"),
        (dt.datetime, FieldKind.DATETIME, "datetime"),
        (dt.date, FieldKind.DATE, "date"),
        (dt.time, FieldKind.TIME, "time"),
        (uuid.UUID, FieldKind.UUID, "UUID"),
        (bytes, FieldKind.BYTES, "bytes"),
        (dict, FieldKind.JSON, "dict"),
        (dict[str, int], FieldKind.JSON, "dict"),
        (list, FieldKind.JSON, "list"),
        (list[str], FieldKind.JSON, "list[str]"),
        (list[int], FieldKind.JSON, "list[int]"),
        (typing.List[str], FieldKind.JSON, "list[str]"),  # noqa: UP006
        (Color, FieldKind.ENUM, "Color"),
        (Level, FieldKind.ENUM, "Level"),
    ],
)
def test_type_table(annotation: Any, kind: FieldKind, type_name: str) -> None:
    field = field_of(annotation)
    assert field.kind is kind
    assert field.type_name == type_name
    assert field.nullable is False
    assert field.required is True


@pytest.mark.parametrize(
    "annotation",
    [Optional[int], int | None, typing.Union[int, None], None | int],  # noqa: UP007, UP045
)
def test_optional_makes_a_field_nullable(annotation: Any) -> None:
    field = field_of(annotation)
    assert field.kind is FieldKind.INT
    assert field.nullable is True
    assert field.required is False
    assert field.type_name == "int | None"


def test_optional_list_and_enum() -> None:
    tags = field_of(list[str] | None)
    assert (tags.kind, tags.nullable, tags.item_type) == (FieldKind.JSON, True, str)
    color = field_of(Color | None)
    assert (color.kind, color.nullable, color.type_name) == (FieldKind.ENUM, True, "Color | None")


@pytest.mark.parametrize(
    "annotation",
    [int | str, typing.Union[int, str, None], set, complex, tuple[int, int], object],  # noqa: UP007
)
def test_types_that_cannot_be_stored_are_refused(annotation: Any) -> None:
    with pytest.raises(ModelError) as info:
        field_of(annotation)
    assert info.value.code == "DF-MODEL-FIELD-TYPE"
    assert info.value.details["field"] == "value"


# -- defaults ----------------------------------------------------------------------------


def test_a_default_makes_a_field_optional_but_not_nullable() -> None:
    field = field_of(int, 5)
    assert field.default == 5
    assert field.required is False
    assert field.nullable is False


def test_defaults_are_normalised_to_the_field_type() -> None:
    assert field_of(float, 1).default == 1.0
    assert type(field_of(float, 1).default) is float
    assert field_of(Color, "red").default is Color.RED
    assert field_of(dt.date, "2024-01-02").default == dt.date(2024, 1, 2)


def test_none_default_needs_a_nullable_type() -> None:
    assert field_of(int | None, None).default is None
    with pytest.raises(ModelError) as info:
        field_of(int, None)
    assert info.value.code == "DF-MODEL-FIELD-DEFAULT"
    assert "int | None = None" in info.value.message


@pytest.mark.parametrize(
    ("annotation", "default"), [(int, "5"), (bool, 1), (int, True), (Color, "blue")]
)
def test_a_default_of_the_wrong_type_is_refused(annotation: Any, default: Any) -> None:
    with pytest.raises(ModelError) as info:
        field_of(annotation, default)
    assert info.value.code == "DF-MODEL-FIELD-DEFAULT"


def test_mutable_defaults_are_never_shared() -> None:
    field = field_of(dict, {"a": [1]})
    first = field.default_value()
    first["a"].append(2)
    assert field.default_value() == {"a": [1]}


# -- model shape -------------------------------------------------------------------------


class Base:
    name: str
    active: bool = True


class Employee(Base):
    department: str
    manager: str | None = None
    registry: ClassVar[dict[str, int]] = {}
    _cache: int = 0

    def greet(self) -> str:  # methods are not fields
        return "hi"


def test_fields_include_base_class_annotations_and_auto_columns_in_order() -> None:
    model = build_model(Employee)
    assert list(model.fields) == [
        "id",
        "name",
        "active",
        "department",
        "manager",
        "created_at",
        "updated_at",
    ]
    assert model.fields["active"].default is True
    assert model.name == "Employee"
    assert model.table_name == "employees"


def test_auto_columns() -> None:
    model = build_model(Employee)
    id_field = model.fields["id"]
    assert (id_field.kind, id_field.primary_key, id_field.auto) == (FieldKind.INT, True, True)
    assert model.primary_key == ("id",)
    for name in ("created_at", "updated_at"):
        field = model.fields[name]
        assert (field.kind, field.auto, field.nullable) == (FieldKind.DATETIME, True, False)
    assert set(model.writable_fields) == {"name", "active", "department", "manager"}
    assert [n for n, f in model.fields.items() if f.required] == ["name", "department"]


def test_soft_delete_adds_deleted_at_and_versioned_adds_version() -> None:
    class Doc:
        title: str
        __dataflow__ = {"soft_delete": True, "versioned": True}

    model = build_model(Doc)
    assert model.soft_delete and model.versioned
    deleted_at, version = model.fields["deleted_at"], model.fields["version"]
    assert (deleted_at.kind, deleted_at.nullable, deleted_at.auto) == (
        FieldKind.DATETIME,
        True,
        True,
    )
    assert (version.kind, version.default, version.auto) == (FieldKind.INT, 1, True)
    assert list(model.fields)[-2:] == ["deleted_at", "version"]


def test_without_options_there_is_no_deleted_at_or_version() -> None:
    model = build_model(Employee)
    assert "deleted_at" not in model.fields
    assert "version" not in model.fields


def test_a_model_may_declare_its_own_id() -> None:
    class Token:
        id: str
        value: str

    model = build_model(Token)
    assert model.auto_id is False
    assert model.primary_key == ("id",)
    field = model.fields["id"]
    assert (field.kind, field.auto, field.primary_key, field.required) == (
        FieldKind.STR,
        False,
        True,
        True,
    )


def test_a_composite_primary_key() -> None:
    class Line:
        order_id: int
        line: int
        __dataflow__ = {"primary_key": ["order_id", "line"]}

    model = build_model(Line)
    assert model.primary_key == ("order_id", "line")
    assert "id" not in model.fields
    assert all(model.fields[k].primary_key for k in model.primary_key)


def test_indexes_and_unique_groups() -> None:
    class Customer:
        email: str
        department: str
        age: int
        __dataflow__ = {"indexes": [["department", "age"], "age"], "unique": ["email"]}

    model = build_model(Customer)
    assert model.indexes == [("department", "age"), ("age",)]
    assert model.unique == [("email",)]
    assert model.fields["email"].unique and model.fields["email"].indexed
    assert not model.fields["department"].unique


def test_node_names() -> None:
    model = build_model(Employee)
    assert len(NODE_KINDS) == 11
    assert list(model.node_names.values()) == [
        "EmployeeCreateNode",
        "EmployeeReadNode",
        "EmployeeUpdateNode",
        "EmployeeDeleteNode",
        "EmployeeListNode",
        "EmployeeCountNode",
        "EmployeeUpsertNode",
        "EmployeeBulkCreateNode",
        "EmployeeBulkUpdateNode",
        "EmployeeBulkDeleteNode",
        "EmployeeBulkUpsertNode",
    ]


def test_to_dict_is_a_plain_description() -> None:
    description = build_model(Employee).to_dict()
    assert description["table_name"] == "employees"
    assert description["fields"]["manager"] == {
        "type": "str | None",
        "kind": "str",
        "nullable": True,
        "required": False,
        "auto": False,
        "primary_key": False,
        "default": None,
    }
    assert description["nodes"]["Create"] == "EmployeeCreateNode"


def test_unknown_model_fields_are_reported_with_suggestions() -> None:
    model = build_model(Employee)
    with pytest.raises(ValidationError) as info:
        model.field("departmnt")
    assert info.value.code == "DF-PARAM-UNKNOWN-FIELD"
    assert info.value.details["suggestions"] == ["department"]


# -- model errors ------------------------------------------------------------------------


def test_an_unknown_option_is_refused_with_a_suggestion() -> None:
    class Doc:
        title: str
        __dataflow__ = {"soft_delet": True}

    with pytest.raises(ModelError) as info:
        build_model(Doc)
    assert info.value.code == "DF-MODEL-OPTION"
    assert info.value.details["option"] == "soft_delet"
    assert "did you mean 'soft_delete'?" in info.value.message


@pytest.mark.parametrize(
    ("options", "code"),
    [
        (["soft_delete"], "DF-MODEL-OPTION"),
        pytest.param(
            {"table": ""},
            "DF-MODEL-OPTION",
            id="empty-table",
        ),
        ({"table": 5}, "DF-MODEL-OPTION"),
        ({"indexes": [["nope"]]}, "DF-MODEL-OPTION"),
        ({"unique": [["title", "nope"]]}, "DF-MODEL-OPTION"),
        ({"primary_key": "nope"}, "DF-MODEL-PRIMARY-KEY"),
        ({"primary_key": "note"}, "DF-MODEL-PRIMARY-KEY"),
    ],
)
def test_bad_options_are_refused(options: Any, code: str) -> None:
    namespace = {
        "__annotations__": {"title": str, "note": str | None},
        "note": None,
        "__dataflow__": options,
    }
    with pytest.raises(ModelError) as info:
        build_model(type("Doc", (), namespace))
    assert info.value.code == code


def test_a_model_without_fields_is_refused() -> None:
    class Empty:
        pass

    with pytest.raises(ModelError) as info:
        build_model(Empty)
    assert info.value.code == "DF-MODEL-NO-FIELDS"


@pytest.mark.parametrize("name", ["filter", "conditions", "fields", "updates"])
def test_names_reserved_by_node_parameters_are_refused(name: str) -> None:
    with pytest.raises(ModelError) as info:
        model_of(**{name: str})
    assert info.value.code == "DF-MODEL-RESERVED-NAME"
    assert info.value.details["field"] == name


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("created_at", {}),
        ("updated_at", {}),
        ("deleted_at", {"soft_delete": True}),
        ("version", {"versioned": True}),
    ],
)
def test_automatic_columns_cannot_be_declared(name: str, options: dict[str, Any]) -> None:
    namespace = {"__annotations__": {"title": str, name: int}, "__dataflow__": options}
    with pytest.raises(ModelError) as info:
        build_model(type("Doc", (), namespace))
    assert info.value.code == "DF-MODEL-RESERVED-NAME"


def test_an_unresolvable_annotation_is_a_model_error() -> None:
    namespace = {"__annotations__": {"owner": "NoSuchType"}}
    with pytest.raises(ModelError) as info:
        build_model(type("Doc", (), namespace))
    assert info.value.code == "DF-MODEL-FIELD-TYPE"


# -- validation of values ----------------------------------------------------------------

UTC = dt.UTC
PLUS2 = dt.timezone(dt.timedelta(hours=2))
U = uuid.UUID("12345678-1234-5678-1234-567812345678")


@pytest.mark.parametrize(
    ("annotation", "given", "expected"),
    [
        (str, "héllo", "héllo"),
        (str, "", ""),
        (int, 0, 0),
        (int, 2**63 - 1, 2**63 - 1),
        (int, -(2**63), -(2**63)),
        (float, 1.5, 1.5),
        (float, 2, 2.0),
        (float, float("inf"), float("inf")),
        (bool, True, True),
        (bool, False, False),
        (Decimal, Decimal("1.10"), Decimal("1.10")),
        (Decimal, "1.10", Decimal("1.10")),
        (Decimal, " 2.5 ", Decimal("2.5")),
        (Decimal, 3, Decimal(3)),
        (Decimal, 0.1, Decimal("0.1")),
        (
            dt.datetime,
            dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=PLUS2),
            dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=PLUS2),
        ),
        (
            dt.datetime,
            dt.datetime(2024, 1, 2, 3, 4, 5),
            dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        ),
        (dt.datetime, "2024-01-02T03:04:05", dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        (dt.datetime, "2024-01-02T03:04:05Z", dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        (dt.datetime, "2024-01-02T03:04:05+02:00", dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=PLUS2)),
        (dt.datetime, "2024-01-02", dt.datetime(2024, 1, 2, tzinfo=UTC)),
        (dt.date, dt.date(2024, 2, 29), dt.date(2024, 2, 29)),
        (dt.date, "2024-02-29", dt.date(2024, 2, 29)),
        (dt.time, dt.time(9, 30), dt.time(9, 30)),
        (dt.time, "09:30:15.5", dt.time(9, 30, 15, 500000)),
        (uuid.UUID, U, U),
        (uuid.UUID, str(U), U),
        (uuid.UUID, str(U).upper(), U),
        (bytes, b"\x00\x01", b"\x00\x01"),
        (bytes, bytearray(b"ab"), b"ab"),
        (bytes, memoryview(b"ab"), b"ab"),
        (dict, {"a": [1, None, {"b": True}]}, {"a": [1, None, {"b": True}]}),
        (list, [1, "two", {"three": 3.0}], [1, "two", {"three": 3.0}]),
        (list, (1, 2), [1, 2]),
        (list[str], ["a", "b"], ["a", "b"]),
        (list[int], [1, 2], [1, 2]),
        (Color, Color.RED, Color.RED),
        (Color, "red", Color.RED),
        (Color, "RED", Color.RED),
        (Level, 2, Level.HIGH),
        (Level, "HIGH", Level.HIGH),
        (Level, Level.LOW, Level.LOW),
    ],
)
def test_accepted_values(annotation: Any, given: Any, expected: Any) -> None:
    value = field_of(annotation).validate(given)
    assert value == expected
    assert type(value) is type(expected)
    if isinstance(expected, dt.datetime):
        assert value.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    ("annotation", "given"),
    [
        (str, 5),
        (str, b"bytes"),
        (str, Color.RED),
        (int, True),
        (int, False),
        (int, 1.0),
        (int, "1"),
        (int, 2**63),
        (int, -(2**63) - 1),
        (float, float("nan")),
        (float, True),
        (float, "1.5"),
        (bool, 1),
        (bool, 0),
        (bool, "true"),
        (Decimal, "abc"),
        (Decimal, "NaN"),
        (Decimal, "Infinity"),
        (Decimal, float("nan")),
        (Decimal, True),
        (dt.datetime, "yesterday"),
        (dt.datetime, dt.date(2024, 1, 2)),
        (dt.datetime, 1700000000),
        (dt.date, dt.datetime(2024, 1, 2, 3, 4)),
        (dt.date, "02/01/2024"),
        (dt.time, "25:00"),
        (dt.time, dt.time(9, 30, tzinfo=UTC)),
        (uuid.UUID, "not-a-uuid"),
        (uuid.UUID, 1),
        (bytes, "text"),
        (dict, [1]),
        (dict, {1: "int key"}),
        (dict, {"x": float("nan")}),
        (dict, {"x": {1, 2}}),
        (list, {"a": 1}),
        (list[str], ["a", 1]),
        (list[int], [1, True]),
        (Color, "blue"),
        (Level, 3),
        (Level, "high"),
    ],
)
def test_refused_values(annotation: Any, given: Any) -> None:
    with pytest.raises(ValidationError) as info:
        field_of(annotation).validate(given)
    error = info.value
    assert error.code == "DF-PARAM-TYPE"
    assert error.details["field"] == "value"
    assert error.details["given"] == type(given).__name__


def test_list_of_float_accepts_whole_numbers() -> None:
    assert field_of(list[float]).validate([1, 2.5]) == [1.0, 2.5]


def test_enum_with_integer_values_refuses_booleans() -> None:
    with pytest.raises(ValidationError):
        field_of(Level).validate(True)


def test_type_errors_say_what_was_expected() -> None:
    with pytest.raises(ValidationError) as info:
        field_of(int).validate(2**64)
    assert info.value.details["expected"] == "int"
    assert "64-bit" in info.value.message


def test_none_is_accepted_only_by_nullable_fields() -> None:
    assert field_of(int | None).validate(None) is None
    with pytest.raises(ValidationError) as info:
        field_of(int).validate(None)
    assert info.value.code == "DF-PARAM-NULL"
