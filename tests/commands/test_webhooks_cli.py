"""``chamberlain webhooks``: an operator reads endpoints, deliveries and attempts."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from chamberlain.demo.shop import shop
from chamberlain.store import tenant_transaction
from chamberlain.tenants import create_tenant
from tests.commands.test_approvals import run
from tests.conftest import make_runtime


def prepare(data: Path) -> tuple[str, str]:
    """An endpoint and one pending delivery to it (nothing sends in this test)."""

    async def go() -> tuple[str, str]:
        rt = make_runtime(shop, data, webhook_allow_private=True)
        async with rt.running():
            await create_tenant(rt.store, rt.keys, "acme", "Acme")
            async with tenant_transaction(rt.store, "acme") as tx:
                endpoint, _ = await rt.webhooks.register(tx, "acme", "http://127.0.0.1:9/hook", ["policy.changed"], "ops")
            async with tenant_transaction(rt.store, "acme") as tx:
                await rt.events.emit(tx, "acme", "policy.changed", {"version": 2})
            (delivery,) = await rt.webhooks.deliveries("acme")
            return endpoint["id"], delivery["id"]

    return asyncio.run(go())


def test_an_operator_sees_endpoints_deliveries_and_attempts(tmp_path: Path) -> None:
    endpoint, delivery = prepare(tmp_path)
    listed = run(tmp_path, "webhooks", "list", "--tenant", "acme")
    assert listed.exit_code == 0 and f"{endpoint}  http://127.0.0.1:9/hook  policy.changed" in listed.output
    pending = run(tmp_path, "webhooks", "deliveries", "--tenant", "acme", "--status", "pending").output
    assert delivery in pending and "policy.changed" in pending and "tries 0" in pending
    assert run(tmp_path, "webhooks", "deliveries", "--tenant", "acme", "--status", "dead").output.strip() == "no deliveries"
    shown = json.loads(run(tmp_path, "webhooks", "show", delivery, "--tenant", "acme").output)
    assert shown["endpoint_id"] == endpoint and shown["attempt_log"] == []
    assert "secret" not in json.dumps(shown)


def test_other_tenants_and_unknown_ids_show_nothing(tmp_path: Path) -> None:
    _, delivery = prepare(tmp_path)
    other = run(tmp_path, "webhooks", "show", delivery, "--tenant", "globex")
    assert other.exit_code == 1 and f"no delivery {delivery} in tenant globex" in other.output
    assert run(tmp_path, "webhooks", "list", "--tenant", "globex").output.strip() == "no webhook endpoints"
    bad = run(tmp_path, "webhooks", "deliveries", "--tenant", "acme", "--status", "lost")
    assert bad.exit_code == 2 and "Invalid value for '--status'" in bad.output
