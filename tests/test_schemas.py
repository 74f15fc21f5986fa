"""The generated JSON Schemas are fresh, valid draft-07, and accept what the engine does."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import generate_schemas  # noqa: E402


@pytest.mark.parametrize("name", sorted(generate_schemas.SCHEMAS))
def test_schema_file_is_fresh(name: str) -> None:
    on_disk = (ROOT / "schemas" / name).read_text(encoding="utf-8")
    assert on_disk == generate_schemas.render(name), (
        f"schemas/{name} is stale: run python scripts/generate_schemas.py"
    )


def test_filter_schema_accepts_valid_and_rejects_invalid_documents() -> None:
    import jsonschema

    schema = json.loads((ROOT / "schemas" / "filter.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    good = [
        {"age": {"$gte": 18, "$lt": 65}, "name": None},
        {"$or": [{"a": 1}, {"b": {"$in": [1, 2, None]}}], "$not": {"c": {"$exists": True}}},
        {"name": {"$regex": "^a", "$options": "im"}, "x": {"$not": {"$like": "a%"}}},
    ]
    bad = [
        {"age": {"$gtt": 5}},
        {"$or": []},
        {"name": {"$regex": "a", "$options": "q"}},
        {"$where": "1"},
    ]
    for doc in good:
        assert validator.is_valid(doc), doc
    for doc in bad:
        assert not validator.is_valid(doc), doc
