"""Signed ingest receipts: what a client needs before it may clear a file from a recorder."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from ingest.service import IngestOutcome
from ingest.uploads.service import get_upload, outcome_of
from vault.evidence.service import get_evidence
from vault.identities.actor import Actor
from vault.keys import Signer, canonical_json, verify_signature


def sign_receipt(
    *, signer: Signer, evidence_id: uuid.UUID, sha256: str, size: int, original_name: str, received_at: datetime,
    duplicate: bool,
) -> dict[str, Any]:
    """Return {"receipt": {...}, "signature": base64 Ed25519} for one ingested file."""
    receipt = {
        "evidence_id": str(evidence_id),
        "sha256": sha256,
        "size": size,
        "original_name": original_name,
        "received_at": received_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "vault_key_id": signer.key_id,
        "duplicate": duplicate,
    }
    return {"receipt": receipt, "signature": base64.b64encode(signer.sign(canonical_json(receipt))).decode()}


def verify_receipt(public_raw: bytes, signed: dict[str, Any]) -> bool:
    """Check a receipt's signature against the vault's raw Ed25519 public key."""
    try:
        signature = base64.b64decode(signed["signature"], validate=True)
        return verify_signature(public_raw, signature, canonical_json(signed["receipt"]))
    except (KeyError, TypeError, ValueError):
        return False


def receipt_of(outcome: IngestOutcome, signer: Signer) -> dict[str, Any]:
    """Sign the receipt of one submission's outcome."""
    evidence = outcome.evidence
    return sign_receipt(signer=signer, evidence_id=evidence.id, sha256=evidence.sha256, size=evidence.size,
                        original_name=outcome.original_name, received_at=outcome.received_at,
                        duplicate=outcome.duplicate)


def upload_receipt(*, session: Session, actor: Actor, signer: Signer, upload_id: uuid.UUID) -> dict[str, Any]:
    """Return the signed receipt of one of the actor's completed uploads."""
    upload = get_upload(session=session, actor=actor, upload_id=upload_id)
    return receipt_of(outcome_of(session=session, upload=upload), signer)


def evidence_receipt(*, session: Session, actor: Actor, signer: Signer, evidence_id: uuid.UUID) -> dict[str, Any]:
    """Return a signed receipt for a record the actor may see, as of its original upload."""
    evidence = get_evidence(session=session, actor=actor, evidence_id=evidence_id)
    return sign_receipt(signer=signer, evidence_id=evidence.id, sha256=evidence.sha256, size=evidence.size,
                        original_name=evidence.original_name, received_at=evidence.uploaded_at, duplicate=False)
