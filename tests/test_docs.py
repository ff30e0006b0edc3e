"""Every command block in README.md and docs/*.md runs as written, in order, in one shell, against one fresh vault.

The blocks are the fenced ```bash and ```sh blocks. They run in a fresh folder that links the checkout's `.venv`,
`scripts`, `docs`, `bench` and `client`, with the vault's home, the client's sign-in folder and the agency's name
set for the test. Three things are not run as a person would run them, and only these:
- `scripts/test.sh` is skipped: it is the command running this test (CI runs it).
- `scripts/serve.sh` and `evault serve` keep running in the background, as in a second terminal, until the end.
- the port 8000 of the examples becomes a free port, so the test can run beside another vault.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The order a newcomer reads them in; a later document may use what an earlier one created.
DOCUMENTS = ["README.md", "docs/domain.md", "docs/cli.md", "docs/people.md", "docs/access.md", "docs/exports.md",
             "docs/custody.md", "docs/witnesses.md", "docs/web.md", "docs/ingest-protocol.md", "docs/exit.md",
             "docs/deploy.md"]
RUN_LANGUAGES = {"bash", "sh"}
FENCE = re.compile(r"^```(\S*)\s*$")
SKIPPED = re.compile(r"^\s*scripts/test\.sh\b.*$", re.MULTILINE)
IN_BACKGROUND = re.compile(r"^(\s*)((?:scripts/serve\.sh|\S*evault serve)\b[^#\n]*?)\s*(#.*)?$", re.MULTILINE)
TIMEOUT_SECONDS = 900

pytestmark = pytest.mark.skipif(os.environ.get("EVAULT_TEST_STORE") == "s3",
                                reason="the docs describe the embedded defaults; they run once, in that half")


@dataclass(frozen=True)
class Block:
    """One command block: where it is, and its text."""

    document: str
    line: int
    text: str


def command_blocks(document: str) -> list[Block]:
    """Return the bash and sh blocks of one document, in order."""
    blocks, language, start, lines = [], None, 0, []
    for number, line in enumerate((ROOT / document).read_text(encoding="utf-8").splitlines(), start=1):
        fence = FENCE.match(line)
        if fence and language is None:
            language, start, lines = fence.group(1), number, []
        elif fence and not fence.group(1):
            if language in RUN_LANGUAGES:
                blocks.append(Block(document, start, "\n".join(lines)))
            language = None
        elif language is not None:
            lines.append(line)
    return blocks


def as_run(block: Block, port: int) -> str:
    """Return a block as the test runs it: servers in the background, the test command skipped, the free port."""
    text = block.text.replace("127.0.0.1:8000", f"127.0.0.1:{port}").replace("--port 8000", f"--port {port}")
    text = SKIPPED.sub(": skipped: scripts/test.sh is what runs this test", text)
    return IN_BACKGROUND.sub(lambda m: f"{m.group(1)}__serve {m.group(2)}", text)


PRELUDE = r"""
set -euo pipefail
__serve() {
  local log="$PWD/server-$RANDOM.log"
  if [[ "$1" == scripts/serve.sh ]]; then "$@" --port "$DOCS_PORT" >"$log" 2>&1 & else "$@" >"$log" 2>&1 & fi
  local pid=$!
  for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$DOCS_PORT/health" >/dev/null && { cat "$log"; return 0; }
    kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "server exited" >&2; return 1; }
    sleep 0.5
  done
  cat "$log"; echo "server did not answer" >&2; return 1
}
"""


def free_port() -> int:
    """Return a port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_every_document_is_run() -> None:
    """A new document under docs/ is read by the runner too, not silently left out."""
    listed = {Path(name).name for name in DOCUMENTS if name.startswith("docs/")}
    assert {path.name for path in (ROOT / "docs").glob("*.md")} == listed


def test_command_blocks_run_as_written(tmp_path: Path) -> None:
    """Run every block of every document in one shell; name the first block that fails, with what it printed."""
    work = tmp_path / "work"
    work.mkdir()
    for name in (".venv", "scripts", "docs", "bench", "client"):
        (work / name).symlink_to(ROOT / name)
    port = free_port()
    blocks = [block for document in DOCUMENTS for block in command_blocks(document)]
    assert len(blocks) > 20, "the runner found too few command blocks: is the fence syntax still ```bash?"
    script = [PRELUDE]
    for index, block in enumerate(blocks):
        script += [f"echo '::block {index} {block.document}:{block.line}'", as_run(block, port)]
    script.append("echo '::all blocks ran'")
    env = {**os.environ, "EVAULT_HOME": str(work / "evault-data"), "EVAULT_CLIENT_DIR": str(work / "client-state"),
           "EVAULT_KEYRING": "0", "EVAULT_AGENCY_NAME": "阜阳市应急管理局", "EVAULT_LOG_JSON": "false",
           "DOCS_PORT": str(port), "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
    for name in ("EVAULT_SERVER", "EVAULT_TOKEN", "EVAULT_DATABASE_URL", "EVAULT_STORE", "EVAULT_CLI_USER"):
        env.pop(name, None)
    log = work / "docs-run.log"
    with log.open("w", encoding="utf-8") as out:
        # A session of its own, so the servers the blocks start in the background stop with it.
        shell = subprocess.Popen(["bash", "-c", "\n".join(script)], cwd=work, env=env, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        try:
            returncode = shell.wait(timeout=TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            returncode = -1
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(shell.pid, signal.SIGTERM)
            shell.wait()
    output = log.read_text(encoding="utf-8", errors="replace")
    if returncode != 0 or "::all blocks ran" not in output:
        started = re.findall(r"^::block (\d+) ", output, re.MULTILINE)
        failing = blocks[int(started[-1])] if started else blocks[0]
        tail = output[output.rfind("::block"):][-4000:]
        pytest.fail(f"{failing.document}:{failing.line} failed (exit {returncode}):\n{failing.text}\n"
                    f"--- it printed ---\n{tail}")
