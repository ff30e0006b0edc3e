"""The redaction page in Chromium (issue 18, "In the web app"): boxes over the player, decisions, preview, approval."""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg  # type: ignore[import-untyped]
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.media import make_face_video
from tests.vault.access.conftest import GrantFor, StoreEvidence, grant_for, people, store_evidence  # noqa: F401
from tests.web.conftest import LiveVault, WebPerson
from vault.access.models import AccessMode
from vault.context import VaultContext
from vault.db import utcnow
from vault.identities.models import Role
from vault.redaction import service
from vault.redaction.models import Edit
from vault.redaction.spec import Box, EditSpec, Method, Reason, Region

WAIT_MS = 90_000  # detection and rendering run in the background on a shared 2-core machine


@dataclass(frozen=True)
class Footage:
    """Videos of scikit-image's astronaut photograph (a real face), made once for the module."""

    one_face: Path
    two_faces: Path


def _two_faces(path: Path, seconds: float) -> Path:
    from skimage import data

    photo = str(Path(data.__file__).parent / "astronaut.png")
    left = ffmpeg.input(photo, loop=1, framerate=25)
    right = ffmpeg.input(photo, loop=1, framerate=25).filter("hflip")
    tone = ffmpeg.input(f"sine=frequency=440:sample_rate=48000:duration={seconds}", f="lavfi")
    ffmpeg.output(ffmpeg.filter([left, right], "hstack"), tone, str(path), t=seconds, vcodec="libx264",
                  preset="ultrafast", pix_fmt="yuv420p", g=25, acodec="aac", movflags="+faststart",
                  loglevel="error").overwrite_output().run(quiet=True)
    return path


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> Footage:
    """Three seconds of one face, and three of two faces side by side."""
    folder = tmp_path_factory.mktemp("web-redaction")
    return Footage(one_face=make_face_video(folder / "询问笔录-0412.mp4", seconds=3.0),
                   two_faces=_two_faces(folder / "现场检查-0413.mp4", 3.0))


@dataclass
class Cast:
    """The officer whose footage it is, a records manager who edits and an approver who decides."""

    officer: WebPerson
    editor: WebPerson
    approver: WebPerson


@pytest.fixture
def cast(person: Callable[..., WebPerson]) -> Cast:
    """Return the officer (张伟), the editor (records manager 孙档案) and the approver (赵审批)."""
    return Cast(officer=person(Role.OFFICER, name="zhang.wei", certificate="13010101", display_name="张伟"),
                editor=person(Role.RECORDS_MANAGER, name="sun.dang", display_name="孙档案"),
                approver=person(Role.APPROVER, name="zhao.shen", display_name="赵审批"))


def _record(store_evidence: StoreEvidence, cast: Cast, video: Path, grant_for: GrantFor,  # noqa: F811
            mode: AccessMode = AccessMode.VIEW_DOWNLOAD) -> uuid.UUID:
    record = store_evidence(video, uploader=cast.officer.person, media_type="video/mp4")
    grant_for(cast.editor.person, [record], mode=mode)
    return record


def _stored(context: VaultContext, edit_id: uuid.UUID) -> Edit:
    with context.sessions() as session:
        edit = session.get_one(Edit, edit_id)
        session.expunge(edit)
        return edit


def _edit_of(page: Page) -> uuid.UUID:
    found = re.search(r"/redaction/([0-9a-f-]{36})$", page.url)
    assert found, page.url
    return uuid.UUID(found.group(1))


def _seek(page: Page, seconds: float) -> float:
    """Move the original's player to a moment and return where it landed once the frame is shown."""
    landed: float = page.evaluate("""t => new Promise(done => {
        const video = document.querySelector("[data-testid=original]");
        const go = () => { video.addEventListener("seeked", () => done(video.currentTime), {once: true});
                           video.currentTime = t; };
        if (video.readyState >= 1) { go(); } else { video.addEventListener("loadedmetadata", go, {once: true}); }
    })""", seconds)
    return landed


def _rects(page: Page, kind: str) -> list[dict[str, float]]:
    found: list[dict[str, float]] = page.eval_on_selector_all(
        f"[data-testid=overlay-{kind}]",
        "nodes => nodes.map(n => ({x: +n.getAttribute('x'), y: +n.getAttribute('y'), w: +n.getAttribute('width'),"
        " h: +n.getAttribute('height'), label: n.dataset.label}))")
    return found


def _frame(page: Page) -> dict[str, float]:
    """Return how frame pixels map to the page (the overlay letterboxes as the video does) and the frame's size."""
    mapping: dict[str, float] = page.evaluate("""() => {
        const layer = document.querySelector("[data-testid=overlay]");
        const m = layer.getScreenCTM(), box = layer.viewBox.baseVal;
        return {a: m.a, d: m.d, e: m.e, f: m.f, width: box.width, height: box.height}; }""")
    return mapping


def _drag(page: Page, x: float, y: float, w: float, h: float) -> None:
    """Drag a box on the overlay, given as fractions of the frame."""
    m = _frame(page)

    def at(fx: float, fy: float) -> tuple[float, float]:
        return m["e"] + fx * m["width"] * m["a"], m["f"] + fy * m["height"] * m["d"]

    page.mouse.move(*at(x, y))
    page.mouse.down()
    page.mouse.move(*at(x + w / 2, y + h / 2), steps=4)
    page.mouse.move(*at(x + w, y + h), steps=4)
    page.mouse.up()


def _expected(keyframes: list[dict[str, Any]], t: float, width: float, height: float) -> dict[str, float]:
    """Where the render hides a region between two keyframes: the centre moves in a straight line (spec.py)."""
    a, b = next((p, q) for p, q in itertools.pairwise(keyframes) if p["t"] <= t <= q["t"])
    share = (t - a["t"]) / (b["t"] - a["t"])
    w = max(2, round(max(a["w"], b["w"]) * width) // 2 * 2)
    h = max(2, round(max(a["h"], b["h"]) * height) // 2 * 2)
    cx = a["x"] + a["w"] / 2 + share * (b["x"] + b["w"] / 2 - a["x"] - a["w"] / 2)
    cy = a["y"] + a["h"] / 2 + share * (b["y"] + b["h"] / 2 - a["y"] - a["h"] / 2)
    return {"x": max(0, min(width - w, cx * width - w / 2)), "y": max(0, min(height - h, cy * height - h / 2)),
            "w": w, "h": h}


def _close(drawn: dict[str, float], expected: dict[str, float], pixels: float = 1.5) -> bool:
    return all(abs(drawn[key] - expected[key]) <= pixels for key in ("x", "y", "w", "h"))


def test_suggested_faces_are_drawn_over_the_player_and_deciding_them_changes_the_spec(
    browser: Browser, live_vault: LiveVault, cast: Cast, footage: Footage, store_evidence: StoreEvidence,  # noqa: F811
    grant_for: GrantFor, signed_in: Callable[[Browser, WebPerson], Page],  # noqa: F811
    screenshot: Callable[[Page, str], Path],
) -> None:
    record = _record(store_evidence, cast, footage.two_faces, grant_for)
    page = signed_in(browser, cast.editor)
    page.goto(f"/evidence/{record}")
    page.get_by_test_id("redaction-link").click()
    page.get_by_test_id("new-edit").click()
    edit_id = _edit_of(page)
    page.get_by_test_id("detect").click()
    suggestions = page.get_by_test_id("suggestion")
    # In the background, with progress; a quick detection may already be done when the page comes back.
    expect(page.get_by_test_id("detection-progress").or_(suggestions.first)).to_be_visible()
    expect(suggestions).to_have_count(2, timeout=WAIT_MS)
    assert _stored(live_vault.context, edit_id).spec["regions"] == []  # nothing applied until a person accepts

    landed = _seek(page, 1.25)
    frame = _frame(page)
    drawn = {r["label"]: r for r in _rects(page, "suggestion")}
    stored = {s["id"]: s for s in _stored(live_vault.context, edit_id).suggestions}
    assert set(drawn) == set(stored) == {"face-1", "face-2"}
    for name, suggestion in stored.items():
        assert _close(drawn[name], _expected(suggestion["keyframes"], landed, frame["width"], frame["height"]))
    screenshot(page, "redaction-faces")

    first = page.locator("[data-testid=suggestion][data-id=face-1]")
    first.locator("select[name=method]").select_option("pixelate")
    first.locator("select[name=reason]").select_option("other")
    first.locator("input[name=reason_text]").fill("旁观群众面部")
    first.get_by_test_id("accept").click()
    expect(page.locator("[data-testid=suggestion][data-id=face-1]")).to_have_attribute("data-decision", "accepted")
    page.locator("[data-testid=suggestion][data-id=face-2]").get_by_test_id("reject").click()
    expect(page.locator("[data-testid=suggestion][data-id=face-2]")).to_have_attribute("data-decision", "rejected")

    spec = EditSpec.model_validate(_stored(live_vault.context, edit_id).spec)
    assert len(spec.regions) == 1
    region = spec.regions[0]
    assert (region.method, region.reason, region.reason_text) == (Method.PIXELATE, Reason.OTHER, "旁观群众面部")
    assert [k.model_dump(mode="json") for k in region.keyframes] == stored["face-1"]["keyframes"]
    _seek(page, 1.25)
    assert [r["label"] for r in _rects(page, "region")] == ["1"]  # the accepted face, now hidden in the copy
    assert _rects(page, "suggestion") == []  # the rejected one is no longer suggested


def _new_edit(context: VaultContext, cast: Cast, record: uuid.UUID, spec: EditSpec | None = None) -> uuid.UUID:
    with context.sessions() as session:
        edit = service.create_edit(session=session, actor=cast.editor.person.actor, evidence_id=record,
                                   spec=spec or EditSpec(), now=utcnow())
        session.commit()
        return edit.id


def test_a_drawn_box_lands_in_the_spec_and_follows_its_keyframes(
    browser: Browser, live_vault: LiveVault, cast: Cast, footage: Footage, store_evidence: StoreEvidence,  # noqa: F811
    grant_for: GrantFor, signed_in: Callable[[Browser, WebPerson], Page],  # noqa: F811
    screenshot: Callable[[Page, str], Path],
) -> None:
    record = _record(store_evidence, cast, footage.one_face, grant_for)
    edit_id = _new_edit(live_vault.context, cast, record)
    page = signed_in(browser, cast.editor)
    page.goto(f"/redaction/{edit_id}")
    _seek(page, 0.5)
    page.get_by_test_id("draw").click()
    _drag(page, 0.2, 0.3, 0.25, 0.3)
    form = page.get_by_test_id("region-form")
    expect(form.get_by_test_id("region-start")).to_have_value("0.50")
    form.get_by_test_id("region-end").fill("2.5")
    form.get_by_test_id("method").select_option("black")
    form.get_by_test_id("reason").select_option("other")
    form.get_by_test_id("add-region").click()
    expect(page.get_by_test_id("form-error")).to_contain_text("invalid_input")  # another reason must be typed in
    page.get_by_test_id("draw").click()
    _drag(page, 0.2, 0.3, 0.25, 0.3)
    form.get_by_test_id("region-end").fill("2.5")
    form.get_by_test_id("method").select_option("black")
    form.get_by_test_id("reason").select_option("trade_secret")
    form.get_by_test_id("add-region").click()
    expect(page.get_by_test_id("region")).to_have_count(1)

    spec = EditSpec.model_validate(_stored(live_vault.context, edit_id).spec)
    box = spec.regions[0].keyframes[0]
    assert box.t == 0.5 and spec.regions[0].hold_until == 2.5
    assert [box.x, box.y, box.w, box.h] == pytest.approx([0.2, 0.3, 0.25, 0.3], abs=0.004)
    assert (spec.regions[0].method, spec.regions[0].reason) == (Method.BLACK, Reason.TRADE_SECRET)

    _seek(page, 2.0)  # the face "moves": a second keyframe, down and to the right
    page.get_by_test_id("draw").click()
    _drag(page, 0.5, 0.45, 0.25, 0.3)
    page.get_by_test_id("region").get_by_test_id("add-keyframe").click()
    expect(page.get_by_test_id("region")).to_contain_text("0.50 s, 2.00 s")
    keyframes = _stored(live_vault.context, edit_id).spec["regions"][0]["keyframes"]
    assert [k["t"] for k in keyframes] == [0.5, 2.0] and keyframes[1]["x"] == pytest.approx(0.5, abs=0.004)
    landed = _seek(page, 1.25)
    frame = _frame(page)
    (drawn,) = _rects(page, "region")
    assert _close(drawn, _expected(keyframes, landed, frame["width"], frame["height"]))  # halfway along its path

    audio = page.get_by_test_id("audio-form")
    audio.get_by_test_id("audio-start").fill("0.5")
    audio.get_by_test_id("audio-end").fill("1.5")
    audio.get_by_test_id("audio-method").select_option("bleep")
    audio.get_by_test_id("add-audio").click()
    expect(page.get_by_test_id("audio-range")).to_have_count(1)
    page.get_by_test_id("clip-start").fill("0")
    page.get_by_test_id("clip-end").fill("2.8")
    page.get_by_test_id("set-clip").click()
    expect(page.get_by_test_id("clip")).to_contain_text("0.00 s – 2.80 s")
    screenshot(page, "redaction-draw")
    spec = EditSpec.model_validate(_stored(live_vault.context, edit_id).spec)
    assert [(a.start, a.end, a.method.value, a.reason) for a in spec.audio] == [
        (0.5, 1.5, "bleep", Reason.OTHERS_PRIVACY)]
    assert spec.clip is not None and (spec.clip.start, spec.clip.end) == (0.0, 2.8)


def test_the_preview_renders_and_plays_and_only_another_person_approves_it(
    browser: Browser, live_vault: LiveVault, cast: Cast, footage: Footage, store_evidence: StoreEvidence,  # noqa: F811
    grant_for: GrantFor, signed_in: Callable[[Browser, WebPerson], Page],  # noqa: F811
    screenshot: Callable[[Page, str], Path],
) -> None:
    record = _record(store_evidence, cast, footage.one_face, grant_for)
    face = Region(reason=Reason.OTHERS_PRIVACY, method=Method.BLUR, hold_until=3.0,
                  keyframes=[Box(t=0.0, x=0.3, y=0.1, w=0.35, h=0.45)])
    edit_id = _new_edit(live_vault.context, cast, record, EditSpec(regions=[face]))
    editor = signed_in(browser, cast.editor)
    editor.goto(f"/redaction/{edit_id}")
    expect(editor.get_by_test_id("submit")).to_have_count(0)  # nothing rendered, nothing to submit
    editor.get_by_test_id("render").click()
    preview = editor.get_by_test_id("preview-video")
    expect(editor.get_by_test_id("render-progress").or_(preview)).to_be_visible()  # a quick render may be done
    expect(preview).to_be_visible(timeout=WAIT_MS)
    edit = _stored(live_vault.context, edit_id)
    assert edit.provenance is not None
    expect(editor.get_by_test_id("output-sha256")).to_have_text(edit.provenance["output"]["sha256"])
    played = editor.evaluate("""() => new Promise((done, fail) => {
        const video = document.querySelector("[data-testid=preview-video]");
        video.muted = true;
        video.addEventListener("timeupdate", () => { if (video.currentTime > 0.3) done(video.currentTime); });
        video.addEventListener("error", () => fail(String(video.error && video.error.code)));
        video.play(); })""")
    assert played > 0.3

    editor.get_by_test_id("submit").click()
    expect(editor.get_by_test_id("edit-status")).to_have_attribute("data-status", "submitted")
    expect(editor.get_by_test_id("own-edit")).to_be_visible()  # the page explains who decides
    expect(editor.get_by_test_id("decision-form")).to_have_count(0)
    token = editor.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    forced = editor.request.post(f"/redaction/{edit_id}/decision", form={"approve": "true", "csrf_token": token})
    assert forced.status == 403  # the service refuses the editor's own approval
    assert _stored(live_vault.context, edit_id).status.value == "submitted"

    approver = signed_in(browser, cast.approver)
    approver.get_by_role("link", name="脱敏审批").click()
    queued = approver.get_by_test_id("queued-edit")
    expect(queued).to_have_count(1)
    expect(queued).to_contain_text(cast.editor.name)
    queued.get_by_test_id("open-edit").click()
    expect(approver.get_by_test_id("preview-video")).to_be_visible()
    expect(approver.get_by_test_id("regions")).to_contain_text("他人隐私")
    approver.get_by_test_id("send-back").click()  # a rejection needs a reason
    expect(approver.get_by_test_id("form-error")).to_contain_text("invalid_input")
    screenshot(approver, "redaction-approve")
    approver.get_by_test_id("approve").click()
    expect(approver.get_by_test_id("done")).to_be_visible()
    decided = _stored(live_vault.context, edit_id)
    assert decided.status.value == "approved" and decided.approver_id == cast.approver.person.user.id
    assert decided.provenance is not None and decided.provenance["approver"] == cast.approver.name
    editor.reload()
    expect(editor.get_by_test_id("decision")).to_contain_text(cast.approver.name)


def test_without_a_download_grant_the_page_says_which_approval_is_missing(
    browser: Browser, live_vault: LiveVault, cast: Cast, footage: Footage, store_evidence: StoreEvidence,  # noqa: F811
    grant_for: GrantFor, signed_in: Callable[[Browser, WebPerson], Page],  # noqa: F811
    person: Callable[..., WebPerson], screenshot: Callable[[Page, str], Path],
) -> None:
    record = _record(store_evidence, cast, footage.one_face, grant_for, mode=AccessMode.VIEW)
    page = signed_in(browser, cast.editor)
    page.goto(f"/evidence/{record}")
    page.get_by_test_id("redaction-link").click()
    refused = page.get_by_test_id("refused")
    expect(refused).to_have_attribute("data-missing", "view_only")
    expect(page.get_by_test_id("new-edit")).to_have_count(0)
    expect(page.get_by_test_id("request-link")).to_be_visible()
    screenshot(page, "redaction-refused")

    stranger = signed_in(browser, person(Role.REVIEWER, name="wang.shen", display_name="王审核"))
    answer = stranger.goto(f"/evidence/{record}/redaction")
    assert answer is not None and answer.status == 403
    expect(stranger.get_by_test_id("refused")).to_have_attribute("data-missing", "no_request")
    officer = signed_in(browser, cast.officer)  # the footage's own uploader: officers make no copies
    answer = officer.goto(f"/evidence/{record}/redaction")
    assert answer is not None and answer.status == 403
    expect(officer.get_by_test_id("error-code")).to_have_text("permission_denied")
