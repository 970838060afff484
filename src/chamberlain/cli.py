"""``chamberlain``: run a gateway, the demo, and manage tenants and grants.

Every command works on the same store the gateway uses (``--data-dir`` or
``CHAMBERLAIN_DATA_DIR``), so a grant issued here is valid on the server.
"""

from __future__ import annotations

import json
import secrets
import shutil
from dataclasses import replace
from pathlib import Path

import click

from . import __version__
from .app import Runtime
from .commands import approvals, audit, catalog, check, claims, cluster, console, limits, policy, proxy, revert, role, webhooks
from .commands._shared import _names, _settings, _usage_error, _with_runtime, data_dir_option, load_surface
from .config import Settings
from .errors import ChamberlainError
from .serving import serve as serve_runtime
from .store import each_database
from .timeutil import parse_duration

DEMO_MARKER = ".chamberlain-demo"


@click.group()
@click.version_option(__version__, prog_name="chamberlain")
def main() -> None:
    """Chamberlain: the governed front door between AI agents and your business."""


@main.command()
@click.argument("target")
@data_dir_option
@click.option("--host", default=None, help="Interface to listen on [default: 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port to listen on [default: 8000].")
@click.option(
    "--anonymous-grant",
    envvar="CHAMBERLAIN_ANONYMOUS_GRANT",
    default=None,
    help="Grant used for requests that present none (for public surfaces). It still passes every stage.",
)
def serve(target: str, data_dir: Path | None, host: str | None, port: int | None, anonymous_grant: str | None) -> None:
    """Serve the actions of TARGET (MODULE:SURFACE) over MCP and REST."""
    settings = _settings(data_dir, host=host, port=port)
    declared = load_surface(target)
    runtime = Runtime(declared, settings, anonymous_grant=anonymous_grant)

    async def banner(rt: Runtime) -> None:
        base = f"http://{settings.host}:{settings.port}"
        count = len(declared)
        click.echo(
            f"Chamberlain serving {count} action{'s' if count != 1 else ''} of {declared.name!r} "
            "(plus the gateway's own grant, policy and webhook actions)"
        )
        click.echo(f"  MCP   {base}/mcp\n  REST  {base}/v1/actions\n  API   {base}/openapi.json")

    serve_runtime(runtime, banner)


@main.command()
@click.option("--port", type=int, default=8000, show_default=True, help="Port for the gateway.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=Path("chamberlain-demo"),
    show_default=True,
    help="Data folder; a previous demo folder here is replaced by a fresh one.",
)
def demo(port: int, host: str, data_dir: Path) -> None:
    """Run the demo shop (two tenants) on SQLite and print a grant per tenant."""
    from .demo import APPROVER, seed, shop

    if data_dir.exists():
        if not (data_dir / DEMO_MARKER).exists():
            raise click.UsageError(f"{data_dir} exists and is not a demo folder; choose another --data-dir")
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    (data_dir / DEMO_MARKER).write_text("created by chamberlain demo; safe to delete\n")
    # The demo always uses its own fresh folder, whatever CHAMBERLAIN_DATABASE_URL says.
    settings = replace(Settings.from_env(data_dir=data_dir, host=host, port=port), database_url=None)
    # The root discovery documents (/.well-known/acp.json, agent-card.json, /llms.txt) describe the first shop.
    settings = replace(settings, store_tenant=settings.store_tenant or "acme-shop")
    runtime = Runtime(shop, settings)

    async def banner(rt: Runtime) -> None:
        tenants = await seed(rt)
        if rt.settings.policy_dir is not None:
            await rt.load_policy_dir()  # the tenants exist only now
        password = secrets.token_urlsafe(12)  # a fresh folder each run: a fresh password
        await rt.people.add(tenants[0].id, "rita", APPROVER, password, admin=True)
        base = f"http://{host}:{port}"
        click.echo(click.style("Chamberlain demo shop", bold=True) + f"  (data in {data_dir.resolve()})\n")
        click.echo(f"  MCP (Streamable HTTP)  {base}/mcp")
        click.echo(f"  REST actions           {base}/v1/actions")
        click.echo(f"  OpenAPI 3.1            {base}/openapi.json")
        click.echo(f"  Console                {base}/console/  tenant {tenants[0].id}, user rita, password {password}")
        click.echo(f"  For shopping agents    {base}/llms.txt, {base}/stores/{tenants[0].id}/feeds/acp\n")
        for t in tenants:
            click.echo(click.style(f"Tenant {t.id} ({t.name})", bold=True))
            click.echo(
                f"  grant for {t.grant.principal.id} on behalf of {t.grant.principal.on_behalf_of}, "
                f"actions {', '.join(t.grant.actions)}, expires {t.grant.expires_at.isoformat()}:"
            )
            click.echo(f"  {t.grant.token}\n")
        first = tenants[0].grant.token
        click.echo("Try it:")
        click.echo(f"  export GRANT={first}")
        click.echo(f'  curl -s {base}/v1/actions -H "Authorization: Bearer $GRANT"')
        click.echo(f'  curl -s -X POST {base}/v1/actions/orders.refund -H "Authorization: Bearer $GRANT" \\')
        click.echo("       -H 'Content-Type: application/json' -H 'Idempotency-Key: refund-o1001-a' \\")
        click.echo(
            '       -d \'{"order_id": "o_1001", "amount": {"amount_minor": 500, "currency": "EUR"}, "reason": "damaged"}\''
        )
        click.echo("\nFollow the tenant's events live (refunds, approvals), in another terminal:")
        click.echo(f'  curl -N {base}/v1/events -H "Authorization: Bearer $GRANT"')
        folder = f" --data-dir {data_dir}"
        click.echo(f"\nRefunds over 100.00 wait for a human; {APPROVER} holds the approver role:")
        click.echo(f"  chamberlain approvals list --tenant {tenants[0].id}{folder}")
        click.echo(
            f"  chamberlain approvals approve APPROVAL_ID --tenant {tenants[0].id} --as {APPROVER} --reason 'checked'{folder}"
        )
        click.echo("\nEvery call is in the tenant's tamper-evident log; export it and verify it offline:")
        click.echo(f"  chamberlain audit key --tenant {tenants[0].id}{folder} > {tenants[0].id}.pub")
        click.echo(f"  chamberlain audit export --tenant {tenants[0].id} --out audit-export{folder}")
        click.echo(f"  chamberlain audit verify audit-export --key {tenants[0].id}.pub")
        click.echo("\nPress Ctrl+C to stop.")

    serve_runtime(runtime, banner)


@main.group()
def tenant() -> None:
    """Create and list tenants."""


@tenant.command("create")
@click.argument("tenant_id")
@click.option("--name", default=None, help="Display name [default: the id].")
@data_dir_option
def tenant_create(tenant_id: str, name: str | None, data_dir: Path | None) -> None:
    """Create TENANT_ID with its own grant-signing key."""
    from .tenants import create_tenant

    async def run(rt: Runtime) -> None:
        await create_tenant(rt.store, rt.keys, tenant_id, name or tenant_id)

    try:
        _with_runtime(_settings(data_dir), run)
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"created tenant {tenant_id}")


@tenant.command("list")
@data_dir_option
def tenant_list(data_dir: Path | None) -> None:
    """List tenants."""
    from .tenants import list_tenants

    async def run(rt: Runtime) -> list[dict[str, str]]:
        return await list_tenants(rt.store)

    for row in _with_runtime(_settings(data_dir), run):
        click.echo(f"{row['id']}\t{row['name']}\t{row['created_at']}")


@tenant.command("rotate-key")
@click.argument("tenant_id")
@data_dir_option
def tenant_rotate_key(tenant_id: str, data_dir: Path | None) -> None:
    """Start signing TENANT_ID's grants with a new key; grants from older keys verify until retired."""
    try:
        kid = _with_runtime(_settings(data_dir), lambda rt: rt.authority.rotate_key(tenant_id))
    except Exception as err:  # an unknown tenant breaks the foreign key
        raise click.ClickException(f"cannot rotate the key of tenant {tenant_id!r}") from err
    click.echo(f"tenant {tenant_id} now signs with key {kid}")


@tenant.command("retire-key")
@click.argument("tenant_id")
@click.argument("kid", type=int)
@click.option("--reason", default="key retired", show_default=True)
@data_dir_option
def tenant_retire_key(tenant_id: str, kid: int, reason: str, data_dir: Path | None) -> None:
    """Retire key KID: every grant it signed is refused from the next call on."""
    try:
        _with_runtime(_settings(data_dir), lambda rt: rt.authority.retire_key(tenant_id, kid, reason))
    except LookupError as err:
        raise _usage_error(err) from err
    click.echo(f"retired key {kid} of tenant {tenant_id}")


@main.group()
def grant() -> None:
    """Issue grants (capability tokens) for agents."""


@grant.command("issue")
@click.option("--tenant", "tenant_id", required=True, help="Tenant the grant is bound to.")
@click.option("--principal", required=True, help="Who holds it, e.g. agent:support-bot.")
@click.option("--actions", required=True, help="Comma-separated names or globs, e.g. 'orders.*,customers.get'.")
@click.option("--ttl", default="1h", show_default=True, help="Lifetime: 90s, 15m, 1h, 7d.")
@click.option("--on-behalf-of", default=None, help="Whom the principal acts for, e.g. user:alice.")
@click.option(
    "--constraint",
    "constraints",
    multiple=True,
    help="Limit arguments, e.g. 'orders.refund: amount.amount_minor <= 5000' (repeatable).",
)
@click.option("--uses", "max_uses", type=int, default=None, help="Allow at most this many calls (1 = single use).")
@click.option("--json", "as_json", is_flag=True, help="Print id, expiry and token as JSON.")
@data_dir_option
def grant_issue(
    tenant_id: str,
    principal: str,
    actions: str,
    ttl: str,
    on_behalf_of: str | None,
    constraints: tuple[str, ...],
    max_uses: int | None,
    as_json: bool,
    data_dir: Path | None,
) -> None:
    """Print a new grant for PRINCIPAL in TENANT."""
    try:
        lifetime = parse_duration(ttl)
        names = _names(actions)
        issued = _with_runtime(
            _settings(data_dir),
            lambda rt: rt.authority.issue(
                tenant_id, principal, names, lifetime, on_behalf_of=on_behalf_of, constraints=constraints, max_uses=max_uses
            ),
        )
    except (ValueError, LookupError) as err:
        raise _usage_error(err) from err
    if as_json:
        click.echo(
            json.dumps(
                {
                    "id": issued.id,
                    "tenant": issued.tenant,
                    "principal": issued.principal.id,
                    "on_behalf_of": issued.principal.on_behalf_of,
                    "actions": list(issued.actions),
                    "constraints": list(constraints),
                    "expires_at": issued.expires_at.isoformat(),
                    "token": issued.token,
                }
            )
        )
    else:
        click.echo(issued.token)


@grant.command("attenuate")
@click.argument("token")
@click.option("--actions", default=None, help="Keep only these (comma-separated names or globs).")
@click.option("--ttl", default=None, help="End sooner: 90s, 15m, 1h.")
@click.option("--to", "delegate_to", default=None, help="The sub-agent receiving it, e.g. agent:researcher.")
@click.option("--constraint", "constraints", multiple=True, help="Add an argument constraint (repeatable).")
@click.option(
    "--public-key",
    default=None,
    envvar="CHAMBERLAIN_PUBLIC_KEY",
    help="The tenant's public key (hex, from GET /v1/tenants/{tenant}/keys); else read from --data-dir.",
)
@data_dir_option
def grant_attenuate(
    token: str,
    actions: str | None,
    ttl: str | None,
    delegate_to: str | None,
    constraints: tuple[str, ...],
    public_key: str | None,
    data_dir: Path | None,
) -> None:
    """Print a narrower grant derived from TOKEN, offline: it can only allow less."""
    from .grants import attenuate

    try:
        key = public_key or _with_runtime(_settings(data_dir), lambda rt: _public_key_for(rt, token))
        narrowed = attenuate(
            token,
            key,
            actions=_names(actions) if actions else None,
            ttl=parse_duration(ttl) if ttl else None,
            delegate_to=delegate_to,
            constraints=constraints,
        )
    except (ValueError, LookupError) as err:
        raise _usage_error(err) from err
    click.echo(narrowed)


async def _public_key_for(rt: Runtime, token: str) -> str:
    try:
        key = await rt.authority.key_of(token)
    except ChamberlainError as err:
        raise LookupError(f"{err.detail} (no key in this data folder signed it; pass --public-key?)") from err
    return bytes(key.public_key.to_bytes()).hex()


@grant.command("revoke")
@click.argument("grant_id", required=False)
@click.option("--tenant", "tenant_id", default=None, help="Tenant of GRANT_ID.")
@click.option("--token", default=None, help="Revoke this token (and what was derived from it) instead of a grant id.")
@click.option("--reason", default="revoked by operator", show_default=True, help="Why; kept with the revocation.")
@data_dir_option
def grant_revoke(grant_id: str | None, tenant_id: str | None, token: str | None, reason: str, data_dir: Path | None) -> None:
    """Revoke GRANT_ID (with every grant derived from it) or one --token; refused from the next call on."""
    if bool(grant_id) == bool(token) or (grant_id and not tenant_id):
        raise click.UsageError("give GRANT_ID with --tenant, or --token")

    async def run(rt: Runtime) -> str:
        if token:
            return (await rt.authority.revoke_token(token, reason)).id
        await rt.authority.revoke(tenant_id or "", grant_id or "", reason)
        return grant_id or ""

    try:
        revoked = _with_runtime(_settings(data_dir), run)
    except (LookupError, ChamberlainError) as err:
        raise _usage_error(err) from err
    click.echo(f"revoked {revoked}")


@main.group()
def client() -> None:
    """OAuth clients that exchange credentials for grants at /oauth/token."""


@client.command("register")
@click.option("--tenant", "tenant_id", required=True, help="Tenant the client's grants are bound to.")
@click.option("--principal", required=True, help="Who its grants name, e.g. agent:support-bot.")
@click.option("--actions", required=True, help="Comma-separated names or globs its grants allow.")
@click.option("--constraint", "constraints", multiple=True, help="Argument constraint for its grants (repeatable).")
@click.option("--ttl", default="1h", show_default=True, help="Lifetime of each grant it obtains.")
@data_dir_option
def client_register(
    tenant_id: str, principal: str, actions: str, constraints: tuple[str, ...], ttl: str, data_dir: Path | None
) -> None:
    """Register a client; prints its id and secret (shown once)."""
    try:
        names = _names(actions)
        lifetime = parse_duration(ttl)
        registered = _with_runtime(
            _settings(data_dir), lambda rt: rt.clients.register(tenant_id, principal, names, lifetime, list(constraints))
        )
    except (ValueError, LookupError) as err:
        raise _usage_error(err) from err
    except Exception as err:  # an unknown tenant breaks the foreign key
        raise click.ClickException(f"cannot register a client in tenant {tenant_id!r}") from err
    click.echo(json.dumps({"client_id": registered.client_id, "client_secret": registered.secret, "tenant": tenant_id}))


@main.group()
def call() -> None:
    """Read call records."""


@call.command("show")
@click.argument("call_id")
@click.option("--tenant", "tenant_id", required=True, help="Tenant the call belongs to.")
@data_dir_option
def call_show(call_id: str, tenant_id: str, data_dir: Path | None) -> None:
    """Print the record of CALL_ID as JSON."""
    from .pipeline import read_record

    record = _with_runtime(_settings(data_dir), lambda rt: read_record(rt.store, tenant_id, call_id))
    if record is None:
        raise click.ClickException(f"no call {call_id} in tenant {tenant_id}")
    click.echo(json.dumps(record, indent=2))


@main.group()
def db() -> None:
    """Database schema management."""


@db.command("upgrade")
@data_dir_option
def db_upgrade(data_dir: Path | None) -> None:
    """Bring the database to the newest schema (Alembic)."""

    async def run(rt: Runtime) -> list[str | None]:
        return [database.schema_revision() for database in await each_database(rt.store)]  # silos migrate as they open

    home, *silos = _with_runtime(_settings(data_dir), run)
    click.echo(f"database at revision {home}")
    if silos:
        click.echo(f"{len(silos)} tenant database(s) at revision {', '.join(sorted({str(r) for r in silos}))}")


main.add_command(policy)
main.add_command(role)
main.add_command(approvals)
main.add_command(audit)
main.add_command(webhooks)
main.add_command(limits)
main.add_command(revert)
main.add_command(check)
main.add_command(cluster)
main.add_command(claims)
main.add_command(catalog)
main.add_command(console)
main.add_command(proxy)

if __name__ == "__main__":
    main()
