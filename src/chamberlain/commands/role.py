"""``chamberlain role``: who holds a role (approver) in a tenant."""

from __future__ import annotations

from pathlib import Path

import click

from ..app import Runtime
from ..approvals import ROLES
from ..grants import Principal
from ..tenants import tenant_exists
from ._shared import _settings, _usage_error, _with_runtime, data_dir_option

role_choice = click.option("--role", default="approver", show_default=True, type=click.Choice(ROLES))


@click.group()
def role() -> None:
    """Give and take tenant roles (approvers decide parked calls)."""


def _principal(text: str) -> str:
    try:
        return Principal.parse(text if ":" in text else f"human:{text}").id
    except ValueError as err:
        raise _usage_error(err) from err


@role.command("add")
@click.argument("tenant_id")
@click.argument("principal")
@role_choice
@data_dir_option
def role_add(tenant_id: str, principal: str, role: str, data_dir: Path | None) -> None:
    """Give PRINCIPAL (e.g. human:rita) ROLE in TENANT_ID."""
    who = _principal(principal)

    async def run(rt: Runtime) -> bool:
        if not await tenant_exists(rt.store, tenant_id):
            raise click.ClickException(f"no tenant {tenant_id!r}")
        return await rt.roles.add(tenant_id, who, role)

    added = _with_runtime(_settings(data_dir), run)
    click.echo(f"{who} {'is now' if added else 'already was'} {role} in {tenant_id}")


@role.command("remove")
@click.argument("tenant_id")
@click.argument("principal")
@role_choice
@data_dir_option
def role_remove(tenant_id: str, principal: str, role: str, data_dir: Path | None) -> None:
    """Take ROLE from PRINCIPAL in TENANT_ID."""
    who = _principal(principal)
    removed = _with_runtime(_settings(data_dir), lambda rt: rt.roles.remove(tenant_id, who, role))
    click.echo(f"{who} {'is no longer' if removed else 'was not'} {role} in {tenant_id}")


@role.command("list")
@click.argument("tenant_id")
@data_dir_option
def role_list(tenant_id: str, data_dir: Path | None) -> None:
    """List role holders of TENANT_ID."""
    for row in _with_runtime(_settings(data_dir), lambda rt: rt.roles.holders(tenant_id)):
        click.echo(f"{row['role']}\t{row['principal']}\t{row['granted_at']}")
