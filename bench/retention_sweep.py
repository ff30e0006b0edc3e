"""Benchmark: the retention sweep finds the due records among 1,000,000 in PostgreSQL through its index.

    scripts/postgres.sh start /tmp/evault-bench-pg 55434
    export EVAULT_BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:55434/postgres
    .venv/bin/python bench/retention_sweep.py

Creates (and drops) a database `evault_bench_retention`, bulk-loads N evidence rows and their retention states with
COPY, then times `retention.sweep.due_ids` (the sweep's own query) against the same query with index scans disabled
(the plain sequential scan PostgreSQL would otherwise do), and prints the EXPLAIN plan of both.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from evault.migrate import upgrade_database
from retention.sweep import due_ids
from vault.db import make_engine

RECORDS = int(os.environ.get("EVAULT_BENCH_RECORDS", "1000000"))
DUE_SHARE = float(os.environ.get("EVAULT_BENCH_DUE_SHARE", "0.001"))
DATABASE = "evault_bench_retention"
NOW = datetime(2030, 6, 1, tzinfo=UTC)


def _database_url() -> str:
    url = os.environ.get("EVAULT_BENCH_DATABASE_URL") or os.environ.get("EVAULT_TEST_DATABASE_URL")
    if not url:
        sys.exit("set EVAULT_BENCH_DATABASE_URL (start one with: scripts/postgres.sh start /tmp/evault-bench-pg PORT)")
    return url


def _fresh_database(url: str) -> str:
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    admin.dispose()
    return make_url(url).set(database=DATABASE).render_as_string(hide_password=False)


def _state_row(rng: random.Random, evidence_id: uuid.UUID) -> tuple[object, ...]:
    roll = rng.random()
    if roll < DUE_SHARE:  # retention ended, no hold: what the sweep must find
        until, state, held = NOW - timedelta(days=rng.randint(1, 300)), "active", False
    elif roll < DUE_SHARE * 2:  # ended but held: must not be found
        until, state, held = NOW - timedelta(days=rng.randint(1, 300)), "active", True
    elif roll < DUE_SHARE * 3:  # already disposed
        until, state, held = NOW - timedelta(days=rng.randint(300, 900)), "disposed", False
    elif roll < 0.2:  # open cases and long-term preservation: indefinite
        until, state, held = None, "active", False
    else:
        until, state, held = NOW + timedelta(days=rng.randint(1, 30 * 365)), "active", False
    return (evidence_id, "default", until, False, "kept until ... because: bench", 0, held, state, NOW)


def _load(url: str) -> tuple[int, float]:
    """Bulk-load the rows with COPY; return how many are due and the load time."""
    engine = make_engine(url)
    upgrade_database(engine)
    uploader = uuid.uuid4()
    rng = random.Random(20250331)
    started = time.perf_counter()
    due = 0
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("INSERT INTO users (id, name, display_name, role, active, created_at) "
                       "VALUES (%s, 'bench', '', 'officer', true, now())", (uploader,))
        ids = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(RECORDS)]
        with cursor.copy("COPY evidence (id, sha256, size, media_type, original_name, storage_backend, storage_key, "
                         "version_id, store_retain_until, uploader_id, uploaded_at, party_informed, confidentiality, "
                         "notes, media_info, status) FROM STDIN") as copy:
            for n, evidence_id in enumerate(ids):
                copy.write_row((evidence_id, f"{n:064x}", 1024, "video/mp4", "x.mp4", "local", f"{n:064x}", "1", NOW,
                                uploader, NOW, False, "none", "", "{}", "stored"))
        with cursor.copy("COPY retention_states (evidence_id, retention_class, retain_until, permanent, reason, "
                         "policy_version, held, queue_state, computed_at, floor_permanent) FROM STDIN") as copy:
            for evidence_id in ids:
                row = _state_row(rng, evidence_id)
                due += row[7] == "active" and not row[6] and row[2] is not None and row[2] <= NOW  # type: ignore[operator]
                copy.write_row((*row, False))
        raw.commit()
        cursor.execute("ANALYZE evidence")
        cursor.execute("ANALYZE retention_states")
        raw.commit()
    finally:
        raw.close()
    engine.dispose()
    return due, time.perf_counter() - started


def _time_sweep(url: str, *, index: bool, repeats: int = 5) -> tuple[list[float], int, list[str]]:
    engine = make_engine(url)
    timings: list[float] = []
    found = 0
    with Session(engine) as session:
        if not index:
            session.execute(text("SET enable_indexscan = off"))
            session.execute(text("SET enable_bitmapscan = off"))
            session.execute(text("SET enable_indexonlyscan = off"))
        for _ in range(repeats):
            began = time.perf_counter()
            found = len(due_ids(session, NOW))
            timings.append(time.perf_counter() - began)
        query = (  # the statement due_ids issues, spelled out for EXPLAIN
            "EXPLAIN (ANALYZE, BUFFERS) SELECT evidence_id FROM retention_states "
            "WHERE queue_state = 'active' AND held = false AND retain_until <= :now ORDER BY retain_until LIMIT 100000"
        )
        plan = [row[0] for row in session.execute(text(query), {"now": NOW})]
    engine.dispose()
    return timings, found, plan


def main() -> None:
    """Load, time the sweep query with and without its index, print the figures and plans."""
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    url = _fresh_database(_database_url())
    due, load_seconds = _load(url)
    print(f"loaded {RECORDS:,} records (+ {RECORDS:,} retention states) with COPY in {load_seconds:.1f} s "
          f"({2 * RECORDS / load_seconds:,.0f} rows/s); {due:,} are due")
    indexed, found, plan = _time_sweep(url, index=True)
    scanned, found_scan, scan_plan = _time_sweep(url, index=False, repeats=3)
    assert found == found_scan == due, (found, found_scan, due)
    best, median = min(indexed), statistics.median(indexed)
    print(f"sweep query (ix_retention_states_due): found {found:,} due in best {best * 1000:.1f} ms, "
          f"median {median * 1000:.1f} ms over {len(indexed)} runs -> {'PASS' if median < 1.0 else 'FAIL'} (< 1 s)")
    print(f"same query, index scans disabled (sequential scan): median {statistics.median(scanned) * 1000:.1f} ms; "
          f"ratio {statistics.median(scanned) / median:.1f}x slower than the indexed sweep")
    print("plan (indexed):")
    for line in plan:
        print(f"  {line}")
    print("plan (sequential):")
    for line in scan_plan[:6]:
        print(f"  {line}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MiB")
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
    admin.dispose()


if __name__ == "__main__":
    main()
