"""Write the generated JSON Schemas under schemas/ (a test fails when they are stale).

Usage: python scripts/generate_schemas.py
"""

from __future__ import annotations

import json
from pathlib import Path

from dataflow_engine.query import filter_json_schema
from dataflow_engine.workflow import workflow_json_schema

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = {
    "filter.schema.json": filter_json_schema,
    "workflow.schema.json": workflow_json_schema,
}


def render(name: str) -> str:
    return json.dumps(SCHEMAS[name](), indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    for name in SCHEMAS:
        (ROOT / "schemas" / name).write_text(render(name), encoding="utf-8")
        print(f"wrote schemas/{name}")


if __name__ == "__main__":
    main()
