"""Verify an evidence bundle offline: only the ZIP file, the standard library, `cryptography` and `rfc3161-client`.

Run as `evault verify-bundle FILE` or `python -m vault.exports.verify FILE`; exit 0 only when every check holds.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import sys
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from vault.custody.encoding import checkpoint_statement as checkpoint_message
from vault.custody.merkle import leaf_hash, verify_inclusion
from vault.custody.note import CheckpointText, NoteError, NoteKey, SignedNote
from vault.exports import layout
from vault.exports.hashing import MultiHasher
from vault.keys import canonical_json as canonical_entry
from vault.timestamping import TimestampInvalid, verify_timestamp

CHUNK = 1024 * 1024
MAX_TAG_FILE = 64 * 1024 * 1024


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
        with MultiHasher(algorithms) as hasher, self.archive.open(self.members[path]) as handle:
            while chunk := handle.read(CHUNK):
                hasher.update(chunk)
            return hasher.hexdigests()


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
    version = bag.read(layout.BAGIT_FILE).decode("utf-8", "replace")
    report.add(layout.BAGIT_FILE, "BagIt-Version: 1.0" in version, "BagIt 1.0 declaration (RFC 8493)")
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


def check_payload(bag: _Bag, report: BundleReport, *, sm3: bool) -> dict[str, str]:
    """Hash every payload file once, comparing against manifest-sha256/sha512 (and the SM3 tag file if asked)."""
    manifests = {alg: _manifest(bag, f"manifest-{alg}.txt", report) for alg in ("sha256", "sha512")}
    if sm3:
        manifests["sm3"] = _manifest(bag, layout.SM3_TAG_FILE, report)
    listed = set().union(*(set(m) for m in manifests.values()))
    present = {p for p in bag.members if p.startswith("data/")}
    for path in sorted(present - listed):
        report.add(path, False, "payload file not listed in the manifests")
    measured: dict[str, dict[str, str]] = {}
    for path in sorted(listed):
        if path not in present:
            report.add(path, False, "listed in the manifests but missing from the bundle")
            continue
        try:
            measured[path] = bag.digests(path, list(manifests))
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            report.add(path, False, f"damaged inside the ZIP ({exc}); its digests cannot be confirmed")
            continue
        wrong = [alg for alg, m in manifests.items() if not hmac.compare_digest(m.get(path, ""), measured[path][alg])]
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
            report.add(
                path,
                hmac.compare_digest(actual, digest),
                f"{alg.upper()} {'matches' if actual == digest else 'mismatch'} ({name})",
            )
    for path in sorted(bag.members):
        if not path.startswith(("data/", *layout.UNLISTED_PREFIXES)) and path not in covered:
            report.add(path, False, "tag file not covered by the tag manifests, so not by the signature")


def check_oxum(bag: _Bag, report: BundleReport) -> dict[str, str]:
    """Parse bag-info.txt and compare Payload-Oxum with the payload actually present."""
    if not bag.has(layout.BAG_INFO_FILE):
        report.add(layout.BAG_INFO_FILE, False, "missing from the bundle")
        return {}
    info = {}
    for line in bag.read(layout.BAG_INFO_FILE).decode("utf-8", "replace").splitlines():
        label, _, value = line.partition(":")
        info[label.strip()] = value.strip()
    payload = [bag.archive.getinfo(bag.members[p]) for p in bag.members if p.startswith("data/")]
    actual = f"{sum(i.file_size for i in payload)}.{len(payload)}"
    report.add(
        layout.BAG_INFO_FILE,
        info.get("Payload-Oxum") == actual,
        f"Payload-Oxum {info.get('Payload-Oxum')} (found {actual})",
    )
    return info


def _public_key(bag: _Bag, report: BundleReport, pinned: bytes | None) -> Ed25519PublicKey | None:
    if not bag.has(layout.PUBLIC_KEY_FILE):
        report.add(layout.PUBLIC_KEY_FILE, False, "the vault's public key is missing")
        return None
    try:
        key = serialization.load_pem_public_key(bag.read(layout.PUBLIC_KEY_FILE))
        expected = serialization.load_pem_public_key(pinned) if pinned else key
    except ValueError:
        report.add(layout.PUBLIC_KEY_FILE, False, "not a readable PEM public key")
        return None
    if not isinstance(key, Ed25519PublicKey) or not isinstance(expected, Ed25519PublicKey):
        report.add(layout.PUBLIC_KEY_FILE, False, "not an Ed25519 public key")
        return None
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    pin_raw = expected.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key_id = hashlib.sha256(raw).hexdigest()[:16]
    if not hmac.compare_digest(raw, pin_raw):
        report.add(layout.PUBLIC_KEY_FILE, False, f"key {key_id} is not the vault key you supplied")
        return None
    source = "matches the key you supplied" if pinned else "taken from the bundle; compare it with the agency's key"
    report.add(layout.PUBLIC_KEY_FILE, True, f"Ed25519 key id {key_id} ({source})")
    return key


def check_signature(bag: _Bag, report: BundleReport, key: Ed25519PublicKey) -> bytes | None:
    """Check the Ed25519 signature over tagmanifest-sha256.txt; return the signature bytes."""
    if not bag.has(layout.SIGNATURE_FILE) or not bag.has(layout.SIGNED_FILE):
        report.add(layout.SIGNATURE_FILE, False, "the bundle is not signed (signature or signed manifest missing)")
        return None
    signature = bag.read(layout.SIGNATURE_FILE)
    try:
        key.verify(signature, bag.read(layout.SIGNED_FILE))
    except InvalidSignature:
        report.add(
            layout.SIGNATURE_FILE, False, "FORGED or altered: the signature does not match tagmanifest-sha256.txt"
        )
        return signature
    report.add(layout.SIGNATURE_FILE, True, "valid Ed25519 signature over tagmanifest-sha256.txt (the manifest set)")
    return signature


def _check_checkpoint(bag: _Bag, report: BundleReport, key: Ed25519PublicKey) -> dict[str, Any] | None:
    checkpoint: dict[str, Any] = json.loads(bag.read(layout.CHECKPOINT_FILE))
    size = checkpoint["tree_size"]
    if not _checkpoint_signed(checkpoint, key):
        report.add(layout.CHECKPOINT_FILE, False, f"checkpoint {size} has an invalid signature")
        return None
    where = f", anchored as {checkpoint['anchor']}" if checkpoint.get("anchor") else ""
    report.add(layout.CHECKPOINT_FILE, True, f"signed checkpoint of the custody log, size {size}{where}")
    return checkpoint


def _checkpoint_signed(checkpoint: dict[str, Any], key: Ed25519PublicKey) -> bool:
    root = bytes.fromhex(checkpoint["root_hash"])
    if "note" not in checkpoint:  # a bundle made before checkpoints became C2SP notes
        message = checkpoint_message(int(checkpoint["tree_size"]), root, checkpoint["signed_at"])
        try:
            key.verify(base64.b64decode(checkpoint["signature"]), message)
        except (InvalidSignature, ValueError):
            return False
        return True
    try:
        note = SignedNote.parse(checkpoint["note"])
        body = CheckpointText.parse(note.text)
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        signed = note.verified_by(NoteKey(name=body.origin, public_raw=raw)) is not None
    except NoteError:
        return False
    return signed and body.tree_size == int(checkpoint["tree_size"]) and body.root == root


def check_custody(bag: _Bag, report: BundleReport, key: Ed25519PublicKey) -> list[dict[str, Any]]:
    """Check each custody event's leaf hash and inclusion proof against the signed checkpoint."""
    if not (bag.has(layout.CHECKPOINT_FILE) and bag.has(layout.EVENTS_FILE)):
        report.add(layout.EVENTS_FILE, False, "the custody events or their checkpoint are missing")
        return []
    checkpoint = _check_checkpoint(bag, report, key)
    if checkpoint is None:
        return []
    root, size = bytes.fromhex(checkpoint["root_hash"]), int(checkpoint["tree_size"])
    events: list[dict[str, Any]] = json.loads(bag.read(layout.EVENTS_FILE))
    for item in events:
        subject = f"custody event {item['log_index']} ({item['entry'].get('action')})"
        leaf = leaf_hash(canonical_entry(item["entry"]))
        if not hmac.compare_digest(leaf.hex(), item["leaf_hash"]):
            report.add(subject, False, "the entry was altered: it does not hash to its leaf")
            continue
        proof = [bytes.fromhex(p) for p in item["proof"]]
        included = verify_inclusion(
            leaf_hash=leaf, index=int(item["log_index"]), tree_size=size, proof=proof, root=root
        )
        message = (
            f"included in signed checkpoint {size}"
            if included
            else (
                f"inclusion proof does not lead to the root of signed checkpoint {size} "
                "(proof against the wrong checkpoint?)"
            )
        )
        report.add(subject, included, message)
    return events


def check_records(
    bag: _Bag, report: BundleReport, events: list[dict[str, Any]], manifest: dict[str, str], export_id: str
) -> None:
    """Tie each payload file to its record's custody history: registered with this SHA-256, exported in this export."""
    for path in sorted(p for p in bag.members if p.startswith(layout.RECORDS_DIR)):
        record = json.loads(bag.read(path))
        mine = [e["entry"] for e in events if e["entry"]["subject_id"] == record["evidence_id"]]
        digest = manifest.get(record["payload_path"], "")
        registered = any(e["action"] == "evidence:registered" and e["details"].get("sha256") == digest for e in mine)
        exported = any(e["action"] == "evidence:exported" and e["details"].get("export_id") == export_id for e in mine)
        subject = record["payload_path"]
        report.add(
            subject,
            registered,
            "custody log registered these bytes at ingest"
            if registered
            else "no proven ingest event with this SHA-256",
        )
        report.add(
            subject,
            exported,
            "custody log records this export" if exported else f"no proven export event for export {export_id}",
        )


def check_timestamp(bag: _Bag, report: BundleReport, signature: bytes, trusted_pem: bytes | None) -> None:
    """Check the RFC 3161 time-stamp over the signature, if the bundle has one, with rfc3161-client's verifier."""
    if not bag.has(layout.TIMESTAMP_FILE):
        report.add(layout.TIMESTAMP_FILE, True, "no time-stamp in this bundle (none was configured)")
        return
    bundled = bag.read(layout.TSA_CERTS_FILE) if bag.has(layout.TSA_CERTS_FILE) else b""
    if not (trusted_pem or bundled):
        report.add(layout.TIMESTAMP_FILE, False, "the TSA certificate is not issued by a trusted TSA certificate: "
                   "the bundle carries none; supply one with --tsa-ca")
        return
    source = "the TSA certificate you supplied" if trusted_pem else "the TSA certificates in the bundle"
    try:
        stamp = verify_timestamp(bag.read(layout.TIMESTAMP_FILE), data=signature, ca_pem=trusted_pem or bundled)
    except TimestampInvalid as exc:
        report.add(layout.TIMESTAMP_FILE, False, f"{exc.message} (trusted via {source})")
        return
    report.add(
        layout.TIMESTAMP_FILE,
        True,
        f"RFC 3161 time-stamp of the signature at {stamp.gen_time} by {stamp.tsa}, trusted via {source}",
    )


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
            manifest = check_payload(bag, report, sm3=sm3)
            check_tag_manifests(bag, report)
            info = check_oxum(bag, report)
            key = _public_key(bag, report, public_key_pem)
            if key is None:
                return report
            signature = check_signature(bag, report, key)
            events = check_custody(bag, report, key)
            check_records(bag, report, events, manifest, info.get("External-Identifier", ""))
            if signature is not None:
                check_timestamp(bag, report, signature, tsa_certificates_pem)
        except (zipfile.BadZipFile, zlib.error, KeyError, ValueError, TypeError) as exc:
            report.add("bundle", False, f"malformed bundle: {type(exc).__name__}: {exc}")
    return report


def format_report(report: BundleReport) -> str:
    """Return the per-check lines and the overall verdict."""
    lines = [f"{'OK  ' if f.ok else 'FAIL'}  {f.subject}: {f.message}" for f in report.findings]
    if report.ok:
        lines.append("VERDICT: VALID — every digest, manifest, signature, custody proof and time-stamp holds")
    else:
        lines.append(f"VERDICT: INVALID — {len(report.problems)} check(s) failed:")
        lines += [f"  - {f.subject}: {f.message}" for f in report.problems]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Verify one bundle from the command line; return 0 only when it is valid."""
    parser = argparse.ArgumentParser(description="Verify an Evidence Vault bundle offline.")
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--public-key", type=Path, help="the agency's published vault key (PEM) to pin")
    parser.add_argument("--tsa-ca", type=Path, help="trusted TSA certificate(s), PEM")
    parser.add_argument("--sm3", action="store_true", help="also check the SM3 digests (slower)")
    args = parser.parse_args(argv)
    report = verify_bundle(
        args.bundle,
        public_key_pem=args.public_key.read_bytes() if args.public_key else None,
        tsa_certificates_pem=args.tsa_ca.read_bytes() if args.tsa_ca else None,
        sm3=args.sm3,
    )
    print(format_report(report))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
