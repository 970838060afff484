// Checking Chamberlain's audit log in the supervisor's own browser.
//
// Why: the console that shows a supervisor the audit log is served by the same gateway
// whose decisions the log records. A supervisor should not have to trust that server to
// believe what it shows them. So the page does the checking itself, with nothing but the
// browser's WebCrypto: it recomputes the hash of the entry's exact bytes, checks the
// tenant's checkpoint against the log's public key (obtained out of band, or at least
// pinned), and checks the inclusion proof from that entry to the signed root. A server
// that edits, drops or reorders an entry after signing cannot make these checks pass.
//
// Specifications followed (the same ones as src/chamberlain/audit/_merkle.py, _note.py
// and _checkpoint.py, which produce what is checked here):
//   - RFC 6962 section 2.1: SHA-256 Merkle tree hashes, leaf prefix 0x00, node prefix 0x01;
//   - RFC 9162 section 2.1.3.2 (inclusion) and 2.1.4.2 (consistency) proof verification;
//   - C2SP signed-note (https://c2sp.org/signed-note), Ed25519 signatures and verifier keys
//     "<name>+<hex key id>+<base64(0x01 || public key)>";
//   - C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): origin, size, root hash,
//     then optional extension lines.
//
// No dependencies: crypto.subtle only (SHA-256, and Ed25519, which Chromium 137+, Firefox
// 129+ and Safari 17+ support). Tree sizes and indexes may be numbers or BigInts.

const HASH_SIZE = 32;
const ED25519 = 0x01;
const DASH = "\u2014 ";
const MAX_SIGNATURES = 16;
const NAME = /^[^\s+]+$/;
const CONTROL = /[\x00-\x09\x0b-\x1f]/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const DECIMAL = /^(?:0|[1-9][0-9]*)$/;
const HEX_ID = /^[0-9a-fA-F]{8}$/;

// ---- bytes ---------------------------------------------------------------------------

/** Standard base64 (with padding) to bytes; throws Error on anything else. */
export function b64decode(text) {
  if (typeof text !== "string" || !BASE64.test(text)) {
    throw new Error("not standard base64");
  }
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** Bytes to standard base64 (with padding). */
export function b64encode(bytes) {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function equal(a, b) {
  if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array) || a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

function isHash(value) {
  return value instanceof Uint8Array && value.length === HASH_SIZE;
}

function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function subtle() {
  if (!globalThis.crypto || !globalThis.crypto.subtle) {
    throw new Error("this page cannot use WebCrypto: it must be served over HTTPS (or from localhost)");
  }
  return globalThis.crypto.subtle;
}

async function sha256(...parts) {
  return new Uint8Array(await subtle().digest("SHA-256", concat(...parts)));
}

/** A non-negative integer (safe number or BigInt) as a BigInt; null for anything else. */
function toIndex(value) {
  if (typeof value === "bigint") return value >= 0n ? value : null;
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  return null;
}

function bitLength(n) {
  return n === 0n ? 0 : n.toString(2).length;
}

function onesCount(n) {
  return n.toString(2).replaceAll("0", "").length;
}

// ---- RFC 6962 hashes -----------------------------------------------------------------

/** RFC 6962 leaf hash: SHA-256(0x00 || bytes). */
export async function leafHash(bytes) {
  if (!(bytes instanceof Uint8Array)) throw new TypeError("leafHash takes a Uint8Array");
  return sha256(Uint8Array.of(0x00), bytes);
}

/** RFC 6962 interior node hash: SHA-256(0x01 || left || right). */
export async function nodeHash(left, right) {
  if (!(left instanceof Uint8Array) || !(right instanceof Uint8Array)) {
    throw new TypeError("nodeHash takes two Uint8Arrays");
  }
  return sha256(Uint8Array.of(0x01), left, right);
}

// ---- RFC 9162 proofs -----------------------------------------------------------------

/**
 * Whether `proof` shows that the leaf with hash `leaf` is leaf `index` of the tree of
 * `treeSize` leaves whose root is `root` (RFC 9162 section 2.1.3.2). Never throws.
 */
export async function verifyInclusion(leaf, index, treeSize, proof, root) {
  try {
    const start = toIndex(index);
    const size = toIndex(treeSize);
    if (start === null || size === null || start >= size) return false;
    if (!isHash(leaf) || !isHash(root) || !Array.isArray(proof) || !proof.every(isHash)) return false;
    // The length the proof must have: the inner part below the split of index and the
    // last leaf, then the border part (the fn/sn loop below would also catch a wrong one).
    const inner = bitLength(start ^ (size - 1n));
    if (proof.length !== inner + onesCount(start >> BigInt(inner))) return false;
    let fn = start;
    let sn = size - 1n;
    let r = leaf;
    for (const p of proof) {
      if (sn === 0n) return false;
      if ((fn & 1n) === 1n || fn === sn) {
        r = await nodeHash(p, r);
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    return sn === 0n && equal(r, root);
  } catch {
    return false;
  }
}

/**
 * Whether `proof` shows that the tree of `size1` leaves with root `root1` is a prefix of
 * the tree of `size2` leaves with root `root2` (RFC 9162 section 2.1.4.2). Equal sizes need
 * an empty proof and equal roots; a proof from the empty tree proves nothing (false), as
 * in the Python verifier. Never throws.
 */
export async function verifyConsistency(size1, size2, proof, root1, root2) {
  try {
    const m = toIndex(size1);
    const n = toIndex(size2);
    if (m === null || n === null || m > n || m === 0n || !Array.isArray(proof)) return false;
    if (m === n) return proof.length === 0 && equal(root1, root2);
    if (!isHash(root1) || !isHash(root2) || proof.length === 0 || !proof.every(isHash)) return false;
    const power = (m & (m - 1n)) === 0n;
    // Expected length, as in _merkle.verify_consistency: the inner part (less the levels
    // the old tree fills completely), the border part, and the seed unless root1 is it.
    const shift = BigInt(bitLength(m & -m) - 1);
    const inner = bitLength((m - 1n) ^ (n - 1n)) - Number(shift);
    const border = onesCount((m - 1n) >> BigInt(bitLength((m - 1n) ^ (n - 1n))));
    if (proof.length !== (power ? 0 : 1) + inner + border) return false;
    const path = power ? [root1, ...proof] : proof;
    let fn = m - 1n;
    let sn = n - 1n;
    while ((fn & 1n) === 1n) {
      fn >>= 1n;
      sn >>= 1n;
    }
    let fr = path[0];
    let sr = path[0];
    for (const c of path.slice(1)) {
      if (sn === 0n) return false;
      if ((fn & 1n) === 1n || fn === sn) {
        fr = await nodeHash(c, fr);
        sr = await nodeHash(c, sr);
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      } else {
        sr = await nodeHash(sr, c);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    return sn === 0n && equal(fr, root1) && equal(sr, root2);
  } catch {
    return false;
  }
}

// ---- C2SP signed notes and checkpoints -----------------------------------------------

/**
 * A C2SP signed-note verifier key, "<name>+<8 hex digits>+<base64(0x01 || public key)>",
 * as GET /v1/audit/key serves it: resolves to {name, keyId, publicKey}; rejects with an
 * Error if it is malformed or its key id does not match its name and public key.
 */
export async function parseVerifierKey(text) {
  if (typeof text !== "string") throw new Error("a verifier key is text: <name>+<8 hex digits>+<base64 key>");
  const trimmed = text.trim();
  const first = trimmed.indexOf("+");
  const second = first < 0 ? -1 : trimmed.indexOf("+", first + 1);
  if (second < 0) throw new Error("a verifier key reads <name>+<8 hex digits>+<base64 key>");
  const name = trimmed.slice(0, first);
  const hexId = trimmed.slice(first + 1, second);
  let raw;
  try {
    raw = b64decode(trimmed.slice(second + 1));
  } catch {
    throw new Error("the verifier key's last part is not base64");
  }
  if (!NAME.test(name)) throw new Error("a verifier key's name is non-empty, without spaces or '+'");
  if (!HEX_ID.test(hexId)) throw new Error("a verifier key's id is 8 hex digits");
  if (raw.length !== 33 || raw[0] !== ED25519) throw new Error("the verifier key is not an Ed25519 note key");
  const publicKey = raw.slice(1);
  const keyId = Uint8Array.from(hexId.match(/../g), (h) => parseInt(h, 16));
  const expected = (await sha256(new TextEncoder().encode(name + "\n"), Uint8Array.of(ED25519), publicKey)).slice(0, 4);
  if (!equal(keyId, expected)) {
    throw new Error(
      `the verifier key's id ${toHex(keyId)} does not match its name and public key (expected ${toHex(expected)})`,
    );
  }
  return { name, keyId, publicKey };
}

async function importKey(publicKey) {
  const webCrypto = subtle();
  try {
    return await webCrypto.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  } catch (err) {
    if (err && err.name === "NotSupportedError") {
      throw new Error("this browser cannot check Ed25519 signatures (WebCrypto Ed25519 needs a current browser)");
    }
    throw new Error("the verifier key is not a valid Ed25519 public key");
  }
}

function parseSignatureLine(line) {
  if (!line.startsWith(DASH)) throw new Error("a signature line starts with an em dash and a space");
  const parts = line.slice(DASH.length).split(" ");
  let signature;
  try {
    if (parts.length !== 2 || !NAME.test(parts[0])) throw new Error();
    signature = b64decode(parts[1]);
  } catch {
    throw new Error("a signature line reads '\u2014 <name> <base64>'");
  }
  if (signature.length < 5) throw new Error("a signature is a 4-byte key id and the signature bytes");
  return { name: parts[0], signature };
}

/**
 * The checkpoint in the signed note `noteText`, if `key` (parsed, or its text) signed it:
 * resolves to {origin, size, root, extensions}. Signatures by other keys (witnesses) are
 * ignored; a signature by `key` that does not verify rejects the note, as the signed-note
 * specification asks. Rejects with an Error saying what is wrong otherwise.
 */
export async function verifyCheckpoint(noteText, key) {
  const verifier = typeof key === "string" ? await parseVerifierKey(key) : key;
  if (
    !verifier ||
    typeof verifier.name !== "string" ||
    !(verifier.keyId instanceof Uint8Array && verifier.keyId.length === 4) ||
    !(verifier.publicKey instanceof Uint8Array && verifier.publicKey.length === 32)
  ) {
    throw new Error("the key to check the checkpoint with is not a verifier key");
  }
  if (typeof noteText !== "string" || CONTROL.test(noteText) || !noteText.endsWith("\n")) {
    throw new Error("a signed note is text without control characters, ending in a newline");
  }
  const cut = noteText.indexOf("\n\n");
  if (cut < 0) throw new Error("a signed note has a text, a blank line and signature lines");
  const text = noteText.slice(0, cut + 1);
  const lines = noteText.slice(cut + 2, -1).split("\n");
  if (noteText.length === cut + 2 || lines.length > MAX_SIGNATURES) {
    throw new Error(`a signed note carries 1 to ${MAX_SIGNATURES} signature lines`);
  }
  let found = false;
  let publicKey = null;
  for (const line of lines) {
    const { name, signature } = parseSignatureLine(line);
    if (name !== verifier.name || !equal(signature.slice(0, 4), verifier.keyId)) continue;
    publicKey ??= await importKey(verifier.publicKey);
    const good =
      signature.length === 68 &&
      (await subtle().verify({ name: "Ed25519" }, publicKey, signature.slice(4), new TextEncoder().encode(text)));
    if (!good) throw new Error(`the signature by ${verifier.name} does not verify: the checkpoint was changed`);
    found = true;
  }
  if (!found) {
    throw new Error(`the checkpoint is not signed by ${verifier.name} with this key (another log, or another key?)`);
  }
  const body = text.slice(0, -1).split("\n");
  if (body.length < 3) throw new Error("a checkpoint is an origin, a tree size and a root hash, one a line");
  const [origin, size, encodedRoot, ...extensions] = body;
  if (!origin) throw new Error("a checkpoint's first line is a non-empty origin");
  if (!DECIMAL.test(size)) throw new Error("a checkpoint's second line is the tree size in decimal");
  if (!Number.isSafeInteger(Number(size))) throw new Error(`the checkpoint's tree size ${size} is too large to check here`);
  let root;
  try {
    root = b64decode(encodedRoot);
  } catch {
    throw new Error("a checkpoint's third line is the root hash in base64");
  }
  if (!isHash(root)) throw new Error(`a checkpoint's root hash is ${HASH_SIZE} bytes, not ${root.length}`);
  return { origin, size: Number(size), root, extensions };
}

// ---- one entry, end to end -----------------------------------------------------------

function sameJson(a, b) {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => Object.prototype.hasOwnProperty.call(b, k) && sameJson(a[k], b[k]));
}

/**
 * Check an answer of GET /v1/audit/entries/{i}?proof=1 against the log's verifier key
 * text (GET /v1/audit/key, obtained independently). Resolves to {ok, steps, problem?}:
 * the steps that passed, in words, and what failed. Never rejects.
 */
export async function verifyEntry(entryResponse, verifierKeyText) {
  const steps = [];
  const fail = (problem) => ({ ok: false, steps, problem });
  try {
    if (!entryResponse || typeof entryResponse !== "object") {
      return fail("the answer is not an audit entry with its proof");
    }
    const { index, canonical, tree_size: treeSize, inclusion, checkpoint } = entryResponse;
    const i = toIndex(index);
    if (i === null) return fail("the answer has no entry index");
    if (typeof canonical !== "string") return fail("the answer does not carry the entry's bytes ('canonical')");

    const leaf = await leafHash(new TextEncoder().encode(canonical));
    let claimed;
    try {
      claimed = b64decode(entryResponse.leaf_hash);
    } catch {
      return fail("the answer's leaf hash is not base64");
    }
    if (!equal(leaf, claimed)) return fail("the entry's bytes do not hash to the leaf hash the server gave");
    let parsed;
    try {
      parsed = JSON.parse(canonical);
    } catch {
      return fail("the entry's bytes are not JSON");
    }
    if ("entry" in entryResponse && !sameJson(parsed, entryResponse.entry)) {
      return fail("the entry shown is not the entry whose bytes were hashed");
    }
    if (parsed && typeof parsed === "object" && typeof parsed.index === "number" && BigInt(parsed.index) !== i) {
      return fail(`the entry says it is entry ${parsed.index}, the answer says ${i}`);
    }
    steps.push("leaf hash recomputed from the entry bytes");

    let key;
    try {
      key = await parseVerifierKey(verifierKeyText);
    } catch (err) {
      return fail(`the verifier key is not usable: ${err.message}`);
    }
    let signed;
    try {
      signed = await verifyCheckpoint(checkpoint, key);
    } catch (err) {
      return fail(err.message);
    }
    if (signed.origin !== key.name) {
      return fail(`the checkpoint is for log ${signed.origin}, the key for ${key.name}`);
    }
    steps.push(`checkpoint signed by ${key.name} (tree size ${signed.size})`);

    if (toIndex(treeSize) !== BigInt(signed.size)) {
      return fail(`the answer says the tree has ${treeSize} entries, the signed checkpoint says ${signed.size}`);
    }
    if (!Array.isArray(inclusion)) return fail("the answer has no inclusion proof");
    let proof;
    try {
      proof = inclusion.map(b64decode);
    } catch {
      return fail("the inclusion proof's hashes are not base64");
    }
    if (!(await verifyInclusion(leaf, i, signed.size, proof, signed.root))) {
      return fail(`the inclusion proof of entry ${i} does not lead to the signed root of the tree of size ${signed.size}`);
    }
    steps.push(`inclusion proof of entry ${i} in tree of size ${signed.size} checks against the signed root`);
    return { ok: true, steps };
  } catch (err) {
    return fail(`the check failed unexpectedly: ${err && err.message ? err.message : String(err)}`);
  }
}
