"""The filter AST: what a filter document means, independent of any dialect."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..models import Field

__all__ = [
    "And",
    "Compare",
    "Const",
    "Exists",
    "FieldCompare",
    "In",
    "JsonElemMatch",
    "JsonExists",
    "JsonRef",
    "JsonSize",
    "JsonTest",
    "Like",
    "Mod",
    "Node",
    "Not",
    "Or",
    "Regex",
]


@dataclass(frozen=True, slots=True)
class Compare:
    """``field <op> value`` with op one of eq, ne, gt, gte, lt, lte (value never None)."""

    field: Field
    op: str
    value: Any


@dataclass(frozen=True, slots=True)
class In:
    """``field IN values`` (``negate`` for ``$nin``); ``has_null`` when None was listed."""

    field: Field
    values: tuple[Any, ...]
    negate: bool
    has_null: bool


@dataclass(frozen=True, slots=True)
class Exists:
    """``field IS NOT NULL`` (``exists=True``) or ``IS NULL``."""

    field: Field
    exists: bool


@dataclass(frozen=True, slots=True)
class Like:
    """A LIKE pattern with ``\\`` as the escape character."""

    field: Field
    pattern: str
    case_insensitive: bool


@dataclass(frozen=True, slots=True)
class Regex:
    """A regular expression with MongoDB options (subset of ``imsx``)."""

    field: Field
    pattern: str
    options: str


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """Matches where ``item`` does not match, NULLs included (MongoDB semantics)."""

    item: Node


@dataclass(frozen=True, slots=True)
class Const:
    """Always true or always false (``$in: []``, ``$nin: []``)."""

    value: bool


@dataclass(frozen=True, slots=True)
class Mod:
    """``field % divisor == remainder`` (truncated remainder, as MongoDB's ``$mod``)."""

    field: Field
    divisor: int
    remainder: int


@dataclass(frozen=True, slots=True)
class FieldCompare:
    """``$expr``: two fields compared, NULL sorting lowest (MongoDB's BSON order)."""

    left: Field
    op: str
    right: Field


@dataclass(frozen=True, slots=True)
class JsonRef:
    """A value inside a JSON field: ``root`` is the field, or the depth of the enclosing
    ``$elemMatch`` whose array element the path starts from; ``path`` holds object keys
    (str) and array indexes (int). An empty path is the root value itself."""

    root: Field | int
    path: tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class JsonTest:
    """A test of the JSON value at ``ref`` or, when it is an array, of any element.

    ``op`` is one of:
    eq (``value`` any JSON value; None is JSON null), gt gte lt lte (``value`` a string
    or number; only values of the same type compare), like (``value`` a LIKE pattern,
    ``options`` "i" for case-insensitive), regex (``value`` a pattern, ``options`` its
    flags), type (``value`` a tuple of type names: string number bool null object array).
    """

    ref: JsonRef
    op: str
    value: Any
    options: str = ""


@dataclass(frozen=True, slots=True)
class JsonExists:
    """The path leads to a value (JSON null included; a NULL column holds nothing)."""

    ref: JsonRef


@dataclass(frozen=True, slots=True)
class JsonSize:
    """The value at ``ref`` is an array of ``size`` elements."""

    ref: JsonRef
    size: int


@dataclass(frozen=True, slots=True)
class JsonElemMatch:
    """Some element of the array at ``ref`` matches ``cond``, whose references with
    ``root == depth`` start from that element."""

    ref: JsonRef
    depth: int
    cond: Node


Node = (
    Compare
    | In
    | Exists
    | Like
    | Regex
    | And
    | Or
    | Not
    | Const
    | Mod
    | FieldCompare
    | JsonTest
    | JsonExists
    | JsonSize
    | JsonElemMatch
)
