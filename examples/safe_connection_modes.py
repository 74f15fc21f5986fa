"""Open a database somebody else owns without any risk of changing it.

- existing_schema_mode=True: DataFlow never creates, alters or drops anything; the
  tables are discovered and registered as models, and their nodes read and write rows.
- read_only=True: every write is refused before any SQL is built, and the connection
  itself is read-only, so even SQL sent around the engine cannot write.

python examples/safe_connection_modes.py [DATABASE_URL]
(without a URL, a small shop database is made in a temporary SQLite file)
"""

from __future__ import annotations

import sys
from pathlib import Path

from dataflow_engine import DataFlow, DataFlowError, LocalRuntime, WorkflowBuilder

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shop_db import run_example


def run(db: DataFlow, node: str, params: dict[str, object]) -> dict[str, object]:
    wf = WorkflowBuilder()
    wf.add_node(node, "n", params)
    results, _ = LocalRuntime(dataflow=db).execute(wf.build(db))
    return dict(results["n"])


def main(url: str) -> None:
    # 1. Existing-schema mode: models from the tables that are there, no DDL.
    with DataFlow(url, existing_schema_mode=True) as db:
        result = db.register_schema_as_models()
        print("registered:", ", ".join(result["registered_models"]))
        for model, reason in result["read_only"].items():
            print(f"  {model} is read-only: {reason}")
        created = run(db, "CustomerCreateNode", {"name": "Margaret", "joined": "2024-09-01"})
        print("created customer", created["customer_id"], "credit", created["credit"])

        @db.model
        class Coupon:  # a model whose table does not exist: never created here
            code: str

        try:
            run(db, "CouponCreateNode", {"code": "WELCOME"})
        except DataFlowError as exc:
            print("a model without its table:", exc.code)

    # 2. Read-only: the engine refuses, and so does the database.
    with DataFlow(url, read_only=True) as db:
        db.register_schema_as_models(tables=["customers"])
        print("customers:", run(db, "CustomerCountNode", {})["count"])
        try:
            run(db, "CustomerCreateNode", {"name": "Eve", "joined": "2024-01-01"})
        except DataFlowError as exc:
            print("write refused by the engine:", exc.code)


if __name__ == "__main__":
    run_example(main)
