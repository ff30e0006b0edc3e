"""Edits of originals: drafted by someone who may download the original, decided by a second person.

Every step is a custody event in the caller's transaction; services flush and never commit.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.access.content import Variant, authorize_read
from vault.access.ranges import ByteRange, parse_range
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from vault.evidence.models import Derivative, Evidence
from vault.identities.actor import Actor
from vault.identities.authz import Permission, has_permission, require
from vault.redaction.models import DetectionStatus, Edit, EditStatus
from vault.redaction.spec import Box, EditSpec, Method, Reason, Region

EDITABLE = frozenset({EditStatus.DRAFT, EditStatus.RENDERED, EditStatus.REJECTED, EditStatus.FAILED})


def _log(session: Session, actor: Actor, edit: Edit, evidence: Evidence, action: CustodyAction, now: datetime,
         **details: Any) -> None:
    record_event(session=session, actor=actor, action=action, subject_type="evidence", subject_id=evidence.id,
                 case_id=evidence.case_id, now=now, details={"edit_id": str(edit.id), **details})


def _original(session: Session, actor: Actor, evidence_id: uuid.UUID, now: datetime) -> Evidence:
    """Return the original if the actor holds a download grant for it (a refusal is logged)."""
    evidence, _, _ = authorize_read(session=session, actor=actor, evidence_id=evidence_id, operation=Variant.DOWNLOAD,
                                    now=now, self_view=False)
    if not evidence.media_type.startswith("video/"):
        raise InvalidInput(f"record {evidence_id} is {evidence.media_type}: only a video can be clipped or redacted")
    return evidence


def create_edit(*, session: Session, actor: Actor, evidence_id: uuid.UUID, spec: EditSpec, now: datetime) -> Edit:
    """Start an edit of an original the actor may download (records managers and reviewers)."""
    require(actor, Permission.EDIT_COPIES)
    evidence = _original(session, actor, evidence_id, now)
    edit = Edit(evidence_id=evidence.id, spec=spec.model_dump(mode="json"), editor_id=actor.id,
                editor_name=actor.name, status=EditStatus.DRAFT, suggestions=[], detection=DetectionStatus.NONE,
                decision_reason="", progress=0.0, created_at=now, updated_at=now)
    session.add(edit)
    session.flush()
    _log(session, actor, edit, evidence, CustodyAction.EDIT_CREATED, now, spec=edit.spec)
    return edit


def get_edit(*, session: Session, actor: Actor, edit_id: uuid.UUID) -> Edit:
    """Return an edit to its editor, to approvers, and to anyone else who may edit copies."""
    edit = session.get(Edit, edit_id)
    if edit is None or not _sees_edits(actor):
        raise NotFound(f"no edit {edit_id}")
    return edit


def _sees_edits(actor: Actor) -> bool:
    return has_permission(actor, Permission.EDIT_COPIES) or has_permission(actor, Permission.DECIDE_ACCESS)


def list_edits(*, session: Session, actor: Actor, evidence_id: uuid.UUID) -> list[Edit]:
    """Return an original's edits, newest first."""
    if not _sees_edits(actor):
        raise PermissionDenied("only records managers, reviewers and approvers see edits of originals")
    query = select(Edit).where(Edit.evidence_id == evidence_id).order_by(Edit.created_at.desc())
    return list(session.scalars(query))


def list_submitted(*, session: Session, actor: Actor) -> list[Edit]:
    """Return edits waiting for a decision (approvers)."""
    require(actor, Permission.DECIDE_ACCESS)
    return list(session.scalars(select(Edit).where(Edit.status == EditStatus.SUBMITTED).order_by(Edit.updated_at)))


def own_edit(*, session: Session, actor: Actor, edit_id: uuid.UUID, now: datetime) -> tuple[Edit, Evidence]:
    """Return an edit and its original to its editor, who must still hold a download grant."""
    require(actor, Permission.EDIT_COPIES)
    edit = get_edit(session=session, actor=actor, edit_id=edit_id)
    if edit.editor_id != actor.id:
        raise PermissionDenied(f"edit {edit_id} belongs to {edit.editor_name}; only its editor changes it")
    return edit, _original(session, actor, edit.evidence_id, now)


def _back_to_draft(edit: Edit, spec: EditSpec, now: datetime) -> None:
    """Take a new spec: whatever was rendered from the old one no longer describes the edit."""
    edit.spec, edit.status, edit.updated_at = spec.model_dump(mode="json"), EditStatus.DRAFT, now
    edit.derivative_id, edit.provenance = None, None


def change_spec(*, session: Session, actor: Actor, edit_id: uuid.UUID, spec: EditSpec, now: datetime) -> Edit:
    """Replace an edit's spec; a rendered or rejected edit goes back to draft and must be rendered again."""
    edit, evidence = own_edit(session=session, actor=actor, edit_id=edit_id, now=now)
    if edit.status not in EDITABLE:
        raise Conflict(f"edit {edit_id} is {edit.status.value}; it cannot change now",
                       details={"status": edit.status.value})
    _back_to_draft(edit, spec, now)
    session.flush()
    _log(session, actor, edit, evidence, CustodyAction.EDIT_CHANGED, now, spec=edit.spec)
    return edit


def decide_suggestion(*, session: Session, actor: Actor, edit_id: uuid.UUID, suggestion_id: str, accept: bool,
                      reason: Reason = Reason.OTHERS_PRIVACY, reason_text: str = "", method: Method = Method.BLUR,
                      now: datetime) -> Edit:
    """Accept a suggested face (it joins the spec as a region, with its reason) or reject it."""
    edit, evidence = own_edit(session=session, actor=actor, edit_id=edit_id, now=now)
    if edit.status not in EDITABLE:
        raise Conflict(f"edit {edit_id} is {edit.status.value}; its suggestions cannot be decided now")
    found = next((s for s in edit.suggestions if s["id"] == suggestion_id), None)
    if found is None:
        raise NotFound(f"edit {edit_id} has no suggestion {suggestion_id}")
    if found["decision"] != "pending":
        raise Conflict(f"suggestion {suggestion_id} was already {found['decision']}")
    spec = EditSpec.model_validate(edit.spec)
    if accept:
        region = Region(reason=reason, reason_text=reason_text, method=method, hold_until=found["hold_until"],
                        keyframes=[Box.model_validate(k) for k in found["keyframes"]])
        spec = spec.model_copy(update={"regions": [*spec.regions, region]})
    edit.suggestions = [{**s, "decision": ("accepted" if accept else "rejected")} if s is found else s
                        for s in edit.suggestions]
    _back_to_draft(edit, spec, now)
    session.flush()
    _log(session, actor, edit, evidence, CustodyAction.EDIT_SUGGESTION_DECIDED, now, suggestion=suggestion_id,
         accepted=accept, reason=reason.value if accept else None)
    return edit


def mark_for_render(*, session: Session, actor: Actor, edit_id: uuid.UUID, now: datetime) -> Edit:
    """Queue the edit's render: the caller starts it after committing (vault.redaction.rendering)."""
    edit, evidence = own_edit(session=session, actor=actor, edit_id=edit_id, now=now)
    if edit.status not in EDITABLE:
        raise Conflict(f"edit {edit_id} is {edit.status.value}; it cannot be rendered now")
    edit.status, edit.progress, edit.error, edit.updated_at = EditStatus.RENDERING, 0.0, None, now
    session.flush()
    _log(session, actor, edit, evidence, CustodyAction.EDIT_RENDER_REQUESTED, now)
    return edit


def submit_edit(*, session: Session, actor: Actor, edit_id: uuid.UUID, now: datetime) -> Edit:
    """Send a rendered edit to an approver."""
    edit, evidence = own_edit(session=session, actor=actor, edit_id=edit_id, now=now)
    if edit.status != EditStatus.RENDERED:
        raise Conflict(f"edit {edit_id} is {edit.status.value}; render it before submitting it for approval")
    edit.status, edit.updated_at = EditStatus.SUBMITTED, now
    session.flush()
    _log(session, actor, edit, evidence, CustodyAction.EDIT_SUBMITTED, now,
         output_sha256=(edit.provenance or {}).get("output", {}).get("sha256"))
    return edit


def decide_edit(*, session: Session, actor: Actor, edit_id: uuid.UUID, approve: bool, reason: str,
                now: datetime) -> Edit:
    """Approve or reject a submitted edit; the approver must be someone other than its editor."""
    require(actor, Permission.DECIDE_ACCESS)
    edit = get_edit(session=session, actor=actor, edit_id=edit_id)
    if edit.status != EditStatus.SUBMITTED:
        raise Conflict(f"edit {edit_id} is {edit.status.value}, not waiting for a decision")
    if edit.editor_id == actor.id:
        raise PermissionDenied("an edit needs an approver other than its editor (编辑人不得审批本人制作的版本)")
    if not approve and not reason.strip():
        raise InvalidInput("a rejection needs a reason")
    evidence = session.get(Evidence, edit.evidence_id)
    assert evidence is not None
    edit.status = EditStatus.APPROVED if approve else EditStatus.REJECTED
    edit.approver_id, edit.approver_name, edit.decided_at, edit.decision_reason = actor.id, actor.name, now, reason
    if approve and edit.provenance is not None:
        edit.provenance = {**edit.provenance, "approver": actor.name, "approved_at": now.isoformat()}
    edit.updated_at = now
    session.flush()
    _log(session, actor, edit, evidence, CustodyAction.EDIT_APPROVED if approve else CustodyAction.EDIT_REJECTED,
         now, reason=reason, output_sha256=(edit.provenance or {}).get("output", {}).get("sha256"))
    return edit


def approved_edits(session: Session, evidence_ids: list[uuid.UUID]) -> dict[uuid.UUID, Edit]:
    """Return the newest approved edit of each record, for exports."""
    query = select(Edit).where(Edit.evidence_id.in_(evidence_ids), Edit.status == EditStatus.APPROVED)
    newest: dict[uuid.UUID, Edit] = {}
    for edit in session.scalars(query.order_by(Edit.decided_at)):
        newest[edit.evidence_id] = edit
    return newest


def open_output(*, session: Session, actor: Actor, edit_id: uuid.UUID, range_header: str | None,
                now: datetime) -> tuple[Edit, Derivative, ByteRange]:
    """Return a rendered edit's derivative and the range to send, to its editor or an approver; a view is logged."""
    edit = get_edit(session=session, actor=actor, edit_id=edit_id)
    if edit.derivative_id is None:
        raise Conflict(f"edit {edit_id} has not been rendered yet", details={"status": edit.status.value})
    if not has_permission(actor, Permission.DECIDE_ACCESS):
        own_edit(session=session, actor=actor, edit_id=edit_id, now=now)  # the editor, still holding a download grant
    derivative = session.get(Derivative, edit.derivative_id)
    evidence = session.get(Evidence, edit.evidence_id)
    assert derivative is not None and evidence is not None
    byte_range = parse_range(range_header, derivative.size)
    if byte_range.start == 0:  # a view starts at the first byte; the player's later ranges are seeks within it
        record_event(session=session, actor=actor, action=CustodyAction.EVIDENCE_VIEWED, subject_type="evidence",
                     subject_id=evidence.id, case_id=evidence.case_id, now=now,
                     details={"edit_id": str(edit.id), "derivative_id": str(derivative.id),
                              "sha256": derivative.sha256, "variant": derivative.kind.value})
    return edit, derivative, byte_range
