"""Reverting calls in bulk (an operator's dry run, then the reverts), shared by the CLI and console."""

from ._bulk import Planned, execute, plan, revert_one

__all__ = ["Planned", "execute", "plan", "revert_one"]
