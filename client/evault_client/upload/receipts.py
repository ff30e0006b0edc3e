"""Signed ingest receipts: canonical form, Ed25519 verification against the vault key, files beside the footage."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evault_client.upload.errors import ClientError, ReceiptInvalid
from evault_client.upload.files import receipt_path

RECEIPT_FIELDS = ("evidence_id", "sha256", "size", "original_name", "received_at", "vault_key_id", "duplicate")


def canonical_json(value: Any) -> bytes:
    """Return the bytes a vault signature covers: sorted keys, no spaces, UTF-8 with non-ASCII unescaped.

    The vault's own form (vault.keys.canonical_json), byte for byte; a test compares the two."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


@dataclass(frozen=True)
class VaultKey:
    """The vault's Ed25519 public key as served by GET /api/custody/public-key."""

    key_id: str
    pem: str

    @property
    def public_key(self) -> Ed25519PublicKey:
        """Return the key, refusing anything that is not Ed25519."""
        key = serialization.load_pem_public_key(self.pem.encode("ascii"))
        if not isinstance(key, Ed25519PublicKey):
            raise ClientError("the vault's public key is not an Ed25519 key")
        return key

    @property
    def fingerprint(self) -> str:
        """Return the SHA-256 of the raw public key, hex, for pinning."""
        raw = self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class Receipt:
    """A verified receipt: what the vault acknowledged holding."""

    evidence_id: str
    sha256: str
    size: int
    original_name: str
    received_at: str
    vault_key_id: str
    duplicate: bool
    document: dict[str, Any]


def verify_receipt(document: Any, *, key: VaultKey, sha256: str, size: int) -> Receipt:
    """Check a receipt document's signature and that it names exactly the bytes we hold; raise ReceiptInvalid."""
    if not isinstance(document, dict) or not isinstance(document.get("receipt"), dict):
        raise ReceiptInvalid("the receipt is malformed")
    body: dict[str, Any] = document["receipt"]
    missing = [name for name in RECEIPT_FIELDS if name not in body]
    if missing:
        raise ReceiptInvalid(f"the receipt lacks {', '.join(missing)}")
    try:
        signature = base64.b64decode(str(document.get("signature", "")), validate=True)
        key.public_key.verify(signature, canonical_json(body))
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise ReceiptInvalid("the receipt's signature does not verify with the vault key") from exc
    if not hmac.compare_digest(str(body["vault_key_id"]), key.key_id):
        raise ReceiptInvalid(f"the receipt was signed by key {body['vault_key_id']}, not the vault's {key.key_id}")
    if not hmac.compare_digest(str(body["sha256"]).lower(), sha256.lower()):
        raise ReceiptInvalid("the receipt's SHA-256 differs from the file's: the vault holds other bytes")
    if body["size"] != size:
        raise ReceiptInvalid(f"the receipt's size {body['size']} differs from the file's {size}")
    return Receipt(
        evidence_id=str(body["evidence_id"]),
        sha256=str(body["sha256"]),
        size=int(body["size"]),
        original_name=str(body["original_name"]),
        received_at=str(body["received_at"]),
        vault_key_id=str(body["vault_key_id"]),
        duplicate=bool(body["duplicate"]),
        document={"receipt": body, "signature": document["signature"]},
    )


def write_receipt(path: Path, receipt: Receipt, *, key: VaultKey, server: str) -> Path:
    """Write the verified receipt beside the file atomically; return the receipt's path."""
    target = receipt_path(path)
    content = {**receipt.document, "vault_public_key": {"key_id": key.key_id, "pem": key.pem}, "server": server}
    fd, tmp = tempfile.mkstemp(prefix=".evault-", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(content, handle, ensure_ascii=False, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def read_receipt(path: Path, *, key: VaultKey, sha256: str, size: int) -> Receipt:
    """Load and verify the receipt stored beside `path`; raise ReceiptInvalid if it is absent or does not verify."""
    target = receipt_path(path)
    try:
        document = json.loads(target.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ReceiptInvalid("no receipt") from exc
    except (OSError, ValueError) as exc:
        raise ReceiptInvalid(f"the receipt file is unreadable: {exc}") from exc
    return verify_receipt(document, key=key, sha256=sha256, size=size)
