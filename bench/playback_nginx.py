"""Ranged playback through the vault's player endpoint against Debian's nginx (or RGW) serving the same file.

    .venv/bin/python bench/playback_nginx.py [--mib 256] [--ranges 200] [--rounds 6]
    .venv/bin/python bench/playback_nginx.py --rgw 127.0.0.1:7280 --access-key KEY --secret-key SECRET
    .venv/bin/python bench/playback_nginx.py --profile server.txt   # py-spy samples of the server meanwhile

Sets up a throwaway vault (SQLite) with one random-bytes original and a reviewer's approved grant, starts a real
`evault serve` (uvicorn) and fetches 1 MiB `Range`s of GET /api/evidence/{id}/play twice: with the session cookie
the web player's `<video>` sends, and with the API's bearer token. The peer serves the same bytes of the same file:
on the local store, `/usr/sbin/nginx` with a config written here (`root` on the store's folder, `sendfile on`);
with `--rgw`, the vault stores into that RGW and the peer is a presigned ranged GET straight to RGW. One httpx
keep-alive client per target; rounds alternate the order of the targets and each fetches the same sequential and
the same random ranges. Prints per target MB/s (median and min-max of the rounds), ms per range (p50 and p99 of
every range), the ratio vault / peer, the p50 latency the vault adds per range, and the servers' peak RSS.
Issue 17: the target is >= 0.8 x nginx and <= 3 ms added at p50 on the local store.
"""

from __future__ import annotations

import argparse
import getpass
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from playback import free_port, peak_rss_mib, start_server
from player_range import Vault, _set_password, _setup, bearer_client, cookie_client
from sqlalchemy import select

from vault.config import Settings
from vault.context import build_context
from vault.evidence.models import Evidence
from vault.logging import configure_logging

MIB = 1024 * 1024
NGINX = "/usr/sbin/nginx"


@dataclass
class Target:
    """One way to fetch the ranges: a client, the URL of the bytes, and the per-range seconds of every round."""

    label: str
    client: httpx.Client
    url: str
    peer: bool = False
    rounds: dict[str, list[list[float]]] = field(default_factory=dict)


def _nginx_config(folder: Path, root: Path, port: int) -> Path:
    """Write a plain static-file config: one worker, sendfile, no access log, temp files in the bench folder."""
    user = "user root;\n" if os.geteuid() == 0 else ""  # as root, workers would run as nobody, who cannot read it
    config = folder / "nginx.conf"
    config.write_text(
        f"{user}worker_processes 1;\ndaemon off;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log warn;\n"
        "events { worker_connections 64; }\n"
        "http {\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 100000;\n"
        f"  client_body_temp_path {folder}/body;\n  proxy_temp_path {folder}/proxy;\n"
        f"  fastcgi_temp_path {folder}/fastcgi;\n  uwsgi_temp_path {folder}/uwsgi;\n  scgi_temp_path {folder}/scgi;\n"
        f"  server {{\n    listen 127.0.0.1:{port};\n    root {root};\n  }}\n}}\n",
        encoding="utf-8",
    )
    return config


@contextmanager
def nginx_serving(root: Path, folder: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """Run Debian's nginx on a free port with `root` on the folder; yield the port and the master process."""
    port = free_port()
    config = _nginx_config(folder, root, port)
    server = subprocess.Popen([NGINX, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(config)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield port, server
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextmanager
def profiled(pid: int, output: str | None) -> Iterator[None]:
    """Sample the server with py-spy (collapsed stacks into `output`) while the block runs; nothing without one."""
    if output is None:
        yield
        return
    spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "-r", "250",
                            "-f", "raw", "-o", output], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)  # py-spy attaches before the first range
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)


def nginx_peak_rss_mib(master: int) -> float:
    """Return the largest peak RSS among nginx's master and its workers."""
    pids = [master]
    children = Path(f"/proc/{master}/task/{master}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    return max(peak_rss_mib(pid) for pid in pids)


def _fetch(target: Target, starts: list[int], step: int) -> list[float]:
    """Fetch each range once with the target's client; return seconds per range."""
    times = []
    for start in starts:
        end = start + step - 1
        began = time.perf_counter()
        response = target.client.get(target.url, headers={"Range": f"bytes={start}-{end}"})
        body = response.content
        times.append(time.perf_counter() - began)
        if response.status_code != 206 or len(body) != step:
            raise SystemExit(f"{target.label}: range {start}-{end} failed: {response.status_code} {body[:200]!r}")
    return times


def _same_bytes(targets: list[Target], start: int, step: int) -> None:
    """Refuse to measure unless every target returns the same bytes for a range."""
    bodies = {t.label: t.client.get(t.url, headers={"Range": f"bytes={start}-{start + step - 1}"}).content
              for t in targets}
    if len(set(bodies.values())) != 1:
        raise SystemExit(f"targets disagree on bytes {start}-{start + step - 1}: not the same file")


def patterns(size: int, count: int, step: int) -> dict[str, list[int]]:
    """Return the sequential and the (seeded) random range starts every target fetches."""
    last = size - step
    shuffle = random.Random(17)
    return {
        "sequential": [(i * step) % (last + 1) for i in range(count)],
        "random": [shuffle.randrange(0, last + 1) for _ in range(count)],
    }


def run_rounds(targets: list[Target], starts: dict[str, list[int]], rounds: int, step: int) -> None:
    """Fetch every pattern with every target, alternating the targets' order each round."""
    for target in targets:  # warm-up: connections, page cache, the vault's first (durably logged) range
        _fetch(target, starts["random"][:10], step)
    _same_bytes(targets, starts["random"][0], step)
    for number in range(rounds):
        order = targets if number % 2 == 0 else list(reversed(targets))
        for name, pattern in starts.items():
            for target in order:
                target.rounds.setdefault(name, []).append(_fetch(target, pattern, step))
        print(f"round {number + 1}: " + ", ".join(
            f"{t.label} {statistics.fmean(t.rounds['sequential'][-1]) * 1000:.1f}/"
            f"{statistics.fmean(t.rounds['random'][-1]) * 1000:.1f} ms" for t in targets), flush=True)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(targets: list[Target], step: int) -> None:
    """Print per pattern and target: MB/s median and spread, p50/p99 ms, ratio and p50 added against the peer."""
    peer = next(t for t in targets if t.peer)
    for name in peer.rounds:
        peer_mbs = [len(r) * step / 1e6 / sum(r) for r in peer.rounds[name]]
        peer_p50 = _quantile([s for r in peer.rounds[name] for s in r], 0.5)
        print(f"\n{name} 1 MiB ranges ({len(peer.rounds[name])} rounds of {len(peer.rounds[name][0])}):")
        print(f"  {'target':<22} {'MB/s median':>11} {'spread':>15} {'p50 ms':>7} {'p99 ms':>7} "
              f"{'ratio':>6} {'ratio spread':>13} {'p50 added':>9}")
        for target in targets:
            mbs = [len(r) * step / 1e6 / sum(r) for r in target.rounds[name]]
            every = [s for r in target.rounds[name] for s in r]
            ratios = [m / p for m, p in zip(mbs, peer_mbs, strict=True)]
            p50 = _quantile(every, 0.5)
            print(f"  {target.label:<22} {statistics.median(mbs):11.1f} {min(mbs):7.1f}-{max(mbs):<7.1f} "
                  f"{p50 * 1000:7.2f} {_quantile(every, 0.99) * 1000:7.2f} "
                  f"{statistics.median(mbs) / statistics.median(peer_mbs):6.2f} "
                  f"{min(ratios):6.2f}-{max(ratios):<6.2f} {(p50 - peer_p50) * 1000:9.2f}")


def _rgw_settings(args: argparse.Namespace) -> dict[str, str]:
    """Return the EVAULT_* variables that put a fresh vault's store into its own bucket on the given RGW."""
    if not (args.access_key and args.secret_key):
        raise SystemExit("--rgw needs --access-key and --secret-key")
    return {"EVAULT_STORE": "s3", "EVAULT_S3_ENDPOINT": args.rgw, "EVAULT_S3_ACCESS_KEY": args.access_key,
            "EVAULT_S3_SECRET_KEY": args.secret_key, "EVAULT_S3_BUCKET": f"bench-play-{uuid.uuid4().hex[:12]}"}


def _vault_targets(base: str, vault: Vault) -> list[Target]:
    url = f"/api/evidence/{vault.record}/play"
    return [Target("vault cookie (player)", cookie_client(base, vault), url),
            Target("vault bearer (API)", bearer_client(base, vault), url)]


def _prepare(vault: Vault) -> tuple[Settings, str, str]:
    """Give the reviewer a web password; return the settings and the record's stored key and version."""
    _set_password(vault.home, "reviewer")
    settings = Settings(home=vault.home)
    context = build_context(settings)
    try:
        with context.sessions() as session:
            evidence = session.scalars(select(Evidence).where(Evidence.id == uuid.UUID(vault.record))).one()
            return settings, evidence.storage_key, evidence.version_id
    finally:
        context.close()


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256, help="size of the original in MiB")
    parser.add_argument("--ranges", type=int, default=200, help="1 MiB ranges per pattern, target and round")
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds")
    parser.add_argument("--rgw", metavar="HOST:PORT", help="store in this RGW; the peer is a presigned GET to it")
    parser.add_argument("--access-key", default=os.environ.get("EVAULT_TEST_S3_ACCESS_KEY", ""))
    parser.add_argument("--secret-key", default=os.environ.get("EVAULT_TEST_S3_SECRET_KEY", ""))
    parser.add_argument("--profile", metavar="FILE", help="py-spy the server during the rounds (collapsed stacks)")
    args = parser.parse_args()
    configure_logging(json_output=True, level="WARNING")
    if args.rgw:
        os.environ.update(_rgw_settings(args))  # read by Settings here and inherited by `evault serve`
    print(f"load before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} "
          f"({os.cpu_count()} cores)", flush=True)
    with tempfile.TemporaryDirectory(prefix="evault-bench-") as folder:
        vault = _setup(Path(folder) / "home", args.mib)
        settings, key, version = _prepare(vault)
        starts = patterns(vault.size, args.ranges, MIB)
        port = free_port()
        server = start_server(vault.home, port)
        targets: list[Target] = []
        try:
            targets += _vault_targets(f"http://127.0.0.1:{port}", vault)
            if args.rgw:
                context = build_context(settings)
                url = context.store.presign_get(key, version, expires_seconds=3600)
                context.close()
                assert url is not None
                targets.append(Target("RGW presigned GET", httpx.Client(timeout=60), url, peer=True))
                with profiled(server.pid, args.profile):
                    run_rounds(targets, starts, args.rounds, MIB)
                peer_rss = "RGW: not measured (not started here)"
            else:
                context = build_context(settings)
                path = context.store.local_path(key, version)
                context.close()
                assert path is not None
                scratch = Path(folder) / "nginx"
                scratch.mkdir()
                with nginx_serving(path.parent, scratch) as (nginx_port, nginx):
                    targets.append(Target("nginx (sendfile)", httpx.Client(timeout=60),
                                          f"http://127.0.0.1:{nginx_port}/{path.name}", peer=True))
                    with profiled(server.pid, args.profile):
                        run_rounds(targets, starts, args.rounds, MIB)
                    peer_rss = f"nginx {nginx_peak_rss_mib(nginx.pid):.0f} MiB"
            server_rss = peak_rss_mib(server.pid)
        finally:
            for target in targets:
                target.client.close()
            server.terminate()
            server.wait(timeout=30)
    print(f"\n{args.mib} MiB original, store {'s3 (RGW ' + args.rgw + ')' if args.rgw else 'local'}, "
          f"user {getpass.getuser()}")
    report(targets, MIB)
    print(f"\npeak RSS: vault server {server_rss:.0f} MiB, {peer_rss}, "
          f"bench client {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print(f"load after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
