"""Talking to one upstream MCP server on the gateway's behalf (Streamable HTTP or stdio).

What the gateway asks of an upstream is small: its tool definitions (``tools/list``)
and a tool call (``tools/call``). Everything else the upstream may offer (resources,
prompts, sampling, elicitation) is not passed through; see ``docs/how-to/govern-an-mcp-server.md``.

Every call, as for ``HttpUpstream``:

- goes out with the credentials configured for that upstream (``headers``; ``env`` for a
  local stdio server), never the agent's grant: MCP forbids token passthrough, and an
  upstream must neither learn nor accept gateway grants;
- carries the call's ``traceparent`` in the request's ``_meta`` (SEP-414) and, over
  Streamable HTTP, as an HTTP header, so the upstream's spans join the call's trace;
- waits at most ``timeout_s`` (a slot included); at most ``max_concurrency`` calls are in
  flight to one upstream, and calls share one session (JSON-RPC multiplexes them), so a
  slow upstream slows only the actions that use it;
- is retried (with backoff) only for idempotent tools, and only on failures a retry can
  fix (timeouts, a lost connection, HTTP 429/502/503/504);
- passes a circuit breaker, so an upstream that keeps failing is refused fast.

One session per upstream and event loop, opened at first use and opened again after it
breaks. The SDK's transports are anyio context managers that must be left by the task
that entered them, so each session lives in a task of its own and calls reach it from
any task through its streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import logging
import re
import sys
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import httpx2
import mcp_types as types
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from pydantic import ValidationError

from .. import __version__
from ..canonical import jcs
from ..errors import (
    UpstreamDenied,
    UpstreamError,
    UpstreamFailed,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
)
from ._breaker import CircuitBreaker
from ._upstream import RETRYABLE_STATUSES, UpstreamPolicy

__all__ = ["UPSTREAM_NAME", "McpUpstream", "ToolDefinition"]

log = logging.getLogger("chamberlain.proxy.mcp")

UPSTREAM_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
"""An upstream's name: how operators refer to it (``chamberlain proxy approve NAME TOOL``)."""
MAX_DETAIL = 2000
"""How much of an upstream's error text is passed on to the agent."""
MAX_PAGES = 100
"""``tools/list`` pages followed before the listing is judged endless."""
SSE_READ_TIMEOUT_S = 300.0
"""How long the session's standing SSE stream (server notifications) may stay silent."""
_PROPAGATOR = TraceContextTextMapPropagator()
_REJECTED_CODES = frozenset({types.INVALID_PARAMS, types.METHOD_NOT_FOUND, types.INVALID_REQUEST})


@dataclass(frozen=True)
class ToolDefinition:
    """One upstream tool as ``tools/list`` describes it: what is pinned and reviewed."""

    name: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None = None
    annotations: dict[str, Any] = field(default_factory=dict)
    """MCP tool annotations, by their wire names (``readOnlyHint``, ``idempotentHint``, ...)."""
    title: str | None = None

    @classmethod
    def from_tool(cls, tool: types.Tool) -> ToolDefinition:
        annotations = tool.annotations.model_dump(by_alias=True, exclude_none=True) if tool.annotations else {}
        return cls(
            name=tool.name,
            description=tool.description or "",
            input_schema=dict(tool.input_schema),
            output_schema=dict(tool.output_schema) if tool.output_schema is not None else None,
            annotations=annotations,
            title=tool.title,
        )

    def pinned(self) -> dict[str, Any]:
        """The part of the definition that is hashed, stored and reviewed.

        Everything a model reads (name, title, description, and the schemas, whose
        property descriptions are prose too) and everything the gateway decides on: the
        schemas validate arguments and results, and the annotations set the action's risk
        class and whether it is retried. A server that flips ``readOnlyHint`` must be
        reviewed again, since that alone would move a tool from ``write`` to ``read``.
        Left out: ``_meta`` (vendor data that may vary per listing), ``icons`` and
        ``execution`` (not read by models, not used by the gateway).
        """
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "inputSchema": self.input_schema,
            "outputSchema": self.output_schema,
            "annotations": self.annotations,
        }

    @classmethod
    def from_pinned(cls, data: Mapping[str, Any]) -> ToolDefinition:
        return cls(
            name=data["name"],
            description=data.get("description") or "",
            input_schema=dict(data.get("inputSchema") or {"type": "object"}),
            output_schema=data.get("outputSchema"),
            annotations=dict(data.get("annotations") or {}),
            title=data.get("title"),
        )

    @property
    def digest(self) -> str:
        """``sha256:<hex>`` over the RFC 8785 canonical JSON of ``pinned()``."""
        return "sha256:" + hashlib.sha256(jcs(self.pinned())).hexdigest()

    @property
    def read_only(self) -> bool:
        return self.annotations.get("readOnlyHint") is True

    @property
    def idempotent(self) -> bool:
        """Safe to send twice: read-only, or declared idempotent (MCP's defaults are false)."""
        return self.read_only or self.annotations.get("idempotentHint") is True


@dataclass
class _CallNote:
    """Per call, shared with the HTTP hooks that run in the transport's tasks (which
    inherit the caller's context): the traceparent to send, the HTTP status received."""

    traceparent: str = ""
    status: int | None = None
    retry_after: float | None = None


_CALL: contextvars.ContextVar[_CallNote | None] = contextvars.ContextVar("chamberlain_mcp_call", default=None)


class _Retry(Exception):
    """A failure a retry can fix: raised between attempts, the problem kept for the last."""

    def __init__(self, problem: UpstreamError) -> None:
        self.problem = problem


@dataclass
class _Link:
    """One live session, held open by its own task until ``closing`` is set."""

    slots: asyncio.Semaphore
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    session: ClientSession | None = None
    task: asyncio.Task[None] | None = None
    broken: bool = False


@dataclass
class _LoopState:
    """What must not cross event loops: the session, its lock and its slots."""

    opening: asyncio.Lock = field(default_factory=asyncio.Lock)
    listing: asyncio.Lock = field(default_factory=asyncio.Lock)
    link: _Link | None = None


class McpUpstream:
    """One upstream MCP server: where it is, its credentials, its policy and its breaker.

    ``url`` names a Streamable HTTP endpoint; ``command`` (``["python", "server.py"]``)
    starts a local server spoken to over stdio, with ``env`` added to the few safe
    variables the SDK passes on (never the gateway's own environment, which holds its
    secrets). ``namespace`` prefixes the actions its tools become (``weather`` gives
    ``weather.get_forecast``); ``""`` serves the tools under their own names. ``risk``
    overrides the risk class of named tools (``{"transfer_funds": "money"}``).
    ``rediscover_s`` is the longest the gateway trusts its last ``tools/list`` before
    listing again; a ``notifications/tools/list_changed`` from the upstream makes the
    next call list again at once.
    """

    def __init__(
        self,
        name: str,
        namespace: str,
        *,
        url: str | None = None,
        command: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        headers: Mapping[str, str] | None = None,
        policy: UpstreamPolicy | None = None,
        risk: Mapping[str, str] | None = None,
        rediscover_s: float = 60.0,
        errlog: TextIO | None = None,
    ) -> None:
        if not UPSTREAM_NAME.match(name):
            raise ValueError(f"upstream name {name!r} must be lower-case letters, digits, '_', '.', '-' (up to 64)")
        if (url is None) == (command is None or len(command) == 0):
            raise ValueError(f"upstream {name}: give either url (Streamable HTTP) or command (stdio)")
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f"upstream {name}: url must be http:// or https://")
        if headers and command is not None:
            raise ValueError(f"upstream {name}: headers apply to HTTP upstreams; pass a stdio server's secrets in env")
        if rediscover_s < 0:
            raise ValueError(f"upstream {name}: rediscover_s cannot be negative")
        self.name = name
        self.namespace = namespace
        self.url = url
        self.command = list(command) if command is not None else None
        self.env = dict(env or {})
        self.cwd = cwd
        self.policy = policy or UpstreamPolicy()
        self.risk = dict(risk or {})
        self.rediscover_s = rediscover_s
        self.breaker = CircuitBreaker(name, self.policy.breaker_failures, self.policy.breaker_reset_s)
        self._headers = dict(headers or {})
        self._errlog = errlog
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()
        self.definitions: dict[str, ToolDefinition] = {}
        """The tools of the last successful ``tools/list``, by their upstream names."""
        self._listed_at: float | None = None
        self._list_changed = False

    def __repr__(self) -> str:
        return f"McpUpstream({self.name!r}, {self.url or ' '.join(self.command or [])!r})"

    # -- discovery -------------------------------------------------------------

    @property
    def needs_listing(self) -> bool:
        """Whether the last ``tools/list`` may no longer be what the upstream serves."""
        if self._listed_at is None or self._list_changed:
            return True
        return time.monotonic() - self._listed_at >= self.rediscover_s

    async def discover(self) -> list[ToolDefinition]:
        """Every tool the upstream lists now (following pagination cursors)."""
        self.breaker.before()
        definitions: list[ToolDefinition] = []
        cursor: str | None = None
        changed_before = self._list_changed
        self._list_changed = False  # a notification arriving from here on asks for another listing
        try:
            for _ in range(MAX_PAGES):
                page = await self._request(_list_page(cursor), _CallNote())
                definitions.extend(ToolDefinition.from_tool(t) for t in page.tools)
                cursor = page.next_cursor
                if not cursor:
                    break
            else:
                raise UpstreamFailed(f"{self.name} lists tools without end (over {MAX_PAGES} pages)", upstream=self.name)
        except _Retry as retry:
            self._list_changed = self._list_changed or changed_before
            raise retry.problem from retry
        except BaseException:
            self._list_changed = self._list_changed or changed_before
            raise
        self.definitions = {d.name: d for d in definitions}
        self._listed_at = time.monotonic()
        return definitions

    async def fresh(self, checked: Callable[[list[ToolDefinition]], Awaitable[Any]]) -> dict[str, ToolDefinition]:
        """The current definitions, listed again first if they may be stale; ``checked``
        sees each new listing before any call relies on it (the pins record changes)."""
        if not self.needs_listing:
            return self.definitions
        state = self._state()
        async with state.listing:
            if self.needs_listing:  # another caller may have listed while this one waited
                listed = await self.discover()
                try:
                    await checked(listed)
                except BaseException:
                    self._listed_at = None  # not relied on until its changes are recorded
                    raise
        return self.definitions

    async def _on_message(self, message: types.ServerNotification | Exception) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self._list_changed = True
        elif isinstance(message, Exception):
            log.debug("upstream %s: transport error: %s", self.name, message)

    # -- calls -----------------------------------------------------------------

    async def call(
        self, tool: str, arguments: Mapping[str, Any], *, idempotent: bool, traceparent: str = ""
    ) -> types.CallToolResult:
        """The upstream's successful result; anything else raises an ``UpstreamError``
        (a result with ``isError: true`` is ``UpstreamRejected``, with the upstream's text)."""
        meta: Any = {"traceparent": traceparent} if traceparent else None  # SEP-414: trace context in _meta
        attempts = 1 + (self.policy.retries if idempotent else 0)
        wait = self.policy.backoff_s
        for attempt in range(1, attempts + 1):
            self.breaker.before()
            try:
                result = await self._request(lambda s: s.call_tool(tool, dict(arguments), meta=meta), _CallNote(traceparent))
            except _Retry as retry:
                if attempt == attempts:
                    raise retry.problem from retry
            else:
                if not isinstance(result, types.CallToolResult):
                    raise UpstreamFailed(f"{self.name} answered {tool} with an unexpected result", upstream=self.name)
                if result.is_error:
                    detail = _text_of(result)[:MAX_DETAIL]
                    raise UpstreamRejected(
                        f"{self.name} refused the call of {tool}: {detail}" if detail else f"{self.name} refused the call",
                        upstream=self.name,
                        tool=tool,
                        upstream_detail=detail,
                    )
                return result
            await asyncio.sleep(wait)
            wait = min(wait * 2, 2.0)
        raise AssertionError("unreachable")

    async def _request(self, send: Callable[[ClientSession], Awaitable[Any]], note: _CallNote) -> Any:
        """One attempt: a session, a slot, the request, within ``timeout_s``. The breaker
        hears of it; a failure a retry can fix is raised as ``_Retry``."""
        token = _CALL.set(note)
        joined = _join_trace(note.traceparent)
        link: _Link | None = None
        try:
            async with asyncio.timeout(self.policy.timeout_s):
                link = await self._link()
                try:
                    result = await self._send(link, send)
                except MCPError as err:
                    if note.status != 404 or err.code != types.INVALID_REQUEST:
                        raise
                    # The upstream forgot the session (it restarted): the request was not
                    # processed, so it is sent once more on a new session, whatever the tool.
                    self._drop(link)
                    note.status = None
                    link = await self._link()
                    result = await self._send(link, send)
        except TimeoutError as err:
            self.breaker.failure()
            problem = UpstreamTimeout(f"{self.name} did not answer within {self.policy.timeout_s:g}s", upstream=self.name)
            raise _Retry(problem) from err
        except MCPError as err:
            raise self._judge(err, note, link) from err
        except UpstreamDenied:  # at the handshake: no retry fixes credentials
            self.breaker.success()
            raise
        except UpstreamError as err:  # the session could not be opened
            self.breaker.failure()
            raise _Retry(err) from err
        except (RuntimeError, ValidationError) as err:  # a result outside its contract (or asking for input)
            self.breaker.success()
            log.warning("upstream %s: unusable result: %s", self.name, err)
            raise UpstreamFailed(f"{self.name} answered with a result the gateway cannot use", upstream=self.name) from err
        finally:
            _CALL.reset(token)
            if joined is not None:
                otel_context.detach(joined)
        self.breaker.success()
        return result

    @staticmethod
    async def _send(link: _Link, send: Callable[[ClientSession], Awaitable[Any]]) -> Any:
        async with link.slots:
            assert link.session is not None
            return await send(link.session)

    def _judge(self, err: MCPError, note: _CallNote, link: _Link | None) -> Exception:
        """The problem an MCP error stands for, from the HTTP status if one came with it."""
        status = note.status
        extra: dict[str, Any] = {"upstream": self.name, "upstream_code": err.code}
        if status is not None and status >= 400:
            extra["upstream_status"] = status
            if status in (401, 403, 407):
                self.breaker.success()  # it answered; no retry fixes credentials
                return UpstreamDenied(f"{self.name} refused the gateway's credentials", **extra)
            if status == 429:
                self.breaker.success()
                limited = UpstreamRateLimited(f"{self.name} is limiting requests", retry_after=note.retry_after or 1.0, **extra)
                return _Retry(limited)
            self.breaker.failure()
            failed = UpstreamFailed(f"{self.name} failed ({status})", **extra)
            return _Retry(failed) if status in RETRYABLE_STATUSES else failed
        if err.code == types.CONNECTION_CLOSED:
            self.breaker.failure()
            if link is not None:
                self._drop(link)
            return _Retry(UpstreamFailed(f"{self.name}: the connection was lost", **extra))
        if err.code == types.REQUEST_TIMEOUT:
            self.breaker.failure()
            return _Retry(UpstreamTimeout(f"{self.name} did not answer in time", **extra))
        detail = err.message[:MAX_DETAIL]
        if err.code == types.METHOD_NOT_FOUND or "unknown tool" in detail.lower():
            self.breaker.success()
            return UpstreamNotFound(f"{self.name} does not offer that: {detail}", upstream_detail=detail, **extra)
        if err.code in _REJECTED_CODES:
            self.breaker.success()
            return UpstreamRejected(f"{self.name} refused the request: {detail}", upstream_detail=detail, **extra)
        self.breaker.failure()
        return UpstreamFailed(f"{self.name} failed ({err.code})", **extra)

    # -- sessions --------------------------------------------------------------

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            state = self._loops[loop] = _LoopState()
        return state

    async def _link(self) -> _Link:
        """This loop's live session, opened if there is none (or it broke)."""
        state = self._state()
        link = state.link
        if link is not None and not link.broken:
            return link
        async with state.opening:
            link = state.link
            if link is None or link.broken:
                link = state.link = await self._open()
            return link

    async def _open(self) -> _Link:
        link = _Link(asyncio.Semaphore(self.policy.max_concurrency))
        note = _CallNote()
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # A context of its own: the session outlives the call that opened it, and must not
        # carry that call's traceparent, tenant scope or span into its standing requests.
        link.task = asyncio.create_task(
            self._hold(link, ready, note), name=f"mcp-upstream:{self.name}", context=contextvars.Context()
        )
        try:
            await ready
        except asyncio.CancelledError:
            link.task.cancel()
            raise
        except Exception as err:
            log.warning("upstream %s: could not open a session: %r", self.name, err)
            extra: dict[str, Any] = {"upstream": self.name}
            if note.status is not None:
                extra["upstream_status"] = note.status
            if note.status in (401, 403, 407):
                raise UpstreamDenied(f"{self.name} refused the gateway's credentials", **extra) from err
            raise UpstreamFailed(f"{self.name} could not be reached", **extra) from err
        return link

    async def _hold(self, link: _Link, ready: asyncio.Future[None], note: _CallNote) -> None:
        """Open the session, keep it until asked to close, close it, all in this one task."""
        _CALL.set(note)  # what the handshake's HTTP answers were, for _open to judge
        try:
            async with contextlib.AsyncExitStack() as stack:
                read, write = await stack.enter_async_context(self._transport())
                session = ClientSession(
                    read,
                    write,
                    message_handler=self._on_message,
                    client_info=types.Implementation(name="chamberlain", version=__version__),
                )
                await stack.enter_async_context(session)
                await session.initialize()
                link.session = session
                ready.set_result(None)
                await link.closing.wait()
        except asyncio.CancelledError:
            if not ready.done():
                ready.cancel()
            raise
        except BaseException as err:
            if not ready.done():
                ready.set_exception(_leaf(err))
            else:
                log.warning("upstream %s: session ended: %s", self.name, _leaf(err))
        finally:
            link.broken = True

    @contextlib.asynccontextmanager
    async def _transport(self) -> AsyncIterator[tuple[Any, Any]]:
        if self.url is not None:
            timeout = httpx2.Timeout(self.policy.timeout_s, read=max(SSE_READ_TIMEOUT_S, self.policy.timeout_s))
            hooks: dict[str, list[Callable[..., Any]]] = {"request": [_stamp_request], "response": [_note_response]}
            limits = httpx2.Limits(max_connections=self.policy.max_concurrency + 2)  # + the standing streams
            async with httpx2.AsyncClient(headers=self._headers, timeout=timeout, event_hooks=hooks, limits=limits) as http:
                async with streamable_http_client(self.url, http_client=http) as streams:
                    yield streams[0], streams[1]
        else:
            assert self.command is not None
            params = StdioServerParameters(command=self.command[0], args=self.command[1:], env=self.env, cwd=self.cwd)
            async with stdio_client(params, errlog=self._errlog or _stderr()) as streams:
                yield streams[0], streams[1]

    def _drop(self, link: _Link) -> None:
        link.broken = True
        link.closing.set()

    async def close(self) -> None:
        """Close this loop's session (the next call opens another)."""
        state = self._loops.get(asyncio.get_running_loop())
        if state is None or state.link is None:
            return
        link, state.link = state.link, None
        link.closing.set()
        if link.task is not None:
            with contextlib.suppress(Exception):
                await link.task


async def _stamp_request(request: httpx2.Request) -> None:
    note = _CALL.get()
    if note is not None and note.traceparent:
        request.headers["traceparent"] = note.traceparent


async def _note_response(response: httpx2.Response) -> None:
    note = _CALL.get()
    if note is not None and response.status_code >= 400 and note.status is None:
        note.status = response.status_code
        value = response.headers.get("retry-after", "")
        note.retry_after = min(float(value), 60.0) if value.replace(".", "", 1).isdigit() else None


def _join_trace(traceparent: str) -> contextvars.Token[otel_context.Context] | None:
    """Make the call's span current, unless a span of its trace already is (tracing on).

    The MCP SDK writes the current OpenTelemetry span into every request's ``_meta``
    (SEP-414), over what the gateway put there. Where a process-wide tracer exists but no
    span of the call is current, that would be a new trace's root; with the call's span
    current, the SDK's span is its child, in the call's trace. Returns the token to detach.
    """
    if not traceparent:
        return None
    parent = _PROPAGATOR.extract({"traceparent": traceparent})
    wanted = trace.get_current_span(parent).get_span_context()
    current = trace.get_current_span().get_span_context()
    if not wanted.is_valid or (current.is_valid and current.trace_id == wanted.trace_id):
        return None
    return otel_context.attach(parent)


def _list_page(cursor: str | None) -> Callable[[ClientSession], Awaitable[types.ListToolsResult]]:
    params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
    return lambda session: session.list_tools(params=params)


def _text_of(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


def _leaf(err: BaseException) -> BaseException:
    """The first real error inside anyio's exception groups."""
    while isinstance(err, BaseExceptionGroup) and err.exceptions:
        err = err.exceptions[0]
    return err


def _stderr() -> TextIO:
    """Where a stdio server's stderr goes: the gateway's own, if it is a real file."""
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return sys.__stderr__ or sys.stderr
    return sys.stderr
