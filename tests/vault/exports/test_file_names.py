"""A record keeps the name it was uploaded with; every file written for it gets a safe name ext4 can hold."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, unquote_to_bytes

from fastapi.testclient import TestClient

from tests.vault.exports.conftest import World, approve, build
from vault.context import VaultContext
from vault.evidence.models import Evidence
from vault.exports.bagit import safe_name
from vault.text import MAX_NAME_BYTES

# 250 characters, 754 bytes of UTF-8: within the 255 characters an upload may name, three times what ext4 holds.
LONG_NAME = "执法记录仪" * 50 + ".mp4"


def rename(context: VaultContext, world: World, name: str) -> None:
    with context.sessions() as session:
        evidence = session.get(Evidence, world.records[0])
        assert evidence is not None
        evidence.original_name = name
        session.commit()


def test_a_bundle_with_a_long_original_name_unzips_on_ext4_and_keeps_the_name(
        context: VaultContext, world: World, tmp_path: Path, now: datetime) -> None:
    rename(context, world, LONG_NAME)
    approve(context, world, world.records, now)
    out = tmp_path / "bundle.zip"
    build(context, world, out, now, records=world.records)
    target = tmp_path / "unzipped"
    with zipfile.ZipFile(out) as archive:
        archive.extractall(target)  # "File name too long" when a component passes 255 bytes
        names = archive.namelist()
    payload = [Path(n) for n in names if "/data/" in n and str(world.records[0]) in n]
    assert len(payload) == 1 and payload[0].suffix == ".mp4"
    assert len(payload[0].name.encode()) <= MAX_NAME_BYTES and payload[0].name.startswith("执法记录仪")
    kept = [json.loads(p.read_text()) for p in target.rglob("*.json")]
    assert any(record.get("original_name") == LONG_NAME for record in kept)


def test_a_download_names_a_file_a_disk_can_hold(client: TestClient, context: VaultContext, world: World) -> None:
    rename(context, world, LONG_NAME)
    approve(context, world, world.records, datetime.now(UTC))
    response = client.get(f"/api/evidence/{world.records[0]}/download", headers=world.manager.headers)
    assert response.status_code == 200, response.text
    disposition = response.headers["content-disposition"]
    encoded = disposition.split("filename*=UTF-8''", 1)[1]
    assert len(unquote_to_bytes(encoded)) <= MAX_NAME_BYTES and unquote(encoded).endswith(".mp4")


def test_safe_names_are_bounded_in_bytes_and_keep_the_extension() -> None:
    assert safe_name(LONG_NAME).endswith(".mp4") and len(safe_name(LONG_NAME).encode()) <= MAX_NAME_BYTES
    assert safe_name("a" * 300) == "a" * MAX_NAME_BYTES
    assert safe_name("执法记录 01.mp4") == "执法记录 01.mp4"
