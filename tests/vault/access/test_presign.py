"""Presigned URLs on Ceph RGW: issued only after the grant check, useless once tampered with or expired."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import S3_ENDPOINT, make_s3_store
from tests.vault.access.conftest import GrantFor, Media, People, StoreEvidence
from vault.access.models import AccessMode
from vault.context import VaultContext
from vault.custody.models import CustodyAction, CustodyEvent
from vault.errors import InvalidInput
from vault.evidence.models import Evidence
from vault.storage.base import BlobStore
from vault.storage.s3 import MAX_PRESIGN_SECONDS, S3BlobStore

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


def _signed_life(url: str) -> tuple[datetime, int]:
    query = parse_qs(urlsplit(url).query)
    signed = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return signed, int(query["X-Amz-Expires"][0])


def _issued_event(context: VaultContext, evidence_id: uuid.UUID) -> CustodyEvent:
    with context.sessions() as session:
        return session.scalars(select(CustodyEvent).where(
            CustodyEvent.action == CustodyAction.EVIDENCE_LINK_ISSUED.value,
            CustodyEvent.subject_id == str(evidence_id)).order_by(CustodyEvent.log_index.desc())).first()


def test_reported_and_logged_expiry_is_the_signed_one(client: TestClient, context: VaultContext, people: People,
                                                      media: Media, store_evidence: StoreEvidence,
                                                      grant_for: GrantFor) -> None:
    clip = store_evidence(media.mp4, uploader=people.officer, media_type="video/mp4")
    grant_for(people.reviewer, [clip])
    context.settings.presign_seconds = 3600  # more than the signer's cap and than the grant's 4 hours allow
    issued = client.post(f"/api/evidence/{clip}/links", headers=people.reviewer.headers, params={"variant": "original"})
    assert issued.status_code == 201, issued.text
    signed_at, seconds = _signed_life(issued.json()["url"])
    assert seconds == MAX_PRESIGN_SECONDS
    reported = datetime.fromisoformat(issued.json()["expires_at"])
    assert reported == signed_at + timedelta(seconds=MAX_PRESIGN_SECONDS)
    event = _issued_event(context, clip)
    assert datetime.fromisoformat(event.details["expires_at"]) == reported

    context.settings.presign_seconds = 120
    issued = client.post(f"/api/evidence/{clip}/links", headers=people.reviewer.headers, params={"variant": "original"})
    signed_at, seconds = _signed_life(issued.json()["url"])
    assert seconds == 120
    assert datetime.fromisoformat(issued.json()["expires_at"]) == signed_at + timedelta(seconds=120)
    assert datetime.fromisoformat(_issued_event(context, clip).details["expires_at"]) == signed_at + timedelta(
        seconds=120)


def test_links_are_signed_for_the_public_endpoint(context: VaultContext, people: People, media: Media,
                                                  store_evidence: StoreEvidence, grant_for: GrantFor) -> None:
    clip = store_evidence(media.mp4, uploader=people.officer, media_type="video/mp4")
    grant_for(people.reviewer, [clip])
    store = context.store
    assert isinstance(store, S3BlobStore)
    # The same RGW under another name stands in for the agency's public endpoint (a proxy in production).
    host, port = (S3_ENDPOINT or "").rsplit(":", 1)
    keys = store._credentials
    public = S3BlobStore(endpoint=S3_ENDPOINT or "", access_key=keys[0], secret_key=keys[1], bucket=store.bucket,
                         public_endpoint=f"http://localhost:{port}")
    with context.sessions() as session:
        evidence = session.get(Evidence, clip)
        assert evidence is not None
        url = public.presign_get(evidence.storage_key, evidence.version_id, expires_seconds=60, public=True)
        own = public.presign_get(evidence.storage_key, evidence.version_id, expires_seconds=60)
    assert url is not None and urlsplit(url).netloc == f"localhost:{port}"
    assert own is not None and urlsplit(own).netloc == S3_ENDPOINT  # the vault's own jobs read inside
    assert httpx.get(url).content == media.mp4.read_bytes()
    internal = urlsplit(url)._replace(netloc=f"{host}:{port}").geturl()
    assert httpx.get(internal).status_code == 403  # signed for the public host only


@pytest.mark.parametrize("endpoint", ["s3.agency.example", "ftp://s3.agency.example", "https://s3.agency.example/x"])
def test_a_public_endpoint_is_a_scheme_and_host(endpoint: str) -> None:
    with pytest.raises(InvalidInput):
        S3BlobStore(endpoint=S3_ENDPOINT or "", access_key="k", secret_key="s", bucket="b", public_endpoint=endpoint)
