"""Headers a client can spoil: ASCII-digit counts, well-formed checksums and metadata, or a 4xx, never a 500."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Person, WireClient
from tests.ingest.conftest import tus_create, tus_headers, tus_metadata, tus_patch

LATIN1_DIGITS = ["\u00b2".encode("latin-1"), "1\u00b3".encode("latin-1"), b"9" * 5000]


def refusal(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize("value", LATIN1_DIGITS, ids=["superscript-two", "one-superscript-three", "5000-digits"])
def test_upload_length_takes_ascii_digits_only(wire: WireClient, officer: Person, value: bytes) -> None:
    headers = {**tus_headers(officer), "Upload-Metadata": tus_metadata(filename="a.mp4"), "Upload-Length": value}
    refusal(wire.request("POST", "/api/uploads", headers=headers), 400, "invalid_tus_request")


@pytest.mark.parametrize("value", LATIN1_DIGITS, ids=["superscript-two", "one-superscript-three", "5000-digits"])
def test_upload_offset_takes_ascii_digits_only(
        client: TestClient, wire: WireClient, officer: Person, value: bytes) -> None:
    location = tus_create(client, officer, 10, filename="a.mp4").headers["Location"]
    headers = {**tus_headers(officer), "Content-Type": "application/offset+octet-stream", "Upload-Offset": value}
    refusal(wire.request("PATCH", location, headers=headers, content=b"x"), 400, "invalid_tus_request")


def test_a_single_upload_content_length_takes_ascii_digits_only(wire: WireClient, officer: Person) -> None:
    headers = {**officer.headers, "Content-Type": "application/octet-stream", "Evault-Meta-Filename": "a.mp4",
               "Content-Length": "\u00b2".encode("latin-1")}
    refusal(wire.request("POST", "/api/evidence", headers=headers, content=b"x"), 400, "invalid_header")


SHORT, LONG = base64.b64encode(b"x" * 16).decode(), base64.b64encode(b"x" * 32).decode()


@pytest.mark.parametrize("checksum", ["sha256", "sha256 ", "sha256 !!!", f"sha256 {SHORT}", f"md5 {LONG}",
                                      "sha1 \u00b2", ""],
                         ids=["no-digest", "empty-digest", "not-base64", "short-digest", "long-digest", "latin-1",
                              "empty-header"])
def test_a_malformed_upload_checksum_is_400_not_460(
        client: TestClient, wire: WireClient, officer: Person, checksum: str) -> None:
    location = tus_create(client, officer, 10, filename="a.mp4").headers["Location"]
    headers = {**tus_headers(officer), "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream",
               "Upload-Checksum": checksum.encode("latin-1")}
    response = wire.request("PATCH", location, headers=headers, content=b"x")
    refusal(response, 400, "invalid_tus_request")
    assert client.head(location, headers=tus_headers(officer)).headers["Upload-Offset"] == "0"


def test_a_well_formed_checksum_that_does_not_match_is_still_460(client: TestClient, officer: Person) -> None:
    location = tus_create(client, officer, 10, filename="a.mp4").headers["Location"]
    wrong = "md5 " + base64.b64encode(hashlib.md5(b"y").digest()).decode()  # noqa: S324 - tus names md5
    refusal(tus_patch(client, officer, location, 0, b"x", **{"Upload-Checksum": wrong}), 460, "checksum_mismatch")
    right = "sha1 " + base64.b64encode(hashlib.sha1(b"x").digest()).decode()  # noqa: S324
    response = tus_patch(client, officer, location, 0, b"x", **{"Upload-Checksum": right})
    assert response.status_code == 204 and response.headers["Upload-Offset"] == "1"


@pytest.mark.parametrize("header", [
    b"filename " + "\u00b2".encode("latin-1"),  # a raw Latin-1 byte where base64 belongs
    b"filename YS5tcDQ=,note " + base64.b64encode(b"a\x00b"),  # NUL, even in a key the vault ignores
    b"filename YS5tcDQ=,no\x01te YQ==",
    b"filename YS5tcDQ=,note " + base64.b64encode(b"x" * 9000),  # past every bound, even in an ignored key
])
def test_malformed_tus_metadata_is_422(wire: WireClient, officer: Person, header: bytes) -> None:
    headers = {**tus_headers(officer), "Upload-Length": "10", "Upload-Metadata": header}
    refusal(wire.request("POST", "/api/uploads", headers=headers), 422, "invalid_metadata")


@pytest.mark.parametrize("value", [b"%zz", b"100%", b"%E9%98", "\u00b2".encode("latin-1"), b"a%00b"],
                         ids=["not-hex", "stray-percent", "cut-utf8", "raw-latin-1", "nul"])
def test_malformed_evault_meta_headers_are_422_not_stored_literally(
        wire: WireClient, officer: Person, media: dict[str, Path], value: bytes) -> None:
    headers = {**officer.headers, "Content-Type": "application/octet-stream", "Evault-Meta-Filename": "a.mp4",
               "Evault-Meta-Recorder-Serial": value}
    refusal(wire.request("POST", "/api/evidence", headers=headers, content=media["clip"].read_bytes()), 422,
            "invalid_metadata")
