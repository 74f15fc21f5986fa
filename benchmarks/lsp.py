"""The language server's latency, measured the way an editor sees it.

``dataflow-lsp`` runs as a subprocess over stdio (debounce 0, so what is measured is the
server's own work plus the transport), in a temporary workspace holding a models file and
2,000-line documents. For each document kind (Python, JSON, YAML):

- diagnostics after a change: from sending ``didChange`` (which adds or removes an error
  near the end of the file) to receiving the ``publishDiagnostics`` of that version;
- completion: a ``textDocument/completion`` request inside a filter near the end.

Targets (issue 7): diagnostics under 100 ms after a change, completion under 30 ms. The
figures are medians; the absolute time is what the targets are about here, since no
baseline does the same work.

Usage::

    python benchmarks/lsp.py [--repeats N] [--markdown]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

DIAGNOSTICS_TARGET = 0.100
COMPLETION_TARGET = 0.030

MODELS = textwrap.dedent(
    """\
    import enum
    from decimal import Decimal

    from dataflow_engine import DataFlow

    db = DataFlow("sqlite:///bench.db")


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
    """
)


def python_document() -> tuple[str, str, str]:
    """A 2,000-line Python file, the same with one error near the end, and the text
    before a completion position."""
    block = textwrap.dedent(
        """\
        def step_{n}(limit):
            wf = WorkflowBuilder()
            wf.add_node("UserListNode", "list", {{"filter": {{"age": {{"$gte": limit}}}}}})
            wf.add_node("OrderCountNode", "count", {{"filter": {{"user_id": {n}}}}})
            wf.add_connection("list", "count", "count", "filter.total")
            return wf

        """
    )
    text = "from dataflow_engine import WorkflowBuilder\n\n"
    text += "".join(block.format(n=n) for n in range(290))
    bad = text.replace('"user_id": 280', '"user_idd": 280')
    marker = '{"filter": {"user_id": 285'
    return text, bad, text[: text.index(marker) + len('{"filter": {"us')]


def _workflow(n: int) -> dict[str, Any]:
    nodes = []
    connections = []
    for i in range(n):
        nodes.append({"id": f"list{i}", "type": "UserListNode", "params": {"filter": {"age": i}}})
        nodes.append(
            {"id": f"count{i}", "type": "OrderCountNode", "params": {"filter": {"user_id": i}}}
        )
        connections.append({"from": f"list{i}.count", "to": f"count{i}.filter.total"})
    return {"nodes": nodes, "connections": connections}


def json_document() -> tuple[str, str, str]:
    text = json.dumps(_workflow(100), indent=2)
    text += "\n" * max(0, 2000 - text.count("\n"))
    bad = text.replace('"user_id": 90', '"user_idd": 90')
    marker = '"user_id": 95'
    return text, bad, text[: text.index(marker) + 4]


def yaml_document() -> tuple[str, str, str]:
    import yaml

    text = yaml.safe_dump(_workflow(120), sort_keys=False)
    text += "\n" * max(0, 2000 - text.count("\n"))
    bad = text.replace("user_id: 110", "user_idd: 110")
    marker = "user_id: 115"
    return text, bad, text[: text.index(marker) + 3]


def _position(prefix: str) -> types.Position:
    line = prefix.count("\n")
    column = prefix[prefix.rfind("\n") + 1 :]
    return types.Position(line, len(column.encode("utf-16-le")) // 2)


class Session:
    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.waiting: dict[tuple[str, int], asyncio.Future[list[types.Diagnostic]]] = {}

        @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def published(params: types.PublishDiagnosticsParams) -> None:
            future = self.waiting.pop((params.uri, params.version or 0), None)
            if future is not None and not future.done():
                future.set_result(list(params.diagnostics))

    def expect(self, uri: str, version: int) -> asyncio.Future[list[types.Diagnostic]]:
        future: asyncio.Future[list[types.Diagnostic]] = asyncio.get_running_loop().create_future()
        self.waiting[(uri, version)] = future
        return future


async def measure(root: Path, repeats: int) -> list[tuple[str, float, float, bool, str]]:
    client = LanguageClient("dataflow-bench", "1")
    session = Session(client)
    await client.start_io(sys.executable, "-m", "dataflow_lsp", "--debounce", "0")
    await client.initialize_async(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            root_uri=root.as_uri(),
            workspace_folders=[types.WorkspaceFolder(root.as_uri(), "bench")],
        )
    )
    client.initialized(types.InitializedParams())
    rows = []
    documents: list[tuple[str, str, Callable[[], tuple[str, str, str]]]] = [
        ("python", "flows.py", python_document),
        ("json", "flows.json", json_document),
        ("yaml", "flows.yaml", yaml_document),
    ]
    for language, name, make in documents:
        text, bad, before = make()
        uri = (root / name).as_uri()
        opened = session.expect(uri, 1)
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, language, 1, text))
        )
        await asyncio.wait_for(opened, 60)
        await asyncio.sleep(1.0)  # the workspace scan is done; models are known
        timings = []
        version = 1
        found_error = False
        for i in range(repeats * 2):
            version += 1
            now = bad if i % 2 == 0 else text
            answer = session.expect(uri, version)
            started = time.perf_counter()
            client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                    [types.TextDocumentContentChangeWholeDocument(text=now)],
                )
            )
            diags = await asyncio.wait_for(answer, 60)
            timings.append(time.perf_counter() - started)
            if now is bad:
                found_error |= any(d.code == "DF-FILTER-UNKNOWN-FIELD" for d in diags) or any(
                    d.code == "DF-PARAM-UNKNOWN-FIELD" for d in diags
                )
        diagnostics = statistics.median(timings)
        # the document is back to the good text; ask for completions inside a filter
        completion = []
        labels: set[str] = set()
        for _ in range(repeats):
            started = time.perf_counter()
            result = await client.text_document_completion_async(
                types.CompletionParams(types.TextDocumentIdentifier(uri), _position(before))
            )
            completion.append(time.perf_counter() - started)
            items = result.items if isinstance(result, types.CompletionList) else result or []
            labels = {item.label for item in items}
        note = f"{text.count(chr(10)):,} lines; error found: {found_error}"
        rows.append(
            (
                f"{language}: diagnostics after a change",
                diagnostics,
                DIAGNOSTICS_TARGET,
                found_error,
                note,
            )
        )
        ok = "user_id" in labels
        rows.append(
            (
                f"{language}: completion",
                statistics.median(completion),
                COMPLETION_TARGET,
                ok,
                f"{len(labels)} items; fields offered: {ok}",
            )
        )
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="dataflow-lsp latency")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dataflow_lsp_bench_") as tmp:
        root = Path(tmp)
        (root / "models.py").write_text(MODELS, encoding="utf-8")
        rows = asyncio.run(measure(root, args.repeats))
    failed = False
    print(f"{'workload':<36} {'median':>9} {'target':>9}  verdict")
    for name, value, target, checked, note in rows:
        verdict = "PASS" if value <= target and checked else "FAIL"
        failed |= not checked
        print(f"{name:<36} {value * 1e3:>7.1f} ms {target * 1e3:>6.0f} ms  {verdict}  {note}")
    if args.markdown:
        print("\n| workload | median | target | verdict | note |\n|---|---|---|---|---|")
        for name, value, target, checked, note in rows:
            verdict = "PASS" if value <= target and checked else "FAIL"
            print(
                f"| {name} | {value * 1e3:.1f} ms | < {target * 1e3:.0f} ms | {verdict} | {note} |"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
