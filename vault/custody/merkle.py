"""RFC 9162 §2.1 Merkle tree hashing, proofs and a compact frontier for the custody log.

Tree hashing is the same as RFC 6962 §2.1, so roots and proofs interoperate with
Certificate Transparency tooling. All hashes are 32-byte SHA-256 digests.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """Hash one log entry as a Merkle leaf: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash two child nodes into their parent: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Return the largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _mth(leaves: Sequence[bytes], lo: int, hi: int) -> bytes:
    """Return MTH over the non-empty range leaves[lo:hi]."""
    if hi - lo == 1:
        return leaves[lo]
    mid = lo + _split(hi - lo)
    return node_hash(_mth(leaves, lo, mid), _mth(leaves, mid, hi))


def root_from_leaves(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return the Merkle tree hash (MTH) of already-hashed leaves."""
    return _mth(leaf_hashes, 0, len(leaf_hashes)) if leaf_hashes else EMPTY_ROOT


def _is_digest(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


class FrontierJSON(TypedDict):
    """Serialised Frontier: the size and the node digests as hex."""

    size: int
    nodes: list[str]


@dataclass(frozen=True)
class Frontier:
    """Roots of the perfect subtrees covering leaves [0, size), largest first."""

    size: int
    nodes: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise ValueError(f"frontier size must be a non-negative int, got {self.size!r}")
        if len(self.nodes) != self.size.bit_count():
            raise ValueError(
                f"a frontier of size {self.size} needs {self.size.bit_count()} nodes, got {len(self.nodes)}"
            )
        if not all(_is_digest(node) for node in self.nodes):
            raise ValueError(f"frontier nodes must be {HASH_SIZE}-byte digests")

    @classmethod
    def empty(cls) -> Frontier:
        """Return the frontier of an empty log."""
        return cls(0, ())

    def append(self, leaf_hash: bytes) -> Frontier:
        """Return the frontier after appending one already-hashed leaf."""
        if not _is_digest(leaf_hash):
            raise ValueError(f"leaf hash must be a {HASH_SIZE}-byte digest")
        nodes, carry, size = list(self.nodes), leaf_hash, self.size
        # Each trailing 1 bit of size is a perfect subtree as tall as the carry: merge them like a binary add.
        while size & 1:
            carry = node_hash(nodes.pop(), carry)
            size >>= 1
        nodes.append(carry)
        return Frontier(self.size + 1, tuple(nodes))

    def root(self) -> bytes:
        """Return the Merkle tree hash of the log this frontier summarises."""
        if not self.nodes:
            return EMPTY_ROOT
        root = self.nodes[-1]
        for node in reversed(self.nodes[:-1]):
            root = node_hash(node, root)
        return root

    def to_json(self) -> FrontierJSON:
        """Return a JSON-ready dict with the nodes as lowercase hex."""
        return {"size": self.size, "nodes": [node.hex() for node in self.nodes]}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Frontier:
        """Rebuild a frontier from to_json output, raising ValueError if it is malformed."""
        size, nodes = data.get("size"), data.get("nodes")
        if not isinstance(size, int) or not isinstance(nodes, list):
            raise ValueError("frontier JSON needs an int 'size' and a list 'nodes'")
        if not all(isinstance(node, str) for node in nodes):
            raise ValueError("frontier JSON nodes must be hex strings")
        return cls(size, tuple(bytes.fromhex(node) for node in nodes))


def _check_range(leaf_hashes: Sequence[bytes], size: int, what: str) -> None:
    if size > len(leaf_hashes):
        raise ValueError(f"{what} {size} exceeds the {len(leaf_hashes)} leaves supplied")


RangeHash = Callable[[int, int], bytes]  # MTH over leaves[lo:hi]


def _path(mth: RangeHash, m: int, lo: int, hi: int) -> list[bytes]:
    """Return PATH(m, leaves[lo:hi]) from RFC 9162 §2.1.3.1."""
    if hi - lo == 1:
        return []
    k = _split(hi - lo)
    if m < k:
        return [*_path(mth, m, lo, lo + k), mth(lo + k, hi)]
    return [*_path(mth, m - k, lo + k, hi), mth(lo, lo + k)]


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, tree_size: int) -> list[bytes]:
    """Return the audit path proving leaf `index` is in the first `tree_size` leaves."""
    if not 0 <= index < tree_size:
        raise ValueError(f"leaf index {index} is outside a tree of size {tree_size}")
    _check_range(leaf_hashes, tree_size, "tree size")
    return _path(lambda lo, hi: _mth(leaf_hashes, lo, hi), index, 0, tree_size)


def _subproof(mth: RangeHash, m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
    """Return SUBPROOF(m, leaves[lo:hi], b) from RFC 9162 §2.1.4.1."""
    n = hi - lo
    if m == n:
        return [] if complete else [mth(lo, hi)]
    k = _split(n)
    if m <= k:
        return [*_subproof(mth, m, lo, lo + k, complete), mth(lo + k, hi)]
    return [*_subproof(mth, m - k, lo + k, hi, False), mth(lo, lo + k)]


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int, new_size: int) -> list[bytes]:
    """Return the proof that the first `old_size` leaves are a prefix of the first `new_size`."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"need 0 <= old_size <= new_size, got {old_size} and {new_size}")
    _check_range(leaf_hashes, new_size, "new size")
    if old_size in (0, new_size):
        return []
    return _subproof(lambda lo, hi: _mth(leaf_hashes, lo, hi), old_size, 0, new_size, True)


class MerkleTree:
    """Every level of the tree over the leaves appended so far: any root or proof then costs O(log² n) hashes."""

    def __init__(self) -> None:
        self._levels: list[list[bytes]] = [[]]

    @property
    def size(self) -> int:
        """Return how many leaves were appended."""
        return len(self._levels[0])

    def append(self, leaf_hash: bytes) -> None:
        """Append one already-hashed leaf, completing every perfect subtree it closes."""
        if not _is_digest(leaf_hash):
            raise ValueError(f"leaf hash must be a {HASH_SIZE}-byte digest")
        self._levels[0].append(leaf_hash)
        index, height = self.size - 1, 0
        while index & 1:
            level = self._levels[height]
            if height + 1 == len(self._levels):
                self._levels.append([])
            self._levels[height + 1].append(node_hash(level[index - 1], level[index]))
            index, height = index >> 1, height + 1

    def _range_hash(self, lo: int, hi: int) -> bytes:
        n = hi - lo
        if n & (n - 1) == 0 and lo % n == 0:  # a perfect, aligned subtree: already computed
            height = n.bit_length() - 1
            return self._levels[height][lo >> height]
        k = _split(n)
        return node_hash(self._range_hash(lo, lo + k), self._range_hash(lo + k, hi))

    def root(self, size: int | None = None) -> bytes:
        """Return the root of the first `size` leaves (all of them by default)."""
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise ValueError(f"tree size {size} is outside 0..{self.size}")
        return self._range_hash(0, size) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        """Return the audit path of leaf `index` in the first `tree_size` leaves."""
        if not 0 <= index < tree_size <= self.size:
            raise ValueError(f"leaf index {index} is outside a tree of size {tree_size}")
        return _path(self._range_hash, index, 0, tree_size)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """Return the proof that the first `old_size` leaves are a prefix of the first `new_size`."""
        if not 0 <= old_size <= new_size <= self.size:
            raise ValueError(f"need 0 <= old_size <= new_size <= {self.size}, got {old_size} and {new_size}")
        if old_size in (0, new_size):
            return []
        return _subproof(self._range_hash, old_size, 0, new_size, True)


def verify_inclusion(
    *, leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Check an inclusion proof with the RFC 9162 §2.1.3.2 algorithm."""
    if not 0 <= index < tree_size:
        return False
    if not (_is_digest(leaf_hash) and _is_digest(root) and all(_is_digest(p) for p in proof)):
        return False
    fn, sn, r = index, tree_size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and hmac.compare_digest(r, root)


def verify_consistency(
    *, old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Check a consistency proof with the RFC 9162 §2.1.4.2 algorithm."""
    if not 0 <= old_size <= new_size:
        return False
    if not (_is_digest(old_root) and _is_digest(new_root) and all(_is_digest(c) for c in proof)):
        return False
    # The RFC algorithm covers 0 < old_size < new_size; the edge cases need an empty proof.
    if old_size == new_size:
        return not proof and hmac.compare_digest(old_root, new_root)
    if old_size == 0:
        return not proof and hmac.compare_digest(old_root, EMPTY_ROOT)
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and hmac.compare_digest(fr, old_root) and hmac.compare_digest(sr, new_root)
