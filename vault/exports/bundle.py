"""Assemble one evidence bundle from a prepared plan: payload first, then manifests, metadata, proofs, signature."""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from vault.errors import VaultError
from vault.exports import layout
from vault.exports.bagit import (
    BAGIT_TXT,
    PAYLOAD_ALGORITHMS,
    BagZipWriter,
    PayloadDigests,
    bag_info_text,
    manifest_text,
)
from vault.exports.explanation import ExplanationInput, render_html, render_text
from vault.exports.metadata import to_json
from vault.exports.models import PURPOSE_TITLES, ExportPurpose
from vault.exports.signing import TimestampClient, sign_manifest_set
from vault.keys import Signer
from vault.storage.base import BlobStore

log = structlog.get_logger(__name__)


def verifier_source() -> bytes:
    """Return the bytes of the single-file offline verifier every bundle carries."""
    return resources.files("evault_client").joinpath("verify_bundle.py").read_bytes()


class PayloadMismatch(VaultError):
    """A stored original no longer matches the size or digest recorded at ingest; the bundle is abandoned."""

    code = "integrity_failure"
    status = 500


@dataclass(frozen=True)
class PlanRecord:
    """One original to include: where its bytes are, what they must hash to, and its metadata."""

    evidence_id: uuid.UUID
    path: str
    storage_key: str
    version_id: str
    size: int
    sha256: str
    sm3: str | None
    metadata: dict[str, Any]
    custody_events: int


@dataclass(frozen=True)
class ExportPlan:
    """Everything read from the catalog for one bundle; building it needs no database."""

    export_id: uuid.UUID
    bag_name: str
    case_id: uuid.UUID
    case_number: str
    case_title: str
    purpose: ExportPurpose
    recipient: str
    agency: str
    created_at: datetime
    zone: ZoneInfo
    actor_id: uuid.UUID | None
    actor_name: str
    grant_id: uuid.UUID | None
    approval: str
    records: list[PlanRecord]
    withheld: list[uuid.UUID]
    case_metadata: dict[str, Any]
    checkpoint: dict[str, Any]
    custody_events: list[dict[str, Any]]
    public_key_pem: str
    key_id: str

    @property
    def payload_bytes(self) -> int:
        """Return the total size of the originals."""
        return sum(r.size for r in self.records)


@dataclass
class BundleResult:
    """What a completed bundle is: its own digest and the small files the retained copy keeps."""

    bundle_sha256: str
    bundle_size: int
    files: dict[str, str]
    signature: bytes
    timestamp: bytes | None
    digests: list[PayloadDigests] = field(default_factory=list)


def _bag_info(plan: ExportPlan, writer: BagZipWriter) -> bytes:
    zh, en = PURPOSE_TITLES[plan.purpose]
    local = plan.created_at.astimezone(plan.zone)
    return bag_info_text(
        [
            ("Source-Organization", plan.agency),
            ("Contact-Name", plan.actor_name),
            (
                "External-Description",
                f"Evidence bundle (证据包) for {zh} / {en}, case number (案号) {plan.case_number}",
            ),
            ("External-Identifier", str(plan.export_id)),
            ("Internal-Sender-Identifier", plan.case_number),
            ("Bagging-Date", local.date().isoformat()),
            ("Payload-Oxum", f"{plan.payload_bytes}.{len(plan.records)}"),
            ("Bag-Size", f"{plan.payload_bytes} bytes"),
            ("Case-Number", plan.case_number),
            ("Export-Purpose", plan.purpose.value),
            ("Recipient", plan.recipient),
            ("Export-Created", local.isoformat()),
            ("Approval", plan.approval),
            ("Record-Count", str(len(plan.records))),
            ("Records-Withheld", str(len(plan.withheld))),
            *[("Record-Withheld-Id", str(i)) for i in plan.withheld],
            ("Vault-Key-Id", plan.key_id),
            ("Custody-Checkpoint-Size", str(plan.checkpoint["tree_size"])),
        ]
    )


def _explanation(plan: ExportPlan, records: list[dict[str, Any]], timestamped: bool) -> ExplanationInput:
    zh, en = PURPOSE_TITLES[plan.purpose]
    return ExplanationInput(
        agency=plan.agency,
        case_number=plan.case_number,
        case_title=plan.case_title,
        purpose_zh=zh,
        purpose_en=en,
        recipient=plan.recipient,
        export_id=str(plan.export_id),
        made_at=plan.created_at.astimezone(plan.zone).isoformat(timespec="seconds"),
        made_by=plan.actor_name,
        approval=plan.approval,
        records=records,
        withheld=[str(i) for i in plan.withheld],
        key_id=plan.key_id,
        checkpoint_size=int(plan.checkpoint["tree_size"]),
        timestamped=timestamped,
    )


@dataclass
class BundleWriter:
    """Streams one bundle; iterate `chunks()` to the end, then read `result`."""

    plan: ExportPlan
    store: BlobStore
    signer: Signer
    timestamper: TimestampClient | None = None
    tsa_certificates: bytes | None = None
    compute_sm3: bool = False
    result: BundleResult | None = None
    tail: bytes | None = None

    def _payload(self, writer: BagZipWriter, record: PlanRecord) -> Iterator[bytes]:
        chunks = self.store.open_range(record.storage_key, record.version_id)
        need_sm3 = self.compute_sm3 or record.sm3 is None
        digests = yield from writer.add_payload(record.path, chunks, compute_sm3=need_sm3)
        problems = []
        if digests.size != record.size:
            problems.append(f"size {digests.size} differs from the recorded {record.size}")
        if not hmac.compare_digest(digests.sha256, record.sha256):
            problems.append(f"SHA-256 {digests.sha256} differs from the recorded {record.sha256}")
        if record.sm3 and digests.sm3 and not hmac.compare_digest(digests.sm3, record.sm3):
            problems.append(f"SM3 {digests.sm3} differs from the recorded {record.sm3}")
        if problems:
            log.error("export.payload_mismatch", evidence_id=str(record.evidence_id), problems=problems)
            raise PayloadMismatch(
                f"stored original {record.evidence_id} no longer matches its ingest digests: {'; '.join(problems)}",
                details={"evidence_id": str(record.evidence_id), "problems": problems},
            )

    def _record_files(self, digests: list[PayloadDigests]) -> tuple[list[tuple[str, bytes]], list[dict[str, Any]]]:
        files, records = [], []
        for record, measured in zip(self.plan.records, digests, strict=True):
            sm3 = record.sm3 if record.sm3 and not self.compute_sm3 else measured.sm3
            source = "ingest" if record.sm3 and not self.compute_sm3 else "export"
            body = {
                **record.metadata,
                "custody_events": record.custody_events,
                "digests": {"sha256": measured.sha256, "sha512": measured.sha512, "sm3": sm3, "sm3_source": source},
            }
            records.append(body)
            files.append((f"{layout.RECORDS_DIR}{record.evidence_id}.json", to_json(body)))
        return files, records

    def _tag_files(self, writer: BagZipWriter) -> list[tuple[str, bytes]]:
        plan, digests = self.plan, writer.payload
        record_files, records = self._record_files(digests)
        sm3 = manifest_text((r["payload_path"], r["digests"]["sm3"]) for r in records)
        explanation = _explanation(plan, records, timestamped=self.timestamper is not None)
        return [
            *[(f"manifest-{alg}.txt", writer.payload_manifest(alg)) for alg in PAYLOAD_ALGORITHMS],
            (layout.SM3_TAG_FILE, sm3),
            (layout.BAG_INFO_FILE, _bag_info(plan, writer)),
            (layout.CASE_FILE, to_json(plan.case_metadata)),
            *record_files,
            (layout.CHECKPOINT_FILE, to_json(plan.checkpoint)),
            (layout.EVENTS_FILE, to_json(plan.custody_events)),
            (layout.PUBLIC_KEY_FILE, plan.public_key_pem.encode()),
            (layout.EXPLANATION_TEXT, render_text(explanation).encode()),
            (layout.EXPLANATION_HTML, render_html(explanation).encode()),
            (layout.VERIFIER_FILE, verifier_source()),
        ]

    def chunks(self) -> Iterator[bytes]:
        """Yield the archive's bytes except its central directory, which is left in `tail`; originals stream through."""
        writer = BagZipWriter(self.plan.bag_name, self.plan.created_at.astimezone(self.plan.zone))
        yield writer.add_tag(layout.BAGIT_FILE, BAGIT_TXT)
        for record in self.plan.records:
            yield from (chunk for chunk in self._payload(writer, record) if chunk)
        files: dict[str, str] = {}
        for path, data in self._tag_files(writer):
            yield writer.add_tag(path, data)
            files[path] = data.decode()
        for alg in PAYLOAD_ALGORITHMS:
            data = writer.tag_manifest(alg)
            yield writer.add_tag(f"tagmanifest-{alg}.txt", data, listed=False)
            files[f"tagmanifest-{alg}.txt"] = data.decode()
        signature = sign_manifest_set(self.signer, files[layout.SIGNED_FILE].encode())
        yield writer.add_tag(layout.SIGNATURE_FILE, signature, listed=False)
        timestamp = self.timestamper.stamp(signature) if self.timestamper else None
        if timestamp is not None:
            yield writer.add_tag(layout.TIMESTAMP_FILE, timestamp, listed=False)
            if self.tsa_certificates:
                yield writer.add_tag(layout.TSA_CERTS_FILE, self.tsa_certificates, listed=False)
        self.tail = writer.close()
        self.result = BundleResult(
            bundle_sha256=writer.archive_sha256,
            bundle_size=writer.archive_size,
            files=files,
            signature=signature,
            timestamp=timestamp,
            digests=list(writer.payload),
        )
