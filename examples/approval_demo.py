"""A human breakpoint, end to end: an agent asks for a large refund, is told to wait,
a human approves it at the command line, and the agent hears of it on its event
stream (``GET /v1/events``, Server-Sent Events) and reads the result.

    python examples/approval_demo.py

It starts ``chamberlain demo`` on a free port with a throwaway data folder, plays
the agent over plain REST with httpx, and plays the supervisor (``human:rita``, who
holds the approver role in the demo tenants) with ``chamberlain approvals approve``.
Nothing here talks to the database directly: it is what a real deployment does.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

import httpx
from _demo_gateway import CLI, demo_gateway

TENANT = "acme-shop"
REFUND = {"order_id": "o_1006", "amount": {"amount_minor": 12_000, "currency": "EUR"}, "reason": "parcel lost in transit"}


def say(who: str, text: str) -> None:
    print(f"[{who:>5}] {text}", flush=True)


def ask_for_refund(client: httpx.Client) -> dict[str, Any]:
    # A money movement needs an idempotency key: a retry with the same key never pays twice.
    resp = client.post("/v1/actions/orders.refund", json=REFUND, headers={"Idempotency-Key": str(uuid.uuid4())})
    if resp.status_code != 202:
        raise SystemExit(f"expected 202 Accepted, got {resp.status_code}: {resp.text}")
    body: dict[str, Any] = resp.json()
    approval = body["approval"]
    say("agent", f"refund of 120.00 EUR on {REFUND['order_id']} -> {resp.status_code} {body['status']}")
    say("agent", f"  approval {approval['id']} needs {approval['approvals_required']} approver(s): {'; '.join(approval['why'])}")
    say("agent", f"  deadline {approval['deadline']}; following {resp.headers['Location']}")
    body["location"] = resp.headers["Location"]
    return body


def approve_at_the_cli(approval_id: str, data: Path) -> None:
    args = ["approvals", "approve", approval_id, "--tenant", TENANT, "--as", "human:rita"]
    args += ["--reason", "carrier confirmed the parcel is lost", "--data-dir", str(data)]
    say("human", "$ chamberlain " + " ".join(args[:7]) + " --reason '...'")
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, check=False)
    for line in (done.stdout + done.stderr).strip().splitlines():
        say("human", "  " + line)
    if done.returncode != 0:
        raise SystemExit("approval failed")


def approve_while_listening(client: httpx.Client, call_id: str, approval_id: str, data: Path) -> str:
    """Open the event stream for this call, have the human approve, and wait for the
    approval's last word: approval.executed, .failed, .rejected or .expired."""
    params = {"types": "approval.*", "subject": f"calls/{call_id}"}
    with client.stream("GET", "/v1/events", params=params, timeout=60) as events:
        lines = events.iter_lines()
        for line in lines:  # replay is empty (no Last-Event-ID); ": live" means we are following
            if line == ": live":
                break
        approve_at_the_cli(approval_id, data)
        for line in lines:
            if line.startswith("data: "):
                event = json.loads(line[6:])
                say("agent", f"event #{event['sequence']} {event['type']} ({event['subject']})")
                if event["type"] != "approval.approved":
                    return str(event["type"])
    raise SystemExit("the event stream ended early")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp, demo_gateway(Path(tmp) / "demo") as (base, grant):
        data = Path(tmp) / "demo"
        say("agent", f"gateway at {base}")
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {grant}"}, timeout=10) as client:
            pending = ask_for_refund(client)
            call_id = pending["location"].rsplit("/", 1)[-1]
            approve_while_listening(client, call_id, pending["approval"]["id"], data)
            record: dict[str, Any] = client.get(pending["location"]).raise_for_status().json()
        approval = record["approval"]
        say("agent", f"call {record['id']}: {record['outcome']}, approval {approval['status']}")
        for step in approval["steps"]:
            by = f" by {step['by']}" if step.get("by") else ""
            say("agent", f"  {step['at'][:19]}  {step['step']}{by}")
        say("agent", "result: " + json.dumps(approval.get("result")))
        return 0 if approval["status"] == "executed" else 1


if __name__ == "__main__":
    raise SystemExit(main())
