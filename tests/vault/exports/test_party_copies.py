"""Party copies by rule, redacted versions beside originals, per-recipient watermarks, and provenance checks."""

from __future__ import annotations

import hashlib
import json
import subprocess
import uuid
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from evault_client.verify_bundle import format_report, verify_bundle
from tests.media import make_face_video
from tests.vault.exports.conftest import CASE_NUMBER, World, _store, approve, rewrite_bundle
from vault.access.models import AccessPurpose
from vault.cases.models import PartyKind
from vault.cases.service import PartyInput, add_party, find_case
from vault.context import VaultContext
from vault.evidence.models import Confidentiality
from vault.exports import layout
from vault.exports.bundle import ExportPlan
from vault.exports.coverage import export_coverage
from vault.exports.models import ExportPurpose
from vault.exports.service import ExportRequest, prepare_export
from vault.exports.stream import ExportRun
from vault.exports.versions import WithheldCode, redacted_versions
from vault.identities.actor import SYSTEM
from vault.redaction import service as edits
from vault.redaction.rendering import render_edit
from vault.redaction.spec import AudioRange, Box, EditSpec, Reason, Region


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two different videos of a real face: one to redact, one left without a redacted version."""
    folder = tmp_path_factory.mktemp("party-media")
    return (make_face_video(folder / "witness.mp4", seconds=2.0),
            make_face_video(folder / "bystander.mp4", seconds=2.0, keyframe_every=10))


def _others(context: VaultContext, world: World, faces: tuple[Path, Path], now: datetime) -> tuple[uuid.UUID, ...]:
    """Add a second party, two of its records, and an approved redacted version of the first; return the ids."""
    with context.sessions() as session:
        case = find_case(session=session, case_number=CASE_NUMBER)
        other = add_party(session=session, actor=SYSTEM, cipher=context.cipher, case=case,
                          data=PartyInput(kind=PartyKind.PERSON, name="李某"))
        session.commit()
        other_id = other.id
    with context.sessions() as session:
        party = session.get(type(other), other_id)
        session.expunge(party)
    redacted = _store(context, world.officer, faces[0], CASE_NUMBER, party=party)
    bare = _store(context, world.officer, faces[1], CASE_NUMBER, party=party)
    every = [*world.records, redacted, bare]
    approve(context, world, every, now, purpose=AccessPurpose.PARTY_COPY)
    approve(context, world, every, now)
    spec = EditSpec(regions=[Region(reason=Reason.OTHERS_PRIVACY, keyframes=[Box(t=0.0, x=0.3, y=0.1, w=0.4, h=0.4)],
                                    hold_until=2.0)],
                    audio=[AudioRange(start=0.5, end=1.0, reason=Reason.OTHER, reason_text="证人姓名")])
    _approved_redaction(context, world, redacted, spec, now)
    return redacted, bare


def _approved_redaction(context: VaultContext, world: World, record: uuid.UUID, spec: EditSpec, now: datetime) -> str:
    """Render a redaction of a record as the records manager, have the approver approve it; return its SHA-256."""
    with context.sessions() as session:
        edit = edits.create_edit(session=session, actor=world.manager.actor, evidence_id=record, spec=spec, now=now)
        edits.mark_for_render(session=session, actor=world.manager.actor, edit_id=edit.id, now=now)
        session.commit()
        edit_id = edit.id
    render_edit(context, edit_id)
    with context.sessions() as session:
        edits.submit_edit(session=session, actor=world.manager.actor, edit_id=edit_id, now=now)
        edits.decide_edit(session=session, actor=world.approver.actor, edit_id=edit_id, approve=True, reason="可提供",
                          now=now)
        session.commit()
        return redacted_versions(session, [record])[record].sha256


def _build(context: VaultContext, world: World, out: Path, now: datetime, request: ExportRequest) -> ExportPlan:
    with context.sessions() as session:
        plan = prepare_export(session=session, actor=world.manager.actor, context=context, request=request, now=now)
        session.commit()
    with out.open("wb") as handle:
        for chunk in ExportRun(context=context, actor=world.manager.actor, plan=plan,
                               clock=lambda: now + timedelta(minutes=1)):
            handle.write(chunk)
    return plan


def _files(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {n.split("/", 1)[1]: archive.read(n) for n in archive.namelist()}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _band(path: Path) -> np.ndarray:
    """Return the bottom-right band of the first frame, where the mark is burned in, in gray."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt",
                          "gray", "-"], capture_output=True, check=True).stdout
    frame = np.frombuffer(raw, np.uint8).reshape(512, 512).astype(float)
    return frame[-90:-10, 200:-10]


def test_a_party_copy_carries_redacted_versions_and_withholds_others_unredacted_footage(
        context: VaultContext, world: World, faces: tuple[Path, Path], tmp_path: Path, now: datetime) -> None:
    redacted, bare = _others(context, world, faces, now)
    out = tmp_path / "party.zip"
    plan = _build(context, world, out, now, ExportRequest(CASE_NUMBER, ExportPurpose.PARTY_COPY, "陈某", party="陈某"))
    files = _files(out)
    payload = {_sha(data) for name, data in files.items() if name.startswith("data/")}
    assert _sha(faces[0].read_bytes()) not in payload and _sha(faces[1].read_bytes()) not in payload
    assert any(n.startswith(f"data/{redacted}/redacted-") for n in files)
    assert set(plan.withheld) == {world.secret, bare}
    withheld = {w["evidence_id"]: w["code"] for w in json.loads(files[layout.WITHHELD_FILE])["withheld"]}
    assert withheld == {str(world.secret): WithheldCode.CONFIDENTIAL, str(bare): WithheldCode.OTHERS_NOT_REDACTED,
                        str(redacted): WithheldCode.REDACTED_INSTEAD}
    (spec_name,) = [n for n in files if n.startswith(layout.DERIVATIVES_DIR)]
    spec = json.loads(files[spec_name])
    assert spec["original"]["sha256"] == _sha(faces[0].read_bytes()) and spec["approver"] == world.approver.actor.name
    sheet = files[layout.EXPLANATION_TEXT].decode()
    assert "0.50–1.00 s" in sheet and "证人姓名" in sheet and "他人隐私" in sheet and str(bare) in sheet
    report = verify_bundle(out)
    assert report.ok, format_report(report)
    # The other party's own copy: its own footage goes in; 陈某's records do not show 李某 and are withheld.
    with pytest.raises(Exception, match="not a party"):
        _build(context, world, tmp_path / "x.zip", now, ExportRequest(CASE_NUMBER, ExportPurpose.PARTY_COPY, "某",
                                                                     party="王某"))


def test_tampered_specs_unknown_originals_and_mismatched_bytes_fail_verification(
        context: VaultContext, world: World, faces: tuple[Path, Path], tmp_path: Path, now: datetime) -> None:
    _others(context, world, faces, now)
    out = tmp_path / "party.zip"
    _build(context, world, out, now, ExportRequest(CASE_NUMBER, ExportPurpose.PARTY_COPY, "陈某", party="陈某"))
    files = _files(out)
    (spec_name,) = [n for n in files if n.startswith(layout.DERIVATIVES_DIR)]
    spec = json.loads(files[spec_name])
    cases = {
        "altered after the bundle was signed": (
            {spec_name: json.dumps({**spec, "editor": "someone else"}).encode()}, None),
        "neither in the signed manifest nor listed as withheld": (
            {spec_name: json.dumps({**spec, "original": {**spec["original"], "sha256": "ab" * 32}}).encode()},
            context.signer),
        "do not match the output SHA-256": (
            {spec_name: json.dumps({**spec, "output": {**spec["output"], "sha256": "cd" * 32}}).encode()},
            context.signer),
    }
    for message, (changes, signer) in cases.items():
        target = tmp_path / f"{len(message)}.zip"
        rewrite_bundle(out, target, changes, signer=signer)
        report = verify_bundle(target)
        assert not report.ok and message in format_report(report)


def test_watermarked_copies_differ_per_recipient_and_court_carries_redacted_beside_original(
        context: VaultContext, world: World, faces: tuple[Path, Path], tmp_path: Path, now: datetime) -> None:
    redacted, _bare = _others(context, world, faces, now)
    marked: dict[str, str] = {}
    for recipient in ("阜阳市中级人民法院", "安徽省高级人民法院"):
        out = tmp_path / f"court-{len(marked)}.zip"
        plan = _build(context, world, out, now, ExportRequest(CASE_NUMBER, ExportPurpose.COURT, recipient,
                                                              [redacted], include_redacted=True, watermark=True))
        files = _files(out)
        specs = [json.loads(d) for n, d in files.items() if n.startswith(layout.DERIVATIVES_DIR)]
        marks = [s for s in specs if s["kind"] == "watermarked"]
        assert {m["source"]["kind"] for m in marks} == {"original", "redacted"}
        assert all(f"交付 To: {recipient}" in m["watermark"]["lines"] and str(plan.export_id) in
                   " ".join(m["watermark"]["lines"]) for m in marks)
        from_original = next(m for m in marks if m["source"]["kind"] == "original")
        copy = tmp_path / f"copy-{len(marked)}.mp4"
        copy.write_bytes(files[from_original["payload_path"]])
        assert np.abs(_band(copy) - _band(faces[0])).mean() > 5  # the mark is visible where it is burned in
        marked[recipient] = from_original["output"]["sha256"]
        report = verify_bundle(out)
        assert report.ok, format_report(report)
    assert len(set(marked.values())) == 2


def test_the_coverage_preview_shows_what_a_party_copy_will_carry_before_it_is_built(
        context: VaultContext, world: World, faces: tuple[Path, Path], tmp_path: Path, now: datetime) -> None:
    redacted, bare = _others(context, world, faces, now)
    with context.sessions() as session:
        unnamed = export_coverage(session=session, actor=world.manager.actor, case_number=CASE_NUMBER,
                                  purpose=ExportPurpose.PARTY_COPY, evidence_ids=None, now=now)
        preview = export_coverage(session=session, actor=world.manager.actor, case_number=CASE_NUMBER,
                                  purpose=ExportPurpose.PARTY_COPY, evidence_ids=None, now=now, party="陈某")
    # Two parties now: the preview asks which one applies, and nothing can be built until it is named.
    assert unnamed.party_problem is not None and "陈某" in unnamed.party_problem and not unnamed.ready
    carried = {r.evidence.id: preview.carries(r.evidence.id) for r in preview.records}
    assert carried == {world.records[0]: "original", world.records[1]: "original", redacted: "redacted"}
    assert [(w.evidence_id, w.code) for w in preview.left_out] == [(bare, WithheldCode.OTHERS_NOT_REDACTED)]
    assert [e.id for e in preview.withheld] == [world.secret] and preview.ready
    # The preview is the build's own choice: the bundle carries exactly what it showed.
    plan = _build(context, world, tmp_path / "party.zip", now,
                  ExportRequest(CASE_NUMBER, ExportPurpose.PARTY_COPY, "陈某", party="陈某"))
    assert {r.evidence_id for r in plan.records} == set(carried)
    assert set(plan.withheld) == {world.secret, bare}


def test_a_confidential_record_stays_out_of_a_party_copy_even_with_an_approved_redaction(
        context: VaultContext, world: World, faces: tuple[Path, Path], tmp_path: Path, now: datetime) -> None:
    secret = _store(context, world.officer, faces[0], CASE_NUMBER, confidentiality=Confidentiality.TRADE_SECRET)
    approve(context, world, world.records, now, purpose=AccessPurpose.PARTY_COPY)  # the secret ones are refused
    approve(context, world, [secret], now)  # for the redaction, under a litigation grant
    spec = EditSpec(regions=[Region(reason=Reason.TRADE_SECRET, keyframes=[Box(t=0.0, x=0.0, y=0.0, w=0.5, h=0.5)],
                                    hold_until=1.0)])
    redacted_sha = _approved_redaction(context, world, secret, spec, now)  # approved: a party copy could use it
    out = tmp_path / "party.zip"
    plan = _build(context, world, out, now, ExportRequest(CASE_NUMBER, ExportPurpose.PARTY_COPY, "陈某"))
    files = _files(out)
    assert secret not in {r.evidence_id for r in plan.records}
    payload = {_sha(data) for name, data in files.items() if name.startswith("data/")}
    assert redacted_sha not in payload and _sha(faces[0].read_bytes()) not in payload
    assert not any(str(secret) in name for name in files if name.startswith(("data/", layout.DERIVATIVES_DIR)))
    withheld = {w["evidence_id"]: w["code"] for w in json.loads(files[layout.WITHHELD_FILE])["withheld"]}
    assert withheld == {str(secret): WithheldCode.CONFIDENTIAL, str(world.secret): WithheldCode.CONFIDENTIAL}
    # Named outright, it is refused, redaction or not.
    with pytest.raises(Exception, match=r"confidential|涉密"):
        _build(context, world, tmp_path / "named.zip", now,
               ExportRequest(CASE_NUMBER, ExportPurpose.PARTY_COPY, "陈某", [secret]))
