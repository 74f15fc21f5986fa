"""Workflows written as JSON files: a tolerant reader that records where every part is.

Python's :mod:`json` gives no positions and stops at the first error, so this module reads
the text itself: a recursive-descent reader over the characters (regular expressions for
the runs of whitespace, string characters and bare words), which records the span of
every value and key as it goes. It accepts what VS Code's JSON with comments accepts
(``//`` and ``/* */`` comments, silently) and decodes strings and numbers like
:func:`json.loads` (``1`` is an int, ``1.0`` and ``1e3`` floats).

The reader never stops at an error: each one becomes a :class:`Problem` and reading goes
on as a person typing would mean it. A missing comma is assumed; a trailing comma is
dropped; a string ends at the end of its line when its closing quote is missing; a key
without a value (``{"ag``) is left out of the definition; an unmatched closing bracket
closes the containers opened inside the one it matches; the end of the text closes every
open container. Bare words are read as ``true``/``false``/``null``/numbers, or reported
(a bare word where a key belongs is still used as the key).

:func:`cursor_json` runs the same reader with the cursor's offset; the reader notes the
token or gap the offset falls in, with the path of its container. Choices:

* In a string (after its opening quote, up to its closing quote), ``quoted`` is True,
  ``prefix`` is the text between the opening quote and the cursor (as written, escapes
  undecoded) and ``replace`` is the whole content between the quotes; when the string is
  not closed, up to the end of the word at the cursor (a blank, quote, bracket, comma or
  colon ends it), so that text typed after it on the line is kept.
* In a bare word (``"type": Us``), ``quoted`` is False, ``prefix`` is the word up to the
  cursor and ``replace`` the whole word: the completion writes its own quotes.
* Where a key or a value would start and nothing is typed yet (right after ``{``, ``[``,
  ``,`` or ``:``, whitespace included, or right before the opening quote of the next
  string), ``quoted`` is False, ``prefix`` is empty and ``replace`` is empty at the cursor.
* Inside a comment, after a complete value (where a comma is due), or at a position that
  is not a key or value slot of the workflow, there is no cursor (None).

A document is a workflow when its top-level value is an object with a ``"nodes"`` or a
``"connections"`` key; anything else gives an empty :class:`Parsed` (no workflow, no
problems) and no cursor, except that the keys of a top-level object with no other key yet
(a new file) are completed.

:func:`slot_cursor`, :func:`file_workflow` and :func:`word_end` are shared with the YAML
reader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from ._document import Cursor, Parsed, Path, Problem, Slot, Span, Workflow

__all__ = ["cursor_json", "file_workflow", "parse_json", "slot_cursor", "word_end"]

_SKIP: Final = re.compile(r"(?:[ \t\n\r]+|//[^\n]*|/\*.*?(?:\*/|\Z))*", re.DOTALL)
_COMMENT: Final = re.compile(r"//[^\n]*|/\*.*?(?:\*/|\Z)", re.DOTALL)
_SIMPLE_STRING: Final = re.compile(r'"([^"\\\x00-\x1f]*)"')
_STRING_RUN: Final = re.compile(r'[^"\\\x00-\x1f]*')
_WORD: Final = re.compile(r'[^\s{}\[\],:"/]+')
_NUMBER: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_WORD_REST: Final = re.compile(r'[^\s"{}\[\],:]*')
_HEX4: Final = re.compile(r"[0-9a-fA-F]{4}")
_ESCAPES: Final = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
_LITERALS: Final[dict[str, Any]] = {"true": True, "false": False, "null": None}
_MAX_DEPTH: Final = 200
_FIELD_STRING: Final = frozenset({"order_by"})
_FIELD_LISTS: Final = frozenset({"order_by", "fields", "match_fields", "update_fields"})


class _Missing:
    """No value could be read here."""


_MISSING: Final = _Missing()


@dataclass
class _Location:
    """Where the cursor is: a key of, or a value in, the container at ``container``."""

    container: Path
    is_key: bool
    key: str | int | None
    prefix: str
    replace: Span
    quoted: bool


class _Reader:
    def __init__(self, text: str, offset: int = -1) -> None:
        self.text = text
        self.n = len(text)
        self.pos = 0
        self.offset = offset
        self.values: dict[Path, Span] = {}
        self.keys: dict[Path, Span] = {}
        self.problems: list[Problem] = []
        self.open: list[str] = []
        self.root_keys: list[tuple[str, Span]] = []
        self.location: _Location | None = None
        self.seeking = offset >= 0
        self.in_comment = False

    # -- results -------------------------------------------------------------------------

    def read(self) -> Any:
        if self.text.startswith("\ufeff"):
            self.pos = 1
        self._skip()
        if self.pos >= self.n:
            return _MISSING
        root = self._value(())
        self._skip()
        if self.pos < self.n:
            self._problem(self.pos, self._token_end(), "unexpected text after the end of the JSON")
        return root

    def parsed(self, root: Any) -> Parsed:
        names = {name for name, _ in self.root_keys}
        if not isinstance(root, dict) or not names & {"nodes", "connections"}:
            return Parsed()
        workflow = file_workflow(self.text, root, self.values, self.keys)
        return Parsed([workflow], self.problems)

    # -- errors and the cursor -----------------------------------------------------------

    def _problem(self, start: int, end: int, message: str) -> None:
        if self.problems and self.problems[-1].span.start == start:
            return
        self.problems.append(Problem(Span(start, max(start, end)), message))

    def _token_end(self) -> int:
        match = _WORD.match(self.text, self.pos)
        if match is not None:
            return match.end()
        return min(self.pos + 1, self.n)

    def _gap(self, start: int, container: Path, is_key: bool, key: str | int | None) -> None:
        offset = self.offset
        if not start <= offset <= self.pos:
            return
        if offset == self.pos and _WORD.match(self.text, offset):
            return
        self.location = _Location(container, is_key, key, "", Span(offset, offset), False)
        self.seeking = False

    def _at_string(
        self, start: int, content_end: int, closed: bool, path: Path | None, is_key: bool
    ) -> None:
        offset = self.offset
        if not start < offset <= content_end or not _slot(path, is_key):
            return
        end = content_end if closed else word_end(self.text, offset, content_end)
        container, key = _split(path, is_key)
        prefix = self.text[start + 1 : offset]
        self.location = _Location(container, is_key, key, prefix, Span(start + 1, end), True)
        self.seeking = False

    def _at_word(self, start: int, end: int, path: Path | None, is_key: bool) -> None:
        offset = self.offset
        if not start <= offset <= end or not _slot(path, is_key):
            return
        container, key = _split(path, is_key)
        prefix = self.text[start:offset]
        self.location = _Location(container, is_key, key, prefix, Span(start, end), False)
        self.seeking = False

    # -- tokens --------------------------------------------------------------------------

    def _skip(self) -> None:
        start = self.pos
        if start >= self.n or self.text[start] not in " \t\n\r/":
            return
        match = _SKIP.match(self.text, start)
        assert match is not None
        self.pos = match.end()
        if self.text.find("/", start, self.pos) >= 0:
            self._comments(start, self.pos)

    def _comments(self, start: int, end: int) -> None:
        offset = self.offset
        for match in _COMMENT.finditer(self.text, start, end):
            first, last = match.span()
            if match.group().startswith("//"):
                inside = first < offset <= last
            elif match.group().endswith("*/") and last - first >= 4:
                inside = first < offset < last
            else:
                self._problem(first, first + 2, "unterminated comment")
                inside = first < offset <= last
            self.in_comment = self.in_comment or inside

    def _string(self) -> tuple[str, int, bool]:
        """The string starting at ``pos``: its value, where its content ends, closed."""
        text = self.text
        start = self.pos
        simple = _SIMPLE_STRING.match(text, start)
        if simple is not None:
            self.pos = simple.end()
            return simple.group(1), self.pos - 1, True
        i = start + 1
        parts: list[str] = []
        while True:
            match = _STRING_RUN.match(text, i)
            assert match is not None
            if match.end() > i:
                parts.append(match.group())
                i = match.end()
            if i >= self.n:
                break
            char = text[i]
            if char == '"':
                self.pos = i + 1
                return "".join(parts), i, True
            if char == "\\":
                i = self._escape(i, parts)
                if i < 0:
                    i = -i
                    break
            elif char in "\n\r":
                break
            else:
                self._problem(i, i + 1, "control characters must be escaped in a string")
                parts.append(char)
                i += 1
        self._problem(start, i, "unterminated string: expected '\"'")
        self.pos = i
        return "".join(parts), i, False

    def _escape(self, i: int, parts: list[str]) -> int:
        """Decode the escape at ``i``; the index after it (negated: the string ends)."""
        text = self.text
        char = text[i + 1 : i + 2]
        if char in _ESCAPES:
            parts.append(_ESCAPES[char])
            return i + 2
        if char in ("", "\n", "\r"):
            return -(i + 1)
        if char == "u" and _HEX4.match(text, i + 2):
            code = int(text[i + 2 : i + 6], 16)
            pair = text.startswith("\\u", i + 6) and _HEX4.match(text, i + 8)
            if 0xD800 <= code < 0xDC00 and pair:
                low = int(text[i + 8 : i + 12], 16)
                if 0xDC00 <= low < 0xE000:
                    parts.append(chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)))
                    return i + 12
            parts.append(chr(code))
            return i + 6
        message = "invalid \\u escape" if char == "u" else f"invalid escape '\\{char}'"
        self._problem(i, i + 2, message)
        parts.append(char)
        return i + 2

    # -- values --------------------------------------------------------------------------

    def _value(self, path: Path | None) -> Any:
        text = self.text
        while True:
            start = self.pos
            char = text[start] if start < self.n else ""
            if char == "{":
                value: Any = self._object(path) if len(self.open) < _MAX_DEPTH else self._deep()
            elif char == "[":
                value = self._array(path) if len(self.open) < _MAX_DEPTH else self._deep()
            elif char == '"':
                value, content_end, closed = self._string()
                if self.seeking:
                    self._at_string(start, content_end, closed, path, False)
            elif char == "" or char in ",}]":
                self._problem(start, start, "expected a value")
                return _MISSING
            else:
                match = _WORD.match(text, start)
                if match is None:
                    self._problem(start, start + 1, f"unexpected {char!r}: expected a value")
                    self.pos += 1
                    self._skip()
                    continue
                self.pos = match.end()
                if self.seeking:
                    self._at_word(start, self.pos, path, False)
                value = _word_value(match.group())
                if value is _MISSING:
                    self._problem(start, self.pos, f"invalid value {match.group()!r}")
            if value is _MISSING:
                return _MISSING
            if path is not None:
                self.values[path] = Span(start, self.pos)
            return value

    def _object(self, path: Path | None) -> dict[str, Any]:
        text = self.text
        result: dict[str, Any] = {}
        self.pos += 1
        self.open.append("}")
        need_key = True
        comma = -1
        while True:
            gap = self.pos
            self._skip()
            if need_key and self.seeking and path is not None:
                self._gap(gap, path, True, None)
            start = self.pos
            char = text[start] if start < self.n else ""
            if char == "}":
                if comma >= 0:
                    self._problem(comma, comma + 1, "trailing comma before '}'")
                self.pos += 1
                break
            if char == "" or (char == "]" and "]" in self.open):
                self._problem(start, start, "expected '}' to close the object")
                break
            if char == ",":
                if need_key:
                    self._problem(start, start + 1, "expected a property name before ','")
                comma = start
                self.pos += 1
                need_key = True
                continue
            if char == "]":
                self._problem(start, start + 1, "unexpected ']'")
                self.pos += 1
                continue
            if not need_key:
                self._problem(
                    start, self._token_end(), "expected ',' or '}' after an object member"
                )
            need_key = False
            comma = -1
            key = self._key(path)
            if key is None:
                continue
            name, key_span = key
            self._skip()
            colon = self.pos < self.n and text[self.pos] == ":"
            if colon:
                self.pos += 1
            else:
                self._problem(self.pos, self._token_end(), "expected ':' after the property name")
                if self.pos >= self.n or text[self.pos] in ",}]":
                    continue
            child = None if path is None else (*path, name)
            gap = self.pos
            self._skip()
            if colon and self.seeking and path is not None:
                self._gap(gap, path, False, name)
            value = self._value(child)
            if value is not _MISSING:
                result[name] = value
                if child is not None:
                    self.keys[child] = key_span
        self.open.pop()
        return result

    def _key(self, path: Path | None) -> tuple[str, Span] | None:
        """The property name at ``pos`` (None, after a problem, when there is none)."""
        text = self.text
        start = self.pos
        if text[start] == '"':
            name, content_end, closed = self._string()
            if self.seeking:
                self._at_string(start, content_end, closed, path, True)
        else:
            match = _WORD.match(text, start)
            if match is None:
                self._problem(start, start + 1, "expected a property name in double quotes")
                if text[start] in "{[":
                    self._value(None)
                else:
                    self.pos += 1
                return None
            name = match.group()
            self.pos = match.end()
            self._problem(start, self.pos, "property names must be in double quotes")
            if self.seeking:
                self._at_word(start, self.pos, path, True)
        span = Span(start, self.pos)
        if path == ():
            self.root_keys.append((name, span))
        return name, span

    def _array(self, path: Path | None) -> list[Any]:
        text = self.text
        result: list[Any] = []
        self.pos += 1
        self.open.append("]")
        need_item = True
        comma = -1
        while True:
            gap = self.pos
            self._skip()
            if need_item and self.seeking and path is not None:
                self._gap(gap, path, False, len(result))
            start = self.pos
            char = text[start] if start < self.n else ""
            if char == "]":
                if comma >= 0:
                    self._problem(comma, comma + 1, "trailing comma before ']'")
                self.pos += 1
                break
            if char == "" or (char == "}" and "}" in self.open):
                self._problem(start, start, "expected ']' to close the array")
                break
            if char == ",":
                if need_item:
                    self._problem(start, start + 1, "expected a value before ','")
                comma = start
                self.pos += 1
                need_item = True
                continue
            if char in "}:":
                self._problem(start, start + 1, f"unexpected {char!r}")
                self.pos += 1
                continue
            if not need_item:
                self._problem(
                    start, self._token_end(), "expected ',' or ']' after an array element"
                )
            need_item = False
            comma = -1
            value = self._value(None if path is None else (*path, len(result)))
            if value is not _MISSING:
                result.append(value)
        self.open.pop()
        return result

    def _deep(self) -> _Missing:
        """Skip a container nested too deeply to read (without recursion)."""
        start = self.pos
        depth = 0
        text = self.text
        while self.pos < self.n:
            char = text[self.pos]
            if char == '"':
                self._string()
                continue
            if char in "{[":
                depth += 1
            elif char in "}]":
                depth -= 1
                if depth == 0:
                    self.pos += 1
                    break
            self.pos += 1
        self._problem(start, start + 1, "nested too deeply to be read")
        return _MISSING


def _slot(path: Path | None, is_key: bool) -> bool:
    return path is not None and (is_key or path != ())


def _split(path: Path | None, is_key: bool) -> tuple[Path, str | int | None]:
    assert path is not None
    if is_key:
        return path, None
    return path[:-1], path[-1]


def _word_value(word: str) -> Any:
    if word in _LITERALS:
        return _LITERALS[word]
    match = _NUMBER.fullmatch(word)
    if match is None:
        return _MISSING
    if match.group(1) is None and match.group(2) is None:
        return int(word)
    return float(word)


# -- shared with the YAML reader ---------------------------------------------------------


def word_end(text: str, offset: int, limit: int) -> int:
    """Where the word the cursor is in ends: what a completion replaces in a string that
    is not closed (``"Us`` followed by ``}]}`` on its line keeps the brackets)."""
    match = _WORD_REST.match(text, offset, limit)
    assert match is not None
    return match.end()


def _content(text: str, span: Span, value: str) -> Span | None:
    """Where the characters of ``value`` are written in ``span`` (without quotes)."""
    start, end = span.start, span.end
    if text[start:end] == value:
        return span
    if end > start and text[start] in "\"'":
        if text[start + 1 : end - 1] == value and text[end - 1] == text[start]:
            return Span(start + 1, end - 1)
        if text[start + 1 : end] == value:
            return Span(start + 1, end)
    return None


def file_workflow(
    text: str, definition: dict[str, Any], values: dict[Path, Span], keys: dict[Path, Span]
) -> Workflow:
    """The workflow of a JSON or YAML file whose top-level mapping is ``definition``.

    Adds the node spans and the node and path parts of connection endpoints written
    without escapes.
    """
    nodes = definition.get("nodes")
    node_spans: dict[int, Span] = {}
    if isinstance(nodes, list):
        for i, node in enumerate(nodes):
            span = values.get(("nodes", i))
            if isinstance(node, dict) and span is not None:
                node_spans[i] = span
    connections = definition.get("connections")
    if isinstance(connections, list):
        for j, connection in enumerate(connections):
            if not isinstance(connection, dict):
                continue
            for side in ("from", "to"):
                endpoint = connection.get(side)
                span = values.get(("connections", j, side))
                if not isinstance(endpoint, str) or span is None or "." not in endpoint:
                    continue
                content = _content(text, span, endpoint)
                if content is None:
                    continue
                dot = content.start + endpoint.index(".")
                values["connections", j, side, "node"] = Span(content.start, dot)
                values["connections", j, side, "path"] = Span(dot + 1, content.end)
    return Workflow(
        definition=definition,
        values=values,
        keys=keys,
        span=Span(0, len(text)),
        node_spans=node_spans,
    )


def slot_cursor(
    workflow: Workflow | None,
    container: Path,
    is_key: bool,
    key: str | int | None,
    prefix: str,
    replace: Span,
    quoted: bool,
) -> Cursor | None:
    """The cursor for a key typed into the mapping at ``container`` (``is_key``), or for
    the value at ``key`` of the mapping or list at ``container``; None when no completion
    fits there.

    Keys: of the top level, a node or a connection, STRUCTURE_KEY; of ``params``,
    PARAM_KEY; of any mapping below ``params``, DOC_KEY with its path inside ``params``.
    Values: a node's ``type``, NODE_TYPE; a connection's ``from``/``to``, ENDPOINT; an
    item of ``order_by``, ``fields``, ``match_fields`` or ``update_fields`` and an
    ``order_by`` string, FIELD_VALUE. ``node`` is set only when the workflow has that
    node (a mapping), and ``node_type`` when its ``type`` is a string.
    """

    def cursor(slot: Slot, **extra: Any) -> Cursor:
        return Cursor(slot, prefix, replace, quoted, workflow, **extra)

    node = _node_at(workflow, container)
    if is_key:
        if container == ():
            return cursor(Slot.STRUCTURE_KEY, path=())
        if len(container) == 2 and container[0] == "connections" and _index(container[1]):
            return cursor(Slot.STRUCTURE_KEY, path=container)
        if len(container) == 2 and container[0] == "nodes" and _index(container[1]):
            return cursor(Slot.STRUCTURE_KEY, path=container, node=node)
        if len(container) >= 3 and container[0] == "nodes" and container[2] == "params":
            if not _index(container[1]):
                return None
            node_type = _node_type(workflow, node)
            if len(container) == 3:
                return cursor(Slot.PARAM_KEY, path=(), node=node, node_type=node_type)
            return cursor(Slot.DOC_KEY, path=container[3:], node=node, node_type=node_type)
        return None
    path = (*container, key)
    if len(path) == 3 and path[0] == "nodes" and path[2] == "type" and _index(path[1]):
        return cursor(Slot.NODE_TYPE, node=node)
    if len(path) == 3 and path[0] == "connections" and path[2] in ("from", "to"):
        return cursor(Slot.ENDPOINT, key=path[2]) if _index(path[1]) else None
    if len(path) >= 4 and path[0] == "nodes" and path[2] == "params" and _index(path[1]):
        rest = path[3:]
        field_list = len(rest) == 2 and rest[0] in _FIELD_LISTS and _index(rest[1])
        if field_list or (len(rest) == 1 and rest[0] in _FIELD_STRING):
            node_type = _node_type(workflow, node)
            return cursor(Slot.FIELD_VALUE, path=rest[:1], node=node, node_type=node_type)
    return None


def _index(part: str | int | None) -> bool:
    return isinstance(part, int) and not isinstance(part, bool)


def _node_at(workflow: Workflow | None, container: Path) -> int | None:
    """The index of the node ``container`` is in, when the workflow has that node."""
    if len(container) < 2 or container[0] != "nodes" or not _index(container[1]):
        return None
    index = container[1]
    assert isinstance(index, int)
    if workflow is None:
        return None
    nodes = workflow.definition.get("nodes")
    if not isinstance(nodes, list) or index >= len(nodes) or not isinstance(nodes[index], dict):
        return None
    return index


def _node_type(workflow: Workflow | None, node: int | None) -> str | None:
    if workflow is None or node is None:
        return None
    node_type = workflow.definition["nodes"][node].get("type")
    return node_type if isinstance(node_type, str) else None


# -- entry points ------------------------------------------------------------------------


def parse_json(text: str) -> Parsed:
    """The workflow in a JSON document (none when it is not a workflow file) and its
    syntax problems. Never raises."""
    reader = _Reader(text)
    try:
        return reader.parsed(reader.read())
    except RecursionError:  # only when called with little stack left
        return Parsed()


def cursor_json(text: str, offset: int) -> Cursor | None:
    """What is being typed at ``offset`` of a JSON document (None: nothing to complete)."""
    if not 0 <= offset <= len(text):
        return None
    reader = _Reader(text, offset)
    try:
        parsed = reader.parsed(reader.read())
    except RecursionError:  # only when called with little stack left
        return None
    where = reader.location
    if where is None or reader.in_comment:
        return None
    workflow = parsed.workflows[0] if parsed.workflows else None
    if workflow is None:
        new_file = all(offset in span for _, span in reader.root_keys)
        if not (where.is_key and where.container == () and new_file):
            return None
    return slot_cursor(
        workflow,
        where.container,
        where.is_key,
        where.key,
        where.prefix,
        where.replace,
        where.quoted,
    )
