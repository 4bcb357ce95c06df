"""Test infrastructure: a real Kafka broker and a real PostgreSQL, started by the test run.

Integration tests never skip for want of infrastructure: if the stack cannot come up,
they fail with the stack's own error. To reuse a stack that is already running (a quick
loop while developing), set DONDOC_TEST_KAFKA_BOOTSTRAP and DONDOC_TEST_DATABASE_URL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dondoc.dev import Stack


@dataclass(frozen=True)
class Infrastructure:
    kafka_bootstrap: str
    postgres_url: str  # a server-level URL ending in /<database>
    stack: Stack | None

    def postgres_database_url(self, database: str) -> str:
        return f"{self.postgres_url.rpartition('/')[0]}/{database}"


def _private_stack(root: Path) -> Stack:
    return Stack.private(root, database_url=os.environ.get("DONDOC_TEST_DATABASE_URL") or None)


def _announce(infrastructure: Infrastructure) -> None:
    import sys

    sys.stderr.write(
        f"\n[infra] Kafka broker {infrastructure.kafka_bootstrap}, "
        f"PostgreSQL {infrastructure.postgres_url}\n"
    )


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infrastructure]:
    kafka = os.environ.get("DONDOC_TEST_KAFKA_BOOTSTRAP")
    database = os.environ.get("DONDOC_TEST_DATABASE_URL")
    if kafka and database:
        infrastructure = Infrastructure(kafka, database, None)
        _announce(infrastructure)
        yield infrastructure
        return
    stack = _private_stack(tmp_path_factory.mktemp("stack"))
    names = ["postgres"] if kafka else ["kafka", "postgres"]
    try:
        stack.up(names, report=lambda line: print(f"[stack] {line}"))
        infrastructure = Infrastructure(kafka or stack.kafka.address(), stack.postgres.url, stack)
        _announce(infrastructure)
        yield infrastructure
    finally:
        stack.discard(report=lambda line: print(f"[stack] {line}"))


@pytest.fixture(scope="session")
def kafka_bootstrap(infra: Infrastructure) -> str:
    return infra.kafka_bootstrap


@pytest.fixture
def new_postgres_database(infra: Infrastructure) -> Iterator[Callable[[], str]]:
    """Makes fresh, empty PostgreSQL databases for one test; drops them afterwards."""
    import psycopg
    from psycopg import sql

    admin = infra.postgres_database_url("postgres")
    made: list[str] = []

    def make() -> str:
        name = f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        made.append(name)
        return infra.postgres_database_url(name)

    try:
        yield make
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in made:
                conn.execute(sql.SQL("drop database if exists {} with (force)").format(
                    sql.Identifier(name)))


@pytest.fixture
def postgres_database(new_postgres_database: Callable[[], str]) -> str:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    return new_postgres_database()


@pytest.fixture(params=["postgres", "sqlite"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty event store, once on PostgreSQL (a fresh database) and once on SQLite (a file)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite'}"
    return request.getfixturevalue("postgres_database")


@pytest.fixture
def topic_name() -> str:
    return f"test.{uuid.uuid4().hex[:10]}"


# -- the event loop of the tests' own code -------------------------------------------------

if os.environ.get("DONDOC_TEST_EVENT_LOOP") == "uvloop":
    # the services run on uvloop (`ServiceSettings.event_loop`); with this set, the tests
    # that drive a service's parts in-process (consumers, relays, listeners, the HTTP app)
    # run on it too
    def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Callable]:
        import uvloop

        return {"uvloop": uvloop.new_event_loop}


# -- a full run must really exercise the real services --------------------------------------

_REAL_MARKERS = ("integration", "e2e")
_outcomes: dict[str, list[str]] = {"passed": [], "skipped": [], "failed": []}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    keywords = report.keywords
    if not any(marker in keywords for marker in _REAL_MARKERS):
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _outcomes[report.outcome].append(report.nodeid)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test carries exactly one of the registered kinds; a test without one is a bug."""
    kinds = {"unit", "integration", "e2e"}
    unmarked = [item.nodeid for item in items if not kinds & {m.name for m in item.iter_markers()}]
    if unmarked:
        raise pytest.UsageError("tests without a unit/integration/e2e marker: " + ", ".join(unmarked))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("DONDOC_REQUIRE_INTEGRATION") != "1":
        return
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        return  # pytest already fails the run
    skipped = _outcomes["skipped"]
    if skipped or not _outcomes["passed"]:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print("\nA full run must run its integration and e2e tests against the real services:")
        print(f"  passed: {len(_outcomes['passed'])}, skipped: {len(skipped)}")
        for nodeid in skipped:
            print(f"  skipped: {nodeid}")


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    passed = len(_outcomes["passed"])
    terminalreporter.write_line(
        f"real-infrastructure tests (Kafka broker, PostgreSQL, SQLite): {passed} passed, "
        f"{len(_outcomes['skipped'])} skipped, {len(_outcomes['failed'])} failed"
    )
