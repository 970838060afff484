"""Accountability: a tamper-evident, RFC 6962 Merkle audit log per tenant.

``append`` writes an entry inside the caller's transaction; ``AuditLog`` signs
checkpoints and serves entries and proofs; the verifier checks an export offline.
"""

from ._checkpoint import Checkpoint, open_checkpoint
from ._keys import LOG_KEY_PURPOSE, LogKeys
from ._log import Head, append, commitment
from ._merkle import (
    EMPTY_ROOT,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    root_from_inclusion,
    verify_consistency,
    verify_inclusion,
)
from ._note import NoteError, VerifierKey, sign_note, verify_note
from ._service import AuditLog, SignedCheckpoint

__all__ = [
    "EMPTY_ROOT",
    "LOG_KEY_PURPOSE",
    "AuditLog",
    "Checkpoint",
    "Head",
    "LogKeys",
    "NoteError",
    "ProofError",
    "SignedCheckpoint",
    "VerifierKey",
    "append",
    "commitment",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "open_checkpoint",
    "root",
    "root_from_inclusion",
    "sign_note",
    "verify_consistency",
    "verify_inclusion",
    "verify_note",
]
