"""RFC 3161 time-stamps over checkpoint notes, from a real `openssl ts` TSA over HTTP (issue 12)."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.tsa import LocalTSA, make_ca, running_tsa
from vault.custody.note import CheckpointText, signed_checkpoint
from vault.keys import Signer
from vault.timestamping import TimestampInvalid, TimestampUnavailable, request_timestamp, verify_timestamp

NOTE = signed_checkpoint(CheckpointText("vault-a.example/custody", 42, bytes(range(32))),
                         signer=Signer(Ed25519PrivateKey.generate())).encode()


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[LocalTSA]:
    """Serve a throwaway OpenSSL TSA on a free local port."""
    with running_tsa(tmp_path / "tsa") as local:
        yield local


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """Return the HTTP client the caller hands in."""
    with httpx.Client(timeout=10) as client:
        yield client


def test_a_stamp_over_a_checkpoint_note_verifies_offline_and_with_openssl(
    tsa: LocalTSA, http: httpx.Client, tmp_path: Path
) -> None:
    # Issue 12: an RFC 3161 time-stamp on a checkpoint, checkable later without the vault.
    before = datetime.now(UTC).replace(microsecond=0)
    stamp = request_timestamp(url=tsa.url, data=NOTE.encode(), ca_pem=tsa.ca.read_bytes(), client=http)
    assert before - timedelta(seconds=2) <= stamp.gen_time <= datetime.now(UTC) + timedelta(seconds=2)
    assert stamp.gen_time.tzinfo is not None
    assert verify_timestamp(stamp.token, data=NOTE.encode(), ca_pem=tsa.ca.read_bytes()).gen_time == stamp.gen_time
    # The stored token is a standard TimeStampToken: OpenSSL reads it as one.
    (tmp_path / "note.txt").write_text(NOTE)
    (tmp_path / "token.der").write_bytes(stamp.token)
    checked = subprocess.run(
        ["openssl", "ts", "-verify", "-token_in", "-in", "token.der", "-data", "note.txt", "-CAfile", str(tsa.ca)],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )
    assert checked.returncode == 0 and "Verification: OK" in checked.stdout, checked.stderr


def test_a_stamp_over_the_note_does_not_verify_for_different_text(tsa: LocalTSA, http: httpx.Client) -> None:
    stamp = request_timestamp(url=tsa.url, data=NOTE.encode(), ca_pem=tsa.ca.read_bytes(), client=http)
    altered = NOTE.replace("\n42\n", "\n43\n")
    with pytest.raises(TimestampInvalid, match="does not verify"):
        verify_timestamp(stamp.token, data=altered.encode(), ca_pem=tsa.ca.read_bytes())


def test_a_stamp_from_a_tsa_under_another_root_is_refused(
    tsa: LocalTSA, http: httpx.Client, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    stranger = make_ca(other, "Some Other Root").read_bytes()
    with pytest.raises(TimestampUnavailable, match="does not verify"):
        request_timestamp(url=tsa.url, data=NOTE.encode(), ca_pem=stranger, client=http)
    stamp = request_timestamp(url=tsa.url, data=NOTE.encode(), ca_pem=None, client=http)
    with pytest.raises(TimestampInvalid, match="does not verify"):
        verify_timestamp(stamp.token, data=NOTE.encode(), ca_pem=stranger)


def test_bytes_that_are_no_token_are_named(tsa: LocalTSA) -> None:
    with pytest.raises(TimestampInvalid, match="cannot be read"):
        verify_timestamp(b"not a token", data=NOTE.encode(), ca_pem=tsa.ca.read_bytes())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_tsa_that_is_down_gives_a_clear_error(tsa: LocalTSA, http: httpx.Client) -> None:
    with pytest.raises(TimestampUnavailable, match="unreachable: ConnectError") as down:
        request_timestamp(url=f"http://127.0.0.1:{_free_port()}/tsa", data=NOTE.encode(),
                          ca_pem=tsa.ca.read_bytes(), client=http)
    assert down.value.status == 502 and down.value.code == "timestamp_unavailable"


def test_a_tsa_that_fails_the_request_gives_a_clear_error(tsa: LocalTSA, http: httpx.Client, tmp_path: Path) -> None:
    (tmp_path / "tsa" / "tsa.key").unlink()  # `openssl ts -reply` cannot sign: the server answers 500
    with pytest.raises(TimestampUnavailable, match="answered HTTP 500"):
        request_timestamp(url=tsa.url, data=NOTE.encode(), ca_pem=tsa.ca.read_bytes(), client=http)


def test_a_stamp_verifies_as_the_bare_token_or_the_whole_reply(tsa: LocalTSA, http: httpx.Client) -> None:
    # Checkpoints keep the token, bundles the whole TimeStampResp: one verifier reads both and names the TSA.
    stamp = request_timestamp(url=tsa.url, data=NOTE.encode(), ca_pem=tsa.ca.read_bytes(), client=http)
    for kept in (stamp.token, stamp.response):
        checked = verify_timestamp(kept, data=NOTE.encode(), ca_pem=tsa.ca.read_bytes())
        assert (checked.gen_time, checked.tsa) == (stamp.gen_time, "CN=Test TSA")


def test_a_forged_tsa_signature_is_named(tsa: LocalTSA, http: httpx.Client) -> None:
    stamp = request_timestamp(url=tsa.url, data=NOTE.encode(), ca_pem=tsa.ca.read_bytes(), client=http)
    forged = bytearray(stamp.token)
    forged[-5] ^= 1  # inside the SignerInfo's signature, the token's last field
    with pytest.raises(TimestampInvalid, match="signature on the time-stamp token is invalid"):
        verify_timestamp(bytes(forged), data=NOTE.encode(), ca_pem=tsa.ca.read_bytes())
