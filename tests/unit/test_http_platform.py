"""The HTTP plumbing every service shares: auth, errors, idempotency, paging."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import Header
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from dondoc_contracts import Role
from dondoc_platform.auth import AuthError, DevSigner, Principal, TokenVerifier
from dondoc_platform.errors import DomainError
from dondoc_platform.http import (
    IdempotencyMiddleware,
    authenticator,
    check_version,
    create_app,
    decode_cursor,
    encode_cursor,
    expected_version,
    require_roles,
)
from dondoc_platform.settings import AuthSettings

pytestmark = pytest.mark.unit


@pytest.fixture
def signer(tmp_path: Path) -> DevSigner:
    return DevSigner(tmp_path / "jwks.json")


@pytest.fixture
def verifier(signer: DevSigner) -> TokenVerifier:
    signer.ensure_key()
    return TokenVerifier(AuthSettings(jwks_file=str(signer.jwks_file)))


def test_a_valid_token_becomes_a_principal(signer: DevSigner, verifier: TokenVerifier) -> None:
    token = signer.token(subject="btg.b", roles=["unit"], unit_id="BTG", clearance="mat",
                         name="Trần Thị B")
    principal = verifier.verify(token)
    assert principal.roles == frozenset({Role.UNIT})
    assert (principal.unit_id, principal.name) == ("BTG", "Trần Thị B")
    assert principal.cleared_for("mat") and not principal.cleared_for("toi_mat")


@pytest.mark.parametrize(("change", "message"), [
    ({"ttl_seconds": -120}, "expired"),
    ({"extra": {"aud": "someone-else"}}, "audience"),
    ({"extra": {"iss": "https://evil.example"}}, "issuer"),
])
def test_bad_tokens_are_refused_with_the_reason(signer: DevSigner, verifier: TokenVerifier,
                                                change: dict, message: str) -> None:
    token = signer.token(subject="x", roles=["office"], **change)
    with pytest.raises(AuthError, match=message):
        verifier.verify(token)


def test_unit_token_without_unit_is_refused(signer: DevSigner, verifier: TokenVerifier) -> None:
    with pytest.raises(AuthError, match="unit_id"):
        verifier.verify(signer.token(subject="x", roles=["unit"]))


def test_key_rotation_is_picked_up_by_kid(signer: DevSigner, verifier: TokenVerifier) -> None:
    old = signer.token(subject="a", roles=["office"])
    assert verifier.verify(old).subject == "a"
    signer.rotate()
    verifier._loaded_at = 0.0
    new = signer.token(subject="b", roles=["office"])
    assert verifier.verify(new).subject == "b"
    assert verifier.verify(old).subject == "a"  # the old key still verifies its tokens


class Thing(BaseModel):
    name: str = Field(min_length=1, max_length=10)
    count: int = Field(ge=0)


def _app(verifier: TokenVerifier, engine: sa.Engine | None = None):
    app = create_app(service="test", title="t", description="d")
    authenticated = authenticator(verifier)
    calls: list[str] = []

    @app.post("/things", status_code=201)
    def make(thing: Thing, principal: Principal = require_roles(authenticated, Role.OFFICE)) -> dict:
        if thing.name == "taken":
            raise DomainError("duplicate", "Tên đã tồn tại", "Name already taken", field="name", status=409)
        calls.append(thing.name)
        return {"name": thing.name, "n": len(calls)}

    @app.put("/things/{name}")
    def update(name: str, if_match: str | None = Header(None)) -> dict:
        check_version(3, expected_version(if_match), "Mục", "Thing")
        return {"ok": True}

    if engine is not None:
        app.add_middleware(IdempotencyMiddleware, engine=engine)
    return app, calls


def test_errors_name_the_field_in_both_languages(signer: DevSigner, verifier: TokenVerifier) -> None:
    app, _ = _app(verifier)
    client = TestClient(app)
    office = {"Authorization": f"Bearer {signer.token(subject='o', roles=['office'])}"}
    response = client.post("/things", json={"name": "x" * 11, "count": 1}, headers=office)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "name"
    assert "tối đa 10 ký tự" in error["message_vi"] and "at most 10" in error["message_en"]
    conflict = client.post("/things", json={"name": "taken", "count": 1},
                           headers={**office, "Accept-Language": "en"})
    assert conflict.status_code == 409
    assert conflict.json()["error"]["message"] == "Name already taken"


def test_roles_and_missing_tokens(signer: DevSigner, verifier: TokenVerifier) -> None:
    app, calls = _app(verifier)
    client = TestClient(app)
    assert client.post("/things", json={"name": "a", "count": 1}).status_code == 401
    unit = {"Authorization": f"Bearer {signer.token(subject='u', roles=['unit'], unit_id='BTG')}"}
    denied = client.post("/things", json={"name": "a", "count": 1}, headers=unit)
    assert denied.status_code == 403 and calls == []


class _ThreadNoting(TokenVerifier):
    """A verifier that notes the thread each verification ran in."""

    def __init__(self, settings: AuthSettings, fetches: bool) -> None:
        super().__init__(settings)
        self.fetches = fetches
        self.threads: list[int] = []

    @property
    def fetches_keys(self) -> bool:
        return self.fetches

    def verify(self, token: str) -> Principal:
        import threading

        self.threads.append(threading.get_ident())
        return super().verify(token)


@pytest.mark.parametrize("fetches", [False, True], ids=["keys from a file", "keys from a URL"])
def test_the_token_is_checked_on_the_event_loop_unless_keys_may_be_fetched(
        signer: DevSigner, fetches: bool) -> None:
    """FastAPI sends a sync dependency to its thread pool and back (two thread switches per
    request for the token and the role check): both run on the event loop, but a verifier
    that may fetch keys over the network must not block it."""
    import threading

    verifier = _ThreadNoting(AuthSettings(jwks_file=str(signer.jwks_file)), fetches)
    app = create_app(service="test", title="t", description="d")
    authenticated = authenticator(verifier)
    loop_threads: list[int] = []

    @app.get("/who")
    async def who(principal: Principal = require_roles(authenticated, Role.OFFICE)) -> dict:
        loop_threads.append(threading.get_ident())
        return {"subject": principal.subject}

    office = {"Authorization": f"Bearer {signer.token(subject='o', roles=['office'])}"}
    unit = {"Authorization": f"Bearer {signer.token(subject='u', roles=['unit'], unit_id='BTG')}"}
    with TestClient(app) as client:  # one event loop (in one thread) for all the requests
        assert client.get("/who", headers=office).json() == {"subject": "o"}
        assert client.get("/who", headers=unit).status_code == 403
        assert client.get("/who").status_code == 401
    assert len(verifier.threads) == 2 and len(loop_threads) == 1
    on_the_loop = [t == loop_threads[0] for t in verifier.threads]
    assert on_the_loop == ([False, False] if fetches else [True, True])


def test_version_preconditions(verifier: TokenVerifier) -> None:
    app, _ = _app(verifier)
    client = TestClient(app)
    assert client.put("/things/a", headers={"If-Match": '"3"'}).status_code == 200
    assert client.put("/things/a", headers={"If-Match": '"2"'}).status_code == 409
    assert client.put("/things/a", headers={"If-Match": "abc"}).status_code == 400
    # digits to `str.isdigit` that `int` refuses or reads in another script: the error
    # naming the header (a 400), not a ValueError (a 500)
    for odd in ('"²"', '"³"', 'W/"¹"', '"٣"'):
        with pytest.raises(DomainError) as refused:
            expected_version(odd)
        assert (refused.value.status, refused.value.field) == (400, "If-Match")


def test_idempotency_key_replays_the_first_response(signer: DevSigner, verifier: TokenVerifier,
                                                    tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'idem.sqlite'}")
    app, calls = _app(verifier, engine)
    client = TestClient(app)
    headers = {"Authorization": f"Bearer {signer.token(subject='o', roles=['office'])}",
               "Idempotency-Key": "k-1"}
    first = client.post("/things", json={"name": "a", "count": 1}, headers=headers)
    again = client.post("/things", json={"name": "a", "count": 1}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replay"] == "true"
    assert calls == ["a"]
    reused = client.post("/things", json={"name": "b", "count": 1}, headers=headers)
    assert reused.status_code == 422 and reused.json()["error"]["code"] == "idempotency_key_reused"
    assert calls == ["a"]


def test_cursors_round_trip_and_bad_ones_are_a_4xx() -> None:
    assert decode_cursor(encode_cursor(40)) == 40
    with pytest.raises(DomainError) as caught:
        decode_cursor("%%%")
    assert caught.value.field == "cursor"


def test_a_body_that_is_not_json_gets_the_bilingual_error_shape(signer: DevSigner,
                                                                 verifier: TokenVerifier) -> None:
    app, calls = _app(verifier)
    client = TestClient(app)
    office = {"Authorization": f"Bearer {signer.token(subject='o', roles=['office'])}",
              "Content-Type": "application/json"}
    response = client.post("/things", content=b"\xff{", headers=office)
    assert response.status_code in (400, 422)
    error = response.json()["error"]
    assert error["message_vi"] and error["message_en"] and calls == []
    missing = client.get("/nowhere", headers={"Accept-Language": "en"})
    assert missing.status_code == 404 and missing.json()["error"]["message"] == "No such path"
