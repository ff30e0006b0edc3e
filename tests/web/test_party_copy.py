"""A party copy in Chromium (issue 18, "Done when"): from the party's request to a redacted, approved,
watermarked bundle that verifies offline, with the footage of others that has no redaction withheld."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from evault_client.verify_bundle import format_report, verify_bundle
from tests.media import make_face_video
from tests.vault.access.conftest import GrantFor, StoreEvidence, grant_for, make_case, people, store_evidence  # noqa: F401
from tests.web.conftest import LiveVault, WebPerson
from vault.access.models import AccessMode, AccessPurpose
from vault.cases.models import Case, PartyKind
from vault.cases.service import PartyInput, add_party
from vault.exports import layout
from vault.exports.versions import WithheldCode
from vault.identities.actor import SYSTEM
from vault.identities.models import Role

WAIT_MS = 90_000  # detection, rendering and the build run in the background on a shared 2-core machine
STEP_MS = 20_000  # a form post that commits and redirects, while the rest of the suite shares the 2 cores
CASE = "阜应急罚字〔2025〕12号"
PARTY = "陈某"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_records_manager_makes_a_redacted_approved_watermarked_party_copy_in_the_browser(
    browser: Browser, live_vault: LiveVault, person: Callable[..., WebPerson], store_evidence: StoreEvidence,  # noqa: F811
    grant_for: GrantFor, make_case: Callable[[str], Case], signed_in: Callable[[Browser, WebPerson], Page],  # noqa: F811
    screenshot: Callable[[Page, str], Path], tmp_path: Path,
) -> None:
    context = live_vault.context
    officer = person(Role.OFFICER, name="zhang.wei", certificate="13010101", display_name="张伟")
    manager = person(Role.RECORDS_MANAGER, name="sun.dang", display_name="孙档案")
    approver = person(Role.APPROVER, name="zhao.shen", display_name="赵审批")
    case = make_case(CASE)
    with context.sessions() as session:
        add_party(session=session, actor=SYSTEM, cipher=context.cipher, case=session.merge(case),
                  data=PartyInput(kind=PartyKind.PERSON, name=PARTY))
        session.commit()
    # Neither recording is tagged with the applying party, so either may show someone else.
    bystander_video = make_face_video(tmp_path / "现场检查-0413.mp4", seconds=2.0)
    crowd_video = make_face_video(tmp_path / "现场检查-0414.mp4", seconds=2.0, keyframe_every=10)
    bystander = store_evidence(bystander_video, uploader=officer.person, media_type="video/mp4", case=case)
    crowd = store_evidence(crowd_video, uploader=officer.person, media_type="video/mp4", case=case)
    grant_for(manager.person, [bystander, crowd], mode=AccessMode.VIEW_DOWNLOAD, purpose=AccessPurpose.PARTY_COPY,
              hours=24)

    # The records manager redacts the bystander's face: detected, accepted by a person, rendered, submitted.
    editor = signed_in(browser, manager)
    editor.goto(f"/evidence/{bystander}/redaction")
    editor.get_by_test_id("new-edit").click()
    editor.get_by_test_id("detect").click()
    suggestion = editor.get_by_test_id("suggestion").first
    expect(suggestion).to_be_visible(timeout=WAIT_MS)
    suggestion.get_by_test_id("accept").click()
    expect(editor.get_by_test_id("suggestion").first).to_have_attribute("data-decision", "accepted",
                                                                         timeout=STEP_MS)
    editor.get_by_test_id("render").click()
    expect(editor.get_by_test_id("preview-video")).to_be_visible(timeout=WAIT_MS)
    editor.get_by_test_id("submit").click()
    expect(editor.get_by_test_id("edit-status")).to_have_attribute("data-status", "submitted", timeout=STEP_MS)

    # Another person approves it for use outside the agency.
    deciding = signed_in(browser, approver)
    deciding.get_by_role("link", name="脱敏审批").click()
    deciding.get_by_test_id("queued-edit").get_by_test_id("open-edit").click()
    deciding.get_by_test_id("approve").click()
    expect(deciding.get_by_test_id("done")).to_be_visible(timeout=STEP_MS)

    # The wizard: a party copy for 陈某, watermarked; the preview says what goes in and what is withheld.
    editor.goto("/exports/new")
    editor.get_by_test_id("case-lookup").fill(CASE)
    editor.get_by_test_id("case-lookup").press("Enter")
    editor.get_by_test_id("purpose").select_option("party-copy")
    editor.get_by_test_id("recipient").fill(PARTY)
    editor.get_by_test_id("party").fill(PARTY)
    editor.get_by_test_id("watermark").check()
    editor.get_by_test_id("check-coverage").click()
    expect(editor.locator(f"tr[data-record='{bystander}'] [data-testid=carries]")).to_have_attribute(
        "data-carries", "redacted", timeout=STEP_MS)
    expect(editor.locator(f"tr[data-record='{crowd}']")).to_have_count(0)  # withheld, so it needs no approval
    left_out = editor.get_by_test_id("left-out")
    expect(left_out).to_contain_text(str(crowd))
    expect(left_out).to_contain_text("无经批准的遮蔽版本")
    expect(editor.get_by_test_id("watermark-note")).to_be_visible()
    screenshot(editor, "export-party-copy")
    editor.get_by_test_id("build").click()
    expect(editor.get_by_test_id("download")).to_be_visible(timeout=WAIT_MS)
    with editor.expect_download() as download:
        editor.get_by_test_id("download").click()
    bundle = tmp_path / "party-copy.zip"
    download.value.save_as(bundle)

    # What 陈某 receives verifies offline, holds neither original, and says what was withheld and why.
    report = verify_bundle(bundle)
    assert report.ok, format_report(report)
    with zipfile.ZipFile(bundle) as archive:
        files = {name.split("/", 1)[1]: archive.read(name) for name in archive.namelist()}
    payload = {_sha(data) for name, data in files.items() if name.startswith("data/")}
    assert _sha(bystander_video.read_bytes()) not in payload and _sha(crowd_video.read_bytes()) not in payload
    withheld = {(w["evidence_id"], w["code"]) for w in json.loads(files[layout.WITHHELD_FILE])["withheld"]}
    assert (str(crowd), WithheldCode.OTHERS_NOT_REDACTED) in withheld
    assert (str(bystander), WithheldCode.REDACTED_INSTEAD) in withheld
    specs = [json.loads(data) for name, data in files.items() if name.startswith(layout.DERIVATIVES_DIR)]
    (mark,) = [s for s in specs if s["kind"] == "watermarked"]
    assert mark["source"]["kind"] == "redacted" and f"交付 To: {PARTY}" in mark["watermark"]["lines"]
    assert mark["output"]["sha256"] in payload
    (redaction,) = [s for s in specs if s["kind"] == "redacted"]
    assert redaction["approver"] == approver.name and redaction["editor"] == manager.name

