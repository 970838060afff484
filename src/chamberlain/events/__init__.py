"""Real-time signals: a transactional outbox of CloudEvents, streamed to subscribers."""

from ._envelope import GATEWAY_EVENTS, envelope
from ._filters import allowed_types, authorized_types, matching_types, subject_matches
from ._hub import EventHub, Subscriber, emit_if

__all__ = [
    "GATEWAY_EVENTS",
    "EventHub",
    "Subscriber",
    "allowed_types",
    "authorized_types",
    "emit_if",
    "envelope",
    "matching_types",
    "subject_matches",
]
