"""Where policies live: versions per tenant, files on disk, other processes, the example book."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from chamberlain.app import Runtime
from chamberlain.demo.shop import shop
from chamberlain.errors import PolicyDenied, PolicyInvalid
from chamberlain.pipeline import Call
from chamberlain.policy import check, load_cases, read_policy_files
from chamberlain.store import policy_versions, tenant_transaction
from tests.conftest import PERMIT_ALL, issue, make_runtime
from tests.pipeline.test_gateway import add_order, record

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies"


async def test_example_cases_all_pass_against_the_example_policies(runtime: Runtime) -> None:
    policies = runtime.policies.compile(read_policy_files([EXAMPLES / "acme-shop"]))
    results = [check(runtime.engine, policies, case) for case in load_cases(EXAMPLES / "cases.toml")]
    assert len(results) >= 8
    assert [(r.case.name, r.failures) for r in results if not r.passed] == []


async def test_a_wrong_expectation_fails_with_what_was_decided_instead(runtime: Runtime, tmp_path: Path) -> None:
    cases = tmp_path / "cases.toml"
    cases.write_text(
        '[[case]]\nprincipal = "agent:a"\naction = "orders.get"\narguments = { order_id = "o_1" }\n'
        'expect = "deny"\npolicies = ["nobody"]\n'
    )
    (result,) = [check(runtime.engine, runtime.policies.default, c) for c in load_cases(cases)]
    assert result.failures == [
        "expected deny, got allow",
        "expected policies ['nobody'], got ['default-permit-granted']",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[case]]\naction = 'orders.get'\n", "needs 'principal' and 'action'"),
        ("[[case]]\nprincipal = 'agent:a'\naction = 'orders.get'\nexpected = 'allow'\n", "unknown keys ['expected']"),
        ("[[case]]\nprincipal = 'agent:a'\naction = 'orders.get'\nexpect = 'maybe'\n", "expect must be one of"),
        ("title = 'no cases'\n", "no [[case]] tables"),
        ("[[case]\n", "not valid TOML"),
    ],
)
def test_a_bad_case_file_names_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "cases.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_cases(path)


async def test_arguments_that_break_the_contract_fail_the_case_not_the_run(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "cases.toml"
    path.write_text("[[case]]\nprincipal = 'agent:a'\naction = 'orders.refund'\narguments = { order_id = 3 }\n")
    (result,) = [check(runtime.engine, runtime.policies.default, c) for c in load_cases(path)]
    assert not result.passed and result.failures[0].startswith("arguments do not fit orders.refund")


async def test_each_change_is_a_new_version_with_author_and_comment(runtime: Runtime) -> None:
    book = runtime.policies
    assert (await book.current("acme")).version == 0 and await book.history("acme") == []
    await book.publish("acme", PERMIT_ALL, author="operator:ann", comment="open up")
    await book.publish("acme", {"a.cedar": "forbid (principal, action, resource);"}, author="operator:bob")
    history = await book.history("acme")
    assert [(h["version"], h["author"], h["comment"]) for h in history] == [
        (2, "operator:bob", ""),
        (1, "operator:ann", "open up"),
    ]
    assert (await book.current("acme")).version == 2
    assert (await book.current("globex")).version == 0, "tenants never share policies"


async def test_an_invalid_set_is_refused_and_nothing_is_stored(runtime: Runtime) -> None:
    with pytest.raises(PolicyInvalid) as caught:
        await runtime.policies.publish(
            "acme", {"bad.cedar": 'permit (principal, action == Chamberlain::Action::"orders.nuke", resource);'}, author="x"
        )
    assert caught.value.extra["errors"][0]["file"] == "bad.cedar"
    assert await runtime.policies.history("acme") == []


async def test_loading_the_same_files_twice_publishes_once(runtime: Runtime, tmp_path: Path) -> None:
    folder = tmp_path / "acme"
    folder.mkdir()
    (folder / "all.cedar").write_text(PERMIT_ALL["all.cedar"])
    first = await runtime.policies.load("acme", [folder], author="file")
    assert first is not None and first.version == 1
    assert await runtime.policies.load("acme", [folder], author="file") is None
    (folder / "all.cedar").write_text("forbid (principal, action, resource);")
    again = await runtime.policies.load("acme", [folder], author="file")
    assert again is not None and again.version == 2


async def test_an_empty_folder_is_an_error_not_an_empty_policy_set(runtime: Runtime, tmp_path: Path) -> None:
    with pytest.raises(PolicyInvalid, match="no .cedar files"):
        await runtime.policies.load("acme", [tmp_path], author="file")


async def test_policy_dir_is_loaded_at_start_for_each_tenant_with_a_folder(runtime: Runtime, tmp_path: Path) -> None:
    root = tmp_path / "policies"
    (root / "acme").mkdir(parents=True)
    (root / "acme" / "refunds.cedar").write_text((EXAMPLES / "acme-shop" / "refunds.cedar").read_text())
    rt = make_runtime(shop, runtime.settings.data_dir, policy_dir=root)
    async with rt.running():
        assert (await rt.policies.current("acme")).version == 1
        assert (await rt.policies.current("globex")).version == 0
    rt = make_runtime(shop, runtime.settings.data_dir, policy_dir=root)
    async with rt.running():
        assert [h["version"] for h in await rt.policies.history("acme")] == [1], "unchanged files are not a new version"


async def test_a_change_from_another_process_is_seen_within_the_refresh_window(runtime: Runtime) -> None:
    other = make_runtime(shop, runtime.settings.data_dir, policy_refresh_s=0.0)
    async with other.running():
        assert (await other.policies.current("acme")).version == 0
        await runtime.policies.publish("acme", PERMIT_ALL, author="operator:ann")
        assert (await other.policies.current("acme")).version == 1


async def test_a_stored_set_that_no_longer_validates_denies_every_call(runtime: Runtime) -> None:
    await add_order(runtime, "acme")
    await runtime.policies.publish("acme", PERMIT_ALL, author="operator:ann")
    async with tenant_transaction(runtime.store, "acme") as tx:
        await tx.execute(
            update(policy_versions)
            .where(policy_versions.c.tenant_id == "acme")
            .values(files={"all.cedar": 'permit (principal, action == Chamberlain::Action::"gone.away", resource);'})
        )
    runtime.policies._cache.clear()
    token = await issue(runtime)
    out = await runtime.gateway.call(Call("orders.get", {"order_id": "o_1"}, token, "test"))
    assert isinstance(out.error, PolicyDenied)
    assert (await record(runtime, out.call.id))["decision"] == "refused", "the refusal is recorded"
