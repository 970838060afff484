"""``chamberlain check`` and ``chamberlain cluster``: the services a gateway depends on,
checked before traffic, and several gateways on them at once on one machine."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import click

from ..app import Runtime
from ..config import Settings
from ..health import Check, probe_nats, readiness
from ..limits import RedisLimiter
from ..store import TenantRouter, make_store
from ._shared import DEMO_SURFACE, _settings, _usage_error, _with_runtime, data_dir_option


@click.command("check")
@data_dir_option
def check(data_dir: Path | None) -> None:
    """Check that the configured services answer and the schema is current; exit 1 if not.

    Changes nothing (it does not migrate): what a deploy step or an operator runs before
    sending traffic, the same checks as GET /readyz.
    """
    settings = _settings(data_dir)

    async def run() -> list[Check]:
        store = make_store(settings.store_url, tenant_databases=settings.tenant_databases)
        if isinstance(store, TenantRouter):
            store.migrates = False  # a check changes nothing: a silo not migrated yet is reported
        limiter = RedisLimiter(settings.redis_url, prefix=settings.redis_prefix + "rate:") if settings.redis_url else None
        await store.open()
        try:
            checks = await readiness(store, limiter)
            if settings.nats_url:
                checks.append(await probe_nats(settings.nats_url, settings.nats_prefix))
            return checks
        finally:
            await store.close()
            if limiter is not None:
                await limiter.close()

    checks = asyncio.run(run())
    for c in checks:
        click.echo(f"{'ok  ' if c.ok else 'FAIL'}  {c.name:<9} {c.detail}  ({c.ms:.0f} ms)")
    if not all(c.ok for c in checks):
        raise SystemExit(1)


@click.command("cluster")
@click.argument("target", default="chamberlain.demo:shop")
@click.option("--processes", type=int, default=3, show_default=True, help="How many gateway processes.")
@click.option("--base-port", type=int, default=8100, show_default=True, help="The first one's port; the others follow.")
@click.option("--database-url", envvar="CHAMBERLAIN_DATABASE_URL", required=True, help="The PostgreSQL database they share.")
@click.option(
    "--redis-url",
    envvar="CHAMBERLAIN_REDIS_URL",
    default="redis://127.0.0.1:6379/0",
    show_default=True,
    help="The Redis they count rate limits in.",
)
@click.option(
    "--nats-url",
    envvar="CHAMBERLAIN_NATS_URL",
    default="nats://127.0.0.1:4222",
    show_default=True,
    help="The NATS JetStream that pushes events between them.",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=Path("chamberlain-cluster"),
    show_default=True,
    help="Folder for the shared master key and each process's log.",
)
def cluster(
    target: str, processes: int, base_port: int, database_url: str, redis_url: str, nats_url: str, data_dir: Path
) -> None:
    """Run TARGET (the demo shop by default) as a local cluster: several gateway processes on
    loopback sharing one PostgreSQL database, one Redis and one NATS, for development and failure drills."""
    from ..cluster import Cluster
    from ..demo import seed

    try:
        group = Cluster(target, data_dir, database_url, redis_url, nats_url, base_port=base_port, size=processes)
    except ValueError as err:
        raise _usage_error(err) from err
    settings = replace(Settings.from_env(data_dir=data_dir), database_url=database_url, redis_url=redis_url)
    tokens: list[tuple[str, str]] = []
    if target == DEMO_SURFACE:
        from ..demo import shop

        async def prepare(rt: Runtime) -> None:
            tokens.extend((t.id, t.grant.token) for t in await seed(rt))

        _with_runtime(settings, prepare, shop)
    try:
        for member in group.start():
            click.echo(f"  gateway pid {member.process.pid:<7} {member.url}  (log: {data_dir}/gateway-{member.port}.log)")
        for tenant, token in tokens:
            click.echo(f"\nTenant {tenant}: a grant for agent:support-bot\n  {token}")
        click.echo("\nKill one (kill -9 PID) and the others go on. Press Ctrl+C to stop them all.")
        while all(m.alive() or m.process.returncode == -9 for m in group.members):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        group.stop()
