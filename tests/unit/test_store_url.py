import pytest

from dondoc_platform.stores import StoreURL, StoreURLError

pytestmark = pytest.mark.unit


def test_postgres_url_becomes_eventsourcing_settings() -> None:
    env = StoreURL.parse("postgresql://office:s%40cret@db.local:6543/dondoc_tasks?schema=t").eventsourcing_env()
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_DBNAME"]) == ("db.local", "6543", "dondoc_tasks")
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_SCHEMA"]) == ("office", "s@cret", "t")


@pytest.mark.parametrize(("url", "path"), [
    ("sqlite:///data/tasks.sqlite", "data/tasks.sqlite"),
    ("sqlite:////var/lib/dondoc/tasks.sqlite", "/var/lib/dondoc/tasks.sqlite"),
    ("sqlite:///:memory:", ":memory:"),
])
def test_sqlite_paths_follow_sqlalchemy_rules(url: str, path: str) -> None:
    assert StoreURL.parse(url).database == path


@pytest.mark.parametrize("url", ["mysql://x/y", "postgresql://host/", "sqlite://"])
def test_unusable_urls_are_refused_with_the_reason(url: str) -> None:
    with pytest.raises(StoreURLError, match="sqlite|postgresql|unsupported"):
        StoreURL.parse(url)


def test_sqlalchemy_url_of_the_same_store() -> None:
    assert StoreURL.parse("postgresql://u:p@h:1/d").sqlalchemy_url() == "postgresql+psycopg://u:p@h:1/d"
    assert StoreURL.parse("sqlite:////tmp/x.db").sqlalchemy_url() == "sqlite:////tmp/x.db"
