"""The chained event store on each real backend: tampering is detected and named, and a
consumed event is recorded with its effect exactly once.

One abstract test case; each backend is a subclass that says where the store is and how to
reach its tables behind the application's back (as someone editing the database would).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dondoc_platform.eventstore import InboxEntry, recorder_of, save_with_inbox, verify_store
from tests.backbone import sample_service as svc

pytestmark = pytest.mark.integration

AGGREGATES, NOTES_EACH = 4, 4  # 20 events


class ChainedStoreContract:
    """What every backend must do; subclasses provide `store_url`, `tamper` and `query`."""

    position: str  # the events table's column that holds the log position

    @pytest.fixture
    def store_url(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def tamper(self, store_url: str, statements: Sequence[tuple[str, tuple[Any, ...]]]) -> None:
        """Run SQL (with %s placeholders) in one transaction, bypassing the application."""
        raise NotImplementedError  # pragma: no cover - overridden

    def query(self, store_url: str, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        raise NotImplementedError  # pragma: no cover - overridden

    @pytest.fixture
    def app(self, store_url: str):  # type: ignore[no-untyped-def]
        app = svc.open_app(store_url)
        svc.write_events(app, aggregates=AGGREGATES, notes_each=NOTES_EACH)
        yield app
        app.close()

    @staticmethod
    def findings(app: svc.Tracker) -> list[tuple[int, str]]:
        return [(d.position, d.kind) for d in verify_store(app)]

    def tables(self, app: svc.Tracker) -> tuple[str, str]:
        recorder = recorder_of(app)
        return recorder.events_table_name, recorder.chain_table

    def test_a_clean_store_verifies_without_findings(self, app: svc.Tracker) -> None:
        assert app.recorder.max_notification_id() == AGGREGATES * (NOTES_EACH + 1)
        assert verify_store(app) == []

    def test_aggregates_saved_together_are_chained_in_log_order(self, app: svc.Tracker,
                                                                store_url: str) -> None:
        # Several aggregates of several events each in one transaction: every event gets
        # its link, made from the bytes stored at its own position.
        together = [svc.Tracked(unit=f"T{i}") for i in range(3)]
        for n, tracked in enumerate(together):
            for k in range(n + 1):
                tracked.note(f"ghi chú {k}")
        app.save(*reversed(together))
        _, chain = self.tables(app)
        last = AGGREGATES * (NOTES_EACH + 1)
        links = self.query(store_url, f"SELECT position, previous_position FROM {chain} "
                                      "WHERE position > %s ORDER BY position", (last,))
        assert links == [(last + i + 1, last + i) for i in range(9)]
        assert verify_store(app) == []

    def test_one_altered_byte_of_one_event_is_named(self, app: svc.Tracker, store_url: str) -> None:
        events, _ = self.tables(app)
        ((state,),) = self.query(
            store_url, f"SELECT state FROM {events} WHERE {self.position} = %s", (7,))
        altered = bytearray(state)
        altered[len(altered) // 2] ^= 0x01
        self.tamper(store_url, [(f"UPDATE {events} SET state = %s WHERE {self.position} = %s",
                                 (bytes(altered), 7))])
        assert self.findings(app) == [(7, "altered")]

    def test_a_deleted_event_is_named(self, app: svc.Tracker, store_url: str) -> None:
        events, _ = self.tables(app)
        self.tamper(store_url, [(f"DELETE FROM {events} WHERE {self.position} = %s", (9,))])
        assert self.findings(app) == [(9, "missing_event")]

    def test_an_event_deleted_with_its_chain_link_is_named(self, app: svc.Tracker,
                                                           store_url: str) -> None:
        events, chain = self.tables(app)
        self.tamper(store_url, [
            (f"DELETE FROM {events} WHERE {self.position} = %s", (9,)),
            (f"DELETE FROM {chain} WHERE position = %s", (9,)),
        ])
        assert self.findings(app) == [(9, "removed")]

    def test_two_events_with_swapped_contents_are_named(self, app: svc.Tracker,
                                                        store_url: str) -> None:
        events, _ = self.tables(app)
        # every column but the position changes places: the log order of two events is swapped
        self.tamper(store_url, [
            (f"UPDATE {events} SET {self.position} = %s WHERE {self.position} = %s", (-1, 4)),
            (f"UPDATE {events} SET {self.position} = %s WHERE {self.position} = %s", (4, 13)),
            (f"UPDATE {events} SET {self.position} = %s WHERE {self.position} = %s", (13, -1)),
        ])
        assert self.findings(app) == [(4, "reordered"), (13, "reordered")]

    def test_a_consumed_event_is_recorded_with_its_effect_once(self, store_url: str) -> None:
        receipts = svc.open_receipts(store_url)
        try:
            entry = InboxEntry("receipts", "ce-1", "dondoc.tasks.v1", 0, 41)
            first = svc.Receipt(task_id="task-1", version=1)
            again = svc.Receipt(task_id="task-1", version=1)  # the redelivery's reaction
            assert save_with_inbox(receipts, entry, first) is True
            assert save_with_inbox(receipts, entry, again) is False
            assert receipts.recorder.max_notification_id() == 1
            assert recorder_of(receipts).inbox_has("receipts", "ce-1")
            assert verify_store(receipts) == []
        finally:
            receipts.close()


class TestSQLiteChainedStore(ChainedStoreContract):
    position = "rowid"

    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'tracker.sqlite'}"

    def _connect(self, store_url: str) -> closing[sqlite3.Connection]:
        return closing(sqlite3.connect(store_url.removeprefix("sqlite:///")))

    def tamper(self, store_url: str, statements: Sequence[tuple[str, tuple[Any, ...]]]) -> None:
        with self._connect(store_url) as conn, conn:  # closed; committed as one transaction
            for sql, params in statements:
                conn.execute(sql.replace("%s", "?"), params)

    def query(self, store_url: str, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._connect(store_url) as conn:
            return conn.execute(sql.replace("%s", "?"), params).fetchall()


class TestPostgresChainedStore(ChainedStoreContract):
    position = "notification_id"

    @pytest.fixture
    def store_url(self, postgres_database: str) -> str:
        return postgres_database

    def tamper(self, store_url: str, statements: Sequence[tuple[str, tuple[Any, ...]]]) -> None:
        with psycopg.connect(store_url) as conn:  # one transaction, committed on exit
            for sql, params in statements:
                conn.execute(sql, params)

    def query(self, store_url: str, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with psycopg.connect(store_url) as conn:
            return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                    for row in conn.execute(sql, params).fetchall()]

    def test_the_relays_read_touches_only_the_links_it_returns(self, app: svc.Tracker,
                                                               store_url: str) -> None:
        # The relay's statement is prepared; after a few runs PostgreSQL may keep its generic
        # plan, which knows neither the position nor the limit. A join planned then merged
        # the batch with the chain from its first link, at every relay round.
        svc.write_events(app, aggregates=200, notes_each=4)
        recorder = recorder_of(app)
        with psycopg.connect(store_url, autocommit=True) as conn:
            conn.execute("ANALYZE")
            text = recorder._outbox_batch.as_string(conn).replace("%s", "$1", 1).replace("%s", "$2", 1)
            conn.execute("SET plan_cache_mode = force_generic_plan")
            conn.execute(f"PREPARE relay_batch (bigint, bigint) AS {text}")
            ((plan,),) = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE relay_batch (1010, 5)"
                                      ).fetchall()
        touched = sum(node.get("Actual Rows", 0) * node.get("Actual Loops", 1)
                      for node in _nodes(plan[0]["Plan"])
                      if node.get("Relation Name") == recorder.chain_table)
        assert 0 < touched <= 5
        assert [e.notification.id for e in recorder.select_outbox_batch(1010, 5)] == list(
            range(1011, 1016))
        assert all(e.audit_hash is not None for e in recorder.select_outbox_batch(1010, 5))

    def test_reads_and_saves_cost_no_round_trip_they_do_not_need(
            self, app: svc.Tracker, monkeypatch: pytest.MonkeyPatch) -> None:
        # Every round trip costs CPU in the service and in PostgreSQL: the relay's and the
        # consumers' reads are one statement each, with no BEGIN and ROLLBACK around it,
        # and a save makes its chain from the events in hand (nothing read back).
        statements: list[str] = []
        transactions: list[bool] = []
        execute, executemany = psycopg.Cursor.execute, psycopg.Cursor.executemany
        transaction = psycopg.Connection.transaction

        def text(query: Any, cursor: psycopg.Cursor) -> str:
            return query if isinstance(query, str) else query.as_string(cursor.connection)

        monkeypatch.setattr(psycopg.Cursor, "execute", lambda self, query, *a, **k: (
            statements.append(text(query, self)), execute(self, query, *a, **k))[1])
        monkeypatch.setattr(psycopg.Cursor, "executemany", lambda self, query, *a, **k: (
            statements.append(text(query, self)), executemany(self, query, *a, **k))[1])
        monkeypatch.setattr(psycopg.Connection, "transaction", lambda self, *a, **k: (
            transactions.append(True), transaction(self, *a, **k))[1])
        recorder = recorder_of(app)
        recorder.select_outbox_batch(0, 10)
        recorder.set_outbox_position("relay", 10)
        assert recorder.outbox_position("relay") == 10
        recorder.inbox_seen("receipts", ["ce-1"])
        assert (len(statements), transactions) == (4, [])

        statements.clear()
        tracked = svc.Tracked(unit="X")
        tracked.note("một")
        app.save(tracked)
        assert transactions == [True]  # the save's own
        assert not [s for s in statements if "= ANY" in s], statements
        assert sum("_chain" in s and s.lstrip().upper().startswith("INSERT") for s in statements) == 1
        assert verify_store(app) == []


def _nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(n for child in node.get("Plans", []) for n in _nodes(child))]
