"""Fuzz the REST surface against its own OpenAPI document, with schemathesis.

The document (``GET /openapi.json``) is the contract: schemathesis generates requests
from it, valid and invalid, and holds every answer to it. Three runs: with the fuzzers'
grant (every phase: the document's examples, boundary values, then random input), with
no grant and with a garbage one (random input only: nothing past the grant check should
matter, and every operation that takes a grant must answer ``401``).

What must hold, for every request:

* never a 5xx, and an answer within the request timeout (no hang);
* the answer's status, content type, headers and body are those the document lists;
* the server refuses what the document forbids, and takes what it allows, where the
  document can say (everywhere but an action's own business refusals);
* a refusal (4xx) changed nothing but the records every refusal leaves (``_state``).

The budget is set by ``max-examples`` (``CHAMBERLAIN_FUZZ_EXAMPLES`` scales it), never by
time. A failure prints each problem with a ``curl`` line that reproduces it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.core.transport import Response
from schemathesis.engine import Status, StopReason, events, from_schema
from schemathesis.generation.case import Case
from schemathesis.hooks import GLOBAL_HOOK_DISPATCHER, HookContext

from tests.fuzz._state import Mark, State
from tests.fuzz.conftest import SCALE, SEED, FuzzGateway

pytestmark = pytest.mark.embedded

REQUEST_TIMEOUT_S = 60
"""Longer than the gateway's own action timeout (30 s): an answer that never comes is a hang."""
NOT_FUZZED = "^/v1/events$"
"""The event stream never ends by design (``tests/events`` covers it)."""
NOT_JUDGED_VALID = "^/v1/(actions/|grants|policies|quotes|catalog/search|calls/[^/]+/revert|audit/consistency|claims/verify)"
"""Where input the document allows may still be refused for what it names, which the
document cannot know: calls of actions (an unknown order is ``422 action-failed``), a
consistency proof between sizes the log has not reached, a credential signed by no key
the gateway knows. "Valid input is accepted" is checked everywhere else."""
COVERED_ACTIONS = ("orders.refund", "orders.refund.revert", "accounts.update_settings")
"""Besides the actions at paths of their own (grants, policies, quotes, search), the
actions that get schemathesis's boundary values in CI: money with a required key, a
revert, a call parked for approval. Each value costs a request, and the rest share the
same contract machinery; ``CHAMBERLAIN_FUZZ_EXAMPLES`` > 1 gives every action the phase."""
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "refusals_change_nothing",
)


class _Watch:
    """Where the state stood before the request in flight, for ``refusals_change_nothing``."""

    def __init__(self) -> None:
        self.state: State | None = None
        self.before: dict[str, Mark] = {}


WATCH = _Watch()


def before_call(context: HookContext, case: Case, kwargs: dict[str, Any]) -> None:
    if WATCH.state is not None:
        WATCH.before = {case.id: WATCH.state.mark()}


@schemathesis.check
def refusals_change_nothing(ctx: Any, response: Response, case: Case) -> bool | None:
    """A request the gateway refused (4xx) changed no state but the refusal's own records."""
    before = WATCH.before.pop(case.id, None)
    if WATCH.state is None or before is None or not 400 <= response.status_code < 500:
        return None
    problems = WATCH.state.changes_since(before)
    if problems:
        raise AssertionError(f"a {response.status_code} refusal changed state:\n" + "\n".join(problems))
    return True


@schemathesis.check
def grant_checked_first(ctx: Any, response: Response, case: Case) -> bool | None:
    """Without a usable grant, an operation that takes one answers 401, whatever else is wrong."""
    if not case.operation.definition.raw.get("security"):
        return None
    if response.status_code != 401:
        raise AssertionError(f"expected 401 without a usable grant, got {response.status_code}")
    return True


@pytest.fixture
def watching(fuzz_gateway: FuzzGateway) -> Iterator[None]:
    WATCH.state = fuzz_gateway.state
    GLOBAL_HOOK_DISPATCHER.register_hook_with_name(before_call, "before_call")
    try:
        yield
    finally:
        GLOBAL_HOOK_DISPATCHER.unregister(before_call)
        WATCH.state, WATCH.before = None, {}


def _enabled(*names: str) -> dict[str, Any]:
    return {"enabled": False, **{name: {"enabled": True} for name in names}}


def _config(credential: str, token: str) -> dict[str, Any]:
    common: dict[str, Any] = {
        "seed": SEED,
        "workers": 1,
        "request-timeout": REQUEST_TIMEOUT_S,
        "generation": {"database": "none", "no-shrink": True},
    }
    if credential == "grant":
        skip = "|".join(name.replace(".", "\\.") for name in COVERED_ACTIONS)
        not_covered = [] if SCALE > 1 else [f"^/v1/actions/(?!({skip})$)"]
        return {
            **common,
            "generation": {**common["generation"], "max-examples": 5 * SCALE},
            "auth": {"openapi": {"grant": {"bearer": token}}},
            "phases": {
                "coverage": {"unexpected-methods": ["patch"], "generate-duplicate-query-parameters": False},
                "stateful": {"enabled": False},
            },
            "checks": _enabled(
                *CHECKS,
                "negative_data_rejection",
                "positive_data_acceptance",
                "missing_required_header",
                "ignored_auth",
                "unsupported_method",
                "allow_header_conformance",
            ),
            "operations": [
                {"include-path-regex": NOT_JUDGED_VALID, "checks": {"positive_data_acceptance": {"enabled": False}}},
                *({"include-path-regex": regex, "phases": {"coverage": {"enabled": False}}} for regex in not_covered),
            ],
        }
    return {
        **common,
        "generation": {**common["generation"], "max-examples": 2 * SCALE},
        **({"headers": {"Authorization": f"Bearer {token}"}} if token else {}),
        "phases": {"examples": {"enabled": False}, "coverage": {"enabled": False}, "stateful": {"enabled": False}},
        "checks": _enabled(*CHECKS, "grant_checked_first"),
    }


def _fuzz(base: str, config: dict[str, Any]) -> list[str]:
    """Run schemathesis over the whole document; every problem it found, as text."""
    schema = schemathesis.openapi.from_url(base + "/openapi.json", config=SchemathesisConfig.from_dict(config))
    problems: list[str] = []
    requests = 0
    for event in from_schema(schema.exclude(path_regex=NOT_FUZZED)).execute():
        if isinstance(event, events.ScenarioFinished):
            requests += len(event.recorder.interactions)
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        failure = check.failure_info.failure
                        problems.append(
                            f"{event.recorder.label} [{check.name}] {failure.title}: {failure.message}\n"
                            f"    {check.failure_info.code_sample}"
                        )
        elif isinstance(event, events.NonFatalError):
            problems.append(f"{event.label} [error] {event.info.title}: {event.info.message}\n    {event.info.code_sample}")
        elif isinstance(event, events.FatalError):
            problems.append(f"[fatal] {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            if event.stop_reason != StopReason.COMPLETED:
                problems.append(f"[stopped] {event.stop_reason}")
            problems.extend(f"[after run] {f.title}: {f.message}" for f in event.failures)
    assert requests > 0, "schemathesis sent nothing"
    return sorted(set(problems))


@pytest.mark.parametrize("credential", ["grant", "none", "garbage"])
def test_rest_surface_holds_to_its_openapi_document(fuzz_gateway: FuzzGateway, watching: None, credential: str) -> None:
    token = {"grant": fuzz_gateway.token, "none": "", "garbage": "garbage"}[credential]
    problems = _fuzz(fuzz_gateway.base, _config(credential, token))
    assert not problems, f"{len(problems)} problem(s):\n\n" + "\n\n".join(problems)
