"""Cases (案件) and parties (当事人): create, find, change status, with personal data encrypted."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.cases.masking import mask_address, mask_bank_account, mask_id_number, mask_phone
from vault.cases.models import Case, CaseStatus, CaseType, Party, PartyKind, case_parties
from vault.cases.numbers import canonical_case_number, is_agency_format
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.db import utcnow
from vault.errors import Conflict, InvalidInput, NotFound
from vault.identities.actor import Actor
from vault.identities.authz import Permission, require
from vault.keys import DataCipher

MAX_CASE_NUMBER_LENGTH = 128


def parse_case_type(value: str) -> CaseType:
    """Return the CaseType named by value, or raise InvalidInput listing the valid ones."""
    try:
        return CaseType(value)
    except ValueError:
        valid = ", ".join(t.value for t in CaseType)
        raise InvalidInput(f"unknown case type '{value}'; valid types: {valid}") from None


def normalize_case_number(value: str) -> str:
    """Return the canonical case number (案号); refuse empty, over-long or control-character ones."""
    stripped = value.strip()
    number = canonical_case_number(stripped)
    if not number or len(number) > MAX_CASE_NUMBER_LENGTH or any(ord(c) < 32 for c in stripped):
        raise InvalidInput("案号须为 1-128 个可打印字符，例如 阜应急罚字〔2023〕40号 "
                           "(a case number (案号) must be 1-128 printable characters)")
    return number


def add_case(
    *,
    session: Session,
    actor: Actor,
    case_number: str,
    case_type: CaseType,
    title: str = "",
    opened_at: datetime | None = None,
    handling_unit: str = "",
) -> Case:
    """Create a case under its canonical case number; variants of an existing number conflict."""
    require(actor, Permission.MANAGE_CASES)
    number = normalize_case_number(case_number)
    if session.scalar(select(Case).where(Case.case_number == number)):
        raise Conflict(f"案号 {number} 已存在 (case number (案号) {number} already exists)",
                       details={"case_number": number, "given": case_number})
    case = Case(case_number=number, case_type=case_type, title=title, opened_at=opened_at or utcnow(),
                handling_unit=handling_unit.strip())
    session.add(case)
    session.flush()
    record_event(
        session=session,
        actor=actor,
        action=CustodyAction.CASE_CREATED,
        subject_type="case",
        subject_id=case.id,
        case_id=case.id,
        details={"case_number": number, "type": case_type.value},
    )
    return case


def find_case(*, session: Session, case_number: str) -> Case:
    """Return the case with this case number (案号), written in any bracket, width or spacing variant."""
    case = session.scalar(select(Case).where(Case.case_number == canonical_case_number(case_number)))
    if case is None:
        raise NotFound(f"没有案号为 {case_number} 的案件 (no case with case number (案号) {case_number})",
                       details={"case_number": case_number})
    return case


def lookup_case(*, session: Session, actor: Actor, case_number: str) -> Case:
    """Return the case with this case number, if the actor may read cases."""
    require(actor, Permission.READ_CASES)
    return find_case(session=session, case_number=case_number)


def get_case(*, session: Session, actor: Actor, case_id: uuid.UUID) -> Case:
    """Return a case by id."""
    require(actor, Permission.READ_CASES)
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case


def list_cases(*, session: Session, actor: Actor, status: CaseStatus | None = None) -> list[Case]:
    """List cases, newest first."""
    require(actor, Permission.READ_CASES)
    query = select(Case).order_by(Case.opened_at.desc())
    if status is not None:
        query = query.where(Case.status == status)
    return list(session.scalars(query))


_TRANSITIONS = {
    CaseStatus.CLOSED: {CaseStatus.OPEN},
    CaseStatus.ARCHIVED: {CaseStatus.CLOSED},
    CaseStatus.OPEN: {CaseStatus.CLOSED, CaseStatus.ARCHIVED},
}


def change_case_status(
    *, session: Session, actor: Actor, case: Case, status: CaseStatus, now: datetime | None = None
) -> Case:
    """Close (结案), archive (归档) or reopen a case, recording when."""
    require(actor, Permission.MANAGE_CASES)
    if case.status not in _TRANSITIONS[status]:
        raise Conflict(f"案件状态不能由 {case.status.value} 改为 {status.value} "
                       f"(a case that is {case.status.value} cannot become {status.value})")
    moment = now or utcnow()
    previous = case.status
    case.status = status
    if status == CaseStatus.CLOSED:
        case.closed_at = moment
    elif status == CaseStatus.ARCHIVED:
        case.archived_at = moment
    else:
        case.closed_at = case.archived_at = None
    session.flush()
    record_event(
        session=session,
        actor=actor,
        action=CustodyAction.CASE_STATUS_CHANGED,
        subject_type="case",
        subject_id=case.id,
        case_id=case.id,
        now=moment,
        details={"case_number": case.case_number, "from": previous.value, "to": status.value},
    )
    return case


def require_agency_format(case_number: str) -> str:
    """Return the canonical case number if it has the agency's shape (阜应急罚字〔2023〕40号), else refuse it."""
    number = normalize_case_number(case_number)
    if not is_agency_format(number):
        raise InvalidInput("案号格式应为 机关代字〔年份〕序号号，例如 阜应急罚字〔2023〕40号 "
                           "(a case number is the code word, the year in brackets, the serial and 号)",
                           details={"case_number": case_number})
    return number


def update_case(
    *, session: Session, actor: Actor, case: Case, title: str, case_type: CaseType, handling_unit: str | None = None
) -> Case:
    """Change a case's title, type and handling unit (None keeps it), logging what changed."""
    require(actor, Permission.MANAGE_CASES)
    unit = case.handling_unit if handling_unit is None else handling_unit.strip()
    wanted: dict[str, str] = {"title": title.strip(), "case_type": case_type, "handling_unit": unit}
    changed = {field: {"from": str(getattr(case, field)), "to": str(value)}
               for field, value in wanted.items() if value != getattr(case, field)}
    if not changed:
        return case
    case.title, case.case_type, case.handling_unit = title.strip(), case_type, unit
    session.flush()
    record_event(session=session, actor=actor, action=CustodyAction.CASE_UPDATED, subject_type="case",
                 subject_id=case.id, case_id=case.id,
                 details={"case_number": case.case_number, "changed": changed})
    return case


@dataclass(frozen=True)
class PartyInput:
    """A party's fields as given; personal data in plaintext, encrypted before storage."""

    kind: PartyKind
    name: str
    legal_representative: str = ""
    id_number: str | None = None
    phone: str | None = None
    address: str | None = None
    bank_account: str | None = None


def _encrypt(cipher: DataCipher, value: str | None) -> str | None:
    return cipher.encrypt(value.strip()) if value and value.strip() else None


def id_number_digest(cipher: DataCipher, value: str | None) -> str | None:
    """Return the lookup digest of an ID number, spelled the way people type it (spaces, a lower-case x)."""
    text = "".join((value or "").split()).upper()
    return cipher.blind_index(text) if text else None


def add_party(
    *, session: Session, actor: Actor, cipher: DataCipher, data: PartyInput, case: Case | None = None
) -> Party:
    """Create a party, encrypting personal data, optionally linking it to a case."""
    require(actor, Permission.MANAGE_PARTIES)
    if not data.name.strip():
        raise InvalidInput("当事人须填写姓名或者名称 (a party (当事人) needs a name)")
    party = Party(
        kind=data.kind,
        name=data.name.strip(),
        legal_representative=data.legal_representative.strip(),
        id_number_enc=_encrypt(cipher, data.id_number),
        id_number_digest=id_number_digest(cipher, data.id_number),
        phone_enc=_encrypt(cipher, data.phone),
        address_enc=_encrypt(cipher, data.address),
        bank_account_enc=_encrypt(cipher, data.bank_account),
    )
    session.add(party)
    session.flush()
    record_event(
        session=session,
        actor=actor,
        action=CustodyAction.PARTY_CREATED,
        subject_type="party",
        subject_id=party.id,
        case_id=case.id if case else None,
        details={"name": party.name, "kind": party.kind.value},
    )
    if case is not None:
        link_party(session=session, actor=actor, case=case, party=party)
    return party


def link_party(*, session: Session, actor: Actor, case: Case, party: Party) -> None:
    """Record that a party is involved in a case."""
    require(actor, Permission.MANAGE_PARTIES)
    if party not in case.parties:
        case.parties.append(party)
        session.flush()
        record_event(
            session=session,
            actor=actor,
            action=CustodyAction.PARTY_LINKED,
            subject_type="case",
            subject_id=case.id,
            case_id=case.id,
            details={"party_id": str(party.id), "name": party.name},
        )


def find_parties(*, session: Session, name: str) -> list[Party]:
    """Return parties with exactly this name."""
    return list(session.scalars(select(Party).where(Party.name == name.strip())))


def masked_personal_data(party: Party, cipher: DataCipher) -> dict[str, str | None]:
    """Return the party's personal data masked for display."""

    def show(token: str | None, mask: Callable[[str], str]) -> str | None:
        return mask(cipher.decrypt(token)) if token else None

    return {
        "id_number": show(party.id_number_enc, mask_id_number),
        "phone": show(party.phone_enc, mask_phone),
        "address": show(party.address_enc, mask_address),
        "bank_account": show(party.bank_account_enc, mask_bank_account),
    }


def list_parties(*, session: Session, actor: Actor, name: str | None = None, case: Case | None = None) -> list[Party]:
    """List parties, by name (any part of it) or by case, in name order."""
    require(actor, Permission.READ_CASES)
    query = select(Party).order_by(Party.name, Party.created_at)
    if name is not None and name.strip():
        query = query.where(Party.name.contains(name.strip(), autoescape=True))
    if case is not None:
        query = query.where(Party.id.in_(select(case_parties.c.party_id).where(case_parties.c.case_id == case.id)))
    return list(session.scalars(query))


def get_party(*, session: Session, actor: Actor, party_id: uuid.UUID) -> Party:
    """Return a party by id, if the actor may read cases."""
    require(actor, Permission.READ_CASES)
    party = session.get(Party, party_id)
    if party is None:
        raise NotFound(f"no party (当事人) {party_id}", details={"party_id": str(party_id)})
    return party


def party_cases(*, session: Session, party: Party) -> list[Case]:
    """Return the cases a party is linked to, oldest first."""
    linked = select(case_parties.c.case_id).where(case_parties.c.party_id == party.id)
    return list(session.scalars(select(Case).where(Case.id.in_(linked)).order_by(Case.opened_at)))


_PERSONAL_FIELDS = ("id_number", "phone", "address", "bank_account")


def reveal_personal_data(
    *, session: Session, actor: Actor, cipher: DataCipher, party: Party, now: datetime | None = None
) -> dict[str, str | None]:
    """Return a party's personal data unmasked (records managers), logging who saw which fields."""
    require(actor, Permission.REVEAL_PERSONAL_DATA)
    values = {field: _decrypt(cipher, getattr(party, f"{field}_enc")) for field in _PERSONAL_FIELDS}
    record_event(
        session=session,
        actor=actor,
        action=CustodyAction.PARTY_DATA_REVEALED,
        subject_type="party",
        subject_id=party.id,
        now=now,
        details={"name": party.name, "fields": [field for field, value in values.items() if value is not None]},
    )
    return values


def _stripped(value: str | None) -> str | None:
    return value.strip() if value is not None else None


def _decrypt(cipher: DataCipher, token: str | None) -> str | None:
    return cipher.decrypt(token) if token else None


@dataclass(frozen=True)
class PartyChanges:
    """Fields to change on a party; None leaves a field as it is, "" clears a piece of personal data."""

    kind: PartyKind | None = None
    name: str | None = None
    legal_representative: str | None = None
    id_number: str | None = None
    phone: str | None = None
    address: str | None = None
    bank_account: str | None = None


def update_party(*, session: Session, actor: Actor, cipher: DataCipher, party: Party, changes: PartyChanges) -> Party:
    """Change a party's name, kind, representative or personal data; the log names the fields, never the data."""
    require(actor, Permission.MANAGE_PARTIES)
    if changes.name is not None and not changes.name.strip():
        raise InvalidInput("当事人须填写姓名或者名称 (a party (当事人) needs a name)")
    changed: dict[str, dict[str, str] | None] = {}
    plain = {"kind": changes.kind, "name": _stripped(changes.name),
             "legal_representative": _stripped(changes.legal_representative)}
    for field, value in plain.items():
        if value is not None and value != getattr(party, field):
            changed[field] = {"from": str(getattr(party, field)), "to": str(value)}
            setattr(party, field, value)
    for field in _PERSONAL_FIELDS:
        value = getattr(changes, field)
        if value is not None and (value.strip() or None) != _decrypt(cipher, getattr(party, f"{field}_enc")):
            changed[field] = None  # personal data stays out of the log (000 事后公示 (五))
            setattr(party, f"{field}_enc", _encrypt(cipher, value))
            if field == "id_number":
                party.id_number_digest = id_number_digest(cipher, value)
    if not changed:
        return party
    session.flush()
    record_event(session=session, actor=actor, action=CustodyAction.PARTY_UPDATED, subject_type="party",
                 subject_id=party.id, details={"name": party.name, "changed": changed})
    return party


def link_party_to_case(*, session: Session, actor: Actor, party: Party, case: Case) -> Case:
    """Link a party to one more case; linking it to a case it is already on is a conflict."""
    require(actor, Permission.MANAGE_PARTIES)
    if party in case.parties:
        raise Conflict(f"当事人 {party.name} 已关联案件 {case.case_number} "
                       f"(party (当事人) {party.name} is already on case {case.case_number})",
                       details={"party_id": str(party.id), "case_number": case.case_number})
    link_party(session=session, actor=actor, case=case, party=party)
    return case
