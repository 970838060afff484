"""Cedar decisions, table-driven: the default set, custom rules, validation at load."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import cedarpy
import pytest

from chamberlain.actions import Surface
from chamberlain.demo.shop import shop
from chamberlain.errors import PolicyInvalid
from chamberlain.grants import management_surface
from chamberlain.policy import PolicyEngine, PolicySet, compile_policies, default_files, policy_surface
from chamberlain.policy._compile import Slice
from chamberlain.policy._context import project

SURFACE = shop.including(management_surface(None)).including(policy_surface(lambda: None))  # type: ignore[arg-type]
ENGINE = PolicyEngine(SURFACE)
DEFAULT = compile_policies(default_files(10_000), SURFACE)
NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def agent(name: str = "agent:bot", *, delegated: bool = False, on_behalf_of: str | None = None) -> dict[str, Any]:
    chain = ["tenant:acme", *([on_behalf_of] if on_behalf_of else []), name]
    principal = {"id": name, "kind": name.split(":")[0], "chain": chain, "delegated": delegated, "grant": "g_1", "tenant": "acme"}
    if on_behalf_of:
        principal["on_behalf_of"] = on_behalf_of
    return principal


def refund(minor: int) -> dict[str, Any]:
    return {"order_id": "o_1", "amount": {"amount_minor": minor, "currency": "EUR"}, "reason": "late"}


def decide(policies: Any, action: str, arguments: dict[str, Any], principal: dict[str, Any] | None = None, when: datetime = NOON):
    found = SURFACE.get(action)
    assert found is not None
    request = ENGINE.request("acme", principal or agent(), found, arguments, "rest", when)
    return ENGINE.decide(policies, request, found.risk)


@pytest.mark.parametrize(
    ("action", "arguments", "effect", "policies"),
    [
        ("orders.get", {"order_id": "o_1"}, "allow", ["default-permit-granted"]),
        ("orders.refund", refund(10_000), "allow", ["default-permit-granted"]),
        ("orders.refund", refund(10_001), "require_approval", ["default-approve-large-money"]),
        ("customers.export", {}, "require_approval", ["default-approve-data-export"]),
        (
            "accounts.update_email",
            {"customer_id": "c", "email": "a@b.example"},
            "require_approval",
            ["default-approve-account-changes"],
        ),
        ("accounts.update_settings", {"customer_id": "c"}, "require_approval", ["default-approve-account-changes"]),
        ("grants.revoke", {"grant_id": "g_1"}, "allow", ["default-permit-granted"]),
        ("policies.update", {"files": {"a.cedar": ""}}, "require_approval", ["default-approve-account-changes"]),
    ],
)
def test_default_policies(action: str, arguments: dict[str, Any], effect: str, policies: list[str]) -> None:
    decision = decide(DEFAULT, action, arguments)
    assert (decision.effect, list(decision.policies)) == (effect, policies)
    assert decision.approvers == (1 if effect == "require_approval" else 0)


CUSTOM = """
@id("no-delegated-money")
forbid (principal, action in Chamberlain::Action::"risk:money", resource) when { principal.delegated };

@id("office-hours-exports")
forbid (principal, action == Chamberlain::Action::"customers.export", resource) unless { context.hour >= 8 && context.hour < 18 };

@id("eu-only-export")
permit (principal, action == Chamberlain::Action::"customers.export", resource)
when { context.arguments has region && context.arguments.region == "EU" };

@id("reads")
permit (principal, action in Chamberlain::Action::"risk:read", resource);

@id("refunds")
permit (principal, action == Chamberlain::Action::"orders.refund", resource) when { principal.kind == "agent" };

@id("two-for-big-refunds")
@approval("refunds over 500.00 need two people")
@approvers("2")
permit (principal, action == Chamberlain::Action::"orders.refund", resource) when { context.amount_minor > 50000 };

@id("bob-asks-first")
@approval("bob's account changes are checked")
permit (principal == Chamberlain::Principal::"agent:bob", action in Chamberlain::Action::"risk:account", resource);
"""
CUSTOM_SET = compile_policies({"custom.cedar": CUSTOM}, SURFACE, version=3)


@pytest.mark.parametrize(
    ("action", "arguments", "principal", "when", "effect", "policies"),
    [
        ("orders.get", {"order_id": "o"}, agent(), NOON, "allow", ["reads"]),
        ("orders.refund", refund(100), agent(), NOON, "allow", ["refunds"]),
        ("orders.refund", refund(100), agent("human:h"), NOON, "deny", []),
        ("orders.refund", refund(100), agent(delegated=True), NOON, "deny", ["no-delegated-money"]),
        ("orders.refund", refund(60_000), agent(), NOON, "require_approval", ["two-for-big-refunds"]),
        ("customers.export", {"region": "EU"}, agent(), NOON, "allow", ["eu-only-export"]),
        ("customers.export", {"region": "US"}, agent(), NOON, "deny", []),
        ("customers.export", {}, agent(), NOON, "deny", []),
        ("customers.export", {"region": "EU"}, agent(), NOON.replace(hour=22), "deny", ["office-hours-exports"]),
        # An approval policy marks calls for a human; it never permits on its own.
        ("accounts.update_email", {"customer_id": "c", "email": "a@b.example"}, agent("agent:bob"), NOON, "deny", []),
        ("accounts.update_email", {"customer_id": "c", "email": "a@b.example"}, agent(), NOON, "deny", []),
    ],
)
def test_custom_policies(
    action: str, arguments: dict[str, Any], principal: dict[str, Any], when: datetime, effect: str, policies: list[str]
) -> None:
    decision = decide(CUSTOM_SET, action, arguments, principal, when)
    assert (decision.effect, list(decision.policies)) == (effect, policies)
    assert decision.version == 3


def test_n_approvers_and_reasons_come_from_the_annotations() -> None:
    decision = decide(CUSTOM_SET, "orders.refund", refund(60_000))
    assert decision.approvers == 2 and decision.why == ("refunds over 500.00 need two people",)
    assert decision.reason()["approvers_required"] == 2


class Unsliced(PolicySet):
    """Every policy and the whole context in every evaluation: what Cedar decides unoptimised."""

    def slice(self, action: str, risk: str, principal: str) -> Slice:
        doc = {"staticPolicies": {p.id: p.body for p in self.policies.values()}, "templates": {}, "templateLinks": []}
        return Slice(cedarpy.PolicySet.from_json_str(json.dumps(doc)), None)


CONTEXT_READERS = """
@id("weekday-record") forbid (principal, action == Chamberlain::Action::"orders.get", resource)
  when { {d: context.weekday}.d == 9 };
@id("surface-if") forbid (principal, action in Chamberlain::Action::"risk:money", resource)
  when { if context.surface == "mcp" then context.amount_minor > 1 else false };
@id("currency-set") forbid (principal, action == Chamberlain::Action::"orders.refund", resource)
  when { context has currency && ["XXX"].contains(context.currency) };
@id("a7-exports-us")
permit (principal == Chamberlain::Principal::"agent:a7", action == Chamberlain::Action::"customers.export", resource)
  when { context.arguments has region && context.arguments.region == "US" };
@id("whole-context") forbid (principal, action == Chamberlain::Action::"customers.export", resource)
  when { {c: context}.c.hour == 99 };
"""


def test_slices_decide_like_the_whole_set() -> None:
    """Slicing by action and principal is an optimisation: it must never change a decision."""
    many = (
        CUSTOM
        + CONTEXT_READERS
        + "\n".join(
            f'permit (principal == Chamberlain::Principal::"agent:a{i}", action == Chamberlain::Action::"orders.get", resource);'
            for i in range(50)
        )
    )
    sliced = compile_policies({"many.cedar": many}, SURFACE)
    whole = Unsliced(sliced.version, sliced.files, sliced.policies)
    assert len(sliced.policies) == 62
    principals = [agent("agent:a7"), agent("agent:bob"), agent("human:h"), agent(delegated=True)]
    actions = [
        ("orders.get", {"order_id": "o"}),
        ("orders.refund", refund(100)),
        ("orders.refund", refund(60_000)),
        ("customers.export", {"region": "EU"}),
        ("customers.export", {"region": "US"}),
        ("customers.export", {}),
        ("accounts.update_email", {"customer_id": "c", "email": "a@b.example"}),
    ]
    for principal in principals:
        for action, arguments in actions:
            a, b = decide(sliced, action, arguments, principal), decide(whole, action, arguments, principal)
            assert (a.effect, a.policies, a.approvers) == (b.effect, b.policies, b.approvers), (principal["id"], action)
    assert decide(sliced, "orders.get", {"order_id": "o"}, agent("agent:a7")).policies == ("many.cedar#20", "reads")


A7 = 'Chamberlain::Principal::"agent:a7"'
ACT = "Chamberlain::Action::"
SHORTCUT_SETS = [
    default_files(10_000),
    {"all.cedar": "permit (principal, action, resource);"},
    {"a.cedar": f'permit (principal == {A7}, action in Chamberlain::Action::"risk:read", resource);'},
    {"a.cedar": f'permit (principal, action in [{ACT}"orders.get", {ACT}"risk:money"], resource);'},
    {"a.cedar": "permit (principal is Chamberlain::Principal, action, resource);"},
]


@pytest.mark.parametrize("files", SHORTCUT_SETS)
def test_plain_permits_decide_without_evaluation_exactly_as_cedar_would(files: dict[str, str]) -> None:
    sliced = compile_policies(files, SURFACE)
    whole = Unsliced(sliced.version, sliced.files, sliced.policies)
    for principal in [agent("agent:a7"), agent("agent:bob")]:
        for action, arguments in [("orders.get", {"order_id": "o"}), ("orders.refund", refund(100)), ("customers.export", {})]:
            a, b = decide(sliced, action, arguments, principal), decide(whole, action, arguments, principal)
            assert (a.effect, a.policies, a.approvers) == (b.effect, b.policies, b.approvers), (principal["id"], action)
    shortcut = sliced.slice("orders.get", "read", "agent:a7").allowed_by
    assert shortcut == (None if "is Chamberlain" in str(files) else tuple(sliced.policies)[:1])


def test_a_slice_reads_only_the_context_its_policies_name() -> None:
    policies = compile_policies({"m.cedar": CUSTOM + CONTEXT_READERS}, SURFACE)
    paths = {action: policies.slice(action, risk, "agent:a7").context for action, risk in [
        ("orders.get", "read"), ("orders.refund", "money"), ("customers.export", "data_export")]}  # fmt: skip
    assert project(CONTEXT, paths["orders.get"]) == {"weekday": 3}
    assert project(CONTEXT, paths["orders.refund"]) == {"amount_minor": 5, "currency": "EUR", "surface": "rest"}
    assert paths["customers.export"] is None, "a policy that reads the whole context gets all of it"
    only_region = compile_policies({"m.cedar": CUSTOM}, SURFACE).slice("customers.export", "data_export", "agent:a7")
    assert project(CONTEXT, only_region.context) == {"arguments": {"region": "EU"}, "hour": 12}


CONTEXT = {
    "arguments": {"region": "EU", "amount": {"amount_minor": 5, "currency": "EUR"}},
    "risk": "money",
    "surface": "rest",
    "now": 1,
    "hour": 12,
    "weekday": 3,
    "amount_minor": 5,
    "currency": "EUR",
}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('permit (principal, action == Chamberlain::Action::"orders.nope", resource);', "unrecognized action"),
        (
            'permit (principal, action == Chamberlain::Action::"orders.refund", resource) when { context.arguments.nope == 1 };',
            "attribute `arguments.nope`",
        ),
        ("permit (principal, action, resource) when { principal.shoe_size > 3 };", "shoe_size"),
        ("permit (principal, action, resource) when { context.amount_minor > 1 };", "amount_minor"),
        ("permit (principal, action resource);", "not valid Cedar"),
        ('@approval("x")\nforbid (principal, action, resource);', "forbid cannot ask for approval"),
        ('@approval("x")\n@approvers("eleven")\npermit (principal, action, resource);', "@approvers must be"),
        ('@approval("x")\n@approvers("²")\npermit (principal, action, resource);', "@approvers must be"),  # isdigit(), not int()
        (f'@approval("x")\n@approvers("{"9" * 5000}")\npermit (principal, action, resource);', "@approvers must be"),
        ('@id("a")\npermit (principal, action, resource);\n@id("a")\npermit (principal, action, resource);', "used twice"),
        ("permit (principal == ?principal, action, resource);", "templates are not supported"),
    ],
)
def test_invalid_policies_are_rejected_at_load_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(PolicyInvalid) as err:
        compile_policies({"bad.cedar": text}, SURFACE)
    assert message in str(err.value.extra["errors"]), err.value.extra


def test_bad_file_names_are_rejected() -> None:
    with pytest.raises(PolicyInvalid):
        compile_policies({"../etc/passwd": "permit (principal, action, resource);"}, SURFACE)


def test_default_set_validates_for_a_surface_without_money_actions() -> None:
    bare = Surface("bare")

    @bare.action("notes.read", risk="read")
    async def read_note(note_id: str) -> dict[str, str]:
        return {}

    surface = bare.including(management_surface(None)).including(policy_surface(lambda: None))  # type: ignore[arg-type]
    assert "default-approve-large-money" in compile_policies(default_files(1), surface).policies


def test_discovery_says_when_a_human_may_be_needed() -> None:
    """What agents are told before calling: never, sometimes (conditions) or always."""
    assert CUSTOM_SET.approval("orders.get", "read", "agent:x") == {"required": "never"}
    assert CUSTOM_SET.approval("orders.refund", "money", "agent:x") == {
        "required": "sometimes",
        "why": ["refunds over 500.00 need two people"],
    }
    assert CUSTOM_SET.approval("accounts.update_email", "account", "agent:bob")["required"] == "always"
    assert CUSTOM_SET.approval("accounts.update_email", "account", "agent:alice") == {"required": "never"}
