"""The production compose file stays valid and keeps its shape."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SECRETS = {"POSTGRES_PASSWORD": "pg-secret", "MINIO_ROOT_USER": "vault", "MINIO_ROOT_PASSWORD": "minio-secret",
           "EVAULT_AGENCY_NAME": "阜阳市应急管理局"}


def compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.fail("docker-compose is not installed; run scripts/install-system-deps.sh --test")
    return subprocess.run([tool, "-f", str(ROOT / "docker-compose.yml"), "config", *args], env={"PATH": "/usr/bin:/bin",
                          **env}, capture_output=True, text=True, check=False)


def test_compose_file_is_valid_with_every_service_health_checked() -> None:
    result = compose(env=SECRETS)
    assert result.returncode == 0, result.stderr
    services = compose("--services", env=SECRETS).stdout.split()
    assert set(services) == {"postgres", "minio", "minio-init", "api", "worker"}
    rendered = result.stdout
    assert "mb --with-lock vault/evidence" in rendered
    assert rendered.count("healthcheck:") == 4
    assert "EVAULT_S3_LOCK_MODE: COMPLIANCE" in rendered
    assert "EVAULT_AGENCY_NAME: 阜阳市应急管理局" in rendered


def test_compose_refuses_to_start_without_the_agency_name() -> None:
    # Issue 12, item 9: the agency's name is a required setting of a production vault.
    result = compose(env={k: v for k, v in SECRETS.items() if k != "EVAULT_AGENCY_NAME"})
    assert result.returncode != 0 and "EVAULT_AGENCY_NAME" in result.stderr


def test_compose_refuses_to_start_without_secrets() -> None:
    result = compose(env={})
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr or "MINIO_ROOT" in result.stderr
