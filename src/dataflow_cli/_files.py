"""Reading and writing CSV and JSON-lines files a line at a time, with line numbers.

Files are UTF-8 (a byte-order mark is skipped). A line that is not UTF-8, a CSV record
whose quoting is broken or whose field count differs from the header, and a JSON line
that is not an object are reported with their line number; reading goes on after them.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

__all__ = ["Lines", "RawRow", "csv_line", "read_csv", "read_jsonl"]

# A cell may hold a big JSON document or blob; the csv module's default cap is 128 KiB.
csv.field_size_limit(256 * 1024 * 1024)


@dataclass
class RawRow:
    """One record of a file: where it starts, its cells (CSV) or object (JSON lines), or
    why it could not be read."""

    line: int
    cells: list[str] | None = None
    quoted_empty: frozenset[int] = frozenset()
    obj: dict[str, Any] | None = None
    problem: str | None = None


class Lines:
    """The lines of a binary stream, decoded one at a time, so that a byte that is not
    UTF-8 is pinned to its line. Counts lines and bytes read."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.line = 0
        self.bytes_read = 0
        self.undecodable: dict[int, str] = {}
        self.consumed: list[str] = []

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        data = self.stream.readline()
        if not data:
            raise StopIteration
        self.line += 1
        self.bytes_read += len(data)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.undecodable[self.line] = (
                f"not UTF-8 text (byte 0x{data[exc.start]:02x} at column {exc.start + 1})"
            )
            text = data.decode("utf-8", "replace")
        if self.line == 1 and text.startswith("\ufeff"):
            text = text[1:]
        self.consumed.append(text)
        return text

    def decode_problem(self, first: int, last: int) -> str | None:
        """Why a line of ``first..last`` could not be decoded, if one could not."""
        if not self.undecodable:
            return None
        for n in range(first, last + 1):
            reason = self.undecodable.pop(n, None)
            if reason is not None:
                return reason if n == first else f"line {n}: {reason}"
        return None


_FIELD = re.compile(r'"(?:[^"]|"")*"|[^,"\r\n]*')
# A "" cell between separators (or an escaped quote that looks like one, rarely).
_MAYBE_QUOTED_EMPTY = re.compile(r'(?:^|,)""(?:,|\r|\n|$)')


def _quoted_empty(text: str) -> frozenset[int]:
    """The positions of the ``""`` cells of one CSV record (the csv module reads them as
    empty strings, as it does unquoted empty cells)."""
    found = set()
    text = text.rstrip("\r\n")
    pos = index = 0
    while True:
        match = _FIELD.match(text, pos)
        if match is None:  # pragma: no cover - the pattern matches the empty string
            break
        if match.group() == '""':
            found.add(index)
        pos = match.end()
        if pos < len(text) and text[pos] == ",":
            pos += 1
            index += 1
            continue
        break
    return frozenset(found)


def read_csv(lines: Lines) -> tuple[RawRow | None, Iterator[RawRow]]:
    """The header record (None for an empty file) and an iterator over the records."""
    reader = csv.reader(lines, strict=True)

    def records() -> Iterator[RawRow]:
        while True:
            lines.consumed.clear()
            start = lines.line + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                problem = f"malformed CSV: {exc}"
                if "unexpected end of data" in str(exc):
                    problem += " (a quoted cell is never closed)"
                yield RawRow(start, problem=problem)
                continue
            if not cells:
                continue  # a blank line
            decode = lines.decode_problem(start, lines.line)
            if decode is not None:
                yield RawRow(start, problem=decode)
                continue
            quoted: frozenset[int] = frozenset()
            if "" in cells:
                text = "".join(lines.consumed)
                if _MAYBE_QUOTED_EMPTY.search(text):
                    quoted = _quoted_empty(text)
            yield RawRow(start, cells=cells, quoted_empty=quoted)

    rows = records()
    for first in rows:
        return first, rows
    return None, rows


def read_jsonl(lines: Lines) -> Iterator[RawRow]:
    """One JSON object per line; blank lines are skipped. Numbers with a fraction are read
    as exact decimals."""
    for text in lines:
        line = lines.line
        lines.consumed.clear()
        if not text.strip():
            continue
        decode = lines.decode_problem(line, line)
        if decode is not None:
            yield RawRow(line, problem=decode)
            continue
        try:
            obj = json.loads(text, parse_float=Decimal)
        except ValueError as exc:
            yield RawRow(line, problem=f"not valid JSON: {exc}")
            continue
        if not isinstance(obj, dict):
            yield RawRow(line, problem=f"a JSON object was expected, got {type(obj).__name__}")
            continue
        yield RawRow(line, obj=obj)


_NEEDS_QUOTES = re.compile(r'[,"\r\n]|^\s|\s$')


def csv_line(cells: list[str | None]) -> str:
    """One CSV record: None is an empty unquoted cell (NULL), the empty string ``""``;
    cells holding a comma, a quote, a line break or edge spaces are quoted."""
    out = []
    for cell in cells:
        if cell is None:
            out.append("")
        elif cell == "":
            out.append('""')
        elif _NEEDS_QUOTES.search(cell):
            out.append('"' + cell.replace('"', '""') + '"')
        else:
            out.append(cell)
    return ",".join(out) + "\r\n"
