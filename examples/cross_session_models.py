"""Share models between processes through the model registry.

The first process registers the tables of an existing database; a second process (a new
Python interpreter) rebuilds the same models from the registry, without discovering
anything, and queries them.

python examples/cross_session_models.py [DATABASE_URL]
(without a URL, a small shop database is made in a temporary SQLite file)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dataflow_engine import DataFlow

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shop_db import run_example

SECOND_SESSION = """
import sys
from dataflow_engine import DataFlow, LocalRuntime, WorkflowBuilder

with DataFlow(sys.argv[1], existing_schema_mode=True, application_id="shop") as db:
    names = db.reconstruct_models_from_registry()
    print("second session rebuilt:", ", ".join(names))
    wf = WorkflowBuilder()
    wf.add_node("OrderListNode", "orders", {"filter": {"total": {"$gte": 10}},
                                            "order_by": "-total"})
    results, _ = LocalRuntime(dataflow=db).execute(wf.build(db))
    for row in results["orders"]["records"]:
        print(f"  order {row['order_id']}: {row['total']}")
"""


def main(url: str) -> None:
    with DataFlow(url, application_id="shop") as db:
        db.register_schema_as_models(tables=["customers", "orders", "order_lines"])
        for entry in db.registry_entries():
            print(f"first session registered {entry['model']} (version {entry['version']})")
    done = subprocess.run(
        [sys.executable, "-c", SECOND_SESSION, url], capture_output=True, text=True
    )
    print(done.stdout, end="")
    if done.returncode:
        print(done.stderr, file=sys.stderr)
        raise SystemExit(done.returncode)


if __name__ == "__main__":
    run_example(main)
