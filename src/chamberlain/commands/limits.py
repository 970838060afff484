"""``chamberlain limits``: a tenant's rates and quotas, declared and overridden."""

from __future__ import annotations

from pathlib import Path

import click

from ..app import Runtime
from ..limits import Rate
from ..tenants import tenant_exists
from ._shared import _settings, _usage_error, _with_runtime, data_dir_option, load_surface
from ._shared import surface_option as shared_surface_option

surface_option = shared_surface_option("MODULE:SURFACE whose actions are limited.")
tenant_required = click.option("--tenant", "tenant_id", required=True, help="Tenant whose limits these are.")


@click.group()
def limits() -> None:
    """Show and override the rates and quotas actions declare, per tenant."""


@limits.command("show")
@tenant_required
@surface_option
@data_dir_option
def limits_show(tenant_id: str, target: str, data_dir: Path | None) -> None:
    """Each limited action's rate and quota in TENANT: declared, or overridden."""
    surface = load_surface(target)
    overrides = _with_runtime(_settings(data_dir), lambda rt: rt.gateway.tenant_limits.of(tenant_id))
    for action in surface:
        override = overrides.get(action.name)
        rate = (override.rate if override and override.rate else None) or action.rate
        quota = (override.quota if override and override.quota else None) or action.quota
        if rate or quota:
            source = "overridden" if override else "declared"
            click.echo(f"{action.name}  rate {rate or '-'}  quota {quota or '-'}  ({source})")


@limits.command("set")
@click.argument("action")
@tenant_required
@click.option("--rate", default=None, help="e.g. 10/minute (N/second|minute|hour|day).")
@click.option("--quota", default=None, help="e.g. 500/day.")
@click.option("--as", "operator", default="operator:cli", show_default=True, help="Who makes the change (kept with it).")
@surface_option
@data_dir_option
def limits_set(
    action: str, tenant_id: str, rate: str | None, quota: str | None, operator: str, target: str, data_dir: Path | None
) -> None:
    """Override ACTION's rate and/or quota in TENANT (what is not given stays declared)."""
    if load_surface(target).get(action) is None:
        raise click.UsageError(f"{target} has no action {action!r}")
    if rate is None and quota is None:
        raise click.UsageError("give --rate, --quota or both")
    try:
        parsed = (Rate.parse(rate) if rate else None, Rate.parse(quota) if quota else None)
    except ValueError as err:
        raise _usage_error(err) from err

    async def run(rt: Runtime) -> None:
        if not await tenant_exists(rt.store, tenant_id):
            raise click.ClickException(f"no tenant {tenant_id!r}")
        await rt.gateway.tenant_limits.set(tenant_id, action, *parsed, by=operator)

    _with_runtime(_settings(data_dir), run)
    click.echo(f"{action} in {tenant_id}: rate {parsed[0] or 'as declared'}, quota {parsed[1] or 'as declared'}")


@limits.command("clear")
@click.argument("action")
@tenant_required
@data_dir_option
def limits_clear(action: str, tenant_id: str, data_dir: Path | None) -> None:
    """Back to ACTION's declared limits in TENANT."""
    cleared = _with_runtime(_settings(data_dir), lambda rt: rt.gateway.tenant_limits.clear(tenant_id, action))
    click.echo(f"{action} in {tenant_id}: {'back to' if cleared else 'already at'} its declared limits")
