"""CloudEvents 1.0 (JSON format) envelopes for outbox rows.

Extension attributes (lower-case letters and digits, as CloudEvents requires):
``tenant``; ``sequence``, the event's place in its tenant's stream (an integer that
only grows, and what ``Last-Event-ID`` resumes from); ``traceparent`` (the Distributed
Tracing extension); ``callid``, the call that caused it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["GATEWAY_EVENTS", "envelope"]

GATEWAY_EVENTS: dict[str, str] = {
    "approval.requested": "A call was parked for human approval (subject: calls/<call id>).",
    "approval.approved": "Enough approvers approved a parked call; it runs next.",
    "approval.rejected": "An approver rejected a parked call; it will not run.",
    "approval.expired": "A parked call's approval deadline passed; it will not run.",
    "approval.executed": "An approved call ran (its result is read through the call or approval, not the event).",
    "approval.failed": "An approved call could not run or failed; data holds the problem.",
    "grant.revoked": "A grant (and every grant derived from it) was revoked (subject: grants/<grant id>).",
    "policy.changed": "The tenant published a new policy version.",
}
"""Events the gateway itself emits, beside those a business declares on its surface."""


def envelope(row: dict[str, Any]) -> dict[str, Any]:
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": row["id"],
        "source": f"/tenants/{row['tenant_id']}",
        "type": row["type"],
        "time": row["time"],
        "datacontenttype": "application/json",
        "tenant": row["tenant_id"],
        "sequence": row["seq"],
    }
    if row.get("subject"):
        event["subject"] = row["subject"]
    if row.get("traceparent"):
        event["traceparent"] = row["traceparent"]
    if row.get("call_id"):
        event["callid"] = row["call_id"]
    event["data"] = row.get("data")
    return event
