"""Text no database of the gateway's may be handed: NUL (U+0000).

PostgreSQL refuses NUL in text outright (SQLite stores it), so a NUL that reached a query
failed the request with a 500 on one backend and not the other. The surfaces stop it at
the door, the same way on every backend:

* in what a client sends as data (a JSON body, an MCP tool's arguments) it is refused as
  invalid input, with where it was (``loc``);
* in what names something (a path segment, a query parameter, an MCP tool, resource or
  call id) it is read as U+FFFD instead: no stored name holds a NUL, so the name is
  unknown and answered as any unknown name is (``404``, an empty list), and the record
  of that refusal stays readable.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...errors import InvalidInput

__all__ = ["NUL", "names_without_nul", "nul_free", "nul_refusal", "readable"]

NUL = "\x00"
REPLACEMENT = "\ufffd"
_ESCAPED_NUL = b"%00"
_ESCAPED_REPLACEMENT = b"%EF%BF%BD"


def readable(text: str) -> str:
    """``text`` as a name to look up: any NUL shown as U+FFFD."""
    return text.replace(NUL, REPLACEMENT) if NUL in text else text


def _nul_at(value: Any, loc: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    """Where the first NUL in a JSON value is (a key counts, before its value), or None.
    A loop, not recursion: a body may nest 1,024 levels (orjson's limit), past Python's
    recursion limit, and a RecursionError here was a 500 (tests/security/test_bodies.py)."""
    stack: list[tuple[bool, Any, tuple[str | int, ...]]] = [(False, value, loc)]
    while stack:
        is_key, item, here = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                return here
        elif is_key:
            continue
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):  # pushed last to first: popped in order
                stack.append((False, child, (*here, key)))
                if isinstance(key, str):
                    stack.append((True, key, (*here, readable(key))))
        elif isinstance(item, list):
            stack.extend((False, item[index], (*here, index)) for index in range(len(item) - 1, -1, -1))
    return None


def nul_refusal(value: Any) -> InvalidInput | None:
    """The refusal of data holding a NUL character, or None if it holds none."""
    loc = _nul_at(value)
    if loc is None:
        return None
    message = "text may not contain NUL (U+0000)"
    where = ".".join(str(part) for part in loc) or "the body"
    return InvalidInput(f"{where}: {message}", errors=[{"loc": list(loc), "msg": message, "type": "string_nul"}])


Endpoint = Callable[[Request], Awaitable[Response]]


def nul_free(endpoint: Endpoint) -> Endpoint:
    """``endpoint`` reading its path parameters and query with any NUL as U+FFFD."""

    async def read_as_names(request: Request) -> Response:
        params = request.scope.get("path_params") or {}
        if any(isinstance(v, str) and NUL in v for v in params.values()):
            request.scope["path_params"] = {k: readable(v) if isinstance(v, str) else v for k, v in params.items()}
        query = request.scope.get("query_string", b"")
        if _ESCAPED_NUL in query:
            request.scope["query_string"] = query.replace(_ESCAPED_NUL, _ESCAPED_REPLACEMENT)
        return await endpoint(request)

    read_as_names.__name__ = getattr(endpoint, "__name__", "endpoint")
    read_as_names.__doc__ = endpoint.__doc__
    return read_as_names


def names_without_nul(routes: list[Route]) -> list[Route]:
    """``routes`` reading any NUL in their paths and queries as U+FFFD."""
    return [Route(r.path, nul_free(r.endpoint), methods=sorted(r.methods or ()), name=r.name) for r in routes]
