"""Soak: the demo shop served by a real ``chamberlain serve`` under a mixed workload for
N minutes, then every promise checked.

    python bench/soak.py                          # 10 minutes on SQLite
    python bench/soak.py --backend postgres       # 10 minutes on PostgreSQL (a fresh database, dropped after)
    python bench/soak.py --minutes 1              # a validation run

The workload, bounded in time (``--minutes``) and in count (``--max-calls``), paced at
about ``--rate`` calls a second, on both demo tenants at once:

- **reads** over REST (orders, customers, catalog, account settings) and over MCP;
- **writes**: small refunds (``orders.refund``, with idempotency keys), some replayed;
- **parked approvals**: large refunds, account changes and data exports wait for a human;
  the approver's own grant approves most over REST (the call runs before the answer) and
  rejects the rest;
- **reverts** of refunds (a large one's revert is parked and approved in turn);
- **intended refusals**, a few per cent: an unknown customer, a refund larger than what is
  left, a second revert, an idempotency key reused with other arguments, invalid input,
  an unknown action, no grant. Each request says which outcomes it expects; anything else
  is an error;
- **SSE subscribers** (``--subscribers`` per tenant, from the first event on; one per tenant
  reconnects every 15 s with Last-Event-ID);
- **webhooks** to a receiver in this process that checks every signature and fails
  ``--webhook-fail-rate`` of the attempts (retried by the gateway).

Checked at the end (the run exits 1 if any fails): no unexpected outcome, nothing in the
gateway's log with a traceback, no approval left pending, every event in the events table
received by every SSE subscriber and (from its registration on) by the webhook receiver,
no delivery dead or pending, each tenant's audit log exported and verified offline
(``chamberlain audit export`` / ``audit verify``), and the gateway's resident memory flat:
sampled every 2 s, with its slope (least squares) over the second half of the run under
``--max-rss-slope`` MB per minute (judged when that half lasts two minutes or more:
before that, warming caches dominate; shorter runs report the figures only).

Raw results: bench/results/soak-<backend>.json (not committed); plot:
docs/images/bench-soak-<backend>.png.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from _mcp_load import Server, cpu_seconds, free_port, rss_bytes, session
from sqlalchemy import create_engine, text
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chamberlain.app import Runtime
from chamberlain.cluster import wait_until_answering
from chamberlain.config import Settings
from chamberlain.demo import APPROVER, seed, shop

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
IMAGES = HERE.parent / "docs" / "images"
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
APP_ROLE = "chamberlain_app"
"""What the gateway connects to PostgreSQL as: an ordinary role held to row-level security (as in the tests)."""
CURRENCY = {"acme-shop": "EUR", "globex-store": "USD"}
ORDERS = {f"o_{1000 + i}": 2500 * i for i in range(1, 7)}
"""The demo's orders and their totals (minor units), the same in both tenants."""
THRESHOLD = 10_000
"""Refunds above this many minor units wait for an approver (the default policies)."""
SAMPLE_S = 2.0
NOT_REFUSALS = ("ok", "parked", "replayed", "executed", "rejected")
"""Outcomes that are no refusal: answered, parked, replayed, and an approval's end state."""
JUDGE_MEMORY_S = 120.0
"""The memory check needs a second half at least this long; shorter runs only report it."""


# -- what happened ------------------------------------------------------------------------------


@dataclass
class Tally:
    calls: int = 0
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(operation, outcome) for every request: ``ok``, ``parked``, or the problem's code."""
    intended: Counter[str] = field(default_factory=Counter)
    """Refusals the workload asked for, by problem code."""
    unexpected: Counter[tuple[str, str]] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def note(self, op: str, outcome: str, expected: tuple[str, ...], detail: str = "") -> bool:
        self.outcomes[(op, outcome)] += 1
        if outcome in expected:
            if outcome not in NOT_REFUSALS:
                self.intended[outcome] += 1
            return True
        self.unexpected[(op, outcome)] += 1
        if len(self.examples) < 20:
            self.examples.append(f"{op}: {outcome} {detail[:300]}")
        return False


def outcome_of(response: httpx.Response) -> str:
    if response.status_code in (200, 201):
        return "replayed" if response.headers.get("idempotent-replayed") == "true" else "ok"
    if response.status_code == 202:
        return "parked"
    try:
        return str(response.json().get("code") or f"http-{response.status_code}")
    except ValueError:
        return f"http-{response.status_code}"


class Client:
    """REST requests that count themselves and check their outcome."""

    def __init__(self, http: httpx.AsyncClient, tally: Tally) -> None:
        self.http, self.tally = http, tally

    async def request(
        self,
        op: str,
        method: str,
        path: str,
        grant: str | None,
        body: Any = None,
        *,
        expect: tuple[str, ...] = ("ok",),
        key: str | None = None,
    ) -> tuple[str, Any]:
        headers = {"Authorization": f"Bearer {grant}"} if grant else {}
        if key is not None:
            headers["Idempotency-Key"] = key
        self.tally.calls += 1
        try:
            response = await self.http.request(method, path, json=body, headers=headers)
        except httpx.HTTPError as err:
            self.tally.note(op, f"transport:{type(err).__name__}", expect, str(err))
            return "transport", None
        outcome = outcome_of(response)
        self.tally.note(op, outcome, expect, response.text)
        try:
            return outcome, response.json()
        except ValueError:
            return outcome, None

    async def act(self, op: str, action: str, grant: str | None, body: Any, **kw: Any) -> tuple[str, Any]:
        return await self.request(op, "POST", f"/v1/actions/{action}", grant, body, **kw)


# -- the workload ---------------------------------------------------------------------------------


@dataclass
class Tenant:
    id: str
    agent: str
    """The demo's support-agent grant (orders, customers, accounts, catalog, events)."""
    approver: str
    """human:rita's grant: decides parked calls."""
    ops: str
    """A service grant for webhooks.* and events.*."""
    refundable: dict[str, int] = field(default_factory=lambda: dict(ORDERS))
    refunds: list[tuple[str, str, int]] = field(default_factory=list)
    """Refunds that ran and were not reverted yet: (call id, order, amount)."""
    reverted: list[str] = field(default_factory=list)
    used_keys: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


class Workload:
    def __init__(self, client: Client, tenants: list[Tenant], rate: float, stop: asyncio.Event, seed_: int) -> None:
        self.c, self.tenants, self.rate, self.stop = client, tenants, rate, stop
        self.rng = random.Random(seed_)
        self.keys = 0

    def key(self) -> str:
        self.keys += 1
        return f"soak-{self.keys}"

    async def paced(self, per_s: float, step: Any) -> None:
        """Run ``step`` about ``per_s`` times a second until told to stop (each step ends whole)."""
        interval, due = 1 / per_s, time.monotonic()
        while not self.stop.is_set():
            await step()
            due += interval
            delay = due - time.monotonic()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), delay)
            else:
                due = time.monotonic()  # behind: do not burst to catch up

    async def decide(self, t: Tenant, parked: Any, op: str, approve: bool) -> str | None:
        """The approver decides a parked call; the status it ends in."""
        approval = parked["approval"]
        verb = "approve" if approve else "reject"
        body = {"reason": f"soak: {verb}d", "request_hash": approval["request_hash"]}
        outcome, view = await self.c.request(f"{op}/{verb}", "POST", f"/v1/approvals/{approval['id']}/{verb}", t.approver, body)
        if outcome != "ok":
            return None
        status = str(view["status"])
        self.c.tally.note(f"{op}/{verb}/status", status, ("executed",) if approve else ("rejected",), json.dumps(view)[:300])
        return status

    # readers

    async def read(self, t: Tenant) -> None:
        r = self.rng.random()
        if r < 0.03:
            await self.refusal(t)
        elif r < 0.35:
            await self.c.act("orders.get", "orders.get", t.agent, {"order_id": self.rng.choice(list(ORDERS))})
        elif r < 0.5:
            await self.c.act("orders.list", "orders.list", t.agent, {"customer_id": self.rng.choice(["c_1", "c_2", "c_3"])})
        elif r < 0.7:
            await self.c.act("customers.get", "customers.get", t.agent, {"customer_id": self.rng.choice(["c_1", "c_2", "c_3"])})
        elif r < 0.85:
            await self.c.act("catalog.list_products", "catalog.list_products", t.agent, {})
        else:
            await self.c.act("accounts.get_settings", "accounts.get_settings", t.agent, {"customer_id": "c_1"})

    async def refusal(self, t: Tenant) -> None:
        kind = self.rng.randrange(4)
        if kind == 0:
            body = {"customer_id": "c_404"}
            await self.c.act("refuse/unknown-customer", "customers.get", t.agent, body, expect=("action-failed",))
        elif kind == 1:
            await self.c.act("refuse/invalid-input", "orders.get", t.agent, {"order_id": 5}, expect=("invalid-input",))
        elif kind == 2:
            await self.c.act("refuse/unknown-action", "orders.cancel", t.agent, {}, expect=("unknown-action",))
        else:
            await self.c.act("refuse/no-grant", "orders.get", None, {"order_id": "o_1001"}, expect=("grant-missing",))

    async def mcp_reader(self, t: Tenant, base: str, per_s: float) -> None:
        server = Server("soak", "orders.get", None, f"{base}/mcp", token=t.agent)  # type: ignore[arg-type]
        async with session(server) as s:

            async def step() -> None:
                self.c.tally.calls += 1
                try:
                    result = await s.call_tool("orders.get", {"order_id": self.rng.choice(list(ORDERS))})
                    outcome = "error" if result.is_error else "ok"
                    detail = str(result.structured_content)
                except Exception as err:
                    outcome, detail = f"transport:{type(err).__name__}", str(err)
                self.c.tally.note("mcp orders.get", outcome, ("ok",), detail)

            await self.paced(per_s, step)

    # writes, approvals, reverts

    async def money(self, t: Tenant) -> None:
        """One money operation; this task alone touches the tenant's orders, so what is left to
        refund on each is known exactly."""
        r = self.rng.random()
        cur = CURRENCY[t.id]
        if t.refunds and (r < 0.4 or min(t.refundable.values()) < 1000):
            call_id, order, amount = t.refunds.pop(self.rng.randrange(len(t.refunds)))
            outcome, body = await self.c.request(
                "revert", "POST", f"/v1/calls/{call_id}/revert", t.agent, {"reason": "soak"}, expect=("ok", "parked")
            )
            if outcome == "parked":  # a large refund's revert waits for a human too
                if await self.decide(t, body, "revert", approve=True) != "executed":
                    return
            elif outcome != "ok":
                return
            t.refundable[order] += amount
            t.reverted.append(call_id)
        elif r < 0.45 and t.reverted:
            await self.c.request(
                "refuse/second-revert",
                "POST",
                f"/v1/calls/{self.rng.choice(t.reverted)}/revert",
                t.agent,
                {},
                expect=("already-reverted",),
            )
        elif r < 0.5:
            order = self.rng.choice(["o_1001", "o_1002", "o_1003"])  # too much, but under the approval threshold
            amount = t.refundable[order] + 1
            body = {"order_id": order, "amount": {"amount_minor": amount, "currency": cur}, "reason": "too much"}
            await self.c.act("refuse/refund-exceeds", "orders.refund", t.agent, body, key=self.key(), expect=("action-failed",))
        elif r < 0.55 and t.used_keys:
            key, body = self.rng.choice(t.used_keys)
            await self.c.act("refund/replay", "orders.refund", t.agent, body, key=key, expect=("replayed",))
            other = {**body, "reason": "other arguments"}
            await self.c.act("refuse/key-reused", "orders.refund", t.agent, other, key=key, expect=("idempotency-key-reused",))
        elif r < 0.65:
            order = self.rng.choice([o for o, left in t.refundable.items() if left > THRESHOLD] or ["none"])
            if order == "none":
                return
            amount = self.rng.randint(THRESHOLD + 1, min(t.refundable[order], THRESHOLD + 2000))
            body = {"order_id": order, "amount": {"amount_minor": amount, "currency": cur}, "reason": "large refund"}
            outcome, parked = await self.c.act("refund/large", "orders.refund", t.agent, body, key=self.key(), expect=("parked",))
            if outcome == "parked":
                approve = self.rng.random() < 0.7
                if await self.decide(t, parked, "refund/large", approve) == "executed":
                    t.refundable[order] -= amount
                    t.refunds.append((parked["call_id"], order, amount))
        else:
            order = self.rng.choice([o for o, left in t.refundable.items() if left >= 1000] or ["none"])
            if order == "none":
                return
            amount = self.rng.randint(100, 900)
            body = {"order_id": order, "amount": {"amount_minor": amount, "currency": cur}, "reason": "small refund"}
            key = self.key()
            outcome, done = await self.c.act("refund/small", "orders.refund", t.agent, body, key=key)
            if outcome == "ok":
                t.refundable[order] -= amount
                t.refunds.append((done["call_id"], order, amount))
                t.used_keys = [*t.used_keys[-20:], (key, body)]

    async def account(self, t: Tenant) -> None:
        """Account changes and data exports: always parked for a human."""
        if self.rng.random() < 0.2:
            outcome, parked = await self.c.act("customers.export", "customers.export", t.agent, {}, expect=("parked",))
            op = "customers.export"
        else:
            body = {"customer_id": self.rng.choice(["c_1", "c_2", "c_3"]), "marketing_opt_in": self.rng.random() < 0.5}
            op = "accounts.update_settings"
            outcome, parked = await self.c.act(op, op, t.agent, body, expect=("parked",))
        if outcome == "parked":
            await self.decide(t, parked, op, approve=self.rng.random() < 0.75)

    def tasks(self, base: str, mcp: bool) -> list[Any]:
        per_tenant = self.rate / len(self.tenants)
        out = []
        for t in self.tenants:
            out += [self.paced(per_tenant * 0.4, lambda t=t: self.read(t)) for _ in range(2)]
            out.append(self.paced(1.0, lambda t=t: self.money(t)))  # under the demo's 100 refunds a minute
            out.append(self.paced(0.5, lambda t=t: self.account(t)))
            if mcp:
                out.append(self.mcp_reader(t, base, per_tenant * 0.1))
        return out


# -- events: SSE subscribers and the webhook receiver ------------------------------------------------


@dataclass
class Subscriber:
    tenant: str
    grant: str
    reconnect_s: float | None
    seen: set[int] = field(default_factory=set)
    last: int = 0
    connections: int = 0
    errors: list[str] = field(default_factory=list)

    async def follow(self, http: httpx.AsyncClient) -> None:
        while True:
            headers = {"Authorization": f"Bearer {self.grant}"}
            if self.last:
                headers["Last-Event-ID"] = str(self.last)
            self.connections += 1
            try:
                async with http.stream("GET", "/v1/events" + ("" if self.last else "?after=0"), headers=headers) as r:
                    if r.status_code != 200:
                        self.errors.append(f"HTTP {r.status_code}: {(await r.aread())[:200]!r}")
                        await asyncio.sleep(1)
                        continue
                    opened = time.monotonic()
                    async for line in r.aiter_lines():
                        if line.startswith("id: "):
                            seq = int(line[4:])
                            self.seen.add(seq)
                            self.last = max(self.last, seq)
                        elif line.startswith("event: error"):
                            self.errors.append("event: error")
                        if self.reconnect_s and time.monotonic() - opened > self.reconnect_s:
                            break
            except httpx.HTTPError as err:
                self.errors.append(f"{type(err).__name__}: {err}")
                await asyncio.sleep(0.5)


class Receiver:
    """Webhook endpoint per tenant: checks each signature, fails some attempts on purpose."""

    def __init__(self, fail_rate: float, seed_: int) -> None:
        self.secrets: dict[str, Webhook] = {}
        self.received: dict[str, set[str]] = {}
        self.attempts = 0
        self.failed_on_purpose = 0
        self.duplicates = 0
        self.bad_signatures = 0
        self.fail_rate = fail_rate
        self.rng = random.Random(seed_)
        self.app = Starlette(routes=[Route("/hooks/{tenant}", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        self.attempts += 1
        tenant, body = request.path_params["tenant"], await request.body()
        try:
            self.secrets[tenant].verify(body, dict(request.headers))
        except Exception:
            self.bad_signatures += 1
            return Response(status_code=400)
        if self.rng.random() < self.fail_rate:
            self.failed_on_purpose += 1
            return Response(status_code=503)
        seen = self.received.setdefault(tenant, set())
        event_id = request.headers["webhook-id"]
        self.duplicates += event_id in seen
        seen.add(event_id)
        return Response(status_code=204)


# -- the gateway, its database, memory ----------------------------------------------------------------


class Database:
    """Where the gateway keeps its data, and a superuser's view of it for the checks."""

    def __init__(self, backend: str, data: Path) -> None:
        self.backend, self.data = backend, data
        self.name = f"chamberlain_soak_{os.getpid()}"
        if backend == "postgres":
            self.gateway_url: str | None = f"{PG_SERVER.replace('postgres@', APP_ROLE + '@')}/{self.name}"
            self.check_url = f"{PG_SERVER.replace('postgresql://', 'postgresql+psycopg://')}/{self.name}"
        else:
            self.gateway_url = None
            self.check_url = f"sqlite:///{data / 'chamberlain.db'}"
        self._engine: Any = None

    def create(self) -> None:
        if self.backend != "postgres":
            return
        import psycopg

        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
            for (name,) in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'chamberlain\\_soak\\_%'").fetchall():
                if not Path(f"/proc/{name.rsplit('_', 1)[1]}").exists():  # left by a soak that was killed
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone() is None:
                conn.execute(f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS")
            conn.execute(f'CREATE DATABASE "{self.name}" OWNER {APP_ROLE}')

    def drop(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
        if self.backend != "postgres":
            return
        import psycopg

        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def query(self, sql: str, **params: Any) -> list[Any]:
        if self._engine is None:
            self._engine = create_engine(self.check_url)
        with self._engine.connect() as conn:
            return list(conn.execute(text(sql), params))

    def env(self) -> dict[str, str]:
        env = {**os.environ, "CHAMBERLAIN_DATA_DIR": str(self.data)}
        env.pop("CHAMBERLAIN_DATABASE_URL", None)
        if self.gateway_url:
            env["CHAMBERLAIN_DATABASE_URL"] = self.gateway_url
        return env


def chamberlain_cli() -> list[str]:
    script = Path(sys.executable).with_name("chamberlain")
    return [str(script)] if script.exists() else [sys.executable, "-m", "chamberlain.cli"]


async def prepare(db: Database) -> list[Tenant]:
    """Seed the demo tenants and issue the grants the workload uses, before the gateway starts."""
    runtime = Runtime(shop, Settings(data_dir=db.data, database_url=db.gateway_url))
    tenants = []
    async with runtime.running():
        for demo in await seed(runtime, ttl=timedelta(hours=6)):
            issue = runtime.authority.issue
            approver = await issue(demo.id, APPROVER, ["events.*"], timedelta(hours=6))
            ops = await issue(demo.id, "service:soak-ops", ["webhooks.*", "events.*"], timedelta(hours=6))
            tenants.append(Tenant(demo.id, demo.grant.token, approver.token, ops.token))
    return tenants


def start_gateway(db: Database, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = db.env() | {
        "CHAMBERLAIN_WEBHOOK_ALLOW_PRIVATE": "true",  # the receiver is on loopback
        "CHAMBERLAIN_WEBHOOK_BACKOFF_S": "0.5",
        "CHAMBERLAIN_WEBHOOK_BACKOFF_MAX_S": "5",
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [*chamberlain_cli(), "serve", "chamberlain.demo:shop", "--port", str(port)], env=env, stdout=out, stderr=out
        )


def slope_mb_per_min(samples: list[tuple[float, int]]) -> float:
    if len(samples) < 3:
        return float("nan")
    xs = [t / 60 for t, _ in samples]
    ys = [r / 2**20 for _, r in samples]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else float("nan")


async def sample(pid: int, tally: Tally, samples: list[dict[str, float]], began: float) -> None:
    while True:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            samples.append({"t": time.monotonic() - began, "rss": rss_bytes(pid), "cpu": cpu_seconds(pid), "calls": tally.calls})
        await asyncio.sleep(SAMPLE_S)


def audit_verify(db: Database, tenant: str, folder: Path) -> dict[str, Any]:
    env, cli = db.env(), chamberlain_cli()
    key = subprocess.run([*cli, "audit", "key", "--tenant", tenant], env=env, check=True, capture_output=True, text=True)
    (folder / f"{tenant}.pub").write_text(key.stdout)
    export = folder / f"export-{tenant}"
    subprocess.run([*cli, "audit", "export", "--tenant", tenant, "--out", str(export)], env=env, check=True, capture_output=True)
    done = subprocess.run(
        [*cli, "audit", "verify", str(export), "--key", str(folder / f"{tenant}.pub"), "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    try:
        return dict(json.loads(done.stdout))
    except ValueError:
        return {"ok": False, "problems": [done.stdout[-500:] + done.stderr[-500:]]}


# -- the run ---------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="chamberlain-soak-"))
    db = Database(args.backend, tmp / "data")
    db.data.mkdir()
    db.create()
    gateway: subprocess.Popen[bytes] | None = None
    receiver_server: uvicorn.Server | None = None
    background: list[asyncio.Task[Any]] = []
    try:
        tenants = await prepare(db)
        port, hook_port = free_port(), free_port()
        log = tmp / "gateway.log"
        gateway = start_gateway(db, port, log)
        base = f"http://127.0.0.1:{port}"
        await asyncio.to_thread(wait_until_answering, base, 120.0, process=gateway, log=str(log))

        receiver = Receiver(args.webhook_fail_rate, args.seed)
        receiver_server = uvicorn.Server(
            uvicorn.Config(receiver.app, host="127.0.0.1", port=hook_port, log_level="warning", lifespan="off")
        )
        background.append(asyncio.create_task(receiver_server.serve()))
        while not receiver_server.started:
            await asyncio.sleep(0.05)

        tally = Tally()
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        async with (
            httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http,
            httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(60, read=None), limits=limits) as streams,
        ):
            client = Client(http, tally)
            registered_at: dict[str, int] = {}
            endpoint_types: dict[str, set[str]] = {}
            for t in tenants:
                types = (await http.get("/v1/events/types", headers={"Authorization": f"Bearer {t.ops}"})).json()
                names = sorted(types["types"])
                body = {"url": f"http://127.0.0.1:{hook_port}/hooks/{t.id}", "types": names, "description": "soak"}
                outcome, made = await client.act("webhooks.register", "webhooks.register", t.ops, body)
                if outcome != "ok":
                    raise SystemExit(f"could not register the webhook receiver: {made}")
                receiver.secrets[t.id] = Webhook(made["result"]["secret"])
                endpoint_types[t.id] = set(made["result"]["types"])
                registered_at[t.id] = int(db.query("SELECT coalesce(max(seq), 0) FROM events WHERE tenant_id = :t", t=t.id)[0][0])

            subscribers = [Subscriber(t.id, t.agent, 15.0 if i == 0 else None) for t in tenants for i in range(args.subscribers)]
            background += [asyncio.create_task(s.follow(streams)) for s in subscribers]

            samples: list[dict[str, float]] = []
            began = time.monotonic()
            background.append(asyncio.create_task(sample(gateway.pid, tally, samples, began)))
            stop = asyncio.Event()
            workload = Workload(client, tenants, args.rate, stop, args.seed)
            workers = [asyncio.create_task(w) for w in workload.tasks(base, mcp=not args.no_mcp)]
            deadline = began + args.minutes * 60
            print(f"soak on {args.backend}: {args.minutes:g} min or {args.max_calls} calls, ~{args.rate:g} calls/s", flush=True)
            next_report = began + 30
            while time.monotonic() < deadline and tally.calls < args.max_calls:
                if any(w.done() for w in workers):
                    break
                if gateway.poll() is not None:
                    break
                if time.monotonic() >= next_report:
                    rss = samples[-1]["rss"] / 2**20 if samples else 0
                    print(
                        f"  {time.monotonic() - began:6.0f} s  {tally.calls:7d} calls  rss {rss:6.1f} MB  "
                        f"unexpected {sum(tally.unexpected.values())}",
                        flush=True,
                    )
                    next_report += 30
                await asyncio.sleep(0.2)
            stop.set()
            ran_s = time.monotonic() - began
            for w in workers:
                if w.done() and w.exception() is not None:
                    tally.examples.append(f"worker crashed: {w.exception()!r}")
                    tally.unexpected[("worker", "crashed")] += 1
            await asyncio.wait(workers, timeout=120)
            gateway_died = gateway.poll() is not None

            # drain: every event to every subscriber, every delivery finished
            drain_deadline = time.monotonic() + 90
            while time.monotonic() < drain_deadline and not gateway_died:
                latest = dict(db.query("SELECT tenant_id, max(seq) FROM events GROUP BY tenant_id"))
                pending = db.query("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")[0][0]
                if pending == 0 and all(s.last >= latest.get(s.tenant, 0) for s in subscribers):
                    break
                await asyncio.sleep(0.5)
            await asyncio.sleep(1)  # deliveries just marked delivered may still be in the receiver's hands

            checks: dict[str, Any] = {}
            missing_sse = {}
            for i, s in enumerate(subscribers):
                table = {r[0] for r in db.query("SELECT seq FROM events WHERE tenant_id = :t", t=s.tenant)}
                missing_sse[f"{s.tenant}#{i}"] = len(table - s.seen)
            checks["sse_missing"] = missing_sse
            checks["sse_errors"] = [e for s in subscribers for e in s.errors]
            checks["sse_connections"] = sum(s.connections for s in subscribers)
            missing_hooks = {}
            for t in tenants:
                rows = db.query("SELECT id, type FROM events WHERE tenant_id = :t AND seq > :s", t=t.id, s=registered_at[t.id])
                expected = {r[0] for r in rows if r[1] in endpoint_types[t.id]}
                missing_hooks[t.id] = len(expected - receiver.received.get(t.id, set()))
            checks["webhook_missing"] = missing_hooks
            checks["webhook_deliveries"] = dict(db.query("SELECT status, count(*) FROM webhook_deliveries GROUP BY status"))
            checks["webhook_receiver"] = {
                "attempts": receiver.attempts,
                "failed_on_purpose": receiver.failed_on_purpose,
                "duplicates": receiver.duplicates,
                "bad_signatures": receiver.bad_signatures,
            }
            checks["events"] = dict(db.query("SELECT tenant_id, count(*) FROM events GROUP BY tenant_id"))
            checks["calls"] = dict(db.query("SELECT tenant_id, count(*) FROM calls GROUP BY tenant_id"))
            checks["approvals"] = dict(db.query("SELECT status, count(*) FROM approvals GROUP BY status"))
        for task in background:
            task.cancel()
        receiver_server.should_exit = True
        await asyncio.gather(*background, return_exceptions=True)

        gateway.send_signal(signal.SIGTERM)
        try:
            gateway.wait(timeout=30)
        except subprocess.TimeoutExpired:
            gateway.kill()
        logged = log.read_text(errors="replace")
        checks["log_tracebacks"] = logged.count("Traceback")
        checks["audit"] = {t.id: audit_verify(db, t.id, tmp) for t in tenants}
    finally:
        if gateway is not None and gateway.poll() is None:
            gateway.kill()
        db.drop()

    # memory
    warm = [s for s in samples if s["t"] >= ran_s / 2]
    resident = [s["rss"] for s in samples]
    memory = {
        "start_mb": resident[0] / 2**20,
        "end_mb": resident[-1] / 2**20,
        "max_mb": max(resident) / 2**20,
        "slope_mb_per_min_second_half": slope_mb_per_min([(s["t"], int(s["rss"])) for s in warm]),
        "slope_mb_per_min_all": slope_mb_per_min([(s["t"], int(s["rss"])) for s in samples]),
        "gateway_cpu_ms_per_call": (samples[-1]["cpu"] - samples[0]["cpu"]) / max(1, samples[-1]["calls"]) * 1000,
    }
    failures = []
    if tally.unexpected:
        failures.append(f"{sum(tally.unexpected.values())} unexpected outcomes")
    if gateway_died:
        failures.append("the gateway exited during the run")
    if checks["log_tracebacks"]:
        failures.append(f"{checks['log_tracebacks']} tracebacks in the gateway's log")
    if any(missing_sse.values()) or checks["sse_errors"]:
        failures.append(f"SSE: missing {missing_sse}, errors {checks['sse_errors'][:3]}")
    if any(missing_hooks.values()) or checks["webhook_receiver"]["bad_signatures"]:
        failures.append(f"webhooks: missing {missing_hooks}")
    if set(checks["webhook_deliveries"]) - {"delivered"}:
        failures.append(f"webhook deliveries not all delivered: {checks['webhook_deliveries']}")
    if set(checks["approvals"]) - {"executed", "rejected"}:
        failures.append(f"approvals left open: {checks['approvals']}")
    if not all(a.get("ok") for a in checks["audit"].values()):
        failures.append("audit verification failed")
    memory["judged"] = ran_s / 2 >= JUDGE_MEMORY_S
    if memory["judged"] and not memory["slope_mb_per_min_second_half"] < args.max_rss_slope:
        failures.append(f"memory grows {memory['slope_mb_per_min_second_half']:.2f} MB/min in the second half")

    lines = [
        f"soak on {args.backend}: {ran_s / 60:.1f} min, {tally.calls} calls ({tally.calls / ran_s:.0f}/s), "
        f"{sum(checks['events'].values())} events",
        "outcomes: "
        + ", ".join(f"{op} {o} {n}" for (op, o), n in sorted(tally.outcomes.items(), key=lambda kv: (-kv[1], kv[0]))),
        "intended refusals by problem type: " + (", ".join(f"{k} {v}" for k, v in sorted(tally.intended.items())) or "none"),
        "unexpected outcomes: " + (", ".join(f"{op} {o} {n}" for (op, o), n in tally.unexpected.items()) or "none"),
        f"approvals: {checks['approvals']}",
        f"SSE: {len(subscribers)} subscribers, {checks['sse_connections']} connections, missing events {missing_sse}",
        f"webhooks: deliveries {checks['webhook_deliveries']}, receiver {checks['webhook_receiver']}, missing {missing_hooks}",
        "audit: "
        + ", ".join(f"{t} {'OK' if a.get('ok') else 'FAILED'} ({a.get('entries')} entries)" for t, a in checks["audit"].items()),
        f"memory (RSS): start {memory['start_mb']:.1f} MB, end {memory['end_mb']:.1f} MB, max {memory['max_mb']:.1f} MB, "
        f"slope {memory['slope_mb_per_min_second_half']:+.2f} MB/min over the second half "
        f"({memory['slope_mb_per_min_all']:+.2f} over the run)"
        + ("" if memory["judged"] else f" [not judged: the second half is under {JUDGE_MEMORY_S:.0f} s]")
        + f"; gateway CPU {memory['gateway_cpu_ms_per_call']:.2f} ms per call",
        f"gateway log: {checks['log_tracebacks']} tracebacks",
    ]
    for example in tally.examples[:10]:
        lines.append(f"  unexpected: {example}")
    lines.append("PASSED" if not failures else "FAILED: " + "; ".join(failures))
    summary = "\n".join(lines)
    print("\n" + summary)

    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    picture = plot(samples, args, when)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"soak-{args.backend}.json"
    out.write_text(
        json.dumps(
            {
                "when": when,
                "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
                "args": vars(args),
                "seconds": ran_s,
                "calls": tally.calls,
                "outcomes": [[op, o, n] for (op, o), n in tally.outcomes.items()],
                "intended": dict(tally.intended),
                "unexpected": [[op, o, n] for (op, o), n in tally.unexpected.items()],
                "examples": tally.examples,
                "checks": checks,
                "memory": memory,
                "samples": samples,
                "failures": failures,
                "summary": summary,
            },
            indent=1,
            default=str,
        )
    )
    print(f"written {out.relative_to(HERE.parent)}, {picture.relative_to(HERE.parent)}; gateway log and exports in {tmp}")
    return 1 if failures else 0


def plot(samples: list[dict[str, float]], args: argparse.Namespace, when: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    IMAGES.mkdir(parents=True, exist_ok=True)
    minutes = [s["t"] / 60 for s in samples]
    fig, ax = plt.subplots(figsize=(10, 4.2))
    ax.plot(minutes, [s["rss"] / 2**20 for s in samples], color="#1f6feb", label="gateway RSS (MB)")
    ax.set_xlabel("minutes")
    ax.set_ylabel("resident memory, MB")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    rate = ax.twinx()
    pairs = list(zip(samples, samples[1:], strict=False))
    rate.plot(
        [b["t"] / 60 for _, b in pairs],
        [(b["calls"] - a["calls"]) / max(1e-9, b["t"] - a["t"]) for a, b in pairs],
        color="#999999",
        linewidth=0.8,
        label="calls/s",
    )
    rate.set_ylabel("calls per second")
    rate.set_ylim(bottom=0)
    handles = ax.get_legend_handles_labels()[0] + rate.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="lower right", fontsize=8)
    ax.set_title(f"Soak on {args.backend}: chamberlain serve (demo shop), mixed workload ({when})", fontsize=10)
    fig.tight_layout()
    out = IMAGES / f"bench-soak-{args.backend}.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--max-calls", type=int, default=1_000_000, help="stop earlier after this many requests")
    parser.add_argument("--rate", type=float, default=60.0, help="reads per second over both tenants (writes are paced apart)")
    parser.add_argument("--subscribers", type=int, default=3, help="SSE subscribers per tenant")
    parser.add_argument("--webhook-fail-rate", type=float, default=0.02, help="share of webhook attempts the receiver fails")
    parser.add_argument("--max-rss-slope", type=float, default=1.0, help="MB per minute allowed over the second half")
    parser.add_argument("--no-mcp", action="store_true", help="REST only")
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
