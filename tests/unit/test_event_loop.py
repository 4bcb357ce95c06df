"""`dondoc serve` runs a service on the event loop its settings choose (uvloop by default,
`DONDOC_EVENT_LOOP=asyncio` for the standard library's), with its HTTP API, its sync
endpoints on the thread pool and its workers all on that loop."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import uvloop
from fastapi import FastAPI

from dondoc.dev.process import free_port
from dondoc_platform.runtime import Service, loop_factory, run
from dondoc_platform.settings import ServiceSettings

pytestmark = pytest.mark.unit


def _served_on(event_loop: str) -> dict[str, object]:
    """Run a service with a sync and an async endpoint and a worker that asks both through
    HTTP, then stops it; what the worker saw."""
    seen: dict[str, object] = {}
    app = FastAPI()

    @app.get("/sync")
    def in_a_thread() -> dict[str, str]:  # FastAPI runs it on anyio's thread pool
        return {"answer": "từ luồng"}

    @app.get("/async")
    async def on_the_loop() -> dict[str, str]:
        return {"loop": type(asyncio.get_running_loop()).__module__}

    settings = ServiceSettings(http_port=free_port(), event_loop=event_loop)

    async def ask(stop: asyncio.Event) -> None:
        seen["worker loop"] = type(asyncio.get_running_loop()).__module__
        base = f"http://127.0.0.1:{settings.http_port}"
        loop = asyncio.get_running_loop()
        end = loop.time() + 20
        async with httpx.AsyncClient(timeout=5) as client:
            while True:
                try:
                    seen["sync"] = (await client.get(f"{base}/sync")).json()
                    break
                except httpx.TransportError:
                    if loop.time() > end:
                        raise
                    await asyncio.sleep(0.05)
            seen["async"] = (await client.get(f"{base}/async")).json()
        stop.set()

    run(Service(name="loop-check", settings=settings, api=app, workers=[ask]), "all")
    return seen


def test_a_service_runs_on_uvloop_by_default() -> None:
    assert ServiceSettings().event_loop == "uvloop"
    assert loop_factory("uvloop") is uvloop.new_event_loop
    seen = _served_on("uvloop")
    assert seen == {"worker loop": "uvloop", "sync": {"answer": "từ luồng"},
                    "async": {"loop": "uvloop"}}


def test_the_standard_loop_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DONDOC_EVENT_LOOP", "asyncio")
    settings = ServiceSettings()
    assert settings.event_loop == "asyncio"
    assert loop_factory(settings.event_loop) is None
    seen = _served_on("asyncio")
    assert seen["worker loop"] == "asyncio.unix_events"
    assert seen["async"] == {"loop": "asyncio.unix_events"}
    assert seen["sync"] == {"answer": "từ luồng"}
