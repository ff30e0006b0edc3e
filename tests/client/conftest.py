"""The client as people use it: each person's own shell, running `evault` against a real vault server."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog.testing
from click.testing import CliRunner, Result

from evault_client.cli import root
from tests.conftest import Person, serve_app
from vault.context import VaultContext


@pytest.fixture
def vault_url(context: VaultContext) -> Iterator[str]:
    """Serve the test vault over real HTTP; yield its URL.

    The server runs in this process, so its log lines would land in whatever a shell's CliRunner has made
    sys.stdout: they are captured aside instead."""
    with structlog.testing.capture_logs():
        yield from serve_app(context)


@dataclass
class Shell:
    """One person's terminal: `evault` with their credential, their own client folder, English messages."""

    env: dict[str, str]

    def __call__(self, *args: str, input: str | None = None) -> Result:  # noqa: A002 - CliRunner's own name
        """Run `evault ARGS`; return what it printed and its exit status."""
        return CliRunner().invoke(root, list(args), env=self.env, input=input, catch_exceptions=False)

    def ok(self, *args: str, input: str | None = None) -> Result:  # noqa: A002
        """Run a command that must succeed."""
        result = self(*args, input=input)
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        return result

    def json(self, *args: str) -> Any:
        """Run a command with --json that prints one document; return it decoded."""
        return json.loads(self.ok("--json", *args).stdout)

    def json_lines(self, *args: str) -> list[Any]:
        """Run a command with --json that prints JSON lines; return them decoded."""
        return [json.loads(line) for line in self.ok("--json", *args).stdout.splitlines() if line.strip()]


@pytest.fixture
def shell_for(vault_url: str, tmp_path: Path) -> Callable[..., Shell]:
    """Return a shell signed in as a person (through EVAULT_TOKEN), or signed in as nobody."""

    def make(person: Person | None = None, **extra: str) -> Shell:
        name = person.user.name if person else "nobody"
        env = {"EVAULT_SERVER": vault_url, "EVAULT_CLIENT_DIR": str(tmp_path / f"client-{name}"),
               "EVAULT_LANG": "en", "EVAULT_KEYRING": "0", "EVAULT_TOKEN": person.token if person else ""}
        return Shell(env={**env, **extra})

    return make
