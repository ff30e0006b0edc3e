"""`evault export-vault DIR`: everything the vault holds, as an OCFL 1.1 storage root, resumable and streaming.

One object per evidence (`urn:uuid:<evidence id>`): the original byte for byte and its metadata, a new version
whenever the metadata changed since the last run into the same folder. One vault object (`urn:evault:vault:<key
id>`): the whole custody log, signed checkpoints and their anchors, enforcement certificates, disposal
certificates, users and roles without secrets, retention policies and the public key. The run is logged first
(`vault:exported_whole`), so the log it writes holds its own export.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from evault.exit import records
from evault.exit.ocfl import (
    LAYOUT,
    STAGING,
    Content,
    ContentMismatch,
    ObjectWriter,
    VersionInfo,
    init_storage_root,
    known_digest,
)
from ingest.jobs import backfill_sm3
from retention.models import DisposalCertificate
from vault.context import VaultContext
from vault.custody.anchoring import CHECKPOINT_PREFIX
from vault.custody.models import CustodyAction
from vault.custody.service import latest_checkpoint, record_event
from vault.db import transaction
from vault.errors import InvalidInput
from vault.evidence.models import Evidence, EvidenceStatus
from vault.faults import crash_point
from vault.identities.actor import Actor
from vault.keys import public_pem_of

log = structlog.get_logger(__name__)

PUBLIC_KEY_FILE = "keys/vault-public-key.pem"
RETIRED_KEYS_PREFIX = "keys/retired/"  # what rotated signing keys signed stays verifiable (evault rotate-signing-key)
LOG_FILE = "custody/log.jsonl"
CHECKPOINTS_FILE = "custody/checkpoints.jsonl"
ANCHORS_FILE = "custody/anchors.jsonl"
VAULT_FILE = "vault.json"
DESCRIPTION = ("Evidence Vault exit export: one object per evidence (urn:uuid:<evidence id>) and one vault object "
               "(urn:evault:vault:<key id>); see docs/exit.md")


def evidence_object_id(evidence_id: uuid.UUID) -> str:
    """Return the OCFL id of one record's object."""
    return f"urn:uuid:{evidence_id}"


def vault_object_id(origin: str) -> str:
    """Return the OCFL id of the vault-level object: named by the log's origin, which outlives key rotations."""
    return f"urn:evault:vault:{hashlib.sha256(origin.encode()).hexdigest()[:16]}"


@dataclass
class ExitSummary:
    """What one run did."""

    root: Path
    tree_size: int = 0
    written: int = 0
    versioned: int = 0
    unchanged: int = 0
    disposed: int = 0
    failed: list[str] = field(default_factory=list)
    bytes_copied: int = 0
    seconds: float = 0.0

    @property
    def objects(self) -> int:
        """Return how many objects the root holds for this vault after the run (the vault object included)."""
        return self.written + self.versioned + self.unchanged + 1

    @property
    def mb_per_second(self) -> float:
        """Return the copy rate in MB/s (10^6 bytes)."""
        return self.bytes_copied / 1e6 / self.seconds if self.seconds else 0.0


def check_target(root: Path) -> None:
    """Refuse a folder that holds something other than an OCFL root this command started."""
    if root.exists() and not root.is_dir():
        raise InvalidInput(f"{root} 不是文件夹 (is not a folder)")
    if root.exists() and any(root.iterdir()) and not (root / "0=ocfl_1.1").exists():
        raise InvalidInput(f"{root} 非空且不是 OCFL 存储根 (is not empty and not an OCFL storage root); "
                           "give an empty or new folder, or the folder of an earlier export-vault run")


@dataclass
class ExitRun:
    """One run of the exit export into one storage root."""

    context: VaultContext
    actor: Actor
    root: Path
    now: datetime
    say: Callable[[str], None] = lambda _line: None
    summary: ExitSummary = field(init=False)
    _copying: str = field(default="", init=False)

    def __post_init__(self) -> None:
        self.summary = ExitSummary(self.root)
        crash_at = self.context.settings.crash_at
        self.writer = ObjectWriter(self.root, on_chunk=self._copied,
                                   on_step=lambda step: crash_point(crash_at, f"export-vault:{step}"))

    def _copied(self, size: int) -> None:
        self.summary.bytes_copied += size
        crash_point(self.context.settings.crash_at, self._copying)

    def run(self) -> ExitSummary:
        """Write or bring up to date every object; return the summary."""
        check_target(self.root)
        started = time.monotonic()
        init_storage_root(self.root, description=DESCRIPTION)
        self.writer.clear_staging()
        self._record_missing_sm3()
        self.summary.tree_size = self._log_start()
        for ordinal, evidence_id in enumerate(self._evidence_ids(), start=1):
            self._copying = f"export-vault:copying-{ordinal}"
            with self.context.sessions() as session:
                evidence = session.get(Evidence, evidence_id)
                assert evidence is not None
                self._export_evidence(session, evidence)
        self._copying = "export-vault:vault-object"
        with self.context.sessions() as session:
            self._export_vault(session)
        self.writer.clear_staging()
        self.summary.seconds = time.monotonic() - started
        log.info("exit.finished", root=str(self.root), written=self.summary.written, failed=len(self.summary.failed),
                 bytes=self.summary.bytes_copied, tree_size=self.summary.tree_size)
        return self.summary

    def _record_missing_sm3(self) -> None:
        """Compute and record the SM3 of originals the background job has not reached, so every record carries it."""
        while backfill_sm3(self.context, limit=50, now=self.now):
            self.say("已补算 SM3 (SM3 recorded for originals that lacked it)")

    def _log_start(self) -> int:
        with transaction(self.context.sessions) as session:
            count = session.scalar(select(func.count()).select_from(Evidence))
            record_event(session=session, actor=self.actor, action=CustodyAction.VAULT_EXPORTED_WHOLE,
                         subject_type="vault", subject_id=self.context.signer.key_id, now=self.now,
                         details={"directory": str(self.root), "format": "OCFL 1.1", "layout": LAYOUT,
                                  "records": count})
        with self.context.sessions() as session:
            checkpoint = latest_checkpoint(session)
            assert checkpoint is not None  # the commit above signed one over the event
            return checkpoint.tree_size

    def _evidence_ids(self) -> Iterator[uuid.UUID]:
        with self.context.sessions() as session:
            ids = list(session.scalars(select(Evidence.id).order_by(Evidence.uploaded_at, Evidence.id)))
        yield from ids

    def _evidence_contents(self, session: Session, evidence: Evidence) -> list[Content]:
        settings, store = self.context.settings, self.context.store
        body = records.evidence_json(session, evidence, cipher=self.context.cipher, zone=_zone(self.context))
        contents = []
        if evidence.status == EvidenceStatus.STORED:
            expected = {"sha256": evidence.sha256, "size": str(evidence.size)} | (
                {"sm3": evidence.sm3} if evidence.sm3 else {})
            key, version = evidence.storage_key, evidence.version_id
            contents.append(Content(records.original_name(evidence), lambda: store.open_range(key, version),
                                    expected=expected, compute_sm3=settings.export_compute_sm3 and bool(evidence.sm3)))
        contents.append(Content.of_bytes(records.EVIDENCE_FILE, records.to_json(body)))
        events = records.custody_of(session, evidence.id, self.summary.tree_size)
        contents.append(Content.of_bytes(records.CUSTODY_FILE, records.to_json(events)))
        certificate = session.scalar(select(DisposalCertificate).where(DisposalCertificate.evidence_id == evidence.id))
        if certificate is not None:
            signed = records.certificate_json(certificate)
            contents.append(Content.of_bytes(records.DISPOSAL_FILE, records.to_json(signed)))
        return contents

    def _export_evidence(self, session: Session, evidence: Evidence) -> None:
        object_id = evidence_object_id(evidence.id)
        contents = self._evidence_contents(session, evidence)
        head = self.writer.head(object_id)
        if head is not None and _unchanged(head, contents):
            self.summary.unchanged += 1
            return
        message = ("original and metadata of the record as the vault held them" if head is None
                   else "the record's metadata changed since the previous version")
        try:
            self.writer.write_version(object_id, contents, self._info(message), head)
        except ContentMismatch as exc:
            self._fixity_failed(evidence, exc)
            return
        if head is None:
            self.summary.written += 1
        else:
            self.summary.versioned += 1
        self.summary.disposed += evidence.status == EvidenceStatus.DISPOSED
        self.say(f"{'已写入 (written)' if head is None else '新版本 (new version)'} {object_id} "
                 f"{evidence.original_name} {evidence.size} B")

    def _fixity_failed(self, evidence: Evidence, exc: ContentMismatch) -> None:
        log.error("exit.fixity_failed", evidence_id=str(evidence.id), problems=exc.problems)
        self.summary.failed.append(f"{evidence.id}: {'; '.join(exc.problems)}")
        self.say(f"失败 (FAILED) {evidence.id}: 存储的原始文件与入库摘要不符 (the stored original no longer matches "
                 f"its ingest digests): {'; '.join(exc.problems)}")
        with transaction(self.context.sessions) as session:
            record_event(session=session, actor=self.actor, action=CustodyAction.EVIDENCE_FIXITY_FAILED,
                         subject_type="evidence", subject_id=evidence.id, case_id=evidence.case_id,
                         details={"exit_export": str(self.root), "problems": exc.problems})

    def _info(self, message: str) -> VersionInfo:
        return VersionInfo(created=self.now, message=message, user_name=self.actor.name,
                           user_address=f"urn:evault:actor:{self.actor.name}")

    def _export_vault(self, session: Session) -> None:
        object_id = vault_object_id(self.context.anchors.origin)
        contents = self._vault_contents(session)
        head = self.writer.head(object_id)
        self.writer.write_version(object_id, contents, self._info(
            f"the vault as of custody log size {self.summary.tree_size}"), head)
        self.say(f"已写入 (written) {object_id} custody log of {self.summary.tree_size} entries")

    def _vault_contents(self, session: Session) -> list[Content]:
        context, size = self.context, self.summary.tree_size
        zone = _zone(context)
        documents: list[tuple[str, Any]] = [
            (VAULT_FILE, self._vault_facts()),
            ("identities/users.json", records.users_json(session)),
            ("identities/handlers.json", records.handlers_json(session)),
            ("cases/cases.json", records.cases_json(session, context.cipher, zone)),
            ("retention/disposal-certificates.json", records.disposals_json(session)),
            ("retention/policy-versions.json", records.policies_json(session)),
        ]
        return [
            Content(LOG_FILE, lambda: records.log_lines(session, size)),
            Content(CHECKPOINTS_FILE, lambda: records.checkpoint_lines(session, size)),
            Content(ANCHORS_FILE, lambda: _anchor_lines(context)),
            *[Content.of_bytes(path, records.to_json(value)) for path, value in documents],
            Content.of_bytes(PUBLIC_KEY_FILE, context.signer.public_pem().encode()),
            *[Content.of_bytes(f"{RETIRED_KEYS_PREFIX}{key_id}.pem", public_pem_of(raw).encode())
              for key_id, raw in sorted(context.anchors.retired_keys.items())],
        ]

    def _vault_facts(self) -> dict[str, Any]:
        settings = self.context.settings
        return {
            "agency": settings.agency_name, "key_id": self.context.signer.key_id, "origin": self.context.anchors.origin,
            "custody_log_size": self.summary.tree_size, "exported_by": self.actor.name,
            "exported_at": self.now.isoformat(), "store": settings.store, "personal_data": records.PERSONAL_DATA_NOTE,
            "evidence_object_ids": "urn:uuid:<evidence id>", "staging_folder_during_a_run": STAGING,
        }


def _zone(context: VaultContext) -> ZoneInfo:
    return ZoneInfo(context.settings.timezone)


def _anchor_lines(context: VaultContext) -> Iterator[bytes]:
    """Yield the anchored checkpoint notes as JSON lines, in the store's name order (newest first)."""
    for anchor in context.store.list_anchors(CHECKPOINT_PREFIX):
        line = {"location": anchor.location, "note": anchor.data.decode()}
        yield json.dumps(line, ensure_ascii=False).encode() + b"\n"


def _unchanged(head: dict[str, Any], contents: list[Content]) -> bool:
    """Return True when the head version already holds exactly these files with these bytes."""
    current = {path: digest for digest, paths in head["versions"][head["head"]]["state"].items() for path in paths}
    wanted = {}
    for content in contents:
        if content.expected.get("sha256"):
            digest = known_digest(head, content)
        else:
            digest = hashlib.sha512(b"".join(content.chunks())).hexdigest()
        if digest is None:
            return False
        wanted[content.logical_path] = digest
    return wanted == current
