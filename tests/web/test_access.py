"""Request, approve, watch in the browser (issue 13: "Access request form", "Approver's inbox", "Player")."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from tests.media import make_photo, make_video
from tests.web.conftest import LiveVault, WebPerson, csrf_of, sign_in
from vault.access.models import AccessMode, AccessPurpose, AccessRequest, RequestStatus
from vault.access.service import approve_request, request_access
from vault.cases.models import CaseType
from vault.cases.service import add_case
from vault.context import VaultContext
from vault.custody.models import CustodyEvent
from vault.db import utcnow
from vault.evidence.models import Derivative, DerivativeKind
from vault.evidence.service import EvidenceTags, register_evidence
from vault.identities.actor import SYSTEM
from vault.identities.models import Role

SECONDS = 8.0


@dataclass(frozen=True)
class Media:
    """An H.264 clip long enough to seek in (Debian's Chromium plays H.264) and a photo."""

    clip: Path
    proxy: Path
    photo: Path


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    """Make the media once for the module."""
    folder = tmp_path_factory.mktemp("web-access")
    return Media(clip=make_video(folder / "巡查-0412.mp4", seconds=SECONDS, size="320x240", rate=25),
                 proxy=make_video(folder / "proxy.mp4", seconds=SECONDS, size="160x120", rate=25),
                 photo=make_photo(folder / "现场照片.jpg", size="320x240"))


@dataclass
class Cast:
    """The people of these tests."""

    officer: WebPerson
    reviewer: WebPerson
    approver: WebPerson
    second_approver: WebPerson


@pytest.fixture
def cast(person: Callable[..., WebPerson]) -> Cast:
    """Return an officer (the uploader), a reviewer and two approvers."""
    return Cast(officer=person(Role.OFFICER, name="zhang.wei", certificate="13010001", display_name="张伟"),
                reviewer=person(Role.REVIEWER, name="wang.fang", display_name="王芳"),
                approver=person(Role.APPROVER, name="zhao.lei", display_name="赵磊"),
                second_approver=person(Role.APPROVER, name="qian.min", display_name="钱敏"))


def store(context: VaultContext, path: Path, uploader: WebPerson, media_type: str,
          case_number: str | None = None, proxy: Path | None = None) -> uuid.UUID:
    """Put a file in the store and register it as the officer's record (ingest is not this test's subject)."""
    retain = utcnow() + timedelta(days=2)
    with path.open("rb") as stream:
        blob = context.store.put_stream(stream, retain_until=retain)
    info = {"duration": SECONDS, "frame_rate": 25.0} if media_type.startswith("video/") else {}
    captured = (utcnow() - timedelta(days=1)).replace(microsecond=0)
    with context.sessions() as session:
        case = add_case(session=session, actor=SYSTEM, case_number=case_number,
                        case_type=CaseType.GENERAL_PROCEDURE_PENALTY) if case_number else None
        evidence = register_evidence(session=session, actor=uploader.person.actor, blob=blob,
                                     store_name=context.store.name, store_retain_until=retain,
                                     original_name=path.name, media_type=media_type, tags=EvidenceTags(
                                         case=case, capture_start=captured,
                                         capture_end=captured + timedelta(seconds=SECONDS)),
                                     media_info=info)
        if proxy is not None:
            with proxy.open("rb") as stream:
                made = context.store.put_stream(stream, retain_until=retain)
            session.add(Derivative(evidence_id=evidence.id, kind=DerivativeKind.PROXY, sha256=made.sha256,
                                   size=made.size, media_type="video/mp4", storage_key=made.key,
                                   version_id=made.version_id))
        session.commit()
        return evidence.id


def grant(context: VaultContext, cast: Cast, record: uuid.UUID, *, hours: int = 2,
          ago: timedelta = timedelta(0)) -> uuid.UUID:
    """File the reviewer's request and approve it, as of `ago` before now; return the grant id."""
    at = utcnow() - ago
    with context.sessions() as session:
        filed = request_access(session=session, actor=cast.reviewer.person.actor, evidence_ids=[record],
                               purpose=AccessPurpose.LEGAL_REVIEW, mode=AccessMode.VIEW, duration_hours=hours,
                               reason="法制审核", now=at, max_hours=720)
        approved = approve_request(session=session, actor=cast.approver.person.actor, request_id=filed.id, now=at)
        session.commit()
        return approved.id


def refusal(page: Page, record: uuid.UUID) -> str:
    """Open the player and return which approval it says is missing."""
    response = page.goto(f"/evidence/{record}/play")
    assert response is not None and response.status == 403
    return page.get_attribute("[data-testid=refused]", "data-missing") or ""


def test_a_reviewer_requests_an_approver_approves_and_the_video_plays_under_a_watermark(
    browser: Browser, live_vault: LiveVault, cast: Cast, media: Media,
    signed_in: Callable[[Browser, WebPerson], Page], screenshot: Callable[[Page, str], Path],
) -> None:
    record = store(live_vault.context, media.clip, cast.officer, "video/mp4", case_number="阜应急检〔2026〕12号")
    reviewer = signed_in(browser, cast.reviewer)
    reviewer.goto(f"/access/requests/new?evidence={record}")
    reviewer.select_option("select[name=purpose]", "legal_review")
    reviewer.fill("input[name=duration_hours]", "4")
    reviewer.fill("textarea[name=reason]", "法制审核：核对现场检查程序")
    screenshot(reviewer, "request-form")
    reviewer.click("form[data-testid=request-form] button[type=submit]")
    expect(reviewer.get_by_test_id("filed")).to_be_visible()
    assert refusal(reviewer, record) == "pending"  # (000 第十二条) no viewing before approval

    approver = signed_in(browser, cast.approver)  # a second browser context
    approver.goto("/access/inbox")
    pending = approver.locator("[data-testid=pending-request]")
    expect(pending).to_have_count(1)
    expect(pending.get_by_test_id("requester")).to_have_text("王芳")
    expect(pending).to_contain_text(media.clip.name)
    screenshot(approver, "inbox")
    pending.get_by_test_id("approve").click()
    expect(approver.get_by_test_id("done")).to_be_visible()

    reviewer.goto(f"/evidence/{record}/play")
    video = reviewer.get_by_test_id("video")
    video.evaluate("v => { v.muted = true; return v.play(); }")
    reviewer.wait_for_function("() => document.querySelector('video').currentTime > 0.5")
    reviewer.evaluate("() => { const v = document.querySelector('video'); v.pause(); v.currentTime = 3; }")
    reviewer.wait_for_function("() => !document.querySelector('video').seeking")
    assert abs(video.evaluate("v => v.currentTime") - 3) < 0.5
    watermark = reviewer.get_by_test_id("watermark")
    expect(watermark).to_contain_text("王芳")
    grant_id = reviewer.locator("[data-watermark-grant]").inner_text()
    screenshot(reviewer, "player")
    with live_vault.context.sessions() as session:
        approved = session.scalars(select(AccessRequest)).one()
        assert approved.status == RequestStatus.APPROVED and approved.grant is not None
        assert str(approved.grant.id) in grant_id
        viewed = session.scalars(select(CustodyEvent).where(CustodyEvent.action == "evidence:viewed",
                                                            CustodyEvent.subject_id == str(record))).all()
        assert viewed and viewed[0].details["grant_id"] == str(approved.grant.id)  # playback is logged as before


def test_the_watermark_comes_back_and_the_controls_step_and_switch(
    browser: Browser, live_vault: LiveVault, cast: Cast, media: Media,
    signed_in: Callable[[Browser, WebPerson], Page],
) -> None:
    record = store(live_vault.context, media.clip, cast.officer, "video/mp4", proxy=media.proxy)
    grant(live_vault.context, cast, record)
    page = signed_in(browser, cast.reviewer)
    page.goto(f"/evidence/{record}/play")
    page.wait_for_function("() => document.querySelector('video').readyState >= 1")
    page.evaluate("() => document.querySelector('[data-watermark]').remove()")
    expect(page.get_by_test_id("watermark")).to_contain_text("王芳")
    page.evaluate("() => { document.querySelector('[data-watermark]').style.display = 'none'; }")
    expect(page.get_by_test_id("watermark")).to_be_visible()
    page.evaluate("() => { document.querySelector('[data-watermark-viewer]').textContent = 'someone else'; }")
    expect(page.locator("[data-watermark-viewer]")).to_contain_text("王芳")
    clock = page.locator("[data-watermark-clock]")
    first = clock.inner_text()
    expect(clock).not_to_have_text(first, timeout=3000)  # the time shown is live
    page.get_by_test_id("frame-forward").click()
    page.wait_for_function("() => Math.abs(document.querySelector('video').currentTime - 0.04) < 0.001")
    page.select_option("[data-testid=speed]", "2")
    assert page.evaluate("() => document.querySelector('video').playbackRate") == 2
    page.evaluate("() => { document.querySelector('video').currentTime = 2; }")
    page.wait_for_function("() => !document.querySelector('video').seeking")
    page.get_by_test_id("variant-proxy").click()
    page.wait_for_function("() => { const v = document.querySelector('video'); return v.src.endsWith('/proxy')"
                           " && v.videoWidth === 160 && Math.abs(v.currentTime - 2) < 0.5; }")


def test_without_a_grant_the_player_says_so_and_offers_the_request_form(
    browser: Browser, live_vault: LiveVault, cast: Cast, media: Media,
    signed_in: Callable[[Browser, WebPerson], Page], screenshot: Callable[[Page, str], Path],
) -> None:
    # (000 第十二条) no viewing without approval: the page names what is missing and how to get it
    record = store(live_vault.context, media.clip, cast.officer, "video/mp4")
    page = signed_in(browser, cast.reviewer)
    assert refusal(page, record) == "no_request"
    assert page.locator("video").count() == 0
    screenshot(page, "player-refused")
    page.get_by_test_id("request-link").click()
    expect(page.locator("input[name=evidence_ids][type=checkbox]")).to_have_value(str(record))
    assert page.request.get(f"/api/evidence/{record}/play").status == 403


def test_refused_after_expiry_and_after_revocation(
    browser: Browser, live_vault: LiveVault, cast: Cast, media: Media,
    signed_in: Callable[[Browser, WebPerson], Page],
) -> None:
    expired = store(live_vault.context, media.clip, cast.officer, "video/mp4")
    grant(live_vault.context, cast, expired, hours=1, ago=timedelta(hours=2))  # granted 2 h ago for 1 h
    revoked = store(live_vault.context, media.photo, cast.officer, "image/jpeg")
    grant(live_vault.context, cast, revoked)
    page = signed_in(browser, cast.reviewer)
    assert refusal(page, expired) == "expired"
    page.goto(f"/evidence/{revoked}/play")
    expect(page.get_by_test_id("photo")).to_be_visible()  # photos show as images under the same watermark
    expect(page.get_by_test_id("watermark")).to_contain_text("王芳")

    approver = signed_in(browser, cast.approver)
    approver.goto("/access/inbox")
    row = approver.locator("[data-testid=active-grants] tr[data-grant]")
    row.locator("input[name=reason]").fill("审核结束")
    row.get_by_test_id("revoke").click()
    expect(approver.get_by_test_id("done")).to_be_visible()
    assert refusal(page, revoked) == "revoked"
    expect(page.get_by_test_id("missing-approval")).to_contain_text("审核结束")
    assert page.request.get(f"/api/evidence/{revoked}/original").status == 403


def test_an_approver_sees_no_approve_button_on_their_own_request(
    browser: Browser, live_vault: LiveVault, cast: Cast, media: Media,
    signed_in: Callable[[Browser, WebPerson], Page],
) -> None:
    # issue 13: never their own request; the button is absent (and the service refuses it as before)
    record = store(live_vault.context, media.photo, cast.officer, "image/jpeg")
    with live_vault.context.sessions() as session:
        request_access(session=session, actor=cast.approver.person.actor, evidence_ids=[record],
                       purpose=AccessPurpose.LITIGATION, mode=AccessMode.VIEW, duration_hours=2, reason="应诉",
                       now=utcnow(), max_hours=720)
        session.commit()
    own = signed_in(browser, cast.approver)
    own.goto("/access/inbox")
    expect(own.get_by_test_id("own-request")).to_be_visible()
    expect(own.get_by_test_id("approve")).to_have_count(0)
    expect(own.get_by_test_id("deny")).to_have_count(0)
    other = signed_in(browser, cast.second_approver)
    other.goto("/access/inbox")
    expect(other.get_by_test_id("approve")).to_have_count(1)


def _signed_in_client(client: TestClient, who: WebPerson) -> str:
    assert sign_in(client, who.name, who.password) == 303
    return csrf_of(client.get("/access/requests/new").text)


def test_approval_in_the_form_narrows_records_duration_and_mode(
    client: TestClient, context: VaultContext, cast: Cast, media: Media
) -> None:
    clip = store(context, media.clip, cast.officer, "video/mp4")
    photo = store(context, media.photo, cast.officer, "image/jpeg")
    with context.sessions() as session:
        filed = request_access(session=session, actor=cast.reviewer.person.actor, evidence_ids=[clip, photo],
                               purpose=AccessPurpose.RECONSIDERATION, mode=AccessMode.VIEW_DOWNLOAD,
                               duration_hours=8, reason="行政复议答复", now=utcnow(), max_hours=720)
        session.commit()
    token = _signed_in_client(client, cast.approver)
    answer = client.post(f"/access/requests/{filed.id}/approve", follow_redirects=False, data={
        "csrf_token": token, "evidence_ids": [str(photo)], "duration_hours": "2", "mode": "view"})
    assert answer.status_code == 303
    with context.sessions() as session:
        decided = session.get(AccessRequest, filed.id)
        assert decided is not None and decided.grant is not None
        assert decided.grant.record_ids == [photo] and decided.grant.mode == AccessMode.VIEW
        assert decided.grant.expires_at - decided.grant.starts_at == timedelta(hours=2)
        logged = session.scalars(select(CustodyEvent).where(CustodyEvent.action == "access:approved")).one()
        assert logged.details["narrowed"] is True


def test_the_request_form_files_a_whole_case_and_shows_refusals_on_the_form(
    client: TestClient, context: VaultContext, cast: Cast, media: Media
) -> None:
    clip = store(context, media.clip, cast.officer, "video/mp4", case_number="阜应急罚字〔2026〕7号")
    token = _signed_in_client(client, cast.reviewer)
    form = client.get("/access/requests/new", params={"case": "阜应急罚字[2026]7号"})
    assert 'value="阜应急罚字〔2026〕7号"' in form.text  # any bracket variant names the case
    filed = client.post("/access/requests", follow_redirects=False, data={
        "csrf_token": token, "scope": "case", "case_number": "阜应急罚字（2026）7号", "purpose": "filing_review",
        "mode": "view_download", "duration_hours": "3", "reason": "备案审查"})
    assert filed.status_code == 303 and filed.headers["location"].startswith("/access/mine?filed=")
    with context.sessions() as session:
        made = session.scalars(select(AccessRequest)).one()
        assert made.whole_case and made.record_ids == [clip] and made.purpose == AccessPurpose.FILING_REVIEW
    no_reason = client.post("/access/requests", data={
        "csrf_token": token, "scope": "records", "evidence_ids": str(uuid.uuid4()), "purpose": "legal_review",
        "mode": "view", "duration_hours": "2", "reason": "x"})
    assert no_reason.status_code == 404 and "form-error" in no_reason.text  # the form comes back with the message
    unsigned = client.post("/access/requests", data={"scope": "case", "case_number": "x", "purpose": "legal_review",
                                                     "mode": "view", "duration_hours": "2", "reason": "x"})
    assert unsigned.status_code == 403 and "csrf_token_invalid" in unsigned.text
    listed = client.get("/access/mine")
    assert listed.status_code == 200 and "备案审查" in listed.text and "待审批" in listed.text
    assert re.search(r'<option value="legal_review"[^>]*>法制审核</option>', client.get("/access/requests/new").text)


@pytest.mark.parametrize(("role", "inbox"), [(Role.OFFICER, 403), (Role.REVIEWER, 403), (Role.AUDITOR, 403),
                                             (Role.RECORDS_MANAGER, 403), (Role.APPROVER, 200)])
def test_only_approvers_open_the_inbox_and_decide(
    client: TestClient, context: VaultContext, cast: Cast, media: Media, person: Callable[..., WebPerson],
    role: Role, inbox: int,
) -> None:
    record = store(context, media.photo, cast.officer, "image/jpeg")
    with context.sessions() as session:
        filed = request_access(session=session, actor=cast.reviewer.person.actor, evidence_ids=[record],
                               purpose=AccessPurpose.LEGAL_REVIEW, mode=AccessMode.VIEW, duration_hours=2,
                               reason="法制审核", now=utcnow(), max_hours=720)
        session.commit()
    token = _signed_in_client(client, person(role))
    assert client.get("/access/inbox").status_code == inbox
    denied = client.post(f"/access/requests/{filed.id}/deny", data={"csrf_token": token, "reason": "无关"},
                         follow_redirects=False)
    assert denied.status_code == (303 if inbox == 200 else 403)
