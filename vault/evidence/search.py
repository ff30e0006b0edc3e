"""Find records by their labels (案号, 当事人, 承办人), recorder, times, activity, flags and confidentiality."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select, true
from sqlalchemy.orm import Session, lazyload

from vault.cases.models import Case, Party
from vault.cases.service import find_case, id_number_digest
from vault.errors import InvalidInput
from vault.evidence.models import Confidentiality, Evidence, EvidenceFlag, evidence_handlers
from vault.identities.actor import Actor
from vault.identities.authz import Permission, has_permission, require
from vault.identities.models import Handler
from vault.keys import DataCipher

MAX_PAGE_SIZE = 1000
FEW_MATCHES = 10_000  # up to this many matches, sort them rather than walk an index in sort order
# A resident ID number (18 or 15 characters) or an organisation's unified social credit code (18): party names
# are never spelled like this, so such a value is looked up as an ID number.
_ID_NUMBER = re.compile(r"[0-9]{15}|[0-9A-Z]{18}")


class SortKey(StrEnum):
    """What results may be ordered by."""

    CAPTURE_START = "capture_start"
    UPLOADED_AT = "uploaded_at"
    CASE_NUMBER = "case_number"
    SIZE = "size"


class SortOrder(StrEnum):
    """Ascending or descending."""

    ASC = "asc"
    DESC = "desc"


@dataclass(frozen=True)
class EvidenceQuery:
    """Search filters, all optional and combined with AND; times are aware UTC, ranges are [from, to)."""

    case_number: str | None = None  # any bracket, width or spacing variant
    party: str | None = None  # part of a name, or a whole ID number (roles that may see personal data)
    handler: str | None = None  # part of a name, or a whole certificate number (执法证号)
    recorder_serial: str | None = None
    captured_from: datetime | None = None
    captured_to: datetime | None = None
    uploaded_from: datetime | None = None
    uploaded_to: datetime | None = None
    activity: str | None = None
    flags: tuple[str, ...] = ()  # records with any of these flags open
    flagged: bool | None = None  # True: some flag open; False: none open
    confidentiality: Confidentiality | None = None
    sort: SortKey = SortKey.UPLOADED_AT
    order: SortOrder = SortOrder.DESC


@dataclass(frozen=True)
class EvidencePage:
    """One page of results and how many match in all."""

    items: list[Evidence]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        """Return how many pages the results fill (at least one)."""
        return max(1, -(-self.total // self.page_size))


def looks_like_id_number(value: str) -> bool:
    """Return whether a party search term is spelled like an ID number rather than a name."""
    return bool(_ID_NUMBER.fullmatch("".join(value.split()).upper()))


def _party_condition(session: Session, actor: Actor, term: str, cipher: DataCipher | None) -> ColumnElement[bool]:
    if not looks_like_id_number(term):
        return Evidence.party_id.in_(select(Party.id).where(Party.name.contains(term.strip(), autoescape=True)))
    # Finding a party by ID number would tell whoever asks that the number belongs to a party (000 事后公示 (五)).
    require(actor, Permission.REVEAL_PERSONAL_DATA)
    if cipher is None:
        raise InvalidInput("按证件号码检索需要个人信息密钥 (searching by ID number needs the personal-data key)")
    digest = id_number_digest(cipher, term)
    found = set(session.scalars(select(Party.id).where(Party.id_number_digest == digest)))
    # Parties stored before the digest existed are compared by decrypting them.
    wanted = "".join(term.split()).upper()
    for party_id, token in session.execute(select(Party.id, Party.id_number_enc).where(
            Party.id_number_digest.is_(None), Party.id_number_enc.is_not(None))):
        if token and "".join(cipher.decrypt(token).split()).upper() == wanted:
            found.add(party_id)
    return Evidence.party_id.in_(found) if found else false()


def _handler_condition(term: str) -> ColumnElement[bool]:
    text = term.strip()
    named = or_(Handler.certificate_number == text, Handler.name.contains(text, autoescape=True))
    handlers = select(Handler.id).where(named)
    return Evidence.id.in_(select(evidence_handlers.c.evidence_id).where(evidence_handlers.c.handler_id.in_(handlers)))


def _flag_condition(query: EvidenceQuery) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = []
    open_flags = select(EvidenceFlag.evidence_id).where(EvidenceFlag.cleared_at.is_(None))
    if query.flags:
        conditions.append(Evidence.id.in_(open_flags.where(EvidenceFlag.flag.in_(query.flags))))
    if query.flagged is True:
        conditions.append(Evidence.id.in_(open_flags))
    elif query.flagged is False:
        conditions.append(Evidence.id.not_in(open_flags))
    return and_(true(), *conditions)


def _check_range(name: str, start: datetime | None, end: datetime | None) -> None:
    for value in (start, end):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"{name} 的时间须带时区 (times need a time zone)", details={"filter": name})
    if start is not None and end is not None and start >= end:
        raise InvalidInput(f"{name} 的起始时间须早于结束时间 (the range starts after it ends)",
                           details={"filter": name, "from": start.isoformat(), "to": end.isoformat()})


def _conditions(session: Session, actor: Actor, query: EvidenceQuery,
                cipher: DataCipher | None) -> list[ColumnElement[bool]]:
    _check_range("capture", query.captured_from, query.captured_to)
    _check_range("upload", query.uploaded_from, query.uploaded_to)
    conditions: list[ColumnElement[bool]] = [_flag_condition(query)]
    if not has_permission(actor, Permission.READ_ALL_EVIDENCE_METADATA):
        conditions.append(Evidence.uploader_id == actor.id)  # officers see their own uploads only
    if query.case_number:
        conditions.append(Evidence.case_id == find_case(session=session, case_number=query.case_number).id)
    if query.party and query.party.strip():
        conditions.append(_party_condition(session, actor, query.party, cipher))
    if query.handler and query.handler.strip():
        conditions.append(_handler_condition(query.handler))
    if query.recorder_serial:
        conditions.append(Evidence.recorder_serial == query.recorder_serial.strip())
    if query.activity:
        conditions.append(Evidence.activity == query.activity)
    if query.confidentiality is not None:
        conditions.append(Evidence.confidentiality == query.confidentiality)
    bounds = ((Evidence.capture_start, query.captured_from, query.captured_to),
              (Evidence.uploaded_at, query.uploaded_from, query.uploaded_to))
    for column, start, end in bounds:
        if start is not None:
            conditions.append(column >= start)
        if end is not None:
            conditions.append(column < end)
    return conditions


def _ranged_elsewhere(query: EvidenceQuery) -> bool:
    captured = query.captured_from is not None or query.captured_to is not None
    uploaded = query.uploaded_from is not None or query.uploaded_to is not None
    return {SortKey.UPLOADED_AT: captured, SortKey.CAPTURE_START: uploaded}.get(query.sort, captured or uploaded)


def _by_key(statement: Select[Evidence], query: EvidenceQuery, total: int) -> Select[Evidence]:
    column: Any = {SortKey.CAPTURE_START: Evidence.capture_start, SortKey.UPLOADED_AT: Evidence.uploaded_at,
                   SortKey.SIZE: Evidence.size}[query.sort]
    if total <= FEW_MATCHES and (_ranged_elsewhere(query) or query.handler):
        # Walking the sort key's index until a page matches is slow when matches of a time range cluster along the
        # other times (a capture month long before the newest uploads), which PostgreSQL cannot foresee, or when
        # each row walked costs a probe through the handler tables. With few matches, fetching them by their
        # filter and sorting them is cheap; sorting on an expression keeps PostgreSQL off the index.
        column = func.coalesce(column, column)
    key = column.asc() if query.order == SortOrder.ASC else column.desc()
    if query.sort == SortKey.CAPTURE_START:
        key = key.nulls_last()  # records without a capture time come last either way
    return statement.order_by(key, Evidence.id)  # the id makes pages stable


def _rows(session: Session, statement: Select[Evidence]) -> list[Evidence]:
    # A results page shows labels, not a case's parties or a certificate's history: load those only if read.
    loaded = statement.options(lazyload(Evidence.case, Case.parties),
                               lazyload(Evidence.handlers, Handler.certificate_changes))
    return list(session.scalars(loaded).unique())


def _page(session: Session, query: EvidenceQuery, conditions: list[ColumnElement[bool]], start: int, size: int,
          counts: tuple[int, int]) -> list[Evidence]:
    total, with_case = counts
    matching = select(Evidence).where(*conditions)
    if query.sort != SortKey.CASE_NUMBER:
        return _rows(session, _by_key(matching, query, total).limit(size).offset(start))
    # Records with a case first, in case-number order (the join walks the case-number index), then those without
    # one: as a single outer-joined sort, PostgreSQL would sort every record to find one page.
    rows: list[Evidence] = []
    number = Case.case_number.asc() if query.order == SortOrder.ASC else Case.case_number.desc()
    if start < with_case:
        rows = _rows(session, matching.join(Case, Evidence.case_id == Case.id).order_by(number, Evidence.id)
                     .limit(size).offset(start))
    if len(rows) < size:
        rows += _rows(session, matching.where(Evidence.case_id.is_(None)).order_by(Evidence.id)
                      .limit(size - len(rows)).offset(max(0, start - with_case)))
    return rows


def search_evidence(
    *, session: Session, actor: Actor, query: EvidenceQuery, page: int = 1, page_size: int = 50,
    offset: int | None = None, cipher: DataCipher | None = None,
) -> EvidencePage:
    """Return one page of the records the actor may see that match every filter, and the total count.

    `offset`, when given, starts the page there instead of at `page` (the API's older limit/offset paging).
    """
    require(actor, Permission.READ_CASES)
    if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE or (offset is not None and offset < 0):
        raise InvalidInput(f"page 从 1 起，page_size 为 1-{MAX_PAGE_SIZE} (page from 1, page_size 1-{MAX_PAGE_SIZE})",
                           details={"page": page, "page_size": page_size, "offset": offset})
    conditions = _conditions(session, actor, query, cipher)
    total, with_case = session.execute(select(func.count(), func.count(Evidence.case_id)).select_from(Evidence)
                                       .where(*conditions)).one()
    start = offset if offset is not None else (page - 1) * page_size
    items = _page(session, query, conditions, start, page_size, (total, with_case))
    return EvidencePage(items=items, total=total, page=page, page_size=page_size)
