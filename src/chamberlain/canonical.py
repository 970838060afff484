"""Canonical JSON: hashes of JSON values, and RFC 8785 (JCS) bytes for the audit log."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import rfc8785

__all__ = ["digest", "dumps", "jcs"]

_MAX_EXACT_INT = 2**53 - 1
_SORT_DIFFERS = "\ue000"
"""From here up to U+FFFF, UTF-8 (orjson's key order) and UTF-16 (JCS's) sort differently
against characters above U+FFFF; a key holding one takes the slow, exact path."""


def dumps(value: Any) -> bytes:
    """Sorted-key compact JSON: equal values give equal bytes."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def digest(value: Any) -> str:
    return "sha256:" + hashlib.sha256(dumps(value)).hexdigest()


def jcs(value: Any) -> bytes:
    """RFC 8785 canonical JSON.

    ``rfc8785`` (Trail of Bits) is the reference, but costs ~50 µs for an audit entry;
    orjson with sorted keys writes the very same bytes for JSON without floats, integers
    beyond 2^53 or keys above U+E000, which is every entry the gateway writes. Anything
    else goes to ``rfc8785`` (a property test holds the two equal).
    """
    if _plain(value):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    return rfc8785.dumps(value)


def _plain(value: Any) -> bool:
    """Whether orjson's sorted output is already canonical (a loop, not recursion: this
    runs for every audit entry)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or item is None or kind is bool:
            continue
        if kind is int:
            if not -_MAX_EXACT_INT <= item <= _MAX_EXACT_INT:
                return False
        elif kind is dict:
            for key in item:
                if type(key) is not str or not (key.isascii() or max(key) < _SORT_DIFFERS):
                    return False
            stack.extend(item.values())
        elif kind is list or kind is tuple:
            stack.extend(item)
        else:
            return False  # floats, and anything orjson would write its own way
    return True
