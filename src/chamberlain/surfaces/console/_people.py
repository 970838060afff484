"""The console's people: passwords, sessions, and the grant each session acts with.

A person logs in to one tenant with a password (Argon2id, via ``argon2-cffi``: the
password hashing the OWASP cheat sheet recommends first, maintained by the same people as
the reference implementation). A session is a random token in an HttpOnly, SameSite
cookie; the database keeps only its hash, a CSRF token, and a grant sealed under the
master key. That grant is the person's (``human:...``), minted at login for the length
of the session: everything they do in the console is a governed call made with it, so
the console follows the same rules as every other surface, and leaves the same record.
People never get an agent's grant, and agents never get a session.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.engine import CursorResult

from ...grants import GrantAuthority, KeyRing, Principal
from ...store import Store, console_sessions, console_users, tenant_transaction
from ...timeutil import utc_now, utc_now_iso

__all__ = ["ADMIN_ACTIONS", "BASE_ACTIONS", "ConsolePeople", "Session"]

BASE_ACTIONS = ["calls.read", "audit.read", "events.*"]
"""What every console session may do: read calls, the audit log and events. Deciding
approvals needs the approver role as well (``chamberlain role add``)."""
ADMIN_ACTIONS = ["*"]
"""An admin's: everything in the tenant, because ``grants.issue`` hands out only what the
issuer holds and an admin issues agents' grants. The token never leaves the server, and
the console only reads, decides approvals and manages grants and policies with it."""
SESSION_TTL = timedelta(hours=8)
_HASHER = PasswordHasher()
_DUMMY = _HASHER.hash("a password nobody has")
"""Checked against when the user does not exist, so a wrong name takes as long as a wrong password."""


@dataclass(frozen=True)
class Session:
    tenant: str
    username: str
    principal: str
    admin: bool
    csrf: str
    token: str
    """The person's grant for this session."""


class ConsolePeople:
    def __init__(self, store: Store, keys: KeyRing, authority: GrantAuthority) -> None:
        self.store = store
        self.keys = keys
        self.authority = authority

    async def add(self, tenant: str, username: str, principal: str, password: str, *, admin: bool = False) -> None:
        """Add a person (``principal`` must be a ``human:``); refuses a short password."""
        if Principal.parse(principal).kind != "human":
            raise ValueError("console users are people: their principal must be human:<name>")
        if len(password) < 12:
            raise ValueError("a console password needs at least 12 characters")
        async with tenant_transaction(self.store, tenant) as tx:
            await tx.insert(
                console_users,
                {
                    "tenant_id": tenant,
                    "username": username,
                    "principal": principal,
                    "password_hash": _HASHER.hash(password),
                    "admin": int(admin),
                    "created_at": utc_now_iso(),
                    "disabled_at": None,
                },
            )

    async def login(self, tenant: str, username: str, password: str) -> tuple[str, Session] | None:
        """A new session's cookie value and the session, or None (never saying which part was wrong)."""
        row = await self._user(tenant, username)
        try:
            _HASHER.verify(row["password_hash"] if row else _DUMMY, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None or row["disabled_at"] is not None:
            return None
        actions = BASE_ACTIONS + (ADMIN_ACTIONS if row["admin"] else [])
        grant = await self.authority.issue(tenant, row["principal"], actions, SESSION_TTL)
        cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        async with tenant_transaction(self.store, tenant) as tx:
            await tx.insert(
                console_sessions,
                {
                    "id_hash": _digest(cookie),
                    "tenant_id": tenant,
                    "username": username,
                    "csrf": csrf,
                    "grant_sealed": self.keys.seal(grant.token.encode()),
                    "created_at": utc_now_iso(),
                    "expires_at": (utc_now() + SESSION_TTL).isoformat(),
                },
            )
        return cookie, Session(tenant, username, row["principal"], bool(row["admin"]), csrf, grant.token)

    async def session(self, cookie: str) -> Session | None:
        row = await self.store.fetch_one(select(console_sessions).where(console_sessions.c.id_hash == _digest(cookie)))
        if row is None or row["expires_at"] <= utc_now().isoformat():
            return None
        user = await self._user(row["tenant_id"], row["username"])
        if user is None or user["disabled_at"] is not None:
            return None
        token = self.keys.unseal(row["grant_sealed"]).decode()
        return Session(row["tenant_id"], row["username"], user["principal"], bool(user["admin"]), row["csrf"], token)

    async def logout(self, cookie: str) -> None:
        """End the session and revoke its grant, so a copied cookie or token is useless."""
        found = await self.session(cookie)
        if found is None:
            return
        grant = await self.authority.verify(found.token)
        await self.authority.revoke(found.tenant, grant.id, "console logout")
        async with tenant_transaction(self.store, found.tenant) as tx:
            await tx.execute(delete(console_sessions).where(console_sessions.c.id_hash == _digest(cookie)))

    async def disable(self, tenant: str, username: str) -> bool:
        async with tenant_transaction(self.store, tenant) as tx:
            done = await tx.execute(
                update(console_users)
                .where(console_users.c.tenant_id == tenant, console_users.c.username == username)
                .values(disabled_at=utc_now_iso())
            )
        return bool(cast(CursorResult[Any], done).rowcount)

    async def _user(self, tenant: str, username: str) -> dict[str, Any] | None:
        row = await self.store.fetch_one(
            select(console_users).where(console_users.c.tenant_id == tenant, console_users.c.username == username)
        )
        return None if row is None else dict(row)


def _digest(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()
