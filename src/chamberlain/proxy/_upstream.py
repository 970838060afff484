"""Calling an upstream HTTP API on an agent's behalf, with the gateway's own credentials.

Every request:
- goes out with the credentials configured for that upstream, never the agent's grant
  (MCP forbids token passthrough; an upstream must not learn, or accept, gateway grants);
- carries the call's ``traceparent``, so the upstream's spans join the call's trace;
- waits at most ``timeout_s``, and at most ``max_concurrency`` requests are in flight to
  one upstream, so a slow upstream slows only the actions that use it;
- is retried (with backoff) only when the operation is idempotent, and only on errors a
  retry can fix (connection failures, timeouts, 429, 502, 503, 504);
- passes a circuit breaker, so an upstream that keeps failing is refused fast.

Answers the upstream gives are mapped to the gateway's problem types with the upstream's
status kept (``upstream_status``); 2xx answers are returned as they are.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ..errors import (
    UpstreamConflict,
    UpstreamDenied,
    UpstreamError,
    UpstreamFailed,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
)
from ._breaker import CircuitBreaker

__all__ = ["RETRYABLE_STATUSES", "HttpUpstream", "UpstreamPolicy", "problem_for"]

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
MAX_DETAIL = 300


@dataclass(frozen=True)
class UpstreamPolicy:
    """How patient the gateway is with one upstream (configurable per upstream)."""

    timeout_s: float = 10.0
    retries: int = 2
    """Extra attempts, for idempotent operations only."""
    backoff_s: float = 0.2
    """First wait between attempts; doubled each time, capped at 2 s."""
    max_concurrency: int = 32
    breaker_failures: int = 5
    breaker_reset_s: float = 30.0


def problem_for(upstream: str, response: httpx.Response) -> UpstreamError:
    """The gateway's problem type for an upstream's non-2xx answer, keeping its status.
    A 4xx answer's body (meant for the client) is passed on, shortened; a 5xx one's is
    not, since a failing server's text can hold its internals."""
    status = response.status_code
    textual = response.headers.get("content-type", "").startswith(("application/json", "application/problem+json", "text/plain"))
    detail = response.text[:MAX_DETAIL] if textual and 400 <= status < 500 and status not in (401, 403, 407) else ""
    extra: dict[str, Any] = {"upstream": upstream, "upstream_status": status, "upstream_detail": detail}
    if status == 404:
        return UpstreamNotFound(f"{upstream} has no such resource", **extra)
    if status in (409, 412):
        return UpstreamConflict(f"{upstream} reported a conflict", **extra)
    if status == 429:
        return UpstreamRateLimited(f"{upstream} is limiting requests", retry_after=_retry_after(response), **extra)
    if status in (401, 403, 407):
        return UpstreamDenied(f"{upstream} refused the gateway's credentials", **extra)
    if 400 <= status < 500:
        return UpstreamRejected(f"{upstream} refused the request ({status})", **extra)
    return UpstreamFailed(f"{upstream} failed ({status})", **extra)


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("retry-after", "")
    return min(float(value), 60.0) if value.replace(".", "", 1).isdigit() else 1.0


class HttpUpstream:
    """One upstream API: its base URL, its credentials, its policy and its breaker."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        policy: UpstreamPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.policy = policy or UpstreamPolicy()
        self.breaker = CircuitBreaker(name, self.policy.breaker_failures, self.policy.breaker_reset_s)
        self._headers = dict(headers or {})
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._slots = asyncio.Semaphore(self.policy.max_concurrency)

    @property
    def header_names(self) -> frozenset[str]:
        """The headers the gateway sets for this upstream (its credentials), lower-case:
        never something an agent's arguments may set."""
        return frozenset(name.lower() for name in self._headers)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            limits = httpx.Limits(max_connections=self.policy.max_concurrency)
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                headers=self._headers,
                timeout=self.policy.timeout_s,
                limits=limits,
                transport=self._transport,
                follow_redirects=False,
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        traceparent: str | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """The upstream's 2xx answer; anything else raises the matching ``UpstreamError``."""
        sent = {**(headers or {}), **({"traceparent": traceparent} if traceparent else {})}
        attempts = 1 + (self.policy.retries if idempotent else 0)
        wait = self.policy.backoff_s
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            self.breaker.before()
            try:
                async with self._slots:
                    response = await self._http().request(method, path, params=params, json=json, headers=sent)
            except httpx.TimeoutException as err:
                self.breaker.failure()
                if last:
                    raise UpstreamTimeout(
                        f"{self.name} did not answer within {self.policy.timeout_s:g}s", upstream=self.name
                    ) from err
            except httpx.TransportError as err:
                self.breaker.failure()
                if last:
                    raise UpstreamFailed(f"{self.name} could not be reached", upstream=self.name) from err
            else:
                if response.status_code < 400:
                    self.breaker.success()
                    return response
                if response.status_code >= 500:
                    self.breaker.failure()
                else:
                    self.breaker.success()  # it answered: the upstream is up
                if last or response.status_code not in RETRYABLE_STATUSES:
                    raise problem_for(self.name, response)
            await asyncio.sleep(wait)
            wait = min(wait * 2, 2.0)
        raise AssertionError("unreachable")
