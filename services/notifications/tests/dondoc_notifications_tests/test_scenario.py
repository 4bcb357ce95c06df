"""The controllable-clock scenario: the right mails reach a real SMTP server on the right
days, in Vietnamese with proper MIME; webhooks signed; NotificationSent on the real broker."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from dondoc_contracts import decode
from dondoc_platform.clock import VN_TZ, ManualClock

from dondoc_notifications.adapters.channels import verify

from . import facts as f
from .harness import caught_up, consumed, rows, running, settings_for
from .support import Upstream, read_topic, until

pytestmark = pytest.mark.integration

SECRET = "whsec_ZG9uZG9jLXRlc3Qtc2VjcmV0LWtleS0zMmJ5dGVzISE="


async def test_reminders_overdue_and_escalation_arrive_on_their_days(
        kafka_bootstrap, postgres_database, smtp, hooks, monkeypatch) -> None:
    monkeypatch.setenv("DONDOC_KAFKA_BOOTSTRAP", kafka_bootstrap)
    settings = settings_for(postgres_database, smtp.port, escalate_after_days=12)
    clock = ManualClock(f.at(date(2018, 6, 1), 7))
    async with running(settings, clock) as service, Upstream(kafka_bootstrap, settings.topic_prefix) as up:
        await up.send(
            f.unit("BTG", "Ban Tuyên giáo Tỉnh ủy", emails=("btg@tinhuy.example.vn",),
                   leadership=("truongban.btg@tinhuy.example.vn",)),
            f.unit("BDV", "Ban Dân vận Tỉnh ủy", emails=("bdv@tinhuy.example.vn",), digest=True),
            f.unit("MTTQ", "Ủy ban MTTQ Việt Nam tỉnh", webhook=f"{hooks.base}/mttq"),
            f.task("t-1", date(2018, 6, 29), cooperating=("BDV", "MTTQ")),
            f.report("r-1", "BTG", date(2018, 6, 15)),
        )
        await until(lambda: consumed(service) == 5, what="the five upstream events consumed")
        day = date(2018, 6, 1)
        while day <= date(2018, 7, 13):
            for hour, minute in ((8, 5), (16, 35)):
                clock.set(f.at(day, hour, minute))
                await until(lambda: caught_up(service), what=f"caught up at {clock.now()}")
            day += timedelta(days=1)
        relayed = await _published(kafka_bootstrap, settings.topic("notifications"), service)

    got = sorted((m.date.astimezone(VN_TZ).date(), m.rule, m.recipients[0]) for m in smtp.messages())
    expected = sorted([
        (date(2018, 6, 8), "report_due_soon_5", "btg@tinhuy.example.vn"),
        (date(2018, 6, 14), "report_due_soon_1", "btg@tinhuy.example.vn"),
        (date(2018, 6, 18), "report_missing", "btg@tinhuy.example.vn"),
        (date(2018, 6, 20), "deadline_approaching_7", "btg@tinhuy.example.vn"),
        (date(2018, 6, 20), "daily_digest", "bdv@tinhuy.example.vn"),
        (date(2018, 6, 26), "deadline_approaching_3", "btg@tinhuy.example.vn"),
        (date(2018, 6, 26), "daily_digest", "bdv@tinhuy.example.vn"),
        (date(2018, 6, 28), "deadline_approaching_1", "btg@tinhuy.example.vn"),
        (date(2018, 6, 28), "daily_digest", "bdv@tinhuy.example.vn"),
        (date(2018, 7, 2), "task_overdue", "btg@tinhuy.example.vn"),
        (date(2018, 7, 9), "task_overdue_weekly", "btg@tinhuy.example.vn"),
        (date(2018, 7, 11), "task_overdue_escalation", "truongban.btg@tinhuy.example.vn"),
        (date(2018, 7, 11), "task_overdue_escalation", "vanphong@tinhuy.example.vn"),
    ])
    assert got == expected

    # the webhook of the cooperating Front got the three reminders, signed
    mttq = hooks.hits("/mttq")
    assert [h.json["rule"] for h in mttq] == ["deadline_approaching_7", "deadline_approaching_3",
                                              "deadline_approaching_1"]
    for hit in mttq:
        assert verify(SECRET, hit.headers, hit.body)
        assert not verify(SECRET, hit.headers, hit.body.replace(b"125", b"126"))
    assert mttq[0].json["about"] == {"task_id": "t-1", "directive_number": "125-TB/TU", "due_on": "2018-06-29"}

    # Vietnamese text, diacritics intact (sent NFD, delivered NFC), proper MIME
    first = next(m for m in smtp.messages() if m.rule == "deadline_approaching_7")
    message = first.message
    assert message["Subject"] == "[Đôn đốc] Còn 7 ngày làm việc đến hạn nhiệm vụ theo 125-TB/TU"
    raw_headers = first.raw.split(b"\r\n\r\n", 1)[0]
    assert b"=?utf-8?" in raw_headers.lower() and all(b < 128 for b in raw_headers)
    assert message.get_content_type() == "text/plain" and message.get_content_charset() == "utf-8"
    assert message["Content-Transfer-Encoding"] == "quoted-printable"
    body = message.get_content()
    assert f.CONTENT in body  # NFC, whatever form it came in
    assert "Văn bản giao: 125-TB/TU, mục 2.a" in body
    assert "Thời hạn: Thứ Sáu, ngày 29/06/2018" in body
    assert "Vai trò của đơn vị: đơn vị chủ trì" in body
    assert "https://dondoc.tinhuy.example.vn/tasks/t-1" in body
    assert str(message["From"]) == "Văn phòng Tỉnh ủy <dondoc@tinhuy.example.vn>"
    digest = next(m for m in smtp.messages() if m.rule == "daily_digest")
    assert "Ban Dân vận Tỉnh ủy" in digest.message.get_content()
    assert "Còn 7 ngày làm việc đến hạn (29/06/2018)" in digest.message.get_content()

    # every send is on the record, and on the broker, with its message id
    sent = rows(service, state="sent")
    assert len(sent) == len(expected) + len(mttq)
    assert {m.message_id for m in smtp.messages()} <= {r["message_id"] for r in sent}
    assert sorted(e["message_id"] for e in relayed) == sorted(r["message_id"] for r in sent)
    digest_events = [e for e in relayed if e["rule"] == "daily_digest"]
    assert all(len(e["covers"]) == 1 and e["covers"][0]["rule"].startswith("deadline_approaching")
               for e in digest_events)


async def _published(bootstrap: str, topic: str, service) -> list[dict]:
    """Every NotificationSent the relay put on the broker (waits until all recorded are there)."""
    return await read_topic(bootstrap, topic, len(rows(service, state="sent")),
                            lambda r: json.loads(decode(r.headers, r.value)[1].model_dump_json()))
