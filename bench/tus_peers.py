"""The vault's tus ingest beside two tus peers, the disk (dd conv=fdatasync) and the hash (openssl), in one run.

Installs its peers from the registries into a scratch folder: `@tus/server` 2 with its FileStore (Node, npm) and
`tuspyserver` (FastAPI, PyPI, run by uvicorn). Starts a real `evault serve` on an embedded vault. The same curl
client sends each file to all three as a tus creation and then one PATCH streamed from the file (`-T file`:
`--data-binary @file` refuses files of 1 GiB and more, "out of memory"), timed by curl's own time_total. Every
round takes fresh bytes and rotates the order of the steps, each after a `sync` (so no step pays for the
write-back of the one before); per size it prints every round, the median and min-max, the ratios of the
medians, the CPU seconds each server spent per GiB (steady on a shared machine, where MB/s is not) and the peak
RSS (VmHWM) of each server.

    .venv/bin/python bench/tus_peers.py                          # 1 GiB and 4 GiB, 5 rounds, on the disk
    .venv/bin/python bench/tus_peers.py --dir /dev/shm           # the same with the disk taken out
    .venv/bin/python bench/tus_peers.py --sizes 256M --rounds 3 --peers-cache /tmp/tus-peers
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from urllib.parse import urljoin

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _ingest_common import (
    MIB,
    make_media,
    parse_size,
    peak_rss_mb,
    prepare_vault,
    remove_originals,
    settings_env,
    start_server,
    stop_server,
)

NODE_SERVER = """\
import { Server } from '@tus/server';
import { FileStore } from '@tus/file-store';
const [port, directory] = process.argv.slice(2);
const server = new Server({ path: '/files', datastore: new FileStore({ directory }) });
server.listen({ host: '127.0.0.1', port: Number(port) });
"""
PY_SERVER = """\
import os
from fastapi import FastAPI
from tuspyserver import create_tus_router
app = FastAPI()
app.include_router(create_tus_router(prefix="files", files_dir=os.environ["TUS_FILES_DIR"]))
"""
VAULT, NODE, PY = "vault", "@tus/server", "tuspyserver"


@dataclass
class Target:
    """A running tus server, how to create an upload on it, and where its bytes land (emptied every round)."""

    name: str
    process: subprocess.Popen[bytes]
    create_url: str
    files: Path
    headers: list[str] = field(default_factory=list)
    metadata: str | None = None


def install_peers(cache: Path) -> Path:
    """Install both peers into cache (once) and write their small server scripts; return cache."""
    node = cache / "node"
    if not (node / "node_modules" / "@tus" / "file-store").exists():
        node.mkdir(parents=True, exist_ok=True)
        (node / "package.json").write_text(json.dumps({"private": True, "type": "module"}))
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "@tus/server@2", "@tus/file-store@2"],
                       cwd=node, check=True, stdout=subprocess.DEVNULL)
    (node / "server.mjs").write_text(NODE_SERVER)
    python = cache / "py"
    if not (python / "bin" / "uvicorn").exists():
        subprocess.run([sys.executable, "-m", "venv", str(python)], check=True)
        subprocess.run([str(python / "bin" / "pip"), "install", "-q", "tuspyserver", "uvicorn"], check=True)
    (python / "app.py").write_text(PY_SERVER)
    return cache


def wait_for_port(process: subprocess.Popen[bytes], port: int, name: str) -> None:
    """Wait until a server accepts connections on port."""
    for _ in range(300):
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{name} did not start on port {port}")


def start_node(cache: Path, files: Path, port: int) -> Target:
    """Start @tus/server with a FileStore in files."""
    files.mkdir(parents=True)
    process = subprocess.Popen(["node", str(cache / "node" / "server.mjs"), str(port), str(files)],
                               cwd=cache / "node", stdout=subprocess.DEVNULL)
    wait_for_port(process, port, NODE)
    return Target(NODE, process, f"http://127.0.0.1:{port}/files", files)


def start_tuspy(cache: Path, files: Path, port: int) -> Target:
    """Start tuspyserver's router in a FastAPI app under uvicorn, storing into files."""
    files.mkdir(parents=True)
    python = cache / "py"
    process = subprocess.Popen([str(python / "bin" / "uvicorn"), "app:app", "--host", "127.0.0.1", "--port", str(port),
                                "--log-level", "warning", "--no-access-log"],
                               cwd=python, env={**os.environ, "TUS_FILES_DIR": str(files)}, stdout=subprocess.DEVNULL)
    wait_for_port(process, port, PY)
    return Target(PY, process, f"http://127.0.0.1:{port}/files", files)


def start_vault(home: Path, port: int) -> Target:
    """Start `evault serve` on a fresh embedded vault whose officer holds certificate B001."""
    token = prepare_vault(home)
    process, url = start_server(home, settings_env(home), port)
    b64 = base64.b64encode
    metadata = f"filename {b64(b'bench.mp4').decode()},handlers {b64(b'B001').decode()}"
    return Target(VAULT, process, f"{url}/api/uploads", home / "objects", [f"Authorization: Bearer {token}"],
                  metadata)


def curl_tus(target: Target, path: Path) -> float:
    """Create an upload with curl, send the file in one PATCH, and return curl's own seconds for both."""
    headers = ["Tus-Resumable: 1.0.0", *target.headers]
    args = [arg for header in headers for arg in ("-H", header)]
    create = ["curl", "-sS", "-X", "POST", *args, "-H", f"Upload-Length: {path.stat().st_size}",
              "-D", "-", "-o", "/dev/null", "-w", "%{time_total}"]
    if target.metadata:
        create += ["-H", f"Upload-Metadata: {target.metadata}"]
    created = subprocess.run([*create, target.create_url], check=True, capture_output=True, text=True).stdout
    lines = created.splitlines()
    location = next(line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("location:"))
    patch = ["curl", "-sS", "-X", "PATCH", *args, "-H", "Upload-Offset: 0",
             "-H", "Content-Type: application/offset+octet-stream", "-H", "Expect:", "-T", str(path),
             "-o", "/dev/null", "-w", "%{http_code} %{time_total}", urljoin(target.create_url, location)]
    status, seconds = subprocess.run(patch, check=True, capture_output=True, text=True).stdout.split()
    if status != "204":
        raise SystemExit(f"{target.name}: PATCH answered {status}")
    return float(lines[-1]) + float(seconds)


def empty(target: Target) -> None:
    """Remove what a server stored in a round (the throwaway vault's originals too: tmpfs holds few rounds)."""
    if target.name == VAULT:
        remove_originals(target.files)
        return
    for item in target.files.rglob("*"):
        if item.is_file():
            item.unlink()


def dd_file(path: Path, directory: Path) -> float:
    """Time `dd if=path of=directory/x bs=4M conv=fdatasync`."""
    target = directory / "dd.bin"
    started = time.perf_counter()
    subprocess.run(["dd", f"if={path}", f"of={target}", "bs=4M", "conv=fdatasync"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    target.unlink()
    return elapsed


def openssl_file(path: Path) -> float:
    """Time `openssl dgst -sha256 path`."""
    started = time.perf_counter()
    subprocess.run(["openssl", "dgst", "-sha256", str(path)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def cpu_seconds(pid: int) -> float:
    """Return the CPU seconds (user + system) a process and its waited-for children (ffprobe) have used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def spread(values: list[float]) -> str:
    """Format the median and min-max of values."""
    return f"{statistics.median(values):7.1f} ({min(values):.1f}-{max(values):.1f})"


def every(values: list[float]) -> str:
    """Format every round's value."""
    return ", ".join(f"{v:.0f}" for v in values)


def summarise(size: int, rates: dict[str, list[float]], cpu: dict[str, list[float]], servers: list[Target]) -> None:
    """Print medians, spreads, ratios and peak RSS of one size, and say which ratios the noise makes meaningless."""
    med = {name: statistics.median(values) for name, values in rates.items()}
    print(f"\n{size // MIB} MiB, {len(rates[VAULT])} rounds: median (min-max) MB/s")
    for name, values in rates.items():
        used = f"   server CPU s/GiB {spread(cpu[name])}" if name in cpu else ""
        print(f"  {name:<12} {spread(values)}{used}")
    for peer in (NODE, PY):
        ratio = med[VAULT] / med[peer]
        overlap = min(rates[VAULT]) <= max(rates[peer]) and min(rates[peer]) <= max(rates[VAULT])
        note = " (the rounds' ranges overlap: within this run's noise)" if overlap else ""
        print(f"  vault / {peer:<12} {ratio:.2f}{note}")
    floor_name = "dd" if med["dd"] <= med["openssl"] else "openssl"
    floor = med[floor_name]
    print(f"  vault / min(dd, openssl) {med[VAULT] / floor:.2f}  (the slower is {floor_name}, {floor:.1f} MB/s)")
    dd_range, difference = max(rates["dd"]) - min(rates["dd"]), abs(med[VAULT] - floor)
    if dd_range > difference:
        print(f"  NOT MEANINGFUL: the dd rounds span {dd_range:.0f} MB/s ({every(rates['dd'])}), wider than the "
              f"{difference:.0f} MB/s between the vault ({every(rates[VAULT])}) and min(dd, openssl): the disk's "
              f"write cache or the machine's other load, not the servers, decides this ratio")
    print("  peak RSS: " + ", ".join(f"{s.name} {peak_rss_mb(s.process.pid):.1f} MB" for s in servers), flush=True)


def warm_up(servers: list[Target], work: Path) -> None:
    """Send each server one small upload first, so no round pays for a server's first request."""
    for server in servers:
        curl_tus(server, make_media(work / f"warm-{server.process.pid}.mp4", 4 * MIB, work))
        (work / f"warm-{server.process.pid}.mp4").unlink()
        empty(server)


def run_size(work: Path, size: int, rounds: int, cache: Path, ports: int) -> None:
    """Benchmark one size on fresh servers: every round fresh bytes, the order of the steps rotated."""
    base = work / f"servers-{size // MIB}"
    servers = [start_vault(base / "vault", ports), start_node(cache, base / "node", ports + 1),
               start_tuspy(cache, base / "tuspy", ports + 2)]
    rates: dict[str, list[float]] = {name: [] for name in [*(s.name for s in servers), "dd", "openssl"]}
    cpu: dict[str, list[float]] = {s.name: [] for s in servers}
    try:
        warm_up(servers, work)
        print(f"{'size':>6} {'round':>5} " + " ".join(f"{name:>12}" for name in rates) + "   (MB/s; order)")
        for number in range(rounds):
            source = make_media(work / f"src-{size // MIB}-{number}.mp4", size, work)
            steps: list[tuple[str, Callable[[], float]]] = [(s.name, partial(curl_tus, s, source)) for s in servers]
            steps += [("dd", partial(dd_file, source, work)), ("openssl", partial(openssl_file, source))]
            steps = steps[number % len(steps):] + steps[:number % len(steps)]
            for name, step in steps:
                # A server that does not fsync leaves its bytes to the kernel; without this, whichever step
                # comes next would pay for writing them back, and the rotation would turn that into noise.
                os.sync()
                pid = next((s.process.pid for s in servers if s.name == name), None)
                used = cpu_seconds(pid) if pid else 0.0
                rates[name].append(size / MIB / step())
                if pid:
                    cpu[name].append((cpu_seconds(pid) - used) / (size / 1024 / MIB))
            for server in servers:
                empty(server)
            source.unlink()
            print(f"{size // MIB:>5}M {number + 1:>5} " + " ".join(f"{v[-1]:>12.1f}" for v in rates.values())
                  + "   " + ",".join(name for name, _ in steps), flush=True)
        summarise(size, rates, cpu, servers)
    finally:
        for server in servers:
            stop_server(server.process)
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1G,4G", help="comma-separated sizes (default 1G,4G)")
    parser.add_argument("--rounds", type=int, default=5, help="rotated rounds per size (default 5)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="where files, stores and staging live (default: a temp dir on the disk; /dev/shm)")
    parser.add_argument("--peers-cache", type=Path, default=None,
                        help="install the peers here and reuse them (default: inside the scratch folder)")
    parser.add_argument("--port", type=int, default=7100, help="first of three ports for the servers")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="evault-tus-peers-", dir=args.dir))
    try:
        cache = install_peers(args.peers_cache or work / "peers")
        os.system("uptime")  # noqa: S605 - the machine's load belongs beside the figures
        for size in (parse_size(s) for s in args.sizes.split(",")):
            run_size(work, size, args.rounds, cache, args.port)
        os.system("uptime")  # noqa: S605
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
