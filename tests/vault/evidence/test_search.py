"""Search: each filter alone and together, sorting and paging, and what each role may find."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from tests.conftest import Person
from vault.cases.models import CaseType, Party, PartyKind
from vault.cases.service import PartyInput, add_case, add_party
from vault.context import VaultContext
from vault.errors import InvalidInput, NotFound, PermissionDenied
from vault.evidence.models import Confidentiality, Evidence
from vault.evidence.search import EvidenceQuery, SortKey, SortOrder, search_evidence
from vault.evidence.service import EvidenceTags, clear_flag, raise_flag, register_evidence
from vault.identities.actor import SYSTEM
from vault.identities.models import Handler, Role
from vault.identities.service import HandlerInput, add_handler
from vault.storage.base import StoredBlob

CHEN_ID = "341202198805061234"
WANG_ID = "34120219900101567X"


def at(day: int, hour: int = 2) -> datetime:
    """Return a time in March 2025 (UTC)."""
    return datetime(2025, 3, day, hour, tzinfo=UTC)


@dataclass
class Catalog:
    """Four records with known labels, uploaded by two officers, and one person of every other role."""

    officer: Person
    other_officer: Person
    reviewer: Person
    approver: Person
    records_manager: Person
    auditor: Person
    admin: Person
    chen: uuid.UUID  # case 40号, party 陈某, handlers 张伟 + 李娜, DSJ-0421, inspection, late_upload open, 300 B
    wang: uuid.UUID  # case 41号, party 王某某, handler 李娜, DSJ-0500, questioning, personal privacy, 100 B
    other: uuid.UUID  # the other officer's: no case or party, handler 王强, DSJ-0421, a cleared gap flag, 200 B
    undated: uuid.UUID  # no capture time, no labels, 50 B


def _handler(session: Session, certificate: str, name: str) -> Handler:
    return add_handler(session=session, actor=SYSTEM, data=HandlerInput(
        certificate_number=certificate, name=name, valid_from=date(2023, 1, 1), valid_until=date(2030, 12, 31)))


def _record(session: Session, uploader: Person, size: int, uploaded: datetime, tags: EvidenceTags) -> uuid.UUID:
    blob = StoredBlob(key=f"originals/{uuid.uuid4().hex}", version_id="1", size=size, sha256=uuid.uuid4().hex * 2)
    evidence = register_evidence(session=session, actor=uploader.actor, blob=blob, store_name="local",
                                 store_retain_until=uploaded + timedelta(days=180), original_name="clip.mp4",
                                 media_type="video/mp4", tags=tags, now=uploaded)
    return evidence.id


@pytest.fixture
def catalog(context: VaultContext, make_person: Callable[..., Person]) -> Catalog:
    """Register the four records (metadata only: search never reads the bytes)."""
    officer, other_officer = make_person(Role.OFFICER), make_person(Role.OFFICER)
    with context.sessions() as s:
        zhang, li, qiang = _handler(s, "14010219001", "张伟"), _handler(s, "14010219002", "李娜"), \
            _handler(s, "14010219003", "王强")
        case40 = add_case(session=s, actor=SYSTEM, case_number="阜应急罚字〔2023〕40号",
                          case_type=CaseType.GENERAL_PROCEDURE_PENALTY)
        case41 = add_case(session=s, actor=SYSTEM, case_number="阜应急罚字〔2023〕41号",
                          case_type=CaseType.GENERAL_PROCEDURE_PENALTY)
        chen = add_party(session=s, actor=SYSTEM, cipher=context.cipher, case=case40,
                         data=PartyInput(kind=PartyKind.PERSON, name="陈某", id_number=CHEN_ID))
        wang = add_party(session=s, actor=SYSTEM, cipher=context.cipher, case=case41,
                         data=PartyInput(kind=PartyKind.PERSON, name="王某某", id_number=WANG_ID))
        chen_id = _record(s, officer, 300, at(1, 5), EvidenceTags(
            case=case40, party=chen, handlers=[zhang, li], activity="inspection", recorder_serial="DSJ-0421",
            capture_start=at(1, 1), capture_end=at(1, 2)))
        raise_flag(session=s, actor=SYSTEM, evidence=s.get_one(Evidence, chen_id), flag="late_upload")
        wang_id = _record(s, officer, 100, at(5, 5), EvidenceTags(
            case=case41, party=wang, handlers=[li], activity="questioning", recorder_serial="DSJ-0500",
            capture_start=at(5, 1), capture_end=at(5, 2), confidentiality=Confidentiality.PERSONAL_PRIVACY))
        other_id = _record(s, other_officer, 200, at(10, 5), EvidenceTags(
            handlers=[qiang], activity="inspection", recorder_serial="DSJ-0421", capture_start=at(10, 1),
            capture_end=at(10, 2)))
        other = s.get_one(Evidence, other_id)
        raise_flag(session=s, actor=SYSTEM, evidence=other, flag="recording_gap")
        clear_flag(session=s, actor=SYSTEM, evidence=other, flag="recording_gap", reason="核实无中断")
        undated_id = _record(s, officer, 50, at(12, 5), EvidenceTags())
        s.commit()
    return Catalog(officer=officer, other_officer=other_officer, reviewer=make_person(Role.REVIEWER),
                   approver=make_person(Role.APPROVER), records_manager=make_person(Role.RECORDS_MANAGER),
                   auditor=make_person(Role.AUDITOR), admin=make_person(Role.ADMIN), chen=chen_id, wang=wang_id,
                   other=other_id, undated=undated_id)


def found(context: VaultContext, person: Person, query: EvidenceQuery, **paging: int) -> list[uuid.UUID]:
    """Return the ids a person's search finds, in order."""
    with context.sessions() as s:
        page = search_evidence(session=s, actor=person.actor, query=query, cipher=context.cipher, **paging)
        return [e.id for e in page.items]


def as_set(context: VaultContext, person: Person, **filters: object) -> set[uuid.UUID]:
    """Return the ids a reviewer-like search finds, as a set."""
    return set(found(context, person, EvidenceQuery(**filters)))  # type: ignore[arg-type]


def test_case_number_in_any_bracket_variant_finds_its_records(context: VaultContext, catalog: Catalog) -> None:
    # Records are labelled with their case number (`000` 第十一条), typed with whatever brackets people use.
    for typed in ("阜应急罚字〔2023〕40号", "阜应急罚字[2023]40号", "阜应急罚字（２０２３）40号",
                  "阜应急罚字【2023】 40号"):
        assert as_set(context, catalog.reviewer, case_number=typed) == {catalog.chen}
    with pytest.raises(NotFound):
        as_set(context, catalog.reviewer, case_number="阜应急罚字〔2023〕99号")


def test_party_by_part_of_the_name(context: VaultContext, catalog: Catalog) -> None:
    # Records are labelled with the party's name (当事人姓名或者名称, `000` 第十一条).
    assert as_set(context, catalog.reviewer, party="陈") == {catalog.chen}
    assert as_set(context, catalog.reviewer, party="王某") == {catalog.wang}
    assert as_set(context, catalog.reviewer, party="%") == set()  # a wildcard is a character, not a pattern


def test_party_by_id_number_only_for_those_who_may_see_personal_data(
    context: VaultContext, catalog: Catalog
) -> None:
    # ID numbers are personal data (`000` 事后公示 (五)): only records managers may look a party up by one.
    assert as_set(context, catalog.records_manager, party="341202 19880506 1234") == {catalog.chen}
    assert as_set(context, catalog.records_manager, party=WANG_ID.lower()) == {catalog.wang}
    assert as_set(context, catalog.records_manager, party="341202198805069999") == set()
    for person in (catalog.reviewer, catalog.approver, catalog.auditor, catalog.officer):
        with pytest.raises(PermissionDenied):
            as_set(context, person, party=CHEN_ID)


def test_party_stored_before_the_lookup_digest_is_found_by_id_number(
    context: VaultContext, catalog: Catalog
) -> None:
    # Catalogs upgraded from before the digest keep a NULL digest: search decrypts those instead.
    with context.sessions() as s:
        s.execute(update(Party).values(id_number_digest=None))
        s.commit()
    assert as_set(context, catalog.records_manager, party=CHEN_ID) == {catalog.chen}


def test_handler_by_name_or_certificate_number(context: VaultContext, catalog: Catalog) -> None:
    # Records are labelled with the handlers' names (承办人姓名, `000` 第十一条); certificates identify them.
    assert as_set(context, catalog.reviewer, handler="李娜") == {catalog.chen, catalog.wang}
    assert as_set(context, catalog.reviewer, handler="张") == {catalog.chen}
    assert as_set(context, catalog.reviewer, handler="14010219003") == {catalog.other}
    assert as_set(context, catalog.reviewer, handler="1401021900") == set()  # a certificate number matches whole


def test_recorder_activity_confidentiality_and_flags(context: VaultContext, catalog: Catalog) -> None:
    assert as_set(context, catalog.reviewer, recorder_serial="DSJ-0421") == {catalog.chen, catalog.other}
    assert as_set(context, catalog.reviewer, activity="inspection") == {catalog.chen, catalog.other}
    # Records can carry a confidentiality level (`000` 第八条).
    assert as_set(context, catalog.reviewer, confidentiality=Confidentiality.PERSONAL_PRIVACY) == {catalog.wang}
    # A late upload is recorded and reported (`003` 第十八条); a cleared flag no longer counts.
    assert as_set(context, catalog.reviewer, flags=("late_upload",)) == {catalog.chen}
    assert as_set(context, catalog.reviewer, flags=("recording_gap",)) == set()
    assert as_set(context, catalog.reviewer, flagged=True) == {catalog.chen}
    assert as_set(context, catalog.reviewer, flagged=False) == {catalog.wang, catalog.other, catalog.undated}


def test_capture_and_upload_ranges_start_inclusive_end_exclusive(context: VaultContext, catalog: Catalog) -> None:
    assert as_set(context, catalog.reviewer, captured_from=at(1, 1), captured_to=at(5, 1)) == {catalog.chen}
    assert as_set(context, catalog.reviewer, captured_from=at(2)) == {catalog.wang, catalog.other}
    assert as_set(context, catalog.reviewer, uploaded_from=at(5), uploaded_to=at(11)) == {catalog.wang, catalog.other}


@pytest.mark.parametrize("bad", [
    {"captured_from": at(5), "captured_to": at(1)},
    {"uploaded_from": at(5), "uploaded_to": at(5)},
    {"captured_from": at(1).replace(tzinfo=None)},  # no time zone: which day would it be?
])
def test_a_backwards_or_zoneless_range_is_refused(
    context: VaultContext, catalog: Catalog, bad: dict[str, object]
) -> None:
    with pytest.raises(InvalidInput):
        as_set(context, catalog.reviewer, **bad)


def test_filters_combine(context: VaultContext, catalog: Catalog) -> None:
    assert as_set(context, catalog.reviewer, handler="李娜", activity="inspection", recorder_serial="DSJ-0421",
                  captured_from=at(1, 0), flagged=True) == {catalog.chen}
    assert as_set(context, catalog.reviewer, handler="李娜", activity="questioning", flagged=True) == set()


def test_sorted_by_each_key_with_missing_values_last(context: VaultContext, catalog: Catalog) -> None:
    c = catalog
    size = EvidenceQuery(sort=SortKey.SIZE, order=SortOrder.ASC)
    assert found(context, c.reviewer, size) == [c.undated, c.wang, c.other, c.chen]
    capture = EvidenceQuery(sort=SortKey.CAPTURE_START, order=SortOrder.DESC)
    assert found(context, c.reviewer, capture) == [c.other, c.wang, c.chen, c.undated]
    case = EvidenceQuery(sort=SortKey.CASE_NUMBER, order=SortOrder.ASC)
    assert found(context, c.reviewer, case)[:2] == [c.chen, c.wang]
    assert found(context, c.reviewer, EvidenceQuery()) == [c.undated, c.other, c.wang, c.chen]  # newest upload


def test_case_number_pages_run_on_into_records_without_a_case(context: VaultContext, catalog: Catalog) -> None:
    c = catalog
    without_case = sorted([c.other, c.undated])  # after the cased records, by id
    for order, cased in ((SortOrder.ASC, [c.chen, c.wang]), (SortOrder.DESC, [c.wang, c.chen])):
        query = EvidenceQuery(sort=SortKey.CASE_NUMBER, order=order)
        pages = [found(context, c.reviewer, query, page=n, page_size=3) for n in (1, 2)]
        assert pages == [[*cased, without_case[0]], [without_case[1]]]
        assert found(context, c.reviewer, query, page=2, page_size=2) == without_case


def test_pages_and_total(context: VaultContext, catalog: Catalog) -> None:
    query = EvidenceQuery(sort=SortKey.SIZE, order=SortOrder.ASC)
    with context.sessions() as s:
        page = search_evidence(session=s, actor=catalog.reviewer.actor, query=query, page=2, page_size=3)
        assert ([e.id for e in page.items], page.total, page.pages) == ([catalog.chen], 4, 2)
        with pytest.raises(InvalidInput):
            search_evidence(session=s, actor=catalog.reviewer.actor, query=query, page=0)


@pytest.mark.parametrize("role", ["reviewer", "approver", "records_manager", "auditor"])
def test_reading_roles_find_every_record(context: VaultContext, catalog: Catalog, role: str) -> None:
    every = {catalog.chen, catalog.wang, catalog.other, catalog.undated}
    assert as_set(context, getattr(catalog, role)) == every


def test_officers_find_only_their_own_uploads(context: VaultContext, catalog: Catalog) -> None:
    # Officers see their own uploads' metadata (DOMAIN.md, People and roles), whatever they search for.
    assert as_set(context, catalog.officer) == {catalog.chen, catalog.wang, catalog.undated}
    assert as_set(context, catalog.other_officer) == {catalog.other}
    assert as_set(context, catalog.other_officer, recorder_serial="DSJ-0421") == {catalog.other}
    assert as_set(context, catalog.other_officer, party="陈") == set()
    assert as_set(context, catalog.admin) == set()  # admins run the system; they do not read footage records


# --- over HTTP: GET /api/evidence ---------------------------------------------------------------------------------


def test_api_filters_sorts_pages_and_counts(client: TestClient, catalog: Catalog) -> None:
    response = client.get("/api/evidence", headers=catalog.reviewer.headers,
                          params={"handler": "李娜", "sort": "size", "order": "asc", "page": 1, "page_size": 1})
    assert response.status_code == 200, response.text
    assert response.headers["X-Total-Count"] == "2"
    assert [r["id"] for r in response.json()] == [str(catalog.wang)]
    flagged = client.get("/api/evidence", headers=catalog.reviewer.headers,
                         params={"flag": ["late_upload", "damaged"], "case_number": "阜应急罚字[2023]40号",
                                 "captured_from": "2025-03-01T00:00:00+08:00"})
    assert [r["id"] for r in flagged.json()] == [str(catalog.chen)]


def test_api_older_limit_and_offset_still_page(client: TestClient, catalog: Catalog) -> None:
    response = client.get("/api/evidence?limit=2&offset=1", headers=catalog.officer.headers)
    assert [r["id"] for r in response.json()] == [str(catalog.wang), str(catalog.chen)]
    assert response.headers["X-Total-Count"] == "3"


@pytest.mark.parametrize("query", [
    "sort=name", "order=up", "page=0", "page_size=1001", "page=2&offset=10", "captured_from=2025-03-01T00:00:00",
    "captured_from=2025-03-05T00:00:00Z&captured_to=2025-03-01T00:00:00Z", "confidentiality=secret",
])
def test_api_refuses_bad_sorts_pages_and_ranges(client: TestClient, catalog: Catalog, query: str) -> None:
    response = client.get(f"/api/evidence?{query}", headers=catalog.reviewer.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"]


def test_api_id_number_search_is_forbidden_to_a_reviewer(client: TestClient, catalog: Catalog) -> None:
    # ID numbers are personal data (`000` 事后公示 (五)).
    refused = client.get("/api/evidence", params={"party": CHEN_ID}, headers=catalog.reviewer.headers)
    assert refused.status_code == 403
    allowed = client.get("/api/evidence", params={"party": CHEN_ID}, headers=catalog.records_manager.headers)
    assert [r["id"] for r in allowed.json()] == [str(catalog.chen)]
    assert CHEN_ID not in allowed.text


def test_api_documents_every_filter(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/api/evidence"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert names >= {"case_number", "party", "handler", "recorder_serial", "captured_from", "captured_to",
                     "uploaded_from", "uploaded_to", "activity", "flag", "flagged", "confidentiality", "sort",
                     "order", "page", "page_size", "limit", "offset"}
    assert "X-Total-Count" in operation["responses"]["200"]["headers"]
