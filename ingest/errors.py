"""Refusals the ingest can give; each maps to one status and code of docs/ingest-protocol.md."""

from __future__ import annotations

from vault.errors import ChecksumMismatch, Conflict, InvalidInput, NotFound, VaultError


class UnsupportedMedia(VaultError):
    """The bytes are not a recording or photo at all (text, an executable...)."""

    code = "unsupported_media"
    status = 415


class InvalidFilename(InvalidInput):
    """A file name carries path components or control characters."""

    code = "invalid_filename"


class InvalidMetadata(InvalidInput):
    """Upload metadata is malformed (bad base64, bad dates, unknown values)."""

    code = "invalid_metadata"


class UploadNotFound(NotFound):
    """No resumable upload with this id (or it belongs to someone else)."""

    code = "upload_not_found"


class UploadOffsetMismatch(Conflict):
    """A PATCH does not continue where the upload stands."""

    code = "upload_offset_mismatch"


class ChunkChecksumMismatch(ChecksumMismatch):
    """A tus PATCH body (or the finished upload) does not match its declared checksum."""

    status = 460


class TusVersionUnsupported(VaultError):
    """The client speaks a tus version this server does not."""

    code = "tus_version_unsupported"
    status = 412


class InvalidTusRequest(VaultError):
    """A tus request lacks a required header or has a malformed one."""

    code = "invalid_tus_request"
    status = 400


class InvalidHeader(VaultError):
    """A request header is malformed (a Content-Length that is not ASCII digits)."""

    code = "invalid_header"
    status = 400


class WrongContentType(VaultError):
    """A tus PATCH must be sent as application/offset+octet-stream."""

    code = "invalid_content_type"
    status = 415


class UploadLocked(VaultError):
    """Another request holds the upload and did not let go in time."""

    code = "upload_locked"
    status = 423


class ClearanceNotPending(Conflict):
    """A flag clearance request was already decided."""

    code = "request_not_pending"


class SecondPersonRequired(VaultError):
    """A compliance flag is cleared only by someone other than the uploader and the one who asked."""

    code = "second_person_required"
    status = 403
