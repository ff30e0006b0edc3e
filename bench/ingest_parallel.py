"""A full docking station: 8 parallel 256 MiB uploads, aggregate throughput, and catalog-read p99 under load.

    .venv/bin/python bench/ingest_parallel.py                    # 8 x 256 MiB, single-request uploads
    .venv/bin/python bench/ingest_parallel.py --uploads 4 --size 64M --mode tus
    .venv/bin/python bench/ingest_parallel.py --rgw 127.0.0.1:7480   # into Ceph RGW vs aws s3 cp --recursive
    .venv/bin/python bench/ingest_parallel.py --database-url postgresql+psycopg://...   # the catalog on PostgreSQL

Every round takes fresh files and alternates which goes first: the uploads or the plain tool on the same files
(dd conv=fdatasync of the same total, or `aws s3 cp --recursive` of the same folder). Prints every round, the
median and min-max of the aggregate MB/s of both, the ratio of the medians, the p50/p99 latency of
GET /api/evidence while the uploads run, and the server's peak RSS.
"""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.queues
import multiprocessing.synchronize
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _ingest_common import (
    MIB,
    RgwVault,
    dd_seconds,
    make_media,
    parse_size,
    peak_rss_mb,
    prepare_vault,
    remove_originals,
    settings_env,
    start_server,
    stop_server,
    upload_single,
    upload_tus,
)


def poll_catalog(url: str, token: str, stop: multiprocessing.synchronize.Event,
                 results: multiprocessing.queues.Queue[list[float]]) -> None:
    """Read the catalog repeatedly until stopped, then put every latency in milliseconds on results.

    Runs in a process of its own: a thread beside the eight upload threads would share their GIL, and the
    figure would then measure the benchmark's client as much as the server.
    """
    latencies: list[float] = []
    with httpx.Client(timeout=httpx.Timeout(120.0), headers={"Authorization": f"Bearer {token}"}) as client:
        while not stop.is_set():
            started = time.perf_counter()
            response = client.get(f"{url}/api/evidence", params={"limit": 50})
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"catalog read failed: {response.status_code} {response.text[:200]}")
            time.sleep(0.05)
    results.put(latencies)


def _aws_copy_seconds(rgw: RgwVault, folder: Path) -> float:
    started = time.perf_counter()
    rgw.aws("s3", "cp", "--recursive", str(folder), f"s3://{rgw.plain_bucket}/docked/")
    elapsed = time.perf_counter() - started
    rgw.aws("s3", "rm", "--recursive", f"s3://{rgw.plain_bucket}/docked/")
    return elapsed


def upload_all(url: str, token: str, sources: list[Path], mode: str, latencies: list[float]) -> float:
    """Upload every source at once while polling the catalog into latencies; return the wall seconds."""
    upload = upload_tus if mode == "tus" else upload_single
    spawn = multiprocessing.get_context("spawn")
    stop, results = spawn.Event(), spawn.Queue()
    poller = spawn.Process(target=poll_catalog, args=(url, token, stop, results), daemon=True)
    poller.start()
    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=len(sources)) as pool:
            receipts = list(pool.map(lambda p: upload(url, token, p, p.name), sources))
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        latencies += results.get(timeout=300)
        poller.join()
    assert len({r["evidence_id"] for r in receipts}) == len(sources)
    return elapsed


def percentile(values: list[float], share: float) -> float:
    """Return the nearest-rank percentile of values."""
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * share + 0.5) - 1)] if ordered else float("nan")


def summarise(total: float, vault: list[float], plain: list[float], tool: str, latencies: list[float]) -> None:
    """Print the medians and min-max of both, the ratio of the medians, and the catalog latencies."""
    def spread(seconds: list[float]) -> str:
        rates = [total / s for s in seconds]
        return f"{statistics.median(rates):.1f} MB/s ({min(rates):.1f}-{max(rates):.1f})"

    print(f"median (min-max) of {len(vault)} rounds: aggregate {spread(vault)}; {tool} {spread(plain)}; "
          f"ratio {statistics.median(plain) / statistics.median(vault):.2f}")
    print(f"catalog reads during the uploads: n={len(latencies)} p50={percentile(latencies, 0.5):.1f} ms "
          f"p99={percentile(latencies, 0.99):.1f} ms max={max(latencies, default=float('nan')):.1f} ms")


def run(work: Path, count: int, size: int, mode: str, endpoint: str | None, rounds: int,
        database_url: str | None = None) -> None:
    """Upload count fresh files of size at once while polling the catalog, alternating with the plain tool."""
    home = work / "vault"
    rgw = RgwVault.create(home, endpoint) if endpoint else None
    catalog = {"database_url": database_url} if database_url else {}
    token, env = (rgw.token, rgw.env) if rgw else (
        prepare_vault(home, **catalog), settings_env(home, **{f"EVAULT_{k.upper()}": v for k, v in catalog.items()}))
    tool = "aws s3 cp --recursive" if rgw else "dd conv=fdatasync"
    server, url = start_server(home, env)
    total = size * count / MIB
    vault_times: list[float] = []
    plain_times: list[float] = []
    latencies: list[float] = []
    try:
        where = "PostgreSQL" if database_url else "SQLite"
        print(f"{count} x {size // MIB} MiB ({mode}) at once, {rounds} alternating rounds, catalog on {where}")
        print(f"{'round':>5} {'vault MB/s':>11} {'plain MB/s':>11} {'ratio':>6} {'catalog p99 ms':>15}")
        for number in range(rounds):
            folder = work / f"docked-{number}"
            folder.mkdir()
            sources = [make_media(folder / f"recorder-{i}.mp4", size, work) for i in range(count)]
            loaded: list[float] = []
            for step in ("plain", "vault") if number % 2 == 0 else ("vault", "plain"):
                if step == "vault":
                    vault_times.append(upload_all(url, token, sources, mode, loaded))
                else:
                    plain_times.append(_aws_copy_seconds(rgw, folder) if rgw else dd_seconds(home, size * count))
            latencies += loaded
            shutil.rmtree(folder)
            rgw.empty() if rgw else remove_originals(home / "objects")
            print(f"{number + 1:>5} {total / vault_times[-1]:>11.1f} {total / plain_times[-1]:>11.1f} "
                  f"{plain_times[-1] / vault_times[-1]:>6.2f} {percentile(loaded, 0.99):>15.1f}", flush=True)
        summarise(total, vault_times, plain_times, tool, latencies)
        print(f"server peak RSS: {peak_rss_mb(server.pid):.1f} MB")
    finally:
        stop_server(server)
        if rgw is not None:
            rgw.remove()


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=8)
    parser.add_argument("--size", default="256M")
    parser.add_argument("--mode", choices=["single", "tus"], default="single")
    parser.add_argument("--rgw", metavar="HOST:PORT", help="upload into an S3 endpoint (Ceph RGW) instead")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp dir)")
    parser.add_argument("--database-url", default=None,
                        help="an empty PostgreSQL database for the catalog (default: the embedded SQLite)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="evault-bench-", dir=args.work))
    try:
        run(work, args.uploads, parse_size(args.size), args.mode, args.rgw, args.rounds, args.database_url)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
