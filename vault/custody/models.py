"""The custody log (监督留痕): append-only events and signed Merkle checkpoints over them."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base, UTCDateTime


class CustodyAction(StrEnum):
    """Every kind of thing the log records, as `subject:action`."""

    USER_CREATED = "user:created"
    USER_UPDATED = "user:updated"
    TOKEN_CREATED = "token:created"
    TOKEN_REVOKED = "token:revoked"
    AUTH_REFUSED = "auth:refused"
    HANDLER_ADDED = "handler:added"
    HANDLER_UPDATED = "handler:updated"
    CASE_CREATED = "case:created"
    CASE_STATUS_CHANGED = "case:status_changed"
    CASE_UPDATED = "case:updated"
    CASE_FLAGGED = "case:flagged"
    PARTY_CREATED = "party:created"
    PARTY_LINKED = "party:linked"
    PARTY_UPDATED = "party:updated"
    PARTY_DATA_REVEALED = "party:data_revealed"
    EVIDENCE_REGISTERED = "evidence:registered"
    EVIDENCE_DUPLICATE_SUBMITTED = "evidence:duplicate_submitted"
    EVIDENCE_REJECTED = "evidence:rejected"
    EVIDENCE_TAGGED = "evidence:tagged"
    EVIDENCE_FLAGGED = "evidence:flagged"
    EVIDENCE_FLAG_CLEARED = "evidence:flag_cleared"
    EVIDENCE_DIGEST_RECORDED = "evidence:digest_recorded"
    EVIDENCE_DERIVATIVE_CREATED = "evidence:derivative_created"
    EVIDENCE_METADATA_VIEWED = "evidence:metadata_viewed"
    EVIDENCE_VIEWED = "evidence:viewed"
    EVIDENCE_DOWNLOADED = "evidence:downloaded"
    EVIDENCE_ACCESS_REFUSED = "evidence:access_refused"
    EVIDENCE_EXPORTED = "evidence:exported"
    EVIDENCE_FIXITY_CHECKED = "evidence:fixity_checked"
    EVIDENCE_FIXITY_FAILED = "evidence:fixity_failed"
    EVIDENCE_RETENTION_CHANGED = "evidence:retention_changed"
    EVIDENCE_STORE_LOCK_EXTENDED = "evidence:store_lock_extended"
    EVIDENCE_HOLD_PLACED = "evidence:hold_placed"
    EVIDENCE_HOLD_RELEASED = "evidence:hold_released"
    EVIDENCE_DISPOSAL_PROPOSED = "evidence:disposal_proposed"
    EVIDENCE_DISPOSAL_APPROVED = "evidence:disposal_approved"
    EVIDENCE_DISPOSAL_REFUSED = "evidence:disposal_refused"
    EVIDENCE_DISPOSED = "evidence:disposed"
    ACCESS_REQUESTED = "access:requested"
    ACCESS_APPROVED = "access:approved"
    ACCESS_DENIED = "access:denied"
    ACCESS_REVOKED = "access:revoked"
    POLICY_CHANGED = "policy:changed"
    POLICY_CHANGE_REQUESTED = "policy:change_requested"
    POLICY_CHANGE_REJECTED = "policy:change_rejected"
    CALENDAR_LOADED = "calendar:loaded"
    EXPORT_CREATED = "export:created"
    AUDIT_VERIFIED = "audit:verified"
    UPLOAD_CREATED = "upload:created"
    UPLOAD_TERMINATED = "upload:terminated"
    EVIDENCE_PLAYBACK_CLOSED = "evidence:playback_closed"
    EVIDENCE_LINK_ISSUED = "evidence:link_issued"
    ACCESS_DECISION_REFUSED = "access:decision_refused"
    AUDIT_REPORT_EXPORTED = "audit:report_exported"
    EVIDENCE_LONG_TERM_MARKED = "evidence:long_term_marked"
    CASE_LONG_TERM_MARKED = "case:long_term_marked"
    CASE_HOLD_PLACED = "case:hold_placed"
    CASE_HOLD_RELEASED = "case:hold_released"
    EVIDENCE_RECLASSIFICATION_REQUESTED = "evidence:reclassification_requested"
    EVIDENCE_RECLASSIFICATION_REJECTED = "evidence:reclassification_rejected"
    EVIDENCE_DISPOSITION_QUEUED = "evidence:disposition_queued"
    EVIDENCE_RETENTION_REMINDER = "evidence:retention_reminder"
    EVIDENCE_DISPOSAL_CANCELLED = "evidence:disposal_cancelled"
    HANDLER_CERTIFICATE_CHANGED = "handler:certificate_changed"
    USER_DISABLED = "user:disabled"
    USER_ENABLED = "user:enabled"
    USER_ROLE_CHANGED = "user:role_changed"
    CALLUP_REGISTERED = "callup:registered"
    CALLUP_FULFILLED = "callup:fulfilled"
    FLAG_CLEARANCE_REQUESTED = "evidence:flag_clearance_requested"
    FLAG_CLEARANCE_APPROVED = "evidence:flag_clearance_approved"
    FLAG_CLEARANCE_REJECTED = "evidence:flag_clearance_rejected"
    WITNESS_COSIGNED = "witness:cosigned"
    WITNESS_REFUSED = "witness:refused"
    USER_SIGNED_IN = "user:signed_in"
    USER_SIGN_IN_FAILED = "user:sign_in_failed"
    USER_SIGNED_OUT = "user:signed_out"
    USER_LOCKED = "user:locked"
    USER_PASSWORD_SET = "user:password_set"
    SIGNING_KEY_ROTATED = "vault:signing_key_rotated"
    EDIT_CREATED = "edit:created"
    EDIT_CHANGED = "edit:changed"
    EDIT_SUGGESTION_DECIDED = "edit:suggestion_decided"
    EDIT_RENDER_REQUESTED = "edit:render_requested"
    EDIT_RENDERED = "edit:rendered"
    EDIT_SUBMITTED = "edit:submitted"
    EDIT_APPROVED = "edit:approved"
    EDIT_REJECTED = "edit:rejected"
    VAULT_EXPORTED_WHOLE = "vault:exported_whole"
    # Backup and restore (issue 16): a restore onto a catalog behind its anchors continues the log past the lost
    # entries, each marked lost, so no checkpoint of the lost branch is ever signed again under its size.
    VAULT_BACKED_UP = "vault:backed_up"
    VAULT_RESTORED = "vault:restored"
    VAULT_LOG_ENTRY_LOST = "vault:log_entry_lost"


class CustodyEvent(Base):
    """One entry of the log; its leaf hash covers a canonical encoding of every column below."""

    __tablename__ = "custody_events"
    __table_args__ = (
        Index("ix_custody_events_subject", "subject_type", "subject_id"),
        Index("ix_custody_events_actor", "actor_id"),
        Index("ix_custody_events_case", "case_id"),
    )

    log_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    actor_name: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(128))
    case_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    leaf_hash: Mapped[str] = mapped_column(String(64))


class Checkpoint(Base):
    """A signed statement of the log's size and Merkle root at one moment."""

    __tablename__ = "custody_checkpoints"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[str] = mapped_column(String(64))
    frontier: Mapped[dict[str, Any]] = mapped_column(JSON)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    key_id: Mapped[str] = mapped_column(String(32))
    signature: Mapped[str] = mapped_column(Text)
    # The C2SP signed note (tlog-checkpoint) exactly as anchored; None for checkpoints signed before anchoring.
    note: Mapped[str | None] = mapped_column(Text, default=None)
