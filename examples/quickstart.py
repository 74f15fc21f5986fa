"""DataFlow in one minute: a model, a workflow, and the results.

Runs on an embedded in-memory SQLite database; set DATAFLOW_DATABASE_URL to use another.

    python examples/quickstart.py
"""

from __future__ import annotations

from dataflow_engine import DataFlow, LocalRuntime, WorkflowBuilder

db = DataFlow()  # DATAFLOW_DATABASE_URL, else in-memory SQLite


@db.model
class User:
    name: str
    email: str
    age: int
    department: str
    active: bool = True
    __dataflow__ = {"unique": [["email"]], "indexes": [["department", "age"]]}


def main() -> None:
    runtime = LocalRuntime(dataflow=db)

    # 1. Create some users in one atomic bulk insert.
    seed = WorkflowBuilder()
    seed.add_node(
        "UserBulkCreateNode",
        "seed",
        {
            "data": [
                {"name": "Ada", "email": "ada@example.com", "age": 36, "department": "eng"},
                {"name": "Grace", "email": "grace@example.com", "age": 45, "department": "eng"},
                {"name": "Linus", "email": "linus@example.com", "age": 28, "department": "ops"},
                {
                    "name": "Barbara",
                    "email": "barbara@example.com",
                    "age": 52,
                    "department": "research",
                    "active": False,
                },
            ]
        },
    )
    results, _ = runtime.execute(seed.build())
    print(f"Inserted {results['seed']['inserted']} users")

    # 2. Create one more, read it back through a connection, and query.
    wf = WorkflowBuilder()
    wf.add_node(
        "UserCreateNode",
        "create",
        {"name": "Ken", "email": "ken@example.com", "age": 41, "department": "eng"},
    )
    wf.add_node("UserReadNode", "read", {})
    wf.add_connection("create", "id", "read", "id")
    wf.add_node(
        "UserListNode",
        "engineers",
        {
            "filter": {"department": "eng", "age": {"$gte": 30}, "active": True},
            "order_by": ["-age"],
            "fields": ["name", "age"],
        },
    )
    wf.add_node("UserCountNode", "inactive", {"filter": {"active": False}})
    results, run_id = runtime.execute(wf.build())

    created = results["create"]
    print(f"Created {created['name']} with id {created['id']} at {created['created_at']:%H:%M:%S}")
    print(f"Read back: {results['read']['email']} (found={results['read']['found']})")
    print("Engineers aged 30 or more, oldest first:")
    for row in results["engineers"]["records"]:
        print(f"  {row['name']:<8} {row['age']}")
    print(f"Inactive users: {results['inactive']['count']}")

    # 3. Updates take values or operators; bad input gets a clear error with a code.
    bump = WorkflowBuilder()
    bump.add_node(
        "UserBulkUpdateNode",
        "birthday",
        {"filter": {"department": "eng"}, "update": {"$inc": {"age": 1}}},
    )
    results, _ = runtime.execute(bump.build())
    print(f"Birthdays in eng: {results['birthday']['updated']} users a year older")

    bad = WorkflowBuilder()
    bad.add_node("UserListNode", "oops", {"filter": {"agee": {"$gtt": 3}}})
    try:
        bad.build()
    except Exception as exc:  # WorkflowValidationError
        print(f"A mistake is caught before anything runs:\n  {exc}")
    print(f"Done (run {run_id[:8]}).")
    db.close()


if __name__ == "__main__":
    main()
