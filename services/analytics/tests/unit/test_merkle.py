"""The Merkle tree of RFC 9162: known roots, and every proof it makes verifies (and only those)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dondoc_analytics.domain import merkle

pytestmark = pytest.mark.unit

# The reference leaves and roots used by Certificate Transparency implementations.
LEAVES = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43",
          b"\x50\x51\x52\x53\x54\x55\x56\x57",
          b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f"]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def _hashes(n: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def test_the_reference_roots() -> None:
    hashes = [merkle.leaf_hash(leaf) for leaf in LEAVES]
    for size, expected in enumerate(ROOTS, start=1):
        assert merkle.root(hashes[:size]).hex() == expected
    assert merkle.root([]) == hashlib.sha256(b"").digest()


def test_the_frontier_gives_every_prefix_root_in_one_pass() -> None:
    hashes = _hashes(300)
    frontier = merkle.Frontier()
    for n, h in enumerate(hashes, start=1):
        frontier.append(h)
        assert frontier.root() == merkle.root(hashes[:n])
    resumed = merkle.Frontier(frontier.size, frontier.hashes())
    resumed.append(merkle.leaf_hash(b"next"))
    assert resumed.root() == merkle.root([*hashes, merkle.leaf_hash(b"next")])


@settings(max_examples=200)
@given(st.integers(1, 140).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))))
def test_inclusion_proofs_verify_and_a_wrong_leaf_or_root_does_not(case: tuple[int, int]) -> None:
    size, index = case
    hashes = _hashes(size)
    mth = merkle.range_hash_of(hashes)
    root = mth(0, size)
    proof = merkle.inclusion_proof(index, size, mth)
    assert merkle.verify_inclusion(hashes[index], index, size, proof, root)
    assert not merkle.verify_inclusion(merkle.leaf_hash(b"forged"), index, size, proof, root)
    assert not merkle.verify_inclusion(hashes[index], index, size, proof, merkle.leaf_hash(b"x"))
    if size > 1:
        other = (index + 1) % size
        assert not merkle.verify_inclusion(hashes[index], other, size, proof, root)


@settings(max_examples=200)
@given(st.integers(1, 140).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n))))
def test_consistency_proofs_verify_between_any_two_sizes(case: tuple[int, int]) -> None:
    first, second = case
    hashes = _hashes(second)
    mth = merkle.range_hash_of(hashes)
    proof = merkle.consistency_proof(first, second, mth)
    old, new = mth(0, first), mth(0, second)
    assert merkle.verify_consistency(first, second, old, new, proof)
    if first < second:
        forged = merkle.root([*hashes[: first - 1], merkle.leaf_hash(b"rewritten")])
        assert not merkle.verify_consistency(first, second, forged, new, proof)


def test_a_rewritten_history_has_no_consistency_proof() -> None:
    hashes = _hashes(20)
    rewritten = list(hashes)
    rewritten[3] = merkle.leaf_hash(b"changed")
    old = merkle.root(hashes[:10])
    mth = merkle.range_hash_of(rewritten)
    proof = merkle.consistency_proof(10, 20, mth)
    assert not merkle.verify_consistency(10, 20, old, mth(0, 20), proof)
