"""Single-request uploads: POST /api/evidence with Evault-Meta-* headers, streamed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from starlette.requests import ClientDisconnect

from ingest.errors import UnsupportedMedia
from ingest.receipts import verify_receipt
from ingest.uploads.service import receive_single
from tests.conftest import Person, stored_objects
from tests.ingest.conftest import CaseFile, sha256_of
from vault.context import VaultContext
from vault.db import utcnow
from vault.identities.models import Role


def meta_headers(person: Person, **meta: str) -> dict[str, str]:
    headers = {**person.headers, "Content-Type": "application/octet-stream"}
    headers.update({f"Evault-Meta-{key.replace('_', '-')}": quote(value) for key, value in meta.items()})
    return headers


def error_code(response: object, status: int) -> str:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    return str(response.json()["error"]["code"])  # type: ignore[attr-defined]


def test_a_file_is_stored_in_one_request_with_a_receipt(
        client: TestClient, context: VaultContext, officer: Person, case_file: CaseFile,
        media: dict[str, Path]) -> None:
    clip = media["clip"]
    response = client.post("/api/evidence", content=clip.read_bytes(), headers=meta_headers(
        officer, filename="执法记录_01.mp4", sha256=sha256_of(clip), case_number=case_file.number,
        party=case_file.party, handlers="C001,C002", party_informed="true", activity="inspection"))
    assert response.status_code == 201, response.text
    signed = response.json()
    assert verify_receipt(context.signer.public_raw, signed)
    assert signed["receipt"]["original_name"] == "执法记录_01.mp4" and signed["receipt"]["duplicate"] is False
    record = client.get(f"/api/evidence/{signed['receipt']['evidence_id']}", headers=officer.headers).json()
    assert record["case_number"] == case_file.number and record["party_name"] == case_file.party
    assert record["sha256"] == sha256_of(clip) and record["size"] == clip.stat().st_size
    stored = stored_objects(context.store)
    again = client.post("/api/evidence", content=clip.read_bytes(), headers=meta_headers(officer, filename="b.mp4"))
    assert again.status_code == 200 and again.json()["receipt"]["duplicate"] is True
    assert stored_objects(context.store) == stored  # the second copy was discarded before it was locked
    assert again.json()["receipt"]["evidence_id"] == signed["receipt"]["evidence_id"]
    assert list(context.settings.uploads_dir.iterdir()) == []


def test_a_streamed_body_without_length_is_accepted(client: TestClient, officer: Person,
                                                    media: dict[str, Path]) -> None:
    data = media["clip2"].read_bytes()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), 4096):
            yield data[start:start + 4096]

    response = client.post("/api/evidence", content=chunks(), headers=meta_headers(officer, filename="c.mp4"))
    assert response.status_code == 201 and response.json()["receipt"]["size"] == len(data)


@pytest.mark.parametrize("name", ["text", "elf"])
def test_non_media_is_415(client: TestClient, context: VaultContext, officer: Person, media: dict[str, Path],
                          name: str) -> None:
    response = client.post("/api/evidence", content=media[name].read_bytes(),
                           headers=meta_headers(officer, filename="clip.mp4"))
    assert error_code(response, 415) == "unsupported_media"
    assert list(context.settings.uploads_dir.iterdir()) == [] and stored_objects(context.store) == []
    assert client.get("/api/evidence", headers=officer.headers).json() == []


def test_a_damaged_recording_is_stored_and_flagged(client: TestClient, officer: Person,
                                                   media: dict[str, Path]) -> None:
    response = client.post("/api/evidence", content=media["truncated"].read_bytes(),
                           headers=meta_headers(officer, filename="broken.mp4"))
    assert response.status_code == 201
    record = client.get(f"/api/evidence/{response.json()['receipt']['evidence_id']}", headers=officer.headers)
    assert "damaged" in record.json()["flags"]


def test_a_wrong_checksum_is_400_and_nothing_kept(client: TestClient, context: VaultContext, officer: Person,
                                                  media: dict[str, Path]) -> None:
    response = client.post("/api/evidence", content=media["clip"].read_bytes(),
                           headers=meta_headers(officer, filename="a.mp4", sha256="f" * 64))
    assert error_code(response, 400) == "checksum_mismatch"
    assert list(context.settings.uploads_dir.iterdir()) == [] and stored_objects(context.store) == []
    assert client.get("/api/evidence", headers=officer.headers).json() == []


def test_oversize_bodies_are_413_declared_or_streamed(
        client: TestClient, context: VaultContext, officer: Person, media: dict[str, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(context.settings, "max_upload_bytes", 10_000)
    data = media["clip"].read_bytes()
    assert error_code(client.post("/api/evidence", content=data, headers=meta_headers(officer, filename="a.mp4")),
                      413) == "too_large"

    def chunks() -> Iterator[bytes]:
        yield from (data[i:i + 4096] for i in range(0, len(data), 4096))

    response = client.post("/api/evidence", content=chunks(), headers=meta_headers(officer, filename="a.mp4"))
    assert error_code(response, 413) == "too_large"
    assert list(context.settings.uploads_dir.iterdir()) == [] and stored_objects(context.store) == []


@pytest.mark.parametrize(("meta", "code"), [
    ({"filename": "../x.mp4"}, "invalid_filename"), ({}, "invalid_filename"),
    ({"filename": "a.mp4", "capture_end": "tomorrow"}, "invalid_metadata"),
    ({"filename": "a.mp4", "party_informed": "perhaps"}, "invalid_metadata"),
])
def test_bad_names_and_metadata_are_422(client: TestClient, officer: Person, media: dict[str, Path],
                                        meta: dict[str, str], code: str) -> None:
    response = client.post("/api/evidence", content=media["clip"].read_bytes(), headers=meta_headers(officer, **meta))
    assert error_code(response, 422) == code


def test_bad_percent_encoding_and_empty_bodies_are_4xx(client: TestClient, officer: Person) -> None:
    headers = {**meta_headers(officer, filename="a.mp4"), "Evault-Meta-Party": "%ff%fe"}
    assert error_code(client.post("/api/evidence", content=b"x", headers=headers), 422) == "invalid_metadata"
    response = client.post("/api/evidence", content=b"", headers=meta_headers(officer, filename="a.mp4"))
    assert error_code(response, 415) == "unsupported_media"


def test_only_uploaders_may_post_and_receipts_follow_visibility(
        client: TestClient, officer: Person, make_person: Callable[..., Person], media: dict[str, Path]) -> None:
    reviewer = make_person(Role.REVIEWER)
    response = client.post("/api/evidence", content=media["clip"].read_bytes(),
                           headers=meta_headers(reviewer, filename="a.mp4"))
    assert error_code(response, 403) == "permission_denied"
    evidence_id = client.post("/api/evidence", content=media["clip"].read_bytes(),
                              headers=meta_headers(officer, filename="a.mp4")).json()["receipt"]["evidence_id"]
    other = make_person(Role.OFFICER)
    assert client.get(f"/api/evidence/{evidence_id}/receipt", headers=other.headers).status_code == 404
    assert client.get(f"/api/evidence/{evidence_id}/receipt", headers=officer.headers).status_code == 200


def test_a_body_cut_short_keeps_nothing_even_what_already_reached_the_store(
        context: VaultContext, officer: Person, media: dict[str, Path]) -> None:
    data = media["clip"].read_bytes()

    async def dropped() -> AsyncIterator[bytes]:
        yield data[:len(data) // 2]  # on an S3 store these bytes are already on their way to the bucket
        raise ClientDisconnect

    async def post() -> None:
        with context.sessions() as session:
            await receive_single(session=session, actor=officer.actor, context=context,
                                 headers={"evault-meta-filename": "cut.mp4"}, chunks=dropped(),
                                 content_length=len(data), now=utcnow())

    with pytest.raises(UnsupportedMedia, match="cut short"):
        asyncio.run(post())
    assert list(context.settings.uploads_dir.iterdir()) == [] and stored_objects(context.store) == []
