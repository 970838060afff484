"""Audit log costs on SQLite: append throughput, proofs at 1M entries, verifying an export.

    python bench/audit_log.py                  # 1,000,000 entries (a few minutes)
    python bench/audit_log.py --entries 100000 # quicker

Appends are measured the way a governed call writes them: a call record and its
audit entry (with argument and result payloads) in one unit of work, from many
concurrent tasks. The baseline, measured in the same run, is the same work with
group commit switched off (every unit its own SQLite transaction).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from chamberlain import audit
from chamberlain.actions import Surface
from chamberlain.app import Runtime
from chamberlain.audit import _log
from chamberlain.audit._export import export_log
from chamberlain.audit._verify import verify_export
from chamberlain.config import Settings
from chamberlain.ids import new_call_id
from chamberlain.store import _sqlite, calls
from chamberlain.tenants import create_tenant

FIELDS: dict[str, Any] = {
    "trace_id": "0af7651916cd43dd8448eb211c80319c",
    "surface": "mcp",
    "principal": "agent:support-bot",
    "on_behalf_of": "user:alice",
    "grant_id": "g_0123456789abcdef01234567",
    "action": "orders.refund",
    "action_version": 1,
    "decision": "allowed",
    "outcome": "ok",
    "error_type": None,
    "reasons": [
        {"stage": "authenticate", "grant_id": "g_0123456789abcdef01234567", "chain": ["agent:support-bot"]},
        {"stage": "authorize", "allowed_by": "grant:g_0123456789abcdef01234567", "block": 0, "right": "orders.*"},
        {"stage": "policy", "policies": ["permit-refunds"], "version": 3, "decision": "allow"},
    ],
    "approval_id": None,
}
PAYLOADS = {
    "arguments": {"order_id": "o_1001", "amount": {"amount_minor": 1500, "currency": "EUR"}, "reason": "damaged"},
    "result": {"id": "rf_0a1b2c", "order_id": "o_1001", "order_status": "partially_refunded"},
}


def record(call_id: str) -> dict[str, Any]:
    return {
        "id": call_id,
        "tenant_id": "acme",
        "principal": FIELDS["principal"],
        "on_behalf_of": FIELDS["on_behalf_of"],
        "grant_id": FIELDS["grant_id"],
        "surface": "mcp",
        "action": "orders.refund",
        "action_version": 1,
        "input_hash": "sha256:" + "ab" * 32,
        "decision": "allowed",
        "reasons": FIELDS["reasons"],
        "outcome": "ok",
        "error_type": None,
        "result_hash": "sha256:" + "cd" * 32,
        "timings": {"execute": 0.1},
        "trace_id": FIELDS["trace_id"],
        "started_at": "2026-11-25T00:00:00.000000+00:00",
        "duration_ms": 0.5,
        "approval_id": None,
    }


async def open_runtime(folder: Path) -> Runtime:
    rt = Runtime(Surface("bench"), Settings(data_dir=folder))
    await rt.open()
    await create_tenant(rt.store, rt.keys, "acme", "Acme")
    return rt


async def call_units(rt: Runtime, total: int, concurrency: int) -> float:
    """Governed-call writes per second: a record and its entry per unit of work."""

    async def worker(count: int) -> None:
        for _ in range(count):
            await asyncio.sleep(0)  # a request's own I/O between calls
            call_id = new_call_id()
            async with rt.store.transaction() as tx:
                await tx.insert(calls, record(call_id))
                await audit.append(tx, "acme", "call.executed", {"call_id": call_id, **FIELDS}, PAYLOADS)

    started = time.perf_counter()
    await asyncio.gather(*(worker(total // concurrency) for _ in range(concurrency)))
    return (total // concurrency * concurrency) / (time.perf_counter() - started)


async def appends(folder: Path, total: int) -> None:
    print(f"\n## Appends ({total} governed calls' record + entry per run, SQLite WAL, synchronous=NORMAL)\n")
    print("| concurrency | one transaction per call | group commit | ratio |")
    print("|---:|---:|---:|---:|")
    for concurrency in (1, 16, 64):
        rates = {}
        for grouped in (False, True):
            _sqlite.GROUP_MAX_UNITS = 64 if grouped else 1
            shutil.rmtree(folder, ignore_errors=True)
            rt = await open_runtime(folder)
            try:
                rates[grouped] = await call_units(rt, total, concurrency)
            finally:
                await rt.close()
        print(f"| {concurrency} | {rates[False]:,.0f}/s | {rates[True]:,.0f}/s | {rates[True] / rates[False]:.2f}x |")
    _sqlite.GROUP_MAX_UNITS = 64


async def fill(rt: Runtime, total: int) -> None:
    started, batch = time.perf_counter(), 2000
    for first in range(0, total, batch):
        async with rt.store.transaction() as tx:
            for n in range(first, min(total, first + batch)):
                await audit.append(tx, "acme", "call.executed", {"call_id": f"call_{n}", **FIELDS}, PAYLOADS)
        if first and first % 100_000 == 0:
            print(f"  filled {first:,} entries ({time.perf_counter() - started:.0f}s)", flush=True)


def timed(samples: list[float]) -> str:
    ordered = sorted(samples)
    return f"median {statistics.median(ordered) * 1e3:.3f} ms, p99 {ordered[int(len(ordered) * 0.99)] * 1e3:.3f} ms"


async def proofs_and_verification(folder: Path, total: int) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    rt = await open_runtime(folder)
    try:
        print(f"\n## A log of {total:,} entries\n")
        started = time.perf_counter()
        await fill(rt, total)
        print(f"- filled in {time.perf_counter() - started:.1f}s (2,000 entries per transaction)")
        rng = random.Random(1)
        inclusion, consistency = [], []
        for _ in range(500):
            index = rng.randrange(total)
            t = time.perf_counter()
            await _log.inclusion(rt.store, "acme", index, total)
            inclusion.append(time.perf_counter() - t)
            old = rng.randrange(1, total)
            t = time.perf_counter()
            await _log.consistency(rt.store, "acme", old, total)
            consistency.append(time.perf_counter() - t)
        proof = await _log.inclusion(rt.store, "acme", total // 3, total)
        print(f"- inclusion proof ({len(proof)} hashes, one query): {timed(inclusion)}")
        print(f"- consistency proof (one query): {timed(consistency)}")

        t = time.perf_counter()
        signed = await rt.audit.checkpoint("acme")
        print(f"- signing a checkpoint (with the check against the file outside the database): {time.perf_counter() - t:.3f}s")
        export = folder / "export"
        t = time.perf_counter()
        await export_log(rt.audit, "acme", export)
        print(f"- export: {time.perf_counter() - t:.1f}s")
        key = await rt.audit.verifier("acme")
    finally:
        await rt.close()
    t = time.perf_counter()
    report = verify_export(export, key, signed.note)
    seconds = time.perf_counter() - t
    assert report.ok, report.problems
    print(
        f"- offline verification of {report.entries:,} entries and {report.payloads:,} payloads: {seconds:.1f}s (target < 30 s)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000, help="size of the log for proofs and verification")
    parser.add_argument("--calls", type=int, default=20_000, help="governed calls per append measurement")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="chamberlain-audit-bench-"))
    try:
        await appends(folder / "appends", args.calls)
        await proofs_and_verification(folder / "log", args.entries)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
