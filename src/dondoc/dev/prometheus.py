"""Prometheus from Debian's package, with the project's scrape configuration."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from dondoc.dev.errors import StackError
from dondoc.dev.process import (
    PidFile,
    alive,
    require_free_port,
    spawn,
    tail,
    terminate,
    wait_until,
)


@dataclass(frozen=True)
class PrometheusConfig:
    state_dir: Path
    port: int = 19090
    scrape_interval: str = "5s"
    rule_files: tuple[Path, ...] = field(default_factory=tuple)
    start_timeout: float = 60.0


def find_prometheus() -> Path:
    found = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
    )
    if found:
        return Path(found)
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise StackError("Prometheus is not installed",
                         "install Debian's package: sudo apt-get install prometheus")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (["apt-get", "update", "-q"],
                 ["apt-get", "install", "-y", "-q", "--no-install-recommends", "prometheus"]):
        result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900,
                                check=False)
        if result.returncode != 0:
            raise StackError("installing Prometheus with apt-get failed",
                             "install it yourself: apt-get install prometheus",
                             result.stdout[-2000:] + result.stderr[-2000:])
    return Path(shutil.which("prometheus") or "/usr/bin/prometheus")


def find_promtool() -> Path:
    """promtool, shipped with Debian's prometheus package (installed when missing)."""
    binary = find_prometheus()
    found = shutil.which("promtool") or binary.with_name("promtool")
    if not Path(found).exists():
        raise StackError("promtool is not installed", "install Debian's package: apt-get install prometheus")
    return Path(found)


class PrometheusServer:
    """Scrapes every target listed in `targets/*.json` (file service discovery).

    Each service of the suite writes its own target file when it starts, so the
    configuration does not change as services come and go.
    """

    name = "prometheus"

    def __init__(self, config: PrometheusConfig) -> None:
        self.config = config
        self.home = config.state_dir / "prometheus"
        self.config_file = self.home / "prometheus.yml"
        self.targets_dir = self.home / "targets"
        self.pidfile = PidFile(self.home / "prometheus.pid", marker=str(self.config_file))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.config.port}"

    def address(self) -> str:
        return self.url

    def write_config(self) -> None:
        self.targets_dir.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {
                "scrape_interval": self.config.scrape_interval,
                "evaluation_interval": self.config.scrape_interval,
                "external_labels": {"environment": "local"},
            },
            "rule_files": [str(p) for p in self.config.rule_files],
            "scrape_configs": [
                {
                    "job_name": "prometheus",
                    "static_configs": [{"targets": [f"127.0.0.1:{self.config.port}"]}],
                },
                {
                    "job_name": "dondoc",
                    "file_sd_configs": [
                        {"files": [str(self.targets_dir / "*.json")], "refresh_interval": "5s"}
                    ],
                },
            ],
        }
        # JSON is YAML: one less dependency, and the file stays machine-written.
        self.config_file.write_text(json.dumps(config, indent=2) + "\n")

    def register_target(self, job: str, address: str, labels: dict[str, str] | None = None) -> Path:
        self.targets_dir.mkdir(parents=True, exist_ok=True)
        path = self.targets_dir / f"{job}.json"
        entry = {"targets": [address], "labels": {"service": job, **(labels or {})}}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps([entry]))
        tmp.rename(path)
        return path

    def running_pid(self) -> int | None:
        return self.pidfile.running_pid()

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def start(self) -> str:
        if (pid := self.running_pid()) is not None:
            return f"already running (pid {pid})"
        binary = find_prometheus()
        require_free_port(self.config.port, "prometheus", "DONDOC_PROMETHEUS_PORT")
        self.write_config()
        log = self.home / "prometheus.log"
        process = spawn(
            [str(binary), f"--config.file={self.config_file}",
             f"--storage.tsdb.path={self.home / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.config.port}",
             "--web.enable-lifecycle", "--storage.tsdb.retention.time=15d"],
            log=log,
        )
        self.pidfile.write(process.pid)

        def died() -> str | None:
            if process.poll() is not None:
                return f"Prometheus exited with code {process.returncode} while starting"
            return None

        try:
            waited = wait_until(self.ready, timeout=self.config.start_timeout,
                                what=f"Prometheus on {self.url}", hint="read its log below",
                                detail=lambda: tail(log), abort=died)
        except BaseException:
            self.stop()
            raise
        return f"ready in {waited:.1f} s on {self.url}"

    def stop(self, timeout: float = 20.0) -> str:
        pid = self.pidfile.read()
        if pid is None or not alive(pid, self.pidfile.marker):
            self.pidfile.clear()
            return "not running"
        terminate(pid, timeout=timeout, marker=self.pidfile.marker)
        self.pidfile.clear()
        return f"stopped (pid {pid})"

    def log_files(self) -> list[Path]:
        return [self.home / "prometheus.log"]
