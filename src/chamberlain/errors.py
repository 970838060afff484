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
    │   ├── ApprovalRequestChanged        the request differs from the one approved
    │   ├── NotReversible                 the call cannot be reverted (irreversible, did not run)
    │   ├── AlreadyReverted               the call was reverted already
    │   ├── RevertPending                 a revert of the call waits for approval
    │   └── RevertWindowClosed            the action's revert window has passed
    ├── PolicyInvalid                422  policies that do not parse or name unknown things
    ├── InvalidInput                 422  arguments do not match the action's input contract
    │   └── UnknownEventType              an event filter names a type no one emits
    ├── BadRequest                   400  the request itself is unusable
    │   ├── MalformedJSON
    │   ├── BodyTooLarge             413
    │   └── RequestTimeout           408  the body did not arrive in time (a slow client)
    ├── MethodNotAllowed             405
    ├── ActionFailed                 422  the business refused (handler raised ActionError)
    ├── InternalError                500  a bug; retryable, never leaks details
    ├── StoreUnavailable             503  the database could not be reached or did not answer in time
    ├── AuditLogBroken               500  the log contradicts a checkpoint it signed: nothing new is signed
    ├── RevocationUnavailable        503  revocation state unreadable: refused, never failed open
    └── LimiterUnavailable           503  the shared rate limiter did not answer: refused, never failed open

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
    "AlreadyReverted",
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
    "IdempotencyKeyInUse",
    "IdempotencyKeyInvalid",
    "IdempotencyKeyRequired",
    "IdempotencyKeyReused",
    "InternalError",
    "InvalidInput",
    "LimiterUnavailable",
    "MalformedJSON",
    "MethodNotAllowed",
    "NotFound",
    "NotReversible",
    "PermissionDenied",
    "PolicyDenied",
    "PolicyInvalid",
    "QuotaExceeded",
    "RateLimited",
    "RequestTimeout",
    "RevertPending",
    "RevertWindowClosed",
    "RevocationUnavailable",
    "SlowConsumer",
    "StoreUnavailable",
    "ToolDefinitionChanged",
    "UnknownAction",
    "UnknownEventType",
    "UpstreamConflict",
    "UpstreamDenied",
    "UpstreamError",
    "UpstreamFailed",
    "UpstreamNotFound",
    "UpstreamRateLimited",
    "UpstreamRejected",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "all_error_types",
    "catalogue",
]


class ChamberlainError(Exception):
    """A refusal or failure with a stable machine-readable identity."""

    code: ClassVar[str] = "error"
    title: ClassVar[str] = "Error"
    status: ClassVar[int] = 500
    retryable: ClassVar[bool] = False
    advice: ClassVar[str] = "Base class; not sent on its own."
    """What a client should do about it: whether to retry, and what to change. Every
    class states its own (a test holds them to it); it is served at ``/errors/<code>``."""
    recorded_call: str | None = None
    """The id of the call record that holds this refusal, once one was written (so a
    surface neither records it twice nor answers without naming it). Never part of the
    problem details."""

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
    advice = "Base class of the grant errors below."
    status = 401

    verified: Any = None
    """The grant, when its signature verified but it was refused (expired, revoked), so the
    refusal can be recorded in the grant's tenant. Never part of the problem details."""


class GrantMissing(AuthenticationError):
    code = "grant-missing"
    title = "No grant presented"
    advice = "Send a grant as `Authorization: Bearer <grant>`."


class GrantInvalid(AuthenticationError):
    code = "grant-invalid"
    title = "Grant is not valid"
    advice = "The signature does not verify (forged or tampered) or the key is unknown; get a new grant."


class GrantMalformed(GrantInvalid):
    code = "grant-malformed"
    title = "Grant is not a well-formed token"
    advice = "The token is cut short or not a grant at all; send it whole."


class GrantWrongTenant(GrantInvalid):
    code = "grant-wrong-tenant"
    title = "Grant belongs to another tenant"
    advice = "Use a grant of the tenant you address (or drop the `Chamberlain-Tenant` header)."


class GrantWrongAudience(GrantInvalid):
    code = "grant-wrong-audience"
    title = "Grant was issued for another gateway"
    advice = "The grant was issued for another gateway; get one from this gateway's operator."


class GrantWidened(GrantInvalid):
    code = "grant-widened"
    title = "An attenuation block tries to add rights"
    advice = "A block appended to the grant declares rights; attenuation may only add checks. Derive it again."


class GrantNotYetValid(AuthenticationError):
    code = "grant-not-yet-valid"
    title = "Grant is not valid yet"
    advice = "Wait until the grant's start time (`not_before`)."


class GrantUsedUp(AuthenticationError):
    code = "grant-used-up"
    title = "Grant has no uses left"
    advice = "The grant allowed a fixed number of calls and has used them; a replay is refused. Ask for a new one."


class GrantExpired(AuthenticationError):
    code = "grant-expired"
    title = "Grant has expired"
    advice = "Get a fresh grant; the `grant_id` field says which one expired."


class GrantRevoked(AuthenticationError):
    code = "grant-revoked"
    title = "Grant has been revoked"
    advice = "The grant (or one it was derived from) was revoked; ask for a new one."


class PermissionDenied(ChamberlainError):
    code = "permission-denied"
    title = "Grant does not allow this action"
    advice = "Ask for a grant that covers the action; `allowed_actions` lists what this one covers."
    status = 403


class ConstraintViolated(PermissionDenied):
    code = "constraint-violated"
    title = "Arguments break the grant's constraints"
    advice = "Stay within the grant's `constraints` (listed in the problem) or ask for a wider grant."


class PolicyDenied(PermissionDenied):
    code = "policy-denied"
    title = "A tenant policy does not allow this call"
    advice = "A tenant policy forbids this call (`policies` names them) or none permits it. Do not retry unchanged."


class ApproverRequired(PermissionDenied):
    code = "approver-required"
    title = "Only an approver of this tenant may do this"
    advice = "Only principals with the approver role in the tenant may list or decide approvals."


class ApproverInChain(PermissionDenied):
    code = "approver-in-chain"
    title = "The requester, or anyone it acts for, cannot approve its own call"
    advice = "The agent that asked, or anyone it acts for, cannot approve its own call; ask another approver."


class NotFound(ChamberlainError):
    code = "not-found"
    title = "Not found"
    advice = "No such endpoint; see `/openapi.json`."
    status = 404


class UnknownAction(NotFound):
    code = "unknown-action"
    title = "No such action"
    advice = "List the actions your grant may call with `GET /v1/actions` or MCP `tools/list`."


class CallNotFound(NotFound):
    code = "call-not-found"
    title = "No such call record"
    advice = "Check the id; records are visible to their own tenant only."


class ApprovalNotFound(NotFound):
    code = "approval-not-found"
    title = "No such approval"
    advice = "Check the id; approvals are visible to their own tenant only."


class AuditEntryNotFound(NotFound):
    code = "audit-entry-not-found"
    title = "No such audit log entry"
    advice = "The index is at or beyond the log's size; read `GET /v1/audit/checkpoint` for the size."


class Conflict(ChamberlainError):
    code = "conflict"
    title = "The request conflicts with the current state"
    advice = "Base class of the approval conflicts below; re-read the current state before trying again."
    status = 409


class ApprovalClosed(Conflict):
    code = "approval-closed"
    title = "The approval is no longer open"
    advice = "The approval was already decided, expired or ran; `status` says which. Nothing more to do."


class ApprovalAlreadyGiven(Conflict):
    code = "approval-already-given"
    title = "This approver has already decided"
    advice = "This approver has decided already; another approver must give the next approval."


class ApprovalRequestChanged(Conflict):
    code = "approval-request-changed"
    title = "The request is not the one that was approved"
    advice = "The request differs from the `request_hash` you reviewed; review it again."


class NotReversible(Conflict):
    code = "not-reversible"
    title = "This call cannot be reverted"
    advice = (
        "Only a call that ran, of an action that declares an undo, can be reverted (`reversible` in "
        "`GET /v1/actions`). Nothing was changed; a call that was refused or is still parked has no "
        "effect to revert."
    )


class AlreadyReverted(Conflict):
    code = "already-reverted"
    title = "This call was reverted already"
    advice = "A call is reverted at most once; `reverted_by` names the revert call. Nothing more to do."


class RevertPending(Conflict):
    code = "revert-pending"
    title = "A revert of this call is waiting for approval"
    advice = (
        "Another revert of the same call is parked for a human (`approval_id`). Follow that one; "
        "ask again only if it is rejected or expires."
    )


class RevertWindowClosed(Conflict):
    code = "revert-window-closed"
    title = "The time to revert this call has passed"
    advice = (
        "The action allows reverts only within its declared window (`revert_until`). Correct the effect with a new call instead."
    )


class IdempotencyKeyInUse(Conflict):
    code = "idempotency-key-in-use"
    title = "A request with this idempotency key is still running"
    advice = (
        "The first request with this key has not finished. Retry after `retry_after` seconds (the "
        "`Retry-After` header) with the same key: you get its outcome once it is done."
    )
    retryable = True


class IdempotencyKeyReused(ChamberlainError):
    code = "idempotency-key-reused"
    title = "This idempotency key was used with other arguments"
    advice = (
        "The key was first used with other arguments (`fingerprint` differs). Use a new key for a new "
        "request; resend the original arguments to get the original outcome."
    )
    status = 422


class RateLimited(ChamberlainError):
    code = "rate-limited"
    title = "Too many calls of this action"
    status = 429
    retryable = True
    advice = (
        "Wait `retry_after` seconds (the `Retry-After` header), then retry. The action allows `limit` calls per"
        " `window_s` seconds for each agent; `RateLimit` and `RateLimit-Policy` say how much is left."
    )


class QuotaExceeded(RateLimited):
    code = "quota-exceeded"
    title = "This action's quota is used up for now"
    advice = (
        "The action allows `limit` calls per `window_s` seconds for each agent, counted from the call records."
        " Retry after `retry_after` seconds, when the oldest of them leaves the window, or ask for a higher quota."
    )


class PolicyInvalid(ChamberlainError):
    code = "policy-invalid"
    title = "Policies are not valid"
    advice = (
        "Policy validation at load (CLI, policy folder): `errors` lists each problem by file and policy id; "
        "nothing changed. `PUT /v1/policies` answers `invalid-input` instead."
    )
    status = 422


class InvalidInput(ChamberlainError):
    code = "invalid-input"
    title = "Arguments do not match the action's input contract"
    advice = "Fix the arguments: `errors` lists each problem with its location (`loc`)."
    status = 422


class UnknownEventType(InvalidInput):
    code = "unknown-event-type"
    title = "No such event type"
    advice = "Subscribe to types listed by `GET /v1/events/types`; `types` takes exact names or `prefix.*`."


class BadRequest(ChamberlainError):
    code = "bad-request"
    title = "Bad request"
    advice = "Base class of the two below; sent as itself for other unusable requests."
    status = 400


class IdempotencyKeyInvalid(BadRequest):
    code = "idempotency-key-invalid"
    title = "The idempotency key is not usable"
    advice = "Send 1 to 255 visible ASCII characters (a UUID is a good key)."


class IdempotencyKeyRequired(BadRequest):
    code = "idempotency-key-required"
    title = "This action needs an idempotency key"
    advice = (
        "Send an `Idempotency-Key` header (MCP: `chamberlain/idempotency_key` in `_meta`): a new value, such as a"
        " UUID, for each operation, and the same value when you retry it."
    )


class MalformedJSON(BadRequest):
    code = "malformed-json"
    title = "Body is not valid JSON"
    advice = "Send a valid JSON object as the body."


class BodyTooLarge(BadRequest):
    code = "body-too-large"
    title = "Request body too large"
    advice = "Send less; `limit` is the largest body accepted, in bytes."
    status = 413


class RequestTimeout(BadRequest):
    code = "request-timeout"
    title = "Request body arrived too slowly"
    advice = (
        "Send the whole body within `timeout_s` seconds of the headers (the connection is closed); retry on a fresh connection."
    )
    status = 408
    retryable = True


class MethodNotAllowed(ChamberlainError):
    code = "method-not-allowed"
    title = "Method not allowed"
    advice = "Use a method the endpoint offers (the `Allow` header); `/mcp` takes POST only, it keeps no streams."
    status = 405


class ActionFailed(ChamberlainError):
    code = "action-failed"
    title = "The action refused the request"
    advice = "The business refused; `reason` is its stable code. Change the request, do not retry it unchanged."
    status = 422


class InternalError(ChamberlainError):
    code = "internal-error"
    title = "Internal error"
    advice = "Retry later with backoff; nothing was changed. Report the `call_id` if it persists."
    status = 500
    retryable = True


class StoreUnavailable(ChamberlainError):
    code = "store-unavailable"
    title = "The database is unavailable"
    advice = (
        "Retry after `retry_after` seconds (the `Retry-After` header), with the same idempotency key: "
        "a database could not be reached or did not answer in time, and nothing of this call was kept."
    )
    status = 503
    retryable = True

    def __init__(self, detail: str = "the database did not answer; retry shortly", **extra: Any) -> None:
        super().__init__(detail, **{"retry_after": 1, **extra})


class AuditLogBroken(ChamberlainError):
    code = "audit-log-broken"
    title = "The audit log contradicts a checkpoint it signed"
    advice = (
        "Stop and investigate: the database no longer holds the tree a checkpoint outside it signed "
        "(restored, truncated or rewritten). Verify an export with `chamberlain audit verify`."
    )
    status = 500


class RevocationUnavailable(ChamberlainError):
    code = "revocation-unavailable"
    title = "Revocation state cannot be read"
    advice = "Retry shortly: the gateway could not confirm the grant is not revoked, so it refused."
    status = 503
    retryable = True


class LimiterUnavailable(ChamberlainError):
    code = "limiter-unavailable"
    title = "Rate limits cannot be counted"
    advice = (
        "Retry shortly: the shared rate limiter (Redis) did not answer, so the gateway refused "
        "rather than let an uncounted call through."
    )
    status = 503
    retryable = True


class EventsGone(ChamberlainError):
    code = "events-gone"
    title = "The events to resume from are no longer kept"
    advice = (
        "Reconnect without `Last-Event-ID` (and read current state first): events older than the retention window were pruned."
    )
    status = 410


class SlowConsumer(ChamberlainError):
    code = "slow-consumer"
    title = "The event stream fell too far behind"
    advice = "Read faster, or filter by type or subject; reconnect with `Last-Event-ID` set to the last `id` you got to resume."
    status = 503
    retryable = True


class UpstreamError(ChamberlainError):
    """A proxied action's upstream (an API or MCP server the gateway governs) did not do
    what was asked. ``upstream_status`` keeps the upstream's own HTTP status, if any."""

    code = "upstream-error"
    title = "The upstream failed"
    advice = "Base class; not sent on its own."
    status = 502


class UpstreamFailed(UpstreamError):
    code = "upstream-failed"
    title = "The upstream answered with an error"
    advice = "Retry later with backoff if the operation is idempotent; `upstream_status` is what the upstream said."
    status = 502
    retryable = True


class UpstreamTimeout(UpstreamError):
    code = "upstream-timeout"
    title = "The upstream did not answer in time"
    advice = (
        "Retry later with the same idempotency key: the upstream may or may not have acted. "
        "Check the call's record before repeating a non-idempotent operation."
    )
    status = 504
    retryable = True


class UpstreamUnavailable(UpstreamError):
    code = "upstream-unavailable"
    title = "The upstream is unavailable"
    advice = "Retry after `retry_after` seconds: the gateway stopped sending to it after repeated failures (circuit open)."
    status = 503
    retryable = True


class UpstreamRejected(UpstreamError):
    code = "upstream-rejected"
    title = "The upstream refused the request"
    advice = "Change the request: the upstream judged it invalid (`upstream_status` and `upstream_detail` say how)."
    status = 422


class UpstreamNotFound(UpstreamError):
    code = "upstream-not-found"
    title = "The upstream has no such resource"
    advice = "Check the identifiers you sent; the upstream answered 404."
    status = 404


class UpstreamConflict(UpstreamError):
    code = "upstream-conflict"
    title = "The upstream reported a conflict"
    advice = "Read the resource's current state, then decide; the upstream answered 409 or 412."
    status = 409


class UpstreamRateLimited(UpstreamError):
    code = "upstream-rate-limited"
    title = "The upstream is limiting requests"
    advice = "Retry after `retry_after` seconds."
    status = 429
    retryable = True


class UpstreamDenied(UpstreamError):
    code = "upstream-denied"
    title = "The upstream refused the gateway's credentials"
    advice = "Not something the agent can fix: the operator must update the credentials configured for this upstream."
    status = 502


class ToolDefinitionChanged(ChamberlainError):
    code = "tool-definition-changed"
    title = "The upstream tool changed since it was approved"
    advice = (
        "Not served until an operator reviews the new definition (`chamberlain proxy approve`): "
        "a tool's name, description or schema changed upstream after review."
    )
    status = 409


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


def catalogue() -> list[dict[str, Any]]:
    """Every problem type the gateway can send, with what to do about it."""
    return [
        {
            "type": cls("").type_uri,
            "code": cls.code,
            "title": cls.title,
            "status": cls.status,
            "retryable": cls.retryable,
            "advice": cls.advice,
        }
        for cls in all_error_types()
    ]


def all_error_types() -> list[type[ChamberlainError]]:
    """Every error class in tree order (each parent before its children), for the catalogue."""

    def walk(cls: type[ChamberlainError]) -> list[type[ChamberlainError]]:
        return [cls] + [c for sub in cls.__subclasses__() for c in walk(sub)]

    return walk(ChamberlainError)
