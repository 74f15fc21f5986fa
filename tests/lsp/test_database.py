"""Models the language server reads from a database's model registry (read-only), on
every backend: a workflow file naming them is checked like one naming workspace models."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from dataflow_engine import DataFlow
from tests.support import one

from .conftest import SERVER, Session

pytestmark = pytest.mark.asyncio(loop_scope="function")


@pytest.fixture
def registry_url(db_url: str) -> Iterator[str]:
    """A database whose registry holds the model Invoice (registered by a program)."""
    db = DataFlow(db_url)

    @db.model
    class Invoice:
        number: str
        amount: int
        paid: bool = False

    one(db, "InvoiceCreateNode", {"number": "A-1", "amount": 10})  # registered on first use
    db.close()
    yield db_url


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def registry_client(
    lsp_client: LanguageClient, registry_url: str, tmp_path: Path
) -> AsyncIterator[None]:
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("neovim@v0.9.1"),
            root_uri=tmp_path.as_uri(),
            initialization_options={"databaseUrl": registry_url},
        )
    )
    yield
    await lsp_client.shutdown_session()


@pytest.mark.parametrize("backend", ["sqlite-file", "postgresql", "mysql"])
async def test_models_from_the_registry_are_known(
    registry_client: LanguageClient, tmp_path: Path, backend: str
) -> None:
    lsp = Session(registry_client, tmp_path)
    definition = {
        "nodes": [
            {"id": "new", "type": "InvoiceCreateNode", "params": {"number": "B", "amount": 5}},
            {"id": "open", "type": "InvoiceListNode", "params": {"filter": {"payd": False}}},
        ]
    }
    text = json.dumps(definition, indent=2)
    uri = await lsp.open("invoices.json", text)
    diags = await lsp.settle(uri, lambda d: any(x.code == "DF-FILTER-UNKNOWN-FIELD" for x in d))
    assert [d.code for d in diags] == ["DF-FILTER-UNKNOWN-FIELD"]
    assert "did you mean 'paid'" in diags[0].message
