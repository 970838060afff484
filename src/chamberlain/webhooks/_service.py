"""Webhook endpoints and their deliveries, kept in the store.

A delivery is written for every (endpoint, event) pair in the same transaction as
the event itself, so the outbox guarantee carries over: an event whose change
committed has its deliveries committed too, and one that rolled back has none. The
delivery holds the exact body that will be signed and sent, so a retry or a replay
days later sends the same bytes, long after the event left the replay window.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import and_, bindparam, delete, select, update

from ..grants import KeyRing
from ..ids import new_prefixed_id
from ..store import (
    Store,
    Transaction,
    in_every_database,
    tenant_transaction,
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
)
from ..timeutil import utc_now, utc_now_iso
from ._targets import check_url, resolve

__all__ = ["STATUSES", "Webhooks"]

_LIVE_ENDPOINTS = select(webhook_endpoints.c.id, webhook_endpoints.c.types).where(
    webhook_endpoints.c.tenant_id == bindparam("tenant"), webhook_endpoints.c.removed_at.is_(None)
)
"""Asked on every event, so built once (building it cost more than running it)."""

STATUSES = ("pending", "delivered", "dead", "cancelled")
"""pending: waiting for its next attempt; delivered: a 2xx came back; dead: every
attempt failed (the dead-letter list, replayable); cancelled: its endpoint was removed."""


def new_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def _endpoint_view(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "url": row["url"],
        "types": list(row["types"]),
        "description": row["description"],
        "created_by": row["created_by"],
        "created_at": row["created_at"],
        "removed_at": row["removed_at"],
    }


def _delivery_view(row: Any) -> dict[str, Any]:
    keys = ("id", "endpoint_id", "event_id", "event_type", "status", "attempts", "next_attempt_at", "last_status")
    return {**{k: row[k] for k in keys}, **{k: row[k] for k in ("last_error", "replay_of", "created_at", "closed_at")}}


class Webhooks:
    def __init__(self, store: Store, keys: KeyRing, *, allow_private: bool) -> None:
        self.store = store
        self.keys = keys
        self.allow_private = allow_private
        self.woken = asyncio.Event()
        """Set when deliveries are committed: the deliverer starts on them at once."""

    def wake(self) -> None:
        self.woken.set()

    async def register(
        self, tx: Transaction, tenant: str, url: str, types: Iterable[str], created_by: str, description: str = ""
    ) -> tuple[dict[str, Any], str]:
        """A new endpoint for ``types`` (already authorized by the caller) and its secret,
        which is shown this once. Raises ValueError for a URL that may not be used."""
        parsed = check_url(url)
        await resolve(parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80), allow_private=self.allow_private)
        secret = new_secret()
        row = {
            "id": new_prefixed_id("wh_"),
            "tenant_id": tenant,
            "url": str(parsed),
            "types": sorted(set(types)),
            "secret_enc": self.keys.seal(secret.encode()),
            "description": description,
            "created_by": created_by,
            "created_at": utc_now_iso(),
            "removed_at": None,
        }
        await tx.insert(webhook_endpoints, row)
        return _endpoint_view(row), secret

    async def endpoints(self, tenant: str, *, include_removed: bool = False) -> list[dict[str, Any]]:
        query = select(webhook_endpoints).where(webhook_endpoints.c.tenant_id == tenant)
        if not include_removed:
            query = query.where(webhook_endpoints.c.removed_at.is_(None))
        return [_endpoint_view(r) for r in await self.store.fetch_all(query.order_by(webhook_endpoints.c.id))]

    async def remove(self, tx: Transaction, tenant: str, endpoint_id: str) -> int:
        """Stop the endpoint; its pending deliveries are cancelled (their count is returned).
        Raises LookupError if the tenant has no such live endpoint."""
        now = utc_now_iso()
        ended = await tx.execute(
            update(webhook_endpoints)
            .where(
                webhook_endpoints.c.tenant_id == tenant,
                webhook_endpoints.c.id == endpoint_id,
                webhook_endpoints.c.removed_at.is_(None),
            )
            .values(removed_at=now)
        )
        if ended.rowcount != 1:  # type: ignore[attr-defined]
            raise LookupError(endpoint_id)
        cancelled = await tx.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.endpoint_id == endpoint_id, webhook_deliveries.c.status == "pending")
            .values(status="cancelled", closed_at=now, next_attempt_at=None)
        )
        return int(cancelled.rowcount or 0)  # type: ignore[attr-defined]

    async def enqueue(self, tx: Transaction, event: dict[str, Any]) -> None:
        """The event hub's sink: a delivery for every live endpoint of the tenant that takes
        this type, in the event's own transaction."""
        rows = await tx.execute(_LIVE_ENDPOINTS, {"tenant": event["tenant"]})
        targets = [r.id for r in rows if event["type"] in r.types]
        if not targets:
            return
        body, now = orjson.dumps(event).decode(), utc_now_iso()
        for endpoint_id in targets:
            await tx.insert(webhook_deliveries, self._delivery_row(event["tenant"], endpoint_id, event, body, now))
        tx.after_commit(self.wake)

    @staticmethod
    def _delivery_row(
        tenant: str, endpoint_id: str, event: dict[str, Any], body: str, now: str, replay_of: str | None = None
    ) -> dict[str, Any]:
        return {
            "id": new_prefixed_id("whd_"),
            "tenant_id": tenant,
            "endpoint_id": endpoint_id,
            "event_id": event["id"],
            "event_type": event["type"],
            "body": body,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "replay_of": replay_of,
            "created_at": now,
        }

    async def deliveries(
        self, tenant: str, *, endpoint_id: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Newest first."""
        query = select(webhook_deliveries).where(webhook_deliveries.c.tenant_id == tenant)
        if endpoint_id is not None:
            query = query.where(webhook_deliveries.c.endpoint_id == endpoint_id)
        if status is not None:
            query = query.where(webhook_deliveries.c.status == status)
        rows = await self.store.fetch_all(query.order_by(webhook_deliveries.c.id.desc()).limit(limit))
        return [_delivery_view(r) for r in rows]

    async def delivery(self, tenant: str, delivery_id: str) -> dict[str, Any]:
        """One delivery with every attempt made; LookupError if the tenant has none such."""
        row = await self.store.fetch_one(
            select(webhook_deliveries).where(webhook_deliveries.c.tenant_id == tenant, webhook_deliveries.c.id == delivery_id)
        )
        if row is None:
            raise LookupError(delivery_id)
        tries = await self.store.fetch_all(
            select(webhook_attempts).where(webhook_attempts.c.delivery_id == delivery_id).order_by(webhook_attempts.c.n)
        )
        keep = ("n", "at", "status_code", "error", "duration_ms")
        return {**_delivery_view(row), "attempt_log": [{k: t[k] for k in keep} for t in tries]}

    async def replay(
        self, tx: Transaction, tenant: str, *, delivery_id: str | None = None, endpoint_id: str | None = None
    ) -> list[str]:
        """Send again, as new deliveries: one delivery (any closed state), or every dead
        one of an endpoint. The body, and so the ``webhook-id``, is the original's, so a
        receiver that already got it can tell. Returns the new deliveries' ids."""
        query = (
            select(webhook_deliveries)
            .join(webhook_endpoints, webhook_endpoints.c.id == webhook_deliveries.c.endpoint_id)
            .where(webhook_deliveries.c.tenant_id == tenant, webhook_endpoints.c.removed_at.is_(None))
        )
        if delivery_id is not None:
            query = query.where(webhook_deliveries.c.id == delivery_id, webhook_deliveries.c.status != "pending")
        if endpoint_id is not None:
            query = query.where(webhook_deliveries.c.endpoint_id == endpoint_id, webhook_deliveries.c.status == "dead")
        rows = list(await tx.execute(query.order_by(webhook_deliveries.c.id).limit(1000)))
        now, made = utc_now_iso(), []
        for r in rows:
            event = {"id": r.event_id, "type": r.event_type}
            row = self._delivery_row(tenant, r.endpoint_id, event, r.body, now, replay_of=r.id)
            await tx.insert(webhook_deliveries, row)
            made.append(row["id"])
        if made:
            tx.after_commit(self.wake)
        return made

    async def due(self, now: str, limit: int, busy: Callable[[str], bool]) -> list[dict[str, Any]]:
        """Deliveries whose time has come, with their endpoint's URL and sealed secret,
        skipping endpoints that already have all the attempts in flight they may."""
        query = (
            select(
                webhook_deliveries,
                webhook_endpoints.c.url,
                webhook_endpoints.c.secret_enc,
            )
            .join(
                webhook_endpoints,
                and_(webhook_endpoints.c.id == webhook_deliveries.c.endpoint_id, webhook_endpoints.c.removed_at.is_(None)),
            )
            .where(webhook_deliveries.c.status == "pending", webhook_deliveries.c.next_attempt_at <= now)
            .order_by(webhook_deliveries.c.next_attempt_at)
            .limit(limit)
        )
        return [dict(r) for r in await self.store.fetch_all(query) if not busy(r["endpoint_id"])]

    async def claim(self, delivery_id: str, tenant: str, due_at: str, lease_until: str) -> bool:
        """Take a due delivery for one attempt; False if another process took it first.
        A process that dies mid-attempt leaves it to be tried again after the lease."""
        async with tenant_transaction(self.store, tenant) as tx:
            result = await tx.execute(
                update(webhook_deliveries)
                .where(
                    webhook_deliveries.c.id == delivery_id,
                    webhook_deliveries.c.status == "pending",
                    webhook_deliveries.c.next_attempt_at == due_at,
                )
                .values(next_attempt_at=lease_until)
            )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def record_attempt(
        self,
        delivery: dict[str, Any],
        *,
        at: str,
        status_code: int | None,
        error: str | None,
        duration_ms: float,
        next_attempt_at: str | None,
        status: str,
    ) -> None:
        """The attempt, and what the delivery does next, in one transaction."""
        n = int(delivery["attempts"]) + 1
        async with tenant_transaction(self.store, delivery["tenant_id"]) as tx:
            await tx.insert(
                webhook_attempts,
                {
                    "delivery_id": delivery["id"],
                    "n": n,
                    "tenant_id": delivery["tenant_id"],
                    "at": at,
                    "status_code": status_code,
                    "error": error,
                    "duration_ms": round(duration_ms, 3),
                },
            )
            await tx.execute(
                update(webhook_deliveries)
                .where(webhook_deliveries.c.id == delivery["id"], webhook_deliveries.c.status == "pending")
                .values(
                    attempts=n,
                    status=status,
                    next_attempt_at=next_attempt_at,
                    last_status=status_code,
                    last_error=error,
                    closed_at=None if status == "pending" else at,
                )
            )

    async def prune(self, retention_s: float) -> int:
        """Forget deliveries that finished (delivered, dead or cancelled) more than
        ``retention_s`` ago, with their attempts; how many. Pending ones are never pruned."""
        cutoff = (utc_now() - timedelta(seconds=retention_s)).isoformat(timespec="microseconds")
        done = select(webhook_deliveries.c.id).where(
            webhook_deliveries.c.status != "pending", webhook_deliveries.c.closed_at < cutoff
        )

        async def forget(tx: Transaction) -> int:
            await tx.execute(delete(webhook_attempts).where(webhook_attempts.c.delivery_id.in_(done)))
            result = await tx.execute(delete(webhook_deliveries).where(webhook_deliveries.c.id.in_(done)))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

        return await in_every_database(self.store, forget)

    def secret(self, sealed: bytes) -> str:
        return self.keys.unseal(sealed).decode()
