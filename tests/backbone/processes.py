"""OS processes the backbone tests start, kill and restart (the relay and the consumer)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def runner_arguments(prog: str) -> argparse.ArgumentParser:
    """The arguments every runner takes: where Kafka is and which topic to use."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    parser.add_argument("--topic", required=True)
    return parser


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT: a runner's graceful stop (SIGKILL skips it)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


class Restartable:
    """One runner module (`python -m <module> <args>`), started again after each kill.

    Each start writes its own log file, so a failure can show what every incarnation said.
    """

    def __init__(self, name: str, module: str, args: list[str], logs: Path) -> None:
        self.name = name
        self.argv = [sys.executable, "-m", module, *args]
        self.logs = logs
        self.starts = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.starts += 1
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
        with self._log(self.starts).open("wb") as log:
            self.process = subprocess.Popen(self.argv, cwd=ROOT, env=env, stdout=log,
                                            stderr=subprocess.STDOUT)

    def kill(self, timeout: float = 10.0) -> None:
        """SIGKILL: no handler runs, nothing is flushed, connections just drop."""
        process = self._running()
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=timeout)

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)

    def check_alive(self) -> None:
        """Fail, with what the process said, if it ended without being killed."""
        process = self._running()
        if process.poll() is not None:
            raise AssertionError(f"{self.name} exited by itself with {process.returncode}:\n"
                                 f"{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        path = self._log(self.starts)
        if not path.exists():
            return "(no output)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def _running(self) -> subprocess.Popen[bytes]:
        if self.process is None:
            raise AssertionError(f"{self.name} was never started")
        return self.process

    def _log(self, start: int) -> Path:
        return self.logs / f"{self.name}.{start}.log"
