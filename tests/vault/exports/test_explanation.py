"""The explanation sheet (制作说明): where each record was made and how that is known; the agency that made it."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from pathlib import Path

import ffmpeg
import pytest
from fastapi.testclient import TestClient

from ingest.exif import read_exif
from ingest.probe import probe_media
from tests.ingest.conftest import add_exif
from tests.media import make_photo, make_video
from tests.vault.exports.conftest import CASE_NUMBER, World, _store, approve
from vault.access.models import AccessPurpose
from vault.config import PLACEHOLDER_AGENCY_NAME
from vault.context import VaultContext
from vault.db import utcnow
from vault.evidence.models import Derivative, DerivativeKind, Evidence
from vault.evidence.place import parse_iso6709
from vault.exports import layout


def _located_clip(path: Path) -> Path:
    """Write an MP4 whose metadata carry a position, as recorders with GPS write it (ISO 6709)."""
    make_video(path, seconds=1.0, size="96x72")
    located = path.with_suffix(".located.mp4")
    ffmpeg.input(str(path)).output(str(located), c="copy", metadata="location=+32.8905+115.8142/",
                                   loglevel="error").overwrite_output().run(quiet=True)
    return located


def _with_media_info(context: VaultContext, evidence_id: uuid.UUID, path: Path, *, place: str | None) -> None:
    """Give a record what the ingest learns from its bytes (ffprobe, and EXIF for photos)."""
    probe = probe_media(path)
    exif = read_exif(path, zone=context.settings.zone) if probe.kind == "image" else {}
    with context.sessions() as session:
        evidence = session.get(Evidence, evidence_id)
        assert evidence is not None
        evidence.media_info, evidence.place = {**probe.info, "exif": exif}, place
        session.commit()


def _files(bundle: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        root = archive.namelist()[0].split("/", 1)[0]
        return {name[len(root) + 1:]: archive.read(name) for name in archive.namelist()}


def _record_blocks(sheet: str) -> dict[str, str]:
    """Return each record's block of the plain-text sheet by record ID."""
    blocks = sheet.split("记录编号 Record ID: ")[1:]
    return {block.split("\n", 1)[0]: block for block in blocks}


@pytest.mark.parametrize(("text", "point"), [
    ("+31.2304+121.4737/", (31.2304, 121.4737)),
    ("+31.2304+121.4737+012.345/", (31.2304, 121.4737)),
    ("-3312.5+15100.25/", (-33.2083333, 151.0041667)),
    ("+311230+1212830CRSWGS_84/", (31.2083333, 121.4750000)),
    ("somewhere", None),
    ("+95.0+121.0/", None),
])
def test_iso6709_points_are_read(text: str, point: tuple[float, float] | None) -> None:
    assert parse_iso6709(text) == point


def test_the_sheet_names_the_place_and_its_source_through_the_api(
    client: TestClient, context: VaultContext, world: World, tmp_path: Path
) -> None:
    # Issue 12, item 9 (`003` 第二十一条: 制作说明 states the place): GPS from the recording's metadata or a photo's
    # EXIF, else the place the officer declared, else 未记录; the source is shown.
    clip, photo = _located_clip(tmp_path / "gps.mp4"), add_exif(make_photo(tmp_path / "gps.jpg", size="96x72"))
    plain = make_video(tmp_path / "plain.mp4", seconds=1.0, size="80x60")
    by_recording = _store(context, world.officer, clip, CASE_NUMBER)
    by_exif = _store(context, world.officer, photo, CASE_NUMBER)
    unknown = _store(context, world.officer, plain, CASE_NUMBER)
    _with_media_info(context, by_recording, clip, place="颍州区某厂区东门")
    _with_media_info(context, by_exif, photo, place=None)
    _with_media_info(context, unknown, plain, place=None)
    declared = world.records[0]  # declared at upload, no GPS in its media
    records = [declared, by_recording, by_exif, unknown]
    approve(context, world, records, utcnow())
    response = client.post("/api/exports", headers=world.manager.headers, json={
        "case_number": CASE_NUMBER, "purpose": "court", "recipient": "阜阳市中级人民法院",
        "evidence_ids": [str(r) for r in records]})
    assert response.status_code == 200, response.text
    files = _files(response.content)
    blocks = _record_blocks(files[layout.EXPLANATION_TEXT].decode())
    assert "拍摄地点 Place: 阜阳市颍州区某厂区（来源：申报 source: declared by the officer）" in blocks[str(declared)]
    assert ("拍摄地点 Place: 北纬 32.890500°，东经 115.814200° (lat 32.890500, lon 115.814200)（来源：GPS，"
            "录像元数据 recording metadata source: GPS）；申报地点 declared: 颍州区某厂区东门"
            ) in blocks[str(by_recording)]
    assert "北纬 31.500000°，东经 117.260000°" in blocks[str(by_exif)] and "照片 EXIF" in blocks[str(by_exif)]
    assert "拍摄地点 Place: 未记录 not recorded" in blocks[str(unknown)]
    html = files[layout.EXPLANATION_HTML].decode()
    assert "来源：GPS" in html and "来源：申报" in html
    metadata = json.loads(files[f"metadata/records/{by_recording}.json"])
    assert metadata["capture"]["place"] == {"source": "gps_recording", "gps": {"lat": 32.8905, "lon": 115.8142},
                                            "declared": "颍州区某厂区东门"}


def test_derived_files_are_marked_derived_and_left_out_of_the_bundle(
    client: TestClient, context: VaultContext, world: World
) -> None:
    # Issue 12, item 8 (`000` 第十六条): derived files are marked derived, in exports too; a bundle carries originals.
    with context.sessions() as session:
        session.add(Derivative(evidence_id=world.records[0], kind=DerivativeKind.THUMBNAIL, sha256="a" * 64, size=9,
                               media_type="image/jpeg", storage_key="derivatives/" + "a" * 64, version_id="1"))
        session.commit()
    approve(context, world, world.records, utcnow())
    response = client.post("/api/exports", headers=world.manager.headers, json={
        "case_number": CASE_NUMBER, "purpose": "court", "recipient": "阜阳市中级人民法院",
        "evidence_ids": [str(r) for r in world.records]})
    files = _files(response.content)
    metadata = json.loads(files[f"metadata/records/{world.records[0]}.json"])
    assert metadata["derivatives"] == [{"kind": "thumbnail", "derived": True, "in_bundle": False, "sha256": "a" * 64,
                                        "size": 9, "media_type": "image/jpeg"}]
    assert not any(name.startswith("data/") and "a" * 64 in name for name in files)
    blocks = _record_blocks(files[layout.EXPLANATION_TEXT].decode())
    derived = "派生文件 Derived files: thumbnail：由原始记录派生，非原始记录，未收入本证据包"
    assert derived in blocks[str(world.records[0])]
    assert "派生文件 Derived files: 无 none" in blocks[str(world.records[1])]


def test_an_api_export_with_the_placeholder_agency_is_refused_outside_a_demo_vault(
    client: TestClient, context: VaultContext, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 12, item 9: the agency's name is required; exports refuse the placeholder outside a demo vault.
    approve(context, world, world.records, utcnow(), purpose=AccessPurpose.LITIGATION)
    body = {"case_number": CASE_NUMBER, "purpose": "court", "recipient": "阜阳市中级人民法院",
            "evidence_ids": [str(r) for r in world.records]}
    for name in ("  ", PLACEHOLDER_AGENCY_NAME):
        monkeypatch.setattr(context.settings, "agency_name", name)
        refused = client.post("/api/exports", headers=world.manager.headers, json=body)
        assert refused.status_code == 409
        error = refused.json()["error"]
        assert error["code"] == "agency_name_not_set" and error["message"].startswith("制作单位名称未设置")
        assert error["details"]["setting"] == "EVAULT_AGENCY_NAME"
    assert client.post("/api/exports", headers=world.officer.headers, json=body).status_code == 403
    monkeypatch.setattr(context.settings, "demo", True)
    made = client.post("/api/exports", headers=world.manager.headers, json=body)
    assert made.status_code == 200
    assert PLACEHOLDER_AGENCY_NAME in _files(made.content)[layout.EXPLANATION_TEXT].decode()
