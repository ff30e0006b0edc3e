"""Access fixtures: people of every role, and evidence stored and registered without the ingest package."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import Person
from tests.media import make_photo, make_video
from vault.access.models import AccessGrant, AccessMode, AccessPurpose
from vault.access.service import approve_request, request_access
from vault.cases.models import Case, CaseType
from vault.cases.service import add_case
from vault.context import VaultContext
from vault.db import utcnow
from vault.evidence.models import Confidentiality, Derivative, DerivativeKind
from vault.evidence.service import EvidenceTags, register_evidence
from vault.identities.actor import SYSTEM
from vault.identities.models import Role


@dataclass(frozen=True)
class Media:
    """Tiny media files made once per test session."""

    mp4: Path
    mkv: Path
    proxy: Path
    jpeg: Path


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    """Make a browser-playable MP4, an MPEG-4 Part 2 MKV (not browser-playable), its H.264 proxy and a JPEG."""
    folder = tmp_path_factory.mktemp("access-media")
    return Media(
        mp4=make_video(folder / "clip.mp4", seconds=1.0, size="160x120"),
        mkv=make_video(folder / "clip.mkv", seconds=1.0, size="160x120", codec="mpeg4"),
        proxy=make_video(folder / "proxy.mp4", seconds=1.0, size="96x72"),
        jpeg=make_photo(folder / "still.jpg", size="160x120"),
    )


@dataclass
class People:
    """One committed user per role, plus a second officer who did not upload anything."""

    officer: Person
    other_officer: Person
    reviewer: Person
    approver: Person
    second_approver: Person
    records_manager: Person
    auditor: Person
    admin: Person


@pytest.fixture
def people(make_person: Callable[..., Person]) -> People:
    """Return one user of every role."""
    return People(
        officer=make_person(Role.OFFICER, name="officer-zhang", certificate="13010001"),
        other_officer=make_person(Role.OFFICER, name="officer-li", certificate="13010002"),
        reviewer=make_person(Role.REVIEWER, name="reviewer-wang"),
        approver=make_person(Role.APPROVER, name="approver-zhao"),
        second_approver=make_person(Role.APPROVER, name="approver-qian"),
        records_manager=make_person(Role.RECORDS_MANAGER, name="archivist-sun"),
        auditor=make_person(Role.AUDITOR, name="auditor-zhou"),
        admin=make_person(Role.ADMIN, name="admin-wu"),
    )


StoreEvidence = Callable[..., uuid.UUID]


@pytest.fixture
def store_evidence(context: VaultContext) -> StoreEvidence:
    """Put an original (and optional proxy/thumbnail) in the store and register it; return the record id."""

    def put(path: Path, *, uploader: Person, media_type: str, case: Case | None = None,
            confidentiality: Confidentiality = Confidentiality.NONE, proxy: Path | None = None,
            thumbnail: Path | None = None, media_info: dict[str, object] | None = None) -> uuid.UUID:
        retain = utcnow() + timedelta(days=2)
        with path.open("rb") as stream:
            blob = context.store.put_stream(stream, retain_until=retain)
        with context.sessions() as sess:
            evidence = register_evidence(
                session=sess, actor=uploader.actor, blob=blob, store_name=context.store.name,
                store_retain_until=retain, original_name=f"执法记录-{path.name}", media_type=media_type,
                tags=EvidenceTags(case=sess.merge(case) if case else None, confidentiality=confidentiality),
                media_info=media_info,
            )
            for kind, derived, mime in ((DerivativeKind.PROXY, proxy, "video/mp4"),
                                        (DerivativeKind.THUMBNAIL, thumbnail, "image/jpeg")):
                if derived is not None:
                    data = derived.read_bytes()  # tiny test fixture, not media handling code
                    stored = context.store.put_stream(io.BytesIO(data), retain_until=retain)
                    sess.add(Derivative(evidence_id=evidence.id, kind=kind, sha256=stored.sha256, size=stored.size,
                                        media_type=mime, storage_key=stored.key, version_id=stored.version_id))
            sess.commit()
            return evidence.id

    return put


@pytest.fixture
def make_case(context: VaultContext) -> Callable[[str], Case]:
    """Create a committed case with this case number (案号)."""

    def make(number: str) -> Case:
        with context.sessions() as sess:
            case = add_case(session=sess, actor=SYSTEM, case_number=number,
                            case_type=CaseType.GENERAL_PROCEDURE_PENALTY)
            sess.commit()
            return case

    return make


GrantFor = Callable[..., AccessGrant]


@pytest.fixture
def grant_for(context: VaultContext, people: People) -> GrantFor:
    """File a request as `who` and have the approver approve it; `at` shifts the whole grant in time."""

    def grant(who: Person, evidence_ids: list[uuid.UUID], *, mode: AccessMode = AccessMode.VIEW,
              purpose: AccessPurpose = AccessPurpose.LEGAL_REVIEW, hours: int = 4,
              at: datetime | None = None) -> AccessGrant:
        moment = at or datetime.now(UTC)
        with context.sessions() as sess:
            request = request_access(session=sess, actor=who.actor, evidence_ids=evidence_ids, purpose=purpose,
                                     mode=mode, duration_hours=hours, reason="法制审核 of the inspection footage",
                                     now=moment, max_hours=720)
            decider = people.second_approver if who is people.approver else people.approver
            approved = approve_request(session=sess, actor=decider.actor, request_id=request.id, now=moment)
            sess.commit()
            return approved

    return grant
