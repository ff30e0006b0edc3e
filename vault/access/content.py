"""Content reads under a grant: playback ranges, downloads and direct links, each checked and logged."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.orm import Session, lazyload

from vault.access.explain import explain_missing_approval
from vault.access.models import AccessGrant
from vault.access.playback import note_playback
from vault.access.playback_buffer import OpenedPlayback, PassKey, PlaybackBuffer, PlaybackKey, ReadPass
from vault.access.ranges import ByteRange, parse_range
from vault.access.service import active_grant, refuse_records
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.errors import Conflict, NotFound, PermissionDenied, VaultError
from vault.evidence.models import Derivative, DerivativeKind, Evidence, EvidenceStatus
from vault.evidence.service import can_see_metadata
from vault.identities.actor import Actor
from vault.storage.base import BlobStore

BROWSER_TYPES = frozenset(
    {"video/mp4", "video/webm", "audio/mpeg", "audio/mp4", "audio/aac", "audio/wav", "image/jpeg", "image/png",
     "image/webp", "image/gif"}
)
BROWSER_VIDEO_CODECS = frozenset({"h264", "vp8", "vp9", "av1"})
SELF_VIEW = "uploader_self_view"


class Variant(StrEnum):
    """Which bytes of a record a content read asks for."""

    PLAY = "play"
    ORIGINAL = "original"
    PROXY = "proxy"
    THUMBNAIL = "thumbnail"
    DOWNLOAD = "download"


class Gone(VaultError):
    """The record's original was disposed of (销毁) after an approved disposition."""

    code = "disposed"
    status = 410


class NoDirectLinks(VaultError):
    """The store cannot issue direct links (the local folder store)."""

    code = "direct_links_unsupported"
    status = 409


@dataclass(frozen=True)
class ContentPlan:
    """What to stream for an approved read: object, byte range and response metadata."""

    evidence_id: uuid.UUID
    variant: Variant
    key: str
    version_id: str
    media_type: str
    sha256: str
    filename: str
    byte_range: ByteRange
    grant_id: uuid.UUID | None
    opened: OpenedPlayback | None = None  # a view this read opened: hold its next ranges once committed
    view: PlaybackKey | None = None  # the playback session this read belongs to (None for a download)
    grant_expires_at: datetime | None = None


@dataclass(frozen=True)
class IssuedLink:
    """A short-lived direct URL to a record's bytes, issued after the grant check."""

    url: str
    expires_at: datetime
    variant: Variant
    grant_id: uuid.UUID | None


def browser_playable(evidence: Evidence) -> bool:
    """Return whether browsers play the original as is (by media type and, if known, its video codec)."""
    if evidence.media_type not in BROWSER_TYPES:
        return False
    codec = evidence.media_info.get("video_codec")
    for stream in evidence.media_info.get("streams", []) or []:
        if isinstance(stream, dict) and stream.get("codec_type") == "video":
            codec = codec or stream.get("codec_name")
    return codec is None or str(codec).lower() in BROWSER_VIDEO_CODECS


def _visible(session: Session, actor: Actor, evidence_id: uuid.UUID, operation: Variant, now: datetime) -> Evidence:
    # Every range checks the record again: load its row alone (derivatives only when a proxy is asked for).
    evidence = session.get(Evidence, evidence_id, options=[lazyload("*")])
    if evidence is None or not can_see_metadata(actor, evidence):
        raise refuse_records(session=session, actor=actor, records=[(evidence_id, None)],
                             error=NotFound(f"no evidence record {evidence_id}"), now=now,
                             details={"operation": operation.value, "reason": "not found or not visible"})
    if evidence.status == EvidenceStatus.DISPOSED:
        raise Gone(f"the original of record {evidence_id} was disposed (销毁) after an approved disposition")
    return evidence


def authorize_read(
    *, session: Session, actor: Actor, evidence_id: uuid.UUID, operation: Variant, now: datetime, self_view: bool
) -> tuple[Evidence, AccessGrant | None, str]:
    """Return the record, the grant allowing this read and its basis; refuse (logged) without an approval."""
    evidence = _visible(session, actor, evidence_id, operation, now)
    download = operation == Variant.DOWNLOAD
    grant = active_grant(session, actor, evidence.id, download=download, now=now)
    if grant is not None:
        return evidence, grant, "grant"
    uploader = actor.id is not None and evidence.uploader_id == actor.id
    if uploader and self_view and not download:
        return evidence, None, SELF_VIEW
    explained = explain_missing_approval(session=session, actor=actor, evidence_id=evidence.id, download=download,
                                         now=now)
    assert explained is not None  # active_grant found no grant, so an approval is missing
    reason = explained.message
    if uploader:
        reason += "; uploaders viewing their own footage without a request (uploader self-view) is " + (
            "limited to viewing" if self_view else "disabled by agency setting"
        )
    error = PermissionDenied(reason, details={**explained.details(), "operation": operation.value})
    raise refuse_records(
        session=session, actor=actor, records=[(evidence.id, evidence.case_id)], error=error, now=now,
        details={"operation": operation.value, "reason": reason, "uploader": uploader, "self_view_setting": self_view},
    )


def _target(evidence: Evidence, variant: Variant) -> tuple[Variant, str, str, str, int, str]:
    if variant == Variant.PLAY:
        variant = Variant.ORIGINAL if browser_playable(evidence) else Variant.PROXY
    if variant in (Variant.ORIGINAL, Variant.DOWNLOAD):
        return variant, evidence.storage_key, evidence.version_id, evidence.media_type, evidence.size, evidence.sha256
    kind = DerivativeKind.PROXY if variant == Variant.PROXY else DerivativeKind.THUMBNAIL
    made = sorted((d for d in evidence.derivatives if d.kind == kind), key=lambda d: d.created_at)
    if not made:
        raise Conflict(
            f"record {evidence.id} has no {kind.value} yet; the original is {evidence.media_type}, which a browser "
            "may not play: download it under a view-and-download grant",
            details={"evidence_id": str(evidence.id), "missing": kind.value},
        )
    derivative: Derivative = made[-1]
    return variant, derivative.storage_key, derivative.version_id, derivative.media_type, derivative.size, (
        derivative.sha256
    )


def open_content(
    *,
    session: Session,
    actor: Actor,
    evidence_id: uuid.UUID,
    variant: Variant,
    range_header: str | None,
    now: datetime,
    self_view: bool,
    idle_seconds: int,
    buffer: PlaybackBuffer,
) -> ContentPlan:
    """Check the grant, resolve the bytes to serve and log the read (playback aggregated per session).

    The first range of a view opens its playback session in the caller's transaction; the next ones are held in
    the buffer until it is flushed."""
    evidence, grant, basis = authorize_read(
        session=session, actor=actor, evidence_id=evidence_id, operation=variant, now=now, self_view=self_view
    )
    resolved, key, version_id, media_type, size, sha256 = _target(evidence, variant)
    byte_range = parse_range(range_header, size)
    opened: OpenedPlayback | None = None
    view: PlaybackKey | None = None
    if resolved == Variant.DOWNLOAD:
        _log_download(session, actor, evidence, grant, byte_range, now)
    else:
        assert actor.id is not None  # authorize_read lets only people with an account read
        view = PlaybackKey(actor.id, evidence.id, resolved.value, grant.id if grant else None)
        if not buffer.note(view, byte_range, now, idle_seconds):
            playback = note_playback(session, actor, evidence, grant, basis, resolved.value, byte_range, now,
                                     idle_seconds)
            opened = OpenedPlayback(view, playback.id, now)
    name = evidence.original_name if resolved in (Variant.ORIGINAL, Variant.DOWNLOAD) else f"{evidence.id}-{resolved}"
    return ContentPlan(evidence.id, resolved, key, version_id, media_type, sha256, name, byte_range,
                       grant.id if grant else None, opened, view, grant.expires_at if grant else None)


def remember_read(
    *, buffer: PlaybackBuffer, key: PassKey, actor: Actor, plan: ContentPlan, now: datetime, recheck_seconds: float
) -> None:
    """Let the view's next ranges skip the grant check for recheck_seconds, never past the grant's expiry."""
    if plan.view is None or recheck_seconds <= 0:
        return
    until = now + timedelta(seconds=recheck_seconds)
    if plan.grant_expires_at is not None:
        until = min(until, plan.grant_expires_at)
    buffer.keep_pass(key, ReadPass(plan.view, actor.name, replace(plan, opened=None), until))


def read_with_pass(
    *, buffer: PlaybackBuffer, key: PassKey, range_header: str | None, now: datetime
) -> tuple[ContentPlan, ReadPass[object]] | None:
    """Return the plan for a range under a still valid pass, or None when the catalog must check the read."""
    found = buffer.find_pass(key, now)
    if found is None or not isinstance(found.plan, ContentPlan):
        return None
    return replace(found.plan, byte_range=parse_range(range_header, found.plan.byte_range.size)), found


def _log_download(
    session: Session, actor: Actor, evidence: Evidence, grant: AccessGrant | None, byte_range: ByteRange, now: datetime
) -> None:
    assert grant is not None  # downloads are never allowed without a grant
    record_event(
        session=session,
        actor=actor,
        action=CustodyAction.EVIDENCE_DOWNLOADED,
        subject_type="evidence",
        subject_id=evidence.id,
        case_id=evidence.case_id,
        now=now,
        details={
            "grant_id": str(grant.id),
            "purpose": grant.purpose.value,
            "sha256": evidence.sha256,
            "size": evidence.size,
            "range": [byte_range.start, byte_range.end] if byte_range.partial else "full",
            "bytes": max(byte_range.length, 0),
        },
    )


def issue_link(
    *,
    session: Session,
    actor: Actor,
    store: BlobStore,
    evidence_id: uuid.UUID,
    variant: Variant,
    now: datetime,
    max_seconds: int,
    self_view: bool,
) -> IssuedLink:
    """Issue a presigned direct URL after the grant check, valid until the sooner of max_seconds and grant expiry."""
    evidence, grant, basis = authorize_read(
        session=session, actor=actor, evidence_id=evidence_id, operation=variant, now=now, self_view=self_view
    )
    resolved, key, version_id, *_ = _target(evidence, variant)
    # The link's real life: signed at a whole second (X-Amz-Date), for the least of the setting, the grant and the
    # signer's cap; what is reported and logged is the expiry the store will enforce.
    signed_at = now.replace(microsecond=0)
    limits = [max_seconds, store.capabilities.link_max_seconds or max_seconds]
    if grant is not None:
        limits.append(int((grant.expires_at - signed_at).total_seconds()))
    seconds = max(min(limits), 1)
    url = store.presign_get(key, version_id, expires_seconds=seconds, signed_at=signed_at, public=True)
    if url is None:
        raise NoDirectLinks(
            f"the {store.name} store cannot issue direct links; stream the content through "
            f"GET /api/evidence/{evidence.id}/{resolved.value} with your bearer token instead",
            details={"store": store.name},
        )
    expires_at = signed_at + timedelta(seconds=seconds)
    record_event(session=session, actor=actor, action=CustodyAction.EVIDENCE_LINK_ISSUED, subject_type="evidence",
                 subject_id=evidence.id, case_id=evidence.case_id, now=now, details={
                     "grant_id": str(grant.id) if grant else None, "basis": basis, "variant": resolved.value,
                     "expires_at": expires_at.isoformat(), "store": store.name})
    return IssuedLink(url=url, expires_at=expires_at, variant=resolved, grant_id=grant.id if grant else None)
