"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verification.

The hashes are the standard ones (SHA-256, leaf prefix 0x00, node prefix 0x01), so
any transparency-log verifier can check Chamberlain's audit log, and this module is
checked against the reference vectors of transparency-dev/merkle. Verification
follows RFC 9162 section 2.1.3.2 and 2.1.4.2; proof generation follows RFC 6962
section 2.1.1 and 2.1.2 over a list of leaf hashes (the audit store computes the
same proofs from stored subtree hashes, in O(log n) reads).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof that does not prove what it claims; the message says why."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of the leaf hashes, without recursion (a stack of perfect subtrees)."""
    if not leaves:
        return EMPTY_ROOT
    stack: list[tuple[int, bytes]] = []  # (height, hash), heights strictly decreasing
    for leaf in leaves:
        height, value = 0, leaf
        while stack and stack[-1][0] == height:
            value = node_hash(stack.pop()[1], value)
            height += 1
        stack.append((height, value))
    value = stack.pop()[1]
    while stack:
        value = node_hash(stack.pop()[1], value)
    return value


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges [lo, hi) whose subtree hashes make PATH(index, D[size]), bottom-up.

    Proofs are described as ranges first so that a store can read every hash they
    need in one query (each range is a few stored perfect subtrees, see ``perfect_subtrees``).
    """
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index - lo < k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    return ranges[::-1]


def consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """The leaf ranges whose subtree hashes make PROOF(size1, D[size2]), for 0 < size1 <= size2."""
    if not 0 < size1 <= size2:
        raise ProofError(f"no consistency proof from size {size1} to size {size2}")
    ranges: list[tuple[int, int]] = []
    lo, hi, m, whole = 0, size2, size1, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        ranges.append((lo, hi))
    return ranges[::-1]


def perfect_subtrees(lo: int, hi: int) -> list[tuple[int, int]]:
    """The perfect subtrees (level, index at that level) that make up leaves [lo, hi), left
    to right. For the ranges of a proof (``lo`` aligned to a power of two >= hi - lo) they
    follow the bits of hi - lo, so there are at most log2(n) + 1 of them."""
    parts: list[tuple[int, int]] = []
    while lo < hi:
        level = min((lo & -lo).bit_length() - 1 if lo else 63, (hi - lo).bit_length() - 1)
        parts.append((level, lo >> level))
        lo += 1 << level
    return parts


def fold(subtrees: Sequence[bytes]) -> bytes:
    """The RFC 6962 hash of a range from its perfect subtrees' hashes (left to right)."""
    value = subtrees[-1]
    for left in reversed(subtrees[:-1]):
        value = node_hash(left, value)
    return value


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]): the audit path of leaf ``index``."""
    return [root(leaves[lo:hi]) for lo, hi in inclusion_ranges(index, len(leaves))]


def consistency_proof(size1: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) for 0 < m <= n: how the tree of the first ``size1`` leaves is a prefix."""
    return [root(leaves[lo:hi]) for lo, hi in consistency_ranges(size1, len(leaves))]


def _check_sizes(*hashes: bytes) -> None:
    for h in hashes:
        if len(h) != HASH_SIZE:
            raise ProofError(f"a hash is {len(h)} bytes, not {HASH_SIZE}")


def _inner_border(index: int, size: int) -> tuple[int, int]:
    inner = (index ^ (size - 1)).bit_length()
    return inner, bin(index >> inner).count("1")


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        seed = node_hash(seed, h) if (index >> i) & 1 == 0 else node_hash(h, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        if (index >> i) & 1 == 1:
            seed = node_hash(h, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for h in proof:
        seed = node_hash(h, seed)
    return seed


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` leads to from leaf ``index`` of a tree of ``size``."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    _check_sizes(leaf, *proof)
    inner, border = _inner_border(index, size)
    if len(proof) != inner + border:
        raise ProofError(f"an inclusion proof for leaf {index} of {size} has {inner + border} hashes, not {len(proof)}")
    return _chain_border_right(_chain_inner(leaf, proof[:inner], index), proof[inner:])


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes) -> None:
    """Raise ProofError unless leaf ``index`` is in the tree of ``size`` with ``expected_root``."""
    _check_sizes(expected_root)
    if root_from_inclusion(index, size, leaf, proof) != expected_root:
        raise ProofError(f"the proof for leaf {index} does not lead to the root of the tree of size {size}")


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> None:
    """Raise ProofError unless the tree of ``size1`` with ``root1`` is a prefix of the tree
    of ``size2`` with ``root2``."""
    if size1 > size2:
        raise ProofError(f"size {size1} is larger than size {size2}: a log never shrinks")
    if size1 == 0:
        raise ProofError("a consistency proof from an empty tree proves nothing")
    if size1 == size2:
        if proof:
            raise ProofError("equal sizes need an empty proof")
        if root1 != root2:
            raise ProofError(f"two different roots for the same size {size1}: the log forked")
        return
    if not proof:
        raise ProofError("an empty proof between different sizes")
    _check_sizes(root1, root2, *proof)
    inner, border = _inner_border(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift
    seed, start = (root1, 0) if size1 == 1 << shift else (proof[0], 1)
    if len(proof) != start + inner + border:
        raise ProofError(f"a consistency proof from {size1} to {size2} has {start + inner + border} hashes, not {len(proof)}")
    rest = proof[start:]
    mask = (size1 - 1) >> shift
    if _chain_border_right(_chain_inner_right(seed, rest[:inner], mask), rest[inner:]) != root1:
        raise ProofError(f"the proof does not lead to the root of size {size1}")
    if _chain_border_right(_chain_inner(seed, rest[:inner], mask), rest[inner:]) != root2:
        raise ProofError(f"the proof does not lead to the root of size {size2}: the log was rewritten")
