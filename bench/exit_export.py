"""Benchmark the exit export: `evault export-vault` against ocfl-py building one OCFL object from the same
originals (`ocfl-object.py create --fixity sha256`), and `evault verify-export` against `ocfl-validate.py`.

Same originals, same run, rounds alternate (vault, peer, vault, peer, ...), warm page cache; prints the median,
the spread (min-max of every round), the ratio of medians and each process's peak RSS. ocfl-py does not fsync,
so its rounds end with `sync` (the vault fsyncs every file); its peak RSS is then the larger of ocfl-py and sync.
Usage:
    .venv/bin/python bench/exit_export.py [--gib 1] [--files 1] [--rounds 3] [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from export_bundle import BIN, Measured, make_original, measure

from evault.migrate import upgrade_database
from vault.config import Settings
from vault.context import build_context
from vault.evidence.service import EvidenceTags, register_evidence
from vault.identities.actor import SYSTEM, Actor
from vault.identities.models import Role
from vault.identities.service import create_user
from vault.keys import create_keys
from vault.storage.base import FileSource


def seed(settings: Settings, work: Path, total: int, files: int) -> Path:
    """Create a vault holding `files` originals (SM3 recorded, as the background job leaves them); return a folder
    with the same bytes for the peer."""
    create_keys(settings.keys_dir)
    context = build_context(settings)
    upgrade_database(context.engine)
    plain = work / "plain"
    plain.mkdir()
    retain = datetime.now(UTC) + timedelta(days=30)
    with context.sessions() as session:
        officer = Actor.of(create_user(session=session, actor=SYSTEM, name="officer", role=Role.OFFICER))
        for n in range(files):
            source, size = plain / f"DSJ_{n:04d}.mp4", total // files
            sha256, sm3 = make_original(source, size, sm3=True)
            pending = context.store.begin_put(length=size, source=FileSource(source, size, sha256))
            blob = pending.finish(expected_sha256=sha256)
            pending.lock(retain)
            evidence = register_evidence(session=session, actor=officer, blob=blob, store_name=context.store.name,
                                         store_retain_until=retain, original_name=source.name, media_type="video/mp4",
                                         tags=EvidenceTags())
            evidence.sm3 = sm3
        session.commit()
    context.close()
    return plain


def spread(rounds: list[Measured]) -> str:
    """Return median seconds, min-max and the highest peak RSS of a tool's rounds."""
    seconds = [r.seconds for r in rounds]
    return (f"median {statistics.median(seconds):6.2f} s (min {min(seconds):.2f} - max {max(seconds):.2f}), "
            f"peak RSS {max(r.peak_rss_mib for r in rounds):6.1f} MiB")


def line(name: str, mib: float, rounds: list[Measured]) -> str:
    """Return one tool's throughput (median and range) and spread."""
    rates = [mib / r.seconds for r in rounds]
    return (f"{name:<16} {statistics.median(rates):7.1f} MiB/s ({min(rates):.1f}-{max(rates):.1f})  "
            f"{spread(rounds)}")


def run(work: Path, total: int, files: int, rounds: int) -> None:
    """Seed, then alternate export-vault / ocfl-py create and verify-export / ocfl-validate."""
    settings = Settings(home=work / "home", log_json=True, demo=True)
    plain = seed(settings, work, total, files)
    env = {**os.environ, "EVAULT_HOME": str(settings.home), "EVAULT_DEMO": "true", "EVAULT_LOG_LEVEL": "warning",
           "EVAULT_HOST_CONFIG_DIR": str(work / "host-config")}
    subprocess.run(["cat", *map(str, plain.iterdir())], stdout=subprocess.DEVNULL, check=True)
    results: dict[str, list[Measured]] = {"export-vault": [], "ocfl-py create": [], "verify-export": [],
                                          "ocfl-validate": []}
    for n in range(rounds):
        root, peer = work / f"exit-{n}", work / f"peer-{n}"
        results["export-vault"].append(measure([str(BIN / "evault"), "export-vault", str(root)], env=env))
        # `sync` after it: the vault fsyncs every file it writes, so the peer pays for durability too.
        create = [str(BIN / "ocfl-object.py"), "create", "--srcdir", str(plain), "--objdir", str(peer), "--fixity",
                  "sha256", "--id", f"urn:b:{n}", "-q"]
        results["ocfl-py create"].append(measure(["sh", "-c", '"$@" && sync', "sh", *create]))
        results["verify-export"].append(measure([str(BIN / "evault"), "verify-export", "--no-sm3", str(root)],
                                                env=env))
        results["ocfl-validate"].append(measure([str(BIN / "ocfl-validate.py"), "-q", str(root)]))
        shutil.rmtree(root)
        shutil.rmtree(peer)
    mib = total / 1024**2
    print(f"originals: {files} file(s), {mib:,.0f} MiB; {rounds} alternating rounds; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for name, measured in results.items():
        print(line(name, mib, measured))
    median = {name: statistics.median(r.seconds for r in m) for name, m in results.items()}
    print(f"  export-vault / ocfl-py create throughput ratio: {median['ocfl-py create'] / median['export-vault']:.2f}")
    print(f"  verify-export / ocfl-validate throughput ratio: {median['ocfl-validate'] / median['verify-export']:.2f}")


def main() -> None:
    """Parse arguments and run the benchmark in a throwaway folder."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--gib", type=float, default=1.0, help="GiB of originals (default 1)")
    parser.add_argument("--files", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="evault-exit-bench-", dir=args.workdir))
    try:
        run(work, int(args.gib * 1024**3), args.files, args.rounds)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
