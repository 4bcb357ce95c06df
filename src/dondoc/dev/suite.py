"""The suite's services as real processes (`dondoc serve <service> --role all`), each on its
own fresh PostgreSQL database, on topics of their own (`DONDOC_TOPIC_PREFIX`), signed in
with a throw-away development key: what the process-kill tests and the benchmarks run.

    with ProcessSuite(root, kafka_bootstrap=..., postgres_url=...) as suite:
        suite.url("directives"); suite.token("office"); suite["tasks"].kill(); suite.start("tasks")
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from dondoc.dev.process import server_port
from dondoc.dev.services import ServiceProcess, service_processes


@dataclass
class ProcessSuite:
    root: Path
    kafka_bootstrap: str
    postgres_url: str  # any database of the server; the suite's databases are created beside it
    names: tuple[str, ...] = ("directives", "tasks", "reports")
    env: dict[str, str] = field(default_factory=dict)  # for every process
    manual_clock_start: datetime | None = None  # DONDOC_CLOCK=manual from this moment
    topic_prefix: str = field(default_factory=lambda: f"s{uuid.uuid4().hex[:8]}.")
    databases: dict[str, str] = field(default_factory=dict)
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    api_processes: dict[str, list[ServiceProcess]] = field(default_factory=dict)  # more, API only

    def __enter__(self) -> ProcessSuite:
        try:
            self.create()
            for name in self.names:
                self.start(name)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.processes[name]

    # -- setting up ---------------------------------------------------------------------------

    def create(self) -> None:
        """The databases, the signing key and the processes' settings (nothing started)."""
        from dondoc_platform.auth import DevSigner

        self.root.mkdir(parents=True, exist_ok=True)
        self.signer = DevSigner(self.root / "jwks.json")
        self.signer.ensure_key()
        for name in self.names:
            self.databases[name] = _create_database(self.postgres_url, f"suite_{name}")
        env = {"DONDOC_TOPIC_PREFIX": self.topic_prefix, **self.env}
        clock = "system"
        if self.manual_clock_start is not None:
            clock = "manual"
            env["DONDOC_MANUAL_CLOCK_START"] = self.manual_clock_start.isoformat()
        for process in service_processes(
                self.root, kafka_bootstrap=self.kafka_bootstrap, jwks_file=self.signer.jwks_file,
                clock=clock, names=list(self.names), store_urls=self.databases,
                ports={name: server_port() for name in self.names}, env=env):
            self.processes[process.name] = process

    def start(self, name: str, **env: str) -> str:
        """Start (or start again) one service; `env` changes its settings from now on, e.g.
        DONDOC_MANUAL_CLOCK_START for a manual clock that was moved before a restart."""
        process = self.processes[name]
        process.env.update(env)
        return process.start()

    def add_api_process(self, name: str) -> ServiceProcess:
        """Start one more process of `name` that serves only its HTTP API (`--role api`), on
        the same database and topics, as a deployment scales its API out: its URL is
        `suite.api_urls(name)[-1]`."""
        more = self.api_processes.setdefault(name, [])
        process = dataclasses.replace(self.processes[name], port=server_port(), role="api",
                                      instance=f"api{len(more) + 2}",
                                      env=dict(self.processes[name].env))
        more.append(process)
        process.start()
        return process

    def api_urls(self, name: str) -> list[str]:
        """Every process that answers `name`'s API: the first one, then those added."""
        return [self.url(name), *(p.url for p in self.api_processes.get(name, []))]

    def close(self) -> None:
        for process in [p for more in self.api_processes.values() for p in more]:
            process.stop()
        for process in self.processes.values():
            process.stop()
        for url in self.databases.values():
            _drop_database(self.postgres_url, url)
        self.databases.clear()

    # -- talking to it --------------------------------------------------------------------------

    def url(self, name: str) -> str:
        return self.processes[name].url

    def topic(self, service: str) -> str:
        from dondoc_contracts import topic_for

        return f"{self.topic_prefix}{topic_for(service)}"

    def token(self, role: str, **claims: Any) -> str:
        claims.setdefault("subject", f"{role}.suite")
        claims.setdefault("clearance", "thuong")
        return self.signer.token(roles=[role], **claims)

    def headers(self, role: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, **claims)}"}


def _create_database(server_url: str, prefix: str) -> str:
    import psycopg
    from psycopg import sql

    base = server_url.rpartition("/")[0]
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return f"{base}/{name}"


def _drop_database(server_url: str, url: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{server_url.rpartition('/')[0]}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(
            sql.Identifier(url.rpartition("/")[2])))
