"""Ranged playback through the API (a real uvicorn process) against reading the same bytes from the store.

    .venv/bin/python bench/playback.py [--mib 512] [--range-mib 1]

Sets up a throwaway vault (SQLite + local store) with one ~512 MiB original, an approved view-and-download
grant, then fetches the whole file as sequential 1 MiB `Range` requests over HTTP, and reads the same ranges
straight from the store with `store.open_range`. Every HTTP range passes the grant check and is added to the
playback session (one catalog commit per request), as in production. Prints MB/s, the ratio and peak RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from evault.setup import initialise
from vault.access.models import AccessMode, AccessPurpose
from vault.access.service import approve_request, request_access
from vault.config import Settings
from vault.context import build_context
from vault.evidence.service import EvidenceTags, register_evidence
from vault.identities.actor import SYSTEM, Actor
from vault.identities.models import Role
from vault.identities.service import HandlerInput, add_handler, create_user, issue_token

MIB = 1024 * 1024


def free_port() -> int:
    """Return a free local TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _original(folder: Path, mib: int) -> Path:
    path = folder / "original.mp4"
    with path.open("wb") as out:
        for _ in range(mib):
            out.write(os.urandom(MIB))
    return path


def setup_vault(home: Path, mib: int) -> tuple[Settings, str, str, str, str, int]:
    """Create the vault, one record and a grant; return settings, token, record id, key, version and size."""
    settings = Settings(home=home, log_json=True, log_level="WARNING")
    initialise(settings, admin_name="admin")
    context = build_context(settings)
    now = datetime.now(UTC)
    with context.sessions() as sess:
        add_handler(session=sess, actor=SYSTEM, data=HandlerInput(
            "13019999", "执法员甲", now.date() - timedelta(days=30), now.date() + timedelta(days=365)))
        officer = create_user(session=sess, actor=SYSTEM, name="officer", role=Role.OFFICER,
                              handler_certificate="13019999")
        reviewer = create_user(session=sess, actor=SYSTEM, name="reviewer", role=Role.REVIEWER)
        approver = create_user(session=sess, actor=SYSTEM, name="approver", role=Role.APPROVER)
        token = issue_token(session=sess, actor=SYSTEM, user=reviewer)
        sess.commit()
    source = _original(home, mib)
    retain = now + timedelta(days=1)
    with source.open("rb") as stream:
        blob = context.store.put_stream(stream, retain_until=retain)
    source.unlink()
    with context.sessions() as sess:
        evidence = register_evidence(session=sess, actor=Actor.of(officer), blob=blob, store_name=context.store.name,
                                     store_retain_until=retain, original_name="bench.mp4", media_type="video/mp4",
                                     tags=EvidenceTags())
        request = request_access(session=sess, actor=Actor.of(reviewer), evidence_ids=[evidence.id],
                                 purpose=AccessPurpose.INVESTIGATION, mode=AccessMode.VIEW_DOWNLOAD,
                                 duration_hours=4, reason="benchmark", now=now, max_hours=720)
        approve_request(session=sess, actor=Actor.of(approver), request_id=request.id, now=now)
        sess.commit()
        record = str(evidence.id)
    context.close()
    return settings, token, record, blob.key, blob.version_id, blob.size


def start_server(home: Path, port: int) -> subprocess.Popen[bytes]:
    """Start `evault serve` on a vault home and wait until it answers /health."""
    env = os.environ | {"EVAULT_HOME": str(home), "EVAULT_LOG_LEVEL": "INFO"}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "evault"), "serve", "--no-scheduler", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the API did not start")


def peak_rss_mib(pid: int) -> float:
    """Return a process's peak resident set size (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _ranged_http(url: str, token: str, size: int, step: int) -> float:
    headers = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    with httpx.Client(timeout=60) as client:
        for start in range(0, size, step):
            end = min(start + step, size) - 1
            response = client.get(url, headers={**headers, "Range": f"bytes={start}-{end}"})
            if response.status_code != 206 or len(response.content) != end - start + 1:
                raise SystemExit(f"range {start}-{end} failed: {response.status_code}")
    return time.perf_counter() - started


def _floor_http(url: str, token: str, count: int = 100) -> float:
    """Return seconds per authenticated metadata request: the per-request floor of the API."""
    started = time.perf_counter()
    with httpx.Client(timeout=60) as client:
        for _ in range(count):
            client.get(url, headers={"Authorization": f"Bearer {token}"}).raise_for_status()
    return (time.perf_counter() - started) / count


def _whole_http(url: str, token: str, size: int) -> float:
    started = time.perf_counter()
    received = 0
    with httpx.stream("GET", url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as response:
        for chunk in response.iter_bytes():
            received += len(chunk)
    if received != size:
        raise SystemExit(f"download returned {received} of {size} bytes")
    return time.perf_counter() - started


def _ranged_store(settings: Settings, key: str, version: str, size: int, step: int) -> float:
    context = build_context(settings)
    started = time.perf_counter()
    for start in range(0, size, step):
        end = min(start + step, size) - 1
        got = sum(len(chunk) for chunk in context.store.open_range(key, version, start=start, end=end))
        if got != end - start + 1:
            raise SystemExit(f"store range {start}-{end} returned {got} bytes")
    elapsed = time.perf_counter() - started
    context.close()
    return elapsed


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=512, help="size of the original in MiB")
    parser.add_argument("--range-mib", type=int, default=1, help="size of each Range request in MiB")
    args = parser.parse_args()
    step = args.range_mib * MIB
    with tempfile.TemporaryDirectory(prefix="evault-bench-") as folder:
        home = Path(folder) / "home"
        settings, token, record, key, version, size = setup_vault(home, args.mib)
        store_seconds = _ranged_store(settings, key, version, size, step)
        port = free_port()
        server = start_server(home, port)
        try:
            base = f"http://127.0.0.1:{port}/api/evidence/{record}"
            api_seconds = _ranged_http(f"{base}/original", token, size, step)
            whole_seconds = _whole_http(f"{base}/download", token, size)
            floor_seconds = _floor_http(base, token)
            server_rss = peak_rss_mib(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
    mb = size / 1e6
    requests = -(-size // step)
    print(f"original: {size / MIB:.0f} MiB, {requests} sequential Range requests of {args.range_mib} MiB")
    print(f"store.open_range (same ranges, in process): {mb / store_seconds:8.1f} MB/s")
    print(f"API ranged playback (uvicorn, HTTP):        {mb / api_seconds:8.1f} MB/s  "
          f"({requests / api_seconds:.0f} requests/s, {api_seconds / requests * 1000:.1f} ms each)")
    print(f"API floor (GET metadata, no bytes):         {floor_seconds * 1000:8.1f} ms per request")
    print(f"API whole download (one request, hashed):   {mb / whole_seconds:8.1f} MB/s")
    print(f"ratio API ranged / store:                   {store_seconds / api_seconds:8.2f}")
    print(f"peak RSS: server {server_rss:.0f} MiB, "
          f"bench client {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
