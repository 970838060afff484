"""Timestamps as stored and shown: UTC, ISO 8601, microsecond precision."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

__all__ = ["parse_duration", "spoken_duration", "utc_now", "utc_now_iso"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^(\d+)([smhd])$")


def utc_now() -> datetime:
    return datetime.now(UTC)


def utc_now_iso() -> str:
    return utc_now().isoformat(timespec="microseconds")


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``1h``, ``7d``: the forms the CLI and API accept for lifetimes."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"duration {text!r} must look like 90s, 15m, 1h or 7d")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def spoken_duration(span: timedelta) -> str:
    """``30 days``, ``1 hour``, ``90 seconds``: the largest whole unit, as prose says it."""
    seconds = int(span.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"
