"""Command groups of the ``chamberlain`` CLI beyond serving: policies, roles, approvals,
audit, catalog export, claims, console users, proxies, limits, webhooks, reverts, and the services a gateway depends on."""

from .approvals import approvals
from .audit import audit
from .catalog import catalog
from .claims import claims
from .console import console
from .limits import limits
from .policy import policy
from .proxy import proxy
from .reverts import revert
from .role import role
from .services import check, cluster
from .webhooks import webhooks

__all__ = [
    "approvals",
    "audit",
    "catalog",
    "check",
    "claims",
    "cluster",
    "console",
    "limits",
    "policy",
    "proxy",
    "revert",
    "role",
    "webhooks",
]
