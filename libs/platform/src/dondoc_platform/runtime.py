"""Running a service: its HTTP API and its workers (relay, consumers, watchers) in one
asyncio process, or split by role (api | worker | all). SIGTERM and SIGINT stop it cleanly.

Each service's `bootstrap(settings, **parts)` returns a `Service`; tests call bootstrap with
their own parts (clock, store URL, broker) and drive the same object.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from dondoc_platform.settings import ServiceSettings

log = logging.getLogger(__name__)

Worker = Callable[[asyncio.Event], Awaitable[None]]


@dataclass
class Service:
    name: str
    settings: ServiceSettings
    api: Any = None  # a FastAPI app
    workers: list[Worker] = field(default_factory=list)
    brokers: list[Any] = field(default_factory=list)  # FastStream brokers, started with the workers
    on_start: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    on_stop: list[Callable[[], Awaitable[None] | None]] = field(default_factory=list)
    parts: dict[str, Any] = field(default_factory=dict)  # the wired parts, for tests and tools

    async def start_workers(self, stop: asyncio.Event) -> list[asyncio.Task[None]]:
        for hook in self.on_start:
            await hook()
        for broker in self.brokers:
            await broker.start()
        return [asyncio.create_task(worker(stop), name=f"{self.name}-worker-{i}")
                for i, worker in enumerate(self.workers)]

    async def stop_all(self, tasks: list[asyncio.Task[None]], timeout: float = 15.0) -> None:
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for task in done:
                if task.exception() is not None:
                    log.error("worker %s ended with %r", task.get_name(), task.exception())
        for broker in self.brokers:
            await broker.stop()
        for hook in self.on_stop:
            result = hook()
            if isinstance(result, Awaitable):
                await result


async def serve(service: Service, role: str | None = None, stop: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT (or `stop`): the API, the workers, or both."""
    role = role or service.settings.role
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    tasks: list[asyncio.Task[None]] = []
    server = None
    try:
        if role in ("worker", "all"):
            tasks = await service.start_workers(stop)
        if role in ("api", "all") and service.api is not None:
            import uvicorn

            config = uvicorn.Config(service.api, host=service.settings.http_host,
                                    port=service.settings.resolved_http_port(), log_config=None,
                                    access_log=False, lifespan="on")
            server = uvicorn.Server(config)
            server.install_signal_handlers = lambda: None  # ours stop everything together
            api_task = asyncio.create_task(server.serve(), name=f"{service.name}-api")
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({api_task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            server.should_exit = True
            await api_task
            stopper.cancel()
            if api_task.exception() is not None:
                raise api_task.exception()
        else:
            await stop.wait()
    finally:
        stop.set()
        await service.stop_all(tasks)
