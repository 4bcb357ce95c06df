"""An eventsourcing application stores and reloads an aggregate on each real backend.

One abstract test case; each backend is a subclass that says only where the store is.
"""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from dondoc_platform.stores import StoreURL

pytestmark = pytest.mark.integration


class Notice(Aggregate):
    @event("Registered")
    def __init__(self, number: str, summary: str) -> None:
        self.number = number
        self.summary = summary
        self.items: list[str] = []

    @event("ItemAdded")
    def add_item(self, text: str) -> None:
        self.items.append(text)


class Notices(Application[UUID]):
    def register(self, number: str, summary: str, items: list[str]) -> UUID:
        notice = Notice(number, summary)
        for text in items:
            notice.add_item(text)
        self.save(notice)
        return notice.id

    def get(self, notice_id: UUID) -> Notice:
        return self.repository.get(notice_id)


class EventStoreContract:
    """What every backend must do; subclasses provide `store_url`."""

    @pytest.fixture
    def store_url(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def app(self, store_url: str) -> Notices:
        return Notices(env=StoreURL.parse(store_url).eventsourcing_env())

    def test_aggregate_is_stored_and_reloaded_by_a_new_application(self, store_url: str) -> None:
        writer = self.app(store_url)
        notice_id = writer.register(
            "125-TB/TU", "Thông báo kết luận về khu kinh tế Đông Nam",
            ["Thu hồi đất", "Bàn giao đất rừng"],
        )
        writer.close()

        reader = self.app(store_url)
        notice = reader.get(notice_id)
        assert notice.number == "125-TB/TU"
        assert notice.summary == "Thông báo kết luận về khu kinh tế Đông Nam"
        assert notice.items == ["Thu hồi đất", "Bàn giao đất rừng"]
        assert notice.version == 3
        notifications = reader.notification_log.select(start=1, limit=10)
        assert [n.topic.rsplit(".", 1)[-1] for n in notifications] == [
            "Registered", "ItemAdded", "ItemAdded",
        ]
        reader.close()

    def test_a_second_writer_of_the_same_version_is_refused(self, store_url: str) -> None:
        from eventsourcing.persistence import IntegrityError

        app = self.app(store_url)
        notice_id = app.register("1-KL/TU", "Kết luận", [])
        first, second = app.get(notice_id), app.get(notice_id)
        first.add_item("a")
        second.add_item("b")
        app.save(first)
        with pytest.raises(IntegrityError):
            app.save(second)
        assert app.get(notice_id).items == ["a"]
        app.close()


class TestSQLiteStore(EventStoreContract):
    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'notices.sqlite'}"


class TestPostgresStore(EventStoreContract):
    @pytest.fixture
    def store_url(self, postgres_database: str) -> str:
        return postgres_database
