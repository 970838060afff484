"""One call of a proxied operation: the upstream request built from the validated
arguments, and the answer read back.

Only the arguments go upstream, placed where the operation says (path, query, header,
JSON body), plus what the gateway itself adds: the upstream's own credentials (set on
its ``HttpUpstream``), the call's ``traceparent`` and, for an operation that takes
one, an ``Idempotency-Key`` derived from the call. Nothing of the agent's request (its
headers, its grant) is reachable from here, so nothing of it can leak upstream.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import orjson

from ..errors import InvalidInput, UpstreamFailed
from ._operations import OperationSpec, Parameter
from ._upstream import HttpUpstream, UpstreamResponse, problem_for

__all__ = ["UpstreamRequest", "build_request", "forward", "read_answer"]

_DELIMITERS = {"form": ",", "spaceDelimited": " ", "pipeDelimited": "|"}


@dataclass
class UpstreamRequest:
    path: str
    params: dict[str, list[str]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    """The JSON body; None sends none."""


async def forward(
    upstream: HttpUpstream,
    op: OperationSpec,
    arguments: Mapping[str, Any],
    *,
    traceparent: str,
    idempotency_key: str | None = None,
) -> Any:
    """Send ``op`` with ``arguments``; its answer as JSON, or the upstream's refusal raised
    as the gateway's problem type."""
    request = build_request(op, arguments, idempotency_key)
    response = await upstream.request(
        op.method,
        request.path,
        idempotent=op.idempotent,
        traceparent=traceparent or None,
        params=request.params or None,
        json=request.json,
        headers=request.headers,
    )
    return read_answer(upstream.name, response)


def build_request(op: OperationSpec, arguments: Mapping[str, Any], idempotency_key: str | None = None) -> UpstreamRequest:
    """The request for ``op``; ``arguments`` have passed its input schema."""
    by_argument = {p.argument: p for p in op.parameters}
    request = UpstreamRequest(op.path, headers={"Accept": "application/json, */*;q=0.5"})
    body: dict[str, Any] = {}
    for name, value in arguments.items():
        p = by_argument.get(name)
        if p is None:
            body[name] = value
        elif value is None:
            continue
        elif p.location == "path":
            request.path = request.path.replace("{" + p.name + "}", _segment(p, value))
        elif p.location == "query":
            for key, text in _query(p, value):
                request.params.setdefault(key, []).append(text)
        else:
            request.headers[p.name] = _header(p, value)
    if op.idempotency_header and idempotency_key:
        request.headers[op.idempotency_header] = idempotency_key
    if op.body is not None:
        if op.body.argument is not None:
            request.json = body.get(op.body.argument)
        elif body or op.body.required:
            request.json = body
        if request.json is not None and op.body.media_type.split(";")[0].strip().lower() != "application/json":
            request.headers["Content-Type"] = op.body.media_type  # merge-patch+json and kin: say which JSON it is
    return request


def read_answer(upstream: str, response: UpstreamResponse) -> Any:
    """A 2xx answer as the call's result: its JSON; ``{"status"}`` when it has no body;
    other content as ``{"status", "content_type", "text"}``. A redirect is refused
    rather than followed: the gateway's credentials stay with the host they are for."""
    status = response.status_code
    if status >= 300:
        raise problem_for(upstream, response)
    if status in (204, 205) or not response.content:
        return {"status": status}
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json" or kind.endswith("+json"):
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as err:
            raise UpstreamFailed(
                f"{upstream} answered {status} with malformed JSON", upstream=upstream, upstream_status=status
            ) from err
    return {"status": status, "content_type": kind or None, "text": response.text}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _escape(text: str) -> str:
    # '.' is unreserved, so quote leaves it; a whole segment of dots would walk the path.
    encoded = quote(text, safe="")
    return encoded.replace(".", "%2E") if set(encoded) <= {"."} else encoded


def _segment(p: Parameter, value: Any) -> str:
    if p.as_json:
        segment = _escape(orjson.dumps(value).decode())
    elif isinstance(value, list):
        segment = ",".join(_escape(_text(v)) for v in value)
    elif isinstance(value, dict):
        sep = "=" if p.explode else ","
        segment = ",".join(f"{_escape(str(k))}{sep}{_escape(_text(v))}" for k, v in value.items())
    else:
        segment = _escape(_text(value))
    if not segment:
        raise _invalid(p, "a path parameter cannot be empty")
    return segment


def _query(p: Parameter, value: Any) -> list[tuple[str, str]]:
    if p.as_json:
        return [(p.name, orjson.dumps(value).decode())]
    if isinstance(value, list):
        items = [_text(v) for v in value]
        if p.style == "form" and p.explode:
            return [(p.name, v) for v in items]
        return [(p.name, _DELIMITERS.get(p.style, ",").join(items))]
    if isinstance(value, dict):
        if p.style == "deepObject":
            return [(f"{p.name}[{k}]", _text(v)) for k, v in value.items()]
        if p.explode:
            return [(str(k), _text(v)) for k, v in value.items()]
        return [(p.name, ",".join(f"{k},{_text(v)}" for k, v in value.items()))]
    return [(p.name, _text(value))]


def _header(p: Parameter, value: Any) -> str:
    if p.as_json:
        text = orjson.dumps(value).decode()
    elif isinstance(value, list):
        text = ",".join(_text(v) for v in value)
    elif isinstance(value, dict):
        sep = "=" if p.explode else ","
        text = ",".join(f"{k}{sep}{_text(v)}" for k, v in value.items())
    else:
        text = _text(value)
    if any(c in text for c in "\r\n\x00"):
        raise _invalid(p, "a header value cannot hold line breaks")
    return text


def _invalid(p: Parameter, message: str) -> InvalidInput:
    return InvalidInput(f"{p.argument}: {message}", errors=[{"loc": [p.argument], "msg": message, "type": "value_error"}])
