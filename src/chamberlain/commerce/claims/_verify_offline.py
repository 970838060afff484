"""Verifying a signed claim with a key the verifier already holds.

A shopping agent caches the tenant's published Multikey (or whole controller document)
once, then checks every claim offline. The key is bound to the proof the way Controlled
Identifiers 1.0 "Retrieve Verification Method" binds it: the Multikey's ``id`` must be
the proof's ``verificationMethod``, and a controller document must list that key under
the proof's purpose.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ._multibase import public_key_from_multibase, public_key_multibase
from ._proof import KeyResolver, VerificationResult, parse_datetime, verify

__all__ = [
    "MULTIKEY_CONTEXT",
    "KeySource",
    "did_key_public_key",
    "key_from_document",
    "multikey_document",
    "verify_credential",
]

MULTIKEY_CONTEXT = "https://w3id.org/security/multikey/v1"

KeySource = Ed25519PublicKey | str | Mapping[str, Any]
"""A public key, its ``publicKeyMultibase``, or a Multikey or controller document holding it."""


def multikey_document(public_key: Ed25519PublicKey, *, id: str, controller: str) -> dict[str, Any]:
    """The Multikey a tenant publishes at ``id`` (the ``verificationMethod`` its proofs name)."""
    return {
        "@context": MULTIKEY_CONTEXT,
        "id": id,
        "type": "Multikey",
        "controller": controller,
        "publicKeyMultibase": public_key_multibase(public_key),
    }


def verify_credential(
    document: object,
    key: KeySource,
    *,
    now: datetime | None = None,
    expected_proof_purpose: str = "assertionMethod",
) -> VerificationResult:
    """Verify a signed credential against a key the caller trusts, with no network.

    A key in a document is used only if the document names it as the proof's
    ``verificationMethod``: a valid signature by some other key of the tenant's is not
    a claim made with this one. Problems with the key are reported, never raised.
    """
    moment = datetime.now(UTC) if now is None else now
    return verify(
        document, _resolver(key, moment, expected_proof_purpose), now=moment, expected_proof_purpose=expected_proof_purpose
    )


def _resolver(key: KeySource, now: datetime, proof_purpose: str) -> Ed25519PublicKey | KeyResolver:
    if isinstance(key, Ed25519PublicKey):
        return key
    if isinstance(key, str):
        text = key
        return lambda _method: public_key_from_multibase(text)
    if isinstance(key, Mapping):
        held = key
        return lambda method: key_from_document(held, method, proof_purpose=proof_purpose, now=now)
    raise TypeError(f"key must be an Ed25519PublicKey, a publicKeyMultibase or a Multikey document, not {type(key).__name__}")


def key_from_document(
    document: Mapping[str, Any],
    verification_method: str,
    *,
    proof_purpose: str = "assertionMethod",
    now: datetime | None = None,
) -> Ed25519PublicKey:
    """The key for ``verification_method`` in a Multikey or controller document; ``ValueError`` if none.

    For a controller document, its ``id`` must be the method's URL without the fragment,
    and the method must be listed (by reference or embedded) under ``proof_purpose``.
    A key past its ``expires`` or ``revoked`` time is refused.
    """
    moment = datetime.now(UTC) if now is None else now
    if document.get("type") == "Multikey":
        return _multikey(document, verification_method, moment)
    controller = verification_method.split("#", 1)[0]
    if document.get("id") != controller:
        raise ValueError(f"the controller document's id is {document.get('id')!r}, expected {controller!r}")
    methods = {_absolute(m.get("id"), controller): m for m in _objects(document.get("verificationMethod"))}
    for entry in _as_list(document.get(proof_purpose)):
        if isinstance(entry, str) and _absolute(entry, controller) == verification_method and verification_method in methods:
            return _multikey(methods[verification_method], verification_method, moment, controller)
        if isinstance(entry, Mapping) and _absolute(entry.get("id"), controller) == verification_method:
            return _multikey(entry, verification_method, moment, controller)
    if verification_method in methods:
        raise ValueError(f"{verification_method} is not listed under {proof_purpose!r} in its controller document")
    raise ValueError(f"the controller document has no verification method {verification_method}")


def did_key_public_key(verification_method: str) -> Ed25519PublicKey:
    """The Ed25519 key a ``did:key:z6Mk…#z6Mk…`` verification method spells out; ``ValueError`` otherwise.

    did:key needs no lookup, but proves only who holds the key, not who they are.
    """
    did, _, fragment = verification_method.partition("#")
    if not did.startswith("did:key:"):
        raise ValueError(f"{verification_method} is not a did:key")
    encoded = did.removeprefix("did:key:")
    if fragment != encoded:
        raise ValueError(f"{verification_method}: the fragment must repeat the did:key value")
    return public_key_from_multibase(encoded)


def _multikey(
    method: Mapping[str, Any], verification_method: str, now: datetime, controller: str | None = None
) -> Ed25519PublicKey:
    if method.get("type") != "Multikey":
        raise ValueError(f"verification method type is {method.get('type')!r}, expected 'Multikey'")
    if method.get("id") != verification_method and _absolute(method.get("id"), controller or "") != verification_method:
        raise ValueError(f"the Multikey's id {method.get('id')!r} is not the proof's verificationMethod {verification_method!r}")
    if controller is not None and method.get("controller") != controller:
        raise ValueError(f"the Multikey's controller {method.get('controller')!r} is not {controller!r}")
    for name, verb in (("revoked", "was revoked"), ("expires", "expired")):
        if name in method and now >= parse_datetime(method[name]):
            raise ValueError(f"the key {verb} at {method[name]}")
    encoded = method.get("publicKeyMultibase")
    if not isinstance(encoded, str):
        raise ValueError("the Multikey has no publicKeyMultibase")
    return public_key_from_multibase(encoded)


def _absolute(reference: object, base: str) -> str | None:
    """A method id as an absolute URL: ``#key-1`` is relative to its controller document."""
    if not isinstance(reference, str):
        return None
    return base + reference if reference.startswith("#") else reference


def _objects(value: object) -> list[Mapping[str, Any]]:
    return [item for item in _as_list(value) if isinstance(item, Mapping)]


def _as_list(value: object) -> list[object]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
