"""Governing what already exists: existing REST APIs (from their OpenAPI) and MCP servers,
put behind the gateway as actions, with every rule native actions have."""

from ._breaker import CircuitBreaker
from ._upstream import RETRYABLE_STATUSES, HttpUpstream, UpstreamPolicy, problem_for

__all__ = ["RETRYABLE_STATUSES", "CircuitBreaker", "HttpUpstream", "UpstreamPolicy", "problem_for"]
