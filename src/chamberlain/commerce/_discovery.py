"""Discovery documents: how an agent that knows only a URL finds the rest.

* ``/.well-known/acp.json``: the Agentic Commerce Protocol discovery document
  (``DiscoveryResponse``, first defined in ACP 2026-04-17, the version the feeds use;
  schema extract vendored under ``schemas/``).
* ``/.well-known/agent-card.json``: an A2A AgentCard listing what agents can do here.
* ``/llms.txt``: the llms.txt proposal (https://llmstxt.org/): an H1, a blockquote
  summary, then H2 sections of markdown links.

Links between them use the store's own copies (``<public_url>/stores/<store>/...``),
which exist whether or not the gateway also serves one store at its root.

They are public and unauthenticated, so they hold nothing but the store's handle (which
is in every public URL anyway), the seller's published name and terms, and public URLs:
no database key, no key id, no grant id. The ACP document goes further and holds nothing
tenant-specific at all, as ACP requires of a platform that hosts many sellers ("MUST NOT
accept or return merchant identifiers", RFC discovery §7.4).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ._feeds import ACP_FEED_VERSION
from ._rendering import decimal_string, public_settings
from ._storefront import Storefront

__all__ = [
    "A2A_PROTOCOL_VERSION",
    "ACP_API_PATH",
    "ACP_SERVICES",
    "ACP_VERSION",
    "MCP_BINDING",
    "acp_discovery",
    "agent_card",
    "llms_txt",
]

ACP_VERSION = ACP_FEED_VERSION
ACP_SERVICES = ("checkout", "orders", "delegate_payment", "carts")
"""ACP 2026-04-17's closed list of services (``DiscoveryCapabilities.services``)."""
ACP_API_PATH = "/acp"
"""Where the gateway's ACP REST API is mounted under the public URL."""
A2A_PROTOCOL_VERSION = "0.3.0"
MCP_BINDING = "https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#streamable-http"
"""The interface binding named in the agent card: MCP's Streamable HTTP transport."""


def acp_discovery(front: Storefront, *, version: str = ACP_VERSION, services: Sequence[str] = ()) -> dict[str, Any]:
    """The ACP discovery document (``DiscoveryResponse``) for ACP ``version``.

    ``services`` lists the ACP services the gateway really serves at ``api_base_url``
    (from ``ACP_SERVICES``); it is empty by default because a listed service is a promise
    that, e.g., ``POST {api_base_url}/checkout_sessions`` works, and agents act on it.
    Product feeds are not a service value in 2026-04-17 (ACP's feed API is hosted by the
    agent, and ``"feeds"`` is only proposed), so they are advertised by ``llms.txt`` and
    the agent card instead.
    """
    if version != ACP_VERSION:
        raise ValueError(f"only ACP {ACP_VERSION} discovery is implemented")
    if unknown := [s for s in services if s not in ACP_SERVICES]:
        raise ValueError(f"not ACP {version} services: {unknown}")
    return {
        "protocol": {"name": "acp", "version": version, "supported_versions": [version]},
        "api_base_url": _root(front) + ACP_API_PATH,
        "transports": ["rest"],
        "capabilities": {"services": list(dict.fromkeys(services))},
    }


def agent_card(front: Storefront, *, version: str) -> dict[str, Any]:
    """An A2A AgentCard for the store; ``version`` is the gateway's own version.

    The card has the A2A 0.3.0 shape (``protocolVersion``, ``url``, ``preferredTransport``;
    it validates against the vendored 0.3.0 schema) and also carries A2A 1.0's
    ``supportedInterfaces``, so readers of either version find its interface; each
    version's readers ignore the other's fields.

    Chamberlain does not speak A2A: its agent interface is MCP (and REST). The card is
    published so agents can discover the skills, and its only interface is the MCP
    endpoint under the MCP transport's URI as binding. A2A treats a binding as an open
    string and says clients pick the first interface they support, so an A2A-only client
    finds none it supports and sends no A2A message to an endpoint that would not
    understand it.
    """
    root = _root(front)
    settings = public_settings(front)
    seller = settings["seller"]
    mcp = f"{root}/mcp"
    card: dict[str, Any] = {
        "protocolVersion": A2A_PROTOCOL_VERSION,
        "name": seller["name"],
        "description": (
            f"The shop of {seller['name']}, served by a governed gateway: search its catalog, get quotes, read its "
            "product data and feeds, verify its signed product claims, and build a cart and check out. Buying needs "
            "a grant (a Bearer token) that allows it, and every call is checked by policy and recorded."
        ),
        "url": mcp,
        "preferredTransport": MCP_BINDING,
        "additionalInterfaces": [{"url": mcp, "transport": MCP_BINDING}],
        "supportedInterfaces": [{"url": mcp, "protocolBinding": MCP_BINDING, "protocolVersion": "1.0"}],
        "version": version,
        "documentationUrl": f"{front.base}/llms.txt",
        "capabilities": {"streaming": False, "pushNotifications": False},
        "defaultInputModes": ["application/json", "text/plain"],
        "defaultOutputModes": ["application/json"],
        "skills": _skills(front, settings),
    }
    if seller.get("url"):
        card["provider"] = {"organization": seller["name"], "url": seller["url"]}
    return card


def llms_txt(front: Storefront) -> str:
    """The store's ``/llms.txt``: where an agent should go for what, in markdown."""
    root = _root(front)
    settings = public_settings(front)
    seller, returns = settings["seller"], settings["returns"]
    name = _text(seller["name"])
    lines = [
        f"# {name}",
        "",
        f"> {name} sells through a governed gateway for AI agents. Search the catalog, get quotes, read the product "
        "feeds and verify the signed product claims here; buying needs a grant, and every call is checked by "
        "policy and recorded.",
        "",
        *_terms(settings),
        "",
        "## Agent endpoints",
        "",
        _link(
            "MCP endpoint",
            f"{root}/mcp",
            "Model Context Protocol over Streamable HTTP (POST only): catalog search, quotes, cart and checkout. "
            f"Send a grant as a Bearer token; OAuth metadata at {root}/.well-known/oauth-protected-resource/mcp",
        ),
        _link("Catalog search", front.search_url, "REST search over the public catalog"),
        _link(
            "Quotes",
            front.quotes_url,
            f"REST: a priced basket for a destination, with shipping and tax, held {_quote_minutes(settings)} minutes",
        ),
        "",
        "## Product data",
        "",
        _link(
            "ACP product feed", front.feed_url("acp"), f"Agentic Commerce Protocol {ACP_VERSION} feed, one product per JSON line"
        ),
        _link("OpenAI product feed", front.feed_url("flat"), "OpenAI's flat product feed, TSV, one row per variant"),
        _link(
            "JSON-LD feed",
            front.feed_url("jsonld"),
            f"schema.org ProductGroup documents, one per JSON line; one product's document is at `{front.base}/products/<id>`",
        ),
        "",
        "## Claims",
        "",
        _link("Claims key", front.claims_key_url, "the Multikey document that verifies the store's signed claims"),
        _link("Verify a claim", f"{root}/v1/claims/verify", "REST: checks a claim's signature and that it is still current"),
        "",
    ]
    policies = [
        _link(title, url, notes)
        for title, url, notes in (
            ("Returns", returns.get("url"), _returns(returns)),
            ("Terms of service", seller.get("terms_url"), ""),
            ("Privacy policy", seller.get("privacy_url"), ""),
        )
        if url
    ]
    if policies:  # shipping has no page: its rates are in the prose above
        lines += ["## Policies", "", *policies, ""]
    lines += [
        "## Discovery",
        "",
        _link("ACP discovery", f"{front.base}/.well-known/acp.json", f"ACP {ACP_VERSION} DiscoveryResponse"),
        _link("Agent card", f"{front.base}/.well-known/agent-card.json", "A2A AgentCard listing the skills above"),
        "",
        "## Optional",
        "",
        _link("OpenAPI description", f"{root}/openapi.json", "every REST endpoint of the gateway"),
    ]
    return "\n".join(lines) + "\n"


def _skills(front: Storefront, settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    root = _root(front)
    minutes = _quote_minutes(settings)
    return [
        {
            "id": "catalog-search",
            "name": "Catalog search",
            "description": (
                "Search the public catalog by words, category, attributes, price and availability "
                f"(MCP tool catalog.search; REST: {front.search_url})."
            ),
            "tags": ["catalog", "search", "products"],
            "examples": ["Find an electric kettle under 60 EUR that ships to Germany", "Which of your backpacks are waterproof?"],
        },
        {
            "id": "quotes",
            "name": "Quotes",
            "description": (
                "Price a basket of variants for a destination country, with shipping and tax; a quote holds for "
                f"{minutes} minutes (MCP tool quotes.create; REST: {front.quotes_url})."
            ),
            "tags": ["quote", "price", "shipping", "tax"],
            "examples": ["What do two of the red kettles cost delivered to Lyon?"],
        },
        {
            "id": "product-data",
            "name": "Product data and feeds",
            "description": (
                f"Product documents in schema.org JSON-LD ({front.base}/products/<id>) and the whole catalog as feeds: "
                f"ACP {ACP_VERSION} ({front.feed_url('acp')}), OpenAI flat TSV ({front.feed_url('flat')}) and JSON-LD "
                f"lines ({front.feed_url('jsonld')})."
            ),
            "tags": ["feed", "catalog", "json-ld", "acp"],
            "examples": ["Give me the full product feed", "What are the dimensions and GTIN of this kettle?"],
            "outputModes": ["application/ld+json", "application/jsonl", "text/tab-separated-values"],
        },
        {
            "id": "claims-verification",
            "name": "Claims verification",
            "description": (
                "Verify the store's signed claims about a variant (its price, availability, terms): check a credential "
                f"with the key at {front.claims_key_url}, or ask {root}/v1/claims/verify."
            ),
            "tags": ["claims", "verifiable credentials", "signature", "trust"],
            "examples": ["Is this price claim really signed by the store and still current?"],
        },
        {
            "id": "cart-checkout",
            "name": "Cart and checkout",
            "description": (
                "Build a cart from quoted variants and place the order. Needs a grant with the right to buy; limits and "
                f"approvals set by the business apply (MCP tools cart.create and checkout.complete at {root}/mcp)."
            ),
            "tags": ["cart", "checkout", "order"],
            "examples": ["Put two red kettles in my cart and check out with delivery to Berlin"],
        },
    ]


def _terms(settings: Mapping[str, Any]) -> list[str]:
    """The store's terms as a list, for the llms.txt body (shipping has no page of its own)."""
    tax = "include" if settings.get("prices_include_tax") else "exclude"
    rates = []
    for rate in settings.get("shipping", []):
        text = f"{rate['country']} {decimal_string(rate['price'])} {rate['price']['currency']}"
        if rate.get("free_over"):
            text += f" (free from {decimal_string(rate['free_over'])} {rate['free_over']['currency']})"
        rates.append(f"{text}, {rate['min_days']}-{rate['max_days']} days")
    return [
        f"- Returns: {_returns(settings['returns'])}.",
        f"- Prices {tax} tax; a quote states the total and holds for {_quote_minutes(settings)} minutes.",
        f"- Shipping: {'; '.join(rates)}." if rates else "- Shipping: ask for a quote.",
    ]


def _returns(returns: Mapping[str, Any]) -> str:
    if returns["days"] <= 0:
        return "not accepted"
    fees = "free" if returns.get("free") else "at the customer's cost"
    return f"within {returns['days']} days, {fees}"


def _quote_minutes(settings: Mapping[str, Any]) -> int:
    return max(1, int(settings.get("quote_ttl_s", 900)) // 60)


def _root(front: Storefront) -> str:
    return front.public_url.rstrip("/")


_MARKDOWN = re.compile(r"([\\`*_\[\]<>])")


def _text(value: str) -> str:
    """Text safe inside a markdown line: one line, markdown punctuation escaped (a seller
    name is the business's own input and must not open a link or a heading)."""
    return _MARKDOWN.sub(r"\\\1", " ".join(value.split()))


def _link(title: str, url: str, notes: str) -> str:
    target = url.replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace("<", "%3C").replace(">", "%3E")
    line = f"- [{_text(title)}]({target})"
    return f"{line}: {notes}" if notes else line
