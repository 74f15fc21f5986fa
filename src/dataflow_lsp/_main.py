"""``dataflow-lsp``: the language server over stdio (the default) or TCP."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the language server until the client disconnects.

    Args:
        argv: command-line arguments (default: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(
        prog="dataflow-lsp",
        description="Language server for DataFlow workflows (Python, JSON and YAML files).",
    )
    parser.add_argument("--tcp", action="store_true", help="listen on TCP instead of stdio")
    parser.add_argument("--host", default="127.0.0.1", help="TCP host (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=2087, help="TCP port (default 2087)")
    parser.add_argument(
        "--debounce",
        type=float,
        default=0.15,
        help="seconds to wait after a change before publishing diagnostics (default 0.15)",
    )
    parser.add_argument("--log-file", help="write the server's log here")
    args = parser.parse_args(argv)
    if args.debounce < 0:
        parser.error("--debounce must be >= 0")
    if not 0 < args.port < 65536:
        parser.error("--port must be between 1 and 65535")
    if args.log_file:
        logging.basicConfig(filename=args.log_file, level=logging.INFO)
    try:
        from ._server import create_server
    except ImportError as exc:  # the lsp extra is not installed
        print(
            f"dataflow-lsp needs the 'lsp' extra: pip install 'dataflow-engine[lsp]' ({exc})",
            file=sys.stderr,
        )
        return 2
    # Parse trees are large webs of objects: frequent full collections would stall the
    # server mid-keystroke. Collect young objects as usual, the rest rarely.
    gc.set_threshold(50_000, 50, 100)
    server = create_server(debounce=args.debounce)
    if args.tcp:
        server.start_tcp(args.host, args.port)
    else:
        server.start_io()
    return 0
