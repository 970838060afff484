"""The ``eddsa-jcs-2022`` Data Integrity cryptosuite (https://www.w3.org/TR/vc-di-eddsa/#eddsa-jcs-2022).

A tenant signs what it claims (a price, a return policy, a certification) so that a
shopping agent can check the claim came from the tenant and was not edited on the way,
with nothing but the tenant's public key. JCS rather than RDF canonicalization: the
verifier needs no JSON-LD processor and no network, and the W3C test vectors pin down
every byte.

The steps are public so tests can hold each one to the vectors: :func:`proof_config`,
:func:`canonical_document`, :func:`canonical_proof_config`, :func:`document_hash`,
:func:`proof_config_hash` and :func:`hash_data`.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ._multibase import multibase_decode, multibase_encode

__all__ = [
    "CRYPTOSUITE",
    "PROOF_TYPE",
    "KeyResolver",
    "ProofError",
    "VerificationResult",
    "canonical_document",
    "canonical_proof_config",
    "document_hash",
    "hash_data",
    "parse_datetime",
    "proof_config",
    "proof_config_hash",
    "sign",
    "verify",
]

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-jcs-2022"
_SIGNATURE_BYTES = 64
_MAX_PROOF_VALUE = 128
"""A 64-byte signature is at most 88 base58 characters; anything much longer is not one,
and is not worth the quadratic cost of decoding it."""

KeyResolver = Callable[[str], Ed25519PublicKey]
"""Gives the public key of a ``verificationMethod``; raises ``ValueError`` or ``LookupError``
(reported as a problem) when it has none it trusts."""


class ProofError(ValueError):
    """Proof options or a document that cannot be signed (a mistake of the signer's caller)."""


@dataclass(frozen=True)
class VerificationResult:
    """Whether a secured document verified and, if not, every reason why not.

    ``verified_document`` is the document as signed (no ``proof``, with the proof's
    ``@context``), only when verified: read the claim from it, not from the input.
    """

    verified: bool
    problems: list[str] = field(default_factory=list)
    verification_method: str | None = None
    verified_document: dict[str, Any] | None = None


_DATETIME = re.compile(
    r"(-?[0-9]{4,})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?",
    re.ASCII,
)


def parse_datetime(text: object, *, zone_required: bool = True) -> datetime:
    """An XML Schema ``dateTime`` (``dateTimeStamp`` when ``zone_required``) as an aware datetime.

    Stricter than :meth:`datetime.fromisoformat`, which also takes spaces, week dates and
    missing seconds that the specs do not allow. A value without a zone is taken as UTC.
    """
    match = _DATETIME.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not an XML Schema dateTime such as 2025-01-31T12:00:00Z")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if zone is None and zone_required:
        raise ValueError(f"{text!r} has no time zone (add Z or an offset such as +01:00)")
    offset = timedelta(0)
    if zone not in (None, "Z"):
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if minutes > 59 or hours * 60 + minutes > 14 * 60:
            raise ValueError(f"{text!r} has an impossible time zone offset")
        offset = (-1 if zone[0] == "-" else 1) * timedelta(hours=hours, minutes=minutes)
    micros = int((fraction or ".0")[1:7].ljust(6, "0"))
    end_of_day = (hour, minute, second) == ("24", "00", "00") and not (fraction or "").strip(".0")
    try:
        value = datetime(
            int(year), int(month), int(day), 0 if end_of_day else int(hour), int(minute), int(second), micros, timezone(offset)
        )
        return value + timedelta(days=1) if end_of_day else value
    except (ValueError, OverflowError) as err:
        raise ValueError(f"{text!r} is not a date and time this verifier can represent ({err})") from None


def _utc_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def proof_config(
    document: Mapping[str, Any],
    *,
    verification_method: str,
    created: str | None = None,
    proof_purpose: str = "assertionMethod",
    expires: str | None = None,
    domain: str | list[str] | None = None,
    challenge: str | None = None,
    nonce: str | None = None,
) -> dict[str, Any]:
    """The proof options a proof is made from, with the document's ``@context`` copied in
    (the spec's step 2 of Create Proof for JCS). ``created`` defaults to now, in UTC."""
    if not isinstance(verification_method, str) or not verification_method:
        raise ProofError("verification_method must be a non-empty string: the URL of the signing key")
    if not isinstance(proof_purpose, str) or not proof_purpose:
        raise ProofError("proof_purpose must be a non-empty string, such as 'assertionMethod'")
    config: dict[str, Any] = {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": _utc_stamp(datetime.now(UTC)) if created is None else created,
        "verificationMethod": verification_method,
        "proofPurpose": proof_purpose,
    }
    optional = {"expires": expires, "domain": copy.copy(domain), "challenge": challenge, "nonce": nonce}
    config.update({name: value for name, value in optional.items() if value is not None})
    if "@context" in document:
        config["@context"] = copy.deepcopy(document["@context"])
    for name in ("created", "expires"):
        if name in config:
            _checked_datetime(config[name], name, zone_required=True)
    canonical_proof_config(config)
    return config


def _checked_datetime(value: object, name: str, *, zone_required: bool) -> datetime:
    try:
        return parse_datetime(value, zone_required=zone_required)
    except ValueError as err:
        raise ProofError(f"proof {name}: {err}") from None


def canonical_proof_config(config: Mapping[str, Any]) -> bytes:
    """RFC 8785 bytes of a proof configuration (its ``proofValue``, if any, left out).

    Raises :class:`ProofError` unless it is a ``DataIntegrityProof`` of this cryptosuite
    with a valid ``created``, as the spec's Proof Configuration step requires.
    """
    if config.get("type") != PROOF_TYPE or config.get("cryptosuite") != CRYPTOSUITE:
        raise ProofError(f"proof must be a {PROOF_TYPE!r} with cryptosuite {CRYPTOSUITE!r}")
    if "created" in config:
        _checked_datetime(config["created"], "created", zone_required=False)
    return rfc8785.dumps({name: value for name, value in config.items() if name != "proofValue"})


def canonical_document(document: Mapping[str, Any]) -> bytes:
    """RFC 8785 bytes of the document without its ``proof``: the transformed data."""
    return rfc8785.dumps({name: value for name, value in document.items() if name != "proof"})


def document_hash(document: Mapping[str, Any]) -> bytes:
    return hashlib.sha256(canonical_document(document)).digest()


def proof_config_hash(config: Mapping[str, Any]) -> bytes:
    return hashlib.sha256(canonical_proof_config(config)).digest()


def hash_data(document: Mapping[str, Any], config: Mapping[str, Any]) -> bytes:
    """What is signed: SHA-256 of the proof configuration, then SHA-256 of the document (64 bytes)."""
    return proof_config_hash(config) + document_hash(document)


def sign(
    document: Mapping[str, Any],
    key: Ed25519PrivateKey,
    *,
    verification_method: str,
    created: str | None = None,
    proof_purpose: str = "assertionMethod",
    expires: str | None = None,
    domain: str | list[str] | None = None,
    challenge: str | None = None,
    nonce: str | None = None,
) -> dict[str, Any]:
    """A copy of ``document`` with an ``eddsa-jcs-2022`` proof by ``key``.

    ``verification_method`` is the URL at which verifiers find the public key (a
    Multikey). Ed25519 is deterministic: the same inputs give the same bytes.
    """
    if not isinstance(document, Mapping):
        raise ProofError(f"can only sign a JSON object, not {type(document).__name__}")
    if "proof" in document:
        raise ProofError("the document already has a proof; proof sets and chains are not supported")
    config = proof_config(
        document,
        verification_method=verification_method,
        created=created,
        proof_purpose=proof_purpose,
        expires=expires,
        domain=domain,
        challenge=challenge,
        nonce=nonce,
    )
    signature = key.sign(hash_data(document, config))
    return {**copy.deepcopy(dict(document)), "proof": {**config, "proofValue": multibase_encode(signature)}}


def verify(
    document: object,
    public_key: Ed25519PublicKey | KeyResolver,
    *,
    now: datetime | None = None,
    expected_proof_purpose: str | None = "assertionMethod",
    domain: str | list[str] | None = None,
    challenge: str | None = None,
) -> VerificationResult:
    """Check a secured document's ``eddsa-jcs-2022`` proof and the credential's validity period.

    ``public_key`` is the key itself, or a resolver given the proof's ``verificationMethod``.
    Never raises on what the document holds: every fault comes back as a problem, and
    ``verified`` is true only when there are none. ``domain`` and ``challenge``, when
    given, must match the proof's (Data Integrity's replay protection).
    """
    moment = datetime.now(UTC) if now is None else now
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    try:
        return _verify(document, public_key, moment, expected_proof_purpose, domain, challenge)
    except RecursionError:
        return VerificationResult(False, ["the document is nested too deeply to canonicalize"])


def _verify(
    document: object,
    public_key: Ed25519PublicKey | KeyResolver,
    now: datetime,
    expected_purpose: str | None,
    domain: str | list[str] | None,
    challenge: str | None,
) -> VerificationResult:
    if not isinstance(document, Mapping):
        return VerificationResult(False, ["the document is not a JSON object"])
    proof = document.get("proof")
    if proof is None:
        return VerificationResult(False, ["the document has no proof"])
    if isinstance(proof, list):
        return VerificationResult(False, ["proof sets and chains are not supported: expected a single proof"])
    if not isinstance(proof, Mapping):
        return VerificationResult(False, ["the proof is not a JSON object"])
    method = proof.get("verificationMethod")
    method = method if isinstance(method, str) and method else None
    problems = _suite_problems(proof)
    if problems:
        return VerificationResult(False, problems, method)
    problems += _option_problems(proof, method, now, expected_purpose, domain, challenge)
    signature = _signature(proof.get("proofValue"), problems)
    unsecured = _unsecured(document, proof, problems)
    key = _key(public_key, method, problems)
    if signature is not None and unsecured is not None and key is not None:
        _check_signature(unsecured, proof, signature, key, problems)
    problems += _validity_problems(document, now)
    verified = not problems
    return VerificationResult(verified, problems, method, copy.deepcopy(unsecured) if verified else None)


def _suite_problems(proof: Mapping[str, Any]) -> list[str]:
    problems = []
    if proof.get("type") != PROOF_TYPE:
        problems.append(f"proof type must be {PROOF_TYPE!r}, not {_short(proof.get('type'))}")
    if proof.get("cryptosuite") != CRYPTOSUITE:
        problems.append(f"proof cryptosuite must be {CRYPTOSUITE!r}, not {_short(proof.get('cryptosuite'))}")
    return problems


def _option_problems(
    proof: Mapping[str, Any],
    method: str | None,
    now: datetime,
    expected_purpose: str | None,
    domain: str | list[str] | None,
    challenge: str | None,
) -> list[str]:
    problems = []
    if method is None:
        problems.append("the proof has no verificationMethod")
    purpose = proof.get("proofPurpose")
    if not isinstance(purpose, str):
        problems.append("the proof has no proofPurpose")
    elif expected_purpose is not None and purpose != expected_purpose:
        problems.append(f"proof purpose is {_short(purpose)}, expected {expected_purpose!r}")
    if "created" in proof:
        try:
            parse_datetime(proof["created"], zone_required=False)
        except ValueError as err:
            problems.append(f"proof created: {err}")
    if "expires" in proof:
        try:
            if now >= parse_datetime(proof["expires"]):
                problems.append(f"the proof expired at {proof['expires']}")
        except ValueError as err:
            problems.append(f"proof expires: {err}")
    if domain is not None and _as_set(proof.get("domain")) != _as_set(domain):
        problems.append(f"proof domain is {_short(proof.get('domain'))}, expected {domain!r}")
    if challenge is not None and proof.get("challenge") != challenge:
        problems.append(f"proof challenge is {_short(proof.get('challenge'))}, expected {challenge!r}")
    return problems


def _as_set(value: object) -> frozenset[object] | None:
    if isinstance(value, str):
        return frozenset([value])
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return frozenset(value)
    return None


def _signature(value: object, problems: list[str]) -> bytes | None:
    if not isinstance(value, str):
        problems.append("the proof has no proofValue string")
        return None
    if len(value) > _MAX_PROOF_VALUE:
        problems.append(f"proofValue is {len(value)} characters, too long for an Ed25519 signature")
        return None
    try:
        signature = multibase_decode(value)
    except ValueError as err:
        problems.append(f"proofValue: {err}")
        return None
    if len(signature) != _SIGNATURE_BYTES:
        problems.append(f"proofValue holds {len(signature)} bytes, an Ed25519 signature is {_SIGNATURE_BYTES}")
        return None
    return signature


def _unsecured(document: Mapping[str, Any], proof: Mapping[str, Any], problems: list[str]) -> dict[str, Any] | None:
    """The document as signed: no proof and, if the proof has one, the proof's ``@context``,
    which the document's must start with (Verify Proof, step 4)."""
    unsecured = {name: value for name, value in document.items() if name != "proof"}
    if "@context" not in proof:
        return unsecured
    signed, present = _as_list(proof["@context"]), _as_list(document.get("@context"))
    try:
        matches = rfc8785.dumps(cast(Any, present[: len(signed)])) == rfc8785.dumps(cast(Any, signed))
    except ValueError:
        matches = False
    if not matches:
        problems.append("the proof's @context does not match the start of the document's @context")
        return None
    unsecured["@context"] = proof["@context"]
    return unsecured


def _as_list(context: object) -> list[object]:
    if context is None:
        return []
    return context if isinstance(context, list) else [context]


def _key(public_key: Ed25519PublicKey | KeyResolver, method: str | None, problems: list[str]) -> Ed25519PublicKey | None:
    if isinstance(public_key, Ed25519PublicKey):
        return public_key
    if not callable(public_key):
        raise TypeError(f"public_key must be an Ed25519PublicKey or a resolver, not {type(public_key).__name__}")
    if method is None:
        return None
    try:
        key = public_key(method)
    except (ValueError, LookupError) as err:
        problems.append(f"no trusted key for {method}: {err}")
        return None
    if not isinstance(key, Ed25519PublicKey):
        problems.append(f"the key for {method} is not an Ed25519 key")
        return None
    return key


def _check_signature(
    unsecured: dict[str, Any], proof: Mapping[str, Any], signature: bytes, key: Ed25519PublicKey, problems: list[str]
) -> None:
    options = {name: value for name, value in proof.items() if name != "proofValue"}
    try:
        data = hash_data(unsecured, options)
    except ProofError:
        return  # a bad ``created``, already reported
    except ValueError as err:
        problems.append(f"cannot canonicalize: {err}")
        return
    try:
        key.verify(signature, data)
    except InvalidSignature:
        problems.append("the signature does not match: the document or its proof was changed, or signed by another key")


def _validity_problems(document: Mapping[str, Any], now: datetime) -> list[str]:
    """VC 2.0 ``validFrom`` / ``validUntil``: a true signature on a stale claim is still stale."""
    problems = []
    for name in ("validFrom", "validUntil"):
        if name not in document:
            continue
        try:
            moment = parse_datetime(document[name])
        except ValueError as err:
            problems.append(f"{name}: {err}")
            continue
        if name == "validFrom" and now < moment:
            problems.append(f"not yet valid: validFrom is {document[name]}")
        if name == "validUntil" and now > moment:
            problems.append(f"expired: validUntil was {document[name]}")
    return problems


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
