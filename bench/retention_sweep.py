"""Benchmark: the nightly retention sweep, end to end, over 1,000,000 records with 10,000 due (PostgreSQL + RGW).

    eval "$(scripts/postgres.sh start /tmp/evault-bench-pg 55434)"
    eval "$(scripts/ceph-rgw.sh start /tmp/evault-bench-rgw 55480)"
    EVAULT_BENCH_DATABASE_URL=$EVAULT_TEST_DATABASE_URL .venv/bin/python bench/retention_sweep.py

Creates (and drops) a database `evault_bench_retention` and a fresh Object Lock bucket. The due records' objects
really exist in RGW: small (1 KiB), written with `put_stream` and locked (GOVERNANCE) for a short while that has
passed before the sweep starts, so the sweep's store checks (HEAD: lock and legal hold) see real, expired locks.
Every other record is catalog-only (its storage key names no object): the sweep never touches the store for a
record that is not due. Catalog rows are bulk-loaded with COPY; the due records' stored retention is what
`compute_retention` gives, as a previous sweep would have left it.

Then it runs the real job as `evault worker` would, in a child process: `evault run-job retention_sweep`
(refresh from the custody log, recompute and lock sync of every due record, disposal guards, queueing with a
custody event each, reminders), and prints its wall time, due records a second and peak RSS (the child's own,
through /usr/bin/time). `--rounds N` (3) runs it N times, the queue put back between rounds, each round after a
plain one: the least the job must do with bare tools (HEAD of every due object with the minio client, 8 at a time,
one UPDATE and one INSERT, rolled back). It prints every round, the medians and their ratio. `--profile FILE`
first runs one more sweep under py-spy (wall time, waits included), left out of the medians. It also times the
sweep's due query alone against the same query with index scans disabled.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from evault.migrate import upgrade_database
from retention.policy import SHIPPED_POLICY, RecordFacts, compute_retention
from retention.sweep import due_ids
from vault.config import Settings
from vault.db import make_engine
from vault.keys import create_keys
from vault.logging import configure_logging
from vault.storage.base import BlobStore, LockMode, StoredBlob
from vault.storage.s3 import S3BlobStore

RECORDS = int(os.environ.get("EVAULT_BENCH_RECORDS", "1000000"))
DUE = int(os.environ.get("EVAULT_BENCH_DUE", "10000"))
DATABASE = "evault_bench_retention"
NOW = datetime.now(UTC).replace(microsecond=0)
# The due objects' store lock: long enough to be real, over before the sweep starts.
LOCK_SECONDS = int(os.environ.get("EVAULT_BENCH_LOCK_SECONDS", "60"))
# The agency's zone, as the job runs with it: a previous sweep wrote the reasons' dates in it, so the bench does too
# (in UTC, after 16:00 UTC every due record's reason named another day and the sweep logged a spurious change).
ZONE = "Asia/Shanghai"
# Store calls at a time in the plain reference round, as the sweep makes them.
PLAIN_THREADS = 8


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


def _store(bucket: str) -> S3BlobStore:
    endpoint = os.environ.get("EVAULT_BENCH_S3_ENDPOINT") or os.environ.get("EVAULT_TEST_S3_ENDPOINT")
    if not endpoint:
        sys.exit("set EVAULT_TEST_S3_ENDPOINT (start one with: scripts/ceph-rgw.sh start /tmp/evault-bench-rgw PORT)")
    store = S3BlobStore(endpoint=endpoint, access_key=os.environ.get("EVAULT_TEST_S3_ACCESS_KEY", "evaultci"),
                        secret_key=os.environ.get("EVAULT_TEST_S3_SECRET_KEY", "evaultci-secret-key"),
                        bucket=bucket, lock_mode=LockMode.GOVERNANCE)
    store.ensure_bucket()
    return store


Locked = tuple[StoredBlob, datetime]


def _put_due_objects(store: BlobStore, count: int) -> tuple[list[Locked], float]:
    """Write `count` small locked objects, 8 at a time; return them with their locks, and the seconds it took."""
    started = time.perf_counter()

    def put(n: int) -> Locked:
        until = datetime.now(UTC) + timedelta(seconds=LOCK_SECONDS)
        blob = store.put_stream(io.BytesIO(n.to_bytes(8, "big") * 128), retain_until=until, content_type="video/mp4")
        return blob, until

    with ThreadPoolExecutor(8) as pool:
        blobs = list(pool.map(put, range(count)))
    return blobs, time.perf_counter() - started


def _state_row(rng: random.Random, evidence_id: uuid.UUID) -> tuple[object, ...]:
    roll = rng.random()
    if roll < 0.002:  # ended but held: must not be queued
        until, state, held = NOW - timedelta(days=rng.randint(1, 300)), "active", True
    elif roll < 0.004:  # already disposed
        until, state, held = NOW - timedelta(days=rng.randint(300, 900)), "disposed", False
    elif roll < 0.2:  # open cases and long-term preservation: indefinite
        until, state, held = None, "active", False
    else:
        until, state, held = NOW + timedelta(days=rng.randint(1, 30 * 365)), "active", False
    return (evidence_id, "default", until, False, "kept until ... because: bench", 0, held, state, NOW, False)


def _due_state(evidence_id: uuid.UUID, uploaded: datetime, lock: datetime) -> tuple[object, ...]:
    facts = RecordFacts(evidence_id=evidence_id, clock_start=uploaded, store_retain_until=lock)
    # As the previous sweep left it: the retention rules ended years ago, the store's own lock is their floor.
    after_lock = lock + timedelta(seconds=1)
    decision = compute_retention(facts, SHIPPED_POLICY, after_lock, zone=ZoneInfo(ZONE))
    assert decision.retain_until is not None and decision.retain_until <= after_lock, decision
    return (evidence_id, decision.retention_class.value, decision.retain_until, decision.permanent, decision.reason,
            decision.policy_version, False, "active", NOW, decision.permanent)


def _load(url: str, blobs: list[Locked]) -> float:
    """Bulk-load the catalog with COPY: the due records name the objects in RGW, the rest name none."""
    engine = make_engine(url)
    upgrade_database(engine)
    rng = random.Random(20250331)
    started = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        uploader = uuid.uuid4()
        cursor.execute("INSERT INTO users (id, name, display_name, role, active, created_at) "
                       "VALUES (%s, 'bench', '', 'officer', true, now())", (uploader,))
        ids = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(RECORDS)]
        due_at = set(rng.sample(range(RECORDS), len(blobs)))
        old, recent = NOW - timedelta(days=6 * 366), NOW - timedelta(days=30)
        objects = iter(blobs)
        with cursor.copy("COPY evidence (id, sha256, size, media_type, original_name, storage_backend, storage_key, "
                         "version_id, store_retain_until, uploader_id, uploaded_at, party_informed, confidentiality, "
                         "notes, media_info, status) FROM STDIN") as copy:
            rows_for_states = []
            for n, evidence_id in enumerate(ids):
                if n in due_at:
                    blob, lock = next(objects)
                    copy.write_row((evidence_id, blob.sha256, blob.size, "video/mp4", "x.mp4", "s3", blob.key,
                                    blob.version_id, lock, uploader, old, False, "none", "", "{}", "stored"))
                    rows_for_states.append(_due_state(evidence_id, old, lock))
                else:
                    copy.write_row((evidence_id, f"{n:064x}", 1024, "video/mp4", "x.mp4", "s3", f"absent/{n:064x}",
                                    "1", NOW, uploader, recent, False, "none", "", "{}", "stored"))
                    rows_for_states.append(_state_row(rng, evidence_id))
        with cursor.copy("COPY retention_states (evidence_id, retention_class, retain_until, permanent, reason, "
                         "policy_version, held, queue_state, computed_at, floor_permanent) FROM STDIN") as states:
            for row in rows_for_states:
                states.write_row(row)
        raw.commit()
        cursor.execute("ANALYZE evidence")
        cursor.execute("ANALYZE retention_states")
        raw.commit()
    finally:
        raw.close()
    engine.dispose()
    return time.perf_counter() - started


def _time_sweep(url: str, at: datetime, *, index: bool, repeats: int = 5) -> tuple[list[float], int, list[str]]:
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
            found = len(due_ids(session, at))
            timings.append(time.perf_counter() - began)
        query = (  # the statement due_ids issues, spelled out for EXPLAIN
            "EXPLAIN (ANALYZE, BUFFERS) SELECT evidence_id FROM retention_states "
            "WHERE queue_state = 'active' AND held = false AND retain_until <= :now ORDER BY retain_until LIMIT 100000"
        )
        plan = [row[0] for row in session.execute(text(query), {"now": at})]
    engine.dispose()
    return timings, found, plan


def _vault_home() -> Path:
    """Create the one vault home every round runs in: one signing key, or a round refuses the last one's anchors."""
    home = Path(tempfile.mkdtemp(prefix="evault-bench-sweep-"))
    create_keys(Settings(home=home).keys_dir)
    return home


def _run_job(url: str, bucket: str, home: Path, profile: str | None,
             source: str | None) -> tuple[float, float, dict[str, object]]:
    """Run `evault run-job retention_sweep` in a child (from `source` if given); return wall seconds, peak RSS in
    MiB and its summary."""
    env = {**os.environ, **({"PYTHONPATH": source} if source else {}),
           "EVAULT_HOME": str(home), "EVAULT_DATABASE_URL": url, "EVAULT_STORE": "s3",
           "EVAULT_S3_ENDPOINT": os.environ.get("EVAULT_BENCH_S3_ENDPOINT") or os.environ["EVAULT_TEST_S3_ENDPOINT"],
           "EVAULT_S3_ACCESS_KEY": os.environ.get("EVAULT_TEST_S3_ACCESS_KEY", "evaultci"),
           "EVAULT_S3_SECRET_KEY": os.environ.get("EVAULT_TEST_S3_SECRET_KEY", "evaultci-secret-key"),
           "EVAULT_S3_BUCKET": bucket, "EVAULT_S3_LOCK_MODE": "GOVERNANCE", "EVAULT_AGENCY_NAME": "阜阳市应急管理局",
           "EVAULT_TIMEZONE": ZONE,
           "EVAULT_HOST_CONFIG_DIR": str(home / "host")}
    rss = home / "peak-rss-kib"
    job = [str(Path(sys.executable).parent / "evault"), "run-job", "retention_sweep"]
    # /usr/bin/time reports the job's own peak RSS; wait4 would count the size of this process it was forked from.
    command = ["/usr/bin/time", "-f", "%M", "-o", str(rss), *job]
    if profile:  # py-spy runs the job itself, so its peak RSS is not measured; --idle keeps the samples spent
        # waiting for PostgreSQL and RGW, so the profile splits wall time, not CPU time
        command = [str(Path(sys.executable).parent / "py-spy"), "record", "--idle", "-r", "50", "-f", "raw",
                   "-o", profile, "--", *job]
    started = time.perf_counter()
    # Started outside any source tree, so that PYTHONPATH, not the current folder, decides which code runs.
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=tempfile.gettempdir())
    out, err = child.communicate()
    elapsed = time.perf_counter() - started
    if child.returncode != 0:
        sys.exit(f"the sweep failed ({child.returncode}): {err[-2000:]}")
    problems = [line for line in err.splitlines() if "[warning" in line or "[error" in line]
    for line in problems[:5]:
        print(f"  sweep logged: {line[:400]}")
    peak = int(rss.read_text().strip().splitlines()[-1]) / 1024 if rss.exists() else float("nan")
    summary, _ = json.JSONDecoder().raw_decode(out[out.index("{"):])  # py-spy may print after it
    return elapsed, peak, summary


def _reset_queue(url: str) -> None:
    """Put the due records back as the previous night left them: active, no reminder sent (the log keeps growing)."""
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE retention_states SET queue_state = 'active' WHERE queue_state = 'due'"))
        conn.execute(text("UPDATE retention_states SET reminded_for = NULL WHERE reminded_for IS NOT NULL"))
    engine.dispose()


def _plain_round(url: str, store: S3BlobStore, blobs: list[Locked]) -> float:
    """Time the least the sweep must do without the vault: HEAD every due object (8 at a time), one UPDATE queueing
    them, one INSERT of an event row each; rolled back. Return the seconds."""
    client = store._client  # the bare minio client: the plain tool, not the vault's adapter
    started = time.perf_counter()
    with ThreadPoolExecutor(PLAIN_THREADS) as pool:
        list(pool.map(lambda blob: client.stat_object(store.bucket, blob[0].key, version_id=blob[0].version_id),
                      blobs))
    engine = make_engine(url)
    with engine.connect() as conn, conn.begin() as tx:
        ids = [str(row[0]) for row in conn.execute(text(
            "SELECT evidence_id FROM retention_states WHERE queue_state = 'active' AND held = false "
            "AND retain_until <= now() ORDER BY retain_until LIMIT 100000"))]
        conn.execute(text("UPDATE retention_states SET queue_state = 'due' "
                          "WHERE evidence_id = ANY(CAST(:ids AS uuid[]))"), {"ids": ids})
        conn.execute(text("CREATE TEMP TABLE plain_events (subject_id text, details text) ON COMMIT DROP"))
        conn.execute(text("INSERT INTO plain_events SELECT i, '{}' FROM unnest(CAST(:ids AS text[])) AS i"),
                     {"ids": ids})
        tx.rollback()
    engine.dispose()
    return time.perf_counter() - started


def _spread(values: list[float]) -> str:
    return (f"median {statistics.median(values):,.0f} (min {min(values):,.0f}, max {max(values):,.0f}; "
            f"every round: {', '.join(f'{v:,.0f}' for v in values)})")


def _sweep_round(url: str, bucket: str, home: Path, profile: str | None, number: int,
                 source: str | None = None) -> float:
    """Run the job once and print its round; return its due records a second."""
    seconds, peak, summary = _run_job(url, bucket, home, profile, source)
    outcomes = summary.get("outcomes", {})
    queued = outcomes.get("queued", 0) if isinstance(outcomes, dict) else 0
    which = "baseline " if source else ""
    print(f"round {number} {which}evault run-job retention_sweep: {seconds:.1f} s wall, {queued:,} of {DUE:,} due "
          f"queued, {queued / seconds:,.0f} due records/s, peak RSS {peak:.0f} MiB -> "
          f"{'PASS' if seconds < 60 else 'FAIL'} (< 60 s); {json.dumps(outcomes)}, "
          f"failed {summary.get('failed_count')}; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if queued != DUE:
        sys.exit(f"the sweep queued {queued} of {DUE} due records")
    return queued / seconds


def main() -> None:
    """Load, time the due query, run the whole nightly sweep in rounds alternating with the plain reference."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", metavar="FILE",
                        help="first run one more sweep under py-spy (not counted), raw samples into FILE")
    parser.add_argument("--rounds", type=int, default=3, help="sweep rounds, each after a plain round")
    parser.add_argument("--baseline", metavar="DIR", help="also sweep with the packages in DIR (an older checkout's "
                        "vault, ingest, retention and evault), alternating with this tree's")
    args = parser.parse_args()
    configure_logging(json_output=False, level="WARNING")
    url = _fresh_database(_database_url())
    bucket = f"bench-sweep-{uuid.uuid4().hex[:12]}"
    store = _store(bucket)
    blobs, put_seconds = _put_due_objects(store, DUE)
    print(f"stored {DUE:,} small locked objects in RGW in {put_seconds:.1f} s ({DUE / put_seconds:,.0f}/s)")
    load_seconds = _load(url, blobs)
    print(f"loaded {RECORDS:,} records (+ their retention states) with COPY in {load_seconds:.1f} s; {DUE:,} are due")
    wait = max(blob_lock for _, blob_lock in blobs) - datetime.now(UTC)
    if wait.total_seconds() > 0:
        time.sleep(wait.total_seconds() + 1)  # the locks must have run out, as a due record's have
    at = datetime.now(UTC)
    indexed, found, _ = _time_sweep(url, at, index=True)
    scanned, _, _ = _time_sweep(url, at, index=False, repeats=3)
    print(f"due query alone: {found:,} due, median {statistics.median(indexed) * 1000:.1f} ms "
          f"(min {min(indexed) * 1000:.1f}, max {max(indexed) * 1000:.1f}); sequential scan "
          f"{statistics.median(scanned) * 1000:.1f} ms, {statistics.median(scanned) / statistics.median(indexed):.1f}x")
    home = _vault_home()
    if args.profile:  # an extra sweep under py-spy, outside the medians: sampling slows it
        _sweep_round(url, bucket, home, args.profile, 0)
    swept: list[float] = []
    plain: list[float] = []
    baseline: list[float] = []
    for number in range(1, args.rounds + 1):
        if number > 1 or args.profile:
            _reset_queue(url)
        plain.append(DUE / _plain_round(url, store, blobs))
        print(f"round {number} plain (HEAD x{DUE:,}, {PLAIN_THREADS} at a time, + one UPDATE and one INSERT): "
              f"{plain[-1]:,.0f} records/s")
        swept.append(_sweep_round(url, bucket, home, None, number))
        if args.baseline:
            _reset_queue(url)
            baseline.append(_sweep_round(url, bucket, home, None, number, args.baseline))
    print(f"sweep due records/s: {_spread(swept)}")
    print(f"plain records/s:     {_spread(plain)}")
    if baseline:
        print(f"baseline records/s:  {_spread(baseline)}; this tree / baseline: "
              f"{statistics.median(swept) / statistics.median(baseline):.2f} (medians)")
    print(f"sweep / plain: {statistics.median(swept) / statistics.median(plain):.2f} (medians); "
          "the machine is shared: see each round's load average")
    engine = make_engine(url)
    with engine.connect() as conn:
        events = conn.scalar(text("SELECT count(*) FROM custody_events"))
        checkpoints = conn.scalar(text("SELECT count(*) FROM custody_checkpoints"))
    engine.dispose()
    print(f"{args.rounds} sweeps appended {events:,} custody events under {checkpoints:,} signed, anchored checkpoints")
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
    admin.dispose()


if __name__ == "__main__":
    main()
