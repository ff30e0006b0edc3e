"""Per-record metadata tag files: tags, capture facts, media summary, handlers and flags, personal data masked."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from vault.cases.masking import mask_bank_account, mask_id_number, mask_phone
from vault.cases.models import CASE_TYPE_LABELS, Case, Party
from vault.cases.service import masked_personal_data
from vault.evidence.models import Evidence
from vault.evidence.place import recorded_place
from vault.identities.certificates import certificate_valid_at
from vault.identities.models import Handler
from vault.keys import DataCipher

# Personal data typed into free text (notes, flag details) is masked in party copies (000 事后公示 (五)).
_FREE_TEXT_PATTERNS: tuple[tuple[re.Pattern[str], Callable[[str], str]], ...] = (
    (re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)"), mask_id_number),
    (re.compile(r"(?<!\d)\d{16,19}(?!\d)"), mask_bank_account),
    (re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)"), mask_phone),
    (re.compile(r"(?<!\d)0\d{2,3}-?\d{7,8}(?!\d)"), mask_phone),
)


def scrub_text(text: str) -> str:
    """Mask ID numbers, bank accounts and phone numbers written into free text."""
    for pattern, mask in _FREE_TEXT_PATTERNS:
        text = pattern.sub(_masker(mask), text)
    return text


def _masker(mask: Callable[[str], str]) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        return mask(match.group(0))

    return replace


def iso(moment: datetime | None, zone: ZoneInfo | None = None) -> str | None:
    """Return an ISO 8601 timestamp (UTC, or in the given zone), or None."""
    if moment is None:
        return None
    return moment.astimezone(zone).isoformat() if zone else moment.isoformat()


def party_summary(party: Party, cipher: DataCipher) -> dict[str, Any]:
    """Return a party (当事人) with personal data masked."""
    return {
        "name": party.name,
        "kind": party.kind.value,
        "legal_representative": party.legal_representative or None,
        "personal_data_masked": masked_personal_data(party, cipher),
    }


def handler_summary(handler: Handler, captured: datetime | None) -> dict[str, Any]:
    """Return a handler (执法人员) with certificate (执法证) facts and validity at capture time."""
    return {
        "name": handler.name,
        "certificate_number": handler.certificate_number,
        "unit": handler.unit,
        "category": handler.category,
        "certificate_valid_from": handler.valid_from.isoformat(),
        "certificate_valid_until": handler.valid_until.isoformat(),
        "certificate_status": handler.status.value,
        "certificate_valid_at_capture": certificate_valid_at(handler, captured) if captured else None,
    }


def case_metadata(case: Case, cipher: DataCipher, *, zone: ZoneInfo) -> dict[str, Any]:
    """Return the case (案件) facts written to metadata/case.json."""
    return {
        "case_number": case.case_number,
        "case_type": CASE_TYPE_LABELS[case.case_type],
        "title": case.title,
        "status": case.status.value,
        "opened_at": iso(case.opened_at, zone),
        "closed_at": iso(case.closed_at, zone),
        "archived_at": iso(case.archived_at, zone),
        "parties": [party_summary(p, cipher) for p in case.parties],
    }


def place_metadata(evidence: Evidence, text: Callable[[str], str]) -> dict[str, Any] | None:
    """Return where the record was made and from what: GPS (photo EXIF or recording metadata) or declared."""
    place = recorded_place(evidence)
    if place is None:
        return None
    gps = {"lat": place.lat, "lon": place.lon} if place.lat is not None else None
    return {"source": place.source.value, "gps": gps, "declared": text(place.declared) if place.declared else None}


def derivative_metadata(evidence: Evidence) -> list[dict[str, Any]]:
    """Return the record's derived files, marked derived: never in a bundle, which carries originals only."""
    return [{"kind": d.kind.value, "derived": d.derived, "in_bundle": False, "sha256": d.sha256, "size": d.size,
             "media_type": d.media_type} for d in evidence.derivatives]


def record_metadata(
    evidence: Evidence, *, cipher: DataCipher, zone: ZoneInfo, payload_path: str, party_copy: bool
) -> dict[str, Any]:
    """Return one record's metadata; in party copies free text is scrubbed of personal data too."""
    text: Callable[[str], str] = scrub_text if party_copy else str
    return {
        "evidence_id": str(evidence.id),
        "payload_path": payload_path,
        "original_name": evidence.original_name,
        "media_type": evidence.media_type,
        "size": evidence.size,
        "digests_recorded_at_ingest": {"sha256": evidence.sha256, "sm3": evidence.sm3},
        "case_number": evidence.case.case_number if evidence.case else None,
        "party": party_summary(evidence.party, cipher) if evidence.party else None,
        "tags": {
            "activity": evidence.activity,
            "party_informed_of_recording": evidence.party_informed,
            "confidentiality": evidence.confidentiality.value,
            "notes": text(evidence.notes),
        },
        "capture": {
            "recorder_serial": evidence.recorder_serial,
            "start": iso(evidence.capture_start, zone),
            "end": iso(evidence.capture_end, zone),
            "place": place_metadata(evidence, text),
        },
        "transfer": {
            "uploaded_by": evidence.uploader.display_name or evidence.uploader.name,
            "uploaded_at": iso(evidence.uploaded_at, zone),
            "storage_backend": evidence.storage_backend,
            "store_retain_until": iso(evidence.store_retain_until, zone),
        },
        "handlers": [handler_summary(h, evidence.capture_start) for h in evidence.handlers],
        "flags": [
            {
                "flag": f.flag,
                "detail": text(f.detail),
                "raised_at": iso(f.raised_at, zone),
                "cleared_at": iso(f.cleared_at, zone),
            }
            for f in evidence.flags
        ],
        "media_summary": evidence.media_info,
        "derivatives": derivative_metadata(evidence),
    }


def to_json(data: Any) -> bytes:
    """Return stable, human-readable UTF-8 JSON for a tag file."""
    return (json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True, default=str) + "\n").encode()
