"""What tracing adds to a governed call, in-process (no HTTP, so the difference shows).

    python bench/tracing_cost.py [--calls 3000] [--rounds 5]

Three gateways over the same demo shop, measured in the same run, alternating rounds:
tracing off (no collector configured: the pipeline runs no tracing code), tracing on
with spans batched to an exporter that drops them (the SDK's own cost), and tracing on
with every span exported through the SDK's in-memory exporter.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from chamberlain.app import Runtime
from chamberlain.config import Settings
from chamberlain.demo import seed, shop
from chamberlain.pipeline import Call


class Dropping(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


MEMORY = InMemorySpanExporter()


def providers() -> dict[str, TracerProvider | None]:
    batched = TracerProvider()
    batched.add_span_processor(BatchSpanProcessor(Dropping()))
    memory = TracerProvider()
    memory.add_span_processor(SimpleSpanProcessor(MEMORY))
    sampled = TracerProvider(sampler=ParentBased(TraceIdRatioBased(0.1)))
    sampled.add_span_processor(BatchSpanProcessor(Dropping()))
    return {
        "off": None,
        "on, batched, dropped": batched,
        "on, in-memory exporter": memory,
        "on, 10% sampled, batched, dropped": sampled,
    }


async def per_call_us(rt: Runtime, token: str, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        out = await rt.gateway.call(Call("orders.get", {"order_id": "o_1001"}, token, "bench"))
        assert out.ok, out.error
    return (time.perf_counter() - started) / calls * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="chamberlain-tracing-bench-"))
    results: dict[str, list[float]] = {}
    try:
        runtimes = {}
        for n, (name, provider) in enumerate(providers().items()):
            rt = Runtime(shop, Settings(data_dir=folder / str(n)), tracer_provider=provider)
            await rt.open()
            token = (await seed(rt))[0].grant.token
            await per_call_us(rt, token, 200)  # warm caches
            runtimes[name] = (rt, token)
        for _ in range(args.rounds):
            for name, (rt, token) in runtimes.items():
                results.setdefault(name, []).append(await per_call_us(rt, token, args.calls))
                MEMORY.clear()  # a collector takes spans away; holding them all would tax the GC
        for rt, _ in runtimes.values():
            await rt.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    base = statistics.median(results["off"])
    print(f"\n{args.calls} sequential orders.get calls per round, {args.rounds} rounds, median µs per call\n")
    print("| tracing | µs per call | added | ratio |")
    print("|---|---:|---:|---:|")
    for name, samples in results.items():
        median = statistics.median(samples)
        print(f"| {name} | {median:.0f} | {median - base:+.0f} | {median / base:.2f}x |")


if __name__ == "__main__":
    asyncio.run(main())
