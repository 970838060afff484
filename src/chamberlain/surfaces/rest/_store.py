"""A store's public documents for shopping agents, and claim verification.

No grant is needed here: this is what a store publishes to anyone (the audience is
always ``public``). Everything is rendered from the public view of the catalog, so
no internal field can appear, and a tenant that has not published a storefront is
indistinguishable from one that does not exist (both 404). Documents are cacheable
(``Cache-Control`` and a strong ``ETag``); none names an internal id.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...commerce import Commerce, Storefront, view
from ...commerce._discovery import acp_discovery, agent_card, llms_txt
from ...commerce._feeds import FEED_FORMATS
from ...commerce._jsonld import product_jsonld
from ...commerce.claims import verify_credential
from ...errors import InvalidInput, NotFound
from ...store import tenant_scope
from ...tenants import tenant_exists
from ._body import read_json
from ._problems import JSONResponse, problem_response
from ._text import names_without_nul

__all__ = ["StoreRoutes"]

MAX_AGE_S = 300
_HANDLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
Handler = Callable[[Request, Storefront], Awaitable[Response]]


def cacheable(request: Request, body: bytes, media_type: str) -> Response:
    """``body`` with a strong ETag; ``304`` when the client holds it already."""
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={MAX_AGE_S}"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


def _json(request: Request, value: Any, media_type: str = "application/json") -> Response:
    return cacheable(request, orjson.dumps(value), media_type)


class StoreRoutes:
    def __init__(self, commerce: Commerce, version: str, store_tenant: str | None, max_body_bytes: int) -> None:
        self.commerce = commerce
        self.version = version
        self.store_tenant = store_tenant
        self.max_body_bytes = max_body_bytes
        self._tenants: set[str] = set()
        """Tenants seen in the directory (tenants are not deleted while a gateway serves)."""

    async def _exists(self, tenant: str) -> bool:
        """Whether ``tenant`` is in the directory, asked before anything is read in its scope:
        with tenants in databases of their own, reading in a tenant's scope opens (creates)
        its database, and a request naming nobody must not leave a file behind."""
        if tenant not in self._tenants and _HANDLE.match(tenant) and await tenant_exists(self.commerce.store, tenant):
            self._tenants.add(tenant)
        return tenant in self._tenants

    @property
    def routes(self) -> list[Route]:
        return names_without_nul(self._routes())

    def _routes(self) -> list[Route]:
        store = "/stores/{tenant}"
        return [
            Route(f"{store}/products/{{product_id}}", self._in_store(self.product), methods=["GET"]),
            Route(f"{store}/feeds/{{format}}", self._in_store(self.feed), methods=["GET"]),
            Route(f"{store}/claims", self._in_store(self.claims_of), methods=["GET"]),
            Route(f"{store}/claims/{{claim_id}}", self._in_store(self.claim), methods=["GET"]),
            Route(f"{store}/keys/claims", self._in_store(self.claims_key), methods=["GET"]),
            Route(f"{store}/.well-known/acp.json", self._in_store(self.acp), methods=["GET"]),
            Route(f"{store}/.well-known/agent-card.json", self._in_store(self.card), methods=["GET"]),
            Route(f"{store}/llms.txt", self._in_store(self.llms), methods=["GET"]),
            Route("/.well-known/acp.json", self._at_root(self.acp), methods=["GET"]),
            Route("/.well-known/agent-card.json", self._at_root(self.card), methods=["GET"]),
            Route("/llms.txt", self._at_root(self.llms), methods=["GET"]),
            Route("/v1/claims/verify", self.verify, methods=["POST"]),
        ]

    def _in_store(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await self._serve(request, request.path_params["tenant"], handler)

        return endpoint

    def _at_root(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if self.store_tenant is None:
                return problem_response(NotFound("this gateway names no store for its root (CHAMBERLAIN_STORE_TENANT)"))
            return await self._serve(request, self.store_tenant, handler)

        return endpoint

    async def _serve(self, request: Request, tenant: str, handler: Handler) -> Response:
        if not await self._exists(tenant):
            return problem_response(NotFound("no such store"))
        with tenant_scope(tenant):
            front = await self.commerce.published(tenant)
            if front is None:
                return problem_response(NotFound("no such store"))
            return await handler(request, front)

    async def product(self, request: Request, front: Storefront) -> Response:
        product = await self.commerce.catalog.product(front.tenant, request.path_params["product_id"])
        if product is None:
            return problem_response(NotFound("no such product in this store"))
        claims = await self.commerce.claim_urls(front, [v.id for v in product.variants])
        return _json(request, product_jsonld(view(product, "public"), front, claims), "application/ld+json")

    async def feed(self, request: Request, front: Storefront) -> Response:
        name = request.path_params["format"].removesuffix(".jsonl").removesuffix(".tsv")
        format = FEED_FORMATS.get(name)
        if format is None:
            return problem_response(NotFound(f"no feed format {name[:40]!r}; there are {', '.join(FEED_FORMATS)}"))
        return cacheable(request, await self.commerce.feed(front, name), format.media_type)

    async def claims_of(self, request: Request, front: Storefront) -> Response:
        variant = request.query_params.get("variant", "")
        urls = (await self.commerce.claim_urls(front, [variant])).get(variant, []) if variant else []
        return _json(request, {"variant": variant, "claims": urls})

    async def claim(self, request: Request, front: Storefront) -> Response:
        credential = await self.commerce.claims.get(front.tenant, request.path_params["claim_id"])
        if credential is None:
            return problem_response(NotFound("no such claim in this store"))
        return _json(request, credential, "application/vc")

    async def claims_key(self, request: Request, front: Storefront) -> Response:
        return _json(request, await self.commerce.claims.key_document(front))

    async def acp(self, request: Request, front: Storefront) -> Response:
        return _json(request, acp_discovery(front))

    async def card(self, request: Request, front: Storefront) -> Response:
        return _json(request, agent_card(front, version=self.version))

    async def llms(self, request: Request, front: Storefront) -> Response:
        return cacheable(request, llms_txt(front).encode(), "text/markdown; charset=utf-8")

    async def verify(self, request: Request) -> Response:
        """``POST /v1/claims/verify`` ``{"credential": {...}, "key": optional}``: the key is
        a multibase string or a Multikey document; without it, only a key this gateway
        publishes is used (it never fetches a URL named in the request)."""
        body, error = await read_json(request, self.max_body_bytes)
        if error is not None:
            return problem_response(error)
        if not isinstance(body, dict) or not isinstance(body.get("credential"), dict):
            return problem_response(InvalidInput("give the credential to verify as the object `credential`", errors=[]))
        given = body.get("key")
        if given is not None and not isinstance(given, str | dict):
            # verify_credential raises TypeError on any other type; JSON can carry a list, a number or a bool
            message = "must be a publicKeyMultibase string or a Multikey (or controller) document"
            return problem_response(
                InvalidInput(f"key: {message}", errors=[{"loc": ["key"], "msg": message, "type": "value_error"}])
            )
        key = given or await self._our_key(body["credential"])
        if key is None:
            return problem_response(
                InvalidInput("the proof's verificationMethod is not a key this gateway publishes: pass `key`", errors=[])
            )
        result = verify_credential(body["credential"], key)
        return JSONResponse(
            {"verified": result.verified, "problems": result.problems, "verification_method": result.verification_method}
        )

    async def _our_key(self, credential: dict[str, Any]) -> dict[str, Any] | None:
        proof = credential.get("proof")
        method = proof.get("verificationMethod") if isinstance(proof, dict) else None
        prefix = self.commerce.public_url + "/stores/"
        if not isinstance(method, str) or not method.startswith(prefix) or not method.endswith("/keys/claims"):
            return None
        tenant = method[len(prefix) : -len("/keys/claims")]
        if not await self._exists(tenant):
            return None
        with tenant_scope(tenant):
            front = await self.commerce.published(tenant)
            return None if front is None else await self.commerce.claims.key_document(front)
