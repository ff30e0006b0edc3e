"""`evault verify-bundle` checks a bundle offline; `evault export` itself is the client's (tests/client)."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from evault.cli import main
from tests.conftest import STORE_KIND
from tests.vault.exports.conftest import World, approve, build
from vault.context import VaultContext
from vault.db import utcnow
from vault.storage.base import BlobStore


def _env(context: VaultContext, store: BlobStore) -> dict[str, str]:
    """Return the environment of a host command that opens the test's own catalog and store."""
    env = {"EVAULT_HOME": str(context.settings.home), "EVAULT_DATABASE_URL": context.settings.resolved_database_url,
           "EVAULT_LOG_JSON": "false", "EVAULT_AGENCY_NAME": context.settings.agency_name}
    if STORE_KIND == "s3":
        bucket: str = store.bucket  # type: ignore[attr-defined]
        env |= {"EVAULT_STORE": "s3", "EVAULT_S3_ENDPOINT": os.environ["EVAULT_TEST_S3_ENDPOINT"],
                "EVAULT_S3_ACCESS_KEY": os.environ.get("EVAULT_TEST_S3_ACCESS_KEY", "evaultci"),
                "EVAULT_S3_SECRET_KEY": os.environ.get("EVAULT_TEST_S3_SECRET_KEY", "evaultci-secret-key"),
                "EVAULT_S3_BUCKET": bucket, "EVAULT_S3_LOCK_MODE": "GOVERNANCE"}
    return env


def test_verify_bundle_checks_a_bundle(context: VaultContext, world: World, tmp_path: Path) -> None:
    now = utcnow()
    approve(context, world, world.records, now)
    out = tmp_path / "court.zip"
    build(context, world, out, now, records=world.records)
    checked = CliRunner().invoke(main, ["verify-bundle", str(out)])
    assert checked.exit_code == 0 and "VERDICT: VALID" in checked.output
