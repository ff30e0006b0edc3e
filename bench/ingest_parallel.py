"""A full docking station: 8 parallel 256 MiB uploads, aggregate throughput, and catalog-read p99 under load.

    .venv/bin/python bench/ingest_parallel.py                    # 8 x 256 MiB, single-request uploads
    .venv/bin/python bench/ingest_parallel.py --uploads 4 --size 64M --mode tus
    .venv/bin/python bench/ingest_parallel.py --rgw 127.0.0.1:7480   # into Ceph RGW vs aws s3 cp --recursive

Prints the aggregate MB/s, its ratio to the plain tool on the same files in the same run (dd conv=fdatasync of
the same total, or `aws s3 cp --recursive` of the same folder), the p50/p99 latency of GET /api/evidence while
the uploads run, and the server's peak RSS.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
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
    settings_env,
    start_server,
    stop_server,
    upload_single,
    upload_tus,
)


def poll_catalog(url: str, token: str, stop: threading.Event, latencies: list[float]) -> None:
    """Read the catalog repeatedly until stopped, recording each latency in milliseconds."""
    with httpx.Client(timeout=httpx.Timeout(120.0), headers={"Authorization": f"Bearer {token}"}) as client:
        while not stop.is_set():
            started = time.perf_counter()
            response = client.get(f"{url}/api/evidence", params={"limit": 50})
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"catalog read failed: {response.status_code} {response.text[:200]}")
            time.sleep(0.05)


def _aws_copy_seconds(rgw: RgwVault, folder: Path) -> float:
    started = time.perf_counter()
    rgw.aws("s3", "cp", "--recursive", str(folder), f"s3://{rgw.plain_bucket}/docked/")
    return time.perf_counter() - started


def run(work: Path, count: int, size: int, mode: str, endpoint: str | None) -> None:
    """Upload count files of size at once while polling the catalog."""
    home = work / "vault"
    folder = work / "docked"
    folder.mkdir()
    sources = [make_media(folder / f"recorder-{i}.mp4", size, work) for i in range(count)]
    rgw = RgwVault.create(home, endpoint) if endpoint else None
    if rgw is None:
        token, env = prepare_vault(home), settings_env(home)
        baseline, tool = dd_seconds(home, size * count), "dd conv=fdatasync"
    else:
        token, env = rgw.token, rgw.env
        baseline, tool = _aws_copy_seconds(rgw, folder), "aws s3 cp --recursive"
    server, url = start_server(home, env)
    upload = upload_tus if mode == "tus" else upload_single
    latencies: list[float] = []
    stop = threading.Event()
    poller = threading.Thread(target=poll_catalog, args=(url, token, stop, latencies), daemon=True)
    try:
        poller.start()
        time.sleep(0.5)
        idle = len(latencies)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=count) as pool:
            receipts = list(pool.map(lambda p: upload(url, token, p, p.name), sources))
        elapsed = time.perf_counter() - started
        stop.set()
        poller.join()
        assert len({r["evidence_id"] for r in receipts}) == count
        loaded = sorted(latencies[idle:])
        total = size * count / MIB
        p99 = loaded[max(0, int(len(loaded) * 0.99) - 1)] if loaded else float("nan")
        print(f"uploads: {count} x {size // MIB} MiB ({mode}) in {elapsed:.1f} s")
        print(f"aggregate: {total / elapsed:.1f} MB/s; {tool} of {total:.0f} MiB: {total / baseline:.1f} MB/s; "
              f"ratio {baseline / elapsed:.2f}")
        print(f"catalog reads during load: n={len(loaded)} p50={statistics.median(loaded):.1f} ms "
              f"p99={p99:.1f} ms max={loaded[-1]:.1f} ms")
        print(f"server peak RSS: {peak_rss_mb(server.pid):.1f} MB")
    finally:
        stop.set()
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
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp dir)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="evault-bench-", dir=args.work))
    try:
        run(work, args.uploads, parse_size(args.size), args.mode, args.rgw)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
