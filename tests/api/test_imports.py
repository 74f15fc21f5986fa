"""The REST API is loaded only when asked for: ``import dataflow_engine`` (and the
``dataflow`` command's start) load neither Starlette nor uvicorn."""

from __future__ import annotations

import subprocess
import sys


def loaded_after(code: str) -> list[str]:
    probe = (
        f"{code}\n"
        "import sys\n"
        "print(','.join(m for m in sys.modules if m.split('.')[0] in "
        "('starlette', 'uvicorn', 'orjson', 'httpx') or m == 'dataflow_engine.api'))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


def test_importing_the_engine_loads_no_web_framework() -> None:
    assert loaded_after("import dataflow_engine") == []


def test_the_command_line_loads_it_only_for_the_api_command() -> None:
    assert loaded_after("import dataflow_cli") == []


def test_db_api_loads_it() -> None:
    loaded = loaded_after(
        "from dataflow_engine import DataFlow\n"
        "db = DataFlow()\n"
        "@db.model\n"
        "class User:\n"
        "    name: str\n"
        "db.api()\n"
    )
    assert "starlette" in loaded and "dataflow_engine.api" in loaded
