"""Searching cases (案件) and parties (当事人) for the records managers' pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from vault.cases.models import Case, CaseStatus, Party, case_parties
from vault.cases.numbers import canonical_case_number
from vault.cases.service import id_number_digest
from vault.identities.actor import Actor
from vault.identities.authz import Permission, require
from vault.keys import DataCipher

MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class CaseQuery:
    """What to look for; empty fields match everything. `opened_before` is exclusive."""

    case_number: str = ""
    title: str = ""
    status: CaseStatus | None = None
    party_name: str = ""
    opened_from: datetime | None = None
    opened_before: datetime | None = None


@dataclass(frozen=True)
class CasePage:
    """One page of matching cases, newest first, and how many match in all."""

    cases: list[Case]
    total: int
    offset: int
    limit: int


def _filtered(query: CaseQuery) -> Select[Case]:
    statement = select(Case)
    if query.case_number.strip():
        # Canonical spelling first, so 阜应急罚字[2023]40号 finds 阜应急罚字〔2023〕40号, and a part of it matches too.
        statement = statement.where(Case.case_number.contains(canonical_case_number(query.case_number),
                                                              autoescape=True))
    if query.title.strip():
        statement = statement.where(Case.title.contains(query.title.strip(), autoescape=True))
    if query.status is not None:
        statement = statement.where(Case.status == query.status)
    if query.party_name.strip():
        named = (select(case_parties.c.case_id).join(Party, Party.id == case_parties.c.party_id)
                 .where(Party.name.contains(query.party_name.strip(), autoescape=True)))
        statement = statement.where(Case.id.in_(named))
    if query.opened_from is not None:
        statement = statement.where(Case.opened_at >= query.opened_from)
    if query.opened_before is not None:
        statement = statement.where(Case.opened_at < query.opened_before)
    return statement


def search_cases(*, session: Session, actor: Actor, query: CaseQuery, offset: int = 0, limit: int = 25) -> CasePage:
    """Return one page of the cases matching the query, newest first, with the total."""
    require(actor, Permission.READ_CASES)
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    offset = max(0, offset)
    statement = _filtered(query)
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    page = statement.order_by(Case.opened_at.desc(), Case.case_number).offset(offset).limit(limit)
    return CasePage(cases=list(session.scalars(page)), total=total, offset=offset, limit=limit)


def find_parties_by_id_number(*, session: Session, actor: Actor, cipher: DataCipher, id_number: str) -> list[Party]:
    """Return the parties with exactly this ID number; only those who may see personal data may search by it."""
    require(actor, Permission.REVEAL_PERSONAL_DATA)
    digest = id_number_digest(cipher, id_number)
    if digest is None:
        return []
    return list(session.scalars(select(Party).where(Party.id_number_digest == digest).order_by(Party.name)))
