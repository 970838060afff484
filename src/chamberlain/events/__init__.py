"""Real-time signals: a transactional outbox of CloudEvents, streamed to subscribers."""

from ._bus import Bus, OutboxBus
from ._envelope import GATEWAY_EVENTS, envelope
from ._filters import EventFilter, allowed_types, authorized_types, matching_types, subject_matches
from ._hub import Batch, EventHub, Subscriber, emit_if
from ._nats import NatsBus

__all__ = [
    "GATEWAY_EVENTS",
    "Batch",
    "Bus",
    "EventFilter",
    "EventHub",
    "NatsBus",
    "OutboxBus",
    "Subscriber",
    "allowed_types",
    "authorized_types",
    "emit_if",
    "envelope",
    "matching_types",
    "subject_matches",
]
