"""Command groups of the ``chamberlain`` CLI beyond serving: policies, roles, approvals."""

from .approvals import approvals
from .policy import policy
from .role import role

__all__ = ["approvals", "policy", "role"]
