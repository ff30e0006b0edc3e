"""Tags: command-line and sidecar values become tus metadata; bad values are refused before any work."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from evault_client.upload.errors import ClientError
from evault_client.upload.tags import Tags, check_tags, parse_time, read_sidecar

CASE = "阜应急罚字〔2023〕40号"


def test_metadata_carries_only_what_was_declared() -> None:
    tags = Tags(case_number=CASE, handlers=("14010219001", "14010219002"), party_informed=False,
                field_return_at=parse_time("2025-03-31T18:30:00+08:00", name="t"))
    assert tags.metadata(filename="A.MP4", sha256="ab" * 32) == {
        "filename": "A.MP4", "sha256": "ab" * 32, "case_number": CASE, "handlers": "14010219001,14010219002",
        "party_informed": "false", "field_return_at": "2025-03-31T18:30:00+08:00",
    }


@pytest.mark.parametrize("value", ["yesterday", "2025-03-31T18:30:00"])
def test_times_must_be_iso_with_an_offset(value: str) -> None:
    with pytest.raises(ClientError):
        parse_time(value, name="--field-return-at")


@pytest.mark.parametrize("tags", [Tags(handlers=("1,2",)), Tags(handlers=(" ",)), Tags(activity="party"),
                                  Tags(confidentiality="top")])
def test_malformed_tags_are_refused_locally(tags: Tags) -> None:
    with pytest.raises(ClientError):
        check_tags(tags)


def test_json_sidecar_overrides_defaults(tmp_path: Path) -> None:
    (tmp_path / "evault.json").write_text(
        '{"recorder_serial": "DSJ-V8-0042", "handlers": ["14010219001", "14010219002"], '
        f'"case_number": "{CASE}", "party_informed": true, "activity": "inspection"}}', encoding="utf-8")
    sidecar = read_sidecar(tmp_path)
    assert sidecar is not None
    merged = Tags(party="某某化工有限公司", handlers=("99",), activity="other").merged(sidecar)
    assert merged == Tags(case_number=CASE, party="某某化工有限公司", handlers=("14010219001", "14010219002"),
                          activity="inspection", recorder_serial="DSJ-V8-0042", party_informed=True)


def test_toml_sidecar_with_a_single_handler_string(tmp_path: Path) -> None:
    (tmp_path / "evault.toml").write_text(
        'recorder_serial = "DSJ-7"\nhandler = "14010219001"\nfield_return_at = "2025-03-31T18:30:00+08:00"\n',
        encoding="utf-8")
    sidecar = read_sidecar(tmp_path)
    assert sidecar is not None and sidecar.handlers == ("14010219001",)
    assert sidecar.field_return_at == datetime.fromisoformat("2025-03-31T18:30:00+08:00")


@pytest.mark.parametrize("text", ['{"case": "x"}', '{"party_informed": "yes"}', "[1]", "{not json"])
def test_a_bad_sidecar_is_reported_by_path(tmp_path: Path, text: str) -> None:
    (tmp_path / "evault.json").write_text(text, encoding="utf-8")
    with pytest.raises(ClientError, match=r"evault\.json"):
        read_sidecar(tmp_path)


def test_no_sidecar_means_no_tags(tmp_path: Path) -> None:
    assert read_sidecar(tmp_path) is None


def test_a_sidecar_declares_the_place_and_it_travels_as_metadata(tmp_path: Path) -> None:
    # Issue 12, item 9: the declared place (拍摄地点) of a recorder folder.
    (tmp_path / "evault.json").write_text('{"place": "阜阳市颍州区某厂区"}', encoding="utf-8")
    sidecar = read_sidecar(tmp_path)
    assert sidecar is not None and sidecar.place == "阜阳市颍州区某厂区"
    assert Tags().merged(sidecar).metadata(filename="A.MP4", sha256="ab" * 32)["place"] == "阜阳市颍州区某厂区"
