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


Node = Compare | In | Exists | Like | Regex | And | Or | Not | Const | Mod | FieldCompare
