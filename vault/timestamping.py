"""RFC 3161 time-stamps: ask a time-stamping authority (TSA) for a token over some bytes, and verify one offline.

Checkpoint notes keep the TimeStampToken (CMS SignedData, `openssl ts -verify -token_in`); bundles keep the whole
TimeStampResp (`openssl ts -verify -in`). Both verify here. The TSA's certificate travels inside the token (certReq);
trust comes from the CA certificates the operator configures or the reader supplies. The offline bundle verifier
imports this module, so it stays free of the database, the web stack and structlog.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
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

TIMESTAMP_QUERY = "application/timestamp-query"
TIMESTAMP_REPLY = "application/timestamp-reply"
_GRANTED = b"\x30\x03\x02\x01\x00"  # PKIStatusInfo { status granted }, to read a bare token as a response
_UNTRUSTED = ("unable to get local issuer certificate", "self-signed certificate", "self signed certificate")


class TimestampUnavailable(VaultError):
    """The configured TSA could not be reached or did not issue a valid token."""

    code = "timestamp_unavailable"
    status = 502


class TimestampInvalid(InvalidInput):
    """A time-stamp token does not verify for these bytes under the trusted CA."""

    code = "timestamp_invalid"


@dataclass(frozen=True)
class TimeStamp:
    """A TSA's token over some bytes, the time (genTime) it states and the TSA that signed it."""

    token: bytes
    response: bytes
    gen_time: datetime
    tsa: str


def _load_ca(ca_pem: bytes) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(ca_pem)
    except ValueError as exc:
        raise TimestampInvalid("the TSA CA file holds no PEM certificate") from exc


def _decode(der: bytes) -> TimeStampResponse:
    """Parse a TimeStampResp, or a bare TimeStampToken as if a TSA had granted it."""
    length = len(_GRANTED) + len(der)
    size = length.to_bytes((length.bit_length() + 7) // 8 or 1, "big")
    header = b"\x30" + (bytes([length]) if length < 0x80 else bytes([0x80 | len(size)]) + size)
    for candidate in (der, header + _GRANTED + der):
        try:
            return decode_timestamp_response(candidate)
        except ValueError:
            continue
    raise ValueError("not an RFC 3161 time-stamp token or response")


def _tsa_name(response: TimeStampResponse) -> str:
    """Return the subject of the certificate that signed the token, as the token names it (issuer and serial)."""
    signers = list(response.signed_data.signer_infos)
    for der in response.signed_data.certificates:
        cert = x509.load_der_x509_certificate(der)
        if any(cert.issuer == s.issuer and cert.serial_number == s.serial_number for s in signers):
            return cert.subject.rfc4514_string()
    return "an unnamed TSA"


def _stamp(response: TimeStampResponse) -> TimeStamp:
    moment = response.tst_info.gen_time
    gen_time = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return TimeStamp(token=response.time_stamp_token(), response=response.as_bytes(), gen_time=gen_time,
                     tsa=_tsa_name(response))


def _reason(exc: VerificationError) -> str:
    """Say in the reader's terms why rfc3161-client refused a token."""
    text = str(exc)
    if "Mismatch between messages" in text:
        return "it covers different bytes than the ones checked"
    detail = re.search(r'Verify error: ([^"]+)', text)
    if detail and detail.group(1).startswith(_UNTRUSTED):
        return f"the TSA certificate is not issued by a trusted TSA certificate ({detail.group(1)})"
    if detail:
        return f"the TSA certificate does not hold at the stamped time ({detail.group(1)})"
    if "signature failure" in text:
        return "the TSA's signature on the time-stamp token is invalid"
    return text


def _check(response: TimeStampResponse, data: bytes, *, roots: list[x509.Certificate], nonce: int | None) -> None:
    """Raise VerificationError unless the response is granted, over data, and signed under one of roots."""
    VerifierBuilder(roots=roots, nonce=nonce).build().verify_message(response, data)


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
        raise TimestampUnavailable(f"the TSA at {url} issued a token that does not verify: {_reason(exc)}") from exc
    return _stamp(response)


def verify_timestamp(token: bytes, *, data: bytes, ca_pem: bytes) -> TimeStamp:
    """Verify a token or response over data issued by a TSA under ca_pem, offline; return what it states."""
    roots = _load_ca(ca_pem)
    try:
        response = _decode(token)
    except ValueError as exc:
        raise TimestampInvalid("the time-stamp token cannot be read (not DER RFC 3161)") from exc
    try:
        _check(response, data, roots=roots, nonce=None)
    except VerificationError as exc:
        raise TimestampInvalid(f"the time-stamp token does not verify: {_reason(exc)}") from exc
    return _stamp(response)
