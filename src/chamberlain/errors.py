"""The error tree every surface translates, so a refusal means the same thing everywhere.

Each error has a stable ``code`` that becomes the RFC 9457 ``type`` URI
(``https://chamberlain.dev/errors/<code>``), an HTTP ``status``, and ``retryable``
so that a machine client can decide what to do without parsing prose::

    ChamberlainError
    ├── AuthenticationError          401  grant missing, malformed, forged or expired
    │   ├── GrantMissing
    │   ├── GrantInvalid
    │   │   ├── GrantMalformed     not a token at all (truncated, garbage)
    │   │   ├── GrantWrongTenant
    │   │   ├── GrantWrongAudience
    │   │   └── GrantWidened
    │   ├── GrantExpired
    │   ├── GrantNotYetValid
    │   ├── GrantRevoked
    │   └── GrantUsedUp
    ├── PermissionDenied             403  the grant does not cover this action
    │   ├── ConstraintViolated            ... or not with these arguments
    │   ├── PolicyDenied                  ... or a tenant policy forbids it
    │   ├── ApproverRequired              only a tenant approver may decide approvals
    │   └── ApproverInChain               the requester (or its delegation chain) cannot approve
    ├── NotFound                     404
    │   ├── UnknownAction
    │   ├── CallNotFound
    │   ├── ApprovalNotFound
    │   └── AuditEntryNotFound
    ├── Conflict                     409  the request clashes with the current state
    │   ├── ApprovalClosed                already approved, rejected or expired
    │   ├── ApprovalAlreadyGiven          this approver has already decided
    │   └── ApprovalRequestChanged        the request differs from the one approved
    ├── PolicyInvalid                422  policies that do not parse or name unknown things
    ├── InvalidInput                 422  arguments do not match the action's input contract
    │   └── UnknownEventType              an event filter names a type no one emits
    ├── BadRequest                   400  the request itself is unusable
    │   ├── MalformedJSON
    │   └── BodyTooLarge             413
    ├── MethodNotAllowed             405
    ├── ActionFailed                 422  the business refused (handler raised ActionError)
    ├── InternalError                500  a bug or an outage; retryable, never leaks details
    ├── AuditLogBroken               500  the log contradicts a checkpoint it signed: nothing new is signed
    └── RevocationUnavailable        503  revocation state unreadable: refused, never failed open

Handlers raise :class:`ActionError` for business refusals (``order not found``);
anything else they raise becomes :class:`InternalError` with no details exposed.
"""

from __future__ import annotations

from typing import Any, ClassVar

ERROR_BASE_URI = "https://chamberlain.dev/errors/"

__all__ = [
    "ERROR_BASE_URI",
    "ActionError",
    "ActionFailed",
    "ApprovalAlreadyGiven",
    "ApprovalClosed",
    "ApprovalNotFound",
    "ApprovalRequestChanged",
    "ApproverInChain",
    "ApproverRequired",
    "AuditEntryNotFound",
    "AuditLogBroken",
    "AuthenticationError",
    "BadRequest",
    "BodyTooLarge",
    "CallNotFound",
    "ChamberlainError",
    "Conflict",
    "ConstraintViolated",
    "EventsGone",
    "GrantExpired",
    "GrantInvalid",
    "GrantMalformed",
    "GrantMissing",
    "GrantNotYetValid",
    "GrantRevoked",
    "GrantUsedUp",
    "GrantWidened",
    "GrantWrongAudience",
    "GrantWrongTenant",
    "InternalError",
    "InvalidInput",
    "MalformedJSON",
    "MethodNotAllowed",
    "NotFound",
    "PermissionDenied",
    "PolicyDenied",
    "PolicyInvalid",
    "RevocationUnavailable",
    "SlowConsumer",
    "UnknownAction",
    "UnknownEventType",
    "all_error_types",
]


class ChamberlainError(Exception):
    """A refusal or failure with a stable machine-readable identity."""

    code: ClassVar[str] = "error"
    title: ClassVar[str] = "Error"
    status: ClassVar[int] = 500
    retryable: ClassVar[bool] = False

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    @property
    def type_uri(self) -> str:
        return ERROR_BASE_URI + self.code

    def to_problem(self, **more: Any) -> dict[str, Any]:
        """RFC 9457 problem details; MCP carries the same object as structuredContent."""
        members: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
            "retryable": self.retryable,
        }
        # Extension members never override the standard ones (a handler's ActionError fields
        # could otherwise claim another type or status than the one sent).
        extensions = {k: v for k, v in {**self.extra, **more}.items() if k not in members}
        return {**members, **extensions}


class AuthenticationError(ChamberlainError):
    code = "authentication-required"
    title = "Authentication required"
    status = 401

    verified: Any = None
    """The grant, when its signature verified but it was refused (expired, revoked), so the
    refusal can be recorded in the grant's tenant. Never part of the problem details."""


class GrantMissing(AuthenticationError):
    code = "grant-missing"
    title = "No grant presented"


class GrantInvalid(AuthenticationError):
    code = "grant-invalid"
    title = "Grant is not valid"


class GrantMalformed(GrantInvalid):
    code = "grant-malformed"
    title = "Grant is not a well-formed token"


class GrantWrongTenant(GrantInvalid):
    code = "grant-wrong-tenant"
    title = "Grant belongs to another tenant"


class GrantWrongAudience(GrantInvalid):
    code = "grant-wrong-audience"
    title = "Grant was issued for another gateway"


class GrantWidened(GrantInvalid):
    code = "grant-widened"
    title = "An attenuation block tries to add rights"


class GrantNotYetValid(AuthenticationError):
    code = "grant-not-yet-valid"
    title = "Grant is not valid yet"


class GrantUsedUp(AuthenticationError):
    code = "grant-used-up"
    title = "Grant has no uses left"


class GrantExpired(AuthenticationError):
    code = "grant-expired"
    title = "Grant has expired"


class GrantRevoked(AuthenticationError):
    code = "grant-revoked"
    title = "Grant has been revoked"


class PermissionDenied(ChamberlainError):
    code = "permission-denied"
    title = "Grant does not allow this action"
    status = 403


class ConstraintViolated(PermissionDenied):
    code = "constraint-violated"
    title = "Arguments break the grant's constraints"


class PolicyDenied(PermissionDenied):
    code = "policy-denied"
    title = "A tenant policy does not allow this call"


class ApproverRequired(PermissionDenied):
    code = "approver-required"
    title = "Only an approver of this tenant may do this"


class ApproverInChain(PermissionDenied):
    code = "approver-in-chain"
    title = "The requester, or anyone it acts for, cannot approve its own call"


class NotFound(ChamberlainError):
    code = "not-found"
    title = "Not found"
    status = 404


class UnknownAction(NotFound):
    code = "unknown-action"
    title = "No such action"


class CallNotFound(NotFound):
    code = "call-not-found"
    title = "No such call record"


class ApprovalNotFound(NotFound):
    code = "approval-not-found"
    title = "No such approval"


class AuditEntryNotFound(NotFound):
    code = "audit-entry-not-found"
    title = "No such audit log entry"


class Conflict(ChamberlainError):
    code = "conflict"
    title = "The request conflicts with the current state"
    status = 409


class ApprovalClosed(Conflict):
    code = "approval-closed"
    title = "The approval is no longer open"


class ApprovalAlreadyGiven(Conflict):
    code = "approval-already-given"
    title = "This approver has already decided"


class ApprovalRequestChanged(Conflict):
    code = "approval-request-changed"
    title = "The request is not the one that was approved"


class IdempotencyKeyInUse(Conflict):
    code = "idempotency-key-in-use"
    title = "A request with this idempotency key is still running"
    retryable = True


class IdempotencyKeyReused(ChamberlainError):
    code = "idempotency-key-reused"
    title = "This idempotency key was used with other arguments"
    status = 422


class PolicyInvalid(ChamberlainError):
    code = "policy-invalid"
    title = "Policies are not valid"
    status = 422


class InvalidInput(ChamberlainError):
    code = "invalid-input"
    title = "Arguments do not match the action's input contract"
    status = 422


class UnknownEventType(InvalidInput):
    code = "unknown-event-type"
    title = "No such event type"


class BadRequest(ChamberlainError):
    code = "bad-request"
    title = "Bad request"
    status = 400


class IdempotencyKeyInvalid(BadRequest):
    code = "idempotency-key-invalid"
    title = "The idempotency key is not usable"


class MalformedJSON(BadRequest):
    code = "malformed-json"
    title = "Body is not valid JSON"


class BodyTooLarge(BadRequest):
    code = "body-too-large"
    title = "Request body too large"
    status = 413


class MethodNotAllowed(ChamberlainError):
    code = "method-not-allowed"
    title = "Method not allowed"
    status = 405


class ActionFailed(ChamberlainError):
    code = "action-failed"
    title = "The action refused the request"
    status = 422


class InternalError(ChamberlainError):
    code = "internal-error"
    title = "Internal error"
    status = 500
    retryable = True


class AuditLogBroken(ChamberlainError):
    code = "audit-log-broken"
    title = "The audit log contradicts a checkpoint it signed"
    status = 500


class RevocationUnavailable(ChamberlainError):
    code = "revocation-unavailable"
    title = "Revocation state cannot be read"
    status = 503
    retryable = True


class EventsGone(ChamberlainError):
    code = "events-gone"
    title = "The events to resume from are no longer kept"
    status = 410


class SlowConsumer(ChamberlainError):
    code = "slow-consumer"
    title = "The event stream fell too far behind"
    status = 503
    retryable = True


class ActionError(Exception):
    """Raised by a handler to refuse a request for a business reason.

    The message is shown to the agent, so it must not contain secrets. ``code`` lets
    the business give the refusal a stable identity (``order-not-found``).
    """

    def __init__(self, message: str, *, code: str = "action-failed", **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.extra = extra


def all_error_types() -> list[type[ChamberlainError]]:
    """Every error class in tree order (each parent before its children), for the catalogue."""

    def walk(cls: type[ChamberlainError]) -> list[type[ChamberlainError]]:
        return [cls] + [c for sub in cls.__subclasses__() for c in walk(sub)]

    return walk(ChamberlainError)
