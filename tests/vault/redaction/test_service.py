"""Edits of originals, per role: who may draft one, what the detector may not do alone, and who approves."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from tests.vault.access.conftest import GrantFor, People, StoreEvidence
from vault.access.models import AccessMode
from vault.context import VaultContext
from vault.custody.models import CustodyEvent
from vault.errors import Conflict, PermissionDenied
from vault.evidence.models import Derivative, DerivativeKind, Evidence
from vault.redaction import service
from vault.redaction.models import DetectionStatus, Edit, EditStatus
from vault.redaction.rendering import detect_suggestions, render_edit, resume_stalled
from vault.redaction.spec import Clip, EditSpec, Reason


@pytest.fixture
def original(store_evidence: StoreEvidence, people: People, face_video: Path) -> uuid.UUID:
    return store_evidence(face_video, uploader=people.officer, media_type="video/mp4")


def _now() -> datetime:
    return datetime.now(UTC)


def _stored_sha256(context: VaultContext, evidence: Evidence) -> str:
    digest = hashlib.sha256()
    for chunk in context.store.open_range(evidence.storage_key, evidence.version_id):
        digest.update(chunk)
    return digest.hexdigest()


def _actions(context: VaultContext, evidence_id: uuid.UUID) -> list[str]:
    with context.sessions() as session:
        query = select(CustodyEvent.action).where(CustodyEvent.subject_id == str(evidence_id),
                                                  CustodyEvent.action.like("edit:%")).order_by(CustodyEvent.log_index)
        return list(session.scalars(query))


@pytest.mark.parametrize("role", ["officer", "approver", "auditor", "admin"])
def test_only_records_managers_and_reviewers_draft_edits(context: VaultContext, people: People, original: uuid.UUID,
                                                         role: str) -> None:
    with context.sessions() as session, pytest.raises(PermissionDenied):
        service.create_edit(session=session, actor=getattr(people, role).actor, evidence_id=original,
                            spec=EditSpec(), now=_now())


def test_an_edit_needs_a_grant_to_download_the_original(context: VaultContext, people: People, original: uuid.UUID,
                                                        grant_for: GrantFor) -> None:
    grant_for(people.reviewer, [original], mode=AccessMode.VIEW)
    with context.sessions() as session, pytest.raises(PermissionDenied, match="download"):
        service.create_edit(session=session, actor=people.reviewer.actor, evidence_id=original, spec=EditSpec(),
                            now=_now())
    grant_for(people.reviewer, [original], mode=AccessMode.VIEW_DOWNLOAD)
    with context.sessions() as session:
        edit = service.create_edit(session=session, actor=people.reviewer.actor, evidence_id=original,
                                   spec=EditSpec(clip=Clip(start=1.0, end=3.0)), now=_now())
        session.commit()
        assert edit.status is EditStatus.DRAFT


def _drafted(context: VaultContext, people: People, original: uuid.UUID, grant_for: GrantFor) -> uuid.UUID:
    grant_for(people.records_manager, [original], mode=AccessMode.VIEW_DOWNLOAD)
    with context.sessions() as session:
        edit = service.create_edit(session=session, actor=people.records_manager.actor, evidence_id=original,
                                   spec=EditSpec(), now=_now())
        session.commit()
        return edit.id


def test_a_face_is_suggested_applied_only_once_accepted_and_approved_by_another(
        context: VaultContext, people: People, original: uuid.UUID, grant_for: GrantFor) -> None:
    edit_id = _drafted(context, people, original, grant_for)
    assert detect_suggestions(context, edit_id) == 1
    with context.sessions() as session:
        edit = session.get(Edit, edit_id)
        assert edit is not None and edit.detection is DetectionStatus.DONE
        assert EditSpec.model_validate(edit.spec).regions == []  # suggested, not applied
        suggestion = edit.suggestions[0]["id"]
        service.decide_suggestion(session=session, actor=people.records_manager.actor, edit_id=edit_id,
                                  suggestion_id=suggestion, accept=True, reason=Reason.OTHERS_PRIVACY, now=_now())
        service.mark_for_render(session=session, actor=people.records_manager.actor, edit_id=edit_id, now=_now())
        session.commit()
    render_edit(context, edit_id)
    with context.sessions() as session:
        edit = session.get(Edit, edit_id)
        evidence = session.get(Evidence, original)
        assert edit is not None and evidence is not None
        assert edit.status is EditStatus.RENDERED, edit.error
        derivative = session.get(Derivative, edit.derivative_id)
        assert derivative is not None and derivative.kind is DerivativeKind.REDACTED and derivative.derived
        provenance = edit.provenance or {}
        assert provenance["original"]["sha256"] == evidence.sha256 == _stored_sha256(context, evidence)
        assert provenance["output"]["sha256"] == derivative.sha256
        assert provenance["spec"]["regions"][0]["reason"] == "others_privacy"
        assert "CenterFace" in provenance["tools"]["face_detector"] and provenance["approver"] is None
        service.submit_edit(session=session, actor=people.records_manager.actor, edit_id=edit_id, now=_now())
        session.commit()
    with context.sessions() as session:
        with pytest.raises(PermissionDenied):
            service.decide_edit(session=session, actor=people.records_manager.actor, edit_id=edit_id, approve=True,
                                reason="", now=_now())
        approved = service.decide_edit(session=session, actor=people.approver.actor, edit_id=edit_id, approve=True,
                                       reason="", now=_now())
        session.commit()
        assert approved.status is EditStatus.APPROVED
        assert (approved.provenance or {})["approver"] == people.approver.actor.name
    assert _actions(context, original) == ["edit:created", "edit:suggestion_decided", "edit:render_requested",
                                           "edit:rendered", "edit:submitted", "edit:approved"]


def test_a_changed_spec_must_be_rendered_again_before_submitting(
        context: VaultContext, people: People, original: uuid.UUID, grant_for: GrantFor) -> None:
    edit_id = _drafted(context, people, original, grant_for)
    actor = people.records_manager.actor
    with context.sessions() as session:
        service.change_spec(session=session, actor=actor, edit_id=edit_id, spec=EditSpec(clip=Clip(start=0, end=2)),
                            now=_now())
        service.mark_for_render(session=session, actor=actor, edit_id=edit_id, now=_now())
        session.commit()
    render_edit(context, edit_id)
    with context.sessions() as session:
        service.change_spec(session=session, actor=actor, edit_id=edit_id, spec=EditSpec(clip=Clip(start=1, end=2)),
                            now=_now())
        with pytest.raises(Conflict, match="render it"):
            service.submit_edit(session=session, actor=actor, edit_id=edit_id, now=_now())
    with context.sessions() as session, pytest.raises(PermissionDenied, match="only its editor"):
        service.change_spec(session=session, actor=people.reviewer.actor, edit_id=edit_id, spec=EditSpec(),
                            now=_now())


def test_a_render_whose_process_ended_is_taken_up_again(context: VaultContext, people: People,
                                                         original: uuid.UUID, grant_for: GrantFor) -> None:
    edit_id = _drafted(context, people, original, grant_for)
    with context.sessions() as session:
        service.change_spec(session=session, actor=people.records_manager.actor, edit_id=edit_id,
                            spec=EditSpec(clip=Clip(start=1.0, end=3.0)), now=_now())
        service.mark_for_render(session=session, actor=people.records_manager.actor, edit_id=edit_id, now=_now())
        session.commit()
    assert resume_stalled(context) == 0  # still fresh: its process may be rendering it
    with context.sessions() as session:
        session.execute(update(Edit).where(Edit.id == edit_id).values(updated_at=_now() - timedelta(minutes=10)))
        session.commit()
    assert resume_stalled(context) == 1
    with context.sessions() as session:
        edit = session.get(Edit, edit_id)
        assert edit is not None and edit.status is EditStatus.RENDERED
        assert (edit.provenance or {})["cut"] == "stream_copy" and (edit.provenance or {})["kind"] == "clip"


def test_deciding_a_face_after_a_render_withdraws_that_render(
        context: VaultContext, people: People, original: uuid.UUID, grant_for: GrantFor) -> None:
    edit_id = _drafted(context, people, original, grant_for)
    actor = people.records_manager.actor
    detect_suggestions(context, edit_id)
    with context.sessions() as session:
        service.mark_for_render(session=session, actor=actor, edit_id=edit_id, now=_now())
        session.commit()
    render_edit(context, edit_id)  # rendered before the face was decided: nothing hidden yet
    with context.sessions() as session:
        edit = service.decide_suggestion(session=session, actor=actor, edit_id=edit_id, suggestion_id="face-1",
                                         accept=True, now=_now())
        assert (edit.status, edit.derivative_id, edit.provenance) == (EditStatus.DRAFT, None, None)
        with pytest.raises(Conflict, match="not been rendered"):
            service.open_output(session=session, actor=actor, edit_id=edit_id, range_header=None, now=_now())
