"""The console's in-browser verifier (static/verify.js), run in headless Chromium.

Checked against transparency-dev/merkle's RFC 6962 reference vectors (code nobody here
wrote), against proofs and signed notes made by the Python side, and against a real
tenant log served the way ``GET /v1/audit/entries/{i}?proof=1`` serves it, untouched and
tampered with in every way a server could.
"""

from __future__ import annotations

import base64
import concurrent.futures
import copy
import json
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chamberlain import audit
from chamberlain.app import Runtime
from chamberlain.store import tenant_transaction

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "src" / "chamberlain" / "surfaces" / "console" / "static"
VECTORS = Path(__file__).resolve().parents[3] / "shared" / "vectors" / "rfc6962-merkle" / "testdata"
CHROMIUM = Path("/usr/bin/chromium")
ORIGIN = "https://console.test"  # a secure context: WebCrypto needs one
PAGE = '<!doctype html><meta charset="utf-8"><title>verify.js</title>'

# Page helpers shared by the scripts below: base64 to bytes, and a size or index as a
# number when it is a safe integer, else as a BigInt (the vectors go up to 2^64 - 1).
HELPERS = """
const d = (s) => v.b64decode(s ?? "");
const e = (b) => v.b64encode(b);
const big = (s) => { const n = BigInt(s); return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n; };
const attempt = async (f) => { try { return { value: await f() }; } catch (err) { return { error: String(err.message) }; } };
"""


class Browser:
    """Headless Chromium with one page at a made-up origin that serves static/.

    Playwright's sync API lives on a thread of its own, so that async tests (whose event
    loop is running) can use the same page as the sync ones.
    """

    def __init__(self) -> None:
        self._calls: queue.Queue[tuple[str, Any, concurrent.futures.Future[Any]] | None] = queue.Queue()
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._main, name="chromium", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.result(timeout=90)

    def close(self) -> None:
        self._calls.put(None)
        self._thread.join(timeout=30)

    def run(self, script: str, arg: Any = None) -> Any:
        """Evaluate ``async (v, arg) => ...`` with ``v`` the verify.js module; its result."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._calls.put((script, arg, future))
        return future.result(timeout=90)

    def _main(self) -> None:
        from playwright.sync_api import Route, sync_playwright

        def serve(route: Route) -> None:
            path = route.request.url.removeprefix(ORIGIN).split("?")[0]
            if path == "/":
                route.fulfill(status=200, content_type="text/html; charset=utf-8", body=PAGE)
            elif path.startswith("/static/") and (STATIC / path.removeprefix("/static/")).is_file():
                body = (STATIC / path.removeprefix("/static/")).read_bytes()
                route.fulfill(status=200, content_type="text/javascript; charset=utf-8", body=body)
            else:
                route.fulfill(status=404, body="not found")

        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
                try:
                    page = browser.new_page()
                    page.on("pageerror", lambda err: self.errors.append(str(err)))
                    page.route(f"{ORIGIN}/**", serve)
                    page.goto(f"{ORIGIN}/")
                    self._ready.set_result(None)
                    while (call := self._calls.get()) is not None:
                        script, arg, future = call
                        wrapped = (
                            "async (arg) => { const v = await import('/static/verify.js');"
                            f"{HELPERS}; return await ({script})(v, arg); }}"
                        )
                        try:
                            future.set_result(page.evaluate(wrapped, arg))
                        except BaseException as err:  # hand every failure to the test
                            future.set_exception(err)
                finally:
                    browser.close()
        except BaseException as err:
            if not self._ready.done():
                self._ready.set_exception(err)
            raise


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    if not (STATIC / "verify.js").is_file():
        pytest.fail(f"{STATIC / 'verify.js'} is missing")
    b = Browser()
    b.start()
    yield b
    b.close()
    assert not b.errors, b.errors


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


# ---- RFC 6962 reference vectors -----------------------------------------------------------


def vectors(kind: str) -> list[tuple[str, dict[str, Any]]]:
    if not VECTORS.is_dir():
        pytest.fail(f"reference vectors not found at {VECTORS} (../shared/vectors beside the checkout)")
    files = sorted((VECTORS / kind).rglob("*.json"))
    assert files, f"no {kind} vectors in {VECTORS}"
    return [(str(f.relative_to(VECTORS / kind)), json.loads(f.read_text())) for f in files]


def as_page_sizes(case: dict[str, Any], *names: str) -> dict[str, Any]:
    """Sizes as decimal strings: a JSON number in the page cannot hold 2^64 - 1."""
    return {**case, **{name: str(case[name]) for name in names}}


def test_inclusion_vectors(browser: Browser) -> None:
    cases = vectors("inclusion")
    results = browser.run(
        """async (v, cases) => Promise.all(cases.map((c) =>
            v.verifyInclusion(d(c.leafHash), big(c.leafIdx), big(c.treeSize), (c.proof ?? []).map(d), d(c.root))))""",
        [as_page_sizes(c, "leafIdx", "treeSize") for _, c in cases],
    )
    assert len(results) == len(cases)
    wrong = [name for (name, c), ok in zip(cases, results, strict=True) if ok is c["wantErr"]]
    assert not wrong, f"verifyInclusion disagrees with the vectors on {wrong}"
    assert {c["wantErr"] for _, c in cases} == {True, False}


def test_consistency_vectors(browser: Browser) -> None:
    cases = vectors("consistency")
    results = browser.run(
        """async (v, cases) => Promise.all(cases.map((c) =>
            v.verifyConsistency(big(c.size1), big(c.size2), (c.proof ?? []).map(d), d(c.root1), d(c.root2))))""",
        [as_page_sizes(c, "size1", "size2") for _, c in cases],
    )
    assert len(results) == len(cases)
    wrong = [name for (name, c), ok in zip(cases, results, strict=True) if ok is c["wantErr"]]
    assert not wrong, f"verifyConsistency disagrees with the vectors on {wrong}"
    assert {c["wantErr"] for _, c in cases} == {True, False}


# ---- against the Python side's hashes and proofs -------------------------------------------

SIZES = [*range(1, 34), 63, 64, 65, 127, 128, 129]
LEAVES = [audit.leaf_hash(f"entry {i}".encode()) for i in range(max(SIZES))]


def test_hashes_and_base64_match_python(browser: Browser) -> None:
    data = [b"", b"\x00", "entry café ✓".encode(), bytes(range(256))]
    got = browser.run(
        """async (v, data) => ({
            leaves: await Promise.all(data.map(async (x) => e(await v.leafHash(d(x))))),
            nodes: await Promise.all(data.map(async (x) => e(await v.nodeHash(d(x), d(data[3]))))),
            roundTrip: data.map((x) => e(d(x))),
            strict: await Promise.all(["abc", "ab=c", "ab==x", "a b=", "YQ", "Y Q==", "-_8="].map((s) => attempt(() => d(s)))),
            empty: d("").length,
        })""",
        [b64(x) for x in data],
    )
    assert got["leaves"] == [b64(audit.leaf_hash(x)) for x in data]
    assert got["nodes"] == [b64(audit.node_hash(x, data[3])) for x in data]
    assert got["roundTrip"] == [b64(x) for x in data]
    assert all("base64" in r.get("error", "") for r in got["strict"]), got["strict"]
    assert got["empty"] == 0
    assert got["leaves"][0] == b64(bytes.fromhex("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"))


def test_proofs_made_by_python_verify_and_tampered_ones_do_not(browser: Browser) -> None:
    inclusion = []
    consistency = []
    for size in SIZES:
        leaves = LEAVES[:size]
        top = audit.root(leaves)
        for index in range(size) if size < 64 else sorted({0, 1, size // 2, size - 2, size - 1}):
            proof = audit.inclusion_proof(index, leaves)
            inclusion.append({"i": index, "n": size, "leaf": b64(leaves[index]), "proof": [*map(b64, proof)], "root": b64(top)})
        for size1 in range(1, size + 1):
            proof = audit.consistency_proof(size1, leaves)
            forked = audit.root([*leaves[: size1 - 1], audit.leaf_hash(b"rewritten")])
            consistency.append(
                {
                    "m": size1,
                    "n": size,
                    "proof": [*map(b64, proof)],
                    "root1": b64(audit.root(leaves[:size1])),
                    "root2": b64(top),
                    "forked": b64(forked),
                }
            )
    got = browser.run(
        """async (v, {inclusion, consistency}) => {
            const flip = (h) => { const x = h.slice(); x[0] ^= 1; return x; };
            const forged = await v.leafHash(new Uint8Array([1, 2, 3]));
            const inc = await Promise.all(inclusion.map(async (c) => {
                const [leaf, proof, root] = [d(c.leaf), c.proof.map(d), d(c.root)];
                const check = (l, i, p) => v.verifyInclusion(l, i, c.n, p, root);
                return [
                    await check(leaf, c.i, proof),
                    await check(forged, c.i, proof),
                    c.n > 1 && await check(leaf, (c.i + 1) % c.n, proof),
                    proof.length > 0 && await check(leaf, c.i, [flip(proof[0]), ...proof.slice(1)]),
                    proof.length > 0 && await check(leaf, c.i, proof.slice(0, -1)),
                    await check(leaf, c.i, [...proof, root]),
                    await check(leaf, c.n, proof),
                ];
            }));
            const con = await Promise.all(consistency.map(async (c) => {
                const [proof, root1, root2] = [c.proof.map(d), d(c.root1), d(c.root2)];
                const check = (p, r1, r2) => v.verifyConsistency(c.m, c.n, p, r1, r2);
                return [
                    await check(proof, root1, root2),
                    c.m < c.n && await check(proof, d(c.forked), root2),
                    c.m < c.n && await check(proof, root1, flip(root2)),
                    proof.length > 0 && await check([flip(proof[0]), ...proof.slice(1)], root1, root2),
                    await check([...proof, root2], root1, root2),
                ];
            }));
            return {inc, con};
        }""",
        {"inclusion": inclusion, "consistency": consistency},
    )
    bad_inclusion = [(c["i"], c["n"], r) for c, r in zip(inclusion, got["inc"], strict=True) if r != [True, *[False] * 6]]
    assert not bad_inclusion, (
        f"(index, size, [good, forged leaf, other index, flipped, short, long, index=size]): {bad_inclusion[:5]}"
    )
    bad_consistency = [(c["m"], c["n"], r) for c, r in zip(consistency, got["con"], strict=True) if r != [True, *[False] * 4]]
    assert not bad_consistency, f"(size1, size2, [good, forked, other root, flipped, long]): {bad_consistency[:5]}"


def test_bad_input_is_false_never_an_exception(browser: Browser) -> None:
    got = browser.run(
        """async (v) => {
            const leaf = await v.leafHash(new Uint8Array(0));
            const short = new Uint8Array(31);
            const results = [];
            for (const args of [
                [leaf, -1, 1, [], leaf], [leaf, 0.5, 1, [], leaf], [leaf, "0", 1, [], leaf], [leaf, 0, "1", [], leaf],
                [leaf, NaN, 1, [], leaf], [leaf, 0, Infinity, [], leaf], [leaf, 0, 0, [], leaf], [leaf, 1, 1, [], leaf],
                [leaf, 0, 1, null, leaf], [leaf, 0, 1, "[]", leaf], [leaf, 0, 1, [], short], [short, 0, 1, [], short],
                [null, 0, 1, [], leaf], [leaf, 0, 2, [123], leaf], [leaf, 0, 2, [[...leaf]], leaf],
                [leaf, 2n ** 64n, 2n ** 64n + 1n, [], leaf],
                [leaf, 0, 1, [leaf], leaf], [leaf, 0, 2, [], leaf], [],
            ]) results.push(await v.verifyInclusion(...args));
            for (const args of [
                [0, 0, [], leaf, leaf], [2, 1, [], leaf, leaf], [-1, 1, [], leaf, leaf], [1, 2, [], leaf, leaf],
                [1, 2, null, leaf, leaf], [1, 2, [short], leaf, leaf], [1, 2, [leaf], short, leaf], [1, 1, [leaf], leaf, leaf],
                [1, 1, [], leaf, short], ["1", 1, [], leaf, leaf], [1.5, 2, [leaf], leaf, leaf], [],
            ]) results.push(await v.verifyConsistency(...args));
            return {
                results,
                oneLeaf: await v.verifyInclusion(leaf, 0, 1, [], leaf),
                oneLeafBig: await v.verifyInclusion(leaf, 0n, 1n, [], leaf),
                sameTree: await v.verifyConsistency(1, 1, [], leaf, leaf),
            };
        }"""
    )
    assert got["results"] == [False] * len(got["results"])
    assert got["oneLeaf"] and got["oneLeafBig"] and got["sameTree"]


# ---- signed notes and checkpoints ---------------------------------------------------------

NAME = "log.example/acme"
ROOT_HASH = audit.root(LEAVES[:7])


def signed(text: str, name: str = NAME, key: Ed25519PrivateKey | None = None) -> tuple[str, str]:
    """A note signed by a fresh key (or ``key``), and the key's verifier text."""
    key = key or Ed25519PrivateKey.generate()
    return audit.sign_note(text, name, key), str(audit.VerifierKey(name, key.public_key().public_bytes_raw()))


def test_verifier_keys_parse_as_python_writes_them(browser: Browser) -> None:
    key = Ed25519PrivateKey.generate()
    verifier = audit.VerifierKey(NAME, key.public_key().public_bytes_raw())
    text = str(verifier)
    name, hex_id, encoded = text.split("+", 2)
    other = audit.VerifierKey(NAME + "x", verifier.public)
    ed25519, not_ed25519 = b"\x01", b"\x02"
    bad = {
        "id": f"{name}+{other.id.hex()}+{encoded}",
        "name": f"{name}x+{hex_id}+{encoded}",
        "algorithm": f"{name}+{hex_id}+{b64(not_ed25519 + verifier.public)}",
        "length": f"{name}+{hex_id}+{b64(ed25519 + verifier.public[:31])}",
        "base64": f"{name}+{hex_id}+{encoded[:-1]}",
        "hex": f"{name}+{hex_id[:6]}+{encoded}",
        "parts": f"{name}+{hex_id}",
        "spaces": f"a b+{hex_id}+{encoded}",
        "empty": "",
    }
    got = browser.run(
        """async (v, {good, bad, upperHex}) => {
            const k = await v.parseVerifierKey(good);
            const errors = {};
            for (const [why, text] of Object.entries(bad)) errors[why] = await attempt(() => v.parseVerifierKey(text));
            const upper = await v.parseVerifierKey(upperHex);
            return {name: k.name, keyId: e(k.keyId), publicKey: e(k.publicKey), errors, upper: e(upper.keyId)};
        }""",
        {"good": text + "\n", "bad": bad, "upperHex": f"{name}+{hex_id.upper()}+{encoded}"},
    )
    assert (got["name"], got["keyId"], got["publicKey"]) == (NAME, b64(verifier.id), b64(verifier.public))
    errors = got["errors"]
    assert all("error" in r for r in errors.values()), errors
    assert "does not match its name and public key" in errors["id"]["error"]
    assert "does not match" in errors["name"]["error"]
    assert "not an Ed25519 note key" in errors["algorithm"]["error"] and "not an Ed25519" in errors["length"]["error"]
    assert got["upper"] == b64(verifier.id)


def test_checkpoints_verify_and_their_tampering_is_named(browser: Browser) -> None:
    body = f"{NAME}\n7\n{b64(ROOT_HASH)}\n"
    full = body + "time 2025-01-02T03:04:05Z\n"
    key = Ed25519PrivateKey.generate()
    note, verifier = signed(full, key=key)
    plain, _ = signed(body, key=key)
    witness = audit.sign_note(full, "witness.example", Ed25519PrivateKey.generate()).split("\n\n")[1]
    impostor, _ = signed(full)  # same name, another key
    sig_line = note.split("\n\n")[1]
    raw = bytearray(base64.b64decode(sig_line.split(" ")[2].strip()))
    raw[-1] ^= 1
    cases = {
        "good": note,
        "no extensions": plain,
        "cosigned first": note.replace("\n\n", "\n\n" + witness),
        "cosigned last": note + witness,
        "impostor": impostor,
        "impostor and good": impostor + sig_line,
        "signature flipped": note.replace(sig_line, f"{sig_line.split(' ')[0]} {NAME} {b64(bytes(raw))}\n"),
        "size changed": note.replace("\n7\n", "\n8\n"),
        "root changed": note.replace(b64(ROOT_HASH), b64(audit.root(LEAVES[:6]))),
        "time changed": note.replace("03:04:05", "03:04:06"),
        "no signatures": note.split("\n\n")[0] + "\n\n",
        "no blank line": note.replace("\n\n", "\n"),
        "no final newline": note[:-1],
        "control character": note.replace(NAME + "\n7", NAME + "\t\n7", 1),
        "bad signature line": note + "- witness AAAA\n",
        "size not decimal": signed(f"{NAME}\nseven\n{b64(ROOT_HASH)}\n", key=key)[0],
        "size leading zero": signed(f"{NAME}\n07\n{b64(ROOT_HASH)}\n", key=key)[0],
        "root too short": signed(f"{NAME}\n7\n{b64(ROOT_HASH[:31])}\n", key=key)[0],
        "root not base64": signed(f"{NAME}\n7\n{b64(ROOT_HASH)[:-1]}\n", key=key)[0],
        "two lines": signed(f"{NAME}\n7\n", key=key)[0],
    }
    got = browser.run(
        """async (v, {cases, key}) => {
            const parsed = await v.parseVerifierKey(key);
            const out = {};
            for (const [why, note] of Object.entries(cases)) {
                out[why] = await attempt(async () => {
                    const c = await v.verifyCheckpoint(note, why === "good" ? key : parsed);
                    return {origin: c.origin, size: c.size, root: e(c.root), extensions: c.extensions};
                });
            }
            return out;
        }""",
        {"cases": cases, "key": verifier},
    )
    good = {"origin": NAME, "size": 7, "root": b64(ROOT_HASH), "extensions": ["time 2025-01-02T03:04:05Z"]}
    assert got["good"] == {"value": good}
    assert got["no extensions"] == {"value": {**good, "extensions": []}}
    assert got["cosigned first"] == got["cosigned last"] == got["impostor and good"] == {"value": good}
    errors = {why: r.get("error", "") for why, r in got.items()}
    expected = {
        "impostor": "not signed by log.example/acme with this key",
        "signature flipped": "does not verify",
        "size changed": "does not verify",
        "root changed": "does not verify",
        "time changed": "does not verify",
        "no signatures": "signature lines",
        "no blank line": "a blank line",
        "no final newline": "ending in a newline",
        "control character": "control characters",
        "bad signature line": "em dash",
        "size not decimal": "tree size in decimal",
        "size leading zero": "tree size in decimal",
        "root too short": "32 bytes, not 31",
        "root not base64": "root hash in base64",
        "two lines": "an origin, a tree size and a root hash",
    }
    mismatched = {why: (errors[why], want) for why, want in expected.items() if want not in errors[why]}
    assert not mismatched, mismatched


# ---- a real log, as the gateway serves it -------------------------------------------------

INDEXES = [0, 1, 5, 6, 11, 12]
SIZE = 13


def steps(origin: str, index: int) -> list[str]:
    return [
        "leaf hash recomputed from the entry bytes",
        f"checkpoint signed by {origin} (tree size {SIZE})",
        f"inclusion proof of entry {index} in tree of size {SIZE} checks against the signed root",
    ]


def flip(encoded: str) -> str:
    raw = bytearray(base64.b64decode(encoded))
    raw[0] ^= 0x80
    return b64(bytes(raw))


def tampered(good: dict[str, Any], globex_key: str, acme_key: str) -> dict[str, tuple[Any, str, str, int]]:
    """Ways a server could lie about entry ``good``: (answer, key text, expected problem, steps passed)."""

    def changed(**fields: Any) -> dict[str, Any]:
        return {**copy.deepcopy(good), **fields}

    n = good["entry"]["n"]
    one_char = good["canonical"].replace(f'"n":{n}', f'"n":{n + 1}')
    assert one_char != good["canonical"] and len(one_char) == len(good["canonical"])
    note = good["checkpoint"]
    text, sig = note.split("\n\n")
    return {
        "canonical one character": (changed(canonical=one_char), acme_key, "do not hash to the leaf hash", 0),
        "canonical, leaf hash and entry forged together": (
            changed(
                canonical=one_char,
                leaf_hash=b64(audit.leaf_hash(one_char.encode())),
                entry={**good["entry"], "n": n + 1},
            ),
            acme_key,
            f"inclusion proof of entry {good['index']} does not lead to the signed root",
            2,
        ),
        "entry shown differs": (changed(entry={**good["entry"], "n": n + 1}), acme_key, "entry shown is not", 0),
        "leaf hash not base64": (changed(leaf_hash="!"), acme_key, "not base64", 0),
        "proof hash flipped": (
            changed(inclusion=[flip(good["inclusion"][0]), *good["inclusion"][1:]]),
            acme_key,
            "does not lead to the signed root",
            2,
        ),
        "proof hash dropped": (changed(inclusion=good["inclusion"][:-1]), acme_key, "does not lead to the signed root", 2),
        "proof hash added": (changed(inclusion=[*good["inclusion"], good["leaf_hash"]]), acme_key, "does not lead", 2),
        "no proof": (changed(inclusion=None), acme_key, "no inclusion proof", 2),
        "checkpoint size altered": (
            changed(checkpoint=note.replace(f"\n{SIZE}\n", f"\n{SIZE + 1}\n", 1)),
            acme_key,
            "does not verify",
            1,
        ),
        "checkpoint root altered": (
            changed(checkpoint=text.replace(text.split("\n")[2], flip(text.split("\n")[2])) + "\n\n" + sig),
            acme_key,
            "does not verify",
            1,
        ),
        "checkpoint unsigned": (changed(checkpoint=text + "\n\n"), acme_key, "signature lines", 1),
        "globex key": (copy.deepcopy(good), globex_key, "not signed by", 1),
        "key id tampered": (copy.deepcopy(good), acme_key.replace("+", "+0", 1)[:-1], "verifier key is not usable", 1),
        "tree size larger": (changed(tree_size=SIZE + 1), acme_key, f"the signed checkpoint says {SIZE}", 2),
        "tree size smaller": (changed(tree_size=SIZE - 1), acme_key, f"the signed checkpoint says {SIZE}", 2),
        "index moved": (changed(index=(good["index"] + 1) % SIZE), acme_key, "the entry says it is entry", 0),
        "index missing": (changed(index=None), acme_key, "no entry index", 0),
    }


async def test_entries_of_a_real_log_verify_and_every_lie_is_caught(runtime: Runtime, browser: Browser) -> None:
    async with tenant_transaction(runtime.store, "acme") as tx:
        for n in range(SIZE):
            fields = {"n": n, "note": "café ✓ — ünïcode", "amount": {"currency": "EUR", "minor": 1999 + n}}
            await audit.append(tx, "acme", "test.entry", fields, {"arguments": {"secret": f"s{n}"}})
    async with tenant_transaction(runtime.store, "globex") as tx:
        await audit.append(tx, "globex", "test.entry", {"n": 0})
    answers = [await runtime.audit.inclusion("acme", i) for i in INDEXES]
    acme_key = str(await runtime.audit.verifier("acme")) + "\n"  # as GET /v1/audit/key answers
    globex_key = str(await runtime.audit.verifier("globex")) + "\n"
    origin = (await runtime.audit.checkpoint("acme")).checkpoint.origin
    assert {a["tree_size"] for a in answers} == {SIZE}
    assert all(not a["canonical"].isascii() for a in answers)  # the bytes are UTF-8, not escaped

    got = browser.run(
        "async (v, {answers, key}) => Promise.all(answers.map((a) => v.verifyEntry(a, key)))",
        {"answers": answers, "key": acme_key},
    )
    assert got == [{"ok": True, "steps": steps(origin, i)} for i in INDEXES]

    lies = {
        f"{i}: {why}": case
        for i, good in zip(INDEXES, answers, strict=True)
        for why, case in tampered(good, globex_key, acme_key).items()
    }
    got = browser.run(
        "async (v, cases) => Promise.all(cases.map(([answer, key]) => v.verifyEntry(answer, key)))",
        [[answer, key] for answer, key, _, _ in lies.values()],
    )
    wrong = {
        why: result
        for (why, (_, _, problem, passed)), result in zip(lies.items(), got, strict=True)
        if result["ok"] is not False or problem not in result.get("problem", "") or len(result["steps"]) != passed
    }
    assert not wrong, wrong

    garbage = browser.run(
        """async (v, key) => Promise.all([null, undefined, 7, "entry", [], {}, {index: -1}, {index: 0, canonical: 5}]
            .map((a) => v.verifyEntry(a, key)).concat([v.verifyEntry({index: 0, canonical: "{}", leaf_hash: ""}, null)]))""",
        acme_key,
    )
    assert all(r["ok"] is False and r["problem"] and r["steps"] == [] for r in garbage), garbage


async def test_consistency_of_a_real_log_against_its_checkpoint(runtime: Runtime, browser: Browser) -> None:
    async with tenant_transaction(runtime.store, "acme") as tx:
        for n in range(SIZE):
            await audit.append(tx, "acme", "test.entry", {"n": n})
    answers = [await runtime.audit.consistency("acme", size1, None) for size1 in (1, 4, 5, SIZE)]
    key = str(await runtime.audit.verifier("acme"))
    got = browser.run(
        """async (v, {answers, key}) => Promise.all(answers.map(async (a) => {
            const signed = await v.verifyCheckpoint(a.checkpoint, key);
            const proof = a.proof.map(d);
            return [
                e(signed.root) === a.to_root && signed.size === a.to,
                await v.verifyConsistency(a.from, a.to, proof, d(a.from_root), signed.root),
                await v.verifyConsistency(a.from, a.to, proof, await v.leafHash(new Uint8Array(0)), signed.root),
            ];
        }))""",
        {"answers": answers, "key": key},
    )
    assert got == [[True, True, False]] * len(answers)
