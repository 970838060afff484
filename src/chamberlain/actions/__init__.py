"""Declaring actions: the registry (Surface), contracts and risk classes."""

from ._action import Action, Handler
from ._contract import SECRET, Contract, build_contract
from ._risk import RISK_CLASSES, RiskClass, mcp_hints
from ._surface import ACTION_NAME, Surface

__all__ = [
    "ACTION_NAME",
    "RISK_CLASSES",
    "SECRET",
    "Action",
    "Contract",
    "Handler",
    "RiskClass",
    "Surface",
    "build_contract",
    "mcp_hints",
]
