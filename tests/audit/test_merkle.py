"""RFC 6962 hashing and proofs, checked against transparency-dev/merkle's reference vectors
(code nobody here wrote) and against our own proofs at many tree sizes."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from chamberlain.audit import (
    EMPTY_ROOT,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "vectors" / "rfc6962-merkle" / "testdata"


def vectors(kind: str) -> list[Any]:
    if not VECTORS.is_dir():
        pytest.fail(f"reference vectors not found at {VECTORS} (../shared/vectors beside the checkout)")
    files = sorted((VECTORS / kind).rglob("*.json"))
    assert files, f"no {kind} vectors in {VECTORS}"
    return [pytest.param(json.loads(f.read_text()), id=str(f.relative_to(VECTORS / kind))) for f in files]


def b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def hashes(values: list[str] | None) -> list[bytes]:
    return [b64(v) for v in values or []]


@pytest.mark.parametrize("case", vectors("inclusion"))
def test_inclusion_vectors(case: dict[str, Any]) -> None:
    def check() -> None:
        verify_inclusion(case["leafIdx"], case["treeSize"], b64(case["leafHash"]), hashes(case["proof"]), b64(case["root"]))

    if case["wantErr"]:
        with pytest.raises(ProofError):
            check()
    else:
        check()


@pytest.mark.parametrize("case", vectors("consistency"))
def test_consistency_vectors(case: dict[str, Any]) -> None:
    def check() -> None:
        verify_consistency(case["size1"], case["size2"], b64(case["root1"]), b64(case["root2"]), hashes(case["proof"]))

    if case["wantErr"]:
        with pytest.raises(ProofError):
            check()
    else:
        check()


SIZES = sorted({*range(1, 40), *(p + d for p in (64, 128, 256, 512, 1024) for d in (-1, 0, 1))})
LEAVES = [leaf_hash(f"entry {i}".encode()) for i in range(max(SIZES))]


def test_known_roots() -> None:
    assert root([]) == EMPTY_ROOT
    assert root([leaf_hash(b"")]).hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    a, b, c = LEAVES[:3]
    assert root([a, b]) == node_hash(a, b) and root([a, b, c]) == node_hash(node_hash(a, b), c)


@pytest.mark.parametrize("size", SIZES)
def test_every_leaf_proves_inclusion_and_every_prefix_consistency(size: int) -> None:
    leaves = LEAVES[:size]
    top = root(leaves)
    for index in sorted({0, 1, size // 2, size - 2, size - 1} & set(range(size))):
        proof = inclusion_proof(index, leaves)
        verify_inclusion(index, size, leaves[index], proof, top)
        with pytest.raises(ProofError):
            verify_inclusion(index, size, leaf_hash(b"forged"), proof, top)
    for size1 in sorted({1, 2, size // 2, size - 1, size} & set(range(1, size + 1))):
        proof = consistency_proof(size1, leaves)
        verify_consistency(size1, size, root(leaves[:size1]), top, proof)
        if size1 < size:
            forked = [*leaves[: size1 - 1], leaf_hash(b"rewritten")]
            with pytest.raises(ProofError):
                verify_consistency(size1, size, root(forked), top, proof)
