"""The shared manual-clock admin endpoint and the clock from settings."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dondoc_platform.auth import DevSigner, TokenVerifier
from dondoc_platform.clock import ManualClock, SystemClock
from dondoc_platform.http import authenticator, create_app
from dondoc_platform.settings import AuthSettings, ServiceSettings
from dondoc_platform.timecontrol import clock_from_settings, clock_router

pytestmark = pytest.mark.unit

START = datetime(2018, 6, 30, 16, 59, tzinfo=timezone.utc)


def _client(tmp_path: Path, clock) -> tuple[TestClient, DevSigner]:
    signer = DevSigner(tmp_path / "jwks.json")
    signer.ensure_key()
    app = create_app(service="t", title="t", description="t")
    app.include_router(clock_router(clock, authenticator(TokenVerifier(
        AuthSettings(jwks_file=str(signer.jwks_file))))))
    return TestClient(app), signer


def _as(signer: DevSigner, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {signer.token(subject=f'{role}.x', roles=[role])}"}


def test_an_admin_moves_a_manual_clock_forward_only(tmp_path: Path) -> None:
    clock = ManualClock(START)
    client, signer = _client(tmp_path, clock)
    moved = client.post("/admin/clock", headers=_as(signer, "admin"), json={"advance_seconds": 60})
    assert moved.status_code == 200 and clock.now() == datetime(2018, 6, 30, 17, tzinfo=timezone.utc)
    back = client.post("/admin/clock", headers=_as(signer, "admin"), json={"to": START.isoformat()})
    assert back.status_code == 409 and back.json()["error"]["field"] == "to"
    assert client.post("/admin/clock", headers=_as(signer, "office"),
                       json={"advance_seconds": 1}).status_code == 403
    both = client.post("/admin/clock", headers=_as(signer, "admin"),
                       json={"advance_seconds": 1, "to": START.isoformat()})
    assert both.status_code == 422
    assert client.get("/admin/clock", headers=_as(signer, "admin")).json()["manual"] is True


def test_a_system_clock_is_not_moved(tmp_path: Path) -> None:
    client, signer = _client(tmp_path, SystemClock())
    refused = client.post("/admin/clock", headers=_as(signer, "admin"), json={"advance_seconds": 1})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "clock_not_manual"


def test_settings_choose_the_clock() -> None:
    manual = clock_from_settings(ServiceSettings(clock="manual", manual_clock_start=START))
    assert isinstance(manual, ManualClock) and manual.now() == START
    assert isinstance(clock_from_settings(ServiceSettings()), SystemClock)
