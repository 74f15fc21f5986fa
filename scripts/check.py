"""Lint, format check, type check and tests: the one command CI runs.

Usage: python scripts/check.py [extra pytest arguments]

Set DATAFLOW_TEST_REQUIRE_ALL=1 to turn a skipped backend (PostgreSQL, MySQL, Redis)
into a failure.
"""

from __future__ import annotations

import subprocess
import sys

PATHS = ["src", "tests", "examples", "benchmarks", "scripts"]
STEPS = [
    ("ruff check", [sys.executable, "-m", "ruff", "check", *PATHS]),
    ("ruff format", [sys.executable, "-m", "ruff", "format", "--check", *PATHS]),
    ("mypy", [sys.executable, "-m", "mypy"]),
]


def main() -> int:
    for name, cmd in STEPS:
        print(f"==> {name}", flush=True)
        if subprocess.call(cmd) != 0:
            print(f"FAILED: {name}", flush=True)
            return 1
    print("==> pytest", flush=True)
    code = subprocess.call([sys.executable, "-m", "pytest", *sys.argv[1:]])
    if code == 5:  # pytest collected no tests: that is a failure here, never a pass
        print("FAILED: pytest ran no tests", flush=True)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
