"""A tenant's log in the database: appends inside the caller's transaction, proofs from
stored subtree hashes.

Every append writes, in the transaction that holds the effect it records, the entry
(canonical JSON, the exact leaf bytes, with its leaf hash and, in columns of their own
outside the hashed bytes, its payload and salt), the perfect subtrees of level 1 and up
it completes (one row per entry on average), and the tenant's head: its size, the hashes of the perfect subtrees along the right
edge (the *frontier*, at most 64) and the last leaf hash. So the root of the current tree needs no read, and any root or
proof at any size needs one query for at most 2·log2(n) stored hashes.

Order: the head is read and written inside the transaction. SQLite takes its write
lock at ``BEGIN IMMEDIATE`` (for every process on the file) and PostgreSQL takes the
tenant's advisory lock, so two appends to one tenant are serialized, and the primary
key (tenant, index) refuses a duplicate index even if something else went wrong.
Callers append last in their unit of work, so on PostgreSQL the lock is held for
three round trips: the lock with the head read, the writes, the commit.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import literal, select, union_all

from ..canonical import dumps, jcs
from ..store import Store, Transaction, Write, audit_entries, audit_heads, audit_nodes, tenant_lock
from ..timeutil import utc_now_iso
from ._merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    consistency_ranges,
    fold,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    perfect_subtrees,
)

__all__ = ["ENTRY_VERSION", "HEADER_FIELDS", "Head", "append", "commitment"]

ENTRY_VERSION = 1
HEADER_FIELDS = frozenset({"v", "tenant", "index", "prev", "time", "kind"})
"""Every entry has these; what an entry is about goes beside them."""


@dataclass(frozen=True)
class Head:
    """The tenant's tree as of its last append."""

    size: int
    frontier: tuple[bytes, ...]
    """Hashes of the perfect subtrees on the right edge, largest (leftmost) first."""
    last_leaf: bytes

    @property
    def root(self) -> bytes:
        return fold(self.frontier) if self.frontier else EMPTY_ROOT

    @classmethod
    def of(cls, row: Mapping[str, Any] | None) -> Head:
        if row is None:
            return cls(0, (), b"")
        blob = row["frontier"]
        frontier = tuple(blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE))
        return cls(int(row["size"]), frontier, row["last_leaf"])


def commitment(salt: bytes, body: bytes) -> str:
    """A salted hash: it binds the payload, and once payload and salt are erased it no
    longer lets anyone confirm a guess of what the payload was."""
    return "sha256:" + hashlib.sha256(salt + body).hexdigest()


async def append(
    tx: Transaction,
    tenant: str,
    kind: str,
    fields: Mapping[str, Any],
    payload: Mapping[str, Any] | None = None,
) -> int:
    """Append one entry to ``tenant``'s log in ``tx``; returns its index.

    ``payload`` (the parts that may be personal: arguments, results, free text) is stored
    beside the log; the entry holds only its salted commitment, so it can be erased later
    without breaking the log. Parts that are None are left out.
    """
    clash = HEADER_FIELDS & fields.keys()
    if clash:
        raise ValueError(f"entry fields {sorted(clash)} are reserved")
    # Writers of this tenant's log, one at a time, in commit order. The lock is held from
    # here to the commit: three round trips on PostgreSQL (this, the writes, the commit).
    head = Head.of(await tx.lock_and_get(tenant_lock(tenant), audit_heads, {"tenant_id": tenant}))
    index = head.size
    entry: dict[str, Any] = {
        "v": ENTRY_VERSION,
        "tenant": tenant,
        "index": index,
        "prev": head.last_leaf.hex(),
        "time": utc_now_iso(),
        "kind": kind,
        **fields,
    }
    parts = {name: value for name, value in (payload or {}).items() if value is not None}
    salt, text = (os.urandom(16), dumps(parts)) if parts else (None, None)
    if salt is not None and text is not None:
        # The commitment covers the stored bytes themselves, so they need not be canonical.
        entry["payload"] = commitment(salt, text)
    body = jcs(entry)
    leaf = leaf_hash(body)
    frontier = list(head.frontier)
    writes: list[Write] = []
    value, level = leaf, 0
    while (index >> level) & 1:
        value = node_hash(frontier.pop(), value)
        level += 1
        writes.append(("insert", audit_nodes, {"tenant_id": tenant, "level": level, "idx": index >> level, "hash": value}))
    frontier.append(value)
    row = {
        "tenant_id": tenant,
        "idx": index,
        "kind": kind,
        "call_id": fields.get("call_id"),
        "body": body.decode(),
        "leaf_hash": leaf,
        "payload_salt": salt,
        "payload": None if text is None else text.decode(),
    }
    writes.append(("insert", audit_entries, row))
    head_row = {"tenant_id": tenant, "size": index + 1, "frontier": b"".join(frontier), "last_leaf": leaf}
    writes.append(("upsert", audit_heads, head_row))
    await tx.write_all(writes)
    return index


async def head(store: Store, tenant: str) -> Head:
    row = await store.fetch_one(select(audit_heads).where(audit_heads.c.tenant_id == tenant))
    return Head.of(None if row is None else dict(row))


async def range_hashes(store: Store, tenant: str, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    """The RFC 6962 hash of each leaf range, from stored perfect subtrees in one query."""
    parts = [perfect_subtrees(lo, hi) for lo, hi in ranges]
    stored = await _stored(store, tenant, {key for part in parts for key in part})
    try:
        return [fold([stored[key] for key in part]) for part in parts]
    except KeyError as err:
        raise LookupError(f"the log of {tenant!r} has no stored subtree {err.args[0]}: is the size beyond its head?") from err


async def _stored(store: Store, tenant: str, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    keys = list(keys)
    if not keys:
        return {}
    by_level: dict[int, list[int]] = {}
    for level, index in keys:
        by_level.setdefault(level, []).append(index)
    # One primary-key search per level, leaves from the entries (a row-value IN, or an OR
    # of levels, makes SQLite search by tenant alone and scan the rest).
    parts = [
        select(literal(0).label("level"), audit_entries.c.idx, audit_entries.c.leaf_hash.label("hash")).where(
            audit_entries.c.tenant_id == tenant, audit_entries.c.idx.in_(idx)
        )
        if level == 0
        else select(audit_nodes.c.level, audit_nodes.c.idx, audit_nodes.c.hash).where(
            audit_nodes.c.tenant_id == tenant, audit_nodes.c.level == level, audit_nodes.c.idx.in_(idx)
        )
        for level, idx in sorted(by_level.items())
    ]
    rows = await store.fetch_all(parts[0] if len(parts) == 1 else union_all(*parts))
    return {(int(r["level"]), int(r["idx"])): bytes(r["hash"]) for r in rows}


async def root_at(store: Store, tenant: str, size: int) -> bytes:
    if size == 0:
        return EMPTY_ROOT
    return (await range_hashes(store, tenant, [(0, size)]))[0]


async def inclusion(store: Store, tenant: str, index: int, size: int) -> list[bytes]:
    return await range_hashes(store, tenant, inclusion_ranges(index, size))


async def consistency(store: Store, tenant: str, size1: int, size2: int) -> list[bytes]:
    return await range_hashes(store, tenant, consistency_ranges(size1, size2))


async def entry(store: Store, tenant: str, index: int) -> bytes | None:
    row = await store.fetch_one(
        select(audit_entries.c.body).where(audit_entries.c.tenant_id == tenant, audit_entries.c.idx == index)
    )
    return None if row is None else str(row["body"]).encode()


async def entries(store: Store, tenant: str, start: int, limit: int) -> list[bytes]:
    """Entries ``start`` .. ``start + limit - 1`` in order (the leaf bytes)."""
    rows = await store.fetch_all(
        select(audit_entries.c.body)
        .where(audit_entries.c.tenant_id == tenant, audit_entries.c.idx >= start, audit_entries.c.idx < start + limit)
        .order_by(audit_entries.c.idx)
    )
    return [str(r["body"]).encode() for r in rows]


async def search(store: Store, tenant: str, *, kind: str | None, call_id: str | None, limit: int) -> list[bytes]:
    """Entries of ``kind`` and/or about ``call_id``, newest first (the leaf bytes)."""
    query = select(audit_entries.c.body).where(audit_entries.c.tenant_id == tenant)
    if kind:
        query = query.where(audit_entries.c.kind == kind)
    if call_id:
        query = query.where(audit_entries.c.call_id == call_id)
    rows = await store.fetch_all(query.order_by(audit_entries.c.idx.desc()).limit(limit))
    return [str(r["body"]).encode() for r in rows]


async def indexes_of_call(store: Store, tenant: str, call_id: str) -> list[int]:
    rows = await store.fetch_all(
        select(audit_entries.c.idx)
        .where(audit_entries.c.tenant_id == tenant, audit_entries.c.call_id == call_id)
        .order_by(audit_entries.c.idx)
    )
    return [int(r["idx"]) for r in rows]
