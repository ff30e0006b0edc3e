"""`evault edits ...`: a records manager redacts a face from the terminal, and an approver in another shell approves."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tests.client.conftest import Shell
from tests.vault.access.conftest import GrantFor, People, StoreEvidence
from vault.access.models import AccessMode

Shells = Callable[..., Shell]


def test_a_face_redacted_from_the_terminal_and_approved_in_another_shell(
        shell_for: Shells, people: People, store_evidence: StoreEvidence, grant_for: GrantFor,
        face_video: Path) -> None:
    record = store_evidence(face_video, uploader=people.officer, media_type="video/mp4")
    grant_for(people.records_manager, [record], mode=AccessMode.VIEW_DOWNLOAD, at=datetime.now(UTC))
    mine, theirs = shell_for(people.records_manager), shell_for(people.approver)
    edit = mine.json("edits", "create", str(record))
    found = mine.ok("edits", "faces", edit["id"]).stdout.splitlines()
    assert found[0] == f"edit {edit['id']}: draft, 0 regions, 1 faces to decide"
    assert found[1].startswith("  face-1: 0.0-3.0 s, score 0.") and found[1].endswith(", pending")
    decided = mine.ok("edits", "decide-face", edit["id"], "face-1", "--accept").stdout
    assert decided == f"edit {edit['id']}: draft, 1 regions, 0 faces to decide\n"
    rendered = mine.ok("edits", "render", edit["id"]).stdout
    assert rendered.startswith("rendered (reencode), SHA-256 ")
    own = mine("edits", "decide", edit["id"], "--approve")
    assert own.exit_code == 4  # records managers decide nothing; approvers never their own edit
    mine.ok("edits", "submit", edit["id"])
    approved = theirs.json("edits", "decide", edit["id"], "--approve")
    assert approved["status"] == "approved" and approved["provenance"]["approver"] == people.approver.user.name
    bad = mine("edits", "create", str(record), "--clip", "ten-twenty")
    assert bad.exit_code == 2 and "START-END" in bad.stderr


