"""Base58btc, multibase ``z`` strings and Multikey encodings of Ed25519 keys.

Data Integrity proofs and controller documents carry signatures and keys as multibase
base58btc text (https://www.w3.org/TR/controller-document/#Multikey). The codec is a
few lines, so it lives here rather than as a dependency; decoders are strict, because
what they read comes from strangers.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

__all__ = [
    "ALPHABET",
    "ED25519_PUBLIC_PREFIX",
    "ED25519_SECRET_PREFIX",
    "b58decode",
    "b58encode",
    "multibase_decode",
    "multibase_encode",
    "private_key_from_multibase",
    "private_key_multibase",
    "public_key_from_multibase",
    "public_key_multibase",
]

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
"""The bitcoin alphabet: no 0, O, I or l."""
_INDEX = {c: i for i, c in enumerate(ALPHABET)}

BASE58BTC = "z"
ED25519_PUBLIC_PREFIX = b"\xed\x01"
"""Multicodec ``ed25519-pub`` (0xed) as an unsigned varint."""
ED25519_SECRET_PREFIX = b"\x80\x26"
"""Multicodec ``ed25519-priv`` (0x1300) as an unsigned varint."""
_KEY_BYTES = 32


def b58encode(data: bytes) -> str:
    """Base58btc: the bytes as one big-endian number in base 58, each leading zero byte a ``1``."""
    zeros = len(data) - len(data.lstrip(b"\0"))
    number = int.from_bytes(data, "big")
    digits = []
    while number:
        number, digit = divmod(number, 58)
        digits.append(ALPHABET[digit])
    return "1" * zeros + "".join(reversed(digits))


def b58decode(text: str) -> bytes:
    """The inverse of :func:`b58encode`; ``ValueError`` on any character outside the alphabet."""
    number = 0
    for position, char in enumerate(text):
        digit = _INDEX.get(char)
        if digit is None:
            raise ValueError(f"not base58btc: {char!r} at position {position}")
        number = number * 58 + digit
    zeros = len(text) - len(text.lstrip("1"))
    return b"\0" * zeros + number.to_bytes((number.bit_length() + 7) // 8, "big")


def multibase_encode(data: bytes) -> str:
    """Multibase base58btc: ``z`` then base58btc."""
    return BASE58BTC + b58encode(data)


def multibase_decode(text: str) -> bytes:
    """The bytes of a multibase base58btc string; ``ValueError`` for any other base or bad text."""
    if not isinstance(text, str):
        raise ValueError(f"multibase value must be a string, not {type(text).__name__}")
    if not text.startswith(BASE58BTC):
        raise ValueError(f"multibase value must start with {BASE58BTC!r} (base58btc), got {text[:1]!r}")
    return b58decode(text[1:])


def _unprefix(text: str, prefix: bytes, what: str) -> bytes:
    data = multibase_decode(text)
    if not data.startswith(prefix):
        raise ValueError(f"not a Multikey {what}: header {data[:2].hex() or 'missing'}, expected {prefix.hex()}")
    if len(data) != len(prefix) + _KEY_BYTES:
        raise ValueError(f"Multikey {what} must hold {_KEY_BYTES} key bytes, got {len(data) - len(prefix)}")
    return data[len(prefix) :]


def public_key_multibase(key: Ed25519PublicKey) -> str:
    """The ``publicKeyMultibase`` of an Ed25519 key: ``z6Mk…``."""
    return multibase_encode(ED25519_PUBLIC_PREFIX + key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def public_key_from_multibase(text: str) -> Ed25519PublicKey:
    """The Ed25519 key of a ``publicKeyMultibase``; ``ValueError`` for any other key type or length."""
    return Ed25519PublicKey.from_public_bytes(_unprefix(text, ED25519_PUBLIC_PREFIX, "Ed25519 public key"))


def private_key_multibase(key: Ed25519PrivateKey) -> str:
    """The ``secretKeyMultibase`` of an Ed25519 key (its 32-byte seed). Keep it secret."""
    return multibase_encode(ED25519_SECRET_PREFIX + key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))


def private_key_from_multibase(text: str) -> Ed25519PrivateKey:
    """The Ed25519 key of a ``secretKeyMultibase``; ``ValueError`` for any other key type or length."""
    return Ed25519PrivateKey.from_private_bytes(_unprefix(text, ED25519_SECRET_PREFIX, "Ed25519 secret key"))
