"""Workflows written as YAML files: PyYAML's node tree, with positions, read tolerantly.

PyYAML composes the first document into a node tree whose marks' ``index`` counts code
points of the ``str`` it is given, with libyaml's parser when PyYAML has it (about eight
times faster than the Python one; its marks count the same way, but it skips a leading
byte-order mark without counting it, so that is cut off first and added back). Plain
scalars are tagged with a placeholder while composing and resolved only when built, with
the safe loader's resolvers and constructors: ``18`` is an int, ``true`` a bool, ``~``
None, ``"18"`` a str; other tags (timestamps included) keep their text. Mappings and
sequences become dicts and lists; a key is a str or an int (``true:``, ``null:`` and
``1.5:`` keep their text, so that it fits in a path; a key that is a collection is left
out). An alias is its anchor's value, built once, with spans
recorded only where the anchor is written; a recursive one is None; a merge key (``<<``)
fills the keys not given. A block collection's span ends with its last entry.

Only the first syntax error is reported: where the scanner started the token it could
not finish (an unclosed quote, a key without a colon, an unclosed flow collection), where
the parser stopped otherwise. Then the text is read again with the offending part blanked
out, offsets unchanged: first the value after ``key:`` or ``- ``, then the line (keeping a
leading ``- ``, so an item stays an item), then the line and the lines indented deeper
below it; flow collections still open at the end of the text are closed instead. After a
few tries everything from the first error on is blanked.

:func:`cursor_yaml` finds the token at the cursor in the text of its line: the quoted
scalar the cursor is in, or the characters around it up to a blank, ``:``, ``,``, a
bracket or a quote. It writes a sentinel word in place of that token (as it is, then as
a key ``sentinel:``, then with the flow brackets opened earlier on the line closed), reads
that text and finds the sentinel in the tree: a key of a mapping, or a value in a mapping
or sequence, with the path of that collection. A plain value on a line below its key
(``params:`` then ``ag``) and a sequence item where no value is completed (``- ty`` in
``nodes``) are taken as a key being typed into a new mapping there. Choices:

* ``quoted`` is always True: completions are inserted bare (YAML needs no quotes for
  node types, fields, operators such as ``$gte`` or endpoints such as ``a.id``).
* ``prefix`` is the text from the token's start (after the opening quote of a quoted
  scalar) to the cursor; ``replace`` is the whole token (a quoted scalar's content; when
  its closing quote is missing, up to the end of the word at the cursor).
* Nothing typed yet (an empty line, after ``- ``, after ``key: ``): ``prefix`` is empty
  and ``replace`` is empty at the cursor.
* In a comment, in the indentation before a line's text, after a value and a blank, or
  where the sentinel is not a whole key or value of the document, there is no cursor.

A document is a workflow when its top-level value is a mapping with a ``nodes`` or a
``connections`` key; anything else gives an empty :class:`Parsed` and no cursor, except
for the keys of a top-level mapping with no other key yet (a new file).
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver, Resolver
from yaml.scanner import Scanner

from ._document import Cursor, Parsed, Path, Problem, Span
from ._json import file_workflow, slot_cursor, word_end

__all__ = ["cursor_yaml", "parse_yaml"]

_CONSTRUCTORS: Final[dict[str, Callable[[SafeConstructor, ScalarNode], Any]]] = {
    "tag:yaml.org,2002:null": SafeConstructor.construct_yaml_null,
    "tag:yaml.org,2002:bool": SafeConstructor.construct_yaml_bool,
    "tag:yaml.org,2002:int": SafeConstructor.construct_yaml_int,
    "tag:yaml.org,2002:float": SafeConstructor.construct_yaml_float,
}
_MERGE: Final = "tag:yaml.org,2002:merge"
_STR: Final = "tag:yaml.org,2002:str"
_PLAIN: Final = "!dataflow-plain"
_TRIES: Final = 8
_CURSOR_TRIES: Final = 3
_MAX_DEPTH: Final = 200
_SENTINEL: Final = "dataflowCursorSentinel7"
_KEY_VALUE: Final = re.compile(
    r"""[ \t]*(?:-[ \t]+)*(?:"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#"'{}\[\],:][^#]*?)[ \t]*:"""
    r"""(?=[ \t]|$)"""
)
_ITEM: Final = re.compile(r"[ \t]*(?:-(?:[ \t]+|$))+")
_UNPRINTABLE: Final = yaml.reader.Reader.NON_PRINTABLE
_STOP: Final = frozenset(" \t\r\n,[]{}#\"':")
_QUOTE_AFTER: Final = frozenset(" \t\n[{,:")


# -- reading ---------------------------------------------------------------------------


class _Resolver(BaseResolver):
    """Tags every plain scalar ``_PLAIN``, to be resolved when (and if) it is built."""

    def resolve(self, kind: type[Node], value: Any, implicit: Any) -> str:
        if kind is ScalarNode:
            return _PLAIN if implicit[0] else self.DEFAULT_SCALAR_TAG
        if kind is SequenceNode:
            return self.DEFAULT_SEQUENCE_TAG
        return self.DEFAULT_MAPPING_TAG


class _PythonLoader(Reader, Scanner, Parser, Composer, _Resolver):
    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        _Resolver.__init__(self)


_LOADER: type[Any] = _PythonLoader
if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class _CLoader(CParser, _Resolver):
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _Resolver.__init__(self)

    _LOADER = _CLoader


def _compose(text: str) -> Node | None:
    loader = _LOADER(text)
    try:
        return loader.get_node() if loader.check_node() else None
    finally:
        loader.dispose()


class _Lines:
    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset) - 1

    def bounds(self, line: int) -> tuple[int, int]:
        start = self.starts[line]
        end = self.starts[line + 1] - 1 if line + 1 < len(self.starts) else len(self.text)
        return start, end

    def indent(self, line: int) -> int | None:
        """The indentation of a line; None for a blank or comment line."""
        start, end = self.bounds(line)
        content = self.text[start:end]
        stripped = content.lstrip(" \t")
        if not stripped.strip() or stripped.startswith("#"):
            return None
        return len(content) - len(stripped)

    def block(self, line: int) -> int:
        """The last line of ``line``'s block: the lines below it indented deeper."""
        indent = self.indent(line) or 0
        last = line
        for below in range(line + 1, len(self.starts)):
            deeper = self.indent(below)
            if deeper is None:
                continue
            if deeper <= indent:
                break
            last = below
        return last


def _blank(text: str, start: int, end: int) -> str:
    kept = "".join(c if c == "\n" else " " for c in text[start:end])
    return text[:start] + kept + text[end:]


def _failure(exc: yaml.YAMLError, size: int) -> tuple[int, str]:
    """Where an error is (as an offset) and what it says."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        at = exc.problem_mark.index
        context = exc.context or ""
        mark = exc.context_mark
        scanning = context.startswith("while scanning a") or context.startswith(
            "while parsing a flow"
        )
        if mark is not None and scanning and mark.index <= at:
            at = mark.index
        problem = exc.problem or "invalid YAML"
        if not context:
            message = problem
        elif context.startswith("while"):
            message = f"{problem} ({context})"
        else:
            message = f"{context}; {problem}"
        return min(at, size), message
    return 0, str(exc) or "invalid YAML"


@dataclass
class _Tree:
    root: Node | None
    problems: list[Problem]
    base: int  # where the marks' offset 0 is in the text (1 after a byte-order mark)
    limit: int  # where spans end at the latest (brackets added to close flows are after)


def _read(text: str, protect: int | None = None, tries: int = _TRIES) -> _Tree:
    """The first document's node tree (None when it cannot be read, or when line number
    ``protect`` would have to be blanked) and the first syntax problem."""
    base = 1 if text.startswith("\ufeff") else 0
    work = text[base:]
    limit = len(text)
    lines = _Lines(work)
    problems: list[Problem] = []
    levels: dict[int, int] = {}
    first = -1
    closed = False
    unprintable = _UNPRINTABLE.search(work)
    if unprintable is not None:
        at = unprintable.start()
        message = f"the character {unprintable.group()!r} is not allowed in YAML"
        problems.append(Problem(_token(text, at + base), message))
        work = _UNPRINTABLE.sub(" ", work)
    for _ in range(tries):
        try:
            return _Tree(_compose(work), problems, base, limit)
        except yaml.YAMLError as exc:
            at, message = _failure(exc, len(work))
            line = lines.line(at)
            if first < 0:
                first = line
            if not problems:
                problems.append(Problem(_token(text, at + base), message))
            closers = "" if closed else _closers(work, exc)
            if closers:
                closed = True
                limit = base + len(work.rstrip())
                work += "\n" + closers
                continue
            line = _dangling(lines, levels, line)
            level = levels.get(line, 0)
            if line == protect or level > 2:
                break
            levels[line] = level + 1
            start, end = _part(lines, work, line, level)
            if protect is not None and lines.line(start) <= protect <= lines.line(end):
                break
            work = _blank(work, start, end)
    if first < 0 or (protect is not None and protect >= first):
        return _Tree(None, problems, base, limit)
    try:
        root = _compose(_blank(work, lines.starts[first], len(work)))
    except yaml.YAMLError:
        root = None
    return _Tree(root, problems, base, limit)


@dataclass
class _Scan:
    opened: list[str]  # the flow brackets still open
    quote: str  # the quote of the quoted scalar the scan ended in
    quote_at: int
    comment: bool  # the scan ended in a comment


def _scan(text: str, start: int, end: int) -> _Scan:
    """Quotes, comments and flow brackets from ``start`` to ``end``."""
    opened: list[str] = []
    quote = ""
    quote_at = -1
    i = start
    while i < end:
        char = text[i]
        if quote == '"':
            if char == "\\":
                i += 1
            elif char == '"':
                quote = ""
        elif quote == "'":
            if char == "'" and text[i + 1 : i + 2] == "'" and i + 1 < end:
                i += 1
            elif char == "'":
                quote = ""
        elif char in "\"'" and (i == 0 or text[i - 1] in _QUOTE_AFTER):
            quote, quote_at = char, i
        elif char == "#" and (i == 0 or text[i - 1] in " \t\n"):
            i = text.find("\n", i, end)
            if i < 0:
                return _Scan(opened, "", -1, True)
            continue
        elif char in "[{":
            opened.append(char)
        elif char in "]}" and opened:
            opened.pop()
        i += 1
    return _Scan(opened, quote, quote_at, False)


def _closers(work: str, exc: yaml.YAMLError) -> str:
    """The brackets closing the flow collections left open at the end of the text."""
    if not isinstance(exc, yaml.MarkedYAMLError) or not (exc.context or "").startswith(
        "while parsing a flow"
    ):
        return ""
    end = len(work.rstrip())
    if exc.problem_mark is None or exc.problem_mark.index < end:
        return ""
    scan = _scan(work, 0, end)
    if scan.quote:
        return ""
    return "".join("]" if c == "[" else "}" for c in reversed(scan.opened))


def _dangling(lines: _Lines, levels: dict[int, int], line: int) -> int:
    """The line already blanked whose block ``line`` is in (its children are left
    dangling), else ``line``."""
    for blanked, level in levels.items():
        if blanked < line and level >= 2 and lines.block(blanked) >= line:
            return blanked
    return line


def _part(lines: _Lines, work: str, line: int, level: int) -> tuple[int, int]:
    """The part of ``line`` to blank at ``level``: 0, the value after ``key:`` or
    ``- ``; 1, the line but its ``- ``; 2, the line and its block."""
    start, end = lines.bounds(line)
    content = work[start:end]
    if level == 0:
        match = _KEY_VALUE.match(content) or _ITEM.match(content)
        if match is not None and content[match.end() :].strip():
            return start + match.end(), end
        level = 1
    if level == 1:
        match = _ITEM.match(content)
        if match is not None and content[match.end() :].strip():
            return start + match.end(), end
    return start, lines.bounds(lines.block(line))[1]


def _token(text: str, at: int) -> Span:
    end = at
    while end < len(text) and not text[end].isspace():
        end += 1
    if end == at and at < len(text) and text[at] not in "\r\n":
        end += 1
    return Span(at, end)


@functools.lru_cache(maxsize=4096)
def _resolve_plain(value: str) -> str:
    """The tag the safe loader gives a plain scalar."""
    implicit = Resolver.yaml_implicit_resolvers
    for tag, pattern in implicit.get(value[:1], []) + implicit.get(None, []):
        if pattern.match(value):
            return str(tag)
    return Resolver.DEFAULT_SCALAR_TAG


class _Builder:
    """Plain values from a node tree, recording spans."""

    def __init__(self, text: str, tree: _Tree) -> None:
        self.text = text
        self.base = tree.base
        self.limit = tree.limit
        self.values: dict[Path, Span] = {}
        self.keys: dict[Path, Span] = {}
        self.constructor = SafeConstructor()
        self.built: dict[int, tuple[Any, int, int]] = {}
        self.active: set[int] = set()

    def trim(self, start: int, end: int) -> int:
        text = self.text
        end = min(end, self.limit)
        while end > start and text[end - 1].isspace():
            end -= 1
        return end

    def tag(self, node: ScalarNode) -> str:
        if node.tag == _PLAIN:
            node.tag = _resolve_plain(node.value)
        return str(node.tag)

    def scalar(self, node: ScalarNode) -> Any:
        tag = node.tag
        if tag == _PLAIN:
            tag = node.tag = _resolve_plain(node.value)
        if tag == _STR:
            return node.value
        construct = _CONSTRUCTORS.get(tag)
        if construct is None:
            return node.value
        try:
            return construct(self.constructor, node)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError):
            return node.value

    def key(self, node: ScalarNode) -> str | int:
        key = self.scalar(node)
        if isinstance(key, str) or (isinstance(key, int) and not isinstance(key, bool)):
            return key
        return str(node.value)

    def build(self, node: Node, path: Path | None, depth: int = 0) -> tuple[Any, int, int]:
        """The value of ``node``, and where it starts and ends."""
        ident = id(node)
        if ident in self.built:
            return self.built[ident]
        base = self.base
        start = min(node.start_mark.index + base, self.limit)
        end = min(node.end_mark.index + base, self.limit)
        if ident in self.active or depth > _MAX_DEPTH:
            return None, start, end
        self.active.add(ident)
        value: Any
        if isinstance(node, ScalarNode):
            value = self.scalar(node)
            if node.style in ("|", ">"):
                end = self.trim(start, end)
        elif isinstance(node, MappingNode):
            value, last = self.mapping(node, path, depth)
            if not node.flow_style and node.value:
                end = self.trim(start, last)
        elif isinstance(node, SequenceNode):
            value = []
            last = end
            for i, item in enumerate(node.value):
                child = None if path is None else (*path, i)
                item_value, _, last = self.build(item, child, depth + 1)
                value.append(item_value)
            if not node.flow_style and node.value:
                end = self.trim(start, last)
        else:
            value = None
        self.active.discard(ident)
        self.built[ident] = (value, start, end)
        if path is not None:
            self.values[path] = Span(start, end)
        return value, start, end

    def mapping(self, node: MappingNode, path: Path | None, depth: int) -> tuple[Any, int]:
        """The dict of ``node`` and where its last entry ends."""
        value: dict[Any, Any] = {}
        merged: list[Any] = []
        last = 0
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                last = value_node.end_mark.index + self.base
                continue
            if self.tag(key_node) == _MERGE:
                sources, _, last = self.build(value_node, None, depth + 1)
                merged.extend(sources if isinstance(sources, list) else [sources])
                continue
            key = self.key(key_node)
            child = None if path is None else (*path, key)
            value[key], _, last = self.build(value_node, child, depth + 1)
            key_end = key_node.end_mark.index + self.base
            if child is not None:
                self.keys[child] = Span(key_node.start_mark.index + self.base, key_end)
            last = max(key_end, last)
        for source in merged:
            if isinstance(source, dict):
                for k, v in source.items():
                    value.setdefault(k, v)
        return value, last


def parse_yaml(text: str) -> Parsed:
    """The workflow in a YAML document (none when it is not a workflow file) and its
    first syntax problem. Never raises."""
    try:
        tree = _read(text)
        if not isinstance(tree.root, MappingNode):
            return Parsed()
        builder = _Builder(text, tree)
        definition, _, _ = builder.build(tree.root, ())
    except (yaml.YAMLError, RecursionError, ValueError):
        return Parsed()
    if not isinstance(definition, dict) or not {"nodes", "connections"} & set(definition):
        return Parsed()
    workflow = file_workflow(text, definition, builder.values, builder.keys)
    return Parsed([workflow], tree.problems)


# -- the cursor ------------------------------------------------------------------------


@dataclass
class _Token:
    prefix: str
    replace: Span
    variants: list[str]


def _token_at(text: str, offset: int) -> _Token | None:
    """The token at ``offset`` and the texts with a sentinel in its place."""
    line_start = text.rfind("\n", 0, offset) + 1
    line_end = text.find("\n", offset)
    if line_end < 0:
        line_end = len(text)
    if line_end > line_start and text[line_end - 1] == "\r":
        line_end -= 1
    scan = _scan(text, line_start, offset)
    if scan.comment:
        return None
    quote = scan.quote
    if quote:
        start = scan.quote_at + 1
        close = _closing(text, offset, line_end, quote)
        end = close if close >= 0 else word_end(text, offset, line_end)
        before = text[:start] + _SENTINEL + quote
        after = text[close + 1 if close >= 0 else end :]
    else:
        start = offset
        while start > line_start and text[start - 1] not in _STOP:
            start -= 1
        end = offset
        while end < line_end and text[end] not in _STOP:
            end += 1
        if start == end and not text[line_start:start].strip() and text[end:line_end].strip():
            return None
        before = text[:start] + _SENTINEL
        after = text[end:]
    variants = [before + after]
    if not after.lstrip(" \t").startswith(":"):
        variants.append(before + ":" + after)
    if scan.opened:
        closers = "".join("}" if c == "{" else "]" for c in reversed(scan.opened))
        rest = len(after) - len(after.lstrip(" \t"))
        variants.append(before + closers + after[rest:])
    return _Token(text[start:offset], Span(start, end), variants)


def _closing(text: str, offset: int, line_end: int, quote: str) -> int:
    i = offset
    while i < line_end:
        char = text[i]
        if quote == '"' and char == "\\":
            i += 2
            continue
        if char == quote:
            if quote == "'" and text[i + 1 : i + 2] == "'":
                i += 2
                continue
            return i
        i += 1
    return -1


@dataclass
class _Found:
    container: Path
    is_key: bool
    key: str | int | None
    block_item: bool = False


def _find(builder: _Builder, node: Node, path: Path, seen: set[int]) -> _Found | None:
    """Where the sentinel is in the tree."""
    if id(node) in seen or len(path) > _MAX_DEPTH:
        return None
    seen.add(id(node))
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                continue
            if key_node.value == _SENTINEL:
                return _Found(path, True, None)
            key = builder.key(key_node)
            if isinstance(value_node, ScalarNode) and value_node.value == _SENTINEL:
                below = value_node.start_mark.line > key_node.start_mark.line
                if below and not node.flow_style:
                    return _Found((*path, key), True, None)
                return _Found(path, False, key)
            found = _find(builder, value_node, (*path, key), seen)
            if found is not None:
                return found
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            if isinstance(item, ScalarNode) and item.value == _SENTINEL:
                return _Found(path, False, i, block_item=not node.flow_style)
            found = _find(builder, item, (*path, i), seen)
            if found is not None:
                return found
    return None


def cursor_yaml(text: str, offset: int, parsed: Parsed | None = None) -> Cursor | None:
    """What is being typed at ``offset`` of a YAML document (None: nothing to complete).
    ``parsed`` is ``parse_yaml(text)`` when the caller has it already."""
    if not 0 <= offset <= len(text):
        return None
    try:
        token = _token_at(text, offset)
        if token is None:
            return None
        if parsed is None:
            parsed = parse_yaml(text)
        workflow = parsed.workflows[0] if parsed.workflows else None
        line = text.count("\n", 0, offset)
        for variant in token.variants:
            tree = _read(variant, protect=line, tries=_CURSOR_TRIES)
            root = tree.root
            if root is None:
                continue
            builder = _Builder(variant, tree)
            found = _find(builder, root, (), set())
            if found is None:
                continue
            if workflow is None:
                alone = isinstance(root, MappingNode) and all(
                    k.value == _SENTINEL for k, _ in root.value if isinstance(k, ScalarNode)
                )
                if not (alone and found.is_key and found.container == ()):
                    return None
            args = (token.prefix, token.replace, True)
            cursor = slot_cursor(workflow, found.container, found.is_key, found.key, *args)
            if cursor is None and found.block_item:
                assert found.key is not None
                container = (*found.container, found.key)
                cursor = slot_cursor(workflow, container, True, None, *args)
            return cursor
    except (yaml.YAMLError, RecursionError, ValueError):
        return None
    return None
