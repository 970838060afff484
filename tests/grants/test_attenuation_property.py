"""Property: no sequence of attenuations ever allows a call its parent refused."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import biscuit_auth as biscuit
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chamberlain import Surface
from chamberlain.app import Runtime
from chamberlain.config import Settings
from chamberlain.errors import GrantWidened, PermissionDenied
from chamberlain.grants import GrantAuthority, attenuate
from chamberlain.tenants import create_tenant
from chamberlain.timeutil import utc_now

ACTIONS = ["orders.get", "orders.refund", "orders.list", "customers.get", "customers.export", "accounts.update_email"]
PATTERNS = [*ACTIONS, "orders.*", "customers.*", "accounts.*", "*"]
patterns = st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=3, unique=True)
steps = st.lists(
    st.tuples(st.one_of(st.none(), patterns), st.one_of(st.none(), st.integers(min_value=1, max_value=120))).filter(
        lambda step: step != (None, None)
    ),
    min_size=1,
    max_size=4,
)


def covers(pattern: str, action: str) -> bool:
    return pattern in ("*", action) or (pattern.endswith(".*") and action.startswith(pattern[:-1]))


def allowed(authority: GrantAuthority, token: str) -> set[str]:
    grant = asyncio.run(authority.verify(token))
    out = set()
    for action in ACTIONS:
        try:
            grant.authorize(action, authority.audience, utc_now())
        except PermissionDenied:
            continue
        out.add(action)
    return out


def test_attenuation_never_widens(tmp_path: Path) -> None:
    runtime = Runtime(Surface("p"), Settings(data_dir=tmp_path / "d"))
    asyncio.run(runtime.open())
    asyncio.run(create_tenant(runtime.store, runtime.keys, "acme", "Acme"))
    key = asyncio.run(runtime.keys.public(1))
    assert key is not None
    public_hex = bytes(key.public_key.to_bytes()).hex()

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(root=patterns, chain=steps)
    def check(root: list[str], chain: list[tuple[list[str] | None, int | None]]) -> None:
        token = asyncio.run(runtime.authority.issue("acme", "agent:root", root, timedelta(hours=1))).token
        ceiling = allowed(runtime.authority, token)
        for actions, minutes in chain:
            token = attenuate(token, public_hex, actions=actions, ttl=timedelta(minutes=minutes) if minutes else None)
            now_allowed = allowed(runtime.authority, token)
            assert now_allowed <= ceiling, (root, chain)
            if actions:  # and the narrowing takes effect
                assert now_allowed <= {a for a in ACTIONS if any(covers(p, a) for p in actions)}
            ceiling = now_allowed
        # Facts smuggled into a later block grant nothing either.
        parsed = biscuit.Biscuit.from_base64(token, key.public_key)
        smuggled = parsed.append(biscuit.BlockBuilder('right_prefix(""); right("customers.export");')).to_base64()
        with pytest.raises(GrantWidened):
            allowed(runtime.authority, smuggled)

    try:
        check()
    finally:
        asyncio.run(runtime.close())
