"""SM3 from cryptography, whatever OpenSSL hashlib was built with: the GB/T 32905-2016 test vectors."""

from __future__ import annotations

from vault.exports.hashing import MultiHasher, Sm3

ABC = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
ABCD_16 = "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"


def test_sm3_gives_the_standard_digests() -> None:
    assert Sm3(b"abc").hexdigest() == ABC
    streamed = Sm3()
    for _ in range(16):
        streamed.update(b"abcd")
    assert streamed.hexdigest() == ABCD_16


def test_the_multi_hasher_computes_sm3_beside_sha256_in_chunks() -> None:
    with MultiHasher(["sha256", "sm3"]) as hasher:
        for chunk in (b"a", b"b", b"c"):
            hasher.update(chunk)
        digests = hasher.hexdigests()
    assert digests["sm3"] == ABC
    assert digests["sha256"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
