"""A real vault over real HTTP: uvicorn in a thread on a free port, an officer with a certificate, ffmpeg clips."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from evault_client.upload.runner import ClientOptions, IngestClient
from tests.conftest import Person
from tests.media import make_video
from vault.cases.models import CaseType, PartyKind
from vault.cases.service import PartyInput, add_case, add_party
from vault.context import VaultContext
from vault.identities.actor import SYSTEM
from vault.identities.models import Role

CASE = "阜应急罚字〔2023〕40号"
PARTY = "某某化工有限公司"
CERTS = ("14010219001", "14010219002")


@dataclass
class Officers:
    """Two certified officers; the first uploads."""

    uploader: Person
    partner: Person


@pytest.fixture
def officers(make_person: Callable[..., Person], context: VaultContext) -> Officers:
    """Create two certified officers, the case and the party the footage is tagged with."""
    uploader = make_person(Role.OFFICER, certificate=CERTS[0])
    partner = make_person(Role.OFFICER, certificate=CERTS[1])
    with context.sessions() as session:
        case = add_case(session=session, actor=SYSTEM, case_number=CASE, case_type=CaseType.GENERAL_PROCEDURE_PENALTY)
        add_party(session=session, actor=SYSTEM, cipher=context.cipher, case=case,
                  data=PartyInput(kind=PartyKind.ORGANISATION, name=PARTY))
        session.commit()
    return Officers(uploader=uploader, partner=partner)


@pytest.fixture
def client_factory(vault_url: str, officers: Officers, tmp_path: Path) -> Iterator[Callable[..., IngestClient]]:
    """Return a factory of signed-in ingest clients (closed at teardown)."""
    opened: list[IngestClient] = []

    def make(*, token: str | None = None, **changes: object) -> IngestClient:
        options = {"server": vault_url, "token": token or officers.uploader.token, "state_dir": tmp_path / "state",
                   "jobs": 1, **changes}
        client = IngestClient(ClientOptions(**options))  # type: ignore[arg-type]
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()


@pytest.fixture
def recorder(tmp_path: Path) -> Path:
    """A recorder folder with two short clips in its DCIM tree."""
    folder = tmp_path / "DSJ-V8-0042"
    (folder / "DCIM" / "100MEDIA").mkdir(parents=True)
    make_video(folder / "DCIM" / "100MEDIA" / "REC_0001.MP4", seconds=1.0, size="160x120",
               creation_time="2025-03-31T01:00:00Z")
    make_video(folder / "DCIM" / "100MEDIA" / "REC_0002.MP4", seconds=1.0, size="160x120", rate=15,
               creation_time="2025-03-31T01:00:01Z")
    return folder


def api_get(vault_url: str, person: Person, path: str) -> httpx.Response:
    """GET an API path as a person."""
    return httpx.get(f"{vault_url}{path}", headers=person.headers, timeout=30)
