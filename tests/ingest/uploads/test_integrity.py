"""Uploads that no race, crash or outage can corrupt or strand (issue 11), tried on real `evault serve` processes.

Two servers share one catalog, one store and one staging folder, as several API instances behind a load
balancer do. Crashes are real SIGKILLs at named points (EVAULT_CRASH_AT, vault/faults.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ffmpeg  # type: ignore[import-untyped]
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from evault.app import create_app
from ingest.models import Upload, UploadState
from ingest.uploads.locking import release_marker, try_upload_lock
from tests.conftest import Person, stored_objects
from vault.config import Settings
from vault.context import VaultContext, build_context
from vault.errors import ObjectLocked
from vault.evidence.models import Derivative, Evidence
from vault.storage.base import BlobStore
from vault.storage.local import LocalBlobStore
from vault.storage.s3 import S3BlobStore

TUS = {"Tus-Resumable": "1.0.0"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """One `evault serve` process."""

    base: str
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """SIGKILL the server, as a crash or the OOM killer would."""
        self.process.kill()
        self.process.wait(timeout=10)


@dataclass
class Vault:
    """A vault's environment on disk, and the servers started on it."""

    env: dict[str, str]
    tmp: Path
    servers: list[Server] = field(default_factory=list)

    def start(self, **extra: str) -> Server:
        """Start one more server on the same catalog, store and staging folder."""
        port = free_port()
        log = self.tmp / f"server-{port}.log"
        with log.open("wb") as out:  # a file, not a pipe: a full pipe would stall the server
            process = subprocess.Popen([sys.executable, "-m", "evault", "serve", "--no-scheduler", "--port", str(port)],
                                       env={**self.env, **extra}, stdout=subprocess.DEVNULL, stderr=out)
        server = Server(f"http://127.0.0.1:{port}", process, log)
        self.servers.append(server)
        for _ in range(300):
            try:
                httpx.get(f"{server.base}/health", timeout=1)
                return server
            except httpx.TransportError:
                if process.poll() is not None:
                    pytest.fail(f"server exited: {log.read_text()}")
                time.sleep(0.1)
        pytest.fail("server did not start")

    def reconcile(self, **extra: str) -> dict[str, Any]:
        """Run `evault reconcile` with no grace, as the scheduled pass does once the grace has passed."""
        result = subprocess.run([sys.executable, "-m", "evault", "reconcile"], capture_output=True, text=True,
                                env={**self.env, "EVAULT_RECONCILE_GRACE_SECONDS": "0", **extra}, timeout=120,
                                check=False)
        assert result.returncode == 0, result.stderr
        summary: dict[str, Any] = json.loads(result.stdout)
        return summary


@pytest.fixture
def vault(settings: Settings, store: BlobStore, tmp_path: Path) -> Iterator[Vault]:
    env = {**os.environ, "EVAULT_HOME": str(settings.home), "EVAULT_DATABASE_URL": settings.resolved_database_url,
           "EVAULT_LOG_JSON": "false"}
    if isinstance(store, S3BlobStore):
        env |= {"EVAULT_STORE": "s3", "EVAULT_S3_ENDPOINT": os.environ["EVAULT_TEST_S3_ENDPOINT"],
                "EVAULT_S3_ACCESS_KEY": os.environ.get("EVAULT_TEST_S3_ACCESS_KEY", "evaultci"),
                "EVAULT_S3_SECRET_KEY": os.environ.get("EVAULT_TEST_S3_SECRET_KEY", "evaultci-secret-key"),
                "EVAULT_S3_BUCKET": store.bucket, "EVAULT_S3_LOCK_MODE": "GOVERNANCE"}
    running = Vault(env, tmp_path)
    yield running
    for server in running.servers:
        if server.process.poll() is None:
            server.process.terminate()
            server.process.wait(timeout=10)


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A recording of a few MB, large enough for two requests to overlap while it travels."""
    path = tmp_path_factory.mktemp("footage") / "DSJ-0421_0001.mp4"
    noisy = ffmpeg.input("testsrc=duration=2:size=960x540:rate=25", f="lavfi").filter("noise", alls=40, allf="t")
    ffmpeg.output(noisy, str(path), vcodec="libx264", preset="ultrafast", pix_fmt="yuv420p", movflags="+faststart",
                  metadata="creation_time=2025-03-30T06:00:00Z", loglevel="error").overwrite_output().run(quiet=True)
    assert path.stat().st_size > 2 * 1024 * 1024
    return path


def create(base: str, person: Person, data: bytes, name: str = "DSJ-0421_0001.mp4") -> str:
    encoded = base64.b64encode(name.encode()).decode()
    response = httpx.post(f"{base}/api/uploads", headers={**TUS, **person.headers, "Upload-Length": str(len(data)),
                                                          "Upload-Metadata": f"filename {encoded}"})
    assert response.status_code == 201, response.text
    return str(response.headers["Location"])


def patch(base: str, person: Person, location: str, offset: int, body: Any, timeout: float = 60) -> httpx.Response:
    headers = {**TUS, **person.headers, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
    return httpx.patch(f"{base}{location}", headers=headers, content=body, timeout=timeout)


def head(base: str, person: Person, location: str) -> httpx.Response:
    return httpx.head(f"{base}{location}", headers={**TUS, **person.headers})


def stored_record(context: VaultContext, sha256: str) -> Evidence:
    with context.sessions() as session:
        found = session.scalars(select(Evidence).where(Evidence.sha256 == sha256)).all()
    assert len(found) == 1, f"{len(found)} records of the sent bytes"
    return found[0]


def assert_locked(store: BlobStore, evidence: Evidence) -> None:
    assert store.stat(evidence.storage_key, evidence.version_id).retain_until is not None
    with pytest.raises(ObjectLocked):
        store.delete(evidence.storage_key, evidence.version_id)


def test_two_patches_at_one_offset_on_two_servers_never_mix_bytes(
        vault: Vault, context: VaultContext, officer: Person, footage: Path) -> None:
    data = footage.read_bytes()
    first, second = vault.start(), vault.start()
    location = create(first.base, officer, data)
    answers: dict[str, httpx.Response] = {}

    def slow_body() -> Iterator[bytes]:  # a client on a slow link, whose retry overtakes it
        yield data[:512 * 1024]
        time.sleep(2.0)
        yield data[512 * 1024:]

    sender = threading.Thread(target=lambda: answers.update(slow=patch(first.base, officer, location, 0, slow_body())))
    sender.start()
    time.sleep(0.5)
    answers["retry"] = patch(second.base, officer, location, 0, data)  # the same offset, on the other server
    sender.join(60)
    assert answers["slow"].status_code == 204  # asked to let go, it kept what had arrived
    kept = int(answers["slow"].headers["Upload-Offset"])
    assert 0 < kept < len(data)
    assert answers["retry"].status_code == 409, answers["retry"].text
    assert answers["retry"].json()["error"]["details"]["offset"] == kept
    assert head(first.base, officer, location).headers["Upload-Offset"] == str(kept)
    assert head(second.base, officer, location).headers["Upload-Offset"] == str(kept)  # same answer everywhere
    done = patch(second.base, officer, location, kept, data[kept:])
    assert done.status_code == 204, done.text
    evidence = stored_record(context, hashlib.sha256(data).hexdigest())
    assert str(evidence.id) == done.headers["Evault-Evidence-Id"]
    assert "damaged" not in {flag.flag for flag in evidence.flags}
    assert_locked(context.store, evidence)


def test_a_patch_on_an_upload_another_instance_holds_answers_423(
        vault: Vault, context: VaultContext, officer: Person, footage: Path) -> None:
    data = footage.read_bytes()
    server = vault.start(EVAULT_UPLOAD_LOCK_WAIT_SECONDS="0.5")
    location = create(server.base, officer, data)
    upload_id = location.rsplit("/", 1)[1]
    held = try_upload_lock(context, uuid.UUID(upload_id))  # held here, as by an instance that never lets go
    assert held is not None
    try:
        refused = patch(server.base, officer, location, 0, data)
    finally:
        held.release()
    assert refused.status_code == 423
    assert refused.json()["error"]["code"] == "upload_locked"
    assert not release_marker(context.settings.uploads_dir, uuid.UUID(upload_id)).exists()
    assert head(server.base, officer, location).headers["Upload-Offset"] == "0"  # nothing was written
    done = patch(server.base, officer, location, 0, data)
    assert done.status_code == 204, done.text
    assert_locked(context.store, stored_record(context, hashlib.sha256(data).hexdigest()))


def audit(context: VaultContext) -> dict[str, int]:
    """Count what a crash may strand: the figures issue 11 asks to be zero once the reconciler has run."""
    store = context.store
    with context.sessions() as session:
        referenced = {(e.storage_key, e.version_id) for e in session.scalars(select(Evidence))}
        referenced |= {(d.storage_key, d.version_id) for d in session.scalars(select(Derivative))}
        stuck = len(session.scalars(select(Upload.id).where(Upload.state == UploadState.RECEIVING,
                                                            Upload.offset == Upload.length)).all())
    locked_orphans = unlocked = 0
    for version in store.list_versions():
        try:
            is_locked = store.stat(version.key, version.version_id).retain_until is not None
        except Exception:  # a finished local write not yet in its place is an unlocked object
            is_locked = False
        if not is_locked:
            unlocked += 1
        elif (version.key, version.version_id) not in referenced:
            locked_orphans += 1
    if isinstance(store, S3BlobStore):
        incomplete = len(store._client._list_multipart_uploads(store.bucket).uploads)
    else:
        assert isinstance(store, LocalBlobStore)
        incomplete = len(list((store.root / ".incoming").glob("*"))) if (store.root / ".incoming").exists() else 0
    staging = context.settings.uploads_dir
    leftovers = len([p for p in staging.iterdir() if p.is_file()]) if staging.exists() else 0
    return {"locked_orphans": locked_orphans, "unlocked": unlocked, "incomplete_writes": incomplete,
            "stuck_uploads": stuck, "staging_files": leftovers}


@pytest.mark.parametrize("point", ["ingest.after_finish", "ingest.after_commit", "ingest.after_lock"])
def test_a_crash_at_each_step_of_the_last_patch_is_finished_by_the_reconciler(
        vault: Vault, context: VaultContext, officer: Person, footage: Path, point: str) -> None:
    data = footage.read_bytes()
    doomed = vault.start(EVAULT_CRASH_AT=point)
    location = create(doomed.base, officer, data)
    with pytest.raises(httpx.TransportError):
        patch(doomed.base, officer, location, 0, data)  # the server dies before it answers
    assert doomed.process.wait(timeout=10) == -9
    summary = vault.reconcile()
    assert audit(context) == {"locked_orphans": 0, "unlocked": 0, "incomplete_writes": 0, "stuck_uploads": 0,
                              "staging_files": 0}, summary
    evidence = stored_record(context, hashlib.sha256(data).hexdigest())  # nothing the client sent was lost
    assert_locked(context.store, evidence)
    restarted = vault.start()
    status = head(restarted.base, officer, location)
    assert status.headers["Upload-Offset"] == str(len(data))
    assert status.headers["Evault-Evidence-Id"] == str(evidence.id)
    receipt = httpx.get(f"{restarted.base}{location}/receipt", headers=officer.headers)
    assert receipt.status_code == 200 and receipt.json()["receipt"]["sha256"] == evidence.sha256


def broken_store(store: BlobStore, tmp_path: Path) -> BlobStore:
    """The same kind of store, unreachable: an S3 endpoint nobody listens on, or a folder that cannot exist."""
    if isinstance(store, S3BlobStore):
        return S3BlobStore(endpoint=f"127.0.0.1:{free_port()}", access_key="evaultci", secret_key="unreachable-key",
                           bucket=store.bucket)
    blocker = tmp_path / "not-a-folder"
    blocker.write_bytes(b"")
    return LocalBlobStore(blocker / "objects")


def send_during_an_outage(context: VaultContext, officer: Person, data: bytes, name: str,
                          tmp_path: Path) -> tuple[str, Any, Any]:
    """Send a whole upload while the store is away; return its location, the last PATCH's answer and a HEAD."""
    outage = build_context(context.settings, store=broken_store(context.store, tmp_path))
    try:
        with TestClient(create_app(outage), raise_server_exceptions=False) as during:
            encoded = base64.b64encode(name.encode()).decode()
            created = during.post("/api/uploads", headers={**TUS, **officer.headers, "Upload-Length": str(len(data)),
                                                           "Upload-Metadata": f"filename {encoded}"})
            location = str(created.headers["Location"])
            failed = during.patch(location, content=data, headers={
                **TUS, **officer.headers, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"})
            return location, failed, during.head(location, headers={**TUS, **officer.headers})
    finally:
        outage.close()


def test_a_store_failure_on_the_last_patch_keeps_every_byte(
        context: VaultContext, client: TestClient, officer: Person, footage: Path, tmp_path: Path) -> None:
    data = footage.read_bytes()
    location, failed, status = send_during_an_outage(context, officer, data, footage.name, tmp_path)
    assert failed.status_code == 503 and failed.json()["error"]["code"] == "storage_unavailable"
    assert status.headers["Upload-Offset"] == str(len(data))  # every byte is still staged
    assert "Evault-Evidence-Id" not in status.headers
    assert stored_objects(context.store) == []
    finished = client.patch(location, content=b"", headers={
        **TUS, **officer.headers, "Content-Type": "application/offset+octet-stream", "Upload-Offset": str(len(data))})
    assert finished.status_code == 204, finished.text  # finishing again needs nothing sent again
    evidence = stored_record(context, hashlib.sha256(data).hexdigest())
    assert str(evidence.id) == finished.headers["Evault-Evidence-Id"]
    assert_locked(context.store, evidence)
    assert [p for p in context.settings.uploads_dir.iterdir() if p.is_file()] == []


def test_the_reconciler_finishes_an_upload_whose_store_was_away(
        vault: Vault, context: VaultContext, officer: Person, footage: Path, tmp_path: Path) -> None:
    data = footage.read_bytes()
    assert send_during_an_outage(context, officer, data, footage.name, tmp_path)[1].status_code == 503
    summary = vault.reconcile()
    assert summary["uploads_finished"] == 1
    assert_locked(context.store, stored_record(context, hashlib.sha256(data).hexdigest()))
    assert audit(context)["stuck_uploads"] == 0


def test_an_abandoned_unfinished_upload_expires_and_leaves_no_staged_bytes(
        vault: Vault, context: VaultContext, client: TestClient, officer: Person, footage: Path) -> None:
    data = footage.read_bytes()
    created = client.post("/api/uploads", headers={**TUS, **officer.headers, "Upload-Length": str(len(data)),
                                                   "Upload-Metadata": "filename YS5tcDQ="})
    location = created.headers["Location"]
    half = client.patch(location, content=data[:len(data) // 2], headers={
        **TUS, **officer.headers, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"})
    assert half.status_code == 204
    assert vault.reconcile()["uploads_expired"] == 0  # a week by default: the officer may still resume
    assert vault.reconcile(EVAULT_UPLOAD_EXPIRY_HOURS="0")["uploads_expired"] == 1
    assert client.head(location, headers={**TUS, **officer.headers}).status_code == 404
    assert audit(context)["staging_files"] == 0
