"""Policy unit tests and explanations: example requests judged without a running gateway.

A case file is TOML, one ``[[case]]`` table per example request::

    [[case]]
    name = "large refunds wait for a human"
    principal = "agent:support-bot"          # the acting principal
    on_behalf_of = "user:ops-lead"           # optional
    delegated = false                        # optional: reached through an attenuated grant
    action = "orders.refund"
    arguments = { order_id = "o_1", amount = { amount_minor = 25000, currency = "EUR" }, reason = "broken" }
    at = 2026-11-25T12:00:00Z                # optional, default now
    surface = "rest"                         # optional
    expect = "require_approval"              # allow | deny | require_approval
    policies = ["default-approve-large-money"]   # optional: the deciding policies
    approvers = 1                            # optional

Arguments are held to the action's input contract first, as the pipeline would.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..grants import Principal
from ..timeutil import utc_now
from ._compile import PolicySet
from ._engine import Decision, PolicyEngine, Request

EFFECTS = ("allow", "deny", "require_approval")


@dataclass(frozen=True)
class Case:
    name: str
    principal: str
    action: str
    arguments: dict[str, Any] = field(default_factory=dict)
    expect: str | None = None
    policies: list[str] | None = None
    approvers: int | None = None
    on_behalf_of: str | None = None
    delegated: bool = False
    at: datetime | None = None
    surface: str = "rest"
    tenant: str = "tenant"


@dataclass(frozen=True)
class CaseResult:
    case: Case
    decision: Decision | None
    failures: list[str]

    @property
    def passed(self) -> bool:
        return not self.failures


def load_cases(path: Path, tenant: str = "tenant") -> list[Case]:
    return parse_cases(path.read_text(encoding="utf-8"), tenant, str(path))


def parse_cases(text: str, tenant: str = "tenant", path: str = "cases") -> list[Case]:
    """Cases from TOML text (``[[case]]`` tables); ``path`` names it in errors."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML: {err}") from err
    raw = doc.get("case")
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{path}: no [[case]] tables")
    cases = []
    for i, entry in enumerate(raw, 1):
        known = set(Case.__dataclass_fields__) - {"tenant"}
        unknown = set(entry) - known
        if unknown:
            raise ValueError(f"{path}: case {i} has unknown keys {sorted(unknown)}")
        if "principal" not in entry or "action" not in entry:
            raise ValueError(f"{path}: case {i} needs 'principal' and 'action'")
        if entry.get("expect") is not None and entry["expect"] not in EFFECTS:
            raise ValueError(f"{path}: case {i}: expect must be one of {', '.join(EFFECTS)}")
        at = entry.get("at")
        if isinstance(at, datetime) and at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        cases.append(Case(**{**entry, "at": at, "name": entry.get("name", f"case {i}"), "tenant": tenant}))
    return cases


def principal_attributes(case: Case) -> dict[str, Any]:
    """What the policy stage would know of this principal, from the case's fields."""
    acting = Principal.parse(case.principal, case.on_behalf_of)
    chain = [f"tenant:{case.tenant}", *([acting.on_behalf_of] if acting.on_behalf_of else []), acting.id]
    attrs: dict[str, Any] = {
        "id": acting.id,
        "kind": acting.kind,
        "chain": chain,
        "delegated": case.delegated,
        "grant": "example",
        "tenant": case.tenant,
    }
    if acting.on_behalf_of:
        attrs["on_behalf_of"] = acting.on_behalf_of
    return attrs


def case_request(engine: PolicyEngine, case: Case) -> tuple[Request, str]:
    """The Cedar request for ``case`` and the action's risk; ValueError if it could not be made."""
    action = engine.surface.get(case.action)
    if action is None:
        raise ValueError(f"no action named {case.action!r}")
    try:
        arguments = action.contract.input_model.model_validate(case.arguments).model_dump(mode="json")
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "arguments"
        raise ValueError(f"arguments do not fit {case.action}: {where}: {first['msg']} ({err.error_count()} error(s))") from err
    request = engine.request(case.tenant, principal_attributes(case), action, arguments, case.surface, case.at or utc_now())
    return request, action.risk


def check(engine: PolicyEngine, policies: PolicySet, case: Case) -> CaseResult:
    try:
        request, risk = case_request(engine, case)
        decision = engine.decide(policies, request, risk)
    except ValueError as err:
        return CaseResult(case, None, [str(err)])
    failures = []
    if case.expect is not None and decision.effect != case.expect:
        failures.append(f"expected {case.expect}, got {decision.effect}")
    if case.policies is not None and sorted(case.policies) != sorted(decision.policies):
        failures.append(f"expected policies {sorted(case.policies)}, got {list(decision.policies)}")
    if case.approvers is not None and decision.approvers != case.approvers:
        failures.append(f"expected {case.approvers} approver(s), got {decision.approvers}")
    return CaseResult(case, decision, failures)


def explain(engine: PolicyEngine, policies: PolicySet, case: Case) -> dict[str, Any]:
    """The decision, each deciding policy with its file and text, and the request it saw."""
    request, risk = case_request(engine, case)
    decision = engine.decide(policies, request, risk)
    deciding = [policies.policies[p] for p in decision.policies]
    if decision.effect == "deny" and not decision.policies:
        because = "no permit policy matched (Cedar denies by default)"
    elif decision.effect == "deny":
        because = "a forbid policy matched; forbid overrides every permit"
    elif decision.effect == "require_approval":
        because = "a permit allowed it and @approval policies matched"
    else:
        because = "a permit policy matched and no forbid or @approval policy did"
    return {
        "decision": decision.effect,
        "because": because,
        "policy_version": decision.version,
        "approvers_required": decision.approvers,
        "policies": [{"id": p.id, "file": p.file, "text": p.text} for p in deciding],
        "errors": list(decision.errors),
        "request": request.cedar(),
        "principal": request.principal,
    }
