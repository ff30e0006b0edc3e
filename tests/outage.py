"""Object stores that fail the way real ones do: an endpoint nobody listens on, and a gateway that froze."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient

from evault.app import create_app
from vault.config import Settings
from vault.context import build_context
from vault.storage.s3 import S3BlobStore

OUTAGES = ("closed_port", "frozen_gateway")


def closed_port() -> int:
    """Return a local port that nothing listens on (connections are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def frozen_gateway() -> Iterator[int]:
    """Listen on a port, accept every connection and never answer; yield the port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        server.close()


@contextmanager
def client_during_outage(settings: Settings, outage: str, *, timeout_seconds: float) -> Iterator[TestClient]:
    """Yield an API client on the test catalog whose S3 store is down in the named way."""
    with frozen_gateway() if outage == "frozen_gateway" else _refusing() as port:
        store = S3BlobStore(endpoint=f"127.0.0.1:{port}", access_key="evaultci", secret_key="evaultci-secret-key",
                            bucket=f"gone-{uuid.uuid4().hex[:12]}", timeout_seconds=timeout_seconds)
        context = build_context(settings, store=store)
        with TestClient(create_app(context), raise_server_exceptions=False) as client:
            yield client


@contextmanager
def _refusing() -> Iterator[int]:
    yield closed_port()
