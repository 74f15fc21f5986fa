"""``dataflow``: commands over the engine and its servers.

Every command has ``--help``; a failure prints one line saying what went wrong and exits
non-zero (1 for a failure, 2 for a usage error, 3 when the database cannot be reached;
the table is in docs/cli.md).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ._api import api_command
from ._discover import discover_command
from ._export import export_command
from ._import import import_command
from ._query import query_command

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dataflow-engine", prog_name="dataflow")
def cli() -> None:
    """DataFlow: databases as models, nodes and workflows."""


cli.add_command(discover_command)
cli.add_command(query_command)
cli.add_command(import_command)
cli.add_command(export_command)
cli.add_command(api_command)


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
    if not models.dataflow.list_models():  # node types that need no model do not count
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
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(f"cannot write {out}: {exc.strerror or exc}") from None
        models_count = len(models.dataflow.list_models())
        click.echo(f"wrote {out} ({models_count} models, {len(nodes)} node types)", err=True)


@cli.group()
def migrate() -> None:
    """Judge schema changes against the live database."""


_SEVERITY_ORDER = {"info": 0, "warning": 1, "error": 2}


@migrate.command("assess")
@click.argument("ddl")
@click.option(
    "--url",
    "url",
    envvar="DATAFLOW_DATABASE_URL",
    required=True,
    help="the database the migration will run on (read only; DATAFLOW_DATABASE_URL)",
)
@click.option(
    "--suppress",
    multiple=True,
    metavar="RULE=REASON",
    help="accept a rule's findings, with the reason (repeatable)",
)
@click.option(
    "--no-transaction",
    is_flag=True,
    help="the migration does not run as one transaction",
)
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning", "never"]),
    default="error",
    show_default=True,
    help="exit 1 when an unsuppressed finding of this severity (or worse) is found",
)
def migrate_assess(
    ddl: str,
    url: str,
    suppress: tuple[str, ...],
    no_transaction: bool,
    output: str,
    fail_on: str,
) -> None:
    """Assess DDL (one or more statements; '-' reads standard input) against the live
    database: per-statement risk with its reasons, and the rule findings."""
    from dataflow_engine import DataFlow, DataFlowError
    from dataflow_engine.migrations import assess

    if ddl == "-":
        ddl = sys.stdin.read()
    accepted: dict[str, str] = {}
    for item in suppress:
        rule, sep, reason = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r}: write RULE=REASON", param_hint="--suppress")
        accepted[rule.strip()] = reason.strip()
    try:
        with DataFlow(url, read_only=True, existing_schema_mode=True) as db:
            report = assess(ddl, db, suppress=accepted, in_transaction=not no_transaction)
    except DataFlowError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from None
    if output == "json":
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        _print_report(report)
    if fail_on != "never":
        floor = _SEVERITY_ORDER[fail_on]
        if any(_SEVERITY_ORDER[f.severity] >= floor and not f.suppressed for f in report.findings):
            raise SystemExit(1)


def _print_report(report: Any) -> None:
    level = report.overall_risk_level.value
    click.echo(
        f"{report.dialect} {report.server_version}: overall risk {level} "
        f"({report.overall_score:.0f}/100)"
    )
    for i, risk in enumerate(report.operations):
        op = risk.operation
        scores = ", ".join(f"{k.replace('_', ' ')} {v:.0f}" for k, v in risk.scores.items())
        click.echo(f"\n[{i + 1}] {(op.sql or op.kind.value).strip()}")
        click.echo(f"    {risk.overall_risk_level.value} ({scores})")
        for reason in risk.reasons:
            click.echo(f"    - {reason}")
    if report.findings:
        click.echo("")
        rows = [
            (
                f.severity.upper() + (" (suppressed)" if f.suppressed else ""),
                f.rule,
                f"[{f.operation + 1}] {f.message}",
            )
            for f in report.findings
        ]
        widths = [max(len(r[c]) for r in rows) for c in range(2)]
        header = ("SEVERITY", "RULE", "FINDING")
        widths = [max(w, len(h)) for w, h in zip(widths, header, strict=False)]
        click.echo(f"{header[0]:<{widths[0]}}  {header[1]:<{widths[1]}}  {header[2]}")
        for severity, rule, message in rows:
            click.echo(f"{severity:<{widths[0]}}  {rule:<{widths[1]}}  {message}")
    else:
        click.echo("\nno findings")
    if report.recommended_strategies:
        from dataflow_engine.migrations import MitigationStrategyEngine

        click.echo("\nrecommended:")
        for strategy in report.recommended_strategies:
            click.echo(f"- {MitigationStrategyEngine.describe(strategy)}")


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
