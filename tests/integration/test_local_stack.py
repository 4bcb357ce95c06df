"""The local stack comes up for real, fails in ways a person can act on, and leaves nothing."""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
from pathlib import Path

import psycopg
import pytest

from dondoc.dev import Stack, StackConfig, StackError
from dondoc.dev.kafka import KafkaConfig, KafkaNode
from dondoc.dev.process import free_port, port_is_free, processes_with

pytestmark = pytest.mark.integration


def _config(root: Path, **overrides) -> StackConfig:
    base = StackConfig.from_env()
    values = dict(
        state_dir=root, cache_dir=base.cache_dir, kafka_port=free_port(),
        kafka_controller_port=free_port(), postgres_port=free_port(), prometheus_port=free_port(),
    )
    values.update(overrides)
    return StackConfig(**values)


def test_whole_stack_comes_up_reports_status_and_goes_down_leaving_nothing(tmp_path: Path) -> None:
    stack = Stack(_config(tmp_path))
    stack.kafka.ensure_jars()
    lines: list[str] = []
    try:
        stack.up(report=lines.append)
        assert any("kafka: ready" in line and "jars from cache" in line for line in lines), lines
        assert stack.prometheus.ready()
        states = {name: state for name, state, _ in stack.status() if name != "services"}
        assert all(state.startswith("running") for state in states.values()), states
        # the statements' statistics are there to ask for (Debian's server ships the library)
        with psycopg.connect(stack.postgres.url, autocommit=True) as conn:
            conn.execute("create extension if not exists pg_stat_statements")
            assert conn.execute("select count(*) from pg_stat_statements").fetchone()[0] > 0
        # `up` again is harmless
        again: list[str] = []
        stack.up(report=again.append)
        assert sum("already running" in line for line in again) == 3
    finally:
        stack.discard(report=lines.append)  # down, then its files
    assert stack.running() == []
    for marker in stack.markers():
        assert processes_with(marker) == []
    for port in (stack.config.kafka_port, stack.config.postgres_port, stack.config.prometheus_port):
        assert port_is_free(port)


def test_a_discarded_stack_leaves_no_files_behind(tmp_path: Path) -> None:
    """Tests and benchmarks throw their stacks away: the PostgreSQL cluster too, even where
    it lives outside the state directory (as root, under /var/tmp)."""
    state = tmp_path / "throwaway"
    stack = Stack(_config(state))
    lines: list[str] = []
    try:
        stack.up(["postgres"], report=lines.append)
        data = stack.postgres.data_dir
        assert (data / "PG_VERSION").exists()
    finally:
        stack.discard(report=lines.append)
    assert not state.exists(), lines
    assert not data.exists() and not data.parent.exists(), lines
    assert any(f"removed {data.parent}" in line or f"removed {state}" in line for line in lines)
    assert stack.running() == []


def test_a_taken_port_is_named_with_the_variable_that_moves_it(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        stack = Stack(_config(tmp_path, kafka_port=port))
        with pytest.raises(StackError) as caught:
            stack.up(["kafka"])
    assert f"port {port}" in caught.value.what
    assert "DONDOC_KAFKA_PORT" in caught.value.hint
    assert stack.running() == []


def _fake_java(directory: Path, version: str) -> Path:
    java = directory / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(f'#!/bin/sh\necho \'openjdk version "{version}" 2020-01-01\' >&2\n')
    java.chmod(0o755)
    return directory


def test_missing_java_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StackError, match="Java not found"):
        Stack(_config(tmp_path)).up(["kafka"])


def test_too_old_java_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(_fake_java(tmp_path / "jdk", "11.0.2")))
    with pytest.raises(StackError, match="Java 11 .* too old"):
        Stack(_config(tmp_path)).up(["kafka"])


def test_missing_maven_is_reported_when_the_jars_are_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    java_home = Path(subprocess.check_output(
        ["bash", "-c", "dirname $(dirname $(readlink -f $(which java)))"], text=True).strip())
    monkeypatch.setenv("JAVA_HOME", str(java_home))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StackError, match=r"Maven \(mvn\) not found"):
        Stack(_config(tmp_path, cache_dir=tmp_path / "empty-cache")).up(["kafka"])


def test_a_broker_that_fails_to_start_shows_the_tail_of_its_log(tmp_path: Path) -> None:
    stack = Stack(_config(tmp_path))
    node = stack.kafka
    node.ensure_jars()
    node.write_properties()
    from dondoc.dev.kafka import find_java

    node.format_storage(find_java())
    meta = node.data_dir / "meta.properties"
    meta.write_text(meta.read_text().replace("node.id=1", "node.id=7"))
    with pytest.raises(StackError) as caught:
        stack.up(["kafka"])
    message = str(caught.value)
    assert "exited with code" in message
    assert "last" in message and "server.log" in message
    assert "node.id" in message or "7" in message
    assert stack.running() == []


def test_a_stale_pid_file_is_replaced_and_said(tmp_path: Path) -> None:
    stack = Stack(_config(tmp_path))
    dead = subprocess.Popen(["true"])
    dead.wait()
    stack.kafka.pidfile.write(dead.pid)
    lines: list[str] = []
    try:
        stack.up(["kafka"], report=lines.append)
    finally:
        stack.down(report=lines.append)
    assert any("stale pid file replaced" in line for line in lines), lines


def test_a_held_stack_lock_names_its_holder(tmp_path: Path) -> None:
    stack = Stack(_config(tmp_path))
    tmp_path.mkdir(exist_ok=True)
    with (tmp_path / "stack.lock").open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write("4242")
        handle.flush()
        with pytest.raises(StackError, match="pid 4242"):
            stack.up(["kafka"])


def test_jars_are_fetched_once_then_reused(tmp_path: Path) -> None:
    cache = StackConfig.from_env().cache_dir
    node = KafkaNode(KafkaConfig(state_dir=tmp_path, cache_dir=cache))
    node.ensure_jars()
    assert node.jars_cached()
    stamp = (node.libs / ".complete").stat().st_mtime_ns
    assert node.ensure_jars() is False
    assert (node.libs / ".complete").stat().st_mtime_ns == stamp
    names = (node.libs / ".complete").read_text().split()
    assert any(n.startswith("kafka_2.13-") for n in names)
    assert any(n.startswith("log4j-slf4j2-impl-") for n in names)
    assert os.path.exists(node.libs / names[0])
