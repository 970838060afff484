"""Building the SDK's TracerProvider from settings.

The OTLP/HTTP (protobuf) exporter, not gRPC: it needs no gRPC runtime, and every
collector (the OpenTelemetry Collector, Jaeger, Tempo, Honeycomb...) accepts it on port
4318. It is an optional extra (``pip install 'chamberlain[otlp]'``).
"""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from .. import __version__

__all__ = ["make_provider"]


def make_provider(endpoint: str, sample_ratio: float = 1.0, service_name: str = "chamberlain") -> TracerProvider:
    """A provider that batches spans to the OTLP/HTTP collector at ``endpoint``
    (``http://host:4318``; ``/v1/traces`` is added unless the URL already names a path).

    ``sample_ratio`` of the calls that start a trace are recorded; a call whose agent
    sent a ``traceparent`` follows the agent's sampling decision (W3C sampled flag)."""
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as err:  # pragma: no cover - depends on the install
        raise RuntimeError("exporting traces needs the otlp extra: pip install 'chamberlain[otlp]'") from err
    url = endpoint.rstrip("/")
    if url.count("/") <= 2:
        url += "/v1/traces"
    resource = Resource.create({"service.name": service_name, "service.version": __version__})
    provider = TracerProvider(resource=resource, sampler=ParentBased(TraceIdRatioBased(sample_ratio)))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
    return provider
