"""Tests for the RFC 9162 Merkle tree used by the custody log."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

import pytest

from vault.custody.merkle import (
    EMPTY_ROOT,
    Frontier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaves,
    verify_consistency,
    verify_inclusion,
)

# Standard Certificate Transparency vectors, taken from transparency-dev/merkle
# testonly/constants.go (LeafInputs, NodeHashes, RootHashes, CompactTrees) and
# proof/verify_test.go (inclusionProofs, consistencyProofs); the same data ships in
# google/certificate-transparency's merkle_tree tests.
CT_LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
CT_LEAF_HASHES = [
    bytes.fromhex(h)
    for h in [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ]
]
CT_ROOTS = [
    bytes.fromhex(h)
    for h in [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
]
H01 = "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"
H23 = "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"
H45 = "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"
H67 = "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"
H0123 = "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"
H4567 = "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"
L0, L1, L2, L3, L4, L5, L6, L7 = (h.hex() for h in CT_LEAF_HASHES)
# Upstream numbers leaves from 1; these indices are 0-based.
CT_INCLUSION = [
    (0, 1, []),
    (0, 8, [L1, H23, H4567]),
    (5, 8, [L4, H67, H0123]),
    (2, 3, [H01]),
    (1, 5, [L0, H23, L4]),
]
CT_CONSISTENCY = [
    (1, 1, []),
    (1, 8, [L1, H23, H4567]),
    (6, 8, [H45, H67, H0123]),
    (2, 5, [H23, L4]),
    (6, 7, [H45, L6, H0123]),
]
CT_COMPACT = [
    [],
    [L0],
    [H01],
    [H01, L2],
    [H0123],
    [H0123, L4],
    [H0123, H45],
    [H0123, H45, L6],
    ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
]

MAX_PROOF_SIZE = 33
LEAVES = [leaf_hash(f"custody event {i}".encode()) for i in range(70)]
ROOTS = [root_from_leaves(LEAVES[:n]) for n in range(len(LEAVES) + 1)]


def flipped(proof: Sequence[bytes], at: int) -> list[bytes]:
    """Return a copy of proof with one bit of element `at` flipped."""
    tampered = list(proof)
    tampered[at] = bytes([tampered[at][0] ^ 0x08]) + tampered[at][1:]
    return tampered


def test_hash_primitives_follow_rfc_domain_separation() -> None:
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    assert [leaf_hash(data) for data in CT_LEAF_INPUTS] == CT_LEAF_HASHES


@pytest.mark.parametrize("size", range(9))
def test_ct_vector_roots(size: int) -> None:
    assert root_from_leaves(CT_LEAF_HASHES[:size]) == CT_ROOTS[size]


@pytest.mark.parametrize("size", range(9))
def test_ct_vector_compact_trees(size: int) -> None:
    frontier = Frontier.empty()
    for leaf in CT_LEAF_HASHES[:size]:
        frontier = frontier.append(leaf)
    assert frontier.size == size
    assert [node.hex() for node in frontier.nodes] == CT_COMPACT[size]
    assert frontier.root() == CT_ROOTS[size]


@pytest.mark.parametrize(("index", "size", "path"), CT_INCLUSION)
def test_ct_vector_inclusion_proofs(index: int, size: int, path: list[str]) -> None:
    proof = inclusion_proof(CT_LEAF_HASHES, index, size)
    assert [p.hex() for p in proof] == path
    assert verify_inclusion(
        leaf_hash=CT_LEAF_HASHES[index], index=index, tree_size=size, proof=proof, root=CT_ROOTS[size]
    )


@pytest.mark.parametrize(("old", "new", "path"), CT_CONSISTENCY)
def test_ct_vector_consistency_proofs(old: int, new: int, path: list[str]) -> None:
    proof = consistency_proof(CT_LEAF_HASHES, old, new)
    assert [p.hex() for p in proof] == path
    assert verify_consistency(
        old_size=old, new_size=new, old_root=CT_ROOTS[old], new_root=CT_ROOTS[new], proof=proof
    )


def test_frontier_root_matches_root_from_leaves_for_every_size() -> None:
    frontier = Frontier.empty()
    assert frontier.root() == EMPTY_ROOT
    for size in range(1, len(LEAVES) + 1):
        frontier = frontier.append(LEAVES[size - 1])
        assert frontier.size == size
        assert len(frontier.nodes) == size.bit_count()
        assert frontier.root() == ROOTS[size]
        assert Frontier.from_json(frontier.to_json()) == frontier


def test_frontier_append_returns_a_new_frontier() -> None:
    first = Frontier.empty().append(LEAVES[0])
    second = first.append(LEAVES[1])
    assert (first.size, second.size) == (1, 2)
    assert first.root() == ROOTS[1]


def test_frontier_json_uses_hex_strings() -> None:
    frontier = Frontier.empty().append(LEAVES[0]).append(LEAVES[1]).append(LEAVES[2])
    assert frontier.to_json() == {"size": 3, "nodes": [ROOTS[2].hex(), LEAVES[2].hex()]}


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"size": "1", "nodes": [ROOTS[1].hex()]},
        {"size": 1, "nodes": ROOTS[1].hex()},
        {"size": 1, "nodes": [1]},
        {"size": 1, "nodes": ["zz"]},
        {"size": 1, "nodes": ["abcd"]},
        {"size": 2, "nodes": [ROOTS[1].hex(), ROOTS[1].hex()]},
        {"size": -1, "nodes": []},
        {"size": True, "nodes": [ROOTS[1].hex()]},
    ],
)
def test_frontier_from_json_rejects_malformed_input(data: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"."):
        Frontier.from_json(data)


def test_frontier_rejects_bad_leaf_hash() -> None:
    with pytest.raises(ValueError, match="32-byte"):
        Frontier.empty().append(b"short")


def included(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """Call verify_inclusion positionally to keep the tamper checks short."""
    return verify_inclusion(leaf_hash=leaf, index=index, tree_size=size, proof=proof, root=root)


def consistent(old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """Call verify_consistency positionally to keep the tamper checks short."""
    return verify_consistency(old_size=old, new_size=new, old_root=old_root, new_root=new_root, proof=proof)


@pytest.mark.parametrize("size", range(1, MAX_PROOF_SIZE + 1))
def test_every_inclusion_proof_verifies_and_resists_tampering(size: int) -> None:
    root = ROOTS[size]
    for index in range(size):
        leaf, proof = LEAVES[index], inclusion_proof(LEAVES, index, size)
        assert included(leaf, index, size, proof, root)
        for at in range(len(proof)):
            assert not included(leaf, index, size, flipped(proof, at), root)
        for other in range(-1, size + 1):
            if other != index:
                assert not included(leaf, other, size, proof, root)
        for other_size in range(MAX_PROOF_SIZE + 1):
            if other_size != size:
                # Pair each wrong size with its own genuine root, as a signed tree head would.
                assert not included(leaf, index, other_size, proof, ROOTS[other_size])
        # As upstream, only sizes whose path shape must differ: see the consistency test for why.
        for other_size in (size * 2, size // 2):
            assert not included(leaf, index, other_size, proof, root)
        assert not included(leaf, index, size, proof, ROOTS[size - 1])
        assert not included(LEAVES[size], index, size, proof, root)
        assert not included(leaf, index, size, [*proof, root], root)
        assert not included(leaf, index, size, [root, *proof], root)
        if proof:
            assert not included(leaf, index, size, proof[:-1], root)


@pytest.mark.parametrize("new", range(MAX_PROOF_SIZE + 1))
def test_every_consistency_proof_verifies_and_resists_tampering(new: int) -> None:
    new_root = ROOTS[new]
    for old in range(new + 1):
        old_root, proof = ROOTS[old], consistency_proof(LEAVES, old, new)
        assert consistent(old, new, old_root, new_root, proof)
        if old in (0, new):
            assert proof == []
            assert not consistent(old, new, old_root, new_root, [old_root])
            continue
        assert not consistent(old, new, old_root, new_root, [])
        assert not consistent(old, new, new_root, old_root, proof)
        assert not consistent(old, new, ROOTS[old - 1], new_root, proof)
        assert not consistent(old, new, old_root, ROOTS[new - 1], proof)
        # The upstream probes for a wrong size under unchanged roots. Neighbouring sizes are not probed:
        # a proof cannot bind the size, which is why a signed tree head signs size and root together.
        for other_old, other_new in (
            (old - 1, new),
            (old + 1, new),
            (old ^ 2, new),
            (old, new * 2),
            (old, new // 2),
        ):
            assert not consistent(other_old, other_new, old_root, new_root, proof)
        assert not consistent(old, new, old_root, new_root, proof[:-1])
        for at in range(len(proof)):
            assert not consistent(old, new, old_root, new_root, flipped(proof, at))
        for extra in (old_root, new_root, proof[0]):
            assert not consistent(old, new, old_root, new_root, [*proof, extra])
            assert not consistent(old, new, old_root, new_root, [extra, *proof])
        for other_old in range(1, new):
            if other_old != old:
                assert not consistent(other_old, new, ROOTS[other_old], new_root, proof)
        for other_new in range(old + 1, MAX_PROOF_SIZE + 1):
            if other_new != new:
                assert not consistent(old, other_new, old_root, ROOTS[other_new], proof)


def test_consistency_edge_cases() -> None:
    assert consistent(0, 5, EMPTY_ROOT, ROOTS[5], [])
    assert not consistent(0, 5, ROOTS[1], ROOTS[5], [])
    assert not consistent(3, 3, ROOTS[3], ROOTS[4], [])
    assert not consistent(4, 3, ROOTS[4], ROOTS[3], [])
    assert not consistent(-1, 3, ROOTS[0], ROOTS[3], [])
    assert not consistent(2, 2, b"", b"", [])


def test_verification_rejects_malformed_inputs_without_raising() -> None:
    proof = inclusion_proof(LEAVES, 3, 10)
    assert included(LEAVES[3], 3, 10, proof, ROOTS[10])
    assert not included(LEAVES[3], 3, 0, [], ROOTS[0])
    assert not included(LEAVES[3], 3, 10, proof, b"")
    assert not included(b"x", 3, 10, proof, ROOTS[10])
    assert not included(LEAVES[3], 3, 10, [*proof[:-1], b"short"], ROOTS[10])
    assert not included(LEAVES[3], 3, 10, [b""] * len(proof), ROOTS[10])
    assert not included(b"", 0, 1, [], b"")
    new_proof = consistency_proof(LEAVES, 3, 10)
    assert not consistent(3, 10, ROOTS[3], ROOTS[10], [*new_proof[:-1], b"x" * 31])


@pytest.mark.parametrize(("index", "size"), [(0, 0), (3, 3), (-1, 4), (0, 71)])
def test_inclusion_proof_rejects_bad_arguments(index: int, size: int) -> None:
    with pytest.raises(ValueError, match=r"outside|exceeds"):
        inclusion_proof(LEAVES, index, size)


@pytest.mark.parametrize(("old", "new"), [(4, 3), (-1, 3), (3, 71), (71, 71)])
def test_consistency_proof_rejects_bad_arguments(old: int, new: int) -> None:
    with pytest.raises(ValueError, match=r"old_size <= new_size|exceeds"):
        consistency_proof(LEAVES, old, new)


def test_proofs_use_only_the_requested_prefix() -> None:
    assert inclusion_proof(LEAVES, 2, 5) == inclusion_proof(LEAVES[:5], 2, 5)
    assert consistency_proof(LEAVES, 3, 9) == consistency_proof(LEAVES[:9], 3, 9)


def test_random_large_trees() -> None:
    # A seeded sweep beyond the exhaustive range, so failures reproduce exactly.
    rng = random.Random(9162)
    leaves = [leaf_hash(rng.randbytes(rng.randrange(64))) for _ in range(1500)]
    frontier, frontiers = Frontier.empty(), [Frontier.empty()]
    for leaf in leaves:
        frontier = frontier.append(leaf)
        frontiers.append(frontier)
    for _ in range(60):
        new = rng.randrange(1, len(leaves) + 1)
        old, index = rng.randrange(new + 1), rng.randrange(new)
        new_root = root_from_leaves(leaves[:new])
        assert frontiers[new].root() == new_root
        assert verify_inclusion(
            leaf_hash=leaves[index],
            index=index,
            tree_size=new,
            proof=inclusion_proof(leaves, index, new),
            root=new_root,
        )
        assert verify_consistency(
            old_size=old,
            new_size=new,
            old_root=frontiers[old].root(),
            new_root=new_root,
            proof=consistency_proof(leaves, old, new),
        )
