"""Garbage-collector settings for a long-running gateway process.

With a thousand open event streams, CPython's default thresholds let a full (gen 2)
collection run every few seconds, and each scans every live object: the imported
modules, the runtime and every connection. On the 2-core bench machine those pauses
took 100-170 ms and were the whole of the SSE fan-out's p99 (``bench/events_sse.py``:
p99 ~200 ms before, under 100 ms after, at 1,000 subscribers and 500 events/s).

So, once the process has started: the objects alive then are frozen out of
collection (they live as long as the process), and young garbage is collected in
larger batches, so that fewer short-lived objects (a request's, a batch's) survive
long enough to be promoted and make a full collection due. Full collections still
run, every ``20_000 * 20 * 100`` container allocations, which reclaims cyclic garbage
that reached the old generation.
"""

from __future__ import annotations

import gc

__all__ = ["THRESHOLDS", "tune_gc"]

THRESHOLDS = (20_000, 20, 100)


def tune_gc() -> None:
    """Call once the process has loaded what it serves, before it serves."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
