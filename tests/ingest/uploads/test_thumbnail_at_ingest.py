"""A thumbnail is made right after ingest (after the acknowledgement), never altering the original."""

from __future__ import annotations

import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import Person
from tests.ingest.conftest import tus_upload
from vault.context import VaultContext
from vault.evidence.models import Derivative, DerivativeKind, Evidence


def test_tus_upload_gets_a_derived_thumbnail_after_its_ack(client: TestClient, context: VaultContext,
                                                           officer: Person, media: dict[str, Path]) -> None:
    response = tus_upload(client, officer, media["clip"])
    evidence_id = uuid.UUID(response.headers["Evault-Evidence-Id"])
    with context.sessions() as session:
        thumbs = list(session.scalars(select(Derivative).where(Derivative.evidence_id == evidence_id)))
        original = session.get(Evidence, evidence_id)
    assert [t.kind for t in thumbs] == [DerivativeKind.THUMBNAIL]
    assert thumbs[0].derived is True and thumbs[0].media_type == "image/jpeg"
    assert original is not None and thumbs[0].sha256 != original.sha256


def test_single_request_upload_gets_a_thumbnail_too(client: TestClient, context: VaultContext, officer: Person,
                                                    media: dict[str, Path]) -> None:
    with media["photo"].open("rb") as body:
        response = client.post("/api/evidence", headers={**officer.headers, "Evault-Meta-filename": "photo.jpg"},
                               content=body.read())
    assert response.status_code == 201, response.text
    evidence_id = uuid.UUID(response.json()["receipt"]["evidence_id"])
    with context.sessions() as session:
        kinds = list(session.scalars(select(Derivative.kind).where(Derivative.evidence_id == evidence_id)))
    assert kinds == [DerivativeKind.THUMBNAIL]
