"""Resolve what the officer declared (case, party, handlers) and work out which tagging flags apply."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.metadata import ENFORCEMENT_ACTIVITIES, UploadMetadata
from ingest.models import IngestRecord
from ingest.rules import IngestRules, handover_deadline
from vault.cases.models import Case, Party
from vault.cases.numbers import canonical_case_number
from vault.cases.service import find_parties
from vault.evidence.models import Evidence
from vault.evidence.service import EvidenceTags, clear_flag, raise_flag
from vault.identities.actor import Actor
from vault.identities.certificates import certificate_state, certificate_valid_at
from vault.identities.models import Handler

UNTAGGED_CASE = "untagged_case"
UNKNOWN_CASE = "unknown_case"
UNTAGGED_PARTY = "untagged_party"
UNKNOWN_PARTY = "unknown_party"
UNTAGGED_HANDLER = "untagged_handler"
UNKNOWN_HANDLER = "unknown_handler"
CERTIFICATE_INVALID = "certificate_invalid"
FEWER_THAN_TWO_OFFICERS = "fewer_than_two_officers"
PARTY_NOT_INFORMED = "party_not_informed"
LATE_UPLOAD = "late_upload"
DAMAGED = "damaged"

# Flags the tags decide: re-tagging raises or clears exactly these.
TAG_FLAGS = frozenset({UNTAGGED_CASE, UNKNOWN_CASE, UNTAGGED_PARTY, UNKNOWN_PARTY, UNTAGGED_HANDLER, UNKNOWN_HANDLER,
                       CERTIFICATE_INVALID, FEWER_THAN_TWO_OFFICERS, PARTY_NOT_INFORMED, LATE_UPLOAD})


def resolve_case(*, session: Session, case_number: str | None) -> Case | None:
    """Return the case with this case number (案号) in any variant, or None when none is given or none matches."""
    if not case_number:
        return None
    return session.scalar(select(Case).where(Case.case_number == canonical_case_number(case_number)))


def resolve_party(*, session: Session, name: str | None, case: Case | None) -> Party | None:
    """Return the party with this name, preferring one linked to the case; None when unknown or ambiguous."""
    if not name:
        return None
    candidates = find_parties(session=session, name=name)
    if case is not None:
        linked = [p for p in candidates if p in case.parties]
        if linked:
            return linked[0]
    return candidates[0] if len(candidates) == 1 else None


def resolve_handlers(*, session: Session, numbers: tuple[str, ...] | list[str]) -> list[Handler]:
    """Return the registered handlers among these certificate numbers (执法证号), in the given order."""
    if not numbers:
        return []
    found = {h.certificate_number: h for h in session.scalars(
        select(Handler).where(Handler.certificate_number.in_(list(numbers))))}
    return [found[n] for n in numbers if n in found]


def build_tags(*, session: Session, meta: UploadMetadata) -> EvidenceTags:
    """Turn declared metadata into catalog tags; whatever names nothing known stays unset (and gets flagged)."""
    case = resolve_case(session=session, case_number=meta.case_number)
    return EvidenceTags(
        case=case,
        party=resolve_party(session=session, name=meta.party, case=case),
        handlers=resolve_handlers(session=session, numbers=meta.handlers),
        activity=meta.activity.value if meta.activity else None,
        recorder_serial=meta.recorder_serial,
        capture_start=meta.capture_start,
        capture_end=meta.capture_end,
        party_informed=meta.party_informed,
        confidentiality=meta.confidentiality,
        notes=meta.notes,
        place=meta.place,
    )


def _label_flags(evidence: Evidence, record: IngestRecord) -> dict[str, str]:
    flags: dict[str, str] = {}
    if evidence.case is None:
        if record.given_case_number:
            flags[UNKNOWN_CASE] = f"case number (案号) '{record.given_case_number}' is not in the catalog"
        else:
            flags[UNTAGGED_CASE] = "no case number (案号) given yet"
    if evidence.party is None:
        if record.given_party:
            flags[UNKNOWN_PARTY] = f"party (当事人) '{record.given_party}' is not in the catalog or is ambiguous"
        else:
            flags[UNTAGGED_PARTY] = "no party (当事人) given yet"
    known = {h.certificate_number for h in evidence.handlers}
    unknown = [n for n in record.given_handlers if n not in known]
    if unknown:
        flags[UNKNOWN_HANDLER] = f"certificate numbers (执法证号) not registered: {', '.join(unknown)}"
    elif not evidence.handlers:
        flags[UNTAGGED_HANDLER] = "no handler (承办人) given yet"
    return flags


def _certificate_note(handler: Handler, day: date) -> str:
    state = certificate_state(handler, day)
    if state is None:
        return "not yet issued"
    return f"{state.status.value}, {state.valid_from}..{state.valid_until}"


def _certificate_flags(evidence: Evidence, rules: IngestRules) -> dict[str, str]:
    flags: dict[str, str] = {}
    moment = evidence.capture_start or evidence.capture_end or evidence.uploaded_at
    day = moment.astimezone(rules.zone).date()
    invalid = [h for h in evidence.handlers if not certificate_valid_at(h, day)]
    if invalid:
        names = ", ".join(f"{h.name} ({h.certificate_number}, {_certificate_note(h, day)})" for h in invalid)
        flags[CERTIFICATE_INVALID] = f"certificate not valid on {day.isoformat()}: {names}"
    certified = len(evidence.handlers) - len(invalid)
    if evidence.activity in ENFORCEMENT_ACTIVITIES and certified < rules.minimum_officers:
        flags[FEWER_THAN_TWO_OFFICERS] = (
            f"{certified} certified officer(s) on a {evidence.activity}; at least {rules.minimum_officers} required"
        )
    return flags


def _late_flag(evidence: Evidence, record: IngestRecord) -> dict[str, str]:
    deadline = record.handover_deadline
    if deadline is None or evidence.uploaded_at <= deadline:
        return {}
    hours = (evidence.uploaded_at - deadline).total_seconds() / 3600
    reason = record.late_reason or "no reason given"
    return {LATE_UPLOAD: f"uploaded {hours:.1f} h after the handover deadline {deadline.isoformat()}; reason: {reason}"}


def expected_tag_flags(*, evidence: Evidence, record: IngestRecord, rules: IngestRules) -> dict[str, str]:
    """Return the tagging flags (name -> detail) the record's current tags call for."""
    record.handover_deadline = handover_deadline(
        capture_end=evidence.capture_end or evidence.capture_start, field_return_at=record.field_return_at,
        rules=rules)
    flags = _label_flags(evidence, record)
    flags.update(_certificate_flags(evidence, rules))
    if not evidence.party_informed:
        flags[PARTY_NOT_INFORMED] = "the party was not recorded as told that recording started (第十三条(一))"
    flags.update(_late_flag(evidence, record))
    return flags


def sync_flags(
    *, session: Session, actor: Actor, evidence: Evidence, wanted: dict[str, str], governed: frozenset[str],
    now: datetime, reason: str = "no longer applies after re-tagging",
) -> None:
    """Raise every wanted flag not yet open; clear open flags in `governed` that are no longer wanted.

    A governed flag whose detail changed (e.g. a late reason given afterwards) is cleared and raised anew.
    """
    open_now = {f.flag: f.detail for f in evidence.flags if f.cleared_at is None}
    for flag in sorted(set(open_now) & governed):
        if flag not in wanted:
            clear_flag(session=session, actor=actor, evidence=evidence, flag=flag, reason=reason)
        elif wanted[flag] != open_now[flag]:
            clear_flag(session=session, actor=actor, evidence=evidence, flag=flag, reason="details changed")
    for flag, detail in sorted(wanted.items()):
        raise_flag(session=session, actor=actor, evidence=evidence, flag=flag, detail=detail, now=now)
