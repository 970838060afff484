"""``chamberlain proxy``: put an existing API or MCP server behind the gateway, and
review the tools of upstream MCP servers that changed since they were approved.

``proxy openapi`` reads a spec and shows the actions its operations become, with their
risk classes; with ``--config`` it also records the upstream in the proxy configuration
file that ``chamberlain serve`` reads (``CHAMBERLAIN_PROXY_CONFIG``). Credentials are
written as ``${VAR}`` references, never as values.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click

from ..proxy import HttpUpstream, OpenApiError, ProxyConfigError, ToolPins, load_proxy_config, openapi_actions
from ..store import make_store
from ._shared import _settings, data_dir_option

T = TypeVar("T")


@click.group()
def proxy() -> None:
    """Govern existing REST APIs (OpenAPI) and MCP servers."""


def _pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, item = value.partition("=")
        if not sep or not key or not item:
            raise click.BadParameter(f"{value!r}: expected KEY=VALUE", param_hint=what)
        out[key.strip()] = item.strip()
    return out


def _toml(value: object) -> str:
    """A TOML value: JSON's strings and arrays are TOML's; tables are written inline."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


@proxy.command("openapi")
@click.argument("spec", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--base-url", required=True, help="Where the upstream API is, e.g. https://billing.internal.")
@click.option("--name", required=True, help="The upstream's name: its actions are <name>.<operation>.")
@click.option("--include", multiple=True, help="Only these operations: operationId or 'METHOD /path' glob (repeatable).")
@click.option("--risk", multiple=True, help="Override a risk class: operationId=money (repeatable).")
@click.option("--undo", multiple=True, help="Declare a compensation: operationId=compensatingOperationId (repeatable).")
@click.option("--header", "headers", multiple=True, help="A credential header: Name=${ENV_VAR} (repeatable).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), help="Add the upstream to this file.")
def proxy_openapi(
    spec: Path,
    base_url: str,
    name: str,
    include: tuple[str, ...],
    risk: tuple[str, ...],
    undo: tuple[str, ...],
    headers: tuple[str, ...],
    config_file: Path | None,
) -> None:
    """Show the actions SPEC's operations become; with --config, serve them from now on."""
    header_map = _pairs(headers, "--header")
    if any("${" not in v for v in header_map.values()):
        raise click.BadParameter("give credentials as ${ENV_VAR} references, never their values", param_hint="--header")
    risks, undos = _pairs(risk, "--risk"), _pairs(undo, "--undo")
    try:
        upstream = HttpUpstream(name, base_url, headers={k: "" for k in header_map})
        actions = openapi_actions(spec, upstream, namespace=name, include=list(include) or None, risk=risks, undo=undos)
    except (OpenApiError, ValueError) as err:
        raise click.ClickException(str(err)) from err
    for action in actions:
        retried = "retried" if action.idempotent else "not retried"
        click.echo(f"{action.name:40} {action.risk:12} {retried:12} {action.title or ''}")
    if config_file is None:
        click.echo(f"\n{len(actions)} actions. Add --config FILE to serve them (CHAMBERLAIN_PROXY_CONFIG=FILE).")
        return
    entry = {"name": name, "spec": str(spec.resolve()), "base_url": base_url}
    lines = [f"{k} = {_toml(v)}" for k, v in entry.items()]
    for key, value in (("include", list(include)), ("headers", header_map), ("risk", risks), ("undo", undos)):
        if value:
            lines.append(f"{key} = {_toml(value)}")
    before = config_file.read_text(encoding="utf-8") if config_file.exists() else ""
    config_file.write_text(before + ("\n" if before else "") + "[[openapi]]\n" + "\n".join(lines) + "\n", encoding="utf-8")
    try:
        load_proxy_config(config_file, {k: "" for k in _env_names(header_map)})
    except ProxyConfigError as err:
        config_file.write_text(before, encoding="utf-8")  # leave the file as it was
        raise click.ClickException(str(err)) from err
    click.echo(f"\nadded {name} to {config_file}: run chamberlain serve with CHAMBERLAIN_PROXY_CONFIG={config_file}")


def _env_names(headers: dict[str, str]) -> set[str]:
    return {m for v in headers.values() for m in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", v)}


async def _with_pins(data_dir: Path | None, work: Callable[[ToolPins], Awaitable[T]]) -> T:
    """The pins in the gateway's store, without starting a gateway (no upstream is asked)."""
    settings = _settings(data_dir)
    store = make_store(settings.store_url, tenant_databases=settings.tenant_databases)
    store.migrate()
    await store.open()
    try:
        return await work(ToolPins(store))
    finally:
        await store.close()


@proxy.command("pending")
@click.argument("upstream", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the definitions side by side as JSON.")
@data_dir_option
def proxy_pending(upstream: str | None, as_json: bool, data_dir: Path | None) -> None:
    """Upstream MCP tools that changed (or appeared) since they were approved: not served until approved."""
    rows = asyncio.run(_with_pins(data_dir, lambda pins: pins.pending(upstream)))
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo("nothing waits for approval")
    for row in rows:
        click.echo(f"{row['upstream']}/{row['tool']}  {row['kind']}  pending {row['pending_hash']}")
    if rows:
        click.echo("\nreview with --json, then: chamberlain proxy approve UPSTREAM TOOL --hash PENDING_HASH --by human:you")


@proxy.command("approve")
@click.argument("upstream")
@click.argument("tool")
@click.option("--hash", "digest", required=True, help="The pending hash you reviewed (from proxy pending).")
@click.option("--by", required=True, help="Who approves, e.g. human:rita.")
@data_dir_option
def proxy_approve(upstream: str, tool: str, digest: str, by: str, data_dir: Path | None) -> None:
    """Approve a tool's new definition; a running gateway serves it from its next call (a new tool: after a restart)."""
    try:
        asyncio.run(_with_pins(data_dir, lambda pins: pins.approve(upstream, tool, by=by, digest=digest)))
    except (LookupError, ValueError) as err:
        raise click.ClickException(str(err).strip("'\"")) from err
    click.echo(f"approved {upstream}/{tool} ({digest}) by {by}")
