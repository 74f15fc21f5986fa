"""Create, read, update, delete and list one model, with every node's output printed.

python examples/basic_crud.py [DATABASE_URL]
"""

from __future__ import annotations

import sys
from datetime import date
from decimal import Decimal

from dataflow_engine import DataFlow, LocalRuntime, NotFoundError, WorkflowBuilder


def main(url: str | None = None) -> None:
    db = DataFlow(url)

    @db.model
    class Product:
        name: str
        price: Decimal
        released: date | None = None
        tags: list[str] | None = None
        in_stock: bool = True

    runtime = LocalRuntime(dataflow=db)

    wf = WorkflowBuilder()
    wf.add_node(
        "ProductCreateNode",
        "create",
        {
            "name": "Widget",
            "price": Decimal("9.99"),
            "released": date(2024, 5, 1),
            "tags": ["tools", "small"],
        },
    )
    wf.add_node("ProductUpdateNode", "update", {"fields": {"price": Decimal("8.49")}})
    wf.add_connection("create", "id", "update", "id")
    wf.add_node("ProductReadNode", "read", {})
    wf.add_connection("update", "id", "read", "id")
    results, _ = runtime.execute(wf.build())
    print("created:", results["create"]["name"], results["create"]["price"])
    print("updated price:", results["update"]["price"])
    print("read back:", results["read"]["name"], results["read"]["tags"])

    listing = WorkflowBuilder()
    listing.add_node(
        "ProductBulkCreateNode",
        "more",
        {
            "data": [
                {"name": f"Gadget {i}", "price": Decimal(i) + Decimal("0.5")} for i in range(1, 6)
            ]
        },
    )
    listing.add_node(
        "ProductListNode",
        "cheap",
        {
            "filter": {"price": {"$lt": 4}},
            "order_by": ["price"],
            "with_total": True,
        },
    )
    results, _ = runtime.execute(listing.build())
    cheap = results["cheap"]
    print(f"{cheap['total']} products under 4:", [r["name"] for r in cheap["records"]])

    product_id = cheap["records"][0]["id"]
    delete = WorkflowBuilder()
    delete.add_node("ProductDeleteNode", "delete", {"id": product_id})
    results, _ = runtime.execute(delete.build())
    print("deleted:", results["delete"])

    gone = WorkflowBuilder()
    gone.add_node("ProductReadNode", "read", {"id": product_id})
    try:
        runtime.execute(gone.build())
    except NotFoundError as exc:
        print("reading it again:", exc.code)
    db.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
