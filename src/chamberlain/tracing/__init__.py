"""OpenTelemetry tracing of governed calls: a span per call, a child span per stage.

Off unless a collector is configured (``CHAMBERLAIN_OTLP_ENDPOINT``) or a
``TracerProvider`` is handed to the runtime: with tracing off, the pipeline is built
exactly as without this package, and no span object is ever made.
"""

from ._propagation import continue_trace, traceparent_of
from ._provider import make_provider
from ._spans import around_call, traced

__all__ = ["around_call", "continue_trace", "make_provider", "traced", "traceparent_of"]
