"""The client stands alone and runs anywhere: importing every module of evault_client loads no server package,
and it imports as well where the POSIX-only modules do not exist (as on Windows)."""

from __future__ import annotations

import json
import subprocess
import sys

SERVER_PACKAGES = ("vault", "ingest", "retention", "evault", "sqlalchemy", "fastapi", "starlette", "uvicorn",
                   "pydantic", "pydantic_settings", "structlog", "minio", "psycopg", "alembic", "apscheduler")
POSIX_ONLY = ("fcntl", "termios", "pwd", "grp", "resource", "posix")

# Imports every module of the package in a fresh interpreter; prints the modules that importing added.
WALK = """
import importlib, json, pkgutil, sys, warnings
blocked = json.loads(sys.argv[1])
for name in blocked:
    sys.modules[name] = None  # `import name` now fails, as it would where the module does not exist
before = set(sys.modules)
warnings.simplefilter("ignore")  # filelock warns that it falls back to a soft lock without fcntl
import evault_client
names = [info.name for info in pkgutil.walk_packages(evault_client.__path__, "evault_client.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"modules": names, "loaded": sorted(set(sys.modules) - before)}))
"""


def walk(*, blocked: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Import the whole client in a subprocess; return its module names and what importing loaded."""
    done = subprocess.run([sys.executable, "-c", WALK, json.dumps(list(blocked))], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, list[str]] = json.loads(done.stdout)
    return result


def top(name: str) -> str:
    return name.partition(".")[0]


def test_importing_every_client_module_loads_no_server_package() -> None:
    result = walk()
    assert {"evault_client.commands.upload", "evault_client.upload.tus", "evault_client.upload.dock"} <= set(
        result["modules"])
    assert sorted({top(name) for name in result["loaded"]} & set(SERVER_PACKAGES)) == []


def test_the_client_loads_no_posix_only_module_of_its_own_and_imports_without_them() -> None:
    # The standard library reaches for pwd and grp where they exist (shutil, for chown) and does without them
    # elsewhere; so the check is that everything imports with them gone, and then that none was loaded.
    removable = tuple(name for name in POSIX_ONLY if name != "posix")  # os itself is built on posix (nt on Windows)
    result = walk(blocked=removable)
    loaded = {top(name) for name in result["loaded"]}
    assert sorted(loaded & set(POSIX_ONLY)) == []
    assert "evault_client.upload.tus" in result["modules"]


def test_the_posix_module_is_only_the_one_python_itself_started_with() -> None:
    result = walk()
    assert "posix" not in {top(name) for name in result["loaded"]}


def test_the_upload_command_module_loads_nothing_heavy() -> None:
    # `evault upload --help` stays fast: httpx, rich and tuspy load inside the command, not with its module.
    done = subprocess.run([sys.executable, "-c", "import json, sys; import evault_client.commands.upload; "
                           "print(json.dumps(sorted(sys.modules)))"], capture_output=True, text=True, timeout=60,
                          check=True)
    loaded = {top(name) for name in json.loads(done.stdout)}
    assert sorted(loaded & {"httpx", "rich", "tusclient", "aiohttp", "requests", "cryptography"}) == []
