"""The vault's HTTP API as the client needs it: identity, key, tus creation, offset and PATCH, receipts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urljoin

import httpx

from evault_client.upload.errors import ClientError, ServerRefused
from evault_client.upload.receipts import VaultKey

TUS_VERSION = "1.0.0"
# Reads wait long: the PATCH completing an upload answers only once the bytes are durable and the record committed.
TIMEOUT = httpx.Timeout(30.0, read=600.0)
# A PATCH body goes out in pieces: httpcore re-slices an unsent body after every partial send, which copies
# what is left each time: 64 MiB PATCHes ran at 131 MB/s in one piece and at 211 MB/s in pieces. Each piece sent
# is counted for the progress bars, so they move within a PATCH: 64 KiB takes half a second even at 1 Mbit/s.
SEND_PIECE_BYTES = 64 * 1024
READ_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Creation:
    """The answer to a tus creation request: an upload URL, or the id of identical bytes already stored."""

    upload_url: str | None
    evidence_id: str | None


class VaultApi:
    """A thread-safe HTTP client bound to one vault and one API token."""

    def __init__(self, server: str, token: str, *, transport: httpx.BaseTransport | None = None) -> None:
        self.server = server.rstrip("/") + "/"
        self.uploads_url = urljoin(self.server, "api/uploads")
        self.auth_headers = {"Authorization": f"Bearer {token}"}
        self._http = httpx.Client(timeout=TIMEOUT, transport=transport, follow_redirects=False)

    def close(self) -> None:
        """Close pooled connections."""
        self._http.close()

    def request(self, method: str, url: str, *, headers: dict[str, str] | None = None) -> httpx.Response:
        """Send one request with the token; raise ServerRefused for network failures and error statuses."""
        try:
            response = self._http.request(method, urljoin(self.server, url), headers={**self.auth_headers,
                                                                                     **(headers or {})})
        except httpx.TransportError as exc:
            raise ServerRefused(None, "network_error", f"the vault could not be reached: {exc}") from exc
        if response.status_code >= 400:
            raise ServerRefused.from_response(response.status_code, response.content)
        return response

    def send_range(self, url: str, path: Path, offset: int, length: int, headers: dict[str, str], *,
                   piece_size: int = SEND_PIECE_BYTES, on_sent: Callable[[int], None] = lambda sent: None,
                   ) -> httpx.Response:
        """PATCH `length` bytes of a file from `offset`, streamed from the file over the pooled, kept-alive
        connection, telling on_sent how many went out so far; the caller judges the status."""
        try:
            with path.open("rb") as handle:
                handle.seek(offset)
                return self._http.patch(url, content=_file_pieces(handle, length, piece_size, on_sent), headers={
                    **self.auth_headers, **headers, "Upload-Offset": str(offset), "Content-Length": str(length),
                    "Content-Type": "application/offset+octet-stream"})
        except httpx.TransportError as exc:
            raise ServerRefused(None, "network_error", f"the link to the vault dropped: {exc}") from exc

    def post_json(self, path: str, body: Any) -> Any:
        """POST a JSON body to an API path; return the decoded answer (None when it has none)."""
        try:
            response = self._http.post(urljoin(self.server, path), json=body, headers=self.auth_headers)
        except httpx.TransportError as exc:
            raise ServerRefused(None, "network_error", f"the vault could not be reached: {exc}") from exc
        if response.status_code >= 400:
            raise ServerRefused.from_response(response.status_code, response.content)
        return response.json() if response.content else None

    def whoami(self) -> str:
        """Return the name of the user the token belongs to (checks the token before any work)."""
        return str(self.request("GET", "api/me").json()["name"])

    def vault_key(self) -> VaultKey:
        """Fetch the vault's Ed25519 public key."""
        data = self.request("GET", "api/custody/public-key").json()
        if data.get("algorithm") != "Ed25519":
            raise ServerRefused(None, "unsupported_key", f"the vault signs with {data.get('algorithm')}, not Ed25519")
        return VaultKey(key_id=str(data["key_id"]), pem=str(data["pem"]))

    def create_upload(self, headers: dict[str, str]) -> Creation:
        """POST a tus creation request; a 200 naming an evidence id means the bytes are already stored."""
        response = self.request("POST", self.uploads_url, headers=headers)
        evidence_id = response.headers.get("Evault-Evidence-Id")
        if response.status_code == 200 and evidence_id:
            return Creation(upload_url=None, evidence_id=evidence_id)
        location = response.headers.get("Location")
        if response.status_code != 201 or not location:
            raise ServerRefused(response.status_code, "protocol_error", "the vault did not create an upload")
        return Creation(upload_url=urljoin(self.uploads_url, location), evidence_id=None)

    def upload_offset(self, upload_url: str, headers: dict[str, str]) -> int:
        """HEAD a tus upload and return the server's durable offset."""
        response = self.request("HEAD", upload_url, headers=headers)
        offset = response.headers.get("Upload-Offset")
        if offset is None or not offset.isdigit():
            raise ServerRefused(response.status_code, "protocol_error", "the vault's HEAD carried no Upload-Offset")
        return int(offset)

    def finish_upload(self, upload_url: str, length: int, headers: dict[str, str]) -> str:
        """Finish an upload whose bytes are all on the vault (an empty PATCH at its length); return the evidence id.

        The vault keeps every staged byte when its store fails at the end, so finishing needs nothing sent again.
        """
        response = self.request("PATCH", upload_url, headers={
            **headers, "Upload-Offset": str(length), "Content-Type": "application/offset+octet-stream"})
        evidence_id = response.headers.get("Evault-Evidence-Id")
        if not evidence_id:
            raise ServerRefused(response.status_code, "protocol_error", "the vault did not name the stored record")
        return str(evidence_id)

    def upload_receipt(self, upload_url: str) -> Any:
        """Fetch the signed receipt of a completed tus upload."""
        return self.request("GET", upload_url.rstrip("/") + "/receipt").json()

    def evidence_receipt(self, evidence_id: str) -> Any:
        """Fetch the signed receipt of a stored record."""
        return self.request("GET", f"api/evidence/{evidence_id}/receipt").json()

    def evidence_flags(self, evidence_id: str) -> dict[str, str] | None:
        """Return a record's open flags with why each was raised, or None if the caller may not read its metadata."""
        try:
            data = self.request("GET", f"api/evidence/{evidence_id}").json()
        except ServerRefused as exc:
            if exc.status in {403, 404}:
                return None
            raise
        reasons = {str(f.get("flag")): str(f.get("reason", "")) for f in data.get("flag_reasons", [])}
        return {str(flag): reasons.get(str(flag), "") for flag in data.get("flags", [])}


def _file_pieces(handle: BinaryIO, length: int, piece_size: int, on_sent: Callable[[int], None]) -> Iterator[bytes]:
    """Yield `length` bytes of an open file in pieces; httpx asks for the next one once the last is on the socket.

    Read a MiB at a time and handed on as views: h11 copies each piece into its frame anyway, so a copy of
    ours would be a third pass over the bytes."""
    sent = 0
    while sent < length:
        block = handle.read(min(READ_BYTES, length - sent))
        if not block:
            raise ClientError("the file became shorter while it was sent; rerun once the recorder is done")
        view = memoryview(block)
        for start in range(0, len(view), piece_size):
            if sent:
                on_sent(sent)
            piece = view[start:start + piece_size]
            sent += len(piece)
            yield piece  # type: ignore[misc]  # a bytes-like view: sockets and h11 take it as they take bytes
    on_sent(sent)
