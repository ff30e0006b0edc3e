"""Finding footage in the browser (issue 13: "Home", "Search", "Case", "Record")."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.orm import Session

from tests.media import make_photo
from tests.web.conftest import LiveVault, WebPerson, sign_in
from vault.access.models import AccessMode, AccessPurpose
from vault.access.service import approve_request, request_access
from vault.cases.models import CaseType, PartyKind
from vault.cases.service import PartyInput, add_case, add_party
from vault.context import VaultContext
from vault.db import utcnow
from vault.evidence.models import Derivative, DerivativeKind, Evidence
from vault.evidence.service import EvidenceTags, raise_flag, register_evidence
from vault.identities.actor import SYSTEM
from vault.identities.models import Role
from vault.identities.service import HandlerInput, add_handler

START = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)  # 09:00 in Fuyang


@dataclass
class Footage:
    """Case 40号 (party 陈某, 张伟 + 李娜, one recorder with a 5-minute gap) and case 41号 (王某某, 王强)."""

    officer: WebPerson
    reviewer: WebPerson
    approver: WebPerson
    auditor: WebPerson
    case40: uuid.UUID
    before_gap: uuid.UUID
    after_gap: uuid.UUID
    other: uuid.UUID


def _register(s: Session, context: VaultContext, photo: Path, uploader: WebPerson, name: str,
              tags: EvidenceTags) -> uuid.UUID:
    """Register a record whose original and thumbnail are a real photo in the real store."""
    retain = utcnow() + timedelta(days=2)
    blob = context.store.put_stream(io.BytesIO(photo.read_bytes() + name.encode()), retain_until=retain)
    thumb = context.store.put_stream(io.BytesIO(photo.read_bytes()), retain_until=retain)
    evidence = register_evidence(session=s, actor=uploader.person.actor, blob=blob, store_name=context.store.name,
                                 store_retain_until=retain, original_name=name, media_type="image/jpeg", tags=tags)
    s.add(Derivative(evidence_id=evidence.id, kind=DerivativeKind.THUMBNAIL, sha256=thumb.sha256, size=thumb.size,
                     media_type="image/jpeg", storage_key=thumb.key, version_id=thumb.version_id))
    return evidence.id


@pytest.fixture
def footage(context: VaultContext, person: Callable[..., WebPerson], tmp_path: Path) -> Footage:
    """Register the records (photos stand in for footage: search reads labels, thumbnails are frames)."""
    officer = person(Role.OFFICER, display_name="张伟")
    photo = make_photo(tmp_path / "frame.jpg", size="160x90")
    with context.sessions() as s:
        zhang, li, qiang = (add_handler(session=s, actor=SYSTEM, data=HandlerInput(
            certificate_number=number, name=name, valid_from=date(2023, 1, 1), valid_until=date(2030, 12, 31)))
            for number, name in (("14010219001", "张伟"), ("14010219002", "李娜"), ("14010219003", "王强")))
        case40 = add_case(session=s, actor=SYSTEM, case_number="阜应急罚字〔2023〕40号",
                          case_type=CaseType.GENERAL_PROCEDURE_PENALTY, title="某化工厂未按规定储存危险化学品")
        case41 = add_case(session=s, actor=SYSTEM, case_number="阜应急罚字〔2023〕41号",
                          case_type=CaseType.GENERAL_PROCEDURE_PENALTY)
        chen = add_party(session=s, actor=SYSTEM, cipher=context.cipher, case=case40,
                         data=PartyInput(kind=PartyKind.PERSON, name="陈某", id_number="341202198805061234"))
        wang = add_party(session=s, actor=SYSTEM, cipher=context.cipher, case=case41,
                         data=PartyInput(kind=PartyKind.PERSON, name="王某某"))
        shift = {"recorder_serial": "DSJ-0421", "activity": "inspection", "party_informed": True}
        before = _register(s, context, photo, officer, "DSJ-0421_0001.jpg", EvidenceTags(
            case=case40, party=chen, handlers=[zhang, li], capture_start=START,
            capture_end=START + timedelta(minutes=10), **shift))  # type: ignore[arg-type]
        after = _register(s, context, photo, officer, "DSJ-0421_0002.jpg", EvidenceTags(
            case=case40, party=chen, handlers=[zhang, li], capture_start=START + timedelta(minutes=15),
            capture_end=START + timedelta(minutes=25), **shift))  # type: ignore[arg-type]
        other = _register(s, context, photo, officer, "DSJ-0500_0001.jpg", EvidenceTags(
            case=case41, party=wang, handlers=[qiang], recorder_serial="DSJ-0500",
            capture_start=START + timedelta(days=2), capture_end=START + timedelta(days=2, minutes=5)))
        raise_flag(session=s, actor=SYSTEM, evidence=s.get_one(Evidence, after), flag="recording_gap",
                   detail="与上一段之间中断 300 秒", code="recording_gap")
        s.commit()
    return Footage(officer=officer, reviewer=person(Role.REVIEWER, display_name="王审核"),
                   approver=person(Role.APPROVER, display_name="赵科长"), auditor=person(Role.AUDITOR),
                   case40=case40.id, before_gap=before, after_gap=after, other=other)


def _grant(context: VaultContext, footage: Footage, evidence_ids: list[uuid.UUID]) -> None:
    with context.sessions() as s:
        request = request_access(session=s, actor=footage.reviewer.person.actor, evidence_ids=evidence_ids,
                                 purpose=AccessPurpose.LEGAL_REVIEW, mode=AccessMode.VIEW, duration_hours=4,
                                 reason="法制审核", now=utcnow(), max_hours=720)
        approve_request(session=s, actor=footage.approver.person.actor, request_id=request.id, now=utcnow())
        s.commit()


def _rows(page: Page) -> set[str]:
    return {row.get_attribute("data-evidence-id") or "" for row in page.get_by_test_id("result-row").all()}


# --- in the browser -----------------------------------------------------------------------------------------------


def test_search_by_party_and_by_handler_finds_the_right_records(
    browser: Browser, signed_in: Callable[[Browser, WebPerson], Page], footage: Footage,
    screenshot: Callable[[Page, str], Path],
) -> None:
    # Issue 13, browser flows: "a search by party and by handler". Records carry party and handler names
    # (`000` 第十一条).
    page = signed_in(browser, footage.reviewer)
    page.goto("/search")
    page.fill("input[name=party]", "陈某")
    page.click("form[data-testid=search-form] button[type=submit]")
    expect(page.get_by_test_id("result-count")).to_contain_text("2")
    assert _rows(page) == {str(footage.before_gap), str(footage.after_gap)}
    assert "party=" in page.url  # htmx pushed the query: the results can be bookmarked and reloaded
    screenshot(page, "search")
    page.fill("input[name=party]", "")
    page.fill("input[name=handler]", "14010219003")
    page.click("form[data-testid=search-form] button[type=submit]")
    expect(page.get_by_test_id("result-count")).to_contain_text("1")
    assert _rows(page) == {str(footage.other)}
    page.fill("input[name=handler]", "李娜")
    page.click("form[data-testid=search-form] button[type=submit]")
    expect(page.get_by_test_id("result-count")).to_contain_text("2")


def test_the_case_timeline_shows_the_gap(
    browser: Browser, signed_in: Callable[[Browser, WebPerson], Page], footage: Footage,
    screenshot: Callable[[Page, str], Path],
) -> None:
    # Recording must be continuous (`003` 第十三条(四)): the gap between two segments of one recorder is drawn.
    page = signed_in(browser, footage.reviewer)
    page.goto("/cases/阜应急罚字[2023]40号")  # any bracket variant names the case
    expect(page.get_by_test_id("case-number")).to_have_text("阜应急罚字〔2023〕40号")
    timeline = page.locator("[data-testid=timeline][data-recorder=DSJ-0421]")
    expect(timeline.locator("rect.segment")).to_have_count(2)
    expect(timeline.get_by_test_id("timeline-gap")).to_have_count(1)
    expect(timeline.get_by_test_id("timeline-gap").locator("title")).to_contain_text("300 s")
    expect(page.get_by_test_id("case-record")).to_have_count(2)
    expect(page.get_by_text("与上一段之间中断 300 秒")).to_be_visible()  # the flag with its reason
    screenshot(page, "case")


def test_no_thumbnail_without_a_grant(
    browser: Browser, signed_in: Callable[[Browser, WebPerson], Page], footage: Footage, live_vault: LiveVault,
    screenshot: Callable[[Page, str], Path],
) -> None:
    # No viewing without approval (`000` 第十二条); a thumbnail is a frame of footage.
    page = signed_in(browser, footage.reviewer)
    page.goto("/search?case_number=阜应急罚字〔2023〕40号")
    expect(page.get_by_test_id("result-row")).to_have_count(2)
    expect(page.get_by_test_id("thumbnail")).to_have_count(0)
    _grant(live_vault.context, footage, [footage.before_gap])
    page.reload()
    thumbnails = page.get_by_test_id("thumbnail")
    expect(thumbnails).to_have_count(1)
    page.wait_for_function(  # the image loads: the session cookie authorised it
        "() => { const img = document.querySelector('[data-testid=thumbnail]'); return img.naturalWidth > 0; }")
    page.goto(f"/evidence/{footage.before_gap}")
    expect(page.get_by_test_id("thumbnail")).to_have_count(1)
    expect(page.get_by_test_id("request-access")).to_have_attribute(
        "href", f"/access/requests/new?evidence={footage.before_gap}")
    screenshot(page, "record")
    page.goto(f"/evidence/{footage.after_gap}")
    expect(page.get_by_test_id("thumbnail")).to_have_count(0)


def test_an_approver_finds_pending_requests_at_home(
    browser: Browser, signed_in: Callable[[Browser, WebPerson], Page], footage: Footage, live_vault: LiveVault,
    screenshot: Callable[[Page, str], Path],
) -> None:
    with live_vault.context.sessions() as s:
        request_access(session=s, actor=footage.reviewer.person.actor, evidence_ids=[footage.before_gap],
                       purpose=AccessPurpose.LEGAL_REVIEW, mode=AccessMode.VIEW, duration_hours=4,
                       reason="法制审核", now=utcnow(), max_hours=720)
        s.commit()
    page = signed_in(browser, footage.approver)
    expect(page.get_by_test_id("waiting-requests").get_by_test_id("waiting-item")).to_have_count(1)
    expect(page.get_by_test_id("waiting-requests")).to_contain_text("王审核")
    screenshot(page, "home-approver")


# --- without a browser: the same pages as plain HTML, per role ---------------------------------------------------


def _signed_in(client: TestClient, who: WebPerson) -> TestClient:
    assert sign_in(client, who.name, who.password) == 303
    return client


def test_search_works_without_javascript_and_htmx_gets_only_the_results(
    client: TestClient, footage: Footage
) -> None:
    _signed_in(client, footage.reviewer)
    full = client.get("/search", params={"handler": "李娜", "sort": "capture_start", "order": "asc"})
    assert full.status_code == 200 and "<form" in full.text
    order = re.findall(r'data-evidence-id="([^"]+)"', full.text)
    assert order == [str(footage.before_gap), str(footage.after_gap)]
    partial = client.get("/search", params={"party": "王某"}, headers={"HX-Request": "true", "HX-Target": "results"})
    assert "<form" not in partial.text and str(footage.other) in partial.text


@pytest.mark.parametrize("params", [{"captured_from": "2025-03-05", "captured_to": "2025-03-01"},
                                    {"captured_from": "yesterday"}, {"sort": "name"}, {"party": "341202198805061234"},
                                    {"case_number": "阜应急罚字〔2023〕99号"}])
def test_bad_filters_are_explained_on_the_page(client: TestClient, footage: Footage, params: dict[str, str]) -> None:
    # A reviewer may not look parties up by ID number: personal data (`000` 事后公示 (五)).
    answer = _signed_in(client, footage.reviewer).get("/search", params=params)
    assert answer.status_code == 200 and 'data-testid="search-error"' in answer.text
    assert "341202198805061234" not in answer.text.replace('value="341202198805061234"', "")


def test_an_officer_sees_flags_on_own_uploads_at_home_and_no_one_elses_records(
    client: TestClient, footage: Footage, person: Callable[..., WebPerson]
) -> None:
    # Officers see their own uploads' metadata only (DOMAIN.md, People and roles).
    home = _signed_in(client, footage.officer).get("/")
    assert "DSJ-0421_0002.jpg" in home.text and "DSJ-0421_0001.jpg" not in home.text
    client.cookies.clear()
    stranger = _signed_in(client, person(Role.OFFICER))
    assert stranger.get(f"/evidence/{footage.before_gap}").status_code == 404
    assert 'data-testid="result-row"' not in stranger.get("/search").text


def test_the_custody_trail_shows_only_to_auditors(client: TestClient, footage: Footage) -> None:
    # Auditors read every log; reviewers see metadata, not the trail (DOMAIN.md, People and roles).
    record = _signed_in(client, footage.auditor).get(f"/evidence/{footage.before_gap}")
    assert 'data-testid="custody-trail"' in record.text and "evidence:registered" in record.text
    assert 'data-testid="request-access"' not in record.text  # auditors change nothing
    client.cookies.clear()
    record = _signed_in(client, footage.reviewer).get(f"/evidence/{footage.before_gap}")
    assert 'data-testid="custody-trail"' not in record.text
    assert 'data-testid="retention"' in record.text  # why it is kept, and until when
