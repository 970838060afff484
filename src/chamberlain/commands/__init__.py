"""Command groups of the ``chamberlain`` CLI beyond serving: policies, roles, approvals,
audit, webhooks."""

from .approvals import approvals
from .audit import audit
from .policy import policy
from .role import role
from .webhooks import webhooks

__all__ = ["approvals", "audit", "policy", "role", "webhooks"]
