"""Benchmark the custody log's full verification: events checked a second, against plain hashing of the same bytes.

    .venv/bin/python bench/custody_verify.py                          # 1,000,000 events in SQLite, 3 rounds
    .venv/bin/python bench/custody_verify.py --events 200000 --database-url postgresql+psycopg://...

Builds a vault home (keys, schema, local store) and a log of N events by bulk load: each batch of
`--checkpoint-every` events gets the next log indexes under the append lock (`next_log_index`), its leaf hashes
from the log's own `canonical_entry` and `leaf_hash`, and is committed through the real commit hook, which signs a
checkpoint note over the batch and anchors it in the store. So the log is valid by the same code that checks it.

Each round, alternating, times:
- verification: `verify_anchored_log`, the function behind `evault verify-log` (host) and `GET /api/custody/verify`
  (what `evault audit verify` calls), over every entry, checkpoint and anchor;
- the plain baseline: Python's hashlib over the same canonical bytes (SHA-256 of 0x00 || entry, as RFC 9162
  hashes a leaf), already in memory, no database and no tree;
then runs `evault verify-log` itself once as a child process, for its wall time and peak RSS.
Prints events/s, median and spread (min to max of every round), the ratio to the baseline, peak RSS and the load.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from evault.setup import open_vault
from vault.config import Settings
from vault.context import VaultContext
from vault.custody.merkle import leaf_hash
from vault.custody.models import CustodyAction, CustodyEvent
from vault.custody.service import canonical_entry, next_log_index
from vault.custody.verification import verify_anchored_log
from vault.db import transaction
from vault.keys import create_keys
from vault.logging import configure_logging
from vault.storage.local import LocalBlobStore

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
ACTIONS = (CustodyAction.EVIDENCE_VIEWED, CustodyAction.EVIDENCE_METADATA_VIEWED, CustodyAction.EVIDENCE_REGISTERED,
           CustodyAction.EVIDENCE_TAGGED, CustodyAction.EVIDENCE_DOWNLOADED, CustodyAction.USER_SIGNED_IN)


def _event(rng: random.Random, index: int, people: list[tuple[uuid.UUID, str]]) -> CustodyEvent:
    actor_id, actor_name = people[index % len(people)]
    action = ACTIONS[rng.randrange(len(ACTIONS))]
    subject = uuid.UUID(int=rng.getrandbits(128), version=4)
    details: dict[str, Any] = {"range": f"bytes={rng.randrange(1 << 30)}-", "via": "web", "purpose": "审查"}
    if action == CustodyAction.EVIDENCE_TAGGED:
        details = {"case_number": f"阜应急罚字〔2026〕{index % 997}号", "handlers": ["14010219001", "14010219002"]}
    entry = CustodyEvent(log_index=index, at=START + timedelta(milliseconds=index * 37), actor_id=actor_id,
                         actor_name=actor_name, action=str(action), subject_type="evidence", subject_id=str(subject),
                         case_id=subject if index % 3 == 0 else None, details=details)
    entry.leaf_hash = leaf_hash(canonical_entry(entry)).hex()
    return entry


def build_log(context: VaultContext, events: int, batch: int) -> float:
    """Append `events` entries in committed batches, each signed and anchored by the commit hook; return seconds."""
    rng = random.Random(20261207)
    people = [(uuid.UUID(int=rng.getrandbits(128), version=4), f"officer.{n}") for n in range(40)]
    started = time.perf_counter()
    while True:
        with transaction(context.sessions) as session:
            first = next_log_index(session)
            if first >= events:
                break
            rows = [_event(rng, i, people) for i in range(first, min(first + batch, events))]
            session.execute(insert(CustodyEvent), [
                {c: getattr(row, c) for c in ("log_index", "at", "actor_id", "actor_name", "action", "subject_type",
                                              "subject_id", "case_id", "details", "leaf_hash")} for row in rows])
            session.info["custody_dirty"] = True  # what record_event sets: the commit signs and anchors a checkpoint
    return time.perf_counter() - started


def canonical_bytes(session: Session) -> list[bytes]:
    """Read every entry once, as plain rows, and return its canonical bytes, for the baseline."""
    columns = [CustodyEvent.__table__.c[name] for name in ("log_index", "at", "actor_id", "actor_name", "action",
                                                           "subject_type", "subject_id", "case_id", "details")]
    rows = session.connection().execute(select(*columns).order_by(CustodyEvent.log_index)
                                        .execution_options(yield_per=5000))
    return [canonical_entry(row) for row in rows]


def hash_leaves(entries: list[bytes]) -> float:
    """Hash every leaf with hashlib (the baseline); return seconds."""
    started = time.perf_counter()
    for data in entries:
        hashlib.sha256(b"\x00" + data).digest()
    return time.perf_counter() - started


def verify(context: VaultContext) -> tuple[float, int, bool]:
    """Verify the whole log in-process; return seconds, entries checked and whether it was found intact."""
    started = time.perf_counter()
    with context.sessions() as session:
        verdict = verify_anchored_log(session=session, anchors=context.anchors)
    if not verdict.ok:
        print("\n".join(verdict.problems[:5]), file=sys.stderr)
    return time.perf_counter() - started, verdict.entries, verdict.ok


def verify_log_child(settings: Settings) -> tuple[float, float, str]:
    """Run `evault verify-log` once; return its wall seconds, peak RSS in MiB and last line of output."""
    env = {**os.environ, "EVAULT_HOME": str(settings.home), "EVAULT_DATABASE_URL": settings.resolved_database_url,
           "EVAULT_AGENCY_NAME": settings.agency_name, "EVAULT_HOST_CONFIG_DIR": str(settings.home.parent / "host")}
    with tempfile.NamedTemporaryFile("r") as rss:
        # /usr/bin/time reports the command's own peak RSS; wait4 on a child forked from this large process
        # would report this process's size too.
        started = time.perf_counter()
        done = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name,
                               str(Path(sys.executable).parent / "evault"), "verify-log"],
                              env=env, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
        peak = int(rss.read().strip().splitlines()[-1]) / 1024
    return elapsed, peak, f"exit {done.returncode}: {done.stdout.strip()[-200:]}"


def _spread(label: str, values: list[float], events: int, baseline: float | None) -> str:
    rates = [events / v for v in values]
    ratio = f"{statistics.median(rates) / baseline:>8.2f}" if baseline else f"{'1.00':>8}"
    return (f"{label:<34}{statistics.median(rates):>12,.0f}{min(rates):>12,.0f}{max(rates):>12,.0f}{ratio}"
            f"{statistics.median(values):>9.2f}")


def main() -> None:
    """Build the log, time verification against the baseline in alternating rounds, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--checkpoint-every", type=int, default=10_000, help="events per commit (one checkpoint)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="default: SQLite in the scratch home")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="evault-custody-", dir=args.workdir))
    settings = Settings(home=workdir / "home", database_url=args.database_url, log_json=False,
                        agency_name="阜阳市应急管理局", log_level="WARNING")
    configure_logging(json_output=False, level="WARNING")
    create_keys(settings.keys_dir)
    context = open_vault(settings, store=LocalBlobStore(settings.objects_dir))
    try:
        built = build_log(context, args.events, args.checkpoint_every)
        print(f"built {args.events:,} events in {built:.1f} s ({args.events / built:,.0f}/s), a signed, anchored "
              f"checkpoint every {args.checkpoint_every:,}; database {context.engine.dialect.name}")
        with context.sessions() as session:
            entries = canonical_bytes(session)
        verified: list[float] = []
        hashed: list[float] = []
        for _ in range(args.rounds):
            seconds, checked, ok = verify(context)
            assert ok and checked == args.events, (ok, checked)
            verified.append(seconds)
            hashed.append(hash_leaves(entries))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        del entries
        child_seconds, child_peak, child_output = verify_log_child(settings)
    finally:
        context.close()
    baseline = statistics.median(args.events / v for v in hashed)
    print(f"{'':<34}{'events/s':>12}{'min':>12}{'max':>12}{'x plain':>8}{'med s':>9}")
    print(_spread("verify_anchored_log (in process)", verified, args.events, baseline))
    print(_spread("plain: hashlib over the leaves", hashed, args.events, None))
    print(f"evault verify-log (child): {child_seconds:.2f} s, {args.events / child_seconds:,.0f} events/s including "
          f"start-up, peak RSS {child_peak:.0f} MiB; {child_output}")
    print(f"rounds {args.rounds}; target >= 200,000 events/s; this process's peak RSS {peak:.0f} MiB (holds the "
          f"baseline's bytes); load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
