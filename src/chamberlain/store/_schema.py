"""Chamberlain's own tables. Every row belongs to exactly one tenant.

Alembic migrations (``store/migrations``) are the source of truth for the
database; this metadata mirrors them for queries, and a test checks both agree.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Float, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Table, Text

metadata = MetaData()

tenants = Table(
    "tenants",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
)

tenant_keys = Table(
    "tenant_keys",
    metadata,
    Column("kid", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), ForeignKey("tenants.id"), nullable=False, index=True),
    Column("purpose", String(32), nullable=False),
    Column("algorithm", String(32), nullable=False),
    Column("public_key", LargeBinary, nullable=False),
    Column("private_key_enc", LargeBinary, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("retired_at", String(32), nullable=True),
)

grants = Table(
    "grants",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("tenant_id", String(64), ForeignKey("tenants.id"), nullable=False, index=True),
    Column("principal", Text, nullable=False),
    Column("on_behalf_of", Text, nullable=True),
    Column("actions", JSON, nullable=False),
    Column("constraints", JSON, nullable=True),
    Column("kid", Integer, nullable=False),
    Column("issued_at", String(32), nullable=False),
    Column("expires_at", String(32), nullable=False),
    Column("revocation_id", Text, nullable=False),
)

revocations = Table(
    "revocations",
    metadata,
    Column("revocation_id", Text, primary_key=True),
    Column("tenant_id", String(64), ForeignKey("tenants.id"), nullable=False, index=True),
    Column("grant_id", String(40), nullable=True),
    Column("revoked_at", String(32), nullable=False),
    Column("reason", Text, nullable=False),
)

grant_uses = Table(
    "grant_uses",
    metadata,
    Column("grant_id", String(40), primary_key=True),
    Column("tenant_id", String(64), ForeignKey("tenants.id"), nullable=False),
    Column("max_uses", Integer, nullable=False),
    Column("uses", Integer, nullable=False),
)

oauth_clients = Table(
    "oauth_clients",
    metadata,
    Column("client_id", String(40), primary_key=True),
    Column("tenant_id", String(64), ForeignKey("tenants.id"), nullable=False, index=True),
    Column("principal", Text, nullable=False),
    Column("actions", JSON, nullable=False),
    Column("constraints", JSON, nullable=False),
    Column("ttl_seconds", Integer, nullable=False),
    Column("secret_hash", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("disabled_at", String(32), nullable=True),
)

calls = Table(
    "calls",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("tenant_id", String(64), nullable=True),
    Column("principal", Text, nullable=True),
    Column("on_behalf_of", Text, nullable=True),
    Column("grant_id", String(40), nullable=True),
    Column("surface", String(16), nullable=False),
    Column("action", Text, nullable=False),
    Column("action_version", Integer, nullable=True),
    Column("input_hash", String(80), nullable=True),
    Column("decision", String(16), nullable=False),
    Column("reasons", JSON, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("error_type", Text, nullable=True),
    Column("result_hash", String(80), nullable=True),
    Column("timings", JSON, nullable=False),
    Column("trace_id", String(32), nullable=False),
    Column("started_at", String(32), nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("approval_id", String(40), nullable=True),
    Column("revert_of", String(64), nullable=True),
)
Index("ix_calls_tenant_started", calls.c.tenant_id, calls.c.started_at)
Index("ix_calls_quota", calls.c.tenant_id, calls.c.action, calls.c.principal, calls.c.started_at)

policy_versions = Table(
    "policy_versions",
    metadata,
    Column("tenant_id", String(64), ForeignKey("tenants.id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("files", JSON, nullable=False),
    Column("digest", String(80), nullable=False),
    Column("author", Text, nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
)

tenant_roles = Table(
    "tenant_roles",
    metadata,
    Column("tenant_id", String(64), ForeignKey("tenants.id"), primary_key=True),
    Column("principal", String(140), primary_key=True),
    Column("role", String(32), primary_key=True),
    Column("granted_at", String(32), nullable=False),
)

approvals = Table(
    "approvals",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("tenant_id", String(64), ForeignKey("tenants.id"), nullable=False),
    Column("call_id", String(40), nullable=False, unique=True),
    Column("action", Text, nullable=False),
    Column("action_version", Integer, nullable=False),
    Column("principal", Text, nullable=False),
    Column("grant_id", String(40), nullable=False),
    Column("chain", JSON, nullable=False),
    Column("arguments", JSON, nullable=False),
    Column("request_hash", String(80), nullable=False),
    Column("policies", JSON, nullable=False),
    Column("why", JSON, nullable=False),
    Column("required", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("surface", String(16), nullable=False),
    Column("trace_id", String(32), nullable=False),
    Column("token_enc", LargeBinary, nullable=True),
    Column("created_at", String(32), nullable=False),
    Column("deadline", String(32), nullable=False),
    Column("closed_at", String(32), nullable=True),
    Column("result", JSON, nullable=True),
    Column("error", JSON, nullable=True),
)
Index("ix_approvals_tenant_status", approvals.c.tenant_id, approvals.c.status)
Index("ix_approvals_status_deadline", approvals.c.status, approvals.c.deadline)

approval_votes = Table(
    "approval_votes",
    metadata,
    Column("approval_id", String(40), ForeignKey("approvals.id"), primary_key=True),
    Column("approver", String(140), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("request_hash", String(80), nullable=False),
    Column("decided_at", String(32), nullable=False),
)

audit_entries = Table(
    "audit_entries",
    metadata,
    Column("tenant_id", String(64), ForeignKey("tenants.id"), primary_key=True),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("kind", String(32), nullable=False),
    Column("call_id", String(40), nullable=True),
    Column("body", Text, nullable=False),
    Column("leaf_hash", LargeBinary, nullable=False),
    Column("payload_salt", LargeBinary, nullable=True),
    Column("payload", Text, nullable=True),
    Column("payload_erased_at", String(32), nullable=True),
)
Index("ix_audit_entries_call", audit_entries.c.tenant_id, audit_entries.c.call_id)

audit_nodes = Table(
    "audit_nodes",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary, nullable=False),
)

audit_heads = Table(
    "audit_heads",
    metadata,
    Column("tenant_id", String(64), ForeignKey("tenants.id"), primary_key=True),
    Column("size", Integer, nullable=False),
    Column("frontier", LargeBinary, nullable=False),
    Column("last_leaf", LargeBinary, nullable=False),
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("tenant_id", String(64), ForeignKey("tenants.id"), primary_key=True),
    Column("size", Integer, primary_key=True, autoincrement=False),
    Column("note", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("tenant_id", String(64), ForeignKey("tenants.id"), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("id", String(40), nullable=False, unique=True),
    Column("type", String(200), nullable=False),
    Column("subject", Text, nullable=True),
    Column("time", String(32), nullable=False),
    Column("data", JSON, nullable=True),
    Column("traceparent", String(55), nullable=True),
    Column("call_id", String(40), nullable=True),
)
Index("ix_events_time", events.c.time)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("tenant_id", String(64), ForeignKey("tenants.id"), nullable=False),
    Column("url", Text, nullable=False),
    Column("types", JSON, nullable=False),
    Column("secret_enc", LargeBinary, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("created_by", String(200), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("removed_at", String(32), nullable=True),
)
Index("ix_webhook_endpoints_tenant", webhook_endpoints.c.tenant_id, webhook_endpoints.c.removed_at)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("tenant_id", String(64), ForeignKey("tenants.id"), nullable=False),
    Column("endpoint_id", String(40), ForeignKey("webhook_endpoints.id"), nullable=False),
    Column("event_id", String(40), nullable=False),
    Column("event_type", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", String(32), nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("replay_of", String(40), nullable=True),
    Column("created_at", String(32), nullable=False),
    Column("closed_at", String(32), nullable=True),
)
Index("ix_webhook_deliveries_due", webhook_deliveries.c.status, webhook_deliveries.c.next_attempt_at)
Index(
    "ix_webhook_deliveries_endpoint",
    webhook_deliveries.c.tenant_id,
    webhook_deliveries.c.endpoint_id,
    webhook_deliveries.c.created_at,
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("delivery_id", String(40), ForeignKey("webhook_deliveries.id"), primary_key=True),
    Column("n", Integer, primary_key=True, autoincrement=False),
    Column("tenant_id", String(64), ForeignKey("tenants.id"), nullable=False),
    Column("at", String(32), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("duration_ms", Float, nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("tenant_id", String(64), ForeignKey("tenants.id"), primary_key=True),
    Column("principal", String(200), primary_key=True),
    Column("action", String(200), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(80), nullable=False),
    Column("call_id", String(40), nullable=False),
    Column("response", JSON, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("expires_at", String(32), nullable=False),
)
Index("ix_idempotency_keys_expires", idempotency_keys.c.expires_at)

tenant_limits = Table(
    "tenant_limits",
    metadata,
    Column("tenant_id", String(64), ForeignKey("tenants.id"), primary_key=True),
    Column("action", String(200), primary_key=True),
    Column("rate", String(40), nullable=True),
    Column("quota", String(40), nullable=True),
    Column("updated_by", String(200), nullable=False),
    Column("updated_at", String(32), nullable=False),
)

reversible_calls = Table(
    "reversible_calls",
    metadata,
    Column("tenant_id", String(64), ForeignKey("tenants.id"), primary_key=True),
    Column("call_id", String(40), primary_key=True),
    Column("action", String(200), nullable=False),
    Column("principal", String(200), nullable=False),
    Column("grant_id", String(40), nullable=False),
    Column("arguments", JSON, nullable=False),
    Column("result", JSON, nullable=True),
    Column("executed_at", String(32), nullable=False),
    Column("revert_until", String(32), nullable=True),
    Column("reverted_by", String(40), nullable=True),
    Column("reverted_at", String(32), nullable=True),
    Column("erased_at", String(32), nullable=True),
)
Index("ix_reversible_calls_principal", reversible_calls.c.tenant_id, reversible_calls.c.principal, reversible_calls.c.executed_at)

# The catalog (commerce/): a product's whole document, and one row per variant for search.
catalog_products = Table(
    "catalog_products",
    metadata,
    Column("tenant_id", String(64), ForeignKey("tenants.id"), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("title", Text, nullable=False),
    Column("document", JSON, nullable=False),
    Column("updated_at", String(32), nullable=False),
    Column("updated_by", String(200), nullable=False),
)

catalog_variants = Table(
    "catalog_variants",
    metadata,
    Column("tenant_id", String(64), ForeignKey("tenants.id"), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("product_id", String(64), nullable=False),
    Column("price_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("availability", String(16), nullable=False),
)
Index("ix_catalog_variants_product", catalog_variants.c.tenant_id, catalog_variants.c.product_id)
Index("ix_catalog_variants_price", catalog_variants.c.tenant_id, catalog_variants.c.currency, catalog_variants.c.price_minor)

catalog_settings = Table(
    "catalog_settings",
    metadata,
    Column("tenant_id", String(64), ForeignKey("tenants.id"), primary_key=True),
    Column("document", JSON, nullable=False),
    Column("updated_at", String(32), nullable=False),
    Column("updated_by", String(200), nullable=False),
)

catalog_claims = Table(
    "catalog_claims",
    metadata,
    Column("tenant_id", String(64), ForeignKey("tenants.id"), primary_key=True),
    Column("id", String(40), primary_key=True),
    Column("variant_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("credential", JSON, nullable=False),
    Column("valid_until", String(32), nullable=False),
    Column("created_at", String(32), nullable=False),
)
Index("ix_catalog_claims_variant", catalog_claims.c.tenant_id, catalog_claims.c.variant_id, catalog_claims.c.valid_until)

quotes = Table(
    "quotes",
    metadata,
    Column("tenant_id", String(64), ForeignKey("tenants.id"), primary_key=True),
    Column("id", String(40), primary_key=True),
    Column("principal", String(200), nullable=False),
    Column("document", JSON, nullable=False),
    Column("credential", JSON, nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("expires_at", String(32), nullable=False),
    Column("created_at", String(32), nullable=False),
)

carts = Table(
    "carts",
    metadata,
    Column("tenant_id", String(64), ForeignKey("tenants.id"), primary_key=True),
    Column("id", String(40), primary_key=True),
    Column("principal", String(200), nullable=False),
    Column("quote_id", String(40), nullable=False),
    Column("status", String(16), nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("order_id", String(40), nullable=True),
    Column("completed_at", String(32), nullable=True),
)

# The console (surfaces/console/): the people of a tenant who supervise its agents.
console_users = Table(
    "console_users",
    metadata,
    Column("tenant_id", String(64), ForeignKey("tenants.id"), primary_key=True),
    Column("username", String(64), primary_key=True),
    Column("principal", String(200), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("admin", Integer, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("disabled_at", String(32), nullable=True),
)

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("tenant_id", String(64), ForeignKey("tenants.id"), nullable=False, index=True),
    Column("username", String(64), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("grant_sealed", LargeBinary, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("expires_at", String(32), nullable=False),
)

# Governed MCP upstreams (proxy/): the tool definitions an operator approved, pinned by
# hash. The gateway operator's data, not a tenant's: no tenant_id, kept in the shared
# (home) database, since every tenant is served the same upstream tools.
upstream_tools = Table(
    "upstream_tools",
    metadata,
    Column("upstream", String(64), primary_key=True),
    Column("tool", String(128), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("definition_hash", String(80), nullable=True),
    Column("definition", JSON, nullable=True),
    Column("pending_hash", String(80), nullable=True),
    Column("pending_definition", JSON, nullable=True),
    Column("approved_by", String(200), nullable=True),
    Column("approved_at", String(32), nullable=True),
    Column("first_seen_at", String(32), nullable=False),
    Column("seen_at", String(32), nullable=False),
)
