"""Running a service: its HTTP API and its workers (relay, consumers, watchers) in one
asyncio process, or split by role (api | worker | all). SIGTERM and SIGINT stop it cleanly.

Each service's `bootstrap(settings, **parts)` returns a `Service`; tests call bootstrap with
their own parts (clock, store URL, broker) and drive the same object.
"""

from __future__ import annotations

import asyncio
import gc
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


def worker_health_app(service: Service, tasks: list[asyncio.Task[None]], stop: asyncio.Event) -> Any:
    """What a worker-only process answers on its HTTP port, for probes and Prometheus:
    `/healthz` and `/readyz` fail (503) once a worker has ended while the process was not
    stopping, so the orchestrator restarts it; `/metrics` exposes the process's registry."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    def ended() -> list[str]:
        return [t.get_name() for t in tasks if t.done()] if not stop.is_set() else []

    async def health(request: Request) -> JSONResponse:
        if stop.is_set():
            return JSONResponse({"status": "stopping"}, status_code=503)
        if dead := ended():
            return JSONResponse({"status": "failed", "ended": dead}, status_code=503)
        return JSONResponse({"status": "ok", "service": service.name, "workers": len(tasks)})

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/healthz", health), Route("/readyz", health),
                             Route("/metrics", metrics)])


async def _serve_http(app: Any, service: Service, stop: asyncio.Event) -> None:
    """Run uvicorn for `app` on the service's address until `stop` is set."""
    import uvicorn

    config = uvicorn.Config(app, host=service.settings.http_host,
                            port=service.settings.resolved_http_port(), log_config=None,
                            access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # ours stop everything together
    http_task = asyncio.create_task(server.serve(), name=f"{service.name}-http")
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({http_task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    await http_task
    stopper.cancel()
    if http_task.exception() is not None:
        raise http_task.exception()


#: a collection of the youngest generation waits for this many new container objects (the
#: interpreter's default is 700): more than a consumed batch keeps alive while it is applied
#: (500 events, ~20 objects each: records, envelopes, validated events, parameters), so its
#: objects die by reference count instead of being scanned again and again and promoted
#: into the older generations, whose growth then sets off full collections
YOUNG_GENERATION_THRESHOLD = 20_000


def tune_garbage_collector() -> None:
    """Set up the garbage collector for a long-running service, once it is built.

    What start-up built (modules, pydantic schemas, SQLAlchemy tables and compiled
    statements, the bootstrap's parts) lives as long as the process: it is frozen out of the
    collector's reach, or every full collection walks it again. And young collections wait
    for `YOUNG_GENERATION_THRESHOLD` new objects. In a consumer applying thousands of events
    a second, the two took about a quarter of its CPU (docs/PERFORMANCE.md). Objects freed
    later are still freed; only cycles among the frozen objects are never collected, and
    start-up leaves none to speak of (`gc.collect()` first)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, older, oldest)


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop a service runs on (`ServiceSettings.event_loop`): uvloop's, or None
    for the standard library's (also where uvloop is not installed: it has no Windows build)."""
    if name == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        log.warning("uvloop is not installed: the service runs on the standard asyncio loop")
        return None
    return uvloop.new_event_loop


def run(service: Service, role: str | None = None) -> None:
    """Run `serve(service, role)` to its end on the event loop the settings choose."""
    with asyncio.Runner(loop_factory=loop_factory(service.settings.event_loop)) as runner:
        runner.run(serve(service, role))


async def serve(service: Service, role: str | None = None, stop: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT (or `stop`): the API, the workers, or both. A worker-only
    process serves `worker_health_app` on the service's HTTP port."""
    from prometheus_client import disable_created_metrics

    # no `<counter>_created` series: one per counter child, doubling the series for no
    # figure an operator reads
    disable_created_metrics()
    role = role or service.settings.role
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    tasks: list[asyncio.Task[None]] = []
    try:
        if role in ("worker", "all"):
            tasks = await service.start_workers(stop)
        if role in ("api", "all") and service.api is not None:
            await _serve_http(service.api, service, stop)
        elif role == "worker":
            await _serve_http(worker_health_app(service, tasks, stop), service, stop)
        else:
            await stop.wait()
    finally:
        stop.set()
        await service.stop_all(tasks)
