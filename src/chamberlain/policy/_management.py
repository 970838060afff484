"""Reading and changing a tenant's policies through the pipeline: ``policies.get``
and ``policies.update``.

Both are governed actions (``GET``/``PUT /v1/policies`` on REST, tools on MCP), so a
policy change is authorized, recorded and, under the default policies, itself an
account change that waits for a human approver. A change is validated against the
declared actions before it is stored; an invalid set changes nothing.

Annotations here are evaluated at once (no ``from __future__ import annotations``):
the ``files`` argument's validator is a closure over this surface's policy book.
"""

from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from ..actions import Surface
from ..context import Context
from ..errors import ActionError, PolicyInvalid
from ._book import PolicyBook
from ._compile import PolicySet

__all__ = ["policy_surface"]


class PolicyFiles(BaseModel):
    tenant: str
    version: int
    """0 is the shipped default set."""
    digest: str
    files: dict[str, str]
    policies: list[str]


def _view(tenant: str, policies: PolicySet) -> PolicyFiles:
    return PolicyFiles(
        tenant=tenant,
        version=policies.version,
        digest=policies.digest,
        files=policies.files,
        policies=sorted(policies.policies),
    )


def policy_surface(policies: Callable[[], PolicyBook]) -> Surface:
    """``policies`` gives the book when called: the book's schema includes these actions."""
    surface = Surface("chamberlain-policies", description="Read and change this tenant's Cedar policies.")

    @surface.action("policies.get", risk="read")
    async def get(ctx: Context) -> PolicyFiles:
        """This tenant's current policies: version, files and policy ids."""
        return _view(ctx.tenant, await policies().current(ctx.tenant))

    def valid(files: dict[str, str]) -> dict[str, str]:
        """Part of the input contract, so an invalid set is refused before anyone is
        asked to approve it (the handler checks again when it runs)."""
        book = policies()
        if book is not None:  # None only where the surface is built for its schema alone
            try:
                book.compile(files)
            except PolicyInvalid as err:
                problems = "; ".join(f"{e.get('file', '?')} {e.get('policy', '')}: {e['error']}" for e in err.extra["errors"])
                raise ValueError(f"{err.detail}: {problems}") from err
        return files

    @surface.action("policies.update", risk="account")
    async def put(
        files: Annotated[
            dict[str, Annotated[str, Field(max_length=200_000)]], Field(min_length=1, max_length=50), AfterValidator(valid)
        ],
        ctx: Context,
        comment: Annotated[str, Field(max_length=500)] = "",
    ) -> PolicyFiles:
        """Replace this tenant's policies with ``files`` (name → Cedar text) as a new version."""
        try:
            stored = await policies().publish(ctx.tenant, files, author=ctx.principal.id, comment=comment, tx=ctx.tx)
        except PolicyInvalid as err:
            raise ActionError(err.detail, code="policy-invalid", errors=err.extra.get("errors", [])) from err
        return _view(ctx.tenant, stored)

    return surface
