"""The bundle is a valid BagIt bag in a ZIP64 archive with the originals bit for bit."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

import bagit

from tests.vault.exports.conftest import Media
from vault.exports.bagit import safe_name


def _extract(bundle: Path, folder: Path) -> Path:
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(folder)
        return folder / archive.namelist()[0].split("/", 1)[0]


def test_bundle_is_a_valid_bagit_bag(bundle: Path, tmp_path: Path) -> None:
    bag = bagit.Bag(str(_extract(bundle, tmp_path / "out")))
    bag.validate()
    assert set(bag.algorithms) >= {"sha256", "sha512"}
    assert bag.info["Payload-Oxum"].endswith(".2")
    assert bag.info["Case-Number"] == "阜应急罚字〔2023〕40号"
    assert bag.info["Export-Purpose"] == "court"


def test_bagit_library_notices_a_changed_payload_file(bundle: Path, tmp_path: Path) -> None:
    root = _extract(bundle, tmp_path / "out")
    victim = next((root / "data").rglob("*.mp4"))
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.chmod(0o644)
    victim.write_bytes(bytes(data))
    assert not bagit.Bag(str(root)).is_valid()


def test_originals_are_bit_for_bit_and_come_before_the_manifests(bundle: Path, media: Media) -> None:
    with zipfile.ZipFile(bundle) as archive:
        names = [n.split("/", 1)[1] for n in archive.namelist()]
        payload = {
            Path(n).name: archive.read(archive.namelist()[i]) for i, n in enumerate(names) if n.startswith("data/")
        }
    assert payload[safe_name(media.video.name)] == media.video.read_bytes()
    assert payload[media.second.name] == media.second.read_bytes()
    last_payload = max(i for i, n in enumerate(names) if n.startswith("data/"))
    assert names.index("manifest-sha256.txt") > last_payload
    assert names.index("tagmanifest-sha256.txt") > names.index("manifest-sha512.txt")


def test_payload_entries_are_stored_uncompressed_with_zip64_local_headers(bundle: Path) -> None:
    raw = bundle.read_bytes()
    with zipfile.ZipFile(bundle) as archive:
        payload = [i for i in archive.infolist() if "/data/" in i.filename]
    assert payload
    for info in payload:
        assert info.compress_type == zipfile.ZIP_STORED
        header = raw[info.header_offset : info.header_offset + 30]
        assert header[:4] == b"PK\x03\x04"
        flags, name_length, extra_length = struct.unpack("<H", header[6:8])[0], *struct.unpack("<HH", header[26:30])
        assert flags & 0x08  # sizes follow the data in a descriptor: the stream was never rewound
        extra = raw[info.header_offset + 30 + name_length : info.header_offset + 30 + name_length + extra_length]
        assert struct.unpack("<H", extra[:2])[0] == 0x0001  # ZIP64 extended information, ready for > 4 GiB


def test_metadata_holds_handlers_flags_capture_and_sm3(bundle: Path) -> None:
    with zipfile.ZipFile(bundle) as archive:
        root = archive.namelist()[0].split("/", 1)[0]
        records = [json.loads(archive.read(n)) for n in archive.namelist() if "/metadata/records/" in n]
        sm3_lines = archive.read(f"{root}/metadata/digests-sm3.txt").decode().splitlines()
    assert len(records) == 2 and len(sm3_lines) == 2
    flagged = next(r for r in records if r["flags"])
    assert flagged["flags"][0]["flag"] == "late_upload" and flagged["digests"]["sm3_source"] == "ingest"
    other = next(r for r in records if not r["flags"])
    assert other["digests"]["sm3_source"] == "export" and len(other["digests"]["sm3"]) == 64
    assert {h["certificate_number"] for h in other["handlers"]} == {"13010001", "13010002"}
    assert other["capture"]["recorder_serial"] == "DSJ-0042" and other["custody_events"] >= 2


def test_safe_name_keeps_unicode_and_drops_separators() -> None:
    assert safe_name("执法记录 01.mp4") == "执法记录 01.mp4"
    assert safe_name("../../etc/passwd") == "_.._etc_passwd"
    assert safe_name("a%0Ab\nc.mp4") == "a_0Ab_c.mp4"
    assert safe_name("...") == "original"
