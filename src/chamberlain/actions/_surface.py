"""A Surface is what a business declares: its actions, in one registry.

The name follows the issue's wording (``@surface.action``): the surface is the set
of operations a business exposes to agents, whatever protocol later carries them.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from typing import Any, Literal, TypeVar

from ..limits import Rate
from ._action import Action
from ._contract import build_contract
from ._risk import RISK_CLASSES

F = TypeVar("F", bound=Callable[..., Any])

# Lower-case, optionally dotted by concept ("orders.refund"); valid MCP tool names too.
ACTION_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
_URI_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Surface:
    """The registry of a business's actions; frozen once a gateway serves it."""

    def __init__(self, name: str, *, description: str = "") -> None:
        self.name = name
        self.description = description
        self._actions: dict[str, Action] = {}
        self._events: dict[str, str] = {}
        self._setup: list[Callable[..., Any]] = []

    def action(
        self,
        name: str,
        *,
        risk: str,
        version: int = 1,
        description: str | None = None,
        title: str | None = None,
        idempotent: bool | None = None,
        resource: str | None = None,
        mime_type: str | None = None,
        approval_ttl_s: float | None = None,
        idempotency_key: Literal["required", "optional"] | None = None,
        rate: str | None = None,
        quota: str | None = None,
    ) -> Callable[[F], F]:
        """Declare ``fn`` as action ``name``; contracts come from its type hints.

        ``resource`` also publishes a read action as an MCP resource at that URI
        (or URI template: ``shop://orders/{order_id}`` fills the ``order_id`` argument).
        ``approval_ttl_s`` is how long a call of this action parked for approval waits
        for its approvers before it expires. ``idempotency_key="required"`` refuses calls
        without an idempotency key (the default for ``money`` actions; ``"optional"``
        lifts it). ``rate="10/minute"`` allows each agent of each tenant at most that
        many calls (``N/second|minute|hour|day``); more are refused ``429 rate-limited``.
        ``quota="100/day"`` is the same over a long window, counted from the call records
        (calls that ran or were parked), so restarts do not reset it: ``429 quota-exceeded``.
        """
        if not ACTION_NAME.match(name):
            raise ValueError(f"action name {name!r} must be dotted lower-case, like 'orders.refund'")
        if risk not in RISK_CLASSES:
            raise ValueError(f"risk {risk!r} is not one of {', '.join(RISK_CLASSES)}")
        if not isinstance(version, int) or version < 1:
            raise ValueError("version must be a positive integer")
        if approval_ttl_s is not None and approval_ttl_s <= 0:
            raise ValueError(f"{name}: approval_ttl_s must be positive")
        if idempotency_key not in (None, "required", "optional"):
            raise ValueError(f"{name}: idempotency_key is 'required' or 'optional'")
        parsed_rate = Rate.parse(rate) if rate is not None else None
        parsed_quota = Rate.parse(quota) if quota is not None else None
        if resource is not None and risk != "read":
            raise ValueError(f"{name}: only read actions can be published as resources")

        def register(fn: F) -> F:
            if name in self._actions:
                raise ValueError(f"action {name!r} is declared twice")
            if not inspect.iscoroutinefunction(fn):
                raise TypeError(f"{fn.__qualname__}: actions must be 'async def'")
            doc = inspect.getdoc(fn) or ""
            model_name = "".join(part.title() for part in re.split(r"[._]", name)) + "Input"
            contract = build_contract(fn, model_name)
            if resource is not None:
                _check_resource(name, resource, contract.input_schema)
            self._actions[name] = Action(
                name=name,
                version=version,
                risk=risk,
                description=description or doc or name,
                handler=fn,
                contract=contract,
                idempotent=idempotent,
                title=title,
                resource=resource,
                mime_type=mime_type,
                approval_ttl_s=approval_ttl_s,
                idempotency_key=idempotency_key,
                rate=parsed_rate,
                quota=parsed_quota,
            )
            return fn

        return register

    def event(self, type: str, description: str) -> None:
        """Declare a domain event type (``order.refunded``) that handlers may emit with
        ``ctx.emit``; agents subscribe to declared types only, with a grant that covers
        ``events.<type>``."""
        if not ACTION_NAME.match(type):
            raise ValueError(f"event type {type!r} must be dotted lower-case, like 'order.refunded'")
        if type in self._events:
            raise ValueError(f"event type {type!r} declared twice")
        self._events[type] = description

    @property
    def events(self) -> dict[str, str]:
        """Declared event types and what each means."""
        return dict(self._events)

    def including(self, other: Surface) -> Surface:
        """A new surface with the actions, events and startup hooks of both; names must not clash."""
        clash = (set(self._actions) & set(other._actions)) | (set(self._events) & set(other._events))
        if clash:
            raise ValueError(f"actions or events declared twice: {', '.join(sorted(clash))}")
        combined = Surface(self.name, description=self.description)
        combined._actions = {**self._actions, **other._actions}
        combined._events = {**self._events, **other._events}
        combined._setup = [*self._setup, *other._setup]
        return combined

    def on_startup(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Register ``async fn(store)`` to run when a gateway starts (create tables, seed)."""
        self._setup.append(fn)
        return fn

    @property
    def startup_hooks(self) -> list[Callable[..., Any]]:
        return list(self._setup)

    def get(self, name: str) -> Action | None:
        return self._actions.get(name)

    def __iter__(self) -> Iterator[Action]:
        return iter(sorted(self._actions.values(), key=lambda a: a.name))

    def __len__(self) -> int:
        return len(self._actions)

    def __contains__(self, name: object) -> bool:
        return name in self._actions

    def names(self) -> list[str]:
        return sorted(self._actions)


def _check_resource(name: str, uri: str, input_schema: dict[str, Any]) -> None:
    """Template parameters must be exactly the action's required string arguments."""
    params = set(_URI_PARAM.findall(uri))
    required = set(input_schema.get("required", []))
    if params != required:
        raise ValueError(
            f"{name}: resource {uri!r} names {sorted(params) or 'no parameters'}, "
            f"but the action requires {sorted(required) or 'no arguments'}"
        )
