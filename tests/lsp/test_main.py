"""The ``dataflow-lsp`` command: options, and the TCP transport with a real client."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _message(payload: dict[str, object]) -> bytes:
    body = json.dumps(payload).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def _read(sock: socket.socket) -> dict[str, object]:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int(
        next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[
            1
        ]
    )
    while len(rest) < length:
        rest += sock.recv(65536)
    return dict(json.loads(rest[:length]))


def test_tcp_transport_answers_initialize(tmp_path: object) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "dataflow_lsp", "--tcp", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.1)
        with sock:
            sock.sendall(
                _message(
                    {
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "initialize",
                        "params": {"processId": None, "rootUri": None, "capabilities": {}},
                    }
                )
            )
            answer = _read(sock)
        assert answer["id"] == 1
        result = answer["result"]
        assert isinstance(result, dict)
        capabilities = result["capabilities"]
        assert capabilities["completionProvider"]["triggerCharacters"]
        assert capabilities["hoverProvider"] and capabilities["definitionProvider"]
        assert result["serverInfo"]["name"] == "dataflow-lsp"
    finally:
        server.kill()
        server.wait(timeout=10)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--port", "0", "--tcp"], "--port must be between 1 and 65535"),
        (["--debounce", "-1"], "--debounce must be >= 0"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_options_stop_the_command_with_a_message(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dataflow_lsp", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert message in done.stderr
