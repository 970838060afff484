"""Writing a tenant's log to files an auditor can take away, and erasing payloads.

An export is a folder:

``entries.jsonl``
    one entry per line, exactly the leaf bytes (canonical JSON);
``checkpoint``
    the newest signed checkpoint, covering every exported entry;
``history.jsonl``
    every checkpoint the gateway signed for this log, oldest first;
``payloads.jsonl``
    the payloads not erased: entry index, salt and body;
``log.pub``
    the log's verifier key (compare it with the one you hold: never trust the copy
    that came with the export).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, select, update

from ..store import Store, approvals, audit_entries, calls, reversible_calls, tenant_transaction
from ..timeutil import utc_now_iso
from . import _log
from ._service import AuditLog
from ._verify import ENTRIES, HISTORY, PAYLOADS

__all__ = ["erase_payloads", "export_log"]

_PAGE = 10_000


async def export_log(
    audit: AuditLog, tenant: str, folder: Path, *, progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    signed = await audit.checkpoint(tenant)
    size = signed.checkpoint.size
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ENTRIES).open("wb") as fh:
        for start in range(0, size, _PAGE):
            for body in await _log.entries(audit.store, tenant, start, min(_PAGE, size - start)):
                fh.write(body + b"\n")
            if progress is not None:
                progress(min(start + _PAGE, size), size)
    with (folder / HISTORY).open("wb") as fh:
        for old in await audit.history(tenant):
            if old.checkpoint.size <= size:
                fh.write(orjson.dumps({"size": old.checkpoint.size, "note": old.note}) + b"\n")
    payloads = await _write_payloads(audit.store, tenant, size, folder / PAYLOADS)
    (folder / "checkpoint").write_text(signed.note)
    (folder / "log.pub").write_text(str(await audit.verifier(tenant)) + "\n")
    return {"tenant": tenant, "entries": size, "payloads": payloads, "checkpoint": signed.checkpoint.time}


async def _write_payloads(store: Store, tenant: str, size: int, path: Path) -> int:
    written, after = 0, -1
    with path.open("wb") as fh:
        while True:
            rows = await store.fetch_all(
                select(audit_entries.c.idx, audit_entries.c.payload_salt, audit_entries.c.payload)
                .where(
                    audit_entries.c.tenant_id == tenant,
                    audit_entries.c.idx > after,
                    audit_entries.c.idx < size,
                    audit_entries.c.payload.is_not(None),
                )
                .order_by(audit_entries.c.idx)
                .limit(_PAGE)
            )
            for row in rows:
                salt = base64.b64encode(row["payload_salt"]).decode()
                fh.write(orjson.dumps({"index": row["idx"], "salt": salt, "body": row["payload"]}) + b"\n")
            written += len(rows)
            if len(rows) < _PAGE:
                return written
            after = rows[-1]["idx"]


async def erase_payloads(
    store: Store, tenant: str, *, call_ids: list[str], on_behalf_of: str | None, reason: str, by: str
) -> dict[str, Any]:
    """Erase the stored arguments, results and free text of some calls (a data-deletion
    request), keeping the log whole: entries hold only salted commitments, and with the
    salt gone a commitment no longer confirms any guess of what was erased. The erasure
    itself is logged, with the indexes it emptied (not the content)."""
    ids = set(call_ids)
    if on_behalf_of is not None:
        rows = await store.fetch_all(select(calls.c.id).where(calls.c.tenant_id == tenant, calls.c.on_behalf_of == on_behalf_of))
        ids.update(r["id"] for r in rows)
    if not ids:
        return {"entries": [], "index": None, "approvals_kept": 0}
    found = await store.fetch_all(
        select(audit_entries.c.idx).where(audit_entries.c.tenant_id == tenant, audit_entries.c.call_id.in_(sorted(ids)))
    )
    indexes = sorted(int(r["idx"]) for r in found)
    async with tenant_transaction(store, tenant) as tx:
        if indexes:
            await tx.execute(
                update(audit_entries)
                .where(
                    audit_entries.c.tenant_id == tenant, audit_entries.c.idx.in_(indexes), audit_entries.c.payload.is_not(None)
                )
                .values(payload=None, payload_salt=None, payload_erased_at=utc_now_iso())
            )
        # A closed approval's copy of the arguments and result goes too; an open or
        # approved one still needs them to run, and is left (and counted).
        closed = approvals.c.status.in_(("rejected", "expired", "executed", "failed"))
        mine = (approvals.c.tenant_id == tenant) & approvals.c.call_id.in_(sorted(ids))
        await tx.execute(update(approvals).where(mine, closed).values(arguments={}, result=None))
        # What a compensation would need goes as well: such a call can no longer be reverted.
        await tx.execute(
            update(reversible_calls)
            .where(reversible_calls.c.tenant_id == tenant, reversible_calls.c.call_id.in_(sorted(ids)))
            .values(arguments={}, result=None, erased_at=utc_now_iso())
        )
        kept = (await tx.execute(select(func.count()).select_from(approvals).where(mine, ~closed))).scalar() or 0
        index = await _log.append(tx, tenant, "payload.erased", {"entries": indexes, "by": by}, {"reason": reason[:500]})
    return {"entries": indexes, "index": index, "approvals_kept": int(kept)}
