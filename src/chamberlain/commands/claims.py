"""``chamberlain claims``: check a signed claim (a W3C Verifiable Credential) from a file.

What a shopping agent does before believing a price or a policy, at the command line:
with the tenant's key given (``--key``), nothing leaves the machine; without it, the key
is fetched from the proof's ``verificationMethod`` URL, which only shows that whoever
serves that URL signed the claim.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..commerce.claims import (
    KeySource,
    VerificationResult,
    did_key_public_key,
    key_from_document,
    verify,
    verify_credential,
)

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_TIMEOUT = httpx.Timeout(5.0)
_MAX_KEY_DOCUMENT = 256 * 1024
"""A key document is a few hundred bytes; a server sending more is not sending one."""


@click.group()
def claims() -> None:
    """Verify signed claims (W3C Verifiable Credentials with eddsa-jcs-2022 proofs)."""


@claims.command("verify")
@click.argument("file", type=_FILE)
@click.option(
    "--key",
    "key_text",
    default=None,
    help="The issuer's publicKeyMultibase (z6Mk...), or a file holding its Multikey or controller document."
    " Without it, the key is fetched from the proof's verificationMethod (http(s) URL, or read from a did:key).",
)
def claims_verify(file: Path, key_text: str | None) -> None:
    """Check FILE's proof, key and validity period; exit 1 unless it verifies."""
    key = _key(key_text) if key_text is not None else None
    try:
        document = _strict_json(file.read_bytes())
    except (OSError, ValueError, RecursionError) as err:
        result = VerificationResult(False, [f"{file} is not a JSON document: {err}"])
    else:
        result = verify_credential(document, key) if key is not None else verify(document, _published_key)
    _print(result)
    if not result.verified:
        sys.exit(1)


def _print(result: VerificationResult) -> None:
    if result.verified:
        click.echo("verified")
        click.echo(f"verification method: {result.verification_method}")
        return
    click.echo("NOT verified")
    for problem in result.problems:
        click.echo(f"  - {problem}")


def _key(text: str) -> KeySource:
    """A key file's Multikey or controller document, else the text as a publicKeyMultibase."""
    path = Path(text)
    if not path.is_file():
        return text
    try:
        held = _strict_json(path.read_bytes())
    except (OSError, ValueError, RecursionError) as err:
        raise click.BadParameter(f"{path}: {err}", param_hint="--key") from err
    if not isinstance(held, dict):
        raise click.BadParameter("the key file must hold a Multikey or controller document (a JSON object)", param_hint="--key")
    return held


def _strict_json(raw: bytes) -> Any:
    """JSON as RFC 8785 needs it (I-JSON): no duplicate keys, no NaN or Infinity. A signer and
    a verifier that kept different copies of a duplicated key would disagree on the claim."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        names = [name for name, _ in pairs]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate key {next(n for n in names if names.count(n) > 1)!r}")
        return dict(pairs)

    def no_constant(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    return json.loads(raw, object_pairs_hook=no_duplicates, parse_constant=no_constant)


def _published_key(method: str) -> Ed25519PublicKey:
    """The key at the verification method: a did:key spells it out, an http(s) URL serves it."""
    if method.startswith("did:key:"):
        return did_key_public_key(method)
    url = method.split("#", 1)[0]
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError("it is neither an http(s) URL nor a did:key; pass the key with --key")
    held = _fetch(url)
    if not isinstance(held, dict):
        raise ValueError(f"{url} did not serve a Multikey or controller document")
    return key_from_document(held, method)


def _fetch(url: str) -> Any:
    try:
        with httpx.stream(
            "GET", url, timeout=_TIMEOUT, follow_redirects=True, headers={"Accept": "application/ld+json, application/json"}
        ) as response:
            response.raise_for_status()
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > _MAX_KEY_DOCUMENT:
                    raise ValueError(f"{url} served more than {_MAX_KEY_DOCUMENT} bytes")
    except httpx.HTTPError as err:
        raise ValueError(f"could not fetch {url}: {err}") from err
    try:
        return _strict_json(bytes(body))
    except (ValueError, RecursionError) as err:
        raise ValueError(f"{url} did not serve JSON: {err}") from err
