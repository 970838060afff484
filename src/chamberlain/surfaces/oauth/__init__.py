"""The OAuth 2.1 front for MCP clients: RFC 9728 and RFC 8414 metadata, a token endpoint."""

from ._routes import OAuthSurface, challenge

__all__ = ["OAuthSurface", "challenge"]
