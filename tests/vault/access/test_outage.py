"""Reads during a store outage answer 503 in the error shape before any status line, within the timeout."""

from __future__ import annotations

import os
import shutil
import time
import uuid

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.outage import OUTAGES, client_during_outage
from tests.vault.access.conftest import GrantFor, Media, People, StoreEvidence
from tests.vault.access.test_routes import events
from vault.access.models import AccessMode
from vault.config import Settings
from vault.context import VaultContext
from vault.evidence.models import Evidence
from vault.storage.local import LocalBlobStore

TIMEOUT = 1.0
READS = {
    "play": ("play", {}),
    "seek": ("original", {"Range": "bytes=100-299"}),
    "download": ("download", {}),
    "thumbnail": ("thumbnail", {}),
}


def assert_unavailable(response: Response) -> None:
    assert response.status_code == 503, (response.status_code, response.headers, response.content[:200])
    assert response.json()["error"]["code"] == "storage_unavailable"
    assert int(response.headers["retry-after"]) > 0


@pytest.fixture
def clip(people: People, media: Media, store_evidence: StoreEvidence, grant_for: GrantFor) -> uuid.UUID:
    """Return a stored MP4 with a thumbnail that the reviewer may view and download."""
    record = store_evidence(media.mp4, uploader=people.officer, media_type="video/mp4", thumbnail=media.jpeg)
    grant_for(people.reviewer, [record], mode=AccessMode.VIEW_DOWNLOAD)
    return record


@pytest.mark.parametrize("outage", OUTAGES)
def test_every_read_answers_503_during_an_outage_and_is_not_logged_as_done(
    settings: Settings, context: VaultContext, people: People, clip: uuid.UUID, outage: str
) -> None:
    before = len(events(context, clip))
    with client_during_outage(settings, outage, timeout_seconds=TIMEOUT) as client:
        for name, (path, headers) in READS.items():
            started = time.monotonic()
            response = client.get(f"/api/evidence/{clip}/{path}", headers={**people.reviewer.headers, **headers})
            elapsed = time.monotonic() - started
            assert_unavailable(response)
            assert elapsed < 3 * TIMEOUT + 2, (name, elapsed)  # generous: never the old 60 s per read
    assert len(events(context, clip)) == before  # no download or playback was recorded for bytes never sent


def test_an_unreadable_local_object_is_a_clean_error_not_a_broken_stream(
    client: TestClient, context: VaultContext, people: People, clip: uuid.UUID, media: Media
) -> None:
    if not isinstance(context.store, LocalBlobStore):
        pytest.skip("the folder store's own files: the S3 runs cover outages above")
    url, headers = f"/api/evidence/{clip}/original", people.reviewer.headers
    assert client.get(url, headers=headers).content == media.mp4.read_bytes()
    key = _original_key(context, clip)
    path = next(p for p in context.store.root.rglob(key) if p.is_file())  # the object's own file on disk
    os.chmod(path, 0o644)
    path.unlink()
    path.mkdir()  # a broken disk: the object's path no longer opens as a file
    assert_unavailable(client.get(url, headers=headers))
    shutil.rmtree(path)
    missing = client.get(url, headers=headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def _original_key(context: VaultContext, evidence_id: uuid.UUID) -> str:
    with context.sessions() as session:
        evidence = session.get(Evidence, evidence_id)
        assert evidence is not None
        return evidence.storage_key
