"""The deadline watcher against the real broker and stores: TaskOverdue exactly once per
(task, effective deadline), at the moment it passes on a controllable clock, across a
restart of the tasks service; an adjusted deadline goes overdue at its new moment; a
back-dated task assigned after its deadline goes overdue with the business time once the
watcher's hold has passed, and one completed in time during the hold never does."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dondoc_contracts import TaskAssigned, TaskDeadlineAdjusted, TaskOverdue, topic_for
from dondoc_platform.clock import VN_TZ, ManualClock
from dondoc_platform.settings import KafkaSettings
from dondoc_tasks.bootstrap import Settings, bootstrap
from dondoc_tasks.domain.tasks import task_id_for
from tests.support.services import Tokens, TopicReader, prefix, publish, running, until

from services.tasks.tests.support import by_date, issued, item

pytestmark = pytest.mark.integration


def overdue_count(reader: TopicReader) -> Counter:
    return Counter((e.task_id, e.due_on) for e in reader.events if isinstance(e, TaskOverdue))


async def test_overdue_exactly_once_across_a_restart(kafka_bootstrap: str, store_url: str,
                                                     tmp_path: Path) -> None:
    tokens = Tokens.create(tmp_path)
    clock = ManualClock(datetime(2018, 3, 5, 10, tzinfo=VN_TZ))
    settings = Settings(store_url=store_url, topic_prefix=prefix(), watcher_poll_seconds=30)
    kafka = KafkaSettings(bootstrap=kafka_bootstrap)

    def start():
        return bootstrap(settings, clock=clock, kafka=kafka, auth=tokens.auth())

    notice = issued([item("A", "BTG", by_date(date(2018, 6, 29))),   # a Friday
                     item("B", "BDV", by_date(date(2018, 6, 30))),   # Saturday → Monday 2/7
                     item("C", "UBND", by_date(date(2018, 6, 30))),  # completed in time
                     item("D", "MTTQ", by_date(date(2018, 6, 30)))])  # withdrawn
    a, b, c, d = (str(task_id_for(notice.directive_id, i)) for i in "ABCD")
    first = start()
    directives_topic = f"{settings.topic_prefix}{topic_for('directives')}"
    office = tokens.headers("office")
    async with TopicReader(kafka_bootstrap, first.parts["topic"]) as out:
        async with running(first):
            await publish(kafka_bootstrap, directives_topic, [notice])
            await out.wait_for(lambda e: len([x for x in e if isinstance(x, TaskAssigned)]) == 4,
                               what="four tasks")
            api = TestClient(first.api)
            clock.set(datetime(2018, 6, 20, 9, tzinfo=VN_TZ))
            assert api.post(f"/tasks/{c}/completion", json={"completed_on": "2018-06-20"},
                            headers=office).status_code == 200
            assert api.post(f"/tasks/{d}/deadline-adjustments", headers=office, json={
                "kind": "withdraw", "decision": {"number": "1801-CV/TU", "decided_on": "2018-06-20",
                                                 "decider": "Thường trực Tỉnh ủy"}}).status_code == 200
            clock.set(datetime(2018, 6, 29, 23, 59, 59, tzinfo=VN_TZ))
            # the moment of A is 30/6 00:00 local: one second before it nothing is overdue
            await until(lambda: first.parts["watcher"].next_moment() is not None, what="schedule")
            assert first.parts["watcher"].next_moment() == datetime(2018, 6, 30, tzinfo=VN_TZ)
            clock.set(datetime(2018, 6, 30, 0, 0, tzinfo=VN_TZ))
            overdue = await out.wait_for(lambda e: [x for x in e if isinstance(x, TaskOverdue)],
                                         what="A overdue")
            assert [(x.task_id, x.due_on) for x in overdue] == [(a, date(2018, 6, 29))]
            assert overdue[0].overdue_at == datetime(2018, 6, 30, tzinfo=VN_TZ)
            assert overdue[0].occurred_at == overdue[0].overdue_at
            # B's deadline is extended by a decision before it passes
            assert api.post(f"/tasks/{b}/deadline-adjustments", headers=office, json={
                "kind": "extend", "due_on": "2018-07-31",
                "decision": {"number": "1520-CV/TU", "decided_on": "2018-06-30",
                             "decider": "Thường trực Tỉnh ủy"}}).status_code == 200
            await out.wait_for(lambda e: [x for x in e if isinstance(x, TaskDeadlineAdjusted)],
                               what="B adjusted")
        first.parts["app"].close()

        # the service is stopped and started again from the same store
        clock.set(datetime(2018, 7, 3, 0, 0, tzinfo=VN_TZ))
        second = start()
        async with running(second):
            board = TestClient(second.api)
            view = await until(lambda: board.get(f"/tasks/{b}", headers=office).json())
            assert (view["due_on"], view["original_due_on"]) == ("2018-07-31", "2018-07-02")
            assert view["status"] == "open_in_time" and view["status_against_original"] == "open_overdue"
            clock.set(datetime(2018, 7, 31, 23, 59, tzinfo=VN_TZ))
            await until(lambda: second.parts["watcher"].next_moment() == datetime(
                2018, 8, 1, tzinfo=VN_TZ), what="B rescheduled")
            clock.set(datetime(2018, 8, 1, 0, 0, tzinfo=VN_TZ))
            await out.wait_for(lambda e: overdue_count(out)[(b, date(2018, 7, 31))] == 1,
                               what="B overdue at its new deadline")
            # a notice registered late (history import): the watcher leaves its tasks alone
            # for the hold, so the rest of the history comes first (F was done in time: never
            # overdue); then E, still open, is overdue at the business time
            clock.set(datetime(2018, 8, 15, 10, tzinfo=VN_TZ))
            late = issued([item("E", "BTG", by_date(date(2018, 2, 28))),
                           item("F", "BDV", by_date(date(2018, 2, 28)))],
                          issued_on=date(2018, 1, 10), number="12-TB/TU",
                          recorded_at=clock.now())
            await publish(kafka_bootstrap, directives_topic, [late], start=2)
            e, f = (str(task_id_for(late.directive_id, i)) for i in "EF")
            await until(lambda: board.get(f"/tasks/{f}", headers=office).status_code == 200,
                        what="the late notice's tasks")
            assert second.parts["watcher"].fire() == 0
            assert board.post(f"/tasks/{f}/completion", json={"completed_on": "2018-02-20"},
                              headers=office).status_code == 200
            clock.advance(timedelta(seconds=settings.history_hold_seconds - 1))
            assert second.parts["watcher"].fire() == 0
            clock.advance(timedelta(seconds=1))
            imported = await out.wait_for(
                lambda ev: [x for x in ev if isinstance(x, TaskOverdue) and x.task_id == e],
                what="the back-dated task overdue")
            assert imported[0].overdue_at == datetime(2018, 3, 1, tzinfo=VN_TZ)
            assert imported[0].occurred_at == datetime(2018, 3, 1, tzinfo=VN_TZ)
            clock.advance(timedelta(days=400))
            await until(lambda: second.parts["watcher"].fire() == 0 and
                        second.parts["watcher"].next_moment() is None, what="an empty schedule")
            await out.wait_for(lambda ev: len(overdue_count(out)) == 3, what="all overdue events")
        second.parts["app"].close()
        assert overdue_count(out) == {(a, date(2018, 6, 29)): 1, (b, date(2018, 7, 31)): 1,
                                      (e, date(2018, 2, 28)): 1}
