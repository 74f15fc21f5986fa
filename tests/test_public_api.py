"""The public surface: a declared, sorted __all__, lazy drivers, one-way dependencies."""

from __future__ import annotations

import subprocess
import sys

import dataflow_engine
from dataflow_engine import errors


def test_root_all_is_sorted_and_complete() -> None:
    names = dataflow_engine.__all__
    assert list(names) == sorted(names)
    for name in names:
        assert hasattr(dataflow_engine, name), name
    public = {n for n in vars(dataflow_engine) if not n.startswith("_")}
    submodules = {
        "adapters",
        "api",
        "cache",
        "config",
        "dialects",
        "discovery",
        "errors",
        "jsonvalues",
        "migrations",
        "models",
        "nodes",
        "query",
        "workflow",
    }
    assert public - set(names) - submodules == set()


def test_every_error_has_a_stable_code_under_one_root() -> None:
    codes = {}
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, errors.DataFlowError), name
            assert obj.default_code.startswith("DF-"), name
            codes[obj.default_code] = name
    assert len(codes) == len([n for n in errors.__all__ if n != "Diagnostic"])


def test_import_loads_no_driver_and_no_front_end() -> None:
    code = (
        "import sys, dataflow_engine\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('asyncpg', 'aiosqlite', 'sqlite3', 'asyncmy', 'aiomysql', 'redis', 'mcp', 'pygls',"
        " 'dataflow_mcp', 'dataflow_lsp')]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
