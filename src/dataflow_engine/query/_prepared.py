"""Prepared filters: a document whose shape was seen before is neither parsed nor compiled.

The shape of a filter document is the document with each plain value replaced by its type
(``{"age": {"$gte": int}, "dept": str}``). The first document of a shape is parsed as
usual, then parsed once more with each value replaced by a ``Slot``; that template is
compiled per dialect into SQL plus one builder per parameter. A later document of the same
shape only has its values validated (by the same field validators) and bound.

Values whose operator changes the SQL text itself (``$regex``, ``$type``, ``$exists``,
``$like``...) and anything on JSON fields are part of the shape, not slots. A template is
kept only when the parser met exactly the values the shape walker collected, in the same
order and as the same objects; anything else is simply parsed every time.
"""

from __future__ import annotations

import contextvars
import dataclasses
import datetime as dt
import enum
import uuid
import weakref
from collections.abc import Callable, Hashable
from decimal import Decimal
from typing import Any, cast

from ..errors import ValidationError
from ..models import Field, FieldKind, ModelDef
from ._ast import Node

__all__ = ["Bound", "Encoded", "Slot", "prepare_filter", "recording_slots"]

# Operators whose operand shapes the SQL (or is a pattern): their values join the shape.
_LITERAL_OPERATORS = frozenset(
    {
        "$regex",
        "$options",
        "$type",
        "$exists",
        "$mod",
        "$size",
        "$all",
        "$elemMatch",
        "$expr",
        "$like",
        "$ilike",
        "$contains",
        "$startswith",
        "$endswith",
    }
)
_SCALARS = (str, int, float, Decimal, dt.date, dt.time, uuid.UUID, bytes, enum.Enum)
_MAX_SHAPES = 256  # per model; the table is emptied when it fills
_MAX_DEPTH = 40  # deeper documents are parsed every time


class Slot:
    """A value's place in a template (its index among the document's values)."""

    __slots__ = ("field", "index")

    def __init__(self, index: int, field: Field) -> None:
        self.index = index
        self.field = field

    def __repr__(self) -> str:
        return f"Slot({self.index}, {self.field.name!r})"


class Encoded:
    """A slot's value as the dialect encodes it for the driver (made at bind time by
    ``encoder``, the dialect's encoder for the field, when it has one)."""

    __slots__ = ("encoder", "slot")

    def __init__(self, slot: Slot, encoder: Callable[[Any], Any] | None) -> None:
        self.slot = slot
        self.encoder = encoder


#: While set, the parser records the values it validates and returns slots instead.
recording_slots: contextvars.ContextVar[list[tuple[Any, Field]] | None] = contextvars.ContextVar(
    "dataflow_recording_slots", default=None
)


class _Unshaped(Exception):
    """The document holds something the shape walker does not take."""


def _frozen(value: Any, depth: int = 0) -> Hashable:
    if depth > _MAX_DEPTH:
        raise _Unshaped
    if isinstance(value, dict):
        return ("D", tuple((k, _frozen(v, depth + 1)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return ("L", tuple(_frozen(v, depth + 1) for v in value))
    if value is None or isinstance(value, _SCALARS):
        return (type(value), value)
    raise _Unshaped


_LEAF_TYPES = frozenset({str, int, float, bool, Decimal, dt.date, dt.datetime, dt.time, uuid.UUID})


def _shape(value: Any, leaves: list[Any], json_fields: frozenset[str], depth: int = 0) -> Hashable:
    kind = type(value)
    if depth > _MAX_DEPTH:
        raise _Unshaped  # the parser reports the depth
    if kind is dict:
        parts: list[tuple[str, Any]] = []
        for key, item in value.items():
            if type(key) is not str:
                raise _Unshaped
            if (
                key in _LITERAL_OPERATORS
                or (key == "$not" and type(item) is not dict)
                or (json_fields and key.split(".", 1)[0] in json_fields)
            ):
                parts.append((key, _frozen(item)))
            elif type(item) in _LEAF_TYPES:  # the common case, without a call
                leaves.append(item)
                parts.append((key, type(item)))
            else:
                parts.append((key, _shape(item, leaves, json_fields, depth + 1)))
        return tuple(parts)
    if kind is list or kind is tuple:
        return ("L", tuple([_shape(v, leaves, json_fields, depth + 1) for v in value]))
    if value is None:
        return None
    if kind in _LEAF_TYPES or isinstance(value, _SCALARS):
        leaves.append(value)
        return cast(Hashable, kind)
    raise _Unshaped


class _Template:
    """A parsed filter with slots for its values, and its SQL per dialect and offset."""

    __slots__ = ("compiled", "fields", "node")

    def __init__(self, node: Node | None, fields: list[Field]) -> None:
        self.node = node
        self.fields = fields
        self.compiled: dict[Hashable, tuple[str, list[Any]] | None] = {}


class Bound:
    """A prepared filter: a template and the validated values for its slots.

    Dialects compile it from the template's cached SQL; ``node`` gives the plain AST."""

    __slots__ = ("_node", "template", "values")

    def __init__(self, template: _Template, values: list[Any]) -> None:
        self.template = template
        self.values = values
        self._node: Node | None = None

    @property
    def node(self) -> Node | None:
        if self._node is None and self.template.node is not None:
            self._node = _fill(self.template.node, self.values)
        return self._node

    def compiled(
        self, key: Hashable, compile_template: Callable[[Node | None], tuple[str, list[Any]]]
    ) -> tuple[str, list[Any]] | None:
        """The cached SQL and parameter builders for ``key``, compiled on first use;
        None when the template cannot be compiled without its values."""
        table = self.template.compiled
        if key not in table:
            try:
                table[key] = compile_template(self.template.node)
            except Exception:  # a dialect path that needs the real values
                table[key] = None
        return table[key]


def _fill(node: Any, values: list[Any]) -> Any:
    if type(node) is Slot:
        return values[node.index]
    if isinstance(node, tuple):
        return tuple(_fill(n, values) for n in node)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        changes = {
            f.name: _fill(getattr(node, f.name), values)
            for f in dataclasses.fields(node)
            if not isinstance(getattr(node, f.name), Field)
        }
        return dataclasses.replace(node, **changes)
    return node


def bind(builder: Any, values: list[Any]) -> Any:
    """A parameter value from its builder: constants stay, slots take their value."""
    kind = type(builder)
    if kind is Encoded:
        value = values[builder.slot.index]
        return value if builder.encoder is None or value is None else builder.encoder(value)
    if kind is Slot:
        return values[builder.index]
    if kind is list:
        return [bind(b, values) for b in builder]
    return builder


_TEMPLATES: weakref.WeakKeyDictionary[
    ModelDef, tuple[frozenset[str], dict[Hashable, _Template | None]]
] = weakref.WeakKeyDictionary()


def prepare_filter(
    document: Any, model: ModelDef, parse: Callable[[Any, ModelDef], Node | None]
) -> Node | Bound | None:
    """``parse(document, model)``, served from the model's templates when the document's
    shape was seen before. Errors are the parser's own (a value that fails validation is
    parsed again to raise them)."""
    if type(document) is not dict or not document:
        return parse(document, model)
    known = _TEMPLATES.get(model)
    if known is None:
        json = frozenset(n for n, f in model.fields.items() if f.kind is FieldKind.JSON)
        known = _TEMPLATES.setdefault(model, (json, {}))
    json_fields, templates = known
    leaves: list[Any] = []
    try:
        shape = _shape(document, leaves, json_fields)
    except _Unshaped:
        return parse(document, model)
    found = shape in templates
    template = templates.get(shape)
    if template is not None:
        try:
            values = [f.validate(v) for f, v in zip(template.fields, leaves, strict=True)]
        except ValidationError:
            return parse(document, model)  # raises the parser's FilterError
        return Bound(template, values)
    node = parse(document, model)
    if found:
        return node  # a shape known not to template
    if len(templates) >= _MAX_SHAPES:
        templates.clear()
    templates[shape] = _build(document, model, parse, leaves)
    return node


def _build(
    document: Any, model: ModelDef, parse: Callable[[Any, ModelDef], Node | None], leaves: list[Any]
) -> _Template | None:
    met: list[tuple[Any, Field]] = []
    token = recording_slots.set(met)
    try:
        node = parse(document, model)
    finally:
        recording_slots.reset(token)
    if len(met) != len(leaves):
        return None
    if any(raw is not leaf for (raw, _), leaf in zip(met, leaves, strict=True)):
        return None
    return _Template(node, [f for _, f in met])
