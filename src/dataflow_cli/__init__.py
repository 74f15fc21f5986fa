"""The ``dataflow`` command line: one front door over the engine, the MCP server and the
language server. See ``dataflow --help``."""

from ._main import cli, main

__all__ = ["cli", "main"]
