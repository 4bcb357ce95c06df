"""The reports service's tests use the suite's real infrastructure fixtures."""

from tests.conftest import infra, kafka_bootstrap, postgres_database  # noqa: F401
