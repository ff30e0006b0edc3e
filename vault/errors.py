"""Domain errors: services raise these; one API handler maps them to HTTP status and error body."""

from __future__ import annotations

from typing import Any


class VaultError(Exception):
    """Base of every error a client can cause or be told about."""

    code = "vault_error"
    status = 400
    retry_after: int | None = None  # seconds a client should wait before retrying (sent as Retry-After)

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        # Set when the refusal itself was written to the custody log: the caller commits that record.
        self.record_kept = False


class NotFound(VaultError):
    """A named thing does not exist (or the caller may not know it exists)."""

    code = "not_found"
    status = 404


class Conflict(VaultError):
    """The request clashes with what is already stored."""

    code = "conflict"
    status = 409


class InvalidInput(VaultError):
    """The request is malformed or names something invalid."""

    code = "invalid_input"
    status = 422


class Unauthenticated(VaultError):
    """No valid credentials were presented."""

    code = "unauthenticated"
    status = 401


class PermissionDenied(VaultError):
    """The actor may not do this."""

    code = "permission_denied"
    status = 403


class StorageError(VaultError):
    """The object store failed or is unreachable."""

    code = "storage_unavailable"
    status = 503
    retry_after: int | None = 5


class StoreAccessDenied(StorageError):
    """The object store refused the vault's own account (its bucket policy does not allow the action)."""

    code = "storage_access_denied"
    status = 503
    retry_after = None


class StoreNotEncrypted(StorageError):
    """The object store did not confirm server-side encryption of an object the vault wrote."""

    code = "storage_not_encrypted"
    status = 503
    retry_after = None


class ObjectLocked(VaultError):
    """The store refuses to delete or overwrite an object under retention or legal hold."""

    code = "object_locked"
    status = 409


class RetentionShortening(VaultError):
    """Retention at the store may be extended, never shortened."""

    code = "retention_shortening_refused"
    status = 409


class ChecksumMismatch(VaultError):
    """The bytes received do not match the digest the client declared."""

    code = "checksum_mismatch"
    status = 400


class LengthMismatch(VaultError):
    """The stream ended before, or ran past, the length declared for it."""

    code = "length_mismatch"
    status = 400


class TooLarge(VaultError):
    """The upload exceeds the configured maximum size."""

    code = "too_large"
    status = 413
