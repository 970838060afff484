"""Prometheus metrics: every outcome counted once, bounded labels, queue depths, and
served only to the operator's scraper."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from chamberlain.app import create_app
from chamberlain.demo.shop import shop
from chamberlain.metrics import Metrics
from chamberlain.tenants import create_tenant
from tests.approvals.test_approvals import BIG, approvers
from tests.conftest import issue, make_runtime
from tests.pipeline.test_gateway import REFUND, add_order, run


def samples(metrics: Metrics, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    found = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


async def test_outcomes_are_counted_by_tenant_action_and_decision(tmp_path: Path) -> None:
    rt = make_runtime(shop, tmp_path / "data", metrics_max_tenants=1)
    async with rt.running():
        for tenant in ("acme", "globex"):
            await create_tenant(rt.store, rt.keys, tenant, tenant)
        await add_order(rt, "acme", total=50_000)
        acme, globex = await issue(rt), await issue(rt, "globex")
        assert (await run(rt, acme, "orders.refund", REFUND)).ok
        parked = await run(rt, acme, "orders.refund", BIG)
        assert parked.pending
        assert not (await run(rt, acme, "orders.nope", {})).ok
        assert not (await run(rt, None, "orders.get", {"order_id": "o_1"})).ok
        assert (await run(rt, globex, "orders.list", {})).ok
        await rt.sweep()

        calls = samples(rt.metrics, "chamberlain_calls_total")
        key = (("action", "orders.refund"), ("decision", "allowed"), ("surface", "test"), ("tenant", "acme"))
        assert calls[key] == 1
        assert calls[(("action", "orders.refund"), ("decision", "parked"), ("surface", "test"), ("tenant", "acme"))] == 1
        assert calls[(("action", "unknown"), ("decision", "refused"), ("surface", "test"), ("tenant", "acme"))] == 1
        assert calls[(("action", "unknown"), ("decision", "refused"), ("surface", "test"), ("tenant", "none"))] == 1
        # Past max_tenants (1 here), another tenant is counted, under "other".
        assert calls[(("action", "orders.list"), ("decision", "allowed"), ("surface", "test"), ("tenant", "other"))] == 1
        refusals = samples(rt.metrics, "chamberlain_refusals_total")
        assert refusals[(("code", "unknown-action"), ("tenant", "acme"))] == 1
        assert refusals[(("code", "grant-missing"), ("tenant", "none"))] == 1
        latency = samples(rt.metrics, "chamberlain_call_duration_seconds_count")
        assert latency[(("action", "orders.refund"), ("decision", "allowed"))] == 1
        assert samples(rt.metrics, "chamberlain_approvals_pending")[()] == 1

        (rita,) = await approvers(rt, "human:rita")
        await rt.desk.decide(rita, parked.approval["id"], approve=True, reason="ok", expected_hash=None, surface="test")
        await rt.sweep()
        runs = samples(rt.metrics, "chamberlain_approved_runs_total")
        assert runs == {(("action", "orders.refund"), ("outcome", "ok"), ("tenant", "acme")): 1}
        assert samples(rt.metrics, "chamberlain_approvals_pending")[()] == 0


async def test_metrics_are_served_to_loopback_or_the_token_only(tmp_path: Path) -> None:
    for token in (None, "s3cret-scraper"):
        rt = make_runtime(shop, tmp_path / f"data-{token}", metrics_token=token)
        async with rt.running():
            app = create_app(rt)
            local = httpx.AsyncClient(transport=httpx.ASGITransport(app, client=("127.0.0.1", 5000)), base_url="http://gw")
            remote = httpx.AsyncClient(transport=httpx.ASGITransport(app, client=("10.1.2.3", 5000)), base_url="http://gw")
            async with local, remote:
                if token is None:
                    ok = await local.get("/metrics")
                    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/plain")
                    assert "chamberlain_calls_total" in ok.text or "# HELP chamberlain_calls" in ok.text
                    denied = await remote.get("/metrics")
                else:
                    assert (await remote.get("/metrics", headers={"Authorization": f"Bearer {token}"})).status_code == 200
                    denied = await local.get("/metrics", headers={"Authorization": "Bearer wrong"})
                assert denied.status_code == 403 and denied.headers["content-type"] == "application/problem+json"
                assert "chamberlain_" not in denied.text
