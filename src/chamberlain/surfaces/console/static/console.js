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
