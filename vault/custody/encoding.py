"""The signed statement of a custody checkpoint; pure, so an offline verifier can rebuild it without a database."""

from __future__ import annotations

import base64

LOG_ORIGIN = "evault custody log"


def checkpoint_statement(tree_size: int, root: bytes, signed_at: str) -> bytes:
    """Return the bytes a checkpoint signature covers; signed_at is ISO 8601 with microseconds."""
    return f"{LOG_ORIGIN}\n{tree_size}\n{base64.b64encode(root).decode()}\n{signed_at}\n".encode()
