"""The console's live updates: one Server-Sent Events stream per open page.

It tells the page *that* something changed (a call was recorded, the approvals waiting
changed), and the page fetches the new rows as HTML fragments through the ordinary
pages, so the stream carries no data of its own and no second way to render it. It
reads the shared tables every ``POLL_S``, so a change made by any gateway process shows
within that time, with no bus required; a console has a few viewers, not thousands.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
from starlette.requests import Request

from ...approvals import ApprovalDesk
from ...errors import ChamberlainError
from ...grants import Grant
from ...pipeline import Gateway

__all__ = ["live_stream"]

POLL_S = 1.0
HEARTBEAT_S = 15.0


async def _pending(desk: ApprovalDesk, grant: Grant) -> list[str]:
    try:
        return sorted(a["id"] for a in await desk.query(grant, "pending"))
    except ChamberlainError:
        return []


async def _latest_call(gateway: Gateway, grant: Grant) -> str | None:
    found = await gateway.records(grant, limit=1)
    return found[0]["id"] if found else None


def _frame(event: str, data: object) -> bytes:
    return b"event: %s\ndata: %s\n\n" % (event.encode(), orjson.dumps(data))


async def live_stream(gateway: Gateway, desk: ApprovalDesk, grant: Grant, request: Request) -> AsyncIterator[bytes]:
    pending, latest = await _pending(desk, grant), await _latest_call(gateway, grant)
    yield b"retry: 2000\n\n" + _frame("hello", {"pending": len(pending), "latest": latest})
    quiet = 0.0
    while not await request.is_disconnected():
        await asyncio.sleep(POLL_S)
        now_pending, now_latest = await _pending(desk, grant), await _latest_call(gateway, grant)
        if now_pending != pending:
            pending = now_pending
            yield _frame("approvals", {"pending": len(pending), "ids": pending})
            quiet = 0.0
        if now_latest != latest:
            latest = now_latest
            yield _frame("calls", {"latest": latest})
            quiet = 0.0
        quiet += POLL_S
        if quiet >= HEARTBEAT_S:
            yield b": still here\n\n"
            quiet = 0.0
