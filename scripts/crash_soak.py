#!/usr/bin/env python3
"""Fault soak: upload N recordings over tus while the server is SIGKILLed K times, then reconcile and count.

It prints the figures issue 11 asks to be zero once the reconciler has run: acknowledged uploads lost, locked
objects no record names, unlocked objects, incomplete multipart uploads / unfinished writes, stuck uploads
(every byte staged, no record) and leftover staging files. Uses a throwaway vault under --dir; by default the
embedded SQLite + local store, or PostgreSQL and S3 through the usual EVAULT_* variables (see --help).

    .venv/bin/python scripts/crash_soak.py --uploads 100 --kills 10
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import ffmpeg  # type: ignore[import-untyped]
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TUS = {"Tus-Resumable": "1.0.0"}
CHUNK = 256 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def evault(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "evault", *args], env=env, capture_output=True, text=True,
                            check=True, timeout=300)
    return result.stdout


def make_media(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for n in range(count):
        path = folder / f"REC_{n:04d}.MP4"
        noisy = ffmpeg.input("testsrc=duration=2:size=640x360:rate=25", f="lavfi").filter("noise", alls=30, allf="t")
        ffmpeg.output(noisy, str(path), vcodec="libx264", preset="ultrafast", pix_fmt="yuv420p",
                      movflags="+faststart", metadata=f"comment=soak-{n}-{os.urandom(4).hex()}",
                      loglevel="error").overwrite_output().run(quiet=True)
        files.append(path)
    return files


class Server:
    """`evault serve`, restarted after each kill."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log, self.port = env, log, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "evault", "serve", "--no-scheduler", "--port", str(self.port)],
                env=self.env, stdout=subprocess.DEVNULL, stderr=out)
        for _ in range(600):
            try:
                httpx.get(f"{self.base}/health", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise SystemExit("server did not start")

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        self.kills += 1


def upload(base: str, headers: dict[str, str], path: Path, state: dict[str, Any]) -> str:
    """Upload one file, resuming across server deaths; return the acknowledged evidence id."""
    data = path.read_bytes()
    while True:
        try:
            if "location" not in state:
                name = base64.b64encode(path.name.encode()).decode()
                created = httpx.post(f"{base}/api/uploads", headers={**TUS, **headers, "Upload-Length": str(len(data)),
                                                                    "Upload-Metadata": f"filename {name}"}, timeout=30)
                if created.status_code == 200:
                    return str(created.headers["Evault-Evidence-Id"])
                created.raise_for_status()
                state["location"] = created.headers["Location"]
            url = f"{base}{state['location']}"
            status = httpx.head(url, headers={**TUS, **headers}, timeout=30)
            if status.status_code == 404:  # refused or lost: start again
                state.pop("location")
                continue
            offset = int(status.headers["Upload-Offset"])
            if "Evault-Evidence-Id" in status.headers:
                return str(status.headers["Evault-Evidence-Id"])
            while True:
                body = data[offset:offset + CHUNK]
                answer = httpx.patch(url, headers={**TUS, **headers, "Upload-Offset": str(offset),
                                                   "Content-Type": "application/offset+octet-stream"},
                                     content=body, timeout=60)
                if answer.status_code in {409, 423, 503}:
                    break
                answer.raise_for_status()
                offset = int(answer.headers["Upload-Offset"])
                if "Evault-Evidence-Id" in answer.headers:
                    return str(answer.headers["Evault-Evidence-Id"])
        except httpx.TransportError:
            pass
        time.sleep(0.3)


def audit(env: dict[str, str], acknowledged: dict[str, str]) -> dict[str, int]:
    """Count what a crash may have stranded, looking at the catalog, the store and staging directly."""
    os.environ.update({k: v for k, v in env.items() if k.startswith("EVAULT_")})
    from sqlalchemy import select

    from ingest.models import Upload, UploadState
    from vault.config import load_settings
    from vault.context import build_context
    from vault.evidence.models import Derivative, Evidence
    from vault.storage.local import LocalBlobStore

    context = build_context(load_settings())
    store = context.store
    with context.sessions() as session:
        records = {e.sha256: e for e in session.scalars(select(Evidence))}
        referenced = {(e.storage_key, e.version_id) for e in records.values()}
        referenced |= {(d.storage_key, d.version_id) for d in session.scalars(select(Derivative))}
        stuck = len(session.scalars(select(Upload.id).where(Upload.state == UploadState.RECEIVING,
                                                            Upload.offset == Upload.length)).all())
    lost = 0
    for sha256, evidence_id in acknowledged.items():
        record = records.get(sha256)
        if record is None or str(record.id) != evidence_id:
            lost += 1
            continue
        digest = hashlib.sha256()
        for chunk in store.open_range(record.storage_key, record.version_id):
            digest.update(chunk)
        if digest.hexdigest() != sha256 or store.stat(record.storage_key, record.version_id).retain_until is None:
            lost += 1
    orphans = unlocked = 0
    for version in store.list_versions():
        try:
            locked = store.stat(version.key, version.version_id).retain_until is not None
        except Exception:
            locked = False
        unlocked += not locked
        orphans += locked and (version.key, version.version_id) not in referenced
    if isinstance(store, LocalBlobStore):
        incoming = store.root / ".incoming"
        incomplete = len(list(incoming.iterdir())) if incoming.exists() else 0
    else:
        incomplete = len(store._client._list_multipart_uploads(store.bucket).uploads)  # type: ignore[attr-defined]
    staging = context.settings.uploads_dir
    leftovers = len([p for p in staging.iterdir() if p.is_file()]) if staging.exists() else 0
    context.close()
    return {"acknowledged": len(acknowledged), "acknowledged_lost": lost, "locked_unreferenced": orphans,
            "unlocked_objects": unlocked, "incomplete_writes": incomplete, "stuck_uploads": stuck,
            "staging_files": leftovers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=100)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: a new temporary one)")
    args = parser.parse_args()
    random.seed(args.seed)
    work = args.dir or Path(tempfile.mkdtemp(prefix="evault-soak-"))
    env = {**os.environ, "EVAULT_HOME": str(work / "home"), "EVAULT_LOG_JSON": "false"}
    token = evault(env, "init").strip().splitlines()[-1]
    evault(env, "users", "add", "soak.officer", "--role", "officer")
    officer = evault(env, "tokens", "create", "soak.officer").strip().splitlines()[-1]
    assert token
    files = make_media(work / "media", args.uploads)
    server = Server(env, work / "server.log")
    server.start()
    headers = {"Authorization": f"Bearer {officer}"}
    acknowledged: dict[str, str] = {}
    queue = list(files)
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                path = queue.pop(0)
            evidence_id = upload(server.base, headers, path, {})
            with lock:
                acknowledged[hashlib.sha256(path.read_bytes()).hexdigest()] = evidence_id

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.parallel)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        done = len(acknowledged)
        if server.kills < args.kills and done >= (server.kills + 1) * args.uploads // (args.kills + 1):
            time.sleep(random.uniform(0, 0.3))  # noqa: S311 - where the kill lands, not a secret
            server.kill()
            server.start()
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    assert server.process is not None
    server.process.terminate()
    server.process.wait()
    before = audit(env, acknowledged)
    # Every client has finished: an upload still receiving is one whose Location died with the server.
    reconciled = json.loads(evault({**env, "EVAULT_RECONCILE_GRACE_SECONDS": "0", "EVAULT_UPLOAD_EXPIRY_HOURS": "0"},
                                   "reconcile"))
    after = audit(env, acknowledged)
    print(json.dumps({"store": os.environ.get("EVAULT_STORE", "local"), "uploads": args.uploads,
                      "kills": server.kills, "seconds": round(elapsed, 1), "before_reconcile": before,
                      "reconciler": reconciled, "after_reconcile": after}, indent=1))


if __name__ == "__main__":
    main()
