"""``dataflow schema export``, run as a user runs it: the real command in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema

from tests.lsp.conftest import MODELS

DATAFLOW = [sys.executable, "-m", "dataflow_cli"]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DATAFLOW, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_export_writes_a_schema_of_the_projects_node_types(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "models.py").write_text(MODELS, encoding="utf-8")
    (tmp_path / ".venv").mkdir()  # never read
    (tmp_path / ".venv" / "other.py").write_text(
        "@db.model\nclass Secret:\n    x: int\n", encoding="utf-8"
    )
    done = run("schema", "export", "--out", "workflow.schema.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 models, 26 node types" in done.stderr
    schema = json.loads((tmp_path / "workflow.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    good = {
        "nodes": [
            {"id": "u", "type": "UserCreateNode", "params": {"name": "Ann", "email": "a@x"}},
            {"id": "o", "type": "OrderListNode", "params": {"filter": {"total": {"$gt": 5}}}},
        ],
        "connections": [{"from": "u.id", "to": "o.filter.user_id"}],
    }
    assert validator.is_valid(good)
    for bad in (
        {"nodes": [{"id": "s", "type": "SecretCreateNode", "params": {}}]},
        {"nodes": [{"id": "u", "type": "UserCreateNode", "params": {"nmae": "x"}}]},
        {"nodes": [{"id": "o", "type": "OrderListNode", "params": {"filter": {"x": 1}}}]},
        {"nodes": [{"id": "u", "type": "UserCreateNode", "params": {"status": "gone"}}]},
    ):
        assert not validator.is_valid(bad), bad


def test_export_to_standard_output_from_a_models_file(tmp_path: Path) -> None:
    (tmp_path / "models.py").write_text(MODELS, encoding="utf-8")
    done = run("schema", "export", "--models", "models.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    schema = json.loads(done.stdout)
    types = schema["definitions"]["node"]["properties"]["type"]["enum"]
    assert "OrderBulkUpsertNode" in types and len(types) == 26


def test_a_project_without_models_is_a_clear_failure(tmp_path: Path) -> None:
    (tmp_path / "script.py").write_text('text = """@db.model"""\n', encoding="utf-8")
    done = run("schema", "export", cwd=tmp_path)
    assert done.returncode == 1
    assert "no @db.model classes found under ." in done.stderr
    missing = run("schema", "export", "--models", "nowhere", cwd=tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_every_command_has_help(tmp_path: Path) -> None:
    for args in ((), ("schema",), ("schema", "export"), ("lsp",), ("mcp",)):
        done = run(*args, "--help", cwd=tmp_path)
        assert done.returncode == 0, (args, done.stderr)
        assert "usage" in done.stdout.lower(), args
