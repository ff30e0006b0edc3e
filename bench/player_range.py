"""A 1 MiB range through the player's endpoint with the web session cookie vs the API with a bearer token.

    .venv/bin/python bench/player_range.py [--mib 64] [--ranges 100] [--rounds 6]

Sets up a throwaway vault (SQLite + local store) with one original and a reviewer's approved grant, starts a real
`evault serve` (uvicorn), and fetches the same random 1 MiB ranges of GET /api/evidence/{id}/play, authorised
once by `Authorization: Bearer` (the API today) and once by the session cookie the player's `<video>` sends.
Rounds alternate which goes first; each round fetches the same ranges in the same order. Prints per round and
the median (with min-max spread) of ms per range and MB/s for each, their ratio, and the server's peak RSS.
Issue 13: the player's endpoint may cost no more than the API does today (about 29 ms per 1 MiB range).
"""

from __future__ import annotations

import argparse
import random
import re
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from playback import free_port, peak_rss_mib, setup_vault, start_server
from sqlalchemy import select

from vault.config import Settings
from vault.context import build_context
from vault.identities.actor import SYSTEM
from vault.identities.models import User
from vault.identities.sign_in import set_password

MIB = 1024 * 1024
PASSWORD = "player-bench-密码-2026"  # a throwaway vault's reviewer


@dataclass(frozen=True)
class Vault:
    """The throwaway vault: its home, the reviewer's token and the record to play."""

    home: Path
    token: str
    record: str
    size: int


def _setup(home: Path, mib: int) -> Vault:
    """Create the vault, one random-bytes original and a reviewer's grant to it (the playback bench's vault)."""
    _, token, record, _, _, size = setup_vault(home, mib)
    return Vault(home=home, token=token, record=record, size=size)


def _set_password(home: Path, name: str) -> None:
    """Give the reviewer a password through the identities service (`evault users` now talks to a server)."""
    context = build_context(Settings(home=home))
    try:
        with context.sessions() as session:
            user = session.scalars(select(User).where(User.name == name)).one()
            set_password(session=session, actor=SYSTEM, user=user, password=PASSWORD, now=datetime.now(UTC))
            session.commit()
    finally:
        context.close()


def bearer_client(base: str, vault: Vault) -> httpx.Client:
    """Return a client that authorises with the reviewer's API token."""
    return httpx.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {vault.token}"})


def cookie_client(base: str, vault: Vault) -> httpx.Client:
    """Return a client signed in through the sign-in form: it holds the session cookie, as the browser does."""
    client = httpx.Client(base_url=base, timeout=60, follow_redirects=True)
    form = client.get("/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    data = {"name": "reviewer", "password": PASSWORD, "csrf_token": token.group(1) if token else ""}
    signed_in = client.post("/sign-in", data=data)
    if signed_in.status_code != 200 or not client.cookies:
        raise SystemExit(f"sign-in failed: {signed_in.status_code}")
    return client


def _fetch_ranges(client: httpx.Client, url: str, starts: list[int], step: int) -> list[float]:
    """Fetch each range once; return seconds per range."""
    times = []
    for start in starts:
        end = start + step - 1
        began = time.perf_counter()
        response = client.get(url, headers={"Range": f"bytes={start}-{end}"})
        times.append(time.perf_counter() - began)
        if response.status_code != 206 or len(response.content) != step:
            raise SystemExit(f"range {start}-{end} failed: {response.status_code} {response.text[:200]}")
    return times


def _summary(label: str, per_round: list[float], step: int) -> str:
    mid = statistics.median(per_round)
    return (f"{label:<28} {mid * 1000:6.1f} ms per range (spread {min(per_round) * 1000:.1f}-"
            f"{max(per_round) * 1000:.1f}), {step / 1e6 / mid:7.1f} MB/s")


def run(
    vault: Vault, base: str, ranges: int, rounds: int, step: int,
    makers: dict[str, Callable[[str, Vault], httpx.Client]],
) -> dict[str, list[float]]:
    """Run alternating rounds of the same ranges with each client; return the mean seconds per range per round."""
    shuffle = random.Random(13)
    starts = [shuffle.randrange(0, vault.size - step) for _ in range(ranges)]
    clients = {label: make(base, vault) for label, make in makers.items()}
    url = f"/api/evidence/{vault.record}/play"
    results: dict[str, list[float]] = {label: [] for label in clients}
    try:
        for client in clients.values():  # warm up: the first requests open connections and fill caches
            _fetch_ranges(client, url, starts[:10], step)
        for round_number in range(rounds):
            order = list(clients) if round_number % 2 == 0 else list(reversed(clients))
            for label in order:
                times = _fetch_ranges(clients[label], url, starts, step)
                results[label].append(statistics.fmean(times))
            print(f"round {round_number + 1}: " + ", ".join(
                f"{label} {results[label][-1] * 1000:.1f} ms" for label in clients), flush=True)
    finally:
        for client in clients.values():
            client.close()
    return results


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=64, help="size of the original in MiB")
    parser.add_argument("--ranges", type=int, default=100, help="1 MiB ranges per client per round")
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds")
    parser.add_argument("--bearer-only", action="store_true", help="skip the cookie half (no web sign-in)")
    args = parser.parse_args()
    makers: dict[str, Callable[[str, Vault], httpx.Client]] = {"bearer (API)": bearer_client}
    if not args.bearer_only:
        makers["cookie (player)"] = cookie_client
    with tempfile.TemporaryDirectory(prefix="evault-bench-") as folder:
        vault = _setup(Path(folder) / "home", args.mib)
        if not args.bearer_only:
            _set_password(vault.home, "reviewer")
        port = free_port()
        server = start_server(vault.home, port)
        try:
            results = run(vault, f"http://127.0.0.1:{port}", args.ranges, args.rounds, MIB, makers)
            server_rss = peak_rss_mib(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"{args.rounds} rounds of {args.ranges} random 1 MiB ranges of a {args.mib} MiB original, "
          "GET /api/evidence/{id}/play; median of the rounds' mean:")
    for label, per_round in results.items():
        print(_summary(label, per_round, MIB))
    if len(results) == 2:
        bearer, cookie = (statistics.median(v) for v in results.values())
        print(f"ratio cookie / bearer (time per range):  {cookie / bearer:.2f}")
    print(f"peak RSS: server {server_rss:.0f} MiB, "
          f"bench client {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
