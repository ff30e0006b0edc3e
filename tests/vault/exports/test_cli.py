"""`evault verify-bundle` checks a bundle offline; `evault export` itself is the client's (tests/client)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from evault.cli import main
from tests.vault.exports.conftest import World, approve, build
from vault.context import VaultContext
from vault.db import utcnow


def test_verify_bundle_checks_a_bundle(context: VaultContext, world: World, tmp_path: Path) -> None:
    now = utcnow()
    approve(context, world, world.records, now)
    out = tmp_path / "court.zip"
    build(context, world, out, now, records=world.records)
    checked = CliRunner().invoke(main, ["verify-bundle", str(out)])
    assert checked.exit_code == 0 and "VERDICT: VALID" in checked.output
