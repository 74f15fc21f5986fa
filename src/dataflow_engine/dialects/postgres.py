"""PostgreSQL: native types through asyncpg; ``$n`` placeholders; 63-byte identifiers."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from ..errors import UnsupportedError, ValidationError
from ..models import Field, FieldKind
from ..query import In
from ..query._filter import ascii_classes, pcre_caret, replace_outside_brackets
from ._base import Dialect, Params

__all__ = ["PostgresDialect"]


def to_are(pattern: str, multiline: bool = False) -> str:
    """Rewrite the Python/PCRE spellings PostgreSQL's ARE reads differently.

    ``\\d \\w \\s \\b`` become explicit ASCII classes (PostgreSQL's own follow the
    locale); outside multiline mode ``$`` also matches before a final newline, as in PCRE.
    Named groups, which ARE lacks, raise ``UnsupportedError``.
    """
    if "(?P" in pattern or re.search(r"\(\?<(?![=!])", pattern):
        raise UnsupportedError(
            "$regex: named groups are not available on postgresql",
            details={"dialect": "postgresql", "operator": "$regex"},
        )
    pattern = ascii_classes(pattern)
    if multiline:
        return pattern
    # PCRE's $ also matches before a final newline.
    return replace_outside_brackets(pattern, "$", "(?=\\n?$)")


_SENTINELS = {dt.date.min, dt.date.max, dt.datetime.min, dt.datetime.max}


def _finite(value: Any) -> Any:
    """asyncpg writes the extreme dates as PostgreSQL's -infinity/infinity, which would
    read back as something else: refuse them."""
    plain = value.replace(tzinfo=None) if isinstance(value, dt.datetime) else value
    if plain in _SENTINELS:
        raise ValidationError(
            f"{value!r} is the smallest or largest date Python has; PostgreSQL would store "
            "it as -infinity/infinity. Use a date inside the range",
            code="DF-PARAM-RANGE",
            details={"dialect": "postgresql"},
        )
    return value


def _to_uuid(value: Any) -> uuid.UUID:
    return value if type(value) is uuid.UUID else uuid.UUID(bytes=value.bytes)


class PostgresDialect(Dialect):
    """PostgreSQL 12+."""

    name: ClassVar[str] = "postgresql"
    max_identifier_length: ClassVar[int] = 63

    def encoder(self, field: Field) -> Callable[[Any], Any] | None:
        if field.kind in (FieldKind.DATETIME, FieldKind.DATE):
            return _finite
        return super().encoder(field)

    def decoder(self, field: Field) -> Callable[[Any], Any] | None:
        if field.kind is FieldKind.UUID:
            return _to_uuid
        return super().decoder(field)

    def compare_sql(self, field: Field, col: str, op: str, placeholder: str) -> str:
        if op != "=" and field.kind in (FieldKind.STR, FieldKind.ENUM):
            # Text order follows the database's locale (en_US puts 'a' before 'B');
            # MongoDB, SQLite and MySQL here order by code point, so this does too.
            # Equality needs no collation: every deterministic collation agrees on it.
            return f'{col} COLLATE "C" {op} {placeholder}'
        return f"{col} {op} {placeholder}"

    def order_column_sql(self, field: Field, col: str) -> str:
        if field.kind in (FieldKind.STR, FieldKind.ENUM):
            return f'{col} COLLATE "C"'
        return col

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
        translated = to_are(pattern, multiline)
        if multiline:
            translated = pcre_caret(translated)
        return f"{col} ~ {params.add(f'(?{flags}){translated}')}"
