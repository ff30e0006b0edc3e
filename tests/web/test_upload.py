"""The officer's upload page: a folder over tus with a reload in the middle, receipts verified in the browser."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, Request, Response, Route, expect
from sqlalchemy import select

from tests.media import make_video
from tests.web.conftest import LiveVault, WebPerson, sign_in
from vault.cases.models import CaseType
from vault.cases.service import add_case
from vault.context import VaultContext
from vault.evidence.models import Evidence
from vault.identities.actor import SYSTEM
from vault.identities.models import Role

CASE = "阜应急罚字〔2026〕12号"
TAGS = {"case_number": CASE, "party": "某某化工有限公司", "handlers": "13010001 13010002",
        "activity": "inspection", "recorder_serial": "DSJ-A8-0042", "party_informed": "true"}
MAY_CLEAR = "可以从执法记录仪中清除此文件"
DROP = """([name, data]) => {
  const transfer = new DataTransfer();
  transfer.items.add(new File([Uint8Array.from(atob(data), (c) => c.charCodeAt(0))], name, {type: "video/mp4"}));
  document.getElementById("drop-zone").dispatchEvent(
    new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
}"""


@dataclass
class Crew:
    """The officer who uploads and the second officer on the scene."""

    officer: WebPerson
    partner: WebPerson


@pytest.fixture
def crew(person: Callable[..., WebPerson], context: VaultContext) -> Crew:
    """Two certified officers and the case their recordings belong to."""
    made = Crew(officer=person(Role.OFFICER, name="zhang.wei", certificate="13010001", display_name="张伟"),
                partner=person(Role.OFFICER, name="li.na", certificate="13010002", display_name="李娜"))
    with context.sessions() as session:
        add_case(session=session, actor=SYSTEM, case_number=CASE, case_type=CaseType.GENERAL_PROCEDURE_PENALTY)
        session.commit()
    return made


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A recorder folder of three short clips (and a sidecar the page must skip)."""
    root = tmp_path_factory.mktemp("recorder") / "DCIM"
    root.mkdir()
    # non-ASCII, a quote and an emoji in a name: the receipt's canonical JSON must match Python's byte for byte
    for name, seconds in (("20261201_093010.mp4", 2.0), ('20261202_093020 巡查"现场".mp4', 3.0),
                          ("20261203_093030 询问笔录🎥.mp4", 2.5)):
        make_video(root / name, seconds=seconds, size="320x240")
    (root / "evault.json").write_text("{}", encoding="utf-8")
    return root


def _clips(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.mp4"))


def _fill_tags(page: Page) -> None:
    for name, value in TAGS.items():
        if name in {"activity", "party_informed"}:
            page.select_option(f"select[name={name}]", value)
        else:
            page.fill(f"[name={name}]", value)


@dataclass
class Link:
    """A PATCH-dropping link: once the second upload has sent a chunk, its later chunks never arrive."""

    created: list[str] = field(default_factory=list)
    dropped: int = 0
    resumed_offsets: list[int] = field(default_factory=list)

    def route(self, route: Route, request: Request) -> None:
        """Record creations in order; drop the second upload's PATCHes past its first chunk."""
        if request.method == "POST":
            answer = route.fetch()
            self.created.append(answer.headers.get("location", ""))
            route.fulfill(response=answer)
        elif (request.method == "PATCH" and len(self.created) >= 2 and request.url.endswith(self.created[1])
              and request.headers.get("upload-offset", "0") != "0"):
            self.dropped += 1
            route.abort("connectionfailed")
        else:
            route.continue_()

    def seen(self, response: Response) -> None:
        """Note each HEAD's offset: a resumed upload starts from what the vault already holds."""
        if response.request.method == "HEAD" and "/api/uploads/" in response.url:
            self.resumed_offsets.append(int(response.headers.get("upload-offset", "-1")))


def _rows(page: Page) -> object:
    return page.get_by_test_id("upload-file")


def test_a_folder_of_three_uploads_survives_a_reload_and_every_receipt_verifies(
    browser: Browser, signed_in: Callable[[Browser, WebPerson], Page], live_vault: LiveVault, crew: Crew,
    folder: Path, screenshot: Callable[[Page, str], Path],
) -> None:
    page = signed_in(browser, crew.officer)
    link = Link()
    page.route("**/api/uploads**", link.route)
    page.goto("/upload")
    expect(page.get_by_role("heading", name="上传执法记录")).to_be_visible()
    _fill_tags(page)
    page.get_by_test_id("upload").evaluate("node => { node.dataset.chunkSize = '32768'; }")
    page.get_by_test_id("pick-folder").set_input_files(str(folder))
    rows = page.get_by_test_id("upload-file")
    expect(rows.nth(0).get_by_test_id("may-clear")).to_have_text(MAY_CLEAR, timeout=30_000)
    expect(rows.nth(1)).to_have_attribute("data-state", "retrying", timeout=30_000)
    assert link.dropped >= 1

    page.unroute("**/api/uploads**")
    page.on("response", link.seen)
    page.reload()
    expect(page.get_by_test_id("unfinished-file")).to_have_count(1)
    expect(page.get_by_test_id("unfinished-file")).to_contain_text(_clips(folder)[1].name)
    expect(page.locator("[name=case_number]")).to_have_value(CASE)  # the batch's tags survive the reload
    page.get_by_test_id("pick-folder").set_input_files(str(folder))
    expect(page.get_by_test_id("summary")).to_have_text("3 个已存储，0 个重复，0 个失败", timeout=60_000)
    expect(page.get_by_test_id("may-clear")).to_have_count(3)
    expect(page.get_by_test_id("receipt-warning")).to_have_count(0)
    expect(page.get_by_test_id("unfinished")).to_be_hidden()
    assert any(offset > 0 for offset in link.resumed_offsets), "the interrupted upload started again from zero"

    for row, clip in zip(rows.all(), _clips(folder), strict=True):
        digest = hashlib.sha256(clip.read_bytes()).hexdigest()
        expect(row.locator("[data-field=sha256]")).to_have_text(digest)
    with page.expect_download() as downloaded:
        rows.nth(2).get_by_test_id("download-receipt").click()
    saved = json.loads(Path(downloaded.value.path()).read_text(encoding="utf-8"))
    assert saved["receipt"]["sha256"] == hashlib.sha256(_clips(folder)[2].read_bytes()).hexdigest()
    assert saved["signature"]
    screenshot(page, "upload-batch")

    with live_vault.context.sessions() as session:
        stored = session.scalars(select(Evidence).order_by(Evidence.original_name)).all()
        assert [e.original_name for e in stored] == [clip.name for clip in _clips(folder)]
        for evidence in stored:
            assert evidence.case is not None and evidence.case.case_number == CASE
            assert evidence.activity == "inspection" and evidence.recorder_serial == "DSJ-A8-0042"
            assert evidence.party_informed is True
            assert sorted(h.certificate_number for h in evidence.handlers) == ["13010001", "13010002"]


def test_a_tampered_receipt_never_says_the_file_may_be_cleared(
    browser: Browser, signed_in: Callable[[Browser, WebPerson], Page], crew: Crew, folder: Path,
) -> None:
    page = signed_in(browser, crew.officer)

    def tamper(route: Route) -> None:
        answer = route.fetch()
        body = answer.json()
        body["receipt"]["sha256"] = "0" * 64
        route.fulfill(response=answer, body=json.dumps(body))

    page.route(re.compile(r".*/api/uploads/[^/]+/receipt$"), tamper)
    page.goto("/upload")
    page.get_by_test_id("pick-files").set_input_files(str(_clips(folder)[0]))
    row = page.get_by_test_id("upload-file")
    expect(row.get_by_test_id("receipt-warning")).to_contain_text("不要从执法记录仪中清除", timeout=30_000)
    expect(page.get_by_test_id("may-clear")).to_have_count(0)
    expect(page.get_by_test_id("summary")).to_have_text("0 个已存储，0 个重复，1 个失败")


def test_a_file_the_vault_already_holds_is_shown_as_a_duplicate(
    browser: Browser, signed_in: Callable[[Browser, WebPerson], Page], client: TestClient, crew: Crew, folder: Path,
) -> None:
    clip = _clips(folder)[0]
    first = client.post("/api/evidence", content=clip.read_bytes(),
                        headers={**crew.partner.headers, "Evault-Meta-Filename": clip.name})
    assert first.status_code == 201
    page = signed_in(browser, crew.officer)
    page.goto("/upload")
    page.evaluate(DROP, [clip.name, base64.b64encode(clip.read_bytes()).decode()])  # dropped, not picked
    expect(page.get_by_test_id("summary")).to_have_text("0 个已存储，1 个重复，0 个失败", timeout=30_000)
    expect(page.get_by_test_id("duplicate")).to_contain_text("重复提交")
    expect(page.get_by_test_id("may-clear")).to_have_count(1)  # the vault holds these very bytes
    expect(page.get_by_test_id("unfinished")).to_be_hidden()


def test_refusals_are_shown_in_chinese_on_the_tags_and_on_the_file(
    browser: Browser, signed_in: Callable[[Browser, WebPerson], Page], crew: Crew, tmp_path: Path,
) -> None:
    page = signed_in(browser, crew.officer)
    page.goto("/upload")
    page.fill("[name=field_return_at]", "2999-01-01T08:00")
    notes = tmp_path / "说明.txt"
    notes.write_text("这不是录像", encoding="utf-8")
    page.get_by_test_id("pick-files").set_input_files(str(notes))
    expect(page.get_by_test_id("tags-error")).to_contain_text("“外勤返回时间”未通过校验")
    expect(page.get_by_test_id("upload-file")).to_have_count(0)  # nothing is sent with refused tags

    page.fill("[name=field_return_at]", "")
    page.get_by_test_id("pick-files").set_input_files(str(notes))
    refusal = page.get_by_test_id("file-refusal")
    expect(refusal).to_have_text("该文件不是证据库接受的音视频或照片记录。", timeout=30_000)
    expect(page.get_by_test_id("summary")).to_have_text("0 个已存储，0 个重复，1 个失败")
    expect(page.get_by_test_id("unfinished")).to_be_hidden()  # a refused file is not offered for resuming


# ---- the session cookie on the API: only the upload routes, and only with the CSRF token ----

def _metadata(**values: str) -> str:
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items())


def _csrf(client: TestClient) -> str:
    found = re.search(r'data-csrf="([^"]+)"', client.get("/upload").text)
    assert found, "the upload page carries no CSRF token"
    return found.group(1)


def test_the_cookie_opens_the_upload_routes_only_with_the_csrf_token(
    client: TestClient, crew: Crew, folder: Path,
) -> None:
    assert sign_in(client, crew.officer.name, crew.officer.password) == 303
    token = _csrf(client)
    data = _clips(folder)[0].read_bytes()
    tus = {"Tus-Resumable": "1.0.0"}
    create = {**tus, "Upload-Length": str(len(data)), "Upload-Metadata": _metadata(filename="a.mp4",
                                                                                  case_number=CASE)}
    refused = client.post("/api/uploads", headers=create)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_token_invalid"
    wrong = client.post("/api/uploads", headers={**create, "X-CSRF-Token": "not-the-token"})
    assert wrong.status_code == 403
    created = client.post("/api/uploads", headers={**create, "X-CSRF-Token": token})
    assert created.status_code == 201
    url = created.headers["location"]
    assert client.head(url, headers=tus).headers["upload-offset"] == "0"  # a read needs no token
    chunk = {**tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    assert client.patch(url, headers=chunk, content=data).status_code == 403
    assert client.patch(url, headers={**chunk, "X-CSRF-Token": token}, content=data).status_code == 204
    receipt = client.get(f"{url}/receipt").json()["receipt"]
    assert receipt["sha256"] == hashlib.sha256(data).hexdigest()
    assert client.get(f"/api/evidence/{receipt['evidence_id']}/receipt").status_code == 200

    # the rest of the API stays bearer-only, CSRF token or not
    assert client.get("/api/evidence").status_code == 401
    retag = client.patch(f"/api/evidence/{receipt['evidence_id']}/tags", json={"party": "某人"},
                         headers={"X-CSRF-Token": token})
    assert retag.status_code == 401
    assert client.get("/api/cases").status_code == 401


def test_the_tags_are_checked_on_the_server_as_the_tus_endpoint_checks_them(client: TestClient, crew: Crew) -> None:
    assert sign_in(client, crew.officer.name, crew.officer.password) == 303
    token = _csrf(client)
    good = client.post("/upload/check", headers={"X-CSRF-Token": token},
                       data={**TAGS, "handlers": "13010001，13010002 13010001", "field_return_at": "2026-01-05T18:30"})
    assert good.status_code == 200
    assert good.json()["metadata"]["handlers"] == "13010001,13010002"
    assert good.json()["metadata"]["field_return_at"] == "2026-01-05T18:30:00+08:00"  # the agency's zone
    future = client.post("/upload/check", headers={"X-CSRF-Token": token}, data={"field_return_at": "2999-01-01T00:00"})
    assert future.status_code == 422 and future.json()["error"]["details"]["key"] == "field_return_at"
    bad = client.post("/upload/check", headers={"X-CSRF-Token": token}, data={"activity": "picnic"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_metadata"
    assert client.post("/upload/check", data={"activity": "inspection"}).status_code == 403


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.APPROVER, Role.AUDITOR, Role.RECORDS_MANAGER, Role.ADMIN])
def test_only_officers_open_the_upload_page(client: TestClient, person: Callable[..., WebPerson],
                                            role: Role) -> None:
    who = person(role)
    assert sign_in(client, who.name, who.password) == 303
    assert client.get("/upload").status_code == 403
    created = client.post("/api/uploads", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "10",
                                                   "Upload-Metadata": _metadata(filename="a.mp4")})
    assert created.status_code == 403


def test_the_upload_page_needs_a_sign_in(client: TestClient) -> None:
    answer = client.get("/upload", follow_redirects=False)
    assert answer.status_code == 303 and "/sign-in" in answer.headers["location"]


def _page_messages(client: TestClient) -> tuple[str, dict[str, str]]:
    page = client.get("/upload").text
    found = re.search(r'data-messages="([^"]+)"', page)
    assert found, "the page passes upload.js no messages"
    return page, json.loads(html.unescape(found.group(1)))


def test_the_upload_page_is_chinese_first_and_english_on_request(client: TestClient, crew: Crew) -> None:
    assert sign_in(client, crew.officer.name, crew.officer.password) == 303
    page, messages = _page_messages(client)
    assert "上传执法记录" in page and messages["may_clear"] == MAY_CLEAR
    client.get("/language/en?next=/upload")
    page, messages = _page_messages(client)
    assert "Upload footage" in page and messages["may_clear"] == "You may clear this file from the recorder"
