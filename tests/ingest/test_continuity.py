"""Continuity: consecutive segments of one recorder checked for gaps and overlaps, flagged on both sides."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from ingest.continuity import discontinuities, list_discontinuities
from ingest.retagging import retag_evidence
from ingest.rules import IngestRules
from tests.conftest import Person
from tests.ingest.conftest import CaseFile, flags_of, ingest_file
from vault.cases.service import find_case
from vault.context import VaultContext
from vault.identities.models import Role

NOW = datetime(2025, 3, 30, 8, 0, tzinfo=UTC)
T0 = datetime(2025, 3, 30, 6, 0, tzinfo=UTC)


def segment(context: VaultContext, person: Person, path: Path, start: timedelta, length: float,
            recorder: str = "DSJ-0001", **meta: str) -> uuid.UUID:
    begin = T0 + start
    return ingest_file(context, person, path, now=NOW, recorder_serial=recorder, capture_start=begin.isoformat(),
                       capture_end=(begin + timedelta(seconds=length)).isoformat(), **meta).evidence.id


def test_gaps_are_flagged_on_both_segments_and_contiguous_ones_are_not(
        context: VaultContext, officer: Person, media: dict[str, Path]) -> None:
    first = segment(context, officer, media["clip"], timedelta(0), 2)
    # 0.5 s later: within the 1 s tolerance.
    second = segment(context, officer, media["clip2"], timedelta(seconds=2.5), 1)
    third = segment(context, officer, media["hevc"], timedelta(seconds=10), 2)
    assert "recording_gap" not in flags_of(context, first)
    assert "recording_gap" in flags_of(context, second) and "中断 6.5 秒" in flags_of(context, second)["recording_gap"]
    assert "recording_gap" in flags_of(context, third)
    with context.sessions() as session:
        found = discontinuities(session=session, recorder_serial="DSJ-0001", tolerance=timedelta(seconds=1))
    assert [(d.kind, d.seconds, d.before_id, d.after_id) for d in found] == [("recording_gap", 6.5, second, third)]


def test_overlaps_are_flagged_and_other_recorders_ignored(
        context: VaultContext, officer: Person, media: dict[str, Path]) -> None:
    first = segment(context, officer, media["clip"], timedelta(0), 2)
    second = segment(context, officer, media["clip2"], timedelta(seconds=-5), 6.5)  # ends 1.5 s into the first
    other = segment(context, officer, media["hevc"], timedelta(seconds=30), 2, recorder="DSJ-0002")
    assert "recording_overlap" in flags_of(context, first) and "recording_overlap" in flags_of(context, second)
    assert "recording_gap" not in flags_of(context, other)


def test_tolerance_is_configurable(context: VaultContext, officer: Person, media: dict[str, Path]) -> None:
    segment(context, officer, media["clip"], timedelta(0), 2)
    segment(context, officer, media["clip2"], timedelta(seconds=4), 1)
    with context.sessions() as session:
        assert len(discontinuities(session=session, recorder_serial="DSJ-0001", tolerance=timedelta(seconds=1))) == 1
        assert discontinuities(session=session, recorder_serial="DSJ-0001", tolerance=timedelta(seconds=3)) == []


def test_gaps_are_listed_per_case_and_recorder_over_http(
        client: TestClient, context: VaultContext, officer: Person, case_file: CaseFile, media: dict[str, Path],
        make_person: Callable[..., Person]) -> None:
    segment(context, officer, media["clip"], timedelta(0), 2, case_number=case_file.number)
    segment(context, officer, media["clip2"], timedelta(seconds=9), 1, case_number=case_file.number)
    segment(context, officer, media["hevc"], timedelta(seconds=100), 1, recorder="DSJ-0002")
    segment(context, officer, media["avi"], timedelta(seconds=200), 1, recorder="DSJ-0002")
    by_case = client.get("/api/ingest/gaps", params={"case_number": case_file.number}, headers=officer.headers)
    assert by_case.status_code == 200, by_case.text
    assert [(g["recorder_serial"], g["kind"], g["seconds"]) for g in by_case.json()] == [
        ("DSJ-0001", "recording_gap", 7.0)]
    by_recorder = client.get("/api/ingest/gaps", params={"recorder_serial": "DSJ-0002"}, headers=officer.headers)
    assert [g["seconds"] for g in by_recorder.json()] == [99.0]
    assert len(client.get("/api/ingest/gaps", headers=officer.headers).json()) == 2
    # Another officer sees nothing of these uploads.
    stranger = make_person(Role.OFFICER)
    assert client.get("/api/ingest/gaps", headers=stranger.headers).json() == []
    with context.sessions() as session:
        case = find_case(session=session, case_number=case_file.number)
        assert len(list_discontinuities(session=session, actor=stranger.actor, case=case,
                                        tolerance=timedelta(seconds=1))) == 0


def test_a_late_segment_that_fills_a_gap_clears_the_flags_of_its_neighbours(
        context: VaultContext, officer: Person, media: dict[str, Path]) -> None:
    first = segment(context, officer, media["clip"], timedelta(0), 2)
    third = segment(context, officer, media["hevc"], timedelta(seconds=4), 2)
    assert "recording_gap" in flags_of(context, first) and "recording_gap" in flags_of(context, third)
    # The missing segment arrives days later from the field: the recording is continuous after all.
    middle = segment(context, officer, media["clip2"], timedelta(seconds=2), 2)
    assert [flags_of(context, e).get("recording_gap") for e in (first, middle, third)] == [None, None, None]
    with context.sessions() as session:
        assert discontinuities(session=session, recorder_serial="DSJ-0001", tolerance=timedelta(seconds=1)) == []


def test_retagging_a_segment_away_re_evaluates_the_segments_it_left(
        context: VaultContext, officer: Person, media: dict[str, Path]) -> None:
    first = segment(context, officer, media["clip"], timedelta(0), 2)
    stray = segment(context, officer, media["clip2"], timedelta(seconds=3), 2)  # a 1 s gap is within tolerance
    third = segment(context, officer, media["hevc"], timedelta(seconds=5), 2)
    assert all("recording_gap" not in flags_of(context, e) for e in (first, stray, third))
    with context.sessions() as session:
        retag_evidence(session=session, actor=officer.actor, evidence_id=stray, changes={"recorder_serial": "DSJ-0009"},
                       rules=IngestRules.of(context.settings), now=NOW, reason="segment was from another recorder")
        session.commit()
    assert "中断 3.0 秒" in flags_of(context, first)["recording_gap"]
    assert "recording_gap" in flags_of(context, third) and "recording_gap" not in flags_of(context, stray)
