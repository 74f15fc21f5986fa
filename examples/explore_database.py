"""Explore an unknown database the way an agent would: list every table with its keys,
relations and size, then sample a few rows of each, without changing anything.

python examples/explore_database.py [DATABASE_URL]
(without a URL, a small shop database is made in a temporary SQLite file)
"""

from __future__ import annotations

import sys
from pathlib import Path

from dataflow_engine import DataFlow, LocalRuntime, WorkflowBuilder

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shop_db import run_example

SAMPLE = 3


def main(url: str) -> None:
    with DataFlow(url, read_only=True, existing_schema_mode=True) as db:
        tables = db.discover_schema()
        registered = db.register_schema_as_models()
        print(f"{len(tables)} tables and views")
        for name, table in tables.items():
            key = ", ".join(table.primary_key) or "no primary key"
            size = "size unknown" if table.row_estimate is None else f"~{table.row_estimate} rows"
            print(f"\n{name} ({table.kind}; key: {key}; {size})")
            for column in table.columns:
                null = "" if column.nullable else " not null"
                print(f"  {column.name}: {column.type}{null}")
            for fk in table.foreign_keys:
                print(f"  -> {fk.ref_table} via {', '.join(fk.columns)} (on delete {fk.on_delete})")
            for fk in table.referenced_by:
                print(f"  <- {fk.table} via {', '.join(fk.columns)}")
            nodes = registered["generated_nodes"].get(name)
            if nodes is None:
                continue
            wf = WorkflowBuilder()
            wf.add_node(nodes["list"], "sample", {"limit": SAMPLE})
            results, _ = LocalRuntime(dataflow=db).execute(wf.build(db))
            for row in results["sample"]["records"]:
                print("  sample:", {k: str(v) for k, v in row.items()})


if __name__ == "__main__":
    run_example(main)
