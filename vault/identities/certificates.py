"""Enforcement certificate (执法证) history: suspensions, revocations, renewals and corrections, each dated.

Validity on a day is never a stored flag: it is replayed from the history, so a recording is judged against the
certificate as it stood when the recording was made, whatever happened to the certificate since.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy.orm import Session

from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.errors import Conflict, InvalidInput
from vault.identities.actor import Actor
from vault.identities.authz import Permission, require
from vault.identities.models import CertificateChange, CertificateEvent, CertificateStatus, Handler


@dataclass(frozen=True)
class CertificateState:
    """A certificate as it stood on one day: its status and validity window."""

    status: CertificateStatus
    valid_from: date
    valid_until: date

    def valid_on(self, day: date) -> bool:
        """Return whether the certificate was in force on that day."""
        return self.status == CertificateStatus.VALID and self.valid_from <= day <= self.valid_until


@dataclass(frozen=True)
class CertificateChangeInput:
    """A change an administrator asks for; window dates only for renewals and corrections."""

    kind: CertificateChange
    effective_on: date
    reason: str
    valid_from: date | None = None
    valid_until: date | None = None
    voids: uuid.UUID | None = None


def _apply(state: CertificateState | None, event: CertificateEvent) -> CertificateState | None:
    kind = event.kind
    if kind in (CertificateChange.ISSUED, CertificateChange.RENEWED, CertificateChange.CORRECTED) and (
        event.valid_from is not None and event.valid_until is not None
    ):
        if state is None:
            return CertificateState(CertificateStatus.VALID, event.valid_from, event.valid_until)
        return replace(state, valid_from=event.valid_from, valid_until=event.valid_until)
    if state is None or state.status == CertificateStatus.REVOKED:
        return state  # a revocation is final: only voiding it (a correction) undoes it
    if kind == CertificateChange.SUSPENDED:
        return replace(state, status=CertificateStatus.SUSPENDED)
    if kind == CertificateChange.REINSTATED:
        return replace(state, status=CertificateStatus.VALID)
    if kind == CertificateChange.REVOKED:
        return replace(state, status=CertificateStatus.REVOKED)
    return state


def certificate_state(handler: Handler, day: date) -> CertificateState | None:
    """Return the certificate as its history says it stood on that day (None before it was issued)."""
    voided = {e.voids_id for e in handler.certificate_changes if e.voids_id is not None}
    state: CertificateState | None = None
    for event in sorted(handler.certificate_changes, key=lambda e: (e.effective_on, e.sequence)):
        if event.id not in voided and event.effective_on <= day:
            state = _apply(state, event)
    return state


def certificate_valid_at(handler: Handler, moment: datetime | date) -> bool:
    """Return whether the handler's certificate was in force on that day, according to its history."""
    day = moment.date() if isinstance(moment, datetime) else moment
    state = certificate_state(handler, day)
    return state is not None and state.valid_on(day)


def append_certificate_event(
    *, handler: Handler, actor: Actor, kind: CertificateChange, effective_on: date, reason: str,
    valid_from: date | None = None, valid_until: date | None = None, voids: uuid.UUID | None = None,
) -> CertificateEvent:
    """Append one entry to the handler's history and refresh its latest recorded state (no checks)."""
    event = CertificateEvent(
        sequence=len(handler.certificate_changes) + 1, kind=kind, effective_on=effective_on,
        valid_from=valid_from, valid_until=valid_until, voids_id=voids, reason=reason,
        recorded_by_id=actor.id, recorded_by=actor.name,
    )
    handler.certificate_changes.append(event)
    latest = certificate_state(handler, date.max)
    if latest is not None:
        handler.status, handler.valid_from, handler.valid_until = latest.status, latest.valid_from, latest.valid_until
    return event


def _check_change(handler: Handler, change: CertificateChangeInput) -> CertificateChangeInput:
    """Return the change with window dates filled in; raise if it cannot apply on its effective day."""
    kind, day = change.kind, change.effective_on
    state = certificate_state(handler, day)
    number = handler.certificate_number
    if kind == CertificateChange.ISSUED:
        raise InvalidInput("a certificate is issued by registering its handler; record a renewal instead")
    if not change.reason.strip():
        raise InvalidInput("a certificate change needs a reason (原因)")
    if kind == CertificateChange.CORRECTED:
        return _check_correction(handler, change, state)
    if state is None:
        raise Conflict(f"certificate (执法证) {number} was not yet issued on {day.isoformat()}")
    if state.status == CertificateStatus.REVOKED:
        raise Conflict(f"certificate (执法证) {number} was already revoked on {day.isoformat()}")
    if kind == CertificateChange.SUSPENDED and state.status == CertificateStatus.SUSPENDED:
        raise Conflict(f"certificate (执法证) {number} was already suspended on {day.isoformat()}")
    if kind == CertificateChange.REINSTATED and state.status != CertificateStatus.SUSPENDED:
        raise Conflict(f"certificate (执法证) {number} was not suspended on {day.isoformat()}")
    if kind == CertificateChange.RENEWED:
        if change.valid_until is None:
            raise InvalidInput("a renewal needs the new valid_until")
        return _with_window(change, change.valid_from or day, change.valid_until)
    return replace(change, valid_from=None, valid_until=None, voids=None)


def _check_correction(handler: Handler, change: CertificateChangeInput,
                      state: CertificateState | None) -> CertificateChangeInput:
    if change.voids is not None:
        target = next((e for e in handler.certificate_changes if e.id == change.voids), None)
        if target is None:
            raise InvalidInput(f"no entry {change.voids} in the history of certificate {handler.certificate_number}")
        if target.kind == CertificateChange.ISSUED:
            raise InvalidInput("the issue entry cannot be voided; correct its dates instead")
        if any(e.voids_id == target.id for e in handler.certificate_changes):
            raise Conflict(f"entry {target.id} is already voided")
    if change.valid_from is None and change.valid_until is None:
        if change.voids is None:
            raise InvalidInput("a correction names the entry recorded in error (voids) or the right dates")
        return change
    latest = state or certificate_state(handler, date.max)
    valid_from = change.valid_from or (latest.valid_from if latest else None)
    valid_until = change.valid_until or (latest.valid_until if latest else None)
    if valid_from is None or valid_until is None:
        raise InvalidInput("a correction before the certificate was issued needs both valid_from and valid_until")
    return _with_window(change, valid_from, valid_until)


def _with_window(change: CertificateChangeInput, valid_from: date, valid_until: date) -> CertificateChangeInput:
    if valid_until < valid_from:
        raise InvalidInput("certificate valid_until is before valid_from")
    return replace(change, valid_from=valid_from, valid_until=valid_until)


def change_certificate(
    *, session: Session, actor: Actor, handler: Handler, change: CertificateChangeInput, now: datetime
) -> CertificateEvent:
    """Record a suspension, reinstatement, revocation, renewal or correction of a handler's certificate."""
    require(actor, Permission.MANAGE_HANDLERS)
    checked = _check_change(handler, change)
    event = append_certificate_event(
        handler=handler, actor=actor, kind=checked.kind, effective_on=checked.effective_on,
        reason=checked.reason.strip(), valid_from=checked.valid_from, valid_until=checked.valid_until,
        voids=checked.voids,
    )
    event.recorded_at = now
    session.flush()
    record_event(
        session=session, actor=actor, action=CustodyAction.HANDLER_CERTIFICATE_CHANGED, subject_type="handler",
        subject_id=handler.id, now=now, details={
            "certificate_number": handler.certificate_number, "change_id": str(event.id), "kind": checked.kind.value,
            "effective_on": checked.effective_on.isoformat(), "reason": event.reason,
            "valid_from": checked.valid_from.isoformat() if checked.valid_from else None,
            "valid_until": checked.valid_until.isoformat() if checked.valid_until else None,
            "voids": str(checked.voids) if checked.voids else None, "status_now": handler.status.value,
        },
    )
    return event
