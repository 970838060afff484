"""Managing grants through the pipeline: ``grants.issue``, ``grants.revoke`` and ``grants.list``.

They are ordinary governed actions, so REST (``POST /v1/grants``, ``DELETE
/v1/grants/{id}``), MCP and the CLI share one rule set, and every issue and revocation
is authenticated, authorized, recorded and committed with its own call record. Only a
grant that names ``grants.issue`` (or ``grants.*``) can delegate, and it can only hand
out less than it holds:

* every requested action must be one the caller's grant allows (judged by the caller's
  own authorizer, so its attenuations count), and a glob only if the caller holds the
  same or a wider glob in an unattenuated grant;
* the caller's argument constraints are copied into the new grant;
* the new grant ends no later than the caller's;
* it is recorded as issued on behalf of the caller, so the chain continues.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from ..actions import SECRET, Surface
from ..context import Context
from ..errors import ActionError
from ..timeutil import utc_now
from ._constraints import Constraint
from ._token import Grant, GrantAuthority

__all__ = ["management_surface"]

MAX_TTL_S = 30 * 86400


class IssuedGrantOut(BaseModel):
    id: str
    token: str = Field(json_schema_extra=SECRET)
    principal: str
    on_behalf_of: str | None
    actions: list[str]
    constraints: list[str]
    expires_at: str


class Revoked(BaseModel):
    grant_id: str
    revoked: bool


class GrantSummary(BaseModel):
    """A grant as its tenant's admins see it: never its token."""

    id: str
    principal: str
    on_behalf_of: str | None
    actions: list[str]
    constraints: list[str]
    issued_at: str
    expires_at: str
    status: Literal["active", "expired", "revoked"]


class GrantList(BaseModel):
    grants: list[GrantSummary]


def _glob_covered(caller: Grant, pattern: str) -> bool:
    prefix = "" if pattern == "*" else pattern[:-1]
    held = ["" if p == "*" else p[:-1] for p in caller.actions if p.endswith("*")]
    return caller.blocks == 1 and any(prefix.startswith(h) for h in held)


def _check_within(caller: Grant, actions: list[str], audience: str) -> None:
    now = utc_now()
    for pattern in actions:
        if pattern.endswith("*"):
            if not _glob_covered(caller, pattern):
                raise ActionError(
                    f"{pattern!r} is wider than what your grant can hand out; name actions one by one",
                    code="wider-than-caller",
                )
            continue
        if not caller.in_scope(pattern, audience, now):
            raise ActionError(f"your grant does not allow {pattern!r}, so it cannot grant it", code="wider-than-caller")


def management_surface(authority: GrantAuthority) -> Surface:
    surface = Surface("chamberlain-grants", description="Issue and revoke grants within your own.")

    @surface.action("grants.issue", risk="account")
    async def issue(
        principal: Annotated[str, Field(min_length=3, max_length=140)],
        actions: Annotated[list[str], Field(min_length=1, max_length=64)],
        ctx: Context,
        ttl_seconds: Annotated[int, Field(ge=1, le=MAX_TTL_S)] = 3600,
        constraints: Annotated[list[str], Field(max_length=32)] = [],  # noqa: B006 - pydantic copies defaults
    ) -> IssuedGrantOut:
        """Issue a grant for another principal of your tenant, within your own grant."""
        caller = ctx.grant
        try:
            requested = [Constraint.parse(c) for c in constraints]
            _check_within(caller, actions, authority.audience)
            inherited = [Constraint.parse(c) for c in caller.constraints]
            ttl = min(timedelta(seconds=ttl_seconds), caller.expires_at - utc_now())
            issued = await authority.issue(
                ctx.tenant,
                principal,
                actions,
                ttl,
                on_behalf_of=caller.acting.id,
                constraints=[*inherited, *requested],
                tx=ctx.tx,
            )
        except ValueError as err:
            raise ActionError(str(err), code="invalid-grant-request") from err
        return IssuedGrantOut(
            id=issued.id,
            token=issued.token,
            principal=issued.principal.id,
            on_behalf_of=issued.principal.on_behalf_of,
            actions=list(issued.actions),
            constraints=[str(c) for c in [*inherited, *requested]],
            expires_at=issued.expires_at.isoformat(),
        )

    @surface.action("grants.revoke", risk="account")
    async def revoke(
        grant_id: Annotated[str, Field(pattern=r"^g_[0-9a-f]{24}$")],
        ctx: Context,
        reason: Annotated[str, Field(min_length=1, max_length=500)] = "revoked through the API",
    ) -> Revoked:
        """Revoke a grant of your tenant and every grant derived from it."""
        try:
            await authority.revoke(ctx.tenant, grant_id, reason, tx=ctx.tx)
        except LookupError as err:
            raise ActionError(f"no grant {grant_id!r} in this tenant", code="grant-not-found") from err
        return Revoked(grant_id=grant_id, revoked=True)

    @surface.action("grants.list", risk="read")
    async def list_grants(
        ctx: Context,
        status: Literal["active", "expired", "revoked"] | None = "active",
        limit: Annotated[int, Field(ge=1, le=500)] = 100,
    ) -> GrantList:
        """The tenant's grants, newest first (ids, holders, actions, expiry; never tokens)."""
        rows = await authority.listing(ctx.tenant, status, limit)
        return GrantList(grants=[GrantSummary(**row) for row in rows])

    return surface
