"""Pinned tool definitions: an upstream tool is served only as an operator reviewed it.

An MCP server can change a tool after it was reviewed: a new description that tells
the model to do something else, a schema that asks for more, an annotation that makes a
write look like a read. So each tool's definition is pinned by its hash
(``ToolDefinition.digest``) when it is approved, and a tool whose current definition has
another hash is refused (``tool-definition-changed``) until an operator approves the
change. A tool that appears after registration is not served until approved either.

Registering an upstream is the operator's act, so the tools it lists then are approved
on first sight (``approve_new=True``); everything seen later waits in ``pending``.

One row per (upstream, tool) in ``upstream_tools``: the approved definition and its hash,
and beside them the pending one, if the upstream now serves something else. The
operator's data, not a tenant's: every tenant is served the same upstream tools.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from sqlalchemy import select, update

from ..store import Store, upstream_tools
from ..timeutil import utc_now_iso
from ._mcp_client import ToolDefinition

__all__ = ["PinStatus", "ToolPins"]

PinStatus = Literal["approved", "changed", "new"]
"""``approved``: served as approved. ``changed``: approved once, now different upstream
(refused until the change is approved). ``new``: never approved (not served)."""


class ToolPins:
    """The approved (and pending) tool definitions of every upstream, in the store.

    ``store`` is read when a method runs, never kept open by this object: a gateway that
    lists its upstreams before its runtime exists may pin through a store of its own,
    then point ``store`` at the runtime's (with tenant silos, ``upstream_tools`` is
    control data, kept in the shared database).
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._approved: dict[tuple[str, str], str] = {}
        """Approved hashes as last read: a call whose tool still has that hash needs no read."""

    async def pin_or_check(
        self,
        upstream: str,
        definitions: Iterable[ToolDefinition],
        *,
        approve_new: bool = False,
        by: str = "operator",
    ) -> dict[str, PinStatus]:
        """Record what ``upstream`` lists now, and say of each tool whether it may be served.

        A tool seen for the first time is approved if ``approve_new`` (the upstream is
        being registered, by ``by``), else kept pending. A tool whose definition differs
        from the approved one keeps its approval for the old hash and gets the new
        definition as pending; one that went back to its approved definition is served
        again and its pending change dropped.
        """
        listed = {d.name: d for d in definitions}
        now = utc_now_iso()
        statuses: dict[str, PinStatus] = {}
        async with self.store.transaction() as tx:
            rows = {
                r["tool"]: dict(r)
                for r in (await tx.execute(select(upstream_tools).where(upstream_tools.c.upstream == upstream))).mappings()
            }
            for name, definition in sorted(listed.items()):
                digest = definition.digest
                row = rows.get(name)
                key = (upstream, name)
                if row is None:
                    approved = approve_new
                    await tx.upsert(
                        upstream_tools,
                        {
                            "upstream": upstream,
                            "tool": name,
                            "status": "approved" if approved else "pending",
                            "definition_hash": digest if approved else None,
                            "definition": definition.pinned() if approved else None,
                            "pending_hash": None if approved else digest,
                            "pending_definition": None if approved else definition.pinned(),
                            "approved_by": by if approved else None,
                            "approved_at": now if approved else None,
                            "first_seen_at": now,
                            "seen_at": now,
                        },
                    )
                    statuses[name] = "approved" if approved else "new"
                    if approved:
                        self._approved[key] = digest
                    continue
                changes: dict[str, Any] = {"seen_at": now}
                if row["definition_hash"] == digest:
                    changes |= {"status": "approved", "pending_hash": None, "pending_definition": None}
                    statuses[name] = "approved"
                else:
                    changes |= {"status": "pending", "pending_hash": digest, "pending_definition": definition.pinned()}
                    statuses[name] = "new" if row["definition_hash"] is None else "changed"
                await tx.execute(
                    update(upstream_tools)
                    .where(upstream_tools.c.upstream == upstream, upstream_tools.c.tool == name)
                    .values(**changes)
                )
                self._remember(key, row["definition_hash"])
        return statuses

    async def approve(self, upstream: str, tool: str, *, by: str, digest: str | None = None) -> dict[str, Any]:
        """Approve the pending definition of ``tool`` (its new version, or a new tool).

        ``digest`` is the hash the operator reviewed (as ``pending`` shows it): if the
        upstream changed the tool again since, nothing is approved. Returns the row.
        Raises ``LookupError`` if nothing of that tool waits for approval, ``ValueError``
        if the pending definition is not the one reviewed.
        """
        async with self.store.transaction() as tx:
            row = await tx.get(upstream_tools, {"upstream": upstream, "tool": tool})
            if row is None or row["pending_hash"] is None:
                raise LookupError(f"no change of {upstream}/{tool} waits for approval")
            if digest is not None and digest != row["pending_hash"]:
                raise ValueError(f"{upstream}/{tool} changed again: {row['pending_hash']} waits, not {digest}; review it again")
            changes = {
                "status": "approved",
                "definition_hash": row["pending_hash"],
                "definition": row["pending_definition"],
                "pending_hash": None,
                "pending_definition": None,
                "approved_by": by,
                "approved_at": utc_now_iso(),
            }
            await tx.execute(
                update(upstream_tools)
                .where(upstream_tools.c.upstream == upstream, upstream_tools.c.tool == tool)
                .values(**changes)
            )
        self._approved[(upstream, tool)] = changes["definition_hash"]
        return {**row, **changes}

    async def pending(self, upstream: str | None = None) -> list[dict[str, Any]]:
        """What waits for approval: per tool, the approved definition (``None`` for a new
        tool) beside the one the upstream serves now, with both hashes."""
        query = select(upstream_tools).where(upstream_tools.c.status == "pending")
        if upstream is not None:
            query = query.where(upstream_tools.c.upstream == upstream)
        rows = await self.store.fetch_all(query.order_by(upstream_tools.c.upstream, upstream_tools.c.tool))
        return [
            {
                "upstream": r["upstream"],
                "tool": r["tool"],
                "kind": "new" if r["definition_hash"] is None else "changed",
                "approved_hash": r["definition_hash"],
                "approved": r["definition"],
                "pending_hash": r["pending_hash"],
                "pending": r["pending_definition"],
                "approved_by": r["approved_by"],
                "approved_at": r["approved_at"],
                "seen_at": r["seen_at"],
            }
            for r in rows
        ]

    async def approved(self, upstream: str) -> dict[str, ToolDefinition]:
        """The approved definitions of ``upstream``'s tools (what its actions publish)."""
        rows = await self.store.fetch_all(
            select(upstream_tools).where(upstream_tools.c.upstream == upstream, upstream_tools.c.definition_hash.is_not(None))
        )
        found = {}
        for r in rows:
            self._remember((upstream, r["tool"]), r["definition_hash"])
            found[r["tool"]] = ToolDefinition.from_pinned(r["definition"])
        return found

    async def known(self, upstream: str) -> bool:
        """Whether ``upstream`` was registered (any of its tools was ever seen)."""
        return await self.store.fetch_one(select(upstream_tools.c.tool).where(upstream_tools.c.upstream == upstream)) is not None

    async def is_approved(self, upstream: str, tool: str, digest: str) -> bool:
        """Whether ``digest`` is the approved hash of the tool. Answered from memory when
        it matches what was last read; otherwise read again, since an operator may have
        approved it since (from the CLI, another process)."""
        key = (upstream, tool)
        if self._approved.get(key) == digest:
            return True
        row = await self.store.get(upstream_tools, {"upstream": upstream, "tool": tool})
        self._remember(key, row["definition_hash"] if row is not None else None)
        return row is not None and row["definition_hash"] == digest

    def _remember(self, key: tuple[str, str], digest: str | None) -> None:
        if digest is None:
            self._approved.pop(key, None)
        else:
            self._approved[key] = digest
