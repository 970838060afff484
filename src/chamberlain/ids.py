"""Identifiers: time-sortable call ids and W3C trace context."""

from __future__ import annotations

import base64
import os
import re
import time

__all__ = ["new_call_id", "new_event_id", "new_prefixed_id", "new_trace_id", "trace_id_from_traceparent"]

_TO_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789ABCDEFGHJKMNPQRSTVWXYZ")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


def _ulid() -> str:
    """48-bit milliseconds + 80 random bits in Crockford base32 (ULID layout), so ids sort by time."""
    raw = (time.time_ns() // 1_000_000).to_bytes(6, "big") + os.urandom(10)
    # Base32 keeps byte order; Crockford's alphabet is ASCII-ascending, so sorting is preserved.
    return base64.b32encode(raw).decode().rstrip("=").translate(_TO_CROCKFORD)


def new_call_id() -> str:
    return "call_" + _ulid()


def new_event_id() -> str:
    """Stable for the event's life: what consumers dedupe on."""
    return "evt_" + _ulid()


def new_prefixed_id(prefix: str) -> str:
    """A time-sortable id with a kind prefix (``wh_``, ``whd_``): readable in logs and URLs."""
    return prefix + _ulid()


def new_trace_id() -> str:
    return os.urandom(16).hex()


def trace_id_from_traceparent(header: str | None) -> str:
    """Continue the caller's trace when it sent a valid ``traceparent``, else start one."""
    if header:
        match = _TRACEPARENT.match(header.strip().lower())
        if match and match.group(1) != "0" * 32:
            return match.group(1)
    return new_trace_id()
