"""The officer's uploader starts lean: a real `evault upload`, up to its first try of the vault, loads no server
package and none of the server's heavy libraries (the budget in time is measured by bench/cli_start.py)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from tests.client.test_imports import SERVER_PACKAGES, top

# Runs `evault upload` in this interpreter and prints, as it exits, every module the run loaded.
RUN = """
import atexit, json, sys
atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.__stdout__, flush=True))
sys.argv = ["evault", *json.loads(sys.argv[1])]
from evault_client.cli import main
main()
"""
# cryptography is not here: the upload verifies every receipt with it (about 11 ms to import).
HEAVY = ("pydantic", "sqlalchemy", "numpy", "PIL", "jinja2", "boto3", "botocore")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_the_start_of_an_upload_loads_no_server_package_and_nothing_heavy(tmp_path: Path) -> None:
    footage = tmp_path / "DSJ0001_0001.MP4"
    footage.write_bytes(b"\0")
    arguments = ["--server", f"http://127.0.0.1:{closed_port()}", "upload", str(footage), "--wait-for-vault", "0",
                 "--recorder", "DSJ-0001", "--handler", "14010219001", "--activity", "inspection"]
    done = subprocess.run([sys.executable, "-c", RUN, json.dumps(arguments)], capture_output=True, text=True,
                          timeout=120, check=False,
                          env={"PATH": "/usr/bin:/bin", "EVAULT_TOKEN": "refused-anyway",
                               "EVAULT_CLIENT_DIR": str(tmp_path / "client"), "HOME": str(tmp_path)})
    assert done.returncode == 75, done.stderr  # the vault is unreachable: the run got as far as trying it
    loaded = {top(name) for name in json.loads(done.stdout.strip().splitlines()[-1])}
    assert "evault_client" in loaded and "httpx" in loaded  # the transfer's own modules did load
    assert sorted(loaded & set(SERVER_PACKAGES)) == []
    assert sorted(loaded & set(HEAVY)) == []
