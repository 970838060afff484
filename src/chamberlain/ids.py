"""Identifiers: time-sortable call ids and W3C trace context."""

from __future__ import annotations

import os
import re
import time

__all__ = ["new_call_id", "new_trace_id", "trace_id_from_traceparent"]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


def new_call_id() -> str:
    """A ULID (48-bit milliseconds + 80 random bits), so records sort by time."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        value, rem = divmod(value, 32)
        chars.append(_CROCKFORD[rem])
    return "call_" + "".join(reversed(chars))


def new_trace_id() -> str:
    return os.urandom(16).hex()


def trace_id_from_traceparent(header: str | None) -> str:
    """Continue the caller's trace when it sent a valid ``traceparent``, else start one."""
    if header:
        match = _TRACEPARENT.match(header.strip().lower())
        if match and match.group(1) != "0" * 32:
            return match.group(1)
    return new_trace_id()
