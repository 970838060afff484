"""Sending deliveries: signed per Standard Webhooks, retried with backoff and jitter,
dead-lettered after the last attempt, never letting one endpoint hold up another.

Each process runs one deliverer. It is woken when deliveries commit (and looks every
``poll_s`` for those committed elsewhere and for retries that came due), claims due
deliveries one by one with a lease (so two processes never attempt the same one at
once, and a crash mid-attempt only delays it), and sends each in its own task. At most
``concurrency`` attempts are in flight, and at most a quarter of them for any one
endpoint: a slow or failing endpoint uses up its own share and waits, while other
tenants' deliveries go on. Every attempt is recorded with its status code or error.

Delivery is at least once: a receiver dedupes on ``webhook-id``, which is the event's
id and the same on every attempt and replay.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
from standardwebhooks import Webhook

from .. import __version__
from ..aio import raise_if_cancelled, wait_set
from ..timeutil import utc_now
from ._service import Webhooks
from ._targets import TargetForbidden, guarded_client

__all__ = ["Deliverer", "backoff_s"]

log = logging.getLogger("chamberlain.webhooks")


def backoff_s(attempt: int, base_s: float, max_s: float) -> float:
    """The wait after failed attempt number ``attempt`` (1-based): doubling from
    ``base_s``, capped at ``max_s``, then scaled by a random factor in [0.5, 1) so that
    many deliveries failing together do not come back together."""
    return min(max_s, base_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)


class Deliverer:
    def __init__(
        self,
        webhooks: Webhooks,
        *,
        timeout_s: float,
        max_attempts: int,
        backoff_s: float,
        backoff_max_s: float,
        concurrency: int,
        poll_s: float = 1.0,
    ) -> None:
        self.webhooks = webhooks
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.base_s = backoff_s
        self.max_s = backoff_max_s
        self.concurrency = concurrency
        self.per_endpoint = max(1, concurrency // 4)
        self.poll_s = poll_s
        self._in_flight: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        self._secrets: dict[str, str] = {}

    def _busy(self, endpoint_id: str) -> bool:
        return self._in_flight[endpoint_id] >= self.per_endpoint

    async def run_forever(self) -> None:
        async with guarded_client(
            allow_private=self.webhooks.allow_private, timeout_s=self.timeout_s, max_connections=self.concurrency
        ) as client:
            try:
                while True:
                    try:
                        started = await self.send_due(client)
                    except Exception:
                        raise_if_cancelled()
                        log.exception("looking for due webhook deliveries failed; retrying")
                        started = 0
                    if started == 0 or sum(self._in_flight.values()) >= self.concurrency:
                        await wait_set(self.webhooks.woken, self.poll_s)
                        self.webhooks.woken.clear()
            finally:
                for task in self._tasks:
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)

    async def send_due(self, client: httpx.AsyncClient) -> int:
        """Start an attempt for every due delivery there is room for; how many started."""
        free = self.concurrency - sum(self._in_flight.values())
        if free <= 0:
            return 0
        now = utc_now()
        lease = (now + timedelta(seconds=self.timeout_s + 30)).isoformat(timespec="microseconds")
        started = 0
        for row in await self.webhooks.due(now.isoformat(timespec="microseconds"), free * 2, self._busy):
            if started == free or self._busy(row["endpoint_id"]):
                continue
            if not await self.webhooks.claim(row["id"], row["tenant_id"], row["next_attempt_at"], lease):
                continue
            self._in_flight[row["endpoint_id"]] += 1
            task = asyncio.create_task(self._attempt(client, row), name=f"webhook:{row['id']}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started += 1
        return started

    async def _attempt(self, client: httpx.AsyncClient, row: dict[str, Any]) -> None:
        try:
            status_code, error, elapsed_ms = await self._post(client, row)
            await self._record(row, status_code, error, elapsed_ms)
        except Exception:
            log.exception("webhook delivery %s: recording the attempt failed; it is retried after its lease", row["id"])
        finally:
            self._in_flight[row["endpoint_id"]] -= 1
            if self._in_flight[row["endpoint_id"]] <= 0:
                del self._in_flight[row["endpoint_id"]]
            self.webhooks.wake()  # room for another

    async def _post(self, client: httpx.AsyncClient, row: dict[str, Any]) -> tuple[int | None, str | None, float]:
        secret = self._secrets.get(row["endpoint_id"])
        if secret is None:
            secret = self._secrets[row["endpoint_id"]] = self.webhooks.secret(row["secret_enc"])
        sent_at = utc_now()
        headers = {
            "webhook-id": row["event_id"],
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": Webhook(secret).sign(row["event_id"], sent_at, row["body"]),
            "content-type": "application/cloudevents+json",
            "user-agent": f"Chamberlain-Webhooks/{__version__}",
        }
        began = time.perf_counter()
        try:
            response = await client.post(row["url"], content=row["body"].encode(), headers=headers)
        except httpx.ConnectError as err:
            # httpx wraps the guard's refusal; it is kept as the cause.
            refused = isinstance(err.__cause__, TargetForbidden)
            return None, f"refused: {err}" if refused else f"ConnectError: {str(err)[:300]}", _ms(began)
        except httpx.TimeoutException:
            return None, f"no answer within {self.timeout_s:g}s", _ms(began)
        except httpx.HTTPError as err:
            return None, f"{type(err).__name__}: {str(err)[:300]}", _ms(began)
        if 200 <= response.status_code < 300:
            return response.status_code, None, _ms(began)
        return response.status_code, f"HTTP {response.status_code}", _ms(began)

    async def _record(self, row: dict[str, Any], status_code: int | None, error: str | None, elapsed_ms: float) -> None:
        now = utc_now()
        attempt = int(row["attempts"]) + 1
        if error is None:
            status, next_at = "delivered", None
        elif attempt >= self.max_attempts:
            status, next_at = "dead", None
            log.warning("webhook delivery %s to %s is dead after %d attempts: %s", row["id"], row["url"], attempt, error)
        else:
            status = "pending"
            next_at = (now + timedelta(seconds=backoff_s(attempt, self.base_s, self.max_s))).isoformat(timespec="microseconds")
        await self.webhooks.record_attempt(
            row,
            at=now.isoformat(timespec="microseconds"),
            status_code=status_code,
            error=error,
            duration_ms=elapsed_ms,
            next_attempt_at=next_at,
            status=status,
        )


def _ms(began: float) -> float:
    return (time.perf_counter() - began) * 1000
