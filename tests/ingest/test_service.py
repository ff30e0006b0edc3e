"""The ingest service: store, register, flag (never refuse) for tags; refuse non-media and bad checksums."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ingest.errors import UnsupportedMedia
from ingest.metadata import parse_metadata
from ingest.models import IngestRecord
from ingest.rules import IngestRules
from ingest.service import ingest_staged
from tests.conftest import Person
from tests.ingest.conftest import CaseFile, events_of, flags_of, ingest_file, sha256_of, stage
from vault.context import VaultContext
from vault.custody.models import CustodyAction
from vault.errors import ChecksumMismatch, NotFound, PermissionDenied
from vault.evidence.models import Evidence
from vault.identities.actor import SYSTEM
from vault.identities.certificates import CertificateChangeInput, change_certificate
from vault.identities.models import CertificateChange, Role
from vault.identities.service import find_handler
from vault.storage.local import LocalBlobStore

# The clip was captured 2025-03-30 14:00 Shanghai; its handover deadline is midnight Shanghai (16:00 UTC).
ON_TIME = datetime(2025, 3, 30, 8, 0, tzinfo=UTC)
FULL_TAGS = {"handlers": "C001,C002", "activity": "inspection", "party_informed": "true",
             "recorder_serial": "DSJ-0001"}


def evidence_count(context: VaultContext) -> int:
    with context.sessions() as session:
        return session.scalar(select(func.count()).select_from(Evidence)) or 0


def test_a_fully_tagged_clip_is_stored_registered_and_unflagged(
        context: VaultContext, officer: Person, case_file: CaseFile, media: dict[str, Path]) -> None:
    outcome = ingest_file(context, officer, media["clip"], now=ON_TIME, case_number=case_file.number,
                          party=case_file.party, **FULL_TAGS)
    evidence = outcome.evidence
    assert not outcome.duplicate and flags_of(context, evidence.id) == {}
    assert evidence.media_type == "video/mp4" and evidence.media_info["video_codec"] == "h264"
    assert evidence.capture_start == datetime(2025, 3, 30, 6, 0, tzinfo=UTC)
    assert evidence.capture_end == datetime(2025, 3, 30, 6, 0, 2, tzinfo=UTC)
    stat = context.store.stat(evidence.storage_key, evidence.version_id)
    assert stat.size == media["clip"].stat().st_size and stat.retain_until is not None
    assert stat.retain_until >= datetime.now(UTC) + timedelta(days=183) - timedelta(minutes=5)
    assert abs(stat.retain_until - evidence.store_retain_until) < timedelta(seconds=1)
    assert b"".join(context.store.open_range(evidence.storage_key, evidence.version_id)) == media["clip"].read_bytes()
    assert len(events_of(context, evidence.id, CustodyAction.EVIDENCE_REGISTERED)) == 1
    with context.sessions() as session:
        record = session.get(IngestRecord, evidence.id)
        assert record is not None and record.handover_deadline == datetime(2025, 3, 30, 16, 0, tzinfo=UTC)
    assert list(context.settings.uploads_dir.iterdir()) == []


def test_missing_tags_are_stored_and_flagged(context: VaultContext, officer: Person, media: dict[str, Path]) -> None:
    outcome = ingest_file(context, officer, media["clip"], now=ON_TIME)
    assert set(flags_of(context, outcome.evidence.id)) == {
        "untagged_case", "untagged_party", "untagged_handler", "party_not_informed"}


def test_unknown_names_are_kept_as_given_and_flagged(
        context: VaultContext, officer: Person, case_file: CaseFile, media: dict[str, Path]) -> None:
    outcome = ingest_file(context, officer, media["clip"], now=ON_TIME, case_number="阜应急罚字〔2099〕1号",
                          party="无名公司", handlers="C001,C777", party_informed="true")
    flags = flags_of(context, outcome.evidence.id)
    assert set(flags) == {"unknown_case", "unknown_party", "unknown_handler"}
    assert "〔2099〕" in flags["unknown_case"] and "C777" in flags["unknown_handler"]
    with context.sessions() as session:
        record = session.get(IngestRecord, outcome.evidence.id)
        assert record is not None
        assert (record.given_case_number, record.given_party) == ("阜应急罚字〔2099〕1号", "无名公司")
        assert record.given_handlers == ["C001", "C777"]
    assert outcome.evidence.case_id is None


def test_expired_certificate_and_too_few_certified_officers_are_flagged(
        context: VaultContext, officer: Person, case_file: CaseFile, media: dict[str, Path]) -> None:
    outcome = ingest_file(context, officer, media["clip"], now=ON_TIME, case_number=case_file.number,
                          party=case_file.party, handlers="C001,C009", activity="seizure", party_informed="true")
    flags = flags_of(context, outcome.evidence.id)
    assert set(flags) == {"certificate_invalid", "fewer_than_two_officers"}
    assert "C009" in flags["certificate_invalid"] and "2025-03-30" in flags["certificate_invalid"]
    assert "只有 1 名持证执法人员" in flags["fewer_than_two_officers"]


def _suspend(context: VaultContext, number: str, start: date, end: date | None) -> None:
    with context.sessions() as session:
        handler = find_handler(session=session, certificate_number=number)
        for kind, day in ((CertificateChange.SUSPENDED, start), (CertificateChange.REINSTATED, end)):
            if day is not None:
                change_certificate(session=session, actor=SYSTEM, handler=handler, now=ON_TIME,
                                   change=CertificateChangeInput(kind, day, "暂扣执法证"))
        session.commit()


def test_a_clip_captured_while_a_certificate_was_suspended_is_flagged(
        context: VaultContext, officer: Person, case_file: CaseFile, media: dict[str, Path]) -> None:
    # A handler whose certificate was suspended at capture time is flagged, never silently accepted (`001` 第十六条).
    _suspend(context, "C002", date(2025, 3, 1), date(2025, 4, 1))
    outcome = ingest_file(context, officer, media["clip"], now=ON_TIME, case_number=case_file.number,
                          party=case_file.party, **FULL_TAGS)
    flags = flags_of(context, outcome.evidence.id)
    assert set(flags) == {"certificate_invalid", "fewer_than_two_officers"}
    assert "C002，suspended" in flags["certificate_invalid"] and "2025-03-30" in flags["certificate_invalid"]


def test_validity_is_judged_at_capture_time_not_upload_time(
        context: VaultContext, officer: Person, case_file: CaseFile, media: dict[str, Path]) -> None:
    # The clip (2025-03-30) was made before the suspension took effect (2025-03-31): the certificate was valid.
    _suspend(context, "C002", date(2025, 3, 31), None)
    outcome = ingest_file(context, officer, media["clip"], now=ON_TIME, case_number=case_file.number,
                          party=case_file.party, **FULL_TAGS)
    assert flags_of(context, outcome.evidence.id) == {}


def test_one_officer_on_a_non_enforcement_activity_is_fine(
        context: VaultContext, officer: Person, case_file: CaseFile, media: dict[str, Path]) -> None:
    outcome = ingest_file(context, officer, media["clip"], now=ON_TIME, case_number=case_file.number,
                          party=case_file.party, handlers="C001", activity="other", party_informed="true")
    assert flags_of(context, outcome.evidence.id) == {}


def test_late_upload_is_flagged_with_the_reason(
        context: VaultContext, officer: Person, case_file: CaseFile, media: dict[str, Path], now: datetime) -> None:
    outcome = ingest_file(context, officer, media["clip"], now=now, case_number=case_file.number,
                          party=case_file.party, late_reason="recorder battery died", **FULL_TAGS)
    flags = flags_of(context, outcome.evidence.id)
    assert set(flags) == {"late_upload"} and "recorder battery died" in flags["late_upload"]
    assert "迟了 10.0 小时" in flags["late_upload"]


def test_field_work_gets_24_hours_after_return(
        context: VaultContext, officer: Person, case_file: CaseFile, media: dict[str, Path], now: datetime) -> None:
    outcome = ingest_file(context, officer, media["clip"], now=now, case_number=case_file.number,
                          party=case_file.party, field_return_at="2025-03-30T22:00:00+08:00", **FULL_TAGS)
    assert flags_of(context, outcome.evidence.id) == {}


def test_duplicate_bytes_return_the_existing_record(
        context: VaultContext, officer: Person, media: dict[str, Path]) -> None:
    first = ingest_file(context, officer, media["clip"], now=ON_TIME)
    second = ingest_file(context, officer, media["clip"], now=ON_TIME, filename="copy.mp4")
    assert second.duplicate and second.evidence.id == first.evidence.id and second.original_name == "copy.mp4"
    assert evidence_count(context) == 1
    events = events_of(context, first.evidence.id, CustodyAction.EVIDENCE_DUPLICATE_SUBMITTED)
    assert len(events) == 1 and events[0].details["submitted_name"] == "copy.mp4"
    assert list(context.settings.uploads_dir.iterdir()) == []


@pytest.mark.parametrize("name", ["text", "elf"])
def test_non_media_is_refused_and_nothing_is_kept(
        context: VaultContext, officer: Person, media: dict[str, Path], name: str) -> None:
    with context.sessions() as session:
        with pytest.raises(UnsupportedMedia) as caught:
            ingest_staged(session=session, actor=officer.actor, store=context.store,
                          rules=IngestRules.of(context.settings), staged=stage(context, media[name]),
                          meta=parse_metadata({"filename": "clip.mp4"}), now=ON_TIME)
        assert caught.value.record_kept
        session.commit()
    assert evidence_count(context) == 0 and list(context.settings.uploads_dir.iterdir()) == []
    if isinstance(context.store, LocalBlobStore):
        assert not any(p.is_file() for p in context.store.root.rglob("*")
                       if ".incoming" not in p.parts and "anchors" not in p.parts)
    rejected = events_of(context, sha256_of(media[name]), CustodyAction.EVIDENCE_REJECTED)
    assert rejected and rejected[0].details["code"] == "unsupported_media"


def test_a_wrong_declared_checksum_is_refused_and_nothing_kept(
        context: VaultContext, officer: Person, media: dict[str, Path]) -> None:
    with context.sessions() as session, pytest.raises(ChecksumMismatch):
        ingest_staged(session=session, actor=officer.actor, store=context.store,
                      rules=IngestRules.of(context.settings), staged=stage(context, media["clip"]),
                      meta=parse_metadata({"filename": "clip.mp4", "sha256": "0" * 64}), now=ON_TIME)
    assert evidence_count(context) == 0 and list(context.settings.uploads_dir.iterdir()) == []


@pytest.mark.parametrize("name", ["truncated", "tail_lost"])
def test_damaged_recordings_are_stored_and_flagged(
        context: VaultContext, officer: Person, media: dict[str, Path], name: str) -> None:
    outcome = ingest_file(context, officer, media[name], now=ON_TIME)
    assert "damaged" in flags_of(context, outcome.evidence.id)
    assert outcome.evidence.size == media[name].stat().st_size


def test_a_photo_takes_capture_time_device_and_gps_from_exif(
        context: VaultContext, officer: Person, media: dict[str, Path]) -> None:
    outcome = ingest_file(context, officer, media["photo"], now=ON_TIME)
    evidence = outcome.evidence
    assert evidence.media_type == "image/jpeg"
    assert evidence.capture_start == datetime(2025, 3, 30, 6, 5, 6, tzinfo=UTC) == evidence.capture_end
    assert evidence.media_info["exif"]["model"] == "DSJ-T9" and evidence.media_info["exif"]["gps"]["lat"] == 31.5


def test_only_uploaders_may_ingest(
        context: VaultContext, make_person: Callable[..., Person], media: dict[str, Path]) -> None:
    reviewer = make_person(Role.REVIEWER)
    with pytest.raises(PermissionDenied):
        ingest_file(context, reviewer, media["clip"], now=ON_TIME)


def test_the_system_cannot_be_an_uploader(context: VaultContext, media: dict[str, Path]) -> None:
    with context.sessions() as session, pytest.raises(NotFound):
        ingest_staged(session=session, actor=SYSTEM, store=context.store, rules=IngestRules.of(context.settings),
                      staged=stage(context, media["clip"]), meta=parse_metadata({"filename": "a.mp4"}), now=ON_TIME)
