"""Entries are RFC 8785 canonical JSON: the fast path writes what the reference writes."""

from __future__ import annotations

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from chamberlain.audit import VerifierKey
from chamberlain.canonical import jcs

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False)
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=20
)


@settings(max_examples=400, deadline=None)
@given(values)
def test_jcs_matches_the_reference_implementation(value: object) -> None:
    assert jcs(value) == rfc8785.dumps(value)


def test_keys_that_sort_differently_in_utf16_take_the_exact_path() -> None:
    value = {"\ue000": 1, "\U0001f600": 2, "a": 3}
    assert jcs(value) == rfc8785.dumps(value)
    assert jcs(value).index("\U0001f600".encode()) < jcs(value).index("\ue000".encode())


def test_verifier_keys_read_back_whatever_their_base64_holds() -> None:
    for _ in range(64):  # base64 of random keys includes '+', which also separates the fields
        key = VerifierKey("example.com/log", Ed25519PrivateKey.generate().public_key().public_bytes_raw())
        assert VerifierKey.parse(str(key)) == key
