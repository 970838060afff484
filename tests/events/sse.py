"""A small Server-Sent Events reader for tests, written from the WHATWG parsing rules."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Message:
    event: str = "message"
    id: str | None = None
    data: list[str] = field(default_factory=list)
    comment: str | None = None

    @property
    def json(self) -> Any:
        return json.loads("\n".join(self.data))


def messages(response: httpx.Response) -> Iterator[Message]:
    """Messages and comments, in order, as the server sends them."""
    current = Message()
    for line in response.iter_lines():
        if line == "":
            if current.data or current.id is not None or current.event != "message":
                yield current
            current = Message()
        elif line.startswith(":"):
            yield Message(event="", comment=line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                current.data.append(value)
            elif name == "id":
                current.id = value
            elif name == "event":
                current.event = value


def until(stream: Iterator[Message], comment: str) -> list[Message]:
    """The events before the next comment ``comment`` (``live``, ``heartbeat``)."""
    out = []
    for message in stream:
        if message.comment == comment:
            return out
        if message.comment is None:
            out.append(message)
    raise AssertionError(f"the stream ended before ': {comment}'")


def events(stream: Iterator[Message], n: int) -> list[Message]:
    """The next ``n`` events, skipping comments."""
    out: list[Message] = []
    for message in stream:
        if message.comment is None:
            out.append(message)
            if len(out) == n:
                return out
    raise AssertionError(f"the stream ended after {len(out)} of {n} events")
