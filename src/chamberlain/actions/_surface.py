"""A Surface is what a business declares: its actions, in one registry.

The name follows the issue's wording (``@surface.action``): the surface is the set
of operations a business exposes to agents, whatever protocol later carries them.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, Generic, Literal, ParamSpec, TypedDict, TypeVar, Unpack

from ..limits import Rate
from ..timeutil import parse_duration
from ._action import Action
from ._contract import build_contract
from ._risk import RISK_CLASSES
from ._undo import REVERT_SUFFIX, Compensation, Undo, revert_contract


class UndoOptions(TypedDict, total=False):
    """What ``.undo(...)`` accepts; ``Surface.undo`` documents each."""

    window: str | None
    risk: str | None
    description: str | None
    idempotency_key: Literal["required", "optional"] | None
    rate: str | None
    quota: str | None


P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C", bound=Compensation)

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
    ) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], Declared[P, R]]:
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

        The decorated function stays callable as before, and gains ``.undo`` to declare
        how its calls are reverted.
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
        parsed_rate, parsed_quota = _limits(rate, quota)
        if resource is not None and risk != "read":
            raise ValueError(f"{name}: only read actions can be published as resources")

        def register(fn: Callable[P, Coroutine[Any, Any, R]]) -> Declared[P, R]:
            self._claim_name(name)
            if not inspect.iscoroutinefunction(fn):
                raise TypeError(f"{fn.__qualname__}: actions must be 'async def'")
            doc = inspect.getdoc(fn) or ""
            contract = build_contract(fn, _model_name(name))
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
            return Declared(self, name, fn)

        return register

    def add(self, action: Action) -> None:
        """Register an action built elsewhere (a proxied upstream operation or tool), held
        to the same naming and risk rules as a declared one."""
        if not ACTION_NAME.match(action.name):
            raise ValueError(f"action name {action.name!r} must be dotted lower-case, like 'orders.refund'")
        if action.risk not in RISK_CLASSES:
            raise ValueError(f"risk {action.risk!r} is not one of {', '.join(RISK_CLASSES)}")
        self._claim_name(action.name)
        self._actions[action.name] = action

    def undo(
        self,
        name: str,
        *,
        window: str | None = None,
        risk: str | None = None,
        description: str | None = None,
        idempotency_key: Literal["required", "optional"] | None = None,
        rate: str | None = None,
        quota: str | None = None,
    ) -> Callable[[C], C]:
        """Declare the compensation of action ``name`` (usually written ``@refund.undo(...)``).

        It becomes the action ``<name>.revert``: ``async fn(original: Original, ctx: Context)``
        receives the call being reverted (its arguments and result) and undoes it in the
        revert call's own transaction. The revert is governed like any call; it takes the
        original's risk class unless ``risk`` says otherwise (so reverting a refund is a money
        movement), and ``window="30d"`` refuses reverts once that long has passed since the
        call ran. An idempotency key is optional: a call can only ever be reverted once.
        """
        original = self._actions.get(name)
        if original is None:
            raise ValueError(f"undo for {name!r}: declare the action first")
        if original.undo is not None or original.reverts is not None:
            raise ValueError(f"{name}: {'its undo is' if original.undo else 'a revert cannot be'} declared twice")
        if original.risk in ("read", "data_export"):
            raise ValueError(f"{name}: a {original.risk} action changes nothing, so there is nothing to undo")
        revert_risk = risk or original.risk
        if revert_risk not in RISK_CLASSES:
            raise ValueError(f"risk {revert_risk!r} is not one of {', '.join(RISK_CLASSES)}")
        revert_name = name + REVERT_SUFFIX
        spec = Undo(revert_name, parse_duration(window) if window is not None else None)
        parsed_rate, parsed_quota = _limits(rate, quota)

        def register(compensation: C) -> C:
            self._claim_name(revert_name)
            doc = inspect.getdoc(compensation)
            self._actions[revert_name] = Action(
                name=revert_name,
                version=1,
                risk=revert_risk,
                description=description or doc or f"Revert a call of {name}.",
                handler=compensation,
                contract=revert_contract(compensation, _model_name(revert_name)),
                title=f"Revert {original.title or name}",
                idempotency_key=idempotency_key or "optional",
                rate=parsed_rate,
                quota=parsed_quota,
                reverts=name,
            )
            self._actions[name] = dataclasses.replace(original, undo=spec)
            return compensation

        return register

    def _claim_name(self, name: str) -> None:
        if name in self._actions:
            raise ValueError(f"action {name!r} is declared twice")

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


class Declared(Generic[P, R]):
    """What ``@surface.action`` gives back: the handler, callable as before (handlers
    call each other), plus ``.undo`` to declare its compensation."""

    def __init__(self, surface: Surface, name: str, fn: Callable[P, Coroutine[Any, Any, R]]) -> None:
        self._surface = surface
        self._fn = fn
        self.action_name = name
        functools.update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R]:
        return self._fn(*args, **kwargs)

    def undo(self, **options: Unpack[UndoOptions]) -> Callable[[C], C]:
        """``@refund.undo(window="30d")``: see ``Surface.undo``."""
        return self._surface.undo(self.action_name, **options)


def _model_name(action: str) -> str:
    return "".join(part.title() for part in re.split(r"[._]", action)) + "Input"


def _limits(rate: str | None, quota: str | None) -> tuple[Rate | None, Rate | None]:
    return (Rate.parse(rate) if rate is not None else None, Rate.parse(quota) if quota is not None else None)


def _check_resource(name: str, uri: str, input_schema: dict[str, Any]) -> None:
    """Template parameters must be exactly the action's required string arguments."""
    params = set(_URI_PARAM.findall(uri))
    required = set(input_schema.get("required", []))
    if params != required:
        raise ValueError(
            f"{name}: resource {uri!r} names {sorted(params) or 'no parameters'}, "
            f"but the action requires {sorted(required) or 'no arguments'}"
        )
