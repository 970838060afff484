"""The offline verifier: an exported log, a checkpoint and a public key, nothing else.

It needs no database, no server and no trust in the operator: every hash is
recomputed from the exported bytes, and the only thing taken on faith is the log's
public key, which the auditor obtained on their own. It reads the export as a stream
(a million entries fit in a few megabytes of memory) and says *where* the log was
touched, not only *that* it was:

* each entry must be canonical JSON (RFC 8785) with its own position as ``index``,
  the tenant's name and the previous entry's leaf hash as ``prev``; so an edited,
  inserted, removed or reordered entry is named by position;
* the RFC 6962 root of the first N entries must equal the root every signed
  checkpoint of size N commits to, so even a log rebuilt consistently from some
  entry on is caught, between the last checkpoint it still matches and the first it
  does not;
* the signed checkpoints must verify with the key, name this tenant's log and agree
  with each other (two roots for one size is a fork);
* stored payloads must match the salted commitments in their entries.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..canonical import jcs
from ._checkpoint import Checkpoint, open_checkpoint
from ._log import ENTRY_VERSION, commitment
from ._merkle import ProofError, fold, leaf_hash, node_hash, verify_consistency, verify_inclusion
from ._note import NoteError, VerifierKey

__all__ = ["ENTRIES", "HISTORY", "PAYLOADS", "Report", "verify_export", "verify_proof"]

ENTRIES = "entries.jsonl"
HISTORY = "history.jsonl"
PAYLOADS = "payloads.jsonl"
_MAX_PROBLEMS = 20


@dataclass
class Report:
    tenant: str
    checkpoint: Checkpoint
    entries: int = 0
    checkpoints: int = 0
    payloads: int = 0
    problems: list[tuple[int | None, str]] = field(default_factory=list)
    _exact: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad(self) -> int | None:
        """The first entry known to be bad; failing that, where the first range that no
        longer matches its signed root begins."""
        if self._exact:
            return min(self._exact)
        positions = [p for p, _ in self.problems if p is not None]
        return min(positions) if positions else None

    def add(self, position: int | None, what: str, *, exact: bool = True) -> None:
        if exact and position is not None:
            self._exact.append(position)
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append((position, what))


class _Tree:
    """RFC 6962 root of a growing list of leaves, with O(log n) memory."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, bytes]] = []
        self.size = 0

    def push(self, leaf: bytes) -> None:
        height, value = 0, leaf
        while self.stack and self.stack[-1][0] == height:
            value = node_hash(self.stack.pop()[1], value)
            height += 1
        self.stack.append((height, value))
        self.size += 1

    def root(self) -> bytes:
        return fold([h for _, h in self.stack])


def verify_export(
    folder: Path,
    key: VerifierKey,
    checkpoint_note: str,
    *,
    also: Sequence[str] = (),
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Check ``folder`` (what ``chamberlain audit export`` wrote) against ``checkpoint_note``,
    which ``key`` must have signed, and against any older checkpoints the auditor kept
    (``also``: the export must extend each of them). Raises NoteError if a checkpoint
    given is not genuine; everything wrong inside the export is reported, with positions."""
    checkpoint = open_checkpoint(checkpoint_note, key)
    report = Report(checkpoint.tenant, checkpoint)
    signed = _signed_roots(folder / HISTORY, key, report)
    for note in (*also, checkpoint_note):
        _merge(signed, open_checkpoint(note, key), report)
    payloads = _Payloads(folder / PAYLOADS, report)
    tree, prev, last_good, shift = _Tree(), b"", 0, 0
    entries = folder / ENTRIES
    if not entries.exists():
        report.add(None, f"{ENTRIES} is missing")
        return report
    with entries.open("rb") as fh:
        for position, line in enumerate(fh):
            body = line.rstrip(b"\n")
            entry, shift = _check_entry(position, body, checkpoint.tenant, prev, shift, report)
            prev = leaf_hash(body)
            tree.push(prev)
            # Payloads name the entry by its own index: after a removal they still pair up.
            claimed = entry.get("index")
            payloads.check(claimed if isinstance(claimed, int) and not isinstance(claimed, bool) else position, entry, report)
            if tree.size in signed:
                last_good = _check_signed_root(tree, signed[tree.size], last_good, report)
            if progress is not None and tree.size % 100_000 == 0:
                progress(tree.size)
    report.entries = tree.size
    beyond = max(signed)
    if tree.size < beyond:
        report.add(tree.size, f"the export ends after {tree.size} entries, a checkpoint covers {beyond}: truncated")
    for leftover in payloads.leftovers():
        report.add(leftover, f"the payload of entry {leftover} has no entry")
    return report


def _check_signed_root(tree: _Tree, signed: tuple[bytes, str], last_good: int, report: Report) -> int:
    """Compare the root of the entries so far with a signed one; returns the size up to
    which the log is known good."""
    report.checkpoints += 1
    if tree.root() == signed[0]:
        return tree.size
    report.add(
        last_good,
        f"entries {last_good}..{tree.size - 1} differ from what was signed at {signed[1]} for size {tree.size}:"
        " an entry in that range was changed, removed or inserted",
        exact=False,
    )
    return last_good


def _signed_roots(path: Path, key: VerifierKey, report: Report) -> dict[int, tuple[bytes, str]]:
    """Every checkpoint in the export's history, checked; size -> (root, time)."""
    roots: dict[int, tuple[bytes, str]] = {}
    if not path.exists():
        return roots
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            checkpoint = open_checkpoint(orjson.loads(line)["note"], key)
        except (NoteError, orjson.JSONDecodeError, KeyError, TypeError) as err:
            report.add(None, f"{HISTORY} line {number} is not a checkpoint signed by this key: {err}")
            continue
        _merge(roots, checkpoint, report)
    return roots


def _merge(roots: dict[int, tuple[bytes, str]], checkpoint: Checkpoint, report: Report) -> None:
    known = roots.get(checkpoint.size)
    if known is not None and known[0] != checkpoint.root:
        report.add(None, f"two checkpoints sign different roots for size {checkpoint.size}: the log forked")
    roots[checkpoint.size] = (checkpoint.root, checkpoint.time)


def _check_entry(position: int, body: bytes, tenant: str, prev: bytes, shift: int, report: Report) -> tuple[dict[str, Any], int]:
    """Check one entry on its own and against the one before; ``shift`` is how far the
    entries' own numbers are off their positions so far (reported once per change)."""
    try:
        entry = orjson.loads(body)
    except orjson.JSONDecodeError:
        report.add(position, f"entry {position} is not JSON")
        return {}, shift
    if not isinstance(entry, dict):
        report.add(position, f"entry {position} is not a JSON object")
        return {}, shift
    if jcs(entry) != body:
        report.add(position, f"entry {position} is not in canonical (RFC 8785) form: it was edited")
    if entry.get("v") != ENTRY_VERSION:
        report.add(position, f"entry {position} has an unknown format version {entry.get('v')!r}")
    if entry.get("tenant") != tenant:
        report.add(position, f"entry {position} belongs to {entry.get('tenant')!r}'s log, the checkpoint to {tenant!r}'s")
    claimed = entry.get("index")
    if not isinstance(claimed, int) or isinstance(claimed, bool):
        report.add(position, f"entry {position} has no index")
    elif claimed != position:
        if claimed - position != shift:
            _misplaced(position, claimed, report)
        shift = claimed - position
    elif entry.get("prev") != prev.hex():
        report.add(
            max(position - 1, 0),
            f"entry {position} does not follow entry {position - 1} (its prev hash differs): entry {position - 1} was changed",
        )
    return entry, shift


def _misplaced(position: int, claimed: int, report: Report) -> None:
    if claimed > position:
        report.add(position, f"position {position} holds entry {claimed}: entries {position}..{claimed - 1} are missing")
    else:
        report.add(claimed, f"position {position} holds entry {claimed} again: an entry was inserted at position {claimed}")


class _Payloads:
    """The export's payload records, sorted by entry, consumed alongside the entries."""

    def __init__(self, path: Path, report: Report) -> None:
        self._items = self._read(path, report) if path.exists() else iter(())
        self._next = next(self._items, None)

    @staticmethod
    def _read(path: Path, report: Report) -> Iterator[tuple[int, bytes, bytes]]:
        with path.open("rb") as fh:
            for number, line in enumerate(fh, start=1):
                try:
                    item = orjson.loads(line)
                    yield int(item["index"]), base64.b64decode(item["salt"]), str(item["body"]).encode()
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, binascii.Error):
                    report.add(None, f"{PAYLOADS} line {number} is not a payload record")

    def check(self, index: int, entry: dict[str, Any], report: Report) -> None:
        """Check the payloads of entry ``index`` (and report those of entries that are gone)."""
        while self._next is not None and self._next[0] <= index:
            found, salt, body = self._next
            self._next = next(self._items, None)
            if found < index:
                report.add(found, f"the payload of entry {found} has no entry: entry {found} is missing")
            elif entry.get("payload") is None:
                report.add(found, f"entry {found} commits to no payload, yet one is stored for it")
            elif commitment(salt, body) != entry["payload"]:
                report.add(found, f"the payload of entry {found} does not match its commitment: it was changed")
            else:
                report.payloads += 1

    def leftovers(self) -> Iterator[int]:
        while self._next is not None:
            yield self._next[0]
            self._next = next(self._items, None)


def verify_proof(document: dict[str, Any], key: VerifierKey, old_note: str | None = None) -> str:
    """Check one proof as the API serves it: an entry's inclusion (``GET
    /v1/audit/entries/{i}?proof=1``) or the consistency of two tree sizes (``GET
    /v1/audit/consistency``). Returns what was proven; raises ProofError or NoteError."""
    checkpoint = open_checkpoint(str(document.get("checkpoint", "")), key)
    try:
        if "inclusion" in document:
            return _inclusion(document, checkpoint)
        return _consistency(document, checkpoint, key, old_note)
    except (KeyError, TypeError, ValueError, binascii.Error) as err:
        if isinstance(err, ProofError):
            raise
        raise ProofError(f"the proof document is incomplete or malformed: {err}") from err


def _hashes(values: list[str]) -> list[bytes]:
    return [base64.b64decode(v, validate=True) for v in values]


def _inclusion(document: dict[str, Any], checkpoint: Checkpoint) -> str:
    body = str(document["canonical"]).encode()
    entry = orjson.loads(body)
    index, size = int(document["index"]), int(document["tree_size"])
    if jcs(entry) != body:
        raise ProofError("the entry is not in canonical form")
    if entry.get("index") != index or entry.get("tenant") != checkpoint.tenant:
        raise ProofError(f"the entry is not entry {index} of {checkpoint.tenant!r}'s log")
    if size != checkpoint.size:
        raise ProofError(f"the proof is for a tree of {size}, the checkpoint is of {checkpoint.size}")
    verify_inclusion(index, size, leaf_hash(body), _hashes(document["inclusion"]), checkpoint.root)
    return f"entry {index} is in {checkpoint.origin} at size {size} (checkpoint of {checkpoint.time})"


def _consistency(document: dict[str, Any], checkpoint: Checkpoint, key: VerifierKey, old_note: str | None) -> str:
    size1, size2 = int(document["from"]), int(document["to"])
    root1, root2 = _hashes([document["from_root"], document["to_root"]])
    if size2 != checkpoint.size or root2 != checkpoint.root:
        raise ProofError("the proof's newer tree is not the one the checkpoint signs")
    if old_note is not None:
        old = open_checkpoint(old_note, key)
        if (old.size, old.root) != (size1, root1):
            raise ProofError(f"the proof starts from size {size1}, not from your checkpoint of size {old.size}")
    verify_consistency(size1, size2, root1, root2, _hashes(document["proof"]))
    anchored = " (your checkpoint)" if old_note is not None else " (root as served: pass --old to anchor it)"
    return f"the tree of {size1}{anchored} is a prefix of the tree of {size2} signed at {checkpoint.time}"
