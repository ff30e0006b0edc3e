"""The auditor's pages in a real browser: trail search, CSV export naming a real playback, the custody log."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page

from tests.media import make_video
from tests.web.conftest import LiveVault, WebPerson, sign_in
from vault.access.models import AccessMode, AccessPurpose
from vault.access.service import approve_request, request_access
from vault.cases.models import CaseType
from vault.cases.service import add_case
from vault.context import VaultContext
from vault.db import utcnow
from vault.evidence.service import EvidenceTags, register_evidence
from vault.identities.actor import SYSTEM
from vault.identities.models import Role

CASE = "阜应急罚字〔2026〕12号"
FILE = "执法记录-DSJ0421.mp4"


def _granted_record(context: VaultContext, tmp_path: Path, officer: WebPerson, reviewer: WebPerson,
                    approver: WebPerson) -> uuid.UUID:
    """Store a clip of a case and grant the reviewer a view of it; return the record id."""
    clip = make_video(tmp_path / "clip.mp4", seconds=1.0, size="160x120")
    retain = utcnow() + timedelta(days=2)
    with clip.open("rb") as stream:
        blob = context.store.put_stream(stream, retain_until=retain)
    with context.sessions() as session:
        case = add_case(session=session, actor=SYSTEM, case_number=CASE, case_type=CaseType.GENERAL_PROCEDURE_PENALTY)
        record = register_evidence(session=session, actor=officer.person.actor, blob=blob,
                                   store_name=context.store.name, store_retain_until=retain, original_name=FILE,
                                   media_type="video/mp4", tags=EvidenceTags(case=case))
        asked = request_access(session=session, actor=reviewer.person.actor, evidence_ids=[record.id],
                               purpose=AccessPurpose.LEGAL_REVIEW, mode=AccessMode.VIEW, duration_hours=4,
                               reason="法制审核", now=utcnow(), max_hours=720)
        approve_request(session=session, actor=approver.person.actor, request_id=asked.id, now=utcnow())
        session.commit()
        return record.id


def _rows(page: Page) -> list[str]:
    return page.locator("[data-testid=trail-results] tbody tr").all_inner_texts()


def test_an_auditor_searches_the_trail_exports_it_and_checks_the_log(
    live_vault: LiveVault, browser: Browser, person: Callable[..., WebPerson],
    signed_in: Callable[[Browser, WebPerson], Page], screenshot: Callable[[Page, str], Path], tmp_path: Path,
) -> None:
    # Issue 13, Auditor: search by user and by record with readable names; the CSV export opens and names the
    # playback; the custody log shows each entry's inclusion check and the last verification's state.
    officer = person(Role.OFFICER, certificate="14010219001")
    reviewer = person(Role.REVIEWER, name="wang.shen", display_name="王审核")
    approver = person(Role.APPROVER)
    auditor = person(Role.AUDITOR, name="zhou.jian", display_name="周监督")
    record = _granted_record(live_vault.context, tmp_path, officer, reviewer, approver)
    viewer = signed_in(browser, reviewer)
    played = viewer.request.get(f"/api/evidence/{record}/play", headers={"Range": "bytes=0-1023"})
    assert played.status == 206  # a real playback, through the player's endpoint, under the grant

    page = signed_in(browser, auditor)
    page.goto("/audit/trail")
    page.fill("input[name=user]", reviewer.name)
    page.click("[data-testid=trail-filters] button[type=submit]")
    by_user = _rows(page)
    assert len(by_user) == 3 and "evidence:viewed" in by_user[2]
    assert "王审核 (wang.shen)" in by_user[2] and f"{FILE} · {CASE}" in by_user[2]
    page.locator("[data-testid=record-link]").first.click()
    page.wait_for_url(re.compile(f"record={record}"))
    by_record = _rows(page)
    # The access events of that record only (the default action filter), the request's approval included.
    assert [row.split("\t")[3] for row in by_record] == ["access:requested", "access:approved", "evidence:viewed"]
    screenshot(page, "audit-trail")

    with page.expect_download() as download:
        page.click("[data-testid=export-csv]")
    exported = Path(download.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(exported)))
    playback = next(r for r in rows if r["action"] == "evidence:viewed")
    assert playback["actor"] == "王审核 (wang.shen)" and playback["record"] == f"{FILE} · {CASE}"
    assert "play" in playback["details"]  # the JSON details say which variant was played

    page.goto("/audit/log")
    marks = page.locator("[data-testid=inclusion]").all_inner_texts()
    assert marks and all(mark.strip() == "✓" for mark in marks)
    assert "export" in page.locator("[data-testid=log-entries] tbody tr").first.inner_text()  # the CSV export
    page.click("[data-testid=verify-now]")
    page.wait_for_url(re.compile(r".*/audit/log$"))
    assert page.locator("[data-testid=verdict]").inner_text().strip() == "✓ 完好"
    assert "zhou.jian (web)" in page.locator("[data-testid=last-verification]").inner_text()
    screenshot(page, "audit-log")


@pytest.mark.parametrize("role", [Role.OFFICER, Role.REVIEWER, Role.APPROVER, Role.RECORDS_MANAGER, Role.ADMIN])
def test_non_auditors_get_no_audit_pages(client: TestClient, person: Callable[..., WebPerson], role: Role) -> None:
    # DOMAIN roles: only the auditor (监督) reads the logs; everyone else gets the 403 page.
    someone = person(role)
    assert sign_in(client, someone.name, someone.password) == 303
    for path in ("/audit/trail", "/audit/log"):
        page = client.get(path)
        assert page.status_code == 403, path
        assert 'data-testid="error-code">permission_denied<' in page.text
    form = client.get("/")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    refused = client.post("/audit/trail/export", data={"csrf_token": token.group(1), "fmt": "csv"})
    assert refused.status_code == 403
    assert client.post("/audit/log/verify", data={"csrf_token": token.group(1)}).status_code == 403
