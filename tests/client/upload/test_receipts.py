"""Receipts: Ed25519 over the canonical JSON, bound to the file's SHA-256 and size, kept beside the file."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from evault_client.upload.errors import ReceiptInvalid
from evault_client.upload.files import receipt_path
from evault_client.upload.receipts import VaultKey, read_receipt, verify_receipt, write_receipt
from evault_client.upload.receipts import canonical_json as client_canonical_json
from vault.keys import Signer
from vault.keys import canonical_json as vault_canonical_json

DATA = b"recorder bytes"
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def signer() -> Signer:
    return Signer(Ed25519PrivateKey.generate())


@pytest.fixture
def key(signer: Signer) -> VaultKey:
    return VaultKey(key_id=signer.key_id, pem=signer.public_pem())


def signed(signer: Signer, **changes: Any) -> dict[str, Any]:
    body = {"evidence_id": "5d0c5f5e-1111-4222-8333-944455556666", "sha256": SHA, "size": len(DATA),
            "original_name": "阜应急〔2023〕40号-现场.mp4", "received_at": "2025-03-31T10:00:00.123456+00:00",
            "vault_key_id": signer.key_id, "duplicate": False, **changes}
    message = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return {"receipt": body, "signature": base64.b64encode(signer.sign(message)).decode()}


def test_a_receipt_signed_by_the_vault_for_these_bytes_verifies(signer: Signer, key: VaultKey) -> None:
    receipt = verify_receipt(signed(signer), key=key, sha256=SHA, size=len(DATA))
    assert receipt.sha256 == SHA and receipt.original_name.startswith("阜应急〔2023〕")


def test_a_flipped_signature_is_rejected(signer: Signer, key: VaultKey) -> None:
    document = signed(signer)
    raw = bytearray(base64.b64decode(document["signature"]))
    raw[0] ^= 1
    document["signature"] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(ReceiptInvalid, match="signature"):
        verify_receipt(document, key=key, sha256=SHA, size=len(DATA))


@pytest.mark.parametrize(("field", "value"), [("sha256", "0" * 64), ("size", 1), ("evidence_id", "other"),
                                              ("duplicate", True)])
def test_an_edited_receipt_body_is_rejected(signer: Signer, key: VaultKey, field: str, value: Any) -> None:
    document = signed(signer)
    document["receipt"][field] = value
    with pytest.raises(ReceiptInvalid):
        verify_receipt(document, key=key, sha256=SHA, size=len(DATA))


def test_a_receipt_for_other_bytes_is_rejected_even_if_genuine(signer: Signer, key: VaultKey) -> None:
    other = hashlib.sha256(b"other").hexdigest()
    with pytest.raises(ReceiptInvalid, match="SHA-256"):
        verify_receipt(signed(signer, sha256=other), key=key, sha256=SHA, size=len(DATA))


def test_a_receipt_signed_by_another_key_is_rejected(signer: Signer, key: VaultKey) -> None:
    stranger = Signer(Ed25519PrivateKey.generate())
    with pytest.raises(ReceiptInvalid, match="signature"):
        verify_receipt(signed(stranger, vault_key_id=signer.key_id), key=key, sha256=SHA, size=len(DATA))
    with pytest.raises(ReceiptInvalid, match="key"):
        verify_receipt(signed(signer, vault_key_id="feedfacefeedface"), key=key, sha256=SHA, size=len(DATA))


@pytest.mark.parametrize("document", [None, [], {"receipt": "x"}, {"signature": "AA=="}])
def test_malformed_documents_are_rejected(key: VaultKey, document: Any) -> None:
    with pytest.raises(ReceiptInvalid):
        verify_receipt(document, key=key, sha256=SHA, size=len(DATA))


def test_receipt_file_round_trip_and_tamper_on_disk(tmp_path: Path, signer: Signer, key: VaultKey) -> None:
    footage = tmp_path / "REC_0001.MP4"
    footage.write_bytes(DATA)
    receipt = verify_receipt(signed(signer), key=key, sha256=SHA, size=len(DATA))
    written = write_receipt(footage, receipt, key=key, server="http://vault/")
    assert written == receipt_path(footage) == tmp_path / "REC_0001.MP4.evault-receipt.json"
    assert read_receipt(footage, key=key, sha256=SHA, size=len(DATA)).evidence_id == receipt.evidence_id
    stored = json.loads(written.read_text(encoding="utf-8"))
    assert stored["vault_public_key"]["key_id"] == key.key_id and "阜应急" in written.read_text(encoding="utf-8")
    tampered = copy.deepcopy(stored)
    tampered["receipt"]["evidence_id"] = "5d0c5f5e-0000-4222-8333-944455556666"
    written.write_text(json.dumps(tampered), encoding="utf-8")
    with pytest.raises(ReceiptInvalid):
        read_receipt(footage, key=key, sha256=SHA, size=len(DATA))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_missing_receipt_file_is_not_verified(tmp_path: Path, key: VaultKey) -> None:
    with pytest.raises(ReceiptInvalid, match="no receipt"):
        read_receipt(tmp_path / "x.mp4", key=key, sha256=SHA, size=1)


TRICKY_VALUES: list[Any] = [
    {"original_name": "阜应急〔2023〕40号-现场.mp4", "size": 2**53 + 1, "duplicate": False, "sha256": SHA},
    {"z": {"é": ["执法", {"b": 1.5, "a": -0.0}], "emoji": "📹"}, "a": [1, 2.0, 1e-7, 1e21, None, True]},
    {"received_at": "2025-03-31T10:00:00.123456+00:00", "nested": {"deep": {"deeper": ["\u2028", "\x00", "\"\\"]}}},
    {"ints": [0, -1, 10**20], "floats": [0.1, 3.14159, 123456789.123], "keys": {"10": 1, "9": 2, "A": 3, "a": 4}},
    ["not", "an", "object", {"阜": "阳"}],
]


@pytest.mark.parametrize("value", TRICKY_VALUES)
def test_the_clients_canonical_json_is_the_vaults_byte_for_byte(value: Any) -> None:
    assert client_canonical_json(value) == vault_canonical_json(value)


def test_a_receipt_the_vault_signs_verifies_with_the_clients_canonical_form(signer: Signer, key: VaultKey) -> None:
    body = {"evidence_id": "5d0c5f5e-1111-4222-8333-944455556666", "sha256": SHA, "size": len(DATA),
            "original_name": "执法记录仪 现场 (1).mp4", "received_at": "2025-03-31T10:00:00+00:00",
            "vault_key_id": signer.key_id, "duplicate": True}
    document = {"receipt": body, "signature": base64.b64encode(signer.sign(vault_canonical_json(body))).decode()}
    assert verify_receipt(document, key=key, sha256=SHA, size=len(DATA)).duplicate is True
