"""Deciding one call: a Cedar request built from the call, evaluated against a slice.

The request is: principal = the acting principal (kind, chain, on-behalf-of,
grant, whether it was delegated), action = the declared action (a member of its
risk group), resource = the tenant, context = the arguments (typed from the
input contract), risk, surface, time, and for money the amount. One Cedar
evaluation answers both questions: the satisfied permits say whether the call is
allowed and whether any of them asks for approval.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import cedarpy
import orjson

from ..actions import Action, Surface
from ..grants import Grant
from ._compile import PolicySet
from ._context import project
from ._schema import ACTION, PRINCIPAL, TENANT, ActionShape, action_entities, action_shape

Effect = Literal["allow", "deny", "require_approval"]


@dataclass(frozen=True)
class Decision:
    effect: Effect
    policies: tuple[str, ...]
    """The policies that decided: satisfied permits, the forbids that denied, or the
    approval policies that asked for a human. Empty for a deny no policy permitted."""
    version: int
    approvers: int = 0
    why: tuple[str, ...] = ()
    """The ``@approval`` texts of the policies that asked for a human."""
    errors: tuple[str, ...] = ()
    """Policies Cedar skipped because evaluating them failed (Cedar's semantics)."""

    def reason(self) -> dict[str, Any]:
        """The decision as the call record keeps it."""
        reason: dict[str, Any] = {
            "stage": "policy",
            "decision": self.effect,
            "policies": list(self.policies),
            "policy_version": self.version,
        }
        if self.effect == "require_approval":
            reason["approvers_required"] = self.approvers
            reason["why"] = list(self.why)
        if self.errors:
            reason["errors"] = list(self.errors)
        return reason


@dataclass(frozen=True)
class Request:
    """What a policy can see of one call."""

    tenant: str
    principal: dict[str, Any]
    action: str
    context: dict[str, Any]

    def cedar(self) -> dict[str, Any]:
        return {
            "principal": {"type": PRINCIPAL, "id": self.principal["id"]},
            "action": {"type": ACTION, "id": self.action},
            "resource": {"type": TENANT, "id": self.tenant},
            "context": self.context,
        }


def principal_of(grant: Grant) -> dict[str, Any]:
    acting = grant.acting
    attrs: dict[str, Any] = {
        "kind": acting.kind,
        "chain": grant.chain,
        "delegated": bool(grant.delegates),
        "grant": grant.id,
        "tenant": grant.tenant,
    }
    if acting.on_behalf_of:
        attrs["on_behalf_of"] = acting.on_behalf_of
    return {"id": acting.id, **attrs}


class PolicyEngine:
    """Builds requests for a surface's actions and evaluates them."""

    def __init__(self, surface: Surface) -> None:
        self.surface = surface
        self._entities: OrderedDict[str, cedarpy.Entities] = OrderedDict()
        self.refresh()

    def refresh(self) -> None:
        """Learn the surface's actions again (after upstream tools joined it at start)."""
        self._shapes: dict[str, ActionShape] = {a.name: action_shape(a, self.surface) for a in self.surface}
        self._actions = cedarpy.Entities.from_json_str(orjson.dumps(action_entities(self.surface)).decode())
        self._entities.clear()

    def request(
        self,
        tenant: str,
        principal: dict[str, Any],
        action: Action,
        arguments: dict[str, Any],
        surface: str,
        now: datetime,
        original: dict[str, Any] | None = None,
    ) -> Request:
        """``original``: for a revert, the arguments of the call it reverts."""
        shape = self._shapes[action.name]
        context: dict[str, Any] = {
            "arguments": shape.project_arguments(arguments),
            "risk": action.risk,
            "surface": surface,
            "now": int(now.timestamp()),
            "hour": now.hour,
            "weekday": now.isoweekday(),
        }
        source = (original or {}) if shape.money_from_original else arguments
        money = source.get(shape.money_argument) if shape.money_argument else None
        if isinstance(money, dict):
            context["amount_minor"] = money["amount_minor"]
            context["currency"] = money["currency"]
        return Request(tenant, principal, action.name, context)

    def decide(self, policies: PolicySet, request: Request, risk: str) -> Decision:
        policy_slice = policies.slice(request.action, risk, request.principal["id"])
        if policy_slice.allowed_by is not None:
            return Decision("allow", policy_slice.allowed_by, policies.version)
        cedar = request.cedar()
        cedar["context"] = orjson.dumps(project(request.context, policy_slice.context)).decode()
        answer = cedarpy.is_authorized(cedar, policy_slice.policies, self._entities_for(request.principal))
        reasons: list[str] = answer.diagnostics.reasons
        errors = tuple(str(e) for e in answer.diagnostics.errors)
        if not answer.allowed:
            return Decision("deny", tuple(sorted(reasons)), policies.version, errors=errors)
        matched = [policies.policies[r] for r in sorted(reasons)]
        permits = tuple(p.id for p in matched if p.approval is None)
        approvals = [p for p in matched if p.approval is not None]
        if not permits:
            # Approval policies mark calls for a human; they never allow on their own.
            return Decision("deny", (), policies.version, errors=errors)
        if approvals:
            return Decision(
                "require_approval",
                tuple(p.id for p in approvals),
                policies.version,
                approvers=max(p.approvers for p in approvals),
                why=tuple(p.approval or "" for p in approvals),
                errors=errors,
            )
        return Decision("allow", permits, policies.version, errors=errors)

    def _entities_for(self, principal: dict[str, Any]) -> cedarpy.Entities:
        """The action entities plus this principal; cached, since a grant's principal is stable."""
        key = orjson.dumps(principal, option=orjson.OPT_SORT_KEYS).decode()
        entities = self._entities.get(key)
        if entities is None:
            attrs = {k: v for k, v in principal.items() if k != "id"}
            entity = {"uid": {"type": PRINCIPAL, "id": principal["id"]}, "attrs": attrs, "parents": []}
            entities = self._actions.with_added_json_str(orjson.dumps([entity]).decode())
            self._entities[key] = entities
            if len(self._entities) > 4096:
                self._entities.popitem(last=False)
        else:
            self._entities.move_to_end(key)
        return entities
