"""Workflows written in Python: ``WorkflowBuilder`` calls read with parso, never run.

Every ``<receiver>.add_node(...)``, ``.add_connection(...)`` and ``.connect(...)`` call is
found (a regex finds candidates, parso's tree says whether each is a real call), and the
calls on one receiver in one scope make one workflow, from ``<receiver> =
WorkflowBuilder()`` to the next such assignment. Arguments are read as literals; what is
not a literal (a variable, a call, an f-string) is left out of the definition and listed
as known only at run time, so the validator treats it like a connection's input.

While the user types, the tree may be broken: :func:`cursor_python` does not rely on it
and scans the text of the enclosing call itself (strings, brackets, commas, colons).
"""

from __future__ import annotations

import ast
import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from dataclasses import replace as replace_fields
from typing import Any

from ._document import Cursor, Parsed, Path, Slot, Span, Workflow

__all__ = ["cursor_python", "parse_python"]

_CALL = re.compile(r"\.\s*(add_node|add_connection|connect)\s*\(")
_BUILDER = re.compile(r"([A-Za-z_][\w.]*)\s*=\s*(?:[\w.]*\.)?WorkflowBuilder\s*\(")
_NODE_ARGS = ("node_type", "node_id", "params")
_CONNECTION_ARGS = ("source", "output_path", "target", "input_path")
_SCOPES = ("funcdef", "classdef", "async_funcdef", "file_input")
_LITERAL_ERRORS = (ValueError, SyntaxError, TypeError, MemoryError, RecursionError)


class _Runtime(Exception):
    """The value is not a literal."""


@dataclass
class _Group:
    workflow: Workflow
    names: dict[str, str] = field(default_factory=dict)  # variable -> node id
    count: int = 0
    first: int = -1
    last: int = 0


class _Reader:
    def __init__(self, text: str, module: Any, lines: list[int]) -> None:
        self.text = text
        self.module = module
        self.lines = lines
        self._starts: dict[int, list[tuple[int, int]]] = {}  # node id -> children's starts

    def span(self, node: Any) -> Span:
        l1, c1 = node.start_pos
        last = node.get_last_leaf() if hasattr(node, "children") else node
        value = last.value
        if "\n" in value or "\r" in value:
            l2, c2 = last.end_pos
        else:  # parso computes end positions by splitting the text: skip that
            l2, c2 = last.line, last.column + len(value)
        return Span(self.lines[l1 - 1] + c1, self.lines[l2 - 1] + c2)

    def position(self, offset: int) -> tuple[int, int]:
        lo, hi = 0, len(self.lines) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.lines[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1, offset - self.lines[lo]

    # -- literals -------------------------------------------------------------------

    def value(self, node: Any, path: Path, wf: Workflow, runtime: set[str], rel: Path) -> Any:
        """The literal ``node`` denotes; spans recorded under ``path``; what is not a
        literal is raised as _Runtime after being listed in ``runtime``."""
        wf.values[path] = self.span(node)
        if node.type == "atom" and node.children[0].type == "operator":
            opener = node.children[0].value
            inner = node.children[1] if len(node.children) == 3 else None
            if opener == "{":
                return self.mapping(inner, path, wf, runtime, rel)
            if opener == "[":
                return self.sequence(inner, path, wf, runtime, rel)
            if opener == "(" and inner is not None and inner.type == "testlist_comp":
                return tuple(self.sequence(inner, path, wf, runtime, rel))
            if opener == "(" and inner is not None:
                return self.value(inner, path, wf, runtime, rel)
            if opener == "(":
                return ()
        try:
            return _literal(node)
        except _LITERAL_ERRORS:
            runtime.add(".".join(str(p) for p in rel))
            raise _Runtime from None

    def mapping(
        self, inner: Any, path: Path, wf: Workflow, runtime: set[str], rel: Path
    ) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        if inner is None:
            return out
        if inner.type != "dictorsetmaker":
            items = [inner]
        else:
            items = [c for c in inner.children if not _is_op(c, ",")]
        if any(c.type in ("sync_comp_for", "comp_for") for c in items):
            runtime.add(".".join(str(p) for p in rel))
            raise _Runtime
        i = 0
        while i < len(items):
            item = items[i]
            if _is_op(item, "**"):
                runtime.add(".".join(str(p) for p in rel))
                raise _Runtime
            if i + 1 < len(items) and _is_op(items[i + 1], ":"):
                key_node, value_node = item, items[i + 2] if i + 2 < len(items) else None
                i += 3
            else:
                # a set, or text being typed: not a mapping
                runtime.add(".".join(str(p) for p in rel))
                raise _Runtime
            try:
                key = _literal(key_node)
            except _LITERAL_ERRORS:
                runtime.add(".".join(str(p) for p in rel))
                raise _Runtime from None
            if isinstance(key, bool) or not isinstance(key, str | int):
                runtime.add(".".join(str(p) for p in rel))
                raise _Runtime
            sub: Path = (*path, key)
            wf.keys[sub] = self.span(key_node)
            if value_node is None:
                continue
            try:
                out[key] = self.value(value_node, sub, wf, runtime, (*rel, key))
            except _Runtime:
                continue
        return out

    def sequence(
        self, inner: Any, path: Path, wf: Workflow, runtime: set[str], rel: Path
    ) -> list[Any]:
        if inner is None:
            return []
        if inner.type != "testlist_comp":
            items = [inner]
        else:
            items = [c for c in inner.children if not _is_op(c, ",")]
        if any(c.type in ("sync_comp_for", "comp_for", "star_expr") for c in items):
            runtime.add(".".join(str(p) for p in rel))
            raise _Runtime
        out = []
        for j, item in enumerate(items):
            # An element only known at run time makes the whole list so: indexes after
            # it would not mean what they say.
            out.append(self.value(item, (*path, j), wf, runtime, (*rel, j)))
        return out

    # -- calls ----------------------------------------------------------------------

    def leaf_at(self, offset: int) -> Any:
        """The leaf starting at or containing ``offset`` (found by start positions only:
        parso's own lookup computes end positions, which splits text)."""
        position = self.position(offset)
        node = self.module
        while hasattr(node, "children"):
            children = node.children
            if len(children) == 1:
                node = children[0]
                continue
            if len(children) > 16:  # a module or a long suite: its starts, once
                starts = self._starts.get(id(node))
                if starts is None:
                    starts = self._starts[id(node)] = [c.start_pos for c in children]
                node = children[max(0, bisect.bisect_right(starts, position) - 1)]
                continue
            lo, hi = 0, len(children) - 1
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if children[mid].start_pos <= position:
                    lo = mid
                else:
                    hi = mid - 1
            node = children[lo]
        return node

    def calls(self, start: int, end: int) -> Iterator[tuple[int, str, str, Any, Any]]:
        """(offset, method, receiver, call trailer, whole expression) of each call."""
        for match in _CALL.finditer(self.text, start, end):
            method = match.group(1)
            leaf = self.leaf_at(match.start(1))
            if leaf.type != "name" or leaf.value != method:
                continue  # in a string or a comment
            dot_trailer = leaf.parent
            expr = dot_trailer.parent if dot_trailer is not None else None
            if (
                dot_trailer is None
                or dot_trailer.type != "trailer"
                or expr is None
                or expr.type not in ("atom_expr", "power")
            ):
                continue
            children = expr.children
            k = children.index(dot_trailer)
            if k + 1 >= len(children) or children[k + 1].type != "trailer":
                continue
            call = children[k + 1]
            if not _is_op(call.children[0], "("):
                continue
            receiver = "".join(c.get_code(include_prefix=False) for c in children[:k])
            yield match.start(1), method, receiver, call, expr

    def builders(self, start: int, end: int) -> Iterator[tuple[int, str, Any]]:
        """(offset, target, scope) of each ``<target> = WorkflowBuilder(...)``."""
        for match in _BUILDER.finditer(self.text, start, end):
            leaf = self.leaf_at(match.start(1))
            if leaf.type != "name":
                continue
            stmt = leaf.parent
            while stmt is not None and stmt.type not in ("expr_stmt", "simple_stmt"):
                stmt = stmt.parent
            if stmt is None or stmt.type != "expr_stmt" or not _is_op(stmt.children[1], "="):
                continue
            yield match.start(), match.group(1), _scope(leaf)

    @staticmethod
    def arguments(call: Any, names: tuple[str, ...]) -> dict[str, Any] | None:
        """Argument nodes by parameter name; None when they cannot be matched."""
        inner = call.children[1] if len(call.children) == 3 else None
        if inner is None:
            return {}
        items = (
            [c for c in inner.children if c.type != "operator"]
            if inner.type == "arglist"
            else [inner]
        )
        out: dict[str, Any] = {}
        for i, item in enumerate(items):
            if item.type == "argument":
                first = item.children[0]
                if first.type == "operator":  # *args / **kwargs
                    return None
                if len(item.children) == 3 and _is_op(item.children[1], "="):
                    out[first.value] = item.children[2]
                    continue
                return None  # a generator argument
            if i >= len(names):
                return None
            out[names[i]] = item
        return out


_KEYWORDS = {"True": True, "False": False, "None": None}


def _literal(node: Any) -> Any:
    """The value of a literal node; raises ValueError (or SyntaxError) otherwise."""
    kind = node.type
    if kind == "string":
        text = node.value
        if text[:1] in "'\"" and "\\" not in text and text[:3] not in ('"""', "'''"):
            return text[1:-1]
    elif kind == "number" and node.value.isdigit():
        return int(node.value)
    elif kind == "keyword" and node.value in _KEYWORDS:
        return _KEYWORDS[node.value]
    elif kind == "name":
        raise ValueError(node.value)
    return ast.literal_eval(node.get_code(include_prefix=False).strip())


def _is_op(node: Any, value: str) -> bool:
    return bool(node.type == "operator" and node.value == value)


def _scope(node: Any) -> Any:
    """The function, class or module a node is in."""
    scope = node.parent
    while scope is not None and scope.type not in _SCOPES:
        scope = scope.parent
    return scope if scope is not None else node


#: What a top-level statement holds, by its text: (offset, kind, scope, payload) with
#: offsets relative to the statement and scopes as (relative start, kind) of the
#: function or class around the call ("module" at the top level). An edit changes one
#: statement; the others are not read again.
_Event = tuple[int, str, Any, Any]
_STATEMENTS: dict[str, list[_Event]] = {}
_STATEMENTS_LIMIT = 20_000


def _statement_events(reader: _Reader, start: int, end: int) -> list[_Event]:
    key = reader.text[start:end]
    found = _STATEMENTS.get(key)
    if found is not None:
        return found
    events: list[_Event] = []
    for offset, target, scope in reader.builders(start, end):
        events.append((offset - start, "new", _scope_key(scope, reader, start), target))
    for offset, method, receiver, call, expr in reader.calls(start, end):
        record, base = _record(reader, method, call, expr)
        payload = (receiver, record, base - start, _assigned_to(expr))
        events.append((offset - start, method, _scope_key(_scope(expr), reader, start), payload))
    events.sort(key=lambda e: e[0])
    if len(_STATEMENTS) >= _STATEMENTS_LIMIT:
        _STATEMENTS.clear()
    _STATEMENTS[key] = events
    return events


def _scope_key(scope: Any, reader: _Reader, start: int) -> Any:
    """A scope as (start relative to the statement, kind), or "module"."""
    if scope.type == "file_input":
        return "module"
    line, column = scope.start_pos
    return (reader.lines[line - 1] + column - start, scope.type)


def parse_python(text: str, module: Any, lines: list[int]) -> Parsed:
    """The workflows ``text`` builds (``module`` is parso's tree of it, ``lines`` the
    offsets of its lines)."""
    reader = _Reader(text, module, lines)
    statements = module.children
    starts = [lines[c.start_pos[0] - 1] + c.start_pos[1] for c in statements]
    groups: dict[tuple[str, Any], _Group] = {}
    parsed = Parsed()
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(text)
        for rel, kind, scope, payload in _statement_events(reader, start, end):
            offset = start + rel
            where = scope if scope == "module" else (scope[0] + start, scope[1])
            if kind == "new":
                group = _Group(Workflow({"nodes": [], "connections": []}))
                group.first = offset
                groups[(payload, where)] = group
                parsed.workflows.append(group.workflow)
                continue
            receiver, record, base, target = payload
            key = (receiver, where)
            if key not in groups:
                groups[key] = _Group(Workflow({"nodes": [], "connections": []}))
                parsed.workflows.append(groups[key].workflow)
            group = groups[key]
            base += start
            if group.first < 0:
                group.first = offset
            group.last = max(group.last, base + record.length)
            if isinstance(record, _NodeCall):
                _add_node(group, record, base, target)
            elif isinstance(record, _ConnectionCall):
                _add_connection(group, record, base)
    for group in groups.values():
        begin = group.first if group.first >= 0 else 0
        group.workflow.span = Span(begin, max(group.last, begin))
    parsed.workflows = [w for w in parsed.workflows if w.definition["nodes"]]
    return parsed


@dataclass
class _Call:
    """A builder call as read, positions relative to the call's start: the same text
    reads the same wherever it moves, so unchanged calls are not read again."""

    length: int


@dataclass
class _NodeCall(_Call):
    node_type: str
    type_literal: bool
    node_id: tuple[bool, str] | None  # (literal, text) when given
    params: dict[str, Any]
    runtime: set[str]
    values: dict[Path, Span]  # relative to the node: ("type",), ("params", "filter"), ...
    keys: dict[Path, Span]


@dataclass
class _ConnectionCall(_Call):
    ends: list[tuple[str, tuple[bool, str], str, Span, Span]]  # key, node id, path, spans


#: Calls already read, by method and text (bounded; cleared when full).
_READ: dict[tuple[str, str], _Call] = {}
_READ_LIMIT = 50_000


def _record(reader: _Reader, kind: str, call: Any, expr: Any) -> tuple[_Call, int]:
    span = reader.span(expr)
    base = span.start
    key = (kind, reader.text[span.start : span.end])
    record = _READ.get(key)
    if record is None:
        if len(_READ) >= _READ_LIMIT:
            _READ.clear()
        read = _read_node if kind == "add_node" else _read_connection
        record = _READ[key] = read(reader, call, expr, base)
    return record, base


def _shift(span: Span, by: int) -> Span:
    return Span(span.start + by, span.end + by)


def _id_of(node: Any) -> tuple[bool, str]:
    """A node id argument: (True, the id) for a literal, else (False, its code)."""
    try:
        value = _literal(node)
        if isinstance(value, str):
            return True, value
    except _LITERAL_ERRORS:
        pass
    return False, node.get_code(include_prefix=False).strip()


def _resolve_id(written: tuple[bool, str], group: _Group) -> tuple[str, bool]:
    """A node id as written: (id, known). A variable holding an ``add_node`` result is
    that node's id; another expression stands for itself."""
    literal, text = written
    if literal:
        return text, True
    if text in group.names:
        return group.names[text], True
    return f"<{text}>".replace(".", "·"), False


def _assigned_to(expr: Any) -> str | None:
    stmt = expr.parent
    if stmt is not None and stmt.type == "expr_stmt" and _is_op(stmt.children[1], "="):
        target = stmt.children[0]
        if target.type == "name":
            return str(target.value)
    return None


def _read_node(reader: _Reader, call: Any, expr: Any, base: int) -> _Call:
    span = reader.span(expr)
    args = reader.arguments(call, _NODE_ARGS)
    if args is None or "node_type" not in args:
        return _Call(span.end - base)
    scratch = Workflow({})
    runtime: set[str] = set()
    type_node = args["node_type"]
    scratch.values[("type",)] = reader.span(type_node)
    type_literal = True
    try:
        node_type = _literal(type_node)
        if not isinstance(node_type, str):
            raise ValueError
    except _LITERAL_ERRORS:
        node_type = type_node.get_code(include_prefix=False).strip()
        type_literal = False
    node_id = None
    if "node_id" in args:
        scratch.values[("id",)] = reader.span(args["node_id"])
        node_id = _id_of(args["node_id"])
    params: Any = {}
    if "params" in args:
        try:
            params = reader.value(args["params"], ("params",), scratch, runtime, ())
        except _Runtime:
            params = {}
            runtime.add("")
    if not isinstance(params, dict):
        params = {}
        runtime.add("")
    return _NodeCall(
        span.end - base,
        node_type,
        type_literal,
        node_id,
        params,
        runtime,
        {p: _shift(v, -base) for p, v in scratch.values.items()},
        {p: _shift(v, -base) for p, v in scratch.keys.items()},
    )


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _add_node(group: _Group, record: _NodeCall, base: int, target: str | None) -> None:
    wf = group.workflow
    i = len(wf.definition["nodes"])
    group.count += 1
    runtime = set(record.runtime)
    if not record.type_literal:
        runtime.add("*")
    if record.node_id is not None:
        node_id, known = _resolve_id(record.node_id, group)
        if not known:
            runtime.add("*")
    else:
        node_id = f"{record.node_type}_{group.count}"
    wf.node_spans[i] = Span(base, base + record.length)
    for path, span in record.values.items():
        wf.values[("nodes", i, *path)] = _shift(span, base)
    for path, span in record.keys.items():
        wf.keys[("nodes", i, *path)] = _shift(span, base)
    params = _copy(record.params)  # the record is shared by later reads of the same text
    wf.definition["nodes"].append({"id": node_id, "type": record.node_type, "params": params})
    if runtime:
        wf.runtime[node_id] = runtime
    if target is not None:
        group.names[target] = node_id
        wf.names[target] = node_id


def _read_connection(reader: _Reader, call: Any, expr: Any, base: int) -> _Call:
    span = reader.span(expr)
    args = reader.arguments(call, _CONNECTION_ARGS)
    if args is None or any(name not in args for name in _CONNECTION_ARGS):
        return _Call(span.end - base)
    ends = []
    for key, node_arg, path_arg in (
        ("from", "source", "output_path"),
        ("to", "target", "input_path"),
    ):
        path_node = args[path_arg]
        try:
            path = _literal(path_node)
            if not isinstance(path, str):
                raise ValueError
        except _LITERAL_ERRORS:
            return _Call(span.end - base)  # a computed path: nothing to check
        node_span = _shift(reader.span(args[node_arg]), -base)
        ends.append(
            (key, _id_of(args[node_arg]), path, node_span, _shift(reader.span(path_node), -base))
        )
    return _ConnectionCall(span.end - base, ends)


def _add_connection(group: _Group, record: _ConnectionCall, base: int) -> None:
    wf = group.workflow
    j = len(wf.definition["connections"])
    entry: dict[str, str] = {}
    for key, written, path, node_span, path_span in record.ends:
        node_id, _ = _resolve_id(written, group)
        entry[key] = f"{node_id}.{path}"
        node_at, path_at = _shift(node_span, base), _shift(path_span, base)
        wf.values[("connections", j, key)] = Span(node_at.start, path_at.end)
        wf.values[("connections", j, key, "node")] = node_at
        wf.values[("connections", j, key, "path")] = path_at
    wf.definition["connections"].append(entry)


# -- what is being typed -----------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<comment>\#[^\n]*)
    | (?P<string>(?:[rRbBuUfF]{0,2})(?:'''|\"\"\"|'|"))
    | (?P<name>[A-Za-z_][\w]*)
    | (?P<number>\d[\w.]*)
    | (?P<space>\s+)
    | (?P<op>.)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass
class _Frame:
    kind: str  # "call", "{", "[", "("
    index: int = 0  # argument or item index
    keyword: str | None = None  # a call's keyword argument
    key: Any = None  # a mapping's current key (a literal), once read
    at_value: bool = False  # a mapping: after the ':'
    literal_args: dict[Any, Any] = field(default_factory=dict)  # a call: literal strings


@dataclass
class _Typed:
    """The token at the cursor."""

    text: str = ""
    start: int = 0
    quoted: bool = False


def _scan(text: str, start: int, end: int) -> tuple[list[_Frame], _Typed] | None:
    """Frames open at ``end`` in the call whose '(' is at ``start``, and what is typed."""
    frames: list[_Frame] = [_Frame("call")]
    pos = start + 1
    last_name: str | None = None
    pending_string: Any = None
    while pos < end:
        match = _TOKEN.match(text, pos, end)
        if match is None:  # pragma: no cover - the pattern matches any character
            break
        kind = match.lastgroup
        token = match.group()
        top = frames[-1]
        if kind == "string":
            quote = token.lstrip("rRbBuUfF")
            body_start = match.end()
            close = text.find(quote, body_start, end)
            while close != -1 and _escaped(text, close, body_start):
                close = text.find(quote, close + 1, end)
            if close == -1 or (len(quote) == 1 and "\n" in text[body_start:close]):
                if "\n" in text[body_start:end] and len(quote) == 1:
                    pos = text.index("\n", body_start, end) + 1
                    continue
                return frames, _Typed(text[body_start:end], body_start, True)
            try:
                pending_string = ast.literal_eval(text[match.start() : close + len(quote)])
            except _LITERAL_ERRORS:
                pending_string = None
            _literal_seen(top, pending_string)
            pos = close + len(quote)
            last_name = None
            continue
        pos = match.end()
        if kind in ("space", "comment"):
            continue
        if kind == "name" or kind == "number":
            if kind == "name" and pos == end:
                return frames, _Typed(token, match.start(), False)
            last_name = token if kind == "name" else None
            _literal_seen(top, _Name(token) if kind == "name" else _NOT_LITERAL)
            continue
        if token in "([{":
            _literal_seen(top, _NOT_LITERAL)
            frames.append(_Frame(token))
        elif token in ")]}":
            if len(frames) == 1:
                return None  # the call is closed before the cursor
            frames.pop()
        elif token == ",":
            top.index += 1
            top.keyword = None
            top.key = None
            top.at_value = False
        elif token == ":" and top.kind == "{":
            top.at_value = True
        elif token == "=" and top.kind == "call" and last_name is not None:
            top.keyword = last_name
        last_name = None
    return frames, _Typed("", end, False)


class _NotLiteral:
    pass


@dataclass(frozen=True)
class _Name:
    """A bare name passed as an argument (a variable holding a node id)."""

    text: str


_NOT_LITERAL = _NotLiteral()


def _literal_seen(frame: _Frame, value: Any) -> None:
    if frame.kind == "call":
        slot = frame.keyword or frame.index
        if slot in frame.literal_args and value is not _NOT_LITERAL:
            frame.literal_args[slot] = None  # an expression, not one literal
        else:
            frame.literal_args[slot] = None if value is _NOT_LITERAL else value
    elif frame.kind == "{" and not frame.at_value:
        frame.key = None if value is _NOT_LITERAL else value


def _escaped(text: str, at: int, floor: int) -> bool:
    n = 0
    while at - 1 - n >= floor and text[at - 1 - n] == "\\":
        n += 1
    return n % 2 == 1


def _call_at(text: str, offset: int) -> tuple[int, str] | None:
    """The '(' and method of the builder call the cursor is in (the nearest before it
    that is still open)."""
    window = max(0, offset - 20_000)
    found = [m for m in _CALL.finditer(text, window, offset)]
    for match in reversed(found):
        return match.end() - 1, match.group(1)
    return None


def cursor_python(text: str, offset: int, parsed: Parsed | None = None) -> Cursor | None:
    """What is being typed at ``offset`` inside a builder call, or None."""
    found = _call_at(text, offset)
    if found is None:
        return None
    paren, method = found
    scanned = _scan(text, paren, offset)
    if scanned is None:
        return None
    frames, typed = scanned
    call = frames[0]
    replace_end = offset
    while replace_end < len(text) and (text[replace_end].isalnum() or text[replace_end] in "_$.-"):
        replace_end += 1
    replace = Span(typed.start, replace_end)
    workflow = None
    if parsed is not None:
        for wf in parsed.workflows:
            if wf.span.start <= paren <= wf.span.end:
                workflow = wf
    base = Cursor(Slot.NODE_TYPE, typed.text, replace, typed.quoted, workflow)
    typing = typed.quoted or bool(typed.text)
    if method == "add_node":
        return _in_add_node(frames, base, typing, _node_index(workflow, paren))
    if len(frames) != 1 or not typing:
        return None
    arg = call.keyword or call.index
    names: dict[Any, str] = {0: "source", 1: "output_path", 2: "target", 3: "input_path"}
    arg_name = names.get(arg, str(arg))
    if arg_name in ("source", "target"):
        return replace_fields(base, slot=Slot.NODE_ID, key="from" if arg_name == "source" else "to")
    if arg_name in ("output_path", "input_path"):
        side = 0 if arg_name == "output_path" else 2
        other = call.literal_args.get(side)
        if other is None:
            other = call.literal_args.get(names[side])
        if isinstance(other, _Name) and workflow is not None:
            other = workflow.names.get(other.text)
        return replace_fields(
            base,
            slot=Slot.OUTPUT_PATH if side == 0 else Slot.INPUT_PATH,
            key="from" if side == 0 else "to",
            other_node=other if isinstance(other, str) else None,
        )
    return None


def _in_add_node(
    frames: list[_Frame], base: Cursor, typing: bool, node_index: int | None
) -> Cursor | None:
    call = frames[0]
    arg = call.keyword or call.index
    names: dict[Any, str] = {0: "node_type", 1: "node_id", 2: "params"}
    arg_name = names.get(arg, str(arg))
    literal_type = call.literal_args.get(0, call.literal_args.get("node_type"))
    node_type = literal_type if isinstance(literal_type, str) else None
    if len(frames) == 1:
        if arg_name == "node_type" and typing:
            return replace_fields(base, slot=Slot.NODE_TYPE, node=node_index)
        return None
    if arg_name != "params" or frames[1].kind != "{":
        return None
    path: list[str | int] = []
    for frame in frames[1:-1]:
        if frame.kind == "{":
            if not frame.at_value or not isinstance(frame.key, str | int):
                return None
            path.append(frame.key)
        elif frame.kind == "[":
            path.append(frame.index)
        else:
            return None
    top = frames[-1]
    here = replace_fields(base, node=node_index, node_type=node_type)
    if top.kind == "{" and not top.at_value:
        if not path:
            return replace_fields(here, slot=Slot.PARAM_KEY, path=())
        return replace_fields(here, slot=Slot.DOC_KEY, path=tuple(path))
    if typing:
        field_path = tuple(path) + ((top.key,) if top.kind == "{" else ())
        if len(field_path) == 1 and isinstance(field_path[0], str):
            return replace_fields(here, slot=Slot.FIELD_VALUE, path=field_path)
    return None


def _node_index(workflow: Workflow | None, paren: int) -> int | None:
    if workflow is None:
        return None
    for i, span in workflow.node_spans.items():
        if span.start <= paren <= span.end:
            return i
    return None
