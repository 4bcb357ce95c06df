"""The rules against changing facts, replays, and the API (query, resend, preferences, clock)."""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from dondoc_platform.auth import DevSigner
from dondoc_platform.clock import ManualClock

from . import facts as f
from .harness import caught_up, consumed, rows, running, settings_for
from .support import Upstream, until

pytestmark = pytest.mark.integration


@pytest.fixture
def signer(tmp_path, monkeypatch) -> DevSigner:
    monkeypatch.setenv("DONDOC_AUTH_JWKS_FILE", str(tmp_path / "jwks.json"))
    signer = DevSigner(tmp_path / "jwks.json")
    signer.ensure_key()
    return signer


def _client(service, signer: DevSigner, **claims) -> httpx.AsyncClient:
    token = signer.token(subject=claims.pop("subject", "someone"), **claims)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=service.api), base_url="http://notifications",
                             headers={"Authorization": f"Bearer {token}"})


async def _step(service, clock: ManualClock, day: date, hour: int = 8, minute: int = 5) -> None:
    clock.set(f.at(day, hour, minute))
    await until(lambda: caught_up(service), what=f"caught up at {clock.now()}")


async def test_facts_that_change_change_what_is_sent_and_replays_change_nothing(
        kafka_bootstrap, postgres_database, smtp, signer, monkeypatch) -> None:
    monkeypatch.setenv("DONDOC_KAFKA_BOOTSTRAP", kafka_bootstrap)
    settings = settings_for(postgres_database, smtp.port, deadline_reminder_days=[3, 1])
    clock = ManualClock(f.at(date(2018, 6, 1), 7))
    async with running(settings, clock) as service, Upstream(kafka_bootstrap, settings.topic_prefix) as up:
        btg = f.unit("BTG", "Ban Tuyên giáo Tỉnh ủy", emails=("btg@tinhuy.example.vn",))
        assigned = [f.task("t-done", date(2018, 6, 29)), f.task("t-moved", date(2018, 6, 29)),
                    f.task("t-secret", date(2018, 6, 29), secrecy="mat")]
        await up.send(btg, *assigned, f.report("r-1", "BTG", date(2018, 6, 15)))
        await up.send(*assigned)  # the same events again (another relay's replay): new ids, same facts
        await until(lambda: consumed(service) == 8, what="events consumed")
        await _step(service, clock, date(2018, 6, 8))
        await _step(service, clock, date(2018, 6, 12))
        await up.send(f.completed("t-done", date(2018, 6, 12)),
                      f.decided("req-1", "t-moved", "BTG", date(2018, 6, 12), approved=True, due=date(2018, 7, 6)))
        from dondoc_contracts import TaskDeadlineAdjusted
        from dondoc_contracts.values import AdjustmentKind, Decision

        await up.send(TaskDeadlineAdjusted(
            occurred_at=f.at(date(2018, 6, 12), 15, 5), actor=f.OFFICE, task_id="t-moved", lead_unit_id="BTG",
            kind=AdjustmentKind.EXTEND, previous_due_on=date(2018, 6, 29), due_on=date(2018, 7, 6),
            decision=Decision(number="1520-CV/TU", decided_on=date(2018, 6, 12), decider="Thường trực Tỉnh ủy")))
        await up.send(f.returned("r-1", "BTG", date(2018, 6, 12), "Báo cáo còn chung chung, chưa nêu sản phẩm"))
        await until(lambda: consumed(service) == 12, what="changes consumed")
        await _step(service, clock, date(2018, 6, 12), 16)
        for day in (date(2018, 6, 14), date(2018, 6, 18), date(2018, 6, 26), date(2018, 6, 28),
                    date(2018, 7, 2), date(2018, 7, 3), date(2018, 7, 5)):
            await _step(service, clock, day)
        before_resend = {r["message_id"]: r for r in rows(service)}

        # the API: what was sent for a task, a unit's own view, a resend, preferences, the clock
        async with _client(service, signer, roles=["office"]) as office, \
                _client(service, signer, roles=["unit"], unit_id="BTG") as btg_officer, \
                _client(service, signer, roles=["unit"], unit_id="BDV") as other_unit, \
                _client(service, signer, roles=["admin"]) as admin:
            moved = (await office.get("/tasks/t-moved/notifications")).json()["items"]
            assert [(n["rule"], n["due_on"]) for n in moved] == [
                ("adjustment_decided", "2018-07-06"), ("deadline_approaching_3", "2018-07-06"),
                ("deadline_approaching_1", "2018-07-06")]
            assert (await btg_officer.get("/units/BTG/notifications")).status_code == 200
            refused = await other_unit.get("/units/BTG/notifications")
            assert refused.status_code == 403 and refused.json()["error"]["message_en"]
            assert (await other_unit.get("/notifications")).json()["items"] == []
            detail = (await btg_officer.get(f"/notifications/{moved[1]['notification_id']}")).json()
            assert [step["event"] for step in detail["history"]] == ["Planned", "Dispatched", "Sent"]
            assert "Thời hạn: Thứ Sáu, ngày 06/07/2018" in detail["text"]
            again = await office.post(f"/notifications/{moved[1]['notification_id']}/resend",
                                      headers={"Idempotency-Key": "resend-1"})
            assert again.status_code == 202, again.text
            repeat = await office.post(f"/notifications/{moved[1]['notification_id']}/resend",
                                       headers={"Idempotency-Key": "resend-1"})
            assert repeat.json()["notification_id"] == again.json()["notification_id"]
            assert (await btg_officer.post(f"/notifications/{moved[1]['notification_id']}/resend")).status_code == 403
            await until(lambda: caught_up(service), what="the resend delivered")
            missing = await office.get("/notifications/00000000-0000-0000-0000-000000000000")
            assert missing.status_code == 404
            assert (await office.post("/admin/clock", json={"advance_seconds": 60})).status_code == 403
            moved_clock = await admin.post("/admin/clock", json={"advance_seconds": 3600})
            assert moved_clock.status_code == 200 and moved_clock.json()["manual"] is True
            backwards = await admin.post("/admin/clock", json={"set_to": "2018-01-01T00:00:00+07:00"})
            assert backwards.status_code == 409 and backwards.json()["error"]["field"] == "set_to"
            prefs = await btg_officer.put("/units/BTG/preferences", json={"daily_digest": True, "language": "en"})
            assert prefs.status_code == 200

    got = sorted((m.date.date().isoformat(), before_resend[m.message_id]["rule"],
                  before_resend[m.message_id]["task_id"] or before_resend[m.message_id]["report_id"])
                 for m in smtp.messages() if m.message_id in before_resend)
    assert got == [
        ("2018-06-08", "report_due_soon_5", "r-1"),
        ("2018-06-12", "adjustment_decided", "t-moved"),
        ("2018-06-12", "report_returned", "r-1"),
        ("2018-06-26", "deadline_approaching_3", "t-secret"),
        ("2018-06-28", "deadline_approaching_1", "t-secret"),
        ("2018-07-02", "task_overdue", "t-secret"),
        ("2018-07-03", "deadline_approaching_3", "t-moved"),
        ("2018-07-05", "deadline_approaching_1", "t-moved"),
    ]
    (resent_mail,) = [m for m in smtp.messages() if m.message_id not in before_resend]
    assert resent_mail.rule == "deadline_approaching_3"
    returned_mail = next(m for m in smtp.messages() if m.rule == "report_returned")
    assert "Báo cáo còn chung chung, chưa nêu sản phẩm" in returned_mail.message.get_content()
    decision_mail = next(m for m in smtp.messages() if m.rule == "adjustment_decided")
    assert "Đồng ý đề nghị gia hạn" in decision_mail.message["Subject"]
    assert "Thời hạn mới: ngày 06/07/2018" in decision_mail.message.get_content()
    secret = [m for m in smtp.messages() if "t-secret" in m.message.get_content()]
    assert secret and all(f.CONTENT not in m.message.get_content() for m in secret)
    assert all("Nhiệm vụ có độ mật" in m.message.get_content() for m in secret)
    resent = [r for r in rows(service) if r["resend_of"]]
    assert len(resent) == 1 and resent[0]["state"] == "sent"
    assert resent[0]["message_id"] == resent_mail.message_id


async def test_a_webhook_url_is_shown_only_to_the_office_and_admin(
        kafka_bootstrap, postgres_database, smtp, hooks, signer, monkeypatch) -> None:
    monkeypatch.setenv("DONDOC_KAFKA_BOOTSTRAP", kafka_bootstrap)
    settings = settings_for(postgres_database, smtp.port, deadline_reminder_days=[3])
    clock = ManualClock(f.at(date(2018, 6, 1), 7))
    hook = f"{hooks.base}/mttq"
    async with running(settings, clock) as service, Upstream(kafka_bootstrap, settings.topic_prefix) as up:
        await up.send(f.unit("BTG", "Ban Tuyên giáo Tỉnh ủy", emails=("btg@tinhuy.example.vn",)),
                      f.unit("MTTQ", "Ủy ban MTTQ Việt Nam tỉnh", webhook=hook),
                      f.task("t-1", date(2018, 6, 29), cooperating=("MTTQ",)))
        await until(lambda: consumed(service) == 3, what="events consumed")
        await _step(service, clock, date(2018, 6, 26))
        await until(lambda: {r["channel"] for r in rows(service)} == {"email", "webhook"},
                    what="the reminder planned by mail and by webhook")
        webhook_id = next(r["notification_id"] for r in rows(service) if r["channel"] == "webhook")
        for claims in ({"roles": ["office"]}, {"roles": ["admin"]}):
            async with _client(service, signer, **claims) as keeper:
                listed = (await keeper.get("/tasks/t-1/notifications")).json()["items"]
                assert {n["channel"]: n["address"] for n in listed} == {
                    "email": "btg@tinhuy.example.vn", "webhook": hook}
                assert (await keeper.get(f"/notifications/{webhook_id}")).json()["address"] == hook
        for claims in ({"roles": ["leader"]}, {"roles": ["auditor"]}, {"roles": ["unit"], "unit_id": "MTTQ"}):
            async with _client(service, signer, **claims) as reader:
                for path in ("/tasks/t-1/notifications", "/units/MTTQ/notifications",
                             f"/notifications/{webhook_id}"):
                    answer = await reader.get(path)
                    assert answer.status_code == 200 and hook not in answer.text, (claims, path)
                listed = (await reader.get("/tasks/t-1/notifications")).json()["items"]
                assert all("address" not in n for n in listed if n["channel"] == "webhook")
                if "unit_id" not in claims:
                    assert [n["address"] for n in listed if n["channel"] == "email"] == ["btg@tinhuy.example.vn"]
