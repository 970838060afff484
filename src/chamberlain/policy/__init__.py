"""Explicit policies in Cedar: schema from the actions, versioned per tenant, one stage."""

from ._book import DEFAULT_FILE, PolicyBook, default_files, read_policy_files
from ._cases import Case, CaseResult, check, explain, load_cases, parse_cases
from ._compile import Policy, PolicySet, compile_policies
from ._engine import Decision, PolicyEngine, Request, principal_of
from ._management import policy_surface
from ._schema import cedar_schema
from ._stage import CheckPolicy, pending

__all__ = [
    "DEFAULT_FILE",
    "Case",
    "CaseResult",
    "CheckPolicy",
    "Decision",
    "Policy",
    "PolicyBook",
    "PolicyEngine",
    "PolicySet",
    "Request",
    "cedar_schema",
    "check",
    "compile_policies",
    "default_files",
    "explain",
    "load_cases",
    "parse_cases",
    "pending",
    "policy_surface",
    "principal_of",
    "read_policy_files",
]
