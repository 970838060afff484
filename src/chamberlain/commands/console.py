"""``chamberlain console``: the people who may log in to the web console.

A console user belongs to one tenant and acts as a ``human:`` principal. Deciding
approvals also needs the approver role (``chamberlain role add``); issuing and revoking
grants and reading policies needs ``--admin``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..store import DuplicateKey
from ._shared import _settings, _usage_error, _with_runtime, data_dir_option


@click.group()
def console() -> None:
    """Manage who may log in to the web console (/console/)."""


@console.command("add-user")
@click.option("--tenant", "tenant_id", required=True, help="The tenant this person supervises.")
@click.option("--username", required=True, help="What they type to log in.")
@click.option("--principal", required=True, help="Who they are in records and approvals, e.g. human:rita.")
@click.option("--admin", is_flag=True, help="May also issue and revoke grants and read policies.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of asking.")
@data_dir_option
def add_user(tenant_id: str, username: str, principal: str, admin: bool, password_stdin: bool, data_dir: Path | None) -> None:
    """Add a person who can log in (asks for a password of at least 12 characters)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        _with_runtime(_settings(data_dir), lambda rt: rt.people.add(tenant_id, username, principal, password, admin=admin))
    except (ValueError, DuplicateKey) as err:
        raise _usage_error(
            err if isinstance(err, ValueError) else ValueError(f"{username} already exists in {tenant_id}")
        ) from err
    click.echo(f"{username} ({principal}) can log in to tenant {tenant_id}{' as an admin' if admin else ''}")


@console.command("disable-user")
@click.option("--tenant", "tenant_id", required=True)
@click.option("--username", required=True)
@data_dir_option
def disable_user(tenant_id: str, username: str, data_dir: Path | None) -> None:
    """Stop a person from logging in; their open sessions end at their next request."""
    if not _with_runtime(_settings(data_dir), lambda rt: rt.people.disable(tenant_id, username)):
        raise _usage_error(ValueError(f"no user {username} in {tenant_id}"))
    click.echo(f"{username} can no longer log in to {tenant_id}")
