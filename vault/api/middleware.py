"""Request ids, one structured access-log event per request and the request metrics, as plain ASGI (no body
buffering): bytes are counted as they pass."""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection
from typing import Any

import structlog
from fastapi.responses import FileResponse, StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vault.metrics import VaultMetrics

log = structlog.get_logger("vault.access")

UNMATCHED = "<unmatched>"  # one label for every path no route knows (scanners would otherwise add series)


def route_template(scope: Scope, root_path: str) -> str:
    """Return the route that answered (its template, never the raw path), a mount's prefix, or UNMATCHED."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if template:
        return str(template)
    mounted = str(scope.get("root_path") or "")
    return f"{mounted[len(root_path):]}/{{path}}" if len(mounted) > len(root_path) else UNMATCHED


def _streams_content(scope: Scope) -> bool:
    """Tell whether the route is declared to stream stored bytes (evidence content, bundles)."""
    declared = getattr(scope.get("route"), "response_class", None)
    declared = getattr(declared, "value", declared)  # FastAPI's DefaultPlaceholder
    return isinstance(declared, type) and issubclass(declared, StreamingResponse | FileResponse)


class _Exchange:
    """What passed through one request: status and body bytes each way."""

    def __init__(self) -> None:
        self.status = 500
        self.received = 0
        self.sent = 0


class RequestContextMiddleware:
    """Give each request an id (honouring a sane incoming X-Request-ID), log its outcome and measure it."""

    def __init__(self, app: ASGIApp, metrics: VaultMetrics | None = None,
                 upload_routes: Collection[tuple[str, str]] = ()) -> None:
        self.app = app
        self.metrics = metrics
        self.upload_routes = frozenset(upload_routes)  # (method, route template) whose bodies are ingested bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        root_path = str(scope.get("root_path") or "")
        started = time.perf_counter()
        exchange = _Exchange()

        async def receive_counted() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                exchange.received += len(message.get("body", b""))
            return message

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            elif message["type"] == "http.response.body":
                exchange.sent += len(message.get("body", b""))
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive_counted, send_with_id)
            finally:
                seconds = time.perf_counter() - started
                route = route_template(scope, root_path)
                self._observe(scope, route, exchange, seconds)
                client = scope.get("client")
                log.info(
                    "http.request",
                    method=scope.get("method"),
                    path=scope.get("path"),
                    route=route,
                    status=exchange.status,
                    ms=round(seconds * 1000, 1),
                    user=state.get("actor"),
                    client=client[0] if client else None,
                    bytes_in=exchange.received,
                    bytes_out=exchange.sent,
                )

    def _observe(self, scope: Scope, route: str, exchange: _Exchange, seconds: float) -> None:
        metrics = self.metrics
        if metrics is None:
            return
        method = str(scope.get("method"))
        labels: dict[str, Any] = {"method": method, "route": route}
        metrics.request_seconds.labels(status=str(exchange.status), **labels).observe(seconds)
        metrics.request_bytes.labels(**labels).inc(exchange.received)
        metrics.response_bytes.labels(**labels).inc(exchange.sent)
        if 200 <= exchange.status < 300 and (method, route) in self.upload_routes:
            metrics.ingested_bytes.inc(exchange.received)
        if exchange.status in (200, 206) and _streams_content(scope):
            metrics.served_bytes.inc(exchange.sent)
