"""Fixtures for the cache tests: Redis servers (never mocked) and cached DataFlows."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dataflow_engine import DataFlow
from tests.conftest import REQUIRE_ALL

REDIS_URL = os.environ.get("DATAFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _unavailable(what: str) -> None:
    if REQUIRE_ALL:
        pytest.fail(f"{what} is not available (DATAFLOW_TEST_REQUIRE_ALL=1 forbids skipping)")
    pytest.skip(f"{what} is not available")


def redis_client(url: str) -> object:
    import redis

    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def drop_prefix(url: str, prefix: str) -> None:
    """Delete every key under ``prefix`` (what a test left behind)."""
    client = redis_client(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))  # type: ignore[attr-defined]
        if keys:
            client.delete(*keys)  # type: ignore[attr-defined]
    finally:
        client.close()  # type: ignore[attr-defined]


@pytest.fixture
def prefix() -> str:
    """A key prefix of this test alone, so parallel runs never share keys."""
    return f"dftest-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def shared_redis(prefix: str) -> Iterator[str]:
    """The shared Redis (``DATAFLOW_TEST_REDIS_URL``) as a cache URL with this test's
    prefix; its keys are deleted afterwards."""
    try:
        redis_client(REDIS_URL).ping()  # type: ignore[attr-defined]
    except Exception:
        _unavailable(f"Redis at {REDIS_URL}")
    yield f"{REDIS_URL}?prefix={prefix}"
    drop_prefix(REDIS_URL, prefix)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A private ``redis-server`` on a free port: started, stopped, paused by the test."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.tmp = tmp
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            _unavailable("redis-server")
        assert binary is not None
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.tmp),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                redis_client(self.url).ping()  # type: ignore[attr-defined]
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis server of this test alone (not started yet); killed afterwards."""
    server = RedisServer(tmp_path)
    yield server
    if server.proc is not None:
        server.resume()
    server.kill()


def eventually(check: Callable[[], bool], seconds: float = 15.0) -> bool:
    """Poll ``check`` until it is true (the cache retries Redis about once a second)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture(params=["memory", "redis"])
def cache_setting(request: pytest.FixtureRequest) -> str:
    """Each cache backend: the in-process LRU, and the shared Redis with this test's
    prefix."""
    if request.param == "redis":
        return str(request.getfixturevalue("shared_redis"))
    return "memory"


@pytest.fixture
def cached(db_url: str, cache_setting: str) -> Iterator[DataFlow]:
    """A DataFlow with a cache on the current backend (each cache backend in turn)."""
    instance = DataFlow(db_url, cache=cache_setting)
    yield instance
    instance.close()
