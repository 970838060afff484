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

The client is aiohttp's, not httpx's (which the rest of the gateway uses): forwarding is
the one place where the gateway is itself a busy HTTP client, and on this project's
benchmark machine aiohttp spent about 0.27 ms of CPU per upstream request against 2.2 ms
for httpx (httpcore scans its whole pool with a ``select`` per idle connection on every
request). See docs/performance.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDict
from yarl import URL

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

__all__ = ["RETRYABLE_STATUSES", "HttpUpstream", "UpstreamPolicy", "UpstreamResponse", "problem_for"]

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


@dataclass(frozen=True)
class UpstreamResponse:
    """An upstream's answer, read whole: the request's slot is free once it exists."""

    status_code: int
    content: bytes = b""
    headers: Mapping[str, str] = field(default_factory=CIMultiDict)
    """Case-insensitive, as HTTP header names are."""
    charset: str | None = None

    @property
    def text(self) -> str:
        return self.content.decode(self.charset or "utf-8", errors="replace")


def problem_for(upstream: str, response: UpstreamResponse) -> UpstreamError:
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


def _retry_after(response: UpstreamResponse) -> float:
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
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.policy = policy or UpstreamPolicy()
        self.breaker = CircuitBreaker(name, self.policy.breaker_failures, self.policy.breaker_reset_s)
        self._headers = dict(headers or {})
        self._client: aiohttp.ClientSession | None = None
        self._slots = asyncio.Semaphore(self.policy.max_concurrency)

    @property
    def header_names(self) -> frozenset[str]:
        """The headers the gateway sets for this upstream (its credentials), lower-case:
        never something an agent's arguments may set."""
        return frozenset(name.lower() for name in self._headers)

    def _http(self) -> aiohttp.ClientSession:
        if self._client is None or self._client.closed:
            self._client = aiohttp.ClientSession(
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=self.policy.timeout_s),
                connector=aiohttp.TCPConnector(limit=self.policy.max_concurrency),
                skip_auto_headers=("User-Agent",),
                auto_decompress=True,
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _url(self, path: str, params: Mapping[str, Any] | None) -> URL:
        # ``encoded=True``: the path's segments were escaped by whoever built it (dots
        # included); letting yarl requote or normalise it would undo that.
        url = URL(self.base_url + path, encoded=True)
        return url.extend_query(_pairs(params)) if params else url

    async def _send(self, method: str, url: URL, body: bytes | None, headers: Mapping[str, str]) -> UpstreamResponse:
        async with self._slots:
            async with self._http().request(method, url, data=body, headers=headers, allow_redirects=False) as answer:
                content = await answer.read()
                return UpstreamResponse(answer.status, content, CIMultiDict(answer.headers), answer.charset)

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
    ) -> UpstreamResponse:
        """The upstream's 2xx answer; anything else raises the matching ``UpstreamError``."""
        sent = CIMultiDict({**(headers or {}), **({"traceparent": traceparent} if traceparent else {})})
        body = None if json is None else orjson.dumps(json)
        if body is not None:
            sent.setdefault("Content-Type", "application/json")
        url = self._url(path, params)
        attempts = 1 + (self.policy.retries if idempotent else 0)
        wait = self.policy.backoff_s
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            self.breaker.before()
            try:
                response = await self._send(method, url, body, sent)
            except TimeoutError as err:
                self.breaker.failure()
                if last:
                    raise UpstreamTimeout(
                        f"{self.name} did not answer within {self.policy.timeout_s:g}s", upstream=self.name
                    ) from err
            except aiohttp.ClientError as err:
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


def _pairs(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Query parameters as pairs, a list value giving one pair per item."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        values = value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
        pairs.extend((key, str(v)) for v in values)
    return pairs
