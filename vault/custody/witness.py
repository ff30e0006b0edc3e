"""Ask witnesses to cosign checkpoints: the client side of c2sp.org/tlog-witness `add-checkpoint`.

Also the request body both sides share: `old <size>`, the consistency proof one base64 hash a line, a blank line,
then the signed checkpoint note. No retries here: on a conflict the caller proves consistency from the size the
witness reports and submits again.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
import structlog

from vault.custody.merkle import HASH_SIZE
from vault.custody.note import COSIGNATURE_V1, ED25519, NoteError, NoteKey, NoteSignature, SignedNote
from vault.errors import VaultError

log = structlog.get_logger(__name__)

SIZE_MEDIA_TYPE = "text/x.tlog.size"
MAX_PROOF_LINES = 63
MAX_ORIGIN_LENGTH = 128  # an origin names the custody event it causes (subject_id)


class WitnessConfigError(ValueError):
    """A witness or trusted-log entry in the settings does not parse (settings refuse to load)."""


class WitnessRefused(VaultError):
    """A witness did not cosign: it refused the checkpoint, answered nonsense or could not be reached."""

    code = "witness_refused"
    status = 502

    def __init__(self, message: str, *, witness: str, http_status: int | None = None) -> None:
        super().__init__(message, details={"witness": witness, "http_status": http_status})
        self.witness = witness
        self.http_status = http_status


@dataclass(frozen=True)
class Witness:
    """A configured witness: its cosignature key and its submission URL prefix."""

    name: str
    key: NoteKey
    url: str

    @classmethod
    def parse(cls, entry: str) -> Witness:
        """Parse `<vkey> <submission URL prefix>` (the vkey of the witness's cosignature/v1 key)."""
        parts = entry.split()
        if len(parts) != 2:
            raise WitnessConfigError(f"witness entry {entry[:120]!r} is not '<vkey> <submission URL prefix>'")
        try:
            key = NoteKey.from_vkey(parts[0])
        except NoteError as exc:
            raise WitnessConfigError(f"witness entry {entry[:120]!r}: {exc.message}") from exc
        if key.kind != COSIGNATURE_V1:
            raise WitnessConfigError(f"witness {key.name!r}: the vkey must be a cosignature/v1 (type 0x04) key")
        if not parts[1].startswith(("http://", "https://")):
            raise WitnessConfigError(f"witness {key.name!r}: the submission prefix must be an http(s) URL")
        return cls(name=key.name, key=key, url=parts[1].rstrip("/"))


def parse_witnesses(entries: Sequence[str]) -> list[Witness]:
    """Parse the `EVAULT_WITNESSES` entries, refusing two witnesses of one name."""
    witnesses = [Witness.parse(entry) for entry in entries]
    names = [w.name for w in witnesses]
    if len(set(names)) != len(names):
        raise WitnessConfigError(f"two witnesses share a name: {sorted(names)}")
    return witnesses


def parse_trusted_logs(vkeys: Sequence[str]) -> list[NoteKey]:
    """Parse `EVAULT_WITNESS_TRUSTED_LOGS`: Ed25519 note vkeys of the logs we witness, each named by its origin."""
    keys = []
    for vkey in vkeys:
        try:
            key = NoteKey.from_vkey(vkey)
        except NoteError as exc:
            raise WitnessConfigError(f"trusted log key {vkey[:120]!r}: {exc.message}") from exc
        if key.kind != ED25519 or len(key.name) > MAX_ORIGIN_LENGTH:
            raise WitnessConfigError(
                f"trusted log key {key.name!r} must be an Ed25519 note key (type 0x01) with an origin of at most "
                f"{MAX_ORIGIN_LENGTH} characters"
            )
        keys.append(key)
    return keys


def check_cosigner_name(name: str) -> None:
    """Refuse a witness name a signed-note key cannot carry (empty means witnessing is off)."""
    if name and (len(name) > MAX_ORIGIN_LENGTH or any(c.isspace() or c == "+" for c in name)):
        raise WitnessConfigError(f"witness name {name[:120]!r} must be a short key name without spaces or '+'")


@dataclass(frozen=True)
class AddCheckpoint:
    """One add-checkpoint request: the size the client believes the witness holds, the proof, the checkpoint."""

    old_size: int
    proof: tuple[bytes, ...]
    note: SignedNote

    def encode(self) -> bytes:
        """Return the request body."""
        lines = [f"old {self.old_size}\n", *(base64.b64encode(h).decode() + "\n" for h in self.proof), "\n"]
        return ("".join(lines) + self.note.encode()).encode()

    @classmethod
    def parse(cls, body: bytes) -> AddCheckpoint:
        """Parse a request body, raising NoteError (the witness answers 400) on anything malformed."""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NoteError("the request body is not UTF-8") from exc
        head, separator, rest = text.partition("\n\n")
        if not separator:
            raise NoteError("the request needs an old size line, proof lines and a blank line before the checkpoint")
        lines = head.split("\n")
        size = lines[0].removeprefix("old ")
        if not lines[0].startswith("old ") or not _decimal(size):
            raise NoteError("the first line must be 'old <size>' in decimal without leading zeroes")
        if len(lines) - 1 > MAX_PROOF_LINES:
            raise NoteError(f"at most {MAX_PROOF_LINES} consistency proof lines are allowed")
        return cls(old_size=int(size), proof=tuple(_hash(line) for line in lines[1:]), note=SignedNote.parse(rest))


def _decimal(text: str) -> bool:
    return text.isascii() and text.isdigit() and (text == "0" or not text.startswith("0")) and len(text) < 20


def _hash(line: str) -> bytes:
    try:
        digest = base64.b64decode(line, validate=True)
    except binascii.Error as exc:
        raise NoteError("a consistency proof line is not base64") from exc
    if len(digest) != HASH_SIZE:
        raise NoteError(f"a consistency proof line is not a {HASH_SIZE}-byte hash")
    return digest


@dataclass(frozen=True)
class WitnessReply:
    """What a witness answered: its verified cosignatures, or the size it holds (a 409 conflict)."""

    witness: str
    cosignatures: tuple[NoteSignature, ...] = ()
    conflict_size: int | None = None

    @property
    def cosigned(self) -> bool:
        """Return True when the witness cosigned."""
        return bool(self.cosignatures)


_REFUSALS = {
    400: "refused the request as malformed (old size larger than the checkpoint?)",
    403: "does not trust the log's signature on the checkpoint",
    404: "does not know this log's origin",
    422: "rejected the consistency proof",
}


def submit_checkpoint(
    witness: Witness, *, note: SignedNote, old_size: int, proof: Sequence[bytes], client: httpx.Client
) -> WitnessReply:
    """POST a checkpoint to a witness's add-checkpoint; return its verified cosignatures or the size it holds."""
    body = AddCheckpoint(old_size=old_size, proof=tuple(proof), note=note).encode()
    try:
        response = client.post(f"{witness.url}/add-checkpoint", content=body)
    except httpx.HTTPError as exc:
        message = f"witness {witness.name} is unreachable: {type(exc).__name__}"
        raise WitnessRefused(message, witness=witness.name) from exc
    status = response.status_code
    if status == 409:
        held = _conflict_size(witness, response)
        if held == old_size:  # the size matched, so the root did not: retrying from it cannot help
            raise WitnessRefused(f"witness {witness.name} cosigned another root hash at size {held}: the log forked",
                                 witness=witness.name, http_status=409)
        return WitnessReply(witness=witness.name, conflict_size=held)
    if status != 200:
        reason = _REFUSALS.get(status, f"answered HTTP {status}")
        raise WitnessRefused(f"witness {witness.name} {reason}", witness=witness.name, http_status=status)
    cosignatures = _verified_cosignatures(witness, note, response.text)
    log.info("witness.cosigned", witness=witness.name, old_size=old_size, cosignatures=len(cosignatures))
    return WitnessReply(witness=witness.name, cosignatures=cosignatures)


def _conflict_size(witness: Witness, response: httpx.Response) -> int:
    media_type = response.headers.get("content-type", "").split(";")[0].strip()
    size = response.text.removesuffix("\n")
    if media_type != SIZE_MEDIA_TYPE or not _decimal(size):
        raise WitnessRefused(
            f"witness {witness.name} answered 409 without a tree size ({SIZE_MEDIA_TYPE})",
            witness=witness.name,
            http_status=409,
        )
    return int(size)


def _verified_cosignatures(witness: Witness, note: SignedNote, text: str) -> tuple[NoteSignature, ...]:
    """Keep the lines signed by the witness's configured key that verify; ignore lines of unknown keys."""
    try:
        lines = [NoteSignature.parse_line(line) for line in text.removesuffix("\n").split("\n")]
    except NoteError as exc:
        raise WitnessRefused(f"witness {witness.name} answered 200 with {exc.message}", witness=witness.name) from exc
    verified = tuple(
        line
        for line in lines
        if line.name == witness.key.name and SignedNote(note.text, (line,)).verified_by(witness.key) is not None
    )
    if not verified:
        raise WitnessRefused(
            f"witness {witness.name} answered 200 without a valid cosignature by its configured key",
            witness=witness.name,
            http_status=200,
        )
    return verified
