"""``chamberlain policy``: load, show, history, schema, test and explain, as an operator uses them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from chamberlain.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    assert run("tenant", "create", "acme-shop", "--data-dir", str(folder)).exit_code == 0
    return folder


def test_load_show_history(data: Path) -> None:
    d = ["--data-dir", str(data)]
    assert "runs on the default policies" in run("policy", "history", "--tenant", "acme-shop", *d).output
    shown = run("policy", "show", "--tenant", "acme-shop", *d)
    assert "policy version 0 (the default set)" in shown.output and "default-approve-large-money" in shown.output

    loaded = run("policy", "load", str(EXAMPLES / "acme-shop"), "--tenant", "acme-shop", "--author", "operator:ann", *d)
    assert loaded.exit_code == 0 and "published policy version 1" in loaded.output
    again = run("policy", "load", str(EXAMPLES / "acme-shop"), "--tenant", "acme-shop", *d)
    assert "policies unchanged" in again.output
    history = run("policy", "history", "--tenant", "acme-shop", *d).output.splitlines()
    assert len(history) == 1 and history[0].startswith("v1\t") and "operator:ann" in history[0]
    shown = run("policy", "show", "--tenant", "acme-shop", *d).output
    assert "// ---- refunds.cedar" in shown and "refunds-over-1000-need-two" in shown


def test_an_invalid_file_is_refused_with_file_policy_and_reason(data: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.cedar"
    bad.write_text('@id("typo")\npermit (principal, action, resource) when { context.amount_minr > 5 };\n')
    result = run("policy", "load", str(bad), "--tenant", "acme-shop", "--data-dir", str(data))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "bad.cedar typo:" in result.output and "amount_minr" in result.output
    assert "runs on the default" in run("policy", "history", "--tenant", "acme-shop", "--data-dir", str(data)).output


def test_policy_test_passes_the_example_book_and_fails_a_wrong_expectation(tmp_path: Path) -> None:
    ok = run("policy", "test", str(EXAMPLES / "cases.toml"), "--policies", str(EXAMPLES / "acme-shop"))
    assert ok.exit_code == 0, ok.output
    assert "8 passed, 0 failed" in ok.output

    wrong = tmp_path / "wrong.toml"
    wrong.write_text(
        '[[case]]\nname = "refunds are free"\nprincipal = "agent:a"\naction = "orders.refund"\n'
        'arguments = { order_id = "o_1", amount = { amount_minor = 50000, currency = "EUR" }, reason = "lost" }\n'
        'expect = "allow"\n'
    )
    failed = run("policy", "test", str(wrong))
    assert failed.exit_code == 1
    assert "FAIL  refunds are free  (require_approval)" in failed.output
    assert "expected allow, got require_approval" in failed.output

    wrong.write_text(wrong.read_text().replace('"lost"', '"x"'))
    unfit = run("policy", "test", str(wrong))
    assert "arguments do not fit orders.refund: reason: String should have at least 3 characters" in unfit.output


def test_policy_test_against_a_tenants_stored_policies(data: Path) -> None:
    run("policy", "load", str(EXAMPLES / "acme-shop"), "--tenant", "acme-shop", "--data-dir", str(data))
    result = run("policy", "test", str(EXAMPLES / "cases.toml"), "--tenant", "acme-shop", "--data-dir", str(data))
    assert result.exit_code == 0 and "(policy version 1)" in result.output, result.output


def test_explain_names_the_deciding_policies_and_what_they_saw() -> None:
    args = ["--principal", "agent:bot", "--action", "orders.refund"]
    big = '{"order_id": "o_1", "amount": {"amount_minor": 150000, "currency": "EUR"}, "reason": "lost"}'
    result = run("policy", "explain", *args, "--args", big, "--policies", str(EXAMPLES / "acme-shop"))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("REQUIRE_APPROVAL: a permit allowed it and @approval policies matched")
    assert "approvers required: 2" in result.output and "refunds-over-1000-need-two  (refunds.cedar)" in result.output

    as_json = run("policy", "explain", *args, "--args", big, "--json", "--delegated", "--policies", str(EXAMPLES / "acme-shop"))
    answer = json.loads(as_json.output)
    assert answer["decision"] == "deny" and [p["id"] for p in answer["policies"]] == ["sub-agents-move-no-money"]
    assert answer["request"]["context"]["amount_minor"] == 150000 and answer["principal"]["delegated"] is True


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--action", "orders.nuke"], "no action named 'orders.nuke'"),
        (["--action", "orders.get", "--args", "{not json"], "Expecting property name"),
        (["--action", "orders.get", "--args", '{"order_id": 5}'], "arguments do not fit orders.get"),
    ],
)
def test_explain_refuses_bad_requests_cleanly(extra: list[str], message: str) -> None:
    result = run("policy", "explain", "--principal", "agent:bot", *extra)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_schema_lists_actions_with_their_risk_groups() -> None:
    schema = json.loads(run("policy", "schema").output)
    actions = schema["Chamberlain"]["actions"]
    assert {"id": "risk:money"} in actions["orders.refund"]["memberOf"]
    assert "amount_minor" in actions["orders.refund"]["appliesTo"]["context"]["attributes"]
