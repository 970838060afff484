// The console's progressive enhancement: every page works without it. With it,
// the approvals list and the activity table follow the server's live stream, and an
// audit entry can be verified in the browser (verify.js).
const liveRegions = document.querySelectorAll("[data-live]");

function badge(count) {
  const el = document.getElementById("pending-badge");
  if (el) el.textContent = count ? String(count) : "";
  const tile = document.getElementById("waiting-count");
  if (tile) tile.textContent = String(count);
}

async function refresh(kind) {
  for (const region of liveRegions) {
    if (region.dataset.live !== kind) continue;
    const url = new URL(window.location.href);
    url.searchParams.set("fragment", "1");
    url.searchParams.delete("before");
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (!response.ok) return;
    const before = new Set([...region.querySelectorAll("tr[data-id]")].map((tr) => tr.dataset.id));
    region.innerHTML = await response.text();
    for (const tr of region.querySelectorAll("tr[data-id]")) if (!before.has(tr.dataset.id)) tr.classList.add("new");
  }
}

if (document.querySelector('meta[name="csrf-token"]') && "EventSource" in window) {
  const live = new EventSource("/console/live");
  const status = document.getElementById("live-status");
  live.addEventListener("hello", (e) => {
    badge(JSON.parse(e.data).pending);
    document.body.dataset.live = "on";
    if (status) status.textContent = "live";
  });
  live.addEventListener("error", () => {
    document.body.dataset.live = "off";
    if (status) status.textContent = "reconnecting";
  });
  live.addEventListener("approvals", (e) => { badge(JSON.parse(e.data).pending); refresh("approvals"); });
  live.addEventListener("calls", () => refresh("calls"));
  window.addEventListener("pagehide", () => live.close());
}

const verifyButton = document.getElementById("verify-button");
if (verifyButton) {
  verifyButton.addEventListener("click", async () => {
    const { verifyEntry } = await import("./verify.js");
    const index = document.getElementById("verify").dataset.index;
    const steps = document.getElementById("verify-steps");
    const result = document.getElementById("verify-result");
    steps.innerHTML = ""; result.textContent = "Checking…"; result.className = "";
    const [proof, key] = await Promise.all([
      fetch(`/console/audit/${index}/proof.json`, { credentials: "same-origin" }).then((r) => r.json()),
      fetch("/console/audit/key.txt", { credentials: "same-origin" }).then((r) => r.text()),
    ]);
    const outcome = await verifyEntry(proof, key.trim());
    for (const step of outcome.steps) {
      const li = document.createElement("li"); li.className = "ok"; li.textContent = step; steps.append(li);
    }
    result.className = outcome.ok ? "ok" : "bad";
    result.textContent = outcome.ok
      ? `Verified: entry ${index} is in the log the key signed.`
      : `Not verified: ${outcome.problem}`;
  });
}

const grownButton = document.getElementById("grown-button");
if (grownButton) {
  grownButton.addEventListener("click", async () => {
    const { verifyCheckpoint, verifyConsistency, b64decode, b64encode } = await import("./verify.js");
    const result = document.getElementById("grown-result");
    const say = (ok, text) => { result.className = ok ? "ok" : "bad"; result.textContent = text; };
    try {
      const key = (await (await fetch("/console/audit/key.txt", { credentials: "same-origin" })).text()).trim();
      const note = document.getElementById("checkpoint").textContent;
      const now = await verifyCheckpoint(note, key);
      const slot = `chamberlain-audit:${now.origin}`;
      const last = JSON.parse(localStorage.getItem(slot) || "null");
      const remember = () => localStorage.setItem(slot, JSON.stringify({ size: Number(now.size), root: b64encode(now.root) }));
      if (!last) { remember(); return say(true, `Checkpoint of ${now.size} entries verified and remembered: next time this browser checks the log grew from it.`); }
      if (last.size > Number(now.size)) return say(false, `NOT consistent: the log has ${now.size} entries, fewer than the ${last.size} you saw.`);
      let ok;
      if (last.size === Number(now.size)) {
        ok = b64encode(now.root) === last.root;
      } else {
        const proof = await (await fetch(`/console/audit/consistency.json?from=${last.size}&to=${now.size}`, { credentials: "same-origin" })).json();
        ok = await verifyConsistency(last.size, Number(now.size), (proof.proof || []).map(b64decode), b64decode(last.root), now.root);
      }
      if (!ok) return say(false, `NOT consistent: the log of ${now.size} entries does not extend the ${last.size} you saw. Keep this page and report it.`);
      remember();
      say(true, `Consistent: the log grew from ${last.size} to ${now.size} entries, and nothing you saw before was changed.`);
    } catch (err) {
      say(false, `Could not check: ${err.message}`);
    }
  });
}
