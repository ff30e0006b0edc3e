"""tus 1.0 over HTTP: creation, resumption, checksums, termination, refusals, receipts, restart."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from starlette.requests import ClientDisconnect

from evault.app import create_app
from ingest.models import Upload
from ingest.receipts import verify_receipt
from ingest.uploads.service import PROGRESS, append_to_upload
from tests.conftest import Person, stored_objects
from tests.ingest.conftest import events_of, sha256_of, tus_create, tus_headers, tus_patch, tus_upload
from vault.context import VaultContext, build_context
from vault.custody.models import CustodyAction, CustodyEvent
from vault.db import utcnow
from vault.evidence.models import Evidence
from vault.identities.models import Role


def error_code(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["Tus-Resumable"] == "1.0.0"
    return str(response.json()["error"]["code"])


def evidence_count(context: VaultContext) -> int:
    with context.sessions() as session:
        return session.scalar(select(func.count()).select_from(Evidence)) or 0


def test_options_advertise_the_protocol(client: TestClient) -> None:
    response = client.options("/api/uploads")
    assert response.status_code == 204
    assert response.headers["Tus-Version"] == "1.0.0" and response.headers["Tus-Resumable"] == "1.0.0"
    assert response.headers["Tus-Extension"] == "creation,termination,checksum"
    assert response.headers["Tus-Checksum-Algorithm"] == "md5,sha1,sha256" and int(response.headers["Tus-Max-Size"])


def test_a_chunked_upload_completes_with_a_signed_receipt(
        client: TestClient, context: VaultContext, officer: Person, media: dict[str, Path]) -> None:
    clip = media["clip"]
    response = tus_upload(client, officer, clip, sha256=sha256_of(clip), case_number="阜应急罚字〔2023〕40号")
    assert response.status_code == 204 and response.headers["Tus-Resumable"] == "1.0.0"
    evidence_id = response.headers["Evault-Evidence-Id"]
    head = client.head(response.location, headers=tus_headers(officer))
    assert head.headers["Upload-Offset"] == head.headers["Upload-Length"] == str(clip.stat().st_size)
    assert head.headers["Evault-Evidence-Id"] == evidence_id and head.headers["Cache-Control"] == "no-store"
    signed = client.get(f"{response.location}/receipt", headers=officer.headers).json()
    assert signed["receipt"]["evidence_id"] == evidence_id and signed["receipt"]["sha256"] == sha256_of(clip)
    assert signed["receipt"]["duplicate"] is False and signed["receipt"]["vault_key_id"] == context.signer.key_id
    assert verify_receipt(context.signer.public_raw, signed)
    assert not verify_receipt(context.signer.public_raw, {**signed, "receipt": {**signed["receipt"], "size": 1}})
    record = client.get(f"/api/evidence/{evidence_id}", headers=officer.headers).json()
    assert "unknown_case" in record["flags"] and record["sha256"] == sha256_of(clip)
    assert verify_receipt(context.signer.public_raw,
                          client.get(f"/api/evidence/{evidence_id}/receipt", headers=officer.headers).json())
    assert list(context.settings.uploads_dir.iterdir()) == []


def test_requests_without_the_tus_version_get_412(client: TestClient, officer: Person) -> None:
    response = client.post("/api/uploads", headers={**officer.headers, "Upload-Length": "10",
                                                    "Upload-Metadata": "filename YS5tcDQ="})
    assert error_code(response, 412) == "tus_version_unsupported"


def test_offset_mismatch_is_409_and_a_bad_chunk_checksum_460(
        client: TestClient, officer: Person, media: dict[str, Path]) -> None:
    data = media["clip"].read_bytes()
    location = tus_create(client, officer, len(data), filename="clip.mp4").headers["Location"]
    assert error_code(tus_patch(client, officer, location, 5, data[:100]), 409) == "upload_offset_mismatch"
    wrong = "sha256 " + base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    response = tus_patch(client, officer, location, 0, data[:100], **{"Upload-Checksum": wrong})
    assert error_code(response, 460) == "checksum_mismatch"
    assert client.head(location, headers=tus_headers(officer)).headers["Upload-Offset"] == "0"
    right = "sha1 " + base64.b64encode(hashlib.sha1(data[:100]).digest()).decode()  # noqa: S324 - tus algorithm
    assert tus_patch(client, officer, location, 0, data[:100], **{"Upload-Checksum": right}).status_code == 204
    assert error_code(tus_patch(client, officer, location, 100, b"x", **{"Upload-Checksum": "crc32 AAAA"}),
                      400) == "invalid_tus_request"


def test_oversize_uploads_get_413(client: TestClient, context: VaultContext, officer: Person,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(context.settings, "max_upload_bytes", 1000)
    assert error_code(tus_create(client, officer, 1001, filename="a.mp4"), 413) == "too_large"
    location = tus_create(client, officer, 10, filename="a.mp4").headers["Location"]
    assert error_code(tus_patch(client, officer, location, 0, b"x" * 11), 413) == "too_large"
    assert client.head(location, headers=tus_headers(officer)).headers["Upload-Offset"] == "0"


@pytest.mark.parametrize(("meta", "code"), [
    ({"filename": "../../etc/passwd"}, "invalid_filename"), ({"filename": "C:\\evil.mp4"}, "invalid_filename"),
    ({"filename": "a\x00.mp4"}, "invalid_filename"), ({}, "invalid_filename"),
    ({"filename": "a.mp4", "capture_start": "2025-13-01T00:00:00Z"}, "invalid_metadata"),
    ({"filename": "a.mp4", "activity": "picnic"}, "invalid_metadata"),
])
def test_bad_names_and_metadata_get_422(client: TestClient, officer: Person, meta: dict[str, str],
                                        code: str) -> None:
    assert error_code(tus_create(client, officer, 10, **meta), 422) == code


@pytest.mark.parametrize(("headers", "status", "code"), [
    ({"Upload-Metadata": "filename !!!", "Upload-Length": "10"}, 422, "invalid_metadata"),
    ({"Upload-Metadata": "filename YS5tcDQ="}, 400, "invalid_tus_request"),
    ({"Upload-Metadata": "filename YS5tcDQ=", "Upload-Length": "-3"}, 400, "invalid_tus_request"),
    ({"Upload-Metadata": "filename YS5tcDQ=", "Upload-Length": "0"}, 415, "unsupported_media"),
])
def test_malformed_creation_headers_are_4xx(client: TestClient, officer: Person, headers: dict[str, str],
                                            status: int, code: str) -> None:
    assert error_code(client.post("/api/uploads", headers=tus_headers(officer, **headers)), status) == code


def test_malformed_patches_are_4xx(client: TestClient, officer: Person) -> None:
    location = tus_create(client, officer, 10, filename="a.mp4").headers["Location"]
    plain = tus_headers(officer, **{"Upload-Offset": "0", "Content-Type": "application/octet-stream"})
    assert error_code(client.patch(location, headers=plain, content=b"x"), 415) == "invalid_content_type"
    assert error_code(tus_patch(client, officer, location, 0, b"x", **{"Upload-Offset": "zero"}),
                      400) == "invalid_tus_request"
    missing = "/api/uploads/00000000-0000-0000-0000-000000000000"
    assert error_code(tus_patch(client, officer, missing, 0, b"x"), 404) == "upload_not_found"
    assert client.patch("/api/uploads/not-a-uuid", headers=plain, content=b"x").status_code == 422


def test_a_wrong_declared_sha256_is_refused_and_nothing_kept(
        client: TestClient, context: VaultContext, officer: Person, media: dict[str, Path]) -> None:
    response = tus_upload(client, officer, media["clip"], sha256="0" * 64)
    assert error_code(response, 460) == "checksum_mismatch"
    assert evidence_count(context) == 0 and list(context.settings.uploads_dir.iterdir()) == []
    assert stored_objects(context.store) == []
    with context.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Upload)) == 0


@pytest.mark.parametrize("name", ["text", "elf"])
def test_non_media_is_415_and_nothing_kept(client: TestClient, context: VaultContext, officer: Person,
                                           media: dict[str, Path], name: str) -> None:
    response = tus_upload(client, officer, media[name], filename="clip.mp4")
    assert error_code(response, 415) == "unsupported_media"
    assert "not audio, video or a photo" in response.json()["error"]["message"]
    assert evidence_count(context) == 0 and list(context.settings.uploads_dir.iterdir()) == []
    assert stored_objects(context.store) == []
    with context.sessions() as session:
        rejected = list(session.scalars(select(CustodyEvent).where(
            CustodyEvent.action == CustodyAction.EVIDENCE_REJECTED.value)))
    assert [e.details["code"] for e in rejected] == ["unsupported_media"]


def test_known_bytes_complete_at_creation(client: TestClient, context: VaultContext, officer: Person,
                                          media: dict[str, Path]) -> None:
    clip = media["clip"]
    first = tus_upload(client, officer, clip).headers["Evault-Evidence-Id"]
    again = tus_create(client, officer, clip.stat().st_size, filename="again.mp4", sha256=sha256_of(clip))
    assert again.status_code == 200 and again.headers["Evault-Evidence-Id"] == first
    assert again.headers["Upload-Offset"] == str(clip.stat().st_size)
    receipt = client.get(f"{again.headers['Location']}/receipt", headers=officer.headers).json()["receipt"]
    assert receipt["duplicate"] is True and receipt["original_name"] == "again.mp4"
    assert len(events_of(context, first, CustodyAction.EVIDENCE_DUPLICATE_SUBMITTED)) == 1
    # Without a declared digest the duplicate is found when the bytes are in.
    third = tus_upload(client, officer, clip, filename="third.mp4")
    assert third.headers["Evault-Evidence-Id"] == first and evidence_count(context) == 1


def test_termination_deletes_staged_bytes(client: TestClient, context: VaultContext, officer: Person,
                                          media: dict[str, Path]) -> None:
    location = tus_create(client, officer, 1000, filename="a.mp4").headers["Location"]
    tus_patch(client, officer, location, 0, b"x" * 100)
    assert client.delete(location, headers=tus_headers(officer)).status_code == 204
    assert client.head(location, headers=tus_headers(officer)).status_code == 404
    assert list(context.settings.uploads_dir.iterdir()) == []
    upload_id = location.rsplit("/", 1)[1]
    assert len(events_of(context, upload_id, CustodyAction.UPLOAD_TERMINATED)) == 1
    done = tus_upload(client, officer, media["clip"])
    assert error_code(client.delete(done.location, headers=tus_headers(officer)), 409) == "conflict"


def test_uploads_are_private_to_their_owner(client: TestClient, officer: Person,
                                            make_person: Callable[..., Person]) -> None:
    location = tus_create(client, officer, 100, filename="a.mp4").headers["Location"]
    other = make_person(Role.OFFICER)
    assert client.head(location, headers=tus_headers(other)).status_code == 404
    assert error_code(tus_patch(client, other, location, 0, b"x"), 404) == "upload_not_found"
    reviewer = make_person(Role.REVIEWER)
    assert error_code(tus_create(client, reviewer, 100, filename="a.mp4"), 403) == "permission_denied"


def test_an_upload_resumes_after_a_server_restart(
        client: TestClient, context: VaultContext, officer: Person, media: dict[str, Path]) -> None:
    data = media["clip"].read_bytes()
    half = len(data) // 2
    location = tus_create(client, officer, len(data), filename="clip.mp4").headers["Location"]
    assert tus_patch(client, officer, location, 0, data[:half]).status_code == 204
    # A new process: a fresh context and app, and no digest state in memory.
    PROGRESS.forget(uuid.UUID(location.rsplit("/", 1)[1]))
    restarted = build_context(context.settings, store=context.store)
    try:
        with TestClient(create_app(restarted), raise_server_exceptions=False) as again:
            assert again.head(location, headers=tus_headers(officer)).headers["Upload-Offset"] == str(half)
            done = tus_patch(again, officer, location, half, data[half:])
            assert done.status_code == 204, done.text
            record = again.get(f"/api/evidence/{done.headers['Evault-Evidence-Id']}", headers=officer.headers).json()
    finally:
        restarted.close()
    assert record["sha256"] == sha256_of(media["clip"])
    stored = b"".join(context.store.open_range(*_location_of(context, record["id"])))
    assert hashlib.sha256(stored).hexdigest() == record["sha256"]


def _location_of(context: VaultContext, evidence_id: str) -> tuple[str, str]:
    with context.sessions() as session:
        evidence = session.get(Evidence, uuid.UUID(evidence_id))
        assert evidence is not None
        return evidence.storage_key, evidence.version_id


def test_an_interrupted_patch_keeps_what_arrived(client: TestClient, context: VaultContext, officer: Person,
                                                 media: dict[str, Path]) -> None:
    data = media["clip"].read_bytes()
    location = tus_create(client, officer, len(data), filename="clip.mp4").headers["Location"]
    upload_id = uuid.UUID(location.rsplit("/", 1)[1])

    async def dropped() -> AsyncIterator[bytes]:
        yield data[:5000]
        yield data[5000:7000]
        raise ClientDisconnect

    async def patch() -> int:
        with context.sessions() as session:
            upload = await append_to_upload(session=session, actor=officer.actor, context=context,
                                            upload_id=upload_id, offset=0, chunks=dropped(), checksum_header=None,
                                            now=utcnow())
            session.commit()
            return upload.offset

    assert asyncio.run(patch()) == 7000
    assert client.head(location, headers=tus_headers(officer)).headers["Upload-Offset"] == "7000"
    done = tus_patch(client, officer, location, 7000, data[7000:])
    assert done.status_code == 204
    assert client.get(f"/api/evidence/{done.headers['Evault-Evidence-Id']}",
                      headers=officer.headers).json()["sha256"] == sha256_of(media["clip"])


def test_lost_staged_bytes_restart_the_upload_from_zero(client: TestClient, context: VaultContext,
                                                        officer: Person, media: dict[str, Path]) -> None:
    location = tus_create(client, officer, 1000, filename="a.mp4").headers["Location"]
    tus_patch(client, officer, location, 0, b"x" * 100)
    (context.settings.uploads_dir / location.rsplit("/", 1)[1]).unlink()
    assert client.head(location, headers=tus_headers(officer)).headers["Upload-Offset"] == "0"
    assert error_code(tus_patch(client, officer, location, 100, b"x"), 409) == "upload_offset_mismatch"
    assert tus_patch(client, officer, location, 0, b"x" * 10).headers["Upload-Offset"] == "10"


def test_a_chunk_refused_midway_still_stores_exactly_the_bytes_received(
        client: TestClient, context: VaultContext, officer: Person, media: dict[str, Path]) -> None:
    # On S3 the first chunks already streamed to the bucket; the refused chunk must not end up in the original.
    data = media["clip"].read_bytes()
    third = len(data) // 3
    location = tus_create(client, officer, len(data), filename="clip.mp4").headers["Location"]
    assert tus_patch(client, officer, location, 0, data[:third]).status_code == 204
    forged = data[third:2 * third][::-1]
    wrong = "sha256 " + base64.b64encode(hashlib.sha256(data[third:2 * third]).digest()).decode()
    assert error_code(tus_patch(client, officer, location, third, forged, **{"Upload-Checksum": wrong}),
                      460) == "checksum_mismatch"
    assert tus_patch(client, officer, location, third, data[third:2 * third]).status_code == 204
    done = tus_patch(client, officer, location, 2 * third, data[2 * third:])
    assert done.status_code == 204, done.text
    record = client.get(f"/api/evidence/{done.headers['Evault-Evidence-Id']}", headers=officer.headers).json()
    stored = b"".join(context.store.open_range(*_location_of(context, record["id"])))
    assert stored == data and record["sha256"] == sha256_of(media["clip"])


def test_a_terminated_upload_leaves_nothing_in_the_store(
        client: TestClient, context: VaultContext, officer: Person, media: dict[str, Path]) -> None:
    data = media["clip"].read_bytes()
    location = tus_create(client, officer, len(data), filename="clip.mp4").headers["Location"]
    assert tus_patch(client, officer, location, 0, data[:len(data) // 2]).status_code == 204
    assert client.delete(location, headers=tus_headers(officer)).status_code == 204
    assert stored_objects(context.store) == [] and list(context.settings.uploads_dir.iterdir()) == []
