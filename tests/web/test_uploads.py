"""An officer's own uploads, completing tags, and the review of flag-clearing changes (issue 14)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from ingest.models import ClearanceStatus, FlagClearanceRequest, IngestRecord
from ingest.retagging import tag_form_values
from tests.ingest.conftest import flags_of, ingest_file, make_case_file
from tests.media import make_video
from tests.web.conftest import LiveVault, WebPerson, csrf_of, sign_in
from vault.context import VaultContext
from vault.custody.models import CustodyEvent
from vault.db import utcnow
from vault.evidence.models import Evidence
from vault.identities.models import Role

CASE = "阜应急罚字〔2026〕12号"
_CLIPS = itertools.count()


@dataclass
class Cast:
    """The people of these tests."""

    officer: WebPerson
    other_officer: WebPerson
    approver: WebPerson


@pytest.fixture
def cast(person: Callable[..., WebPerson], context: VaultContext) -> Cast:
    """Return two officers and an approver; the case file 12号 (party 某某化工有限公司, handler C002) exists."""
    make_case_file(context, CASE)
    return Cast(officer=person(Role.OFFICER, name="zhang.wei", certificate="13010001", display_name="张伟"),
                other_officer=person(Role.OFFICER, name="li.na", certificate="13010002", display_name="李娜"),
                approver=person(Role.APPROVER, name="zhao.lei", display_name="赵磊"))


def upload(context: VaultContext, tmp_path: Path, who: WebPerson, *, days_ago: float = 3, **meta: str) -> uuid.UUID:
    """Ingest an ffmpeg clip recorded `days_ago` (so late by default) through the ingest service."""
    recorded = utcnow() - timedelta(days=days_ago, seconds=2 * next(_CLIPS))  # a distinct time: distinct bytes
    stamp = recorded.strftime("%Y-%m-%dT%H:%M:%SZ")
    clip = make_video(tmp_path / f"DSJ-{uuid.uuid4().hex[:8]}.mp4", seconds=1.0, size="160x120",
                      creation_time=stamp)
    return ingest_file(context, who.person, clip, now=utcnow(), **meta).evidence.id


def signed(client: TestClient, who: WebPerson) -> str:
    """Sign in without a browser and return a CSRF token for the forms."""
    assert sign_in(client, who.name, who.password) == 303
    return csrf_of(client.get("/").text)


def tag_form(context: VaultContext, who: WebPerson, evidence_id: uuid.UUID, token: str,
             **changed: Any) -> dict[str, Any]:
    """Return the tag form as a browser would post it: its current values, with `changed` typed over them."""
    with context.sessions() as session:
        current = tag_form_values(session=session, actor=who.person.actor, evidence_id=evidence_id,
                                  zone=context.settings.zone)
    values = current | changed
    form = {k: v for k, v in values.items() if k != "party_informed"} | {"csrf_token": token}
    return form | ({"party_informed": "true"} if values["party_informed"] else {})


def test_an_officer_sees_only_own_uploads_with_flag_reasons_and_can_filter(
    client: TestClient, context: VaultContext, cast: Cast, tmp_path: Path,
) -> None:
    late = upload(context, tmp_path, cast.officer)
    clean = upload(context, tmp_path, cast.officer, days_ago=0.001, case_number=CASE, party="某某化工有限公司",
                   handlers="C002", party_informed="true")
    theirs = upload(context, tmp_path, cast.other_officer)
    assert not flags_of(context, clean)
    token = signed(client, cast.officer)
    page = client.get("/uploads").text
    assert str(late) in page and str(clean) in page and str(theirs) not in page
    assert page.index(str(clean)) < page.index(str(late))  # newest upload first
    assert "迟交" in page and "未记录已告知当事人开始录像" in page  # the flag and its stored reason
    assert f'href="/evidence/{late}"' in page
    flagged = client.get("/uploads", params={"flagged": "true"}).text
    assert str(late) in flagged and str(clean) not in flagged
    assert client.get(f"/uploads/{theirs}/tags").status_code == 404  # another officer's upload does not exist
    assert client.post(f"/uploads/{theirs}/tags", data={"csrf_token": token, "case_number": CASE}).status_code == 404
    assert client.get(f"/evidence/{theirs}").status_code == 404
    client.get("/language/en")
    assert "Only with open flags" in client.get("/uploads").text  # English is available too


def test_my_uploads_are_for_officers_and_the_review_queue_for_approvers(
    client: TestClient, person: Callable[..., WebPerson],
) -> None:
    expected = {Role.OFFICER: (200, 403), Role.REVIEWER: (403, 403), Role.APPROVER: (403, 200),
                Role.RECORDS_MANAGER: (403, 403), Role.AUDITOR: (403, 403), Role.ADMIN: (403, 403)}
    for role, (uploads, reviews) in expected.items():
        client.cookies.clear()
        signed(client, person(role))
        assert (client.get("/uploads").status_code, client.get("/uploads/reviews").status_code) == (
            uploads, reviews), role


def test_a_completion_applies_at_once_and_a_flag_clearing_change_goes_to_review(
    client: TestClient, context: VaultContext, cast: Cast, tmp_path: Path,
) -> None:
    record = upload(context, tmp_path, cast.officer)
    assert {"untagged_case", "party_not_informed", "late_upload"} <= set(flags_of(context, record))
    token = signed(client, cast.officer)
    done = client.post(f"/uploads/{record}/tags", data=tag_form(context, cast.officer, record, token,
                                                                case_number=CASE), follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/uploads?done=tagged&evidence={record}"
    assert "untagged_case" not in flags_of(context, record)  # completing a label needs no second person

    no_reason = client.post(f"/uploads/{record}/tags", data=tag_form(context, cast.officer, record, token,
                                                                     party_informed=True))
    assert no_reason.status_code == 422 and "须说明理由" in no_reason.text
    assert 'data-testid="form-error"' in no_reason.text
    asked = client.post(f"/uploads/{record}/tags", follow_redirects=False, data=tag_form(
        context, cast.officer, record, token, party_informed=True, reason="现场已口头告知，漏勾选"))
    assert asked.status_code == 303 and "requested=" in asked.headers["location"]
    assert "party_not_informed" in flags_of(context, record)  # not cleared until someone else decides
    assert "等待审核" in client.get(asked.headers["location"]).text
    mine = client.get("/uploads").text
    assert "待审核" in mine and "将清除" in mine
    with context.sessions() as session:
        (pending,) = session.scalars(select(FlagClearanceRequest)).all()
        assert pending.status == ClearanceStatus.PENDING and pending.changes == {"party_informed": True}
        assert not session.get_one(Evidence, record).party_informed


def test_the_field_return_time_is_read_in_the_agency_zone(
    client: TestClient, context: VaultContext, cast: Cast, tmp_path: Path,
) -> None:
    record = upload(context, tmp_path, cast.officer)
    with context.sessions() as session:
        captured = session.get_one(Evidence, record).capture_start
    assert captured is not None
    returned = (captured + timedelta(hours=1)).astimezone(context.settings.zone).replace(second=0, microsecond=0)
    token = signed(client, cast.officer)
    saved = client.post(f"/uploads/{record}/tags", follow_redirects=False, data=tag_form(
        context, cast.officer, record, token, field_return_at=returned.strftime("%Y-%m-%dT%H:%M")))
    assert saved.status_code == 303  # still late (24 h after the return), so no flag clears: applied at once
    with context.sessions() as session:
        assert session.get_one(IngestRecord, record).field_return_at == returned
    assert "外勤返回" in flags_of(context, record)["late_upload"]


def _pending(context: VaultContext, client: TestClient, cast: Cast, tmp_path: Path) -> tuple[uuid.UUID, uuid.UUID]:
    record = upload(context, tmp_path, cast.officer)
    token = signed(client, cast.officer)
    client.post(f"/uploads/{record}/tags", data=tag_form(context, cast.officer, record, token, party_informed=True,
                                                         reason="现场已口头告知"))
    with context.sessions() as session:
        return record, session.scalars(select(FlagClearanceRequest.id)).one()


def test_an_approver_approves_the_flag_clears_and_the_officer_sees_the_outcome(
    client: TestClient, context: VaultContext, cast: Cast, tmp_path: Path,
) -> None:
    record, request_id = _pending(context, client, cast, tmp_path)
    token = csrf_of(client.get(f"/uploads/{record}/tags").text)
    own = client.post(f"/uploads/reviews/{request_id}/approve", data={"csrf_token": token, "reason": "自己批"})
    assert own.status_code == 403  # the uploader never decides (the queue itself is not theirs either)
    client.post("/sign-out", data={"csrf_token": token})
    token = signed(client, cast.approver)
    queue = client.get("/uploads/reviews").text
    assert "现场已口头告知" in queue and 'data-testid="approve"' in queue
    no_reason = client.post(f"/uploads/reviews/{request_id}/approve", data={"csrf_token": token, "reason": " "})
    assert no_reason.status_code == 422 and "决定须说明理由" in no_reason.text
    approved = client.post(f"/uploads/reviews/{request_id}/approve", follow_redirects=False,
                           data={"csrf_token": token, "reason": "核对执法记录，确已告知"})
    assert approved.status_code == 303 and approved.headers["location"] == "/uploads/reviews?done=approved"
    assert "party_not_informed" not in flags_of(context, record)
    assert 'data-testid="reviews-empty"' in client.get("/uploads/reviews").text
    client.post("/sign-out", data={"csrf_token": token})
    signed(client, cast.officer)
    mine = client.get("/uploads").text
    assert "已批准" in mine and "核对执法记录，确已告知" in mine


def test_a_rejected_request_leaves_the_flag_and_says_why(
    client: TestClient, context: VaultContext, cast: Cast, tmp_path: Path,
) -> None:
    record, request_id = _pending(context, client, cast, tmp_path)
    token = csrf_of(client.get("/uploads").text)
    client.post("/sign-out", data={"csrf_token": token})
    token = signed(client, cast.approver)
    rejected = client.post(f"/uploads/reviews/{request_id}/reject", follow_redirects=False,
                           data={"csrf_token": token, "reason": "录像中未见告知"})
    assert rejected.status_code == 303
    assert "party_not_informed" in flags_of(context, record)
    client.post("/sign-out", data={"csrf_token": token})
    signed(client, cast.officer)
    mine = client.get("/uploads").text
    assert "已驳回" in mine and "录像中未见告知" in mine


@pytest.mark.parametrize("self_view", [False, True])
def test_own_footage_plays_only_where_the_agency_allows_and_playback_is_logged(
    client: TestClient, context: VaultContext, cast: Cast, tmp_path: Path, self_view: bool,
) -> None:
    context.settings.uploader_self_view = self_view
    record = upload(context, tmp_path, cast.officer)
    signed(client, cast.officer)
    mine = client.get("/uploads").text
    assert ('data-testid="play-own"' in mine) is self_view
    assert ('data-testid="request-access"' in mine) is not self_view
    assert client.get(f"/evidence/{record}/play").status_code == (200 if self_view else 403)
    played = client.get(f"/api/evidence/{record}/play", headers=cast.officer.headers)
    assert played.status_code == (200 if self_view else 403)
    with context.sessions() as session:
        actions = set(session.scalars(select(CustodyEvent.action).where(CustodyEvent.subject_id == str(record))))
    assert ("evidence:viewed" if self_view else "evidence:access_refused") in actions


def test_an_officer_reads_the_flag_reason_and_completes_tags_in_the_browser(
    browser: Browser, live_vault: LiveVault, cast: Cast, tmp_path: Path,
    signed_in: Callable[[Browser, WebPerson], Page], screenshot: Callable[[Page, str], Path],
) -> None:
    record = upload(live_vault.context, tmp_path, cast.officer, recorder_serial="DSJ-0412")
    upload(live_vault.context, tmp_path, cast.officer, days_ago=0.001, case_number=CASE, party="某某化工有限公司",
           handlers="C002", party_informed="true", recorder_serial="DSJ-0388")
    page = signed_in(browser, cast.officer)
    page.goto("/uploads")
    row = page.locator(f"[data-testid=upload-row][data-evidence-id='{record}']")
    expect(row.locator("[data-flag=late_upload]")).to_contain_text("迟了")
    expect(row.locator("[data-flag=party_not_informed]")).to_contain_text("未记录已告知当事人")
    page.get_by_test_id("only-flagged").check()
    page.click("form.uploads-filter button[type=submit]")
    expect(page.get_by_test_id("upload-row")).to_have_count(1)
    row.get_by_test_id("complete-tags").click()
    page.fill("input[name=case_number]", CASE)
    page.fill("input[name=party]", "某某化工有限公司")
    page.fill("input[name=handlers]", "C002")
    page.fill("textarea[name=late_reason]", "外勤连续执法，次日返回单位")
    page.get_by_test_id("save-tags").click()
    expect(page.get_by_test_id("done")).to_be_visible()
    expect(row.locator("[data-flag=untagged_case]")).to_have_count(0)
    expect(row.locator("[data-flag=late_upload]")).to_contain_text("外勤连续执法")  # the reason is now on the flag
    row.get_by_test_id("complete-tags").click()
    page.check("input[name=party_informed]")
    page.fill("input[name=reason]", "现场已口头告知，上传时漏勾选")
    page.get_by_test_id("save-tags").click()
    expect(page.get_by_test_id("requested")).to_be_visible()
    screenshot(page, "uploads-tags")
    page.goto("/uploads")
    expect(row.locator("[data-testid=review][data-status=pending]")).to_be_visible()
    screenshot(page, "uploads-mine")

    approver = signed_in(browser, cast.approver)
    approver.goto("/uploads/reviews")
    review = approver.get_by_test_id("flag-review")
    expect(review.get_by_test_id("request-reason")).to_have_text("现场已口头告知，上传时漏勾选")
    review.locator("form[action$=approve] input[name=reason]").fill("核对录像，开始时已告知")
    screenshot(approver, "uploads-reviews")
    review.get_by_test_id("approve").click()
    expect(approver.get_by_test_id("done")).to_be_visible()
    page.reload()
    expect(row.locator("[data-testid=review][data-status=approved]")).to_contain_text("核对录像，开始时已告知")
    expect(row.locator("[data-flag=party_not_informed]")).to_have_count(0)
