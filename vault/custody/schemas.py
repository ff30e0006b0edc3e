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
