"""``chamberlain webhooks``: an operator's view of a tenant's endpoints and deliveries.

Reading only. Registering, removing and replaying are governed actions
(``webhooks.register``, ``webhooks.remove``, ``webhooks.replay``) that an agent or a
person calls with a grant, so they are authorized, policy-checked and audited like
any other change; this command is for looking at what happened.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..webhooks import STATUSES
from ._shared import _settings, _with_runtime, data_dir_option

tenant_required = click.option("--tenant", "tenant_id", required=True, help="Tenant of the webhooks.")


@click.group()
def webhooks() -> None:
    """Look at webhook endpoints and their deliveries (dead letters included)."""


@webhooks.command("list")
@tenant_required
@click.option("--removed", is_flag=True, help="Include removed endpoints.")
@data_dir_option
def webhooks_list(tenant_id: str, removed: bool, data_dir: Path | None) -> None:
    """List endpoints: id, URL and the event types each receives."""
    rows = _with_runtime(_settings(data_dir), lambda rt: rt.webhooks.endpoints(tenant_id, include_removed=removed))
    if not rows:
        click.echo("no webhook endpoints")
    for row in rows:
        gone = f"  removed {row['removed_at'][:19]}" if row["removed_at"] else ""
        click.echo(f"{row['id']}  {row['url']}  {','.join(row['types'])}{gone}")


@webhooks.command("deliveries")
@tenant_required
@click.option("--endpoint", "endpoint_id", default=None, help="Only this endpoint's.")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only this status (dead: the dead letters).")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@data_dir_option
def webhooks_deliveries(tenant_id: str, endpoint_id: str | None, status: str | None, limit: int, data_dir: Path | None) -> None:
    """List deliveries, newest first."""
    rows = _with_runtime(
        _settings(data_dir),
        lambda rt: rt.webhooks.deliveries(tenant_id, endpoint_id=endpoint_id, status=status, limit=limit),
    )
    if not rows:
        click.echo("no deliveries")
    for d in rows:
        last = d["last_error"] or (f"HTTP {d['last_status']}" if d["last_status"] else "")
        click.echo(f"{d['id']}  {d['status']:<9}  {d['event_type']}  {d['event_id']}  tries {d['attempts']}  {last}")


@webhooks.command("show")
@click.argument("delivery_id")
@tenant_required
@data_dir_option
def webhooks_show(delivery_id: str, tenant_id: str, data_dir: Path | None) -> None:
    """Print one delivery as JSON, with every attempt made."""
    try:
        view = _with_runtime(_settings(data_dir), lambda rt: rt.webhooks.delivery(tenant_id, delivery_id))
    except LookupError as err:
        raise click.ClickException(f"no delivery {delivery_id} in tenant {tenant_id}") from err
    click.echo(json.dumps(view, indent=2))
