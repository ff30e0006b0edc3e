"""Export wizard and call-up register (issue 14: "Export wizard", "Call-up register")."""

from __future__ import annotations

import hashlib
import re
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import bagit
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from tests.media import make_photo, make_video
from tests.web.conftest import LiveVault, WebPerson, csrf_of, sign_in
from vault.access.models import AccessMode, AccessPurpose
from vault.access.service import approve_request, request_access
from vault.callups.service import CallUpInput, register_callup
from vault.cases.models import CaseType, PartyKind
from vault.cases.service import PartyInput, add_case, add_party, find_case
from vault.context import VaultContext
from vault.custody.models import CustodyAction, CustodyEvent
from vault.db import utcnow
from vault.evidence.models import Confidentiality
from vault.evidence.service import EvidenceTags, register_evidence
from vault.identities.actor import SYSTEM
from vault.identities.models import Role

CASE = "阜应急罚字〔2026〕7号"
VARIANT = "阜应急罚字[2026]7号"  # typed with ASCII brackets


@dataclass(frozen=True)
class Media:
    """Two short clips and a photo."""

    clip: Path
    second: Path
    photo: Path


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    """Make the media once for the module."""
    folder = tmp_path_factory.mktemp("web-exports")
    return Media(clip=make_video(folder / "执法记录-01.mp4", seconds=1.0, size="160x120"),
                 second=make_video(folder / "clip-02.mp4", seconds=1.0, size="96x72"),
                 photo=make_photo(folder / "营业执照.jpg", size="160x120"))


@dataclass
class Cast:
    """The people and records of these tests."""

    manager: WebPerson
    approver: WebPerson
    auditor: WebPerson
    officer: WebPerson
    records: list[uuid.UUID]
    secret: uuid.UUID


def _store(context: VaultContext, path: Path, officer: WebPerson, **tags: object) -> uuid.UUID:
    """Register a file as a record of the case (ingest is not this test's subject)."""
    retain = utcnow() + timedelta(days=2)
    with path.open("rb") as stream:
        blob = context.store.put_stream(stream, retain_until=retain)
    captured = (utcnow() - timedelta(days=3)).replace(microsecond=0)
    with context.sessions() as session:
        case = find_case(session=session, case_number=CASE)
        evidence = register_evidence(
            session=session, actor=officer.person.actor, blob=blob, store_name=context.store.name,
            store_retain_until=retain, original_name=path.name,
            media_type="image/jpeg" if path.suffix == ".jpg" else "video/mp4",
            tags=EvidenceTags(case=case, party=case.parties[0], capture_start=captured,
                              capture_end=captured + timedelta(seconds=1), **tags),  # type: ignore[arg-type]
            media_info={"duration": 1.0})
        session.commit()
        return evidence.id


@pytest.fixture
def cast(context: VaultContext, person: Callable[..., WebPerson], media: Media) -> Cast:
    """Return a records manager, an approver, an auditor, an officer and a case of 陈某 with three records."""
    officer = person(Role.OFFICER, name="zhang.wei", certificate="13010001", display_name="张伟")
    with context.sessions() as session:
        case = add_case(session=session, actor=SYSTEM, case_number=CASE,
                        case_type=CaseType.GENERAL_PROCEDURE_PENALTY)
        # The records show the party; a party copy of footage that may show others needs a redaction first.
        add_party(session=session, actor=SYSTEM, cipher=context.cipher, case=case,
                  data=PartyInput(kind=PartyKind.PERSON, name="陈某"))
        session.commit()
    records = [_store(context, media.clip, officer), _store(context, media.second, officer)]
    secret = _store(context, media.photo, officer, confidentiality=Confidentiality.TRADE_SECRET)
    return Cast(manager=person(Role.RECORDS_MANAGER, name="liu.dan", display_name="刘丹"),
                approver=person(Role.APPROVER, name="zhao.lei", display_name="赵磊"),
                auditor=person(Role.AUDITOR, name="sun.li"), officer=officer, records=records, secret=secret)


def grant(context: VaultContext, cast: Cast, records: list[uuid.UUID],
          purpose: AccessPurpose = AccessPurpose.LITIGATION) -> uuid.UUID:
    """File the records manager's view-and-download request and approve it; return the grant id."""
    now = utcnow()
    with context.sessions() as session:
        filed = request_access(session=session, actor=cast.manager.person.actor, evidence_ids=records,
                               purpose=purpose, mode=AccessMode.VIEW_DOWNLOAD, duration_hours=24,
                               reason="向法院提供证据", now=now, max_hours=720)
        approved = approve_request(session=session, actor=cast.approver.person.actor, request_id=filed.id, now=now)
        session.commit()
        return approved.id


def today(context: VaultContext) -> date:
    """Return today in the agency's zone, as call-ups count it."""
    return utcnow().astimezone(context.settings.zone).date()


def callup(context: VaultContext, cast: Cast, number: str, received_on: date) -> uuid.UUID:
    """Register a call-up notice for the case as the records manager."""
    with context.sessions() as session:
        view = register_callup(session=session, actor=cast.manager.person.actor,
                               notice=CallUpInput("安徽省应急管理厅", number, [CASE], received_on),
                               working_days=5, now=utcnow(), zone=context.settings.zone)
        session.commit()
        return view.callup.id


def test_an_export_is_checked_built_downloaded_and_validates_as_a_bag(
    browser: Browser, live_vault: LiveVault, cast: Cast, tmp_path: Path,
    signed_in: Callable[[Browser, WebPerson], Page], screenshot: Callable[[Page, str], Path],
) -> None:
    grant(live_vault.context, cast, cast.records)
    page = signed_in(browser, cast.manager)
    problems: list[str] = []  # a CSP violation is a console error
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.goto("/exports")
    page.get_by_test_id("new-export").click()
    page.fill("[data-testid=case-lookup]", VARIANT)
    page.click("form.case-lookup button[type=submit]")
    page.select_option("[data-testid=purpose]", "court")
    page.fill("[data-testid=recipient]", "阜阳市中级人民法院")
    page.get_by_test_id("check-coverage").click()  # nothing ticked: the whole case, confidential photo included
    expect(page.locator("tr.covered")).to_have_count(2)
    expect(page.locator(f"tr[data-record='{cast.secret}'] [data-testid=gap]")).to_have_text(
        re.compile("没有审批"))
    expect(page.get_by_test_id("build")).to_have_count(0)
    screenshot(page, "exports-coverage")

    page.goto("/exports/new?case=" + CASE + "&purpose=court&recipient=阜阳市中级人民法院")
    for record in cast.records:
        page.check(f"input[value='{record}']")
    page.get_by_test_id("check-coverage").click()
    page.get_by_test_id("build").click()
    expect(page.get_by_test_id("progress")).to_be_visible()
    expect(page.get_by_test_id("download")).to_be_visible(timeout=30_000)  # htmx polls the bar every second
    with page.expect_download() as started:
        page.get_by_test_id("download").click()
    bundle = tmp_path / "bundle.zip"
    started.value.save_as(bundle)
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(tmp_path / "unpacked")
    (bag_dir,) = (tmp_path / "unpacked").iterdir()
    bagit.Bag(str(bag_dir)).validate()

    page.get_by_test_id("retained-link").click()
    shown = page.get_by_test_id("retained-sha256").inner_text()
    assert shown == hashlib.sha256(bundle.read_bytes()).hexdigest()
    screenshot(page, "exports-retained")

    callup(live_vault.context, cast, "皖应急调〔2026〕1号", today(live_vault.context) - timedelta(days=30))
    callup(live_vault.context, cast, "皖应急调〔2026〕2号", today(live_vault.context))
    page.goto("/callups")
    expect(page.locator("tr.overdue [data-testid=overdue]")).to_be_visible()
    screenshot(page, "callups")
    assert not problems, problems


def _client_as(client: TestClient, who: WebPerson) -> TestClient:
    assert sign_in(client, who.name, who.password) == 303
    return client


def _coverage(client: TestClient, purpose: str, records: list[uuid.UUID]) -> str:
    query = "&".join(f"evidence_ids={r}" for r in records)
    answer = client.get(f"/exports/coverage?case_number={VARIANT}&purpose={purpose}&recipient=某法院&{query}")
    assert answer.status_code == 200
    return answer.text


def _build(client: TestClient, purpose: str, records: list[uuid.UUID], callup_id: str = "") -> int | str:
    token = csrf_of(client.get("/exports/new").text)
    answer = client.post("/exports", data={"csrf_token": token, "case_number": CASE, "purpose": purpose,
                                           "recipient": "安徽省应急管理厅", "evidence_ids": [str(r) for r in records],
                                           "callup": callup_id}, follow_redirects=False)
    return answer.headers["location"] if answer.status_code == 303 else answer.status_code


def test_coverage_names_the_missing_approval_and_blocks_building(
    client: TestClient, context: VaultContext, cast: Cast
) -> None:
    held = grant(context, cast, cast.records[:1])
    page = _coverage(_client_as(client, cast.manager), "court", cast.records)
    assert f"由审批 {held} 覆盖" in page and "没有审批覆盖该记录的此用途" in page
    assert 'data-testid="build"' not in page and 'data-testid="blocked"' in page
    assert f"/access/requests/new?evidence={cast.records[1]}" in page
    assert _build(client, "court", cast.records) == 403  # the build itself refuses too
    assert 'data-testid="exports"' not in client.get("/exports").text
    by_records = client.get(f"/exports/coverage?purpose=court&evidence_ids={cast.records[1]}").text
    assert f"案件 {CASE}" in by_records and "没有审批覆盖该记录的此用途" in by_records  # the case found from the record


def test_an_expired_or_other_purpose_approval_is_named(client: TestClient, context: VaultContext, cast: Cast) -> None:
    grant(context, cast, cast.records, purpose=AccessPurpose.RECONSIDERATION)
    page = _coverage(_client_as(client, cast.manager), "court", cast.records)
    assert page.count("仅批准用于其他用途") == 2 and "行政复议" in page


def test_a_party_copy_of_a_confidential_record_is_refused_with_its_reason(
    client: TestClient, context: VaultContext, cast: Cast
) -> None:
    grant(context, cast, cast.records, purpose=AccessPurpose.PARTY_COPY)
    page = _coverage(_client_as(client, cast.manager), "party-copy", [cast.secret])
    assert "涉密记录：当事人复制不得包含（000 第九条）" in page and 'data-testid="build"' not in page
    token = csrf_of(client.get("/exports/new").text)
    answer = client.post("/exports", data={"csrf_token": token, "case_number": CASE, "purpose": "party-copy",
                                           "recipient": "陈某", "evidence_ids": [str(cast.secret)]})
    assert answer.status_code == 403 and "may not include confidential records" in answer.text
    with context.sessions() as session:
        refused = session.scalars(select(CustodyEvent).where(
            CustodyEvent.action == CustodyAction.EVIDENCE_ACCESS_REFUSED,
            CustodyEvent.subject_id == str(cast.secret))).all()
    assert refused, "the refused party copy is logged"
    whole = client.get(f"/exports/coverage?case_number={CASE}&purpose=party-copy&recipient=陈某").text
    assert 'data-testid="withheld"' in whole and 'data-testid="build"' in whole


@pytest.mark.parametrize("role", [Role.OFFICER, Role.REVIEWER, Role.APPROVER, Role.ADMIN, Role.AUDITOR])
def test_only_records_managers_use_the_wizard(
    client: TestClient, cast: Cast, person: Callable[..., WebPerson], role: Role
) -> None:
    who = cast.auditor if role == Role.AUDITOR else person(role, name=f"someone-{role.value}")
    _client_as(client, who)
    reads = 200 if role == Role.AUDITOR else 403
    assert client.get("/exports").status_code == reads
    assert client.get("/callups").status_code == reads
    assert client.get("/exports/new").status_code == 403
    assert client.get(f"/exports/coverage?case_number={CASE}&purpose=court").status_code == 403
    token = csrf_of(client.get("/").text)
    assert client.post("/exports", data={"csrf_token": token, "case_number": CASE, "purpose": "court",
                                         "recipient": "x"}).status_code == 403
    assert client.post("/callups", data={"csrf_token": token, "department": "省厅", "document_number": "1",
                                         "case_numbers": CASE}).status_code == 403
    if role == Role.AUDITOR:
        assert 'data-testid="register-form"' not in client.get("/callups").text


def _wait_ready(client: TestClient, progress_url: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        bar = client.get(progress_url.replace("/progress", "/progress/bar")).text
        if 'data-state="building"' not in bar:
            return bar
        time.sleep(0.2)
    raise AssertionError("the bundle was not built within 30 s")


def test_a_callup_answered_with_an_export_is_fulfilled_and_leaves_the_due_list(
    client: TestClient, context: VaultContext, cast: Cast
) -> None:
    callup_id = callup(context, cast, "皖应急调〔2026〕5号", today(context))
    grant(context, cast, [*cast.records, cast.secret], purpose=AccessPurpose.FILING_REVIEW)
    _client_as(client, cast.manager)
    register = client.get("/callups").text
    assert f"/exports/new?callup={callup_id}" in register
    wizard = client.get(f"/exports/new?callup={callup_id}").text
    assert 'value="安徽省应急管理厅"' in wizard and '<option value="filing-review" selected' in wizard
    location = _build(client, "filing-review", [], str(callup_id))
    assert isinstance(location, str) and location.endswith(f"?callup={callup_id}")
    bar = _wait_ready(client, location)
    assert 'data-testid="download"' in bar and 'data-testid="fulfil"' in bar
    export_id = location.split("/")[2]
    downloaded = client.get(f"/exports/{export_id}/download")
    assert downloaded.status_code == 200 and downloaded.content[:2] == b"PK"
    answer = client.post(f"/callups/{callup_id}/fulfil", data={"csrf_token": csrf_of(bar), "export_ids": export_id},
                         follow_redirects=False)
    assert answer.status_code == 303
    after = client.get("/callups").text
    assert 'data-testid="none-due"' in after
    again = client.post(f"/callups/{callup_id}/fulfil", data={"csrf_token": csrf_of(bar), "export_ids": export_id})
    assert again.status_code == 409 and 'data-testid="fulfil-error"' in again.text and "already fulfilled" in again.text
    fulfilled = after.split('data-testid="fulfilled"')[1]
    assert "皖应急调〔2026〕5号" in fulfilled and export_id in fulfilled


def test_an_overdue_callup_is_marked_overdue(client: TestClient, context: VaultContext, cast: Cast) -> None:
    late = callup(context, cast, "皖应急调〔2026〕8号", today(context) - timedelta(days=21))
    fresh = callup(context, cast, "皖应急调〔2026〕9号", today(context))
    page = _client_as(client, cast.manager).get("/callups").text
    assert re.search(rf'data-callup="{late}" data-state="overdue"', page)
    assert re.search(rf'data-callup="{fresh}" data-state="open"', page)
    assert "逾期" in page


def test_a_callup_is_registered_through_the_form(client: TestClient, context: VaultContext, cast: Cast) -> None:
    _client_as(client, cast.manager)
    token = csrf_of(client.get("/callups").text)
    form = {"csrf_token": token, "department": "安徽省应急管理厅", "document_number": "皖应急调〔2026〕11号",
            "case_numbers": VARIANT, "received_on": today(context).isoformat()}
    assert client.post("/callups", data=form, follow_redirects=False).status_code == 303
    again = client.post("/callups", data=form)
    assert again.status_code == 409 and "already registered" in again.text
    assert "皖应急调〔2026〕11号" in client.get("/callups").text.split('data-testid="due"')[1]
