"""Several processes appending to one tenant's log at once: one order, no gaps, no forks
(on PostgreSQL, under the per-tenant lock that serializes a tenant's writers)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import orjson

from chamberlain import audit
from chamberlain.app import Runtime
from chamberlain.audit import _log

APPENDER = """
import asyncio, os, sys, time
from chamberlain import audit
from chamberlain.store import make_store, tenant_transaction

async def main(url, writer, count):
    store = make_store(url)
    await store.open()
    open(sys.argv[4] + f".ready{writer}", "w").close()
    while not os.path.exists(sys.argv[4]):  # start together
        time.sleep(0.005)
    try:
        for n in range(count):
            async with store.transaction() as tx:
                await audit.append(tx, "acme", "test.entry", {"writer": writer, "n": n})
            await asyncio.sleep(0.001)  # let the others in, as between real requests
    finally:
        await store.close()

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""


async def test_processes_appending_at_once_keep_one_order(runtime: Runtime, tmp_path: Path) -> None:
    writers, count = 4, 150
    script = tmp_path / "appender.py"
    script.write_text(APPENDER)
    start = tmp_path / "go"
    procs = [
        subprocess.Popen([sys.executable, str(script), runtime.store.url, str(w), str(count), str(start)], stderr=subprocess.PIPE)
        for w in range(writers)
    ]
    while len(list(tmp_path.glob("go.ready*"))) < writers:
        assert all(p.poll() is None for p in procs), "an appender died before starting"
        await asyncio.sleep(0.02)
    start.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()

    bodies = await _log.entries(runtime.store, "acme", 0, writers * count + 1)
    entries = [orjson.loads(b) for b in bodies]
    assert [e["index"] for e in entries] == list(range(writers * count))
    leaves = [audit.leaf_hash(b) for b in bodies]
    assert all(e["prev"] == (leaves[i - 1].hex() if i else "") for i, e in enumerate(entries))
    for w in range(writers):  # each writer's entries in its own order, interleaved with the others
        assert [e["n"] for e in entries if e["writer"] == w] == list(range(count))
    switches = sum(a["writer"] != b["writer"] for a, b in zip(entries, entries[1:], strict=False))
    assert switches > writers, "the writers did not overlap; the test proved nothing"
    head = await _log.head(runtime.store, "acme")
    assert head.root == audit.root(leaves) == await _log.root_at(runtime.store, "acme", head.size)
