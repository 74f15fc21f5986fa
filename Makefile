# The commands the README names. Each creates .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test check lint types bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Install the engine (SQLite) with the MCP server and run the demo: a first workflow, then an
# MCP client session exploring a sample database.
demo: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[mcp]'
	$(BIN)/python examples/quickstart.py
	$(BIN)/python examples/mcp_session.py

# Install everything for development, then lint, type-check and test.
test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python scripts/check.py

check: test

bench: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
