"""Cedar policy files compiled into something evaluated per call.

A tenant's policies are a set of named files. Compiling parses each with Cedar,
validates it against the schema generated from the declared actions, names every
policy (its ``@id`` annotation, else ``file.cedar#N``), and sorts it by role:

* an ordinary ``permit`` or ``forbid`` decides **allow** or **deny**;
* a ``permit`` annotated ``@approval("why")`` marks a call that, once allowed,
  still needs a human: **require approval**. ``@approvers("2")`` asks for two
  distinct approvers. Such a policy never allows anything by itself.

Calls are evaluated against a *slice*: only the policies whose scope can match
the call's action and principal. Cedar checks every policy it is given, so
slicing keeps a tenant with a thousand per-agent rules as fast as one with ten.
In a slice, a scope that surely matches is dropped (so Cedar does not check it
again on every call), and the slice knows which context paths its policies read,
so each request carries only those (see ``_context``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import cedarpy
import orjson

from ..actions import Surface
from ..canonical import digest
from ..errors import PolicyInvalid
from ._context import Paths, context_paths
from ._schema import ACTION, PRINCIPAL, cedar_schema, risk_group

MAX_APPROVERS = 10
_FILE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}\.cedar$")
_CEDAR_POLICY_PREFIX = re.compile(r"^for policy `policy\d+`, ")
_POLICY_ID = re.compile(r"^[A-Za-z0-9_.:#-]{1,128}$")


@dataclass(frozen=True)
class Policy:
    id: str
    file: str
    effect: str
    text: str
    approval: str | None
    approvers: int
    action_scope: dict[str, Any]
    principal_scope: dict[str, Any]
    body: dict[str, Any] = field(repr=False)

    def applies_to(self, action: str, risk: str, principal: str) -> bool:
        """False only when the policy's scope cannot match; anything unsure stays in."""
        return _scope_may_match(self.action_scope, {action, risk_group(risk)}, ACTION) and _scope_may_match(
            self.principal_scope, {principal}, PRINCIPAL
        )

    def body_for(self, action: str, risk: str, principal: str) -> dict[str, Any]:
        """The policy as evaluated for this action and principal: a scope that surely
        matches is dropped (Cedar would check it on every call to the same answer)."""
        ids = {action, risk_group(risk)}
        body = self.body
        if self.action_scope.get("op") != "All" and _scope_surely_matches(self.action_scope, ids, ACTION):
            body = {**body, "action": {"op": "All"}}
        if self.principal_scope.get("op") != "All" and _scope_surely_matches(self.principal_scope, {principal}, PRINCIPAL):
            body = {**body, "principal": {"op": "All"}}
        return body

    def always_permits(self, action: str, risk: str, principal: str) -> bool:
        """True when this is a plain permit that surely matches every such call: no
        condition, no approval, and a scope that names this action and principal (or all)."""
        return self.approval is None and self.always_applies(action, risk, principal)

    def always_applies(self, action: str, risk: str, principal: str) -> bool:
        """A permit with no condition whose scope surely names this action and principal (or all)."""
        return (
            self.effect == "permit"
            and not self.body.get("conditions")
            and self.body.get("resource", {}).get("op") == "All"
            and _scope_surely_matches(self.action_scope, {action, risk_group(risk)}, ACTION)
            and _scope_surely_matches(self.principal_scope, {principal}, PRINCIPAL)
        )


def _scope_may_match(scope: dict[str, Any], ids: set[str], entity_type: str) -> bool:
    op = scope.get("op")
    if op == "All":
        return True
    if op in ("==", "in") and "entity" in scope:
        entity = scope["entity"]
        return entity.get("type") != entity_type or entity.get("id") in ids
    if op == "in" and "entities" in scope:
        return any(e.get("type") != entity_type or e.get("id") in ids for e in scope["entities"])
    return True


def _scope_surely_matches(scope: dict[str, Any], ids: set[str], entity_type: str) -> bool:
    op = scope.get("op")
    if op == "All":
        return True
    entities = scope.get("entities") or ([scope["entity"]] if "entity" in scope else [])
    if op == "==" or (op == "in" and entities):
        return any(e.get("type") == entity_type and e.get("id") in ids for e in entities)
    return False


@dataclass(frozen=True)
class Slice:
    """The policies that can apply to one (action, principal), and the context they read."""

    policies: cedarpy.PolicySet
    context: Paths | None
    allowed_by: tuple[str, ...] | None = None
    """Set when every policy here is a plain permit that surely matches: the decision is
    **allow** by all of them, known without evaluating (what Cedar would answer)."""


@dataclass
class PolicySet:
    """A tenant's compiled policies at one version."""

    version: int
    files: dict[str, str]
    policies: dict[str, Policy]
    _slices: dict[tuple[str, str], Slice] = field(default_factory=dict, repr=False)

    @cached_property
    def digest(self) -> str:
        return digest(self.files)

    def approval(self, action: str, risk: str, principal: str) -> dict[str, Any]:
        """Whether a call of ``action`` by ``principal`` can be parked for a human, as an agent
        is told before calling: ``never``, ``always`` (an approval policy with no condition
        surely applies), or ``sometimes`` (it depends on the arguments, time or amount)."""
        found = [p for p in self.policies.values() if p.approval is not None and p.applies_to(action, risk, principal)]
        if not found:
            return {"required": "never"}
        always = any(p.always_applies(action, risk, principal) for p in found)
        return {"required": "always" if always else "sometimes", "why": sorted({p.approval or "" for p in found})}

    def slice(self, action: str, risk: str, principal: str) -> Slice:
        key = (action, principal)
        cached = self._slices.get(key)
        if cached is None:
            chosen = [p for p in self.policies.values() if p.applies_to(action, risk, principal)]
            bodies = {p.id: p.body_for(action, risk, principal) for p in chosen}
            doc = {"staticPolicies": bodies, "templates": {}, "templateLinks": []}
            static = bool(chosen) and all(p.always_permits(action, risk, principal) for p in chosen)
            cached = Slice(
                cedarpy.PolicySet.from_json_str(orjson.dumps(doc).decode()),
                context_paths(bodies.values()),
                tuple(sorted(bodies)) if static else None,
            )
            if len(self._slices) >= 4096:
                self._slices.clear()
            self._slices[key] = cached
        return cached


def compile_policies(files: dict[str, str], surface: Surface, version: int = 0) -> PolicySet:
    """Parse, validate and name every policy; raise PolicyInvalid listing every problem."""
    schema = json.dumps(cedar_schema(surface))
    problems: list[dict[str, str]] = []
    policies: dict[str, Policy] = {}
    for name in sorted(files):
        if not _FILE_NAME.match(name):
            problems.append({"file": name[:100], "error": "file names are letters, digits, '.', '_' or '-', ending in .cedar"})
            continue
        for policy in _compile_file(name, files[name], schema, problems):
            if policy.id in policies:
                problems.append({"file": name, "policy": policy.id, "error": "policy id used twice"})
            policies[policy.id] = policy
    if problems:
        raise PolicyInvalid(f"{len(problems)} problem(s) in the policies; nothing was changed", errors=problems)
    return PolicySet(version, dict(files), policies)


def _compile_file(name: str, text: str, schema: str, problems: list[dict[str, str]]) -> list[Policy]:
    try:
        parsed = json.loads(cedarpy.policies_to_json_str(text))
    except ValueError as err:
        problems.append({"file": name, "error": f"not valid Cedar: {_first_line(err)}"})
        return []
    if parsed.get("templates"):
        problems.append({"file": name, "error": "policy templates are not supported; write static policies"})
        return []
    bodies = list(parsed.get("staticPolicies", {}).values())
    ids = [_policy_id(name, i, body, problems) for i, body in enumerate(bodies)]
    result = cedarpy.validate_policies(text, schema)
    for error in result.errors:
        index = int(error.policy_id.removeprefix("policy")) if error.policy_id.startswith("policy") else -1
        if 0 <= index < len(bodies) and _empty_risk_group(bodies[index], error.error):
            continue
        where = {"policy": ids[index]} if 0 <= index < len(ids) else {}
        problems.append({"file": name, **where, "error": _CEDAR_POLICY_PREFIX.sub("", error.error)})
    return [_policy(name, pid, body, problems) for pid, body in zip(ids, bodies, strict=True)]


def _empty_risk_group(body: dict[str, Any], error: str) -> bool:
    """A rule about a risk class no action has yet (money, say) is a standing rule, not a mistake."""
    scope = body.get("action", {})
    entities = scope.get("entities") or ([scope["entity"]] if "entity" in scope else [])
    in_groups = scope.get("op") == "in" and entities and all(str(e.get("id", "")).startswith("risk:") for e in entities)
    return bool(in_groups) and "unable to find an applicable action" in error


def _policy_id(file: str, index: int, body: dict[str, Any], problems: list[dict[str, str]]) -> str:
    given = (body.get("annotations") or {}).get("id")
    if given is None:
        return f"{file}#{index + 1}"
    if not _POLICY_ID.match(given):
        problems.append({"file": file, "policy": f"{file}#{index + 1}", "error": "@id must be 1-128 of A-Z a-z 0-9 _ . : # -"})
    return str(given)


def _policy(file: str, pid: str, body: dict[str, Any], problems: list[dict[str, str]]) -> Policy:
    notes = body.get("annotations") or {}
    approval = notes.get("approval")
    approvers = 1
    if approval is not None and body["effect"] != "permit":
        problems.append(
            {"file": file, "policy": pid, "error": "@approval marks a permit policy; a forbid cannot ask for approval"}
        )
    if "approvers" in notes:
        raw = notes["approvers"]
        if approval is None:
            problems.append({"file": file, "policy": pid, "error": "@approvers only makes sense beside @approval"})
        # isdigit() alone passes "²" and 5000-digit strings, and int() refuses both
        elif not (raw.isascii() and raw.isdigit() and len(raw) <= 4 and 1 <= int(raw) <= MAX_APPROVERS):
            problems.append(
                {"file": file, "policy": pid, "error": f"@approvers must be a whole number from 1 to {MAX_APPROVERS}"}
            )
        else:
            approvers = int(raw)
    text = cedarpy.policies_from_json_str(json.dumps({"staticPolicies": {"p": body}, "templates": {}, "templateLinks": []}))
    return Policy(
        id=pid,
        file=file,
        effect=body["effect"],
        text=text.strip(),
        approval=approval if approval is None else (approval or "needs approval"),
        approvers=approvers,
        action_scope=body.get("action", {}),
        principal_scope=body.get("principal", {}),
        body=body,
    )


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0][:500] if str(err).strip() else type(err).__name__
