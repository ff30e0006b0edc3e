"""The retention policy editor: the difference from the current policy, what a change shortens, its approval;
and the holiday calendar the working-day deadlines are counted on."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from evault.web.auth import CsrfDep, SignedInDep
from evault.web.forms import end_refused
from evault.web.i18n import N_
from evault.web.templating import render_page
from evault.web.vocabulary import RETENTION_CLASS_NAMES
from retention import holidays, policy_approval, service
from retention.models import PolicyChangeRequest, RequestStatus
from retention.policy import RetentionPolicy, describe_classes
from retention.policy_preview import (
    PolicyPreview,
    preview_policy_change,
    requested_changes,
    version_changes,
)
from vault.api.deps import ContextDep, SessionDep
from vault.db import utcnow
from vault.errors import InvalidInput, VaultError
from vault.identities.authz import Permission, has_permission
from vault.identities.sign_in import SignedIn

router = APIRouter(include_in_schema=False)

NUMBER_SETTINGS = ("routine_inspection_months", "default_years", "reminder_days", "fixity_cycle_days",
                   "indefinite_store_years", "archiving_working_days")
SETTING_NAMES: dict[str, str] = {
    "routine_inspection_months": N_("Routine inspection footage (months)"),
    "default_years": N_("Everything else, the default class (years)"),
    "case_file_years": N_("Case-file retention (years)"),
    "reminder_days": N_("Reminder before retention ends (days)"),
    "fixity_cycle_days": N_("Fixity check cycle (days)"),
    "indefinite_store_years": N_("Store lock held ahead for indefinite retention (years)"),
    "archiving_working_days": N_("Archiving into the case file within (working days)"),
}
CASE_TYPE_NAMES: dict[str, str] = {
    "routine_inspection": N_("Case type: routine inspection"),
    "simple_procedure": N_("Case type: simple procedure"),
    "general_procedure_penalty": N_("Case type: general procedure penalty"),
    "administrative_coercion": N_("Case type: administrative coercion"),
    "licensing": N_("Case type: licensing"),
    "complaint_verification": N_("Case type: complaint verification"),
}
COUNTS_FROM: dict[str, str] = {
    "recording": N_("from the end of the recording"),
    "archiving": N_("from the archiving of the case file"),
    "marking": N_("from the marking: coercive enforcement, a dispute, obstruction of officers, other"),
}
DONE: dict[str, str] = {
    "applied": N_("The change is the current policy version now (or from its effective date)."),
    "requested": N_("The change shortens retention: it waits for a second person's approval below."),
    "approved": N_("Approved: the change is a policy version now."),
    "rejected": N_("Rejected: the policy stays as it is."),
    "loaded": N_("The notice is loaded; working-day deadlines count on it from now on."),
}
DECIDERS = (Permission.MANAGE_RETENTION, Permission.APPROVE_DISPOSITION)
LABELS = {"setting_names": SETTING_NAMES, "case_type_names": CASE_TYPE_NAMES, "class_names": RETENTION_CLASS_NAMES,
          "counts_from": COUNTS_FROM, "done_messages": DONE}


def _page(request: Request, person: SignedIn, template: str, *, status_code: int = 200, **values: Any) -> Response:
    return render_page(request, template, status_code=status_code, person=person, **LABELS, **values)



def _effective_from(text: str, zone: ZoneInfo, now: datetime) -> datetime:
    """Return the start of the chosen day in the agency's zone; blank or today: now (a version is never backdated)."""
    if not text.strip():
        return now
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput("生效日期格式不正确 (the effective date is YYYY-MM-DD)") from None
    if day == now.astimezone(zone).date():
        return now
    return datetime.combine(day, time(0), tzinfo=zone)


def _value(text: str) -> int | str | None:
    """Read a number field: a whole number, blank for permanent, anything else as typed (the service refuses it)."""
    text = text.strip()
    if not text:
        return None
    return int(text) if text.isdigit() else text


def _changes(current: RetentionPolicy, numbers: dict[str, str], case_types: list[str],
             case_years: list[str]) -> dict[str, Any]:
    """Return only the settings the form changes from the current policy."""
    rules = current.rules()
    changes: dict[str, Any] = {name: value for name, text in numbers.items()
                               if (value := _value(text)) != rules[name]}
    case_file = {case_type: _value(text) for case_type, text in zip(case_types, case_years, strict=False)
                 if case_type not in rules["case_file_years"] or _value(text) != rules["case_file_years"][case_type]}
    if case_file:
        changes["case_file_years"] = case_file
    if not changes:
        raise InvalidInput("没有任何改动 (nothing changes: every value is the one in force)")
    return changes


def _overview(session: Session, person: SignedIn, now: datetime) -> dict[str, Any]:
    history = service.policy_history(session=session, actor=person.actor)
    current = service.current_policy(session, now)
    requests = policy_approval.list_policy_requests(session=session, actor=person.actor, pending_only=False)
    pending = [r for r in requests if r.status is RequestStatus.PENDING]
    return {
        "now": now, "current": current, "classes": describe_classes(current, service.STATUTORY_MINIMUM),
        "history": list(reversed(history)),
        "history_changes": version_changes([(v.version, v.effective_from, v.rules) for v in history]),
        "pending": [(r, requested_changes(current, r.changes)) for r in pending],
        "approved_by": {r.version: r.decided_by for r in requests if r.version is not None},
        "number_settings": NUMBER_SETTINGS, "minimums": service.STATUTORY_MINIMUM,
        # Only what the page offers; the services decide whatever is posted.
        "may_change": has_permission(person.actor, Permission.MANAGE_RETENTION),
        "may_decide": any(has_permission(person.actor, p) for p in DECIDERS),
    }


def _show(request: Request, person: SignedIn, session: Session, *, status_code: int = 200,
          error: str | None = None, preview: PolicyPreview | None = None, form: dict[str, Any] | None = None,
          done: str | None = None) -> Response:
    now = utcnow()
    values = _overview(session, person, now)
    return _page(request, person, "policy/overview.html", status_code=status_code, error=error, preview=preview,
                 form=form or {}, done=done if done in DONE else None, **values)


@router.get("/retention/policy")
def policy_page(request: Request, person: SignedInDep, session: SessionDep, done: str | None = None) -> Response:
    """Show the current policy class by class, its versions, the pending changes and the editor."""
    return _show(request, person, session, done=done)


@router.post("/retention/policy/preview")
def preview(
    request: Request, person: CsrfDep, session: SessionDep, context: ContextDep,
    routine_inspection_months: Annotated[str, Form(max_length=16)], default_years: Annotated[str, Form(max_length=16)],
    reminder_days: Annotated[str, Form(max_length=16)], fixity_cycle_days: Annotated[str, Form(max_length=16)],
    indefinite_store_years: Annotated[str, Form(max_length=16)],
    archiving_working_days: Annotated[str, Form(max_length=16)],
    case_type: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies form defaults
    case_years: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies form defaults
    effective_date: Annotated[str, Form(max_length=10)] = "", note: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Show the difference from the current policy and what the change shortens; nothing is saved."""
    now, zone = utcnow(), context.settings.zone
    numbers = {"routine_inspection_months": routine_inspection_months, "default_years": default_years,
               "reminder_days": reminder_days, "fixity_cycle_days": fixity_cycle_days,
               "indefinite_store_years": indefinite_store_years, "archiving_working_days": archiving_working_days}
    form = {"numbers": numbers, "case_years": dict(zip(case_type, case_years, strict=False)),
            "effective_date": effective_date, "note": note}
    try:
        effective = _effective_from(effective_date, zone, now)
        changes = _changes(service.current_policy(session, max(now, effective)), numbers, case_type, case_years)
        found = preview_policy_change(session=session, actor=person.actor, changes=changes, effective_from=effective,
                                      now=now, zone=zone)
    except VaultError as error:
        message = end_refused(session, error)
        return _show(request, person, session, status_code=error.status, error=message, form=form)
    session.rollback()
    form["changes_json"] = json.dumps(changes, ensure_ascii=False, sort_keys=True)
    return _show(request, person, session, preview=found, form=form)


@router.post("/retention/policy")
def submit(
    request: Request, person: CsrfDep, session: SessionDep, context: ContextDep,
    changes: Annotated[str, Form(max_length=20000)], effective_date: Annotated[str, Form(max_length=10)] = "",
    note: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Submit the previewed change as the API does: applied at once, or waiting for a second person."""
    now = utcnow()
    try:
        parsed = json.loads(changes)
        row = service.set_policy(session=session, actor=person.actor, changes=parsed, note=note, now=now,
                                 effective_from=_effective_from(effective_date, context.settings.zone, now))
    except json.JSONDecodeError:
        return _show(request, person, session, status_code=422, error="改动格式不正确 (the change is not valid JSON)")
    except VaultError as error:
        return _show(request, person, session, status_code=error.status, error=end_refused(session, error))
    session.commit()
    done = "requested" if isinstance(row, PolicyChangeRequest) else "applied"
    return RedirectResponse(f"/retention/policy?done={done}", status_code=303)


@router.post("/retention/policy/requests/{request_id}/approve")
def approve(request: Request, request_id: uuid.UUID, person: CsrfDep, session: SessionDep) -> Response:
    """Approve a pending shortening (a second person): it becomes a policy version."""
    try:
        policy_approval.approve_policy_change(session=session, actor=person.actor, request_id=request_id,
                                              now=utcnow())
    except VaultError as error:
        return _show(request, person, session, status_code=error.status, error=end_refused(session, error))
    session.commit()
    return RedirectResponse("/retention/policy?done=approved", status_code=303)


@router.post("/retention/policy/requests/{request_id}/reject")
def reject(request: Request, request_id: uuid.UUID, person: CsrfDep, session: SessionDep,
           reason: Annotated[str, Form(max_length=4000)] = "") -> Response:
    """Reject (or, for the proposer, withdraw) a pending shortening with its reason."""
    try:
        policy_approval.reject_policy_change(session=session, actor=person.actor, request_id=request_id,
                                             reason=reason, now=utcnow())
    except VaultError as error:
        return _show(request, person, session, status_code=error.status, error=end_refused(session, error))
    session.commit()
    return RedirectResponse("/retention/policy?done=rejected", status_code=303)


def _calendar(request: Request, person: SignedIn, session: Session, *, year: int | None, status_code: int = 200,
              error: str | None = None, done: str | None = None, notice: str = "") -> Response:
    years = holidays.known_years(session=session, actor=person.actor)
    shown = holidays.describe_year(session=session, actor=person.actor, year=year) if year else None
    return _page(request, person, "policy/calendar.html", status_code=status_code, years=years, shown=shown,
                 error=error, done=done if done in DONE else None, notice=notice)


@router.get("/retention/policy/calendar")
def calendar_page(request: Request, person: SignedInDep, session: SessionDep, year: int | None = None,
                  done: str | None = None) -> Response:
    """Show the years whose holidays are known, one year's days, and the form to load a year's notice."""
    return _calendar(request, person, session, year=year, done=done)


NOTICE_LIMIT = 200_000


@router.post("/retention/policy/calendar")
def load_calendar(
    request: Request, person: CsrfDep, session: SessionDep,
    notice: Annotated[str, Form(max_length=NOTICE_LIMIT)] = "",
    notice_file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Load (or replace) one year of the State Council's holiday notice, given as JSON text or a file."""
    text = notice
    if notice_file is not None and notice_file.filename:
        text = notice_file.file.read(NOTICE_LIMIT + 1).decode("utf-8", errors="replace")
    try:
        parsed = holidays.parse_notice_text(text)
        holidays.load_holiday_year(session=session, actor=person.actor, notice=parsed, now=utcnow())
    except VaultError as error:
        message = end_refused(session, error)
        return _calendar(request, person, session, year=None, status_code=error.status, error=message, notice=text)
    session.commit()
    return RedirectResponse(f"/retention/policy/calendar?year={parsed.year}&done=loaded", status_code=303)
