"""Issue a grant from Python: what ``chamberlain grant issue`` does.

python issue_grant.py   # in a folder where ``chamberlain tenant create my-shop`` ran
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from chamberlain import Surface
from chamberlain.app import Runtime
from chamberlain.config import Settings


async def main() -> None:
    runtime = Runtime(Surface("grants-only"), Settings.from_env())
    async with runtime.running():
        grant = await runtime.authority.issue(
            "my-shop", "agent:support-bot", ["orders.get", "orders.refund"], timedelta(minutes=15), on_behalf_of="user:alice"
        )
    print(grant.id, grant.expires_at.isoformat())
    print(grant.token)  # give this to the agent


if __name__ == "__main__":
    asyncio.run(main())
