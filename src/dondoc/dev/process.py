"""Starting, finding and stopping the stack's own processes, always with a deadline."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from dondoc.dev.errors import StackError


def wait_until(
    ready: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    hint: str = "",
    detail: Callable[[], str] | None = None,
    interval: float = 0.2,
    abort: Callable[[], str | None] | None = None,
) -> float:
    """Poll `ready` until it holds; raise a StackError naming `what` at the deadline.

    `abort` is asked on every poll and may end the wait early with its reason (a process
    that died, say). Returns the seconds waited.
    """
    started = time.monotonic()
    deadline = started + timeout
    while True:
        if ready():
            return time.monotonic() - started
        if abort is not None and (reason := abort()) is not None:
            raise StackError(reason, hint, detail() if detail else "")
        if time.monotonic() >= deadline:
            raise StackError(
                f"{what}: not ready after {timeout:.0f} s", hint, detail() if detail else ""
            )
        time.sleep(interval)


def tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return f"(no log at {path})"
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 64 * 1024))
        text = f.read().decode("utf-8", "replace")
    chosen = text.splitlines()[-lines:]
    return f"--- last {len(chosen)} lines of {path} ---\n" + "\n".join(chosen)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def port_accepts(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ephemeral_ports_start() -> int:
    """The first port the kernel lends to outgoing connections (servers restarted on a port
    below it never find it borrowed)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def server_port(low: int = 20_000) -> int:
    """A free port for a server that will be restarted on it: taken below the kernel's
    ephemeral range, so no outgoing connection borrows it while the server is down."""
    import random

    candidates = list(range(low, max(low + 1, ephemeral_ports_start())))
    random.shuffle(candidates)
    for port in candidates[:500]:
        if port_is_free(port) and not port_accepts(port):
            return port
    return free_port()


def who_listens(port: int) -> str:
    """A best-effort description of the process listening on `port`."""
    try:
        out = subprocess.run(
            ["ss", "-H", "-ltnp", f"sport = :{port}"],
            capture_output=True, text=True, timeout=5, check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out


def require_free_port(port: int, component: str, variable: str) -> None:
    if port_is_free(port):
        return
    holder = who_listens(port)
    raise StackError(
        f"{component}: port {port} on 127.0.0.1 is already taken",
        f"stop whatever holds it, or choose another port with {variable}=<port>",
        f"listening there: {holder}" if holder else "",
    )


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode("utf-8", "replace")


def alive(pid: int, marker: str | None = None) -> bool:
    """True if `pid` runs and, given a marker, its command line contains it (no reused pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    state = _proc_state(pid)
    if state in ("Z", "X", ""):
        return False
    return marker is None or marker in cmdline(pid)


def _proc_state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[0]


def processes_with(marker: str) -> list[int]:
    """Every live process whose command line contains `marker` (the stack's own directory)."""
    found = []
    mine = _ancestors()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            pid = int(entry.name)
            if pid not in mine and marker in cmdline(pid) and alive(pid):
                found.append(pid)
    return found


def _ancestors() -> set[int]:
    """This process and its parents: never stopped as leftovers of the stack."""
    pids, pid = set(), os.getpid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[-1].split()[1])
    return pids


def spawn(
    argv: Sequence[str],
    *,
    log: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-running server in its own session, its output appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            user=user,
            start_new_session=True,
        )


def terminate(pid: int, *, timeout: float, marker: str | None = None) -> None:
    """SIGTERM, wait up to `timeout`, then SIGKILL; return once the process is gone."""
    if not alive(pid, marker):
        return
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not alive(pid):
            return
        time.sleep(0.1)
    _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        _reap(pid)
        if not alive(pid):
            return
        time.sleep(0.05)
    raise StackError(f"process {pid} did not end after SIGKILL", "look at it with ps and kill it")


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


class PidFile:
    """The pid of a server the stack started, with stale-file detection."""

    def __init__(self, path: Path, marker: str) -> None:
        self.path = path
        self.marker = marker

    def read(self) -> int | None:
        try:
            return int(self.path.read_text().strip())
        except (OSError, ValueError):
            return None

    def write(self, pid: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(f"{pid}\n")

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def running_pid(self) -> int | None:
        """The pid if that process is ours and alive; a stale file is removed and reported."""
        pid = self.read()
        if pid is None:
            if self.path.exists():
                self.clear()
            return None
        if alive(pid, self.marker):
            return pid
        self.clear()
        return None

    def is_stale(self) -> bool:
        pid = self.read()
        return self.path.exists() and (pid is None or not alive(pid, self.marker))
