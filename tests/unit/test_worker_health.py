"""A worker-only process answers probes and Prometheus on its HTTP port, and says it is
unhealthy once one of its workers has ended on its own (so the orchestrator restarts it)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from dondoc.dev.process import free_port
from dondoc_platform.runtime import Service, serve
from dondoc_platform.settings import ServiceSettings

pytestmark = pytest.mark.unit


async def _get(url: str, deadline: float = 20.0) -> httpx.Response:
    """The first answer from `url`, waiting for the server to listen (bounded)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            try:
                return await client.get(url)
            except httpx.TransportError:
                if loop.time() > end:
                    raise
                await asyncio.sleep(0.05)


async def _status_becomes(url: str, status: int, deadline: float = 20.0) -> httpx.Response:
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while True:
        response = await _get(url)
        if response.status_code == status or loop.time() > end:
            return response
        await asyncio.sleep(0.05)


async def test_worker_role_serves_health_and_metrics_until_a_worker_dies() -> None:
    port = free_port()
    settings = ServiceSettings(http_port=port, http_host="127.0.0.1")
    crash = asyncio.Event()

    async def steady(stop: asyncio.Event) -> None:
        await stop.wait()

    async def fragile(stop: asyncio.Event) -> None:
        await crash.wait()
        raise RuntimeError("lost the database")

    service = Service(name="sample", settings=settings, workers=[steady, fragile])
    stop = asyncio.Event()
    running = asyncio.create_task(serve(service, "worker", stop))
    base = f"http://127.0.0.1:{port}"
    try:
        healthy = await _get(f"{base}/healthz")
        assert healthy.status_code == 200, healthy.text
        assert healthy.json()["workers"] == 2
        assert (await _get(f"{base}/readyz")).status_code == 200
        metrics = await _get(f"{base}/metrics")
        assert metrics.status_code == 200
        assert "python_info" in metrics.text

        crash.set()
        failed = await _status_becomes(f"{base}/healthz", 503)
        assert failed.status_code == 503
        assert failed.json()["status"] == "failed"
        assert (await _get(f"{base}/readyz")).status_code == 503
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
