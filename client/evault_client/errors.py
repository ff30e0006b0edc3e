"""The one failure every command reports: a line for people, the API's error shape for scripts, an exit status."""

from __future__ import annotations

import json
from typing import Any

from evault_client.exits import Exit, exit_for_status


class CommandFailed(Exception):
    """A command cannot do what was asked; `code` is machine-readable, as in the API's error body."""

    def __init__(self, code: str, message: str, *, exit_status: Exit, status: int | None = None,
                 details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.exit_status = exit_status
        self.status = status
        self.details = details

    @classmethod
    def from_response(cls, status: int, body: bytes) -> CommandFailed:
        """Build the failure from an error answer `{"error": {"code", "message", "details"}}`."""
        code, message, details = _parse_error_body(body)
        return cls(code or f"http_{status}", message or f"HTTP {status}", exit_status=exit_for_status(status),
                   status=status, details=details)

    def as_document(self) -> dict[str, Any]:
        """Return the failure in the API's error shape, with the exit status beside it."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details,
                          "status": self.status}, "exit": int(self.exit_status)}


def _parse_error_body(body: bytes) -> tuple[str, str, Any]:
    try:
        data: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "", "", None
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return "", "", None
    return str(error.get("code") or ""), str(error.get("message") or ""), error.get("details")
