"""Governing what already exists: existing REST APIs (from their OpenAPI) and MCP servers,
put behind the gateway as actions, with every rule native actions have."""

from ._breaker import CircuitBreaker
from ._compensation import UndoOperation
from ._config import ProxyConfig, ProxyConfigError, load_proxy_config
from ._mcp import mcp_actions, mcp_surface
from ._mcp_client import McpUpstream, ToolDefinition
from ._openapi import openapi_actions
from ._pins import ToolPins
from ._served import Proxies
from ._spec import OpenApiError, load_spec
from ._upstream import RETRYABLE_STATUSES, HttpUpstream, UpstreamPolicy, UpstreamResponse, problem_for

__all__ = [
    "RETRYABLE_STATUSES",
    "CircuitBreaker",
    "HttpUpstream",
    "McpUpstream",
    "OpenApiError",
    "Proxies",
    "ProxyConfig",
    "ProxyConfigError",
    "ToolDefinition",
    "ToolPins",
    "UndoOperation",
    "UpstreamPolicy",
    "UpstreamResponse",
    "load_proxy_config",
    "load_spec",
    "mcp_actions",
    "mcp_surface",
    "openapi_actions",
    "problem_for",
]
