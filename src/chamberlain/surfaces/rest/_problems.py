"""RFC 9457 problem+json responses: the REST face of the error tree."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

from ...errors import AuthenticationError, ChamberlainError, GrantMissing

PROBLEM_JSON = "application/problem+json"


def problem_response(
    error: ChamberlainError, *, instance: str | None = None, headers: Mapping[str, str] | None = None, **more: Any
) -> Response:
    body = error.to_problem(**more)
    if instance:
        body["instance"] = instance
    headers = dict(headers or {})
    if isinstance(error, AuthenticationError):
        # RFC 6750 3.1: no error code when the request carried no token at all.
        challenge = (
            "Bearer" if isinstance(error, GrantMissing) else f'Bearer error="invalid_token", error_description="{error.title}"'
        )
        headers.setdefault("WWW-Authenticate", challenge)
    if "retry_after" in error.extra:  # RFC 9110: whole seconds
        headers.setdefault("Retry-After", str(math.ceil(error.extra["retry_after"])))
    return Response(orjson.dumps(body), status_code=error.status, media_type=PROBLEM_JSON, headers=headers)


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
