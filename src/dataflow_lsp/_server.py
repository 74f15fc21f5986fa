"""The language server: pygls wiring over the features in ``_features.py``.

Documents are Python files (workflows built with ``WorkflowBuilder``; ``@db.model``
classes) and JSON / YAML workflow files. Models come from the workspace's Python files,
read without running them, and optionally from a database's model registry
(``initializationOptions.databaseUrl`` or ``DATAFLOW_DATABASE_URL``), read-only.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any
from urllib.parse import unquote, urlparse

import parso
from lsprotocol import types
from pygls.lsp.server import LanguageServer

from ._document import Cursor, Parsed, Span, Workflow
from ._features import (
    Finding,
    completions,
    diagnose,
    hover,
    node_at,
    placeholder,
)
from ._models import ModelSet, SourceModels, line_starts, python_files, read_models
from ._python import cursor_python, parse_python

__all__ = ["DataFlowLanguageServer", "create_server"]

log = logging.getLogger("dataflow_lsp")
_PARSO: Any = parso  # untyped

_SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "info": types.DiagnosticSeverity.Information,
}
_KINDS = {
    "class": types.CompletionItemKind.Class,
    "property": types.CompletionItemKind.Property,
    "operator": types.CompletionItemKind.Operator,
    "field": types.CompletionItemKind.Field,
    "value": types.CompletionItemKind.Value,
    "reference": types.CompletionItemKind.Reference,
    "keyword": types.CompletionItemKind.Keyword,
}


class Lines:
    """Offsets <-> LSP positions, in the encoding the client and server agreed on."""

    def __init__(self, text: str, encoding: str | None) -> None:
        self.text = text
        self.starts = line_starts(text)
        self.encoding = encoding or types.PositionEncodingKind.Utf16

    def _units(self, chunk: str) -> int:
        if self.encoding == types.PositionEncodingKind.Utf32:
            return len(chunk)
        if self.encoding == types.PositionEncodingKind.Utf8:
            return len(chunk.encode("utf-8", "surrogatepass"))
        return len(chunk) + sum(1 for ch in chunk if ord(ch) > 0xFFFF)

    def position(self, offset: int) -> types.Position:
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self.starts, offset) - 1
        return types.Position(line, self._units(self.text[self.starts[line] : offset]))

    def range(self, span: Span) -> types.Range:
        return types.Range(self.position(span.start), self.position(span.end))

    def offset(self, position: types.Position) -> int:
        if position.line >= len(self.starts):
            return len(self.text)
        start = self.starts[position.line]
        end = self.starts[position.line + 1] if position.line + 1 < len(self.starts) else None
        line = self.text[start:end].rstrip("\r\n")
        units = 0
        for i, ch in enumerate(line):
            if units >= position.character:
                return start + i
            units += self._units(ch)
        return start + len(line)


@dataclass
class _Doc:
    uri: str
    language: str
    version: int | None
    text: str
    lines: Lines
    parsed: Parsed
    findings: list[Finding] = field(default_factory=list)
    models_version: int = -1


def language_of(uri: str, language_id: str | None) -> str | None:
    """python, json or yaml (None: not a document this server reads)."""
    if language_id in ("python", "json", "jsonc", "yaml"):
        return {"jsonc": "json"}.get(language_id, language_id)
    path = urlparse(uri).path.lower()
    for ext, lang in ((".py", "python"), (".json", "json"), (".yaml", "yaml"), (".yml", "yaml")):
        if path.endswith(ext):
            return lang
    return None


def _uri_path(uri: str) -> str:
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


class DataFlowLanguageServer(LanguageServer):
    """Validates and completes DataFlow workflow definitions."""

    def __init__(self, debounce: float = 0.15) -> None:
        super().__init__("dataflow-lsp", _version())
        self.models = ModelSet()
        self.docs: dict[str, _Doc] = {}
        self.debounce = debounce
        self.grammar: Any = _PARSO.load_grammar(version="3.11")
        self.pull = False
        self.snippets = False
        self.ready = asyncio.Event()  # set once the workspace's models are read
        self._pending: dict[str, asyncio.Task[None]] = {}
        self.database_url: str | None = None

    # -- reading --------------------------------------------------------------------------

    def read(self, uri: str, text: str, language: str, version: int | None) -> _Doc:
        encoding = self.workspace.position_encoding if self.protocol.workspace else None
        lines = Lines(text, encoding)
        if language == "python":
            module = self.grammar.parse(
                text, diff_cache=True, path=_uri_path(uri), cache=False, error_recovery=True
            )
            found = read_models(uri, text, module, lines=lines.starts)
            self.models.update(uri, found)
            parsed = parse_python(text, module, lines.starts)
        elif language == "json":
            from ._json import parse_json

            parsed = parse_json(text)
        else:
            from ._yaml import parse_yaml

            parsed = parse_yaml(text)
        doc = _Doc(uri, language, version, text, lines, parsed)
        self.docs[uri] = doc
        return doc

    def findings(self, doc: _Doc) -> list[Finding]:
        if doc.models_version != self.models.version:
            doc.findings = diagnose(doc.parsed, self.models)
            doc.findings += self.model_findings(doc.uri)
            doc.models_version = self.models.version
        return doc.findings

    def model_findings(self, uri: str) -> list[Finding]:
        """A model class the engine refuses (a bad type or option) is shown on its name."""
        out = []
        for found in self.models.declared(uri):
            if found.error is not None:
                out.append(Finding(found.name_span, found.error.code, found.error.message))
        return out

    def diagnostics(self, doc: _Doc) -> list[types.Diagnostic]:
        out = []
        for f in self.findings(doc):
            out.append(
                types.Diagnostic(
                    range=doc.lines.range(f.span),
                    message=f.message,
                    severity=_SEVERITY.get(f.severity, types.DiagnosticSeverity.Error),
                    code=f.code,
                    source="dataflow",
                    data={"suggestions": list(f.details.get("suggestions", []) or [])},
                )
            )
        return out

    def publish(self, doc: _Doc) -> None:
        if self.pull or not self.ready.is_set():
            return  # before the workspace is read, every node type would look unknown
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(
                uri=doc.uri, diagnostics=self.diagnostics(doc), version=doc.version
            )
        )

    def schedule(self, uri: str) -> None:
        """Publish a document's diagnostics once typing pauses."""
        old = self._pending.pop(uri, None)
        if old is not None:
            old.cancel()

        async def later() -> None:
            await asyncio.sleep(self.debounce)
            doc = self.docs.get(uri)
            if doc is not None:
                self.publish(doc)

        self._pending[uri] = asyncio.ensure_future(later())

    def models_changed(self) -> None:
        """Models changed: every open document is checked again."""
        if self.pull:
            if _supports(self.client_capabilities, "workspace.diagnostics.refresh_support"):
                self.workspace_diagnostic_refresh(None)
            return
        for uri in list(self.docs):
            self.schedule(uri)

    def scan(self, folders: Iterable[str]) -> list[tuple[str, SourceModels]]:
        """What the workspace's Python files declare (read in a worker thread; applied
        on the server's loop by :meth:`apply_scan`, so models change in one place)."""
        found = []
        for folder in folders:
            for path in python_files(FsPath(_uri_path(folder))):
                try:
                    text = path.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    continue
                uri = path.resolve().as_uri()
                found.append((uri, read_models(uri, text)))
        return found

    def apply_scan(self, found: list[tuple[str, SourceModels]]) -> None:
        for uri, declared in found:
            if uri not in self.docs:  # an open document is newer than its file
                self.models.update(uri, declared)

    def read_file(self, uri: str, path: FsPath) -> None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            self.models.forget(uri)
            return
        self.models.update(uri, read_models(uri, text))

    def load_database_models(self, url: str) -> list[str]:
        """The models a database's registry holds (read-only, never DDL)."""
        from dataflow_engine import DataFlow

        with DataFlow(url, read_only=True, existing_schema_mode=True) as db:
            names = db.reconstruct_models_from_registry()
            models = [db.get_model(n) for n in names]
        self.models.add_external(models)
        return names

    def cursor(self, doc: _Doc, offset: int) -> Cursor | None:
        if doc.language == "python":
            return cursor_python(doc.text, offset, doc.parsed)
        if doc.language == "json":
            from ._json import cursor_json

            return cursor_json(doc.text, offset)
        from ._yaml import cursor_yaml

        return cursor_yaml(doc.text, offset, doc.parsed)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("dataflow-engine")
    except Exception:  # pragma: no cover - not installed as a distribution
        return "0"


def _supports(capabilities: Any, dotted: str) -> bool:
    value = capabilities
    for part in dotted.split("."):
        value = getattr(value, part, None)
        if value is None:
            return False
    return bool(value)


_QUOTE = re.compile(r"""^[rRbBuU]{0,2}(['"])""")


def create_server(debounce: float = 0.15) -> DataFlowLanguageServer:
    """The language server, its features registered.

    Args:
        debounce: seconds to wait after a change before publishing diagnostics.
    """
    server = DataFlowLanguageServer(debounce=debounce)

    @server.feature(types.INITIALIZE)
    def initialize(ls: DataFlowLanguageServer, params: types.InitializeParams) -> None:
        options = params.initialization_options or {}
        url = options.get("databaseUrl") if isinstance(options, dict) else None
        ls.database_url = url or os.environ.get("DATAFLOW_DATABASE_URL") or None
        ls.pull = _supports(params.capabilities, "text_document.diagnostic")
        ls.snippets = _supports(
            params.capabilities, "text_document.completion.completion_item.snippet_support"
        )
        if isinstance(options, dict) and isinstance(options.get("debounce"), int | float):
            ls.debounce = max(0.0, float(options["debounce"]))

    @server.feature(types.INITIALIZED)
    async def initialized(ls: DataFlowLanguageServer, params: types.InitializedParams) -> None:
        folders = [f.uri for f in (ls.workspace.folders or {}).values()]
        if not folders and ls.workspace.root_uri:
            folders = [ls.workspace.root_uri]
        ls.apply_scan(await asyncio.to_thread(ls.scan, folders))
        ls.ready.set()
        for doc in list(ls.docs.values()):
            ls.publish(doc)  # opened while the workspace was being read
        before = ls.models.version
        if ls.database_url:
            try:
                names = await asyncio.to_thread(ls.load_database_models, ls.database_url)
                ls.window_log_message(
                    types.LogMessageParams(
                        types.MessageType.Info, f"dataflow: {len(names)} models from the database"
                    )
                )
            except Exception as exc:  # any failure: the editor keeps working without them
                ls.window_log_message(
                    types.LogMessageParams(
                        types.MessageType.Warning,
                        f"dataflow: could not read models from the database: {exc}",
                    )
                )
        if ls.models.version != before:
            ls.models_changed()
        if _supports(
            ls.client_capabilities, "workspace.did_change_watched_files.dynamic_registration"
        ):
            try:
                await ls.client_register_capability_async(
                    types.RegistrationParams(
                        registrations=[
                            types.Registration(
                                id="dataflow-watch",
                                method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                                register_options=types.DidChangeWatchedFilesRegistrationOptions(
                                    watchers=[types.FileSystemWatcher(glob_pattern="**/*.py")]
                                ),
                            )
                        ]
                    )
                )
            except Exception as exc:  # the client refused: open documents still update
                ls.window_log_message(
                    types.LogMessageParams(
                        types.MessageType.Info, f"dataflow: files are not watched: {exc}"
                    )
                )

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: DataFlowLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        language = language_of(item.uri, item.language_id)
        if language is None:
            return
        before = ls.models.version
        doc = ls.read(item.uri, item.text, language, item.version)
        if ls.models.version != before:
            ls.models_changed()
        ls.publish(doc)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: DataFlowLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        old = ls.docs.get(uri)
        if old is None:
            return
        text = ls.workspace.get_text_document(uri).source
        before = ls.models.version
        ls.read(uri, text, old.language, params.text_document.version)
        if ls.models.version != before:
            ls.models_changed()
        else:
            ls.schedule(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: DataFlowLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        doc = ls.docs.pop(uri, None)
        task = ls._pending.pop(uri, None)
        if task is not None:
            task.cancel()
        if doc is not None and not ls.pull:
            ls.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
            )
        if doc is not None and doc.language == "python":
            path = FsPath(_uri_path(uri))
            if path.exists():
                before = ls.models.version
                ls.read_file(uri, path)  # the file on disk is the truth again
                if ls.models.version != before:
                    ls.models_changed()
            elif ls.models.forget(uri):
                ls.models_changed()

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def watched(ls: DataFlowLanguageServer, params: types.DidChangeWatchedFilesParams) -> None:
        changed = False
        for event in params.changes:
            if event.uri in ls.docs or not event.uri.endswith(".py"):
                continue
            if event.type == types.FileChangeType.Deleted:
                changed |= ls.models.forget(event.uri)
            else:
                before = ls.models.version
                ls.read_file(event.uri, FsPath(_uri_path(event.uri)))
                changed |= ls.models.version != before
        if changed:
            ls.models_changed()

    @server.feature(
        types.TEXT_DOCUMENT_DIAGNOSTIC,
        types.DiagnosticOptions(
            identifier="dataflow", inter_file_dependencies=True, workspace_diagnostics=False
        ),
    )
    async def pull_diagnostics(
        ls: DataFlowLanguageServer, params: types.DocumentDiagnosticParams
    ) -> types.DocumentDiagnosticReport:
        try:  # answer with the workspace's models known, unless reading them stalls
            await asyncio.wait_for(ls.ready.wait(), timeout=30)
        except TimeoutError:
            pass
        doc = ls.docs.get(params.text_document.uri)
        items = ls.diagnostics(doc) if doc is not None else []
        return types.RelatedFullDocumentDiagnosticReport(items=items)

    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=['"', "'", "$", ".", "-", " "]),
    )
    def completion(
        ls: DataFlowLanguageServer, params: types.CompletionParams
    ) -> types.CompletionList | None:
        doc = ls.docs.get(params.text_document.uri)
        if doc is None:
            return None
        offset = doc.lines.offset(params.position)
        cursor = ls.cursor(doc, offset)
        if cursor is None:
            return None
        items = []
        for c in completions(cursor, ls.models, language=doc.language):
            if c.snippet and not ls.snippets:  # the client cannot expand a snippet
                c.snippet, c.insert = False, None
            text = c.insert if c.insert is not None else c.label
            end = cursor.replace.end
            if c.snippet and doc.text[end : end + 1] in ('"', "'"):
                end += 1  # the snippet writes the closing quote itself
            if not cursor.quoted and doc.language == "json":
                text = f'"{text}"'
            items.append(
                types.CompletionItem(
                    label=c.label,
                    kind=_KINDS.get(c.kind),
                    detail=c.detail or None,
                    documentation=(
                        types.MarkupContent(types.MarkupKind.Markdown, c.documentation)
                        if c.documentation
                        else None
                    ),
                    sort_text=(c.sort or "") + c.label,
                    filter_text=c.label,
                    insert_text_format=(
                        types.InsertTextFormat.Snippet
                        if c.snippet
                        else types.InsertTextFormat.PlainText
                    ),
                    text_edit=types.TextEdit(
                        range=doc.lines.range(Span(cursor.replace.start, end)), new_text=text
                    ),
                )
            )
        return types.CompletionList(is_incomplete=False, items=items)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def on_hover(ls: DataFlowLanguageServer, params: types.HoverParams) -> types.Hover | None:
        doc = ls.docs.get(params.text_document.uri)
        if doc is None:
            return None
        found = hover(doc.parsed, doc.lines.offset(params.position), ls.models)
        if found is None:
            return None
        return types.Hover(
            contents=types.MarkupContent(types.MarkupKind.Markdown, found.markdown),
            range=doc.lines.range(found.span),
        )

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
    )
    def code_action(
        ls: DataFlowLanguageServer, params: types.CodeActionParams
    ) -> list[types.CodeAction] | None:
        doc = ls.docs.get(params.text_document.uri)
        if doc is None:
            return None
        actions: list[types.CodeAction] = []
        findings = ls.findings(doc)
        for diag in params.context.diagnostics:
            if diag.source != "dataflow":
                continue
            start, end = doc.lines.offset(diag.range.start), doc.lines.offset(diag.range.end)
            # several findings can share a span and code (each missing parameter is
            # reported on the node type): the one with the diagnostic's message is it
            same = [f for f in findings if f.span == Span(start, end) and f.code == diag.code]
            f = next((f for f in same if f.message == diag.message), same[0] if same else None)
            if f is None:
                continue
            for action in _fixes(ls, doc, f, diag):
                # one "add the missing parameters" adds them all: offered once
                if not any((a.title, a.edit) == (action.title, action.edit) for a in actions):
                    actions.append(action)
        return actions

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    def definition(
        ls: DataFlowLanguageServer, params: types.DefinitionParams
    ) -> types.Location | None:
        doc = ls.docs.get(params.text_document.uri)
        if doc is None:
            return None
        found = node_at(doc.parsed, doc.lines.offset(params.position))
        if found is None:
            return None
        wf, path, _, _ = found
        if len(path) == 3 and path[0] == "nodes" and path[2] == "type":
            return _model_location(ls, wf, path)
        node_id = _referenced_node(wf, path)
        if node_id is not None:
            i = wf.node_index(node_id)
            if i is not None:
                span = wf.values.get(("nodes", i, "id")) or wf.node_spans.get(i)
                if span is not None:
                    return types.Location(doc.uri, doc.lines.range(span))
        return None

    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def symbols(
        ls: DataFlowLanguageServer, params: types.DocumentSymbolParams
    ) -> list[types.DocumentSymbol] | None:
        doc = ls.docs.get(params.text_document.uri)
        if doc is None:
            return None
        out = []
        for wf in doc.parsed.workflows:
            children = []
            for i, node in enumerate(wf.nodes()):
                span = wf.node_spans.get(i)
                if span is None or not isinstance(node, dict):
                    continue
                pick = wf.values.get(("nodes", i, "id")) or wf.values.get(("nodes", i, "type"))
                selection = pick if pick is not None and pick.start >= span.start else span
                children.append(
                    types.DocumentSymbol(
                        name=str(node.get("id")),
                        detail=str(node.get("type", "")),
                        kind=types.SymbolKind.Function,
                        range=doc.lines.range(span),
                        selection_range=doc.lines.range(selection),
                    )
                )
            if not children:
                continue
            whole = Span(
                min(wf.span.start, *(wf.node_spans[i].start for i in wf.node_spans)),
                max(wf.span.end, *(wf.node_spans[i].end for i in wf.node_spans)),
            )
            out.append(
                types.DocumentSymbol(
                    name="workflow",
                    detail=f"{len(children)} nodes",
                    kind=types.SymbolKind.Namespace,
                    range=doc.lines.range(whole),
                    selection_range=children[0].selection_range,
                    children=children,
                )
            )
        return out

    return server


def _referenced_node(wf: Workflow, path: tuple[Any, ...]) -> str | None:
    """The node id a connection endpoint's node part names."""
    if path[:1] != ("connections",) or len(path) < 3:
        return None
    endpoint = wf.connection(path[1]).get(path[2])
    if not isinstance(endpoint, str):
        return None
    return endpoint.split(".", 1)[0]


def _model_location(ls: DataFlowLanguageServer, wf: Workflow, path: Any) -> types.Location | None:
    node_type = wf.node(path[1]).get("type")
    cls = ls.models.dataflow.nodes.get(str(node_type))
    if cls is None:
        return None
    source = ls.models.sources.get(cls.model.name)
    if source is None:
        return None
    doc = ls.docs.get(source.uri)
    if doc is not None:
        lines = doc.lines
    else:
        try:
            text = FsPath(_uri_path(source.uri)).read_text(encoding="utf-8")
        except OSError:
            return None
        lines = Lines(text, ls.workspace.position_encoding)
    return types.Location(source.uri, lines.range(source.name_span))


def _fixes(
    ls: DataFlowLanguageServer, doc: _Doc, f: Finding, diag: types.Diagnostic
) -> list[types.CodeAction]:
    actions: list[types.CodeAction] = []
    written = doc.text[f.span.start : f.span.end]
    for suggestion in (f.details.get("suggestions") or [])[:3]:
        match = _QUOTE.match(written)
        if match:
            quote = match.group(1)
            body = written[match.end() : len(written) - 1 if written.endswith(quote) else None]
            sign = body[:1] if body[:1] in "+-" and str(suggestion)[:1] not in "+-" else ""
            new = f"{written[: match.end()]}{sign}{suggestion}{quote}"
        else:
            sign = written[:1] if written[:1] in "+-" and str(suggestion)[:1] not in "+-" else ""
            new = f"{sign}{suggestion}"
        actions.append(
            types.CodeAction(
                title=f"Change to '{suggestion}'",
                kind=types.CodeActionKind.QuickFix,
                diagnostics=[diag],
                is_preferred=len(actions) == 0,
                edit=types.WorkspaceEdit(
                    changes={doc.uri: [types.TextEdit(doc.lines.range(f.span), new)]}
                ),
            )
        )
    if f.code == "DF-PARAM-MISSING" and f.workflow is not None and len(f.path) >= 2:
        edit = _add_missing(ls, doc, f.workflow, f.path[1])
        if edit is not None:
            actions.append(
                types.CodeAction(
                    title="Add the missing required parameters",
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diag],
                    edit=types.WorkspaceEdit(changes={doc.uri: [edit]}),
                )
            )
    return actions


def _add_missing(
    ls: DataFlowLanguageServer, doc: _Doc, wf: Workflow, index: Any
) -> types.TextEdit | None:
    if not isinstance(index, int):
        return None
    node = wf.node(index)
    cls = ls.models.dataflow.nodes.get(str(node.get("type")))
    span = wf.values.get(("nodes", index, "params"))
    given = node.get("params")
    params: dict[str, Any] = given if isinstance(given, dict) else {}
    if cls is None or span is None:
        return None
    missing = [p for p in cls.parameters().values() if p.required and p.name not in params]
    if not missing:
        return None
    text = doc.text
    if text[span.start : span.start + 1] == "{":
        q = '"' if doc.language != "yaml" else ""
        py = doc.language == "python"
        entries = []
        for p in missing:
            value = placeholder(p.type)
            if py:
                value = {"false": "False", "true": "True"}.get(value, value)
            entries.append(f"{q}{p.name}{q}: {value}")
        inside = text[span.start + 1 : span.end - 1].strip()
        new = ", ".join(entries) + (", " if inside else "")
        at = span.start + 1
    else:  # a YAML block mapping: one line per parameter, at its indentation
        line_start = text.rfind("\n", 0, span.start) + 1
        indent = " " * (span.start - line_start)
        new = "".join(f"{p.name}: {placeholder(p.type)}\n{indent}" for p in missing)
        at = span.start
    return types.TextEdit(doc.lines.range(Span(at, at)), new)
