"""API shapes for the custody log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class CustodyEventPublic(BaseModel):
    """One log entry."""

    model_config = ConfigDict(from_attributes=True)

    log_index: int
    at: datetime
    actor_id: uuid.UUID | None
    actor_name: str
    action: str
    subject_type: str
    subject_id: str
    case_id: uuid.UUID | None
    details: dict[str, Any]
    leaf_hash: str


class CheckpointPublic(BaseModel):
    """A signed tree head."""

    model_config = ConfigDict(from_attributes=True)

    tree_size: int
    root_hash: str
    signed_at: datetime
    key_id: str
    signature: str
    note: str | None  # the C2SP tlog-checkpoint signed note, as anchored


class LogVerdictPublic(BaseModel):
    """The outcome of re-checking the whole log."""

    ok: bool
    entries: int
    checkpoints: int
    anchored: list[str]  # each anchored checkpoint the verdict relied on, and where it was found
    unanchored: int  # catalog checkpoints newer than the newest anchor (the anchor job catches up within a minute)
    problems: list[str]
    lost: list[str] = []  # anchored checkpoints of a branch an acknowledged restore left behind (`evault restore`)


class VerificationPublic(BaseModel):
    """One full verification of the log: when, how far, the verdict and who ran it."""

    model_config = ConfigDict(from_attributes=True)

    at: datetime
    seconds: float
    ran_by: str
    via: str
    entries: int
    checkpoints: int
    anchored: int
    ok: bool
    problems: list[str]


class LogEntryCheckPublic(BaseModel):
    """A log entry with readable names and whether its inclusion proof holds against the latest checkpoint."""

    log_index: int
    at: datetime
    actor: str
    action: str
    subject: str
    case_number: str | None
    details: dict[str, Any]
    leaf_hash: str
    included: bool | None  # None: newer than the latest checkpoint


class LogPagePublic(BaseModel):
    """A page of the log, newest first."""

    size: int
    checkpoint: CheckpointPublic | None
    checkpoint_signed: bool
    entries: list[LogEntryCheckPublic]
    older: int | None  # pass as `before` for the next page
    last_verification: VerificationPublic | None
