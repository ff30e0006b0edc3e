"""Ingest fixtures: tiny media made once per session with ffmpeg, officers, and tus helpers."""

from __future__ import annotations

import base64
import hashlib
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from ingest.metadata import parse_metadata
from ingest.rules import IngestRules
from ingest.service import IngestOutcome, ingest_staged, lock_ingested
from ingest.storing import StagedFile
from tests.conftest import Person
from tests.media import make_photo, make_video, truncate
from vault.cases.models import CaseType, PartyKind
from vault.cases.service import PartyInput, add_case, add_party
from vault.context import VaultContext
from vault.custody.models import CustodyAction, CustodyEvent
from vault.evidence.models import Evidence
from vault.identities.actor import SYSTEM
from vault.identities.models import Role
from vault.identities.service import HandlerInput, add_handler


def add_exif(path: Path) -> Path:
    """Give a JPEG a camera's EXIF: capture time, device, GPS (as a recorder's photo mode writes it)."""
    with Image.open(path) as image:
        exif = image.getexif()
        exif[271], exif[272] = "DSJ", "DSJ-T9"
        exif.get_ifd(0x8769)[36867] = "2025:03:30 14:05:06"
        exif.get_ifd(0x8825).update({1: "N", 2: (31.0, 30.0, 0.0), 3: "E", 4: (117.0, 15.0, 36.0)})
        image.save(path.with_suffix(".tmp.jpg"), exif=exif)
    path.with_suffix(".tmp.jpg").replace(path)
    return path


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Return paths of small media files (each generated once per session)."""
    root = tmp_path_factory.mktemp("media")
    files = {
        "clip": make_video(root / "clip.mp4", creation_time="2025-03-30T06:00:00Z"),
        "clip2": make_video(root / "clip2.mp4", seconds=1.0, rate=24, creation_time="2025-03-30T06:00:02Z"),
        "hevc": make_video(root / "hevc.mp4", codec="libx265"),
        "avi": make_video(root / "clip.avi", codec="mpeg4"),
        "photo": add_exif(make_photo(root / "photo.jpg")),
    }
    files["truncated"] = truncate(Path(shutil.copy(files["clip"], root / "truncated.mp4")))
    files["tail_lost"] = truncate(Path(shutil.copy(make_video(root / "moov_last.mp4", faststart=False),
                                                   root / "tail_lost.mp4")))
    files["text"] = root / "notes.mp4"
    files["text"].write_text("this is a text file, not a recording\n" * 20)
    files["elf"] = Path(shutil.copy("/bin/true", root / "recorder.mp4"))
    return files


@pytest.fixture
def officer(make_person: Callable[..., Person]) -> Person:
    """Return an officer holding certificate C001 (valid 2023-2030)."""
    return make_person(Role.OFFICER, certificate="C001")


def sha256_of(path: Path) -> str:
    """Return the hex SHA-256 of a small test file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tus_metadata(**values: str) -> str:
    """Encode metadata as a tus Upload-Metadata header."""
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def tus_headers(person: Person, **extra: str) -> dict[str, str]:
    """Return auth plus Tus-Resumable headers."""
    return {**person.headers, "Tus-Resumable": "1.0.0", **extra}


def tus_create(client: TestClient, person: Person, length: int, **meta: str) -> Any:
    """POST a tus creation request."""
    return client.post("/api/uploads", headers=tus_headers(person, **{"Upload-Length": str(length),
                                                                       "Upload-Metadata": tus_metadata(**meta)}))


def tus_patch(client: TestClient, person: Person, location: str, offset: int, body: bytes, **extra: str) -> Any:
    """PATCH bytes at offset."""
    headers = tus_headers(person, **{"Upload-Offset": str(offset),
                                     "Content-Type": "application/offset+octet-stream", **extra})
    return client.patch(location, headers=headers, content=body)


def tus_upload(client: TestClient, person: Person, path: Path, *, chunk: int = 16384, **meta: str) -> Any:
    """Upload a whole file over tus in chunks; return the last response."""
    data = path.read_bytes()
    created = tus_create(client, person, len(data), filename=meta.pop("filename", path.name), **meta)
    assert created.status_code in {200, 201}, created.text
    if created.status_code == 200:
        return created
    location, offset, response = created.headers["Location"], 0, created
    while offset < len(data):
        response = tus_patch(client, person, location, offset, data[offset:offset + chunk])
        if response.status_code != 204:
            return response
        offset = int(response.headers["Upload-Offset"])
    response.location = location
    return response


def stage(context: VaultContext, path: Path) -> StagedFile:
    """Copy a test file into the staging folder as a finished upload would leave it."""
    target = context.settings.uploads_dir / f"test-{uuid.uuid4().hex}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, target)
    return StagedFile(path=target, size=path.stat().st_size, sha256=sha256_of(path))


def ingest_file(context: VaultContext, person: Person, path: Path, *, now: datetime, **meta: str) -> IngestOutcome:
    """Ingest one file through the service, commit, then lock the original, as the routes do."""
    staged = stage(context, path)
    with context.sessions() as session:
        outcome = ingest_staged(session=session, actor=person.actor, store=context.store,
                                rules=IngestRules.of(context.settings), staged=staged,
                                meta=parse_metadata({"filename": path.name, **meta}), now=now)
        session.commit()
        lock_ingested(store=context.store, outcome=outcome, staged=staged)
        return outcome


def flags_of(context: VaultContext, evidence_id: uuid.UUID) -> dict[str, str]:
    """Return the open flags of a record with their details."""
    with context.sessions() as session:
        evidence = session.get(Evidence, evidence_id)
        assert evidence is not None
        return {f.flag: f.detail for f in evidence.flags if f.cleared_at is None}


def events_of(context: VaultContext, subject_id: object, action: CustodyAction) -> list[CustodyEvent]:
    """Return the custody events of one subject and action."""
    with context.sessions() as session:
        return list(session.scalars(select(CustodyEvent).where(CustodyEvent.subject_id == str(subject_id),
                                                               CustodyEvent.action == action.value)))


@dataclass
class CaseFile:
    """A case with a party and two certified handlers besides the officer."""

    number: str
    party: str


def make_case_file(context: VaultContext, number: str = "阜应急罚字〔2023〕40号") -> CaseFile:
    """Create a case with party 某某化工有限公司 and handlers C002 (valid) and C009 (expired)."""
    party = "某某化工有限公司"
    with context.sessions() as session:
        case = add_case(session=session, actor=SYSTEM, case_number=number,
                        case_type=CaseType.GENERAL_PROCEDURE_PENALTY)
        add_party(session=session, actor=SYSTEM, cipher=context.cipher, case=case,
                  data=PartyInput(kind=PartyKind.ORGANISATION, name=party))
        add_handler(session=session, actor=SYSTEM, data=HandlerInput("C002", "李四", date(2023, 1, 1),
                                                                     date(2030, 12, 31)))
        add_handler(session=session, actor=SYSTEM, data=HandlerInput("C009", "王五", date(2020, 1, 1),
                                                                     date(2024, 12, 31)))
        session.commit()
    return CaseFile(number, party)


@pytest.fixture
def case_file(context: VaultContext) -> CaseFile:
    """Create case 阜应急罚字〔2023〕40号 with party 某某化工有限公司 and handlers C002 (valid), C009 (expired)."""
    return make_case_file(context)
