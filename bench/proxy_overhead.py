"""Governed proxy overhead: an upstream REST API called directly vs through the gateway.

    python bench/proxy_overhead.py [--seconds 8] [--concurrency 16]

The upstream is a small FastAPI service (``GET /items/{item_id}``) served by uvicorn in
its own process. The gateway is a real ``chamberlain serve`` process on SQLite that
governs it from its OpenAPI document (``CHAMBERLAIN_PROXY_CONFIG``), so each proxied
call takes the whole pipeline: grant, tenant, validation, policy, the upstream request
with the gateway's own credentials and a traceparent, the call record and the audit
entry, committed. The baseline, measured in the same run, is the same request sent to
the upstream directly by the same load generator.

The target in issue #11 is governed throughput of at least 0.5x direct. On a 2-core
machine the upstream, the gateway and the load generator share both cores, so both
rates are bounded by CPU; the ratio is what the governance costs on the same cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import httpx
from _load import Send, cpu_seconds, drive, percentile

from chamberlain.app import Runtime
from chamberlain.cluster import wait_until_answering
from chamberlain.config import Settings
from chamberlain.demo import shop
from chamberlain.tenants import create_tenant

UPSTREAM_PORT, GATEWAY_PORT = 18410, 18411
UPSTREAM = textwrap.dedent(
    """
    from fastapi import FastAPI, Header, HTTPException

    app = FastAPI(title="Items", version="1")

    @app.get("/items/{item_id}", operation_id="getItem")
    async def get_item(item_id: str, x_api_key: str = Header(...)) -> dict:
        if x_api_key != "upstream-key":
            raise HTTPException(401)
        return {"id": item_id, "name": "Kettle", "price_minor": 3999}
    """
)


def measure(send: Send, seconds: float, concurrency: int, processes: dict[str, int]) -> dict[str, float]:
    """Rate, latency and each process's CPU per call (ms), this generator's included."""
    processes = {**processes, "client": os.getpid()}
    before = {name: cpu_seconds(pid) for name, pid in processes.items()}
    rate, latencies, failures = asyncio.run(drive(send, seconds, concurrency))
    calls = rate * seconds
    cpu = {f"cpu_{name}": (cpu_seconds(pid) - before[name]) * 1000 / calls for name, pid in processes.items()}
    return {"rate": rate, "p50": percentile(latencies, 50), "p99": percentile(latencies, 99), "failures": failures, **cpu}


def _wait_for_spec(url: str, process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        try:
            return dict(httpx.get(url, timeout=1.0).raise_for_status().json())
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"the upstream did not serve {url}")


async def prepare(data: Path, config: Path) -> str:
    rt = Runtime(shop, Settings(data_dir=data, proxy_config=config))
    async with rt.running():
        await create_tenant(rt.store, rt.keys, "bench", "Bench")
        await rt.policies.publish("bench", {"all.cedar": "permit (principal, action, resource);"}, author="bench")
        grant = await rt.authority.issue("bench", "agent:bench", ["items.*"], timedelta(hours=1))
        return grant.token


def main(seconds: float, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "upstream.py").write_text(UPSTREAM)
        upstream = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "upstream:app", "--port", str(UPSTREAM_PORT), "--log-level", "warning"],
            cwd=folder,
        )
        gateway = None
        try:
            spec = _wait_for_spec(f"http://127.0.0.1:{UPSTREAM_PORT}/openapi.json", upstream)
            (folder / "items.json").write_text(json.dumps(spec))
            config = folder / "proxy.toml"
            config.write_text(
                f'[[openapi]]\nname = "items"\nspec = "items.json"\nbase_url = "http://127.0.0.1:{UPSTREAM_PORT}"\n'
                'headers = { X-Api-Key = "${ITEMS_KEY}" }\n'
            )
            env = {**os.environ, "ITEMS_KEY": "upstream-key", "CHAMBERLAIN_DATA_DIR": str(folder / "data")}
            env["CHAMBERLAIN_PROXY_CONFIG"] = str(config)
            os.environ["ITEMS_KEY"] = "upstream-key"
            token = asyncio.run(prepare(folder / "data", config))
            gateway = subprocess.Popen(
                [sys.executable, "-m", "chamberlain.cli", "serve", "chamberlain.demo:shop", "--port", str(GATEWAY_PORT)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            wait_until_answering(f"http://127.0.0.1:{GATEWAY_PORT}", 30, process=gateway)
            direct_url = f"http://127.0.0.1:{UPSTREAM_PORT}/items/i_1"
            governed_url = f"http://127.0.0.1:{GATEWAY_PORT}/v1/actions/items.get_item"
            auth = {"Authorization": f"Bearer {token}"}
            rounds = []
            pids = {"upstream": upstream.pid, "gateway": gateway.pid}
            for _ in range(2):  # interleaved, so drift hits both alike
                direct = measure(
                    lambda c: c.get(direct_url, headers={"X-Api-Key": "upstream-key"}), seconds / 2, concurrency, pids
                )
                governed = measure(
                    lambda c: c.post(governed_url, json={"item_id": "i_1"}, headers=auth), seconds / 2, concurrency, pids
                )
                rounds.append((direct, governed))
        finally:
            for proc in (gateway, upstream):
                if proc is not None:
                    proc.terminate()
                    proc.wait(timeout=15)
    print(f"GET /items/{{id}}, {concurrency} in flight, 2 interleaved rounds of {seconds / 2:g} s each (2 cores shared by all):")
    for n, (direct, governed) in enumerate(rounds, 1):
        print(
            f"  round {n}: direct {direct['rate']:6.0f}/s (p50 {direct['p50']:5.1f} ms, p99 {direct['p99']:6.1f} ms)  "
            f"governed {governed['rate']:6.0f}/s (p50 {governed['p50']:5.1f} ms, p99 {governed['p99']:6.1f} ms)  "
            f"ratio {governed['rate'] / direct['rate']:.2f}x  failures {direct['failures'] + governed['failures']:.0f}"
        )
        print(
            f"           CPU per call (ms): direct: client {direct['cpu_client']:.2f}, upstream {direct['cpu_upstream']:.2f}"
            f"  governed: client {governed['cpu_client']:.2f}, gateway {governed['cpu_gateway']:.2f},"
            f" upstream {governed['cpu_upstream']:.2f}"
        )
    ratio = statistics.median(g["rate"] / d["rate"] for d, g in rounds)
    print(f"governed proxy throughput vs direct: {ratio:.2f}x (target >= 0.5x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    main(args.seconds, args.concurrency)
