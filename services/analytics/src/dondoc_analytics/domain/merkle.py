"""Merkle trees over a service's log in the shape of RFC 9162 (Certificate Transparency 2.0).

- leaf hash: SHA-256(0x00 ‖ leaf), node hash: SHA-256(0x01 ‖ left ‖ right);
- the tree hash MTH(D[n]) splits at the largest power of two k < n (§2.1.1);
- inclusion proofs PATH(m, D[n]) and consistency proofs PROOF(m, D[n]) (§2.1.3.1, §2.1.4.1)
  and their verification algorithms (§2.1.3.2, §2.1.4.2), exactly as written there.

The leaves of dondoc's trees are the canonical bytes of the stored events
(`dondoc_platform.audit_chain.canonical_bytes`), in log order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


#: MTH over the leaves [lo, hi) of a tree, however the tree is stored.
RangeHash = Callable[[int, int], bytes]


def range_hash_of(leaf_hashes: Sequence[bytes]) -> RangeHash:
    """MTH over a list of leaf hashes held in memory."""

    def mth(lo: int, hi: int) -> bytes:
        n = hi - lo
        if n == 0:
            return EMPTY_ROOT
        if n == 1:
            return leaf_hashes[lo]
        k = split_point(n)
        return node_hash(mth(lo, lo + k), mth(lo + k, hi))

    return mth


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    return range_hash_of(leaf_hashes)(0, len(leaf_hashes))


def inclusion_proof(index: int, size: int, mth: RangeHash) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")

    def path(m: int, lo: int, hi: int) -> list[bytes]:
        n = hi - lo
        if n == 1:
            return []
        k = split_point(n)
        if m < k:
            return path(m, lo, lo + k) + [mth(lo + k, hi)]
        return path(m - k, lo + k, hi) + [mth(lo, lo + k)]

    return path(index, 0, size)


def consistency_proof(first: int, second: int, mth: RangeHash) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 §2.1.4.1 (empty when m == n or m == 0)."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    if first == 0 or first == second:
        return []

    def subproof(m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if complete else [mth(lo, hi)]
        k = split_point(n)
        if m <= k:
            return subproof(m, lo, lo + k, complete) + [mth(lo + k, hi)]
        return subproof(m - k, lo + k, hi, False) + [mth(lo, lo + k)]

    return subproof(first, 0, second, True)


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes],
                     root_hash: bytes) -> bool:
    """RFC 9162 §2.1.3.2, for the leaf hash `leaf` at `index` of a tree of `size` leaves."""
    if index >= size or index < 0:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root_hash


def verify_consistency(first: int, second: int, first_hash: bytes, second_hash: bytes,
                       proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: the tree of `second` leaves extends the tree of `first` leaves."""
    if first < 0 or second < first:
        return False
    if first == second:
        return not proof and first_hash == second_hash
    if first == 0:
        return not proof
    path = list(proof)
    if not path:
        return False
    if first & (first - 1) == 0:  # an exact power of two: the first tree is a subtree
        path.insert(0, first_hash)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0


class Frontier:
    """The roots of the perfect subtrees of a growing tree (a compact range from 0).

    Appending is O(1) amortised and the root is O(log n): a whole log is hashed in one
    pass with O(log n) memory. `snapshot()`/`restore()` let a checkpointer resume.
    """

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()) -> None:
        self.size = size
        self._stack: list[tuple[int, bytes]] = []
        remaining = size
        hashes = list(hashes)
        for h in hashes:  # the perfect subtrees of `size`, largest first
            width = 1 << (remaining.bit_length() - 1)
            self._stack.append((width, h))
            remaining -= width
        if remaining or len(hashes) != bin(size).count("1"):
            raise ValueError("a frontier needs one hash per perfect subtree of its size")

    def append(self, leaf_hash_value: bytes) -> None:
        width, h = 1, leaf_hash_value
        while self._stack and self._stack[-1][0] == width:
            left_width, left = self._stack.pop()
            h = node_hash(left, h)
            width += left_width
        self._stack.append((width, h))
        self.size += 1

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        r = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            r = node_hash(left, r)
        return r

    def hashes(self) -> list[bytes]:
        return [h for _, h in self._stack]
