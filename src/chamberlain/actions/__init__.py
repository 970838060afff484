"""Declaring actions: the registry (Surface), contracts and risk classes."""

from ._action import Action, Handler
from ._contract import SECRET, Contract, build_contract, schema_contract
from ._risk import RISK_CLASSES, RiskClass, mcp_hints
from ._surface import ACTION_NAME, Declared, Surface
from ._undo import REVERT_SUFFIX, Original, Undo

__all__ = [
    "ACTION_NAME",
    "REVERT_SUFFIX",
    "RISK_CLASSES",
    "SECRET",
    "Action",
    "Contract",
    "Declared",
    "Handler",
    "Original",
    "RiskClass",
    "Surface",
    "Undo",
    "build_contract",
    "mcp_hints",
    "schema_contract",
]
