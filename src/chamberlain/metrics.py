"""Prometheus metrics: what operators graph and alert on, served at ``/metrics``.

Every call's outcome is counted once, where the gateway hands it back (``Gateway.call``),
so MCP, REST and the CLI are counted alike. Queue depths (parked calls, webhook
deliveries waiting) are read from the database by the sweep the gateway runs anyway,
not at scrape time. Each runtime has a registry of its own, so several in one process
(tests, embedders) never mix their numbers.

Labels are kept to what stays bounded: action (declared), decision, surface, and the
tenant, which is the one label that grows with the business; past ``max_tenants``
distinct tenants, further ones are counted as ``other``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import func, select

from .store import Store, approvals, webhook_deliveries

if TYPE_CHECKING:
    from .pipeline import Outcome

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

# From 0.5 ms (a refusal) to 10 s (a slow handler): where governed calls land.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
OTHER = "other"


class Metrics:
    def __init__(self, *, max_tenants: int = 100) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.max_tenants = max_tenants
        self._tenants: set[str] = set()
        self.calls = Counter(
            "chamberlain_calls",
            "Calls by outcome: decision is allowed, refused, parked or replayed.",
            ["tenant", "action", "decision", "surface"],
            registry=self.registry,
        )
        self.refusals = Counter(
            "chamberlain_refusals",
            "Refused or failed calls by problem type code.",
            ["tenant", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "chamberlain_call_duration_seconds",
            "Time from a call's arrival to its outcome, in the gateway.",
            ["action", "decision"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.approved_runs = Counter(
            "chamberlain_approved_runs",
            "Parked calls run once approved, by how the run ended (ok, error, refused).",
            ["tenant", "action", "outcome"],
            registry=self.registry,
        )
        self.approvals_pending = Gauge(
            "chamberlain_approvals_pending", "Calls parked for a human, not yet decided.", registry=self.registry
        )
        self.webhooks_pending = Gauge(
            "chamberlain_webhook_deliveries_pending", "Webhook deliveries waiting for a (next) attempt.", registry=self.registry
        )

    def _tenant(self, tenant: str | None) -> str:
        if tenant is None:
            return "none"  # refused before any tenant was known
        if tenant in self._tenants:
            return tenant
        if len(self._tenants) < self.max_tenants:
            self._tenants.add(tenant)
            return tenant
        return OTHER

    def observe(self, outcome: Outcome) -> None:
        call = outcome.call
        action = call.action.name if call.action is not None else "unknown"
        tenant = self._tenant(call.tenant)
        self.calls.labels(tenant, action, outcome.decision, call.surface).inc()
        if outcome.error is not None:
            self.refusals.labels(tenant, outcome.error.code).inc()
        self.latency.labels(action, outcome.decision).observe(call.elapsed_s())

    def observe_approved(self, tenant: str, action: str, outcome: str) -> None:
        """An approved call ran (its request was counted as ``parked`` when it came in)."""
        self.approved_runs.labels(self._tenant(tenant), action, outcome).inc()

    async def sample_queues(self, store: Store) -> None:
        """Queue depths from the database (every tenant's: the gateway's own view; with
        tenant databases, one count from each, added up)."""
        parked = await store.fetch_all(select(func.count().label("n")).where(approvals.c.status.in_(("pending", "approved"))))
        waiting = await store.fetch_all(select(func.count().label("n")).where(webhook_deliveries.c.status == "pending"))
        self.approvals_pending.set(sum(int(r["n"]) for r in parked))
        self.webhooks_pending.set(sum(int(r["n"]) for r in waiting))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
