"""What a request presents, read the same way by every HTTP surface."""

from __future__ import annotations

from collections.abc import Mapping

TENANT_HEADER = "chamberlain-tenant"


def presented_grant(headers: Mapping[str, str], anonymous_grant: str | None = None) -> str | None:
    """The bearer grant, else the gateway's anonymous grant (which still passes every stage)."""
    scheme, _, token = (headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return anonymous_grant


def requested_tenant(headers: Mapping[str, str]) -> str | None:
    return headers.get(TENANT_HEADER)
