"""Upload metadata: names, tus encoding, header encoding, values."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from ingest.errors import InvalidFilename, InvalidMetadata
from ingest.metadata import (
    Activity,
    check_filename,
    parse_header_metadata,
    parse_metadata,
    parse_tus_metadata,
)
from vault.evidence.models import Confidentiality


@pytest.mark.parametrize("name", ["../etc/passwd", "/abs/clip.mp4", "a/b.mp4", "dir\\clip.mp4", "C:clip.mp4",
                                  "clip\x00.mp4", "clip\n.mp4", "..", ".", "", "x" * 256])
def test_path_tricks_and_control_characters_are_refused(name: str) -> None:
    with pytest.raises(InvalidFilename) as caught:
        check_filename(name)
    assert caught.value.status == 422 and caught.value.code == "invalid_filename"


def test_plain_unicode_names_pass() -> None:
    assert check_filename("执法记录仪_0001 (1).MP4") == "执法记录仪_0001 (1).MP4"


def test_tus_metadata_decodes_utf8_pairs_and_empty_values() -> None:
    case = base64.b64encode("阜应急罚字〔2023〕40号".encode()).decode()
    assert parse_tus_metadata(f"filename Y2xpcC5tcDQ=,case_number {case},party_informed") == {
        "filename": "clip.mp4", "case_number": "阜应急罚字〔2023〕40号", "party_informed": ""}
    assert parse_tus_metadata(None) == {}


@pytest.mark.parametrize("header", ["filename not*base64", "filename Y2xp cC5tcDQ=", "filename //79",
                                    "filename Y2xpcC5tcDQ=,filename Y2xpcC5tcDQ="])
def test_malformed_tus_metadata_is_refused(header: str) -> None:
    with pytest.raises(InvalidMetadata):
        parse_tus_metadata(header)


def test_header_metadata_is_percent_decoded_and_dashes_read_as_underscores() -> None:
    headers = {"Evault-Meta-Filename": "clip.mp4", "evault-meta-case-number": "%E9%98%9C%E5%BA%94",
               "Authorization": "Bearer x"}
    assert parse_header_metadata(headers) == {"filename": "clip.mp4", "case_number": "阜应"}
    with pytest.raises(InvalidMetadata):
        parse_header_metadata({"Evault-Meta-Party": "%FF%FE"})


def test_values_are_parsed_and_unknown_keys_ignored() -> None:
    meta = parse_metadata({"filename": "a.mp4", "sha256": "AB" * 32, "handlers": "C001, C002,C001,",
                           "activity": "Inspection", "capture_start": "2025-03-30T14:00:00+08:00",
                           "capture_end": "2025-03-30T06:10:00Z", "party_informed": "true",
                           "confidentiality": "personal_privacy", "colour": "blue"})
    assert meta.sha256 == "ab" * 32 and meta.handlers == ("C001", "C002") and meta.activity == Activity.INSPECTION
    assert meta.capture_start == datetime(2025, 3, 30, 6, 0, tzinfo=UTC) and meta.party_informed is True
    assert meta.confidentiality == Confidentiality.PERSONAL_PRIVACY


@pytest.mark.parametrize(("key", "value"), [
    ("sha256", "xyz"), ("capture_start", "yesterday"), ("capture_start", "2025-03-30T14:00:00"),
    ("field_return_at", "2025-02-30T10:00:00+08:00"), ("party_informed", "maybe"), ("activity", "party"),
    ("confidentiality", "top"), ("case_number", "x" * 129), ("party", "bad\x07name"), ("handlers", "C\x01"),
])
def test_malformed_values_are_refused_with_422(key: str, value: str) -> None:
    with pytest.raises(InvalidMetadata) as caught:
        parse_metadata({"filename": "a.mp4", key: value})
    assert caught.value.status == 422 and caught.value.code == "invalid_metadata"


def test_capture_end_before_start_is_refused() -> None:
    with pytest.raises(InvalidMetadata):
        parse_metadata({"filename": "a.mp4", "capture_start": "2025-03-30T10:00:00+08:00",
                        "capture_end": "2025-03-30T09:00:00+08:00"})


def test_a_missing_filename_is_refused() -> None:
    with pytest.raises(InvalidFilename):
        parse_metadata({"case_number": "X"})
