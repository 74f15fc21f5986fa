"""A multi-tenant notes service: tenancy, audit trail, optimistic locking, soft delete,
a saga with compensations, the query cache and a health check, on embedded SQLite.

Run it: ``python examples/saas_notes.py [DATABASE_URL]``.
"""

from __future__ import annotations

import sys
import threading

from dataflow_engine import (
    DataFlow,
    LocalRuntime,
    OptimisticLockError,
    TenantError,
    WorkflowBuilder,
    WorkflowError,
)

db = DataFlow(sys.argv[1] if len(sys.argv) > 1 else None, cache=True)


@db.model
class Note:
    title: str
    likes: int = 0
    __dataflow__ = {
        "multi_tenant": True,  # every statement carries tenant_id = <the bound tenant>
        "soft_delete": True,  # Delete sets deleted_at; reads skip deleted notes
        "audit_log": True,  # one audit row per change, in the write's transaction
        "versioned": True,  # Update needs the version it read
    }


@db.model
class Invoice:
    number: str
    note_id: int
    __dataflow__ = {"multi_tenant": True, "unique": [["tenant_id", "number"]]}


runtime = LocalRuntime(dataflow=db)


def run(node_type: str, params: dict[str, object]) -> dict[str, object]:
    wf = WorkflowBuilder()
    wf.add_node(node_type, "n", params)
    results, _ = runtime.execute(wf.build(db))
    return dict(results["n"])


# 1. Nothing bound: refused before any SQL.
try:
    run("NoteListNode", {})
except TenantError as exc:
    print(f"Without a tenant: {exc.code}")

# 2. Two tenants write; neither sees the other, whatever the filter says.
with db.actor("ann"):
    with db.tenant("acme"):
        note = run("NoteCreateNode", {"title": "Acme roadmap"})
    with db.tenant("globex"):
        run("NoteCreateNode", {"title": "Globex secrets"})
with db.tenant("acme"):
    sneaky = {"$or": [{"tenant_id": "globex"}, {"title": "Globex secrets"}]}
    seen = run("NoteListNode", {"filter": sneaky})["count"]
    print(f"acme looking for globex's note finds {seen} notes")

# 3. Twenty concurrent likes with optimistic locking: every one counts.
conflicts = 0
lock = threading.Lock()


def like() -> None:
    global conflicts
    with db.tenant("acme"), db.actor("fan"):
        while True:
            current = run("NoteReadNode", {"id": note["id"]})
            try:
                run(
                    "NoteUpdateNode",
                    {
                        "id": note["id"],
                        "version": current["version"],
                        "fields": {"likes": current["likes"] + 1},
                    },
                )
                return
            except OptimisticLockError:
                with lock:
                    conflicts += 1


threads = [threading.Thread(target=like) for _ in range(20)]
for t in threads:
    t.start()
for t in threads:
    t.join()
with db.tenant("acme"):
    final = run("NoteReadNode", {"id": note["id"]})
print(f"likes: {final['likes']}, version: {final['version']} ({conflicts} conflicts retried)")

# 4. A saga: the invoice step fails (its number is taken), so the note it created is
#    removed again by its compensation.
with db.tenant("acme"):
    run("InvoiceCreateNode", {"number": "INV-1", "note_id": note["id"]})
    wf = WorkflowBuilder()
    wf.add_node(
        "TransactionManagerNode",
        "publish",
        {
            "steps": [
                {
                    "id": "draft",
                    "type": "NoteCreateNode",
                    "params": {"title": "Launch post"},
                    "compensation": {
                        "type": "NoteDeleteNode",
                        "params": {"hard": True},
                        "inputs": {"id": "draft.id"},
                    },
                },
                {
                    "id": "bill",
                    "type": "InvoiceCreateNode",
                    "params": {"number": "INV-1"},
                    "inputs": {"note_id": "draft.id"},
                },
            ]
        },
    )
    try:
        runtime.execute(wf.build(db))
    except WorkflowError as exc:
        report = exc.details["saga"]
        print(f"saga {report['status']} ({exc.code}): compensated {report['compensated']}")
    titles = [r["title"] for r in run("NoteListNode", {"order_by": ["id"]})["records"]]
    print(f"acme's notes after the saga: {titles}")

    # 5. Soft delete, then the audit trail of the note.
    with db.actor("ann"):
        run("NoteDeleteNode", {"id": note["id"]})
    print(f"visible after delete: {run('NoteCountNode', {})['count']}")
    trail = db.audit_trail(model="Note", record_id=note["id"])
    actions = [(e["action"], e["actor"]) for e in trail]
    print(f"audit: {len(trail)} entries, first {actions[0]}, last {actions[-1]}")

    # 6. Cached reads: the second List is answered from the cache.
    run("NoteListNode", {"filter": {"likes": {"$gte": 0}}})
    run("NoteListNode", {"filter": {"likes": {"$gte": 0}}})
stats = db.cache_stats()
print(f"cache: {stats['hits']} hits, {stats['misses']} misses")
print(f"health: {db.health()['status']}")
db.close()
