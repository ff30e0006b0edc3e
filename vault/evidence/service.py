"""Register originals in the catalog, read their metadata by role, flag and re-tag them."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.cases.models import Case, Party
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.db import utcnow
from vault.errors import NotFound
from vault.evidence.models import Confidentiality, Evidence, EvidenceFlag
from vault.identities.actor import Actor
from vault.identities.authz import Permission, has_permission, require
from vault.identities.models import Handler
from vault.storage.base import StoredBlob


@dataclass
class EvidenceTags:
    """What an uploader says about a recording: the labels DOMAIN.md requires and capture facts."""

    case: Case | None = None
    party: Party | None = None
    handlers: list[Handler] = field(default_factory=list)
    activity: str | None = None
    recorder_serial: str | None = None
    capture_start: datetime | None = None
    capture_end: datetime | None = None
    party_informed: bool = False
    confidentiality: Confidentiality = Confidentiality.NONE
    notes: str = ""
    place: str | None = None  # where it was recorded (拍摄地点), as declared


def register_evidence(
    *,
    session: Session,
    actor: Actor,
    blob: StoredBlob,
    store_name: str,
    store_retain_until: datetime,
    original_name: str,
    media_type: str,
    tags: EvidenceTags,
    media_info: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> Evidence:
    """Catalog a stored original and record its custody event in the caller's transaction."""
    require(actor, Permission.UPLOAD_EVIDENCE)
    if actor.id is None:
        raise NotFound("the system cannot upload evidence")
    evidence = Evidence(
        sha256=blob.sha256,
        size=blob.size,
        media_type=media_type,
        original_name=original_name,
        storage_backend=store_name,
        storage_key=blob.key,
        version_id=blob.version_id,
        store_retain_until=store_retain_until,
        capture_start=tags.capture_start,
        capture_end=tags.capture_end,
        recorder_serial=tags.recorder_serial,
        uploader_id=actor.id,
        uploaded_at=now or utcnow(),
        case_id=tags.case.id if tags.case else None,
        party_id=tags.party.id if tags.party else None,
        activity=tags.activity,
        party_informed=tags.party_informed,
        confidentiality=tags.confidentiality,
        notes=tags.notes,
        place=tags.place,
        media_info=media_info or {},
        handlers=list(tags.handlers),
    )
    session.add(evidence)
    session.flush()
    record_event(
        session=session,
        actor=actor,
        action=CustodyAction.EVIDENCE_REGISTERED,
        subject_type="evidence",
        subject_id=evidence.id,
        case_id=evidence.case_id,
        now=evidence.uploaded_at,
        details={
            "sha256": blob.sha256,
            "size": blob.size,
            "name": original_name,
            "store": store_name,
            "key": blob.key,
            "version_id": blob.version_id,
            "case_number": tags.case.case_number if tags.case else None,
            "handlers": [h.certificate_number for h in tags.handlers],
        },
    )
    return evidence


def find_by_sha256(*, session: Session, sha256: str) -> Evidence | None:
    """Return the record holding these bytes, if any."""
    return session.scalar(select(Evidence).where(Evidence.sha256 == sha256.lower()))


def can_see_metadata(actor: Actor, evidence: Evidence) -> bool:
    """Return whether the actor may see this record's metadata (officers: their own uploads only)."""
    return has_permission(actor, Permission.READ_ALL_EVIDENCE_METADATA) or evidence.uploader_id == actor.id


def get_evidence(*, session: Session, actor: Actor, evidence_id: uuid.UUID) -> Evidence:
    """Return a record's metadata if the actor may see it; otherwise as if it did not exist."""
    evidence = session.get(Evidence, evidence_id)
    if evidence is None or not can_see_metadata(actor, evidence):
        raise NotFound(f"no evidence record {evidence_id}")
    return evidence


def list_evidence(
    *, session: Session, actor: Actor, case: Case | None = None, limit: int = 100, offset: int = 0
) -> list[Evidence]:
    """List records the actor may see, newest first."""
    query = select(Evidence).order_by(Evidence.uploaded_at.desc()).limit(min(limit, 1000)).offset(offset)
    if case is not None:
        query = query.where(Evidence.case_id == case.id)
    if not has_permission(actor, Permission.READ_ALL_EVIDENCE_METADATA):
        query = query.where(Evidence.uploader_id == actor.id)
    return list(session.scalars(query))


def _plain(value: Any) -> str:
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else str(value)


@dataclass(frozen=True)
class FlagReason:
    """Why a flag is raised: a short Chinese sentence with the values, a reason code, and the values themselves."""

    text: str
    code: str = ""
    facts: dict[str, Any] = field(default_factory=dict)


def raise_flag(
    *, session: Session, actor: Actor, evidence: Evidence, flag: str, detail: str = "", now: datetime | None = None,
    code: str = "", facts: dict[str, Any] | None = None,
) -> EvidenceFlag:
    """Flag a record (idempotent per open flag) with its reason (code defaults to the flag), and log it."""
    for existing in evidence.flags:
        if existing.flag == flag and existing.cleared_at is None:
            return existing
    shown = json.loads(json.dumps(facts or {}, default=_plain))
    item = EvidenceFlag(evidence=evidence, flag=flag, detail=detail, code=code or flag, facts=shown,
                        raised_at=now or utcnow())
    session.add(item)
    session.flush()
    record_event(
        session=session,
        actor=actor,
        action=CustodyAction.EVIDENCE_FLAGGED,
        subject_type="evidence",
        subject_id=evidence.id,
        case_id=evidence.case_id,
        details={"flag": flag, "detail": detail, "code": item.code, "facts": shown},
    )
    return item


def clear_flag(*, session: Session, actor: Actor, evidence: Evidence, flag: str, reason: str) -> None:
    """Clear an open flag with a reason, and log it (taggers, or whoever decides a clearance request)."""
    if not has_permission(actor, Permission.DECIDE_FLAG_CLEARANCE):
        require(actor, Permission.TAG_EVIDENCE)
    for item in evidence.flags:
        if item.flag == flag and item.cleared_at is None:
            item.cleared_at = utcnow()
            record_event(
                session=session,
                actor=actor,
                action=CustodyAction.EVIDENCE_FLAG_CLEARED,
                subject_type="evidence",
                subject_id=evidence.id,
                case_id=evidence.case_id,
                details={"flag": flag, "reason": reason},
            )
            return
    raise NotFound(f"record {evidence.id} has no open flag '{flag}'")


def open_flags(evidence: Evidence) -> list[str]:
    """Return the names of the record's open flags."""
    return sorted({f.flag for f in evidence.flags if f.cleared_at is None})


def open_flag_rows(evidence: Evidence) -> list[EvidenceFlag]:
    """Return the record's open flags with their reasons, by name."""
    return sorted((f for f in evidence.flags if f.cleared_at is None), key=lambda f: f.flag)
