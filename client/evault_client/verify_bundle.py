"""Verify an Evidence Vault bundle offline, with only Python 3.11+ and `cryptography` (one self-contained file).

Every bundle carries this file at its top level. Run `python verify_bundle.py BUNDLE.zip [--sm3]`, or
`evault verify-bundle BUNDLE.zip`; exit 0 when every check holds, 1 when one fails, 2 on bad usage. The RFC 3161
time-stamp, if the bundle has one, is checked only when `rfc3161-client` is installed; otherwise it is reported as
not checked and does not fail the bundle. The Merkle, signed-note and JSON code below restates RFC 9162,
c2sp.org/signed-note and the vault's canonical JSON; a test keeps it in step with the vault's own modules.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import re
import sys
import zipfile
import zlib
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

CHUNK = 1024 * 1024
MAX_TAG_FILE = 64 * 1024 * 1024
LOG_ORIGIN = "evault custody log"
EM_DASH = "\u2014"
MAX_SIGNATURES = 16

BAGIT_FILE = "bagit.txt"
BAG_INFO_FILE = "bag-info.txt"
SM3_TAG_FILE = "metadata/digests-sm3.txt"
RECORDS_DIR = "metadata/records/"
DERIVATIVES_DIR = "metadata/derivatives/"
WITHHELD_FILE = "metadata/withheld.json"
CHECKPOINT_FILE = "custody/checkpoint.json"
EVENTS_FILE = "custody/events.json"
PUBLIC_KEY_FILE = "custody/vault-public-key.pem"
VERIFIER_FILE = "verify_bundle.py"
SIGNED_FILE = "tagmanifest-sha256.txt"
SIGNATURE_FILE = "signature/tagmanifest-sha256.txt.sig"
TIMESTAMP_FILE = "signature/tagmanifest-sha256.txt.sig.tsr"
TSA_CERTS_FILE = "signature/tsa-certificates.pem"
UNLISTED_PREFIXES = ("tagmanifest-", "signature/")
TIMESTAMP_NOT_CHECKED = "not checked: install rfc3161-client"


# --- canonical JSON, Merkle trees (RFC 9162 §2.1), C2SP signed notes and checkpoints ---------------------------


def canonical_json(value: Any) -> bytes:
    """Return the bytes a leaf hash covers: sorted keys, no spaces, UTF-8 with non-ASCII unescaped."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def checkpoint_statement(tree_size: int, root: bytes, signed_at: str) -> bytes:
    """Return the bytes a pre-note checkpoint signature covers; signed_at is ISO 8601 with microseconds."""
    return f"{LOG_ORIGIN}\n{tree_size}\n{base64.b64encode(root).decode()}\n{signed_at}\n".encode()


def leaf_hash(data: bytes) -> bytes:
    """Hash one log entry as a Merkle leaf: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash two child nodes into their parent: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _is_digest(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == 32


def verify_inclusion(*, leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """Check an inclusion proof with the RFC 9162 §2.1.3.2 algorithm."""
    if not 0 <= index < tree_size:
        return False
    if not (_is_digest(leaf_hash) and _is_digest(root) and all(_is_digest(p) for p in proof)):
        return False
    fn, sn, r = index, tree_size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and hmac.compare_digest(r, root)


class NoteError(ValueError):
    """A signed note or checkpoint that does not parse."""


def note_key_id(name: str, public_raw: bytes) -> bytes:
    """Return an Ed25519 note key's 4-byte ID: SHA-256(name || LF || 0x01 || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n\x01" + public_raw).digest()[:4]


def parse_note(raw: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """Split a signed note into its text and (name, key id, signature) lines, refusing malformed notes."""
    if any(ord(c) < 0x20 and c != "\n" for c in raw):
        raise NoteError("a signed note must not contain control characters")
    text, separator, block = raw.rpartition("\n\n")
    if not separator or not block.endswith("\n"):
        raise NoteError("a signed note needs its text, a blank line, and signature lines ending in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"a note may carry at most {MAX_SIGNATURES} signatures")
    signatures = []
    for line in lines:
        name, _, encoded = line.removeprefix(f"{EM_DASH} ").partition(" ")
        if not line.startswith(f"{EM_DASH} ") or not name or not encoded:
            raise NoteError(f"malformed signature line {line[:80]!r}")
        try:
            blob = base64.b64decode(encoded, validate=True)
        except binascii.Error as exc:
            raise NoteError("signature line is not base64") from exc
        if len(blob) < 5:
            raise NoteError("signature line is too short to hold a key id and a signature")
        signatures.append((name, blob[:4], blob[4:]))
    return text + "\n", signatures


def parse_checkpoint(text: str) -> tuple[str, int, bytes]:
    """Return (origin, tree size, root) from a checkpoint's note text."""
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
    return origin, int(size), digest


def note_signed_by(raw: str, *, name: str, key: Ed25519PublicKey) -> bool:
    """Return True when the note carries a valid Ed25519 signature by key under name."""
    text, signatures = parse_note(raw)
    raw_key = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    for signer, key_id, signature in signatures:
        if signer == name and key_id == note_key_id(name, raw_key):
            try:
                key.verify(signature, text.encode())
            except InvalidSignature:
                return False
            return True
    return False


# --- the report ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One check's outcome about one subject (a file, the signature, a custody event...)."""

    subject: str
    ok: bool
    message: str


@dataclass
class BundleReport:
    """Every finding about one bundle, in the order checked."""

    findings: list[Finding] = field(default_factory=list)

    def add(self, subject: str, ok: bool, message: str) -> bool:
        """Record a finding and return ok."""
        self.findings.append(Finding(subject, ok, message))
        return ok

    @property
    def problems(self) -> list[Finding]:
        """Return the failed findings."""
        return [f for f in self.findings if not f.ok]

    @property
    def ok(self) -> bool:
        """Return True when there were findings and none failed."""
        return bool(self.findings) and not self.problems


# --- reading the bag -----------------------------------------------------------------------------------------


def _new_hasher(name: str) -> Any:
    # hashlib's SM3 depends on how OpenSSL was built; cryptography always has it.
    return hashes.Hash(hashes.SM3()) if name == "sm3" else hashlib.new(name)


def _hex(hasher: Any) -> str:
    return hasher.finalize().hex() if isinstance(hasher, hashes.Hash) else str(hasher.hexdigest())


def _update(hashers: Sequence[Any], chunk: bytes) -> None:
    for hasher in hashers:
        hasher.update(chunk)


def stream_digests(handle: Any, algorithms: Sequence[str]) -> dict[str, str]:
    """Return {algorithm: hex digest} of a stream, read once; SHA-512 and SM3 run on a helper thread."""
    hashers = {name: _new_hasher(name) for name in algorithms}
    background = [h for name, h in hashers.items() if name != "sha256"]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hash") as pool:
        pending: Future[None] | None = None
        while chunk := handle.read(CHUNK):
            if pending is not None:
                pending.result()
            pending = pool.submit(_update, background, chunk)
            if "sha256" in hashers:
                hashers["sha256"].update(chunk)
        if pending is not None:
            pending.result()
    return {name: _hex(hasher) for name, hasher in hashers.items()}


def parse_manifest(data: bytes) -> dict[str, str]:
    """Return {path: digest} from a BagIt manifest (`digest  path` lines)."""
    entries = {}
    for line in data.decode("utf-8").splitlines():
        if line.strip():
            digest, _, path = line.partition(" ")
            entries[path.strip()] = digest.lower()
    return entries


class _Bag:
    """Read access to one bag inside the ZIP, by bag-relative path."""

    def __init__(self, archive: zipfile.ZipFile, root: str) -> None:
        self.archive, self.root = archive, root
        prefix = f"{root}/"
        self.members = {n[len(prefix) :]: n for n in archive.namelist() if n.startswith(prefix) and not n.endswith("/")}

    def has(self, path: str) -> bool:
        return path in self.members

    def read(self, path: str) -> bytes:
        info = self.archive.getinfo(self.members[path])
        if info.file_size > MAX_TAG_FILE:
            raise ValueError(f"{path} is too large for a tag file")
        return self.archive.read(info)

    def digests(self, path: str, algorithms: Sequence[str]) -> dict[str, str]:
        with self.archive.open(self.members[path]) as handle:
            return stream_digests(handle, algorithms)


def _open(path: Path, report: BundleReport) -> _Bag | None:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        report.add("bundle", False, "not a complete ZIP archive: its central directory is missing (truncated?)")
        return None
    except OSError as exc:
        report.add("bundle", False, f"cannot read the bundle: {exc.strerror}")
        return None
    names = archive.namelist()
    if any(n.startswith("/") or ".." in n.split("/") for n in names):
        report.add("bundle", False, "the archive holds unsafe paths (absolute or with '..')")
        return None
    roots = {n.split("/", 1)[0] for n in names if n.endswith("/bagit.txt") and n.count("/") == 1}
    if len(roots) != 1:
        report.add("bundle", False, "the archive does not hold exactly one bag (one top folder with bagit.txt)")
        return None
    bag = _Bag(archive, roots.pop())
    version = bag.read(BAGIT_FILE).decode("utf-8", "replace")
    report.add(BAGIT_FILE, "BagIt-Version: 1.0" in version, "BagIt 1.0 declaration (RFC 8493)")
    return bag


def _manifest(bag: _Bag, name: str, report: BundleReport) -> dict[str, str]:
    if not bag.has(name):
        report.add(name, False, "missing from the bundle")
        return {}
    try:
        return parse_manifest(bag.read(name))
    except (UnicodeDecodeError, ValueError) as exc:
        report.add(name, False, f"unreadable: {exc}")
        return {}


# --- the checks ----------------------------------------------------------------------------------------------


def check_payload(bag: _Bag, report: BundleReport, *, sm3: bool, measured_sha256: dict[str, str] | None = None
                  ) -> dict[str, str]:
    """Hash every payload file once, comparing against manifest-sha256/sha512 (and the SM3 tag file if asked)."""
    manifests = {alg: _manifest(bag, f"manifest-{alg}.txt", report) for alg in ("sha256", "sha512")}
    if sm3:
        manifests["sm3"] = _manifest(bag, SM3_TAG_FILE, report)
    listed = set().union(*(set(m) for m in manifests.values()))
    present = {p for p in bag.members if p.startswith("data/")}
    for path in sorted(present - listed):
        report.add(path, False, "payload file not listed in the manifests")
    for path in sorted(listed):
        if path not in present:
            report.add(path, False, "listed in the manifests but missing from the bundle")
            continue
        try:
            measured = bag.digests(path, list(manifests))
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            report.add(path, False, f"damaged inside the ZIP ({exc}); its digests cannot be confirmed")
            continue
        if measured_sha256 is not None:
            measured_sha256[path] = measured["sha256"]
        wrong = [alg for alg, m in manifests.items() if not hmac.compare_digest(m.get(path, ""), measured[alg])]
        checked = ", ".join(alg.upper() for alg in manifests)
        report.add(path, not wrong, f"{', '.join(a.upper() for a in wrong)} mismatch" if wrong else f"{checked} match")
    return manifests["sha256"]


def check_tag_manifests(bag: _Bag, report: BundleReport) -> None:
    """Check every tag file against both tag manifests, and that no tag file escapes them."""
    covered: set[str] = set()
    for alg in ("sha256", "sha512"):
        name = f"tagmanifest-{alg}.txt"
        for path, digest in _manifest(bag, name, report).items():
            covered.add(path)
            if not bag.has(path):
                report.add(path, False, f"listed in {name} but missing from the bundle")
                continue
            actual = hashlib.new(alg, bag.read(path)).hexdigest()
            same = hmac.compare_digest(actual, digest)
            altered = " (this verifier file was altered: do not trust it)" if path == VERIFIER_FILE else (
                " (this derivative spec was altered after the bundle was signed)"
                if path.startswith(DERIVATIVES_DIR) else "")
            outcome = "matches" if same else f"mismatch{altered}"
            report.add(path, same, f"{alg.upper()} {outcome} ({name})")
    for path in sorted(bag.members):
        if not path.startswith(("data/", *UNLISTED_PREFIXES)) and path not in covered:
            report.add(path, False, "tag file not covered by the tag manifests, so not by the signature")


def check_oxum(bag: _Bag, report: BundleReport) -> dict[str, str]:
    """Parse bag-info.txt and compare Payload-Oxum with the payload actually present."""
    if not bag.has(BAG_INFO_FILE):
        report.add(BAG_INFO_FILE, False, "missing from the bundle")
        return {}
    info = {}
    for line in bag.read(BAG_INFO_FILE).decode("utf-8", "replace").splitlines():
        label, _, value = line.partition(":")
        info[label.strip()] = value.strip()
    payload = [bag.archive.getinfo(bag.members[p]) for p in bag.members if p.startswith("data/")]
    actual = f"{sum(i.file_size for i in payload)}.{len(payload)}"
    oxum = info.get("Payload-Oxum")
    report.add(BAG_INFO_FILE, oxum == actual, f"Payload-Oxum {oxum} (found {actual})")
    return info


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def check_public_key(bag: _Bag, report: BundleReport, pinned: bytes | None) -> Ed25519PublicKey | None:
    """Load the vault's Ed25519 key from the bundle, refusing it if it is not the key the reader pinned."""
    if not bag.has(PUBLIC_KEY_FILE):
        report.add(PUBLIC_KEY_FILE, False, "the vault's public key is missing")
        return None
    try:
        key = serialization.load_pem_public_key(bag.read(PUBLIC_KEY_FILE))
        expected = serialization.load_pem_public_key(pinned) if pinned else key
    except ValueError:
        report.add(PUBLIC_KEY_FILE, False, "not a readable PEM public key")
        return None
    if not isinstance(key, Ed25519PublicKey) or not isinstance(expected, Ed25519PublicKey):
        report.add(PUBLIC_KEY_FILE, False, "not an Ed25519 public key")
        return None
    key_id = hashlib.sha256(_raw(key)).hexdigest()[:16]
    if not hmac.compare_digest(_raw(key), _raw(expected)):
        report.add(PUBLIC_KEY_FILE, False, f"key {key_id} is not the vault key you supplied")
        return None
    source = "matches the key you supplied" if pinned else "taken from the bundle; compare it with the agency's key"
    report.add(PUBLIC_KEY_FILE, True, f"Ed25519 key id {key_id} ({source})")
    return key


def check_signature(bag: _Bag, report: BundleReport, key: Ed25519PublicKey) -> bytes | None:
    """Check the Ed25519 signature over tagmanifest-sha256.txt; return the signature bytes."""
    if not bag.has(SIGNATURE_FILE) or not bag.has(SIGNED_FILE):
        report.add(SIGNATURE_FILE, False, "the bundle is not signed (signature or signed manifest missing)")
        return None
    signature = bag.read(SIGNATURE_FILE)
    try:
        key.verify(signature, bag.read(SIGNED_FILE))
    except InvalidSignature:
        report.add(SIGNATURE_FILE, False, "FORGED or altered: the signature does not match tagmanifest-sha256.txt")
        return signature
    report.add(SIGNATURE_FILE, True, "valid Ed25519 signature over tagmanifest-sha256.txt (the manifest set)")
    return signature


def checkpoint_signed(checkpoint: dict[str, Any], key: Ed25519PublicKey) -> bool:
    """Return True when a bundle's checkpoint (a C2SP note, or the older bare signature) is signed by key."""
    root = bytes.fromhex(checkpoint["root_hash"])
    if "note" not in checkpoint:  # a bundle made before checkpoints became C2SP notes
        message = checkpoint_statement(int(checkpoint["tree_size"]), root, checkpoint["signed_at"])
        try:
            key.verify(base64.b64decode(checkpoint["signature"]), message)
        except (InvalidSignature, ValueError):
            return False
        return True
    try:
        text, _ = parse_note(checkpoint["note"])
        origin, size, note_root = parse_checkpoint(text)
        if any(c.isspace() or c == "+" for c in origin) or not origin:
            return False
        signed = note_signed_by(checkpoint["note"], name=origin, key=key)
    except NoteError:
        return False
    return signed and size == int(checkpoint["tree_size"]) and note_root == root


def _check_checkpoint(bag: _Bag, report: BundleReport, key: Ed25519PublicKey) -> dict[str, Any] | None:
    checkpoint: dict[str, Any] = json.loads(bag.read(CHECKPOINT_FILE))
    size = checkpoint["tree_size"]
    if not checkpoint_signed(checkpoint, key):
        report.add(CHECKPOINT_FILE, False, f"checkpoint {size} has an invalid signature")
        return None
    where = f", anchored as {checkpoint['anchor']}" if checkpoint.get("anchor") else ""
    report.add(CHECKPOINT_FILE, True, f"signed checkpoint of the custody log, size {size}{where}")
    return checkpoint


def check_custody(bag: _Bag, report: BundleReport, key: Ed25519PublicKey) -> list[dict[str, Any]]:
    """Check each custody event's leaf hash and inclusion proof against the signed checkpoint."""
    if not (bag.has(CHECKPOINT_FILE) and bag.has(EVENTS_FILE)):
        report.add(EVENTS_FILE, False, "the custody events or their checkpoint are missing")
        return []
    checkpoint = _check_checkpoint(bag, report, key)
    if checkpoint is None:
        return []
    root, size = bytes.fromhex(checkpoint["root_hash"]), int(checkpoint["tree_size"])
    events: list[dict[str, Any]] = json.loads(bag.read(EVENTS_FILE))
    for item in events:
        subject = f"custody event {item['log_index']} ({item['entry'].get('action')})"
        leaf = leaf_hash(canonical_json(item["entry"]))
        if not hmac.compare_digest(leaf.hex(), item["leaf_hash"]):
            report.add(subject, False, "the entry was altered: it does not hash to its leaf")
            continue
        proof = [bytes.fromhex(p) for p in item["proof"]]
        included = verify_inclusion(leaf_hash=leaf, index=int(item["log_index"]), tree_size=size, proof=proof,
                                    root=root)
        message = (
            f"included in signed checkpoint {size}" if included
            else f"inclusion proof does not lead to the root of signed checkpoint {size} "
            "(proof against the wrong checkpoint?)"
        )
        report.add(subject, included, message)
    return events


def check_records(
    bag: _Bag, report: BundleReport, events: list[dict[str, Any]], manifest: dict[str, str], export_id: str
) -> None:
    """Tie each payload file to its record's custody history: registered with this SHA-256, exported in this export."""
    for path in sorted(p for p in bag.members if p.startswith(RECORDS_DIR)):
        record = json.loads(bag.read(path))
        mine = [e["entry"] for e in events if e["entry"]["subject_id"] == record["evidence_id"]]
        # Only derived copies of some records are in the bag: their ingest SHA-256 is what the log must hold.
        digest = manifest.get(record["payload_path"], "") if record["payload_path"] \
            else record["digests_recorded_at_ingest"]["sha256"]
        registered = any(e["action"] == "evidence:registered" and e["details"].get("sha256") == digest for e in mine)
        exported = any(e["action"] == "evidence:exported" and e["details"].get("export_id") == export_id for e in mine)
        subject = record["payload_path"] or f"record {record['evidence_id']} (original not in this bundle)"
        report.add(subject, registered, "custody log registered these bytes at ingest" if registered
                   else "no proven ingest event with this SHA-256")
        report.add(subject, exported, "custody log records this export" if exported
                   else f"no proven export event for export {export_id}")


def _withheld_hashes(bag: _Bag) -> set[str]:
    if not bag.has(WITHHELD_FILE):
        return set()
    return {str(w["sha256"]) for w in json.loads(bag.read(WITHHELD_FILE))["withheld"]}


def check_provenance(bag: _Bag, report: BundleReport, manifest: dict[str, str], measured: dict[str, str]) -> None:
    """Check each derivative's spec: its original is in the bundle or listed withheld, its bytes match its output."""
    specs = {p: json.loads(bag.read(p)) for p in sorted(bag.members) if p.startswith(DERIVATIVES_DIR)}
    originals = set(manifest.values()) | _withheld_hashes(bag)
    outputs = {str(s["output"]["sha256"]) for s in specs.values()}
    sources = {str(s["source"]["sha256"]) for s in specs.values() if s.get("source")}
    for path, spec in specs.items():
        original = str(spec["original"]["sha256"])
        known = original in originals
        report.add(path, known, f"names original {original[:16]}…, which is in the signed manifest or listed as "
                   "withheld" if known else f"names an original (SHA-256 {original}) that is neither in the signed "
                   "manifest nor listed as withheld: its provenance cannot be traced")
        source = spec.get("source")
        if source is not None:
            ok = source["sha256"] in originals | outputs
            report.add(path, ok, "made from a source this bundle accounts for" if ok
                       else f"made from an unknown source (SHA-256 {source['sha256']})")
        target, wanted = spec.get("payload_path"), str(spec["output"]["sha256"])
        if target is None:
            used = wanted in sources
            report.add(path, used, "an intermediate version: a copy in this bundle was made from it" if used
                       else "names no file in this bundle, and no copy here was made from it")
            continue
        actual = measured.get(target, manifest.get(target, ""))
        same = hmac.compare_digest(actual, wanted)
        report.add(target, same, "bytes match the output SHA-256 its spec records" if same
                   else f"bytes (SHA-256 {actual or 'missing'}) do not match the output SHA-256 {wanted} its spec "
                   f"{path} records")
    named = {s.get("payload_path") for s in specs.values()}
    plain = {json.loads(bag.read(p))["payload_path"] for p in bag.members if p.startswith(RECORDS_DIR)}
    for path in sorted(p for p in manifest if p not in plain and p not in named):
        report.add(path, False, "a payload file that is neither an original nor a derivative with a spec")


# --- the RFC 3161 time-stamp, when rfc3161-client is installed -----------------------------------------------

_GRANTED = b"\x30\x03\x02\x01\x00"  # PKIStatusInfo { status granted }, to read a bare token as a response
_UNTRUSTED = ("unable to get local issuer certificate", "self-signed certificate", "self signed certificate")


def _decode_timestamp(der: bytes, decode: Any) -> Any:
    """Parse a TimeStampResp, or a bare TimeStampToken as if a TSA had granted it."""
    length = len(_GRANTED) + len(der)
    size = length.to_bytes((length.bit_length() + 7) // 8 or 1, "big")
    header = b"\x30" + (bytes([length]) if length < 0x80 else bytes([0x80 | len(size)]) + size)
    for candidate in (der, header + _GRANTED + der):
        try:
            return decode(candidate)
        except ValueError:
            continue
    raise ValueError("not an RFC 3161 time-stamp token or response")


def _timestamp_reason(exc: Exception) -> str:
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


def _tsa_name(response: Any) -> str:
    signers = list(response.signed_data.signer_infos)
    for der in response.signed_data.certificates:
        cert = x509.load_der_x509_certificate(der)
        if any(cert.issuer == s.issuer and cert.serial_number == s.serial_number for s in signers):
            return cert.subject.rfc4514_string()
    return "an unnamed TSA"


def verify_timestamp(token: bytes, *, data: bytes, ca_pem: bytes) -> str:
    """Verify a time-stamp over data under ca_pem; return "at TIME by TSA", raise ValueError saying why not.

    Raise ImportError when rfc3161-client is not installed.
    """
    from rfc3161_client import VerificationError, VerifierBuilder, decode_timestamp_response

    try:
        roots = x509.load_pem_x509_certificates(ca_pem)
    except ValueError as exc:
        raise ValueError("the TSA CA file holds no PEM certificate") from exc
    try:
        response = _decode_timestamp(token, decode_timestamp_response)
    except ValueError as exc:
        raise ValueError("the time-stamp token cannot be read (not DER RFC 3161)") from exc
    try:
        VerifierBuilder(roots=roots, nonce=None).build().verify_message(response, data)
    except VerificationError as exc:
        raise ValueError(f"the time-stamp token does not verify: {_timestamp_reason(exc)}") from exc
    moment = response.tst_info.gen_time
    gen_time = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return f"at {gen_time} by {_tsa_name(response)}"


def check_timestamp(bag: _Bag, report: BundleReport, signature: bytes, trusted_pem: bytes | None) -> None:
    """Check the RFC 3161 time-stamp over the signature, if the bundle has one and rfc3161-client is installed."""
    if not bag.has(TIMESTAMP_FILE):
        report.add(TIMESTAMP_FILE, True, "no time-stamp in this bundle (none was configured)")
        return
    bundled = bag.read(TSA_CERTS_FILE) if bag.has(TSA_CERTS_FILE) else b""
    if not (trusted_pem or bundled):
        report.add(TIMESTAMP_FILE, False, "the TSA certificate is not issued by a trusted TSA certificate: "
                   "the bundle carries none; supply one with --tsa-ca")
        return
    source = "the TSA certificate you supplied" if trusted_pem else "the TSA certificates in the bundle"
    try:
        stamped = verify_timestamp(bag.read(TIMESTAMP_FILE), data=signature, ca_pem=trusted_pem or bundled)
    except ImportError:
        report.add(TIMESTAMP_FILE, True, f"{TIMESTAMP_NOT_CHECKED} to check it; every other check ran")
        return
    except ValueError as exc:
        report.add(TIMESTAMP_FILE, False, f"{exc} (trusted via {source})")
        return
    report.add(TIMESTAMP_FILE, True, f"RFC 3161 time-stamp of the signature {stamped}, trusted via {source}")


# --- the whole bundle ----------------------------------------------------------------------------------------


def verify_bundle(
    path: Path, *, public_key_pem: bytes | None = None, tsa_certificates_pem: bytes | None = None, sm3: bool = False
) -> BundleReport:
    """Check payload digests, manifests, tag manifests, signature, custody proofs and time-stamp of one bundle."""
    report = BundleReport()
    bag = _open(path, report)
    if bag is None:
        return report
    with bag.archive:
        try:
            measured: dict[str, str] = {}
            manifest = check_payload(bag, report, sm3=sm3, measured_sha256=measured)
            check_tag_manifests(bag, report)
            info = check_oxum(bag, report)
            key = check_public_key(bag, report, public_key_pem)
            if key is None:
                return report
            signature = check_signature(bag, report, key)
            events = check_custody(bag, report, key)
            check_records(bag, report, events, manifest, info.get("External-Identifier", ""))
            check_provenance(bag, report, manifest, measured)
            if signature is not None:
                check_timestamp(bag, report, signature, tsa_certificates_pem)
        except (zipfile.BadZipFile, zlib.error, KeyError, ValueError, TypeError) as exc:
            report.add("bundle", False, f"malformed bundle: {type(exc).__name__}: {exc}")
    return report


def format_report(report: BundleReport) -> str:
    """Return the per-check lines and the overall verdict."""
    lines = [f"{'OK  ' if f.ok else 'FAIL'}  {f.subject}: {f.message}" for f in report.findings]
    unchecked = any(f.subject == TIMESTAMP_FILE and TIMESTAMP_NOT_CHECKED in f.message for f in report.findings)
    if report.ok:
        held = "custody proof" + (" (time-stamp not checked)" if unchecked else " and time-stamp")
        lines.append(f"VERDICT: VALID — every digest, manifest, signature, {held} holds")
    else:
        lines.append(f"VERDICT: INVALID — {len(report.problems)} check(s) failed:")
        lines += [f"  - {f.subject}: {f.message}" for f in report.problems]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Verify one bundle from the command line; return 0 when it is valid, 1 when not (argparse exits 2 on usage)."""
    parser = argparse.ArgumentParser(description="Verify an Evidence Vault bundle offline.")
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--public-key", type=Path, help="the agency's published vault key (PEM) to pin")
    parser.add_argument("--tsa-ca", type=Path, help="trusted TSA certificate(s), PEM")
    parser.add_argument("--sm3", action="store_true", help="also check the SM3 digests (slower)")
    args = parser.parse_args(argv)
    try:
        public_key = args.public_key.read_bytes() if args.public_key else None
        tsa_ca = args.tsa_ca.read_bytes() if args.tsa_ca else None
    except OSError as exc:
        parser.error(f"cannot read {exc.filename}: {exc.strerror}")
    report = verify_bundle(args.bundle, public_key_pem=public_key, tsa_certificates_pem=tsa_ca, sm3=args.sm3)
    print(format_report(report))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
