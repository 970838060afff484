"""A declared rate: ``"10/minute"`` is at most 10 calls in any minute, bursts included."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Rate"]

UNITS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86_400.0}
_FORM = re.compile(r"\s*(\d+)\s*/\s*(second|minute|hour|day)\s*")


@dataclass(frozen=True)
class Rate:
    limit: int
    window_s: float

    @classmethod
    def parse(cls, text: str) -> Rate:
        found = _FORM.fullmatch(text)
        if found is None or int(found.group(1)) < 1:
            raise ValueError(f"a rate is 'N/second', 'N/minute', 'N/hour' or 'N/day' with N >= 1, not {text!r}")
        return cls(int(found.group(1)), UNITS[found.group(2)])

    @property
    def interval_s(self) -> float:
        """The steady spacing between calls that the rate allows."""
        return self.window_s / self.limit

    def __str__(self) -> str:
        unit = next(name for name, seconds in UNITS.items() if seconds == self.window_s)
        return f"{self.limit}/{unit}"
