"""The stages of the spine, each with one job.

Expected refusals are returned as outcomes with an error (never raised past the
stage), so the outer ``RecordCalls`` layer sees every refusal and records it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import orjson
from pydantic import ValidationError

from ..actions import Surface
from ..aio import raise_if_cancelled
from ..canonical import digest
from ..context import Context
from ..errors import (
    ActionError,
    ActionFailed,
    AuthenticationError,
    BadRequest,
    ChamberlainError,
    GrantInvalid,
    GrantWrongTenant,
    InternalError,
    InvalidInput,
    StoreUnavailable,
    UnknownAction,
)
from ..grants import GrantAuthority
from ..store import LazyTransaction, Store, Transaction, is_outage, tenant_scope
from ..timeutil import utc_now
from ..tracing import traceparent_of
from ._call import Call, Outcome
from ._idempotency import onward_key
from ._records import record_outcome, write_record
from ._reverts import claim_original, remember
from ._stage import Next

log = logging.getLogger("chamberlain.pipeline")


class RecordCalls:
    """Outermost, fixed: turns crashes into InternalError and records what was not."""

    name = "record"

    def __init__(self, store: Store) -> None:
        self._store = store

    async def __call__(self, call: Call, next: Next) -> Outcome:
        try:
            outcome = await next(call)
        except ChamberlainError as err:
            outcome = Outcome(call, error=err)
        except Exception as err:
            log.exception("call %s (%s) failed inside the pipeline", call.id, call.action_name)
            outcome = Outcome(call, error=unexpected_failure(err, "the gateway failed to complete the call", call.id))
        if not outcome.recorded:
            try:
                await record_outcome(self._store, outcome)
            except Exception as err:
                raise_if_cancelled()
                # The database is away (an outage, a failover). Nothing of this call was
                # kept (an executed call's record commits with its effects, earlier), so
                # the caller is told to retry: with a retryable refusal it already has
                # (the revocation or the rate limit could not be checked), or else an
                # internal error, never a raw exception (MCP would send its text).
                log.exception("call %s (%s): its outcome could not be recorded", call.id, call.action_name)
                if outcome.error is None or not outcome.error.retryable or outcome.executed:
                    failed = unexpected_failure(err, "the gateway could not record the call; retry", call.id)
                    outcome = Outcome(call, error=failed)
        return outcome


def unexpected_failure(err: Exception, detail: str, call_id: str | None = None) -> ChamberlainError:
    """What a caller is told of an exception nobody expected (every surface answers so):
    the database being away is ``503 store-unavailable``, anything else ``500
    internal-error`` with ``detail``; neither says more than that."""
    named = {"call_id": call_id} if call_id is not None else {}
    if is_outage(err):
        return StoreUnavailable(**named)
    return InternalError(detail, **named)


class Authenticate:
    """The grant is the only credential: no grant, no call."""

    name = "authenticate"

    def __init__(self, authority: GrantAuthority) -> None:
        self._authority = authority

    async def __call__(self, call: Call, next: Next) -> Outcome:
        try:
            call.grant = await self._authority.verify(call.token)
            await self._authority.consume_use(call.grant)
        except AuthenticationError as err:
            call.grant = err.verified  # expired or revoked: recorded in the grant's own tenant
            return Outcome(call, error=err)
        except ChamberlainError as err:
            return Outcome(call, error=err)
        call.reasons.append({"stage": self.name, "grant_id": call.grant.id, "chain": call.grant.chain})
        return await next(call)


class ResolveTenant:
    """The tenant is the grant's; a caller naming another tenant is refused. The rest of
    the call runs in the tenant's store scope (row-level security on PostgreSQL)."""

    name = "tenant"

    def __init__(self, tenant_exists: Callable[[str], Awaitable[bool]]) -> None:
        self._exists = tenant_exists

    async def __call__(self, call: Call, next: Next) -> Outcome:
        assert call.grant is not None
        tenant = call.grant.tenant
        if call.requested_tenant is not None and call.requested_tenant != tenant:
            return Outcome(call, error=GrantWrongTenant("grant belongs to another tenant than the one requested"))
        if not await self._exists(tenant):
            return Outcome(call, error=GrantInvalid("grant's tenant does not exist"))
        with tenant_scope(tenant):  # from here on (handler included) the store sees this tenant's rows only
            return await next(call)


class ValidateInput:
    """Find the action and hold the arguments to its input contract."""

    name = "validate"

    def __init__(self, surface: Surface) -> None:
        self._surface = surface

    async def __call__(self, call: Call, next: Next) -> Outcome:
        action = self._surface.get(call.action_name)
        if action is None:
            return Outcome(call, error=UnknownAction(f"no action named {call.action_name[:200]!r}"))
        call.action = action
        if call.transport_error is not None:
            return Outcome(call, error=call.transport_error)
        if not isinstance(call.arguments, dict):
            return Outcome(call, error=InvalidInput("arguments must be a JSON object", errors=[]))
        encoded = _encoded(call.arguments)
        if isinstance(encoded, ChamberlainError):
            return Outcome(call, error=encoded)
        try:
            # Strict, as JSON: what the published input schema says, no coercion (not "1"
            # for 1, not 0 for false); text stays the way to send a date, a time or a UUID.
            call.args = action.contract.input_model.model_validate_json(encoded, strict=True)
        except ValidationError as err:
            return Outcome(
                call, error=InvalidInput(f"{err.error_count()} argument error(s) for {action.name}", errors=_errors(err))
            )
        call.input = call.args.model_dump(mode="json")
        call.input_hash = digest(call.input)
        return await next(call)


MAX_DEPTH = 253
"""How deep arguments may nest: what canonical JSON (``orjson``, whose limit this is) can
write. A body parses up to 1,024 levels; deeper arguments would break hashing the input
(an internal error where a refusal is due), so they are refused here, before any
handler, policy or log sees them."""


def _encoded(arguments: dict[str, Any]) -> bytes | ChamberlainError:
    """``arguments`` as JSON, to validate them as the JSON they came as; or the refusal of
    arguments that nest deeper than MAX_DEPTH (found at C speed: small arguments cost a
    microsecond or two), or that an in-process caller made of values JSON cannot hold."""
    try:
        return orjson.dumps(arguments)
    except TypeError as err:
        if "recursion" in str(err).lower():
            return BadRequest(f"arguments nest deeper than {MAX_DEPTH} levels", limit=MAX_DEPTH)
        return InvalidInput(f"arguments must be JSON values: {err}", errors=[])


def _errors(err: ValidationError) -> list[dict[str, object]]:
    """Pydantic's errors minus echoed input, which may hold secrets."""
    return [
        {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
        for e in err.errors(include_url=False, include_input=False, include_context=False)
    ]


class AuthorizeGrant:
    """Every block of the grant must allow this action, now."""

    name = "authorize"

    def __init__(self, authority: GrantAuthority) -> None:
        self._authority = authority

    async def __call__(self, call: Call, next: Next) -> Outcome:
        assert call.grant is not None and call.action is not None
        try:
            grant = call.grant
            arguments = call.input if grant.uses_arguments and call.input is not None else {}
            grant.authorize(call.action.name, self._authority.audience, utc_now(), arguments)
        except ChamberlainError as err:
            return Outcome(call, error=err)
        # Only the authority block (0) grants; every check of every block passed.
        reason: dict[str, object] = {
            "stage": self.name,
            "allowed_by": f"grant:{call.grant.id}",
            "block": 0,
            "right": call.grant.allowing_right(call.action.name),
            "blocks": call.grant.blocks,
        }
        if call.grant.constraints:
            reason["constraints"] = list(call.grant.constraints)
        call.reasons.append(reason)
        return await next(call)


Finish = Callable[[Transaction, Outcome], Awaitable[None]]
"""Writes what must commit with the handler's effects (the call record, by default)."""


class _HandlerFailed(Exception):
    def __init__(self, error: ChamberlainError, *, executed: bool = True) -> None:
        self.error = error
        self.executed = executed


class Execute:
    """Run the handler in a transaction that also holds the call record.

    The transaction begins at the handler's first statement (or at the record insert),
    so a handler waiting on something slow does not hold SQLite's single write lock.
    """

    name = "execute"

    def __init__(self, store: Store, timeout_s: float, events: Any = None, surface: Surface | None = None) -> None:
        self._store = store
        self._surface = surface
        self._timeout = timeout_s
        self._events = events

    async def __call__(self, call: Call, next: Next) -> Outcome:
        return await self.run(call, write_record)

    async def run(self, call: Call, finish: Finish) -> Outcome:
        """Run the handler and ``finish`` in one transaction; if either fails, neither's
        writes stay. A handler failure comes back as an unrecorded outcome; a failure of
        ``finish`` is raised."""
        try:
            async with LazyTransaction(self._store) as tx:
                outcome = await self._invoke(call, tx)
                await finish(tx, outcome)
                if call.action is not None and call.action.undo is not None:  # after finish: it may find the call ran
                    await remember(tx, outcome)
            return outcome
        except _HandlerFailed as failed:
            return Outcome(call, error=failed.error, executed=failed.executed)

    async def _invoke(self, call: Call, tx: LazyTransaction) -> Outcome:
        assert call.grant is not None and call.action is not None and call.args is not None
        action = call.action
        kwargs = dict(call.args)
        if action.contract.context_param:
            kwargs[action.contract.context_param] = Context(
                call.grant.tenant,
                call.grant.acting,
                call.id,
                call.trace_id,
                tx,
                call.grant,
                traceparent_of(call.trace_id),
                self._events,
                onward_key(call),
            )
        run = await self._compensation(call, tx, kwargs) if action.reverts is not None else partial(action.handler, **kwargs)
        try:
            async with asyncio.timeout(self._timeout):
                value = await run()
        except ActionError as err:
            raise _HandlerFailed(ActionFailed(err.message, reason=err.code, **err.extra)) from err
        except ChamberlainError as err:  # a gateway problem type raised on purpose (a proxied upstream's refusal)
            raise _HandlerFailed(err) from err
        except TimeoutError as err:
            raise _HandlerFailed(InternalError(f"{action.name} did not finish within {self._timeout:g}s")) from err
        except Exception as err:  # a pydantic error raised inside the handler is the handler's, not the output's
            log.exception("call %s: handler of %s raised", call.id, action.name)
            raise _HandlerFailed(unexpected_failure(err, f"{action.name} failed; nothing was changed", call.id)) from err
        try:
            result = action.contract.dump_output(value)
        except ValidationError as err:
            log.exception("call %s: %s returned a value that breaks its output contract", call.id, action.name)
            raise _HandlerFailed(InternalError(f"{action.name} produced a result that breaks its output contract")) from err
        return Outcome(call, result=result, result_hash=digest(result), executed=True)

    async def _compensation(self, call: Call, tx: LazyTransaction, kwargs: dict[str, Any]) -> Callable[[], Awaitable[Any]]:
        """A revert runs its compensation on the original call, claimed first in the same
        transaction; if it cannot be claimed nothing runs and the call is refused."""
        assert call.action is not None and call.action.reverts is not None and call.action.contract.context_param
        reverted = self._surface.get(call.action.reverts) if self._surface is not None else None
        if reverted is None:
            raise _HandlerFailed(InternalError(f"{call.action.reverts} is not served here"), executed=False)
        try:
            original = await claim_original(tx, call, reverted)
        except ChamberlainError as err:
            raise _HandlerFailed(err, executed=False) from err
        return partial(call.action.handler, original, kwargs[call.action.contract.context_param])
