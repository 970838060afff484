"""Who acts: an agent, a human or a service, possibly on behalf of someone."""

from __future__ import annotations

import re
from dataclasses import dataclass

_ID = re.compile(r"^(agent|human|service|user):[A-Za-z0-9._@_-]{1,128}$")


@dataclass(frozen=True)
class Principal:
    id: str
    on_behalf_of: str | None = None

    @property
    def kind(self) -> str:
        return self.id.split(":", 1)[0]

    @classmethod
    def parse(cls, principal: str, on_behalf_of: str | None = None) -> Principal:
        """``kind:name``; a bare name means an agent (``support-bot`` is ``agent:support-bot``)."""
        if ":" not in principal:
            principal = f"agent:{principal}"
        if not _ID.match(principal):
            raise ValueError(f"principal {principal!r} must look like agent:NAME, human:NAME or service:NAME")
        if on_behalf_of is not None and not _ID.match(on_behalf_of):
            raise ValueError(f"on_behalf_of {on_behalf_of!r} must look like user:NAME or agent:NAME")
        return cls(principal, on_behalf_of)
