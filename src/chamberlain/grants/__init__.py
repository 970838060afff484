"""Capability tokens (Biscuit): issue, verify, authorize; per-tenant keys."""

from ._attenuate import attenuate, public_key_from_hex
from ._clients import ClientRegistry, RegisteredClient
from ._keys import KeyRing, TenantKey, load_master_key
from ._management import management_surface
from ._principal import Principal
from ._token import Grant, GrantAuthority, IssuedGrant

__all__ = [
    "ClientRegistry",
    "Grant",
    "GrantAuthority",
    "IssuedGrant",
    "KeyRing",
    "Principal",
    "RegisteredClient",
    "TenantKey",
    "attenuate",
    "load_master_key",
    "management_surface",
    "public_key_from_hex",
]
