"""The local stack as one thing: configuration, lock, up / down / status / logs."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from dondoc.dev.errors import StackError
from dondoc.dev.kafka import KafkaConfig, KafkaNode
from dondoc.dev.postgres import PostgresCluster, PostgresConfig
from dondoc.dev.process import free_port, processes_with, terminate
from dondoc.dev.prometheus import PrometheusConfig, PrometheusServer

COMPONENTS = ("kafka", "postgres", "prometheus", "services")
INFRASTRUCTURE = ("kafka", "postgres", "prometheus")

#: One database per service: each owns its store and no service reads another's.
SERVICE_DATABASES = (
    "dondoc",
    "dondoc_directives",
    "dondoc_tasks",
    "dondoc_reports",
    "dondoc_notifications",
    "dondoc_analytics",
)


class Component(Protocol):
    name: str

    def start(self) -> str: ...
    def stop(self, timeout: float = ...) -> str: ...
    def running_pid(self) -> int | None: ...
    def address(self) -> str: ...
    def log_files(self) -> list[Path]: ...


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as e:
        raise StackError(f"{name}={raw!r} is not a port number", f"set {name} to an integer") from e


@dataclass(frozen=True)
class StackConfig:
    state_dir: Path
    cache_dir: Path
    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    postgres_port: int = 55432
    prometheus_port: int = 19090
    services_base_port: int | None = None  # the suite's services on base+0, +1, …; default ports otherwise
    database_url: str | None = None
    rule_files: tuple[Path, ...] = field(default_factory=tuple)

    @classmethod
    def from_env(cls) -> StackConfig:
        state = Path(os.environ.get("DONDOC_STATE_DIR") or Path.cwd() / ".dondoc")
        cache = Path(os.environ.get("DONDOC_CACHE_DIR")
                     or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dondoc")
        return cls(
            state_dir=state.resolve(),
            cache_dir=cache.resolve(),
            kafka_port=_env_int("DONDOC_KAFKA_PORT", 19092),
            kafka_controller_port=_env_int("DONDOC_KAFKA_CONTROLLER_PORT", 19093),
            postgres_port=_env_int("DONDOC_POSTGRES_PORT", 55432),
            prometheus_port=_env_int("DONDOC_PROMETHEUS_PORT", 19090),
            services_base_port=_env_int("DONDOC_SERVICES_BASE_PORT", 0) or None,
            database_url=os.environ.get("DATABASE_URL") or None,
            rule_files=repository_rule_files(),
        )


def repository_rule_files() -> tuple[Path, ...]:
    """The alert rules of deploy/prometheus/rules when running from the repository (a
    package installed elsewhere has none)."""
    rules = Path(__file__).resolve().parents[3] / "deploy" / "prometheus" / "rules"
    return tuple(sorted(rules.glob("*.yml")))


class Stack:
    @classmethod
    def private(cls, state_dir: Path, *, database_url: str | None = None) -> Stack:
        """A stack of its own in `state_dir`, on free ports (tests and benchmarks), sharing
        the jar cache of the default configuration."""
        return cls(StackConfig(
            state_dir=state_dir, cache_dir=StackConfig.from_env().cache_dir,
            kafka_port=free_port(), kafka_controller_port=free_port(),
            postgres_port=free_port(), prometheus_port=free_port(), database_url=database_url,
        ))

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.kafka = KafkaNode(KafkaConfig(
            state_dir=config.state_dir, cache_dir=config.cache_dir,
            port=config.kafka_port, controller_port=config.kafka_controller_port,
        ))
        self.postgres = PostgresCluster(PostgresConfig(
            state_dir=config.state_dir, port=config.postgres_port,
            database_url=config.database_url, databases=SERVICE_DATABASES,
        ))
        self.prometheus = PrometheusServer(PrometheusConfig(
            state_dir=config.state_dir, port=config.prometheus_port,
            rule_files=config.rule_files,
        ))
        self.services = SuiteServices(self)
        self.components: dict[str, Component] = {
            "kafka": self.kafka, "postgres": self.postgres, "prometheus": self.prometheus,
            "services": self.services,
        }

    def select(self, names: Sequence[str] | None, default: Sequence[str] = INFRASTRUCTURE) -> list[Component]:
        names = list(names or default)
        unknown = [n for n in names if n not in self.components]
        if unknown:
            raise StackError(f"unknown component {', '.join(unknown)}",
                             f"choose among {', '.join(COMPONENTS)}")
        return [self.components[n] for n in COMPONENTS if n in names]

    @contextmanager
    def locked(self) -> Iterator[None]:
        """One `up` or `down` at a time on a state directory."""
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.config.state_dir / "stack.lock"
        with path.open("a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as e:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                raise StackError(
                    f"another `dondoc dev` command holds {path} (pid {holder})",
                    "wait for it to finish; the lock is released when that process ends",
                ) from e
            handle.truncate(0)
            handle.write(str(os.getpid()))
            handle.flush()
            try:
                yield
            finally:
                handle.truncate(0)
                fcntl.flock(handle, fcntl.LOCK_UN)

    def up(self, names: Sequence[str] | None = None, report=print) -> None:
        with self.locked():
            for component in self.select(names):
                report(f"{component.name}: starting")
                report(f"{component.name}: {component.start()}")

    def down(self, names: Sequence[str] | None = None, report=print) -> list[int]:
        """Stop the components; then make sure no process of this stack is left."""
        with self.locked():
            for component in reversed(self.select(names, default=COMPONENTS)):
                report(f"{component.name}: {component.stop()}")
            leftovers = []
            if names is None or set(names) >= set(INFRASTRUCTURE):
                for marker in self.markers():
                    for pid in processes_with(marker):
                        terminate(pid, timeout=10)
                        leftovers.append(pid)
            if leftovers:
                report(f"stopped leftover processes: {', '.join(map(str, leftovers))}")
            return leftovers

    def discard(self, report=print) -> None:
        """Stop everything, then delete the stack's files: its state directory and the
        PostgreSQL cluster, which lives outside it when run as root (/var/tmp/dondoc-pg-*).
        For the throw-away stacks of tests and benchmarks; a scale-1 analytics run leaves
        about 15 GB behind otherwise, a test run 100–250 MB."""
        self.down(report=report)
        places = [self.config.state_dir]
        if not self.postgres.external:
            places.append(self.postgres.data_dir.parent)
        for place in places:
            if place.exists():
                shutil.rmtree(place, ignore_errors=True)
                report(f"removed {place}")

    def markers(self) -> list[str]:
        markers = [str(self.config.state_dir)]
        if not self.postgres.external:
            markers.append(str(self.postgres.data_dir))
        return markers

    def running(self) -> list[int]:
        return sorted({pid for m in self.markers() for pid in processes_with(m)})

    def status(self) -> list[tuple[str, str, str]]:
        rows = []
        for component in self.select(None, default=COMPONENTS):
            pid = component.running_pid()
            if component is self.postgres and self.postgres.external:
                state = "external"
            else:
                state = f"running (pid {pid})" if pid else "stopped"
            rows.append((component.name, state, component.address()))
        return rows

    @property
    def jwks_file(self) -> Path:
        """The development issuer's keys (see `dondoc dev token`)."""
        return self.config.state_dir / "auth" / "jwks.json"

    def environment(self) -> dict[str, str]:
        """What a service of the suite needs to reach this stack."""
        return {
            "DONDOC_KAFKA_BOOTSTRAP": self.kafka.address(),
            "DATABASE_URL": self.postgres.url,
            "DONDOC_PROMETHEUS_URL": self.prometheus.url,
            "DONDOC_AUTH_JWKS_FILE": str(self.jwks_file),
        }


class SuiteServices:
    """The suite's own services as one component of the stack (embedded defaults)."""

    name = "services"

    def __init__(self, stack: Stack, clock: str = "system", names: list[str] | None = None) -> None:
        self.stack = stack
        self.clock = clock
        self.names = names

    def processes(self):  # noqa: ANN201 - a list of ServiceProcess
        from dondoc.dev.services import service_processes

        return service_processes(self.stack.config.state_dir, kafka_bootstrap=self.stack.kafka.address(),
                                 jwks_file=self.stack.jwks_file, clock=self.clock, names=self.names,
                                 base_port=self.stack.config.services_base_port)

    def start(self) -> str:
        import asyncio

        from dondoc_platform.auth import DevSigner
        from dondoc_platform.kafka import ensure_topics
        from dondoc_platform.topics import suite_topics

        if self.stack.kafka.running_pid() is None and not self._external_kafka():
            raise StackError("the services need Kafka", "start it first: dondoc dev up kafka services")
        DevSigner(self.stack.jwks_file).ensure_key()
        asyncio.run(ensure_topics(self.stack.kafka.address(), suite_topics()))
        processes = self.processes()
        if not processes:
            return "no service is installed yet"
        lines = []
        for process in processes:
            lines.append(f"{process.name} {process.start()}")
            self.stack.prometheus.register_target(process.name, f"127.0.0.1:{process.port}",
                                                  {"role": "all"})
        return "; ".join(lines)

    def _external_kafka(self) -> bool:
        from dondoc.dev.process import port_accepts

        return port_accepts(self.stack.config.kafka_port)

    def stop(self, timeout: float = 20.0) -> str:
        results = [f"{p.name} {p.stop(timeout)}" for p in reversed(self.processes())]
        return "; ".join(results) if results else "none installed"

    def running_pid(self) -> int | None:
        pids = [p.running_pid() for p in self.processes()]
        return next((pid for pid in pids if pid), None)

    def address(self) -> str:
        return ", ".join(f"{p.name} {p.url}" for p in self.processes()) or "(none installed)"

    def log_files(self) -> list[Path]:
        return [p.log for p in self.processes()]
