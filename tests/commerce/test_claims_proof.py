"""``eddsa-jcs-2022`` Data Integrity proofs, held byte for byte to the W3C vc-di-eddsa test
vectors (code nobody here wrote), then to every kind of tampering we could think of."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from chamberlain.commerce.claims import (
    CRYPTOSUITE,
    PROOF_TYPE,
    ProofError,
    b58decode,
    b58encode,
    canonical_document,
    canonical_proof_config,
    did_key_public_key,
    document_hash,
    hash_data,
    key_from_document,
    multibase_decode,
    multibase_encode,
    multikey_document,
    parse_datetime,
    private_key_from_multibase,
    private_key_multibase,
    proof_config,
    proof_config_hash,
    public_key_from_multibase,
    public_key_multibase,
    sign,
    verify,
    verify_credential,
)

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "vectors" / "vc-di-eddsa" / "TestVectors"
JCS = VECTORS / "eddsa-jcs-2022"
NOW = datetime(2025, 6, 1, tzinfo=UTC)


def vector(name: str) -> str:
    if not VECTORS.is_dir():
        pytest.fail(f"W3C vc-di-eddsa test vectors not found at {VECTORS} (../shared/vectors beside the checkout)")
    return (VECTORS / name).read_text()


def vector_json(name: str) -> Any:
    return json.loads(vector(name))


def vector_text(name: str) -> str:
    return vector(name).strip()


@pytest.fixture
def unsigned() -> dict[str, Any]:
    return vector_json("unsigned.json")


@pytest.fixture
def options() -> dict[str, Any]:
    return vector_json("eddsa-jcs-2022/proofConfigJCS.json")


@pytest.fixture
def signed() -> dict[str, Any]:
    return vector_json("eddsa-jcs-2022/signedJCS.json")


@pytest.fixture
def secret() -> Ed25519PrivateKey:
    return private_key_from_multibase(vector_json("keyPair.json")["privateKeyMultibase"])


@pytest.fixture
def public() -> Ed25519PublicKey:
    return public_key_from_multibase(vector_json("keyPair.json")["publicKeyMultibase"])


def signing_options(options: dict[str, Any]) -> dict[str, Any]:
    return {
        "verification_method": options["verificationMethod"],
        "created": options["created"],
        "proof_purpose": options["proofPurpose"],
    }


# --- the vectors, step by step ---


def test_key_pair_round_trips_through_multikey(secret: Ed25519PrivateKey, public: Ed25519PublicKey) -> None:
    pair = vector_json("keyPair.json")
    assert public_key_multibase(secret.public_key()) == pair["publicKeyMultibase"]
    assert public_key_multibase(public) == pair["publicKeyMultibase"]
    assert private_key_multibase(secret) == pair["privateKeyMultibase"]


def test_proof_config_is_the_vectors(unsigned: dict[str, Any], options: dict[str, Any]) -> None:
    config = proof_config(unsigned, **signing_options(options))
    assert config == options
    assert list(config) == list(options)
    assert canonical_proof_config(config).decode() == vector_text("eddsa-jcs-2022/proofCanonJCS.txt")


def test_canonical_document_is_the_vectors(unsigned: dict[str, Any]) -> None:
    assert canonical_document(unsigned).decode() == vector_text("eddsa-jcs-2022/canonDocJCS.txt")


def test_hashes_are_the_vectors(unsigned: dict[str, Any], options: dict[str, Any]) -> None:
    config = proof_config(unsigned, **signing_options(options))
    assert document_hash(unsigned).hex() == vector_text("eddsa-jcs-2022/docHashJCS.txt")
    assert proof_config_hash(config).hex() == vector_text("eddsa-jcs-2022/proofHashJCS.txt")
    assert hash_data(unsigned, config).hex() == vector_text("eddsa-jcs-2022/combinedHashJCS.txt")
    assert hashlib.sha256(canonical_document(unsigned)).digest() == document_hash(unsigned)


def test_signature_is_the_vectors(unsigned: dict[str, Any], options: dict[str, Any], secret: Ed25519PrivateKey) -> None:
    signature = secret.sign(hash_data(unsigned, proof_config(unsigned, **signing_options(options))))
    assert signature.hex() == vector_text("eddsa-jcs-2022/sigHexJCS.txt")
    assert multibase_encode(signature) == vector_text("eddsa-jcs-2022/sigBTC58JCS.txt")
    assert multibase_decode(vector_text("eddsa-jcs-2022/sigBTC58JCS.txt")) == signature


def test_signed_document_is_the_vectors(
    unsigned: dict[str, Any], options: dict[str, Any], signed: dict[str, Any], secret: Ed25519PrivateKey
) -> None:
    secured = sign(unsigned, secret, **signing_options(options))
    assert secured == signed
    assert json.dumps(secured, indent=2) == json.dumps(signed, indent=2)  # same member order too
    assert "proof" not in unsigned


def test_the_vectors_verify(signed: dict[str, Any], public: Ed25519PublicKey, unsigned: dict[str, Any]) -> None:
    result = verify(signed, public, now=NOW)
    assert result.verified, result.problems
    assert result.problems == []
    assert result.verification_method == signed["proof"]["verificationMethod"]
    assert result.verified_document == unsigned


def test_the_vectors_verify_by_multibase_and_multikey(signed: dict[str, Any]) -> None:
    method = signed["proof"]["verificationMethod"]
    multibase = vector_json("keyPair.json")["publicKeyMultibase"]
    assert verify_credential(signed, multibase, now=NOW).verified
    document = multikey_document(public_key_from_multibase(multibase), id=method, controller=method.split("#")[0])
    assert document == {
        "@context": "https://w3id.org/security/multikey/v1",
        "id": method,
        "type": "Multikey",
        "controller": method.split("#")[0],
        "publicKeyMultibase": multibase,
    }
    assert verify_credential(signed, document, now=NOW).verified
    assert verify_credential(signed, did_key_public_key(method), now=NOW).verified


def test_a_multikey_for_another_method_is_refused(signed: dict[str, Any], public: Ed25519PublicKey) -> None:
    document = multikey_document(public, id="https://shop.example/keys#other", controller="https://shop.example/keys")
    result = verify_credential(signed, document, now=NOW)
    assert not result.verified
    assert any("is not the proof's verificationMethod" in p for p in result.problems), result.problems


# --- tampering ---


def flip_signature(doc: dict[str, Any]) -> None:
    raw = bytearray(multibase_decode(doc["proof"]["proofValue"]))
    raw[10] ^= 0x01
    doc["proof"]["proofValue"] = multibase_encode(bytes(raw))


def setter(*path_and_value: Any) -> Callable[[dict[str, Any]], None]:
    *path, value = path_and_value

    def change(doc: dict[str, Any]) -> None:
        target = doc
        for name in path[:-1]:
            target = target[name]
        target[path[-1]] = value

    return change


def remover(*path: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        target = doc
        for name in path[:-1]:
            target = target[name]
        del target[path[-1]]

    return change


SIGNATURE = "signature does not match"
TAMPERING = [
    pytest.param(setter("credentialSubject", "alumniOf", "The School of Forgeries"), SIGNATURE, id="subject-value"),
    pytest.param(setter("credentialSubject", "degree", "PhD"), SIGNATURE, id="added-subject-field"),
    pytest.param(setter("validUntil", "2099-01-01T00:00:00Z"), SIGNATURE, id="added-top-field"),
    pytest.param(remover("description"), SIGNATURE, id="removed-field"),
    pytest.param(remover("credentialSubject", "id"), SIGNATURE, id="removed-subject-field"),
    pytest.param(setter("issuer", "https://vc.example/issuers/0000"), SIGNATURE, id="issuer"),
    pytest.param(setter("proof", "created", "2023-02-24T23:36:39Z"), SIGNATURE, id="proof-created"),
    pytest.param(setter("proof", "nonce", "123"), SIGNATURE, id="proof-added-option"),
    pytest.param(
        setter("proof", "verificationMethod", "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ3#k"),
        SIGNATURE,
        id="verification-method",
    ),
    pytest.param(setter("proof", "proofPurpose", "authentication"), "proof purpose is 'authentication'", id="proof-purpose"),
    pytest.param(setter("proof", "cryptosuite", "eddsa-rdfc-2022"), "cryptosuite must be 'eddsa-jcs-2022'", id="cryptosuite"),
    pytest.param(remover("proof", "cryptosuite"), "cryptosuite must be 'eddsa-jcs-2022'", id="no-cryptosuite"),
    pytest.param(setter("proof", "type", "Ed25519Signature2020"), "proof type must be 'DataIntegrityProof'", id="proof-type"),
    pytest.param(flip_signature, SIGNATURE, id="flipped-signature-bit"),
    pytest.param(lambda d: d["proof"].update(proofValue=d["proof"]["proofValue"][:-4]), "bytes", id="truncated-proof-value"),
    pytest.param(lambda d: d["proof"].update(proofValue=d["proof"]["proofValue"] + "0"), "not base58btc", id="bad-base58"),
    pytest.param(lambda d: d["proof"].update(proofValue="u" + d["proof"]["proofValue"][1:]), "must start with 'z'", id="not-z"),
    pytest.param(setter("proof", "proofValue", 12345), "no proofValue", id="proof-value-not-string"),
    pytest.param(setter("proof", "proofValue", "z" + "2" * 5000), "too long", id="huge-proof-value"),
    pytest.param(remover("proof", "proofValue"), "no proofValue", id="no-proof-value"),
    pytest.param(remover("proof", "verificationMethod"), "no verificationMethod", id="no-verification-method"),
    pytest.param(remover("proof", "proofPurpose"), "no proofPurpose", id="no-proof-purpose"),
    pytest.param(setter("proof", "created", "yesterday"), "proof created", id="bad-created"),
    pytest.param(
        setter("proof", "@context", ["https://www.w3.org/ns/credentials/v2", "https://evil.example/v1"]),
        "@context does not match",
        id="proof-context-differs",
    ),
    pytest.param(
        setter("@context", ["https://www.w3.org/ns/credentials/v2", "https://evil.example/v1"]),
        "@context does not match",
        id="document-context-differs",
    ),
    pytest.param(remover("@context"), "@context does not match", id="document-context-removed"),
    pytest.param(remover("proof", "@context"), SIGNATURE, id="proof-context-removed"),
    pytest.param(remover("proof"), "has no proof", id="missing-proof"),
    pytest.param(lambda d: d.update(proof=[d["proof"]]), "proof sets and chains are not supported", id="proof-set"),
    pytest.param(setter("proof", "not a proof"), "proof is not a JSON object", id="proof-not-object"),
]


@pytest.mark.parametrize(("tamper", "problem"), TAMPERING)
def test_tampering_is_caught(
    signed: dict[str, Any], public: Ed25519PublicKey, tamper: Callable[[dict[str, Any]], None], problem: str
) -> None:
    doc = copy.deepcopy(signed)
    tamper(doc)
    result = verify(doc, public, now=NOW)
    assert not result.verified
    assert result.verified_document is None
    assert any(problem in p for p in result.problems), result.problems


def test_another_key_is_caught(signed: dict[str, Any]) -> None:
    result = verify(signed, Ed25519PrivateKey.generate().public_key(), now=NOW)
    assert not result.verified
    assert any(SIGNATURE in p for p in result.problems)


@pytest.mark.parametrize(
    "document",
    [None, "a string", 42, [], [{"proof": {}}], {"proof": None}],
    ids=["null", "str", "int", "list", "list-of-proofs", "null-proof"],
)
def test_what_is_not_a_secured_document_is_a_problem_not_an_exception(document: Any, public: Ed25519PublicKey) -> None:
    result = verify(document, public, now=NOW)
    assert not result.verified and result.problems


def test_hostile_values_are_problems_not_exceptions(signed: dict[str, Any], public: Ed25519PublicKey) -> None:
    deep: Any = "bottom"
    for _ in range(100_000):
        deep = [deep]
    cases: list[Callable[[dict[str, Any]], None]] = [
        setter("credentialSubject", "deep", deep),
        setter("credentialSubject", "big", 2**80),
        setter("proof", "@context", [2**80]),
        setter("proof", "domain", {"a": 1}),
        setter("validFrom", 20230101),
        setter("validUntil", "9999-12-31T24:00:00Z"),
        setter("proof", "expires", "0000-01-01T00:00:00Z"),
        setter("proof", "verificationMethod", ["not", "a", "string"]),
    ]
    for tamper in cases:
        doc = {**signed, "proof": dict(signed["proof"]), "credentialSubject": dict(signed["credentialSubject"])}
        tamper(doc)
        result = verify(doc, public, now=NOW)
        assert not result.verified and result.problems


def test_a_resolver_that_knows_no_key_is_a_problem(signed: dict[str, Any]) -> None:
    def resolver(method: str) -> Ed25519PublicKey:
        raise LookupError("not one of ours")

    result = verify(signed, resolver, now=NOW)
    assert not result.verified
    assert any("not one of ours" in p for p in result.problems)


# --- @context: the spec's prefix rule, and proofs made without step 2 ---


def test_a_document_context_extended_after_signing_still_verifies_as_signed(
    signed: dict[str, Any], public: Ed25519PublicKey, unsigned: dict[str, Any]
) -> None:
    """Verify Proof step 4: the document's @context must *start with* the proof's; what was
    signed, and what the verifier hands back, is the document with the proof's @context."""
    doc = copy.deepcopy(signed)
    doc["@context"].append("https://added.example/v1")
    result = verify(doc, public, now=NOW)
    assert result.verified, result.problems
    assert result.verified_document == unsigned


def test_a_proof_without_context_signs_the_documents_own(unsigned: dict[str, Any], options: dict[str, Any]) -> None:
    key = Ed25519PrivateKey.generate()
    config = {name: value for name, value in options.items() if name != "@context"}
    proof = {**config, "proofValue": multibase_encode(key.sign(hash_data(unsigned, config)))}
    assert verify({**unsigned, "proof": proof}, key.public_key(), now=NOW).verified
    changed = {**unsigned, "@context": ["https://www.w3.org/ns/credentials/v2"], "proof": proof}
    assert any(SIGNATURE in p for p in verify(changed, key.public_key(), now=NOW).problems)


# --- validity periods ---


def fresh(valid_from: str | None = None, valid_until: str | None = None, **extra: Any) -> tuple[dict[str, Any], Ed25519PublicKey]:
    key = Ed25519PrivateKey.generate()
    document: dict[str, Any] = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential"],
        "issuer": "https://shop.example",
        "credentialSubject": {"id": "https://shop.example/p/1", "price": {"amount": "19.90", "currency": "EUR"}},
    }
    if valid_from:
        document["validFrom"] = valid_from
    if valid_until:
        document["validUntil"] = valid_until
    secured = sign(document, key, verification_method="https://shop.example/keys#k1", created="2025-01-01T00:00:00Z", **extra)
    return secured, key.public_key()


def test_an_expired_credential_is_not_verified_though_its_signature_is_good() -> None:
    secured, key = fresh("2025-01-01T00:00:00Z", "2025-03-01T00:00:00Z")
    assert verify(secured, key, now=datetime(2025, 2, 1, tzinfo=UTC)).verified
    result = verify(secured, key, now=datetime(2025, 3, 1, 0, 0, 1, tzinfo=UTC))
    assert not result.verified
    assert result.problems == ["expired: validUntil was 2025-03-01T00:00:00Z"]


def test_a_credential_not_yet_valid_is_not_verified() -> None:
    secured, key = fresh("2025-01-01T00:00:00+01:00")
    assert verify(secured, key, now=datetime(2024, 12, 31, 23, 0, tzinfo=UTC)).verified
    result = verify(secured, key, now=datetime(2024, 12, 31, 22, 59, 59, tzinfo=UTC))
    assert not result.verified
    assert result.problems == ["not yet valid: validFrom is 2025-01-01T00:00:00+01:00"]


def test_the_vector_is_not_valid_before_its_valid_from(signed: dict[str, Any], public: Ed25519PublicKey) -> None:
    result = verify(signed, public, now=datetime(2022, 12, 31, tzinfo=UTC))
    assert [p for p in result.problems if "not yet valid" in p]
    assert verify(signed, public).verified  # now: the real clock


def test_a_validity_date_without_a_zone_is_a_problem() -> None:
    secured, key = fresh("2025-01-01T00:00:00")
    result = verify(secured, key, now=NOW)
    assert not result.verified
    assert any("validFrom" in p and "time zone" in p for p in result.problems)


def test_an_expired_proof_is_not_verified() -> None:
    secured, key = fresh(expires="2025-05-01T00:00:00Z")
    assert verify(secured, key, now=datetime(2025, 4, 30, tzinfo=UTC)).verified
    result = verify(secured, key, now=NOW)
    assert result.problems == ["the proof expired at 2025-05-01T00:00:00Z"]


def test_domain_and_challenge_must_match_when_asked() -> None:
    secured, key = fresh(domain="agents.example", challenge="n-1")
    assert verify(secured, key, now=NOW, domain="agents.example", challenge="n-1").verified
    assert verify(secured, key, now=NOW, domain=["agents.example"]).verified
    assert not verify(secured, key, now=NOW, domain="other.example").verified
    assert not verify(secured, key, now=NOW, challenge="n-2").verified


def test_now_must_be_aware(signed: dict[str, Any], public: Ed25519PublicKey) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        verify(signed, public, now=datetime(2025, 1, 1))


# --- signing ---


def test_fresh_keys_round_trip_and_default_created_is_now() -> None:
    key = Ed25519PrivateKey.generate()
    before = datetime.now(UTC).replace(microsecond=0)
    secured = sign({"credentialSubject": {"price": "19.90 EUR"}}, key, verification_method="https://shop.example/keys#k1")
    after = datetime.now(UTC)
    assert verify(secured, key.public_key()).verified
    assert before <= parse_datetime(secured["proof"]["created"]) <= after
    assert secured["proof"]["created"].endswith("Z")
    assert secured["proof"]["type"] == PROOF_TYPE and secured["proof"]["cryptosuite"] == CRYPTOSUITE
    assert "@context" not in secured["proof"]  # the document has none to copy


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.text(max_size=8).filter(lambda k: k != "proof"), json_values, max_size=6))
def test_any_json_object_round_trips_through_sign_and_json(document: dict[str, Any]) -> None:
    key = Ed25519PrivateKey.generate()
    secured = json.loads(json.dumps(sign(document, key, verification_method="https://shop.example/keys#k1")))
    assert verify(secured, key.public_key(), expected_proof_purpose=None).problems == []


def test_sign_refuses_what_it_cannot_sign(unsigned: dict[str, Any], secret: Ed25519PrivateKey, signed: dict[str, Any]) -> None:
    with pytest.raises(ProofError, match="already has a proof"):
        sign(signed, secret, verification_method="https://shop.example/keys#k1")
    with pytest.raises(ProofError, match="time zone"):
        sign(unsigned, secret, verification_method="https://shop.example/keys#k1", created="2025-01-01T00:00:00")
    with pytest.raises(ProofError, match="dateTime"):
        sign(unsigned, secret, verification_method="https://shop.example/keys#k1", created="2025-01-01")
    with pytest.raises(ProofError, match="verification_method"):
        sign(unsigned, secret, verification_method="")
    with pytest.raises(ValueError):
        sign({**unsigned, "n": float("nan")}, secret, verification_method="https://shop.example/keys#k1")


# --- controller documents ---

CONTROLLER = "https://shop.example/issuer"
METHOD = CONTROLLER + "#key-1"


def controller_document(public: Ed25519PublicKey, **changes: Any) -> dict[str, Any]:
    method = multikey_document(public, id=METHOD, controller=CONTROLLER)
    del method["@context"]
    document = {
        "@context": "https://www.w3.org/ns/cid/v1",
        "id": CONTROLLER,
        "verificationMethod": [method],
        "assertionMethod": [METHOD],
    }
    document.update(changes)
    return document


def test_controller_documents_bind_the_key_to_the_purpose() -> None:
    secret = Ed25519PrivateKey.generate()
    public = secret.public_key()
    secured = sign({"credentialSubject": {"ok": True}}, secret, verification_method=METHOD, created="2025-01-01T00:00:00Z")
    method = controller_document(public)["verificationMethod"][0]
    relative = {**method, "id": "#key-1"}

    assert verify_credential(secured, controller_document(public), now=NOW).verified
    assert verify_credential(secured, controller_document(public, assertionMethod=[method]), now=NOW).verified
    assert verify_credential(
        secured, controller_document(public, verificationMethod=[relative], assertionMethod=["#key-1"]), now=NOW
    ).verified

    refusals = {
        "is not listed under 'assertionMethod'": controller_document(public, assertionMethod=[], authentication=[METHOD]),
        "has no verification method": controller_document(public, verificationMethod=[], assertionMethod=[METHOD]),
        "controller document's id": controller_document(public, id="https://evil.example/issuer"),
        "controller 'https://evil.example'": controller_document(
            public, verificationMethod=[{**method, "controller": "https://evil.example"}]
        ),
        "was revoked": controller_document(public, verificationMethod=[{**method, "revoked": "2025-05-01T00:00:00Z"}]),
        "expired": controller_document(public, verificationMethod=[{**method, "expires": "2025-05-01T00:00:00Z"}]),
        "type is 'JsonWebKey'": controller_document(public, verificationMethod=[{**method, "type": "JsonWebKey"}]),
    }
    for problem, document in refusals.items():
        result = verify_credential(secured, document, now=NOW)
        assert not result.verified
        assert any(problem in p for p in result.problems), (problem, result.problems)

    with pytest.raises(ValueError, match="not listed"):
        key_from_document(controller_document(public, assertionMethod=[]), METHOD, now=NOW)


def test_did_key_must_repeat_its_key_as_fragment() -> None:
    key = vector_json("keyPair.json")["publicKeyMultibase"]
    assert public_key_multibase(did_key_public_key(f"did:key:{key}#{key}")) == key
    for bad in (f"did:key:{key}", f"did:key:{key}#other", f"did:web:shop.example#{key}", "did:key:z#z"):
        with pytest.raises(ValueError):
            did_key_public_key(bad)


# --- base58btc and Multikey ---


def test_base58_known_values() -> None:
    assert b58encode(b"") == ""
    assert b58encode(b"\0\0\x01") == "112"
    assert b58encode(b"Hello World!") == "2NEpo7TZRRrLZSi2U"
    assert b58decode("2NEpo7TZRRrLZSi2U") == b"Hello World!"
    assert b58decode(vector_text("eddsa-jcs-2022/sigBTC58JCS.txt")[1:]).hex() == vector_text("eddsa-jcs-2022/sigHexJCS.txt")


@given(st.binary(max_size=80), st.integers(0, 5))
def test_base58_round_trips_any_bytes(data: bytes, zeros: int) -> None:
    data = b"\0" * zeros + data
    assert b58decode(b58encode(data)) == data
    assert multibase_decode(multibase_encode(data)) == data


@pytest.mark.parametrize("char", ["0", "O", "I", "l", "+", "/", "é", " "])
def test_base58_refuses_characters_outside_the_alphabet(char: str) -> None:
    with pytest.raises(ValueError, match="not base58btc"):
        b58decode("2NEpo7" + char + "TZRR")


def test_multikey_decoding_refuses_other_bases_types_and_lengths() -> None:
    pair = vector_json("keyPair.json")
    raw = multibase_decode(pair["publicKeyMultibase"])
    assert raw[:2] == b"\xed\x01" and len(raw) == 34
    assert multibase_decode(pair["privateKeyMultibase"])[:2] == b"\x80\x26"
    cases = {
        "must start with 'z'": "u" + pair["publicKeyMultibase"][1:],
        "not a Multikey Ed25519 public key": pair["privateKeyMultibase"],
        "must hold 32 key bytes": multibase_encode(raw[:-1]),
        "header missing": "z",
    }
    for message, text in cases.items():
        with pytest.raises(ValueError, match=message):
            public_key_from_multibase(text)
    with pytest.raises(ValueError, match="not a Multikey Ed25519 secret key"):
        private_key_from_multibase(pair["publicKeyMultibase"])
    with pytest.raises(ValueError, match="must be a string"):
        multibase_decode(None)  # type: ignore[arg-type]


# --- dates ---


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-01-01T00:00:00Z", datetime(2023, 1, 1, tzinfo=UTC)),
        ("2023-01-01T01:30:00+01:30", datetime(2023, 1, 1, tzinfo=UTC)),
        ("2022-12-31T20:00:00-04:00", datetime(2023, 1, 1, tzinfo=UTC)),
        ("2023-01-01T00:00:00.1234567Z", datetime(2023, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)),
        ("2022-12-31T24:00:00Z", datetime(2023, 1, 1, tzinfo=UTC)),
    ],
)
def test_xml_schema_datetimes(text: str, expected: datetime) -> None:
    assert parse_datetime(text) == expected


@pytest.mark.parametrize(
    "text",
    ["2023-01-01", "2023-01-01 00:00:00Z", "2023-01-01T00:00Z", "2023-13-01T00:00:00Z", "2023-02-30T00:00:00Z",
     "2023-01-01T24:00:01Z", "2023-01-01T00:00:00+15:00", "２０２３-01-01T00:00:00Z", "2023-01-01T00:00:00Z\n"],
)  # fmt: skip
def test_what_is_not_an_xml_schema_datetime(text: str) -> None:
    with pytest.raises(ValueError):
        parse_datetime(text)
