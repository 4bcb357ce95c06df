"""`dondoc demo` runs, ends cleanly (by itself or on Ctrl-C) and leaves nothing running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dondoc.dev import Stack, StackConfig
from dondoc.dev.process import free_port, processes_with

pytestmark = pytest.mark.e2e


def _env(state: Path) -> dict[str, str]:
    return dict(
        os.environ,
        DONDOC_STATE_DIR=str(state),
        DONDOC_KAFKA_PORT=str(free_port()),
        DONDOC_KAFKA_CONTROLLER_PORT=str(free_port()),
        DONDOC_POSTGRES_PORT=str(free_port()),
        DONDOC_PROMETHEUS_PORT=str(free_port()),
        PYTHONUNBUFFERED="1",
        COLUMNS="200",
    )


def _nothing_left(state: Path) -> None:
    assert processes_with(str(state)) == []


def test_demo_sends_an_event_through_kafka_and_stops_everything(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dondoc.cli", "demo", "--no-wait"],
        env=_env(tmp_path), capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "published DirectiveIssued 125-TB/TU" in result.stdout
    assert "consumed it back: Thông báo kết luận số 125-TB/TU" in result.stdout
    assert "UBND tỉnh chủ trì — Đẩy nhanh thu hồi đất Khu kinh tế Đông Nam" in result.stdout
    assert "kafka: stopped" in result.stdout
    _nothing_left(tmp_path)


def test_demo_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    env = _env(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "dondoc.cli", "demo"], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    seen: list[str] = []
    deadline = time.monotonic() + 300
    assert process.stdout is not None
    for line in process.stdout:
        seen.append(line)
        if "Press Ctrl-C" in line or time.monotonic() > deadline:
            break
    assert any("Press Ctrl-C" in line for line in seen), "".join(seen)
    # the stack really is up while the demo waits
    config = StackConfig(state_dir=tmp_path, cache_dir=StackConfig.from_env().cache_dir,
                         kafka_port=int(env["DONDOC_KAFKA_PORT"]))
    assert Stack(config).kafka.running_pid() is not None
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=120)
    assert process.returncode == 0, "".join(seen) + rest
    assert "kafka: stopped" in rest
    _nothing_left(tmp_path)
