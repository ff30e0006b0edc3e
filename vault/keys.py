"""The vault's own keys: Ed25519 signing key for checkpoints and receipts, AES-GCM key for personal data."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vault.errors import VaultError

SIGNING_KEY_FILE = "vault-ed25519.pem"
DATA_KEY_FILE = "personal-data.key"
# Public halves of signing keys the vault no longer signs with, one PEM per key id: what it signed stays verifiable.
RETIRED_KEYS_DIR = "retired-signing-keys"
# The custody log's origin, written at the first rotation: the default origin names the first key and must not move.
LOG_ORIGIN_FILE = "log-origin"


class KeyUnavailable(VaultError):
    """A key file is missing, unreadable or too open."""

    code = "key_unavailable"
    status = 503


@dataclass(frozen=True)
class Signer:
    """Signs with the vault's Ed25519 key; `key_id` is the SHA-256 of the raw public key, hex."""

    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        """Return the public half."""
        return self.private_key.public_key()

    @property
    def public_raw(self) -> bytes:
        """Return the 32-byte raw public key."""
        return self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def key_id(self) -> str:
        """Return a stable identifier of the public key."""
        return key_id_of(self.public_raw)

    def public_pem(self) -> str:
        """Return the public key as PEM (SubjectPublicKeyInfo), for verifiers."""
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def sign(self, message: bytes) -> bytes:
        """Return the Ed25519 signature of message."""
        return self.private_key.sign(message)


def canonical_json(value: Any) -> bytes:
    """Return the bytes a signature or leaf hash covers: sorted keys, no spaces, UTF-8 with non-ASCII unescaped."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def key_id_of(public_raw: bytes) -> str:
    """Return the identifier the vault records beside everything a key signed."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def public_pem_of(public_raw: bytes) -> str:
    """Return a raw Ed25519 public key as PEM (SubjectPublicKeyInfo)."""
    key = Ed25519PublicKey.from_public_bytes(public_raw)
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def verify_signature(public_raw: bytes, signature: bytes, message: bytes) -> bool:
    """Check an Ed25519 signature with a raw public key."""
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def create_keys(keys_dir: Path) -> bool:
    """Create the signing and data keys if absent (0600 files); return True if any was created."""
    created = False
    signing = keys_dir / SIGNING_KEY_FILE
    if not signing.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write_private(signing, pem)
        created = True
    data_key = keys_dir / DATA_KEY_FILE
    if not data_key.exists():
        _write_private(data_key, base64.b64encode(secrets.token_bytes(32)))
        created = True
    return created


def _read_private(path: Path) -> bytes:
    if not path.exists():
        raise KeyUnavailable(f"key file {path} is missing; run `evault init` first")
    if path.stat().st_mode & 0o077:
        raise KeyUnavailable(f"key file {path} is readable by others; chmod 600 it")
    return path.read_bytes()


def load_signer(keys_dir: Path) -> Signer:
    """Load the vault's Ed25519 signing key."""
    key = serialization.load_pem_private_key(_read_private(keys_dir / SIGNING_KEY_FILE), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyUnavailable("the signing key is not an Ed25519 key")
    return Signer(key)


def load_retired_keys(keys_dir: Path) -> dict[str, bytes]:
    """Return the raw public keys of retired signing keys, by key id."""
    retired: dict[str, bytes] = {}
    for path in sorted((keys_dir / RETIRED_KEYS_DIR).glob("*.pem")):
        key = serialization.load_pem_public_key(path.read_bytes())
        if not isinstance(key, Ed25519PublicKey):
            raise KeyUnavailable(f"retired key {path} is not an Ed25519 public key")
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        retired[key_id_of(raw)] = raw
    return retired


def recorded_origin(keys_dir: Path) -> str | None:
    """Return the custody log origin recorded at the first key rotation, if any."""
    path = keys_dir / LOG_ORIGIN_FILE
    if not path.exists():
        return None
    return path.read_text(encoding="utf-8").strip() or None


@dataclass(frozen=True)
class RotatedKey:
    """What a rotation changed: the key retired, the key now signing, and the origin both sign under."""

    retired: Signer
    current: Signer
    origin: str


def rotate_signing_key(keys_dir: Path, *, origin: str) -> RotatedKey:
    """Retire the signing key (keeping its public half) and start signing with a new one under the same origin."""
    retired = load_signer(keys_dir)
    if recorded_origin(keys_dir) is None:
        _write_replacing(keys_dir / LOG_ORIGIN_FILE, origin.encode(), mode=0o644)
    _write_replacing(keys_dir / RETIRED_KEYS_DIR / f"{retired.key_id}.pem", retired.public_pem().encode(), mode=0o644)
    current = Signer(Ed25519PrivateKey.generate())
    pem = current.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # The old private key is overwritten, not kept: a retired key must not be able to sign again.
    _write_replacing(keys_dir / SIGNING_KEY_FILE, pem, mode=0o600)
    return RotatedKey(retired=retired, current=current, origin=origin)


def _write_replacing(path: Path, data: bytes, *, mode: int) -> None:
    """Write a file beside its final name, sync it, then rename it into place, so a crash leaves old or new."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.new")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class DataCipher:
    """AES-256-GCM for personal data at rest (ID numbers, phones, addresses, bank accounts)."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)
        # A separate key for lookups, derived from the data key, so a digest never doubles as ciphertext material.
        self._index_key = hmac.new(key, b"evault blind index v1", hashlib.sha256).digest()

    def encrypt(self, plaintext: str) -> str:
        """Encrypt a string; the result is base64 text with its nonce."""
        nonce = secrets.token_bytes(12)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, plaintext.encode(), None)).decode()

    def decrypt(self, token: str) -> str:
        """Decrypt what encrypt produced."""
        raw = base64.b64decode(token)
        return self._aead.decrypt(raw[:12], raw[12:], None).decode()

    def blind_index(self, value: str) -> str:
        """Return a keyed digest of a value, so it can be looked up exactly without storing it in clear."""
        return hmac.new(self._index_key, value.encode(), hashlib.sha256).hexdigest()


def load_data_cipher(keys_dir: Path) -> DataCipher:
    """Load the personal-data key."""
    return DataCipher(base64.b64decode(_read_private(keys_dir / DATA_KEY_FILE)))
