"""Table names: the snake_case plural of the class name, unless the model names one."""

from __future__ import annotations

import pytest

from dataflow_engine.models import build_model, table_name_for
from dataflow_engine.models._naming import pluralize, snake_case


@pytest.mark.parametrize(
    ("class_name", "table"),
    [
        ("User", "users"),
        ("OrderItem", "order_items"),
        ("Person", "people"),
        ("SalesPerson", "sales_people"),
        ("Category", "categories"),
        ("ProductCategory", "product_categories"),
        ("Status", "statuses"),
        ("Address", "addresses"),
        ("Class", "classes"),
        ("Box", "boxes"),
        ("Church", "churches"),
        ("Dish", "dishes"),
        ("Quiz", "quizzes"),
        ("Analysis", "analyses"),
        ("Key", "keys"),
        ("Day", "days"),
        ("Query", "queries"),
        ("Knife", "knives"),
        ("Leaf", "leaves"),
        ("Roof", "roofs"),
        ("Chief", "chiefs"),
        ("Child", "children"),
        ("Woman", "women"),
        ("Datum", "data"),
        ("Criterion", "criteria"),
        ("Index", "indexes"),
        ("Matrix", "matrices"),
        ("News", "news"),
        ("Series", "series"),
        ("Settings", "settings"),
        ("Photo", "photos"),
        ("HTTPRequest", "http_requests"),
        ("APIKey", "api_keys"),
        ("UserProfile", "user_profiles"),
    ],
)
def test_table_name_for(class_name: str, table: str) -> None:
    assert table_name_for(class_name) == table


@pytest.mark.parametrize(
    ("class_name", "table"),
    [("Cafe", "cafes"), ("Giraffe", "giraffes"), ("Cliff", "cliffs"), ("Safe", "safes")],
)
def test_words_ending_in_f_that_take_a_plain_s(class_name: str, table: str) -> None:
    assert table_name_for(class_name) == table


@pytest.mark.parametrize(("class_name", "table"), [("Alias", "aliases"), ("Canvas", "canvases")])
def test_singular_words_ending_in_as(class_name: str, table: str) -> None:
    assert table_name_for(class_name) == table


@pytest.mark.parametrize(
    ("name", "snake"),
    [
        ("User", "user"),
        ("OrderItem", "order_item"),
        ("HTTPRequest", "http_request"),
        ("UserV2", "user_v2"),
        ("already_snake", "already_snake"),
    ],
)
def test_snake_case(name: str, snake: str) -> None:
    assert snake_case(name) == snake


def test_only_the_last_word_is_pluralised() -> None:
    assert table_name_for("PersonCategory") == "person_categories"
    assert pluralize("person") == "people"


def test_models_get_the_default_table_name() -> None:
    class OrderItem:
        sku: str

    assert build_model(OrderItem).table_name == "order_items"


def test_a_model_may_name_its_table() -> None:
    class OrderItem:
        sku: str
        __dataflow__ = {"table": "legacy_lines"}

    assert build_model(OrderItem).table_name == "legacy_lines"
