"""OpenTelemetry: a span per call and per stage, the agent's trace continued, the handler
inside it, the trace id on the record and the audit entry; and nothing at all when off."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from chamberlain import Context, Surface
from chamberlain.app import Runtime, create_app
from chamberlain.audit import _log
from chamberlain.config import Settings
from chamberlain.demo.shop import shop
from chamberlain.pipeline import Call
from chamberlain.policy import default_files
from chamberlain.tenants import create_tenant
from tests.approvals.test_approvals import BIG, approvers
from tests.conftest import issue, new_key, permit_all
from tests.helpers import free_port, serve_in_thread
from tests.pipeline.test_gateway import add_order

AGENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
AGENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{AGENT_TRACE}-{AGENT_SPAN}-01"

seen: dict[str, Any] = {}
probe = Surface("probe")


@probe.action("probe.look", risk="read")
async def look(ctx: Context) -> dict[str, str]:
    """Records what a handler sees of the trace, and makes a span of its own."""
    with trace.get_tracer("business").start_as_current_span("business.lookup") as span:
        seen["traceparent"] = ctx.traceparent
        seen["span"] = span.get_span_context()
    return {"ok": "yes"}


EXPORTER = InMemorySpanExporter()
PROVIDER = TracerProvider()
PROVIDER.add_span_processor(SimpleSpanProcessor(EXPORTER))
trace.set_tracer_provider(PROVIDER)  # the handlers' own tracer, as a business app would have one (once per process)


@pytest.fixture
async def traced(tmp_path: Path) -> AsyncIterator[tuple[Runtime, InMemorySpanExporter]]:
    provider, exporter = PROVIDER, EXPORTER
    exporter.clear()
    rt = Runtime(shop.including(probe), Settings(data_dir=tmp_path / "data"), tracer_provider=provider)
    async with rt.running():
        await create_tenant(rt.store, rt.keys, "acme", "Acme")
        await permit_all(rt)
        yield rt, exporter


def by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    return {s.name: s for s in spans}


async def test_a_call_span_with_a_child_span_per_stage(traced: tuple[Runtime, InMemorySpanExporter]) -> None:
    rt, exporter = traced
    token = await issue(rt, on_behalf_of="user:alice")
    exporter.clear()
    out = await rt.gateway.call(Call("probe.look", {}, token, "test"))
    spans = by_name(exporter.get_finished_spans())
    call = spans["execute_tool probe.look"]
    attrs = dict(call.attributes or {})
    assert attrs["gen_ai.operation.name"] == "execute_tool" and attrs["gen_ai.tool.name"] == "probe.look"
    assert attrs["gen_ai.tool.call.id"] == out.call.id
    assert (attrs["chamberlain.tenant"], attrs["chamberlain.principal"], attrs["chamberlain.decision"]) == (
        "acme",
        "agent:test",
        "allowed",
    )
    assert attrs["chamberlain.on_behalf_of"] == "user:alice"
    stages = ["record", "authenticate", "tenant", "validate", "authorize", "policy", "execute"]
    for stage in stages:
        span = spans[f"chamberlain.{stage}"]
        assert span.parent is not None and span.parent.span_id == call.context.span_id, stage
    # Stage spans lie side by side, in pipeline order, as the record's timings do.
    starts = [spans[f"chamberlain.{s}"].start_time for s in stages]
    assert starts == sorted(starts)
    # The handler ran inside the execute span, and was told how to continue the trace.
    business = spans["business.lookup"]
    assert business.parent is not None and business.parent.span_id == spans["chamberlain.execute"].context.span_id
    execute = spans["chamberlain.execute"].context
    assert seen["traceparent"].startswith(f"00-{execute.trace_id:032x}-{execute.span_id:016x}-")
    # Trace id: span, call record and audit entry agree.
    trace_id = format(call.context.trace_id, "032x")
    assert out.call.trace_id == trace_id
    record = await rt.gateway.record(await rt.authority.verify(token), out.call.id)
    assert record["trace_id"] == trace_id
    (index,) = record["audit_entries"]
    assert attrs["chamberlain.audit.index"] == index
    entry = orjson.loads((await _log.entries(rt.store, "acme", index, 1))[0])
    assert entry["trace_id"] == trace_id and entry["call_id"] == out.call.id


async def test_the_agents_traceparent_is_continued(traced: tuple[Runtime, InMemorySpanExporter]) -> None:
    rt, exporter = traced
    token = await issue(rt)
    exporter.clear()
    out = await rt.gateway.call(Call("probe.look", {}, token, "test", trace_id=AGENT_TRACE, traceparent=TRACEPARENT))
    call = by_name(exporter.get_finished_spans())["execute_tool probe.look"]
    assert format(call.context.trace_id, "032x") == AGENT_TRACE == out.call.trace_id
    assert call.parent is not None and format(call.parent.span_id, "016x") == AGENT_SPAN


async def test_a_refusal_carries_its_decision_and_error_type(traced: tuple[Runtime, InMemorySpanExporter]) -> None:
    rt, exporter = traced
    token = await issue(rt, actions=["orders.get"])
    exporter.clear()
    await rt.gateway.call(Call("probe.look", {}, token, "test"))
    spans = by_name(exporter.get_finished_spans())
    call = spans["execute_tool probe.look"]
    attrs = dict(call.attributes or {})
    assert attrs["chamberlain.decision"] == "refused"
    assert str(attrs["error.type"]).endswith("/permission-denied")
    assert call.status.status_code == trace.StatusCode.ERROR
    assert "chamberlain.execute" not in spans  # the call stopped at authorize


async def test_a_parked_call_and_its_approved_run_share_a_trace(traced: tuple[Runtime, InMemorySpanExporter]) -> None:
    rt, exporter = traced
    await rt.policies.publish("acme", default_files(10_000), author="test")  # big refunds wait for a human
    await add_order(rt, "acme", total=50_000)
    token = await issue(rt, principal="agent:support")
    exporter.clear()
    parked = await rt.gateway.call(Call("orders.refund", BIG, token, "test", idempotency_key=new_key()))
    assert parked.pending
    call = by_name(exporter.get_finished_spans())["execute_tool orders.refund"]
    assert dict(call.attributes or {})["chamberlain.approval.id"] == parked.approval["id"]
    assert dict(call.attributes or {})["chamberlain.decision"] == "parked"
    (rita,) = await approvers(rt, "human:rita")
    exporter.clear()
    await rt.desk.decide(rita, parked.approval["id"], approve=True, reason="ok", expected_hash=None, surface="test")
    runs = [s for s in exporter.get_finished_spans() if s.name == "execute_tool orders.refund"]
    assert any(format(s.context.trace_id, "032x") == parked.call.trace_id for s in runs)


async def test_no_spans_at_all_when_tracing_is_off(tmp_path: Path) -> None:
    rt = Runtime(probe, Settings(data_dir=tmp_path / "data"))
    async with rt.running():
        await create_tenant(rt.store, rt.keys, "acme", "Acme")
        await permit_all(rt)
        assert rt.gateway.tracer is None
        seen.clear()
        out = await rt.gateway.call(
            Call("probe.look", {}, await issue(rt), "test", traceparent=TRACEPARENT, trace_id=AGENT_TRACE)
        )
        assert out.ok and out.call.span_context is None
        # Still a valid traceparent for the handler to forward, in the agent's trace.
        assert seen["traceparent"].startswith(f"00-{AGENT_TRACE}-")


@pytest.fixture
def served(traced: tuple[Runtime, InMemorySpanExporter]) -> Iterator[tuple[str, Runtime, InMemorySpanExporter]]:
    rt, exporter = traced
    port = free_port()
    with serve_in_thread(create_app(rt), port) as base:
        yield base, rt, exporter


async def test_rest_and_mcp_continue_the_agents_trace(served: tuple[str, Runtime, InMemorySpanExporter]) -> None:
    base, rt, exporter = served
    token = await issue(rt)
    headers = {"Authorization": f"Bearer {token}"}
    exporter.clear()
    async with httpx.AsyncClient(timeout=10) as http:
        resp = await http.post(f"{base}/v1/actions/probe.look", json={}, headers={**headers, "traceparent": TRACEPARENT})
    assert resp.status_code == 200 and resp.headers["Chamberlain-Trace-Id"] == AGENT_TRACE
    # The MCP SDK's client puts the current trace context in the request's `_meta`; an
    # agent's span around the call is what the gateway must continue.
    with trace.get_tracer("agent").start_as_current_span("agent.turn") as turn:
        async with httpx.AsyncClient(headers=headers, timeout=10) as http:
            async with streamable_http_client(f"{base}/mcp", http_client=http) as (read, write, *_):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    result = await session.call_tool("probe.look", {})
    assert not result.is_error
    other = format(turn.get_span_context().trace_id, "032x")
    traces = {format(s.context.trace_id, "032x") for s in exporter.get_finished_spans() if s.name.startswith("execute_tool")}
    assert {AGENT_TRACE, other} <= traces


class _Collector(BaseHTTPRequestHandler):
    received: list[ExportTraceServiceRequest] = []

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        _Collector.received.append(request)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


async def test_spans_reach_an_otlp_collector(tmp_path: Path) -> None:
    """A real OTLP/HTTP receiver on loopback, decoding what the exporter sends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Collector.received.clear()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        rt = Runtime(probe, Settings(data_dir=tmp_path / "data", otlp_endpoint=endpoint))
        async with rt.running():
            await create_tenant(rt.store, rt.keys, "acme", "Acme")
            await permit_all(rt)
            out = await rt.gateway.call(
                Call("probe.look", {}, await issue(rt), "test", trace_id=AGENT_TRACE, traceparent=TRACEPARENT)
            )
        # Closing the runtime flushed the batch.
        for _ in range(50):
            if _Collector.received:
                break
            await asyncio.sleep(0.05)
        spans = [
            span
            for request in _Collector.received
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]
        names = {span.name for span in spans}
        assert {"execute_tool probe.look", "chamberlain.authenticate", "chamberlain.execute"} <= names
        call = next(s for s in spans if s.name == "execute_tool probe.look")
        assert call.trace_id.hex() == AGENT_TRACE == out.call.trace_id and call.parent_span_id.hex() == AGENT_SPAN
        service = {a.key: a.value.string_value for a in _Collector.received[0].resource_spans[0].resource.attributes}
        assert service["service.name"] == "chamberlain"
    finally:
        server.shutdown()
