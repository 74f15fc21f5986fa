"""``dataflow export``: a table's records to a CSV or JSON-lines file, streamed.

Records are read with keyset pagination and written as they come; the file appears
under its name only once complete (a failed export leaves no half-written file). What
export writes, import reads back to identical rows (see ``_values`` for the encoding).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from ._common import (
    json_line,
    open_database,
    reporting_errors,
    resolve_model,
    show_progress,
)
from ._import import file_format

if TYPE_CHECKING:
    from dataflow_engine import DataFlow
    from dataflow_engine.models import ModelDef

__all__ = ["export_command"]


@click.command("export")
@click.argument("url")
@click.argument("table")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=str))
@click.option(
    "--filter",
    "filter_text",
    metavar="JSON",
    help="export only the records this filter document matches",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl"]),
    help="the file's format (default: from its extension; csv for '-')",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100_000),
    default=1000,
    show_default=True,
    envvar="DATAFLOW_EXPORT_BATCH_SIZE",
    show_envvar=True,
    help="records read per query",
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    envvar="DATAFLOW_QUIET",
    show_envvar=True,
    help="no progress bar and no summary",
)
def export_command(
    url: str,
    table: str,
    file: str,
    filter_text: str | None,
    fmt: str | None,
    batch_size: int,
    quiet: bool,
) -> None:
    """Export the records of TABLE in the database at URL to FILE ('-' is standard
    output), read-only. CSV has a header row of column names; NULL is an empty cell and
    the empty string is "". `dataflow import` reads the file back to identical rows."""
    from ._records import Pages, parse_filter_option

    kind = file_format(file, fmt or ("csv" if file == "-" else None))
    started = time.monotonic()
    with reporting_errors(url):
        where = parse_filter_option(filter_text)
        with open_database(url, read_only=True) as db:
            model = resolve_model(db, table)
            pages = Pages(db, model, filter=where, page=batch_size)
            total = _count(db, model, where) if show_progress(quiet) else 0
            with _target(file) as out, _bar(quiet, table, total) as advance:
                written = _write(out, kind, model, pages, advance)
    if not quiet:
        seconds = time.monotonic() - started
        target = "standard output" if file == "-" else file
        click.echo(
            f"exported {written:,} record{'s' if written != 1 else ''} of {table} to "
            f"{target} ({seconds:.1f}s)",
            err=True,
        )


def _count(db: DataFlow, model: ModelDef, where: dict[str, Any] | None) -> int:
    from dataflow_engine import LocalRuntime, WorkflowBuilder

    wf = WorkflowBuilder()
    wf.add_node(model.node_names["Count"], "count", {"filter": where})
    results, _ = LocalRuntime(dataflow=db).execute(wf.build(db))
    return int(results["count"]["count"])


def _write(out: IO[str], kind: str, model: ModelDef, records: Any, advance: Any) -> int:
    from ._files import csv_line
    from ._values import to_text

    fields = list(model.fields.values())
    written = 0
    if kind == "csv":
        out.write(csv_line([f.column for f in fields]))
        names = [f.name for f in fields]
        for record in records:
            out.write(csv_line([to_text(record[name]) for name in names]))
            written += 1
            if written % 1000 == 0:
                advance(1000)
    else:
        renamed = [(f.name, f.column) for f in fields]
        for record in records:
            out.write(json_line({column: record[name] for name, column in renamed}) + "\n")
            written += 1
            if written % 1000 == 0:
                advance(1000)
    return written


@contextmanager
def _target(file: str) -> Iterator[IO[str]]:
    """Standard output, or a temporary file beside FILE renamed to it once complete."""
    if file == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    path = Path(file)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        try:
            out = partial.open("w", encoding="utf-8", newline="")
        except OSError as exc:  # named by the file asked for, not the temporary one
            raise OSError(exc.errno, exc.strerror, file) from None
        with out:
            yield out
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


@contextmanager
def _bar(quiet: bool, table: str, total: int) -> Iterator[Any]:
    if not show_progress(quiet):
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(f"exporting {table}", total=total or None)
        yield lambda n: bar.advance(task, n)
