"""A real `evault serve` writes nothing but structlog JSON events on stderr: its own, uvicorn's (a warning about a
malformed request included) and the request log, which names the user, the client and the bytes (issue 16)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.evault.test_serve import env, evault, free_port, wait_until_up  # noqa: F401  (env is a fixture)


def send_garbage(port: int) -> bytes:
    """Send a request line no HTTP parser accepts; return what the server answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(b"NOT AN HTTP REQUEST\x00\x01\r\n\r\n")
        return raw.recv(1024)


def test_every_stderr_line_is_a_json_event_with_level_and_timestamp(env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    token = evault("init", env=env).stdout.strip().splitlines()[-1]
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as sink:  # a file, not a pipe: a full pipe would stall the server
        process = subprocess.Popen([sys.executable, "-m", "evault", "serve", "--port", str(port)], env=env,
                                   stdout=subprocess.DEVNULL, stderr=sink)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(base, process, log)
            body = b'{"name": "x"}'
            me = httpx.get(f"{base}/api/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 200
            assert httpx.post(f"{base}/api/users", headers={"Authorization": f"Bearer {token}"},
                              content=body).status_code == 422
            assert httpx.get(f"{base}/no-such-page").status_code == 404
            assert send_garbage(port).startswith(b"HTTP/1.1 400")
        finally:
            process.terminate()
            process.wait(timeout=20)
    lines = log.read_text(encoding="utf-8").splitlines()
    events: list[dict[str, Any]] = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            pytest.fail(f"not a JSON event: {line!r}")
        assert {"event", "level", "timestamp"} <= set(event), line
        events.append(event)
    warnings = [e for e in events if e.get("logger", "").startswith("uvicorn") and e["level"] == "warning"]
    assert any("Invalid HTTP request" in e["event"] for e in warnings), lines
    assert any(e.get("logger") == "uvicorn.error" and "Uvicorn running" in e["event"] for e in events)
    requests = {(e["method"], e["route"]): e for e in events if e["event"] == "http.request"}
    mine = requests["GET", "/api/me"]
    assert mine["user"] == "admin" and mine["client"] == "127.0.0.1" and mine["status"] == 200
    assert mine["bytes_in"] == 0 and mine["bytes_out"] == len(me.content)
    refused = requests["POST", "/api/users"]
    assert refused["user"] == "admin" and refused["bytes_in"] == len(body) and refused["bytes_out"] > 0
    assert requests["GET", "<unmatched>"]["user"] is None
    assert token not in log.read_text(encoding="utf-8")  # never the token, in any line
