"""``dataflow import``: a CSV or JSON-lines file into an existing table.

The file is read a batch at a time (memory stays bounded whatever its size) and written
with the table's BulkCreate node, one multi-row statement (or COPY) per batch.

By default (``--on-error abort``) every row is checked first; if any is bad, all of them
are reported and nothing is written. Otherwise the rows are inserted in ONE transaction,
so a row the database refuses (a duplicate key, a foreign key) leaves the table as it
was. With ``--on-error skip`` each batch is committed on its own, bad rows are reported
and left out, and a batch the database refuses is retried row by row to find them.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ._common import (
    EXIT_PARTIAL,
    CommandFailed,
    failure,
    open_database,
    password_of,
    reporting_errors,
    resolve_model,
    show_progress,
)

if TYPE_CHECKING:
    from dataflow_engine import DataFlow, Workflow
    from dataflow_engine.models import Field, ModelDef

    from ._files import Lines, RawRow

__all__ = ["import_command"]

_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
#: Where the database refuses a row for its data, not for being unreachable.
_ROW_CODES = frozenset({"DF-DB-DATA"})

Record = dict[str, Any]
Batch = list[tuple[int, Record]]
#: A CSV column read into a field: position, field name, field, text converter.
_Column = tuple[int, str, "Field", "Callable[[str], Any] | None"]


def file_format(path: str, given: str | None) -> str:
    """``--format``, else the file's extension."""
    if given:
        return given
    found = _FORMATS.get(Path(path).suffix.lower()) if path != "-" else None
    if found is None:
        where = "standard input" if path == "-" else repr(path)
        raise click.UsageError(
            f"cannot tell the format of {where} from its name; pass --format csv or --format jsonl"
        )
    return found


@click.command("import")
@click.argument("url")
@click.argument("table")
@click.argument(
    "file", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=str)
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl"]),
    help="the file's format (default: from its extension: .csv, .jsonl or .ndjson; csv for '-')",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100_000),
    default=1000,
    show_default=True,
    envvar="DATAFLOW_IMPORT_BATCH_SIZE",
    show_envvar=True,
    help="rows per insert statement (and in memory at a time)",
)
@click.option(
    "--on-error",
    type=click.Choice(["abort", "skip"]),
    default="abort",
    show_default=True,
    envvar="DATAFLOW_IMPORT_ON_ERROR",
    show_envvar=True,
    help="abort: write nothing if any row is bad; skip: import the good rows, report the bad",
)
@click.option(
    "--on-conflict",
    type=click.Choice(["error", "ignore"]),
    default="error",
    show_default=True,
    envvar="DATAFLOW_IMPORT_ON_CONFLICT",
    show_envvar=True,
    help="a row whose key already exists: an error, or skipped",
)
@click.option(
    "--ignore-generated",
    is_flag=True,
    help="leave out the file's auto-increment keys: the database numbers the rows anew",
)
@click.option(
    "--max-errors",
    type=click.IntRange(1),
    default=100,
    show_default=True,
    help="report at most this many bad rows (all are counted)",
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    envvar="DATAFLOW_QUIET",
    show_envvar=True,
    help="no progress bar and no summary",
)
def import_command(
    url: str,
    table: str,
    file: str,
    fmt: str | None,
    batch_size: int,
    on_error: str,
    on_conflict: str,
    ignore_generated: bool,
    max_errors: int,
    quiet: bool,
) -> None:
    """Import FILE (CSV with a header row, or JSON lines; '-' is standard input) into
    TABLE of the database at URL.

    CSV: an empty cell is NULL (in a NOT NULL column: the column's default, or '' for
    text), "" is the empty string; booleans true/false, yes/no, 1/0; dates and times in
    ISO 8601; bytes in base64; JSON columns as JSON text.
    """
    kind = file_format(file, fmt or ("csv" if file == "-" else None))
    started = time.monotonic()
    with reporting_errors(url), ExitStack() as stack:
        path = stack.enter_context(_readable(file))
        db = stack.enter_context(open_database(url, read_only=False))
        model = resolve_model(db, table)
        if model.read_only:
            from dataflow_engine import ReadOnlyError

            raise ReadOnlyError(
                f"{table!r} cannot be imported into: {model.read_only_reason or 'read-only'}",
                details={"table": table},
            )
        importer = _Importer(
            db, model, kind, batch_size, on_conflict, ignore_generated, max_errors, quiet
        )
        if on_error == "abort":
            importer.check_all(path)
            if importer.bad_count:
                importer.report_bad()
                good = importer.good_count
                raise CommandFailed(
                    "DF-IMPORT-BAD-ROWS",
                    f"{importer.bad_count:,} of {importer.bad_count + good:,} rows are invalid; "
                    f"nothing was written (--on-error skip imports the {good:,} valid rows)",
                )
            inserted = importer.insert_all(path)
        else:
            from dataflow_engine import DataFlowError

            try:
                inserted = importer.insert_good(path)
            except DataFlowError as exc:
                importer.report_bad()
                reported = failure(exc, password_of(url))
                raise type(reported)(
                    reported.code,
                    f"{reported.reason}; {importer.inserted:,} rows had been imported before "
                    "(--on-error skip commits each batch)",
                ) from None
            importer.report_bad()
    if not quiet:
        seconds = time.monotonic() - started
        summary = f"imported {inserted:,} row{'s' if inserted != 1 else ''} into {table}"
        duplicates = importer.good_count - inserted
        if on_conflict == "ignore" and duplicates > 0:
            summary += f"; {duplicates:,} already present, skipped"
        if importer.bad_count:
            summary += f"; {importer.bad_count:,} bad row(s) skipped"
        if importer.left_out:
            columns = ", ".join(model.fields[n].column for n in importer.left_out)
            summary += f"; computed by the database, not imported: {columns}"
        click.echo(f"{summary} ({seconds:.1f}s)")
    if importer.bad_count:
        raise SystemExit(EXIT_PARTIAL)


@contextmanager
def _readable(file: str) -> Iterator[Path]:
    """The file's path; standard input is spooled to a temporary file first (it is read
    twice: checked, then written)."""
    if file != "-":
        yield Path(file)
        return
    with tempfile.TemporaryDirectory(prefix="dataflow-import-") as folder:
        spooled = Path(folder) / "stdin"
        with spooled.open("wb") as out:
            shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
        yield spooled


class _Importer:
    """Reads, checks and writes the rows of one file into one model's table."""

    def __init__(
        self,
        db: DataFlow,
        model: ModelDef,
        kind: str,
        batch_size: int,
        on_conflict: str,
        ignore_generated: bool,
        max_errors: int,
        quiet: bool,
    ) -> None:
        self.db = db
        self.model = model
        self.kind = kind
        self.batch_size = batch_size
        self.on_conflict = on_conflict
        self.ignore_generated = ignore_generated
        self.max_errors = max_errors
        self.progress = show_progress(quiet)
        self.node = model.node_names["BulkCreate"]
        self.by_name: dict[str, Field] = {}
        for f in model.fields.values():
            self.by_name[f.column] = f
        for f in model.fields.values():
            self.by_name.setdefault(f.name, f)
        self.bad: list[tuple[int, str]] = []
        #: Columns of the file the database computes (their values are not imported).
        self.left_out: list[str] = []
        self.bad_count = 0
        self.good_count = 0
        self.inserted = 0

    # -- reading ------------------------------------------------------------------------

    def reject(self, line: int, reason: str) -> None:
        self.bad_count += 1
        if len(self.bad) < self.max_errors:
            self.bad.append((line, reason))

    def report_bad(self) -> None:
        for line, reason in sorted(self.bad):
            click.echo(f"line {line}: {reason}", err=True)
        hidden = self.bad_count - len(self.bad)
        if hidden > 0:
            click.echo(f"... and {hidden:,} more bad row(s) (--max-errors)", err=True)

    def records(self, lines: Lines) -> Iterator[tuple[int, Record]]:
        """The rows of the file as records of field values; rows that cannot be read or
        converted are rejected with their line number."""
        from ._files import read_csv, read_jsonl

        if self.kind == "jsonl":
            for raw in read_jsonl(lines):
                record = self._from_object(raw)
                if record is not None:
                    yield raw.line, record
            return
        header, rows = read_csv(lines)
        if header is None:
            raise CommandFailed("DF-IMPORT-HEADER", "the file is empty: no header row")
        if header.cells is None:
            raise CommandFailed("DF-IMPORT-HEADER", f"line {header.line}: {header.problem}")
        from ._values import text_converter

        fields = self._header(header.cells)
        plan = [(i, f.name, f, text_converter(f)) for i, f in enumerate(fields) if f is not None]
        width = len(header.cells)
        for raw in rows:
            if raw.cells is None:
                self.reject(raw.line, f"[DF-IMPORT-FORMAT] {raw.problem}")
                continue
            if len(raw.cells) != width:
                self.reject(
                    raw.line,
                    f"[DF-IMPORT-FORMAT] {len(raw.cells)} cells, but the header has {width}",
                )
                continue
            record = self._from_cells(raw, plan)
            if record is not None:
                yield raw.line, record

    def _written(self, f: Field) -> bool:
        """Whether the file's values of ``f`` are imported: not for a column the database
        computes, nor (with --ignore-generated) for an auto-increment column."""
        if f.identity:
            return not self.ignore_generated
        if f.auto:
            if f.name not in self.left_out:
                self.left_out.append(f.name)
            return False
        return True

    def _header(self, names: list[str]) -> list[Field | None]:
        """The field of each header cell (None for a column left to the database); every
        problem with the header at once."""
        problems: list[str] = []
        fields: list[Field | None] = []
        seen: set[str] = set()
        for name in names:
            f = self.by_name.get(name)
            if f is None:
                import difflib

                close = difflib.get_close_matches(name, list(self.by_name), n=2)
                hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
                problems.append(f"unknown column {name!r}{hint}")
                fields.append(None)
                continue
            if f.name in seen:
                problems.append(f"column {name!r} appears twice")
            seen.add(f.name)
            fields.append(f if self._written(f) else None)
        for f in self.model.fields.values():
            if f.required and f.name not in seen:
                problems.append(f"required column {f.column!r} (NOT NULL, no default) is missing")
        if problems:
            columns = ", ".join(
                f.column for f in self.model.fields.values() if not f.auto or f.identity
            )
            raise CommandFailed(
                "DF-IMPORT-HEADER",
                f"the header does not fit table {self.model.table_name!r}: "
                + "; ".join(problems)
                + f". Its columns: {columns}",
            )
        return fields

    def _from_cells(self, raw: RawRow, plan: list[_Column]) -> Record | None:
        from ._values import OMIT, BadValue, empty_value

        record: Record = {}
        problems = None
        cells = raw.cells
        assert cells is not None
        for i, name, field, convert in plan:
            cell = cells[i]
            try:
                if cell:
                    record[name] = cell if convert is None else convert(cell)
                else:
                    value = empty_value(field, i in raw.quoted_empty)
                    if value is not OMIT:
                        record[name] = value
            except BadValue as exc:
                problems = problems or []
                problems.append(f"column {field.column!r}: {exc}")
        if problems:
            self.reject(raw.line, "[DF-IMPORT-VALUE] " + "; ".join(problems))
            return None
        return record

    def _from_object(self, raw: RawRow) -> Record | None:
        from ._values import BadValue, from_json

        if raw.obj is None:
            self.reject(raw.line, f"[DF-IMPORT-FORMAT] {raw.problem}")
            return None
        record: Record = {}
        problems = []
        for key, value in raw.obj.items():
            f = self.by_name.get(key)
            if f is None:
                record[key] = value  # the engine names it, with the closest fields
                continue
            if not self._written(f):
                continue
            try:
                record[f.name] = from_json(f, value)
            except BadValue as exc:
                problems.append(f"column {key!r}: {exc}")
        if problems:
            self.reject(raw.line, "[DF-IMPORT-VALUE] " + "; ".join(problems))
            return None
        return record

    def batches(self, lines: Lines) -> Iterator[Batch]:
        batch: Batch = []
        for item in self.records(lines):
            batch.append(item)
            if len(batch) >= self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    # -- checking -----------------------------------------------------------------------

    def _workflow(self, records: list[Record]) -> Any:
        from dataflow_engine import WorkflowBuilder

        wf = WorkflowBuilder()
        wf.add_node(
            self.node,
            "rows",
            {"data": records, "batch_size": self.batch_size, "on_conflict": self.on_conflict},
        )
        return wf

    def check(self, batch: Batch) -> tuple[Batch, Workflow | None]:
        """The rows of ``batch`` the engine accepts (the others are rejected), and the
        built workflow inserting them when all were accepted."""
        from dataflow_engine import WorkflowValidationError

        try:
            return batch, self._workflow([r for _, r in batch]).build(self.db)
        except WorkflowValidationError as exc:
            reasons: dict[int, list[str]] = {}
            for d in exc.diagnostics:
                path = d.path
                if len(path) < 5 or path[3] != "data" or not isinstance(path[4], int):
                    raise
                message = d.message.removeprefix(f"{self.node}: ")
                reasons.setdefault(path[4], []).append(f"[{d.code}] {message}")
        good: Batch = []
        for i, (line, record) in enumerate(batch):
            if i in reasons:
                self.reject(line, "; ".join(reasons[i]))
            else:
                good.append((line, record))
        return good, None

    def check_all(self, path: Path) -> None:
        """Read and check every row, counting the good ones and rejecting the bad."""
        from ._files import Lines

        with path.open("rb") as stream, self._bar("checking", path.stat().st_size) as advance:
            lines = Lines(stream)
            for batch in self.batches(lines):
                good, _ = self.check(batch)
                self.good_count += len(good)
                advance(lines.bytes_read, absolute=True)

    # -- writing ------------------------------------------------------------------------

    def insert_all(self, path: Path) -> int:
        """Insert every row, checked before, in one transaction: a batch node per batch,
        each node's rows read from the file when it runs."""
        from dataflow_engine import LocalRuntime, WorkflowBuilder, WorkflowError

        from ._files import Lines

        count = -(-self.good_count // self.batch_size)
        if count == 0:
            return 0
        wf = WorkflowBuilder()
        params = {"data": [], "batch_size": self.batch_size, "on_conflict": self.on_conflict}
        for n in range(count):
            wf.add_node(self.node, f"batch{n + 1}", params)
        built = wf.build(self.db)
        with path.open("rb") as stream, self._bar("importing", self.good_count) as advance:
            feed = _Feed(self.batches(Lines(stream)), count, advance)
            try:
                results, _ = LocalRuntime(dataflow=self.db).execute(
                    built, parameters=feed.parameters, transaction=True
                )
            except WorkflowError as exc:
                reported = failure(exc)
                where = feed.lines.get(exc.node_id)
                at = f" (a row on lines {where[0]}-{where[1]})" if where else ""
                done = "" if "nothing was written" in reported.reason else "; nothing was written"
                raise type(reported)(reported.code, f"{reported.reason}{at}{done}") from None
        return sum(int(r["inserted"]) for r in results.values())

    def insert_good(self, path: Path) -> int:
        """Insert the good rows batch by batch, each batch committed on its own; a batch
        the database refuses is retried a row at a time to find the rows it refuses."""
        from ._files import Lines

        with path.open("rb") as stream, self._bar("importing", path.stat().st_size) as advance:
            lines = Lines(stream)
            for batch in self.batches(lines):
                good, built = self.check(batch)
                if good and built is None:
                    good, built = self.check(good)
                if good and built is not None:
                    self.inserted += self._insert_batch(good, built)
                self.good_count += len(good)
                advance(lines.bytes_read, absolute=True)
        return self.inserted

    def _insert_batch(self, batch: Batch, built: Workflow) -> int:
        from dataflow_engine import DataFlowError, LocalRuntime, WorkflowError

        runtime = LocalRuntime(dataflow=self.db)
        try:
            results, _ = runtime.execute(built)
            return int(results["rows"]["inserted"])
        except WorkflowError as exc:
            if not _row_error(exc.cause):
                raise
        inserted = 0
        for line, record in batch:
            try:
                results, _ = runtime.execute(self._workflow([record]).build(self.db))
                inserted += int(results["rows"]["inserted"])
            except WorkflowError as exc:
                cause = exc.cause
                if not _row_error(cause):
                    raise
                assert isinstance(cause, DataFlowError)
                self.reject(line, f"[{cause.code}] {cause.message}")
        return inserted

    @contextmanager
    def _bar(self, label: str, total: int) -> Iterator[Any]:
        """A progress bar on standard error (when it is a terminal); yields
        ``advance(n, absolute=False)``."""
        if not self.progress:
            yield lambda n, absolute=False: None
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        ) as bar:
            task = bar.add_task(f"{label} {self.model.table_name}", total=total or None)

            def advance(n: int, absolute: bool = False) -> None:
                if absolute:
                    bar.update(task, completed=n)
                else:
                    bar.advance(task, n)

            yield advance


def _row_error(cause: BaseException) -> bool:
    """Whether the database refused a row for its data (not for being unreachable)."""
    from dataflow_engine import DataFlowError
    from dataflow_engine.errors import IntegrityError

    return isinstance(cause, IntegrityError) or (
        isinstance(cause, DataFlowError) and cause.code in _ROW_CODES
    )


class _Feed:
    """Parameter overrides for a workflow of batch nodes that read their rows only when
    they run (the runtime applies a node's overrides right before running it), so one
    transaction covers the whole file while one batch at a time is in memory."""

    def __init__(self, batches: Iterator[Batch], count: int, advance: Any) -> None:
        self.batches = batches
        self.count = count
        self.advance = advance
        self.next = 1
        self.lines: dict[str, tuple[int, int]] = {}
        self.parameters = {f"batch{n}": _BatchRows(self, n) for n in range(1, count + 1)}

    def take(self, n: int) -> list[Record]:
        from dataflow_engine import ValidationError

        batch = next(self.batches, None) if n == self.next else None
        if batch is None:
            raise ValidationError(
                "the file changed while it was imported",
                code="DF-IMPORT-CHANGED",
            )
        self.next += 1
        self.lines[f"batch{n}"] = (batch[0][0], batch[-1][0])
        self.advance(len(batch))
        if n == self.count and next(self.batches, None) is not None:
            raise ValidationError(
                "the file changed while it was imported",
                code="DF-IMPORT-CHANGED",
            )
        return [record for _, record in batch]


class _BatchRows(Mapping[str, Any]):
    """``{"data": rows}``, the rows read when the runtime asks for them (once)."""

    def __init__(self, feed: _Feed, n: int) -> None:
        self.feed = feed
        self.n = n

    def __getitem__(self, key: str) -> Any:
        if key != "data":
            raise KeyError(key)
        return self.feed.take(self.n)

    def __iter__(self) -> Iterator[str]:
        return iter(("data",))

    def __len__(self) -> int:
        return 1
