"""``dataflow``: commands over the engine and its servers.

Every command has ``--help``; a failure prints one line saying what went wrong and exits
non-zero (1 for a failure, 2 for a usage error).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import click

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dataflow-engine", prog_name="dataflow")
def cli() -> None:
    """DataFlow: databases as models, nodes and workflows."""


@cli.group()
def schema() -> None:
    """JSON Schemas of workflow files."""


@schema.command("export")
@click.option(
    "--models",
    "paths",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="a Python file or folder declaring @db.model classes (repeatable; default: .)",
)
@click.option(
    "--database-url",
    envvar="DATAFLOW_DATABASE_URL",
    help="also the models registered in this database's model registry (read-only)",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="write the schema here (default: standard output)",
)
def schema_export(paths: tuple[Path, ...], database_url: str | None, out: Path | None) -> None:
    """Write a workflow JSON Schema whose node types come from the project's models.

    The models are read from the source (never imported or run), as the language
    server reads them. Point VS Code's json.schemas or yaml-language-server at the file.
    """
    from dataflow_engine import DataFlow, DataFlowError, workflow_json_schema

    try:
        from dataflow_lsp import read_project_models
    except ImportError as exc:  # parso and pygls come with the lsp extra
        raise click.ClickException(
            f"reading models needs the 'lsp' extra: pip install 'dataflow-engine[lsp]' ({exc})"
        ) from None
    models = read_project_models(paths or (Path("."),))
    if database_url:
        try:
            with DataFlow(database_url, read_only=True, existing_schema_mode=True) as db:
                names = db.reconstruct_models_from_registry()
                models.add_external([db.get_model(n) for n in names])
        except DataFlowError as exc:
            raise click.ClickException(f"{exc.code}: {exc.message}") from None
    nodes = models.dataflow.nodes
    if not nodes:
        where = ", ".join(str(p) for p in paths) or "."
        raise click.ClickException(f"no @db.model classes found under {where}")
    refused = [
        f"{s.name}: {s.error.message}"
        for uri in models.uris()
        for s in models.declared(uri)
        if s.error is not None
    ]
    for line in refused:
        click.echo(f"warning: model skipped: {line}", err=True)
    document = workflow_json_schema(nodes, title="DataFlow workflow (this project's models)")
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        models_count = len(models.dataflow.list_models())
        click.echo(f"wrote {out} ({models_count} models, {len(nodes)} node types)", err=True)


@cli.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def lsp(args: tuple[str, ...]) -> None:
    """The language server (same as dataflow-lsp; --help for its options)."""
    from dataflow_lsp import main as lsp_main

    raise SystemExit(lsp_main(list(args)))


@cli.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def mcp(args: tuple[str, ...]) -> None:
    """The MCP server (same as dataflow-mcp; --help for its options)."""
    try:
        from dataflow_mcp import main as mcp_main
    except ImportError as exc:
        raise click.ClickException(
            f"the MCP server needs the 'mcp' extra: pip install 'dataflow-engine[mcp]' ({exc})"
        ) from None
    raise SystemExit(mcp_main(list(args)))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="dataflow")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
