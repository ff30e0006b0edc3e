"""Raw blob-store write throughput (local folder store, and Ceph RGW when configured) against `dd conv=fdatasync`.

Usage: .venv/bin/python bench/store_write.py [--mib 1024] [--s3-endpoint 127.0.0.1:7480]
The S3 part also compares against `aws s3 cp` of the same file to the same endpoint.
"""

from __future__ import annotations

import argparse
import os
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vault.storage.base import BlobStore, LockMode
from vault.storage.local import LocalBlobStore


def make_source(path: Path, mib: int) -> None:
    """Write mib MiB of random bytes (so nothing can be deduplicated or compressed)."""
    block = os.urandom(1024 * 1024)
    with path.open("wb") as out:
        for i in range(mib):
            out.write(i.to_bytes(8, "big") + block[8:])


def timed(action: object) -> float:
    started = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - started


def dd_seconds(source: Path, target: Path) -> float:
    return timed(lambda: subprocess.run(["dd", f"if={source}", f"of={target}", "bs=1M", "conv=fdatasync"],
                                        check=True, capture_output=True))


def store_seconds(store: BlobStore, source: Path) -> float:
    def put() -> None:
        with source.open("rb") as stream:
            store.put_stream(stream, retain_until=datetime.now(UTC) + timedelta(seconds=30))
    return timed(put)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(label: str, size: int, seconds: float, baseline: float, baseline_label: str) -> None:
    rate = size / seconds / 1e6
    base_rate = size / baseline / 1e6
    print(f"{label:<28} {rate:8.1f} MB/s   {baseline_label} {base_rate:8.1f} MB/s   ratio {rate / base_rate:5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--s3-endpoint", default=os.environ.get("EVAULT_TEST_S3_ENDPOINT"))
    parser.add_argument("--s3-access-key", default=os.environ.get("EVAULT_TEST_S3_ACCESS_KEY", "evaultci"))
    parser.add_argument("--s3-secret-key", default=os.environ.get("EVAULT_TEST_S3_SECRET_KEY", "evaultci-secret-key"))
    args = parser.parse_args()
    size = args.mib * 1024 * 1024
    with tempfile.TemporaryDirectory(dir=os.environ.get("EVAULT_BENCH_DIR", "/var/tmp")) as tmp:
        work = Path(tmp)
        source = work / "source.bin"
        make_source(source, args.mib)
        os.sync()  # the source's own writeback must not compete with the first measured run
        print(f"payload {args.mib} MiB, {args.rounds} interleaved rounds, "
              f"peak RSS before storing {peak_rss_mib():.0f} MiB")
        dd_runs, local_runs = [], []
        for _ in range(args.rounds):
            dd_runs.append(dd_seconds(source, work / "dd.out"))
            (work / "dd.out").unlink()
            store = LocalBlobStore(work / "objects")
            local_runs.append(store_seconds(store, source))
            shutil.rmtree(work / "objects")  # content addressing would otherwise make round 2 a no-op
            os.sync()
        dd = statistics.median(dd_runs)
        report("local folder store", size, statistics.median(local_runs), dd, "dd conv=fdatasync")
        if args.s3_endpoint:
            bench_s3(args, source, size, dd)
        print(f"peak RSS of this process: {peak_rss_mib():.0f} MiB")


def bench_s3(args: argparse.Namespace, source: Path, size: int, dd: float) -> None:
    from vault.storage.s3 import S3BlobStore

    bucket = f"bench-{uuid.uuid4().hex[:12]}"
    store = S3BlobStore(endpoint=args.s3_endpoint, access_key=args.s3_access_key, secret_key=args.s3_secret_key,
                        bucket=bucket, lock_mode=LockMode.GOVERNANCE)
    store.ensure_bucket()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": args.s3_access_key, "AWS_SECRET_ACCESS_KEY": args.s3_secret_key,
           "AWS_DEFAULT_REGION": "us-east-1"}
    aws = timed(lambda: subprocess.run(
        ["aws", "s3", "cp", str(source), f"s3://{bucket}/aws-cp.bin", "--endpoint-url", f"http://{args.s3_endpoint}",
         "--only-show-errors"], check=True, env=env))
    s3 = store_seconds(store, source)
    report("S3 store (Ceph RGW)", size, s3, dd, "dd conv=fdatasync")
    report("S3 store (Ceph RGW)", size, s3, aws, "aws s3 cp        ")


if __name__ == "__main__":
    main()
