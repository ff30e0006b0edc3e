"""The redaction page: an original with the boxes to hide drawn over it, suggested faces to accept or reject, boxes,
audio and a clip to mark, a preview to render and submit; an approver other than the editor decides it.

Every change goes through vault.redaction.service, as the API's does: the page only reads its forms into a spec.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from evault.web.auth import CsrfDep, SignedInDep
from evault.web.forms import refusal_for_form
from evault.web.i18n import N_
from evault.web.pages import redaction_forms as forms
from evault.web.templating import render_page
from vault.access.explain import explain_missing_approval
from vault.api.deps import ContextDep, SessionDep
from vault.db import utcnow
from vault.errors import VaultError
from vault.evidence.service import get_evidence
from vault.identities.authz import Permission, has_permission
from vault.identities.sign_in import SignedIn
from vault.redaction import rendering, service
from vault.redaction.models import DetectionStatus, Edit, EditStatus
from vault.redaction.spec import AudioMethod, EditSpec, Method, Reason

router = APIRouter(include_in_schema=False)

REASON_NAMES: dict[str, str] = {
    Reason.OTHERS_PRIVACY: N_("Others' privacy"), Reason.TRADE_SECRET: N_("Trade secret"),
    Reason.STATE_SECRET: N_("State secret"), Reason.OTHER: N_("Other reason"),
}
METHOD_NAMES: dict[str, str] = {Method.BLUR: N_("Blur"), Method.PIXELATE: N_("Pixelate"),
                                Method.BLACK: N_("Black out")}
AUDIO_METHOD_NAMES: dict[str, str] = {AudioMethod.MUTE: N_("Mute"), AudioMethod.BLEEP: N_("Bleep")}
STATUS_NAMES: dict[str, str] = {
    EditStatus.DRAFT: N_("Draft"), EditStatus.RENDERING: N_("Rendering"), EditStatus.RENDERED: N_("Rendered"),
    EditStatus.SUBMITTED: N_("Waiting for approval"), EditStatus.APPROVED: N_("Approved"),
    EditStatus.REJECTED: N_("Sent back"), EditStatus.FAILED: N_("Render failed"),
}
CUT_NAMES: dict[str, str] = {"stream_copy": N_("cut without re-encoding (stream copy)"),
                             "reencode": N_("re-encoded (H.264)")}
LABELS = {"reason_names": REASON_NAMES, "method_names": METHOD_NAMES, "audio_method_names": AUDIO_METHOD_NAMES,
          "status_names": STATUS_NAMES, "cut_names": CUT_NAMES, "reasons": list(Reason), "methods": list(Method),
          "audio_methods": list(AudioMethod)}

Number = Annotated[float, Form(ge=0, le=24 * 3600)]
ReasonText = Annotated[str, Form(max_length=512)]


def _page(request: Request, person: SignedIn, template: str, *, status_code: int = 200, **values: Any) -> Response:
    return render_page(request, template, status_code=status_code, person=person, **LABELS, **values)


def _missing_download(session: Session, person: SignedIn, evidence_id: uuid.UUID) -> Any:
    """Return the approval an editor lacks to work on this original (None for approvers, who only decide)."""
    if not has_permission(person.actor, Permission.EDIT_COPIES):
        return None
    return explain_missing_approval(session=session, actor=person.actor, evidence_id=evidence_id, download=True,
                                    now=utcnow())


def _record_page(request: Request, person: SignedIn, session: Session, evidence_id: uuid.UUID, *,
                 error: dict[str, str] | None = None, status_code: int = 200) -> Response:
    evidence = get_evidence(session=session, actor=person.actor, evidence_id=evidence_id)
    edits = service.list_edits(session=session, actor=person.actor, evidence_id=evidence_id)
    missing = _missing_download(session, person, evidence_id)
    if missing is not None:
        return _page(request, person, "redaction/refused.html", status_code=403, evidence=evidence, missing=missing)
    return _page(request, person, "redaction/record.html", status_code=status_code, evidence=evidence, edits=edits,
                 error=error, may_edit=has_permission(person.actor, Permission.EDIT_COPIES))


@router.get("/evidence/{evidence_id}/redaction")
def record_edits(request: Request, evidence_id: uuid.UUID, person: SignedInDep, session: SessionDep) -> Response:
    """List a record's clips and redacted copies and start a new one (needs a view-and-download grant)."""
    return _record_page(request, person, session, evidence_id)


@router.post("/evidence/{evidence_id}/redaction")
def new_edit(request: Request, evidence_id: uuid.UUID, person: CsrfDep, session: SessionDep) -> Response:
    """Start an edit of the original, empty at first, and open it."""
    try:
        edit = service.create_edit(session=session, actor=person.actor, evidence_id=evidence_id, spec=EditSpec(),
                                   now=utcnow())
    except VaultError as error:
        refused = refusal_for_form(session, error)
        return _record_page(request, person, session, evidence_id, error=refused, status_code=error.status)
    session.commit()
    return RedirectResponse(f"/redaction/{edit.id}", status_code=303)


@router.get("/redaction")
def queue(request: Request, person: SignedInDep, session: SessionDep, done: str = "") -> Response:
    """Show the approver the edits waiting for a decision, oldest first."""
    edits = service.list_submitted(session=session, actor=person.actor)
    records = {e.evidence_id: get_evidence(session=session, actor=person.actor, evidence_id=e.evidence_id)
               for e in edits}
    return _page(request, person, "redaction/queue.html", edits=edits, records=records, done=done)


def _overlay(edit: Edit) -> str:
    """Return what the player draws: the spec's regions and the suggestions still waiting for a decision."""
    pending = [s for s in edit.suggestions if s.get("decision") == "pending"]
    return json.dumps({"regions": edit.spec.get("regions", []), "suggestions": pending}, ensure_ascii=False)


def _rendered_at(edit: Edit) -> datetime | None:
    made = (edit.provenance or {}).get("rendered_at")
    return datetime.fromisoformat(made) if isinstance(made, str) else None


def _edit_page(request: Request, person: SignedIn, session: Session, edit: Edit, *,
               error: dict[str, str] | None = None, status_code: int = 200) -> Response:
    evidence = get_evidence(session=session, actor=person.actor, evidence_id=edit.evidence_id)
    editor = edit.editor_id == person.actor.id and has_permission(person.actor, Permission.EDIT_COPIES)
    if editor and (missing := _missing_download(session, person, evidence.id)) is not None:
        return _page(request, person, "redaction/refused.html", status_code=403, evidence=evidence, missing=missing)
    return _page(request, person, "redaction/edit.html", status_code=status_code, edit=edit, evidence=evidence,
                 spec=EditSpec.model_validate(edit.spec), seen=forms.spec_digest(edit.spec), overlay=_overlay(edit),
                 editor=editor, editable=editor and edit.status in service.EDITABLE,
                 may_decide=has_permission(person.actor, Permission.DECIDE_ACCESS), rendered_at=_rendered_at(edit),
                 error=error)


@router.get("/redaction/{edit_id}")
def edit_page(request: Request, edit_id: uuid.UUID, person: SignedInDep, session: SessionDep) -> Response:
    """Show an edit: to its editor the player, suggestions and forms; to an approver its preview and decision."""
    return _edit_page(request, person, session, service.get_edit(session=session, actor=person.actor,
                                                                 edit_id=edit_id))


@router.get("/redaction/{edit_id}/progress")
def progress(request: Request, edit_id: uuid.UUID, person: SignedInDep, session: SessionDep) -> Response:
    """Return the detection and render progress htmx polls; once both are finished, reload the whole page."""
    edit = service.get_edit(session=session, actor=person.actor, edit_id=edit_id)
    response = _page(request, person, "redaction/_progress.html", edit=edit)
    if edit.detection != DetectionStatus.RUNNING and edit.status != EditStatus.RENDERING:
        response.headers["HX-Refresh"] = "true"  # the suggestions or the preview are new: the player must see them
    return response


def _act(request: Request, person: SignedIn, session: Session, edit_id: uuid.UUID,
         action: Callable[[], object], then: Callable[[], object] = lambda: None) -> Response:
    """Run a service action, commit it, run what follows the commit and go back to the edit; show a refusal there."""
    try:
        action()
    except VaultError as error:
        refused = refusal_for_form(session, error)
        edit = service.get_edit(session=session, actor=person.actor, edit_id=edit_id)
        return _edit_page(request, person, session, edit, error=refused, status_code=error.status)
    session.commit()
    then()
    return RedirectResponse(f"/redaction/{edit_id}", status_code=303)


def _change(request: Request, person: SignedIn, session: Session, edit_id: uuid.UUID, seen: str,
            change: Callable[[EditSpec], EditSpec]) -> Response:
    """Replace the edit's spec with `change` of the one this form was filled in against."""

    def action() -> None:
        edit = service.get_edit(session=session, actor=person.actor, edit_id=edit_id)
        spec = change(forms.require_unchanged(edit.spec, seen))
        service.change_spec(session=session, actor=person.actor, edit_id=edit_id, spec=spec, now=utcnow())

    return _act(request, person, session, edit_id, action)


@router.post("/redaction/{edit_id}/faces")
def detect(request: Request, edit_id: uuid.UUID, person: CsrfDep, session: SessionDep,
           context: ContextDep) -> Response:
    """Look for faces in the background; they come back as suggestions, none applied."""
    return _act(request, person, session, edit_id,
                lambda: service.own_edit(session=session, actor=person.actor, edit_id=edit_id, now=utcnow()),
                lambda: rendering.start_detection(context, edit_id))


@router.post("/redaction/{edit_id}/suggestions/{suggestion_id}")
def decide_suggestion(
    request: Request, edit_id: uuid.UUID, suggestion_id: str, person: CsrfDep, session: SessionDep,
    accept: Annotated[bool, Form()], reason: Annotated[Reason, Form()] = Reason.OTHERS_PRIVACY,
    reason_text: ReasonText = "", method: Annotated[Method, Form()] = Method.BLUR,
) -> Response:
    """Accept a suggested face as a region (with its reason and method), or reject it."""
    return _act(request, person, session, edit_id, lambda: service.decide_suggestion(
        session=session, actor=person.actor, edit_id=edit_id, suggestion_id=suggestion_id, accept=accept,
        reason=reason, reason_text=reason_text.strip(), method=method, now=utcnow()))


@router.post("/redaction/{edit_id}/regions")
def add_region(
    request: Request, edit_id: uuid.UUID, person: CsrfDep, session: SessionDep, seen: Annotated[str, Form()],
    start: Number, end: Number, x: Annotated[float, Form()], y: Annotated[float, Form()],
    w: Annotated[float, Form()], h: Annotated[float, Form()], method: Annotated[Method, Form()],
    reason: Annotated[Reason, Form()], reason_text: ReasonText = "",
) -> Response:
    """Hide the drawn box from start to end."""
    return _change(request, person, session, edit_id, seen, lambda spec: forms.add_region(
        spec, forms.read_box(t=start, x=x, y=y, w=w, h=h), end=end, method=method, reason=reason,
        reason_text=reason_text.strip()))


@router.post("/redaction/{edit_id}/regions/{number}/keyframes")
def add_keyframe(
    request: Request, edit_id: uuid.UUID, number: int, person: CsrfDep, session: SessionDep,
    seen: Annotated[str, Form()], t: Number, x: Annotated[float, Form()], y: Annotated[float, Form()],
    w: Annotated[float, Form()], h: Annotated[float, Form()],
) -> Response:
    """Make a region pass through the drawn box at the player's time: it moves there in a straight line."""
    return _change(request, person, session, edit_id, seen,
                   lambda spec: forms.add_keyframe(spec, number, forms.read_box(t=t, x=x, y=y, w=w, h=h)))


@router.post("/redaction/{edit_id}/regions/{number}/remove")
def remove_region(request: Request, edit_id: uuid.UUID, number: int, person: CsrfDep, session: SessionDep,
                  seen: Annotated[str, Form()]) -> Response:
    """Stop hiding a region."""
    return _change(request, person, session, edit_id, seen, lambda spec: forms.remove_region(spec, number))


@router.post("/redaction/{edit_id}/audio")
def add_audio(
    request: Request, edit_id: uuid.UUID, person: CsrfDep, session: SessionDep, seen: Annotated[str, Form()],
    start: Number, end: Number, method: Annotated[AudioMethod, Form()], reason: Annotated[Reason, Form()],
    reason_text: ReasonText = "",
) -> Response:
    """Mute or bleep the sound from start to end."""
    return _change(request, person, session, edit_id, seen, lambda spec: forms.add_audio(
        spec, start=start, end=end, method=method, reason=reason, reason_text=reason_text.strip()))


@router.post("/redaction/{edit_id}/audio/{number}/remove")
def remove_audio(request: Request, edit_id: uuid.UUID, number: int, person: CsrfDep, session: SessionDep,
                 seen: Annotated[str, Form()]) -> Response:
    """Stop silencing an audio range."""
    return _change(request, person, session, edit_id, seen, lambda spec: forms.remove_audio(spec, number))


def _seconds(text: str) -> float | None:
    return float(text) if text.strip() else None


@router.post("/redaction/{edit_id}/clip")
def set_clip(
    request: Request, edit_id: uuid.UUID, person: CsrfDep, session: SessionDep, seen: Annotated[str, Form()],
    start: Annotated[str, Form(max_length=16, pattern=r"^\s*(\d+(\.\d*)?)?\s*$")] = "",
    end: Annotated[str, Form(max_length=16, pattern=r"^\s*(\d+(\.\d*)?)?\s*$")] = "",
) -> Response:
    """Keep only start to end of the original; both empty keeps all of it."""
    return _change(request, person, session, edit_id, seen,
                   lambda spec: forms.set_clip(spec, start=_seconds(start), end=_seconds(end)))


@router.post("/redaction/{edit_id}/render")
def render(request: Request, edit_id: uuid.UUID, person: CsrfDep, session: SessionDep,
           context: ContextDep) -> Response:
    """Render the preview (an H.264 derivative) in the background; the page shows its progress."""
    return _act(request, person, session, edit_id,
                lambda: service.mark_for_render(session=session, actor=person.actor, edit_id=edit_id, now=utcnow()),
                lambda: rendering.start_render(context, edit_id))


@router.post("/redaction/{edit_id}/submit")
def submit(request: Request, edit_id: uuid.UUID, person: CsrfDep, session: SessionDep) -> Response:
    """Send the rendered preview to an approver."""
    return _act(request, person, session, edit_id,
                lambda: service.submit_edit(session=session, actor=person.actor, edit_id=edit_id, now=utcnow()))


@router.post("/redaction/{edit_id}/decision")
def decide(request: Request, edit_id: uuid.UUID, person: CsrfDep, session: SessionDep,
           approve: Annotated[bool, Form()], reason: Annotated[str, Form(max_length=4000)] = "") -> Response:
    """Approve or send back a submitted edit (an approver other than its editor)."""
    response = _act(request, person, session, edit_id, lambda: service.decide_edit(
        session=session, actor=person.actor, edit_id=edit_id, approve=approve, reason=reason.strip(), now=utcnow()))
    if response.status_code == 303:
        return RedirectResponse(f"/redaction?done={'approved' if approve else 'rejected'}", status_code=303)
    return response
