"""`upload` against a real vault over HTTP: receipts, duplicates, resume from the server's offset, refusals."""

from __future__ import annotations

import base64
import io
import json
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console

from evault_client.upload.errors import ClientError, ServerRefused
from evault_client.upload.files import expand_paths, receipt_path, sha256_file
from evault_client.upload.progress import RichProgress
from evault_client.upload.receipts import read_receipt
from evault_client.upload.runner import IngestClient
from evault_client.upload.tags import Tags
from evault_client.upload.tus import resume_key
from tests.client.upload.conftest import CASE, CERTS, PARTY, Officers, api_get
from vault.context import VaultContext
from vault.keys import Signer
from vault.storage.local import LocalBlobStore
from vault.storage.s3 import S3BlobStore

TAGS = Tags(case_number=CASE, party=PARTY, handlers=CERTS, activity="inspection", recorder_serial="DSJ-V8-0042",
            party_informed=True)


def english(zh: str, en: str) -> str:
    return en


def evidence_ids(vault_url: str, officers: Officers) -> list[str]:
    response = api_get(vault_url, officers.uploader, "/api/evidence?limit=1000")
    assert response.status_code == 200, response.text
    return sorted(item["id"] for item in response.json())


def test_a_recorder_folder_is_uploaded_receipted_and_tagged(
    client_factory: Callable[..., IngestClient], recorder: Path, vault_url: str, officers: Officers
) -> None:
    client = client_factory(jobs=2)
    files = expand_paths([recorder])
    outcomes = client.upload(files, TAGS)
    assert [o.error for o in outcomes] == [None, None]
    assert all(o.clearable and not o.duplicate for o in outcomes)
    for outcome in outcomes:
        receipt = read_receipt(outcome.path, key=client.key, sha256=sha256_file(outcome.path),
                               size=outcome.path.stat().st_size)
        assert receipt.evidence_id == outcome.evidence_id and receipt.original_name == outcome.path.name
        record = api_get(vault_url, officers.uploader, f"/api/evidence/{outcome.evidence_id}").json()
        assert record["sha256"] == outcome.sha256 and record["case_number"] == CASE
        assert record["party_name"] == PARTY and record["recorder_serial"] == "DSJ-V8-0042"
        assert record["activity"] == "inspection" and record["party_informed"] is True
        assert sorted(h.split("(")[-1].rstrip(")") for h in record["handlers"]) == list(CERTS)
        assert outcome.flags == record["flags"]
    assert evidence_ids(vault_url, officers) == sorted(str(o.evidence_id) for o in outcomes)


def test_uploading_the_same_footage_again_reports_duplicates_and_adds_nothing(
    client_factory: Callable[..., IngestClient], recorder: Path, vault_url: str, officers: Officers
) -> None:
    files = expand_paths([recorder])
    first = client_factory().upload(files, TAGS)
    before = evidence_ids(vault_url, officers)
    again = client_factory().upload(files, TAGS)
    assert [o.duplicate for o in again] == [True, True]
    assert [o.evidence_id for o in again] == [o.evidence_id for o in first]
    assert all(o.clearable for o in again) and evidence_ids(vault_url, officers) == before


class WatchOffsets:
    """A progress sink recording the vault's offsets; with `pull_cable`, it kills the run after the first chunk."""

    def __init__(self, *, pull_cable: bool) -> None:
        self.pull_cable = pull_cable
        self.offsets: list[int] = []

    def start(self, path: Path, size: int) -> None:
        """Ignore."""

    def hashed(self, path: Path, nbytes: int) -> None:
        """Ignore."""

    def sending(self, path: Path, offset: int) -> None:
        """Ignore (not durable yet)."""

    def retrying(self, path: Path, seconds: float, reason: str) -> None:
        """Ignore."""

    def sent(self, path: Path, offset: int) -> None:
        """Record; pull the cable once something was sent."""
        self.offsets.append(offset)
        if self.pull_cable and offset > 0:
            raise ConnectionResetError("cable pulled")

    def finish(self, path: Path, *, ok: bool) -> None:
        """Ignore."""


def test_an_interrupted_upload_resumes_from_the_vaults_offset(
    client_factory: Callable[..., IngestClient], recorder: Path, vault_url: str, officers: Officers, tmp_path: Path
) -> None:
    clip = expand_paths([recorder])[0]
    chunk = 8 * 1024
    assert clip.stat().st_size > 2 * chunk
    killed = client_factory(chunk_size=chunk)
    killed.progress = WatchOffsets(pull_cable=True)
    [broken] = killed.upload([clip], TAGS)
    assert broken.error is not None and not broken.clearable and not receipt_path(clip).exists()
    assert evidence_ids(vault_url, officers) == []

    stored = json.loads((tmp_path / "state" / "tus-uploads.json").read_text())
    [entry] = stored["_default"].values()
    head = httpx.head(entry["url"], headers={**officers.uploader.headers, "Tus-Resumable": "1.0.0"}, timeout=30)
    server_offset = int(head.headers["Upload-Offset"])
    assert server_offset == chunk

    watcher = WatchOffsets(pull_cable=False)
    resumed = client_factory(chunk_size=chunk)
    resumed.progress = watcher
    [done] = resumed.upload([clip], TAGS)
    assert done.error is None and done.clearable and not done.duplicate
    assert done.resumed_from == server_offset and watcher.offsets[0] == server_offset
    assert watcher.offsets[-1] == clip.stat().st_size
    assert evidence_ids(vault_url, officers) == [done.evidence_id]
    assert json.loads((tmp_path / "state" / "tus-uploads.json").read_text())["_default"] == {}


class TamperReceipts(httpx.BaseTransport):
    """A man in the middle that flips one bit of every receipt signature on its way to the client."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Forward; corrupt receipt signatures."""
        response = self.inner.handle_request(request)
        if not request.url.path.endswith("/receipt"):
            return response
        document = json.loads(response.read())
        signature = bytearray(base64.b64decode(document["signature"]))
        signature[-1] ^= 1
        document["signature"] = base64.b64encode(bytes(signature)).decode()
        return httpx.Response(response.status_code, json=document)

    def close(self) -> None:
        """Close the real transport."""
        self.inner.close()


def test_a_receipt_whose_signature_fails_is_rejected_and_the_file_not_cleared(
    client_factory: Callable[..., IngestClient], recorder: Path
) -> None:
    clip = expand_paths([recorder])[0]
    [outcome] = client_factory(transport=TamperReceipts()).upload([clip], TAGS)
    assert outcome.error is not None and "signature" in outcome.error
    assert not outcome.clearable and not receipt_path(clip).exists()


def test_a_non_media_file_is_refused_with_415_and_the_rest_still_uploads(
    client_factory: Callable[..., IngestClient], recorder: Path, tmp_path: Path
) -> None:
    fake = recorder / "DCIM" / "100MEDIA" / "NOTES.MP4"
    fake.write_text("this is a text file named like a recording\n" * 50, encoding="utf-8")
    outcomes = {o.path.name: o for o in client_factory().upload(expand_paths([recorder]), TAGS)}
    refused = outcomes.pop("NOTES.MP4")
    assert refused.error is not None and "415" in refused.error and "not a media recording" in refused.error
    assert not refused.clearable and not receipt_path(fake).exists()
    assert [o.clearable for o in outcomes.values()] == [True, True]
    assert json.loads((tmp_path / "state" / "tus-uploads.json").read_text())["_default"] == {}


def test_a_stored_upload_the_vault_no_longer_knows_is_started_afresh(
    client_factory: Callable[..., IngestClient], recorder: Path, tmp_path: Path
) -> None:
    clip = expand_paths([recorder])[0]
    client = client_factory()
    key = resume_key(server=client.api.server, user=client.user, path=clip, size=clip.stat().st_size,
                     sha256=sha256_file(clip))
    client.store.set_item(key, f"{client.api.uploads_url}/{uuid.uuid4()}")
    [outcome] = client.upload([clip], TAGS)
    assert outcome.clearable and outcome.resumed_from == 0 and client.store.get_item(key) is None


def test_progress_bars_account_for_every_byte(client_factory: Callable[..., IngestClient], recorder: Path) -> None:
    files = expand_paths([recorder])
    total = sum(p.stat().st_size for p in files)
    screen = io.StringIO()
    client = client_factory(chunk_size=8 * 1024)
    with RichProgress(total_bytes=total, console=Console(file=screen, width=120), text=english) as progress:
        client.progress = progress
        assert all(o.clearable for o in client.upload(files, TAGS))
        overall = progress.overall
    assert overall == (total, total) and "all files" in screen.getvalue()


def test_a_vault_presenting_another_key_than_the_pinned_one_is_refused(
    client_factory: Callable[..., IngestClient], tmp_path: Path
) -> None:
    client_factory()
    [pin] = (tmp_path / "state" / "vault-keys").iterdir()
    pin.write_text(Signer(Ed25519PrivateKey.generate()).public_pem(), encoding="ascii")
    with pytest.raises(ClientError, match="pinned"):
        client_factory()


def test_a_bad_token_is_refused_before_any_work(client_factory: Callable[..., IngestClient]) -> None:
    with pytest.raises(ServerRefused) as refused:
        client_factory(token="evt_not-a-real-token")
    assert refused.value.status == 401 and "EVAULT_TOKEN" in refused.value.message


def test_a_store_outage_at_the_end_is_finished_on_the_next_run_without_sending_the_file_again(
    client_factory: Callable[..., IngestClient], recorder: Path, context: VaultContext, tmp_path: Path,
    vault_url: str, officers: Officers,
) -> None:
    working = context.store
    blocker = tmp_path / "unmounted"
    blocker.write_bytes(b"")
    context.store = LocalBlobStore(blocker / "objects") if isinstance(working, LocalBlobStore) else S3BlobStore(
        endpoint="127.0.0.1:9", access_key="evaultci", secret_key="unreachable-key", bucket="evidence")
    files = expand_paths([recorder])[:1]
    try:  # the vault's store goes away while the officer uploads
        failed = client_factory(retries=0).upload(files, TAGS)
    finally:
        context.store = working
    assert failed[0].error is not None and failed[0].evidence_id is None
    outcomes = client_factory().upload(files, TAGS)
    assert outcomes[0].error is None and outcomes[0].resumed_from == files[0].stat().st_size
    assert evidence_ids(vault_url, officers) == [str(outcomes[0].evidence_id)]
