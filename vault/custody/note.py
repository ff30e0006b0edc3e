"""C2SP signed notes, tlog checkpoints and Ed25519 cosignatures: the text anchors, witnesses and bundles carry.

Specifications: c2sp.org/signed-note, c2sp.org/tlog-checkpoint, c2sp.org/tlog-cosignature. Pure functions on
text, so an offline verifier needs neither the database nor the vault.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass, field
from typing import Protocol

from vault.errors import InvalidInput
from vault.keys import verify_signature

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
EM_DASH = "\u2014"
MAX_SIGNATURES = 16


class NoteError(InvalidInput):
    """A signed note or checkpoint that does not parse."""

    code = "invalid_note"


class Ed25519Signing(Protocol):
    """Anything that signs with an Ed25519 key and shows its raw public half (the vault's Signer)."""

    @property
    def public_raw(self) -> bytes:
        """Return the 32-byte raw public key."""
        ...

    def sign(self, message: bytes) -> bytes:
        """Return the Ed25519 signature of message."""
        ...


@dataclass(frozen=True)
class NoteKey:
    """A verifier key: a name, a signature type and the raw Ed25519 public key."""

    name: str
    public_raw: bytes
    kind: int = ED25519

    def __post_init__(self) -> None:
        if not self.name or any(c.isspace() or c == "+" for c in self.name):
            raise NoteError(f"key name {self.name!r} must be non-empty, without spaces or '+'")
        if len(self.public_raw) != 32 or self.kind not in (ED25519, COSIGNATURE_V1):
            raise NoteError("only 32-byte Ed25519 keys (note signatures or cosignature/v1) are supported")

    @property
    def key_id(self) -> bytes:
        """Return the 4-byte key ID: SHA-256(name || LF || type || public key)[:4]."""
        return hashlib.sha256(self.name.encode() + b"\n" + bytes([self.kind]) + self.public_raw).digest()[:4]

    def vkey(self) -> str:
        """Return the key in the signed-note verifier-key text form: name+hex(key id)+base64(type||key)."""
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(bytes([self.kind]) + self.public_raw).decode()}"

    @classmethod
    def from_vkey(cls, text: str) -> NoteKey:
        """Parse a verifier key written as vkey() writes it."""
        name, _, rest = text.strip().partition("+")
        key_id_hex, _, material = rest.partition("+")
        try:
            raw = base64.b64decode(material, validate=True)
        except binascii.Error as exc:
            raise NoteError("verifier key material is not base64") from exc
        if len(raw) != 33:
            raise NoteError("verifier key is not an Ed25519 key")
        key = cls(name=name, public_raw=raw[1:], kind=raw[0])
        if key.key_id.hex() != key_id_hex:
            raise NoteError(f"verifier key {name!r} has a key id that does not match its key")
        return key


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, 4-byte key id and the signature bytes after it."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        """Return the line as it is written under the note text."""
        return f"{EM_DASH} {self.name} {base64.b64encode(self.key_id + self.signature).decode()}\n"

    @classmethod
    def parse_line(cls, line: str) -> NoteSignature:
        """Parse one signature line (without its newline)."""
        prefix = f"{EM_DASH} "
        name, _, encoded = line.removeprefix(prefix).partition(" ")
        if not line.startswith(prefix) or not name or not encoded:
            raise NoteError(f"malformed signature line {line[:80]!r}")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error as exc:
            raise NoteError(f"signature of {name!r} is not base64") from exc
        if len(raw) < 5:
            raise NoteError(f"signature of {name!r} is too short")
        return cls(name=name, key_id=raw[:4], signature=raw[4:])


@dataclass(frozen=True)
class SignedNote:
    """Note text (ending in a newline) and its signature lines."""

    text: str
    signatures: tuple[NoteSignature, ...] = field(default_factory=tuple)

    def encode(self) -> str:
        """Return the note as text: the body, a blank line, then one line per signature."""
        return self.text + "\n" + "".join(s.line() for s in self.signatures)

    @classmethod
    def parse(cls, raw: str) -> SignedNote:
        """Parse a signed note, refusing control characters, a missing blank line or too many signatures."""
        if any(ord(c) < 0x20 and c != "\n" for c in raw):
            raise NoteError("a signed note must not contain control characters")
        text, separator, block = raw.rpartition("\n\n")
        if not separator or not block.endswith("\n"):
            raise NoteError("a signed note needs its text, a blank line, and signature lines ending in a newline")
        lines = block[:-1].split("\n")
        if len(lines) > MAX_SIGNATURES:
            raise NoteError(f"a note may carry at most {MAX_SIGNATURES} signatures")
        return cls(text=text + "\n", signatures=tuple(NoteSignature.parse_line(line) for line in lines))

    def with_signatures(self, *added: NoteSignature) -> SignedNote:
        """Return the note with more signature lines (a signature already present is not repeated)."""
        return SignedNote(self.text, self.signatures + tuple(s for s in added if s not in self.signatures))

    def verified_by(self, key: NoteKey) -> NoteSignature | None:
        """Return the signature of key on this note if one is present and valid, else None."""
        for signature in self.signatures:
            if signature.name != key.name or signature.key_id != key.key_id:
                continue
            if key.kind == COSIGNATURE_V1:
                return signature if _cosignature_valid(self.text, key, signature.signature) else None
            valid = verify_signature(key.public_raw, signature.signature, self.text.encode())
            return signature if valid else None
        return None


def sign_note(text: str, *, name: str, signer: Ed25519Signing) -> NoteSignature:
    """Sign note text with an Ed25519 key under name."""
    key = NoteKey(name=name, public_raw=signer.public_raw)
    return NoteSignature(name=name, key_id=key.key_id, signature=signer.sign(text.encode()))


def _cosigned_message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def cosign_note(text: str, *, name: str, signer: Ed25519Signing, timestamp: int) -> NoteSignature:
    """Return a timestamped cosignature/v1 of a checkpoint's text (what a witness returns)."""
    key = NoteKey(name=name, public_raw=signer.public_raw, kind=COSIGNATURE_V1)
    signature = signer.sign(_cosigned_message(text, timestamp))
    return NoteSignature(name=name, key_id=key.key_id, signature=struct.pack(">Q", timestamp) + signature)


def cosignature_time(signature: NoteSignature) -> int:
    """Return the POSIX time a cosignature/v1 states it was made."""
    return int(struct.unpack(">Q", signature.signature[:8])[0])


def _cosignature_valid(text: str, key: NoteKey, raw: bytes) -> bool:
    if len(raw) != 72:
        return False
    (timestamp,) = struct.unpack(">Q", raw[:8])
    return verify_signature(key.public_raw, raw[8:], _cosigned_message(text, timestamp))


@dataclass(frozen=True)
class CheckpointText:
    """The body of a tlog checkpoint: origin, tree size and RFC 6962 root hash."""

    origin: str
    tree_size: int
    root: bytes

    def text(self) -> str:
        """Return the note text of this checkpoint (no extension lines)."""
        return f"{self.origin}\n{self.tree_size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse(cls, text: str) -> CheckpointText:
        """Parse a checkpoint's note text, refusing anything but the three lines it must hold."""
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "" or not all(lines[:-1]):
            raise NoteError("a checkpoint is three or more non-empty lines, each ending in a newline")
        origin, size, root = lines[0], lines[1], lines[2]
        if not size.isascii() or not size.isdigit() or (size != "0" and size.startswith("0")):
            raise NoteError(f"checkpoint tree size {size!r} is not a decimal without leading zeroes")
        try:
            digest = base64.b64decode(root, validate=True)
        except binascii.Error as exc:
            raise NoteError("checkpoint root hash is not base64") from exc
        if len(digest) != 32:
            raise NoteError("checkpoint root hash is not 32 bytes")
        return cls(origin=origin, tree_size=int(size), root=digest)


def signed_checkpoint(body: CheckpointText, *, signer: Ed25519Signing) -> SignedNote:
    """Return a checkpoint note signed by the log under its origin."""
    text = body.text()
    return SignedNote(text, (sign_note(text, name=body.origin, signer=signer),))
