"""Checkpoints in the C2SP tlog-checkpoint format (https://c2sp.org/tlog-checkpoint).

The body is origin, tree size and base64 root hash, then one extension line
``time <RFC 3339 UTC>``: the issue asks for a timestamp, and an extension line is
the place the format gives for it (the note's signature covers it). The origin,
``<audit_origin>/<tenant>``, names the tenant, so a checkpoint of one tenant's log
never verifies against another's.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime

from ._merkle import HASH_SIZE
from ._note import NoteError, VerifierKey, verify_note

__all__ = ["Checkpoint", "open_checkpoint"]

_SIZE = re.compile(r"^(0|[1-9][0-9]{0,18})$")


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    time: str

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\ntime {self.time}\n"

    @property
    def tenant(self) -> str:
        return self.origin.rsplit("/", 1)[-1]

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) != 5 or lines[-1] != "":
            raise NoteError("a checkpoint is origin, size, root hash and a time line")
        origin, size, root, time = lines[:4]
        if not origin or not _SIZE.match(size):
            raise NoteError("a checkpoint's first lines are a non-empty origin and a decimal size")
        try:
            raw = base64.b64decode(root, validate=True)
        except binascii.Error as err:
            raise NoteError("a checkpoint's root hash is base64") from err
        if len(raw) != HASH_SIZE or not time.startswith("time "):
            raise NoteError("a checkpoint has a 32-byte root hash, then 'time <RFC 3339>'")
        try:
            datetime.fromisoformat(time[5:])
        except ValueError as err:
            raise NoteError("the checkpoint's time is not an RFC 3339 timestamp") from err
        return cls(origin, int(size), raw, time[5:])


def open_checkpoint(note: str, key: VerifierKey) -> Checkpoint:
    """The checkpoint ``key`` signed; NoteError if it did not, or if it names another log."""
    checkpoint = Checkpoint.parse(verify_note(note, key))
    if checkpoint.origin != key.name:
        raise NoteError(f"the checkpoint is for log {checkpoint.origin!r}, the key for {key.name!r}")
    return checkpoint
