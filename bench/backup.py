"""Benchmark `evault backup` and `evault restore` of a large SQLite catalog against the plain tools doing the same
job: `sqlite3 .backup` then `gpg --symmetric` (AES-256, no compression), and `gpg --decrypt` then copying the file.

Same catalog, same run, rounds alternating between the vault and the peer; medians with the spread of every round,
and each command's peak RSS (flat memory: it must not grow with the catalog). Usage:
    .venv/bin/python bench/backup.py [--mib 512] [--rounds 3] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent
PASSPHRASE = "a benchmark passphrase, not a secret"


@dataclass(frozen=True)
class Measured:
    """Wall time and peak RSS of one command."""

    seconds: float
    peak_rss_mib: float


def measure(args: list[str], *, env: dict[str, str]) -> Measured:
    """Run a command (its own peak RSS from /usr/bin/time); return wall time and peak RSS."""
    subprocess.run(["sync"], check=True)
    with tempfile.NamedTemporaryFile("r") as rss:
        start = time.perf_counter()
        done = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name, *args], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{args[0]} failed: {done.stderr.decode()}")
        return Measured(elapsed, int(rss.read().split()[-1]) / 1024)


def seed(env: dict[str, str], home: Path, mib: int) -> int:
    """Initialise a vault and grow its catalog to about mib MiB with a filler table; return the file's size."""
    subprocess.run([str(BIN / "evault"), "init"], env=env, check=True, stdout=subprocess.DEVNULL)
    database = home / "evault.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE bench_filler (id INTEGER PRIMARY KEY, body BLOB)")
        row = 64 * 1024
        for start in range(0, mib * 16, 256):
            connection.executemany("INSERT INTO bench_filler (body) VALUES (?)",
                                   ((os.urandom(row),) for _ in range(min(256, mib * 16 - start))))
            connection.commit()
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return database.stat().st_size


def _clear(*paths: Path) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def rounds(work: Path, env: dict[str, str], home: Path, count: int) -> dict[str, list[Measured]]:
    """Alternate backup and restore by the vault and by the peer tools, count rounds each."""
    phrase = work / "passphrase"
    phrase.write_text(PASSPHRASE + "\n")
    os.chmod(phrase, 0o600)
    evault, found = str(BIN / "evault"), {name: [] for name in ("backup", "peer backup", "restore", "peer restore")}
    restored = {**env, "EVAULT_HOME": str(work / "restored"), "EVAULT_HOST_CONFIG_DIR": str(work / "cfg-restored")}
    for _ in range(count):
        _clear(work / "vault.evbk", work / "peer.db", work / "peer.gpg", work / "restored", work / "peer-restored.db")
        found["backup"].append(measure([evault, "backup", str(work / "vault.evbk"), "--passphrase-file", str(phrase)],
                                       env=env))
        found["peer backup"].append(measure(["sh", "-c", f"sqlite3 '{home / 'evault.db'}' \".backup '{work}/peer.db'\""
                                             f" && gpg --batch --quiet --symmetric --cipher-algo AES256 "
                                             f"--compress-algo none --passphrase-file '{phrase}' -o '{work}/peer.gpg' "
                                             f"'{work}/peer.db'"], env=env))
        # Restore onto a copy of the store (anchors only: the catalog is the load), so that the continued log of
        # one round never forks the source vault's; the one lost entry is the backup's own record.
        shutil.copytree(home / "objects", work / "restored" / "objects", symlinks=True)
        found["restore"].append(measure([evault, "restore", str(work / "vault.evbk"), "--passphrase-file", str(phrase),
                                         "--accept-lost-entries", "1"], env=restored))
        found["peer restore"].append(measure(["sh", "-c", f"gpg --batch --quiet --decrypt --passphrase-file "
                                              f"'{phrase}' -o '{work}/peer-restored.db' '{work}/peer.gpg'"], env=env))
        _clear(work / "cfg-restored")
    return found


def report(found: dict[str, list[Measured]], size: int) -> None:
    """Print median MB/s, spread, the vault-to-peer ratio and peak RSS for backup and restore."""
    mb = size / 1e6
    print(f"catalog {mb:,.0f} MB; load average {os.getloadavg()[0]:.1f} at the end")
    print(f"{'':14}{'median MB/s':>12}{'spread MB/s':>18}{'peak RSS MiB':>14}")
    for name, values in found.items():
        rates = [mb / m.seconds for m in values]
        print(f"{name:14}{statistics.median(rates):12.0f}{f'{min(rates):.0f}-{max(rates):.0f}':>18}"
              f"{max(m.peak_rss_mib for m in values):14.0f}")
    for job in ("backup", "restore"):
        ratio = statistics.median(m.seconds for m in found[f"peer {job}"]) / statistics.median(
            m.seconds for m in found[job])
        print(f"{job}: evault / peer throughput = {ratio:.2f}")


def main() -> None:
    """Seed a vault with a large catalog, run the rounds, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="evault-bench-backup-", dir=options.workdir))
    try:
        home = work / "home"
        env = {**os.environ, "EVAULT_HOME": str(home), "EVAULT_HOST_CONFIG_DIR": str(work / "cfg"),
               "EVAULT_AGENCY_NAME": "阜阳市应急管理局", "EVAULT_LOG_JSON": "false", "GNUPGHOME": str(work / "gnupg")}
        (work / "gnupg").mkdir(mode=0o700)
        for name in ("EVAULT_DATABASE_URL", "EVAULT_STORE"):
            env.pop(name, None)
        size = seed(env, home, options.mib)
        report(rounds(work, env, home, options.rounds), size)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
