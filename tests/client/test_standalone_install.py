"""An officer's laptop: the client installed alone into a clean virtualenv uploads footage to a real vault."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Person
from tests.media import make_video
from vault.identities.models import Role

REPO = Path(__file__).resolve().parents[2]
CERT = "14010219077"


@pytest.fixture(scope="module")
def laptop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding only `pip install ./client` (pip's cache keeps this to seconds)."""
    root = tmp_path_factory.mktemp("laptop")
    source = root / "client"
    shutil.copytree(REPO / "client", source, ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__"))
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    bin_dir = venv / ("Scripts" if sys.platform == "win32" else "bin")
    installed = subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                                str(source)], capture_output=True, text=True, timeout=240, check=False)
    assert installed.returncode == 0, installed.stderr[-3000:]
    return bin_dir


@pytest.mark.install
def test_the_client_alone_installs_without_the_server_stack(laptop: Path) -> None:
    probe = subprocess.run([str(laptop / "python"), "-c", "import importlib.util as u, json; print(json.dumps("
                            "[m for m in ('vault', 'ingest', 'sqlalchemy', 'fastapi', 'pydantic', 'structlog', "
                            "'minio', 'psycopg', 'alembic') if u.find_spec(m)]))"],
                           capture_output=True, text=True, timeout=60, check=True, cwd=laptop)
    assert json.loads(probe.stdout) == []
    helped = subprocess.run([str(laptop / "evault"), "upload", "--help"], capture_output=True, text=True,
                            timeout=60, check=False)
    assert helped.returncode == 0 and "--handler" in helped.stdout and "--wait-for-vault" in helped.stdout


@pytest.mark.install
def test_an_officer_uploads_from_the_standalone_client(
    laptop: Path, vault_url: str, make_person: Callable[..., Person], tmp_path: Path
) -> None:
    officer = make_person(Role.OFFICER, certificate=CERT)
    clip = tmp_path / "DSJ-LAPTOP" / "REC_0001.MP4"
    clip.parent.mkdir()
    make_video(clip, seconds=1.0, size="160x120")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path / "home"),
           "EVAULT_SERVER": vault_url, "EVAULT_TOKEN": officer.token, "EVAULT_CLIENT_DIR": str(tmp_path / "cfg"),
           "EVAULT_KEYRING": "0", "EVAULT_LANG": "en", "COLUMNS": "80"}
    done = subprocess.run([str(laptop / "evault"), "upload", str(clip.parent), "--handler", CERT],
                          capture_output=True, text=True, timeout=120, check=False, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "receipt OK" in done.stdout
    receipt = json.loads((clip.parent / "REC_0001.MP4.evault-receipt.json").read_text(encoding="utf-8"))
    assert receipt["receipt"]["original_name"] == "REC_0001.MP4" and receipt["server"].startswith(vault_url)
    assert receipt["receipt"]["size"] == clip.stat().st_size and receipt["signature"]
