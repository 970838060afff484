"""``chamberlain revert``: undo one call, or every call of one agent in a time range.

Bulk reverts are shown first (a dry run) and only run with ``--execute``, because
after a misbehaving agent the first question is what it did.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from ..app import Runtime
from ..reverts import Planned, execute, plan, revert_one
from ..timeutil import parse_duration, utc_now
from ._shared import _settings, _usage_error, _with_runtime, data_dir_option, load_surface, surface_option

_surface_option = surface_option("MODULE:SURFACE that declares the actions and their undo (it runs the compensations).")


@click.command("revert")
@click.argument("call_ids", nargs=-1)
@click.option("--tenant", "tenant_id", required=True, help="Tenant of the calls.")
@click.option("--agent", default=None, help="Revert this principal's calls (with --since), e.g. agent:support-bot.")
@click.option("--since", default=None, help="Start of the range: an ISO 8601 time, or a duration ago (2h, 1d).")
@click.option("--until", default=None, help="End of the range (exclusive): ISO 8601 or a duration ago [default: now].")
@click.option("--action", "actions", multiple=True, help="Only calls of this action (repeatable).")
@click.option("--execute", "run", is_flag=True, help="Revert what the dry run lists (bulk reverts only).")
@click.option("--reason", default="reverted by operator", show_default=True, help="Why; kept in each revert's record.")
@click.option(
    "--as", "operator", default="human:operator", show_default=True, help="Who reverts: the reverts' principal (human:NAME)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan or the outcomes as JSON.")
@_surface_option
@data_dir_option
def revert(
    call_ids: tuple[str, ...],
    tenant_id: str,
    agent: str | None,
    since: str | None,
    until: str | None,
    actions: tuple[str, ...],
    run: bool,
    reason: str,
    operator: str,
    as_json: bool,
    target: str,
    data_dir: Path | None,
) -> None:
    """Revert CALL_IDS at once, or list (then, with --execute, revert) an agent's calls.

    Each revert is a governed call of the action's revert action, made by the operator
    under a short-lived grant: policy may park it for approval, and it is audited.
    """
    if bool(call_ids) == bool(agent):
        raise click.UsageError("give CALL_IDS, or --agent with --since, not both")
    surface = load_surface(target)
    if not operator.startswith(("human:", "service:", "agent:")):
        raise click.BadParameter("name a principal, like human:alice", param_hint="--as")
    if call_ids:
        outcomes = _with_runtime(_settings(data_dir), _one_by_one(tenant_id, operator, call_ids, reason), surface)
        _report(outcomes, as_json)
        return
    if since is None:
        raise click.UsageError("--agent needs --since")
    try:
        start, end = _when(since), _when(until) if until else utc_now()
    except ValueError as err:
        raise _usage_error(err) from err

    async def work(rt: Runtime) -> list[Planned]:
        planned = await plan(rt.gateway, tenant_id, agent or "", start, end, list(actions) or None)
        return await execute(rt.gateway, tenant_id, operator, planned, reason) if run else planned

    planned = _with_runtime(_settings(data_dir), work, surface)
    if as_json:
        click.echo(json.dumps([p.as_dict() for p in planned], indent=2))
    else:
        _show_plan(planned, agent or "", start, end, run)
    if any(p.outcome.get("status") == "refused" for p in planned):
        raise SystemExit(1)


def _one_by_one(tenant: str, operator: str, call_ids: tuple[str, ...], reason: str) -> Any:
    async def work(rt: Runtime) -> list[dict[str, Any]]:
        return [{"call_id": c, **await revert_one(rt.gateway, tenant, operator, c, reason)} for c in call_ids]

    return work


def _when(text: str) -> datetime:
    """``2h`` (that long ago) or an ISO 8601 time (UTC if it names no zone)."""
    try:
        return utc_now() - parse_duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as err:
        raise ValueError(f"{text!r} is neither a duration (2h, 1d) nor an ISO 8601 time") from err
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _outcome_line(outcome: dict[str, Any]) -> str:
    status = outcome["status"]
    if status == "reverted":
        return f"reverted by {outcome['revert_call_id']}"
    if status == "pending_approval":
        return f"waiting for approval {outcome['approval_id']} (revert call {outcome['revert_call_id']})"
    problem = outcome["problem"]
    return f"refused: {problem['code']}: {problem['detail']}"


def _report(outcomes: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(outcomes, indent=2))
    else:
        for outcome in outcomes:
            click.echo(f"{outcome['call_id']}  {_outcome_line(outcome)}")
    if any(o["status"] == "refused" for o in outcomes):
        raise SystemExit(1)


def _show_plan(planned: list[Planned], agent: str, start: datetime, end: datetime, ran: bool) -> None:
    click.echo(f"{agent}: {len(planned)} call(s) with effects from {start.isoformat()} to {end.isoformat()}, newest first")
    for p in planned:
        what = _outcome_line(p.outcome) if p.outcome else f"{p.status}: {p.detail}"
        click.echo(f"  {p.call_id}  {p.started_at[:19]}  {p.action:<28}  {what}")
    counts: dict[str, int] = {}
    for p in planned:
        counts[p.status] = counts.get(p.status, 0) + 1
    click.echo(", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing to revert")
    if not ran and counts.get("revert"):
        click.echo("dry run: nothing was changed; add --execute to revert the calls marked 'revert'")
