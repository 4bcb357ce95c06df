"""Production takes the issuer's public keys from its JWKS endpoint (DONDOC_AUTH_JWKS_URL):
a real HTTP server on this machine serves them. A key added by the issuer (rotation) is
fetched when a token names its `kid`; older tokens keep verifying while their key is
published; a token from another issuer's key, or once its key is withdrawn, is refused."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from dondoc_platform.auth import AuthError, DevSigner, Principal, TokenVerifier
from dondoc_platform.settings import AuthSettings

pytestmark = pytest.mark.integration


class Issuer:
    """What the identity provider publishes: the public half of the signer's keys."""

    def __init__(self, signer: DevSigner) -> None:
        self.signer, self.requests, self.withdrawn = signer, 0, set()

    def document(self) -> bytes:
        keys = json.loads(self.signer.jwks_file.read_text())["keys"]
        public = [{k: v for k, v in key.items() if k != "d"} for key in keys
                  if key["kid"] not in self.withdrawn]
        return json.dumps({"keys": public}).encode()


def accepted(verifier: TokenVerifier, token: str) -> Principal | None:
    try:
        return verifier.verify(token)
    except AuthError:
        return None


def eventually(condition: Callable[[], Any], *, timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


@pytest.fixture
def issuer(tmp_path: Path) -> Iterator[tuple[Issuer, str]]:
    signer = DevSigner(tmp_path / "issuer.json")
    signer.ensure_key()
    published = Issuer(signer)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            published.requests += 1
            body = published.document()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield published, f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


def test_keys_come_from_the_issuers_endpoint_and_rotate_by_kid(issuer, tmp_path: Path) -> None:
    published, url = issuer
    verifier = TokenVerifier(AuthSettings(jwks_url=url))
    assert verifier.fetches_keys
    signer = published.signer
    first = signer.token(subject="vptu.a", roles=["office"])
    assert verifier.verify(first).subject == "vptu.a"
    fetched = published.requests
    assert verifier.verify(first).subject == "vptu.a"
    assert published.requests == fetched  # the key set is cached, not fetched per request

    old_kid = signer.ensure_key()["kid"]
    signer.rotate()
    second = signer.token(subject="btg.b", roles=["unit"], unit_id="BTG")
    # the new kid makes it fetch again (at most every 2 s: a burst of bad kids is not a
    # burst of requests to the issuer)
    assert eventually(lambda: accepted(verifier, second)).unit_id == "BTG"
    assert published.requests > fetched
    assert verifier.verify(first).subject == "vptu.a"  # the old key is still published

    stranger = DevSigner(tmp_path / "stranger.json")
    with pytest.raises(AuthError, match="unknown signing key"):
        verifier.verify(stranger.token(subject="x", roles=["admin"]))



def test_a_key_the_issuer_withdraws_stops_verifying_once_the_key_set_expires(issuer) -> None:
    published, url = issuer
    verifier = TokenVerifier(AuthSettings(jwks_url=url, jwks_cache_seconds=0.2))
    signer = published.signer
    compromised = signer.token(subject="vptu.a", roles=["office"])
    assert verifier.verify(compromised).subject == "vptu.a"
    published.withdrawn.add(signer.ensure_key()["kid"])
    signer.rotate()
    replacement = signer.token(subject="vptu.a", roles=["office"])

    eventually(lambda: accepted(verifier, compromised) is None, what="the withdrawn key refused")
    assert eventually(lambda: accepted(verifier, replacement)).subject == "vptu.a"
