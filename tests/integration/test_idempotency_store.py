"""Idempotency keys on real PostgreSQL: a repeat gets the first answer and changes nothing,
the same key with another body is refused, a key whose first request is still running is a
409."""

from __future__ import annotations

import hashlib

import pytest
from fastapi.testclient import TestClient

from dondoc_platform.auth import DevSigner, TokenVerifier
from dondoc_platform.http import IDEMPOTENCY
from dondoc_platform.projection import postgres_engine
from dondoc_platform.stores import StoreURL
from tests.unit.test_http_platform import _app, signer, verifier  # noqa: F401 - fixtures

pytestmark = pytest.mark.integration


def test_keys_on_postgres(signer: DevSigner, verifier: TokenVerifier,  # noqa: F811
                          postgres_database: str) -> None:
    engine = postgres_engine(StoreURL.parse(postgres_database).sqlalchemy_url())
    try:
        app, calls = _app(verifier, engine)
        client = TestClient(app)
        office = {"Authorization": f"Bearer {signer.token(subject='o', roles=['office'])}"}
        first = client.post("/things", json={"name": "a", "count": 1},
                            headers={**office, "Idempotency-Key": "k-1"})
        again = client.post("/things", json={"name": "a", "count": 1},
                            headers={**office, "Idempotency-Key": "k-1"})
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json() and again.headers["idempotent-replay"] == "true"
        assert calls == ["a"]
        reused = client.post("/things", json={"name": "b", "count": 1},
                             headers={**office, "Idempotency-Key": "k-1"})
        assert reused.status_code == 422
        assert reused.json()["error"]["code"] == "idempotency_key_reused"

        # a first request still running under k-2 (its claim is there, no answer yet)
        subject = hashlib.sha256(office["Authorization"].encode()).hexdigest()[:32]
        body = b'{"name": "c", "count": 1}'
        digest = hashlib.sha256(b"POST/things\0" + body).hexdigest()
        with engine.begin() as conn:
            conn.execute(IDEMPOTENCY.insert().values(key="k-2", subject=subject,
                                                     request_hash=digest))
        running = client.post("/things", content=body,
                              headers={**office, "Idempotency-Key": "k-2",
                                       "Content-Type": "application/json"})
        assert running.status_code == 409
        assert running.json()["error"]["code"] == "idempotency_in_progress"
        assert calls == ["a"]
    finally:
        engine.dispose()


def test_a_new_key_costs_two_statements_and_leaves_the_connection_as_it_was(
        signer: DevSigner, verifier: TokenVerifier, postgres_database: str) -> None:  # noqa: F811
    """On PostgreSQL the claim and the answer are one autocommit statement each; the claim's
    relaxed flush is its own transaction's, never the pooled connection's afterwards."""
    import sqlalchemy as sa

    engine = postgres_engine(StoreURL.parse(postgres_database).sqlalchemy_url(), pool_size=1,
                             max_overflow=0)
    try:
        app, calls = _app(verifier, engine)
        client = TestClient(app)
        office = {"Authorization": f"Bearer {signer.token(subject='o', roles=['office'])}"}
        # without a key: the app builds its middleware (which makes its table) and is ready
        assert client.post("/things", json={"name": "w", "count": 1}, headers=office).status_code == 201
        statements: list[str] = []
        sa.event.listen(engine, "before_cursor_execute",
                        lambda conn, cursor, statement, *_: statements.append(statement))
        first = client.post("/things", json={"name": "a", "count": 1},
                            headers={**office, "Idempotency-Key": "k-1"})
        assert first.status_code == 201 and calls == ["w", "a"]
        assert len(statements) == 2, statements
        assert statements[0].lstrip().upper().startswith("INSERT") and "set_config" in statements[0]
        assert statements[1].lstrip().upper().startswith("UPDATE")
        with engine.connect() as conn:  # the pool's only connection, the one used above
            assert conn.exec_driver_sql("show synchronous_commit").scalar() == "on"
        again = client.post("/things", json={"name": "a", "count": 1},
                            headers={**office, "Idempotency-Key": "k-1"})
        assert again.json() == first.json() and calls == ["w", "a"]
    finally:
        engine.dispose()
