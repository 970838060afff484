"""OpenAPI 3.1 generated from the declared actions (JSON Schema 2020-12 native)."""

from __future__ import annotations

import copy
from typing import Any

from ...actions import Action, Surface
from ...errors import all_error_types

_PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _lift_defs(schema: dict[str, Any], components: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Move ``$defs`` into components so refs resolve in one document."""
    schema = copy.deepcopy(schema)
    defs = schema.pop("$defs", {})
    renames = {name: f"{prefix}{name}" for name in defs}

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                node = dict(node, **{"$ref": "#/components/schemas/" + renames[ref.removeprefix("#/$defs/")]})
            return {k: rewrite(v) for k, v in node.items()}
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    for name, body in defs.items():
        components[renames[name]] = rewrite(body)
    return rewrite(schema)


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": _PROBLEM}}}


def _operation(action: Action, components: dict[str, Any], approval: dict[str, Any] | None = None) -> dict[str, Any]:
    prefix = "".join(p.title() for p in action.name.replace("_", ".").split("."))
    request_schema = _lift_defs(action.contract.input_schema, components, prefix)
    result_schema: dict[str, Any] = (
        _lift_defs(action.contract.output_schema, components, prefix) if action.contract.output_schema else {"type": "null"}
    )
    return {
        "operationId": action.name,
        "summary": action.title or action.name,
        "description": action.description,
        "tags": [action.name.split(".")[0]],
        "x-chamberlain-risk": action.risk,
        "x-chamberlain-version": action.version,
        **({"x-chamberlain-rate": str(action.rate)} if action.rate else {}),
        **({"x-chamberlain-quota": str(action.quota)} if action.quota else {}),
        "x-chamberlain-reversible": action.reversibility(),
        **({"x-chamberlain-approval": approval} if approval is not None else {}),
        "security": [{"grant": []}],
        "parameters": [{**IDEMPOTENCY_KEY_PARAMETER, "required": action.requires_idempotency_key}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": request_schema}}},
        "responses": {
            "200": {
                "description": "The action ran; its result and the call id.",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["call_id", "action", "version", "result"],
                            "properties": {
                                "call_id": {"type": "string"},
                                "action": {"type": "string", "const": action.name},
                                "version": {"type": "integer"},
                                "result": result_schema,
                            },
                        }
                    }
                },
            },
            "400": _problem("Malformed request"),
            "401": _problem("Grant missing, invalid or expired"),
            "403": _problem("Grant does not allow this action"),
            "409": _problem("A request with this Idempotency-Key is still running; retry after Retry-After"),
            "413": _problem("Body too large"),
            **({"429": _problem("Over the action's rate or quota; see Retry-After")} if action.rate or action.quota else {}),
            "422": _problem("Arguments break the input contract, the action refused, or the Idempotency-Key was reused"),
            "500": _problem("Internal error"),
            "503": _problem("Revocation state unreadable; retry"),
        },
    }


IDEMPOTENCY_KEY_PARAMETER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Run this call at most once: a retry with the same key and arguments gets the first outcome again"
        " (with Idempotent-Replayed: true). 1 to 255 visible ASCII characters; kept 24 hours by default."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"},
}


def openapi_document(
    surface: Surface, server_url: str | None = None, approvals: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """``approvals``: per action, whether calls can wait for a human under the default
    policies (``x-chamberlain-approval``; a tenant's own may differ, and
    ``GET /v1/actions`` answers for the caller's)."""
    components: dict[str, Any] = {
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details.",
            "required": ["type", "title", "status", "detail", "retryable"],
            "properties": {
                "type": {"type": "string", "format": "uri", "enum": sorted({cls("").type_uri for cls in all_error_types()})},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "code": {"type": "string"},
                "retryable": {"type": "boolean"},
                "call_id": {"type": "string"},
                "instance": {"type": "string"},
            },
        }
    }
    paths: dict[str, Any] = {}
    for action in surface:
        approval = approvals.get(action.name) if approvals is not None else None
        paths[f"/v1/actions/{action.name}"] = {"post": _operation(action, components, approval)}
    paths["/v1/actions"] = {
        "get": {
            "operationId": "listActions",
            "summary": "The actions this grant may call, with contracts and risk",
            "security": [{"grant": []}],
            "responses": {"200": {"description": "Action list"}, "401": _problem("Grant missing or invalid")},
        }
    }
    paths["/v1/calls/{call_id}"] = {
        "get": {
            "operationId": "getCall",
            "summary": "A call's record, for the grant that made it or a calls.read grant",
            "security": [{"grant": []}],
            "parameters": [{"name": "call_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "The call record"}, "404": _problem("No such call visible to this grant")},
        }
    }
    paths["/v1/calls/{call_id}/revert"] = {
        "post": {
            "operationId": "revertCall",
            "summary": "Revert a call: runs its action's undo, governed like any call (its revert action)",
            "security": [{"grant": []}],
            "parameters": [{"name": "call_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {"reason": {"type": "string", "minLength": 3, "maxLength": 500}},
                        }
                    }
                },
            },
            "responses": {
                "200": {"description": "Reverted; the revert action's result and its own call id"},
                "202": {"description": "The revert waits for human approval"},
                "403": _problem("The grant may not revert this call"),
                "404": _problem("No such call in this tenant"),
                "409": _problem("Not reversible, already reverted, or past the revert window"),
            },
        }
    }
    if "grants.issue" in surface:
        issue_op = _operation(surface.get("grants.issue"), components)  # type: ignore[arg-type]
        issue_op["responses"]["201"] = issue_op["responses"].pop("200")
        paths["/v1/grants"] = {"post": dict(issue_op, operationId="issueGrant")}
    if "grants.revoke" in surface:
        paths["/v1/grants/{grant_id}"] = {
            "delete": {
                "operationId": "revokeGrant",
                "summary": "Revoke a grant of this tenant and every grant derived from it (the grants.revoke action)",
                "security": [{"grant": []}],
                "parameters": [
                    {"name": "grant_id", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "reason", "in": "query", "required": False, "schema": {"type": "string"}},
                ],
                "responses": {"200": {"description": "Revoked"}, "422": _problem("No such grant, or a malformed id")},
            }
        }
    paths["/v1/tenants/{tenant}/keys"] = {
        "get": {
            "operationId": "tenantKeys",
            "summary": "Public keys that verify the tenant's grants (no authentication)",
            "parameters": [{"name": "tenant", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "The keys"}, "404": _problem("No such tenant")},
        }
    }
    paths.update(_audit_paths())
    paths.update(_commerce_paths(surface, components))
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": f"{surface.name} (via Chamberlain)", "version": "1", "description": surface.description},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"grant": {"type": "http", "scheme": "bearer", "bearerFormat": "Biscuit"}},
        },
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc


def _commerce_paths(surface: Surface, components: dict[str, Any]) -> dict[str, Any]:
    """Search and quotes (their actions at shorter paths), claim verification, and the
    public documents of a store."""
    paths: dict[str, Any] = {}
    for path, name, op in (
        ("/v1/catalog/search", "catalog.search", "searchCatalog"),
        ("/v1/quotes", "quotes.create", "createQuote"),
    ):
        if name in surface:
            paths[path] = {"post": dict(_operation(surface.get(name), components), operationId=op)}  # type: ignore[arg-type]
    paths["/v1/claims/verify"] = {
        "post": {
            "operationId": "verifyClaim",
            "summary": "Verify a signed claim or quote (eddsa-jcs-2022); `key` is needed unless this gateway publishes it",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["credential"],
                            "properties": {"credential": {"type": "object"}, "key": {"type": ["string", "object"]}},
                        }
                    }
                },
            },
            "responses": {"200": {"description": "`verified` and the `problems` found"}, "422": _problem("No credential or key")},
        }
    }
    store = [{"name": "tenant", "in": "path", "required": True, "schema": {"type": "string"}}]
    for path, op, summary, extra in (
        ("/stores/{tenant}/products/{product_id}", "productJsonLd", "A product as schema.org JSON-LD", ["product_id"]),
        ("/stores/{tenant}/feeds/{format}", "storeFeed", "The catalog as a feed: acp, flat or jsonld", ["format"]),
        ("/stores/{tenant}/claims/{claim_id}", "storeClaim", "One signed claim (a W3C Verifiable Credential)", ["claim_id"]),
        ("/stores/{tenant}/keys/claims", "claimsKey", "The Multikey document that verifies the store's claims", []),
        ("/stores/{tenant}/.well-known/acp.json", "acpDiscovery", "ACP discovery", []),
        ("/stores/{tenant}/.well-known/agent-card.json", "agentCard", "A2A agent card", []),
        ("/stores/{tenant}/llms.txt", "llmsTxt", "llms.txt", []),
    ):
        params = store + [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in extra]
        paths[path] = {
            "get": {
                "operationId": op,
                "summary": f"{summary} (public, cacheable)",
                "parameters": params,
                "responses": {
                    "200": {"description": summary},
                    "304": {"description": "Not modified"},
                    "404": _problem("No such store or document"),
                },
            }
        }
    return paths


def _audit_paths() -> dict[str, Any]:
    def get(op: str, summary: str, params: list[tuple[str, bool]], ok: str, text: bool = False) -> dict[str, Any]:
        content = {"text/plain": {"schema": {"type": "string"}}} if text else {"application/json": {"schema": {"type": "object"}}}
        return {
            "get": {
                "operationId": op,
                "summary": summary,
                "security": [{"grant": []}],
                "parameters": [
                    {
                        "name": n,
                        "in": "path" if n == "index" else "query",
                        "required": r,
                        "schema": {"type": "integer", "minimum": 0},
                    }
                    for n, r in params
                ],
                "responses": {"200": {"description": ok, "content": content}, "400": _problem("A bad number")},
            }
        }

    return {
        "/v1/audit/checkpoint": get(
            "auditCheckpoint",
            "The newest signed checkpoint of the tenant's log (C2SP tlog-checkpoint)",
            [],
            "A signed note",
            True,
        ),
        "/v1/audit/key": get("auditKey", "The log's verifier key (C2SP signed-note key)", [], "The key", True),
        "/v1/audit/entries": get(
            "auditEntries",
            "Entries of the tenant's log, in order (needs an audit.read grant)",
            [("from", False), ("limit", False)],
            "Entries",
        ),
        "/v1/audit/entries/{index}": get(
            "auditEntry",
            "One entry, with proof=1 its inclusion proof and the checkpoint it leads to",
            [("index", True), ("proof", False)],
            "The entry",
        ),
        "/v1/audit/consistency": get(
            "auditConsistency",
            "Proof that the tree of size `from` is a prefix of the tree of size `to` (default: newest)",
            [("from", True), ("to", False)],
            "The proof",
        ),
    }
