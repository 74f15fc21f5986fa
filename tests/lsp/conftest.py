"""The language server under test: the real ``dataflow-lsp`` over stdio, in a workspace
made for each test (a models file and whatever documents the test opens)."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

MODELS = textwrap.dedent(
    '''\
    """The project's models (read by the language server, never imported)."""
    import enum
    from decimal import Decimal

    from dataflow_engine import DataFlow

    db = DataFlow("sqlite:///shop.db")


    class Status(str, enum.Enum):
        ACTIVE = "active"
        BLOCKED = "blocked"


    @db.model
    class User:
        name: str
        email: str
        age: int | None = None
        status: Status = Status.ACTIVE


    @db.model
    class Order:
        user_id: int
        total: Decimal
        note: str | None = None
        __dataflow__ = {"soft_delete": True}
    '''
)

SERVER = [sys.executable, "-m", "dataflow_lsp", "--debounce", "0"]


class Session:
    """A client talking to the server, with helpers for documents in the workspace."""

    def __init__(self, client: LanguageClient, root: Path) -> None:
        self.client = client
        self.root = root
        self.versions: dict[str, int] = {}

    def uri(self, name: str) -> str:
        return (self.root / name).as_uri()

    async def open(self, name: str, text: str, language: str | None = None) -> str:
        uri = self.uri(name)
        language = language or {"py": "python", "json": "json", "yaml": "yaml"}.get(
            name.rsplit(".", 1)[-1], "yaml"
        )
        self.versions[uri] = 1
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                types.TextDocumentItem(uri=uri, language_id=language, version=1, text=text)
            )
        )
        return uri

    async def change(self, uri: str, text: str) -> None:
        self.versions[uri] += 1
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=uri, version=self.versions[uri]
                ),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )

    async def settle(self, uri: str, predicate: Callable[[list[types.Diagnostic]], bool]) -> Any:
        """Wait until the published diagnostics satisfy ``predicate``."""
        for _ in range(50):
            found = list(self.client.diagnostics.get(uri, []))
            if uri in self.client.diagnostics and predicate(found):
                return found
            try:
                await asyncio.wait_for(
                    self.client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS),
                    timeout=20,
                )
            except TimeoutError:
                break
        raise AssertionError(f"diagnostics never settled: {self.client.diagnostics.get(uri)}")


def position(text: str, marker: str, delta: int = 0) -> types.Position:
    """The position right after the first ``marker`` (plus ``delta`` characters), in
    UTF-16 code units as the client counts them."""
    offset = text.index(marker) + len(marker) + delta
    line = text.count("\n", 0, offset)
    start = text.rfind("\n", 0, offset) + 1
    chunk = text[start:offset]
    return types.Position(line, len(chunk.encode("utf-16-le")) // 2)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "models.py").write_text(MODELS, encoding="utf-8")
    return tmp_path


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def client(lsp_client: LanguageClient, workspace: Path) -> AsyncIterator[None]:
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("neovim@v0.9.1"),
            root_uri=workspace.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="shop")],
        )
    )
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def lsp(client: LanguageClient, workspace: Path) -> Session:
    """A session with the server (Neovim 0.9's capabilities: pushed diagnostics)."""
    return Session(client, workspace)


def pull_capabilities() -> types.ClientCapabilities:
    """VS Code's capabilities, with pull diagnostics.

    pytest-lsp's record of VS Code is of version 1.65, from before LSP 3.17: it has no
    ``textDocument.diagnostic``. Current versions declare it as here.
    """
    capabilities = client_capabilities("visual-studio-code")
    assert capabilities.text_document is not None
    capabilities.text_document.diagnostic = types.DiagnosticClientCapabilities(
        dynamic_registration=True, related_document_support=True
    )
    return capabilities


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def pull_client(lsp_client: LanguageClient, workspace: Path) -> AsyncIterator[None]:
    @lsp_client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register(params: types.RegistrationParams) -> None:
        """VS Code registers the file watchers the server asks for."""

    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=pull_capabilities(),
            root_uri=workspace.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="shop")],
        )
    )
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def pull_lsp(pull_client: LanguageClient, workspace: Path) -> Session:
    """A session with the server whose client pulls diagnostics (VS Code's capabilities):
    the server answers ``textDocument/diagnostic`` and pushes none."""
    return Session(pull_client, workspace)
