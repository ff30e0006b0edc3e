"""Errors the ingest client reports to the officer as one clear line, never a traceback."""

from __future__ import annotations

import json
from typing import Any

# Statuses worth retrying with backoff: the server or the link may recover. 460 is a tus chunk checksum mismatch
# (bytes damaged in transit), 409 an offset mismatch: both are fixed by asking the server for its offset again.
TRANSIENT_STATUSES = frozenset({408, 409, 423, 425, 429, 460, 500, 502, 503, 504})

HINTS = {
    401: "the vault did not accept the API token: set EVAULT_TOKEN to a valid token (`evault tokens create`)",
    403: "the vault refused this action for your account",
    413: "the file is larger than the vault accepts",
    415: "the vault refused the file: it is not a media recording",
    422: "the vault refused the upload's name or tags",
}


class ClientError(Exception):
    """A failure to show the officer as one line."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ServerRefused(ClientError):
    """The vault answered with an error status; `code` and `message` come from its error body."""

    def __init__(self, status: int | None, code: str, message: str) -> None:
        self.status = status
        self.code = code
        label = f"{status} {code}" if status else code
        super().__init__(f"{message} ({label})")

    @property
    def transient(self) -> bool:
        """Return whether retrying later may succeed (a dropped link or a temporary server failure)."""
        return self.status is None or self.status in TRANSIENT_STATUSES

    @classmethod
    def from_response(cls, status: int | None, body: bytes | str | None) -> ServerRefused:
        """Build the error from a status and the shared error body `{"error": {"code", "message", "details"}}`."""
        code, message = _parse_error_body(body)
        hint = HINTS.get(status or 0)
        if status is None:
            return cls(None, "network_error", message or "the vault could not be reached")
        if not message:
            message = hint or "the vault refused the request"
        elif hint and status in {401, 415}:
            message = f"{hint}: {message}"
        return cls(status, code or "http_error", message)


class VaultUnreachable(ClientError):
    """The vault stayed away or failing for as long as the run was willing to wait; nothing was sent."""

    def __init__(self, message: str, *, waited: float) -> None:
        super().__init__(message)
        self.waited = waited


class ReceiptInvalid(ClientError):
    """A receipt failed verification: the file must not be cleared from the recorder."""


class Interrupted(ClientError):
    """The officer stopped the run; partial uploads resume on the next run."""


def _parse_error_body(body: bytes | str | None) -> tuple[str, str]:
    if not body:
        return "", ""
    try:
        data: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "", ""
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return "", ""
    return str(error.get("code") or ""), str(error.get("message") or "")
