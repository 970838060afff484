"""Spans around the pipeline: one for the call, and one per stage beside each other.

A stage is middleware (``await next(call)`` runs every later stage), so a naive span
per stage would nest each stage inside the one before. Here a stage's span ends when it
hands the call on, and every stage span is a child of the call span: a trace shows the
same waterfall as the record's ``timings_ms``. The handler runs inside the ``execute``
span, so its own spans nest there.

Attributes follow the OpenTelemetry GenAI conventions for tool execution
(``gen_ai.operation.name = execute_tool``, ``gen_ai.tool.name``, ``gen_ai.tool.call.id``)
plus ``chamberlain.*`` for what only the gateway knows.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from opentelemetry import context, trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from ._propagation import parent_context

if TYPE_CHECKING:
    from ..pipeline import Call, Outcome, Stage

Next = Callable[["Call"], Awaitable["Outcome"]]

__all__ = ["around_call", "call_span_attributes", "traced"]


def traced(stage: Stage, inner: Next, tracer: Tracer) -> Next:
    """``stage`` in a span that ends when it hands the call to ``inner``."""
    name = stage.name
    span_name = f"chamberlain.{name}"

    async def run(call: Call) -> Outcome:
        call.marks.append((name, time.perf_counter()))
        span = tracer.start_span(span_name, context=call.span_context)
        handed_on = False

        async def next_(c: Call) -> Outcome:
            nonlocal handed_on
            handed_on = True
            span.end()
            return await inner(c)

        # The stage's span is current while the stage runs (a handler's spans nest in
        # ``execute``); attach/detach rather than ``use_span``, which costs several times more.
        token = context.attach(trace.set_span_in_context(span, call.span_context))
        try:
            return await stage(call, next_)
        except BaseException as err:
            if not handed_on:
                span.record_exception(err)
                span.set_status(Status(StatusCode.ERROR, type(err).__name__))
            raise
        finally:
            context.detach(token)
            if not handed_on:
                span.end()

    return run


def around_call(inner: Next, tracer: Tracer) -> Next:
    """The call's own span, parented by the agent's ``traceparent`` when it sent one."""

    async def run(call: Call) -> Outcome:
        parent = parent_context(call.traceparent)
        attributes = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": call.action_name[:200],
            "gen_ai.tool.call.id": call.id,
            "gen_ai.tool.type": "function",
            "chamberlain.surface": call.surface,
        }
        with tracer.start_as_current_span(
            f"execute_tool {call.action_name[:200]}", context=parent, kind=SpanKind.INTERNAL, attributes=attributes
        ) as span:
            if parent is None:  # a new trace: the record must name the span's trace, not a guess
                call.trace_id = format(span.get_span_context().trace_id, "032x")
            call.span_context = trace.set_span_in_context(span)
            outcome = await inner(call)
            span.set_attributes(call_span_attributes(outcome))
            if outcome.error is not None:
                span.set_status(Status(StatusCode.ERROR, outcome.error.title))
            return outcome

    return run


def call_span_attributes(outcome: Outcome) -> dict[str, Any]:
    call = outcome.call
    attributes: dict[str, Any] = {"chamberlain.decision": outcome.decision, "chamberlain.call.id": call.id}
    optional = {
        "chamberlain.tenant": call.tenant,
        "chamberlain.principal": call.principal,
        "chamberlain.on_behalf_of": call.grant.acting.on_behalf_of if call.grant else None,
        "chamberlain.action.version": call.action.version if call.action else None,
        "chamberlain.approval.id": outcome.approval["id"] if outcome.approval else None,
        "chamberlain.audit.index": outcome.audit_index,
        "error.type": outcome.error.type_uri if outcome.error else None,
    }
    attributes.update({k: v for k, v in optional.items() if v is not None})
    return attributes
