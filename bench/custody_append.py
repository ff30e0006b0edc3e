"""Benchmark what the custody append adds to a commit while 8 writers commit at once (SQLite or PostgreSQL).

    .venv/bin/python bench/custody_append.py                                   # SQLite in a scratch home
    .venv/bin/python bench/custody_append.py --database-url postgresql+psycopg://postgres@127.0.0.1:PORT/postgres

8 threads each run `--commits` transactions, as 8 concurrent uploads registering their records would: one catalog
row (a user row, the smallest real row) per transaction, then the commit. In the rounds "with custody" each
transaction also appends one custody event through `record_event`, and the commit hook signs a checkpoint note
and anchors it in the local store, exactly as an upload's commit does. Rounds alternate (without, with, ...).
Prints the commit latency (begin to commit returned) p50 and p99 of each round, their medians and spread, the p99
added by the append (with minus without, target <= 2 ms), peak RSS and the machine's load.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

from sqlalchemy import text

from evault.setup import open_vault
from vault.config import Settings
from vault.context import VaultContext
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.identities.actor import SYSTEM
from vault.keys import create_keys
from vault.logging import configure_logging
from vault.storage.local import LocalBlobStore

WRITERS = 8


def _one_commit(context: VaultContext, *, custody: bool) -> float:
    started = time.perf_counter()
    with context.sessions() as session:
        user_id = uuid.uuid4()
        session.execute(text("INSERT INTO users (id, name, display_name, role, active, created_at) "
                             "VALUES (:id, :name, '', 'officer', true, CURRENT_TIMESTAMP)"),
                        {"id": user_id.hex if session.bind and session.bind.dialect.name == "sqlite" else user_id,
                         "name": f"bench-{user_id.hex[:16]}"})
        if custody:
            record_event(session=session, actor=SYSTEM, action=CustodyAction.EVIDENCE_REGISTERED,
                         subject_type="evidence", subject_id=uuid.uuid4(),
                         details={"sha256": "0" * 64, "size": 1 << 28, "recorder": "DSJ-0421"})
        session.commit()
    return time.perf_counter() - started


def run_round(context: VaultContext, commits: int, *, custody: bool) -> list[float]:
    """Run WRITERS threads of `commits` transactions each; return every commit's latency in seconds."""
    latencies: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(WRITERS)

    def writer() -> None:
        start.wait()
        mine = [_one_commit(context, custody=custody) for _ in range(commits)]
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def percentile(values: list[float], share: float) -> float:
    """Return the value below which `share` of the values lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    """Alternate rounds without and with the custody append; print the latencies and what the append adds."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=100, help="commits per writer per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each kind")
    parser.add_argument("--database-url", default=None, help="default: SQLite in the scratch home")
    parser.add_argument("--window-ms", type=int, default=0,
                        help="EVAULT_CUSTODY_SIGN_WINDOW_MS: 0 signs and anchors in every commit")
    args = parser.parse_args()
    configure_logging(json_output=False, level="WARNING")
    workdir = Path(tempfile.mkdtemp(prefix="evault-custody-append-"))
    settings = Settings(home=workdir / "home", database_url=args.database_url, log_json=False,
                        agency_name="阜阳市应急管理局", log_level="WARNING",
                        custody_sign_window_ms=args.window_ms)
    create_keys(settings.keys_dir)
    context = open_vault(settings, store=LocalBlobStore(settings.objects_dir))
    results: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    try:
        run_round(context, 5, custody=True)  # warm-up: connections, the first anchor
        for _ in range(args.rounds):
            for custody in (False, True):
                latencies = run_round(context, args.commits, custody=custody)
                results[custody].append((percentile(latencies, 0.5), percentile(latencies, 0.99)))
    finally:
        dialect = context.engine.dialect.name
        context.close()
    print(f"{WRITERS} writers x {args.commits} commits a round, {args.rounds} rounds each, alternating; {dialect}; "
          f"signing window {args.window_ms} ms")
    for custody in (False, True):
        print(f"{'with' if custody else 'without'} custody, every round p50/p99 ms: "
              + ", ".join(f"{p50 * 1000:.2f}/{p99 * 1000:.2f}" for p50, p99 in results[custody]))
    print(f"{'':<22}{'p50 ms':>8}{'p99 ms':>8}{'p99 min':>9}{'p99 max':>9}")
    for custody, label in ((False, "without custody"), (True, "with custody append")):
        p50s, p99s = [r[0] * 1000 for r in results[custody]], [r[1] * 1000 for r in results[custody]]
        print(f"{label:<22}{statistics.median(p50s):>8.2f}{statistics.median(p99s):>8.2f}{min(p99s):>9.2f}"
              f"{max(p99s):>9.2f}")
    added = [(w[1] - wo[1]) * 1000 for w, wo in zip(results[True], results[False], strict=True)]
    print(f"p99 added by the append: median {statistics.median(added):.2f} ms (rounds: "
          f"{', '.join(f'{a:.2f}' for a in added)}) -> {'PASS' if statistics.median(added) <= 2 else 'FAIL'}"
          " (<= 2 ms)")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
