"""What the player page shows for a record: the grant it plays under and what it can play, or the missing approval."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from vault.access.content import SELF_VIEW, Gone, Variant, browser_playable
from vault.access.explain import MissingApproval, explain_missing_approval
from vault.access.models import AccessGrant
from vault.access.service import active_grant
from vault.evidence.models import DerivativeKind, Evidence, EvidenceStatus
from vault.evidence.service import get_evidence
from vault.identities.actor import Actor

DEFAULT_FRAME_RATE = 25.0  # PAL, what body-worn recorders in China record at when the probe could not tell


@dataclass(frozen=True)
class PlayerView:
    """A record opened in the player: either playable (grant or uploader self-view) or the missing approval."""

    evidence: Evidence
    grant: AccessGrant | None
    basis: str | None  # "grant", "uploader_self_view", or None when refused
    missing: MissingApproval | None
    kind: str  # video, audio or image
    frame_rate: float
    variants: tuple[Variant, ...]  # the sources a viewer may switch between (original, proxy)

    @property
    def playable(self) -> bool:
        """Return whether the page may show the content."""
        return self.basis is not None


def _kind(evidence: Evidence) -> str:
    major = evidence.media_type.split("/", 1)[0]
    return major if major in {"image", "audio"} else "video"


def _frame_rate(evidence: Evidence) -> float:
    value = evidence.media_info.get("frame_rate")
    return float(value) if isinstance(value, (int, float)) and 1 <= value <= 240 else DEFAULT_FRAME_RATE


def _variants(evidence: Evidence) -> tuple[Variant, ...]:
    found = []
    if browser_playable(evidence):
        found.append(Variant.ORIGINAL)
    if any(d.kind == DerivativeKind.PROXY for d in evidence.derivatives):
        found.append(Variant.PROXY)
    return tuple(found)


def open_player(
    *, session: Session, actor: Actor, evidence_id: uuid.UUID, now: datetime, self_view: bool
) -> PlayerView:
    """Return what the player shows for a record the actor can see; the reads themselves are checked and logged."""
    evidence = get_evidence(session=session, actor=actor, evidence_id=evidence_id)
    if evidence.status == EvidenceStatus.DISPOSED:
        raise Gone(f"the original of record {evidence_id} was disposed (销毁) after an approved disposition")
    grant = active_grant(session, actor, evidence.id, download=False, now=now)
    basis: str | None = "grant" if grant else None
    if grant is None and self_view and actor.id is not None and evidence.uploader_id == actor.id:
        basis = SELF_VIEW
    missing = None if basis else explain_missing_approval(session=session, actor=actor, evidence_id=evidence.id,
                                                          download=False, now=now)
    return PlayerView(evidence=evidence, grant=grant, basis=basis, missing=missing, kind=_kind(evidence),
                      frame_rate=_frame_rate(evidence), variants=_variants(evidence))
