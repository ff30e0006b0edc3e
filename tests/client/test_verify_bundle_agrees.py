"""The single-file verifier restates the vault's Merkle, note and JSON code: on generated inputs both must agree."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from evault_client import verify_bundle as single_file
from vault import keys
from vault.custody import encoding, merkle
from vault.custody.note import CheckpointText, NoteError, NoteKey, SignedNote, signed_checkpoint
from vault.keys import Signer

SIGNER = Signer(Ed25519PrivateKey.generate())
STRANGER = Signer(Ed25519PrivateKey.generate())
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
origins = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x2FFF, exclude_characters="+"), min_size=1,
                  max_size=24).filter(lambda name: not any(c.isspace() for c in name))


@given(st.binary(max_size=256))
def test_leaf_hashes_agree(data: bytes) -> None:
    assert single_file.leaf_hash(data) == merkle.leaf_hash(data)
    assert single_file.node_hash(data[:32], data[32:]) == merkle.node_hash(data[:32], data[32:])


@settings(max_examples=60)
@given(st.integers(1, 70), st.data())
def test_inclusion_proofs_agree(size: int, data: st.DataObject) -> None:
    tree = merkle.MerkleTree()
    for i in range(size):
        tree.append(merkle.leaf_hash(i.to_bytes(4, "big")))
    tree_size = data.draw(st.integers(1, size))
    index = data.draw(st.integers(0, tree_size - 1))
    proof = tree.inclusion_proof(index, tree_size)
    args: dict[str, Any] = {"leaf_hash": merkle.leaf_hash(index.to_bytes(4, "big")), "index": index,
                            "tree_size": tree_size, "proof": proof, "root": tree.root(tree_size)}
    assert single_file.verify_inclusion(**args) is merkle.verify_inclusion(**args) is True
    broken = [
        {**args, "index": data.draw(st.integers(-1, tree_size + 1))},
        {**args, "tree_size": data.draw(st.integers(0, size + 2))},
        {**args, "proof": proof[:-1]},
        {**args, "proof": [*proof, merkle.EMPTY_ROOT]},
        {**args, "root": merkle.EMPTY_ROOT},
    ]
    for changed in broken:
        assert single_file.verify_inclusion(**changed) is merkle.verify_inclusion(**changed)


@given(json_values)
def test_canonical_json_agrees(value: Any) -> None:
    assert single_file.canonical_json(value) == keys.canonical_json(value)


@given(st.integers(0, 2**40), st.binary(min_size=32, max_size=32), st.datetimes(timezones=st.just(UTC)))
def test_pre_note_checkpoint_statements_agree(size: int, root: bytes, moment: datetime) -> None:
    signed_at = moment.isoformat(timespec="microseconds")
    assert single_file.checkpoint_statement(size, root, signed_at) == encoding.checkpoint_statement(
        size, root, signed_at
    )


def _vault_accepts(note: str, origin: str, size: int, root: bytes, signer: Signer) -> bool:
    try:
        parsed = SignedNote.parse(note)
        body = CheckpointText.parse(parsed.text)
        signed = parsed.verified_by(NoteKey(name=body.origin, public_raw=signer.public_raw)) is not None
    except NoteError:
        return False
    return signed and body.tree_size == size and body.root == root


@settings(max_examples=80)
@given(origins, st.integers(0, 2**40), st.binary(min_size=32, max_size=32), st.data())
def test_checkpoint_notes_agree(origin: str, size: int, root: bytes, data: st.DataObject) -> None:
    note = signed_checkpoint(CheckpointText(origin, size, root), signer=SIGNER).encode()
    text, signatures = single_file.parse_note(note)
    parsed = SignedNote.parse(note)
    assert text == parsed.text and [(s.name, s.key_id, s.signature) for s in parsed.signatures] == signatures
    assert single_file.parse_checkpoint(text) == (origin, size, root)
    assert single_file.note_key_id(origin, SIGNER.public_raw) == NoteKey(origin, SIGNER.public_raw).key_id
    position = data.draw(st.integers(0, len(note) - 1))
    mutated = note[:position] + data.draw(st.characters(max_codepoint=0x7F)) + note[position + 1 :]
    for candidate in (note, mutated):
        for signer in (SIGNER, STRANGER):
            checkpoint = {"tree_size": size, "root_hash": root.hex(), "note": candidate}
            assert single_file.checkpoint_signed(checkpoint, signer.public_key) is _vault_accepts(
                candidate, origin, size, root, signer
            )


def test_a_checkpoint_of_the_wrong_size_or_root_is_refused_by_both() -> None:
    root = bytes(range(32))
    note = signed_checkpoint(CheckpointText("evault", 5, root), signer=SIGNER).encode()
    for size, hex_root in ((6, root.hex()), (5, bytes(32).hex())):
        checkpoint = {"tree_size": size, "root_hash": hex_root, "note": note}
        assert single_file.checkpoint_signed(checkpoint, SIGNER.public_key) is False
        assert _vault_accepts(note, "evault", size, bytes.fromhex(hex_root), SIGNER) is False
    assert base64.b64encode(root).decode() in note
