"""`evault export-vault DIR`: the whole vault as an OCFL 1.1 storage root that ocfl-py accepts and
`evault verify-export` checks, resumable after a SIGKILL, on the local store/SQLite and on Ceph RGW/PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import ocfl  # type: ignore[import-untyped]
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from evault.exit.run import CHECKPOINTS_FILE, ExitRun, ExitSummary, evidence_object_id, vault_object_id
from evault_client.cli import root as client_root
from evault_client.verify_export import layout_path, verify_export
from retention.disposition import approve_disposal, propose_disposal
from retention.holds import place_hold
from retention.recovery import destroy_due
from tests.conftest import Person
from tests.media import make_photo, make_video
from vault.cases.models import PartyKind
from vault.cases.service import PartyInput, add_case, add_party, find_case, parse_case_type
from vault.config import Settings
from vault.context import VaultContext, build_context
from vault.custody.models import CustodyEvent
from vault.evidence.models import Evidence
from vault.evidence.service import EvidenceTags, raise_flag, register_evidence
from vault.identities.actor import SYSTEM, Actor
from vault.identities.models import Handler, Role
from vault.keys import rotate_signing_key
from vault.storage.base import BlobStore
from vault.storage.s3 import S3BlobStore

CASE_NUMBER = "阜应急罚字〔2023〕40号"
ID_NUMBER = "341202198805061234"
PHONE = "13912345678"
NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
HOST = Actor(id=None, name="host:tester", role=None)


@dataclass
class Holdings:
    """What the vault holds before the export: three originals made with ffmpeg, and who handled them."""

    files: dict[uuid.UUID, Path]
    manager: Person


def _store(context: VaultContext, officer: Person, path: Path, case_number: str | None) -> uuid.UUID:
    with context.sessions() as session:
        blob = context.store.put_stream(io.BytesIO(path.read_bytes()), retain_until=datetime(2031, 1, 1, tzinfo=UTC))
        case = find_case(session=session, case_number=case_number) if case_number else None
        evidence = register_evidence(
            session=session, actor=officer.actor, blob=blob, store_name=context.store.name,
            store_retain_until=datetime(2031, 1, 1, tzinfo=UTC), original_name=path.name,
            media_type="video/mp4" if path.suffix == ".mp4" else "image/jpeg",
            tags=EvidenceTags(case=case, party=case.parties[0] if case and case.parties else None,
                              handlers=list(session.scalars(select(Handler))), activity="inspection",
                              recorder_serial="DSJ-0042", party_informed=True,
                              capture_start=datetime(2025, 3, 30, 1, 0, tzinfo=UTC),
                              notes=f"当事人电话 {PHONE}"),
            media_info={"format": "mp4"}, now=datetime(2025, 3, 30, 3, 0, tzinfo=UTC))
        session.commit()
        return evidence.id


@pytest.fixture
def holdings(context: VaultContext, make_person: Callable[..., Person], tmp_path_factory: pytest.TempPathFactory
             ) -> Holdings:
    """Return a case with a party (ID number, phone), two videos and a photo, one of them under a legal hold."""
    folder = tmp_path_factory.mktemp("exit-media")
    officer = make_person(Role.OFFICER, name="officer-zhang", certificate="13010001")
    manager = make_person(Role.RECORDS_MANAGER)
    with context.sessions() as session:
        case = add_case(session=session, actor=SYSTEM, case_number=CASE_NUMBER,
                        case_type=parse_case_type("general_procedure_penalty"), title="某公司安全生产违法案")
        add_party(session=session, actor=SYSTEM, cipher=context.cipher, case=case,
                  data=PartyInput(kind=PartyKind.PERSON, name="陈某", id_number=ID_NUMBER, phone=PHONE))
        session.commit()
    paths = [make_video(folder / "执法记录 01.mp4", seconds=2.0, size="320x240"),
             make_video(folder / "clip-02.mp4", seconds=1.0, size="96x72"),
             make_photo(folder / "still.jpg", size="160x120")]
    files = {_store(context, officer, path, CASE_NUMBER if i < 2 else None): path for i, path in enumerate(paths)}
    with context.sessions() as session:
        place_hold(session=session, actor=manager.actor, reason="行政诉讼 (litigation)", now=NOW,
                   store=context.store, evidence_id=next(iter(files)))
        session.commit()
    return Holdings(files, manager)


def export(context: VaultContext, root: Path) -> ExitSummary:
    return ExitRun(context=context, actor=HOST, root=root, now=NOW).run()


def ocfl_py_findings(root: Path) -> tuple[bool, list[Any]]:
    """Validate with ocfl-py, warnings included: (valid and every object good, the errors and warnings)."""
    storage_root = ocfl.StorageRoot(root=str(root))
    valid = storage_root.validate(log_warnings=True, log_errors=False)
    return valid and storage_root.num_objects == storage_root.good_objects, storage_root.errors


def flag_late(context: VaultContext, evidence_id: uuid.UUID) -> None:
    """Change a record's metadata after an export, as a late-upload flag does."""
    with context.sessions() as session:
        evidence = session.get(Evidence, evidence_id)
        assert evidence is not None
        raise_flag(session=session, actor=SYSTEM, evidence=evidence, flag="late_upload", detail="uploaded 30 h late")
        session.commit()


def object_folder(root: Path, evidence_id: uuid.UUID) -> Path:
    return root / layout_path(evidence_object_id(evidence_id))


def head_file(folder: Path, logical: str) -> Path:
    inventory = json.loads((folder / "inventory.json").read_text())
    for digest, paths in inventory["versions"][inventory["head"]]["state"].items():
        if logical in paths:
            return folder / inventory["manifest"][digest][0]
    raise AssertionError(f"{logical} is not in {folder}")


def test_the_export_is_an_ocfl_root_ocfl_py_accepts_without_warnings_and_the_vault_verifies(
        context: VaultContext, holdings: Holdings, tmp_path: Path) -> None:
    root = tmp_path / "exit"
    summary = export(context, root)
    assert (summary.written, summary.failed) == (3, [])
    valid, findings = ocfl_py_findings(root)
    assert valid and findings == []
    report = verify_export(root)
    assert report.ok, list(report.problems)
    checked = CliRunner().invoke(client_root, ["verify-export", str(root)])
    assert checked.exit_code == 0 and "VERDICT: VALID" in checked.stdout
    for evidence_id, path in holdings.files.items():
        folder = object_folder(root, evidence_id)
        assert head_file(folder, f"original/{path.name}").read_bytes() == path.read_bytes()
        record = json.loads(head_file(folder, "metadata/evidence.json").read_text())
        assert record["digests"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert record["digests"]["sm3"]  # recorded by the export for originals the background job had not reached
        assert record["handlers"][0]["certificate_number"] == "13010001"
        assert next(e["entry"]["action"] for e in json.loads(head_file(folder, "metadata/custody.json").read_text())) \
            == "evidence:registered"
    held = json.loads(head_file(object_folder(root, next(iter(holdings.files))), "metadata/evidence.json").read_text())
    assert held["case_number"] == CASE_NUMBER and held["retention"]["legal_holds"][0]["reason"].startswith("行政诉讼")
    assert held["party"]["personal_data_masked"]["id_number"] != ID_NUMBER
    assert held["party"]["personal_data_encrypted"]["id_number"]
    everything = b"".join(p.read_bytes() for p in root.rglob("*.json*"))
    assert ID_NUMBER.encode() not in everything and PHONE.encode() not in json.dumps(held["party"]).encode()
    assert held["tags"]["notes"] == f"当事人电话 {PHONE}"  # free text as stored: the catalog keeps it in clear
    assert b"password_hash" not in everything and b"argon2" not in everything
    with context.sessions() as session:
        last = session.scalars(select(CustodyEvent).order_by(CustodyEvent.log_index.desc()).limit(1)).one()
    assert (last.action, last.actor_name) == ("vault:exported_whole", HOST.name)


def test_a_second_run_skips_finished_objects_and_adds_a_version_where_metadata_changed(
        context: VaultContext, holdings: Holdings, tmp_path: Path) -> None:
    root = tmp_path / "exit"
    export(context, root)
    changed = next(iter(holdings.files))
    flag_late(context, changed)
    again = export(context, root)
    assert (again.written, again.versioned, again.unchanged) == (0, 1, 2)
    folder = object_folder(root, changed)
    inventory = json.loads((folder / "inventory.json").read_text())
    assert inventory["head"] == "v2" and not (folder / "v2" / "content" / "original").exists()
    assert [f["flag"] for f in json.loads(head_file(folder, "metadata/evidence.json").read_text())["flags"]] \
        == ["late_upload"]
    assert ocfl_py_findings(root) == (True, []) and verify_export(root).ok


def test_a_disposed_record_is_exported_without_bytes_with_its_signed_certificate(
        context: VaultContext, make_person: Callable[..., Person], tmp_path: Path) -> None:
    officer, manager, approver = (make_person(r) for r in (Role.OFFICER, Role.RECORDS_MANAGER, Role.APPROVER))
    lock = datetime.now(UTC) + timedelta(seconds=2)
    with context.sessions() as session:
        blob = context.store.put_stream(io.BytesIO(os.urandom(4096)), retain_until=lock)
        captured = datetime.now(UTC) - timedelta(days=400)
        record = register_evidence(
            session=session, actor=officer.actor, blob=blob, store_name=context.store.name, store_retain_until=lock,
            original_name="DSCF0001.MP4", media_type="video/mp4",
            tags=EvidenceTags(activity="inspection", capture_start=captured, capture_end=captured), now=captured)
        session.commit()
        while datetime.now(UTC) <= lock + timedelta(milliseconds=200):
            time.sleep(0.2)
        request = propose_disposal(session=session, actor=manager.actor, evidence_id=record.id, reason="due",
                                   now=datetime.now(UTC), store=context.store)
        approved = approve_disposal(session=session, actor=approver.actor, request_id=request.id,
                                    now=datetime.now(UTC), store=context.store, signer=context.signer,
                                    recovery_days=7)
        session.commit()
        assert approved.destroy_after is not None
        assert destroy_due(context, now=approved.destroy_after).outcomes == {"disposed": 1}
        evidence_id, sha256 = record.id, record.sha256
    root = tmp_path / "exit"
    summary = export(context, root)
    assert (summary.written, summary.disposed) == (1, 1)
    folder = object_folder(root, evidence_id)
    body = json.loads(head_file(folder, "metadata/evidence.json").read_text())
    assert (body["status"], body["original_path"], body["digests"]["sha256"]) == ("disposed", None, sha256)
    assert not list((folder / "v1" / "content").glob("original/*"))
    certificate = json.loads(head_file(folder, "metadata/disposal-certificate.json").read_text())
    assert json.loads(certificate["body"])["approved_by"] == approver.user.name
    assert ocfl_py_findings(root) == (True, []) and verify_export(root).ok
    certificate["body"] = certificate["body"].replace(approver.user.name, "somebody-else")
    _rewrite_inventory(folder, "metadata/disposal-certificate.json", (json.dumps(certificate) + "\n").encode())
    assert [f.subject for f in verify_export(root).problems] == [f"{evidence_object_id(evidence_id)} disposal"]


def _rewrite_inventory(folder: Path, logical: str, data: bytes) -> None:
    """Replace a file as a careful tamperer would: new bytes, new manifest and fixity digests, new sidecars."""
    target = head_file(folder, logical)
    old_512, old_256 = hashlib.sha512(target.read_bytes()).hexdigest(), hashlib.sha256(target.read_bytes()).hexdigest()
    target.write_bytes(data)
    text = (folder / "inventory.json").read_text()
    text = text.replace(old_512, hashlib.sha512(data).hexdigest()).replace(old_256, hashlib.sha256(data).hexdigest())
    sidecar = f"{hashlib.sha512(text.encode()).hexdigest()} inventory.json\n"
    head = json.loads(text)["head"]
    for where in (folder, folder / head):
        (where / "inventory.json").write_text(text)
        (where / "inventory.json.sha512").write_text(sidecar)


def test_a_flipped_byte_a_deleted_sidecar_and_an_edited_custody_entry_each_fail(
        context: VaultContext, holdings: Holdings, tmp_path: Path) -> None:
    root = tmp_path / "exit"
    export(context, root)
    first, second = list(holdings.files)[:2]
    original = head_file(object_folder(root, first), f"original/{holdings.files[first].name}")
    kept = original.read_bytes()
    flipped = bytearray(kept)
    flipped[len(kept) // 2] ^= 0x01
    original.write_bytes(bytes(flipped))
    assert not ocfl_py_findings(root)[0]
    assert any("SHA-512, SHA-256 mismatch" in f.message for f in verify_export(root).problems)
    original.write_bytes(kept)
    assert verify_export(root).ok
    (object_folder(root, second) / "inventory.json.sha512").unlink()
    assert not ocfl_py_findings(root)[0] and not verify_export(root).ok
    checked = CliRunner().invoke(client_root, ["--json", "verify-export", str(root), "--no-sm3"])
    assert checked.exit_code == 1 and json.loads(checked.stdout)["valid"] is False


def test_an_edited_custody_entry_fails_the_vault_verifier_even_with_ocfl_digests_redone(
        context: VaultContext, holdings: Holdings, tmp_path: Path) -> None:
    root = tmp_path / "exit"
    export(context, root)
    vaults = [p.parent for p in root.rglob("0=ocfl_object_1.1") if "urn%3aevault%3avault" in p.parent.name]
    log = head_file(vaults[0], "custody/log.jsonl")
    lines = log.read_bytes().splitlines(keepends=True)
    entry = json.loads(lines[-2])
    entry["entry"]["actor"] = "somebody-else"
    lines[-2] = json.dumps(entry, ensure_ascii=False, sort_keys=True).encode() + b"\n"
    _rewrite_inventory(vaults[0], "custody/log.jsonl", b"".join(lines))
    assert ocfl_py_findings(root) == (True, [])  # OCFL alone cannot tell: the digests were redone
    problems = verify_export(root).problems
    assert any("altered" in f.message for f in problems)
    assert any("Merkle root differs" in f.message for f in problems)


def _command_env(context: VaultContext) -> dict[str, str]:
    settings = context.settings
    env = {**os.environ, "EVAULT_HOME": str(settings.home), "EVAULT_DATABASE_URL": settings.resolved_database_url,
           "EVAULT_LOG_JSON": "false", "EVAULT_AGENCY_NAME": settings.agency_name}
    if isinstance(context.store, S3BlobStore):
        env |= {"EVAULT_STORE": "s3", "EVAULT_S3_ENDPOINT": os.environ["EVAULT_TEST_S3_ENDPOINT"],
                "EVAULT_S3_ACCESS_KEY": os.environ.get("EVAULT_TEST_S3_ACCESS_KEY", "evaultci"),
                "EVAULT_S3_SECRET_KEY": os.environ.get("EVAULT_TEST_S3_SECRET_KEY", "evaultci-secret-key"),
                "EVAULT_S3_BUCKET": context.store.bucket, "EVAULT_S3_LOCK_MODE": "GOVERNANCE"}
    return env


@pytest.mark.parametrize(("point", "resumed_counts"), [
    ("export-vault:copying-2", "2 written, 0 new versions, 1 unchanged"),  # an original half copied
    ("export-vault:vault-object", "0 written, 0 new versions, 3 unchanged"),  # every record done, the log not
])
def test_a_run_killed_mid_copy_is_resumed_by_running_it_again(
        context: VaultContext, holdings: Holdings, tmp_path: Path, point: str, resumed_counts: str) -> None:
    root, env = tmp_path / "exit", _command_env(context)
    command = [sys.executable, "-m", "evault", "export-vault", str(root)]
    killed = subprocess.run(command, env={**env, "EVAULT_CRASH_AT": point}, capture_output=True,
                            text=True, timeout=120, check=False)
    assert killed.returncode == -9, killed.stderr
    assert (root / ".evault-staging").exists()
    assert not verify_export(root).ok
    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed_counts in resumed.stdout
    assert not (root / ".evault-staging").exists()
    assert ocfl_py_findings(root) == (True, [])
    assert verify_export(root).ok
    for evidence_id, path in holdings.files.items():
        assert head_file(object_folder(root, evidence_id), f"original/{path.name}").read_bytes() == path.read_bytes()


def test_a_run_killed_between_a_new_version_and_its_root_inventory_is_resumed(
        context: VaultContext, holdings: Holdings, tmp_path: Path) -> None:
    root, env = tmp_path / "exit", _command_env(context)
    export(context, root)
    changed = next(iter(holdings.files))
    flag_late(context, changed)
    command = [sys.executable, "-m", "evault", "export-vault", str(root)]
    killed = subprocess.run(command, env={**env, "EVAULT_CRASH_AT": "export-vault:version-renamed"},
                            capture_output=True, text=True, timeout=120, check=False)
    assert killed.returncode == -9, killed.stderr
    folder = object_folder(root, changed)
    assert (folder / "v2").is_dir() and json.loads((folder / "inventory.json").read_text())["head"] == "v1"
    assert not ocfl_py_findings(root)[0]  # a version folder the inventory does not name
    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert "0 written, 1 new versions, 2 unchanged" in resumed.stdout
    assert json.loads((folder / "inventory.json").read_text())["head"] == "v2"
    assert ocfl_py_findings(root) == (True, []) and verify_export(root).ok


def test_an_export_resumed_after_a_key_rotation_still_verifies(context: VaultContext, holdings: Holdings,
                                                               settings: Settings, store: BlobStore,
                                                               tmp_path: Path) -> None:
    root = tmp_path / "exit"
    export(context, root)
    rotate_signing_key(settings.keys_dir, origin=context.anchors.origin)
    rotated = build_context(settings, store=store)
    try:
        again = export(rotated, root)  # the vault object keeps its id: the origin did not change
        assert (again.written, again.failed) == (0, [])
        report = verify_export(root)
        assert report.ok, list(report.problems)
        assert ocfl_py_findings(root) == (True, [])
        signed = {c["key_id"] for c in map(json.loads, head_file(
            root / layout_path(vault_object_id(rotated.anchors.origin)), CHECKPOINTS_FILE).read_text()
            .splitlines())}
        assert signed == {context.signer.key_id, rotated.signer.key_id}  # both keys' checkpoints were checked
    finally:
        rotated.close()
