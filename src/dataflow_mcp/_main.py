"""The ``dataflow-mcp`` command: options, then stdio or streamable HTTP."""

from __future__ import annotations

import hmac
import sys
from collections.abc import Sequence
from typing import Any

from dataflow_engine import run_on_engine_loop
from dataflow_engine.errors import DataFlowError

from ._config import ServerConfig, parse_config
from ._server import create_server

__all__ = ["main", "serve"]


class _BearerToken:
    """ASGI middleware: every HTTP request carries ``Authorization: Bearer <token>``
    (compared in constant time), or gets a 401."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.expected = token.encode()

    def _allowed(self, header: bytes) -> bool:
        scheme, _, given = header.strip().partition(b" ")
        # The scheme is case-insensitive (RFC 9110); the token is compared in constant time.
        return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self.expected)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not self._allowed(given):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send(
                    {
                        "type": "http.response.body",
                        "body": b'{"error": "a valid bearer token is required"}',
                    }
                )
                return
        await self.app(scope, receive, send)


def http_app(config: ServerConfig) -> Any:
    """The streamable HTTP ASGI app (behind the bearer token when one is set)."""
    server = create_server(config)
    app = server.streamable_http_app(stateless_http=config.stateless, host=config.host)
    return _BearerToken(app, config.token) if config.token else app


def serve(config: ServerConfig) -> None:
    """Run the server until it is stopped, on the engine's own loop: every tool is a
    coroutine over the engine's async API, so a call reaches the database directly."""
    if config.transport == "stdio":
        run_on_engine_loop(create_server(config).run_stdio_async)
        return
    import uvicorn

    settings = uvicorn.Config(
        http_app(config), host=config.host, port=config.port, log_level="warning"
    )
    run_on_engine_loop(uvicorn.Server(settings).serve)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse options (failing closed on anything unknown or invalid), then serve."""
    try:
        config = parse_config(sys.argv[1:] if argv is None else argv)
        serve(config)
    except DataFlowError as exc:
        print(f"dataflow-mcp: [{exc.code}] {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0
