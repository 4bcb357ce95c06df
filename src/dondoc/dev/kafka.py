"""A single-node Apache Kafka broker (KRaft) run from its Maven Central jars."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from dondoc.dev.errors import StackError
from dondoc.dev.process import (
    PidFile,
    alive,
    port_accepts,
    require_free_port,
    spawn,
    tail,
    terminate,
    wait_until,
)

KAFKA_VERSION = "4.4.0"
LOG4J_VERSION = "2.26.1"
MIN_JAVA = 17
READY_TOPIC = "__dondoc_ready"


@dataclass(frozen=True)
class KafkaConfig:
    state_dir: Path
    cache_dir: Path
    port: int = 19092
    controller_port: int = 19093
    version: str = KAFKA_VERSION
    heap: str = "512m"
    start_timeout: float = 120.0
    download_timeout: float = 900.0

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


def find_java() -> Path:
    """The java to run the broker: $JAVA_HOME/bin/java, else java on PATH, at least 17."""
    home = os.environ.get("JAVA_HOME")
    candidate = Path(home) / "bin" / "java" if home else None
    if candidate is None or not candidate.exists():
        found = shutil.which("java")
        candidate = Path(found) if found else None
    if candidate is None:
        raise StackError(
            "Java not found: Kafka needs a Java runtime (17 or newer)",
            "install one (apt-get install openjdk-17-jre-headless) or set JAVA_HOME",
        )
    major = java_major_version(candidate)
    if major < MIN_JAVA:
        raise StackError(
            f"Java {major} at {candidate} is too old: Kafka {KAFKA_VERSION} needs {MIN_JAVA}+",
            "set JAVA_HOME to a newer JDK",
        )
    return candidate


def java_major_version(java: Path) -> int:
    out = subprocess.run(
        [str(java), "-version"], capture_output=True, text=True, timeout=60, check=False
    )
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise StackError(f"cannot read the version of {java}", "check that it runs: java -version")
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def find_maven() -> Path:
    found = shutil.which("mvn")
    if not found:
        raise StackError(
            "Maven (mvn) not found: it fetches the Kafka jars from Maven Central once",
            "install it (apt-get install maven), or put the jars in the cache yourself "
            "(see docs/OPERATIONS.md, 'Local stack')",
        )
    return Path(found)


class KafkaNode:
    name = "kafka"

    def __init__(self, config: KafkaConfig) -> None:
        self.config = config
        self.home = config.state_dir / "kafka"
        self.data_dir = self.home / "data"
        self.logs_dir = self.home / "logs"
        self.properties = self.home / "server.properties"
        self.pidfile = PidFile(self.home / "kafka.pid", marker=str(self.properties))

    # -- jars ---------------------------------------------------------------------------

    @property
    def libs(self) -> Path:
        return self.config.cache_dir / "kafka" / self.config.version / "libs"

    def jars_cached(self) -> bool:
        return (self.libs / ".complete").exists()

    def ensure_jars(self) -> bool:
        """Fetch the broker's jars with Maven into the cache once; True if it downloaded."""
        if self.jars_cached():
            return False
        mvn = find_maven()
        self.libs.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="libs.", dir=self.libs.parent))
        pom = staging / "pom.xml"
        pom.write_text(files("dondoc.dev").joinpath("resources/kafka-pom.xml").read_text())
        argv = [
            str(mvn), "-B", "-q", "-f", str(pom),
            f"-Dkafka.version={self.config.version}", f"-Dlog4j.version={LOG4J_VERSION}",
            "dependency:copy-dependencies", "-DincludeScope=runtime",
            f"-DoutputDirectory={staging / 'jars'}",
        ]
        try:
            result = subprocess.run(
                argv, capture_output=True, text=True,
                timeout=self.config.download_timeout, check=False,
            )
        except subprocess.TimeoutExpired as e:
            shutil.rmtree(staging, ignore_errors=True)
            raise StackError(
                f"fetching the Kafka jars took longer than {self.config.download_timeout:.0f} s",
                "check the connection to Maven Central and run again",
            ) from e
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise StackError(
                f"Maven could not fetch Kafka {self.config.version} from Maven Central",
                "check the connection to Maven Central (or a mirror in ~/.m2/settings.xml)",
                (result.stdout + result.stderr)[-3000:],
            )
        jars = staging / "jars"
        (jars / ".complete").write_text(
            "\n".join(sorted(p.name for p in jars.glob("*.jar"))) + "\n"
        )
        if self.libs.exists():
            shutil.rmtree(self.libs)
        jars.rename(self.libs)
        shutil.rmtree(staging, ignore_errors=True)
        return True

    # -- lifecycle ----------------------------------------------------------------------

    def running_pid(self) -> int | None:
        return self.pidfile.running_pid()

    def write_properties(self) -> None:
        c = self.config
        self.home.mkdir(parents=True, exist_ok=True)
        self.properties.write_text(
            "\n".join([
                "# written by `dondoc dev up`; edits are overwritten",
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{c.controller_port}",
                f"listeners=PLAINTEXT://127.0.0.1:{c.port},CONTROLLER://127.0.0.1:{c.controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{c.port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                f"log.dirs={self.data_dir}",
                "num.partitions=3",
                "default.replication.factor=1",
                "min.insync.replicas=1",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=10",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=false",
                "log.retention.hours=-1",
                "",
            ])
        )

    def java_argv(self, java: Path, main: str, *args: str) -> list[str]:
        log4j = files("dondoc.dev").joinpath("resources/kafka-log4j2.properties")
        return [
            str(java),
            f"-Xms{self.config.heap}", f"-Xmx{self.config.heap}",
            "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.logs_dir}",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp", f"{self.libs}/*",
            main, *args,
        ]

    def format_storage(self, java: Path) -> None:
        if (self.data_dir / "meta.properties").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cluster_id = new_cluster_id()
        result = subprocess.run(
            self.java_argv(java, "kafka.tools.StorageTool", "format",
                           f"--cluster-id={cluster_id}", "-c", str(self.properties)),
            capture_output=True, text=True, timeout=120, check=False,
        )
        if result.returncode != 0:
            raise StackError(
                "formatting the Kafka storage failed",
                f"remove {self.data_dir} if it holds a broken earlier attempt, then run again",
                (result.stdout + result.stderr)[-3000:],
            )

    def start(self) -> str:
        stale = self.pidfile.is_stale()
        if (pid := self.running_pid()) is not None:
            return f"already running (pid {pid})"
        java = find_java()
        downloaded = self.ensure_jars()
        require_free_port(self.config.port, "kafka", "DONDOC_KAFKA_PORT")
        require_free_port(self.config.controller_port, "kafka controller",
                          "DONDOC_KAFKA_CONTROLLER_PORT")
        self.write_properties()
        self.format_storage(java)
        started = time.monotonic()
        process = spawn(
            self.java_argv(java, "kafka.Kafka", str(self.properties)),
            log=self.logs_dir / "stdout.log",
        )
        self.pidfile.write(process.pid)

        def died() -> str | None:
            if process.poll() is not None:
                return f"the Kafka broker exited with code {process.returncode} while starting"
            return None

        def log_tail() -> str:
            return "\n".join([tail(self.logs_dir / "stdout.log", 15),
                              tail(self.logs_dir / "server.log", 30)])

        try:
            wait_until(
                lambda: port_accepts(self.config.port), timeout=self.config.start_timeout,
                what=f"Kafka broker on {self.config.bootstrap}",
                hint="read the broker's log below; `dondoc dev logs kafka` shows more",
                detail=log_tail, abort=died,
            )
            deadline = started + self.config.start_timeout
            while True:  # in slices, so a broker that dies meanwhile is reported as such
                try:
                    round_trip(self.config.bootstrap, detail=log_tail,
                               timeout=max(5.0, min(15.0, deadline - time.monotonic())))
                    break
                except StackError:
                    if (reason := died()) is not None:
                        raise StackError(reason, "read the broker's log below", log_tail()) from None
                    if time.monotonic() >= deadline:
                        raise
        except BaseException:
            self.stop()
            raise
        elapsed = time.monotonic() - started
        notes = ["jars downloaded" if downloaded else "jars from cache"]
        if stale:
            notes.append("stale pid file replaced")
        return f"ready in {elapsed:.1f} s on {self.config.bootstrap} ({', '.join(notes)})"

    def stop(self, timeout: float = 30.0) -> str:
        pid = self.pidfile.read()
        if pid is None or not alive(pid, self.pidfile.marker):
            self.pidfile.clear()
            return "not running"
        terminate(pid, timeout=timeout, marker=self.pidfile.marker)
        self.pidfile.clear()
        return f"stopped (pid {pid})"

    def address(self) -> str:
        return self.config.bootstrap

    def log_files(self) -> list[Path]:
        return [self.logs_dir / "server.log", self.logs_dir / "stdout.log"]


def uuid_to_kafka_id(value: uuid.UUID) -> str:
    """Kafka's cluster ids are UUIDs in url-safe base64 without padding."""
    import base64

    return base64.urlsafe_b64encode(value.bytes).decode().rstrip("=")


def new_cluster_id() -> str:
    """A random cluster id that never starts with "-" (as Kafka's own `Uuid.randomUuid`
    ensures): the storage tool's argument parser would take such an id for an option."""
    while True:
        candidate = uuid_to_kafka_id(uuid.uuid4())
        if not candidate.startswith("-"):
            return candidate


def round_trip(bootstrap: str, *, timeout: float, detail=None) -> float:
    """Produce one record and consume it back through a consumer group, within `timeout`."""
    try:
        return asyncio.run(asyncio.wait_for(_round_trip(bootstrap), timeout))
    except (TimeoutError, asyncio.TimeoutError) as e:
        raise StackError(
            f"Kafka on {bootstrap}: no produce → consume round trip within {timeout:.0f} s",
            "read the broker's log below",
            detail() if detail else "",
        ) from e


async def _round_trip(bootstrap: str) -> float:
    import logging

    # a broker just started answers "coordinator not available" for a moment: expected here
    quiet = logging.getLogger("aiokafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        return await _produce_and_consume(bootstrap)
    finally:
        quiet.setLevel(level)


async def _produce_and_consume(bootstrap: str) -> float:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

    started = time.monotonic()
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            await admin.start()
            try:
                await admin.create_topics([NewTopic(READY_TOPIC, 1, 1)])
            except TopicAlreadyExistsError:
                pass
            break
        except KafkaConnectionError:
            await asyncio.sleep(0.2)
        finally:
            await admin.close()
    token = uuid.uuid4().hex.encode()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(READY_TOPIC, token)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        READY_TOPIC, bootstrap_servers=bootstrap, group_id=f"dondoc-ready-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest", enable_auto_commit=False,
    )
    await consumer.start()
    try:
        async for record in consumer:
            if record.value == token:
                await consumer.commit()
                break
    finally:
        await consumer.stop()
    return time.monotonic() - started
