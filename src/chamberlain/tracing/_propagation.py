"""W3C trace context in and out: the agent's ``traceparent`` in, the handler's out."""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = ["continue_trace", "parent_context", "traceparent_of"]

_PROPAGATOR = TraceContextTextMapPropagator()


def parent_context(traceparent: str | None) -> Context | None:
    """The agent's span as the parent of the call's, if it sent a valid ``traceparent``."""
    if not traceparent:
        return None
    context = _PROPAGATOR.extract({"traceparent": traceparent})
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def continue_trace(trace_id: str) -> Context:
    """A parent in the trace ``trace_id`` (a call parked earlier, run now on approval):
    the later span joins the call's trace instead of starting a new one."""
    span = SpanContext(int(trace_id, 16), int.from_bytes(os.urandom(8), "big") | 1, is_remote=True, trace_flags=TraceFlags(1))
    return trace.set_span_in_context(NonRecordingSpan(span))


def traceparent_of(trace_id: str) -> str:
    """The ``traceparent`` a handler forwards upstream: the current span when tracing is
    on and it belongs to this call's trace, else a fresh span id in the call's trace."""
    current = trace.get_current_span().get_span_context()
    if current.is_valid and format(current.trace_id, "032x") == trace_id:
        return f"00-{trace_id}-{current.span_id:016x}-{int(current.trace_flags):02x}"
    return f"00-{trace_id}-{os.urandom(8).hex()}-01"
