"""A vault server that can be stopped and started again on the same port, as when the vault's host restarts."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from evault.app import create_app
from vault.context import VaultContext


class RestartableServer:
    """The real application under uvicorn on one fixed local port; stop() and start() as often as needed."""

    def __init__(self, context: VaultContext) -> None:
        self.context = context
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    def start(self) -> None:
        """Start serving; return once the server accepts connections."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        server = uvicorn.Server(uvicorn.Config(create_app(self.context), log_config=None, access_log=False))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the vault server did not start")
            time.sleep(0.02)
        self._server, self._thread, self._socket = server, thread, sock

    def stop(self) -> None:
        """Stop serving: connections are closed and new ones refused."""
        if self._server is None or self._thread is None or self._socket is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=20)
        self._socket.close()
        self._server = self._thread = self._socket = None

    def start_later(self, seconds: float) -> threading.Thread:
        """Start serving again after a while, from another thread; return that thread."""
        thread = threading.Thread(target=lambda: (time.sleep(seconds), self.start()), daemon=True)
        thread.start()
        return thread
