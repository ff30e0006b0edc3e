"""Verify a whole-vault exit export (an OCFL 1.1 storage root made by `evault export-vault`), offline.

Every inventory against its SHA-512 sidecar; every file against the manifest (SHA-512) and the vault's SHA-256
fixity; each original's SM3 against its record; the custody log's leaf hashes and Merkle roots against every
signed checkpoint, the checkpoints' and anchors' signatures, the disposal certificates' signatures; and each
record's custody entries against the log. The hashing, Merkle and signed-note code is the bundle verifier's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evault_client.verify_bundle import (
    BundleReport,
    NoteError,
    canonical_json,
    checkpoint_signed,
    leaf_hash,
    node_hash,
    note_signed_by,
    parse_checkpoint,
    parse_note,
    stream_digests,
)

OBJECT_DECLARATION = "0=ocfl_object_1.1"
STAGING = ".evault-staging"
VAULT_FILE = "vault.json"
LOG_FILE = "custody/log.jsonl"
CHECKPOINTS_FILE = "custody/checkpoints.jsonl"
ANCHORS_FILE = "custody/anchors.jsonl"
PUBLIC_KEY_FILE = "keys/vault-public-key.pem"
RETIRED_KEYS_PREFIX = "keys/retired/"
DISPOSALS_FILE = "retention/disposal-certificates.json"
EVIDENCE_FILE = "metadata/evidence.json"
CUSTODY_FILE = "metadata/custody.json"
DISPOSAL_FILE = "metadata/disposal-certificate.json"
CERTIFICATE_PREFIX = b"evault disposal certificate v1\n"
_PLAIN = re.compile(r"[A-Za-z0-9_-]")


def layout_path(object_id: str) -> str:
    """Return where extension 0003 (hash-and-id n-tuple, SHA-256, 3 x 3) puts an object."""
    digest = hashlib.sha256(object_id.encode()).hexdigest()
    encoded = "".join(c if _PLAIN.fullmatch(c) else "".join(f"%{b:02x}" for b in c.encode()) for c in object_id)
    folder = f"{encoded[:100]}-{digest}" if len(encoded) > 100 else encoded
    return "/".join([digest[0:3], digest[3:6], digest[6:9], folder])


@dataclass
class ExportObject:
    """One verified object: its id, root, and head state as logical path -> file on disk."""

    object_id: str
    folder: Path
    files: dict[str, Path] = field(default_factory=dict)
    sha256: dict[str, str] = field(default_factory=dict)

    def json(self, logical_path: str) -> Any:
        """Return a JSON file of the head version."""
        return json.loads(self.files[logical_path].read_bytes())

    def lines(self, logical_path: str) -> Iterator[Any]:
        """Yield the values of a JSON-lines file of the head version, one line at a time."""
        with self.files[logical_path].open("rb") as handle:
            for line in handle:
                yield json.loads(line)


def _inventory(folder: Path, report: BundleReport, where: str) -> dict[str, Any] | None:
    try:
        data = (folder / "inventory.json").read_bytes()
        sidecar = (folder / "inventory.json.sha512").read_text().split(" ", 1)[0].strip().lower()
    except OSError as exc:
        report.add(where, False, f"inventory or its sidecar is missing ({exc.strerror}: {Path(exc.filename).name})")
        return None
    if not report.add(where, hmac.compare_digest(hashlib.sha512(data).hexdigest(), sidecar),
                      "inventory.json matches its SHA-512 sidecar" if hmac.compare_digest(
                          hashlib.sha512(data).hexdigest(), sidecar) else "inventory.json does not match its sidecar"):
        return None
    inventory: dict[str, Any] = json.loads(data)
    return inventory


def _object_files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")
            if p.is_file() and "/content/" in f"/{p.relative_to(folder).as_posix()}"}


def check_object(root: Path, folder: Path, report: BundleReport) -> ExportObject | None:
    """Check one object's inventories, layout path and every content file's SHA-512 and SHA-256."""
    where = folder.relative_to(root).as_posix()
    inventory = _inventory(folder, report, where)
    if inventory is None:
        return None
    for version in inventory["versions"]:
        _inventory(folder / version, report, f"{where}/{version}")
    report.add(where, layout_path(inventory["id"]) == where, f"object {inventory['id']} at its layout path")
    fixity = {path: digest for digest, paths in inventory.get("fixity", {}).get("sha256", {}).items()
              for path in paths}
    listed: dict[str, str] = {path: digest for digest, paths in inventory["manifest"].items() for path in paths}
    for path in sorted(_object_files(folder) - set(listed)):
        report.add(f"{where}/{path}", False, "file not listed in the inventory's manifest")
    found = ExportObject(inventory["id"], folder)
    measured: dict[str, dict[str, str]] = {}
    for path, digest in sorted(listed.items()):
        try:
            with (folder / path).open("rb") as handle:
                measured[path] = stream_digests(handle, ["sha512", "sha256"])
        except OSError:
            report.add(f"{where}/{path}", False, "listed in the manifest but missing")
            continue
        wanted = (("sha512", "SHA-512", digest), ("sha256", "SHA-256", fixity.get(path, "")))
        wrong = [label for a, label, want in wanted if want and not hmac.compare_digest(measured[path][a], want)]
        report.add(f"{where}/{path}", not wrong, f"{', '.join(wrong)} mismatch" if wrong else "SHA-512, SHA-256 match")
    head = inventory["versions"][inventory["head"]]["state"]
    by_digest = {d: paths[0] for d, paths in inventory["manifest"].items()}
    for digest, logical in head.items():
        for name in logical:
            found.files[name] = folder / by_digest[digest]
            found.sha256[name] = measured.get(by_digest[digest], {}).get("sha256", "")
    return found


def find_objects(root: Path, report: BundleReport) -> Iterator[Path]:
    """Yield every object root under the storage root; report an unfinished run's staging folder."""
    if (root / STAGING).exists():
        report.add(STAGING, False, "an export-vault run did not finish here: run it again on this folder")
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in ("extensions", STAGING))
        if OBJECT_DECLARATION in files:
            dirs[:] = []
            yield Path(dirpath)


Keys = dict[str, Ed25519PublicKey]  # key id -> key: the current signing key and the retired ones


def _key_id(key: Ed25519PublicKey) -> str:
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    return hashlib.sha256(key.public_bytes(*raw)).hexdigest()[:16]


def _load_keys(vault: ExportObject, report: BundleReport, pinned: bytes | None) -> Keys | None:
    """Return the current key (checked against a pinned one) and the retired keys the export carries, by key id."""
    current = _load_key(vault, report, pinned)
    if current is None:
        return None
    keys = {_key_id(current): current}
    for path, file in vault.files.items():
        if path.startswith(RETIRED_KEYS_PREFIX):
            retired = serialization.load_pem_public_key(file.read_bytes())
            if isinstance(retired, Ed25519PublicKey):
                keys[_key_id(retired)] = retired
    return keys


def _signing_key(keys: Keys, signed: dict[str, Any]) -> Ed25519PublicKey | None:
    """Return the key a checkpoint or certificate names by its key id (the current key when it names none)."""
    return keys.get(signed["key_id"]) if "key_id" in signed else next(iter(keys.values()))


def _load_key(vault: ExportObject, report: BundleReport, pinned: bytes | None) -> Ed25519PublicKey | None:
    key = serialization.load_pem_public_key(vault.files[PUBLIC_KEY_FILE].read_bytes())
    expected = serialization.load_pem_public_key(pinned) if pinned else key
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    if not isinstance(key, Ed25519PublicKey) or not isinstance(expected, Ed25519PublicKey):
        report.add(PUBLIC_KEY_FILE, False, "not an Ed25519 public key")
        return None
    same = hmac.compare_digest(key.public_bytes(*raw), expected.public_bytes(*raw))
    key_id = hashlib.sha256(key.public_bytes(*raw)).hexdigest()[:16]
    source = "matches the key you supplied" if pinned else "taken from the export; compare it with the agency's key"
    report.add(PUBLIC_KEY_FILE, same, f"Ed25519 key id {key_id} ({source})" if same else "not the key you supplied")
    return key if same else None


def _root_hash(frontier: list[tuple[int, bytes]]) -> bytes:
    """Return the RFC 9162 root of the leaves a frontier (perfect subtrees, largest first) summarises."""
    if not frontier:
        return hashlib.sha256(b"").digest()
    root = frontier[-1][1]
    for _height, node in reversed(frontier[:-1]):
        root = node_hash(node, root)
    return root


def _append(frontier: list[tuple[int, bytes]], leaf: bytes) -> None:
    height, carry = 0, leaf
    while frontier and frontier[-1][0] == height:
        carry = node_hash(frontier.pop()[1], carry)
        height += 1
    frontier.append((height, carry))


def signed_roots(vault: ExportObject, report: BundleReport, keys: Keys) -> dict[int, str]:
    """Check every checkpoint's signature (one finding for all that hold); return tree size -> signed root."""
    roots: dict[int, str] = {}
    for checkpoint in vault.lines(CHECKPOINTS_FILE):
        size = int(checkpoint["tree_size"])
        key = _signing_key(keys, checkpoint)
        if key is not None and checkpoint_signed(checkpoint, key):
            roots[size] = checkpoint["root_hash"]
        else:
            report.add(f"checkpoint {size}", False, "the vault's key did not sign it")
    report.add(CHECKPOINTS_FILE, bool(roots), f"{len(roots)} checkpoints signed by the vault's key")
    return roots


def check_log(vault: ExportObject, report: BundleReport, roots: dict[int, str]) -> dict[int, str]:
    """Re-hash every log entry, rebuild the Merkle root at each signed checkpoint; return index -> leaf hash."""
    leaves: dict[int, str] = {}
    frontier: list[tuple[int, bytes]] = []
    problems = len(report.problems)
    for index, item in enumerate(vault.lines(LOG_FILE)):
        leaf = leaf_hash(canonical_json(item["entry"]))
        if int(item["log_index"]) != index or not hmac.compare_digest(leaf.hex(), item["leaf_hash"]):
            report.add(f"custody entry {index}", False, "altered: it does not hash to its leaf, or is out of place")
        leaves[index] = leaf.hex()
        _append(frontier, leaf)
        if index + 1 in roots and not hmac.compare_digest(_root_hash(frontier).hex(), roots[index + 1]):
            report.add(f"checkpoint {index + 1}", False,
                       "the log's Merkle root differs from the signed root: the log was changed")
    size, stated = len(leaves), int(vault.json(VAULT_FILE)["custody_log_size"])
    whole = size == stated and size in roots and len(report.problems) == problems
    report.add(LOG_FILE, whole, f"{size} entries hash to their leaves and to the root of every signed checkpoint, "
               f"the last of size {size}" if whole else f"{size} entries; the export states {stated}")
    return leaves


def check_anchors(vault: ExportObject, report: BundleReport, keys: Keys, roots: dict[int, str]) -> None:
    """Check every anchored checkpoint note is signed by the vault and agrees with the signed checkpoint of its size."""
    held = 0
    for anchor in vault.lines(ANCHORS_FILE):
        try:
            text, _ = parse_note(anchor["note"])
            origin, size, root = parse_checkpoint(text)
            signed = any(note_signed_by(anchor["note"], name=origin, key=key) for key in keys.values())
        except NoteError as exc:
            report.add(anchor["location"], False, f"not a checkpoint note: {exc}")
            continue
        if signed and roots.get(size, root.hex()) == root.hex():
            held += 1
        else:
            report.add(anchor["location"], False, "anchor unsigned, or it disagrees with the checkpoint of its size")
    report.add(ANCHORS_FILE, held > 0, f"{held} anchored checkpoint notes signed and agreeing with the log")


def certificate_signed(certificate: dict[str, Any], keys: Keys) -> bool:
    """Return True when a disposal certificate's body carries the signature of the vault key it names."""
    key = _signing_key(keys, certificate)
    if key is None:
        return False
    try:
        key.verify(base64.b64decode(certificate["signature"]), CERTIFICATE_PREFIX + certificate["body"].encode())
    except (InvalidSignature, ValueError):
        return False
    return True


def check_record(record: ExportObject, report: BundleReport, keys: Keys, leaves: dict[int, str],
                 *, sm3: bool) -> None:
    """Tie one record's object to the log: its bytes, its digests, its custody entries, its disposal certificate."""
    body = record.json(EVIDENCE_FILE)
    digests, subject = body["digests"], record.object_id
    original = body.get("original_path")
    if original:
        same = hmac.compare_digest(record.sha256.get(original, ""), digests["sha256"])
        report.add(f"{subject} {original}", same, "SHA-256 is the one recorded at ingest" if same
                   else "SHA-256 differs from the one recorded at ingest")
        if sm3 and digests.get("sm3"):
            with record.files[original].open("rb") as handle:
                measured = stream_digests(handle, ["sm3"])["sm3"]
            report.add(f"{subject} {original}", hmac.compare_digest(measured, digests["sm3"]), "SM3 checked")
    events = record.json(CUSTODY_FILE)
    proven = [e for e in events if leaves.get(int(e["log_index"])) == e["leaf_hash"]
              and leaf_hash(canonical_json(e["entry"])).hex() == e["leaf_hash"]]
    report.add(f"{subject} custody", len(proven) == len(events) and bool(events),
               f"{len(events)} entries, each in the signed log" if len(proven) == len(events)
               else f"{len(events) - len(proven)} entries differ from the log")
    registered = any(e["entry"]["action"] == "evidence:registered"
                     and e["entry"]["details"].get("sha256") == digests["sha256"] for e in proven)
    report.add(f"{subject} custody", registered, "the log registered these bytes at ingest" if registered
               else "no proven ingest event with this SHA-256")
    if DISPOSAL_FILE in record.files:
        certificate = record.json(DISPOSAL_FILE)
        signed = certificate_signed(certificate, keys)
        matches = json.loads(certificate["body"]).get("sha256") == digests["sha256"]
        report.add(f"{subject} disposal", signed and matches, "disposal certificate signed by the vault"
                   if signed and matches else "disposal certificate signature or digest does not hold")


def verify_export(root: Path, *, public_key_pem: bytes | None = None, sm3: bool = True) -> BundleReport:
    """Check a whole-vault export: OCFL inventories and files, the custody log, signatures, each record."""
    report = BundleReport()
    declared = root / "0=ocfl_1.1"
    if not report.add("0=ocfl_1.1", declared.is_file() and declared.read_text() == "ocfl_1.1\n",
                      "OCFL 1.1 storage root declaration"):
        return report
    objects = [o for o in (check_object(root, f, report) for f in find_objects(root, report)) if o]
    vaults = [o for o in objects if VAULT_FILE in o.files]
    if not report.add("vault object", len(vaults) == 1, f"{len(vaults)} vault object(s) (one expected)"):
        return report
    try:
        keys = _load_keys(vaults[0], report, public_key_pem)
        if keys is None:
            return report
        roots = signed_roots(vaults[0], report, keys)
        leaves = check_log(vaults[0], report, roots)
        check_anchors(vaults[0], report, keys, roots)
        for certificate in vaults[0].json(DISPOSALS_FILE):
            report.add(f"disposal certificate {certificate['evidence_id']}", certificate_signed(certificate, keys),
                       "signed by the vault's key")
        for record in (o for o in objects if EVIDENCE_FILE in o.files):
            check_record(record, report, keys, leaves, sm3=sm3)
    except (KeyError, ValueError, TypeError) as exc:
        report.add("export", False, f"malformed export: {type(exc).__name__}: {exc}")
    return report


def format_export_report(report: BundleReport) -> str:
    """Return the failed checks (all checks are many) and the verdict."""
    lines = [f"FAIL  {f.subject}: {f.message}" for f in report.problems]
    if report.ok:
        lines.append(f"VERDICT: VALID — {len(report.findings)} checks: every inventory, digest, signature and "
                     "the custody log's Merkle roots hold")
    else:
        lines.append(f"VERDICT: INVALID — {len(report.problems)} of {len(report.findings)} check(s) failed")
    return "\n".join(lines)
