"""``chamberlain policy``: show, load, test and explain a tenant's Cedar policies."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import click

from ..actions import Surface
from ..app import Runtime, served_surface
from ..errors import PolicyInvalid
from ..grants import GrantAuthority
from ..policy import (
    Case,
    PolicyBook,
    PolicyEngine,
    PolicySet,
    cedar_schema,
    check,
    compile_policies,
    default_files,
    explain,
    load_cases,
    read_policy_files,
)
from ..webhooks import Webhooks
from ._shared import _settings, _with_runtime, data_dir_option, load_surface
from ._shared import surface_option as shared_surface_option

surface_option = shared_surface_option("MODULE:SURFACE whose actions the policies are validated against.")
policies_option = click.option(
    "--policies",
    "paths",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Policy files or folders of *.cedar to use instead of a tenant's (repeatable).",
)
tenant_option = click.option("--tenant", "tenant_id", default=None, help="Use this tenant's current policies.")


@click.group()
def policy() -> None:
    """Show, load, test and explain Cedar policies."""


def _served(target: str) -> Surface:
    return served_surface(load_surface(target), cast(GrantAuthority, None), lambda: cast(PolicyBook, None), cast(Webhooks, None))


def _policy_error(err: PolicyInvalid) -> click.ClickException:
    lines = [err.detail] + [
        f"  {e.get('file', '?')}{' ' + e['policy'] if 'policy' in e else ''}: {e['error']}" for e in err.extra.get("errors", [])
    ]
    return click.ClickException("\n".join(lines))


def _policies(target: str, paths: tuple[Path, ...], tenant_id: str | None, data_dir: Path | None) -> tuple[Surface, PolicySet]:
    """The policies to judge with: files given, else the tenant's current set, else the default."""
    surface = _served(target)
    try:
        if paths:
            return surface, compile_policies(read_policy_files(list(paths)), surface)
        if tenant_id is None:
            return surface, compile_policies(default_files(_settings(data_dir).approval_threshold_minor), surface)
        return surface, _with_runtime(_settings(data_dir), lambda rt: rt.policies.current(tenant_id), load_surface(target))
    except PolicyInvalid as err:
        raise _policy_error(err) from err


@policy.command("show")
@click.option("--tenant", "tenant_id", required=True, help="Tenant whose policies to print.")
@surface_option
@data_dir_option
def policy_show(tenant_id: str, target: str, data_dir: Path | None) -> None:
    """Print the tenant's current policy files, with their version."""
    _, current = _policies(target, (), tenant_id, data_dir)
    click.echo(f"// tenant {tenant_id}, policy version {current.version}{' (the default set)' if current.version == 0 else ''}")
    for name, text in sorted(current.files.items()):
        click.echo(f"// ---- {name}\n{text.rstrip()}\n")


@policy.command("history")
@click.option("--tenant", "tenant_id", required=True)
@data_dir_option
def policy_history(tenant_id: str, data_dir: Path | None) -> None:
    """List the tenant's policy versions, newest first."""

    async def run(rt: Runtime) -> list[dict[str, Any]]:
        return await rt.policies.history(tenant_id)

    rows = _with_runtime(_settings(data_dir), run)
    if not rows:
        click.echo(f"tenant {tenant_id} runs on the default policies (version 0)")
    for row in rows:
        click.echo(f"v{row['version']}\t{row['created_at']}\t{row['author']}\t{row['digest'][:19]}\t{row['comment']}")


@policy.command("load")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--tenant", "tenant_id", required=True, help="Tenant to publish the policies for.")
@click.option("--author", default="operator", show_default=True, help="Who made the change (kept with the version).")
@surface_option
@data_dir_option
def policy_load(paths: tuple[Path, ...], tenant_id: str, author: str, target: str, data_dir: Path | None) -> None:
    """Validate PATHS (*.cedar files or folders) and publish them as the tenant's next version.

    Running gateways pick the new version up within CHAMBERLAIN_POLICY_REFRESH_S."""

    async def run(rt: Runtime) -> PolicySet | None:
        return await rt.policies.load(tenant_id, list(paths), author=author)

    try:
        stored = _with_runtime(_settings(data_dir), run, load_surface(target))
    except PolicyInvalid as err:
        raise _policy_error(err) from err
    if stored is None:
        click.echo(f"tenant {tenant_id}: policies unchanged")
    else:
        click.echo(f"tenant {tenant_id}: published policy version {stored.version} ({len(stored.policies)} policies)")


@policy.command("schema")
@surface_option
def policy_schema(target: str) -> None:
    """Print the Cedar schema (JSON) generated from the declared actions."""
    click.echo(json.dumps(cedar_schema(_served(target)), indent=2))


@policy.command("test")
@click.argument("cases_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@policies_option
@tenant_option
@surface_option
@data_dir_option
def policy_test(cases_file: Path, paths: tuple[Path, ...], tenant_id: str | None, target: str, data_dir: Path | None) -> None:
    """Run the example requests in CASES_FILE (TOML) and check each decision; exits 1 on any failure."""
    surface, policies = _policies(target, paths, tenant_id, data_dir)
    try:
        cases = load_cases(cases_file, tenant_id or "tenant")
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    engine = PolicyEngine(surface)
    results = [check(engine, policies, case) for case in cases]
    for result in results:
        got = result.decision.effect if result.decision else "error"
        mark = click.style("PASS", fg="green") if result.passed else click.style("FAIL", fg="red")
        click.echo(f"{mark}  {result.case.name}  ({got})")
        for failure in result.failures:
            click.echo(f"      {failure}")
    failed = sum(1 for r in results if not r.passed)
    click.echo(f"\n{len(results) - failed} passed, {failed} failed (policy version {policies.version})")
    if failed:
        raise SystemExit(1)


@policy.command("explain")
@click.option("--principal", required=True, help="Acting principal, e.g. agent:support-bot.")
@click.option("--action", required=True, help="Action name, e.g. orders.refund.")
@click.option("--args", "arguments", default="{}", show_default=True, help="Arguments as JSON.")
@click.option("--on-behalf-of", default=None)
@click.option("--delegated", is_flag=True, help="As if reached through an attenuated grant.")
@click.option("--at", default=None, help="Time of the request (ISO 8601) [default: now].")
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
@policies_option
@tenant_option
@surface_option
@data_dir_option
def policy_explain(
    principal: str,
    action: str,
    arguments: str,
    on_behalf_of: str | None,
    delegated: bool,
    at: str | None,
    as_json: bool,
    paths: tuple[Path, ...],
    tenant_id: str | None,
    target: str,
    data_dir: Path | None,
) -> None:
    """Show which decision a request gets, which policies decided it, and what they saw."""
    surface, policies = _policies(target, paths, tenant_id, data_dir)
    try:
        case = Case(
            name="explain",
            principal=principal,
            action=action,
            arguments=json.loads(arguments),
            on_behalf_of=on_behalf_of,
            delegated=delegated,
            at=datetime.fromisoformat(at) if at else None,
            tenant=tenant_id or "tenant",
        )
        answer = explain(PolicyEngine(surface), policies, case)
    except (ValueError, json.JSONDecodeError) as err:
        raise click.ClickException(str(err)) from err
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    click.echo(f"{answer['decision'].upper()}: {answer['because']} (policy version {answer['policy_version']})")
    if answer["decision"] == "require_approval":
        click.echo(f"approvers required: {answer['approvers_required']}")
    for p in answer["policies"]:
        click.echo(f"\n  {p['id']}  ({p['file']})\n    " + p["text"].replace("\n", "\n    "))
    click.echo("\ncontext: " + json.dumps(answer["request"]["context"]))
    click.echo("principal: " + json.dumps(answer["principal"]))
