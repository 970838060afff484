"""``/errors``: the catalogue of problem types, served by the gateway itself.

Every problem's ``type`` is ``https://chamberlain.dev/errors/<code>``, a stable
identifier; each gateway serves the same page at ``/errors/<code>``, so an agent (or
the engineer reading its logs) can look up what a refusal means, whether to retry, and
what to change, from the gateway it is talking to. JSON for machines (``Accept:
application/json``), a small HTML page for people.
"""

from __future__ import annotations

import html

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ...errors import NotFound, catalogue
from ._problems import JSONResponse, problem_response

__all__ = ["error_routes"]


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "json" in accept and "text/html" not in accept


async def list_errors(request: Request) -> Response:
    return JSONResponse({"errors": catalogue()})


async def show_error(request: Request) -> Response:
    code = request.path_params["code"]
    found = next((e for e in catalogue() if e["code"] == code), None)
    if found is None:
        return problem_response(NotFound(f"no problem type {code[:64]!r}; GET /errors lists them"))
    if _wants_json(request):
        return JSONResponse(found)
    retry = "Yes, later: it may succeed." if found["retryable"] else "Not unchanged."
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(found["title"])}</title></head>
<body>
<h1>{html.escape(found["title"])}</h1>
<p><code>{html.escape(found["type"])}</code></p>
<dl>
<dt>HTTP status</dt><dd>{found["status"]}</dd>
<dt>Retry?</dt><dd>{retry}</dd>
<dt>What to do</dt><dd>{html.escape(found["advice"])}</dd>
</dl>
<p><a href="/errors">Every problem type</a> (JSON)</p>
</body></html>
"""
    return HTMLResponse(page)


def error_routes() -> list[Route]:
    return [Route("/errors", list_errors, methods=["GET"]), Route("/errors/{code}", show_error, methods=["GET"])]
