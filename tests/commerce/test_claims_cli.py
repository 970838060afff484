"""``chamberlain claims verify``: with the key given, and with the key fetched from the
proof's verificationMethod (served here by a tiny HTTP server on loopback)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chamberlain.commands.claims import claims
from chamberlain.commerce.claims import multikey_document, public_key_multibase, sign

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "vectors" / "vc-di-eddsa" / "TestVectors"
CLAIM = {
    "@context": ["https://www.w3.org/ns/credentials/v2"],
    "type": ["VerifiableCredential"],
    "issuer": "https://shop.example",
    "validFrom": "2025-01-01T00:00:00Z",
    "credentialSubject": {"id": "https://shop.example/p/1", "returnWindowDays": 30},
}


class Site:
    """Documents served as JSON by path, on 127.0.0.1 at a free port."""

    def __init__(self) -> None:
        self.documents: dict[str, bytes] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = site.documents.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body or b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def serve(self, path: str, document: Any) -> str:
        self.documents[path] = document if isinstance(document, bytes) else json.dumps(document).encode()
        return self.base + path


@pytest.fixture
def site() -> Iterator[Site]:
    served = Site()
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.server.shutdown()
        served.server.server_close()
        thread.join(timeout=10)


def run(*args: str) -> Result:
    return CliRunner().invoke(claims, ["verify", *args], catch_exceptions=False)


def write(tmp_path: Path, name: str, document: Any) -> str:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return str(path)


def signed_claim(tmp_path: Path, method: str) -> tuple[str, Ed25519PrivateKey]:
    key = Ed25519PrivateKey.generate()
    return write(tmp_path, "claim.json", sign(CLAIM, key, verification_method=method)), key


def test_verify_with_a_multibase_key(tmp_path: Path) -> None:
    file, key = signed_claim(tmp_path, "https://shop.example/keys#k1")
    result = run(file, "--key", public_key_multibase(key.public_key()))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["verified", "verification method: https://shop.example/keys#k1"]


def test_verify_with_a_multikey_file(tmp_path: Path) -> None:
    file, key = signed_claim(tmp_path, "https://shop.example/keys#k1")
    multikey = write(
        tmp_path,
        "key.json",
        multikey_document(key.public_key(), id="https://shop.example/keys#k1", controller="https://shop.example"),
    )
    assert run(file, "--key", multikey).exit_code == 0
    other = write(
        tmp_path,
        "other.json",
        multikey_document(key.public_key(), id="https://shop.example/keys#k2", controller="https://shop.example"),
    )
    result = run(file, "--key", other)
    assert result.exit_code == 1
    assert "is not the proof's verificationMethod" in result.output


def test_verify_the_w3c_vector_from_its_did_key(tmp_path: Path) -> None:
    if not VECTORS.is_dir():
        pytest.fail(f"W3C vc-di-eddsa test vectors not found at {VECTORS} (../shared/vectors beside the checkout)")
    result = run(str(VECTORS / "eddsa-jcs-2022" / "signedJCS.json"))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("verified\n")


def test_a_wrong_key_or_a_tampered_claim_exits_1_with_each_problem(tmp_path: Path) -> None:
    file, key = signed_claim(tmp_path, "https://shop.example/keys#k1")
    wrong = run(file, "--key", public_key_multibase(Ed25519PrivateKey.generate().public_key()))
    assert wrong.exit_code == 1
    assert wrong.output.startswith("NOT verified\n")
    assert "signature does not match" in wrong.output

    tampered = json.loads(Path(file).read_text())
    tampered["credentialSubject"]["returnWindowDays"] = 365
    tampered["validUntil"] = "2025-02-01T00:00:00Z"
    result = run(write(tmp_path, "tampered.json", tampered), "--key", public_key_multibase(key.public_key()))
    assert result.exit_code == 1
    problems = [line for line in result.output.splitlines() if line.startswith("  - ")]
    assert len(problems) == 2
    assert "signature does not match" in result.output and "expired" in result.output

    garbled = run(file, "--key", "z6MkNOTAKEY")
    assert garbled.exit_code == 1
    assert "no trusted key" in garbled.output


def test_files_that_are_not_strict_json_are_not_verified(tmp_path: Path) -> None:
    file, key = signed_claim(tmp_path, "https://shop.example/keys#k1")
    text = Path(file).read_text()
    duplicated = text.replace(
        '"issuer": "https://shop.example"', '"issuer": "https://shop.example", "issuer": "https://evil.example"'
    )
    for name, body in {"dup.json": duplicated, "nan.json": '{"a": NaN}', "broken.json": "{"}.items():
        result = run(write(tmp_path, name, body), "--key", public_key_multibase(key.public_key()))
        assert result.exit_code == 1, name
        assert "is not a JSON document" in result.output
    bad_key = CliRunner().invoke(claims, ["verify", file, "--key", write(tmp_path, "key.json", "[1]")])
    assert bad_key.exit_code == 2
    assert "Multikey or controller document" in bad_key.output


def test_without_key_the_multikey_is_fetched_from_the_verification_method(tmp_path: Path, site: Site) -> None:
    method = site.base + "/keys/1#key-1"
    file, key = signed_claim(tmp_path, method)
    site.serve("/keys/1", multikey_document(key.public_key(), id=method, controller=site.base + "/keys/1"))
    result = run(file)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["verified", f"verification method: {method}"]

    site.serve("/keys/1", multikey_document(Ed25519PrivateKey.generate().public_key(), id=method, controller=site.base))
    assert "signature does not match" in run(file).output


def test_without_key_a_controller_document_is_fetched(tmp_path: Path, site: Site) -> None:
    controller = site.base + "/issuer"
    method = controller + "#key-1"
    file, key = signed_claim(tmp_path, method)
    entry = multikey_document(key.public_key(), id=method, controller=controller)
    del entry["@context"]
    document = {"@context": "https://www.w3.org/ns/cid/v1", "id": controller, "verificationMethod": [entry]}
    site.serve("/issuer", {**document, "assertionMethod": ["#key-1"]})
    assert run(file).exit_code == 0

    site.serve("/issuer", {**document, "authentication": [method]})
    result = run(file)
    assert result.exit_code == 1
    assert "not listed under 'assertionMethod'" in result.output


def test_without_key_fetch_failures_are_problems(tmp_path: Path, site: Site) -> None:
    file, _ = signed_claim(tmp_path, site.base + "/missing#key-1")
    missing = run(file)
    assert missing.exit_code == 1
    assert "could not fetch" in missing.output and "404" in missing.output

    file, _ = signed_claim(tmp_path, site.serve("/huge", b"[" + b"1," * 200_000 + b"1]") + "#key-1")
    huge = run(file)
    assert huge.exit_code == 1
    assert "served more than" in huge.output

    file, _ = signed_claim(tmp_path, site.serve("/html", b"<html>hello</html>") + "#key-1")
    assert "did not serve JSON" in run(file).output

    file, _ = signed_claim(tmp_path, "urn:example:key-1")
    other = run(file)
    assert other.exit_code == 1
    assert "neither an http(s) URL nor a did:key" in other.output
