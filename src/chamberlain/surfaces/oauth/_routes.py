"""OAuth 2.1 for MCP clients, so a standard client connects without custom code.

* ``/.well-known/oauth-protected-resource`` (and ``/mcp`` suffixed), RFC 9728: where the
  MCP endpoint's tokens come from;
* ``/.well-known/oauth-authorization-server``, RFC 8414;
* ``POST /oauth/token``: ``client_credentials`` for registered clients, and RFC 8693
  token exchange, which narrows a grant the caller already holds;
* a ``resource`` parameter (RFC 8707) must name this gateway.

The access tokens are ordinary grants: everything after the token endpoint is the
pipeline. No interactive (authorization code) flow is offered: agents are machines.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...errors import ChamberlainError
from ...grants import ClientRegistry, GrantAuthority, attenuate
from ...timeutil import utc_now
from ..rest._problems import JSONResponse

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
MAX_EXPIRES_IN_S = 10**9
"""About 31 years. A narrowed token never outlives its parent anyway; the bound keeps
``now + expires_in`` a date Python can hold (past it, ``timedelta`` or the sum overflows)."""


def _expires_in(raw: str) -> timedelta | None:
    """The lifetime asked for, ``None`` if none; ``ValueError`` unless whole seconds in
    ASCII digits: ``isdigit()`` alone passes "²" and 5000-digit strings, which ``int()`` refuses."""
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10 and 1 <= int(raw) <= MAX_EXPIRES_IN_S):
        raise ValueError(f"expires_in must be a whole number of seconds from 1 to {MAX_EXPIRES_IN_S}")
    return timedelta(seconds=int(raw))


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="chamberlain"'
    return JSONResponse({"error": error, "error_description": description}, status_code=status, headers=headers)


def base_url(request: Request, public_url: str | None) -> str:
    return (public_url or str(request.base_url)).rstrip("/")


def challenge(request: Request, public_url: str | None, error: str | None = None) -> str:
    """The ``WWW-Authenticate`` value that points an MCP client at our metadata."""
    value = f'Bearer resource_metadata="{base_url(request, public_url)}/.well-known/oauth-protected-resource/mcp"'
    return value + (f', error="{error}"' if error else "")


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:]).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        client_id, _, secret = decoded.partition(":")
        return unquote(client_id), unquote(secret)
    if "client_id" in form and "client_secret" in form:
        return form["client_id"], form["client_secret"]
    return None


class OAuthSurface:
    def __init__(self, authority: GrantAuthority, clients: ClientRegistry, public_url: str | None = None) -> None:
        self.authority = authority
        self.clients = clients
        self.public_url = public_url

    @property
    def routes(self) -> list[Route]:
        return [
            Route("/.well-known/oauth-protected-resource", self.protected_resource, methods=["GET"]),
            Route("/.well-known/oauth-protected-resource/mcp", self.protected_resource, methods=["GET"]),
            Route("/.well-known/oauth-authorization-server", self.authorization_server, methods=["GET"]),
            Route("/oauth/authorize", self.authorize, methods=["GET", "POST"]),
            Route("/oauth/token", self.token, methods=["POST"]),
        ]

    async def protected_resource(self, request: Request) -> Response:
        base = base_url(request, self.public_url)
        return JSONResponse(
            {
                "resource": f"{base}/mcp",
                "authorization_servers": [base],
                "bearer_methods_supported": ["header"],
                "resource_name": "Chamberlain MCP gateway",
            }
        )

    async def authorization_server(self, request: Request) -> Response:
        base = base_url(request, self.public_url)
        return JSONResponse(
            {
                "issuer": base,
                "authorization_endpoint": f"{base}/oauth/authorize",
                "token_endpoint": f"{base}/oauth/token",
                "response_types_supported": [],
                "grant_types_supported": ["client_credentials", TOKEN_EXCHANGE],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            }
        )

    async def authorize(self, request: Request) -> Response:
        return _oauth_error(
            "unsupported_response_type",
            "no interactive flow: use client_credentials or token exchange at the token endpoint",
        )

    async def token(self, request: Request) -> Response:
        try:
            form = {k: str(v) for k, v in (await request.form()).items()}
        except Exception:
            return _oauth_error("invalid_request", "the body must be application/x-www-form-urlencoded")
        resource = form.get("resource")
        base = base_url(request, self.public_url)
        if resource is not None and resource.rstrip("/") not in (base, f"{base}/mcp"):
            return _oauth_error("invalid_target", f"this server issues tokens for {base}/mcp only")
        grant_type = form.get("grant_type")
        if grant_type == "client_credentials":
            return await self._client_credentials_grant(request, form)
        if grant_type == TOKEN_EXCHANGE:
            return await self._token_exchange(form)
        return _oauth_error("unsupported_grant_type", "use client_credentials or token exchange")

    async def _client_credentials_grant(self, request: Request, form: dict[str, str]) -> Response:
        credentials = _client_credentials(request, form)
        issued = await self.clients.token(*credentials) if credentials else None
        if issued is None:
            return _oauth_error("invalid_client", "unknown client or wrong secret", status=401)
        body: dict[str, Any] = {
            "access_token": issued.token,
            "token_type": "Bearer",
            "expires_in": int((issued.expires_at - utc_now()).total_seconds()),
            "scope": " ".join(issued.actions),
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    async def _token_exchange(self, form: dict[str, str]) -> Response:
        """RFC 8693: narrow the subject token to ``scope`` (action names), offline-equivalent."""
        if form.get("subject_token_type", ACCESS_TOKEN_TYPE) != ACCESS_TOKEN_TYPE:
            return _oauth_error("invalid_request", f"subject_token_type must be {ACCESS_TOKEN_TYPE}")
        try:
            grant = await self.authority.verify(form.get("subject_token"))
        except ChamberlainError as err:
            return _oauth_error("invalid_grant", err.detail)
        key = await self.authority.keys.public(grant.kid)
        assert key is not None  # verify() just used it
        scope = form.get("scope", "").split()
        try:
            ttl = _expires_in(form.get("expires_in", ""))
        except ValueError as err:
            return _oauth_error("invalid_request", str(err))
        try:
            token = (
                attenuate(
                    grant.token.to_base64(), key.public_key, actions=scope or None, ttl=ttl, delegate_to=form.get("actor") or None
                )
                if (scope or ttl or form.get("actor"))
                else grant.token.to_base64()
            )
        except ValueError as err:
            return _oauth_error("invalid_scope", str(err))
        narrowed = await self.authority.verify(token)
        return JSONResponse(
            {
                "access_token": token,
                "issued_token_type": ACCESS_TOKEN_TYPE,
                "token_type": "Bearer",
                "expires_in": int((narrowed.expires_at - utc_now()).total_seconds()),
                **({"scope": " ".join(scope)} if scope else {}),
            },
            headers={"Cache-Control": "no-store"},
        )
