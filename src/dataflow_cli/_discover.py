"""``dataflow discover``: the tables and views of a database, read from its catalogs."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from ._common import json_value, make_console, open_database, reporting_errors, split_names

if TYPE_CHECKING:
    from dataflow_engine import DataFlow
    from dataflow_engine.discovery import ForeignKeyInfo, TableInfo

__all__ = ["discover_command"]

#: DataFlow's own model registry: not one of the application's tables.
_REGISTRY = "dataflow_model_registry"


@click.command("discover")
@click.argument("url", envvar="DATAFLOW_DATABASE_URL", required=True)
@click.option("--tables", metavar="T,...", help="only these tables or views (exact names)")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    envvar="DATAFLOW_DISCOVER_FORMAT",
    show_envvar=True,
)
@click.option(
    "--exact-counts",
    is_flag=True,
    help="count the rows of every table (one COUNT per table) instead of showing the "
    "catalog's estimates",
)
def discover_command(url: str, tables: str | None, fmt: str, exact_counts: bool) -> None:
    """The tables and views of the database at URL (default: $DATAFLOW_DATABASE_URL):
    primary keys, foreign keys both ways, and row counts; with --tables, their columns
    too. Read-only, never DDL.

    Row counts are the catalog's estimates (statistics, not counts; SQLite keeps none)
    unless --exact-counts is given.
    """
    with reporting_errors(url):
        names = split_names(tables)
        with open_database(url, read_only=True) as db:
            found = db.discover_schema(tables=names)
            if names is None:
                found.pop(_REGISTRY, None)
            counts = _exact_counts(db, list(found)) if exact_counts else None
            if fmt == "json":
                document = {
                    "dialect": db.dialect.name,
                    "server_version": db.server_version(),
                    "url": db.settings.url.redacted(),
                    "row_counts": "exact" if counts is not None else "estimate",
                    "tables": [_table_json(t, counts) for t in found.values()],
                }
                click.echo(json.dumps(document, indent=2, ensure_ascii=False))
            else:
                _print(db, found, counts, detailed=names is not None)


def _exact_counts(db: DataFlow, names: list[str]) -> dict[str, int | None]:
    """Each table's exact row count through its Count node (None when it cannot be
    registered)."""
    from dataflow_engine import LocalRuntime, WorkflowBuilder

    if not names:
        return {}
    registered = db.register_schema_as_models(tables=names)
    wf = WorkflowBuilder()
    ids: dict[str, str] = {}
    for n, (table, nodes) in enumerate(registered["generated_nodes"].items()):
        ids[table] = f"count{n}"
        wf.add_node(nodes["count"], ids[table], {})
    results, _ = LocalRuntime(dataflow=db).execute(wf.build(db)) if ids else ({}, "")
    return {t: (int(results[ids[t]]["count"]) if t in ids else None) for t in names}


def _fk(f: ForeignKeyInfo, *, incoming: bool) -> dict[str, Any]:
    out = {
        "name": f.name,
        "columns": list(f.columns),
        "ref_table": f.ref_table,
        "ref_columns": list(f.ref_columns),
        "on_delete": f.on_delete,
        "on_update": f.on_update,
    }
    if incoming:
        out = {"table": f.table, **out}
    return out


def _table_json(t: TableInfo, counts: dict[str, int | None] | None) -> dict[str, Any]:
    columns = []
    for c in t.columns:
        column: dict[str, Any] = {
            "name": c.name,
            "type": c.type,
            "kind": c.kind,
            "nullable": c.nullable,
            "default": c.default,
        }
        if c.generated:
            column["generated"] = c.generated
        if c.auto_increment:
            column["auto_increment"] = True
        if c.enum_values:
            column["enum_values"] = list(c.enum_values)
        if c.comment:
            column["comment"] = c.comment
        columns.append(column)
    out: dict[str, Any] = {
        "name": t.name,
        "schema": t.schema,
        "kind": t.kind,
        "columns": columns,
        "primary_key": list(t.primary_key),
        "foreign_keys": [_fk(f, incoming=False) for f in t.foreign_keys],
        "referenced_by": [_fk(f, incoming=True) for f in t.referenced_by],
        "unique": [list(u.columns) for u in t.unique],
        "indexes": [
            {"name": i.name, "columns": list(i.columns), "unique": i.unique} for i in t.indexes
        ],
        "row_estimate": t.row_estimate,
    }
    if counts is not None:
        out["row_count"] = counts.get(t.name)
    if t.comment:
        out["comment"] = t.comment
    return json_value(out)  # type: ignore[no-any-return]


def _print(
    db: DataFlow,
    found: dict[str, TableInfo],
    counts: dict[str, int | None] | None,
    *,
    detailed: bool,
) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    console = make_console()
    title = f"{db.dialect.name} {db.server_version()}  {db.settings.url.redacted()}"
    rows_title = "rows" if counts is not None else "rows (estimate)"
    summary = Table(box=box.SIMPLE_HEAD, header_style="bold", title=title, title_justify="left")
    for name, justify in (
        ("table", "left"),
        ("kind", "left"),
        ("columns", "right"),
        ("primary key", "left"),
        ("foreign keys", "left"),
        ("referenced by", "left"),
        (rows_title, "right"),
    ):
        summary.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for t in found.values():
        out_keys = "\n".join(
            f"{', '.join(f.columns)} → {f.ref_table}({', '.join(f.ref_columns)})"
            for f in t.foreign_keys
        )
        in_keys = "\n".join(f"{f.table}({', '.join(f.columns)})" for f in t.referenced_by)
        if counts is not None:
            count = counts.get(t.name)
            rows = Text(f"{count:,}") if count is not None else Text("?", style="dim")
        elif t.row_estimate is not None:
            rows = Text(f"~{t.row_estimate:,}")
        else:
            rows = Text("n/a", style="dim")
        summary.add_row(
            Text(t.name, style="bold"),
            Text(t.kind),
            Text(str(len(t.columns))),
            Text(", ".join(t.primary_key) or "none", style="" if t.primary_key else "dim"),
            Text(out_keys),
            Text(in_keys),
            rows,
        )
    console.print(summary)
    if counts is None:
        console.print(
            "row counts are the catalog's estimates (n/a: none kept); --exact-counts counts them",
            style="dim",
        )
    if not detailed:
        return
    for t in found.values():
        columns = Table(
            box=box.SIMPLE_HEAD, header_style="bold", title=t.name, title_justify="left"
        )
        for name in ("column", "type", "null", "default", "key"):
            columns.add_column(name, overflow="fold")
        for c in t.columns:
            key = "PK" if c.name in t.primary_key else ""
            refs = [f"→ {f.ref_table}" for f in t.foreign_keys if c.name in f.columns]
            columns.add_row(
                Text(c.name),
                Text(c.type + (" (generated)" if c.generated or c.auto_increment else "")),
                Text("yes" if c.nullable else "no"),
                Text(c.default or ""),
                Text(" ".join([key, *refs]).strip()),
            )
        console.print(columns)
