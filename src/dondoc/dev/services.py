"""The suite's services as local processes (`dondoc serve <service> --role all`), on the
embedded defaults: a SQLite store per service under the stack's directory, the local Kafka,
the development token issuer. Each is ready when its `/readyz` answers."""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from dondoc.dev.errors import StackError
from dondoc.dev.process import (
    PidFile,
    alive,
    port_is_free,
    require_free_port,
    spawn,
    tail,
    terminate,
    wait_until,
)

SERVICE_NAMES = ("directives", "tasks", "reports", "notifications", "analytics")


def available_services() -> list[str]:
    """The services whose code is installed (each lands as its package is built)."""
    return [s for s in SERVICE_NAMES
            if importlib.util.find_spec(f"dondoc_{s}.bootstrap") is not None]


@dataclass
class ServiceProcess:
    name: str
    home: Path
    port: int
    env: dict[str, str] = field(default_factory=dict)
    start_timeout: float = 90.0
    role: str = "all"  # `dondoc serve --role`: api, worker or all
    instance: str = ""  # tells apart several processes of one service (their log and pid file)

    def __post_init__(self) -> None:
        stem = f"{self.name}-{self.instance}" if self.instance else self.name
        self.log = self.home / "logs" / f"{stem}.log"
        self.pidfile = PidFile(self.home / "pids" / f"{stem}.pid", marker=f"serve {self.name}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def running_pid(self) -> int | None:
        return self.pidfile.running_pid()

    def start(self) -> str:
        if (pid := self.running_pid()) is not None:
            return f"already running (pid {pid}) on {self.url}"
        require_free_port(self.port, self.name, "DONDOC_<SERVICE>_PORT")
        env = {**os.environ, **self.env, "DONDOC_HTTP_PORT": str(self.port),
               "DONDOC_ROLE": self.role, "PYTHONUNBUFFERED": "1"}
        process = spawn([sys.executable, "-m", "dondoc.cli", "serve", self.name, "--role", self.role],
                        log=self.log, env=env)
        self.pidfile.write(process.pid)

        def died() -> str | None:
            if process.poll() is not None:
                return f"{self.name} exited with code {process.returncode} while starting"
            return None

        try:
            waited = wait_until(self.ready, timeout=self.start_timeout, what=f"{self.name} on {self.url}",
                                hint=f"read its log: {self.log}", detail=lambda: tail(self.log),
                                abort=died)
        except BaseException:
            self.stop()
            raise
        return f"ready in {waited:.1f} s on {self.url}"

    def kill(self) -> int:
        """SIGKILL, as a crash or an OOM kill would: no shutdown code runs. Returns the pid."""
        pid = self.pidfile.read()
        if pid is None or not alive(pid, self.pidfile.marker):
            raise StackError(f"{self.name} is not running", "start it first")
        os.kill(pid, signal.SIGKILL)
        # A killed process's leader shows as a zombie while its other threads still exit and
        # its sockets are still open: it is gone once reaped and its port is free.
        wait_until(lambda: _gone(pid) and port_is_free(self.port), timeout=30,
                   what=f"{self.name} (pid {pid}) gone after SIGKILL", hint="look at it with ps")
        self.pidfile.clear()
        return pid

    def stop(self, timeout: float = 20.0) -> str:
        pid = self.pidfile.read()
        if pid is None or not alive(pid, self.pidfile.marker):
            self.pidfile.clear()
            return "not running"
        terminate(pid, timeout=timeout, marker=self.pidfile.marker)
        self.pidfile.clear()
        return f"stopped (pid {pid})"


def service_port(name: str, base_port: int | None = None) -> int:
    """Where a service of the local stack answers: base+its place, or its default port."""
    from dondoc_platform.settings import DEFAULT_PORTS

    return base_port + SERVICE_NAMES.index(name) if base_port else DEFAULT_PORTS[name]


def service_processes(state_dir: Path, *, kafka_bootstrap: str, jwks_file: Path,
                      base_port: int | None = None, clock: str = "system",
                      names: list[str] | None = None, store_urls: dict[str, str] | None = None,
                      ports: dict[str, int] | None = None,
                      env: dict[str, str] | None = None) -> list[ServiceProcess]:
    """The services as processes; by default on SQLite stores under `state_dir` and on their
    default ports. `store_urls` and `ports` (by service) and `env` (for all) override that."""
    home = state_dir / "services"
    data = state_dir / "data"
    chosen = names or available_services()
    missing = [n for n in chosen if n not in SERVICE_NAMES]
    if missing:
        raise StackError(f"unknown service {', '.join(missing)}", f"choose among {', '.join(SERVICE_NAMES)}")

    def port_of(name: str) -> int:
        if ports and name in ports:
            return ports[name]
        return service_port(name, base_port)

    processes = []
    for name in chosen:
        port = port_of(name)
        variables = {
            "DONDOC_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "DONDOC_STORE_URL": (store_urls or {}).get(name, f"sqlite:///{data / f'{name}.sqlite'}"),
            "DONDOC_DATA_DIR": str(data),
            "DONDOC_AUTH_JWKS_FILE": str(jwks_file),
            "DONDOC_CLOCK": clock,
            "DONDOC_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        }
        for other in SERVICE_NAMES:  # each service knows where the others answer
            variables[f"DONDOC_{other.upper()}_URL"] = f"http://127.0.0.1:{port_of(other)}"
        variables.update(env or {})
        processes.append(ServiceProcess(name, home, port, variables))
    return processes


def _gone(pid: int) -> bool:
    """True once a killed process has fully exited (reaped, if it is our child)."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return not alive(pid)  # not our child: its parent reaps it
    return reaped == pid
