"""The audit log as the gateway serves it: signed checkpoints, entries and proofs.

Checkpoints are signed on demand (when the tree grew since the last one) and by the
gateway's checkpoint loop, and each is also written to files outside the database
(``<audit_dir>/<tenant>/checkpoint`` and ``history.jsonl``). Before signing, the
log is checked against the last checkpoint in those files: a database that was
rewritten, truncated or restored from an old backup no longer contains the tree that
was signed, and the gateway refuses to sign anything that contradicts it.
"""

from __future__ import annotations

import base64
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import insert, select

from ..errors import AuditEntryNotFound, AuditLogBroken, InvalidInput
from ..store import Store, audit_checkpoints, audit_heads, tenant_transaction
from ..timeutil import utc_now
from . import _log
from ._checkpoint import Checkpoint, open_checkpoint
from ._keys import LogKeys
from ._merkle import ProofError, leaf_hash, verify_inclusion
from ._note import NoteError, VerifierKey, sign_note

__all__ = ["AuditLog", "SignedCheckpoint"]

log = logging.getLogger("chamberlain.audit")


def _size_of(note_file: Path) -> int:
    """The tree size a checkpoint file names (its second line); -1 if there is none."""
    try:
        return int(note_file.read_text().split("\n", 2)[1])
    except (OSError, IndexError, ValueError):
        return -1


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    note: str


class AuditLog:
    def __init__(self, store: Store, keys: LogKeys, directory: Path | None) -> None:
        self.store = store
        self.keys = keys
        self.directory = directory
        """Where checkpoints are written outside the database (None: nowhere)."""

    async def verifier(self, tenant: str) -> VerifierKey:
        return await self.keys.verifier(tenant)

    async def checkpoint(self, tenant: str) -> SignedCheckpoint:
        """A checkpoint of the tree as it is now, signed now if the tree grew since the last."""
        head = await _log.head(self.store, tenant)
        latest = await self.latest(tenant)
        if latest is not None and latest.checkpoint.size == head.size:
            await self._refuse_if_shrunk(tenant, head.size)
            return latest
        return await self._sign(tenant, head)

    async def _refuse_if_shrunk(self, tenant: str, size: int) -> None:
        """A log rolled back to a size it once had still has that size's checkpoint in the
        database: serving it would vouch for a log shorter than one signed since, which the
        file outside the database remembers. (The file is written after the commit of its
        size, so the head is read again before calling it a shrink: another process may
        have just grown the log.)"""
        files = self._files(tenant)
        if files is None or _size_of(files[0]) <= size:
            return
        now = (await _log.head(self.store, tenant)).size
        outside = _size_of(files[0])
        if outside > now:
            raise AuditLogBroken(
                f"the log of {tenant} has {now} entries but a checkpoint outside the database covers {outside}:"
                " the database was truncated or restored"
            )

    async def latest(self, tenant: str) -> SignedCheckpoint | None:
        row = await self.store.fetch_one(
            select(audit_checkpoints.c.note)
            .where(audit_checkpoints.c.tenant_id == tenant)
            .order_by(audit_checkpoints.c.size.desc())
            .limit(1)
        )
        return None if row is None else await self._open(tenant, str(row["note"]))

    async def history(self, tenant: str) -> list[SignedCheckpoint]:
        rows = await self.store.fetch_all(
            select(audit_checkpoints.c.note).where(audit_checkpoints.c.tenant_id == tenant).order_by(audit_checkpoints.c.size)
        )
        return [await self._open(tenant, str(r["note"])) for r in rows]

    async def _open(self, tenant: str, note: str) -> SignedCheckpoint:
        return SignedCheckpoint(open_checkpoint(note, await self.verifier(tenant)), note)

    async def checkpoint_all(self) -> int:
        """Sign a checkpoint for every tenant whose log grew; returns how many were signed."""
        rows = await self.store.fetch_all(select(audit_heads.c.tenant_id, audit_heads.c.size))
        signed = 0
        for row in rows:
            latest = await self.latest(row["tenant_id"])
            if latest is None or latest.checkpoint.size != row["size"]:
                await self.checkpoint(row["tenant_id"])
                signed += 1
        return signed

    async def _sign(self, tenant: str, head: _log.Head) -> SignedCheckpoint:
        await self._check_against_witness(tenant, head.size)
        checkpoint = Checkpoint(
            self.keys.origin(tenant), head.size, head.root, utc_now().isoformat(timespec="seconds").replace("+00:00", "Z")
        )
        note = sign_note(checkpoint.text(), checkpoint.origin, await self.keys.signer(tenant))
        async with tenant_transaction(self.store, tenant) as tx:
            taken = (
                await tx.execute(
                    select(audit_checkpoints.c.note).where(
                        audit_checkpoints.c.tenant_id == tenant, audit_checkpoints.c.size == head.size
                    )
                )
            ).first()
            if taken is not None:  # another process signed this size first: serve its note
                return await self._open(tenant, str(taken[0]))
            await tx.execute(
                insert(audit_checkpoints).values(tenant_id=tenant, size=head.size, note=note, created_at=checkpoint.time)
            )
        self._witness(tenant, head.size, note)
        return SignedCheckpoint(checkpoint, note)

    def _files(self, tenant: str) -> tuple[Path, Path] | None:
        if self.directory is None:
            return None
        folder = self.directory / tenant
        return folder / "checkpoint", folder / "history.jsonl"

    def _witness(self, tenant: str, size: int, note: str) -> None:
        files = self._files(tenant)
        if files is None:
            return
        latest, history = files
        latest.parent.mkdir(parents=True, exist_ok=True)
        with history.open("ab") as fh:
            fh.write(orjson.dumps({"size": size, "note": note}) + b"\n")
        if _size_of(latest) > size:
            return  # another process already wrote a newer one
        staged = latest.with_suffix(f".{os.getpid()}.tmp")
        staged.write_text(note)
        os.replace(staged, latest)

    async def _check_against_witness(self, tenant: str, size: int) -> None:
        """Refuse to sign a tree that does not extend the last checkpoint written outside
        the database (a log must never sign two inconsistent checkpoints)."""
        files = self._files(tenant)
        if files is None or not files[0].exists():
            return
        try:
            last = open_checkpoint(files[0].read_text(), await self.verifier(tenant))
        except NoteError as err:
            raise AuditLogBroken(f"the checkpoint file {files[0]} does not verify: {err}") from err
        if last.size > size:
            raise AuditLogBroken(
                f"the log of {tenant} has {size} entries but a checkpoint outside the database covers {last.size}:"
                " the database was truncated or restored"
            )
        if last.size and await _log.root_at(self.store, tenant, last.size) != last.root:
            raise AuditLogBroken(
                f"the first {last.size} entries of {tenant}'s log no longer match the checkpoint signed at {last.time}:"
                " the database was rewritten"
            )

    async def entry(self, tenant: str, index: int) -> dict[str, Any]:
        body = await _log.entry(self.store, tenant, index)
        if body is None:
            raise AuditEntryNotFound(f"no entry {index} in this tenant's log")
        return {"index": index, "entry": orjson.loads(body), "canonical": body.decode(), "leaf_hash": b64(leaf_hash(body))}

    async def inclusion(self, tenant: str, index: int) -> dict[str, Any]:
        """An entry with its inclusion proof against the newest checkpoint: everything an
        offline verifier (``chamberlain audit prove``) needs besides the log's public key."""
        found = await self.entry(tenant, index)
        signed = await self.checkpoint(tenant)
        proof = await _log.inclusion(self.store, tenant, index, signed.checkpoint.size)
        try:  # the gateway checks its own answer first: an edited row is named, not served
            verify_inclusion(index, signed.checkpoint.size, leaf_hash(found["canonical"].encode()), proof, signed.checkpoint.root)
        except ProofError as err:
            log.error("entry %d of %s's log does not match its signed checkpoint: %s", index, tenant, err)
            raise AuditLogBroken(
                f"entry {index} of {tenant}'s log does not match the checkpoint of size {signed.checkpoint.size}"
                f" signed at {signed.checkpoint.time}: the stored log was changed (`chamberlain audit verify`"
                " on an export names every entry that differs)",
                index=index,
            ) from err
        return {**found, "tree_size": signed.checkpoint.size, "inclusion": [b64(h) for h in proof], "checkpoint": signed.note}

    async def consistency(self, tenant: str, size1: int, size2: int | None) -> dict[str, Any]:
        """Proof that the tree of ``size1`` is a prefix of the tree of ``size2`` (default:
        the newest checkpoint), with the newest checkpoint to anchor it."""
        signed = await self.checkpoint(tenant)
        size2 = signed.checkpoint.size if size2 is None else size2
        if not 0 < size1 <= size2 <= signed.checkpoint.size:
            raise InvalidInput(
                f"sizes must satisfy 0 < from <= to <= {signed.checkpoint.size} (the log's size)",
                errors=[{"loc": ["query", "from"], "msg": "out of range", "type": "value_error"}],
            )
        proof = await _log.consistency(self.store, tenant, size1, size2)
        roots = await _log.range_hashes(self.store, tenant, [(0, size1), (0, size2)])
        return {
            "from": size1,
            "to": size2,
            "from_root": b64(roots[0]),
            "to_root": b64(roots[1]),
            "proof": [b64(h) for h in proof],
            "checkpoint": signed.note,
        }

    async def entries(self, tenant: str, start: int, limit: int) -> list[dict[str, Any]]:
        return [
            {"index": start + n, "entry": orjson.loads(body)}
            for n, body in enumerate(await _log.entries(self.store, tenant, start, limit))
        ]

    async def search(self, tenant: str, *, kind: str | None, call_id: str | None, limit: int) -> list[dict[str, Any]]:
        bodies = await _log.search(self.store, tenant, kind=kind, call_id=call_id, limit=limit)
        return [{"index": entry["index"], "entry": entry} for entry in map(orjson.loads, bodies)]

    async def indexes_of_call(self, tenant: str, call_id: str) -> list[int]:
        return await _log.indexes_of_call(self.store, tenant, call_id)
