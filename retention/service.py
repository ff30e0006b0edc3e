"""Retention state per record: policy versions, recomputation on every relevant event, the store lock in step."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from retention.models import (
    LegalHold,
    MarkerKind,
    PolicyChangeRequest,
    PolicyVersion,
    QueueState,
    RetentionMarker,
    RetentionState,
)
from retention.policy import (
    SHIPPED_POLICY,
    CaseFacts,
    RecordFacts,
    RetentionDecision,
    RetentionPolicy,
    add_years,
    compute_retention,
)
from vault.cases.models import Case, CaseType
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.errors import InvalidInput, NotFound
from vault.evidence.models import Evidence, EvidenceStatus
from vault.identities.actor import SYSTEM, Actor
from vault.identities.authz import Permission, require
from vault.storage.base import BlobStore

log = structlog.get_logger(__name__)

STATUTORY_MINIMUM = {"routine_inspection_months": 6, "default_years": 5}
# Settings that decide how long records are kept: shortening one needs a second person's approval.
RETENTION_SETTINGS = frozenset({"routine_inspection_months", "default_years", "case_file_years",
                                "indefinite_store_years"})


def current_policy(session: Session, now: datetime) -> RetentionPolicy:
    """Return the policy version in effect at now, or the shipped defaults (version 0)."""
    row = session.scalars(
        select(PolicyVersion)
        .where(PolicyVersion.effective_from <= now)
        .order_by(PolicyVersion.effective_from.desc(), PolicyVersion.version.desc())
        .limit(1)
    ).first()
    return RetentionPolicy.from_rules(row.version, row.effective_from, row.rules) if row else SHIPPED_POLICY


WHOLE_NUMBER_SETTINGS = ("routine_inspection_months", "default_years", "reminder_days", "fixity_cycle_days",
                         "indefinite_store_years", "archiving_working_days")
MAX_SETTING = 1000


def _whole_number(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be a whole number", details={name: value})
    if not 1 <= value <= MAX_SETTING:
        raise InvalidInput(f"{name} must be from 1 to {MAX_SETTING}", details={name: value})
    return value


def _case_file_changes(value: Any) -> dict[str, int | None]:
    if not isinstance(value, dict):
        raise InvalidInput("case_file_years must map case types to years (null: permanent)",
                           details={"case_file_years": value})
    valid = [t.value for t in CaseType]
    if unknown := sorted(set(value) - set(valid)):
        raise InvalidInput(f"unknown case types in case_file_years: {', '.join(unknown)}", details={"valid": valid})
    for case_type, years in value.items():
        if years is not None and (isinstance(years, bool) or not isinstance(years, int) or years < 1):
            raise InvalidInput(f"case-file retention (案卷保存期限) of {case_type} must be at least 1 year or null",
                               details={case_type: years})
    return dict(value)


def _merged_rules(base: RetentionPolicy, changes: Any) -> dict[str, Any]:
    """Return base's rules with the changes laid over them, case_file_years merged per case type."""
    if not isinstance(changes, dict):
        raise InvalidInput("changes must map policy settings to values")
    rules = base.rules()
    if unknown := sorted(set(changes) - set(rules)):
        raise InvalidInput(f"unknown policy settings: {', '.join(unknown)}", details={"valid": list(rules)})
    for name, value in changes.items():
        if name == "case_file_years":
            rules[name] = {**rules[name], **_case_file_changes(value)}
        else:
            rules[name] = _whole_number(name, value)
    for name, minimum in STATUTORY_MINIMUM.items():
        if rules[name] < minimum:
            raise InvalidInput(f"{name} may not go below the statutory minimum of {minimum}", details={name: minimum})
    return rules


def set_policy(
    *, session: Session, actor: Actor, changes: dict[str, Any], effective_from: datetime, note: str, now: datetime
) -> PolicyVersion | PolicyChangeRequest:
    """Add a policy version effective from a date (never backdated); stored records never shorten because of it.

    Only the settings named change; case_file_years changes per case type, keeping the others. A change that
    shortens a retention default is not applied: it becomes a request a second person approves.
    """
    require(actor, Permission.MANAGE_RETENTION)
    base, _ = checked_change(session, changes, effective_from, now)
    shortened = sorted(k for k, v in changes.items() if is_shorter_setting(base.rules().get(k), v))
    if set(shortened) & RETENTION_SETTINGS:
        request = PolicyChangeRequest(changes=changes, shortened=shortened, effective_from=effective_from, note=note,
                                      requested_by_id=actor.id, requested_by=actor.name, requested_at=now)
        session.add(request)
        session.flush()
        record_event(session=session, actor=actor, action=CustodyAction.POLICY_CHANGE_REQUESTED, subject_type="policy",
                     subject_id=str(request.id), now=now,
                     details={"request_id": str(request.id), "effective_from": effective_from.isoformat(),
                              "changes": changes, "shortened": shortened, "note": note})
        return request
    return add_policy_version(session=session, actor=actor, changes=changes, effective_from=effective_from,
                              note=note, now=now)


def checked_change(session: Session, changes: Any, effective_from: datetime,
                   now: datetime) -> tuple[RetentionPolicy, dict[str, Any]]:
    """Check a policy change against the rules and return the policy it changes and the merged rules."""
    if effective_from.tzinfo is None:
        raise InvalidInput("effective_from needs a time zone, e.g. 2027-01-01T00:00:00+08:00")
    if effective_from < now:
        raise InvalidInput("a policy version cannot take effect in the past", details={"now": now.isoformat()})
    base = current_policy(session, max(now, effective_from))
    return base, _merged_rules(base, changes)


def add_policy_version(
    *, session: Session, actor: Actor, changes: dict[str, Any], effective_from: datetime, note: str, now: datetime,
    approval: dict[str, Any] | None = None,
) -> PolicyVersion:
    """Store a checked policy version and log it (set_policy decides whether it needs approval first).

    An approved change is credited to whoever asked for it; the approver is the actor of its custody event.
    """
    base, rules = checked_change(session, changes, effective_from, now)
    latest = session.scalar(select(func.max(PolicyVersion.version))) or 0
    author = approval["requested_by"] if approval else actor.name
    row = PolicyVersion(version=latest + 1, effective_from=effective_from, rules=rules, note=note,
                        created_by=author, created_at=now)
    session.add(row)
    session.flush()
    shortened = sorted(k for k, v in changes.items() if is_shorter_setting(base.rules().get(k), v))
    record_event(session=session, actor=actor, action=CustodyAction.POLICY_CHANGED, subject_type="policy",
                 subject_id=str(row.version), now=now,
                 details={"version": row.version, "effective_from": effective_from.isoformat(), "changes": changes,
                          "previous_version": base.version, "shortened": shortened, "note": note,
                          **({"approval": approval} if approval else {})})
    return row


def is_shorter_setting(old: Any, new: Any) -> bool:
    """Tell whether a new setting keeps records for less time than the old one (None is permanent)."""
    if isinstance(old, dict) and isinstance(new, dict):
        return any(is_shorter_setting(old.get(k), v) for k, v in new.items())
    if old is None or new is None:
        return old is None and new is not None
    return isinstance(old, int) and isinstance(new, int) and new < old


def policy_history(*, session: Session, actor: Actor) -> list[PolicyVersion]:
    """Return every policy version, oldest first."""
    require(actor, Permission.READ_ALL_EVIDENCE_METADATA)
    return list(session.scalars(select(PolicyVersion).order_by(PolicyVersion.version)))


def _active_markers(session: Session, *, evidence_id: uuid.UUID | None = None,
                    case_id: uuid.UUID | None = None) -> tuple[MarkerKind, ...]:
    query = select(RetentionMarker.kind).where(RetentionMarker.cleared_at.is_(None))
    if evidence_id is not None:
        return tuple(sorted(set(session.scalars(query.where(RetentionMarker.evidence_id == evidence_id)))))
    query = query.where(RetentionMarker.case_id == case_id)
    return tuple(sorted(set(session.scalars(query))))


def record_facts(session: Session, evidence: Evidence, state: RetentionState | None) -> RecordFacts:
    """Gather the plain facts compute_retention needs about one record."""
    case_facts = None
    if evidence.case_id is not None:
        case = session.get(Case, evidence.case_id)
        assert case is not None
        case_facts = CaseFacts(case_number=case.case_number, case_type=case.case_type.value,
                               status=case.status.value, archived_at=case.archived_at,
                               markers=_active_markers(session, case_id=case.id))
    return RecordFacts(
        evidence_id=evidence.id,
        clock_start=evidence.capture_end or evidence.capture_start or evidence.uploaded_at,
        activity=evidence.activity,
        case=case_facts,
        markers=_active_markers(session, evidence_id=evidence.id),
        explicit_class=state.explicit_class if state else None,
        floor_until=state.floor_until if state else None,
        floor_permanent=state.floor_permanent if state else False,
        store_retain_until=evidence.store_retain_until,
    )


def is_held(session: Session, evidence: Evidence) -> bool:
    """Return whether an unreleased legal hold covers the record or its case."""
    covers = LegalHold.evidence_id == evidence.id
    if evidence.case_id is not None:
        covers = covers | (LegalHold.case_id == evidence.case_id)
    return session.scalar(select(LegalHold.id).where(covers, LegalHold.released_at.is_(None)).limit(1)) is not None


def _apply(state: RetentionState, decision: RetentionDecision, now: datetime) -> bool:
    changed = (state.retain_until, state.permanent, state.retention_class, state.reason) != (
        decision.retain_until, decision.permanent, decision.retention_class, decision.reason)
    state.retention_class = decision.retention_class
    state.retain_until = decision.retain_until
    state.permanent = decision.permanent
    state.reason = decision.reason
    state.policy_version = decision.policy_version
    state.computed_at = now
    if decision.retain_until is not None and (state.floor_until is None or decision.retain_until > state.floor_until):
        state.floor_until = decision.retain_until
    state.floor_permanent = state.floor_permanent or decision.permanent
    not_due = decision.retain_until is None or decision.retain_until > now
    # A kept record (its disposal cancelled) follows its retention again once that moves on.
    if state.queue_state in (QueueState.DUE, QueueState.PROPOSED, QueueState.KEPT) and not_due:
        state.queue_state = QueueState.ACTIVE
    return changed


def recompute_retention(
    session: Session,
    evidence: Evidence,
    now: datetime,
    *,
    store: BlobStore | None = None,
    actor: Actor = SYSTEM,
    zone: tzinfo = UTC,
    policy: RetentionPolicy | None = None,
) -> RetentionState:
    """Recompute and store one record's retention and hold state; with a store, bring its lock in step too.

    A job recomputing many records passes the policy in effect at now, read once, instead of once per record."""
    state = session.get(RetentionState, evidence.id)
    policy = policy or current_policy(session, now)
    decision = compute_retention(record_facts(session, evidence, state), policy, now, zone=zone)
    if state is None:
        state = RetentionState(evidence_id=evidence.id, retention_class=decision.retention_class,
                               queue_state=QueueState.ACTIVE, floor_permanent=False, held=False, reason="",
                               policy_version=0, permanent=False)
        session.add(state)
    if evidence.status == EvidenceStatus.DISPOSED:
        state.queue_state = QueueState.DISPOSED
        session.flush()
        return state
    before = (state.retain_until.isoformat() if state.retain_until else None, state.reason or None)
    changed = _apply(state, decision, now)
    held = is_held(session, evidence)
    hold_changed, state.held = held != state.held, held
    session.flush()
    if changed:
        record_event(session=session, actor=actor, action=CustodyAction.EVIDENCE_RETENTION_CHANGED,
                     subject_type="evidence", subject_id=evidence.id, case_id=evidence.case_id, now=now,
                     details={"from": before[0], "previous_reason": before[1],
                              "retain_until": decision.retain_until.isoformat() if decision.retain_until else None,
                              "class": decision.retention_class.value, "reason": decision.reason,
                              "policy_version": decision.policy_version})
    if store is not None:
        if hold_changed and held:
            store.set_legal_hold(evidence.storage_key, evidence.version_id, True)
        sync_store_lock(session=session, evidence=evidence, state=state, store=store, now=now, actor=actor,
                        policy=policy)
    return state


def store_lock_target(state: RetentionState, policy: RetentionPolicy, now: datetime) -> datetime:
    """Return the lock the store should hold for the computed retention.

    Finite retention: exactly retain_until. Indefinite or permanent: a rolling lock `indefinite_store_years`
    ahead, renewed by the reconciliation job once more than a year of that horizon is used up.
    """
    if state.retain_until is not None:
        return state.retain_until
    return add_years(now, policy.indefinite_store_years)


def _needs_extension(current: datetime | None, target: datetime, state: RetentionState, now: datetime) -> bool:
    if current is None:
        return True
    if state.retain_until is not None:
        return target > current
    return current < target - timedelta(days=366)


def sync_store_lock(
    *, session: Session, evidence: Evidence, state: RetentionState, store: BlobStore, now: datetime,
    actor: Actor = SYSTEM, reason: str = "retention grew", policy: RetentionPolicy | None = None,
) -> bool:
    """Extend the store's lock to the computed retention if it is shorter; never shorten it. Return True if extended."""
    target = store_lock_target(state, policy or current_policy(session, now), now)
    current = evidence.store_retain_until
    if target <= now or not _needs_extension(current, target, state, now):
        return False
    store.set_retention(evidence.storage_key, evidence.version_id, target)
    evidence.store_retain_until = target
    session.flush()
    record_event(session=session, actor=actor, action=CustodyAction.EVIDENCE_STORE_LOCK_EXTENDED,
                 subject_type="evidence", subject_id=evidence.id, case_id=evidence.case_id, now=now,
                 details={"from": current.isoformat() if current else None, "to": target.isoformat(),
                          "store": evidence.storage_backend, "reason": reason})
    log.info("retention.store_lock_extended", evidence_id=str(evidence.id), to=target.isoformat(), reason=reason)
    return True


def get_evidence_for_retention(session: Session, evidence_id: uuid.UUID) -> Evidence:
    """Return a record by id or raise NotFound."""
    evidence = session.get(Evidence, evidence_id)
    if evidence is None:
        raise NotFound(f"no evidence record {evidence_id}")
    return evidence


def get_retention(*, session: Session, actor: Actor, evidence_id: uuid.UUID, now: datetime,
                  zone: tzinfo = UTC) -> RetentionState:
    """Return a record's retention state, computing it first if it was never computed."""
    require(actor, Permission.READ_ALL_EVIDENCE_METADATA)
    evidence = get_evidence_for_retention(session, evidence_id)
    return session.get(RetentionState, evidence.id) or recompute_retention(session, evidence, now, zone=zone)


def records_of_case(session: Session, case_id: uuid.UUID) -> list[Evidence]:
    """Return every record tagged with the case."""
    return list(session.scalars(select(Evidence).where(Evidence.case_id == case_id).order_by(Evidence.uploaded_at)))


def mark_long_term(
    *, session: Session, actor: Actor, kind: MarkerKind, note: str, now: datetime, store: BlobStore | None = None,
    evidence_id: uuid.UUID | None = None, case_id: uuid.UUID | None = None, zone: tzinfo = UTC,
) -> RetentionMarker:
    """Mark a record or a whole case for long-term preservation (长期保存) and recompute what it covers."""
    require(actor, Permission.TAG_EVIDENCE)
    if (evidence_id is None) == (case_id is None):
        raise InvalidInput("mark either one record or one case")
    evidence = get_evidence_for_retention(session, evidence_id) if evidence_id else None
    case = session.get(Case, case_id) if case_id else None
    if case_id and case is None:
        raise NotFound(f"no case {case_id}")
    marker = RetentionMarker(evidence_id=evidence_id, case_id=case_id, kind=kind, note=note, marked_by=actor.name,
                             marked_at=now)
    session.add(marker)
    session.flush()
    if evidence is not None:
        record_event(session=session, actor=actor, action=CustodyAction.EVIDENCE_LONG_TERM_MARKED,
                     subject_type="evidence", subject_id=evidence.id, case_id=evidence.case_id, now=now,
                     details={"kind": kind.value, "note": note})
        records = [evidence]
    else:
        record_event(session=session, actor=actor, action=CustodyAction.CASE_LONG_TERM_MARKED, subject_type="case",
                     subject_id=str(case_id), case_id=case_id, now=now, details={"kind": kind.value, "note": note})
        records = records_of_case(session, case_id)  # type: ignore[arg-type]
    for record in records:
        recompute_retention(session, record, now, store=store, actor=actor, zone=zone)
    return marker
