"""The verifier every bundle carries runs alone (`python -I`, only cryptography) and names what is wrong."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import zipfile
from pathlib import Path

from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from evault_client import verify_bundle as single_file
from evault_client.cli import root
from tests.vault.exports.conftest import bundle, media, rewrite_bundle, world  # noqa: F401  (fixtures)
from vault.context import VaultContext
from vault.exports import layout
from vault.keys import Signer

OFFLINE = {"EVAULT_TIMEZONE": "Asia/Shanghai", "EVAULT_LANG": "en"}
ALLOWED = {"cryptography", "rfc3161_client"}


def _carried_verifier(bundle_path: Path, folder: Path) -> Path:
    """Take verify_bundle.py out of a bundle into an empty folder, as a court clerk would."""
    folder.mkdir()
    with zipfile.ZipFile(bundle_path) as archive:
        (name,) = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith(f"/{layout.VERIFIER_FILE}")]
        target = folder / layout.VERIFIER_FILE
        target.write_bytes(archive.read(name))
    return target


def _run(verifier: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the file isolated from this checkout: -I drops PYTHONPATH, the current folder and user site-packages."""
    return subprocess.run([sys.executable, "-I", str(verifier), *args], cwd=verifier.parent, capture_output=True,
                          text=True, timeout=120, check=False)


def _failures(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line.split("  ", 1)[1] for line in result.stdout.splitlines() if line.startswith("FAIL  ")]


def test_a_real_bundle_verifies_with_the_file_it_carries(bundle: Path, tmp_path: Path) -> None:  # noqa: F811
    verifier = _carried_verifier(bundle, tmp_path / "clerk")
    assert verifier.read_bytes() == Path(single_file.__file__).read_bytes()
    result = _run(verifier, str(bundle), "--sm3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "VERDICT: VALID" in result.stdout and not _failures(result)
    assert f"OK    {layout.VERIFIER_FILE}: SHA256 matches (tagmanifest-sha256.txt)" in result.stdout
    assert "SHA256, SHA512, SM3 match" in result.stdout


def test_usage_errors_exit_two(bundle: Path, tmp_path: Path) -> None:  # noqa: F811
    verifier = _carried_verifier(bundle, tmp_path / "clerk")
    assert _run(verifier).returncode == 2
    assert _run(verifier, str(bundle), "--no-such-option").returncode == 2


def test_a_tampered_original_is_named(bundle: Path, tmp_path: Path) -> None:  # noqa: F811
    with zipfile.ZipFile(bundle) as archive:
        payload = next(n.split("/", 1)[1] for n in archive.namelist() if "/data/" in n)
    tampered = tmp_path / "tampered.zip"
    rewrite_bundle(bundle, tampered, {payload: b"not the recording"})
    result = _run(_carried_verifier(bundle, tmp_path / "clerk"), str(tampered))
    assert result.returncode == 1 and "VERDICT: INVALID" in result.stdout
    assert f"{payload}: SHA256, SHA512 mismatch" in _failures(result)


def test_a_tampered_manifest_is_named(bundle: Path, tmp_path: Path) -> None:  # noqa: F811
    with zipfile.ZipFile(bundle) as archive:
        name = next(n for n in archive.namelist() if n.endswith("/manifest-sha256.txt"))
        manifest = archive.read(name)
    tampered = tmp_path / "tampered.zip"
    rewrite_bundle(bundle, tampered, {"manifest-sha256.txt": manifest.replace(manifest[:8], b"0" * 8, 1)})
    failures = _failures(_run(_carried_verifier(bundle, tmp_path / "clerk"), str(tampered)))
    assert "manifest-sha256.txt: SHA256 mismatch (tagmanifest-sha256.txt)" in failures
    assert any(f.startswith("data/") and "SHA256 mismatch" in f for f in failures)


def test_a_tampered_signature_is_named(bundle: Path, tmp_path: Path) -> None:  # noqa: F811
    forged = tmp_path / "forged.zip"
    rewrite_bundle(bundle, forged, {layout.SIGNATURE_FILE: Signer(Ed25519PrivateKey.generate()).sign(b"anything")})
    result = _run(_carried_verifier(bundle, tmp_path / "clerk"), str(forged))
    assert result.returncode == 1
    assert _failures(result) == [f"{layout.SIGNATURE_FILE}: FORGED or altered: the signature does not match "
                                 "tagmanifest-sha256.txt"]


def test_a_tampered_custody_event_is_named(bundle: Path, tmp_path: Path) -> None:  # noqa: F811
    with zipfile.ZipFile(bundle) as archive:
        events = json.loads(archive.read(next(n for n in archive.namelist() if n.endswith(layout.EVENTS_FILE))))
    events[0]["entry"]["actor_name"] = "somebody else"
    tampered = tmp_path / "tampered.zip"
    rewrite_bundle(bundle, tampered, {layout.EVENTS_FILE: json.dumps(events).encode()})
    failures = _failures(_run(_carried_verifier(bundle, tmp_path / "clerk"), str(tampered)))
    assert f"{layout.EVENTS_FILE}: SHA256 mismatch (tagmanifest-sha256.txt)" in failures
    assert any(f.startswith(f"custody event {events[0]['log_index']} ") and "the entry was altered" in f
               for f in failures)


def test_a_tampered_verifier_file_is_named(bundle: Path, tmp_path: Path) -> None:  # noqa: F811
    carried = _carried_verifier(bundle, tmp_path / "clerk")
    tampered = tmp_path / "tampered.zip"
    rewrite_bundle(bundle, tampered, {layout.VERIFIER_FILE: carried.read_bytes().replace(b"ok: bool", b"ok: bool  ")})
    failures = _failures(_run(carried, str(tampered)))
    assert failures and all(f.startswith(f"{layout.VERIFIER_FILE}: ") for f in failures)
    assert "this verifier file was altered: do not trust it" in failures[0]


def test_a_bundle_made_before_it_carried_the_verifier_still_verifies(
    bundle: Path, tmp_path: Path, context: VaultContext  # noqa: F811
) -> None:
    older = tmp_path / "older.zip"
    rewrite_bundle(bundle, older, {}, signer=context.signer, drop=(layout.VERIFIER_FILE,))
    with zipfile.ZipFile(older) as archive:
        assert not any(n.endswith(f"/{layout.VERIFIER_FILE}") for n in archive.namelist())
    result = _run(_carried_verifier(bundle, tmp_path / "clerk"), str(older))
    assert result.returncode == 0 and "VERDICT: VALID" in result.stdout, result.stdout


def test_evault_verify_bundle_runs_the_same_file(bundle: Path, tmp_path: Path) -> None:  # noqa: F811
    checked = CliRunner().invoke(root, ["verify-bundle", str(bundle)], env=OFFLINE)
    assert checked.exit_code == 0 and "VERDICT: VALID" in checked.stdout
    document = json.loads(CliRunner().invoke(root, ["--json", "verify-bundle", str(bundle)], env=OFFLINE).stdout)
    assert document["valid"] is True and {"subject": layout.SIGNATURE_FILE, "ok": True,
                                         "message": "valid Ed25519 signature over tagmanifest-sha256.txt "
                                         "(the manifest set)"} in document["findings"]
    forged = tmp_path / "forged.zip"
    rewrite_bundle(bundle, forged, {layout.SIGNATURE_FILE: b"\x00" * 64})
    refused = CliRunner().invoke(root, ["verify-bundle", str(forged), "--json"], env=OFFLINE)
    assert refused.exit_code == 1 and json.loads(refused.stdout)["valid"] is False
    assert CliRunner().invoke(root, ["verify-bundle", str(tmp_path / "absent.zip")], env=OFFLINE).exit_code == 2


def test_the_file_imports_only_the_standard_library_and_cryptography() -> None:
    tree = ast.parse(Path(single_file.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import would need the package around the file"
            imported.add((node.module or "").split(".")[0])
    outside = imported - set(sys.stdlib_module_names) - ALLOWED
    assert imported >= {"cryptography", "zipfile"} and not outside, outside
