"""What the language server knows about a document: the workflows written in it, where
each part of them is written, and what is being typed at a position.

Positions are offsets into the document's text, in code points (Python string indexes);
the server converts them to the client's position encoding at the edge. Paths are the
validator's paths into a workflow definition: ``("nodes", 0, "params", "filter", "age")``,
``("connections", 1, "from")``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Cursor", "Parsed", "Path", "Problem", "Slot", "Span", "Workflow"]

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Span:
    """``text[start:end]``: offsets in code points."""

    start: int
    end: int

    def __contains__(self, offset: object) -> bool:
        return isinstance(offset, int) and self.start <= offset <= self.end


@dataclass
class Workflow:
    """One workflow definition found in a document, and where its parts are written.

    Attributes:
        definition: the DESIGN §10 dict: ``{"nodes": [...], "connections": [...]}``.
            Values that cannot be read from the text (a variable, a call) are left out
            and their paths listed in ``runtime``.
        values: path -> span of the value written there. A connection endpoint also has
            ``(*path, "node")`` and ``(*path, "path")`` for its node-id and path parts
            when they can be told apart.
        keys: path -> span of the key naming a mapping entry (``"agee"`` in a filter).
        runtime: node id -> paths under its ``params`` (``"filter.age"``) whose values are
            only known when the program runs (Python documents); ``"*"`` when the node's
            type or id is not a literal, ``""`` when its params as a whole are not.
        span: the whole workflow (a Python builder's first to last call; the document
            for JSON and YAML).
        node_spans: node index -> span of the whole node (its ``add_node`` call, or its
            object in the ``nodes`` list), for document symbols and go-to-definition.
    """

    definition: dict[str, Any]
    values: dict[Path, Span] = field(default_factory=dict)
    keys: dict[Path, Span] = field(default_factory=dict)
    runtime: dict[str, set[str]] = field(default_factory=dict)
    span: Span = Span(0, 0)
    node_spans: dict[int, Span] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # Python: variable -> node id

    def nodes(self) -> list[dict[str, Any]]:
        """The nodes, index for index (an entry that is not an object reads as ``{}``;
        a file being typed may hold anything)."""
        nodes = self.definition.get("nodes")
        if not isinstance(nodes, list):
            return []
        return [n if isinstance(n, dict) else {} for n in nodes]

    def node(self, index: Any) -> dict[str, Any]:
        nodes = self.nodes()
        return nodes[index] if isinstance(index, int) and 0 <= index < len(nodes) else {}

    def connection(self, index: Any) -> dict[str, Any]:
        conns = self.definition.get("connections")
        if not isinstance(conns, list) or not isinstance(index, int):
            return {}
        entry = conns[index] if 0 <= index < len(conns) else None
        return entry if isinstance(entry, dict) else {}

    def node_index(self, node_id: str) -> int | None:
        for i, node in enumerate(self.nodes()):
            if node.get("id") == node_id:
                return i
        return None


@dataclass(frozen=True)
class Problem:
    """A problem found while reading the text itself (a syntax error)."""

    span: Span
    message: str
    code: str = "DF-WORKFLOW-SYNTAX"


@dataclass
class Parsed:
    """Everything read from one document."""

    workflows: list[Workflow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


class Slot(enum.StrEnum):
    """What kind of text is being typed at a position."""

    NODE_TYPE = "node_type"  # add_node's first argument; "type" in a file
    NODE_ID = "node_id"  # add_connection's source or target
    OUTPUT_PATH = "output_path"  # add_connection's output path (of ``node``)
    INPUT_PATH = "input_path"  # add_connection's input path (of ``node``)
    ENDPOINT = "endpoint"  # a file's "from"/"to" string: "node.path" (``key`` says which)
    PARAM_KEY = "param_key"  # a key of a node's params
    DOC_KEY = "doc_key"  # a key inside filter / update / data / fields / order_by ...
    FIELD_VALUE = "field_value"  # a value naming a field (order_by, fields list items)
    STRUCTURE_KEY = "structure_key"  # a file's own keys: nodes, connections, id, type, ...


@dataclass
class Cursor:
    """What is being typed at a position, and what a completion replaces.

    Attributes:
        slot: the kind of text.
        prefix: what is typed so far (without quotes).
        replace: the span a completion item replaces (the prefix's span; inside the
            quotes when quoted).
        quoted: the cursor is inside a string literal (items are inserted bare);
            otherwise items are inserted with quotes.
        workflow: the workflow being edited, when one is found.
        node: the index of the node whose type or params are being typed.
        node_type: that node's type, when written as a literal.
        path: for DOC_KEY and FIELD_VALUE, the path inside params, e.g. ``("filter",)``
            for a top-level filter key, ``("filter", "age")`` for an operator of
            ``age``, ``("filter", "$or", 0)`` inside an ``$or`` branch; for PARAM_KEY
            ``()``; for STRUCTURE_KEY the path of the enclosing mapping
            (``()``, ``("nodes", 0)``, ``("connections", 0)``).
        key: for ENDPOINT, ``"from"`` or ``"to"``; for NODE_ID, OUTPUT_PATH and
            INPUT_PATH, ``"from"`` (source side) or ``"to"`` (target side).
        other_node: for OUTPUT_PATH / INPUT_PATH, the node id already given on that side.
    """

    slot: Slot
    prefix: str
    replace: Span
    quoted: bool = True
    workflow: Workflow | None = None
    node: int | None = None
    node_type: str | None = None
    path: Path = ()
    key: str | None = None
    other_node: str | None = None
