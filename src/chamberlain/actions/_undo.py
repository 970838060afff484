"""Reversible actions: an action's declared compensation, and what it is handed.

A compensation is not an inverse function run on the side: it becomes an action of
its own, ``<name>.revert``, so reverting a call is a call like any other (grant,
limits, policy, approval, audit, events) and the two calls are linked in the
records. Its input is always the id of the call to revert and an optional reason;
what it returns is its own output contract.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, get_type_hints

from pydantic import BaseModel, Field

from ..context import Context
from ._contract import Contract, build_contract

REVERT_SUFFIX = ".revert"

CallId = Annotated[str, Field(min_length=1, max_length=64, description="The id of the call to revert.")]
RevertReason = Annotated[str | None, Field(min_length=3, max_length=500, description="Why; kept in the record and the log.")]


@dataclass(frozen=True)
class Original:
    """The call being reverted, as its compensation receives it: what it was asked
    (``arguments``, and typed as ``args``) and what it answered (``result``)."""

    call_id: str
    action: str
    principal: str
    executed_at: datetime
    arguments: dict[str, Any]
    args: BaseModel
    result: Any
    reason: str | None
    """Why the revert was asked for, if the caller said."""


Compensation = Callable[[Original, Context], Awaitable[Any]]


@dataclass(frozen=True)
class Undo:
    """What an action declares about reverting it."""

    action: str
    """The name of the revert action (``orders.refund.revert``)."""
    window: timedelta | None
    """How long after the call ran it can still be reverted; None: for as long as its data is kept."""

    def describe(self) -> dict[str, Any]:
        return {"action": self.action, **({"window_s": int(self.window.total_seconds())} if self.window else {})}


def revert_contract(compensation: Compensation, model_name: str) -> Contract:
    """The revert action's contract: ``call_id`` and ``reason`` in, the compensation's
    declared return type out."""
    if not inspect.iscoroutinefunction(compensation):
        raise TypeError(f"{compensation.__qualname__}: a compensation must be 'async def'")
    params = list(inspect.signature(compensation).parameters)
    if len(params) != 2:
        raise TypeError(f"{compensation.__qualname__}: a compensation takes (original: Original, ctx: Context)")
    returns = get_type_hints(compensation).get("return", inspect.Signature.empty)

    async def revert(call_id: str, ctx: Context, reason: str | None = None) -> None: ...

    revert.__annotations__ = {"call_id": CallId, "ctx": Context, "reason": RevertReason, "return": returns}
    if returns is inspect.Signature.empty:
        del revert.__annotations__["return"]
    revert.__qualname__ = compensation.__qualname__
    return build_contract(revert, model_name)
