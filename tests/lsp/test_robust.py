"""Every feature survives text being typed: each prefix of real documents, and random
deletions, go through reading, validation, completion and hover without an exception,
and every range stays inside the text."""

from __future__ import annotations

import json
import random
import textwrap
from collections.abc import Iterator

import pytest

from dataflow_lsp._document import Parsed
from dataflow_lsp._features import completions, diagnose, hover
from dataflow_lsp._json import cursor_json, parse_json
from dataflow_lsp._models import ModelSet, line_starts, read_models
from dataflow_lsp._python import cursor_python, parse_python
from dataflow_lsp._yaml import cursor_yaml, parse_yaml

from .conftest import MODELS

PYTHON = textwrap.dedent(
    """\
    from dataflow_engine import WorkflowBuilder

    def build(limit):
        wf = WorkflowBuilder()
        first = wf.add_node("UserCreateNode", params={"name": "Zoë 😀", "email": "z@x"})
        wf.add_node("UserListNode", "l", {"filter": {"$or": [{"age": {"$gte": limit}}]},
                                          "order_by": ["-age"], "fields": ["name"]})
        wf.add_node("OrderBulkCreateNode", "b", {"data": [{"user_id": 1, "total": "2.5"}]})
        wf.add_connection(first, "id", "l", "filter.id")
        wf.add_connection("l", "records.0.id", "b", "user_id")
        return wf
    """
)
DEFINITION = {
    "nodes": [
        {"id": "c", "type": "UserCreateNode", "params": {"name": "Zoë 😀", "email": "z@x"}},
        {
            "id": "l",
            "type": "UserListNode",
            "params": {"filter": {"$or": [{"age": {"$gte": 3}}]}, "order_by": ["-age"]},
        },
        {"id": "u", "type": "UserUpdateNode", "params": {"id": 1, "fields": {"$set": {"a": 1}}}},
    ],
    "connections": [{"from": "c.id", "to": "l.filter.id"}],
}


def _models() -> ModelSet:
    models = ModelSet()
    models.update("file:///models.py", read_models("file:///models.py", MODELS))
    return models


def _read(language: str, text: str) -> Parsed:
    if language == "python":
        import parso

        module = parso.load_grammar(version="3.11").parse(text, error_recovery=True)
        return parse_python(text, module, line_starts(text))
    return parse_json(text) if language == "json" else parse_yaml(text)


def _variants(text: str, seed: int) -> Iterator[str]:
    step = max(1, len(text) // 120)
    for cut in range(0, len(text) + 1, step):
        yield text[:cut]
    rng = random.Random(seed)
    for _ in range(60):
        a = rng.randrange(len(text))
        b = min(len(text), a + rng.randrange(1, 12))
        yield text[:a] + text[b:]


@pytest.mark.parametrize(
    "language,text",
    [
        ("python", PYTHON),
        ("json", json.dumps(DEFINITION, indent=2, ensure_ascii=False)),
        ("yaml", __import__("yaml").safe_dump(DEFINITION, allow_unicode=True, sort_keys=False)),
    ],
)
def test_every_feature_survives_half_typed_documents(language: str, text: str) -> None:
    models = _models()
    cursor_of = {"python": cursor_python, "json": cursor_json, "yaml": cursor_yaml}[language]
    checked = 0
    for variant in _variants(text, seed=len(text)):
        parsed = _read(language, variant)
        for finding in diagnose(parsed, models):
            assert 0 <= finding.span.start <= finding.span.end <= len(variant), finding
        for offset in range(0, len(variant) + 1, max(1, len(variant) // 25)):
            cursor = cursor_of(variant, offset) if language != "python" else None
            if language == "python":
                cursor = cursor_python(variant, offset, parsed)
            if cursor is not None:
                assert 0 <= cursor.replace.start <= cursor.replace.end <= len(variant)
                completions(cursor, models, language=language)
            found = hover(parsed, offset, models)
            if found is not None:
                assert 0 <= found.span.start <= found.span.end <= len(variant)
            checked += 1
    assert checked > 1000
