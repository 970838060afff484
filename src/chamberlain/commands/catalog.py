"""``chamberlain catalog export``: a tenant's feed as a file, for uploading to an agent
platform (the same bytes the store serves at ``/stores/<tenant>/feeds/<format>``).

Changing the catalog is not here: ``catalog.products.put`` and ``catalog.settings.put``
are governed actions, called with a grant, so every change is authorized and audited.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..app import Runtime
from ..commerce import NoStorefront
from ..commerce._feeds import FEED_FORMATS
from ..store import tenant_scope
from ._shared import _settings, _usage_error, _with_runtime, data_dir_option


@click.group()
def catalog() -> None:
    """Export a tenant's catalog in the formats shopping agents read."""


@catalog.command("export")
@click.option("--tenant", "tenant_id", required=True, help="Whose catalog.")
@click.option("--format", "format_name", type=click.Choice(sorted(FEED_FORMATS)), required=True, help="Feed format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None, help="File (default: stdout).")
@data_dir_option
def catalog_export(tenant_id: str, format_name: str, output: Path | None, data_dir: Path | None) -> None:
    """Write the public feed: acp (ACP JSONL), flat (OpenAI TSV) or jsonld (JSON-LD lines)."""

    async def render(rt: Runtime) -> bytes:
        with tenant_scope(tenant_id):
            return await rt.commerce.feed(await rt.commerce.storefront(tenant_id), format_name)

    try:
        body = _with_runtime(_settings(data_dir), render)
    except NoStorefront as err:
        raise _usage_error(err) from err
    if output is None:
        sys.stdout.buffer.write(body)
    else:
        output.write_bytes(body)
        click.echo(f"wrote {FEED_FORMATS[format_name].name} feed of {tenant_id} to {output} ({len(body)} bytes)", err=True)
