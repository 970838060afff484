from __future__ import annotations

import asyncio
import base64
from datetime import timedelta

import biscuit_auth as biscuit
import pytest

from chamberlain.app import Runtime
from chamberlain.errors import (
    GrantExpired,
    GrantInvalid,
    GrantMalformed,
    GrantMissing,
    GrantNotYetValid,
    GrantRevoked,
    GrantWidened,
    GrantWrongAudience,
    InternalError,
    PermissionDenied,
    RevocationUnavailable,
)
from chamberlain.grants import GrantAuthority, Principal
from chamberlain.store import tenant_transaction
from chamberlain.timeutil import utc_now
from tests.conftest import issue


async def test_issue_and_verify_round_trip(runtime: Runtime) -> None:
    issued = await runtime.authority.issue(
        "acme", "agent:bot", ["orders.*", "customers.get"], timedelta(hours=1), on_behalf_of="user:alice"
    )
    grant = await runtime.authority.verify(issued.token)
    assert grant.id == issued.id and grant.tenant == "acme"
    assert grant.principal == Principal("agent:bot", "user:alice")
    assert grant.actions == ("customers.get", "orders.*")
    assert grant.chain == ["tenant:acme", "user:alice", "agent:bot"]
    assert grant.expires_at == issued.expires_at


async def test_glob_rights_match_whole_segments(runtime: Runtime) -> None:
    grant = await runtime.authority.verify(await issue(runtime, actions=["orders.*", "customers.get"]))
    now, aud = utc_now(), runtime.authority.audience
    grant.authorize("orders.refund", aud, now)
    grant.authorize("customers.get", aud, now)
    for refused in ("ordersx.refund", "customers.export", "orders", "accounts.update_email"):
        with pytest.raises(PermissionDenied):
            grant.authorize(refused, aud, now)


async def test_forged_and_garbage_tokens_are_refused(runtime: Runtime) -> None:
    token = await issue(runtime)
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[len(raw) // 2] ^= 0x01
    forged = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    with pytest.raises(GrantInvalid) as forged_err:
        await runtime.authority.verify(forged)
    assert forged_err.value.code in ("grant-invalid", "grant-malformed")
    for bad in ("not-a-token", token[: len(token) // 2]):
        with pytest.raises(GrantMalformed):
            await runtime.authority.verify(bad)
    for missing in ("", None):
        with pytest.raises(GrantMissing):
            await runtime.authority.verify(missing)


async def test_token_from_another_tenants_key_is_refused(runtime: Runtime) -> None:
    """A token signed with globex's key that claims to be acme's."""
    kid, globex_key = await runtime.keys.signing("globex")
    builder = biscuit.BiscuitBuilder(
        'tenant("acme"); principal("agent:evil"); grant_id("g_x"); right_prefix(""); expires({e}); check if time($t), $t < {e};',
        {"e": utc_now() + timedelta(hours=1)},
    )
    builder.set_root_key_id(kid)
    token = builder.build(globex_key).to_base64()
    with pytest.raises(GrantInvalid, match="tenant"):
        await runtime.authority.verify(token)


async def test_token_signed_by_unknown_key_is_refused(runtime: Runtime) -> None:
    builder = biscuit.BiscuitBuilder('tenant("acme"); principal("agent:x"); grant_id("g");')
    builder.set_root_key_id(9999)
    with pytest.raises(GrantInvalid, match="unknown key"):
        await runtime.authority.verify(builder.build(biscuit.KeyPair().private_key).to_base64())


async def test_not_yet_valid_grant_is_refused(runtime: Runtime) -> None:
    start = utc_now() + timedelta(minutes=5)
    later = await runtime.authority.issue("acme", "agent:bot", ["orders.get"], timedelta(hours=1), not_before=start)
    with pytest.raises(GrantNotYetValid):
        await runtime.authority.verify(later.token)
    grant = await runtime.authority.verify(later.token, now=start + timedelta(seconds=1))
    grant.authorize("orders.get", runtime.authority.audience, start + timedelta(seconds=1))
    with pytest.raises(PermissionDenied):  # the token's own check holds too
        grant.authorize("orders.get", runtime.authority.audience, utc_now())


async def test_expired_grant_is_refused(runtime: Runtime) -> None:
    token = await issue(runtime, ttl=timedelta(seconds=30))
    await runtime.authority.verify(token)
    with pytest.raises(GrantExpired):
        await runtime.authority.verify(token, now=utc_now() + timedelta(minutes=1))


async def test_grant_for_another_audience_is_refused(runtime: Runtime) -> None:
    token = await issue(runtime, actions=["orders.get"])
    other = GrantAuthority(runtime.store, runtime.keys, audience="another-gateway")
    with pytest.raises(GrantWrongAudience):
        await other.verify(token)


async def test_attenuation_can_only_narrow(runtime: Runtime) -> None:
    token = await issue(runtime, actions=["orders.*"])
    parsed = biscuit.Biscuit.from_base64(token, (await runtime.keys.public(1)).public_key)  # type: ignore[union-attr]
    narrowed = parsed.append(biscuit.BlockBuilder('check if action($a), ["orders.get"].contains($a);')).to_base64()
    widened = parsed.append(biscuit.BlockBuilder('right_prefix(""); right("customers.export");')).to_base64()
    aud, now = runtime.authority.audience, utc_now()

    narrow = await runtime.authority.verify(narrowed)
    narrow.authorize("orders.get", aud, now)
    with pytest.raises(PermissionDenied):
        narrow.authorize("orders.refund", aud, now)

    with pytest.raises(GrantWidened):  # facts in later blocks would grant nothing; they are refused outright
        await runtime.authority.verify(widened)


async def test_issue_refuses_bad_requests(runtime: Runtime) -> None:
    with pytest.raises(ValueError):
        await runtime.authority.issue("acme", "robot:bot", ["orders.get"], timedelta(hours=1))
    bare = await runtime.authority.issue("acme", "bot", ["orders.get"], timedelta(hours=1))
    assert bare.principal.id == "agent:bot"
    with pytest.raises(ValueError):
        await runtime.authority.issue("acme", "agent:bot", [], timedelta(hours=1))
    with pytest.raises(ValueError):
        await runtime.authority.issue("acme", "agent:bot", ["orders.get"], timedelta(0))
    for pattern in ("orders.ref*", "Orders.get", "orders..get", "orders.*.x", "orders get"):
        with pytest.raises(ValueError, match="action pattern"):
            await runtime.authority.issue("acme", "agent:bot", [pattern], timedelta(hours=1))
    with pytest.raises(LookupError):
        await runtime.authority.issue("nobody", "agent:bot", ["orders.get"], timedelta(hours=1))


async def test_private_keys_are_wrapped_at_rest(runtime: Runtime) -> None:
    from sqlalchemy import select

    from chamberlain.store import tenant_keys

    rows = await runtime.store.fetch_all(select(tenant_keys))
    assert sorted(row["purpose"] for row in rows) == ["catalog-claims", "catalog-claims", "grant", "grant"]
    rows = [row for row in rows if row["purpose"] == "grant"]
    for row in rows:
        kid, key = await runtime.keys.signing(row["tenant_id"])
        assert key.to_bytes() not in row["private_key_enc"]
        assert row["private_key_enc"].startswith(b"gAAAAA")  # Fernet token


async def test_revoked_grants_and_their_descendants_are_refused(runtime: Runtime) -> None:
    parent = await runtime.authority.issue("acme", "agent:bot", ["orders.*"], timedelta(hours=1))
    key = (await runtime.keys.public(1)).public_key  # type: ignore[union-attr]
    child = biscuit.Biscuit.from_base64(parent.token, key).append(biscuit.BlockBuilder("check if time($t);")).to_base64()
    sibling = biscuit.Biscuit.from_base64(parent.token, key).append(biscuit.BlockBuilder("check if time($t);")).to_base64()
    for token in (parent.token, child, sibling):
        await runtime.authority.verify(token)

    await runtime.authority.revoke_token(child, "sub-agent done")
    with pytest.raises(GrantRevoked):
        await runtime.authority.verify(child)
    await runtime.authority.verify(parent.token)  # revoking a child leaves its parent
    await runtime.authority.verify(sibling)

    await runtime.authority.revoke("acme", parent.id, "incident")
    for token in (parent.token, sibling):
        with pytest.raises(GrantRevoked):
            await runtime.authority.verify(token)
    await runtime.authority.revoke("acme", parent.id, "again")  # idempotent
    with pytest.raises(LookupError):
        await runtime.authority.revoke("globex", parent.id, "wrong tenant")


async def test_revocation_lookup_fails_closed(runtime: Runtime) -> None:
    from sqlalchemy import text

    token = await issue(runtime)
    await runtime.authority.verify(token)
    async with tenant_transaction(runtime.store, "acme") as tx:  # the revocation state becomes unreadable
        await tx.execute(text("ALTER TABLE revocations RENAME TO revocations_gone"))
    with pytest.raises(RevocationUnavailable) as err:
        await runtime.authority.verify(token)
    assert err.value.retryable and err.value.status == 503


async def test_key_rotation_and_retirement(runtime: Runtime) -> None:
    old = await runtime.authority.issue("acme", "agent:bot", ["orders.get"], timedelta(hours=1))
    new_kid = await runtime.authority.rotate_key("acme")
    new = await runtime.authority.issue("acme", "agent:bot", ["orders.get"], timedelta(hours=1))
    assert (await runtime.authority.verify(new.token)).kid == new_kid
    await runtime.authority.verify(old.token)  # older keys verify until retired
    old_kid = (await runtime.authority.verify(old.token)).kid
    keys = [k for k in await runtime.keys.published("acme") if k["use"] == "grant"]  # beside the claims key
    assert [k["kid"] for k in keys] == [old_kid, new_kid] and all(k["status"] == "active" for k in keys)

    with pytest.raises(LookupError):
        await runtime.authority.retire_key("globex", old_kid, "not yours")
    await runtime.authority.retire_key("acme", old_kid, "rotation")
    with pytest.raises(GrantRevoked):
        await runtime.authority.verify(old.token)
    await runtime.authority.verify(new.token)
    assert [k["status"] for k in await runtime.keys.published("acme") if k["use"] == "grant"] == ["retired", "active"]
    assert (await runtime.keys.signing("acme"))[0] == new_kid


async def test_single_use_grants_refuse_replays(runtime: Runtime) -> None:
    from chamberlain.errors import GrantUsedUp
    from chamberlain.pipeline import Call

    once = await runtime.authority.issue("acme", "agent:bot", ["orders.list"], timedelta(hours=1), max_uses=1)
    first = await runtime.gateway.call(Call("orders.list", {}, once.token, "test"))
    assert first.ok
    replay = await runtime.gateway.call(Call("orders.list", {}, once.token, "test"))
    assert isinstance(replay.error, GrantUsedUp) and replay.error.type_uri.endswith("/grant-used-up")
    assert replay.call.tenant == "acme"  # recorded in the grant's tenant
    twice = await runtime.authority.issue("acme", "agent:bot", ["orders.list"], timedelta(hours=1), max_uses=2)
    outcomes = await asyncio.gather(*(runtime.gateway.call(Call("orders.list", {}, twice.token, "test")) for _ in range(5)))
    assert sum(o.ok for o in outcomes) == 2
    with pytest.raises(ValueError):
        await runtime.authority.issue("acme", "agent:bot", ["orders.list"], timedelta(hours=1), max_uses=0)


async def test_an_authorizer_that_runs_out_of_time_is_an_error_not_a_denial(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Biscuit's wall-clock limit says nothing about the grant: a busy process must not
    tell an agent it lacks a right it holds (it is told to retry)."""
    from chamberlain.grants import _token

    grant = await runtime.authority.verify(await issue(runtime))
    grant.authorize("orders.get", runtime.authority.audience, utc_now())
    assert _token._LIMITS.max_time.total_seconds() * 1000 == _token.AUTHORIZER_MAX_TIME_MS
    exhausted = biscuit.AuthorizerBuilder("").limits()  # type: ignore[attr-defined]
    exhausted.max_time = timedelta(0)
    fresh = await runtime.authority.verify(await issue(runtime))
    monkeypatch.setattr(_token, "_LIMITS", exhausted)
    with pytest.raises(InternalError, match="did not finish in time"):
        fresh.authorize("orders.get", runtime.authority.audience, utc_now())
    with pytest.raises(InternalError, match="did not finish in time"):  # reading a grant, too
        await runtime.authority.verify(await issue(runtime))
