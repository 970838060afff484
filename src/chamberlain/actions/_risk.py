"""Risk classes and the MCP tool hints they imply.

The risk class is the one fact about an action that later stages (policy,
approvals, idempotency) key on, so the MCP hints are derived from it rather than
declared separately, and cannot contradict it.
"""

from __future__ import annotations

from typing import Literal, get_args

RiskClass = Literal["read", "write", "money", "data_export", "account"]
RISK_CLASSES: tuple[str, ...] = get_args(RiskClass)

# read and data_export change nothing in the business; money and account changes are
# the ones a human must be able to stop, so MCP clients are told they are destructive.
_READ_ONLY = {"read", "data_export"}
_DESTRUCTIVE = {"money", "account"}


def mcp_hints(risk: str, idempotent: bool | None = None) -> dict[str, bool]:
    """``readOnlyHint``/``destructiveHint``/``idempotentHint`` for a risk class."""
    read_only = risk in _READ_ONLY
    return {
        "readOnlyHint": read_only,
        "destructiveHint": risk in _DESTRUCTIVE,
        "idempotentHint": read_only if idempotent is None else idempotent,
        "openWorldHint": False,
    }
