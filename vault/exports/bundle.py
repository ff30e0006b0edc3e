"""Assemble one evidence bundle from a prepared plan: payload first, then manifests, metadata, proofs, signature."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from vault.exports import layout
from vault.exports.bagit import (
    BAGIT_TXT,
    PAYLOAD_ALGORITHMS,
    BagZipWriter,
    PayloadDigests,
    bag_info_text,
    manifest_text,
)
from vault.exports.delivery import Deliveries, PlanRecord
from vault.exports.delivery import PayloadMismatch as PayloadMismatch  # where the stream and tests expect it
from vault.exports.explanation import ExplanationInput, render_html, render_text
from vault.exports.marking import Marker
from vault.exports.metadata import to_json
from vault.exports.models import PURPOSE_TITLES, ExportPurpose
from vault.exports.signing import TimestampClient, sign_manifest_set
from vault.exports.versions import Withheld
from vault.keys import Signer
from vault.storage.base import BlobStore

log = structlog.get_logger(__name__)


def verifier_source() -> bytes:
    """Return the bytes of the single-file offline verifier every bundle carries."""
    return resources.files("evault_client").joinpath("verify_bundle.py").read_bytes()


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
    # Originals whose bytes are not in the bundle and why (withheld, or replaced by a derived copy).
    withheld_detail: list[Withheld] = field(default_factory=list)
    watermark: list[str] | None = None  # the mark burned into every video and photo copy
    party: str | None = None  # the party applying for a party copy

    @property
    def payload_bytes(self) -> int:
        """Return the total size of the files the bundle delivers, before any watermark."""
        return sum((r.size if r.include_original else 0) + (r.redacted.size if r.redacted else 0)
                   for r in self.records)


@dataclass
class BundleResult:
    """What a completed bundle is: its own digest and the small files the retained copy keeps."""

    bundle_sha256: str
    bundle_size: int
    files: dict[str, str]
    signature: bytes
    timestamp: bytes | None
    digests: list[PayloadDigests] = field(default_factory=list)
    derivatives: list[dict[str, Any]] = field(default_factory=list)  # the spec of every derived copy in the bundle


def _bag_info(plan: ExportPlan, writer: BagZipWriter) -> bytes:
    zh, en = PURPOSE_TITLES[plan.purpose]
    local = plan.created_at.astimezone(plan.zone)
    payload_bytes = sum(d.size for d in writer.payload)
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
            ("Payload-Oxum", f"{payload_bytes}.{len(writer.payload)}"),
            ("Bag-Size", f"{payload_bytes} bytes"),
            ("Case-Number", plan.case_number),
            ("Export-Purpose", plan.purpose.value),
            ("Recipient", plan.recipient),
            ("Export-Created", local.isoformat()),
            ("Approval", plan.approval),
            ("Record-Count", str(len(plan.records))),
            ("Records-Withheld", str(len(plan.withheld))),
            *[("Record-Withheld-Id", str(i)) for i in plan.withheld],
            *([("Watermark", " / ".join(plan.watermark))] if plan.watermark else []),
            ("Vault-Key-Id", plan.key_id),
            ("Custody-Checkpoint-Size", str(plan.checkpoint["tree_size"])),
        ]
    )


def _explanation(plan: ExportPlan, records: list[dict[str, Any]], timestamped: bool,
                 derivatives: list[dict[str, Any]]) -> ExplanationInput:
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
        withheld_detail=[w.as_json() for w in plan.withheld_detail],
        derivatives=derivatives,
        watermark=plan.watermark,
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
    marker: Marker | None = None
    result: BundleResult | None = None
    tail: bytes | None = None

    def _record_files(self, deliveries: Deliveries, writer: BagZipWriter
                      ) -> tuple[list[tuple[str, bytes]], list[dict[str, Any]]]:
        files, records = [], []
        measured = {d.path: d for d in writer.payload}
        for record in self.plan.records:
            got = measured.get(record.path)
            delivered = deliveries.delivered.get(record.evidence_id, [])
            if got is not None:
                reuse = bool(record.sm3) and not self.compute_sm3
                digests = {"sha256": got.sha256, "sha512": got.sha512, "sm3": record.sm3 if reuse else got.sm3,
                           "sm3_source": "ingest" if reuse else "export"}
            else:  # only derived copies of it are in the bag: state what the original hashed to at ingest
                digests = {"sha256": record.sha256, "sha512": None, "sm3": record.sm3, "sm3_source": "ingest"}
            hashes = {d["sha256"] for d in delivered}
            body = {
                **record.metadata,
                "payload_path": record.path if got is not None else None,
                "custody_events": record.custody_events,
                "digests": digests,
                "delivered": delivered,
                "derivatives": [{**d, "in_bundle": d["sha256"] in hashes} for d in record.metadata["derivatives"]],
            }
            records.append(body)
            files.append((f"{layout.RECORDS_DIR}{record.evidence_id}.json", to_json(body)))
        return files, records

    def _tag_files(self, writer: BagZipWriter, deliveries: Deliveries) -> list[tuple[str, bytes]]:
        plan = self.plan
        record_files, records = self._record_files(deliveries, writer)
        sm3 = {d.path: d.sm3 for d in writer.payload}
        sm3.update({r["payload_path"]: r["digests"]["sm3"] for r in records if r["payload_path"]})
        explanation = _explanation(plan, records, timestamped=self.timestamper is not None,
                                   derivatives=[spec for _, spec in deliveries.specs])
        provenance = [(path, to_json(spec)) for path, spec in deliveries.specs]
        withheld = [(layout.WITHHELD_FILE, to_json({"withheld": [w.as_json() for w in plan.withheld_detail]}))]
        return [
            *[(f"manifest-{alg}.txt", writer.payload_manifest(alg)) for alg in PAYLOAD_ALGORITHMS],
            (layout.SM3_TAG_FILE, manifest_text((p, d) for p, d in sm3.items() if d)),
            (layout.BAG_INFO_FILE, _bag_info(plan, writer)),
            (layout.CASE_FILE, to_json(plan.case_metadata)),
            *record_files,
            *provenance,
            *withheld,
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
        deliveries = Deliveries(self.store, self.plan.created_at, compute_sm3=self.compute_sm3, marker=self.marker)
        for record in self.plan.records:
            yield from (chunk for chunk in deliveries.deliver(writer, record) if chunk)
        files: dict[str, str] = {}
        for path, data in self._tag_files(writer, deliveries):
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
            derivatives=[spec for _, spec in deliveries.specs],
        )
