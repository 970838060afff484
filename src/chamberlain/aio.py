"""Waiting with a deadline, correctly under cancellation.

``asyncio.wait_for`` on Python 3.11 can swallow a cancellation that lands while its
timeout fires, leaving the cancelled task waiting forever (3.12 rebuilt ``wait_for``
on ``asyncio.timeout``, cpython gh-96764). Background loops here are
cancelled at shutdown, so they wait through these helpers instead.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

__all__ = ["get_within", "wait_set"]

T = TypeVar("T")


async def wait_set(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait until ``event`` is set or ``timeout_s`` passes; whether it was set."""
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def get_within(queue: asyncio.Queue[T], timeout_s: float) -> T | None:
    """The next item of ``queue``, or None if none came within ``timeout_s``. An item
    that arrives as the deadline passes stays in the queue."""
    if not queue.empty():  # no deadline to arm: busy streams take this path
        return queue.get_nowait()
    try:
        async with asyncio.timeout(timeout_s):
            return await queue.get()
    except TimeoutError:
        return None


def raise_if_cancelled() -> None:
    """Call in an ``except Exception`` that retries: some drivers turn the cancellation of a
    query into an error of their own (psycopg closes the connection and raises that), which
    would otherwise be retried forever by a task that was asked to stop."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
