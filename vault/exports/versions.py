"""Which version of each record a bundle carries: the original, an approved redacted version, both, or neither.

A party copy (当事人申请复制) follows 000 第九条 and 003 第二十四条: confidential records never go in; a record with
an approved redacted version goes in as that version only; a record that may show people other than the applying
party (tagged with another party, or with none) and has no approved redacted version is withheld; the applying
party's own footage goes in as it is. A court or reconsideration bundle may carry the redacted version beside
its original.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.cases.models import Case, Party
from vault.errors import InvalidInput
from vault.evidence.models import Confidentiality, Derivative, DerivativeKind, Evidence
from vault.redaction.models import Edit, EditStatus


class WithheldCode(StrEnum):
    """Why an original's bytes are not in a bundle."""

    CONFIDENTIAL = "confidential"
    OTHERS_NOT_REDACTED = "others_not_redacted"
    REDACTED_INSTEAD = "redacted_version_instead"
    WATERMARKED_INSTEAD = "watermarked_copy_instead"


WITHHELD_TEXT: dict[WithheldCode, tuple[str, str]] = {
    WithheldCode.CONFIDENTIAL: ("涉密记录（国家秘密/商业秘密/个人隐私）不得复制（000 第九条）",
                                "confidential record: a party may not copy it (000 article 9)"),
    WithheldCode.OTHERS_NOT_REDACTED: ("记录可能涉及申请人以外的他人，且无经批准的遮蔽版本（003 第二十四条）",
                                       "may show people other than the applying party and has no approved redacted "
                                       "version (003 article 24)"),
    WithheldCode.REDACTED_INSTEAD: ("原件未提供，提供经批准的遮蔽版本", "original not provided: its approved "
                                    "redacted version is"),
    WithheldCode.WATERMARKED_INSTEAD: ("原件未提供，提供加水印的副本", "original not provided: a watermarked copy is"),
}
# Withheld outright, as opposed to represented in the bundle by a derived copy.
NOT_PROVIDED = frozenset({WithheldCode.CONFIDENTIAL, WithheldCode.OTHERS_NOT_REDACTED})


@dataclass(frozen=True)
class RedactedVersion:
    """An approved redacted derivative of one original, and the provenance its edit recorded."""

    edit_id: uuid.UUID
    derivative_id: uuid.UUID
    storage_key: str
    version_id: str
    size: int
    sha256: str
    media_type: str
    provenance: dict[str, Any]


@dataclass(frozen=True)
class Withheld:
    """An original whose bytes a bundle does not carry, and why."""

    evidence_id: uuid.UUID
    sha256: str
    code: WithheldCode

    def as_json(self) -> dict[str, str]:
        """Return the entry metadata/withheld.json lists."""
        zh, en = WITHHELD_TEXT[self.code]
        return {"evidence_id": str(self.evidence_id), "sha256": self.sha256, "code": self.code.value,
                "reason_zh": zh, "reason_en": en}


@dataclass(frozen=True)
class Selection:
    """What goes in per record: the original as it is, and/or its redacted version; and what is withheld."""

    records: list[Evidence]  # every record the bundle carries something of, in capture order
    originals: frozenset[uuid.UUID]  # the records whose original goes in as it is
    redacted: dict[uuid.UUID, RedactedVersion]
    withheld: list[Withheld]
    party: str | None = None  # the applying party's name, in a party copy


def redacted_versions(session: Session, evidence_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, RedactedVersion]:
    """Return the newest approved redacted version of each record that has one (a plain clip hides nothing)."""
    query = (select(Edit, Derivative).join(Derivative, Derivative.id == Edit.derivative_id)
             .where(Edit.evidence_id.in_(list(evidence_ids)), Edit.status == EditStatus.APPROVED,
                    Derivative.kind == DerivativeKind.REDACTED)
             .order_by(Edit.decided_at))
    found: dict[uuid.UUID, RedactedVersion] = {}
    for edit, derivative in session.execute(query):
        if edit.provenance is None:
            continue
        found[edit.evidence_id] = RedactedVersion(
            edit_id=edit.id, derivative_id=derivative.id, storage_key=derivative.storage_key,
            version_id=derivative.version_id, size=derivative.size, sha256=derivative.sha256,
            media_type=derivative.media_type, provenance=edit.provenance)
    return found


def applying_party(case: Case, party: str | None) -> Party:
    """Return the party applying for the copy: named by id or name, or the case's only party."""
    if party is None or not party.strip():
        if len(case.parties) == 1:
            return case.parties[0]
        names = "、".join(p.name for p in case.parties) or "—"
        raise InvalidInput(f"name the party (当事人) applying for the copy; case {case.case_number} has parties: "
                           f"{names}", details={"field": "party", "parties": [p.name for p in case.parties]})
    wanted = party.strip()
    for candidate in case.parties:
        if wanted in (str(candidate.id), candidate.name):
            return candidate
    raise InvalidInput(f"'{wanted}' is not a party (当事人) of case {case.case_number}",
                       details={"field": "party", "parties": [p.name for p in case.parties]})


def party_copy_selection(session: Session, records: Sequence[Evidence], party: Party) -> Selection:
    """Apply the party-copy rule to records already cleared of confidential ones by the caller's check."""
    versions = redacted_versions(session, [e.id for e in records])
    originals, withheld = [], []
    for evidence in records:
        if evidence.confidentiality != Confidentiality.NONE:
            withheld.append(Withheld(evidence.id, evidence.sha256, WithheldCode.CONFIDENTIAL))
        elif evidence.id in versions:
            withheld.append(Withheld(evidence.id, evidence.sha256, WithheldCode.REDACTED_INSTEAD))
        elif evidence.party_id == party.id:
            originals.append(evidence)
        else:
            withheld.append(Withheld(evidence.id, evidence.sha256, WithheldCode.OTHERS_NOT_REDACTED))
    carried = {e.id for e in originals} | {w.evidence_id for w in withheld if w.code is WithheldCode.REDACTED_INSTEAD}
    return Selection([e for e in records if e.id in carried], frozenset(e.id for e in originals),
                     {k: v for k, v in versions.items() if k in carried}, withheld, party.name)


def court_selection(session: Session, records: Sequence[Evidence], *, include_redacted: bool) -> Selection:
    """Carry every original, and each approved redacted version beside it when asked."""
    versions = redacted_versions(session, [e.id for e in records]) if include_redacted else {}
    return Selection(list(records), frozenset(e.id for e in records), versions, [])
