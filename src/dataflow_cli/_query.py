"""``dataflow query``: records of a table (or model) as a table, JSON or JSON lines."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ._common import (
    json_line,
    json_value,
    make_console,
    open_database,
    reporting_errors,
    resolve_model,
    split_names,
)

__all__ = ["query_command"]


@click.command("query")
@click.argument("url")
@click.argument("model_or_table")
@click.option(
    "--filter",
    "filter_text",
    metavar="JSON",
    help='a filter document, e.g. \'{"age": {"$gte": 18}, "status": "active"}\'',
)
@click.option("--order-by", metavar="F,-G", help="fields to sort by; '-' sorts descending")
@click.option(
    "--limit",
    type=click.IntRange(1),
    default=100,
    show_default=True,
    envvar="DATAFLOW_QUERY_LIMIT",
    show_envvar=True,
    help="at most this many records",
)
@click.option("--fields", metavar="F,G", help="only these fields")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "jsonl"]),
    default="table",
    show_default=True,
    envvar="DATAFLOW_QUERY_FORMAT",
    show_envvar=True,
)
def query_command(
    url: str,
    model_or_table: str,
    filter_text: str | None,
    order_by: str | None,
    limit: int,
    fields: str | None,
    fmt: str,
) -> None:
    """Records of MODEL_OR_TABLE in the database at URL, read-only.

    A table is registered on the fly (in memory, never DDL); a name that is not a table
    is looked up in the database's model registry. JSON output is exact: decimals,
    UUIDs and date-times as strings, bytes as {"base64": ...}, JSON columns as JSON.
    """
    from ._records import Pages, parse_filter_option

    with reporting_errors(url):
        where = parse_filter_option(filter_text)
        with open_database(url, read_only=True) as db:
            model = resolve_model(db, model_or_table)
            pages = Pages(
                db,
                model,
                filter=where,
                order_by=split_names(order_by),
                fields=split_names(fields),
                limit=limit,
            )
            if fmt == "jsonl":
                for record in pages:
                    click.echo(json_line(record))
            elif fmt == "json":
                _write_json_array(pages)
            else:
                names = split_names(fields) or list(model.fields)
                _print_table(model.table_name, names, list(pages))
            if pages.more:
                click.echo(
                    f"note: more records match than the {limit:,} shown; raise --limit, or "
                    "use dataflow export for all of them",
                    err=True,
                )


def _write_json_array(records: Any) -> None:
    """A JSON array, one record per line, written as the records come (the first is read
    before anything is written, so a failure leaves no half-written output)."""
    out = sys.stdout
    items = iter(records)
    first = next(items, None)
    if first is None:
        out.write("[]\n")
        return
    out.write("[\n  " + json_line(first))
    for record in items:
        out.write(",\n  " + json_line(record))
    out.write("\n]\n")
    out.flush()


def _print_table(title: str, names: list[str], records: list[dict[str, Any]]) -> None:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, header_style="bold", title=title, title_justify="left")
    for name in names:
        table.add_column(name, overflow="fold")
    for record in records:
        table.add_row(*(_cell(record.get(name)) for name in names))
    console = make_console()
    console.print(table)
    console.print(f"{len(records):,} record{'s' if len(records) != 1 else ''}", style="dim")


def _cell(value: Any) -> Any:
    """A value for people: NULL marked, text never read as markup, bytes in hex."""
    from rich.text import Text

    if value is None:
        return Text("NULL", style="dim italic")
    if isinstance(value, bool):
        return Text("true" if value else "false")
    if isinstance(value, bytes):
        shown = value[:24].hex()
        return Text(f"\\x{shown}" + ("…" if len(value) > 24 else ""), style="cyan")
    if isinstance(value, dict | list):
        return Text(json.dumps(json_value(value), ensure_ascii=False))
    plain = json_value(value)
    return Text(plain if isinstance(plain, str) else str(plain))
