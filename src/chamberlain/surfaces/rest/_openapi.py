"""OpenAPI 3.1 generated from the declared actions (JSON Schema 2020-12 native).

The document describes what the server does, status by status: a test fuzzes the
server against it (``tests/fuzz``), so an answer it does not list is a failure there.
A few rules hold everywhere and are spelt out once here:

* every operation that takes a grant can answer ``401`` (no usable grant) and ``503``
  (revocation state unreadable), and refuses a bad grant before it looks at anything else;
* every call of an action (``/v1/actions/{name}`` and the shorter paths that are actions
  too) can also be parked for a human (``202``) and limited (``429``) by the tenant's own
  policies and limits, whatever the defaults say;
* a body is read as JSON whatever its ``Content-Type``, and an empty body as ``{}``: an
  action whose arguments are all optional needs no body at all.
"""

from __future__ import annotations

import copy
from typing import Any

from ...actions import Action, Surface
from ...errors import all_error_types
from ._approvals import STATUSES, Decision
from ._audit import MAX_INDEX, MAX_PAGE

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


def _listing(description: str, key: str, items: dict[str, Any]) -> dict[str, Any]:
    """A 200 answer listing ``items`` under ``key``, for the grant's tenant."""
    schema = {"type": "object", "required": ["tenant", key], "properties": {key: {"type": "array", "items": items}}}
    return _json(description, schema)


def _json(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema or {"type": "object"}}}}


def _string(name: str, where: str = "path", *, required: bool = True, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, "schema": {"type": "string", **schema}}


def _number(name: str, where: str = "query", *, required: bool = False, low: int = 0, high: int = MAX_INDEX) -> dict[str, Any]:
    """A whole number the server reads from ASCII digits, within ``low``..``high`` (else ``400``)."""
    return {"name": name, "in": where, "required": required, "schema": {"type": "integer", "minimum": low, "maximum": high}}


_GRANT_REFUSALS = {
    "401": _problem("No grant, or one that is malformed, forged, expired, revoked, used up or of another tenant"),
    "503": _problem("Revocation state (or the rate limiter) unreadable; retry after Retry-After"),
}
_CALL_HEADERS = {
    "Chamberlain-Call-Id": {"description": "The call's record", "required": True, "schema": {"type": "string"}},
    "Chamberlain-Trace-Id": {"description": "The call's trace id", "required": True, "schema": {"type": "string"}},
}


def _secured(operation: dict[str, Any]) -> dict[str, Any]:
    """``operation`` for grant holders: the security requirement and the grant's refusals."""
    operation["security"] = [{"grant": []}]
    operation["responses"] = {**operation["responses"], **_GRANT_REFUSALS}
    return operation


def _call_responses(result_schema: dict[str, Any], *, reverts: bool = False) -> dict[str, Any]:
    """What a call of an action can answer, through the whole pipeline."""
    return {
        "200": {
            "description": "The action ran; its result and the call id.",
            "headers": _CALL_HEADERS,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["call_id", "action", "version", "result"],
                        "properties": {
                            "call_id": {"type": "string"},
                            "action": {"type": "string"},
                            "version": {"type": "integer"},
                            "result": result_schema,
                        },
                    }
                }
            },
        },
        "202": {
            "description": (
                "Parked for human approval (the tenant's policies asked for it): nothing ran yet."
                " Location is the call's record, where the outcome will appear."
            ),
            "headers": {
                **_CALL_HEADERS,
                "Location": {"description": "/v1/calls/{call_id}", "required": True, "schema": {"type": "string"}},
            },
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pending"}}},
        },
        "400": _problem("Malformed JSON, or a missing or unusable Idempotency-Key"),
        "403": _problem("The grant does not allow this call (action, constraints), or the tenant's policies deny it"),
        **({"404": _problem("No such call to revert in this tenant")} if reverts else {}),
        "409": _problem(
            "A call with this Idempotency-Key is still running (retry after Retry-After)"
            + ("; or the call is not reversible, already reverted, being reverted or past its window" if reverts else "")
        ),
        "413": _problem("Body too large"),
        "422": _problem("Arguments break the input contract, the action refused, or the Idempotency-Key was reused"),
        "429": _problem("Over a rate or quota (the action's, or one the tenant set); see Retry-After"),
        "500": _problem("Internal error; nothing was changed"),
    }


def _operation(action: Action, components: dict[str, Any], approval: dict[str, Any] | None = None) -> dict[str, Any]:
    prefix = "".join(p.title() for p in action.name.replace("_", ".").split("."))
    request_schema = _lift_defs(action.contract.input_schema, components, prefix)
    result_schema: dict[str, Any] = (
        _lift_defs(action.contract.output_schema, components, prefix) if action.contract.output_schema else {"type": "null"}
    )
    responses = _call_responses(result_schema, reverts=action.reverts is not None)
    responses["200"]["content"]["application/json"]["schema"]["properties"]["action"]["const"] = action.name
    return _secured(
        {
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
            "parameters": [{**IDEMPOTENCY_KEY_PARAMETER, "required": action.requires_idempotency_key}],
            "requestBody": {
                # An empty body is read as {}: only an action with a required argument needs one.
                "required": bool(request_schema.get("required")),
                "description": "The arguments, as a JSON object (an empty body is read as `{}`).",
                "content": {"application/json": {"schema": request_schema}},
            },
            "responses": responses,
        }
    )


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


def _without_body(operation: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """An action served at a path of its own whose arguments come from the path and query."""
    operation = {k: v for k, v in operation.items() if k != "requestBody"}
    operation["responses"] = {k: v for k, v in operation["responses"].items() if k != "413"}
    return {**operation, **changes}


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
        },
        "Pending": {
            "type": "object",
            "description": "A call parked for human approval.",
            "required": ["call_id", "action", "status", "approval"],
            "properties": {
                "call_id": {"type": "string"},
                "action": {"type": "string"},
                "status": {"const": "pending_approval"},
                "approval": {"type": "object", "required": ["id", "status"]},
            },
        },
    }
    paths: dict[str, Any] = {}
    for action in surface:
        approval = approvals.get(action.name) if approvals is not None else None
        paths[f"/v1/actions/{action.name}"] = {"post": _operation(action, components, approval)}
    paths["/v1/actions"] = {
        "get": _secured(
            {
                "operationId": "listActions",
                "summary": "The actions this grant may call, with contracts and risk",
                "responses": {
                    "200": _json(
                        "Action list",
                        {
                            "type": "object",
                            "required": ["tenant", "principal", "actions"],
                            "properties": {"actions": {"type": "array"}},
                        },
                    )
                },
            }
        )
    }
    paths.update(_call_paths())
    if "grants.issue" in surface:
        issue_op = _operation(surface.get("grants.issue"), components)  # type: ignore[arg-type]
        issue_op["responses"]["201"] = issue_op["responses"].pop("200")
        paths["/v1/grants"] = {"post": dict(issue_op, operationId="issueGrant")}
    if "grants.revoke" in surface:
        revoke = surface.get("grants.revoke")
        assert revoke is not None
        properties = revoke.contract.input_schema["properties"]
        paths["/v1/grants/{grant_id}"] = {
            "delete": _without_body(
                _operation(revoke, components),
                operationId="revokeGrant",
                summary="Revoke a grant of this tenant and every grant derived from it (the grants.revoke action)",
                parameters=[
                    _string("grant_id", pattern=properties["grant_id"]["pattern"]),
                    _string("reason", "query", required=False, minLength=1, maxLength=properties["reason"]["maxLength"]),
                    IDEMPOTENCY_KEY_PARAMETER,
                ],
            )
        }
    if "policies.get" in surface and "policies.update" in surface:
        paths["/v1/policies"] = {
            "get": _without_body(
                _operation(surface.get("policies.get"), components),  # type: ignore[arg-type]
                operationId="getPolicies",
                summary="The tenant's current Cedar policies and version (the policies.get action)",
            ),
            "put": dict(
                _operation(surface.get("policies.update"), components),  # type: ignore[arg-type]
                operationId="putPolicies",
                summary="Publish a new version of the tenant's policies (the policies.update action)",
            ),
        }
    paths["/v1/tenants/{tenant}/keys"] = {
        "get": {
            "operationId": "tenantKeys",
            "summary": "Public keys that verify the tenant's grants (no authentication)",
            "parameters": [_string("tenant")],
            "responses": {"200": _json("The keys"), "404": _problem("No such tenant")},
        }
    }
    paths.update(_approval_paths())
    paths.update(_event_paths())
    paths.update(_audit_paths())
    paths.update(_commerce_paths(surface, components))
    paths.update(_error_paths())
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


def _call_paths() -> dict[str, Any]:
    record = {"type": "object", "required": ["id", "tenant", "action", "decision", "outcome"]}
    revert = _call_responses({}, reverts=True)
    revert["200"]["description"] = "Reverted: the revert action's result, under the revert's own call id"
    return {
        "/v1/calls": {
            "get": _secured(
                {
                    "operationId": "listCalls",
                    "summary": "The tenant's call records, newest first (needs a calls.read grant)",
                    "parameters": [
                        _string("principal", "query", required=False),
                        _string("action", "query", required=False),
                        _string("decision", "query", required=False),
                        _string("before", "query", required=False, description="A call id: the page before it"),
                        {**_number("limit", low=1, high=500), "description": "At most this many (default 50)"},
                    ],
                    "responses": {
                        "200": _listing("Call records", "calls", record),
                        "400": _problem("limit is not a whole number from 1 to 500"),
                        "403": _problem("The grant does not hold calls.read"),
                    },
                }
            )
        },
        "/v1/calls/{call_id}": {
            "get": _secured(
                {
                    "operationId": "getCall",
                    "summary": "A call's record, for the grant that made it or a calls.read grant",
                    "parameters": [_string("call_id")],
                    "responses": {"200": _json("The call record", record), "404": _problem("No such call visible to this grant")},
                }
            )
        },
        "/v1/calls/{call_id}/revert": {
            "post": _secured(
                {
                    "operationId": "revertCall",
                    "summary": "Revert a call: runs its action's undo, governed like any call (its revert action)",
                    "parameters": [_string("call_id"), IDEMPOTENCY_KEY_PARAMETER],
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {"reason": {"type": ["string", "null"], "minLength": 3, "maxLength": 500}},
                                }
                            }
                        },
                    },
                    "responses": revert,
                }
            )
        },
    }


def _approval_paths() -> dict[str, Any]:
    approval = {"type": "object", "required": ["id", "status", "call_id", "action"]}
    approval_id = _string("approval_id")
    decide = {
        "parameters": [approval_id],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {**Decision.model_json_schema(), "title": "Decision"}}},
        },
        "responses": {
            "200": _json("The approval as it now stands (executed or failed, if this decision completed it)", approval),
            "400": _problem("Malformed JSON"),
            "403": _problem("The grant's principal is not an approver here, or is part of the requesting chain"),
            "404": _problem("No such approval in this tenant"),
            "409": _problem("Already decided by this approver, closed, or the request changed since it was reviewed"),
            "413": _problem("Body too large"),
            "422": _problem("The decision breaks its schema"),
        },
    }
    return {
        "/v1/approvals": {
            "get": _secured(
                {
                    "operationId": "listApprovals",
                    "summary": "The tenant's approvals, newest first (for approvers)",
                    "parameters": [_string("status", "query", required=False, enum=list(STATUSES))],
                    "responses": {
                        "200": _listing("Approvals", "approvals", approval),
                        "400": _problem("status is not one of the statuses"),
                        "403": _problem("The grant's principal is not an approver here"),
                    },
                }
            )
        },
        "/v1/approvals/{approval_id}": {
            "get": _secured(
                {
                    "operationId": "getApproval",
                    "summary": "One approval, for approvers and for the grant that asked",
                    "parameters": [approval_id],
                    "responses": {
                        "200": _json("The approval", approval),
                        "403": _problem("The grant's principal is not an approver here"),
                        "404": _problem("No such approval in this tenant"),
                    },
                }
            )
        },
        "/v1/approvals/{approval_id}/approve": {
            "post": _secured({"operationId": "approve", "summary": "Approve a parked call", **copy.deepcopy(decide)})
        },
        "/v1/approvals/{approval_id}/reject": {
            "post": _secured({"operationId": "reject", "summary": "Reject a parked call", **copy.deepcopy(decide)})
        },
    }


def _event_paths() -> dict[str, Any]:
    return {
        "/v1/events": {
            "get": _secured(
                {
                    "operationId": "streamEvents",
                    "summary": "The tenant's events as a resumable Server-Sent Events stream (it does not end)",
                    "parameters": [
                        _string("types", "query", required=False, description="Comma-separated types or prefix.*"),
                        _string("subject", "query", required=False, description="An exact subject or prefix*"),
                        _string("after", "query", required=False, pattern="^[0-9]{1,18}$", description="Resume after this id"),
                        _string("Last-Event-ID", "header", required=False, pattern="^[0-9]{1,18}$"),
                    ],
                    "responses": {
                        "200": {"description": "The stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                        "400": _problem("Last-Event-ID (or after) is not an event id"),
                        "403": _problem("The grant does not cover a type asked for"),
                        "410": _problem("Events after that id are no longer all kept"),
                        "422": _problem("An event type no one emits"),
                    },
                }
            )
        },
        "/v1/events/types": {
            "get": _secured(
                {
                    "operationId": "eventTypes",
                    "summary": "The event types this grant may follow, with what each means",
                    "responses": {"200": _json("The types", {"type": "object", "required": ["tenant", "types"]})},
                }
            )
        },
    }


def _error_paths() -> dict[str, Any]:
    return {
        "/errors": {
            "get": {
                "operationId": "listErrors",
                "summary": "The problem types this gateway sends (public)",
                "responses": {"200": _json("The catalogue", {"type": "object", "required": ["errors"]})},
            }
        },
        "/errors/{code}": {
            "get": {
                "operationId": "showError",
                "summary": "One problem type: JSON for Accept: application/json, else an HTML page (public)",
                "parameters": [_string("code")],
                "responses": {
                    "200": {
                        "description": "The problem type",
                        "content": {
                            "application/json": {"schema": {"type": "object"}},
                            "text/html": {"schema": {"type": "string"}},
                        },
                    },
                    "404": _problem("No such problem type"),
                },
            }
        },
    }


def _commerce_paths(surface: Surface, components: dict[str, Any]) -> dict[str, Any]:
    """Search and quotes (their actions at shorter paths), claim verification, and the
    public documents of a store."""
    paths: dict[str, Any] = {}
    for path, name, op, created in (
        ("/v1/catalog/search", "catalog.search", "searchCatalog", False),
        ("/v1/quotes", "quotes.create", "createQuote", True),
    ):
        if name in surface:
            operation = dict(_operation(surface.get(name), components), operationId=op)  # type: ignore[arg-type]
            if created:
                operation["responses"]["201"] = operation["responses"].pop("200")
            paths[path] = {"post": operation}
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
            "responses": {
                "200": _json(
                    "Whether it verified, and the problems found",
                    {
                        "type": "object",
                        "required": ["verified", "problems"],
                        "properties": {
                            "verified": {"type": "boolean"},
                            "problems": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                ),
                "400": _problem("Malformed JSON"),
                "413": _problem("Body too large"),
                "422": _problem("No credential, or no key to verify it with"),
            },
        }
    }
    store = [_string("tenant")]
    for path, op, summary, extra, query in (
        ("/stores/{tenant}/products/{product_id}", "productJsonLd", "A product as schema.org JSON-LD", ["product_id"], []),
        ("/stores/{tenant}/feeds/{format}", "storeFeed", "The catalog as a feed: acp, flat or jsonld", ["format"], []),
        ("/stores/{tenant}/claims", "storeClaims", "The claims about one variant", [], ["variant"]),
        ("/stores/{tenant}/claims/{claim_id}", "storeClaim", "One signed claim (a W3C Verifiable Credential)", ["claim_id"], []),
        ("/stores/{tenant}/keys/claims", "claimsKey", "The Multikey document that verifies the store's claims", [], []),
        ("/stores/{tenant}/.well-known/acp.json", "acpDiscovery", "ACP discovery", [], []),
        ("/stores/{tenant}/.well-known/agent-card.json", "agentCard", "A2A agent card", [], []),
        ("/stores/{tenant}/llms.txt", "llmsTxt", "llms.txt", [], []),
    ):
        params = store + [_string(n) for n in extra] + [_string(n, "query", required=False) for n in query]
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
    def get(
        op: str, summary: str, params: list[dict[str, Any]], ok: str, refusals: dict[str, Any], text: bool = False
    ) -> dict[str, Any]:
        content = {"text/plain": {"schema": {"type": "string"}}} if text else {"application/json": {"schema": {"type": "object"}}}
        return {
            "get": _secured(
                {
                    "operationId": op,
                    "summary": summary,
                    "parameters": params,
                    "responses": {
                        "200": {"description": ok, "content": content},
                        **refusals,
                        "500": _problem("The log no longer matches its signed checkpoint"),
                    },
                }
            )
        }

    bad_number = {"400": _problem("A number that is not a whole number in range")}
    return {
        "/v1/audit/checkpoint": get(
            "auditCheckpoint",
            "The newest signed checkpoint of the tenant's log (C2SP tlog-checkpoint)",
            [],
            "A signed note",
            {},
            True,
        ),
        "/v1/audit/key": get("auditKey", "The log's verifier key (C2SP signed-note key)", [], "The key", {}, True),
        "/v1/audit/entries": get(
            "auditEntries",
            "Entries of the tenant's log, in order (needs an audit.read grant)",
            [_number("from"), {**_number("limit", low=1, high=MAX_PAGE), "description": "At most this many (default 100)"}],
            "Entries",
            {**bad_number, "403": _problem("The grant does not hold audit.read")},
        ),
        "/v1/audit/entries/{index}": get(
            "auditEntry",
            "One entry; with proof=1 (or true) its inclusion proof and the checkpoint it leads to",
            [
                _number("index", "path", required=True),
                _string("proof", "query", required=False, enum=["0", "1", "false", "true"], default="0"),
            ],
            "The entry",
            {
                **bad_number,
                "404": _problem("No such entry, or another call's entry without audit.read"),
            },
        ),
        "/v1/audit/consistency": get(
            "auditConsistency",
            "Proof that the tree of size `from` is a prefix of the tree of size `to` (default: newest)",
            [_number("from", required=True, low=1), _number("to", low=1)],
            "The proof",
            {**bad_number, "422": _problem("Sizes out of order, or beyond the log's size")},
        ),
    }
