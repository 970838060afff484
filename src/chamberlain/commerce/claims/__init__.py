"""Signed claims: W3C Verifiable Credentials 2.0 secured with ``eddsa-jcs-2022`` proofs.

Shopping agents are swayed by whatever text they read, and anyone can write "official
price" or "free returns" on a page. A claim the tenant signs is different: an agent checks
it offline against the tenant's published key (a Multikey at the proof's
``verificationMethod``) and learns that the tenant said exactly this, and that it is still
within its validity period. Verification never raises on hostile input; it lists problems.

``sign`` secures a credential, ``verify_credential`` checks one against a key the verifier
holds, and the cryptosuite's steps (``canonical_document``, ``hash_data``, ...) are public so
they can be compared with the W3C test vectors.
"""

from ._multibase import (
    b58decode,
    b58encode,
    multibase_decode,
    multibase_encode,
    private_key_from_multibase,
    private_key_multibase,
    public_key_from_multibase,
    public_key_multibase,
)
from ._proof import (
    CRYPTOSUITE,
    PROOF_TYPE,
    KeyResolver,
    ProofError,
    VerificationResult,
    canonical_document,
    canonical_proof_config,
    document_hash,
    hash_data,
    parse_datetime,
    proof_config,
    proof_config_hash,
    sign,
    verify,
)
from ._verify_offline import (
    MULTIKEY_CONTEXT,
    KeySource,
    did_key_public_key,
    key_from_document,
    multikey_document,
    verify_credential,
)

__all__ = [
    "CRYPTOSUITE",
    "MULTIKEY_CONTEXT",
    "PROOF_TYPE",
    "KeyResolver",
    "KeySource",
    "ProofError",
    "VerificationResult",
    "b58decode",
    "b58encode",
    "canonical_document",
    "canonical_proof_config",
    "did_key_public_key",
    "document_hash",
    "hash_data",
    "key_from_document",
    "multibase_decode",
    "multibase_encode",
    "multikey_document",
    "parse_datetime",
    "private_key_from_multibase",
    "private_key_multibase",
    "proof_config",
    "proof_config_hash",
    "public_key_from_multibase",
    "public_key_multibase",
    "sign",
    "verify",
    "verify_credential",
]
