"""Helpers for the command-line tests: the real ``dataflow`` command in a subprocess, and
raw SQL for setting up tables the way another application would have made them."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from dataflow_engine.config import parse_url
from tests.conftest import mysql_admin, pg_admin

DATAFLOW = [sys.executable, "-m", "dataflow_cli"]

#: The backends a separate process can reach (an in-memory SQLite database cannot be).
CLI_BACKENDS = ["sqlite-file", "postgresql", "mysql"]

every_backend = pytest.mark.parametrize("backend", CLI_BACKENDS)


def dataflow(
    *args: str,
    cwd: Path | None = None,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run ``dataflow ARGS...`` as a user would; never raises on a failure."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DATAFLOW_")}
    environment.update(env or {})
    return subprocess.run(
        [*DATAFLOW, *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        check=False,
        env=environment,
    )


def sql(url: str, *statements: str) -> None:
    """Run statements on the test database as its owner would (setup only). Table names
    in the statements are unqualified: they land in the URL's schema or database."""
    parsed = parse_url(url)
    if parsed.dialect == "sqlite":
        conn = sqlite3.connect(parsed.database or "")
        try:
            for statement in statements:
                conn.execute(statement)
            conn.commit()
        finally:
            conn.close()
    elif parsed.dialect == "postgresql":
        schema = parsed.schema or "public"
        setup = f'CREATE SCHEMA IF NOT EXISTS "{schema}"; SET search_path TO "{schema}"; '
        pg_admin(setup + "; ".join(statements), parsed.database)
    else:
        for statement in statements:
            mysql_admin(f"USE `{parsed.database}`; {statement}; COMMIT")
