"""Command groups of the ``chamberlain`` CLI beyond serving: policies, roles, approvals,
audit, limits, webhooks."""

from .approvals import approvals
from .audit import audit
from .limits import limits
from .policy import policy
from .role import role
from .webhooks import webhooks

__all__ = ["approvals", "audit", "limits", "policy", "role", "webhooks"]
