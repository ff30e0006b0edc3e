"""Request and response shapes of the edit routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from vault.redaction.models import DetectionStatus, EditStatus
from vault.redaction.spec import EditSpec, Method, Reason
from vault.text import Line, Paragraph


class EditCreate(BaseModel):
    """A new edit of an original: what to keep and what to hide (both may be empty at first)."""

    model_config = ConfigDict(extra="forbid")

    spec: EditSpec = EditSpec()


class SuggestionDecision(BaseModel):
    """Accept a suggested face, with the reason it is withheld and how, or reject it."""

    model_config = ConfigDict(extra="forbid")

    accept: bool
    reason: Reason = Reason.OTHERS_PRIVACY
    reason_text: Line = ""
    method: Method = Method.BLUR


class EditDecision(BaseModel):
    """An approver's decision on a submitted edit."""

    model_config = ConfigDict(extra="forbid")

    approve: bool
    reason: Paragraph = ""


class EditPublic(BaseModel):
    """An edit as its editor and approvers see it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    evidence_id: uuid.UUID
    status: EditStatus
    spec: dict[str, Any]
    suggestions: list[dict[str, Any]]
    detection: DetectionStatus
    editor_name: str
    approver_name: str | None
    decided_at: datetime | None
    decision_reason: str
    progress: float
    error: str | None
    derivative_id: uuid.UUID | None
    provenance: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
