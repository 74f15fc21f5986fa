"""A small shop database made with plain sqlite3, as somebody else's application would
have made it (the examples then open it with DataFlow)."""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from collections.abc import Callable

SCHEMA = [
    """CREATE TABLE customers (
        customer_id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        email VARCHAR(200) UNIQUE,
        credit NUMERIC(10,2) NOT NULL DEFAULT 0,
        joined DATE NOT NULL
    )""",
    """CREATE TABLE orders (
        order_id INTEGER PRIMARY KEY,
        customer_id INTEGER NOT NULL REFERENCES customers(customer_id) ON DELETE CASCADE,
        placed DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
        total NUMERIC(10,2) NOT NULL
    )""",
    """CREATE TABLE order_lines (
        order_id INTEGER NOT NULL REFERENCES orders(order_id),
        line INTEGER NOT NULL,
        sku TEXT NOT NULL,
        qty INTEGER NOT NULL CHECK (qty > 0),
        PRIMARY KEY (order_id, line)
    )""",
    "CREATE TABLE page_views (at DATETIME NOT NULL, path TEXT NOT NULL)",
    "CREATE INDEX ix_orders_customer ON orders (customer_id)",
]
ROWS = [
    "INSERT INTO customers (name, email, credit, joined) VALUES "
    "('Ada', 'ada@example.com', 120.50, '2023-01-15'), "
    "('Grace', 'grace@example.com', 0, '2024-03-02'), "
    "('Linus', NULL, 15.25, '2024-07-30')",
    "INSERT INTO orders (order_id, customer_id, placed, total) VALUES "
    "(1, 1, '2024-05-01 10:00:00', 42.00), (2, 1, '2024-05-03 12:30:00', 9.99), "
    "(3, 3, '2024-06-11 08:15:00', 120.00)",
    "INSERT INTO order_lines VALUES (1, 1, 'KB-01', 1), (1, 2, 'MS-02', 2), (3, 1, 'MN-27', 1)",
    "INSERT INTO page_views VALUES ('2024-05-01 09:59:00', '/'), ('2024-05-01 10:00:00', '/buy')",
]


def make_shop(path: str) -> None:
    """Create the shop database at ``path`` (a new file)."""
    with sqlite3.connect(path) as conn:
        for statement in SCHEMA + ROWS:
            conn.execute(statement)


def run_example(main: Callable[[str], None]) -> None:
    """Run ``main`` on the URL given on the command line, else on a fresh shop database
    in a temporary SQLite file."""
    if len(sys.argv) > 1:
        main(sys.argv[1])
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/shop.db"
        make_shop(path)
        main(f"sqlite:///{path}")
