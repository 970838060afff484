"""The Stage contract and how a list of stages becomes one callable.

A stage is ``async (call, next) -> Outcome``: it may stop the call by returning
an outcome with an error, or pass it on with ``await next(call)``. The order of
the pipeline is one list; adding a stage is adding one line to it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from ..tracing import around_call, traced
from ._call import Call, Outcome

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

Next = Callable[[Call], Awaitable[Outcome]]


class Stage(Protocol):
    name: str

    async def __call__(self, call: Call, next: Next) -> Outcome: ...


async def _end(call: Call) -> Outcome:
    raise RuntimeError("the last stage must not call next()")


def _timed(stage: Stage, inner: Next) -> Next:
    """Mark when the call enters the stage; ``Call.timings`` turns marks into durations."""
    name = stage.name

    async def run(call: Call) -> Outcome:
        call.marks.append((name, time.perf_counter()))
        return await stage(call, inner)

    return run


def chain(stages: Sequence[Stage], tracer: Tracer | None = None) -> Next:
    """Compose stages outermost-first, the way Starlette builds its middleware stack.

    With a tracer, the call gets a span and each stage a child span; without one, no
    tracing code runs at all."""
    app: Next = _end
    for stage in reversed(stages):
        app = _timed(stage, app) if tracer is None else traced(stage, app, tracer)
    return app if tracer is None else around_call(app, tracer)
