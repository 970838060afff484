"""Reading a request body with a hard size limit and strict JSON parsing (no NUL in text)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.types import Message, Receive

from ...errors import BodyTooLarge, ChamberlainError, MalformedJSON
from ._text import nul_refusal


async def read_limited(request: Request, limit: int) -> tuple[bytes, BodyTooLarge | None]:
    """The raw body, or the refusal once it is known to exceed ``limit`` (from its declared
    length alone when it says so, before anything is read)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return b"", BodyTooLarge(f"body of {declared} bytes exceeds the limit of {limit}", limit=limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return b"", BodyTooLarge(f"body exceeds the limit of {limit} bytes", limit=limit)
        chunks.append(chunk)
    return b"".join(chunks), None


def replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the app ``body``, already read (to check it), then hands on to
    the connection's own ``receive`` (for a disconnect)."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def read_json(request: Request, limit: int) -> tuple[Any, ChamberlainError | None]:
    """The parsed body, or the error that makes it unusable (never raises)."""
    raw, too_large = await read_limited(request, limit)
    if too_large is not None:
        return None, too_large
    if not raw.strip():
        return {}, None
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        return None, MalformedJSON(f"body is not valid JSON: {err.msg} at position {err.pos}")
    refused = nul_refusal(parsed)  # valid JSON, but no database takes it (see _text)
    return (None, refused) if refused is not None else (parsed, None)
