"""The console in a real headless browser (Debian's Chromium, driven by Playwright):
log in, watch a parked call appear live, approve it, see the agent's result, verify
its audit entry in the browser; and a person of one tenant cannot reach another's pages.

Screenshots of the main pages are taken as the tests pass through them, and written to
docs/images/ when ``CHAMBERLAIN_SCREENSHOTS=docs`` is set (else to a temporary folder, so
an ordinary run leaves the checkout as it was).
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from chamberlain.app import create_app
from chamberlain.demo import seed, shop
from tests.conftest import make_runtime
from tests.helpers import free_port, serve_in_thread

CHROMIUM = Path("/usr/bin/chromium")
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
SHOTS = DOCS_IMAGES if os.environ.get("CHAMBERLAIN_SCREENSHOTS") == "docs" else Path(tempfile.gettempdir()) / "chamberlain-shots"
PASSWORD = "correct horse battery staple"
BIG_REFUND = {"order_id": "o_1006", "amount": {"amount_minor": 12_000, "currency": "EUR"}, "reason": "parcel lost in transit"}


class Console:
    def __init__(self, base: str, agent: dict[str, str]) -> None:
        self.base, self.agent = base, agent


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    data = tmp_path_factory.mktemp("console")
    port = free_port()

    async def prepare() -> dict[str, str]:
        rt = make_runtime(shop, data)
        async with rt.running():
            tenants = await seed(rt)
            await rt.people.add("acme-shop", "rita", "human:rita", PASSWORD, admin=True)
            await rt.people.add("globex-store", "gina", "human:gina", PASSWORD)
            return {t.id: t.grant.token for t in tenants}

    # In a thread of its own: Playwright's sync API keeps an event loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        agent = pool.submit(asyncio.run, prepare()).result()
    with serve_in_thread(create_app(make_runtime(shop, data)), port):
        yield Console(f"http://127.0.0.1:{port}", agent)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/test does)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


def logged_in(browser: Browser, console: Console, tenant: str, username: str, width: int = 1280) -> Page:
    page = browser.new_context(viewport={"width": width, "height": 900}, base_url=console.base).new_page()
    page.goto("/console/")
    expect(page).to_have_url(re.compile(r"/console/login"))
    page.get_by_label("Tenant").fill(tenant)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Overview")
    return page


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"console-{name}.png"), full_page=True)


def test_a_wrong_password_is_refused_without_saying_which_part(browser: Browser, console: Console) -> None:
    page = browser.new_context(base_url=console.base).new_page()
    page.goto("/console/login")
    page.get_by_label("Tenant").fill("acme-shop")
    page.get_by_label("Username").fill("rita")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong tenant, username or password.")
    shot(page, "login")


def test_a_parked_call_appears_live_is_approved_and_its_entry_verifies(browser: Browser, console: Console) -> None:
    page = logged_in(browser, console, "acme-shop", "rita")
    page.get_by_role("link", name=re.compile("^Approvals")).click()
    expect(page.get_by_text("Nothing waits for a decision.")).to_be_visible()
    expect(page.locator("body[data-live=on]")).to_be_attached()  # following the live stream

    # An agent asks for a refund above the approval threshold: it is parked.
    headers = {"Authorization": f"Bearer {console.agent['acme-shop']}", "Idempotency-Key": str(uuid.uuid4())}
    asked = httpx.post(f"{console.base}/v1/actions/orders.refund", json=BIG_REFUND, headers=headers, timeout=10)
    assert asked.status_code == 202, asked.text
    call_id = asked.json()["call_id"]

    card = page.locator("article.approval")
    expect(card).to_be_visible(timeout=15_000)  # live, without a reload
    expect(card).to_contain_text("orders.refund")
    expect(card).to_contain_text("120.00 EUR")
    expect(card).to_contain_text("0 of 1 approvals")
    expect(page.locator("#pending-badge")).to_have_text("1")
    shot(page, "approvals")
    card.get_by_label("Reason").fill("carrier confirmed the loss")
    card.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("Nothing waits for a decision.")).to_be_visible()

    record = httpx.get(f"{console.base}/v1/calls/{call_id}", headers={"Authorization": headers["Authorization"]}).json()
    assert record["approval"]["status"] == "executed", record
    assert record["approval"]["result"]["amount"] == {"amount_minor": 12_000, "currency": "EUR"}

    page.goto(f"/console/calls/{call_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(call_id)
    shot(page, "call")
    page.get_by_role("link", name=re.compile(r"^entry \d+")).first.click()
    page.get_by_role("button", name=re.compile("^Verify entry")).click()
    expect(page.locator("#verify-result")).to_contain_text("Verified", timeout=10_000)
    expect(page.locator("#verify-steps li")).to_have_count(3)
    shot(page, "audit-entry")


def test_activity_updates_live_and_filters(browser: Browser, console: Console) -> None:
    page = logged_in(browser, console, "acme-shop", "rita")
    page.goto("/console/activity")
    expect(page.locator("body[data-live=on]")).to_be_attached()
    headers = {"Authorization": f"Bearer {console.agent['acme-shop']}"}
    assert httpx.post(f"{console.base}/v1/actions/orders.get", json={"order_id": "o_1002"}, headers=headers).status_code == 200
    expect(page.locator("#call-rows tr.new").first).to_contain_text("orders.get", timeout=15_000)
    shot(page, "activity")
    page.get_by_label("Action").fill("orders.refund")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("#call-rows tr")
    expect(rows.first).to_contain_text("orders.refund")
    assert all("orders.refund" in text for text in rows.all_inner_texts())


def test_grants_policies_and_audit_pages(browser: Browser, console: Console) -> None:
    page = logged_in(browser, console, "acme-shop", "rita")
    page.goto("/console/grants")
    page.get_by_label("Holder").fill("agent:reporter")
    page.get_by_label("Actions (comma-separated)", exact=True).fill("orders.get")
    page.get_by_role("button", name="Issue", exact=True).click()
    expect(page.locator("section.issued")).to_contain_text("Copy the token now")
    grant_id = page.locator("section.issued h2").inner_text().removeprefix("Issued ").strip()
    shot(page, "grants")
    page.get_by_role("button", name=f"Revoke {grant_id}").click()
    page.goto("/console/grants?status=revoked")
    expect(page.get_by_text(grant_id)).to_be_visible()

    page.goto("/console/policies")
    page.get_by_role("button", name="Run the cases").click()
    expect(page.locator("#case-results")).to_contain_text("1 passed, 0 failed")
    shot(page, "policies")
    page.goto("/console/audit")
    expect(page.locator("#checkpoint")).to_contain_text("chamberlain.local/audit/acme-shop")
    shot(page, "audit")
    page.goto("/console/")
    expect(page.locator(".tile .n").first).not_to_have_text("0")
    shot(page, "overview")


def test_the_browser_checks_the_log_only_grew_and_catches_a_rewrite(browser: Browser, console: Console) -> None:
    page = logged_in(browser, console, "acme-shop", "rita")
    page.goto("/console/audit")
    page.get_by_role("button", name="Check the log against my last visit").click()
    expect(page.locator("#grown-result")).to_contain_text("verified and remembered")
    headers = {"Authorization": f"Bearer {console.agent['acme-shop']}"}
    httpx.post(f"{console.base}/v1/actions/orders.get", json={"order_id": "o_1003"}, headers=headers).raise_for_status()
    page.goto("/console/audit")  # a newer checkpoint, signed on demand
    page.get_by_role("button", name="Check the log against my last visit").click()
    expect(page.locator("#grown-result")).to_contain_text("Consistent: the log grew from")
    # What the browser remembers is the ground truth: a different old root must fail.
    page.evaluate(
        """() => { for (const k of Object.keys(localStorage)) {
             const v = JSON.parse(localStorage.getItem(k)); v.size -= 1; v.root = btoa('x'.repeat(32));
             localStorage.setItem(k, JSON.stringify(v)); } }"""
    )
    page.get_by_role("button", name="Check the log against my last visit").click()
    expect(page.locator("#grown-result")).to_contain_text("NOT consistent")


def test_audit_search_and_attenuation(browser: Browser, console: Console) -> None:
    page = logged_in(browser, console, "acme-shop", "rita")
    page.goto("/console/audit")
    page.get_by_label("Kind").fill("grant.revoked")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("table tbody tr")
    assert all("grant.revoked" in text for text in rows.all_inner_texts())
    page.goto("/console/grants")
    page.get_by_label("Token", exact=True).fill(console.agent["acme-shop"])
    page.get_by_label("Keep only these actions (comma-separated)").fill("orders.get")
    page.get_by_role("button", name="Attenuate").click()
    narrowed = page.locator("#narrowed-token").input_value()
    listed = httpx.get(f"{console.base}/v1/actions", headers={"Authorization": f"Bearer {narrowed}"}).json()
    assert [a["name"] for a in listed["actions"]] == ["orders.get"]
    page.get_by_label("Token", exact=True).fill(console.agent["globex-store"])
    page.get_by_label("Keep only these actions (comma-separated)").fill("orders.get")
    page.get_by_role("button", name="Attenuate").click()
    expect(page.get_by_role("alert")).to_contain_text("not a grant of this tenant")


def test_another_tenants_pages_are_out_of_reach(browser: Browser, console: Console) -> None:
    headers = {"Authorization": f"Bearer {console.agent['acme-shop']}"}
    acme_call = httpx.post(f"{console.base}/v1/actions/orders.get", json={"order_id": "o_1001"}, headers=headers)
    call_id = acme_call.headers["chamberlain-call-id"]
    page = logged_in(browser, console, "globex-store", "gina")
    assert page.goto(f"/console/calls/{call_id}").status == 404  # type: ignore[union-attr]
    page.goto("/console/activity")
    assert call_id not in page.content() and "acme-shop" not in page.content()
    page.goto("/console/audit")
    expect(page.locator("#checkpoint")).to_contain_text("audit/globex-store")
    assert "acme-shop" not in page.content()
    refused = page.request.post("/console/approvals/apr_x/decide", data={"decision": "approve"})
    assert refused.status == 403  # no CSRF token: refused before anything is looked up


def test_every_form_control_has_a_label_and_phones_get_one_column(browser: Browser, console: Console) -> None:
    page = logged_in(browser, console, "acme-shop", "rita", width=390)
    for path in ("/console/", "/console/approvals", "/console/activity", "/console/grants", "/console/policies"):
        page.goto(path)
        unlabeled = page.evaluate(
            """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                 .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')).map(el => el.name)"""
        )
        assert unlabeled == [], (path, unlabeled)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
    page.goto("/console/activity")
    shot(page, "activity-phone")
