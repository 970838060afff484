"""Grants are Biscuit tokens: signed, time-bound, tenant-bound capability lists.

Why Biscuit: an agent holding a grant can append a block that only *narrows* it
(fewer actions, shorter life) without calling the server, and the signature chain
makes widening impossible. See docs/explanation/grants.md.

The authority block, written by the gateway, holds::

    tenant("acme"); principal("agent:support"); on_behalf_of("user:alice");
    grant_id("g_..."); right("orders.refund"); right_prefix("customers.");
    check if audience("chamberlain");
    check if time($t), $t < 2026-11-24T12:00:00Z;

Every call is authorized by running the Biscuit authorizer with the call's
``action`` and ``time`` facts, so checks added by attenuation blocks always apply.
"""

from __future__ import annotations

import logging
import secrets
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import biscuit_auth as biscuit
from sqlalchemy import insert, select, update

from .. import audit
from ..actions import ACTION_NAME
from ..errors import (
    ConstraintViolated,
    GrantExpired,
    GrantInvalid,
    GrantMalformed,
    GrantMissing,
    GrantNotYetValid,
    GrantRevoked,
    GrantUsedUp,
    GrantWidened,
    GrantWrongAudience,
    GrantWrongTenant,
    InternalError,
    PermissionDenied,
    RevocationUnavailable,
)
from ..events import emit_if
from ..store import Store, Transaction, grant_uses, grants, revocations, tenant_transaction
from ..timeutil import utc_now
from ._constraints import Constraint, argument_facts
from ._keys import KeyRing, TenantKey
from ._principal import Principal

log = logging.getLogger("chamberlain.grants")

_AUTHORITY = """
tenant({tenant});
principal({principal});
grant_id({grant_id});
for_audience({audience});
check if audience({audience});
check if time($t), $t < {expires};
"""

_AUTHORIZER = """
time({now});
audience({audience});
action({action});
allow if action($a), right($a);
allow if action($a), right_prefix($p), $a.starts_with($p);
"""

_FACTS = biscuit.Rule("facts($tenant, $principal, $grant) <- tenant($tenant), principal($principal), grant_id($grant)")
_BEHALF = biscuit.Rule("behalf($who) <- on_behalf_of($who)")
_RIGHTS = biscuit.Rule("rights($r) <- right($r)")
_PREFIXES = biscuit.Rule("prefixes($p) <- right_prefix($p)")
_EXPIRY = biscuit.Rule("exp($t) <- expires($t)")
_DELEGATE = biscuit.Rule("to($p) <- delegated_to($p)")
_AUDIENCE = biscuit.Rule("aud($a) <- for_audience($a)")
_NOT_BEFORE = biscuit.Rule("nbf($t) <- not_before($t)")
_MAX_USES = biscuit.Rule("uses($n) <- max_uses($n)")
_WIDENING = [biscuit.Rule("w($r) <- right($r)"), biscuit.Rule("w($r) <- right_prefix($r)")]
_CONSTRAINT = biscuit.Rule("c($text) <- constraint($text)")


@dataclass(frozen=True)
class IssuedGrant:
    id: str
    tenant: str
    principal: Principal
    actions: tuple[str, ...]
    expires_at: datetime
    token: str


@dataclass
class Grant:
    """A verified token: who it speaks for, in which tenant, until when."""

    id: str
    tenant: str
    principal: Principal
    actions: tuple[str, ...]
    expires_at: datetime
    kid: int
    blocks: int
    token: biscuit.Biscuit = field(repr=False)
    delegates: tuple[str, ...] = ()
    """Sub-agents named by attenuation blocks, in order; the last one is acting."""
    constraints: tuple[str, ...] = ()
    """Argument constraints of every block, as text (for error messages and records)."""
    audience: str | None = None
    not_before: datetime | None = None
    max_uses: int | None = None
    uses_arguments: bool = False
    revocation_ids: tuple[str, ...] = ()
    """One per block: revoking block 0's id revokes the grant and everything derived from it."""
    _decisions: dict[tuple[str, str], tuple[datetime, bool]] = field(default_factory=dict, repr=False)

    def authorize(self, action: str, audience: str, now: datetime, arguments: Mapping[str, Any] | None = None) -> None:
        """Raise PermissionDenied unless every block of the token allows ``action`` now.

        Without ``arguments`` this answers whether the action is in scope at all
        (discovery); with them, argument constraints are judged too. Biscuit dates have
        one-second precision, so an answer that does not depend on arguments cannot
        change within a second: it is memoized per (action, audience, second).
        """
        second = now.replace(microsecond=0)
        if self.uses_arguments and arguments is not None:
            if _authorized(self.token, action, audience, second, arguments):
                return
            if self.in_scope(action, audience, second):
                raise ConstraintViolated(
                    f"grant {self.id} allows {action!r} only within its constraints",
                    grant_id=self.id,
                    constraints=list(self.constraints),
                )
        elif self.in_scope(action, audience, second):
            return
        raise PermissionDenied(f"grant {self.id} does not allow {action!r}", grant_id=self.id, allowed_actions=list(self.actions))

    def allowing_right(self, action: str) -> str | None:
        """The authority-block right that allows ``action`` (only block 0 can grant)."""
        if action in self.actions:
            return action
        globs = [p for p in self.actions if p.endswith("*") and action.startswith(p[:-1])]
        return max(globs, key=len) if globs else None

    def in_scope(self, action: str, audience: str, now: datetime) -> bool:
        """Whether the action is allowed at all, arguments aside (what discovery shows)."""
        second = now.replace(microsecond=0)
        key = (action, audience)
        memo = self._decisions.get(key)
        if memo is None or memo[0] != second:
            memo = (second, _authorized(self.token, action, audience, second, None))
            self._decisions[key] = memo
        return memo[1]

    @property
    def chain(self) -> list[str]:
        """Who delegated to whom, outermost first: tenant, on-behalf-of, principal, sub-agents.

        Sub-agents are named by the holders who attenuated the grant: a record shows whom
        each holder said it handed the grant to, under that holder's own place in the chain.
        """
        chain = [f"tenant:{self.tenant}"]
        if self.principal.on_behalf_of:
            chain.append(self.principal.on_behalf_of)
        chain.append(self.principal.id)
        chain.extend(self.delegates)
        return chain

    @property
    def acting(self) -> Principal:
        """Who is calling: the last delegate of an attenuated grant (on behalf of the one
        before it), else the grant's principal."""
        if not self.delegates:
            return self.principal
        return Principal(self.delegates[-1], self.chain[-2])


def retired_key_id(kid: int) -> str:
    return f"key:{kid}"


def _attenuation_facts(token: biscuit.Biscuit) -> tuple[list[str], list[datetime], list[str]]:
    """Who each attenuation block delegated to, the expiries and the constraints it set.

    Facts in attenuation blocks grant nothing; these are read only to show the delegation
    chain, to report a narrowed expiry as ``grant-expired`` and to list constraints in
    errors. A block that states rights is refused outright (``grant-widened``).
    """
    delegates: list[str] = []
    expiries: list[datetime] = []
    constraints: list[str] = []
    for index in range(1, token.block_count()):
        reader = biscuit.AuthorizerBuilder(token.block_source(index))
        reader.set_limits(_LIMITS)  # type: ignore[attr-defined]
        block = reader.build_unauthenticated()  # type: ignore[attr-defined]
        if any(block.query(rule) for rule in _WIDENING):
            raise GrantWidened(f"block {index} of the grant declares rights; attenuation may only add checks")
        delegates += [f.terms[0] for f in block.query(_DELEGATE)]
        expiries += [f.terms[0] for f in block.query(_EXPIRY)]
        constraints += [f.terms[0] for f in block.query(_CONSTRAINT)]
    return delegates, expiries, constraints


def _authorized(token: biscuit.Biscuit, action: str, audience: str, now: datetime, arguments: Mapping[str, Any] | None) -> bool:
    params: dict[str, Any] = {"now": now, "audience": audience, "action": action}
    if arguments is None:
        code = _AUTHORIZER + "discovery(true);"
    else:
        facts, more = argument_facts(arguments)
        code = _AUTHORIZER + facts
        params.update(more)
    builder = biscuit.AuthorizerBuilder(code, params)
    builder.set_limits(_LIMITS)  # type: ignore[attr-defined]
    try:
        builder.build(token).authorize()
    except biscuit.AuthorizationError as err:
        if _LIMIT_REACHED in str(err):
            # Not an answer about the grant: say so, so the caller retries instead of
            # being told it lacks a right it has.
            raise InternalError("the grant check did not finish in time; retry") from err
        return False
    return True


def _limits() -> Any:
    """Biscuit's default wall-clock limit is 1 ms, which a busy process can exceed on a
    tiny program: fact and iteration limits bound the work, time only guards the worst."""
    limits = biscuit.AuthorizerBuilder("").limits()  # type: ignore[attr-defined]
    limits.max_time = timedelta(milliseconds=AUTHORIZER_MAX_TIME_MS)
    return limits


AUTHORIZER_MAX_TIME_MS = 200
_LIMITS = _limits()
_LIMIT_REACHED = "execution limits"


def _rights_code(actions: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    """Exact names become ``right``; ``orders.*`` becomes ``right_prefix("orders.")``."""
    lines: list[str] = []
    params: dict[str, Any] = {}
    for i, pattern in enumerate(actions):
        if pattern == "*":
            lines.append(f"right_prefix({{r{i}}});")
            params[f"r{i}"] = ""
        elif pattern.endswith(".*") and ACTION_NAME.match(pattern[:-2]):
            lines.append(f"right_prefix({{r{i}}});")
            params[f"r{i}"] = pattern[:-1]
        elif "*" in pattern or not ACTION_NAME.match(pattern.removesuffix(".*")):
            raise ValueError(f"action pattern {pattern!r}: use a name like 'orders.refund', a glob like 'orders.*', or '*'")
        else:
            lines.append(f"right({{r{i}}});")
            params[f"r{i}"] = pattern
    return "\n".join(lines), params


class GrantAuthority:
    """Mints and verifies grants for every tenant of one gateway."""

    def __init__(self, store: Store, keys: KeyRing, audience: str, cache_size: int = 4096) -> None:
        self._store = store
        self.keys = keys
        self.audience = audience
        self._cache: OrderedDict[str, Grant] = OrderedDict()
        self._cache_size = cache_size
        self.events: Any = None
        """The ``EventHub`` that announces revocations (set by the runtime)."""

    async def issue(
        self,
        tenant: str,
        principal: str,
        actions: list[str] | tuple[str, ...],
        ttl: timedelta,
        on_behalf_of: str | None = None,
        constraints: Sequence[str | Constraint] = (),
        *,
        tx: Transaction | None = None,
        not_before: datetime | None = None,
        max_uses: int | None = None,
    ) -> IssuedGrant:
        """Mint a grant. With ``tx``, its row commits with the caller's transaction."""
        if not actions:
            raise ValueError("a grant must name at least one action")
        if ttl <= timedelta(0):
            raise ValueError("a grant's lifetime must be positive")
        who = Principal.parse(principal, on_behalf_of)
        kid, private_key = await self.keys.signing(tenant)
        grant_id = "g_" + secrets.token_hex(12)
        expires = (utc_now() + ttl).replace(microsecond=0)
        rights, params = _rights_code(tuple(actions))
        parsed = [c if isinstance(c, Constraint) else Constraint.parse(c) for c in constraints]
        for n, constraint in enumerate(parsed):
            check, more = constraint.datalog(n)
            rights += "\n" + check
            params.update(more)
        code = _AUTHORITY + rights + ("\non_behalf_of({behalf});" if who.on_behalf_of else "")
        if max_uses is not None:
            if max_uses < 1:
                raise ValueError("max_uses must be at least 1")
            code += "\nmax_uses({max_uses});"
            params["max_uses"] = max_uses
        if not_before is not None:
            code += "\nnot_before({nbf});\ncheck if time($t), $t >= {nbf};"
            params["nbf"] = not_before.replace(microsecond=0)
        params.update(
            tenant=tenant,
            principal=who.id,
            grant_id=grant_id,
            audience=self.audience,
            expires=expires,
        )
        if who.on_behalf_of:
            params["behalf"] = who.on_behalf_of
        builder = biscuit.BiscuitBuilder(code + "\nexpires({expires});", params)
        builder.set_root_key_id(kid)
        token = builder.build(private_key)
        async with tenant_transaction(self._store, tenant, tx) as tx:
            await tx.execute(
                insert(grants).values(
                    id=grant_id,
                    tenant_id=tenant,
                    principal=who.id,
                    on_behalf_of=who.on_behalf_of,
                    actions=list(actions),
                    constraints=[str(c) for c in parsed],
                    kid=kid,
                    issued_at=utc_now().isoformat(),
                    expires_at=expires.isoformat(),
                    revocation_id=token.revocation_ids[0],
                )
            )
            if max_uses is not None:
                await tx.execute(insert(grant_uses).values(grant_id=grant_id, tenant_id=tenant, max_uses=max_uses, uses=0))
            await audit.append(
                tx,
                tenant,
                "grant.issued",
                {
                    "grant_id": grant_id,
                    "principal": who.id,
                    "on_behalf_of": who.on_behalf_of,
                    "actions": list(actions),
                    "constraints": [str(c) for c in parsed],
                    "expires_at": expires.isoformat(),
                    "not_before": params["nbf"].isoformat() if not_before is not None else None,
                    "max_uses": max_uses,
                    "kid": kid,
                },
            )
        return IssuedGrant(grant_id, tenant, who, tuple(actions), expires, token.to_base64())

    async def verify(self, token: str | None, now: datetime | None = None) -> Grant:
        """Parse and check the signature (cached), then the expiry (every time)."""
        if not token:
            raise GrantMissing("send a grant as 'Authorization: Bearer <grant>'")
        now = now or utc_now()
        grant = self._cache.get(token)
        if grant is None:
            grant = await self._verify_uncached(token)
            self._cache[token] = grant
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        if grant.audience is not None and grant.audience != self.audience:
            elsewhere = GrantWrongAudience(f"grant {grant.id} was issued for {grant.audience!r}, not this gateway")
            elsewhere.verified = grant  # genuine, signed by the tenant's key: recorded in its log
            raise elsewhere
        if grant.not_before is not None and now < grant.not_before:
            early = GrantNotYetValid(f"grant {grant.id} is valid from {grant.not_before.isoformat()}", grant_id=grant.id)
            early.verified = grant
            raise early
        if now >= grant.expires_at:
            expired = GrantExpired(f"grant {grant.id} expired at {grant.expires_at.isoformat()}", grant_id=grant.id)
            expired.verified = grant
            raise expired
        await self._refuse_if_revoked(grant)
        return grant

    async def _refuse_if_revoked(self, grant: Grant) -> None:
        """Asked of the store on every call, so a revocation holds on every process at once.

        If the answer cannot be read, the call is refused (retryable): never fail open.
        """
        # A retired signing key is listed as "key:<kid>": one lookup answers both questions.
        ids = [*grant.revocation_ids, retired_key_id(grant.kid)]
        try:
            revoked = await self._store.any_of(revocations, grant.tenant, "revocation_id", ids)
        except Exception as err:
            log.exception("revocation lookup failed for grant %s", grant.id)
            raise RevocationUnavailable("cannot confirm the grant is not revoked; retry shortly") from err
        if revoked:
            refusal = GrantRevoked(f"grant {grant.id} has been revoked (or its signing key retired)", grant_id=grant.id)
            refusal.verified = grant
            raise refusal

    async def consume_use(self, grant: Grant) -> None:
        """Count one presentation of a use-limited grant; refuse once the limit is reached.

        One atomic UPDATE in its own transaction, before anything else runs, so two
        processes can never both spend the last use (and a replay is refused).
        """
        if grant.max_uses is None:
            return
        async with tenant_transaction(self._store, grant.tenant) as tx:
            result = await tx.execute(
                update(grant_uses)
                .where(
                    grant_uses.c.grant_id == grant.id,
                    grant_uses.c.tenant_id == grant.tenant,
                    grant_uses.c.uses < grant_uses.c.max_uses,
                )
                .values(uses=grant_uses.c.uses + 1)
            )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            used_up = GrantUsedUp(f"grant {grant.id} allowed {grant.max_uses} use(s), all spent", grant_id=grant.id)
            used_up.verified = grant
            raise used_up

    async def rotate_key(self, tenant: str) -> int:
        """A new signing key for the tenant; grants signed by older keys verify until retired."""
        return (await self.keys.create(tenant)).kid

    async def retire_key(self, tenant: str, kid: int, reason: str) -> None:
        """Refuse every grant signed by ``kid`` from the next call on, on every process."""
        if await self.keys.owner(kid) != tenant:
            raise LookupError(f"tenant {tenant!r} has no key {kid}")
        await self.keys.mark_retired(kid)
        await self._record_revocation(tenant, retired_key_id(kid), f"key:{kid}", reason, None)

    async def revoke(self, tenant: str, grant_id: str, reason: str, *, tx: Transaction | None = None) -> None:
        """Revoke a grant the gateway issued, and every grant derived from it by attenuation."""
        row = await self._store.fetch_one(
            select(grants.c.revocation_id).where(grants.c.tenant_id == tenant, grants.c.id == grant_id)
        )
        if row is None:
            raise LookupError(f"no grant {grant_id!r} in tenant {tenant!r}")
        await self._record_revocation(tenant, row["revocation_id"], grant_id, reason, tx)

    async def listing(self, tenant: str, status: str | None, limit: int) -> list[dict[str, Any]]:
        """The tenant's grants as the gateway issued them, newest first; ``status`` one of
        active, expired, revoked (None: all). A grant attenuated offline is not here: it
        was never issued, and its revocation id is its parent's."""
        now = utc_now().isoformat()
        revoked = select(revocations.c.revocation_id).where(revocations.c.tenant_id == tenant)
        query = select(grants).where(grants.c.tenant_id == tenant).order_by(grants.c.issued_at.desc(), grants.c.id).limit(limit)
        if status == "revoked":
            query = query.where(grants.c.revocation_id.in_(revoked))
        elif status in ("active", "expired"):
            query = query.where(grants.c.revocation_id.not_in(revoked))
            query = query.where(grants.c.expires_at > now if status == "active" else grants.c.expires_at <= now)
        rows = await self._store.fetch_all(query)
        gone = {r["revocation_id"] for r in await self._store.fetch_all(revoked)} if status is None else set()
        return [
            {
                "id": r["id"],
                "principal": r["principal"],
                "on_behalf_of": r["on_behalf_of"],
                "actions": list(r["actions"]),
                "constraints": list(r["constraints"] or []),
                "issued_at": r["issued_at"],
                "expires_at": r["expires_at"],
                "status": status
                or ("revoked" if r["revocation_id"] in gone else "active" if r["expires_at"] > now else "expired"),
            }
            for r in rows
        ]

    async def revoke_token(self, token: str, reason: str) -> Grant:
        """Revoke exactly this token (its last block) and what was derived from it; not its parents."""
        grant = await self._verify_uncached(token)
        await self._record_revocation(grant.tenant, grant.revocation_ids[-1], grant.id, reason, None)
        return grant

    async def _record_revocation(
        self, tenant: str, revocation_id: str, grant_id: str, reason: str, tx: Transaction | None
    ) -> None:
        if await self._store.any_of(revocations, tenant, "revocation_id", [revocation_id]):
            return
        async with tenant_transaction(self._store, tenant, tx) as tx:
            await tx.insert(
                revocations,
                {
                    "revocation_id": revocation_id,
                    "tenant_id": tenant,
                    "grant_id": grant_id,
                    "revoked_at": utc_now().isoformat(),
                    "reason": reason[:500],
                },
            )
            kind = "key.retired" if grant_id.startswith("key:") else "grant.revoked"
            await audit.append(tx, tenant, kind, {"grant_id": grant_id, "revocation_id": revocation_id}, {"reason": reason[:500]})
            if kind == "grant.revoked":
                await emit_if(self.events, tx, tenant, kind, {"grant_id": grant_id}, subject=f"grants/{grant_id}")

    async def key_of(self, token: str) -> TenantKey:
        """The tenant key a token names as its root, before anything is verified."""
        try:
            kid = biscuit.UnverifiedBiscuit.from_base64(token).root_key_id()
        except Exception as err:  # the library raises several types for garbage input
            raise GrantMalformed("grant is not a well-formed token") from err
        key = await self.keys.public(kid) if kid is not None else None
        if key is None:
            raise GrantInvalid("grant is signed by an unknown key")
        return key

    async def _verify_uncached(self, token: str) -> Grant:
        key = await self.key_of(token)
        try:
            parsed = biscuit.Biscuit.from_base64(token, key.public_key)
        except Exception as err:
            raise GrantInvalid("grant signature does not verify") from err
        try:
            return _read_grant(parsed, key.kid, key.tenant)
        except biscuit.AuthorizationError as err:
            if _LIMIT_REACHED in str(err):  # a busy process, not a bad grant: retry
                raise InternalError("reading the grant did not finish in time; retry") from err
            raise


def _read_grant(token: biscuit.Biscuit, kid: int, key_tenant: str) -> Grant:
    reader = biscuit.AuthorizerBuilder("allow if true;")
    reader.set_limits(_LIMITS)  # type: ignore[attr-defined]  # queries too: 1 ms by default
    world = reader.build(token)
    facts = world.query(_FACTS)
    if len(facts) != 1:
        raise GrantInvalid("grant does not name exactly one tenant and principal")
    tenant, principal, grant_id = facts[0].terms
    if tenant != key_tenant:
        raise GrantWrongTenant("grant names a tenant its key does not belong to")
    behalf = [f.terms[0] for f in world.query(_BEHALF)]
    exact = [f.terms[0] for f in world.query(_RIGHTS)]
    prefixes = [f.terms[0] + "*" if f.terms[0] else "*" for f in world.query(_PREFIXES)]
    expiry = [f.terms[0] for f in world.query(_EXPIRY)]
    if len(expiry) != 1:
        raise GrantInvalid("grant has no expiry")
    try:
        delegates, narrowed, narrowing = _attenuation_facts(token)
    except GrantWidened as err:
        # Every signature verified: a holder of this tenant's genuine grant tried to widen it.
        # That is the tenant's to know, so the refusal is recorded in its log, under the grant.
        who = Principal.parse(principal, behalf[0] if behalf else None)
        actions = tuple(sorted(exact + prefixes))
        err.verified = Grant(grant_id, tenant, who, actions, expiry[0], kid, token.block_count(), token)
        raise
    audiences = [f.terms[0] for f in world.query(_AUDIENCE)]
    starts = [f.terms[0] for f in world.query(_NOT_BEFORE)]
    limits = [f.terms[0] for f in world.query(_MAX_USES)]
    constraints = [f.terms[0] for f in world.query(_CONSTRAINT)] + narrowing
    sources = [token.block_source(i) for i in range(token.block_count())]
    return Grant(
        id=grant_id,
        tenant=tenant,
        principal=Principal.parse(principal, behalf[0] if behalf else None),
        actions=tuple(sorted(exact + prefixes)),
        expires_at=min([expiry[0], *narrowed]),
        delegates=tuple(delegates),
        constraints=tuple(constraints),
        audience=audiences[0] if audiences else None,
        not_before=starts[0] if starts else None,
        max_uses=limits[0] if limits else None,
        uses_arguments=any("arg(" in source for source in sources),
        kid=kid,
        blocks=token.block_count(),
        token=token,
        revocation_ids=tuple(token.revocation_ids),
    )
