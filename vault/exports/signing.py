"""Sign a bundle's manifest set with the vault's Ed25519 key and time-stamp the signature (RFC 3161)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import structlog

from vault.keys import Signer
from vault.timestamping import request_timestamp

log = structlog.get_logger(__name__)


def sign_manifest_set(signer: Signer, tagmanifest: bytes) -> bytes:
    """Return the raw 64-byte Ed25519 signature over tagmanifest-sha256.txt, which lists every other manifest."""
    return signer.sign(tagmanifest)


@dataclass(frozen=True)
class TimestampClient:
    """The TSA a bundle's signature is time-stamped by, as configured (`EVAULT_TSA_URL`, its CA, its timeout)."""

    url: str
    timeout_seconds: float = 30.0
    ca_pem: bytes | None = None

    def stamp(self, data: bytes) -> bytes:
        """Return the DER TimeStampResp (a .tsr) over SHA-256(data), or raise TimestampUnavailable."""
        with httpx.Client(timeout=self.timeout_seconds) as client:
            stamp = request_timestamp(url=self.url, data=data, ca_pem=self.ca_pem, client=client)
        log.info("export.timestamped", tsa=self.url, gen_time=stamp.gen_time.isoformat())
        return stamp.response
