"""Presigned URLs on Ceph RGW: issued only after the grant check, useless once tampered with or expired."""

from __future__ import annotations

import time
import uuid
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import S3_ENDPOINT, make_s3_store
from tests.vault.access.conftest import GrantFor, Media, People, StoreEvidence
from vault.access.models import AccessMode
from vault.context import VaultContext
from vault.storage.base import BlobStore

pytestmark = [
    pytest.mark.s3,
    pytest.mark.skipif(not S3_ENDPOINT, reason="needs Ceph RGW: set EVAULT_TEST_S3_ENDPOINT"),
]


@pytest.fixture
def store() -> BlobStore:
    """Use RGW for this module even when the rest of the suite runs on the local store."""
    return make_s3_store()


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_presigned_url_works_then_stops_after_expiry(client: TestClient, context: VaultContext, people: People,
                                                     media: Media, store_evidence: StoreEvidence,
                                                     grant_for: GrantFor) -> None:
    clip = store_evidence(media.mp4, uploader=people.officer, media_type="video/mp4")
    refused = client.post(f"/api/evidence/{clip}/links", headers=people.reviewer.headers)
    assert refused.status_code == 403  # no URL before the grant check passes
    grant_for(people.reviewer, [clip])
    # X-Amz-Date counts whole seconds, so a link lives between presign_seconds - 1 and presign_seconds: a
    # one-second link could lapse before the first GET arrives (it did, once, in CI).
    context.settings.presign_seconds = 3
    issued = client.post(f"/api/evidence/{clip}/links", headers=people.reviewer.headers, params={"variant": "original"})
    assert issued.status_code == 201, issued.text
    url = issued.json()["url"]
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["3"]
    fetched = httpx.get(url)
    assert fetched.status_code == 200 and fetched.content == media.mp4.read_bytes()
    time.sleep(4.5)  # let the link lapse on the RGW clock; nothing here is timed
    assert httpx.get(url).status_code == 403


def test_tampered_presigned_urls_are_refused(client: TestClient, people: People, media: Media,
                                             store_evidence: StoreEvidence, grant_for: GrantFor) -> None:
    clip = store_evidence(media.mp4, uploader=people.officer, media_type="video/mp4")
    other = store_evidence(media.jpeg, uploader=people.officer, media_type="image/jpeg")
    grant_for(people.reviewer, [clip], mode=AccessMode.VIEW_DOWNLOAD)
    url = client.post(f"/api/evidence/{clip}/links", headers=people.reviewer.headers).json()["url"]
    signature = parse_qs(urlsplit(url).query)["X-Amz-Signature"][0]
    forged = "0" * len(signature) if signature[0] != "0" else "1" * len(signature)
    assert httpx.get(_with_query(url, **{"X-Amz-Signature": forged})).status_code == 403
    assert httpx.get(_with_query(url, **{"X-Amz-Expires": "604800"})).status_code == 403
    assert httpx.get(url).status_code == 200
    assert client.post(f"/api/evidence/{other}/links", headers=people.reviewer.headers).status_code == 403
    assert client.post(f"/api/evidence/{uuid.uuid4()}/links", headers=people.reviewer.headers).status_code == 404
