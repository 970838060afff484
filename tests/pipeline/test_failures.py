"""What an agent is told when something fails that no rule foresaw."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel

from chamberlain import Context, Surface
from chamberlain.app import Runtime, create_app
from chamberlain.pipeline import Call
from chamberlain.tenants import create_tenant
from tests.conftest import issue, make_runtime, permit_all

broken = Surface("broken")


class Small(BaseModel):
    n: int


@broken.action("things.inner_validation", risk="read")
async def inner_validation(ctx: Context) -> Small:
    """Builds a model from bad data inside the handler: the handler's failure, not the output's."""
    return Small.model_validate({"n": "not a number"})


@broken.action("things.bad_output", risk="read")
async def bad_output(ctx: Context) -> Small:
    """Returns something that is not a Small."""
    return {"n": "not a number"}  # type: ignore[return-value]


@pytest.fixture
async def rt(tmp_path: Path) -> Runtime:
    runtime = make_runtime(broken, tmp_path / "data")
    await runtime.open()
    await create_tenant(runtime.store, runtime.keys, "acme", "Acme")
    await permit_all(runtime)
    yield runtime  # type: ignore[misc]
    await runtime.close()


async def test_a_pydantic_error_inside_a_handler_is_not_called_an_output_breach(rt: Runtime) -> None:
    token = await issue(rt)
    inner = await rt.gateway.call(Call("things.inner_validation", {}, token, "test"))
    assert inner.error is not None and "failed; nothing was changed" in inner.error.detail
    output = await rt.gateway.call(Call("things.bad_output", {}, token, "test"))
    assert output.error is not None and "breaks its output contract" in output.error.detail


async def test_an_unforeseen_exception_is_answered_as_problem_json(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    async def explode(*_: object) -> None:
        raise RuntimeError("a bug nobody caught")

    monkeypatch.setattr(rt.gateway, "describe", explode)
    transport = httpx.ASGITransport(app=create_app(rt), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        response = await client.get("/v1/actions", headers={"Authorization": f"Bearer {await issue(rt)}"})
    assert response.status_code == 500 and response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"].endswith("/internal-error") and body["retryable"] is True and "nobody caught" not in response.text
