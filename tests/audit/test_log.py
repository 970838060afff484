"""The stored log: appends, roots and proofs from stored subtrees, checkpoints."""

from __future__ import annotations

import base64
import random

import orjson
import pytest

from chamberlain import audit
from chamberlain.app import Runtime
from chamberlain.audit import _log
from chamberlain.canonical import jcs
from chamberlain.errors import AuditLogBroken
from chamberlain.store import tenant_transaction

POWERS = sorted({n for k in range(1, 11) for n in (2**k - 1, 2**k, 2**k + 1)})


async def fill(rt: Runtime, tenant: str, count: int, per_tx: int = 100) -> list[bytes]:
    """Append ``count`` entries and return the leaf hashes computed from what was stored."""
    for start in range(0, count, per_tx):
        async with tenant_transaction(rt.store, tenant) as tx:
            for n in range(start, min(count, start + per_tx)):
                await audit.append(tx, tenant, "test.entry", {"n": n}, {"arguments": {"secret": f"s{n}"}})
    bodies = await _log.entries(rt.store, tenant, 0, count)
    return [audit.leaf_hash(b) for b in bodies]


async def test_entries_are_canonical_chained_and_numbered(runtime: Runtime) -> None:
    leaves = await fill(runtime, "acme", 5)
    bodies = await _log.entries(runtime.store, "acme", 0, 5)
    previous = ""
    for n, body in enumerate(bodies):
        entry = orjson.loads(body)
        assert jcs(entry) == body
        assert (entry["index"], entry["tenant"], entry["kind"], entry["n"]) == (n, "acme", "test.entry", n)
        assert entry["prev"] == previous
        assert "s" + str(n) not in body.decode()  # payloads stay beside the log, committed by hash
        assert entry["payload"].startswith("sha256:")
        previous = leaves[n].hex()
    head = await _log.head(runtime.store, "acme")
    assert (head.size, head.root) == (5, audit.root(leaves))
    assert (await _log.head(runtime.store, "globex")).size == 0  # tenants have logs of their own


async def test_roots_and_proofs_from_stored_subtrees_at_every_size_up_to_1000(runtime: Runtime) -> None:
    leaves = await fill(runtime, "acme", 1000, per_tx=250)
    rng = random.Random(7)
    for size in range(1, 1001):
        assert await _log.root_at(runtime.store, "acme", size) == audit.root(leaves[:size])
        for index in {0, size - 1, size // 2, rng.randrange(size)}:
            proof = await _log.inclusion(runtime.store, "acme", index, size)
            audit.verify_inclusion(index, size, leaves[index], proof, audit.root(leaves[:size]))
        old = rng.randrange(1, size + 1)
        proof = await _log.consistency(runtime.store, "acme", old, size)
        audit.verify_consistency(old, size, audit.root(leaves[:old]), audit.root(leaves[:size]), proof)


@pytest.mark.parametrize("size", POWERS)
async def test_proofs_at_powers_of_two_and_their_neighbours(runtime: Runtime, size: int) -> None:
    leaves = await fill(runtime, "acme", size, per_tx=500)
    expected = audit.root(leaves)
    for index in range(size):
        proof = await _log.inclusion(runtime.store, "acme", index, size)
        assert proof == audit.inclusion_proof(index, leaves)
        audit.verify_inclusion(index, size, leaves[index], proof, expected)
    for old in range(1, size + 1, max(1, size // 37)):
        assert await _log.consistency(runtime.store, "acme", old, size) == audit.consistency_proof(old, leaves)


async def test_reserved_fields_cannot_be_forged(runtime: Runtime) -> None:
    async with tenant_transaction(runtime.store, "acme") as tx:
        with pytest.raises(ValueError, match="reserved"):
            await audit.append(tx, "acme", "test.entry", {"index": 99})


async def test_checkpoint_is_a_signed_note_naming_the_tenant(runtime: Runtime) -> None:
    leaves = await fill(runtime, "acme", 3)
    signed = await runtime.audit.checkpoint("acme")
    key = await runtime.audit.verifier("acme")
    opened = audit.open_checkpoint(signed.note, key)
    assert (opened.origin, opened.size, opened.root) == ("chamberlain.local/audit/acme", 3, audit.root(leaves))
    lines = signed.note.splitlines()
    assert lines[:3] == ["chamberlain.local/audit/acme", "3", base64.b64encode(audit.root(leaves)).decode()]
    assert lines[3].startswith("time ") and lines[4] == "" and lines[5].startswith("\u2014 chamberlain.local/audit/acme ")
    assert (await runtime.audit.checkpoint("acme")).note == signed.note  # unchanged tree: same checkpoint
    other = await runtime.audit.verifier("globex")
    with pytest.raises(audit.NoteError, match="not signed by"):
        audit.open_checkpoint(signed.note, other)
    # Written outside the database too.
    assert (runtime.settings.audit_path / "acme" / "checkpoint").read_text() == signed.note


async def test_a_rewritten_database_is_caught_before_anything_new_is_signed(runtime: Runtime) -> None:
    await fill(runtime, "acme", 4)
    await runtime.audit.checkpoint("acme")
    async with tenant_transaction(runtime.store, "acme") as tx:  # history rebuilt without entry 1, hashes and all
        for table in (_log.audit_entries, _log.audit_nodes, _log.audit_heads):
            await tx.execute(table.delete().where(table.c.tenant_id == "acme"))
        for n in (0, 2, 3, 4, 5):
            await audit.append(tx, "acme", "test.entry", {"n": n})
    with pytest.raises(AuditLogBroken, match="rewritten"):
        await runtime.audit.checkpoint("acme")


async def test_a_truncated_database_is_caught(runtime: Runtime) -> None:
    await fill(runtime, "acme", 4)
    await runtime.audit.checkpoint("acme")
    async with tenant_transaction(runtime.store, "acme") as tx:
        await tx.execute(_log.audit_heads.update().where(_log.audit_heads.c.tenant_id == "acme").values(size=2))
    with pytest.raises(AuditLogBroken, match="truncated"):
        await runtime.audit.checkpoint("acme")
