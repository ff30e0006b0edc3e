"""A bundle checks out with standard tools alone, as docs/exports.md shows: sha256sum, sha512sum, openssl."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from vault.exports import layout


@pytest.fixture
def bag(bundle: Path, tmp_path: Path) -> Path:
    """Return the bag folder unpacked with `unzip`, as a recipient would."""
    subprocess.run(["unzip", "-q", str(bundle), "-d", str(tmp_path / "out")], check=True)
    with zipfile.ZipFile(bundle) as archive:
        return tmp_path / "out" / archive.namelist()[0].split("/", 1)[0]


def _run(bag: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=bag, capture_output=True, text=True, check=False)


def test_coreutils_check_payload_and_tag_manifests(bag: Path) -> None:
    for command in (
        ["sha256sum", "-c", "manifest-sha256.txt"],
        ["sha512sum", "-c", "manifest-sha512.txt"],
        ["sha256sum", "-c", "tagmanifest-sha256.txt"],
        ["sha512sum", "-c", "tagmanifest-sha512.txt"],
    ):
        result = _run(bag, *command)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "FAILED" not in result.stdout


def test_coreutils_name_a_changed_payload_file(bag: Path) -> None:
    victim = next((bag / "data").rglob("*.mp4"))
    victim.chmod(0o644)
    data = bytearray(victim.read_bytes())
    data[100] ^= 0x01
    victim.write_bytes(bytes(data))
    result = _run(bag, "sha256sum", "-c", "manifest-sha256.txt")
    assert result.returncode == 1
    assert f"{victim.relative_to(bag)}: FAILED" in result.stdout


def _openssl_verify(bag: Path) -> subprocess.CompletedProcess[str]:
    return _run(
        bag,
        "openssl",
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        layout.PUBLIC_KEY_FILE,
        "-rawin",
        "-in",
        layout.SIGNED_FILE,
        "-sigfile",
        layout.SIGNATURE_FILE,
    )


def test_openssl_verifies_the_ed25519_signature(bag: Path) -> None:
    result = _openssl_verify(bag)
    assert result.returncode == 0 and "Signature Verified Successfully" in result.stdout


def test_openssl_rejects_an_altered_manifest_set(bag: Path) -> None:
    signed = bag / layout.SIGNED_FILE
    signed.chmod(0o644)
    signed.write_bytes(signed.read_bytes().replace(b"bag-info.txt", b"bag-inf0.txt"))
    result = _openssl_verify(bag)
    assert result.returncode != 0 and "Signature Verification Failure" in result.stdout


def test_bagit_python_validator_accepts_the_bag(bag: Path) -> None:
    validator = Path(sys.executable).parent / "bagit.py"
    result = _run(bag, str(validator), "--validate", ".")
    assert result.returncode == 0, result.stderr
    assert ". is valid" in result.stderr
