"""The console: a web page where a tenant's people supervise its agents."""

from ._people import ConsolePeople, Session
from ._routes import ConsoleRoutes

__all__ = ["ConsolePeople", "ConsoleRoutes", "Session"]
