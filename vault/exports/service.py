"""Export evidence bundles: check the approval, log the export, stream the bag, keep the retained copy (复制留存)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.access.models import AccessGrant, AccessPurpose
from vault.access.service import confidential_reason, confidential_records, refuse_records, require_export_grant
from vault.cases.models import Case
from vault.cases.service import find_case
from vault.config import Settings
from vault.context import VaultContext
from vault.custody.anchoring import anchor_name
from vault.custody.encoding import LOG_ORIGIN
from vault.custody.models import Checkpoint, CustodyAction, CustodyEvent
from vault.custody.note import CheckpointText, SignedNote
from vault.custody.service import inclusion_bundle, record_event, write_checkpoint
from vault.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from vault.evidence.models import Evidence, EvidenceStatus
from vault.exports import layout
from vault.exports.bagit import safe_name
from vault.exports.bundle import BundleResult, ExportPlan
from vault.exports.delivery import PlanRecord
from vault.exports.marking import mark_lines, markable
from vault.exports.metadata import case_metadata, record_metadata
from vault.exports.models import ExportCopy, ExportPurpose
from vault.exports.versions import (
    NOT_PROVIDED,
    Selection,
    Withheld,
    WithheldCode,
    applying_party,
    court_selection,
    party_copy_selection,
)
from vault.identities.actor import Actor
from vault.identities.authz import Permission, has_permission, require
from vault.identities.models import User
from vault.keys import DataCipher
from vault.storage.base import BlobStore, LockAfterCommit

log = structlog.get_logger(__name__)

MAX_RECIPIENT_LENGTH = 512
GRANT_PURPOSE: dict[ExportPurpose, AccessPurpose] = {
    ExportPurpose.COURT: AccessPurpose.LITIGATION,
    ExportPurpose.RECONSIDERATION: AccessPurpose.RECONSIDERATION,
    ExportPurpose.FILING_REVIEW: AccessPurpose.FILING_REVIEW,
    ExportPurpose.PARTY_COPY: AccessPurpose.PARTY_COPY,
}


class RecordDisposed(Conflict):
    """A record named for export was disposed of (销毁); its bytes no longer exist."""

    code = "evidence_disposed"


class AgencyNameNotSet(Conflict):
    """The agency (制作单位) the explanation sheet names is still the shipped placeholder."""

    code = "agency_name_not_set"


def require_agency_name(settings: Settings) -> None:
    """Refuse to make a bundle that would name the placeholder agency, unless the vault is a demo vault."""
    if settings.agency_name_missing and not settings.demo:
        raise AgencyNameNotSet(
            "制作单位名称未设置：请将 EVAULT_AGENCY_NAME 设为本单位全称（演示库可设 EVAULT_DEMO=true）/ the agency "
            "name (制作单位) is not set: set EVAULT_AGENCY_NAME to the agency's full name before exporting",
            details={"setting": "EVAULT_AGENCY_NAME", "agency_name": settings.agency_name},
        )


class ConfidentialRecord(PermissionDenied):
    """A party copy may not include confidential records (000 第九条)."""

    code = "confidential_record"


def parse_purpose(value: str) -> ExportPurpose:
    """Return the ExportPurpose named by value, or raise InvalidInput listing the valid ones."""
    try:
        return ExportPurpose(value)
    except ValueError:
        valid = ", ".join(p.value for p in ExportPurpose)
        raise InvalidInput(f"unknown export purpose '{value}'; valid purposes: {valid}") from None


def _recipient(value: str) -> str:
    recipient = " ".join(value.split())
    if not recipient or len(recipient) > MAX_RECIPIENT_LENGTH:
        raise InvalidInput(f"name the recipient (接收方) in 1-{MAX_RECIPIENT_LENGTH} characters")
    return recipient


def named_records(session: Session, case: Case, evidence_ids: Sequence[uuid.UUID], *,
                  refuse_disposed: bool = True) -> list[Evidence]:
    """Return the named records of a case, refusing unknown ones, other cases' and (unless told) disposed ones."""
    records = []
    for evidence_id in dict.fromkeys(evidence_ids):
        evidence = session.get(Evidence, evidence_id)
        if evidence is None:
            raise NotFound(f"no evidence record {evidence_id}", details={"evidence_id": str(evidence_id)})
        if evidence.case_id != case.id:
            raise InvalidInput(
                f"evidence record {evidence_id} does not belong to case (案号) {case.case_number}",
                details={"evidence_id": str(evidence_id)},
            )
        if refuse_disposed and evidence.status == EvidenceStatus.DISPOSED:
            raise RecordDisposed(
                f"evidence record {evidence_id} was disposed (销毁); it cannot be exported",
                details={"evidence_id": str(evidence_id)},
            )
        records.append(evidence)
    return records


def select_records(
    *, session: Session, actor: Actor, case: Case, purpose: ExportPurpose, evidence_ids: Sequence[uuid.UUID] | None,
    now: datetime,
) -> tuple[list[Evidence], list[Evidence]]:
    """Return the records to export and the confidential ones a whole-case party copy leaves out (000 第九条)."""
    if evidence_ids:
        records = named_records(session, case, evidence_ids)
        secret = confidential_records(records)
        if purpose == ExportPurpose.PARTY_COPY and secret:
            message = confidential_reason(secret)
            error = ConfidentialRecord(message, details={"evidence_ids": [str(e.id) for e in secret],
                                                         "rule": "000 第九条"})
            raise refuse_records(session=session, actor=actor, records=[(e.id, e.case_id) for e in secret],
                                 error=error, now=now, details={"operation": "export", "reason": message})
        return records, []
    query = select(Evidence).where(Evidence.case_id == case.id, Evidence.status == EvidenceStatus.STORED)
    records = list(session.scalars(query.order_by(Evidence.capture_start, Evidence.uploaded_at)))
    if purpose != ExportPurpose.PARTY_COPY:
        return records, []
    withheld = confidential_records(records)
    return [e for e in records if e not in withheld], withheld


def _approval_text(session: Session, grant: AccessGrant, zone: Any) -> str:
    approver = session.get(User, grant.approver_id)
    name = approver.display_name or approver.name if approver else str(grant.approver_id)
    return (
        f"access grant (查阅复制审批) {grant.id} approved by {name} on "
        f"{grant.starts_at.astimezone(zone).isoformat(timespec='seconds')}, valid until "
        f"{grant.expires_at.astimezone(zone).isoformat(timespec='seconds')}"
    )


def _log_exported(
    session: Session,
    actor: Actor,
    records: Sequence[Evidence],
    export_id: uuid.UUID,
    purpose: ExportPurpose,
    recipient: str,
    grant: AccessGrant,
    now: datetime,
    selection: Selection,
) -> None:
    for evidence in records:
        version = selection.redacted.get(evidence.id)
        delivered = [*(["original"] if evidence.id in selection.originals else []), *(["redacted"] if version else [])]
        record_event(
            session=session,
            actor=actor,
            action=CustodyAction.EVIDENCE_EXPORTED,
            subject_type="evidence",
            subject_id=evidence.id,
            case_id=evidence.case_id,
            now=now,
            details={
                "export_id": str(export_id),
                "purpose": purpose.value,
                "recipient": recipient,
                "grant_id": str(grant.id),
                "sha256": evidence.sha256,
                "delivered": delivered,
                **({"edit_id": str(version.edit_id), "redacted_sha256": version.sha256} if version else {}),
            },
        )


def custody_proofs(session: Session, evidence_ids: Sequence[uuid.UUID], checkpoint: Checkpoint) -> list[dict[str, Any]]:
    """Return every custody event of the records with its inclusion proof against the checkpoint."""
    query = (
        select(CustodyEvent.log_index)
        .where(CustodyEvent.subject_type == "evidence", CustodyEvent.subject_id.in_([str(i) for i in evidence_ids]))
        .where(CustodyEvent.log_index < checkpoint.tree_size)
        .order_by(CustodyEvent.log_index)
    )
    return [inclusion_bundle(session=session, log_index=i, checkpoint=checkpoint) for i in session.scalars(query)]


def checkpoint_json(checkpoint: Checkpoint) -> dict[str, Any]:
    """Return a signed checkpoint as the bundle's custody/checkpoint.json carries it."""
    if checkpoint.note is None:  # signed before checkpoints were anchored
        return {
            "origin": LOG_ORIGIN,
            "tree_size": checkpoint.tree_size,
            "root_hash": checkpoint.root_hash,
            "signed_at": checkpoint.signed_at.isoformat(timespec="microseconds"),
            "key_id": checkpoint.key_id,
            "signature": checkpoint.signature,
            "signed_message": "origin LF tree_size LF base64(root) LF signed_at LF, signed with Ed25519",
        }
    return {
        "origin": CheckpointText.parse(SignedNote.parse(checkpoint.note).text).origin,
        "tree_size": checkpoint.tree_size,
        "root_hash": checkpoint.root_hash,
        "signed_at": checkpoint.signed_at.isoformat(timespec="microseconds"),
        "key_id": checkpoint.key_id,
        "note": checkpoint.note,
        "anchor": anchor_name(checkpoint.tree_size),
        "signed_message": "a C2SP tlog-checkpoint signed note (c2sp.org/tlog-checkpoint), Ed25519, anchored as "
                          "`anchor` in the vault's write-once store",
    }


@dataclass(frozen=True)
class ExportRequest:
    """What the caller asks for."""

    case_number: str
    purpose: ExportPurpose
    recipient: str
    evidence_ids: Sequence[uuid.UUID] | None = None
    party: str | None = None  # the party applying for a party copy (name or id); default the case's only party
    include_redacted: bool = False  # court, reconsideration, filing review: approved redacted versions beside originals
    watermark: bool = False  # burn recipient, export id and date into every video and photo copy


def prepare_export(
    *, session: Session, actor: Actor, context: VaultContext, request: ExportRequest, now: datetime
) -> ExportPlan:
    """Check approval and records, log the export per record, sign a checkpoint over it, and plan the bundle."""
    require(actor, Permission.EXPORT_EVIDENCE)
    require_agency_name(context.settings)
    recipient = _recipient(request.recipient)
    case = find_case(session=session, case_number=request.case_number)
    confidential, selection = choose_versions(session=session, actor=actor, case=case, request=request, now=now)
    records = selection.records
    withheld = [*confidential, *(w for w in selection.withheld if w.code in NOT_PROVIDED)]
    if not records:
        raise InvalidInput(f"case (案号) {case.case_number} has no stored records to export"
                           + (" that this party may copy" if withheld else ""),
                           details={"withheld": [w.as_json() for w in withheld]})
    ids = [e.id for e in records]
    grant = require_export_grant(
        session=session, actor=actor, evidence_ids=ids, purpose=GRANT_PURPOSE[request.purpose], now=now
    )
    export_id = uuid.uuid4()
    _log_exported(session, actor, records, export_id, request.purpose, recipient, grant, now, selection)
    checkpoint = write_checkpoint(session=session, anchors=context.anchors, now=now)
    assert checkpoint is not None  # events were just appended, so there is something to sign
    proofs = custody_proofs(session, ids, checkpoint)
    zone = context.settings.zone
    plan_records = [_plan_record(e, context.cipher, zone, request.purpose, proofs, selection) for e in records]
    lines = mark_lines(recipient=recipient, export_id=str(export_id), made_at=now, zone=zone) \
        if request.watermark else None
    log.info("export.prepared", export_id=str(export_id), case_id=str(case.id), records=len(records))
    return ExportPlan(
        export_id=export_id,
        bag_name=f"evidence-bundle-{export_id}",
        case_id=case.id,
        case_number=case.case_number,
        case_title=case.title,
        purpose=request.purpose,
        recipient=recipient,
        agency=context.settings.agency_name,
        created_at=now,
        zone=zone,
        actor_id=actor.id,
        actor_name=actor.name,
        grant_id=grant.id,
        approval=_approval_text(session, grant, zone),
        records=plan_records,
        withheld=[w.evidence_id for w in withheld],
        withheld_detail=[*withheld, *_replaced(selection, plan_records, marked=lines is not None)],
        watermark=lines,
        party=selection.party,
        case_metadata=case_metadata(case, context.cipher, zone=zone),
        checkpoint=checkpoint_json(checkpoint),
        custody_events=proofs,
        public_key_pem=context.signer.public_pem(),
        key_id=context.signer.key_id,
    )


def choose_versions(*, session: Session, actor: Actor, case: Case, request: ExportRequest, now: datetime
                    ) -> tuple[list[Withheld], Selection]:
    """Return the confidential records a whole-case party copy leaves out, and what goes in per record."""
    records, secret = select_records(session=session, actor=actor, case=case, purpose=request.purpose,
                                     evidence_ids=request.evidence_ids, now=now)
    confidential = [Withheld(e.id, e.sha256, WithheldCode.CONFIDENTIAL) for e in secret]
    if request.purpose == ExportPurpose.PARTY_COPY:
        party = applying_party(case, request.party)
        return confidential, party_copy_selection(session, records, party)
    return confidential, court_selection(session, records, include_redacted=request.include_redacted)


def _replaced(selection: Selection, records: list[PlanRecord], *, marked: bool) -> list[Withheld]:
    """Return the originals a derived copy stands in for: redacted by rule, or watermarked."""
    replaced = [w for w in selection.withheld if w.code is WithheldCode.REDACTED_INSTEAD]
    if marked:
        replaced += [Withheld(r.evidence_id, r.sha256, WithheldCode.WATERMARKED_INSTEAD) for r in records
                     if r.include_original and markable(r.media_type)]
    return replaced


def _plan_record(
    evidence: Evidence, cipher: DataCipher, zone: Any, purpose: ExportPurpose, proofs: list[dict[str, Any]],
    selection: Selection,
) -> PlanRecord:
    path = f"data/{evidence.id}/{safe_name(evidence.original_name)}"
    events = sum(1 for p in proofs if p["entry"]["subject_id"] == str(evidence.id))
    return PlanRecord(
        evidence_id=evidence.id,
        path=path,
        storage_key=evidence.storage_key,
        version_id=evidence.version_id,
        size=evidence.size,
        sha256=evidence.sha256,
        sm3=evidence.sm3,
        custody_events=events,
        media_type=evidence.media_type,
        include_original=evidence.id in selection.originals,
        redacted=selection.redacted.get(evidence.id),
        metadata=record_metadata(
            evidence, cipher=cipher, zone=zone, payload_path=path, party_copy=purpose == ExportPurpose.PARTY_COPY
        ),
    )


def retained_document(plan: ExportPlan, result: BundleResult) -> bytes:
    """Return the small object kept for the retained copy: digest, manifests, explanation, signature."""
    body = {
        "export_id": str(plan.export_id),
        "bundle_name": f"{plan.bag_name}.zip",
        "bundle_sha256": result.bundle_sha256,
        "bundle_size": result.bundle_size,
        "case_number": plan.case_number,
        "purpose": plan.purpose.value,
        "recipient": plan.recipient,
        "files": result.files,
        "party": plan.party,
        "watermark": plan.watermark,
        "derivatives": result.derivatives,
        "withheld": [w.as_json() for w in plan.withheld_detail],
        "signature_base64": base64.b64encode(result.signature).decode(),
        "timestamp_base64": base64.b64encode(result.timestamp).decode() if result.timestamp else None,
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True, indent=1).encode()


def finalize_export(
    *, session: Session, actor: Actor, context: VaultContext, plan: ExportPlan, result: BundleResult, now: datetime
) -> tuple[ExportCopy, LockAfterCommit]:
    """Keep the retained copy (复制留存) in the store and catalog, and log the export as created.

    The copy is written unlocked; the caller commits, then applies the returned lock.
    """
    require(actor, Permission.EXPORT_EVIDENCE)
    retain_until = now + timedelta(days=context.settings.export_copy_retention_days)
    pending = context.store.begin_put(content_type="application/json")
    try:
        pending.write([retained_document(plan, result)])
        blob = pending.finish()
    except BaseException:
        pending.discard()
        raise
    copy = ExportCopy(
        id=plan.export_id,
        case_id=plan.case_id,
        purpose=plan.purpose,
        recipient=plan.recipient,
        actor_id=plan.actor_id,
        actor_name=plan.actor_name,
        grant_id=plan.grant_id,
        created_at=plan.created_at,
        completed_at=now,
        evidence_ids=[str(r.evidence_id) for r in plan.records],
        record_count=len(plan.records),
        withheld_count=len(plan.withheld),
        withheld_ids=[str(i) for i in plan.withheld],
        payload_bytes=plan.payload_bytes,
        bundle_sha256=result.bundle_sha256,
        bundle_size=result.bundle_size,
        bundle_name=f"{plan.bag_name}.zip",
        manifests={k: v for k, v in result.files.items() if "manifest" in k or k.endswith("-sm3.txt")
                   or k.startswith(layout.DERIVATIVES_DIR) or k == layout.WITHHELD_FILE},
        explanation_text=result.files[layout.EXPLANATION_TEXT],
        signature=base64.b64encode(result.signature).decode(),
        key_id=plan.key_id,
        timestamp_token=base64.b64encode(result.timestamp).decode() if result.timestamp else None,
        checkpoint_size=int(plan.checkpoint["tree_size"]),
        retained_key=blob.key,
        retained_version_id=blob.version_id,
    )
    session.add(copy)
    session.flush()
    record_event(
        session=session,
        actor=actor,
        action=CustodyAction.EXPORT_CREATED,
        subject_type="export",
        subject_id=plan.export_id,
        case_id=plan.case_id,
        now=now,
        details={
            "bundle_sha256": result.bundle_sha256,
            "bundle_size": result.bundle_size,
            "purpose": plan.purpose.value,
            "recipient": plan.recipient,
            "grant_id": str(plan.grant_id),
            "records": copy.evidence_ids,
            "withheld": [str(i) for i in plan.withheld],
            "withheld_reasons": {str(w.evidence_id): w.code.value for w in plan.withheld_detail},
            "watermark": plan.watermark,
            "derivatives": [{"kind": d["kind"], "payload_path": d["payload_path"], "sha256": d["output"]["sha256"],
                             "original_sha256": d["original"]["sha256"],
                             "source_sha256": d.get("source", {}).get("sha256", d["original"]["sha256"])}
                            for d in result.derivatives],
            "retained_key": blob.key,
            "timestamped": result.timestamp is not None,
        },
    )
    return copy, LockAfterCommit(pending, retain_until)


def get_export(*, session: Session, actor: Actor, export_id: uuid.UUID) -> ExportCopy:
    """Return a retained copy's record (records managers and auditors)."""
    if not (has_permission(actor, Permission.EXPORT_EVIDENCE) or has_permission(actor, Permission.READ_AUDIT_LOG)):
        require(actor, Permission.READ_AUDIT_LOG)
    copy = session.get(ExportCopy, export_id)
    if copy is None:
        raise NotFound(f"no export {export_id}")
    return copy


def read_retained_document(*, session: Session, actor: Actor, store: BlobStore, export_id: uuid.UUID) -> bytes:
    """Return the retained copy's stored document (digest, manifests, signature), as the store keeps it."""
    copy = get_export(session=session, actor=actor, export_id=export_id)
    return b"".join(store.open_range(copy.retained_key, copy.retained_version_id))


def list_exports(*, session: Session, actor: Actor, case_number: str | None = None) -> list[ExportCopy]:
    """List retained copies, newest first, optionally of one case."""
    if not has_permission(actor, Permission.EXPORT_EVIDENCE):
        require(actor, Permission.READ_AUDIT_LOG)
    query = select(ExportCopy).order_by(ExportCopy.completed_at.desc())
    if case_number:
        query = query.where(ExportCopy.case_id == find_case(session=session, case_number=case_number).id)
    return list(session.scalars(query.limit(1000)))
