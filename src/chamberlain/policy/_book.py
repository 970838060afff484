"""Where a tenant's policies live: versioned rows, a shipped default, files on disk.

Every change is a new version (the files, a digest, who and why), never an edit, so
a call record's ``policy_version`` always names the exact text that decided it.
A tenant with no version of its own runs on the default set (version 0).

Each gateway process keeps the compiled set per tenant and asks the store for the
newest version number at most every ``refresh_s`` seconds, so a change published
by another process or by the CLI reaches every process within that window.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from .. import audit
from ..actions import Surface
from ..canonical import digest
from ..errors import PolicyInvalid
from ..events import emit_if
from ..store import Store, Transaction, policy_versions, tenant_lock, tenant_scope, tenant_transaction
from ..timeutil import utc_now_iso
from ._compile import PolicySet, compile_policies

log = logging.getLogger("chamberlain.policy")

DEFAULT_FILE = "default.cedar"


def default_files(threshold_minor: int) -> dict[str, str]:
    text = resources.files(__package__).joinpath(DEFAULT_FILE).read_text(encoding="utf-8")
    return {DEFAULT_FILE: text.replace("{threshold}", str(int(threshold_minor)))}


def read_policy_files(paths: list[Path]) -> dict[str, str]:
    """``*.cedar`` files from files and folders, by file name."""
    files: dict[str, str] = {}
    for path in paths:
        found = sorted(path.glob("*.cedar")) if path.is_dir() else [path]
        for file in found:
            if file.name in files:
                raise PolicyInvalid("two policy files share a name", errors=[{"file": file.name, "error": "name used twice"}])
            files[file.name] = file.read_text(encoding="utf-8")
    return files


@dataclass
class _Cached:
    policies: PolicySet | None
    error: PolicyInvalid | None
    checked: float


class PolicyBook:
    def __init__(self, store: Store, surface: Surface, *, threshold_minor: int = 10_000, refresh_s: float = 2.0) -> None:
        self.store = store
        self.surface = surface
        self.refresh_s = refresh_s
        self.threshold_minor = threshold_minor
        self._cache: dict[str, _Cached] = {}
        self.relearn()
        self.events: Any = None
        """The ``EventHub`` that announces new versions (set by the runtime)."""

    def relearn(self) -> None:
        """Compile the defaults against the surface's actions again and forget compiled
        tenant sets (after upstream tools joined the surface at start)."""
        self.default = compile_policies(default_files(self.threshold_minor), self.surface, version=0)
        self._cache.clear()

    def compile(self, files: dict[str, str], version: int = 0) -> PolicySet:
        """Validate ``files`` against this gateway's actions (raises PolicyInvalid)."""
        return compile_policies(files, self.surface, version)

    async def current(self, tenant: str) -> PolicySet:
        """The tenant's policies now; raises PolicyInvalid if the stored set no longer
        validates against the declared actions (callers deny: fail closed)."""
        cached = self._cache.get(tenant)
        now = time.monotonic()
        if cached is None or now - cached.checked >= self.refresh_s:
            cached = await self._refresh(tenant, cached, now)
        if cached.error is not None:
            raise cached.error
        assert cached.policies is not None
        return cached.policies

    async def _refresh(self, tenant: str, cached: _Cached | None, now: float) -> _Cached:
        latest = await self._latest_version(tenant)
        known = cached.policies.version if cached is not None and cached.policies is not None else None
        if cached is not None and cached.error is None and known == latest:
            cached.checked = now
            return cached
        if latest == 0:
            fresh = _Cached(self.default, None, now)
        else:
            row = await self.store.fetch_one(
                select(policy_versions.c.files).where(policy_versions.c.tenant_id == tenant, policy_versions.c.version == latest)
            )
            assert row is not None
            try:
                fresh = _Cached(self.compile(dict(row["files"]), latest), None, now)
            except PolicyInvalid as err:
                log.error("tenant %s: policy version %s no longer validates; denying every call: %s", tenant, latest, err.extra)
                fresh = _Cached(None, err, now)
        self._cache[tenant] = fresh
        return fresh

    async def _latest_version(self, tenant: str) -> int:
        with tenant_scope(tenant):  # an aggregate: asked of the tenant's database alone
            row = await self.store.fetch_one(
                select(func.max(policy_versions.c.version).label("v")).where(policy_versions.c.tenant_id == tenant)
            )
        return int(row["v"]) if row is not None and row["v"] is not None else 0

    async def publish(
        self, tenant: str, files: dict[str, str], *, author: str, comment: str = "", tx: Transaction | None = None
    ) -> PolicySet:
        """Validate and store ``files`` as the tenant's next version."""
        self.compile(files)
        async with tenant_transaction(self.store, tenant, tx) as unit:
            return await self._insert(unit, tenant, files, author, comment)

    async def _insert(self, tx: Transaction, tenant: str, files: dict[str, str], author: str, comment: str) -> PolicySet:
        await tx.lock(tenant_lock(tenant))
        result = await tx.execute(select(func.max(policy_versions.c.version)).where(policy_versions.c.tenant_id == tenant))
        version = (result.scalar() or 0) + 1
        await tx.execute(
            insert(policy_versions).values(
                tenant_id=tenant,
                version=version,
                files=files,
                digest=digest(files),
                author=author,
                comment=comment[:500],
                created_at=utc_now_iso(),
            )
        )
        await audit.append(
            tx,
            tenant,
            "policy.changed",
            {"version": version, "digest": digest(files), "author": author, "comment": comment[:500], "files": sorted(files)},
        )
        await emit_if(self.events, tx, tenant, "policy.changed", {"version": version, "author": author})
        self._cache.pop(tenant, None)
        return self.compile(files, version)

    async def load(self, tenant: str, paths: list[Path], *, author: str) -> PolicySet | None:
        """Publish the policy files at ``paths`` unless they equal the current version."""
        files = read_policy_files(paths)
        if not files:
            raise PolicyInvalid("no .cedar files found", errors=[{"file": str(p), "error": "no .cedar files"} for p in paths])
        current = await self.current_files(tenant)
        if current is not None and digest(current) == digest(files):
            return None
        return await self.publish(tenant, files, author=author, comment="loaded from " + ", ".join(map(str, paths)))

    async def current_files(self, tenant: str) -> dict[str, str] | None:
        version = await self._latest_version(tenant)
        if version == 0:
            return None
        row = await self.store.fetch_one(
            select(policy_versions.c.files).where(policy_versions.c.tenant_id == tenant, policy_versions.c.version == version)
        )
        return dict(row["files"]) if row is not None else None

    async def history(self, tenant: str) -> list[dict[str, Any]]:
        rows = await self.store.fetch_all(
            select(
                policy_versions.c.version,
                policy_versions.c.digest,
                policy_versions.c.author,
                policy_versions.c.comment,
                policy_versions.c.created_at,
            )
            .where(policy_versions.c.tenant_id == tenant)
            .order_by(policy_versions.c.version.desc())
        )
        return [dict(r) for r in rows]

    async def load_dir(self, root: Path, tenants: list[str], *, author: str) -> dict[str, int]:
        """At start: ``root/<tenant>/*.cedar`` for each tenant that has a folder there."""
        published = {}
        for tenant in tenants:
            folder = root / tenant
            if folder.is_dir() and any(folder.glob("*.cedar")):
                policies = await self.load(tenant, [folder], author=author)
                if policies is not None:
                    published[tenant] = policies.version
        return published
