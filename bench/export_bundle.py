"""Benchmark evidence bundles: `evault export` against `zip -0`, `evault verify-bundle` (and the
verify_bundle.py a bundle carries, run alone) against `sha256sum -c`.

Same originals, same run, warm page cache for both. Usage:
    .venv/bin/python bench/export_bundle.py [--gib 4] [--files 4] [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from playback import free_port, start_server

from evault.migrate import upgrade_database
from vault.access.models import AccessMode, AccessPurpose
from vault.access.service import approve_request, request_access
from vault.cases.models import CaseType
from vault.cases.service import add_case
from vault.config import Settings
from vault.context import build_context
from vault.evidence.service import EvidenceTags, register_evidence
from vault.exports.hashing import Sm3
from vault.identities.actor import SYSTEM, Actor
from vault.identities.models import Role
from vault.identities.service import HandlerInput, add_handler, create_user, issue_token
from vault.keys import create_keys
from vault.storage.base import FileSource
from vault.storage.local import LocalBlobStore

CASE = "阜应急罚字〔2025〕1号"
CHUNK = 8 * 1024 * 1024
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Measured:
    """Wall time and peak RSS of one child process."""

    seconds: float
    peak_rss_mib: float


def measure(args: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> Measured:
    """Run a command, returning its wall time and peak RSS (from wait4)."""
    subprocess.run(["sync"], check=True)
    with tempfile.NamedTemporaryFile("r") as rss:
        # /usr/bin/time reports the command's own peak RSS; wait4 on a forked Python child would count our image too.
        start = time.perf_counter()
        done = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", rss.name, *args],
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{args[0]} failed: {done.stderr.decode()}")
        return Measured(elapsed, int(rss.read().split()[-1]) / 1024)


def make_original(path: Path, size: int, *, sm3: bool) -> tuple[str, str | None]:
    """Write size random-ish bytes (a repeated random block keeps generation cheap); return SHA-256 and SM3."""
    block = os.urandom(CHUNK)
    digest, sm3_digest = hashlib.sha256(), Sm3() if sm3 else None
    with path.open("wb") as handle:
        for offset in range(0, size, CHUNK):
            piece = block[: min(CHUNK, size - offset)]
            piece = offset.to_bytes(8, "little") + piece[8:]  # no two chunks alike
            handle.write(piece)
            digest.update(piece)
            if sm3_digest is not None:
                sm3_digest.update(piece)
    return digest.hexdigest(), sm3_digest.hexdigest() if sm3_digest else None


def seed(settings: Settings, work: Path, total: int, files: int, sm3: bool) -> tuple[dict[Path, str], str]:
    """Create a vault with `files` originals in one case, approved for export; return their paths and SHA-256,
    and the records manager's API token (the export runs through the API as that person)."""
    create_keys(settings.keys_dir)
    context = build_context(settings)
    upgrade_database(context.engine)
    store = context.store
    assert isinstance(store, LocalBlobStore)
    retain = datetime.now(UTC) + timedelta(days=30)
    with context.sessions() as session:
        add_handler(
            session=session, actor=SYSTEM, data=HandlerInput("13010001", "张伟", date(2023, 1, 1), date(2030, 1, 1))
        )
        officer = Actor.of(
            create_user(
                session=session, actor=SYSTEM, name="officer", role=Role.OFFICER, handler_certificate="13010001"
            )
        )
        manager_user = create_user(session=session, actor=SYSTEM, name="archive", role=Role.RECORDS_MANAGER)
        manager = Actor.of(manager_user)
        token = issue_token(session=session, actor=SYSTEM, user=manager_user, label="bench")
        approver = Actor.of(create_user(session=session, actor=SYSTEM, name="boss", role=Role.APPROVER))
        case = add_case(session=session, actor=SYSTEM, case_number=CASE, case_type=CaseType.GENERAL_PROCEDURE_PENALTY)
        ids, paths = [], {}
        for n in range(files):
            source = work / f"original-{n}.mp4"
            size = total // files
            # The ingest side records SM3 off the upload path; --inline-sm3 leaves it to the export instead.
            sha256, sm3_hex = make_original(source, size, sm3=sm3)
            pending = store.begin_put(length=size, source=FileSource(source, size, sha256))
            blob = pending.finish(expected_sha256=sha256)
            pending.lock(retain)
            paths[store.local_path(blob.key, blob.version_id)] = sha256
            evidence = register_evidence(
                session=session,
                actor=officer,
                blob=blob,
                store_name=store.name,
                store_retain_until=retain,
                original_name=f"DSJ_{n:04d}.mp4",
                media_type="video/mp4",
                tags=EvidenceTags(case=case),
            )
            evidence.sm3 = sm3_hex
            ids.append(evidence.id)
        now = datetime.now(UTC)
        request = request_access(
            session=session,
            actor=manager,
            purpose=AccessPurpose.LITIGATION,
            mode=AccessMode.VIEW_DOWNLOAD,
            duration_hours=24,
            reason="bench",
            now=now,
            max_hours=720,
            evidence_ids=ids,
        )
        approve_request(session=session, actor=approver, request_id=request.id, now=now)
        session.commit()
    context.close()
    return paths, token


def main() -> None:
    """Run the benchmark and print throughput, ratios and peak RSS."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--gib", type=float, default=4.0, help="GiB of originals (default 4)")
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--inline-sm3", action="store_true", help="leave SM3 unrecorded so the export computes it")
    args = parser.parse_args()
    if shutil.which("zip") is None:
        raise SystemExit("install zip first: apt-get install -y zip")
    work = Path(tempfile.mkdtemp(prefix="evault-bench-", dir=args.workdir))
    try:
        run(work, int(args.gib * 1024**3), args.files, sm3=not args.inline_sm3)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def run(work: Path, total: int, files: int, *, sm3: bool) -> None:
    """Seed, then time export vs zip -0 and verify vs sha256sum -c."""
    settings = Settings(home=work / "home", log_json=True, demo=True)  # a throwaway vault: no agency named
    originals, token = seed(settings, work, total, files, sm3)
    os.environ["EVAULT_DEMO"] = "true"  # for the server this bench starts, like the settings above
    port = free_port()
    server = start_server(settings.home, port)
    try:
        measure_all(work, originals, token, f"http://127.0.0.1:{port}", total, files, sm3=sm3)
    finally:
        server.terminate()
        server.wait()


def measure_all(work: Path, originals: dict[Path, str], token: str, server: str, total: int, files: int, *,
                sm3: bool) -> None:
    """Time export (through the API, as the records manager) vs zip -0, and verify vs sha256sum -c."""
    env = {**os.environ, "EVAULT_SERVER": server, "EVAULT_TOKEN": token, "EVAULT_CLIENT_DIR": str(work / "client")}
    subprocess.run(["cat", *map(str, originals)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
    mib = total / 1024**2
    startup = measure([str(BIN / "evault"), "--help"], env=env)
    zipped = measure(["zip", "-0", "-q", "-j", str(work / "plain.zip"), *map(str, originals)])
    (work / "plain.zip").unlink()
    bundle = work / "bundle.zip"
    exported = measure(
        [
            str(BIN / "evault"),
            "export",
            CASE,
            "--purpose",
            "court",
            "--recipient",
            "bench court",
            "--out",
            str(bundle),
        ],
        env=env,
    )
    manifest = work / "originals.sha256"
    manifest.write_text("".join(f"{digest}  {path}\n" for path, digest in originals.items()))
    summed = measure(["sha256sum", "-c", "--quiet", str(manifest)])
    verified = measure([str(BIN / "evault"), "verify-bundle", str(bundle)], env=env)
    carried = work / "clerk" / "verify_bundle.py"
    carried.parent.mkdir()
    with zipfile.ZipFile(bundle) as archive:
        carried.write_bytes(archive.read(next(n for n in archive.namelist() if n.endswith("/verify_bundle.py"))))
    alone = measure([sys.executable, "-I", str(carried), str(bundle)], env=env)
    print(
        f"SM3: {'recorded at ingest' if sm3 else 'computed during the export'}; "
        f"`evault` start-up alone: {startup.seconds:.1f} s (included below)"
    )
    print(f"originals: {files} files, {mib:,.0f} MiB; bundle {bundle.stat().st_size / 1024**2:,.0f} MiB")
    report("export", mib, exported)
    report("zip -0", mib, zipped)
    print(f"  export / zip -0 throughput ratio: {zipped.seconds / exported.seconds:.2f} (target >= 0.8)")
    report("verify", mib, verified)
    report("sha256sum", mib, summed)
    print(f"  verify-bundle / sha256sum -c throughput ratio: {summed.seconds / verified.seconds:.2f}")
    report("verify_bundle.py", mib, alone)


def report(name: str, mib: float, measured: Measured) -> None:
    """Print one tool's throughput, time and peak RSS."""
    rate = mib / measured.seconds
    print(f"{name:<10} {rate:8.1f} MiB/s  ({measured.seconds:6.1f} s)  peak RSS {measured.peak_rss_mib:6.1f} MiB")


if __name__ == "__main__":
    main()
