"""Serving an API for a test: a real uvicorn server on a free loopback port, in a thread.

By default the server runs on the engine's own loop, as ``dataflow api`` serves
(requests reach the database without a thread hop); ``engine_loop=False`` gives it a
loop of its own, as any ASGI server would (each request hops to the engine's loop).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from dataflow_engine import run_on_engine_loop
from dataflow_engine.nodes import _registry

Serve = Callable[..., AbstractContextManager[httpx.Client]]


@contextmanager
def serving(app: Any, *, engine_loop: bool = True, **client: Any) -> Iterator[httpx.Client]:
    """Serve ``app`` with uvicorn on 127.0.0.1 and yield an httpx client for it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    failure: list[BaseException] = []

    def run() -> None:
        try:
            if engine_loop:
                run_on_engine_loop(server.serve, sockets=[sock])
            else:
                asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # reported to the test below
            failure.append(exc)

    thread = threading.Thread(target=run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if failure or not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the test server did not start: {failure}")
        time.sleep(0.01)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60, **client) as http:
            yield http
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.fixture
def serve() -> Serve:
    return serving


@pytest.fixture(autouse=True)
def close_what_the_test_opened() -> Iterator[None]:
    """DataFlows a test made itself are closed after it (they hold connections)."""
    before = {id(db) for db in (ref() for ref in list(_registry._instances)) if db is not None}
    yield
    for ref in list(_registry._instances):
        db = ref()
        if db is not None and id(db) not in before and not db.closed:
            db.close()


PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "code", "details"}


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert ``response`` is a problem document with this status and code; return it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert set(body) >= PROBLEM_KEYS, body
    assert body["status"] == status
    assert body["code"] == code, body
    assert body["type"] == f"urn:dataflow:error:{code}"
    assert "Traceback" not in response.text
    return dict(body)
