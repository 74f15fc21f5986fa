"""PostgreSQL: native types through asyncpg; ``$n`` placeholders; 63-byte identifiers."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from ..models import Field, FieldKind
from ..query import In
from ._base import Dialect, Params

__all__ = ["PostgresDialect"]


def _to_uuid(value: Any) -> uuid.UUID:
    return value if type(value) is uuid.UUID else uuid.UUID(bytes=value.bytes)


class PostgresDialect(Dialect):
    """PostgreSQL 12+."""

    name: ClassVar[str] = "postgresql"
    max_identifier_length: ClassVar[int] = 63

    def decoder(self, field: Field) -> Callable[[Any], Any] | None:
        if field.kind is FieldKind.UUID:
            return _to_uuid
        return super().decoder(field)

    def in_sql(self, node: In, params: Params) -> str:
        if node.field.kind is FieldKind.JSON or not node.values:
            return super().in_sql(node, params)
        col = self.column(node.field)
        values = [self.encode(node.field, v) for v in node.values]
        core = f"{col} = ANY({params.add(values)})"
        return self._in_with_nulls(col, core, node)

    def regex_sql(self, col: str, pattern: str, options: str, params: Params) -> str:
        # MongoDB (PCRE) defaults: '.' excludes newline, ^/$ anchor the whole string.
        # PostgreSQL's embedded options reproduce each combination of m and s exactly.
        multiline, dotall = "m" in options, "s" in options
        flags = {(False, False): "p", (True, False): "n", (False, True): "s", (True, True): "w"}[
            (multiline, dotall)
        ]
        if "x" in options:
            flags += "x"
        if "i" in options:
            flags += "i"
        return f"{col} ~ {params.add(f'(?{flags}){pattern}')}"
