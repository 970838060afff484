"""Narrowing a grant without asking the gateway: what an agent does for a sub-agent.

Attenuation appends a Biscuit block of *checks*. Checks can only refuse, so the new
token allows at most what its parent allowed, whatever the block says: facts in it
grant nothing (the gateway's policies trust only the authority block). The holder needs
the tenant's public key (``GET /v1/tenants/{tenant}/keys``), never a secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import biscuit_auth as biscuit

from ..actions import ACTION_NAME
from ..timeutil import utc_now
from ._constraints import Constraint
from ._principal import Principal

__all__ = ["attenuate", "public_key_from_hex"]

_ED25519 = biscuit.Algorithm.Ed25519  # type: ignore[attr-defined]


def public_key_from_hex(text: str) -> biscuit.PublicKey:
    return biscuit.PublicKey.from_bytes(bytes.fromhex(text), _ED25519)  # type: ignore[call-arg]


def _action_check(actions: Sequence[str]) -> tuple[str, dict[str, object]]:
    """``check if action($a), [...].contains($a) or action($a), $a.starts_with(...)``."""
    exact = [a for a in actions if not a.endswith("*")]
    prefixes = ["" if a == "*" else a[:-1] for a in actions if a.endswith("*")]
    for name in exact + [p.removesuffix(".") for p in prefixes if p]:
        if not ACTION_NAME.match(name):
            raise ValueError(f"action pattern {name!r}: use names like 'orders.get' or globs like 'orders.*'")
    if any(a.endswith("*") and a != "*" and not a.endswith(".*") for a in actions):
        raise ValueError("'*' is only allowed as a whole last segment, like 'orders.*'")
    clauses: list[str] = []
    params: dict[str, object] = {}
    if exact:
        clauses.append("action($a), {exact}.contains($a)")
        params["exact"] = set(exact)
    for i, prefix in enumerate(prefixes):
        clauses.append(f"action($a), $a.starts_with({{p{i}}})")
        params[f"p{i}"] = prefix
    return "check if " + " or ".join(clauses) + ";", params


def attenuate(
    token: str,
    public_key: biscuit.PublicKey | str,
    *,
    actions: Sequence[str] | None = None,
    ttl: timedelta | None = None,
    delegate_to: str | None = None,
    constraints: Sequence[str] = (),
) -> str:
    """A narrower grant: fewer actions, a shorter life, handed to ``delegate_to``.

    Offline: only the tenant's public key is needed, to check the parent is genuine.
    """
    if not actions and ttl is None and delegate_to is None and not constraints:
        raise ValueError("say how to narrow the grant: actions, ttl, constraints or delegate_to")
    key = public_key_from_hex(public_key) if isinstance(public_key, str) else public_key
    try:
        parent = biscuit.Biscuit.from_base64(token, key)
    except Exception as err:
        raise ValueError("the grant does not verify with this public key") from err
    lines: list[str] = []
    params: dict[str, object] = {}
    if actions:
        check, more = _action_check(list(actions))
        lines.append(check)
        params.update(more)
    if ttl is not None:
        if ttl <= timedelta(0):
            raise ValueError("a lifetime must be positive")
        params["expires"] = (utc_now() + ttl).replace(microsecond=0)
        lines += ["expires({expires});", "check if time($t), $t < {expires};"]
    for n, text in enumerate(constraints):
        check, more = Constraint.parse(text).datalog(n)
        lines.append(check)
        params.update(more)
    if delegate_to is not None:
        params["delegate"] = Principal.parse(delegate_to).id
        lines.append("delegated_to({delegate});")
    return parent.append(biscuit.BlockBuilder("\n".join(lines), params)).to_base64()
