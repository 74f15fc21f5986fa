"""What the data commands share: exit codes, error reporting, opening a database, finding
the model of a table, and JSON values.

Every failure a user can cause ends as one line on standard error, ``Error: [CODE]
message``, and an exit code from :data:`EXIT_CODES`; never a traceback.
"""

from __future__ import annotations

import base64
import datetime as dt
import difflib
import enum
import json
import math
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from dataflow_engine import DataFlow, DataFlowError
    from dataflow_engine.models import ModelDef

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_BROKEN_PIPE",
    "EXIT_CODES",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "CommandFailed",
    "DatabaseUnreachable",
    "failure",
    "json_line",
    "json_value",
    "make_console",
    "open_database",
    "password_of",
    "reporting_errors",
    "resolve_model",
    "show_progress",
    "split_names",
]

EXIT_OK = 0
#: The input or the request is wrong: bad rows, an unknown table or field, a bad filter,
#: a constraint the database enforced, a read-only table.
EXIT_BAD_INPUT = 1
#: Usage: an unknown option, a missing argument, a malformed URL (click's own code).
EXIT_USAGE = 2
#: The database cannot be reached: down, refused the credentials, no such database, the
#: driver is not installed, or the connection was lost.
EXIT_UNREACHABLE = 3
#: ``import --on-error skip`` imported the valid rows and skipped some bad ones.
EXIT_PARTIAL = 4
#: Interrupted (Ctrl-C); whatever was in progress was rolled back.
EXIT_INTERRUPTED = 130
#: The reader of standard output went away (128 + SIGPIPE, as a shell reports it).
EXIT_BROKEN_PIPE = 141

EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_BAD_INPUT: "bad input or data (nothing was written unless the command says so)",
    EXIT_USAGE: "usage error (unknown option, missing argument, malformed URL)",
    EXIT_UNREACHABLE: "the database cannot be reached (down, credentials, unknown database)",
    EXIT_PARTIAL: "import --on-error skip: the valid rows were imported, bad rows skipped",
    EXIT_INTERRUPTED: "interrupted",
    EXIT_BROKEN_PIPE: "the reader of standard output went away (e.g. | head)",
}

_UNREACHABLE = ("DF-DB-CONNECT", "DF-DB-AUTH", "DF-DB-UNKNOWN-DATABASE", "DF-DB-CONNECTION-LOST")


class CommandFailed(click.ClickException):
    """A failure reported as one line, ``Error: [CODE] message``; exit code 1."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, code: str, message: str) -> None:
        one_line = " ".join(part.strip() for part in message.splitlines() if part.strip())
        super().__init__(f"[{code}] {one_line}")
        self.code = code
        self.reason = one_line


class DatabaseUnreachable(CommandFailed):
    """The database cannot be reached; exit code 3."""

    exit_code = EXIT_UNREACHABLE


def failure(exc: DataFlowError, secret: str | None = None) -> CommandFailed:
    """The one-line report of an engine error: the cause of a failed node, the only
    problem of an invalid workflow, the URL's password never shown."""
    from dataflow_engine import (
        ConnectionLost,
        DatabaseError,
        DataFlowError,
        WorkflowError,
        WorkflowValidationError,
    )
    from dataflow_engine.errors import ConnectError, DriverMissingError

    cause: DataFlowError = exc
    while isinstance(cause, WorkflowError) and isinstance(cause.cause, DataFlowError):
        cause = cause.cause
    code, message = cause.code, cause.message
    if isinstance(cause, WorkflowValidationError) and cause.diagnostics:
        first = cause.diagnostics[0]
        code, message = first.code, _without_node_type(first.message)
        if len(cause.diagnostics) > 1:
            rest = "; ".join(
                f"[{d.code}] {_without_node_type(d.message)}" for d in cause.diagnostics[1:4]
            )
            more = len(cause.diagnostics) - 4
            message += f"; also {rest}" + (f" and {more} more" if more > 0 else "")
    unreachable = isinstance(cause, ConnectError | ConnectionLost | DriverMissingError) or (
        isinstance(cause, DatabaseError) and cause.code in _UNREACHABLE
    )
    kind = DatabaseUnreachable if unreachable else CommandFailed
    return kind(code, _scrub(message, secret))


def _without_node_type(message: str) -> str:
    """``UserListNode: field 'x' ...`` -> ``field 'x' ...`` (the command names the table)."""
    head, sep, rest = message.partition(": ")
    return rest if sep and head.endswith("Node") and " " not in head else message


def _scrub(text: str, secret: str | None) -> str:
    if secret and len(secret) >= 3:
        return text.replace(secret, "***")
    return text


@contextmanager
def reporting_errors(url: str | None = None) -> Iterator[None]:
    """Turn engine errors, file errors and Ctrl-C into one-line failures with their exit
    codes; the URL's password is scrubbed from every message."""
    from dataflow_engine import DataFlowError

    secret = password_of(url)
    try:
        yield
    except DataFlowError as exc:
        raise failure(exc, secret) from None
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        raise SystemExit(EXIT_INTERRUPTED) from None
    except BrokenPipeError:
        # The reader of standard output went away (``| head``): stop quietly, as
        # command-line tools do, and keep Python from complaining at exit.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(EXIT_BROKEN_PIPE) from None
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        raise CommandFailed("DF-CLI-FILE", f"{where}{exc.strerror or exc}") from None


def password_of(url: str | None) -> str | None:
    """The password of a URL (to scrub from messages), if it has one."""
    if not url:
        return None
    from dataflow_engine import DataFlowError
    from dataflow_engine.config import parse_url

    try:
        return parse_url(url).password
    except DataFlowError:
        return None


def open_database(url: str, *, read_only: bool) -> DataFlow:
    """A DataFlow over an existing database that never runs DDL (and refuses writes when
    ``read_only``). A malformed URL is a usage error; a SQLite file that does not exist is
    refused rather than created."""
    from dataflow_engine import DataFlow, DataFlowError
    from dataflow_engine.config import parse_url

    try:
        parsed = parse_url(url)
    except DataFlowError as exc:
        raise click.BadParameter(f"[{exc.code}] {exc.message}", param_hint="URL") from None
    if parsed.dialect == "sqlite":
        if parsed.is_memory:
            raise click.BadParameter(
                "an in-memory SQLite database is empty in a new process; name a file, "
                "e.g. sqlite:///app.db",
                param_hint="URL",
            )
        path = Path(parsed.database or "")
        if not path.is_file():
            raise DatabaseUnreachable(
                "DF-DB-CONNECT",
                f"no SQLite database file at {str(path)!r}; check the path (sqlite:///relative.db "
                "or sqlite:////absolute/path.db)",
            )
    return DataFlow(url, existing_schema_mode=True, read_only=read_only)


def split_names(text: str | None) -> list[str] | None:
    """``"a, b,c"`` -> ``["a", "b", "c"]``; None or blank -> None."""
    if text is None:
        return None
    names = [part.strip() for part in text.split(",") if part.strip()]
    return names or None


def resolve_model(db: DataFlow, name: str) -> ModelDef:
    """The model of a table (registered on the fly: in memory, never DDL), or a model of
    the database's model registry by name.

    Raises:
        SchemaError: ``DF-SCHEMA-TABLE-MISSING`` with the closest table and model names.
    """
    from dataflow_engine import ModelError, SchemaError

    for existing in db.list_models():
        model = db.get_model(existing)
        if model.table_name == name and not model.managed:
            return model
    result = db.register_schema_as_models(tables=[name])
    if result["registered_models"]:
        model = db.get_model(result["registered_models"][0])
        skipped = result["skipped_columns"].get(model.name)
        if skipped:
            left_out = ", ".join(f"{c['column']} ({c['type']})" for c in skipped)
            click.echo(
                f"note: {name}: column(s) {left_out} left out: no DataFlow type holds them exactly",
                err=True,
            )
        return model
    error = result["errors"][0] if result["errors"] else None
    if error is not None and error["code"] != "DF-SCHEMA-TABLE-MISSING":
        raise ModelError(error["message"], code=error["code"], details={"table": name})
    models = db.reconstruct_models_from_registry()
    if name in models:
        return db.get_model(name)
    known = list(db.discover_schema()) + models
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    if not close:
        close = [k for k in known if k.lower() == name.lower()]
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise SchemaError(
        f"no table, view or model named {name!r}{hint} (dataflow discover lists them)",
        code="DF-SCHEMA-TABLE-MISSING",
        details={"table": name, "suggestions": close},
    )


def json_value(value: Any) -> Any:
    """A value as exact JSON: Decimal, UUID and date/times as strings (ISO 8601), bytes as
    ``{"base64": ...}``, enums by value, JSON columns as they are, infinities and NaN as
    the strings ``"Infinity"``, ``"-Infinity"`` and ``"NaN"``."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, enum.Enum):
        return json_value(value.value)
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return str(value)


def json_line(record: Mapping[str, Any]) -> str:
    """One record as one line of JSON (non-ASCII kept as is)."""
    return json.dumps(
        {k: json_value(v) for k, v in record.items()}, ensure_ascii=False, allow_nan=False
    )


def make_console() -> Any:
    """A rich console on standard output; when that is not a terminal, tables are not
    squeezed to 80 columns (each record stays on one line)."""
    from rich.console import Console

    return Console(soft_wrap=False, width=None if sys.stdout.isatty() else 4000)


def show_progress(quiet: bool) -> bool:
    """Progress bars go to standard error, and only to a terminal."""
    return not quiet and sys.stderr.isatty()
