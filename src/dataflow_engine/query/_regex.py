"""Regular expressions in filters: validation, and the rewrites that make Python's,
PostgreSQL's and MySQL's engines read a pattern the way MongoDB's PCRE does."""

from __future__ import annotations

import re
from typing import Any

from ..errors import FilterError, UnsupportedError

__all__ = [
    "PCRE_MULTILINE_CARET",
    "ascii_classes",
    "check_regex",
    "pcre_caret",
    "replace_outside_brackets",
    "unportable",
]

_WORD = "a-zA-Z0-9_"
_SPACE = " \\t\\n\\r\\f\\v"
_CLASSES = {
    "d": ("0-9", False),
    "D": ("0-9", True),
    "w": (_WORD, False),
    "W": (_WORD, True),
    "s": (_SPACE, False),
    "S": (_SPACE, True),
}


def ascii_classes(pattern: str) -> str:
    """Spell ``\\d \\w \\s`` (and their negations, and ``\\b \\B``) as ASCII classes.

    MongoDB's PCRE reads these classes as ASCII while folding case for every letter under
    ``i``; Python's ``re`` can do only one of the two with a flag, so the classes are
    written out and case folding is left Unicode-wide.
    """
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if nxt in _CLASSES:
                body, negated = _CLASSES[nxt]
                if in_class and negated:
                    raise UnsupportedError(
                        f"$regex: \\{nxt} inside brackets is not available",
                        details={"operator": "$regex"},
                    )
                out.append(body if in_class else f"[{'^' if negated else ''}{body}]")
            elif nxt in "bB" and not in_class:
                edge = f"(?:(?<![{_WORD}])(?=[{_WORD}])|(?<=[{_WORD}])(?![{_WORD}]))"
                out.append(edge if nxt == "b" else f"(?!{edge})")
            else:
                out.append(ch + nxt)
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
            out.append(ch)
            if pattern[i + 1 : i + 2] == "^":
                out.append("^")
                i += 1
            if pattern[i + 1 : i + 2] == "]":
                out.append("]")
                i += 1
        elif ch == "]" and in_class:
            in_class = False
            out.append(ch)
        else:
            out.append(ch)
        i += 1
    return "".join(out)


#: PCRE's multiline ``^``: the start, or just after a newline that does not end the text.
PCRE_MULTILINE_CARET = "(?:\\A|(?<=\\n)(?!\\Z))"


def replace_outside_brackets(pattern: str, char: str, replacement: str) -> str:
    """Replace each unescaped ``char`` outside ``[...]`` in a regular expression."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
            out.append(ch)
        elif ch == "[":
            in_class = True
            out.append(ch)
            for lead in ("^", "]"):  # a leading ']' is literal
                if pattern[i + 1 : i + 2] == lead:
                    out.append(lead)
                    i += 1
        else:
            out.append(replacement if ch == char else ch)
        i += 1
    return "".join(out)


def pcre_caret(pattern: str) -> str:
    """Rewrite unescaped ``^`` (outside brackets) as PCRE's multiline ``^``: Python and
    PostgreSQL also match after a final newline, PCRE (MongoDB, MariaDB) does not."""
    return replace_outside_brackets(pattern, "^", PCRE_MULTILINE_CARET)


def unportable(pattern: str) -> str | None:
    """The first construct PostgreSQL, SQLite (Python) and MySQL would read differently:
    inline flags, named or atomic groups, possessive quantifiers, named characters."""
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            nxt = pattern[i + 1 : i + 2]
            if nxt in ("N", "u", "U", "Z", "z") or pattern[i + 1 : i + 3] == "x{":
                # \Z: PCRE also matches before a final newline; \u, \N{} and \x{}: not
                # in every engine. Use $, or the character itself.
                return "\\" + nxt
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if pattern[i + 1 : i + 3] == "[:":
                return "[[:...:]]"  # POSIX classes: literal brackets in Python
            if pattern[i + 1 : i + 2] == "]":
                i += 1
        elif ch == "(" and pattern[i + 1 : i + 2] == "?":
            rest = pattern[i + 2 : i + 4]
            if not (rest[:1] in (":", "=", "!") or rest in ("<=", "<!")):
                return pattern[i : i + 4]
        elif ch in "*+?}" and pattern[i + 1 : i + 2] == "+":
            return pattern[i : i + 2]
        i += 1
    return None


def check_regex(operand: Any, options: Any, path: str) -> tuple[str, str]:
    """Validate a ``$regex`` operand (a string or a compiled ``re.Pattern``) and its
    ``$options``; return the pattern and the sorted option letters."""
    if isinstance(operand, re.Pattern):
        flags = ""
        if operand.flags & re.IGNORECASE:
            flags += "i"
        if operand.flags & re.MULTILINE:
            flags += "m"
        if operand.flags & re.DOTALL:
            flags += "s"
        if operand.flags & re.VERBOSE:
            flags += "x"
        operand, options = operand.pattern, (options or "") + flags
    if not isinstance(operand, str):
        raise FilterError(
            f"{path}: $regex takes a string pattern",
            code="DF-FILTER-TYPE",
            details={"operator": "$regex"},
        )
    options = options or ""
    if not isinstance(options, str) or set(options) - set("imsx"):
        raise FilterError(
            f"{path}: $options must be a combination of i, m, s and x, got {options!r}",
            code="DF-FILTER-REGEX",
            details={"operator": "$options"},
        )
    construct = unportable(operand)
    if construct:
        raise UnsupportedError(
            f"{path}: $regex construct {construct!r} does not mean the same on every "
            "database; use $options for flags, and plain groups",
            details={"operator": "$regex", "construct": construct},
        )
    try:
        re.compile(operand)
    except re.error as exc:
        raise FilterError(
            f"{path}: invalid regular expression {operand!r}: {exc}",
            code="DF-FILTER-REGEX",
            details={"operator": "$regex"},
        ) from None
    return operand, "".join(sorted(set(options)))
