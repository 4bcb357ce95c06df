"""One running suite (`dondoc serve` per service, real Kafka and PostgreSQL) for the
observability tests of this directory: started once, fed once, stopped at the end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.observed import ObservedSuite, feed_traffic, start_suite
from tests.support.services import prefix


@pytest.fixture(scope="session")
def observed(infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObservedSuite]:
    admin = infra.postgres_database_url("postgres")
    suite = start_suite(tmp_path_factory.mktemp("observed"), kafka_bootstrap=infra.kafka_bootstrap,
                        admin_url=admin, topic_prefix=prefix())
    try:
        feed_traffic(suite)
        yield suite
    finally:
        suite.stop(admin)
