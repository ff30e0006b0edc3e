"""Which files a recorder folder yields, and their SHA-256."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from evault_client.upload.errors import ClientError
from evault_client.upload.files import expand_paths, sha256_file


def test_folders_expand_recursively_skipping_hidden_receipts_sidecars_and_clear_lists(tmp_path: Path) -> None:
    recorder = tmp_path / "DSJ-001"
    (recorder / "DCIM" / "100").mkdir(parents=True)
    (recorder / ".Trashes").mkdir()
    wanted = [recorder / "DCIM" / "100" / "A.MP4", recorder / "DCIM" / "B.JPG", recorder / "Z.WAV"]
    unwanted = [recorder / ".DS_Store", recorder / ".Trashes" / "C.MP4", recorder / "A.MP4.evault-receipt.json",
                recorder / "evault.json", recorder / "evault.toml", recorder / "EVAULT-CLEARED.txt"]
    for path in wanted + unwanted:
        path.write_bytes(b"x")
    single = tmp_path / "single.mp4"
    single.write_bytes(b"y")
    found = expand_paths([recorder, single, wanted[0], recorder / "A.MP4.evault-receipt.json"])
    assert found == [*wanted, single]


def test_a_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ClientError, match="no such file"):
        expand_paths([tmp_path / "nope"])


def test_sha256_streams_in_chunks_and_reports_progress(tmp_path: Path) -> None:
    data = bytes(range(256)) * 9000
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    seen: list[int] = []
    assert sha256_file(path, on_bytes=seen.append) == hashlib.sha256(data).hexdigest()
    assert sum(seen) == len(data) and len(seen) == 3
