"""Shared helpers of the ingest benchmarks: a throwaway vault, a real uvicorn server, media of any size."""

from __future__ import annotations

import os
import secrets
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from evault.setup import initialise, open_vault
from tests.media import make_video
from vault.config import Settings
from vault.db import transaction
from vault.identities.actor import SYSTEM
from vault.identities.models import Role
from vault.identities.service import HandlerInput, add_handler, create_user, issue_token

ROOT = Path(__file__).resolve().parents[1]
EVAULT = ROOT / ".venv" / "bin" / "evault"
CHUNK = 1024 * 1024
MIB = 1024 * 1024


def parse_size(text: str) -> int:
    """Parse 256M / 1G / 4G into bytes."""
    units = {"K": 1024, "M": MIB, "G": 1024 * MIB}
    text = text.strip().upper()
    return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)


def make_media(path: Path, size: int, work: Path) -> Path:
    """Write a valid faststart MP4 padded to `size` bytes with a `free` box (zeros; unique bytes).

    The padding is written for real and synced: a sparse file reads slowly the first time and would make the
    client, not the vault, the bottleneck; written pages stay in the page cache for the upload.
    """
    clip = make_video(work / f"seed-{secrets.token_hex(4)}.mp4", seconds=1.0, size="160x120")
    head = clip.read_bytes()
    clip.unlink()
    nonce = secrets.token_bytes(16)
    pad = size - len(head)
    with path.open("wb") as out:
        out.write(head)
        out.write(struct.pack(">I4sQ", 1, b"free", pad))  # 64-bit box size: the padding may exceed 4 GiB
        out.write(nonce)
        remaining, zeros = size - out.tell(), bytes(8 * MIB)
        while remaining > 0:
            remaining -= out.write(zeros[:remaining])
        out.flush()
        os.fsync(out.fileno())
    return path


def free_port() -> int:
    """Return a free TCP port on localhost."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings_env(home: Path, **extra: str) -> dict[str, str]:
    """Return the environment of a vault process with this home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVAULT_")}
    env.update({"EVAULT_HOME": str(home), "EVAULT_LOG_LEVEL": "WARNING", "EVAULT_LOG_JSON": "true",
                "EVAULT_MAX_UPLOAD_BYTES": str(64 * 1024 * MIB), **extra})
    return env


def prepare_vault(home: Path, **overrides: Any) -> str:
    """Initialise a vault and return the token of an officer holding certificate B001."""
    settings = Settings(home=home, log_json=True, **overrides)
    initialise(settings)
    context = open_vault(settings)
    try:
        with transaction(context.sessions) as session:
            add_handler(session=session, actor=SYSTEM, data=HandlerInput("B001", "基准", date(2020, 1, 1),
                                                                         date(2035, 1, 1)))
            user = create_user(session=session, actor=SYSTEM, name="bench-officer", role=Role.OFFICER,
                               handler_certificate="B001")
            return issue_token(session=session, actor=SYSTEM, user=user)
    finally:
        context.close()


def start_server(home: Path, env: dict[str, str], port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """Start `evault serve` (on port, or a free one) and wait until it answers /health."""
    port = port or free_port()
    process = subprocess.Popen([str(EVAULT), "serve", "--no-scheduler", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=(home / "server.log").open("wb"))
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"server did not start; see {home / 'server.log'}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """Stop the server started by start_server."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def peak_rss_mb(pid: int) -> float:
    """Return the peak resident set size (VmHWM) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def remove_originals(objects: Path) -> None:
    """Remove the originals a throwaway local vault stored (tmpfs holds only a few rounds of them)."""
    for item in objects.rglob("?" * 64):
        if item.is_file():
            item.unlink()


def file_chunks(path: Path) -> Iterator[bytes]:
    """Yield a file in 1 MiB chunks."""
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def upload_single(url: str, token: str, path: Path, name: str) -> dict[str, Any]:
    """POST one file as a streamed single request; return the receipt."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream",
               "Content-Length": str(path.stat().st_size), "Evault-Meta-Filename": name,
               "Evault-Meta-Handlers": "B001", "Evault-Meta-Party-Informed": "true"}
    with httpx.Client(timeout=httpx.Timeout(3600.0)) as client:
        response = client.post(f"{url}/api/evidence", content=file_chunks(path), headers=headers)
    if response.status_code not in {200, 201}:
        raise SystemExit(f"upload failed: {response.status_code} {response.text[:300]}")
    receipt: dict[str, Any] = response.json()["receipt"]
    return receipt


def upload_tus(url: str, token: str, path: Path, name: str) -> dict[str, Any]:
    """Upload one file over tus in a single PATCH; return the receipt."""
    import base64

    auth = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    meta = f"filename {base64.b64encode(name.encode()).decode()},handlers {base64.b64encode(b'B001').decode()}"
    with httpx.Client(timeout=httpx.Timeout(3600.0)) as client:
        created = client.post(f"{url}/api/uploads", headers={**auth, "Upload-Length": str(path.stat().st_size),
                                                             "Upload-Metadata": meta})
        location = url + created.headers["Location"]
        done = client.patch(location, content=file_chunks(path), headers={
            **auth, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream",
            "Content-Length": str(path.stat().st_size)})
        if done.status_code != 204:
            raise SystemExit(f"tus upload failed: {done.status_code} {done.text[:300]}")
        receipt: dict[str, Any] = client.get(f"{location}/receipt", headers=auth).json()["receipt"]
    return receipt


def upload_cli(url: str, token: str, path: Path, name: str) -> dict[str, Any]:
    """Upload one file the way an officer does: `evault upload` (tus, 16 MiB PATCHes); return the receipt."""
    import json

    state = path.parent / f".evault-state-{secrets.token_hex(4)}"
    env = {**os.environ, "EVAULT_SERVER": url, "EVAULT_TOKEN": token}
    done = subprocess.run([str(EVAULT), "upload", str(path), "--handler", "B001", "--party-informed", "--quiet",
                           "--state-dir", str(state)], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"evault upload failed ({done.returncode}): {done.stderr[-500:]}")
    receipt_path = next(path.parent.glob(f"{path.name}*receipt*"))
    signed: dict[str, Any] = json.loads(receipt_path.read_text())
    receipt_path.unlink()
    return dict(signed["receipt"])


@dataclass
class RgwVault:
    """A throwaway vault on a fresh GOVERNANCE bucket of an S3 endpoint, plus a plain bucket for aws s3 cp."""

    home: Path
    endpoint: str
    token: str
    env: dict[str, str]
    store: Any
    plain_bucket: str
    aws_env: dict[str, str]
    aws_bin: str = "aws"

    @classmethod
    def create(cls, home: Path, endpoint: str, *, aws_bin: str = "aws") -> RgwVault:
        """Create both buckets and the vault; GOVERNANCE and one day, so everything can be removed afterwards."""
        from vault.storage.s3 import S3BlobStore

        access = os.environ.get("EVAULT_BENCH_S3_ACCESS_KEY", "evaultci")
        secret = os.environ.get("EVAULT_BENCH_S3_SECRET_KEY", "evaultci-secret-key")
        bucket, plain = f"bench-{secrets.token_hex(6)}", f"bench-plain-{secrets.token_hex(6)}"
        s3 = {"store": "s3", "s3_endpoint": endpoint, "s3_access_key": access, "s3_secret_key": secret,
              "s3_bucket": bucket, "s3_lock_mode": "GOVERNANCE", "minimum_retention_days": 1}
        store = S3BlobStore(endpoint=endpoint, access_key=access, secret_key=secret, bucket=bucket)
        store.ensure_bucket()
        token = prepare_vault(home, **s3)
        env = settings_env(home, **{f"EVAULT_{k.upper()}": str(v) for k, v in s3.items()})
        aws_env = {**os.environ, "AWS_ACCESS_KEY_ID": access, "AWS_SECRET_ACCESS_KEY": secret,
                   "AWS_DEFAULT_REGION": "us-east-1"}
        rgw = cls(home, endpoint, token, env, store, plain, aws_env, aws_bin)
        rgw.aws("s3", "mb", f"s3://{plain}")
        return rgw

    def aws(self, *args: str) -> None:
        """Run the AWS CLI against the endpoint."""
        subprocess.run([self.aws_bin, "--endpoint-url", f"http://{self.endpoint}", *args], check=True, env=self.aws_env,
                       stdout=subprocess.DEVNULL)

    def empty(self) -> None:
        """Remove every version the vault stored (Ceph's memstore keeps objects in RAM)."""
        from minio.deleteobjects import DeleteObject

        client, bucket = self.store._client, self.store.bucket  # the benchmark cleans up its own bucket
        versions = [DeleteObject(o.object_name, o.version_id)
                    for o in client.list_objects(bucket, recursive=True, include_version=True)]
        for error in client.remove_objects(bucket, versions, bypass_governance_mode=True):
            print(f"cleanup: {error}", file=sys.stderr)

    def remove(self) -> None:
        """Remove both buckets."""
        self.aws("s3", "rb", f"s3://{self.plain_bucket}", "--force")
        self.empty()
        self.store._client.remove_bucket(self.store.bucket)


# boto3's transfer manager as the issue names it: 64 MiB parts, 8 at once (threshold: anything multipart).
BOTO3_PUT = """
import sys, boto3
from boto3.s3.transfer import TransferConfig
endpoint, path, bucket, key = sys.argv[1:5]
client = boto3.client("s3", endpoint_url=endpoint)
config = TransferConfig(multipart_threshold=64 * 2**20, multipart_chunksize=64 * 2**20, max_concurrency=8)
client.upload_file(path, bucket, key, Config=config)
"""


@dataclass
class S3Peers:
    """awscli and boto3 from PyPI in a scratch venv, run as child processes whose time and peak RSS are measured."""

    venv: Path

    @classmethod
    def install(cls, venv: Path) -> S3Peers:
        """Create the venv and pip-install awscli and boto3 into it (about 20 s)."""
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "awscli", "boto3"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return cls(venv)

    @property
    def aws_bin(self) -> str:
        """Return the scratch venv's aws command."""
        return str(self.venv / "bin" / "aws")

    def aws_cp(self, endpoint: str, source: Path, bucket: str, key: str) -> list[str]:
        """Return the `aws s3 cp` command line (awscli defaults: 8 MiB parts, 10 at once)."""
        return [self.aws_bin, "--endpoint-url", f"http://{endpoint}", "s3", "cp", "--only-show-errors",
                str(source), f"s3://{bucket}/{key}"]

    def boto3_put(self, endpoint: str, source: Path, bucket: str, key: str) -> list[str]:
        """Return the command line uploading with boto3's transfer manager (8 concurrent 64 MiB parts)."""
        return [str(self.venv / "bin" / "python"), "-c", BOTO3_PUT, f"http://{endpoint}", str(source), bucket, key]

    @staticmethod
    def run(command: list[str], env: dict[str, str]) -> tuple[float, float]:
        """Run command; return its wall seconds and its own peak RSS in MB (from wait4)."""
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            raise SystemExit(f"{command[0]} failed with {process.returncode}")
        return elapsed, usage.ru_maxrss / 1024


@contextmanager
def fresh_rgw(directory: Path, port: int) -> Iterator[str]:
    """Start a fresh one-node Ceph RGW (scripts/ceph-rgw.sh) for this run, yield host:port, and stop it."""
    script = ROOT / "scripts" / "ceph-rgw.sh"
    started = subprocess.run([str(script), "start", str(directory), str(port)], check=True, capture_output=True,
                             text=True)
    exports = dict(line.removeprefix("export ").split("=", 1) for line in started.stdout.splitlines()
                   if line.startswith("export "))
    try:
        yield exports["EVAULT_TEST_S3_ENDPOINT"]
    finally:
        subprocess.run([str(script), "stop", str(directory)], check=False, capture_output=True)


def sha256_seconds(path: Path) -> float:
    """Time `openssl dgst -sha256` of a file in the page cache: the hash alone, on one core, as hashlib does it."""
    started = time.perf_counter()
    subprocess.run(["openssl", "dgst", "-sha256", str(path)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def dd_seconds(directory: Path, size: int) -> float:
    """Time `dd if=/dev/zero bs=1M count=N conv=fdatasync` of the same size into directory."""
    target = directory / "dd.bin"
    started = time.perf_counter()
    subprocess.run(["dd", "if=/dev/zero", f"of={target}", "bs=1M", f"count={size // MIB}", "conv=fdatasync"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    target.unlink()
    return elapsed
