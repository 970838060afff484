"""Console people: passwords, sessions and what ends them."""

from __future__ import annotations

import pytest

from chamberlain.app import Runtime

PASSWORD = "correct horse battery staple"


async def test_a_session_acts_with_a_grant_of_its_own_and_ends_when_the_person_is_disabled(runtime: Runtime) -> None:
    people = runtime.people
    await people.add("acme", "rita", "human:rita", PASSWORD)
    assert await people.login("acme", "rita", "wrong password!!") is None
    assert await people.login("globex", "rita", PASSWORD) is None  # one tenant's person only
    done = await people.login("acme", "rita", PASSWORD)
    assert done is not None
    cookie, session = done
    grant = await runtime.authority.verify(session.token)
    assert (grant.tenant, grant.principal.id) == ("acme", "human:rita") and "grants.*" not in grant.actions
    assert await people.disable("acme", "rita") and not await people.disable("acme", "nobody")
    assert await people.session(cookie) is None and await people.login("acme", "rita", PASSWORD) is None


async def test_only_people_with_long_passwords_are_added(runtime: Runtime) -> None:
    with pytest.raises(ValueError, match="human"):
        await runtime.people.add("acme", "bot", "agent:bot", PASSWORD)
    with pytest.raises(ValueError, match="12 characters"):
        await runtime.people.add("acme", "rita", "human:rita", "short")


async def test_logging_out_revokes_the_sessions_grant(runtime: Runtime) -> None:
    from chamberlain.errors import GrantRevoked

    await runtime.people.add("acme", "rita", "human:rita", PASSWORD, admin=True)
    done = await runtime.people.login("acme", "rita", PASSWORD)
    assert done is not None
    cookie, session = done
    await runtime.people.logout(cookie)
    assert await runtime.people.session(cookie) is None
    with pytest.raises(GrantRevoked):
        await runtime.authority.verify(session.token)
