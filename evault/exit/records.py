"""What the exit export writes about each record and about the vault, read from the catalog as it stands.

Personal data is written as the catalog stores it. A party's ID number, phone, address and bank account are
written masked, and as the AES-256-GCM ciphertext the catalog holds: the folder does not disclose them, and the
agency, which keeps the personal-data key (keys/personal-data.key, backed up with the vault's keys), loses nothing
by leaving. Free text (notes, flag details, hold reasons) is stored in clear and written in clear, as the custody
log must be (its leaf hashes cover it verbatim); masking it would lose the record. So the folder is as
confidential as the vault itself.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import inspect, or_, select
from sqlalchemy.orm import Session

from retention.models import (
    DisposalCertificate,
    DisposalRequest,
    LegalHold,
    PolicyVersion,
    Reclassification,
    RetentionMarker,
    RetentionState,
)
from vault.cases.models import Case, Party
from vault.cases.service import masked_personal_data
from vault.custody.models import Checkpoint, CustodyEvent
from vault.custody.service import canonical_entry
from vault.evidence.models import Evidence, EvidenceStatus
from vault.exports.metadata import case_metadata, record_metadata
from vault.exports.service import checkpoint_json
from vault.identities.models import Handler, User
from vault.keys import DataCipher

ORIGINAL_DIR = "original/"
EVIDENCE_FILE = "metadata/evidence.json"
CUSTODY_FILE = "metadata/custody.json"
DISPOSAL_FILE = "metadata/disposal-certificate.json"
PERSONAL_DATA_NOTE = ("masked, plus the catalog's AES-256-GCM ciphertext (base64 nonce || ciphertext); "
                      "decrypt with the vault's keys/personal-data.key, which is not in this export")
# Columns a scheduled job rewrites without any fact changing: they would make a new version on every run.
_RECOMPUTED = ("computed_at", "fixity_checked_at")
_ENCRYPTED_COLUMNS = ("id_number_enc", "phone_enc", "address_enc", "bank_account_enc")


def to_json(value: Any) -> bytes:
    """Return stable, readable UTF-8 JSON (sorted keys), so unchanged metadata hashes the same in every run."""
    return (json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=_plain) + "\n").encode()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def row_json(row: Any, *, leave_out: tuple[str, ...] = ()) -> dict[str, Any]:
    """Return every column of a catalog row as JSON-ready values, but the named ones."""
    mapper = inspect(row).mapper
    return {c.key: _jsonable(getattr(row, c.key)) for c in mapper.column_attrs if c.key not in leave_out}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "value") and not isinstance(value, dict | list):  # enums
        return value.value
    return value


def original_name(evidence: Evidence) -> str:
    """Return the logical path of the original: its uploaded file name, made safe as one path segment."""
    name = evidence.original_name.replace("/", "_").replace("\\", "_").strip()
    return ORIGINAL_DIR + (name if name not in ("", ".", "..") else "original")


def party_json(party: Party, cipher: DataCipher) -> dict[str, Any]:
    """Return a party with personal data masked and, for the agency's own key, the stored ciphertext."""
    return {
        "id": str(party.id),
        "name": party.name,
        "kind": party.kind.value,
        "legal_representative": party.legal_representative or None,
        "personal_data_masked": masked_personal_data(party, cipher),
        "personal_data_encrypted": {c.removesuffix("_enc"): getattr(party, c) for c in _ENCRYPTED_COLUMNS
                                    if getattr(party, c)},
        "personal_data_note": PERSONAL_DATA_NOTE,
    }


def _holds(session: Session, evidence: Evidence) -> list[dict[str, Any]]:
    scope = LegalHold.evidence_id == evidence.id
    if evidence.case_id is not None:
        scope = or_(scope, LegalHold.case_id == evidence.case_id)
    return [row_json(h) for h in session.scalars(select(LegalHold).where(scope).order_by(LegalHold.placed_at))]


def _rows(session: Session, model: Any, evidence_id: uuid.UUID, order: Any) -> list[dict[str, Any]]:
    return [row_json(r) for r in session.scalars(select(model).where(model.evidence_id == evidence_id).order_by(order))]


def retention_json(session: Session, evidence: Evidence) -> dict[str, Any]:
    """Return a record's retention: its computed state, legal holds (its own and its case's), markers, requests."""
    state = session.get(RetentionState, evidence.id)
    return {
        "state": row_json(state, leave_out=_RECOMPUTED) if state else None,
        "legal_holds": _holds(session, evidence),
        "markers": _rows(session, RetentionMarker, evidence.id, RetentionMarker.marked_at),
        "reclassifications": _rows(session, Reclassification, evidence.id, Reclassification.requested_at),
        "disposal_requests": _rows(session, DisposalRequest, evidence.id, DisposalRequest.proposed_at),
    }


def certificate_json(certificate: DisposalCertificate) -> dict[str, Any]:
    """Return a disposal certificate (销毁清册 entry) as signed: its exact body text, signature and key id."""
    return {"evidence_id": str(certificate.evidence_id), "body": certificate.body, "signature": certificate.signature,
            "key_id": certificate.key_id, "signed_message": "b'evault disposal certificate v1\\n' + body (UTF-8), "
            "Ed25519 by the vault's key"}


def evidence_json(session: Session, evidence: Evidence, *, cipher: DataCipher, zone: ZoneInfo) -> dict[str, Any]:
    """Return everything the catalog holds about one record, for its object's metadata/evidence.json."""
    stored = evidence.status == EvidenceStatus.STORED
    body = record_metadata(evidence, cipher=cipher, zone=zone, payload_path=original_name(evidence) if stored else "",
                           party_copy=False)
    body.pop("payload_path")
    for derivative in body["derivatives"]:
        derivative.pop("in_bundle", None)
    body |= {
        "status": evidence.status.value,
        "original_path": original_name(evidence) if stored else None,
        "original_in_this_version": stored,
        "digests": {"sha256": evidence.sha256, "sm3": evidence.sm3, "size": evidence.size},
        "store": {"backend": evidence.storage_backend, "key": evidence.storage_key, "version_id": evidence.version_id},
        "party": party_json(evidence.party, cipher) if evidence.party else None,
        "case": case_summary(evidence.case, cipher, zone) if evidence.case else None,
        "flags": [row_json(f) for f in evidence.flags],
        "retention": retention_json(session, evidence),
    }
    return body


def case_summary(case: Case, cipher: DataCipher, zone: ZoneInfo) -> dict[str, Any]:
    """Return a case's facts with its parties as party_json writes them."""
    return case_metadata(case, cipher, zone=zone) | {"id": str(case.id), "handling_unit": case.handling_unit,
                                                       "parties": [party_json(p, cipher) for p in case.parties]}


def entry_json(event: CustodyEvent) -> dict[str, Any]:
    """Return one custody entry as its leaf hash covers it, with its index and leaf hash."""
    return {"log_index": event.log_index, "entry": json.loads(canonical_entry(event)), "leaf_hash": event.leaf_hash}


def custody_of(session: Session, evidence_id: uuid.UUID, tree_size: int) -> list[dict[str, Any]]:
    """Return the custody entries about one record up to the snapshot's checkpoint."""
    query = (select(CustodyEvent).where(CustodyEvent.subject_type == "evidence",
                                        CustodyEvent.subject_id == str(evidence_id),
                                        CustodyEvent.log_index < tree_size).order_by(CustodyEvent.log_index))
    return [entry_json(e) for e in session.scalars(query)]


def _json_lines(session: Session, query: Any, encode: Any) -> Iterator[bytes]:
    for partition in session.scalars(query.execution_options(yield_per=2000)).partitions():
        yield b"".join(json.dumps(encode(row), ensure_ascii=False, sort_keys=True).encode() + b"\n"
                       for row in partition)
        session.expunge_all()  # read in pages and let each go: memory stays flat however long the log


def log_lines(session: Session, tree_size: int) -> Iterator[bytes]:
    """Yield the custody log up to the snapshot as JSON lines, oldest first."""
    query = select(CustodyEvent).where(CustodyEvent.log_index < tree_size).order_by(CustodyEvent.log_index)
    return _json_lines(session, query, entry_json)


def checkpoint_lines(session: Session, tree_size: int) -> Iterator[bytes]:
    """Yield every signed checkpoint up to the snapshot as JSON lines, oldest first, as bundles carry them."""
    query = select(Checkpoint).where(Checkpoint.tree_size <= tree_size).order_by(Checkpoint.tree_size)
    return _json_lines(session, query, checkpoint_json)


def users_json(session: Session) -> list[dict[str, Any]]:
    """Return users and roles without secrets: no password hash, no token, no lockout state."""
    secret = ("password_hash", "password_changed_at", "failed_sign_ins", "locked_until")
    return [row_json(u, leave_out=secret) | {"handler_certificate": u.handler_certificate}
            for u in session.scalars(select(User).order_by(User.name))]


def handlers_json(session: Session) -> list[dict[str, Any]]:
    """Return enforcement certificates (执法证) with each one's history of changes."""
    return [row_json(h) | {"certificate_changes": [row_json(c) for c in h.certificate_changes]}
            for h in session.scalars(select(Handler).order_by(Handler.certificate_number))]


def cases_json(session: Session, cipher: DataCipher, zone: ZoneInfo) -> list[dict[str, Any]]:
    """Return every case with its parties (personal data masked and encrypted)."""
    return [case_summary(c, cipher, zone) for c in session.scalars(select(Case).order_by(Case.case_number))]


def disposals_json(session: Session) -> list[dict[str, Any]]:
    """Return every disposal certificate, oldest first."""
    query = select(DisposalCertificate).order_by(DisposalCertificate.disposed_at)
    return [certificate_json(c) for c in session.scalars(query)]


def policies_json(session: Session) -> list[dict[str, Any]]:
    """Return every version of the retention policy."""
    return [row_json(p) for p in session.scalars(select(PolicyVersion).order_by(PolicyVersion.version))]
