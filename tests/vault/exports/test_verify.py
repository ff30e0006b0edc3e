"""The standalone verifier passes a genuine bundle and names exactly what is wrong with a damaged one."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from evault_client.cli import root as client_root
from evault_client.verify_bundle import BundleReport, verify_bundle
from evault_client.verify_bundle import canonical_json as canonical_entry
from evault_client.verify_bundle import checkpoint_statement as checkpoint_message
from tests.vault.exports.conftest import rewrite_bundle
from vault.context import VaultContext
from vault.custody import service as custody
from vault.custody.anchoring import CHECKPOINT_PREFIX
from vault.custody.models import CustodyAction, CustodyEvent
from vault.custody.note import NoteKey, SignedNote
from vault.exports import layout
from vault.exports.service import checkpoint_json
from vault.identities.actor import SYSTEM
from vault.keys import Signer

OFFLINE = {"EVAULT_TIMEZONE": "Asia/Shanghai"}  # the client verifies offline: no server, no sign-in


def _failed(report: BundleReport) -> list[str]:
    return [f"{f.subject}: {f.message}" for f in report.problems]


def _payload_offset(bundle: Path) -> tuple[str, int]:
    with zipfile.ZipFile(bundle) as archive:
        info = next(i for i in archive.infolist() if "/data/" in i.filename)
    name_length, extra_length = (
        int.from_bytes(bundle.read_bytes()[info.header_offset + 26 : info.header_offset + 28], "little"),
        0,
    )
    raw = bundle.read_bytes()
    extra_length = int.from_bytes(raw[info.header_offset + 28 : info.header_offset + 30], "little")
    return info.filename.split("/", 1)[1], info.header_offset + 30 + name_length + extra_length + info.file_size // 2


def test_genuine_bundle_is_valid_and_cli_exits_zero(bundle: Path) -> None:
    report = verify_bundle(bundle, sm3=True)
    assert report.ok, _failed(report)
    subjects = {f.subject for f in report.findings}
    assert layout.SIGNATURE_FILE in subjects and any(s.startswith("custody event") for s in subjects)
    result = CliRunner().invoke(client_root, ["verify-bundle", str(bundle), "--sm3"], env=OFFLINE)
    assert result.exit_code == 0 and "VERDICT: VALID" in result.output


def test_truncated_bundle_is_named_truncated(bundle: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.zip"
    cut.write_bytes(bundle.read_bytes()[: bundle.stat().st_size - 700])
    result = CliRunner().invoke(client_root, ["verify-bundle", str(cut)], env=OFFLINE)
    assert result.exit_code == 1
    assert "truncated" in result.output and "VERDICT: INVALID" in result.output


def test_one_flipped_payload_byte_names_that_file(bundle: Path, tmp_path: Path) -> None:
    path, offset = _payload_offset(bundle)
    data = bytearray(bundle.read_bytes())
    data[offset] ^= 0x01
    flipped = tmp_path / "flipped.zip"
    flipped.write_bytes(bytes(data))
    report = verify_bundle(flipped)
    assert not report.ok
    assert [f.subject for f in report.problems] == [path]
    assert "damaged" in report.problems[0].message


def test_changed_tag_file_is_named_and_signature_still_binds_the_rest(bundle: Path, tmp_path: Path) -> None:
    altered = tmp_path / "altered.zip"
    rewrite_bundle(bundle, altered, {layout.EXPLANATION_TEXT: b"nothing to see here\n"})
    problems = verify_bundle(altered).problems
    assert {f.subject for f in problems} == {layout.EXPLANATION_TEXT}
    assert all("mismatch" in f.message for f in problems)


def test_forged_signature_is_named(bundle: Path, tmp_path: Path) -> None:
    forged = tmp_path / "forged.zip"
    stranger = Signer(Ed25519PrivateKey.generate())
    rewrite_bundle(bundle, forged, {layout.SIGNATURE_FILE: stranger.sign(b"anything")})
    problems = verify_bundle(forged).problems
    assert [f.subject for f in problems] == [layout.SIGNATURE_FILE]
    assert "FORGED" in problems[0].message


def test_bundle_resigned_with_another_key_fails_when_the_vault_key_is_pinned(
    bundle: Path, tmp_path: Path, context: VaultContext
) -> None:
    stranger = Signer(Ed25519PrivateKey.generate())
    resigned = tmp_path / "resigned.zip"
    rewrite_bundle(bundle, resigned, {layout.PUBLIC_KEY_FILE: stranger.public_pem().encode()}, signer=stranger)
    report = verify_bundle(resigned, public_key_pem=context.signer.public_pem().encode())
    assert [f.subject for f in report.problems] == [layout.PUBLIC_KEY_FILE]
    assert "not the vault key you supplied" in report.problems[0].message
    # Without pinning, the forger's own key makes the checkpoint signature fail: it was signed by the vault.
    unpinned = verify_bundle(resigned).problems
    assert unpinned[0].subject == layout.CHECKPOINT_FILE and "invalid signature" in unpinned[0].message
    assert all(f.message.startswith("no proven") for f in unpinned[1:])


def test_proof_against_the_wrong_checkpoint_is_named(
    bundle: Path, tmp_path: Path, context: VaultContext, now: datetime
) -> None:
    with context.sessions() as session:
        custody.record_event(
            session=session,
            actor=SYSTEM,
            action=CustodyAction.AUDIT_VERIFIED,
            subject_type="log",
            subject_id="all",
            now=now + timedelta(hours=1),
        )
        session.commit()
        later = custody.latest_checkpoint(session)
        assert later is not None
        wrong = json.dumps(checkpoint_json(later)).encode()
    moved = tmp_path / "moved.zip"
    rewrite_bundle(bundle, moved, {layout.CHECKPOINT_FILE: wrong}, signer=context.signer)
    report = verify_bundle(moved)
    assert report.problems
    assert all(f.subject.startswith("custody event") or f.message.startswith("no proven") for f in report.problems)
    assert all("wrong checkpoint" in f.message for f in report.problems if f.subject.startswith("custody event"))
    assert any(f.subject == layout.CHECKPOINT_FILE and f.ok for f in report.findings)


def test_pinned_genuine_key_passes(bundle: Path, context: VaultContext) -> None:
    assert verify_bundle(bundle, public_key_pem=context.signer.public_pem().encode()).ok


def test_verifier_formats_match_the_custody_log(context: VaultContext) -> None:
    with context.sessions() as session:
        custody.record_event(
            session=session,
            actor=SYSTEM,
            action=CustodyAction.AUDIT_VERIFIED,
            subject_type="log",
            subject_id="all",
            details={"n": 1.5, "名": "值"},
        )
        session.commit()
        entry = session.get(CustodyEvent, 0)
        assert entry is not None
        assert canonical_entry(json.loads(custody.canonical_entry(entry))) == custody.canonical_entry(entry)
    signed_at = datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert checkpoint_message(7, b"\x01" * 32, signed_at.isoformat(timespec="microseconds")) == (
        custody.checkpoint_message(7, b"\x01" * 32, signed_at)
    )


@pytest.mark.parametrize("module", ["evault_client.verify_bundle"])
def test_verifier_imports_without_database_or_web_stack(module: str) -> None:
    heavy = "{'sqlalchemy', 'fastapi', 'structlog', 'asn1crypto'}"
    code = f"import sys, {module}; print({heavy} & set(sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "set()"


def test_the_bundle_carries_the_checkpoint_anchored_in_the_store(bundle: Path, context: VaultContext) -> None:
    # Issue 12: a bundle carries an anchored checkpoint, a C2SP note any tlog tool reads with the vault's vkey.
    with zipfile.ZipFile(bundle) as archive:
        root = archive.namelist()[0].split("/", 1)[0]
        carried = json.loads(archive.read(f"{root}/{layout.CHECKPOINT_FILE}"))
    anchored = {a.name: a.data.decode() for a in context.store.list_anchors(CHECKPOINT_PREFIX)}
    assert anchored[carried["anchor"]] == carried["note"]
    note = SignedNote.parse(carried["note"])
    assert note.verified_by(NoteKey.from_vkey(context.anchors.key.vkey())) is not None
    report = verify_bundle(bundle)
    assert any(f.ok and f"anchored as {carried['anchor']}" in f.message for f in report.findings)
