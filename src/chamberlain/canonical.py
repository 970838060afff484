"""Hashes of JSON values, so records hold fingerprints of payloads, not copies."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

__all__ = ["digest", "dumps"]


def dumps(value: Any) -> bytes:
    """Sorted-key compact JSON: equal values give equal bytes."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def digest(value: Any) -> str:
    return "sha256:" + hashlib.sha256(dumps(value)).hexdigest()
