"""Export fixtures: a case with parties and stored records, people, approvals, and bundle helpers."""

from __future__ import annotations

import hashlib
import io
import os
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import STORE_KIND, Person
from tests.media import make_photo, make_video
from vault.access.models import AccessMode, AccessPurpose
from vault.access.service import approve_request, request_access
from vault.cases.models import PartyKind
from vault.cases.service import PartyInput, add_case, add_party, find_case, parse_case_type
from vault.context import VaultContext
from vault.evidence.models import Confidentiality, Evidence
from vault.evidence.service import EvidenceTags, raise_flag, register_evidence
from vault.exports import layout
from vault.exports.bagit import manifest_text
from vault.exports.bundle import ExportPlan
from vault.exports.hashing import Sm3
from vault.exports.models import ExportPurpose
from vault.exports.service import ExportRequest, prepare_export
from vault.exports.stream import ExportRun
from vault.identities.actor import SYSTEM
from vault.identities.models import Handler, Role
from vault.keys import Signer
from vault.storage.base import BlobStore

CASE_NUMBER = "阜应急罚字〔2023〕40号"
OTHER_ID_NUMBER = "341202198805061234"
OTHER_PHONE = "13912345678"


@dataclass(frozen=True)
class Media:
    """Tiny originals made once per test session."""

    video: Path
    second: Path
    photo: Path
    other: Path


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    """Make two short videos and a photo."""
    folder = tmp_path_factory.mktemp("export-media")
    return Media(
        video=make_video(folder / "执法记录 01.mp4", seconds=1.0, size="160x120", creation_time="2025-03-30T01:00:00Z"),
        second=make_video(folder / "clip-02.mp4", seconds=1.0, size="96x72"),
        photo=make_photo(folder / "still.jpg", size="160x120"),
        other=make_video(folder / "other.mp4", seconds=1.0, size="64x48"),
    )


@dataclass
class World:
    """The people and records every export test starts from."""

    officer: Person
    approver: Person
    manager: Person
    auditor: Person
    records: list[uuid.UUID]
    secret: uuid.UUID
    other_case_record: uuid.UUID


def _store(context: VaultContext, officer: Person, path: Path, case_number: str | None, **tags: Any) -> uuid.UUID:
    with context.sessions() as session:
        blob = context.store.put_stream(io.BytesIO(path.read_bytes()), retain_until=datetime(2031, 1, 1, tzinfo=UTC))
        case = find_case(session=session, case_number=case_number) if case_number else None
        handlers = list(session.scalars(select(Handler)))
        evidence = register_evidence(
            session=session,
            actor=officer.actor,
            blob=blob,
            store_name=context.store.name,
            store_retain_until=datetime(2031, 1, 1, tzinfo=UTC),
            original_name=path.name,
            media_type="video/mp4" if path.suffix == ".mp4" else "image/jpeg",
            tags=replace(
                EvidenceTags(
                    case=case,
                    party=case.parties[0] if case and case.parties else None,
                    handlers=handlers,
                    activity="inspection",
                    recorder_serial="DSJ-0042",
                    party_informed=True,
                    capture_start=datetime(2025, 3, 30, 1, 0, tzinfo=UTC),
                    capture_end=datetime(2025, 3, 30, 1, 1, tzinfo=UTC),
                    place="阜阳市颍州区某厂区",
                ),
                **tags,
            ),
            media_info={"format": "mp4", "duration": 1.0},
            now=datetime(2025, 3, 30, 3, 0, tzinfo=UTC),
        )
        session.commit()
        return evidence.id


@pytest.fixture
def world(context: VaultContext, make_person: Callable[..., Person], media: Media) -> World:
    """Return a case with a party, three records (one confidential, one with recorded SM3) and a record elsewhere."""
    officer = make_person(Role.OFFICER, name="officer-zhang", certificate="13010001")
    make_person(Role.OFFICER, name="officer-li", certificate="13010002")
    people = [make_person(r) for r in (Role.APPROVER, Role.RECORDS_MANAGER, Role.AUDITOR)]
    with context.sessions() as session:
        case = add_case(
            session=session,
            actor=SYSTEM,
            case_number=CASE_NUMBER,
            case_type=parse_case_type("general_procedure_penalty"),
            title="某公司安全生产违法案",
        )
        add_case(
            session=session,
            actor=SYSTEM,
            case_number="阜应急罚字〔2023〕41号",
            case_type=parse_case_type("general_procedure_penalty"),
        )
        add_party(
            session=session,
            actor=SYSTEM,
            cipher=context.cipher,
            case=case,
            data=PartyInput(
                kind=PartyKind.PERSON,
                name="陈某",
                id_number=OTHER_ID_NUMBER,
                phone=OTHER_PHONE,
                address="安徽省阜阳市颍州区某路1号",
            ),
        )
        session.commit()
    first = _store(context, officer, media.video, CASE_NUMBER, notes=f"当事人电话 {OTHER_PHONE}")
    second = _store(context, officer, media.second, CASE_NUMBER)
    secret = _store(context, officer, media.photo, CASE_NUMBER, confidentiality=Confidentiality.TRADE_SECRET)
    elsewhere = _store(context, officer, media.other, "阜应急罚字〔2023〕41号")
    with context.sessions() as session:
        evidence = session.get(Evidence, second)
        assert evidence is not None
        evidence.sm3 = Sm3(media.second.read_bytes()).hexdigest()
        raise_flag(session=session, actor=SYSTEM, evidence=evidence, flag="late_upload", detail="uploaded 30 h late")
        session.commit()
    return World(officer, people[0], people[1], people[2], [first, second], secret, elsewhere)


def approve(
    context: VaultContext,
    world: World,
    records: list[uuid.UUID],
    now: datetime,
    purpose: AccessPurpose = AccessPurpose.LITIGATION,
) -> uuid.UUID:
    """File and approve a view-and-download request by the records manager; return the grant id."""
    with context.sessions() as session:
        request = request_access(
            session=session,
            actor=world.manager.actor,
            purpose=purpose,
            mode=AccessMode.VIEW_DOWNLOAD,
            duration_hours=24,
            reason="provide evidence (提供证据)",
            now=now,
            max_hours=720,
            evidence_ids=records,
        )
        grant = approve_request(session=session, actor=world.approver.actor, request_id=request.id, now=now)
        session.commit()
        return grant.id


def build(
    context: VaultContext,
    world: World,
    out: Path,
    now: datetime,
    *,
    purpose: ExportPurpose = ExportPurpose.COURT,
    records: list[uuid.UUID] | None = None,
) -> tuple[ExportPlan, ExportRun]:
    """Prepare and write one bundle as the records manager."""
    request = ExportRequest(CASE_NUMBER, purpose, "阜阳市中级人民法院 (Fuyang Intermediate People's Court)", records)
    with context.sessions() as session:
        plan = prepare_export(session=session, actor=world.manager.actor, context=context, request=request, now=now)
        session.commit()
    run = ExportRun(context=context, actor=world.manager.actor, plan=plan, clock=lambda: now + timedelta(minutes=1))
    with out.open("wb") as handle:
        for chunk in run:
            handle.write(chunk)
    return plan, run


@pytest.fixture
def bundle(context: VaultContext, world: World, tmp_path: Path, now: datetime) -> Path:
    """Return a court bundle of the case's two non-confidential records."""
    approve(context, world, world.records, now)
    out = tmp_path / "bundle.zip"
    build(context, world, out, now, records=world.records)
    return out


def rewrite_bundle(
    source: Path, target: Path, changes: dict[str, bytes], signer: Signer | None = None, drop: tuple[str, ...] = ()
) -> None:
    """Copy a bundle replacing (or dropping) files; with a signer, rebuild tag manifests and the signature."""
    with zipfile.ZipFile(source) as archive:
        root = archive.namelist()[0].split("/", 1)[0]
        files = {n[len(root) + 1 :]: archive.read(n) for n in archive.namelist()}
    files.update(changes)
    for path in drop:
        del files[path]
    if signer is not None:
        listed = [p for p in files if not p.startswith(("data/", *layout.UNLISTED_PREFIXES))]
        for alg in ("sha256", "sha512"):
            files[f"tagmanifest-{alg}.txt"] = manifest_text((p, hashlib.new(alg, files[p]).hexdigest()) for p in listed)
        files[layout.SIGNATURE_FILE] = signer.sign(files[layout.SIGNED_FILE])
    with zipfile.ZipFile(target, "w") as archive:
        for path, data in files.items():
            archive.writestr(f"{root}/{path}", data)


def host_env(context: VaultContext, store: BlobStore) -> dict[str, str]:
    """Return the environment of a host command that opens the test's own catalog and store."""
    env = {"EVAULT_HOME": str(context.settings.home), "EVAULT_DATABASE_URL": context.settings.resolved_database_url,
           "EVAULT_LOG_JSON": "false", "EVAULT_AGENCY_NAME": context.settings.agency_name}
    if STORE_KIND == "s3":
        bucket: str = store.bucket  # type: ignore[attr-defined]
        env |= {"EVAULT_STORE": "s3", "EVAULT_S3_ENDPOINT": os.environ["EVAULT_TEST_S3_ENDPOINT"],
                "EVAULT_S3_ACCESS_KEY": os.environ.get("EVAULT_TEST_S3_ACCESS_KEY", "evaultci"),
                "EVAULT_S3_SECRET_KEY": os.environ.get("EVAULT_TEST_S3_SECRET_KEY", "evaultci-secret-key"),
                "EVAULT_S3_BUCKET": bucket, "EVAULT_S3_LOCK_MODE": "GOVERNANCE"}
    return env
