"""RFC 3161 time-stamps over checkpoint notes: ask a time-stamping authority (TSA), and verify a token offline.

The token kept is the TimeStampToken (CMS SignedData), what `openssl ts -verify -token_in` reads; the TSA's
certificate travels inside it (certReq), and trust comes from the CA the operator configures.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import structlog
from cryptography import x509
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

from vault.errors import InvalidInput, VaultError

log = structlog.get_logger(__name__)

TIMESTAMP_QUERY = "application/timestamp-query"
TIMESTAMP_REPLY = "application/timestamp-reply"
_GRANTED = b"\x30\x03\x02\x01\x00"  # PKIStatusInfo { status granted }, to read a bare token as a response


class TimestampUnavailable(VaultError):
    """The configured TSA could not be reached or did not issue a valid token."""

    code = "timestamp_unavailable"
    status = 502


class TimestampInvalid(InvalidInput):
    """A time-stamp token does not verify for these bytes under the trusted CA."""

    code = "timestamp_invalid"


@dataclass(frozen=True)
class TimeStamp:
    """A TSA's token over some bytes, and the time (genTime) it states."""

    token: bytes
    gen_time: datetime


def _load_ca(ca_pem: bytes) -> list[x509.Certificate]:
    try:
        roots = x509.load_pem_x509_certificates(ca_pem)
    except ValueError as exc:
        raise TimestampInvalid("the TSA CA file holds no PEM certificate") from exc
    return roots


def _check(response: TimeStampResponse, data: bytes, *, roots: list[x509.Certificate], nonce: int | None) -> None:
    """Raise VerificationError unless the response is granted, over SHA-256(data), and chains to a root."""
    builder = VerifierBuilder(roots=roots, nonce=nonce)
    builder.build().verify_message(response, data)


def _decode(der: bytes) -> TimeStampResponse:
    """Parse a TimeStampResp, or a bare TimeStampToken as if a TSA had granted it."""
    length = len(_GRANTED) + len(der)
    size = length.to_bytes((length.bit_length() + 7) // 8 or 1, "big")
    header = b"\x30" + (bytes([length]) if length < 0x80 else bytes([0x80 | len(size)]) + size)
    for candidate in (header + _GRANTED + der, der):
        try:
            return decode_timestamp_response(candidate)
        except ValueError:
            continue
    raise ValueError("not an RFC 3161 time-stamp token or response")


def _gen_time(response: TimeStampResponse) -> datetime:
    moment = response.tst_info.gen_time
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def request_timestamp(*, url: str, data: bytes, ca_pem: bytes | None, client: httpx.Client) -> TimeStamp:
    """Ask the TSA at url for a token over SHA-256(data) (nonce, certReq) and check it against ca_pem if given."""
    request = (
        TimestampRequestBuilder().data(data).hash_algorithm(HashAlgorithm.SHA256).nonce(nonce=True)
        .cert_request(cert_request=True).build()
    )
    try:
        reply = client.post(url, content=request.as_bytes(),
                            headers={"Content-Type": TIMESTAMP_QUERY, "Accept": TIMESTAMP_REPLY})
    except httpx.HTTPError as exc:
        raise TimestampUnavailable(f"the TSA at {url} is unreachable: {type(exc).__name__}") from exc
    if reply.status_code != 200:
        raise TimestampUnavailable(f"the TSA at {url} answered HTTP {reply.status_code}")
    try:
        response = decode_timestamp_response(reply.content)
    except ValueError as exc:
        raise TimestampUnavailable(f"the TSA at {url} answered something that is not an RFC 3161 reply") from exc
    if response.status not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        reason = " ".join(response.status_string)
        raise TimestampUnavailable(f"the TSA at {url} refused the request: status {response.status} {reason}".strip())
    try:
        if ca_pem is not None:
            _check(response, data, roots=_load_ca(ca_pem), nonce=request.nonce)
        elif not hmac.compare_digest(response.tst_info.message_imprint.message, hashlib.sha256(data).digest()):
            raise VerificationError("the token covers other bytes than the ones sent")
        elif response.tst_info.nonce != request.nonce:
            raise VerificationError("the token carries another nonce than the request")
    except VerificationError as exc:
        raise TimestampUnavailable(f"the TSA at {url} issued a token that does not verify: {exc}") from exc
    stamp = TimeStamp(token=response.time_stamp_token(), gen_time=_gen_time(response))
    log.info("custody.timestamped", tsa=url, gen_time=stamp.gen_time.isoformat())
    return stamp


def verify_timestamp(token: bytes, *, data: bytes, ca_pem: bytes) -> datetime:
    """Verify a token over SHA-256(data) issued by a TSA under ca_pem, offline; return its genTime."""
    roots = _load_ca(ca_pem)
    try:
        response = _decode(token)
    except ValueError as exc:
        raise TimestampInvalid("the time-stamp token cannot be read (not DER RFC 3161)") from exc
    try:
        _check(response, data, roots=roots, nonce=None)
    except VerificationError as exc:
        raise TimestampInvalid(f"the time-stamp token does not verify: {exc}") from exc
    return _gen_time(response)
