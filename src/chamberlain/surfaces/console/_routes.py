"""The console's pages: server-rendered HTML over the same gateway every agent uses.

Only translation lives here, as on the other surfaces. A page reads through the
gateway with the session's grant (so it shows the logged-in person's tenant and nothing
else), and a change is a governed call made with that grant (``surface="console"``):
authorized, policy-checked, possibly parked for approval, and audited like any other.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ...approvals import ApprovalDesk
from ...errors import ChamberlainError
from ...grants import Grant, attenuate
from ...limits import Limiter, Rate
from ...money import Money
from ...pipeline import Call, Gateway
from ...policy import PolicyBook, PolicyEngine, check, parse_cases
from ...timeutil import utc_now
from .._refusals import recorded
from ._live import live_stream
from ._people import ConsolePeople, Session

__all__ = ["ConsoleRoutes"]

COOKIE = "chamberlain_console"
STATIC = Path(__file__).parent / "static"
LOGIN_RATE = Rate.parse("10/minute")
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Visit:
    """Who is looking: the session and the grant it acts with."""

    session: Session
    grant: Grant


Page = Callable[[Request, Visit], Awaitable[Response]]


def _money(value: Any) -> str | None:
    if isinstance(value, dict) and set(value) == {"amount_minor", "currency"}:
        try:
            return str(Money.model_validate(value))
        except ValueError:
            return None
    return None


class ConsoleRoutes:
    def __init__(
        self,
        gateway: Gateway,
        desk: ApprovalDesk,
        people: ConsolePeople,
        policies: PolicyBook,
        limiter: Limiter,
        *,
        secure_cookies: bool,
    ) -> None:
        self.gateway = gateway
        self.desk = desk
        self.people = people
        self.policies = policies
        self.limiter = limiter
        self.secure_cookies = secure_cookies
        self.templates = Environment(
            loader=PackageLoader("chamberlain.surfaces.console", "templates"), autoescape=select_autoescape(), enable_async=False
        )
        self.templates.filters["money"] = _money
        self.templates.filters["json"] = lambda v: orjson.dumps(v, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()

    @property
    def routes(self) -> list[Route | Mount]:
        page = self._page
        return [
            Route("/console", lambda r: RedirectResponse("/console/", 307), methods=["GET"]),
            Route("/console/", page(self.overview), methods=["GET"]),
            Route("/console/login", self.login_form, methods=["GET"]),
            Route("/console/login", self.login, methods=["POST"]),
            Route("/console/logout", page(self.logout), methods=["POST"]),
            Route("/console/approvals", page(self.approvals), methods=["GET"]),
            Route("/console/approvals/{approval_id}/decide", page(self.decide), methods=["POST"]),
            Route("/console/activity", page(self.activity), methods=["GET"]),
            Route("/console/calls/{call_id}", page(self.call), methods=["GET"]),
            Route("/console/audit", page(self.audit), methods=["GET"]),
            Route("/console/audit/key.txt", page(self.audit_key), methods=["GET"]),
            Route("/console/audit/export.jsonl", page(self.audit_export), methods=["GET"]),
            Route("/console/audit/consistency.json", page(self.audit_consistency), methods=["GET"]),
            Route("/console/audit/{index:int}", page(self.entry), methods=["GET"]),
            Route("/console/audit/{index:int}/proof.json", page(self.entry_proof), methods=["GET"]),
            Route("/console/grants", page(self.grants), methods=["GET"]),
            Route("/console/grants/issue", page(self.issue_grant), methods=["POST"]),
            Route("/console/grants/attenuate", page(self.attenuate_grant), methods=["POST"]),
            Route("/console/grants/{grant_id}/revoke", page(self.revoke_grant), methods=["POST"]),
            Route("/console/policies", page(self.policy_page), methods=["GET"]),
            Route("/console/policies/test", page(self.policy_test), methods=["POST"]),
            Route("/console/live", page(self.live), methods=["GET"]),
            Mount("/console/static", StaticFiles(directory=STATIC), name="console-static"),
        ]

    # -- plumbing ---------------------------------------------------------------------

    def render(self, request: Request, name: str, code: int = 200, **context: Any) -> HTMLResponse:
        html = self.templates.get_template(name).render(request=request, path=request.url.path, **context)
        return HTMLResponse(html, status_code=code, headers=HEADERS)

    def _page(self, handler: Page) -> Callable[[Request], Awaitable[Response]]:
        """Only for a logged-in person; a change also needs the session's CSRF token and
        a same-origin request."""

        async def endpoint(request: Request) -> Response:
            cookie = request.cookies.get(COOKIE)
            session = await self.people.session(cookie) if cookie else None
            if session is None:
                if request.method == "GET" and not request.url.path.endswith((".json", ".txt", ".jsonl", "/live")):
                    return RedirectResponse(f"/console/login?next={request.url.path}", 303)
                return PlainTextResponse("log in first", 401, headers=HEADERS)
            try:
                grant = await self.gateway.authenticate(session.token)
            except ChamberlainError:
                return RedirectResponse("/console/login", 303)
            if request.method == "POST" and not await self._same_origin_with_token(request, session):
                return PlainTextResponse("refused: the form is stale or came from another site; reload the page", 403)
            try:
                return await handler(request, Visit(session, grant))
            except ChamberlainError as err:  # recorded like every refusal (a decision's, by the desk already)
                record = await recorded(self.gateway, f"console.{handler.__name__}", None, "console", err, grant=grant)
                status = err.status if err.status in (403, 404, 409, 422) else 400
                problem = err.to_problem(**record)
                return self.render(request, "error.html", status, visit=Visit(session, grant), error=problem)

        return endpoint

    async def _same_origin_with_token(self, request: Request, session: Session) -> bool:
        origin = request.headers.get("origin")
        if origin is not None and origin.rstrip("/") != f"{request.url.scheme}://{request.url.netloc}":
            return False
        sent = request.headers.get("x-csrf-token") or str((await request.form()).get("csrf", ""))
        return hmac.compare_digest(sent.encode(), session.csrf.encode())

    async def _governed(self, visit: Visit, action: str, arguments: dict[str, Any]) -> Any:
        """A change, as a governed call with the person's grant."""
        call = Call(action, arguments, visit.session.token, "console", idempotency_key=str(uuid.uuid4()))
        return await self.gateway.call(call)

    # -- login ------------------------------------------------------------------------

    async def login_form(self, request: Request) -> Response:
        return self.render(request, "login.html", next=_local(request.query_params.get("next")))

    async def login(self, request: Request) -> Response:
        form = await request.form()
        tenant, username, password = (str(form.get(k, "")).strip() for k in ("tenant", "username", "password"))
        nxt = _local(str(form.get("next", "")))
        verdict = await self.limiter.take(f"console-login:{tenant}:{username}", LOGIN_RATE)
        if not verdict.allowed:
            return self.render(request, "login.html", 429, error="Too many attempts: wait a minute.", tenant=tenant, next=nxt)
        done = await self.people.login(tenant, username, password) if tenant and username and password else None
        if done is None:
            error = "Wrong tenant, username or password."
            return self.render(request, "login.html", 401, error=error, tenant=tenant, username=username, next=nxt)
        cookie, _ = done
        response = RedirectResponse(nxt or "/console/", 303)
        response.set_cookie(
            COOKIE, cookie, httponly=True, samesite="strict", secure=self.secure_cookies, path="/console", max_age=8 * 3600
        )
        return response

    async def logout(self, request: Request, visit: Visit) -> Response:
        await self.people.logout(request.cookies[COOKIE])
        response = RedirectResponse("/console/login", 303)
        response.delete_cookie(COOKIE, path="/console")
        return response

    # -- pages --------------------------------------------------------------------------

    async def overview(self, request: Request, visit: Visit) -> Response:
        since = (utc_now() - timedelta(hours=24)).isoformat()
        summary = await self.gateway.summary(visit.grant, since)
        waiting = await self._pending(visit)
        hours = _hour_bars(summary["hours"])
        return self.render(request, "overview.html", visit=visit, summary=summary, waiting=len(waiting), hours=hours)

    async def _pending(self, visit: Visit) -> list[dict[str, Any]]:
        try:
            return await self.desk.query(visit.grant, "pending")
        except ChamberlainError:
            return []  # not an approver: nothing waits for this person

    async def approvals(self, request: Request, visit: Visit) -> Response:
        approver = True
        try:
            pending = await self.desk.query(visit.grant, "pending")
            recent = [a for a in await self.desk.query(visit.grant, None, 30) if a["status"] != "pending"][:10]
        except ChamberlainError:
            approver, pending, recent = False, [], []
        template = "_approval_list.html" if request.query_params.get("fragment") else "approvals.html"
        return self.render(request, template, visit=visit, pending=pending, recent=recent, approver=approver)

    async def decide(self, request: Request, visit: Visit) -> Response:
        form = await request.form()
        approve = form.get("decision") == "approve"
        reason = str(form.get("reason", "")).strip() or ("approved in the console" if approve else "")
        if not reason:
            return await self._approvals_with(request, visit, "Say why you reject it.")
        await self.desk.decide(
            visit.grant,
            request.path_params["approval_id"],
            approve=approve,
            reason=reason[:1000],
            expected_hash=str(form.get("request_hash") or "") or None,
            surface="console",
        )
        return RedirectResponse("/console/approvals", 303)

    async def _approvals_with(self, request: Request, visit: Visit, error: str) -> Response:
        pending = await self.desk.query(visit.grant, "pending")
        return self.render(request, "approvals.html", 422, visit=visit, pending=pending, recent=[], approver=True, error=error)

    async def activity(self, request: Request, visit: Visit) -> Response:
        params = request.query_params
        filters = {k: params.get(k) or None for k in ("principal", "action", "decision")}
        calls = await self.gateway.records(visit.grant, limit=50, before=params.get("before") or None, **filters)
        template = "_call_rows.html" if params.get("fragment") else "activity.html"
        return self.render(request, template, visit=visit, calls=calls, filters=filters)

    async def call(self, request: Request, visit: Visit) -> Response:
        record = await self.gateway.record(visit.grant, request.path_params["call_id"])
        return self.render(request, "call.html", visit=visit, call=record, stages=_waterfall(record.get("timings_ms") or {}))

    async def audit(self, request: Request, visit: Visit) -> Response:
        params = request.query_params
        checkpoint = await self.gateway.audit_checkpoint(visit.grant)
        size = int(checkpoint.split("\n")[1])
        kind, call_id = (params.get("kind") or "").strip(), (params.get("call") or "").strip()
        if kind or call_id:
            entries = await self.gateway.audit_search(visit.grant, kind=kind or None, call_id=call_id or None)
            start = None
        else:
            first = params.get("from", "")
            start = max(0, min(int(first) if _whole(first) else size - 25, size - 1))
            entries = list(reversed(await self.gateway.audit_entries(visit.grant, start, 25)))
        searched = {"kind": kind, "call": call_id}
        return self.render(
            request, "audit.html", visit=visit, checkpoint=checkpoint, size=size, entries=entries, start=start, searched=searched
        )

    async def audit_consistency(self, request: Request, visit: Visit) -> Response:
        """For the browser's own check that the log only grew since it last looked."""
        sizes = [request.query_params.get(n, "") for n in ("from", "to")]
        if not all(_whole(s) for s in sizes):
            return PlainTextResponse("from and to must be whole numbers", 400, headers=HEADERS)
        found = await self.gateway.audit_consistency(visit.grant, int(sizes[0]), int(sizes[1]))
        return Response(orjson.dumps(found), media_type="application/json", headers=HEADERS)

    async def entry(self, request: Request, visit: Visit) -> Response:
        found = await self.gateway.audit_entry(visit.grant, request.path_params["index"], proof=False)
        return self.render(request, "entry.html", visit=visit, found=found)

    async def entry_proof(self, request: Request, visit: Visit) -> Response:
        found = await self.gateway.audit_entry(visit.grant, request.path_params["index"], proof=True)
        return Response(orjson.dumps(found), media_type="application/json", headers=HEADERS)

    async def audit_key(self, request: Request, visit: Visit) -> Response:
        return PlainTextResponse(await self.gateway.audit_key(visit.grant) + "\n", headers=HEADERS)

    async def audit_export(self, request: Request, visit: Visit) -> Response:
        """Every entry as JSON Lines (``chamberlain audit export`` gives the full offline bundle)."""
        grant = visit.grant
        size = int((await self.gateway.audit_checkpoint(grant)).split("\n")[1])

        async def lines() -> Any:
            for start in range(0, size, 500):
                for item in await self.gateway.audit_entries(grant, start, 500):
                    yield orjson.dumps(item, option=orjson.OPT_APPEND_NEWLINE)

        disposition = {"Content-Disposition": f'attachment; filename="audit-{grant.tenant}.jsonl"'}
        return StreamingResponse(lines(), media_type="application/jsonl", headers={**HEADERS, **disposition})

    async def grants(
        self, request: Request, visit: Visit, issued: Any = None, error: Any = None, narrowed: str | None = None
    ) -> Response:
        status = request.query_params.get("status") or "active"
        listing = await self._governed(visit, "grants.list", {"status": status if status != "all" else None})
        rows = listing.result["grants"] if listing.error is None else []
        refused = listing.error.to_problem() if listing.error is not None else None
        return self.render(
            request,
            "grants.html",
            visit=visit,
            grants=rows,
            status=status,
            refused=refused,
            issued=issued,
            error=error,
            narrowed=narrowed,
        )

    async def issue_grant(self, request: Request, visit: Visit) -> Response:
        form = await request.form()
        arguments = {
            "principal": str(form.get("principal", "")).strip(),
            "actions": _items(form, "actions"),
            "ttl_seconds": _int(form, "ttl_seconds", 3600),
        }
        if constraints := _lines(form, "constraints"):
            arguments["constraints"] = constraints
        outcome = await self._governed(visit, "grants.issue", arguments)
        if (problem := _not_done(outcome)) is not None:
            return await self.grants(request, visit, error=problem)
        return await self.grants(request, visit, issued=outcome.result)

    async def attenuate_grant(self, request: Request, visit: Visit) -> Response:
        """Narrow a token of this tenant, offline (no call, nothing recorded: attenuation
        needs only the token and the tenant's public key, and can only take rights away)."""
        form = await request.form()
        token = str(form.get("token", "")).strip()
        try:
            key = await self.gateway.authority.key_of(token)
            if key.tenant != visit.grant.tenant:
                raise ValueError("that is not a grant of this tenant")
            ttl = _int(form, "ttl_seconds", 0)
            narrowed = attenuate(
                token,
                key.public_key,
                actions=_items(form, "actions") or None,
                ttl=timedelta(seconds=ttl) if ttl else None,
                delegate_to=str(form.get("to", "")).strip() or None,
                constraints=_lines(form, "constraints"),
            )
        except (ValueError, ChamberlainError) as err:
            detail = err.detail if isinstance(err, ChamberlainError) else str(err)
            return await self.grants(request, visit, error={"title": "Not attenuated", "detail": detail})
        return await self.grants(request, visit, narrowed=narrowed)

    async def revoke_grant(self, request: Request, visit: Visit) -> Response:
        form = await request.form()
        reason = str(form.get("reason", "")).strip() or "revoked in the console"
        outcome = await self._governed(visit, "grants.revoke", {"grant_id": request.path_params["grant_id"], "reason": reason})
        if (problem := _not_done(outcome)) is not None:
            return await self.grants(request, visit, error=problem)
        return RedirectResponse("/console/grants", 303)

    async def policy_page(self, request: Request, visit: Visit, results: Any = None, cases: str = "") -> Response:
        current = await self._governed(visit, "policies.get", {})
        history = await self.policies.history(visit.grant.tenant) if current.error is None else []
        return self.render(
            request,
            "policies.html",
            visit=visit,
            current=current.result if current.error is None else None,
            refused=current.error.to_problem() if current.error else None,
            history=history,
            results=results,
            cases=cases or EXAMPLE_CASES,
        )

    async def policy_test(self, request: Request, visit: Visit) -> Response:
        """Run pasted ``policy test`` cases against the tenant's current policies (nothing is
        changed: no call is made, the cases are judged by the policy engine alone)."""
        form = await request.form()
        text = str(form.get("cases", ""))[:100_000]
        try:
            cases = parse_cases(text, visit.grant.tenant)
        except ValueError as err:
            return await self.policy_page(request, visit, results={"error": str(err)}, cases=text)
        engine = PolicyEngine(self.gateway.surface)
        policies = await self.policies.current(visit.grant.tenant)
        results = [check(engine, policies, case) for case in cases]
        return await self.policy_page(request, visit, results={"cases": results, "version": policies.version}, cases=text)

    async def live(self, request: Request, visit: Visit) -> Response:
        return StreamingResponse(
            live_stream(self.gateway, self.desk, visit.grant, request),
            media_type="text/event-stream",
            headers={**HEADERS, "X-Accel-Buffering": "no"},
        )


EXAMPLE_CASES = """[[case]]
name = "a small refund runs at once"
principal = "agent:support-bot"
action = "orders.refund"
arguments = { order_id = "o_1001", amount = { amount_minor = 1500, currency = "EUR" }, reason = "damaged" }
expect = "allow"
"""


def _local(target: str | None) -> str:
    """Only a path of the console itself: never an open redirect."""
    return target if target and target.startswith("/console/") and "//" not in target and "\\" not in target else ""


def _items(form: FormData, name: str) -> list[str]:
    """A comma-separated field as its non-empty items."""
    return [item.strip() for item in str(form.get(name, "")).split(",") if item.strip()]


def _lines(form: FormData, name: str) -> list[str]:
    """A multi-line field as its non-empty lines."""
    return [line.strip() for line in str(form.get(name, "")).splitlines() if line.strip()]


def _not_done(outcome: Any) -> dict[str, Any] | None:
    """Why a governed change did not happen now: its problem, or that it waits for a human."""
    if outcome.error is not None:
        return dict(outcome.error.to_problem())
    if outcome.pending:
        return {"title": "Waiting for approval", "detail": "see Approvals: it runs once approved"}
    return None


def _int(form: FormData, name: str, default: int) -> int:
    raw = str(form.get(name, "")).strip()
    return int(raw) if _whole(raw) else default


def _whole(text: str) -> bool:
    """A whole number ``int()`` takes and the log can hold: ``isdigit()`` alone passes "²"
    (which ``int()`` refuses) and 5,000-digit strings (which it refuses too), both 500s."""
    return text.isascii() and text.isdigit() and len(text) <= 18


def _waterfall(timings: dict[str, float]) -> list[dict[str, Any]]:
    """Stage timings as bars of a waterfall: each starts where the one before ended."""
    total = sum(timings.values()) or 1.0
    bars, at = [], 0.0
    for stage, ms in timings.items():
        bars.append({"stage": stage, "ms": ms, "left": 100 * at / total, "width": max(0.5, 100 * ms / total)})
        at += ms
    return bars


def _hour_bars(hours: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """The last 24 hours, oldest first, as stacked bar heights (percent of the busiest hour)."""
    now = utc_now().replace(minute=0, second=0, microsecond=0)
    keys = [(now - timedelta(hours=h)).isoformat()[:13] for h in range(23, -1, -1)]
    peak = max((sum(hours.get(k, {}).values()) for k in keys), default=0) or 1
    bars = []
    for key in keys:
        counts = hours.get(key, {})
        bars.append(
            {
                "hour": key[11:13],
                "total": sum(counts.values()),
                **{kind: 100 * counts.get(kind, 0) / peak for kind in ("ok", "refused", "error")},
            }
        )
    return bars
