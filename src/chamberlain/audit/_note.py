"""C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 signatures.

The format Go's ``golang.org/x/mod/sumdb/note``, transparency-dev and Sigstore's
Rekor use for checkpoints: a text, a blank line, and signature lines
``— <key name> base64(key id || signature)``. Verifier keys are written the way
those tools write them: ``<name>+<hex key id>+base64(0x01 || public key)``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = ["NoteError", "VerifierKey", "key_id", "sign_note", "verify_note"]

ED25519 = b"\x01"
_DASH = "\u2014 "
_NAME = re.compile(r"^[^\s+]+$")
_MAX_SIGNATURES = 16
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")


class NoteError(ValueError):
    """A note that is malformed or not signed by the expected key; the message says which."""


def key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public).digest()[:4]


@dataclass(frozen=True)
class VerifierKey:
    name: str
    public: bytes

    @property
    def id(self) -> bytes:
        return key_id(self.name, self.public)

    def __str__(self) -> str:
        return f"{self.name}+{self.id.hex()}+{base64.b64encode(ED25519 + self.public).decode()}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        try:
            name, hex_id, encoded = text.strip().split("+", 2)
            raw = base64.b64decode(encoded, validate=True)
            declared = bytes.fromhex(hex_id)
        except (ValueError, binascii.Error) as err:
            raise NoteError("a verifier key reads <name>+<8 hex digits>+<base64 key>") from err
        if not _NAME.match(name) or raw[:1] != ED25519 or len(raw) != 33:
            raise NoteError("the verifier key is not an Ed25519 note key")
        key = cls(name, raw[1:])
        if declared != key.id:
            raise NoteError("the verifier key's id does not match its name and public key")
        return key


def sign_note(text: str, name: str, private: Ed25519PrivateKey) -> str:
    if not text.endswith("\n") or "\n\n" in text or _CONTROL.search(text):
        raise NoteError("a note text is non-empty lines, each ending in a newline")
    if not _NAME.match(name):
        raise NoteError(f"key name {name!r} must have no spaces and no '+'")
    public = private.public_key().public_bytes_raw()
    signature = key_id(name, public) + private.sign(text.encode())
    return f"{text}\n{_DASH}{name} {base64.b64encode(signature).decode()}\n"


def verify_note(note: str, key: VerifierKey) -> str:
    """The note's text, if ``key`` signed it; NoteError otherwise.

    Signatures by other keys are ignored (witnesses may cosign); one by ``key`` that
    does not verify rejects the whole note, as the specification asks.
    """
    if _CONTROL.search(note) or not note.endswith("\n"):
        raise NoteError("a note is UTF-8 text without control characters, ending in a newline")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise NoteError("a note has a text, a blank line and signature lines")
    text, lines = note[: cut + 1], note[cut + 2 :].splitlines()
    if not lines or len(lines) > _MAX_SIGNATURES:
        raise NoteError(f"a note carries 1 to {_MAX_SIGNATURES} signatures, not {len(lines)}")
    found = False
    for line in lines:
        name, signature = _signature_line(line)
        if name != key.name or signature[:4] != key.id:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(key.public).verify(signature[4:], text.encode())
        except InvalidSignature as err:
            raise NoteError(f"the signature by {key.name} does not verify: the text was changed") from err
        found = True
    if not found:
        raise NoteError(f"the note is not signed by {key.name} with this key (another log, or re-signed?)")
    return text


def _signature_line(line: str) -> tuple[str, bytes]:
    if not line.startswith(_DASH):
        raise NoteError("a signature line starts with an em dash and a space")
    try:
        name, encoded = line[len(_DASH) :].split(" ")
        signature = base64.b64decode(encoded, validate=True)
    except (ValueError, binascii.Error) as err:
        raise NoteError("a signature line reads '— <name> <base64>'") from err
    if len(signature) < 5:
        raise NoteError("a signature is a 4-byte key id and the signature bytes")
    return name, signature
