"""Which event types a request names, and which of them a grant may see.

One rule for every way out (SSE streams, webhook endpoints): a type is seen only by a
grant that covers ``events.<type>`` (``events.*`` covers them all), and a filter that
names a type no one emits is a mistake worth saying so, not an empty stream.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import PermissionDenied, UnknownEventType

if TYPE_CHECKING:  # grants emit events, so they import this package
    from ..grants import Grant

__all__ = ["EventFilter", "allowed_types", "authorized_types", "matching_types", "subject_matches"]


def _matches(pattern: str, type: str) -> bool:
    return type.startswith(pattern[:-1]) if pattern.endswith("*") else type == pattern


def matching_types(patterns: Iterable[str], known: Iterable[str]) -> set[str]:
    """The known types named by ``patterns`` (exact names or ``prefix.*``); a pattern
    that names none is refused with ``unknown-event-type``."""
    known = set(known)
    patterns = [p.strip() for p in patterns if p.strip()]
    unknown = sorted(p for p in patterns if not any(_matches(p, k) for k in known))
    if unknown:
        raise UnknownEventType(f"no event type {', '.join(unknown)[:200]}", errors=[], types=unknown[:20])
    return {k for k in known if any(_matches(p, k) for p in patterns)}


def allowed_types(grant: Grant, known: Iterable[str], audience: str, now: datetime) -> set[str]:
    return {t for t in known if grant.in_scope(f"events.{t}", audience, now)}


def authorized_types(
    grant: Grant, patterns: Iterable[str] | None, known: Iterable[str], audience: str, now: datetime
) -> set[str]:
    """The types a subscription gets: those named (all when ``patterns`` is None) that the
    grant covers. Naming a type the grant does not cover is refused, not silently dropped."""
    known = set(known)
    allowed = allowed_types(grant, known, audience, now)
    if patterns is None:
        chosen = allowed
    else:
        named = matching_types(patterns, known)
        exact_denied = sorted(p for p in patterns if p in known and p not in allowed)
        if exact_denied:
            raise PermissionDenied(f"this grant does not cover events.{exact_denied[0]}", allowed_types=sorted(allowed))
        chosen = named & allowed
    if not chosen:
        raise PermissionDenied(
            "this grant covers none of these event types (grant events.<type>, or events.*)",
            allowed_types=sorted(allowed),
        )
    return chosen


def subject_matches(pattern: str | None, subject: str | None) -> bool:
    """``None`` matches all; ``prefix*`` matches by prefix; anything else exactly."""
    if pattern is None:
        return True
    if pattern.endswith("*"):
        return subject is not None and subject.startswith(pattern[:-1])
    return subject == pattern


@dataclass(frozen=True)
class EventFilter:
    """Which events a stream wants: of these types (all if None), about a subject matching
    ``subject`` (see ``subject_matches``) or one of ``subjects``. Filters are values, so
    the hub tests each distinct filter once per batch, however many streams share it."""

    types: frozenset[str] | None = None
    subject: str | None = None
    subjects: frozenset[str] | None = None

    def __call__(self, event: dict[str, Any]) -> bool:
        if self.types is not None and event["type"] not in self.types:
            return False
        if self.subjects is not None and event.get("subject") not in self.subjects:
            return False
        return subject_matches(self.subject, event.get("subject"))
