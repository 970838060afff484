"""Settings as data: one frozen object, each field with a default, help and env var.

The table drives ``chamberlain serve --help``, docs/reference/settings.md and a
test that every setting is documented.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

__all__ = ["Settings"]


def _setting(default: Any, help: str, env: str) -> Any:
    return field(default=default, metadata={"help": help, "env": env})


@dataclass(frozen=True)
class Settings:
    data_dir: Path = _setting(Path("chamberlain-data"), "Folder for the SQLite database and key files.", "CHAMBERLAIN_DATA_DIR")
    database_url: str | None = _setting(
        None,
        "Store URL: sqlite:///path, or postgresql://user@host:port/database for many processes; "
        "default sqlite:///<data_dir>/chamberlain.db.",
        "CHAMBERLAIN_DATABASE_URL",
    )
    database_pool_size: int = _setting(
        10,
        "PostgreSQL connections this process keeps open (as many again may open under load).",
        "CHAMBERLAIN_DATABASE_POOL_SIZE",
    )
    tenant_databases: str | None = _setting(
        None,
        "Tenants placed in databases of their own (silos), as tenant=URL entries separated by spaces or commas; "
        "*=URL with {tenant} in it places every other tenant. Unset, every tenant shares database_url.",
        "CHAMBERLAIN_TENANT_DATABASES",
    )
    redis_url: str | None = _setting(
        None,
        "Redis for rate limits shared by every gateway process (redis://host:6379/0); "
        "unset, each process counts its own in memory.",
        "CHAMBERLAIN_REDIS_URL",
    )
    nats_url: str | None = _setting(
        None,
        "NATS with JetStream (nats://host:4222): committed events pushed between gateway processes; "
        "unset, each process polls the outbox every event_poll_s.",
        "CHAMBERLAIN_NATS_URL",
    )
    nats_prefix: str = _setting(
        "chamberlain.events",
        "Subject prefix of this gateway's events on NATS (its JetStream stream is named after it): "
        "gateways sharing a NATS server need different ones.",
        "CHAMBERLAIN_NATS_PREFIX",
    )
    redis_prefix: str = _setting(
        "chamberlain:", "Prefix of this gateway's Redis keys (several gateways can share one Redis).", "CHAMBERLAIN_REDIS_PREFIX"
    )
    metrics_token: str | None = _setting(
        None,
        "Bearer token that lets a scraper read /metrics from anywhere; unset, only loopback clients may.",
        "CHAMBERLAIN_METRICS_TOKEN",
    )
    metrics_max_tenants: int = _setting(
        100, "Tenants given their own metrics label; further ones are counted as 'other'.", "CHAMBERLAIN_METRICS_MAX_TENANTS"
    )
    host: str = _setting("127.0.0.1", "Interface to listen on.", "CHAMBERLAIN_HOST")
    port: int = _setting(8000, "TCP port to listen on.", "CHAMBERLAIN_PORT")
    audience: str = _setting(
        "chamberlain", "Audience every grant must name; grants for other gateways are refused.", "CHAMBERLAIN_AUDIENCE"
    )
    master_key: str | None = _setting(
        None, "Fernet key wrapping tenant private keys; default: <data_dir>/master.key (created 0600).", "CHAMBERLAIN_MASTER_KEY"
    )
    max_body_bytes: int = _setting(
        1_048_576, "Largest request body accepted on REST and MCP (bytes).", "CHAMBERLAIN_MAX_BODY_BYTES"
    )
    request_read_timeout_s: float = _setting(
        30.0,
        "Longest a client may take to send a request's headers, and then its body (seconds); a slower "
        "client is answered 408 or, still in its headers, disconnected (slowloris).",
        "CHAMBERLAIN_REQUEST_READ_TIMEOUT_S",
    )
    public_url: str | None = _setting(
        None,
        "Base URL clients reach the gateway at (behind a proxy); default: taken from each request.",
        "CHAMBERLAIN_PUBLIC_URL",
    )
    proxy_config: Path | None = _setting(
        None,
        "A TOML file of upstreams to govern: [[openapi]] REST APIs (from their OpenAPI) and [[mcp]] servers; "
        "each becomes actions under its name. Secrets come from the environment (${VAR}), never the file.",
        "CHAMBERLAIN_PROXY_CONFIG",
    )
    store_tenant: str | None = _setting(
        None,
        "The tenant whose storefront the root discovery documents (/.well-known/acp.json, "
        "/.well-known/agent-card.json, /llms.txt) describe; every store also has them under /stores/<tenant>/.",
        "CHAMBERLAIN_STORE_TENANT",
    )
    action_timeout_s: float = _setting(
        30.0, "Longest a handler may run before the call fails and rolls back.", "CHAMBERLAIN_ACTION_TIMEOUT_S"
    )
    policy_dir: Path | None = _setting(
        None,
        "Folder of per-tenant policy files (<policy_dir>/<tenant>/*.cedar), published at start when they changed.",
        "CHAMBERLAIN_POLICY_DIR",
    )
    policy_refresh_s: float = _setting(
        2.0,
        "How often each process checks for a newer policy version, and for new limit overrides, of a tenant (seconds).",
        "CHAMBERLAIN_POLICY_REFRESH_S",
    )
    approval_threshold_minor: int = _setting(
        10_000,
        "Default policies: money movements above this many minor units (100.00 EUR) wait for an approver.",
        "CHAMBERLAIN_APPROVAL_THRESHOLD_MINOR",
    )
    approval_ttl_s: float = _setting(
        86_400.0,
        "How long a parked call waits for approvers before it expires, unless its action says.",
        "CHAMBERLAIN_APPROVAL_TTL_S",
    )
    approval_sweep_s: float = _setting(
        1.0, "How often the gateway expires overdue approvals and runs approved calls (seconds).", "CHAMBERLAIN_APPROVAL_SWEEP_S"
    )
    audit_origin: str = _setting(
        "chamberlain.local/audit",
        "Prefix of each tenant's log name (<audit_origin>/<tenant>): the origin line of its checkpoints and its key name.",
        "CHAMBERLAIN_AUDIT_ORIGIN",
    )
    audit_dir: Path | None = _setting(
        None,
        "Folder outside the database where every signed checkpoint is also written; default <data_dir>/audit."
        " Put it on other storage (or ship it to a witness) so a rewritten database is caught.",
        "CHAMBERLAIN_AUDIT_DIR",
    )
    idempotency_ttl_s: float = _setting(
        86_400.0,
        "How long an idempotency key and the outcome stored with it are kept: a retry within this window gets the"
        " stored outcome, after it the call runs again (seconds).",
        "CHAMBERLAIN_IDEMPOTENCY_TTL_S",
    )
    event_retention_s: float = _setting(
        86_400.0,
        "How long events are kept for replay (SSE Last-Event-ID); older ones are pruned (seconds). Webhook deliveries"
        " keep their own copy (webhook_retention_s).",
        "CHAMBERLAIN_EVENT_RETENTION_S",
    )
    event_heartbeat_s: float = _setting(
        15.0, "How often an idle event stream gets a heartbeat comment (seconds).", "CHAMBERLAIN_EVENT_HEARTBEAT_S"
    )
    event_queue_size: int = _setting(
        1000,
        "Events buffered per stream; a subscriber that falls this far behind is cut off (it resumes with Last-Event-ID).",
        "CHAMBERLAIN_EVENT_QUEUE_SIZE",
    )
    event_batch_s: float = _setting(
        0.01,
        "Least time between two fan-outs of a tenant's events: under load, events that commit meanwhile go out "
        "together, in one write per stream (seconds; an event after a quiet spell goes out at once).",
        "CHAMBERLAIN_EVENT_BATCH_S",
    )
    event_poll_s: float = _setting(
        1.0,
        "How often each process looks for events committed by other processes (seconds).",
        "CHAMBERLAIN_EVENT_POLL_S",
    )
    otlp_endpoint: str | None = _setting(
        None,
        "OpenTelemetry collector (OTLP/HTTP, e.g. http://127.0.0.1:4318) to send a span per call and per stage to;"
        " unset, tracing is off and costs nothing.",
        "CHAMBERLAIN_OTLP_ENDPOINT",
    )
    trace_sample_ratio: float = _setting(
        1.0,
        "Share of calls traced when a collector is set (0.0 to 1.0); a call whose agent sent a traceparent follows"
        " the agent's sampling decision.",
        "CHAMBERLAIN_TRACE_SAMPLE_RATIO",
    )
    audit_checkpoint_s: float = _setting(
        10.0,
        "How often the gateway signs a checkpoint of each tenant's log that grew (seconds).",
        "CHAMBERLAIN_AUDIT_CHECKPOINT_S",
    )
    webhook_allow_private: bool = _setting(
        False,
        "Let webhooks go to loopback, private and link-local addresses (development and tests only: in production"
        " this is the SSRF guard).",
        "CHAMBERLAIN_WEBHOOK_ALLOW_PRIVATE",
    )
    webhook_retention_s: float = _setting(
        30 * 86_400.0,
        "How long finished webhook deliveries (delivered, dead, cancelled) and their attempts are kept to look at "
        "and replay; older ones are pruned (seconds).",
        "CHAMBERLAIN_WEBHOOK_RETENTION_S",
    )
    webhook_timeout_s: float = _setting(
        10.0, "How long a webhook endpoint has to answer one delivery (seconds).", "CHAMBERLAIN_WEBHOOK_TIMEOUT_S"
    )
    webhook_max_attempts: int = _setting(
        8,
        "Attempts per webhook delivery before it moves to the dead-letter list (replay it from there).",
        "CHAMBERLAIN_WEBHOOK_MAX_ATTEMPTS",
    )
    webhook_backoff_s: float = _setting(
        5.0,
        "Delay before the first retry; each further retry waits twice as long, with random jitter (seconds).",
        "CHAMBERLAIN_WEBHOOK_BACKOFF_S",
    )
    webhook_backoff_max_s: float = _setting(
        3600.0, "The longest wait between two attempts of one delivery (seconds).", "CHAMBERLAIN_WEBHOOK_BACKOFF_MAX_S"
    )
    webhook_concurrency: int = _setting(
        64,
        "Deliveries in flight at once in this process; one endpoint never holds more than a quarter of them.",
        "CHAMBERLAIN_WEBHOOK_CONCURRENCY",
    )

    @property
    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir.resolve() / 'chamberlain.db'}"

    @property
    def audit_path(self) -> Path:
        return self.audit_dir if self.audit_dir is not None else self.data_dir / "audit"

    @property
    def master_key_path(self) -> Path:
        return self.data_dir / "master.key"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f.metadata["env"])
            if raw is not None:
                values[f.name] = _convert(f.type, raw)
        settings = cls(**values)
        return replace(settings, **{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def documented(cls) -> list[tuple[str, str, str, Any]]:
        """(name, env var, help, default) for every setting."""
        return [(f.name, f.metadata["env"], f.metadata["help"], f.default) for f in fields(cls)]


def _convert(kind: Any, raw: str) -> Any:
    text = str(kind)
    if "Path" in text:
        if not raw:
            return None
        return Path(raw)
    if text.startswith("int"):
        return int(raw)
    if text.startswith("float"):
        return float(raw)
    if text.startswith("bool"):
        if raw.lower() not in ("1", "true", "yes", "0", "false", "no", ""):
            raise ValueError(f"{raw!r} is not a yes/no value (use true or false)")
        return raw.lower() in ("1", "true", "yes")
    return raw
