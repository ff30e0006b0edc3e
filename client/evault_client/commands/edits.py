"""`evault edits ...`: clips and redacted copies (剪辑与遮蔽), face suggestions, rendering and the second approval."""

from __future__ import annotations

import time
from typing import Any

import click

from evault_client.cli import VaultGroup
from evault_client.context import Invocation, current
from evault_client.errors import CommandFailed
from evault_client.exits import Exit

REASONS = ("others_privacy", "trade_secret", "state_secret", "other")
METHODS = ("blur", "pixelate", "black")
POLL_SECONDS = 1.0


@click.group("edits", cls=VaultGroup)
def edits() -> None:
    """Clips and redactions of originals you may download; an approver other than you approves each."""


def _summary(run: Invocation, edit: dict[str, Any]) -> str:
    regions = len(edit["spec"].get("regions", []))
    pending = sum(1 for s in edit["suggestions"] if s["decision"] == "pending")
    return run.text(f"编辑 {edit['id']}：{edit['status']}，遮蔽区域 {regions} 个，待确认人脸 {pending} 个",
                    f"edit {edit['id']}: {edit['status']}, {regions} regions, {pending} faces to decide")


@edits.command("create")
@click.argument("evidence_id", type=click.UUID)
@click.option("--clip", "clip", default=None, metavar="START-END", help="Keep only this part, in seconds: 12.5-40.")
def create(evidence_id: Any, clip: str | None) -> None:
    """Start an edit of an original: a clip, then regions to hide (faces, or boxes from the web page)."""
    run = current()
    spec: dict[str, Any] = {}
    if clip:
        start, _, end = clip.partition("-")
        try:
            spec["clip"] = {"start": float(start), "end": float(end)}
        except ValueError as exc:
            message = run.text("格式为 开始秒-结束秒，如 12.5-40", "use START-END seconds, e.g. 12.5-40")
            raise click.BadParameter(message, param_hint="--clip") from exc
    edit = run.api.post(f"/api/evidence/{evidence_id}/edits", {"spec": spec})
    run.out.document(edit, human=_summary(run, edit))


def _wait(run: Invocation, edit_id: str, done: str) -> dict[str, Any]:
    while True:
        edit: dict[str, Any] = run.api.get(f"/api/edits/{edit_id}")
        if done == "detection" and edit["detection"] in ("done", "failed"):
            return edit
        if done == "render" and edit["status"] != "rendering":
            return edit
        time.sleep(POLL_SECONDS)


@edits.command("faces")
@click.argument("edit_id", type=click.UUID)
def faces(edit_id: Any) -> None:
    """Look for faces (CenterFace) and list them as suggestions; none is applied until you accept it."""
    run = current()
    run.api.post(f"/api/edits/{edit_id}/faces")
    edit = _wait(run, str(edit_id), "detection")

    def human() -> None:
        run.out.message(_summary(run, edit))
        for suggestion in edit["suggestions"]:
            frames = suggestion["keyframes"]
            run.out.message(run.text(
                f"  {suggestion['id']}：{frames[0]['t']:.1f}–{suggestion['hold_until']:.1f} 秒，"
                f"置信度 {suggestion['score']}，{suggestion['decision']}",
                f"  {suggestion['id']}: {frames[0]['t']:.1f}-{suggestion['hold_until']:.1f} s, "
                f"score {suggestion['score']}, {suggestion['decision']}"))

    run.out.document(edit, human)


@edits.command("decide-face")
@click.argument("edit_id", type=click.UUID)
@click.argument("suggestion")
@click.option("--accept/--reject", required=True)
@click.option("--reason", type=click.Choice(REASONS), default="others_privacy", show_default=True,
              help="Why it is withheld: 他人隐私, 商业秘密, 国家秘密, or other (then --reason-text).")
@click.option("--reason-text", default="", help="The reason, typed in, when --reason other.")
@click.option("--method", type=click.Choice(METHODS), default="blur", show_default=True)
def decide_face(edit_id: Any, suggestion: str, accept: bool, reason: str, reason_text: str, method: str) -> None:
    """Accept a suggested face as a region to hide, or reject it."""
    run = current()
    edit = run.api.post(f"/api/edits/{edit_id}/suggestions/{suggestion}",
                        {"accept": accept, "reason": reason, "reason_text": reason_text, "method": method})
    run.out.document(edit, human=_summary(run, edit))


@edits.command("render")
@click.argument("edit_id", type=click.UUID)
def render(edit_id: Any) -> None:
    """Render the edit into an H.264 derivative and wait for it; the original is never touched."""
    run = current()
    run.api.post(f"/api/edits/{edit_id}/render")
    edit = _wait(run, str(edit_id), "render")
    if edit["status"] == "failed":
        raise CommandFailed("render_failed", run.text(f"渲染失败：{edit['error']}", f"render failed: {edit['error']}"),
                            exit_status=Exit.CHECK_FAILED, details=edit)
    output = (edit["provenance"] or {}).get("output", {})
    run.out.document(edit, human=run.text(
        f"已渲染（{edit['provenance']['cut']}），SHA-256 {output.get('sha256')}",
        f"rendered ({edit['provenance']['cut']}), SHA-256 {output.get('sha256')}"))


@edits.command("submit")
@click.argument("edit_id", type=click.UUID)
def submit(edit_id: Any) -> None:
    """Send the rendered edit to an approver."""
    run = current()
    edit = run.api.post(f"/api/edits/{edit_id}/submit")
    run.out.document(edit, human=_summary(run, edit))


@edits.command("decide")
@click.argument("edit_id", type=click.UUID)
@click.option("--approve/--reject", required=True)
@click.option("--reason", default="", help="Why (required to reject).")
def decide(edit_id: Any, approve: bool, reason: str) -> None:
    """Approve or reject a submitted edit (approvers; never your own)."""
    run = current()
    edit = run.api.post(f"/api/edits/{edit_id}/decision", {"approve": approve, "reason": reason})
    run.out.document(edit, human=_summary(run, edit))


@edits.command("show")
@click.argument("edit_id", type=click.UUID)
def show(edit_id: Any) -> None:
    """Show an edit, with its provenance once rendered."""
    run = current()
    edit = run.api.get(f"/api/edits/{edit_id}")
    run.out.document(edit, human=_summary(run, edit))
