"""The MCP surface (official SDK, Streamable HTTP, stateless)."""

from ._gate import McpGate
from ._server import AUTH_ERROR_CODE, McpSurface

__all__ = ["AUTH_ERROR_CODE", "McpGate", "McpSurface"]
