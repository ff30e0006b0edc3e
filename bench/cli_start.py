"""How fast `evault` answers: `--version`, `upload --help`, `--help` and the real start of an upload against
`python -c pass` (the floor).

    .venv/bin/python bench/cli_start.py                 # 15 alternating rounds
    .venv/bin/python bench/cli_start.py --rounds 30 --evault /path/to/venv/bin/evault

Each round runs every command once, in turn, so a slow moment of the machine hits all of them alike. Prints the
median and spread (min to max) of the wall time, the ratio of the median to the floor, and the peak memory of the
runs (each child's own rusage from os.wait4, in MiB). Issue 17 asks `upload --help` and the start of an upload
to answer in under 0.3 s; the tests never assert wall time, this script is where it is measured.

"upload (start)" is a real `evault upload` of a one-byte file to a port nothing listens on, with
`--wait-for-vault 0`: it parses the tags, imports everything the transfer needs, tries the vault once and exits 75
(vault unreachable). That is the whole start of an upload up to its first connection.

With --first-patch it also runs a real `evault serve` and uploads a fresh 1 MiB recording through a relay that
notes when the first PATCH request line passes: "upload (first PATCH)" is the time from starting the command to
that moment (token check, key fetch, hash, creation included), the start an officer waits through. Those rounds
run after the others: the vault this process sets up would otherwise swell every child's peak RSS."""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def timed(command: list[str]) -> tuple[float, int, int, float]:
    """Run a command to completion; return its wall time in seconds, its peak resident set in KiB, its exit
    status and its CPU seconds (user + system: steadier than wall time on a loaded machine)."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage, not the running maximum of all children
    elapsed = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, usage.ru_maxrss, child.returncode, usage.ru_utime + usage.ru_stime


def _closed_port() -> int:
    """Return a local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class PatchRelay:
    """A TCP relay in front of the vault that notes the moment the first PATCH request line goes through it."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.first_patch: float | None = None
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.listener.accept()
            server = socket.create_connection(("127.0.0.1", self.upstream))
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, outbound: bool) -> None:
        try:
            while data := source.recv(1 << 20):
                if outbound and self.first_patch is None and data.startswith(b"PATCH "):
                    self.first_patch = time.perf_counter()
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                end.close()


def first_patch_seconds(evault: str, relay: PatchRelay, token: str, work: Path, number: int) -> float:
    """Upload a fresh 1 MiB recording through the relay; return the seconds from start to the first PATCH."""
    from _ingest_common import make_media

    footage = make_media(work / f"DSJ0001_{number:04d}.MP4", 1024 * 1024, work)
    relay.first_patch = None
    env = {**os.environ, "EVAULT_TOKEN": token, "EVAULT_SERVER": f"http://127.0.0.1:{relay.port}"}
    started = time.perf_counter()
    subprocess.run([evault, "upload", str(footage), "--handler", "B001", "--party-informed", "--quiet",
                    "--state-dir", str(work / "state")], env=env, check=True, stdout=subprocess.DEVNULL)
    if relay.first_patch is None:
        raise SystemExit("the upload sent no PATCH")
    return relay.first_patch - started


def main() -> None:
    """Run the rounds and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--evault", default=str(Path(sys.executable).parent / "evault"))
    parser.add_argument("--first-patch", action="store_true", help="also time a real upload to its first PATCH")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="evault-cli-start-"))
    (scratch / "DSJ0001_0001.MP4").write_bytes(b"\0")
    os.environ.update({"EVAULT_TOKEN": "refused-anyway", "EVAULT_CLIENT_DIR": str(scratch / "client")})
    upload_start = [args.evault, "--server", f"http://127.0.0.1:{_closed_port()}", "upload",
                    str(scratch / "DSJ0001_0001.MP4"), "--wait-for-vault", "0", "--recorder", "DSJ-0001",
                    "--handler", "14010219001", "--activity", "inspection"]
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "evault --version": [args.evault, "--version"],
        "evault upload --help": [args.evault, "upload", "--help"],
        "evault --help": [args.evault, "--help"],
        "evault upload (start)": upload_start,
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    peaks: dict[str, int] = dict.fromkeys(commands, 0)
    exits: dict[str, set[int]] = {name: set() for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for command in commands.values():  # one warm-up run each: page cache and .pyc files
        timed(command)
    for _ in range(args.rounds):
        for name, command in commands.items():
            elapsed, peak, status, used = timed(command)
            times[name].append(elapsed)
            cpu[name].append(used)
            exits[name].add(status)
            peaks[name] = max(peaks[name], peak)
    if args.first_patch:  # after the others: importing the vault here would swell every child's peak RSS
        relay, token, vault = _vault(scratch)
        try:
            times["upload (first PATCH)"] = [first_patch_seconds(args.evault, relay, token, scratch, number)
                                             for number in range(args.rounds)]
        finally:
            from _ingest_common import stop_server

            stop_server(vault)
    floor = statistics.median(times["python -c pass"])
    print(f"{'command':<24}{'median s':>10}{'min s':>8}{'max s':>8}{'x floor':>9}{'peak MiB':>10}{'CPU s':>7}  exit")
    for name, values in times.items():
        median = statistics.median(values)
        used = statistics.median(cpu.get(name) or [0.0])  # a child's CPU is not known before it exits
        statuses = ",".join(map(str, sorted(exits.get(name, {0}))))
        print(f"{name:<24}{median:>10.3f}{min(values):>8.3f}{max(values):>8.3f}{median / floor:>9.1f}"
              f"{peaks.get(name, 0) / 1024:>10.1f}{used:>7.3f}  {statuses}")
        print("    rounds: " + " ".join(f"{value:.3f}" for value in values))
    print(f"rounds: {args.rounds}; evault: {args.evault}; budget for `evault upload --help` and the upload's "
          "start: 0.300 s; the upload's start exits 75 (vault unreachable) by design")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def _vault(scratch: Path) -> tuple[PatchRelay, str, subprocess.Popen[bytes]]:
    """Start a real `evault serve` on a fresh embedded vault behind a PatchRelay; return both and the token."""
    from _ingest_common import free_port, prepare_vault, settings_env, start_server

    home = scratch / "vault"
    token = prepare_vault(home)
    port = free_port()
    process, _ = start_server(home, settings_env(home), port)
    return PatchRelay(port), token, process


if __name__ == "__main__":
    main()
