"""Complete or correct tags later: each change is a custody event, and the flags are worked out again."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ingest.continuity import CONTINUITY_FLAGS, check_continuity, neighbours
from ingest.errors import InvalidMetadata
from ingest.metadata import (
    Activity,
    parse_choice,
    parse_handlers,
    parse_moment,
    parse_text,
    refuse_future,
    refuse_return_before_capture,
)
from ingest.models import ClearanceStatus, FlagClearanceRequest, IngestRecord
from ingest.rules import IngestRules
from ingest.tagging import (
    COMPLIANCE_TAG_FLAGS,
    TAG_FLAGS,
    expected_tag_flags,
    resolve_case,
    resolve_handlers,
    resolve_party,
    sync_flags,
)
from vault.custody.models import CustodyAction, CustodyEvent
from vault.custody.service import next_log_index, record_event
from vault.errors import InvalidInput
from vault.evidence.models import Confidentiality, Evidence, EvidenceFlag
from vault.evidence.service import can_see_metadata, get_evidence, open_flag_rows
from vault.identities.actor import Actor
from vault.identities.authz import Permission, require

TAG_KEYS = ("case_number", "party", "handlers", "activity", "recorder_serial", "capture_start", "capture_end",
            "party_informed", "field_return_at", "late_reason", "notes", "confidentiality", "place")
_CONTINUITY_KEYS = {"recorder_serial", "capture_start", "capture_end"}
# Flags that record a rule not kept (continuity included): no tag change clears them without a second person.
COMPLIANCE_FLAGS = COMPLIANCE_TAG_FLAGS | CONTINUITY_FLAGS


def _shown(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value.value if hasattr(value, "value") else value


def _setters(session: Session, evidence: Evidence, record: IngestRecord) -> dict[str, Callable[[Any], Any]]:
    """Map each tag to a function that applies a raw value and returns (before, after) for the log."""

    def case(raw: Any) -> Any:
        before = evidence.case.case_number if evidence.case else record.given_case_number
        record.given_case_number = parse_text({"case_number": raw or ""}, "case_number")
        evidence.case = resolve_case(session=session, case_number=record.given_case_number)
        return before, record.given_case_number

    def party(raw: Any) -> Any:
        before = evidence.party.name if evidence.party else record.given_party
        record.given_party = parse_text({"party": raw or ""}, "party")
        evidence.party = resolve_party(session=session, name=record.given_party, case=evidence.case)
        return before, record.given_party

    def handlers(raw: Any) -> Any:
        before = sorted({h.certificate_number for h in evidence.handlers} | set(record.given_handlers))
        text = ",".join(raw) if isinstance(raw, list) else str(raw or "")
        record.given_handlers = list(parse_handlers(text))
        evidence.handlers = resolve_handlers(session=session, numbers=record.given_handlers)
        return before, record.given_handlers

    def plain(attr: str, parse: Callable[[Any], Any], target: object) -> Callable[[Any], Any]:
        def apply(raw: Any) -> Any:
            before, after = getattr(target, attr), parse(raw)
            setattr(target, attr, after)
            return _shown(before), _shown(after)
        return apply

    def flag(raw: Any) -> bool:
        if not isinstance(raw, bool):
            raise InvalidMetadata("'party_informed' must be true or false", details={"key": "party_informed"})
        return raw

    return {
        "case_number": case, "party": party, "handlers": handlers,
        "activity": plain("activity", lambda v: _shown(parse_choice(Activity, v, "activity")), evidence),
        "recorder_serial": plain("recorder_serial", lambda v: parse_text({"k": v or ""}, "k"), evidence),
        "capture_start": plain("capture_start", lambda v: parse_moment(v, "capture_start"), evidence),
        "capture_end": plain("capture_end", lambda v: parse_moment(v, "capture_end"), evidence),
        "party_informed": plain("party_informed", flag, evidence),
        "field_return_at": plain("field_return_at", lambda v: parse_moment(v, "field_return_at"), record),
        "late_reason": plain("late_reason", lambda v: parse_text({"late_reason": v or ""}, "late_reason",
                                                                 multiline=True), record),
        "notes": plain("notes", lambda v: parse_text({"notes": v or ""}, "notes", multiline=True) or "", evidence),
        "confidentiality": plain("confidentiality", lambda v: parse_choice(Confidentiality, v, "confidentiality")
                                 or Confidentiality.NONE, evidence),
        "place": plain("place", lambda v: parse_text({"place": v or ""}, "place"), evidence),
    }


def retag_evidence(
    *, session: Session, actor: Actor, evidence_id: uuid.UUID, changes: Mapping[str, Any], rules: IngestRules,
    now: datetime, reason: str = "",
) -> Evidence | FlagClearanceRequest:
    """Apply tag changes (officers: their own uploads only), log each one, and re-evaluate the record's flags.

    A change that would clear a compliance flag is not applied: it becomes a request that someone other than
    the uploader and the requester decides (issue 12), and nothing else changes until then.
    """
    evidence = get_evidence(session=session, actor=actor, evidence_id=evidence_id)
    require(actor, Permission.TAG_EVIDENCE)
    unknown = set(changes) - set(TAG_KEYS)
    if unknown:
        raise InvalidMetadata(f"unknown tags: {', '.join(sorted(unknown))}", details={"valid": list(TAG_KEYS)})
    # Taking the log's append lock first: no other transaction's events land among the trial's.
    first = next_log_index(session)
    trial = session.begin_nested()  # a trial run: the flags it would clear decide whether it may stand
    try:
        with structlog.contextvars.bound_contextvars(trial_run=True):  # its log lines may be undone
            apply_tags(session=session, actor=actor, evidence=evidence, changes=changes, rules=rules, now=now,
                       reason=reason)
        cleared = _compliance_flags_cleared(session, since=first)
    except BaseException:
        trial.rollback()
        raise
    if not cleared:
        trial.commit()
        return evidence
    trial.rollback()
    return _request_clearance(session=session, actor=actor, evidence=evidence, changes=changes, clears=cleared,
                              reason=reason, now=now)


def _request_clearance(
    *, session: Session, actor: Actor, evidence: Evidence, changes: Mapping[str, Any], clears: list[dict[str, str]],
    reason: str, now: datetime,
) -> FlagClearanceRequest:
    if not reason.strip():
        raise InvalidInput("这次标签修改会清除合规标记，须说明理由 (a change that clears a compliance flag "
                           "needs a reason)", details={"clears": clears})
    request = FlagClearanceRequest(evidence_id=evidence.id, changes=dict(changes), clears=clears,
                                   reason=reason.strip(), requested_by_id=actor.id, requested_by=actor.name,
                                   requested_at=now)
    session.add(request)
    session.flush()
    record_event(session=session, actor=actor, action=CustodyAction.FLAG_CLEARANCE_REQUESTED, subject_type="evidence",
                 subject_id=evidence.id, case_id=evidence.case_id, now=now,
                 details={"request_id": str(request.id), "changes": request.changes, "clears": clears,
                          "reason": request.reason})
    return request


def _compliance_flags_cleared(session: Session, *, since: int) -> list[dict[str, str]]:
    """Return the compliance flags that the events logged from index `since` on left cleared (not raised anew)."""
    events = session.scalars(select(CustodyEvent).where(
        CustodyEvent.log_index >= since,
        CustodyEvent.action.in_([CustodyAction.EVIDENCE_FLAG_CLEARED.value, CustodyAction.EVIDENCE_FLAGGED.value])))
    cleared: set[tuple[str, str]] = set()
    raised: set[tuple[str, str]] = set()
    for event in events:
        target = cleared if event.action == CustodyAction.EVIDENCE_FLAG_CLEARED.value else raised
        target.add((event.subject_id, str(event.details.get("flag"))))
    return [{"evidence_id": subject, "flag": flag} for subject, flag in sorted(cleared - raised)
            if flag in COMPLIANCE_FLAGS]


def apply_tags(
    *, session: Session, actor: Actor, evidence: Evidence, changes: Mapping[str, Any], rules: IngestRules,
    now: datetime, reason: str, logged: Mapping[str, Any] | None = None,
) -> None:
    """Set the tags, refuse impossible times, log each change (with `logged` added), and re-evaluate the flags."""
    record = session.get(IngestRecord, evidence.id)
    if record is None:
        record = IngestRecord(evidence_id=evidence.id, given_handlers=[])
        session.add(record)
    setters = _setters(session, evidence, record)
    moving = bool(_CONTINUITY_KEYS & set(changes))
    former_neighbours = neighbours(session=session, evidence=evidence) if moving else []
    applied = {key: setters[key](changes[key]) for key in TAG_KEYS if key in changes}
    _refuse_impossible(evidence, record, changed=set(applied), now=now, rules=rules)
    session.flush()
    for key, (before, after) in applied.items():
        if before != after:
            record_event(session=session, actor=actor, action=CustodyAction.EVIDENCE_TAGGED, subject_type="evidence",
                         subject_id=evidence.id, case_id=evidence.case_id, now=now,
                         details={"tag": key, "before": before, "after": after, "reason": reason, **(logged or {})})
    wanted = expected_tag_flags(evidence=evidence, record=record, rules=rules)
    sync_flags(session=session, actor=actor, evidence=evidence, wanted=wanted, governed=TAG_FLAGS, now=now)
    if _CONTINUITY_KEYS & set(applied):
        check_continuity(session=session, actor=actor, evidence=evidence, tolerance=rules.continuity_tolerance,
                         now=now, former_neighbours=former_neighbours)


def _refuse_impossible(evidence: Evidence, record: IngestRecord, *, changed: set[str], now: datetime,
                       rules: IngestRules) -> None:
    if evidence.capture_start and evidence.capture_end and evidence.capture_end < evidence.capture_start:
        raise InvalidMetadata("'capture_end' is before 'capture_start'", details={"key": "capture_end"})
    moments = {"capture_start": evidence.capture_start, "capture_end": evidence.capture_end,
               "field_return_at": record.field_return_at}
    refuse_future({k: v for k, v in moments.items() if k in changed}, now=now, tolerance=rules.clock_tolerance)
    if changed & {"capture_start", "field_return_at"}:
        refuse_return_before_capture(record.field_return_at, evidence.capture_start)


# --- an officer's own uploads, the tag form's values, and the queue of flag clearances to decide ----------------

FORM_TAG_KEYS = ("case_number", "party", "handlers", "activity", "recorder_serial", "party_informed",
                 "field_return_at", "late_reason")
MAX_OWN_PAGE_SIZE = 200


@dataclass(frozen=True)
class OwnUpload:
    """One of the officer's uploads: its open flags with their reasons, and its clearance requests, newest first."""

    evidence: Evidence
    flags: list[EvidenceFlag]
    requests: list[FlagClearanceRequest]

    @property
    def pending(self) -> list[FlagClearanceRequest]:
        """Return the requests still waiting for a decision."""
        return [r for r in self.requests if r.status == ClearanceStatus.PENDING]


@dataclass(frozen=True)
class OwnUploads:
    """One page of the officer's uploads and how many there are in all."""

    items: list[OwnUpload]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        """Return how many pages the uploads fill (at least one)."""
        return max(1, -(-self.total // self.page_size))


def _requests_of(session: Session, evidence_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[FlagClearanceRequest]]:
    found: dict[uuid.UUID, list[FlagClearanceRequest]] = {}
    if evidence_ids:
        for request in session.scalars(select(FlagClearanceRequest).where(
                FlagClearanceRequest.evidence_id.in_(evidence_ids)).order_by(
                FlagClearanceRequest.requested_at.desc(), FlagClearanceRequest.id)):
            found.setdefault(request.evidence_id, []).append(request)
    return found


def list_own_uploads(
    *, session: Session, actor: Actor, flagged_only: bool = False, page: int = 1, page_size: int = 25,
) -> OwnUploads:
    """Return a page of the uploader's own records, newest upload first, with open flags and clearance requests."""
    require(actor, Permission.UPLOAD_EVIDENCE)
    if page < 1 or not 1 <= page_size <= MAX_OWN_PAGE_SIZE:
        raise InvalidInput(f"page 从 1 起，page_size 为 1-{MAX_OWN_PAGE_SIZE} (page from 1, page_size "
                           f"1-{MAX_OWN_PAGE_SIZE})", details={"page": page, "page_size": page_size})
    conditions = [Evidence.uploader_id == actor.id]
    if flagged_only:
        conditions.append(Evidence.id.in_(select(EvidenceFlag.evidence_id).where(EvidenceFlag.cleared_at.is_(None))))
    total = session.scalar(select(func.count()).select_from(Evidence).where(*conditions)) or 0
    rows = list(session.scalars(select(Evidence).where(*conditions).order_by(
        Evidence.uploaded_at.desc(), Evidence.id).limit(page_size).offset((page - 1) * page_size)).unique())
    requests = _requests_of(session, [e.id for e in rows])
    items = [OwnUpload(evidence=e, flags=open_flag_rows(e), requests=requests.get(e.id, [])) for e in rows]
    return OwnUploads(items=items, total=total, page=page, page_size=page_size)


def tag_form_values(*, session: Session, actor: Actor, evidence_id: uuid.UUID, zone: ZoneInfo) -> dict[str, Any]:
    """Return the tags a form edits as it shows them: what was declared (even naming nothing known), times local."""
    evidence = get_evidence(session=session, actor=actor, evidence_id=evidence_id)
    require(actor, Permission.TAG_EVIDENCE)
    record = session.get(IngestRecord, evidence.id)
    given_handlers = list(record.given_handlers) if record else []
    handlers = given_handlers + [h.certificate_number for h in evidence.handlers
                                 if h.certificate_number not in given_handlers]
    returned = record.field_return_at if record else None
    return {
        "case_number": evidence.case.case_number if evidence.case else (record and record.given_case_number) or "",
        "party": evidence.party.name if evidence.party else (record and record.given_party) or "",
        "handlers": ", ".join(handlers),
        "activity": evidence.activity or "",
        "recorder_serial": evidence.recorder_serial or "",
        "party_informed": evidence.party_informed,
        "field_return_at": returned.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if returned else "",
        "late_reason": (record.late_reason if record else None) or "",
    }


@dataclass(frozen=True)
class FlagReview:
    """A pending clearance request with its record, and whether this decider is barred (uploader or requester)."""

    request: FlagClearanceRequest
    evidence: Evidence
    own: bool


def list_flag_reviews(*, session: Session, actor: Actor) -> list[FlagReview]:
    """Return the pending flag clearance requests for someone who decides them, oldest first."""
    require(actor, Permission.DECIDE_FLAG_CLEARANCE)
    query = select(FlagClearanceRequest, Evidence).join(Evidence, Evidence.id == FlagClearanceRequest.evidence_id)
    query = query.where(FlagClearanceRequest.status == ClearanceStatus.PENDING).order_by(
        FlagClearanceRequest.requested_at, FlagClearanceRequest.id)
    reviews = []
    for request, evidence in session.execute(query).unique():
        if can_see_metadata(actor, evidence):
            own = actor.id in {request.requested_by_id, evidence.uploader_id}
            reviews.append(FlagReview(request=request, evidence=evidence, own=own))
    return reviews
