"""Command groups of the ``chamberlain`` CLI beyond serving: policies, roles, approvals, audit."""

from .approvals import approvals
from .audit import audit
from .policy import policy
from .role import role

__all__ = ["approvals", "audit", "policy", "role"]
