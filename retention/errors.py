"""Refusals specific to retention and disposition."""

from __future__ import annotations

from vault.errors import VaultError


class SecondPersonRequired(VaultError):
    """The two-person rule: whoever asked for a shortening or a disposal may not approve it."""

    code = "second_person_required"
    status = 403


class DispositionRefused(VaultError):
    """A record may not be destroyed now (hold, open case, retention or store lock not expired)."""

    code = "disposition_refused"
    status = 409


class RequestNotPending(VaultError):
    """The request was already decided."""

    code = "request_not_pending"
    status = 409
