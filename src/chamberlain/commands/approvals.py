"""``chamberlain approvals``: list, show, approve and reject parked calls."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import click

from ..app import Runtime
from ..errors import ChamberlainError
from ._shared import _settings, _with_runtime, data_dir_option

STATUSES = ("pending", "approved", "rejected", "expired", "executed", "failed")
tenant_required = click.option("--tenant", "tenant_id", required=True, help="Tenant of the approvals.")


@click.group()
def approvals() -> None:
    """Decide calls that policy parked for a human."""


def _line(a: dict[str, Any]) -> str:
    why = "; ".join(a["why"])
    return (
        f"{a['id']}  {a['status']:<8}  {a['action']}  by {a['requested_by']}  "
        f"{a['approvals_given']}/{a['approvals_required']}  until {a['deadline'][:19]}  {why}"
    )


@approvals.command("list")
@tenant_required
@click.option("--status", type=click.Choice(STATUSES), default="pending", show_default=True)
@click.option("--all", "everything", is_flag=True, help="Every status.")
@data_dir_option
def approvals_list(tenant_id: str, status: str, everything: bool, data_dir: Path | None) -> None:
    """List approvals (pending ones by default), newest first."""
    rows = _with_runtime(_settings(data_dir), lambda rt: rt.approvals.query(tenant_id, None if everything else status))
    if not rows:
        click.echo("no approvals")
    for row in rows:
        click.echo(_line(row))


@approvals.command("show")
@click.argument("approval_id")
@tenant_required
@data_dir_option
def approvals_show(approval_id: str, tenant_id: str, data_dir: Path | None) -> None:
    """Print one approval as JSON: the request, its hash, the policies and every step."""
    try:
        view = _with_runtime(_settings(data_dir), lambda rt: rt.approvals.show(tenant_id, approval_id))
    except ChamberlainError as err:
        raise click.ClickException(err.detail) from err
    click.echo(json.dumps(view, indent=2))


def _decide(
    approval_id: str,
    tenant_id: str,
    who: str,
    reason: str,
    request_hash: str | None,
    wait: float,
    data_dir: Path | None,
    approve: bool,
) -> None:
    async def run(rt: Runtime) -> dict[str, Any]:
        view = await rt.desk.decide_as_operator(
            tenant_id, who, approval_id, approve=approve, reason=reason, expected_hash=request_hash
        )
        deadline = time.monotonic() + wait
        while view["status"] == "approved" and time.monotonic() < deadline:
            await asyncio.sleep(0.2)  # the gateway's sweep runs it
            view = await rt.approvals.show(tenant_id, approval_id)
        return view

    try:
        view = _with_runtime(_settings(data_dir), run)
    except ChamberlainError as err:
        raise click.ClickException(f"{err.title}: {err.detail}") from err
    click.echo(_line(view))
    if view["status"] == "approved":
        click.echo("approved; the gateway runs the call on its next sweep (is it running?)")
    elif view["status"] == "executed":
        click.echo("result: " + json.dumps(view.get("result")))
    elif view["status"] == "failed":
        click.echo("failed: " + json.dumps(view.get("error")))


def _decision_options(fn: Any) -> Any:
    for option in reversed(
        [
            click.argument("approval_id"),
            tenant_required,
            click.option("--as", "who", required=True, help="The approver deciding, e.g. human:rita (needs the approver role)."),
            click.option("--reason", required=True, help="Why; kept on the call's record."),
            click.option("--request-hash", default=None, help="The request hash you reviewed; refused if it changed."),
            click.option("--wait", type=float, default=10.0, show_default=True, help="Seconds to wait for the outcome."),
            data_dir_option,
        ]
    ):
        fn = option(fn)
    return fn


@approvals.command("approve")
@_decision_options
def approvals_approve(
    approval_id: str, tenant_id: str, who: str, reason: str, request_hash: str | None, wait: float, data_dir: Path | None
) -> None:
    """Approve APPROVAL_ID as an approver; once enough approvers agree, the gateway runs the call."""
    _decide(approval_id, tenant_id, who, reason, request_hash, wait, data_dir, approve=True)


@approvals.command("reject")
@_decision_options
def approvals_reject(
    approval_id: str, tenant_id: str, who: str, reason: str, request_hash: str | None, wait: float, data_dir: Path | None
) -> None:
    """Reject APPROVAL_ID: the call ends without running."""
    _decide(approval_id, tenant_id, who, reason, request_hash, 0, data_dir, approve=False)
