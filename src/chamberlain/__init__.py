"""Chamberlain: the governed front door between AI agents and a business.

Declare actions on a :class:`Surface`; serve them with ``chamberlain serve``.
"""

from .actions import Action, Original, Surface
from .context import Context
from .errors import ActionError
from .money import Money

__version__ = "0.1.0"

__all__ = ["Action", "ActionError", "Context", "Money", "Original", "Surface", "__version__"]
