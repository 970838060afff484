"""The one path every call takes: stages composed into a Gateway."""

from ._call import Call, Outcome
from ._gateway import Gateway
from ._idempotency import CheckIdempotency, IdempotencyKeys
from ._records import audit_outcome, public_record, read_record, record_row
from ._reverts import REVERT_CALLS, CheckRevert, ResolveRevert
from ._stage import Next, Stage, chain
from ._stages import Authenticate, AuthorizeGrant, Execute, RecordCalls, ResolveTenant, ValidateInput, unexpected_failure

__all__ = [
    "REVERT_CALLS",
    "Authenticate",
    "AuthorizeGrant",
    "Call",
    "CheckIdempotency",
    "CheckRevert",
    "Execute",
    "Gateway",
    "IdempotencyKeys",
    "Next",
    "Outcome",
    "RecordCalls",
    "ResolveRevert",
    "ResolveTenant",
    "Stage",
    "ValidateInput",
    "audit_outcome",
    "chain",
    "public_record",
    "read_record",
    "record_row",
    "unexpected_failure",
]
