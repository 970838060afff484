"""Chamberlain's proofs and checkpoints, checked by code no one here wrote: the verifier
inside Sigstore's Python client (``sigstore``, Trail of Bits), which checks Rekor's
inclusion proofs and signed-note checkpoints.

Its inclusion verifier reads a Rekor log entry; we hand it one built from our proof (the
fields it reads: the entry's bytes, index, tree size, proof hashes and root). Its
checkpoint code parses the note and verifies the Ed25519 signature through its own
keyring.
"""

from __future__ import annotations

import base64
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sigstore._internal.merkle import verify_merkle_inclusion
from sigstore._internal.rekor.checkpoint import SignedCheckpoint
from sigstore._internal.trust import Keyring
from sigstore._utils import KeyID
from sigstore.errors import VerificationError
from sigstore_models.common import v1 as common_v1

from chamberlain.app import Runtime
from tests.audit.test_log import fill


def rekor_entry(proof: dict[str, object], root: bytes) -> SimpleNamespace:
    hashes = [base64.b64decode(h) for h in proof["inclusion"]]  # type: ignore[attr-defined]
    inclusion = SimpleNamespace(log_index=proof["index"], tree_size=proof["tree_size"], hashes=hashes, root_hash=root)
    return SimpleNamespace(_inner=SimpleNamespace(inclusion_proof=inclusion, canonicalized_body=str(proof["canonical"]).encode()))


def keyring(public: bytes) -> Keyring:
    raw = Ed25519PublicKey.from_public_bytes(public).public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    # The protobuf model takes bytes as protobuf JSON does: base64.
    return Keyring([common_v1.PublicKey(raw_bytes=base64.b64encode(raw), key_details=common_v1.PublicKeyDetails.PKIX_ED25519)])


@pytest.mark.parametrize("size", [1, 2, 3, 37, 64, 100])
async def test_sigstore_verifies_our_inclusion_proofs(runtime: Runtime, size: int) -> None:
    await fill(runtime, "acme", size)
    signed = await runtime.audit.checkpoint("acme")
    for index in range(size):
        proof = await runtime.audit.inclusion("acme", index)
        verify_merkle_inclusion(rekor_entry(proof, signed.checkpoint.root))  # type: ignore[arg-type]
    if size > 1:
        proof = await runtime.audit.inclusion("acme", size - 1)
        proof["inclusion"][0] = base64.b64encode(b"\x07" * 32).decode()
        with pytest.raises(VerificationError):
            verify_merkle_inclusion(rekor_entry(proof, signed.checkpoint.root))  # type: ignore[arg-type]


async def test_sigstore_reads_and_verifies_our_checkpoints(runtime: Runtime) -> None:
    await fill(runtime, "acme", 9)
    signed = await runtime.audit.checkpoint("acme")
    key = await runtime.audit.verifier("acme")
    parsed = SignedCheckpoint.from_text(signed.note)
    assert parsed.checkpoint.origin == key.name
    assert parsed.checkpoint.log_size == 9
    assert parsed.checkpoint.log_hash == signed.checkpoint.root.hex()
    parsed.signed_note.verify(keyring(key.public), KeyID(key.id))  # type: ignore[arg-type]

    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    with pytest.raises(VerificationError):
        parsed.signed_note.verify(keyring(other), KeyID(key.id))  # type: ignore[arg-type]
    edited = SignedCheckpoint.from_text(signed.note.replace("\n9\n", "\n8\n", 1))
    with pytest.raises(VerificationError):
        edited.signed_note.verify(keyring(key.public), KeyID(key.id))  # type: ignore[arg-type]
