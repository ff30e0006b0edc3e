"""The officer's uploader on a recorder folder (`evault upload FOLDER`) against curl's single PATCH per file.

Every round makes two folders of fresh files (the vault would answer a second copy of the same bytes as a
duplicate): one goes through the real client (tus, one streamed PATCH per file, --jobs files at once, receipts
verified and written beside each file), the other through curl, one file after another, each a tus creation and one
PATCH, into the same `evault serve`. Rounds alternate which goes first; it prints every round, the medians and min-max,
the ratio of the medians, the CPU seconds per GiB of the server and of the client on each path (steady on a
shared machine, where MB/s is not), and the client's and the server's peak RSS.

    .venv/bin/python bench/uploader_folder.py                     # 10 x 200 MB, 5 rounds, on the disk
    .venv/bin/python bench/uploader_folder.py --dir /dev/shm --files 4 --size 64M --rounds 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _ingest_common import EVAULT, MIB, make_media, parse_size, peak_rss_mb, stop_server
from tus_peers import Target, cpu_seconds, curl_tus, empty, spread, start_vault


def make_folder(folder: Path, files: int, size: int, work: Path) -> Path:
    """Write a recorder folder of files fresh media files of size bytes."""
    folder.mkdir()
    for number in range(files):
        make_media(folder / f"VID_{number:04d}.mp4", size, work)
    return folder


def run_client(vault: Target, folder: Path, jobs: int, state: Path, evault: Path = EVAULT,
               ) -> tuple[float, float, float]:
    """Upload folder with `evault upload`; return its wall seconds, its peak RSS in MB and its CPU seconds."""
    token = vault.headers[0].split()[-1]
    env = {**os.environ, "EVAULT_SERVER": vault.create_url.removesuffix("/api/uploads"), "EVAULT_TOKEN": token}
    started = time.perf_counter()
    process = subprocess.Popen([str(evault), "upload", str(folder), "--handler", "B001", "--party-informed",
                                "--quiet", "--jobs", str(jobs), "--state-dir", str(state)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"evault upload failed: {process.stderr.read().decode()[-500:] if process.stderr else ''}")
    receipts = list(folder.glob("*receipt*"))
    if len(receipts) != len(list(folder.glob("*.mp4"))):
        raise SystemExit(f"evault upload wrote {len(receipts)} receipts for {folder}")
    return elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def run_curl(vault: Target, folder: Path) -> tuple[float, float]:
    """Upload every file of folder with curl, one after another, each in one PATCH; return seconds and curl's CPU."""
    before = os.times()
    seconds = sum(curl_tus(vault, path) for path in sorted(folder.glob("*.mp4")))
    after = os.times()
    return seconds, after.children_user + after.children_system - before.children_user - before.children_system


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10, help="files in the recorder folder (default 10)")
    parser.add_argument("--size", default="200M", help="size of each file (default 200M)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--jobs", type=int, default=4, help="evault upload --jobs (default 4, the client's own)")
    parser.add_argument("--dir", type=Path, default=None, help="scratch folder (default: a temp dir on the disk)")
    parser.add_argument("--port", type=int, default=7120, help="the vault's port")
    parser.add_argument("--evault", type=Path, default=EVAULT, help="the client to measure (default: this venv's)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="evault-folder-", dir=args.dir))
    size = parse_size(args.size)
    total = args.files * size / MIB
    vault = start_vault(work / "vault", args.port)
    client_rates: list[float] = []
    curl_rates: list[float] = []
    client_rss: list[float] = []
    cpu: dict[str, list[tuple[float, float]]] = {"client": [], "curl": []}
    try:
        os.system("uptime")  # noqa: S605 - the machine's load belongs beside the figures
        print(f"{'round':>5} {'evault upload MB/s':>19} {'curl MB/s':>10} {'ratio':>6} {'client RSS MB':>14}")
        for number in range(args.rounds):
            client_folder = make_folder(work / f"recorder-{number}", args.files, size, work)
            curl_folder = make_folder(work / f"curl-{number}", args.files, size, work)
            for step in ("curl", "client") if number % 2 == 0 else ("client", "curl"):
                used = cpu_seconds(vault.process.pid)
                if step == "curl":
                    seconds, client_cpu = run_curl(vault, curl_folder)
                    curl_rates.append(total / seconds)
                else:
                    seconds, rss, client_cpu = run_client(vault, client_folder, args.jobs, work / f"state-{number}",
                                                          args.evault)
                    client_rates.append(total / seconds)
                    client_rss.append(rss)
                cpu[step].append(((cpu_seconds(vault.process.pid) - used) * 1024 / total, client_cpu * 1024 / total))
            shutil.rmtree(client_folder)
            shutil.rmtree(curl_folder)
            empty(vault)
            print(f"{number + 1:>5} {client_rates[-1]:>19.1f} {curl_rates[-1]:>10.1f} "
                  f"{client_rates[-1] / curl_rates[-1]:>6.2f} {client_rss[-1]:>14.1f}", flush=True)
        print(f"\n{args.files} x {size // MIB} MiB, {args.rounds} rounds: median (min-max) MB/s")
        print(f"  evault upload {spread(client_rates)}  (--jobs {args.jobs}, {args.evault})")
        print(f"  curl          {spread(curl_rates)}  (one PATCH per file, one file at a time)")
        for step, name in (("client", "evault upload"), ("curl", "curl")):
            print(f"  CPU s/GiB with {name}: server {statistics.median(c[0] for c in cpu[step]):.2f}, "
                  f"client {statistics.median(c[1] for c in cpu[step]):.2f}")
        print(f"  ratio {statistics.median(client_rates) / statistics.median(curl_rates):.2f}; peak RSS: client "
              f"{max(client_rss):.1f} MB, server {peak_rss_mb(vault.process.pid):.1f} MB", flush=True)
        os.system("uptime")  # noqa: S605
    finally:
        stop_server(vault.process)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
