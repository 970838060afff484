"""Generate docs/reference/{cli,settings,errors}.md from the code.

python scripts/gen_reference.py          # rewrite the files
python scripts/gen_reference.py --check  # exit 1 if they are stale (run by the tests)
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from chamberlain.cli import main as cli
from chamberlain.config import Settings
from chamberlain.errors import all_error_types

DOCS = Path(__file__).resolve().parents[1] / "docs" / "reference"

# What a client should do about each error, by code.
ADVICE = {
    "error": "Base class; not sent on its own.",
    "authentication-required": "Base class of the grant errors below.",
    "grant-missing": "Send a grant as `Authorization: Bearer <grant>`.",
    "grant-invalid": "The signature does not verify (forged or tampered) or the key is unknown; get a new grant.",
    "grant-expired": "Get a fresh grant; the `grant_id` field says which one expired.",
    "grant-malformed": "The token is cut short or not a grant at all; send it whole.",
    "grant-wrong-tenant": "Use a grant of the tenant you address (or drop the `Chamberlain-Tenant` header).",
    "grant-wrong-audience": "The grant was issued for another gateway; get one from this gateway's operator.",
    "grant-widened": "A block appended to the grant declares rights; attenuation may only add checks. Derive it again.",
    "grant-not-yet-valid": "Wait until the grant's start time (`not_before`).",
    "grant-used-up": "The grant allowed a fixed number of calls and has used them; a replay is refused. Ask for a new one.",
    "grant-revoked": "The grant (or one it was derived from) was revoked; ask for a new one.",
    "revocation-unavailable": "Retry shortly: the gateway could not confirm the grant is not revoked, so it refused.",
    "permission-denied": "Ask for a grant that covers the action; `allowed_actions` lists what this one covers.",
    "constraint-violated": "Stay within the grant's `constraints` (listed in the problem) or ask for a wider grant.",
    "policy-denied": "A tenant policy forbids this call (`policies` names them) or none permits it. Do not retry unchanged.",
    "approver-required": "Only principals with the approver role in the tenant may list or decide approvals.",
    "approver-in-chain": "The agent that asked, or anyone it acts for, cannot approve its own call; ask another approver.",
    "not-found": "No such endpoint; see `/openapi.json`.",
    "unknown-action": "List the actions your grant may call with `GET /v1/actions` or MCP `tools/list`.",
    "call-not-found": "Check the id; records are visible to their own tenant only.",
    "approval-not-found": "Check the id; approvals are visible to their own tenant only.",
    "unknown-event-type": "Subscribe to types listed by `GET /v1/events/types`; `types` takes exact names or `prefix.*`.",
    "events-gone": (
        "Reconnect without `Last-Event-ID` (and read current state first): events older than the retention window were pruned."
    ),
    "slow-consumer": (
        "Read faster, or filter by type or subject; reconnect with `Last-Event-ID` set to the last `id` you got to resume."
    ),
    "audit-entry-not-found": "The index is at or beyond the log's size; read `GET /v1/audit/checkpoint` for the size.",
    "audit-log-broken": "Stop and investigate: the database no longer holds the tree a checkpoint outside it signed"
    " (restored, truncated or rewritten). Verify an export with `chamberlain audit verify`.",
    "conflict": "Base class of the approval conflicts below; re-read the current state before trying again.",
    "approval-closed": "The approval was already decided, expired or ran; `status` says which. Nothing more to do.",
    "approval-already-given": "This approver has decided already; another approver must give the next approval.",
    "approval-request-changed": "The request differs from the `request_hash` you reviewed; review it again.",
    "policy-invalid": (
        "Policy validation at load (CLI, policy folder): `errors` lists each problem by file and policy id; "
        "nothing changed. `PUT /v1/policies` answers `invalid-input` instead."
    ),
    "idempotency-key-in-use": (
        "The first request with this key has not finished. Retry after `retry_after` seconds (the `Retry-After`"
        " header) with the same key: you get its outcome once it is done."
    ),
    "idempotency-key-reused": (
        "The key was first used with other arguments (`fingerprint` differs). Use a new key for a new request;"
        " resend the original arguments to get the original outcome."
    ),
    "idempotency-key-invalid": "Send 1 to 255 visible ASCII characters (a UUID is a good key).",
    "invalid-input": "Fix the arguments: `errors` lists each problem with its location (`loc`).",
    "bad-request": "Base class of the two below; sent as itself for other unusable requests.",
    "malformed-json": "Send a valid JSON object as the body.",
    "body-too-large": "Send less; `limit` is the largest body accepted, in bytes.",
    "method-not-allowed": "Use a method the endpoint offers (the `Allow` header); `/mcp` takes POST only, it keeps no streams.",
    "action-failed": "The business refused; `reason` is its stable code. Change the request, do not retry it unchanged.",
    "internal-error": "Retry later with backoff; nothing was changed. Report the `call_id` if it persists.",
}


def _help(command: click.Command, path: list[str]) -> list[str]:
    ctx = click.Context(command, info_name=" ".join(path), terminal_width=100, max_content_width=100)
    out = [f"## `{' '.join(path)}`", "", "```text", command.get_help(ctx).rstrip(), "```", ""]
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            out += _help(command.get_command(ctx, name), [*path, name])  # type: ignore[arg-type]
    return out


def cli_md() -> str:
    head = ["# CLI reference", "", "Generated from `--help` by `scripts/gen_reference.py`; do not edit by hand.", ""]
    return "\n".join(head + _help(cli, ["chamberlain"]))


def settings_md() -> str:
    lines = [
        "# Settings",
        "",
        "Every setting of `chamberlain.config.Settings`, with its environment variable. CLI options",
        "(`--data-dir`, `--host`, `--port`) override the environment. Generated by `scripts/gen_reference.py`.",
        "",
        "| setting | environment variable | default | what it does |",
        "|---|---|---|---|",
    ]
    for name, env, text, default in Settings.documented():
        lines.append(f"| `{name}` | `{env}` | `{default}` | {text} |")
    return "\n".join(lines) + "\n"


def errors_md() -> str:
    lines = [
        "# Errors",
        "",
        "Every refusal has a stable `type` URI. REST sends it as RFC 9457 `application/problem+json`;",
        "MCP sends the same object as the `structuredContent` of a tool result with `isError: true`",
        "(an unknown tool is a JSON-RPC `-32602` error; a request to `/mcp` without a usable grant is an HTTP 401",
        "with this body and a `WWW-Authenticate` challenge pointing at the OAuth metadata).",
        "Each problem also carries `code` (the last segment of the type), `retryable` and, for calls,",
        "`call_id`. Generated by `scripts/gen_reference.py`.",
        "",
        "| type | status | retryable | what to do |",
        "|---|---|---|---|",
    ]
    for cls in all_error_types():
        lines.append(f"| `{cls('').type_uri}` | {cls.status} | {str(cls.retryable).lower()} | {ADVICE[cls.code]} |")
    return "\n".join(lines) + "\n"


FILES = {"cli.md": cli_md, "settings.md": settings_md, "errors.md": errors_md}


def main() -> int:
    check = "--check" in sys.argv
    stale = []
    for name, make in FILES.items():
        path, text = DOCS / name, make()
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"stale: {', '.join(stale)}; run python scripts/gen_reference.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
