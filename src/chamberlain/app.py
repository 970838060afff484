"""Assembling a gateway: store, keys, grants, pipeline and the surfaces over it.

``Runtime`` is the set of parts one gateway process holds; ``create_app`` wraps
it in a Starlette app whose lifespan opens and closes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Scope

from . import __version__
from .actions import Surface
from .aio import raise_if_cancelled
from .approvals import ApprovalDesk, Approvals, ApprovedCalls, Roles
from .audit import AuditLog, LogKeys
from .commerce import Commerce, commerce_surface
from .config import Settings
from .errors import (
    ChamberlainError,
    MethodNotAllowed,
    NotFound,
    PermissionDenied,
    PolicyInvalid,
    RequestTimeout,
)
from .events import GATEWAY_EVENTS, EventHub, NatsBus
from .grants import ClientRegistry, GrantAuthority, KeyRing, load_master_key, management_surface
from .health import readiness
from .limits import Limiter, MemoryLimiter, RedisLimiter, TenantLimits
from .metrics import CONTENT_TYPE_LATEST as METRICS_CONTENT_TYPE
from .metrics import Metrics
from .pipeline import Gateway, IdempotencyKeys, unexpected_failure
from .policy import CheckPolicy, PolicyBook, PolicyEngine, policy_surface
from .proxy import Proxies, load_proxy_config
from .slow_clients import BodyDeadline
from .store import Store, make_store
from .surfaces._credentials import presented_grant
from .surfaces._refusals import record_refusal
from .surfaces.console import ConsolePeople, ConsoleRoutes
from .surfaces.mcp import McpGate, McpSurface
from .surfaces.oauth import OAuthSurface
from .surfaces.rest import RestSurface
from .surfaces.rest._problems import JSONResponse, problem_response
from .surfaces.rest._store import StoreRoutes
from .tenants import list_tenants
from .tracing import make_provider
from .webhooks import Deliverer, Webhooks, webhook_surface

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

__all__ = ["Runtime", "create_app", "served_surface"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
PRUNE_EVERY_S = 60.0
"""How often the sweep forgets events past their retention window."""
log = logging.getLogger("chamberlain.app")


def served_surface(
    surface: Surface,
    authority: GrantAuthority,
    policies: Callable[[], PolicyBook],
    webhooks: Webhooks,
    commerce: Commerce | None = None,
) -> Surface:
    """The business's actions plus the gateway's own governed ones (grants, policies,
    webhooks, the catalog): what a gateway serves, and what policies are validated
    against (where the services are not needed, and may be None)."""
    audience = authority.audience if authority is not None else ""
    shop = commerce_surface(cast(Commerce, commerce), lambda: audience)
    hooks = webhook_surface(webhooks, lambda: {*surface.events, *shop.events, *GATEWAY_EVENTS}, audience)
    served = surface.including(management_surface(authority)).including(policy_surface(policies)).including(shop)
    return served.including(hooks)


class Runtime:
    """One gateway process's parts. Open before use; close when done."""

    def __init__(
        self,
        surface: Surface,
        settings: Settings,
        *,
        anonymous_grant: str | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.settings = settings
        # Tracing: a provider handed in (embedders, tests), else one for the configured
        # collector, else none at all: the pipeline then runs no tracing code.
        self._own_provider = tracer_provider is None and settings.otlp_endpoint is not None
        if self._own_provider:
            tracer_provider = make_provider(settings.otlp_endpoint, settings.trace_sample_ratio)  # type: ignore[arg-type]
        self.tracer_provider = tracer_provider
        tracer = tracer_provider.get_tracer("chamberlain", __version__) if tracer_provider is not None else None
        self.store: Store = make_store(
            settings.store_url, pool_size=settings.database_pool_size, tenant_databases=settings.tenant_databases
        )
        master = load_master_key(settings.master_key_path, settings.master_key)
        self.keys = KeyRing(self.store, master)
        self.authority = GrantAuthority(self.store, self.keys, settings.audience)
        self.clients = ClientRegistry(self.store, self.authority)
        self.roles = Roles(self.store)
        self.audit = AuditLog(self.store, LogKeys(self.store, self.keys, settings.audit_origin), settings.audit_path)
        self.approvals = Approvals(self.store, self.keys, self.roles, default_ttl_s=settings.approval_ttl_s)
        self.webhooks = Webhooks(self.store, self.keys, allow_private=settings.webhook_allow_private)
        self.commerce = Commerce(self.store, self.keys, settings.public_url or f"http://{settings.host}:{settings.port}")
        self.proxies = Proxies(load_proxy_config(settings.proxy_config) if settings.proxy_config else None)
        if len(self.proxies.surface):
            surface = surface.including(self.proxies.surface)
        # Grant, policy, webhook and catalog management are governed like any business action.
        self.surface = served_surface(surface, self.authority, lambda: self.policies, self.webhooks, self.commerce)
        self.policies = PolicyBook(
            self.store, self.surface, threshold_minor=settings.approval_threshold_minor, refresh_s=settings.policy_refresh_s
        )
        self.engine = PolicyEngine(self.surface)
        self.events = EventHub(
            self.store,
            lambda: {*self.surface.events, *GATEWAY_EVENTS},
            poll_s=settings.event_poll_s,
            batch_s=settings.event_batch_s,
            queue_size=settings.event_queue_size,
        )
        if settings.nats_url:
            # Pushed between processes; the outbox is read again only for gaps and after silences.
            self.events.bus = NatsBus(
                settings.nats_url, self.events.read, prefix=settings.nats_prefix, fallback_s=max(5.0, settings.event_poll_s)
            )
        self.authority.events = self.approvals.events = self.policies.events = self.events
        self.events.sinks.append(self.webhooks.enqueue)
        self.deliverer = Deliverer(
            self.webhooks,
            timeout_s=settings.webhook_timeout_s,
            max_attempts=settings.webhook_max_attempts,
            backoff_s=settings.webhook_backoff_s,
            backoff_max_s=settings.webhook_backoff_max_s,
            concurrency=settings.webhook_concurrency,
            poll_s=settings.event_poll_s,
        )
        self.limiter: Limiter = (
            RedisLimiter(settings.redis_url, prefix=settings.redis_prefix + "rate:") if settings.redis_url else MemoryLimiter()
        )
        """Where rates are counted: in Redis, shared by every process, when one is configured."""
        self.metrics = Metrics(max_tenants=settings.metrics_max_tenants)
        self.gateway = Gateway(
            self.surface,
            self.store,
            self.authority,
            action_timeout_s=settings.action_timeout_s,
            policy=CheckPolicy(self.policies, self.engine, self.approvals),
            approvals=self.approvals,
            audit=self.audit,
            tracer=tracer,
            events=self.events,
            idempotency=IdempotencyKeys(self.store, ttl_s=settings.idempotency_ttl_s),
            limiter=self.limiter,
            observer=self.metrics.observe,
            tenant_limits=TenantLimits(self.store, refresh_s=settings.policy_refresh_s),
        )
        self.approved_calls = ApprovedCalls(
            self.approvals, self.surface, self.authority, self.gateway.execute, tracer, observer=self.metrics.observe_approved
        )
        self.desk = ApprovalDesk(self.gateway, self.approvals, self.approved_calls)
        self.people = ConsolePeople(self.store, self.keys, self.authority)
        self.anonymous_grant = anonymous_grant
        self._opened = False
        self._pruned_at = -PRUNE_EVERY_S

    async def open(self) -> None:
        if self._opened:
            return
        store = self.store
        store.migrate()
        await store.open()
        if isinstance(self.events.bus, NatsBus):
            await self.events.bus.connect()
        for hook in self.surface.startup_hooks:
            await hook(store)
        await self._add_upstream_tools()
        await self.commerce.claims.keys.ensure()  # tenants made before claims existed
        self._opened = True
        if self.settings.policy_dir is not None:
            await self.load_policy_dir()

    async def _add_upstream_tools(self) -> None:
        """MCP upstreams' approved tools join the surface before anything is served, and
        the policy parts learn them (their schemas are compiled from the actions)."""
        added = await self.proxies.discover(self.store)
        for action in added:
            self.surface.add(action)
        if added:
            self.engine.refresh()
            self.policies.relearn()

    async def load_policy_dir(self) -> dict[str, int]:
        """Publish ``<policy_dir>/<tenant>/*.cedar`` for every tenant whose files changed."""
        assert self.settings.policy_dir is not None
        tenants = [t["id"] for t in await list_tenants(self.store)]
        published = await self.policies.load_dir(self.settings.policy_dir, tenants, author="file")
        for tenant, version in published.items():
            log.info("tenant %s: published policy version %s from %s", tenant, version, self.settings.policy_dir)
        return published

    async def reload_policy_dir(self) -> None:
        """On SIGHUP: like at start, but a bad file is logged and the running version kept."""
        try:
            await self.load_policy_dir()
        except PolicyInvalid as err:
            log.error("policy files in %s not loaded, current versions kept: %s", self.settings.policy_dir, err.extra)

    async def sweep(self) -> None:
        """Expire overdue approvals, then run approved calls not yet run (after a crash,
        or approved from the CLI). Safe to run anywhere, any time: each run is guarded."""
        await self.approvals.expire_overdue()
        await self.approved_calls.run_pending()
        await self.metrics.sample_queues(self.store)
        if time.monotonic() - self._pruned_at > PRUNE_EVERY_S:
            self._pruned_at = time.monotonic()
            await self.events.prune(self.settings.event_retention_s)
            await self.webhooks.prune(self.settings.webhook_retention_s)
            await self.gateway.idempotency.prune()

    async def sweep_forever(self) -> None:
        """The serving gateway's loop: at start (what a crash left approved runs now), then
        every ``approval_sweep_s``."""
        while True:
            try:
                await self.sweep()
            except Exception:
                raise_if_cancelled()
                log.exception("approval sweep failed; retrying")
            await asyncio.sleep(self.settings.approval_sweep_s)

    async def checkpoint_forever(self) -> None:
        """Sign a checkpoint of every log that grew, every ``audit_checkpoint_s``, so the
        files outside the database keep up with the log even when nobody asks."""
        while True:
            await asyncio.sleep(self.settings.audit_checkpoint_s)
            try:
                await self.audit.checkpoint_all()
            except Exception:
                raise_if_cancelled()
                log.exception("signing audit checkpoints failed; retrying")

    async def close(self) -> None:
        if self._opened:
            await self.store.close()
            self._opened = False
        if isinstance(self.limiter, RedisLimiter):
            await self.limiter.close()
        if isinstance(self.events.bus, NatsBus):
            await self.events.bus.close()
        await self.proxies.close()
        if self._own_provider and self.tracer_provider is not None:
            self.tracer_provider.shutdown()  # flushes the spans still batched

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Runtime]:
        await self.open()
        try:
            yield self
        finally:
            await self.close()


def _transport_security(host: str) -> TransportSecuritySettings | None:
    """DNS-rebinding protection when bound to loopback, as the MCP spec recommends."""
    if host not in _LOOPBACK:
        return None
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "testserver"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    """Whatever escaped every surface's own handling: logged, and answered as the
    problem+json every client expects, never a bare text page that says nothing."""
    log.exception("unhandled error on %s %s", request.method, request.url.path[:200])
    return problem_response(unexpected_failure(exc, "the gateway failed to answer this request; nothing was changed"))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return problem_response(MethodNotAllowed(f"{request.method} is not allowed here"), headers=exc.headers)
    return problem_response(NotFound(f"no endpoint at {request.url.path[:200]}"))


def _may_scrape(request: Request, token: str | None) -> bool:
    """Metrics name every tenant: the operator's alone. With a token, whoever presents it;
    without one, only a scraper on this host."""
    if token is not None:
        presented = request.headers.get("authorization", "")
        return hmac.compare_digest(presented.encode(), f"Bearer {token}".encode())
    client = request.client.host if request.client is not None else ""
    return client in ("127.0.0.1", "::1", "localhost")


def _slow_body_recorder(runtime: Runtime) -> Callable[[Scope, RequestTimeout], Awaitable[str | None]]:
    """Records a request whose body came too slowly, as a refusal of what it asked for (in
    its grant's tenant when it presented a usable one)."""

    async def record(scope: Scope, error: RequestTimeout) -> str | None:
        request = Request(scope)
        token = presented_grant(request.headers, runtime.anonymous_grant)
        grant = None
        with contextlib.suppress(ChamberlainError):
            grant = await runtime.gateway.authenticate(token)
        path = request.url.path
        surface = "mcp" if path == "/mcp" else "console" if path.startswith("/console") else "rest"
        call = await record_refusal(runtime.gateway, f"{request.method} {path}", None, token, surface, error, grant=grant)
        return call.id

    return record


def create_app(runtime: Runtime) -> Starlette:
    settings = runtime.settings
    rest = RestSurface(
        runtime.gateway,
        settings.max_body_bytes,
        runtime.anonymous_grant,
        desk=runtime.desk,
        heartbeat_s=settings.event_heartbeat_s,
    )
    mcp = McpSurface(runtime.gateway, runtime.anonymous_grant, name=runtime.surface.name, heartbeat_s=settings.event_heartbeat_s)
    sessions = StreamableHTTPSessionManager(
        app=mcp.server,
        json_response=True,
        stateless=True,
        security_settings=_transport_security(settings.host),
        max_request_body_size=settings.max_body_bytes,
    )

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "actions": len(runtime.surface)})

    async def metrics(request: Request) -> Response:
        if not _may_scrape(request, settings.metrics_token):
            log.warning("refused /metrics to %s", request.client.host if request.client else "an unknown client")
            return problem_response(PermissionDenied("metrics are for the operator's scraper: loopback, or the metrics token"))
        return Response(runtime.metrics.exposition(), media_type=METRICS_CONTENT_TYPE)

    async def ready(request: Request) -> Response:
        checks = await readiness(runtime.store, runtime.limiter, runtime.events.bus)
        ok = all(c.ok for c in checks)
        body = {"status": "ready" if ok else "not ready", "checks": [c.as_dict() for c in checks]}
        return JSONResponse(body, status_code=200 if ok else 503, headers={"Cache-Control": "no-store"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with runtime.running(), sessions.run():
            loops = [
                asyncio.create_task(runtime.sweep_forever()),
                asyncio.create_task(runtime.checkpoint_forever()),
                asyncio.create_task(runtime.deliverer.run_forever()),
            ]
            try:
                yield
            finally:
                for task in loops:
                    task.cancel()
                for task in loops:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    routes: list[Any] = [
        Route(
            "/mcp",
            endpoint=McpGate(
                StreamableHTTPASGIApp(sessions),
                runtime.gateway,
                runtime.anonymous_grant,
                settings.public_url,
                max_body_bytes=settings.max_body_bytes,
            ),
        ),
        *OAuthSurface(runtime.authority, runtime.clients, settings.public_url).routes,
        Route("/healthz", health, methods=["GET"]),
        Route("/readyz", ready, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *rest.routes,
        *StoreRoutes(runtime.commerce, __version__, settings.store_tenant, settings.max_body_bytes).routes,
        *ConsoleRoutes(
            runtime.gateway,
            runtime.desk,
            runtime.people,
            runtime.policies,
            runtime.limiter,
            secure_cookies=(settings.public_url or "").startswith("https://"),
        ).routes,
    ]
    slow = Middleware(
        BodyDeadline,
        timeout_s=settings.request_read_timeout_s,
        max_bytes=settings.max_body_bytes,
        on_timeout=_slow_body_recorder(runtime),
    )
    app = Starlette(
        routes=routes,
        middleware=[slow],
        lifespan=lifespan,
        exception_handlers={404: _http_error, 405: _http_error, Exception: _unexpected},
    )
    app.state.runtime = runtime
    return app
