"""RFC 3161 time-stamps from a throwaway local TSA made with `openssl ts`, served over HTTP in the test."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from evault_client.cli import root as client_root
from evault_client.verify_bundle import verify_bundle
from tests.tsa import LocalTSA, make_ca, running_tsa
from tests.vault.exports.conftest import World, approve, build, rewrite_bundle
from vault.context import VaultContext
from vault.exports import layout
from vault.exports.models import ExportCopy
from vault.exports.signing import TimestampClient
from vault.timestamping import TimestampUnavailable, verify_timestamp

OFFLINE = {"EVAULT_TIMEZONE": "Asia/Shanghai"}  # the client verifies offline: no server, no sign-in


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[LocalTSA]:
    """Serve `openssl ts -reply` over HTTP on a free local port."""
    with running_tsa(tmp_path / "tsa") as local:
        yield local


@pytest.fixture
def stamped(context: VaultContext, world: World, tsa: LocalTSA, tmp_path: Path, now: datetime) -> Path:
    """Return a bundle whose signature the local TSA time-stamped."""
    context.settings.tsa_url = tsa.url
    context.settings.tsa_certificates_file = tsa.ca
    approve(context, world, world.records, now)
    out = tmp_path / "stamped.zip"
    build(context, world, out, now, records=world.records)
    return out


def _unzip(bundle: Path, folder: Path) -> Path:
    subprocess.run(["unzip", "-q", str(bundle), "-d", str(folder)], check=True)
    with zipfile.ZipFile(bundle) as archive:
        return folder / archive.namelist()[0].split("/", 1)[0]


def _openssl_ts_verify(bag: Path, ca: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", "ts", "-verify", "-data", layout.SIGNATURE_FILE, "-in", layout.TIMESTAMP_FILE, "-CAfile", str(ca)],
        cwd=bag,
        capture_output=True,
        text=True,
        check=False,
    )


def test_stamped_bundle_verifies_with_our_verifier_and_openssl_ts(stamped: Path, tsa: LocalTSA, tmp_path: Path) -> None:
    report = verify_bundle(stamped)
    assert report.ok, [f.message for f in report.problems]
    (finding,) = [f for f in report.findings if f.subject == layout.TIMESTAMP_FILE]
    assert "RFC 3161 time-stamp" in finding.message and "Test TSA" in finding.message
    bag = _unzip(stamped, tmp_path / "out")
    result = _openssl_ts_verify(bag, tsa.ca)
    assert result.returncode == 0 and "Verification: OK" in result.stdout
    assert _openssl_ts_verify(bag, bag / layout.TSA_CERTS_FILE).returncode == 0


def test_untrusted_tsa_root_is_named(stamped: Path, tmp_path: Path) -> None:
    other = tmp_path / "other-root"
    other.mkdir()
    report = verify_bundle(stamped, tsa_certificates_pem=make_ca(other, "Some Other Root").read_bytes())
    assert [f.subject for f in report.problems] == [layout.TIMESTAMP_FILE]
    assert "not issued by a trusted" in report.problems[0].message


def test_token_over_other_bytes_is_named_by_both_verifiers(stamped: Path, tsa: LocalTSA, tmp_path: Path) -> None:
    swapped = tmp_path / "swapped.zip"
    rewrite_bundle(stamped, swapped, {layout.TIMESTAMP_FILE: TimestampClient(tsa.url).stamp(b"something else")})
    problems = verify_bundle(swapped).problems
    assert [f.subject for f in problems] == [layout.TIMESTAMP_FILE]
    assert "different bytes" in problems[0].message
    assert _openssl_ts_verify(_unzip(swapped, tmp_path / "out"), tsa.ca).returncode != 0


def test_unreachable_tsa_aborts_the_bundle(context: VaultContext, world: World, tmp_path: Path, now: datetime) -> None:
    context.settings.tsa_url = "http://127.0.0.1:9/tsa"
    context.settings.tsa_timeout_seconds = 2.0
    approve(context, world, world.records, now)
    with pytest.raises(TimestampUnavailable, match="unreachable"):
        build(context, world, tmp_path / "never.zip", now, records=world.records)
    with context.sessions() as session:
        assert session.scalar(select(ExportCopy)) is None


def test_a_tsa_under_another_root_than_configured_aborts_the_bundle(
    context: VaultContext, world: World, tsa: LocalTSA, tmp_path: Path, now: datetime
) -> None:
    # Issue 12: the bundle's token is checked against the configured TSA CA when issued, as checkpoint stamps are,
    # so no bundle leaves the vault with a time-stamp its own verifier would refuse.
    other = tmp_path / "other-root"
    other.mkdir()
    context.settings.tsa_url = tsa.url
    context.settings.tsa_certificates_file = make_ca(other, "Some Other Root")
    approve(context, world, world.records, now)
    with pytest.raises(TimestampUnavailable, match="not issued by a trusted"):
        build(context, world, tmp_path / "never.zip", now, records=world.records)
    with context.sessions() as session:
        assert session.scalar(select(ExportCopy)) is None


def test_a_bundle_without_tsa_certificates_is_checked_with_tsa_ca(stamped: Path, tsa: LocalTSA, tmp_path: Path) -> None:
    # Issue 12: trust comes from --tsa-ca, else from the TSA certificates in the bundle; with neither, say so.
    bare = tmp_path / "bare.zip"
    with zipfile.ZipFile(stamped) as source, zipfile.ZipFile(bare, "w") as target:
        for name in source.namelist():
            if not name.endswith(f"/{layout.TSA_CERTS_FILE}"):
                target.writestr(name, source.read(name))
    problems = verify_bundle(bare).problems
    assert [f.subject for f in problems] == [layout.TIMESTAMP_FILE] and "--tsa-ca" in problems[0].message
    checked = CliRunner().invoke(client_root, ["verify-bundle", str(bare), "--tsa-ca", str(tsa.ca)], env=OFFLINE)
    assert checked.exit_code == 0 and "VERDICT: VALID" in checked.output
    assert "by CN=Test TSA, trusted via the TSA certificate you supplied" in checked.output


def test_a_bundle_time_stamp_is_the_whole_tsa_reply(stamped: Path, tsa: LocalTSA) -> None:
    # The bundle keeps the TimeStampResp as the TSA sent it (`openssl ts -verify -in`), not only the token.
    with zipfile.ZipFile(stamped) as archive:
        root = archive.namelist()[0].split("/", 1)[0]
        reply = archive.read(f"{root}/{layout.TIMESTAMP_FILE}")
        signature = archive.read(f"{root}/{layout.SIGNATURE_FILE}")
    stamp = verify_timestamp(reply, data=signature, ca_pem=tsa.ca.read_bytes())
    assert stamp.response == reply and stamp.token != reply and stamp.tsa == "CN=Test TSA"


def _carried_verifier(bundle: Path, folder: Path) -> Path:
    folder.mkdir()
    with zipfile.ZipFile(bundle) as archive:
        name = next(n for n in archive.namelist() if n.count("/") == 1 and n.endswith(f"/{layout.VERIFIER_FILE}"))
        (folder / layout.VERIFIER_FILE).write_bytes(archive.read(name))
    return folder / layout.VERIFIER_FILE


def test_the_carried_verifier_checks_the_time_stamp_or_says_it_did_not(stamped: Path, tmp_path: Path) -> None:
    verifier = _carried_verifier(stamped, tmp_path / "clerk")
    checked = subprocess.run([sys.executable, "-I", str(verifier), str(stamped)], capture_output=True, text=True,
                             cwd=verifier.parent, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "by CN=Test TSA, trusted via the TSA certificates in the bundle" in checked.stdout
    # A reader without rfc3161-client (the process edge: the package is not installed) still gets a verdict.
    without = ("import runpy, sys; sys.modules['rfc3161_client'] = None; sys.argv = sys.argv[1:]; "
               "runpy.run_path(sys.argv[0], run_name='__main__')")
    unchecked = subprocess.run([sys.executable, "-I", "-c", without, str(verifier), str(stamped)],
                               capture_output=True, text=True, cwd=verifier.parent, check=False)
    assert unchecked.returncode == 0, unchecked.stdout + unchecked.stderr
    assert f"OK    {layout.TIMESTAMP_FILE}: not checked: install rfc3161-client" in unchecked.stdout
    assert "VERDICT: VALID" in unchecked.stdout and "(time-stamp not checked)" in unchecked.stdout
