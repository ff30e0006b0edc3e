"""The vault's API as one signed-in person sees it: JSON in and out, every failure a `CommandFailed`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from evault_client import __version__
from evault_client.errors import CommandFailed
from evault_client.exits import Exit

CONNECT_TIMEOUT_SECONDS = 10.0
READ_TIMEOUT_SECONDS = 120.0


class ApiClient:
    """An HTTP client for one vault, carrying the person's bearer token (None only for public endpoints)."""

    def __init__(self, server: str, token: str | None, *, transport: httpx.BaseTransport | None = None) -> None:
        self.server = server.rstrip("/")
        self.token = token
        headers = {"User-Agent": f"evault/{__version__}", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.server, headers=headers, transport=transport,
            timeout=httpx.Timeout(READ_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS),
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def request(self, method: str, path: str, *, json: Any = None, params: Any = None,
                content: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
        """Send one request; return the decoded JSON answer (None when it has no body)."""
        response = self._send(method, path, json=json, params=params, content=content, headers=headers)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise CommandFailed("unexpected_answer", f"the vault answered {path} with something other than JSON",
                                exit_status=Exit.TEMPORARY_FAILURE, status=response.status_code) from exc

    def response(self, method: str, path: str, *, json: Any = None, params: Any = None) -> httpx.Response:
        """Send one request; return the whole answer when its headers matter too (X-Total-Count, 202)."""
        return self._send(method, path, json=json, params=_without_none(params or {}))

    def get(self, path: str, **params: Any) -> Any:
        """GET a JSON resource; None-valued parameters are left out."""
        return self.request("GET", path, params=_without_none(params))

    def post(self, path: str, body: Any = None) -> Any:
        """POST a JSON body."""
        return self.request("POST", path, json=body)

    def patch(self, path: str, body: Any) -> Any:
        """PATCH with a JSON body."""
        return self.request("PATCH", path, json=body)

    def put(self, path: str, body: Any) -> Any:
        """PUT a JSON body."""
        return self.request("PUT", path, json=body)

    def delete(self, path: str) -> Any:
        """DELETE a resource."""
        return self.request("DELETE", path)

    @contextmanager
    def stream(self, method: str, path: str, *, json: Any = None, params: Any = None) -> Iterator[httpx.Response]:
        """Open a streamed answer (downloads, CSV exports); an error status is raised before any byte is read."""
        try:
            with self._http.stream(method, path, json=json, params=_without_none(params or {})) as response:
                if response.status_code >= 400:
                    raise CommandFailed.from_response(response.status_code, response.read())
                yield response
        except httpx.TransportError as exc:
            raise _unreachable(self.server, exc) from exc

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise _unreachable(self.server, exc) from exc
        if response.status_code >= 400:
            raise CommandFailed.from_response(response.status_code, response.content)
        return response


def _unreachable(server: str, exc: httpx.TransportError) -> CommandFailed:
    return CommandFailed("server_unreachable", f"the vault at {server} could not be reached ({type(exc).__name__})",
                         exit_status=Exit.TEMPORARY_FAILURE)


def _without_none(params: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in params.items() if value is not None and value != ()}
