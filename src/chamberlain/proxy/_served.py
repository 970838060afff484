"""The upstreams one gateway governs, built from its proxy configuration file.

OpenAPI upstreams become actions when the gateway is built (reading a spec needs no
network); MCP upstreams are asked for their tools when it opens. Either way the actions
join the gateway's one surface, and from then on nothing distinguishes them from native
ones: grants, policy, approvals, limits, idempotency, audit, events and tracing apply.
"""

from __future__ import annotations

from ..actions import Action, Surface
from ..store import Store
from ._config import ProxyConfig
from ._mcp import mcp_actions
from ._mcp_client import McpUpstream
from ._openapi import openapi_actions
from ._pins import ToolPins
from ._upstream import HttpUpstream

__all__ = ["Proxies"]


class Proxies:
    def __init__(self, config: ProxyConfig | None) -> None:
        self.config = config or ProxyConfig()
        self.surface = Surface("chamberlain-proxy", description="Operations of the upstream APIs this gateway governs.")
        self.http: list[HttpUpstream] = []
        for entry in self.config.openapi:
            upstream = HttpUpstream(entry.name, entry.base_url, headers=entry.headers, policy=entry.policy)
            self.http.append(upstream)
            for action in openapi_actions(
                entry.spec, upstream, namespace=entry.name, include=entry.include, risk=entry.risk, undo=entry.undo
            ):
                self.surface.add(action)

        self.mcp = [
            McpUpstream(
                c.name,
                c.name,
                url=c.url,
                command=c.command,
                env=c.env,
                headers=c.headers,
                policy=c.policy,
                risk=c.risk,
                rediscover_s=c.rediscover_s,
            )
            for c in self.config.mcp
        ]

    async def discover(self, store: Store) -> list[Action]:
        """The approved tools of every MCP upstream, as actions (pinned in ``store``)."""
        pins = ToolPins(store)
        return [action for upstream in self.mcp for action in await mcp_actions(upstream, pins)]

    async def close(self) -> None:
        for upstream in self.http:
            await upstream.close()
        for mcp in self.mcp:
            await mcp.close()
