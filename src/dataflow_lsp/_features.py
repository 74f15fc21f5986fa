"""The language features, as functions of a read document and the project's models.

Nothing here knows the protocol's transport: the server turns these answers into LSP
messages. Every check is the engine's workflow validator; this module only says where
in the text each of its diagnostics belongs, and what can be typed where.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from dataflow_engine.errors import Diagnostic
from dataflow_engine.models import FieldKind, ModelDef
from dataflow_engine.nodes import Node
from dataflow_engine.query import FIELD_OPERATORS, LOGICAL_OPERATORS, UPDATE_OPERATORS
from dataflow_engine.workflow import validate_workflow

from ._document import Cursor, Parsed, Path, Slot, Span, Workflow
from ._models import ModelSet

__all__ = [
    "Completion",
    "Finding",
    "Hover",
    "completions",
    "diagnose",
    "hover",
    "node_at",
    "placeholder",
]

#: Diagnostics of workflow definitions already validated, per model set and its version:
#: editing one workflow of a long file validates that one again, not all of them.
_CACHE: dict[int, dict[Any, Any]] = {}

#: Codes whose diagnostic belongs on a key (the name that is wrong), not on its value.
_ON_KEY = {
    "DF-PARAM-UNKNOWN",
    "DF-PARAM-UNKNOWN-FIELD",
    "DF-PARAM-DUPLICATE",
    "DF-PARAM-READ-ONLY-FIELD",
    "DF-WORKFLOW-UNKNOWN-KEY",  # a misspelt "conections": the key, not its list
}
#: Codes whose diagnostic names a field or operator somewhere inside a document.
_INSIDE = {"DF-FILTER-UNKNOWN-FIELD", "DF-FILTER-UNKNOWN-OPERATOR", "DF-UPDATE-UNKNOWN-FIELD"}


@dataclass
class Finding:
    """One diagnostic, placed in the text."""

    span: Span
    code: str
    message: str
    severity: str = "error"
    details: dict[str, Any] = field(default_factory=dict)
    path: Path = ()
    workflow: Workflow | None = None


def diagnose(parsed: Parsed, models: ModelSet) -> list[Finding]:
    """Every problem of every workflow in a document, each placed on its exact text."""
    found = [Finding(p.span, p.code, p.message) for p in parsed.problems]
    db = models.dataflow
    cache = _CACHE.setdefault(id(models), {})
    if cache.get("version") != models.version:
        cache.clear()
        cache["version"] = models.version
    for wf in parsed.workflows:
        runtime = _runtime(wf)
        try:  # repr keeps 1 and "1" apart, which JSON text would not
            key = repr((wf.definition, sorted((k, sorted(v)) for k, v in runtime.items())))
        except (TypeError, ValueError, RecursionError):
            key = None
        diagnostics = cache.get(key) if key is not None else None
        if diagnostics is None:
            diagnostics = validate_workflow(wf.definition, db, runtime=runtime)
            if key is not None:
                if len(cache) > 5_000:
                    cache.clear()
                    cache["version"] = models.version
                cache[key] = diagnostics
        for d in diagnostics:
            if _hidden(wf, d):
                continue
            found.append(
                Finding(locate(wf, d), d.code, d.message, d.severity, dict(d.details), d.path, wf)
            )
    return found


def _runtime(wf: Workflow) -> dict[str, set[str]]:
    return {nid: {p for p in paths if p not in ("*", "")} for nid, paths in wf.runtime.items()}


def _hidden(wf: Workflow, d: Diagnostic) -> bool:
    """A diagnostic about something only known when the program runs."""
    if len(d.path) < 2 or d.path[0] != "nodes" or not isinstance(d.path[1], int):
        return False
    nodes = wf.nodes()
    if d.path[1] >= len(nodes):
        return False
    marks = wf.runtime.get(str(nodes[d.path[1]].get("id")), set())
    if "*" in marks:
        return True
    return "" in marks and d.path[2:3] == ("params",)


def locate(wf: Workflow, d: Diagnostic) -> Span:
    """Where a validator diagnostic belongs in the text."""
    path = d.path
    if d.code in _ON_KEY and path in wf.keys:
        return wf.keys[path]
    if path[:1] == ("connections",) and len(path) == 3:
        part = "node" if d.code == "DF-CONNECTION-UNKNOWN-NODE" else "path"
        if (*path, part) in wf.values:
            return wf.values[(*path, part)]
    if d.code in _INSIDE:
        name = d.details.get("field") or d.details.get("operator")
        if isinstance(name, str):
            inside = _find_name(wf, path, name)
            if inside is not None:
                return inside
    if d.code == "DF-PARAM-MISSING" and len(path) >= 2 and path[0] == "nodes":
        if len(path) > 4 and path[:-1] in wf.values:  # a field missing from a record
            return wf.values[path[:-1]]
        at = wf.values.get(("nodes", path[1], "type"))
        if at is not None:
            return at
    while path:
        if path in wf.values:
            return wf.values[path]
        if path in wf.keys:
            return wf.keys[path]
        path = path[:-1]
    return wf.span


def _find_name(wf: Workflow, under: Path, name: str) -> Span | None:
    """The first key (or string item, for order_by / fields lists) named ``name``
    under ``under``, in text order."""
    n = len(under)
    best: Span | None = None
    for path, span in wf.keys.items():
        named = path[:n] == under and len(path) > n and path[-1] == name
        if named and (best is None or span.start < best.start):
            best = span
    if best is not None:
        return best
    for path, span in wf.values.items():
        if path[:n] != under or len(path) != n + 1 or not isinstance(path[-1], int):
            continue
        value = _get(wf.definition, path)
        named = isinstance(value, str) and value.lstrip("+-") == name
        if named and (best is None or span.start < best.start):
            best = span
    return best


def _get(value: Any, path: Path) -> Any:
    for part in path:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
    return value


# -- completion -------------------------------------------------------------------------


@dataclass
class Completion:
    """One completion item."""

    label: str
    kind: str  # "class", "property", "operator", "field", "value", "reference", "keyword"
    detail: str = ""
    documentation: str = ""
    insert: str | None = None  # text to insert (default: the label)
    snippet: bool = False
    replace_end: int | None = None  # replace up to here instead of the cursor's span end
    sort: str | None = None


def _node_class(models: ModelSet, node_type: Any) -> type[Node] | None:
    if not isinstance(node_type, str) or not node_type:
        return None
    return models.dataflow.nodes.get(node_type)


def _workflow_node_class(models: ModelSet, wf: Workflow | None, node_id: str) -> Any:
    if wf is None:
        return None
    i = wf.node_index(node_id)
    if i is None:
        return None
    return _node_class(models, wf.node(i).get("type"))


def node_docs(cls: type[Node]) -> str:
    """A node type's description, parameter table and outputs, in Markdown."""
    lines = [f"**{cls.type_name}**: {cls.description}", ""]
    lines += ["| parameter | type | required | |", "|---|---|---|---|"]
    for p in cls.parameters().values():
        aliases = f" (also {', '.join(p.aliases)})" if p.aliases else ""
        lines.append(
            f"| `{p.name}`{aliases} | {p.type} | {'yes' if p.required else ''} | {p.doc} |"
        )
    outputs = ", ".join(f"`{k}`: {v}" for k, v in cls.outputs().items())
    lines += ["", f"Outputs: {outputs}"]
    return "\n".join(lines)


def placeholder(type_name: str) -> str:
    """A literal of a parameter or field type, as JSON/Python text to start from."""
    base = type_name.replace(" | None", "")
    return {
        "int": "0",
        "float": "0.0",
        "bool": "false",
        "filter": "{}",
        "update": "{}",
        "dict": "{}",
        "list[dict]": "[]",
        "list[str]": "[]",
        "list": "[]",
        "order_by": '""',
    }.get(base, '""')


def completions(cursor: Cursor, models: ModelSet, *, language: str) -> list[Completion]:
    """What can be typed at a cursor."""
    if cursor.slot is Slot.NODE_TYPE:
        return list(_node_types(cursor, models, language))
    if cursor.slot is Slot.STRUCTURE_KEY:
        return _structure_keys(cursor)
    if cursor.slot is Slot.NODE_ID:
        return _node_ids(cursor)
    if cursor.slot in (Slot.OUTPUT_PATH, Slot.INPUT_PATH):
        cls = _workflow_node_class(models, cursor.workflow, cursor.other_node or "")
        if cls is None:
            return []
        return _paths(cls, cursor.slot is Slot.OUTPUT_PATH, "")
    if cursor.slot is Slot.ENDPOINT:
        node_id, dot, _ = cursor.prefix.partition(".")
        if not dot:
            return [
                Completion(c.label + ".", "reference", c.detail, insert=c.label + ".")
                for c in _node_ids(cursor)
            ]
        cls = _workflow_node_class(models, cursor.workflow, node_id)
        if cls is None:
            return []
        return _paths(cls, cursor.key == "from", node_id + ".")
    cls = _node_class(models, cursor.node_type)
    if cls is None:
        return []
    if cursor.slot is Slot.PARAM_KEY:
        return _param_keys(cls, cursor)
    if cursor.slot is Slot.DOC_KEY:
        return _doc_keys(cls, cursor.path)
    if cursor.slot is Slot.FIELD_VALUE:
        return _field_values(cls, cursor.path)
    return []


def _node_types(cursor: Cursor, models: ModelSet, language: str) -> Iterator[Completion]:
    for name, cls in sorted(models.dataflow.nodes.items()):
        item = Completion(name, "class", f"{cls.kind} of {cls.model.name}", node_docs(cls))
        if language == "python" and cursor.quoted:
            required = [p for p in cls.parameters().values() if p.required]
            params = ", ".join(
                f'"{p.name}": ${{{k}:{_snippet_escape(placeholder(p.type))}}}'
                for k, p in enumerate(required, start=2)
            )
            default_id = f"{cls.model.name[:1].lower()}{cls.model.name[1:]}_{cls.kind.lower()}"
            item.insert = f'{name}", "${{1:{default_id}}}", {{{params}}}'
            item.snippet = True
        yield item


def _snippet_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("$", "\\$").replace("}", "\\}")


def _structure_keys(cursor: Cursor) -> list[Completion]:
    keys = {
        0: [("nodes", "the workflow's nodes"), ("connections", "outputs fed into inputs")],
        2: [("id", "a unique node id"), ("type", "the node type"), ("params", "parameters")],
        3: [("from", "'node.output.path'"), ("to", "'node.input.path'")],
    }
    path = cursor.path
    if not path:
        options = keys[0]
    elif path[0] == "nodes":
        options = keys[2]
    else:
        options = keys[3]
    present: set[str] = set()
    if cursor.workflow is not None:
        here = _get(cursor.workflow.definition, path)
        if isinstance(here, dict):
            present = set(here)
    return [Completion(k, "property", d) for k, d in options if k not in present]


def _node_ids(cursor: Cursor) -> list[Completion]:
    if cursor.workflow is None:
        return []
    out = []
    for node in cursor.workflow.nodes():
        nid = node.get("id")
        if isinstance(nid, str) and not nid.startswith("<"):
            out.append(Completion(nid, "reference", str(node.get("type", ""))))
    return out


def _paths(cls: type[Node], outputs: bool, prefix: str) -> list[Completion]:
    out: list[Completion] = []
    if outputs:
        for key, shape in cls.outputs().items():
            out.append(Completion(prefix + key, "property", shape))
            if shape == "rows":
                for name, f in cls.model.fields.items():
                    out.append(Completion(f"{prefix}{key}.0.{name}", "field", f.type_name))
            elif shape == "row":
                for name, f in cls.model.fields.items():
                    out.append(Completion(f"{prefix}{key}.{name}", "field", f.type_name))
        return out
    for p in cls.parameters().values():
        out.append(Completion(prefix + p.name, "property", p.type, p.doc))
        if p.type == "filter":
            for name, f in cls.model.fields.items():
                out.append(Completion(f"{prefix}{p.name}.{name}", "field", f.type_name))
    if cls.kind == "BulkCreate":
        for name, f in cls.model.writable_fields.items():
            out.append(Completion(prefix + name, "field", f"{f.type_name}, into every record"))
    return out


def _param_keys(cls: type[Node], cursor: Cursor) -> list[Completion]:
    present: set[str] = set()
    if cursor.workflow is not None and cursor.node is not None:
        params = cursor.workflow.node(cursor.node).get("params")
        if isinstance(params, dict):
            present = set(params) - {cursor.prefix}
    out = []
    for p in cls.parameters().values():
        if p.name in present:
            continue
        detail = f"{p.type}{', required' if p.required else ''}"
        out.append(Completion(p.name, "property", detail, p.doc, sort=("0" if p.required else "1")))
    return out


def _fields(model: ModelDef, writable: bool = False) -> list[Completion]:
    fields = model.writable_fields if writable else model.fields
    return [Completion(name, "field", f.type_name) for name, f in fields.items()]


def _operators(table: dict[str, str]) -> list[Completion]:
    return [Completion(op, "operator", "", doc) for op, doc in table.items()]


def _doc_keys(cls: type[Node], path: Path) -> list[Completion]:
    if not path:
        return []
    param = cls.parameters().get(cls.aliases().get(str(path[0]), str(path[0])))
    if param is None:
        return []
    rest = path[1:]
    model = cls.model
    if param.type == "filter":
        state = "doc"
        for part in rest:
            if state == "doc":
                if part in ("$or", "$and", "$nor"):
                    state = "list"
                elif part == "$not":
                    state = "doc"
                elif isinstance(part, str) and part.startswith("$"):
                    state = "none"
                else:
                    state = "ops"
            elif state == "list":
                state = "doc"
            elif state == "ops":
                state = "ops" if part == "$not" else "doc" if part == "$elemMatch" else "none"
            else:
                return []
        if state == "doc":
            return _fields(model) + _operators(LOGICAL_OPERATORS)
        if state == "ops":
            return _operators(FIELD_OPERATORS)
        return []
    if param.type == "update":
        if not rest:
            return _operators(UPDATE_OPERATORS) + _fields(model, writable=True)
        if len(rest) == 1 and rest[0] in UPDATE_OPERATORS:
            return _fields(model, writable=True)
        return []
    if param.type == "dict" and not rest and param.name in cls.field_documents:
        return _fields(model, writable=True)
    record = len(rest) == 1 and isinstance(rest[0], int) and param.name == "data"
    if param.type == "list[dict]" and record:
        return _fields(model, writable=True)
    return []


def _field_values(cls: type[Node], path: Path) -> list[Completion]:
    if len(path) != 1:
        return []
    param = cls.parameters().get(cls.aliases().get(str(path[0]), str(path[0])))
    if param is None:
        return []
    if param.type == "order_by":
        out = []
        for name, f in cls.model.fields.items():
            out.append(Completion(name, "field", f"{f.type_name}, ascending"))
            out.append(Completion("-" + name, "field", f"{f.type_name}, descending"))
        return out
    if param.type == "list[str]":
        return _fields(cls.model)
    return []


# -- hover ------------------------------------------------------------------------------


@dataclass
class Hover:
    span: Span
    markdown: str


def _deepest(wf: Workflow, offset: int) -> tuple[Path, Span, bool] | None:
    """The innermost key or value at an offset: (path, span, is_key)."""
    best: tuple[Path, Span, bool] | None = None
    for table, is_key in ((wf.values, False), (wf.keys, True)):
        for path, span in table.items():
            inside = span.start <= offset < span.end or span.start == span.end == offset
            if inside and (best is None or span.end - span.start < best[1].end - best[1].start):
                best = (path, span, is_key)
    return best


def node_at(parsed: Parsed, offset: int) -> tuple[Workflow, Path, Span, bool] | None:
    for wf in parsed.workflows:
        found = _deepest(wf, offset)
        if found is not None:
            return (wf, *found)
    return None


def hover(parsed: Parsed, offset: int, models: ModelSet) -> Hover | None:
    """What the text at an offset means: a node type, a parameter, a field or an
    operator."""
    found = node_at(parsed, offset)
    if found is None:
        return None
    wf, path, span, is_key = found
    if len(path) < 3 or path[0] != "nodes" or not isinstance(path[1], int):
        return None
    node = wf.node(path[1])
    cls = _node_class(models, node.get("type"))
    if cls is None:
        return None
    if path[2] == "type":
        return Hover(span, node_docs(cls))
    if path[2] != "params" or len(path) < 4:
        return None
    name = path[-1]
    if not is_key:
        if len(path) == 4:
            return None
        value = _get(wf.definition, path)
        if isinstance(value, str) and path[3] in ("order_by", "sort", "fields"):
            name = value.lstrip("-")
        else:
            return None
    if len(path) == 4:
        param = cls.parameters().get(cls.aliases().get(str(name), str(name)))
        if param is not None:
            text = f"**{param.name}** ({param.type}{', required' if param.required else ''})"
            return Hover(span, f"{text}: {param.doc}")
    if isinstance(name, str):
        for table in (FIELD_OPERATORS, LOGICAL_OPERATORS, UPDATE_OPERATORS):
            if name in table:
                return Hover(span, f"**{name}**: {table[name]}")
        f = cls.model.fields.get(name)
        if f is not None:
            return Hover(span, _field_docs(cls.model, name))
    return None


def _field_docs(model: ModelDef, name: str) -> str:
    f = model.fields[name]
    facts = [f.type_name]
    if f.primary_key:
        facts.append("primary key")
    if f.identity:
        facts.append("numbered by the database unless a Create gives it")
    elif f.auto:
        facts.append("maintained by DataFlow")
    elif f.required:
        facts.append("required")
    if f.kind is FieldKind.ENUM:
        facts.append("one of " + ", ".join(repr(m.value) for m in f.python_type))
    return f"**{model.name}.{name}**: {', '.join(facts)}"
