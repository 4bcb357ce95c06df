"""Failure paths against the real broker, PostgreSQL, SMTP and HTTP servers: an SMTP outage
delays mail and loses none; a webhook answering 500 is retried; one that keeps failing ends
in NotificationFailed and a metric; a malformed or unknown event goes to the DLQ, sends nothing."""

from __future__ import annotations

from datetime import date

import pytest
from prometheus_client import REGISTRY

from dondoc.dev.process import free_port
from dondoc_contracts import decode, dlq_topic
from dondoc_platform.clock import ManualClock

from . import facts as f
from .harness import caught_up, consumed, rows, running, settings_for
from .support import SmtpServer, Upstream, WebhookServer, read_topic, until

pytestmark = pytest.mark.integration


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_mail_waits_while_the_smtp_server_is_down_then_goes_out(
        kafka_bootstrap, postgres_database, monkeypatch) -> None:
    monkeypatch.setenv("DONDOC_KAFKA_BOOTSTRAP", kafka_bootstrap)
    smtp = SmtpServer(free_port())  # not started: the mail relay is down
    settings = settings_for(postgres_database, smtp.port, max_attempts=2)
    clock = ManualClock(f.at(date(2018, 6, 20), 7))
    async with running(settings, clock) as service, Upstream(kafka_bootstrap, settings.topic_prefix) as up:
        await up.send(*[f.unit(f"U{i}", f"Đơn vị {i}", emails=(f"u{i}@tinhuy.example.vn",)) for i in range(5)])
        await up.send(*[f.task(f"t-{i}", date(2018, 6, 29), lead=f"U{i}") for i in range(5)])
        await until(lambda: consumed(service) == 10, what="events consumed")
        clock.set(f.at(date(2018, 6, 20), 8, 5))
        await until(lambda: len(rows(service)) == 5, what="five notices recorded")
        await until(lambda: _metric("dondoc_notifications_channel_up", channel="email") == 0,
                    what="the channel seen down")
        # many delivery rounds pass while the server is away; attempts are not used up
        rounds = service.parts["deliverer"]._smtp_failures
        await until(lambda: service.parts["deliverer"]._smtp_failures >= rounds + 3,
                    what="several tries at the channel")
        assert {r["state"] for r in rows(service)} == {"pending"}
        assert {r["attempts"] for r in rows(service)} == {0}
        smtp.start()
        try:
            await until(lambda: smtp.count() == 5 and caught_up(service), what="the mail out after the outage")
        finally:
            smtp.stop()
    assert sorted(m.recipients[0] for m in smtp.messages()) == [f"u{i}@tinhuy.example.vn" for i in range(5)]
    assert {r["state"] for r in rows(service)} == {"sent"}


async def test_a_webhook_answering_500_is_retried_and_one_that_keeps_failing_is_recorded_failed(
        kafka_bootstrap, postgres_database, monkeypatch) -> None:
    monkeypatch.setenv("DONDOC_KAFKA_BOOTSTRAP", kafka_bootstrap)
    hooks = WebhookServer().start()
    hooks.statuses["/flaky"] = [500, 503, 200]
    hooks.statuses["/broken"] = [500]
    settings = settings_for(postgres_database, free_port(), max_attempts=4)
    clock = ManualClock(f.at(date(2018, 6, 20), 7))
    failed_before = _metric("dondoc_notifications_failed_total", channel="webhook", rule="deadline_approaching_7")
    try:
        async with running(settings, clock) as service, Upstream(kafka_bootstrap, settings.topic_prefix) as up:
            await up.send(f.unit("FLAKY", "Sở Nội vụ", webhook=f"{hooks.base}/flaky"),
                          f.unit("BROKEN", "Sở Tư pháp", webhook=f"{hooks.base}/broken"),
                          f.task("t-flaky", date(2018, 6, 29), lead="FLAKY"),
                          f.task("t-broken", date(2018, 6, 29), lead="BROKEN"))
            await until(lambda: consumed(service) == 4, what="events consumed")
            clock.set(f.at(date(2018, 6, 20), 8, 5))
            await until(lambda: {r["state"] for r in rows(service)} == {"sent", "failed"}
                        and len(rows(service)) == 2, what="one sent, one failed")
            failures = await _events(kafka_bootstrap, settings.topic("notifications"), 2)
    finally:
        hooks.stop()
    flaky, broken = hooks.hits("/flaky"), hooks.hits("/broken")
    assert len(flaky) == 3 and len(broken) == 4
    assert len({h.headers["webhook-id"] for h in flaky}) == 1, "a retry keeps its delivery id"
    (sent,) = rows(service, state="sent")
    (failed,) = rows(service, state="failed")
    assert sent["task_id"] == "t-flaky" and sent["attempts"] == 3
    assert failed["task_id"] == "t-broken" and failed["attempts"] == 4
    assert failed["last_error"] == "HTTP 500 Internal Server Error"
    assert _metric("dondoc_notifications_failed_total", channel="webhook",
                   rule="deadline_approaching_7") == failed_before + 1
    by_type = {type(e).__name__: e for e in failures}
    assert by_type["NotificationFailed"].attempts == 4
    assert by_type["NotificationFailed"].about.task_id == "t-broken"
    assert by_type["NotificationSent"].message_id == flaky[0].headers["webhook-id"]


async def test_malformed_and_unknown_events_go_to_the_dead_letter_topic_and_send_nothing(
        kafka_bootstrap, postgres_database, monkeypatch) -> None:
    monkeypatch.setenv("DONDOC_KAFKA_BOOTSTRAP", kafka_bootstrap)
    smtp = SmtpServer(free_port()).start()
    settings = settings_for(postgres_database, smtp.port)
    clock = ManualClock(f.at(date(2018, 6, 20), 8, 30))
    good = f.task("t-ok", date(2018, 6, 29))
    from dondoc_contracts import encode, envelope_for

    _, value, headers = encode(good, envelope_for(good, position=9001))
    unknown = [(k, b"vn.dondoc.task.teleported.v1" if k == "ce_type" else v) for k, v in headers]
    invalid = [(k, v) for k, v in headers if k != "ce_id"] + [("ce_id", b"bad-1")]
    try:
        async with running(settings, clock) as service, Upstream(kafka_bootstrap, settings.topic_prefix) as up:
            await up.send(f.unit("BTG", "Ban Tuyên giáo Tỉnh ủy", emails=("btg@tinhuy.example.vn",)))
            await up.send_raw("dondoc.tasks.v1", b"{not json", headers, key=b"t-ok")
            await up.send_raw("dondoc.tasks.v1", value, unknown, key=b"t-ok")
            await up.send_raw("dondoc.tasks.v1", value.replace(b'"lead_unit_id":"BTG"', b'"lead_unit_id":7'),
                              invalid, key=b"t-ok")
            dead = await _dead_letters(kafka_bootstrap, dlq_topic(settings.topic("tasks")), 3)
            await until(lambda: consumed(service) == 1 and caught_up(service), what="the good event applied")
            assert rows(service) == [] and smtp.count() == 0
            assert service.parts["planner"].next_moment() is None
    finally:
        smtp.stop()
    assert sorted(d["dlq_reason"] for d in dead) == ["invalid_json", "unknown_type", "validation_failed"]
    assert all(d["dlq_origin_topic"] == settings.topic("tasks") for d in dead)


async def _events(bootstrap: str, topic: str, expected: int) -> list:
    return await read_topic(bootstrap, topic, expected, lambda r: decode(r.headers, r.value)[1])


async def _dead_letters(bootstrap: str, topic: str, expected: int) -> list[dict[str, str]]:
    return await read_topic(bootstrap, topic, expected, lambda r: {k: v.decode() for k, v in r.headers})
