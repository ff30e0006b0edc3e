"""What a container deployment needs from the host commands: settings from secret files, the first credential in
a file instead of the log, a worker health check that tells a live worker from a dead one, and one scheduler."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def evault(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evault", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {**os.environ, "EVAULT_HOME": str(tmp_path / "home"), "EVAULT_DATABASE_URL": database_url,
            "EVAULT_LOG_JSON": "false"}


def test_a_setting_comes_from_the_file_its_file_variable_names(env: dict[str, str], tmp_path: Path) -> None:
    secret = tmp_path / "database_url"
    secret.write_text(env.pop("EVAULT_DATABASE_URL") + "\n")
    from_file = {**env, "EVAULT_DATABASE_URL_FILE": str(secret)}
    assert evault("init", env=from_file).returncode == 0
    assert "catalog already at the newest schema" in evault("migrate", env=from_file).stdout
    both = evault("migrate", env={**from_file, "EVAULT_DATABASE_URL": "sqlite:///elsewhere.db"})
    assert both.returncode == 78
    assert "both EVAULT_DATABASE_URL and EVAULT_DATABASE_URL_FILE are set" in both.stderr
    missing = evault("migrate", env={**env, "EVAULT_DATABASE_URL_FILE": str(tmp_path / "absent")})
    assert missing.returncode == 78 and f"EVAULT_DATABASE_URL_FILE names {tmp_path / 'absent'}" in missing.stderr
    assert "Traceback" not in both.stderr + missing.stderr


def test_init_writes_the_first_credential_to_a_private_file_and_not_to_its_output(env: dict[str, str],
                                                                                   tmp_path: Path) -> None:
    path = tmp_path / "home" / "first-admin-credentials.json"
    made = evault("init", "--credentials-file", str(path), env=env)
    assert made.returncode == 0, made.stderr
    credentials = json.loads(path.read_text())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert credentials["admin"] == "admin" and credentials["token"].startswith("evt_")
    output = made.stdout + made.stderr
    assert credentials["token"] not in output and credentials["password"] not in output
    assert str(path) in made.stdout
    again = evault("init", "--credentials-file", str(path), env=env)
    assert "already initialised" in again.stdout and json.loads(path.read_text()) == credentials


def test_worker_check_passes_only_while_this_hosts_worker_beats(env: dict[str, str], tmp_path: Path) -> None:
    fast = {**env, "EVAULT_JOB_HEARTBEAT_SECONDS": "0.5", "EVAULT_JOB_TAKEOVER_SECONDS": "2"}
    assert evault("init", env=fast).returncode == 0
    before = evault("worker", "--check", env=fast)
    assert before.returncode == 1 and "no worker heartbeat" in before.stderr
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen([sys.executable, "-m", "evault", "worker"], env=fast, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while (check := evault("worker", "--check", env=fast)).returncode != 0:
            assert worker.poll() is None and time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
            time.sleep(0.2)
        assert "healthy" in check.stdout
        down = evault("worker", "--check", env={**fast, "EVAULT_DATABASE_URL": "postgresql+psycopg://x@127.0.0.1:9/x"})
        assert down.returncode == 1 and "catalog database is unreachable" in down.stderr
    finally:
        worker.terminate()
        worker.wait(timeout=20)
        log.close()
    time.sleep(2.5)  # longer than the takeover time: the stopped worker's last beat is now stale
    stale = evault("worker", "--check", env=fast)
    assert stale.returncode == 1 and "its scheduler has stopped" in stale.stderr


def test_serve_refuses_its_own_scheduler_when_the_worker_runs_the_jobs(env: dict[str, str]) -> None:
    assert evault("init", env=env).returncode == 0
    refused = evault("serve", "--scheduler", env={**env, "EVAULT_SCHEDULER": "worker"})
    assert refused.returncode == 6 and "a second scheduler here would run them twice" in refused.stderr


def _sign_in_cookie(env: dict[str, str], tmp_path: Path, *, trusted: str) -> str:
    """Start serve trusting the given proxies; return the Set-Cookie of a sign-in page asked for "via https"."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = tmp_path / f"serve-{trusted}.log"
    log = path.open("wb")
    server = subprocess.Popen([sys.executable, "-m", "evault", "serve", "--no-scheduler", "--port", str(port),
                               "--forwarded-allow-ips", trusted], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/sign-in", headers={"X-Forwarded-Proto": "https"})
                return page.headers["set-cookie"]
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, path.read_text()
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


def test_serve_believes_forwarded_headers_only_from_the_proxies_it_names(env: dict[str, str], tmp_path: Path) -> None:
    assert evault("init", env=env).returncode == 0
    # The cookie is Secure only for a request that came over https: here, only if the proxy's word is taken.
    assert "secure" in _sign_in_cookie(env, tmp_path, trusted="127.0.0.1").lower()
    assert "secure" not in _sign_in_cookie(env, tmp_path, trusted="192.0.2.1").lower()


def test_a_list_setting_in_a_file_is_json_as_in_its_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vault.config import load_settings

    algorithms = tmp_path / "oidc_algorithms"
    algorithms.write_text('["ES256"]\n')
    monkeypatch.setenv("EVAULT_OIDC_ALGORITHMS_FILE", str(algorithms))
    assert load_settings().oidc_algorithms == ["ES256"]
