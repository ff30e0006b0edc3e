"""`evault serve` starts a real server on embedded defaults, and refuses to start when a dependency is down
(exit 75, a temporary failure) or there is no vault (exit 78)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(base: str, process: subprocess.Popen[bytes], log: Path, *, seconds: float = 30) -> None:
    """Wait until a served vault answers /health; fail with its log if it exits or never answers."""
    for _ in range(int(seconds * 10)):
        try:
            httpx.get(f"{base}/health", timeout=1)
            return
        except httpx.TransportError:
            if process.poll() is not None:
                pytest.fail(f"server exited: {log.read_text()}")
            time.sleep(0.1)
    pytest.fail("server did not start")


def evault(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evault", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {**os.environ, "EVAULT_HOME": str(tmp_path / "home"), "EVAULT_DATABASE_URL": database_url}


@pytest.fixture
def server(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, str]]:
    made = evault("init", env=env).stdout
    assert "password: " in made  # the first sign-in, as scripts/serve.sh prints it
    token = made.strip().splitlines()[-1]
    port = free_port()
    log = (tmp_path / "server.log").open("wb")  # a file, not a pipe: a full pipe would stall the server
    process = subprocess.Popen([sys.executable, "-m", "evault", "serve", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, process, tmp_path / "server.log")
        assert f"Evidence Vault on {base} (docs: {base}/docs)" in (tmp_path / "server.log").read_text()
        yield base, token
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def test_serve_answers_ready_docs_and_authenticated_calls(server: tuple[str, str]) -> None:
    base, token = server
    assert httpx.get(f"{base}/ready").json()["status"] == "ready"
    docs = httpx.get(f"{base}/docs").text
    assert "Evidence Vault" in docs
    assert httpx.get(f"{base}/static/vendor/swagger-ui-dist/swagger-ui-bundle.js").is_success
    me = httpx.get(f"{base}/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["role"] == "admin"


def test_serve_without_init_says_where_it_looked(env: dict[str, str]) -> None:
    result = evault("serve", "--port", str(free_port()), env=env)
    assert result.returncode == 78 and "Traceback" not in result.stderr
    home = env["EVAULT_HOME"]
    assert result.stderr.strip() == f"error (no_vault): no vault at {home}; run `evault init` to create one"


def test_serve_with_unreachable_database_exits_with_a_message(env: dict[str, str]) -> None:
    evault("init", env=env)
    broken = {**env, "EVAULT_DATABASE_URL": "postgresql+psycopg://x@127.0.0.1:1/none?connect_timeout=2"}
    result = evault("serve", "--port", str(free_port()), env=broken)
    assert result.returncode == 75 and "database is unreachable" in result.stderr and "Traceback" not in result.stderr


def test_serve_with_unreachable_s3_endpoint_exits_with_a_message(env: dict[str, str]) -> None:
    evault("init", env=env)
    broken = {**env, "EVAULT_STORE": "s3", "EVAULT_S3_ENDPOINT": "127.0.0.1:1", "EVAULT_S3_ACCESS_KEY": "vault",
              "EVAULT_S3_SECRET_KEY": "a-real-looking-secret"}
    result = evault("serve", "--port", str(free_port()), env=broken)
    assert result.returncode == 75, result.stderr
    assert "storage_unavailable" in result.stderr and "Traceback" not in result.stderr
