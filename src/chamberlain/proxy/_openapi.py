"""An existing REST API, governed: each selected OpenAPI operation becomes an action.

``openapi_actions(spec, upstream, namespace="petstore")`` gives actions a surface adds
like any other, so grants, policy, approvals, limits, idempotency, audit, events and
tracing apply to them exactly as to native ones. What is particular to a proxied
action is decided here, once, at start:

* its **name**: ``<namespace>.<operationId in snake_case>`` (``getPetById`` →
  ``petstore.get_pet_by_id``), or from method and path when the operation has no id;
* its **risk class**: ``read`` for GET/HEAD/OPTIONS, ``write`` for the other methods
  (DELETE included: the verb says something is removed, not whether it is money or an
  account; ``account`` would park every delete for a human), overridden per operation
  (``risk={"createRefund": "money"}``, or ``x-chamberlain-risk`` in the document);
* whether it is **idempotent** (retried on transient failures, hinted to MCP clients):
  GET, HEAD, OPTIONS, PUT and DELETE by RFC 9110; POST and PATCH only when the operation
  takes an ``Idempotency-Key`` header, which the gateway then fills from the call id, so
  every retry of one call carries one key;
* its **undo**, as another operation of the same upstream (see ``_compensation``),
  exposed as ``<name>.revert`` like a native action's.

Operations are selected by ``include``: operationIds or ``"METHOD /path"`` patterns
(``*`` matches anything, ``/`` included; ``!pattern`` excludes). With no pattern naming
it, an operation the gateway cannot govern (a multipart upload, a required cookie) is
skipped with a warning; one a pattern selects is an error, as is an override naming no
selected operation: a misspelt ``createRefnud: money`` must not leave refunds ``write``.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from types import MappingProxyType
from typing import Any

from jsonschema.exceptions import SchemaError

from ..actions import ACTION_NAME, REVERT_SUFFIX, RISK_CLASSES, Action, Contract, Original, Undo, schema_contract
from ..actions._undo import revert_contract
from ..context import Context
from ..limits import Rate
from ..timeutil import parse_duration
from ._compensation import ArgumentPlan, UndoOperation
from ._forward import forward
from ._operations import OperationSpec, read_operations
from ._spec import OpenApiError, load_spec
from ._upstream import HttpUpstream

__all__ = ["OpenApiError", "OperationSpec", "UndoOperation", "load_spec", "openapi_actions"]

log = logging.getLogger(__name__)

_NONE: Mapping[str, Any] = MappingProxyType({})


def openapi_actions(
    spec: Mapping[str, Any] | str | Path,
    upstream: HttpUpstream,
    *,
    namespace: str,
    include: Sequence[str] | None = None,
    risk: Mapping[str, str] = _NONE,
    undo: Mapping[str, str | UndoOperation] = _NONE,
    rate: Mapping[str, str] = _NONE,
    quota: Mapping[str, str] = _NONE,
) -> list[Action]:
    """The actions for ``spec``'s selected operations (and the revert action of each that
    declares an undo), calling ``upstream``.

    Keys of ``risk``, ``undo``, ``rate`` and ``quota`` name an operation by operationId,
    ``"METHOD /path"`` or action name (``get_pet``); ``undo`` values name the compensating
    operation the same way (any operation of the document, selected or not), or are an
    ``UndoOperation`` saying how to fill its arguments and for how long calls can be reverted.
    """
    if not ACTION_NAME.match(namespace):
        raise OpenApiError(f"namespace {namespace!r} must be dotted lower-case, like 'billing'")
    doc = load_spec(spec)
    # The upstream's own headers (its credentials) are never arguments: an agent's value
    # would replace the gateway's. (Read from HttpUpstream until it exposes their names.)
    everything = read_operations(doc, reserved_headers=upstream.header_names)
    selected = _select(everything, include)
    names = {op.key: f"{namespace}.{op.suffix}" for op in selected}
    _refuse_clashes(selected, names)
    overrides = {kind: _by_operation(selected, table, kind) for kind, table in (("risk", risk), ("rate", rate), ("quota", quota))}
    actions: dict[str, Action] = {}
    for op in selected:
        name = names[op.key]
        actions[name] = Action(
            name=name,
            version=_version(op),
            risk=_risk(op, overrides["risk"].get(op.key)),
            description=op.description or op.summary or f"{op.key} on {upstream.name}.",
            handler=_Proxied(upstream, op).call,
            contract=_contract(op, name),
            idempotent=op.idempotent,
            title=op.summary or None,
            rate=_rate(op, overrides["rate"].get(op.key), "rate"),
            quota=_rate(op, overrides["quota"].get(op.key), "quota"),
        )
    by_key = {op.key: op for op in selected}
    for key, target in _by_operation(selected, undo, "undo").items():
        op, original = by_key[key], actions[names[key]]
        declared = target if isinstance(target, UndoOperation) else UndoOperation(str(target))
        window = _window(op, declared.window)
        revert = _revert_action(upstream, op, original, _find(everything, declared.operation, "undo target"), declared)
        actions[original.name] = dataclasses.replace(original, undo=Undo(revert.name, window))
        actions[revert.name] = revert
    return list(actions.values())


class _Proxied:
    """The handler of one proxied operation: its arguments go upstream, nothing else does."""

    def __init__(self, upstream: HttpUpstream, op: OperationSpec) -> None:
        self._upstream = upstream
        self._op = op

    async def call(self, ctx: Context, **arguments: Any) -> Any:
        return await forward(
            self._upstream, self._op, arguments, traceparent=ctx.traceparent, idempotency_key=_key(ctx, self._op)
        )


class _Compensating:
    """The handler of a proxied revert: the compensating operation, sent the arguments
    its plan takes from the call being reverted."""

    def __init__(self, upstream: HttpUpstream, op: OperationSpec, plan: ArgumentPlan) -> None:
        self._upstream = upstream
        self._op = op
        self._plan = plan

    async def revert(self, original: Original, ctx: Context) -> Any:
        arguments = self._plan.arguments(original.arguments, original.result, original.reason)
        return await forward(
            self._upstream, self._op, arguments, traceparent=ctx.traceparent, idempotency_key=_key(ctx, self._op)
        )


def _key(ctx: Context, op: OperationSpec) -> str | None:
    """The ``Idempotency-Key`` for an operation that takes one: the caller's retries send
    the same key, so the upstream can deduplicate a retry the gateway could not."""
    if not op.idempotency_header:
        return None
    return f"chamberlain-{ctx.idempotency_key or ctx.call_id}"


def _select(operations: list[OperationSpec], include: Sequence[str] | None) -> list[OperationSpec]:
    patterns = [p.strip() for p in include or []]
    wanted = [p for p in patterns if not p.startswith("!")]
    unwanted = [p[1:].strip() for p in patterns if p.startswith("!")]
    for pattern in patterns:
        if not any(_matches(op, pattern.lstrip("!").strip()) for op in operations):
            raise OpenApiError(f"include {pattern!r} matches no operation of the document")
    chosen = []
    for op in operations:
        if (wanted and not any(_matches(op, p) for p in wanted)) or any(_matches(op, p) for p in unwanted):
            continue
        if op.unsupported is None:
            chosen.append(op)
        elif wanted:
            raise OpenApiError(f"{op.label} cannot be governed: {op.unsupported}")
        else:
            log.warning("OpenAPI operation %s is not proxied: %s", op.label, op.unsupported)
    return chosen


def _matches(op: OperationSpec, pattern: str) -> bool:
    method, space, path = pattern.partition(" ")
    if space:
        return fnmatchcase(op.method, method.upper()) and fnmatchcase(op.path, path.strip())
    return op.operation_id is not None and fnmatchcase(op.operation_id, pattern)


def _find(operations: list[OperationSpec], key: str, what: str) -> OperationSpec:
    method, space, path = key.strip().partition(" ")
    wire = f"{method.upper()} {path.strip()}" if space else None
    for op in operations:
        if key in (op.operation_id, op.suffix) or op.key == wire:
            if op.unsupported is not None:
                raise OpenApiError(f"{what} {key!r}: {op.label} cannot be governed: {op.unsupported}")
            return op
    raise OpenApiError(f"{what} {key!r} names no operation of the document")


def _by_operation(selected: list[OperationSpec], table: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """``table`` keyed by each named operation's ``"METHOD /path"``."""
    out: dict[str, Any] = {}
    for name, value in table.items():
        op = _find(selected, name, f"{kind} for")
        if op.key in out:
            raise OpenApiError(f"{kind} for {op.label} is given twice")
        out[op.key] = value
    return out


def _refuse_clashes(selected: list[OperationSpec], names: Mapping[str, str]) -> None:
    seen: dict[str, str] = {}
    for op in selected:
        name = names[op.key]
        if name in seen:
            raise OpenApiError(f"{op.label} and {seen[name]} would both be the action {name!r}")
        seen[name] = op.label


def _risk(op: OperationSpec, override: str | None) -> str:
    risk = override or op.extensions.get("x-chamberlain-risk") or op.inferred_risk
    if risk not in RISK_CLASSES:
        raise OpenApiError(f"{op.label}: risk {risk!r} is not one of {', '.join(RISK_CLASSES)}")
    return str(risk)


def _version(op: OperationSpec) -> int:
    version = op.extensions.get("x-chamberlain-version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise OpenApiError(f"{op.label}: x-chamberlain-version must be a positive integer")
    return version


def _rate(op: OperationSpec, text: str | None, kind: str) -> Rate | None:
    try:
        return Rate.parse(text) if text is not None else None
    except ValueError as err:
        raise OpenApiError(f"{op.label}: {kind}: {err}") from err


def _window(op: OperationSpec, text: str | None) -> timedelta | None:
    try:
        return parse_duration(text) if text is not None else None
    except ValueError as err:
        raise OpenApiError(f"undo for {op.label}: {err}") from err


def _model_name(action: str) -> str:
    return "".join(part.title() for part in re.split(r"[._]", action)) + "Input"


def _contract(op: OperationSpec, name: str) -> Contract:
    try:
        return schema_contract(op.input_schema, op.output_schema, _model_name(name))
    except SchemaError as err:
        raise OpenApiError(f"{op.label}: its schemas are not valid JSON Schema: {err.message}") from err


def _revert_action(
    upstream: HttpUpstream, op: OperationSpec, original: Action, compensation: OperationSpec, declared: UndoOperation
) -> Action:
    """``<name>.revert``, shaped as ``Surface.undo`` shapes a native one: ``call_id`` and
    ``reason`` in (the same contract), the compensating operation's answer out."""
    if original.risk in ("read", "data_export"):
        raise OpenApiError(f"undo for {op.label}: a {original.risk} action changes nothing, so there is nothing to undo")
    risk = declared.risk or original.risk
    if risk not in RISK_CLASSES:
        raise OpenApiError(f"undo for {op.label}: risk {risk!r} is not one of {', '.join(RISK_CLASSES)}")
    plan = ArgumentPlan(op, compensation, declared.arguments, original.contract.wraps_output)
    handler = _Compensating(upstream, compensation, plan).revert
    name = original.name + REVERT_SUFFIX
    contract = _with_output(revert_contract(handler, _model_name(name)), compensation.output_schema)
    return Action(
        name=name,
        version=1,
        risk=risk,
        description=f"Revert a call of {original.name} by {compensation.label} on {upstream.name}."
        + (f" {compensation.summary}" if compensation.summary else ""),
        handler=handler,
        contract=contract,
        idempotent=compensation.idempotent,
        title=f"Revert {original.title or original.name}",
        idempotency_key="optional",
        reverts=original.name,
    )


def _with_output(contract: Contract, output_schema: dict[str, Any] | None) -> Contract:
    """``contract`` answering with the compensating operation's schema, passed through as
    ``schema_contract`` passes a proxied answer."""
    proxied = schema_contract({"type": "object"}, output_schema, "Unused")
    return dataclasses.replace(
        contract,
        output_adapter=proxied.output_adapter,
        output_schema=proxied.output_schema,
        wraps_output=proxied.wraps_output,
        returns=None,
    )
