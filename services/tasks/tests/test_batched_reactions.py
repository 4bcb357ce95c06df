"""The tasks service's consumer records a Kafka batch's reactions in one transaction of its
event store, on the real broker and PostgreSQL: a process killed half-way through a batch
records nothing of it, a reaction that breaks sends the batch through one event at a time,
and a redelivered batch changes nothing. Nothing lost, nothing applied twice."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from dondoc_contracts import ContractEvent, ReportSubmitted, decode, encode, envelope_for
from dondoc_contracts.values import ClaimedStatus, ReportLine
from dondoc_platform.eventstore import recorder_of, store_env
from dondoc_platform.inbox import DeadLetters, EventSourcedInbox
from dondoc_platform.kafka import ensure_topics, event_topic
from dondoc_tasks.application.tasks_app import TasksApp
from dondoc_tasks.domain.tasks import task_id_for

from .support import at, by_date, issued, item

pytestmark = pytest.mark.integration

CONSUMER = "dondoc-tasks"
NOTICES = 6


class Killed(BaseException):
    """The process dies here (not an error a consumer could catch and retry)."""


def _events() -> list[ContractEvent]:
    """Notices, each followed by the lead unit's claim on its first task (in the same batch:
    the claim finds the task the batch's own earlier reaction created)."""
    events: list[ContractEvent] = []
    for n in range(NOTICES):
        notice = issued([item("1", "BTG", by_date(date(2018, 6, 29))),
                         item("2", "UBND", by_date(date(2018, 9, 28)))],
                        directive_id=str(uuid.uuid4()), number=f"{n + 1}-TB/TU")
        claim = ReportSubmitted.example().model_copy(update={
            "report_id": str(uuid.uuid4()), "unit_id": "BTG", "occurred_at": at(date(2018, 3, 20)),
            "submitted_on": date(2018, 3, 20),
            "lines": (ReportLine(task_id=str(task_id_for(notice.directive_id, "1")),
                                 status_claimed=ClaimedStatus.IN_PROGRESS,
                                 progress="Đã xây dựng kế hoạch, đang triển khai"),)})
        events += [notice, claim]
    return events


async def _records(kafka_bootstrap: str, topic: str, events: list[ContractEvent]) -> list[Any]:
    """The events as the consumer receives them: produced to and fetched from the broker."""
    await ensure_topics(kafka_bootstrap, [event_topic(topic, 1)])
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for position, event in enumerate(events, start=1):
            envelope = envelope_for(event, position=position)
            envelope = type(envelope)(**{**envelope.__dict__, "id": str(uuid.uuid4())})
            key, value, headers = encode(event, envelope)
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        records: list[Any] = []
        for _ in range(100):
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records += batch
            if len(records) >= len(events):
                return records
        raise AssertionError(f"fetched {len(records)} of {len(events)} records from {topic}")
    finally:
        await consumer.stop()


def _inbox(app: TasksApp, react: Any = None) -> EventSourcedInbox:
    async def no_dead_letters(*args: Any) -> None:
        raise AssertionError(f"nothing here should be dead-lettered: {args}")

    inbox = EventSourcedInbox(
        consumer=CONSUMER, app=app, retry_base=0.0,
        react=react or (lambda delivery: app.react(delivery, inbox.entry_for(delivery))),
        dead_letters=DeadLetters(no_dead_letters, CONSUMER))
    return inbox


def _breaking_at(app: TasksApp, inbox_of: Any, nth: int, error: BaseException, times: int) -> Any:
    calls = {"n": 0}

    def react(delivery: Any) -> bool:
        calls["n"] += 1
        if calls["n"] >= nth and times > calls.setdefault("raised", 0):
            calls["raised"] += 1
            raise error
        return app.react(delivery, inbox_of().entry_for(delivery))

    return react


def _applied_exactly_once(app: TasksApp, events: list[ContractEvent]) -> None:
    for notice, claim in zip(events[::2], events[1::2], strict=True):
        first = app.task(task_id_for(notice.directive_id, "1"))
        second = app.task(task_id_for(notice.directive_id, "2"))
        assert (first.lead_unit_id, second.lead_unit_id) == ("BTG", "UBND")
        history = app.history(first.id)
        assert [type(e).__qualname__ for e in history] == ["Task.Assigned", "Task.ProgressRecorded"]
        assert history[1].report_id == claim.report_id
        assert [type(e).__qualname__ for e in app.history(second.id)] == ["Task.Assigned"]


async def test_a_batch_killed_half_way_records_nothing_and_is_applied_once_after(
        kafka_bootstrap: str, postgres_database: str, topic_name: str) -> None:
    events = _events()
    records = await _records(kafka_bootstrap, topic_name, events)
    ids = [decode(r.headers, r.value)[0].id for r in records]

    # 1. the process dies at the seventh reaction of the batch: nothing of it is recorded
    dying = TasksApp(env=store_env(postgres_database))
    holder: dict[str, EventSourcedInbox] = {}
    holder["inbox"] = _inbox(dying, _breaking_at(dying, lambda: holder["inbox"], 7, Killed(), 1))
    with pytest.raises(Killed):
        await holder["inbox"].handle(records)
    assert (dying.recorder.max_notification_id() or 0) == 0
    dying.close()

    # 2. restarted, the batch comes again (its offsets were never committed); a reaction
    # fails once half-way: the batch goes through one event at a time, each once
    restarted = TasksApp(env=store_env(postgres_database))
    holder["inbox"] = _inbox(restarted, _breaking_at(restarted, lambda: holder["inbox"], 5,
                                                     RuntimeError("the store hiccuped"), 1))
    await holder["inbox"].handle(records)
    _applied_exactly_once(restarted, events)
    head = restarted.recorder.max_notification_id()
    restarted.close()

    # 3. killed after the commit, before Kafka heard of it: the batch comes a third time
    again = TasksApp(env=store_env(postgres_database))
    await _inbox(again).handle(records)
    assert again.recorder.max_notification_id() == head
    _applied_exactly_once(again, events)
    assert recorder_of(again).inbox_seen(CONSUMER, ids) == set(ids)
    again.close()


async def test_a_batch_is_recorded_in_one_transaction(kafka_bootstrap: str, store_url: str,
                                                      topic_name: str) -> None:
    events = _events()
    records = await _records(kafka_bootstrap, topic_name, events)
    app = TasksApp(env=store_env(store_url))
    try:
        transactions: list[int] = []
        asked: list[Any] = []
        insert_events, get = app.recorder.insert_events, app.repository.get

        def counted(stored_events: Any, **kwargs: Any) -> Any:
            transactions.append(len(kwargs.get("inbox") or ()))
            return insert_events(stored_events, **kwargs)

        def counted_get(aggregate_id: Any, *args: Any, **kwargs: Any) -> Any:
            asked.append(aggregate_id)
            return get(aggregate_id, *args, **kwargs)

        app.recorder.insert_events = counted  # type: ignore[method-assign]
        app.repository.get = counted_get  # type: ignore[method-assign]
        await _inbox(app).handle(records)
        assert transactions == [len(events)]  # every reaction and every inbox entry at once
        # Each notice asks for its ledger (new: none) and for the administrator's calendar
        # (none here): the calendar once per batch, not once per notice; a claim finds its
        # task where the batch's own notice made it.
        assert len(asked) == len(set(asked)) == NOTICES + 1, asked
        app.repository.get = get  # type: ignore[method-assign]
        _applied_exactly_once(app, events)
        await _inbox(app).handle(records)  # redelivered: nothing new
        assert transactions == [len(events)]
        _applied_exactly_once(app, events)
    finally:
        app.close()

