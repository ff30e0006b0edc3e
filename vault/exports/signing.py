"""Sign a bundle's manifest set with the vault's Ed25519 key and time-stamp the signature (RFC 3161)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import httpx
import structlog
from asn1crypto import algos, tsp

from vault.errors import VaultError
from vault.keys import Signer

log = structlog.get_logger(__name__)

TIMESTAMP_QUERY = "application/timestamp-query"
TIMESTAMP_REPLY = "application/timestamp-reply"


class TimestampUnavailable(VaultError):
    """The configured time-stamping authority (TSA) did not issue a valid token."""

    code = "timestamp_unavailable"
    status = 502


def sign_manifest_set(signer: Signer, tagmanifest: bytes) -> bytes:
    """Return the raw 64-byte Ed25519 signature over tagmanifest-sha256.txt, which lists every other manifest."""
    return signer.sign(tagmanifest)


def timestamp_request(data: bytes, *, nonce: int) -> bytes:
    """Return a DER TimeStampReq for SHA-256(data), asking for the TSA certificate in the reply."""
    request = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": tsp.MessageImprint(
                {
                    "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                    "hashed_message": hashlib.sha256(data).digest(),
                }
            ),
            "nonce": nonce,
            "cert_req": True,
        }
    )
    return bytes(request.dump())


def check_timestamp_reply(reply: bytes, data: bytes, *, nonce: int) -> tsp.TSTInfo:
    """Parse a DER TimeStampResp and confirm it was granted for SHA-256(data) with our nonce."""
    try:
        response = tsp.TimeStampResp.load(reply)
        status = response["status"]["status"].native
        if status not in ("granted", "granted_with_mods"):
            text = response["status"]["status_string"].native
            raise TimestampUnavailable(f"the TSA refused the request: {status} {text or ''}".strip())
        info = response["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
        imprint = info["message_imprint"]
        digest = bytes(imprint["hashed_message"].native)
        algorithm = imprint["hash_algorithm"]["algorithm"].native
    except (ValueError, TypeError, KeyError) as exc:
        raise TimestampUnavailable(f"the TSA reply is not a valid RFC 3161 response: {exc}") from exc
    if algorithm != "sha256" or not hmac.compare_digest(digest, hashlib.sha256(data).digest()):
        raise TimestampUnavailable("the TSA time-stamped a different message imprint than the one sent")
    if info["nonce"].native != nonce:
        raise TimestampUnavailable("the TSA reply carries a different nonce than the request")
    return info


@dataclass(frozen=True)
class TimestampClient:
    """Asks an RFC 3161 time-stamping authority over HTTP for a token over some bytes."""

    url: str
    timeout_seconds: float = 30.0

    def stamp(self, data: bytes) -> bytes:
        """Return the DER TimeStampResp (a .tsr) over SHA-256(data), or raise TimestampUnavailable."""
        nonce = secrets.randbits(63)
        try:
            response = httpx.post(
                self.url,
                content=timestamp_request(data, nonce=nonce),
                headers={"Content-Type": TIMESTAMP_QUERY, "Accept": TIMESTAMP_REPLY},
                timeout=self.timeout_seconds,
            )
        except httpx.HTTPError as exc:
            raise TimestampUnavailable(f"the TSA at {self.url} is unreachable: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise TimestampUnavailable(f"the TSA at {self.url} answered HTTP {response.status_code}")
        info = check_timestamp_reply(response.content, data, nonce=nonce)
        log.info("export.timestamped", tsa=self.url, gen_time=info["gen_time"].native.isoformat())
        return response.content
