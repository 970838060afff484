"""Argument constraints: ``orders.refund: amount.amount_minor <= 5000``.

A constraint limits the arguments an action may be called with. It becomes a Biscuit
check, so it travels inside the token, holds in every attenuation derived from it, and
is evaluated by the same authorizer as the action itself, against ``arg(path, value)``
facts made from the *validated* arguments. A missing argument fails the check: a grant
limited to ``region == "EU"`` cannot export every region by leaving ``region`` out.

Listing what a grant allows (``tools/list``) has no arguments to judge; the authorizer
then adds ``discovery(true)``, which only the gateway can state for the authority block.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..actions import ACTION_NAME

__all__ = ["Constraint", "argument_facts"]

_SYNTAX = re.compile(
    r"^\s*(?P<action>\*|[a-z0-9_.]+(?:\.\*)?)\s*:\s*(?P<path>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)"
    r"\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<value>.+?)\s*$"
)
Scalar = int | str | bool


def _value(text: str) -> Scalar:
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if text in ("true", "false"):
        return text == "true"
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


@dataclass(frozen=True)
class Constraint:
    action: str
    path: str
    op: str
    value: Scalar

    @classmethod
    def parse(cls, text: str) -> Constraint:
        match = _SYNTAX.match(text)
        if not match:
            raise ValueError(f"constraint {text!r} must look like 'orders.refund: amount.amount_minor <= 5000'")
        action = match.group("action")
        if action != "*" and not ACTION_NAME.match(action.removesuffix(".*")):
            raise ValueError(f"constraint {text!r}: {action!r} is not an action name or glob")
        value = _value(match.group("value"))
        if match.group("op") in ("<", "<=", ">", ">=") and not isinstance(value, int):
            raise ValueError(f"constraint {text!r}: ordering needs an integer value")
        return cls(action, match.group("path"), match.group("op"), value)

    def __str__(self) -> str:
        value = f'"{self.value}"' if isinstance(self.value, str) else str(self.value).lower()
        return f"{self.action}: {self.path} {self.op} {value}"

    def datalog(self, n: int) -> tuple[str, dict[str, Any]]:
        """A Biscuit check (and a fact naming it, for error messages), parameters suffixed ``n``."""
        params: dict[str, Any] = {f"cp{n}": self.path, f"cv{n}": self.value, f"ct{n}": str(self)}
        if self.action == "*":
            scope = ""
        elif self.action.endswith(".*"):
            scope = f"action($a), !$a.starts_with({{ca{n}}}) or "
            params[f"ca{n}"] = self.action[:-1]
        else:
            scope = f"action($a), $a != {{ca{n}}} or "
            params[f"ca{n}"] = self.action
        check = f"check if discovery(true) or {scope}arg({{cp{n}}}, $v), $v {self.op} {{cv{n}}};"
        return f"constraint({{ct{n}}});\n{check}", params


def argument_facts(arguments: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``arg("amount.amount_minor", 1200);`` for every scalar leaf of the validated arguments."""
    lines: list[str] = []
    params: dict[str, Any] = {}
    for i, (path, value) in enumerate(_leaves(arguments, "")):
        lines.append(f"arg({{ap{i}}}, {{av{i}}});")
        params[f"ap{i}"], params[f"av{i}"] = path, value
    return "\n".join(lines), params


def _leaves(node: Any, prefix: str) -> list[tuple[str, Scalar]]:
    if isinstance(node, Mapping):
        out: list[tuple[str, Scalar]] = []
        for key, value in node.items():
            out += _leaves(value, f"{prefix}{key}" if not prefix else f"{prefix}.{key}")
        return out
    if isinstance(node, bool | int | str):
        return [(prefix, node)]
    return []  # lists, floats and nulls cannot be constrained
