"""Real-time signals: a transactional outbox of CloudEvents, streamed to subscribers."""

from ._envelope import GATEWAY_EVENTS, envelope
from ._hub import EventHub, Subscriber, emit_if

__all__ = ["GATEWAY_EVENTS", "EventHub", "Subscriber", "emit_if", "envelope"]
