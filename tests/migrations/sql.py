"""Raw SQL through a DataFlow's own connection, for migration tests on every backend
(on PostgreSQL in the URL's schema): the fixtures' tables are made the way a user's
existing database was, not by the engine."""

from __future__ import annotations

from typing import Any

from dataflow_engine import DataFlow, _loop


async def run_sql_async(db: DataFlow, *statements: str) -> None:
    """Run statements, in the URL's schema on PostgreSQL (created if missing)."""

    async def work() -> None:
        async with db._adapter.acquire() as conn:
            schema = db.dialect.schema
            if db.dialect.name == "postgresql" and schema:
                await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                async with conn.transaction():
                    await conn.execute(f'SET LOCAL search_path TO "{schema}"')
                    for statement in statements:
                        await conn.execute(statement)
            else:
                for statement in statements:
                    await conn.execute(statement)

    await _loop.run_async(work())


def run_sql(db: DataFlow, *statements: str) -> None:
    _loop.run_sync(run_sql_async(db, *statements))


async def fetch_async(db: DataFlow, sql: str) -> list[tuple[Any, ...]]:
    async def work() -> list[tuple[Any, ...]]:
        async with db._adapter.acquire() as conn:
            return [tuple(r) for r in await conn.fetch(sql)]

    return await _loop.run_async(work())


def fetch(db: DataFlow, sql: str) -> list[tuple[Any, ...]]:
    return _loop.run_sync(fetch_async(db, sql))


def insert_rows(db: DataFlow, table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
    marks = ", ".join(db.dialect.placeholder(i + 1) for i in range(len(rows[0])))

    async def work() -> None:
        async with db._adapter.acquire() as conn:
            sql = f"INSERT INTO {qualified(db, table)} ({columns}) VALUES ({marks})"
            await conn.executemany(sql, rows)

    _loop.run_sync(work())


def qualified(db: DataFlow, table: str) -> str:
    """A table name as written in raw SQL (PostgreSQL: in the URL's schema)."""
    schema = db.dialect.schema
    return f'"{schema}".{table}' if db.dialect.name == "postgresql" and schema else table


def table(db: DataFlow, name: str) -> str:
    """A table name quoted for raw SQL (PostgreSQL: in the URL's schema)."""
    quoted = db.dialect.quote(name)
    schema = db.dialect.schema
    return f"{db.dialect.quote(schema)}.{quoted}" if db.dialect.name == "postgresql" else quoted
