"""Search the custody trail for auditors: by record, case, user, time and action, with readable names."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, or_, select, true
from sqlalchemy.orm import Session

from vault.access.models import AccessRequest, AccessRequestRecord
from vault.access.playback import close_idle_playback
from vault.cases.models import Case
from vault.cases.numbers import canonical_case_number
from vault.cases.service import find_case
from vault.custody.models import CustodyAction, CustodyEvent
from vault.errors import InvalidInput
from vault.evidence.models import Evidence
from vault.identities.actor import Actor
from vault.identities.authz import Permission, require
from vault.identities.models import User
from vault.identities.service import get_user

ACCESS_ACTIONS = frozenset(
    str(a)
    for a in (
        CustodyAction.ACCESS_REQUESTED,
        CustodyAction.ACCESS_APPROVED,
        CustodyAction.ACCESS_DENIED,
        CustodyAction.ACCESS_REVOKED,
        CustodyAction.ACCESS_DECISION_REFUSED,
        CustodyAction.EVIDENCE_VIEWED,
        CustodyAction.EVIDENCE_PLAYBACK_CLOSED,
        CustodyAction.EVIDENCE_DOWNLOADED,
        CustodyAction.EVIDENCE_LINK_ISSUED,
        CustodyAction.EVIDENCE_ACCESS_REFUSED,
        CustodyAction.EVIDENCE_EXPORTED,
        CustodyAction.EXPORT_CREATED,
    )
)
ALL_ACTIONS = "*"  # in TrailFilter.actions: every custody action, not only the access events
KNOWN_ACTIONS = frozenset(str(a) for a in CustodyAction)
MAX_PAGE = 5000
MAX_EXPORT = 50_000
MAX_OFFSET = 2**62  # beyond a 64-bit SQL integer the driver would fail with a 500


@dataclass(frozen=True)
class TrailFilter:
    """What an auditor searches for; every given criterion must hold. No actions means the access events."""

    evidence_id: uuid.UUID | None = None
    case_number: str | None = None
    user_name: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    actions: tuple[str, ...] = ()

    def title(self) -> str:
        """Return a human description of the filter."""
        parts = []
        if self.evidence_id:
            parts.append(f"record {self.evidence_id}")
        if self.case_number:
            parts.append(f"case (案号) {canonical_case_number(self.case_number)}")
        if self.user_name:
            parts.append(f"user {self.user_name}")
        if self.since or self.until:
            since = self.since.isoformat(timespec="seconds") if self.since else "…"
            until = self.until.isoformat(timespec="seconds") if self.until else "…"
            parts.append(f"{since} to {until}")
        if self.actions:
            parts.append("actions " + ", ".join(self.actions))
        return "; ".join(parts) or "all records"

    def as_details(self) -> dict[str, object]:
        """Return the filter as JSON-ready custody event details."""
        return {
            "evidence_id": str(self.evidence_id) if self.evidence_id else None,
            "case_number": canonical_case_number(self.case_number) if self.case_number else None,
            "user": self.user_name,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "actions": list(self.actions),
        }


@dataclass(frozen=True)
class TrailEntry:
    """One custody event with the names a person reads instead of ids."""

    event: CustodyEvent
    actor: str  # the user's display name and account name, or the name the event recorded
    record: str | None  # original file name and case number of the record the event concerns
    case_number: str | None
    subject: str  # what the event is about, named


@dataclass(frozen=True)
class TrailPage:
    """One page of a trail search, with the number of events matching in all."""

    entries: list[TrailEntry]
    total: int
    offset: int
    limit: int


@dataclass
class _Names:
    users: dict[uuid.UUID, User] = field(default_factory=dict)
    records: dict[str, Evidence] = field(default_factory=dict)
    cases: dict[uuid.UUID, str] = field(default_factory=dict)
    request_records: dict[str, list[str]] = field(default_factory=dict)


def _request_ids(session: Session, condition: ColumnElement[bool]) -> list[str]:
    query = select(AccessRequestRecord.request_id).where(condition).distinct()
    return [str(i) for i in session.scalars(query)]


def _check_filter(wanted: TrailFilter) -> None:
    unknown = [a for a in wanted.actions if a != ALL_ACTIONS and a not in KNOWN_ACTIONS]
    if unknown:
        raise InvalidInput(f"unknown custody action(s): {', '.join(unknown)}", details={"unknown": unknown})
    for moment in (wanted.since, wanted.until):
        if moment is not None and moment.utcoffset() is None:
            raise InvalidInput("give trail times with a time zone (e.g. 2026-05-01T00:00:00+08:00)")
    if wanted.since and wanted.until and wanted.since >= wanted.until:
        raise InvalidInput("the trail's start (since) must come before its end (until)")


def _subject_conditions(session: Session, wanted: TrailFilter) -> list[ColumnElement[bool]]:
    requests = CustodyEvent.subject_type == "access_request"
    found: list[ColumnElement[bool]] = []
    if wanted.evidence_id is not None:
        ids = _request_ids(session, AccessRequestRecord.evidence_id == wanted.evidence_id)
        found.append(or_(CustodyEvent.subject_id == str(wanted.evidence_id),
                         requests & CustodyEvent.subject_id.in_(ids)))
    if wanted.case_number is not None:
        case = find_case(session=session, case_number=wanted.case_number)
        records = select(Evidence.id).where(Evidence.case_id == case.id)
        ids = _request_ids(session, AccessRequestRecord.evidence_id.in_(records))
        record_ids = [str(i) for i in session.scalars(records)]
        found.append(or_(CustodyEvent.case_id == case.id, CustodyEvent.subject_id.in_(record_ids),
                         requests & CustodyEvent.subject_id.in_(ids)))
    if wanted.user_name is not None:
        user = get_user(session=session, name=wanted.user_name)
        own = [str(i) for i in session.scalars(select(AccessRequest.id).where(AccessRequest.requester_id == user.id))]
        found.append(or_(CustodyEvent.actor_id == user.id, requests & CustodyEvent.subject_id.in_(own)))
    return found


def _condition(session: Session, wanted: TrailFilter) -> ColumnElement[bool]:
    _check_filter(wanted)
    found = _subject_conditions(session, wanted)
    if not wanted.actions:
        found.append(CustodyEvent.action.in_(ACCESS_ACTIONS))
    elif ALL_ACTIONS not in wanted.actions:
        found.append(CustodyEvent.action.in_(wanted.actions))
    if wanted.since is not None:
        found.append(CustodyEvent.at >= wanted.since)
    if wanted.until is not None:
        found.append(CustodyEvent.at < wanted.until)
    return and_(true(), *found)


def search_trail(
    *, session: Session, actor: Actor, wanted: TrailFilter, now: datetime, idle_seconds: int, offset: int = 0,
    limit: int = 100,
) -> TrailPage:
    """Return one page of the matching custody events in log order, with readable names (auditors)."""
    require(actor, Permission.READ_AUDIT_LOG)
    if not 0 <= offset <= MAX_OFFSET or not 1 <= limit <= MAX_EXPORT:
        raise InvalidInput(f"page with 0 <= offset <= {MAX_OFFSET} and 1 <= limit <= {MAX_EXPORT}")
    close_idle_playback(session=session, now=now, idle_seconds=idle_seconds)
    condition = _condition(session, wanted)
    total = session.scalar(select(func.count()).select_from(CustodyEvent).where(condition)) or 0
    query = select(CustodyEvent).where(condition).order_by(CustodyEvent.log_index).offset(offset).limit(limit)
    events = list(session.scalars(query))
    return TrailPage(entries=name_events(session, events), total=total, offset=offset, limit=limit)


def _load_names(session: Session, events: Sequence[CustodyEvent]) -> _Names:
    names = _Names()
    request_ids = {e.subject_id for e in events if e.subject_type == "access_request"}
    if request_ids:
        rows = session.execute(select(AccessRequestRecord.request_id, AccessRequestRecord.evidence_id)
                               .where(AccessRequestRecord.request_id.in_([_uuid(i) for i in request_ids])))
        for request_id, evidence_id in rows:
            names.request_records.setdefault(str(request_id), []).append(str(evidence_id))
    record_ids = {e.subject_id for e in events if e.subject_type == "evidence"}
    record_ids.update(i for ids in names.request_records.values() for i in ids)
    if record_ids:
        wanted = [u for u in (_uuid(i) for i in record_ids) if u is not None]
        names.records = {str(r.id): r for r in session.scalars(select(Evidence).where(Evidence.id.in_(wanted)))}
    user_ids = {e.actor_id for e in events if e.actor_id} | {_uuid(e.subject_id) for e in events
                                                               if e.subject_type == "user"}
    if user_ids - {None}:
        names.users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(user_ids - {None})))}
    case_ids = {e.case_id for e in events if e.case_id} | {r.case_id for r in names.records.values() if r.case_id}
    case_ids |= {u for u in (_uuid(e.subject_id) for e in events if e.subject_type == "case") if u is not None}
    if case_ids:
        numbers = session.execute(select(Case.id, Case.case_number).where(Case.id.in_(case_ids)))
        names.cases = {row.id: row.case_number for row in numbers}
    return names


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _user_label(user: User | None, fallback: str) -> str:
    if user is None:
        return fallback
    shown = user.display_name.strip()
    return f"{shown} ({user.name})" if shown and shown != user.name else user.name


def _record_label(names: _Names, evidence_id: str) -> str:
    record = names.records.get(evidence_id)
    if record is None:
        return f"record {evidence_id}"
    case = names.cases.get(record.case_id) if record.case_id else None
    return f"{record.original_name} · {case}" if case else f"{record.original_name} · (no case 未关联案号)"


def _entry(names: _Names, e: CustodyEvent) -> TrailEntry:
    record: str | None = None
    subject = f"{e.subject_type} {e.subject_id}"
    if e.subject_type == "evidence":
        record = subject = _record_label(names, e.subject_id)
    elif e.subject_type == "access_request":
        covered = [_record_label(names, i) for i in sorted(names.request_records.get(e.subject_id, []))]
        record = "; ".join(covered[:3]) + (f" (+{len(covered) - 3} more)" if len(covered) > 3 else "") or None
        subject = f"access request (查阅申请) for {record or 'no records'}"
    elif e.subject_type == "user":
        user_id = _uuid(e.subject_id)
        subject = "user " + _user_label(names.users.get(user_id) if user_id else None, e.subject_id)
    elif e.subject_type == "case":
        case_id = _uuid(e.subject_id)
        subject = "case (案号) " + (names.cases.get(case_id, e.subject_id) if case_id else e.subject_id)
    evidence = names.records.get(e.subject_id)
    case_id = e.case_id or (evidence.case_id if evidence else None)
    actor = _user_label(names.users.get(e.actor_id) if e.actor_id else None, e.actor_name)
    return TrailEntry(event=e, actor=actor, record=record, case_number=names.cases.get(case_id) if case_id else None,
                      subject=subject)


def name_events(session: Session, events: Sequence[CustodyEvent]) -> list[TrailEntry]:
    """Return the events with readable names for their actor, record, case and subject, in a few queries."""
    names = _load_names(session, events)
    return [_entry(names, e) for e in events]


def local_moment(text: str, zone: ZoneInfo, *, end: bool = False) -> datetime:
    """Read an ISO date or time typed by a person: a date is that whole day in the agency's zone (end: the next day)."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1 if end else 0), time(), tzinfo=zone).astimezone(UTC)
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(f"not a date or time: {text!r} (use 2026-05-01 or 2026-05-01T08:30:00+08:00)") from exc
    return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).astimezone(UTC)
