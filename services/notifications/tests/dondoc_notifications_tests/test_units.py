"""Unit tests: the rules and the calendar, the texts, MIME, webhook signatures, the aggregate."""

from __future__ import annotations

import email
from datetime import date, datetime, time, timedelta, timezone
from email.policy import default as default_policy

import pytest

from dondoc_platform.calendar import WorkingCalendar
from dondoc_platform.clock import VN_TZ

from dondoc_notifications.adapters import channels
from dondoc_notifications.adapters.render import Templates
from dondoc_notifications.domain import rules as r
from dondoc_notifications.domain.notification import FAILED, PENDING, SENT, NotSendable, Notification

pytestmark = pytest.mark.unit

CAL = WorkingCalendar()
RULES = r.RuleSettings(escalate_after_days=30)


def _at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=VN_TZ)


def test_reminders_count_working_days_back_from_the_deadline_over_tet() -> None:
    # due Thursday 22 Feb 2018, just after Tết (14-20 Feb 2018 are days off)
    found = {o.rule: o.fire_at for o in r.task_occasions("t", date(2018, 2, 22), _at(date(2018, 1, 2)), CAL, RULES)}
    assert found["deadline_approaching_1"] == datetime(2018, 2, 21, 8, 0, tzinfo=VN_TZ)
    assert found["deadline_approaching_3"] == datetime(2018, 2, 12, 8, 0, tzinfo=VN_TZ)
    assert found["deadline_approaching_7"] == datetime(2018, 2, 6, 8, 0, tzinfo=VN_TZ)
    assert found["task_overdue"] == datetime(2018, 2, 23, 8, 0, tzinfo=VN_TZ)
    assert found["task_overdue_escalation"] == datetime(2018, 3, 26, 8, 0, tzinfo=VN_TZ)  # 24 Mar is a Saturday


def test_reminders_already_past_when_the_task_arrives_are_not_planned() -> None:
    found = [o.rule for o in r.task_occasions("t", date(2018, 6, 29), _at(date(2018, 6, 25)), CAL, RULES)]
    assert found == ["deadline_approaching_3", "deadline_approaching_1", "task_overdue", "task_overdue_escalation"]


def test_overdue_repeats_weekly_on_working_days_and_can_be_switched_off() -> None:
    weekly = r.weekly_overdue("t", date(2018, 4, 27), 1, CAL, RULES)
    # first overdue working day: Thursday 3 May (30 Apr, 1 May are holidays, 28-29 a weekend/holiday)
    assert r.first_overdue_notice(date(2018, 4, 27), CAL, RULES).date() == date(2018, 5, 2)
    assert weekly is not None and weekly.fire_at.date() == date(2018, 5, 9) and weekly.occurrence == 1
    assert r.weekly_overdue("t", date(2018, 4, 27), 1, CAL, r.RuleSettings(overdue_repeat_days=0)) is None


def test_occasion_keys_name_rule_subject_deadline_and_occurrence() -> None:
    one = r.Occasion("task_overdue_weekly", "task", "t-1", date(2018, 6, 29), _at(date(2018, 7, 9)), 1)
    assert one.key == "task_overdue_weekly|task:t-1|2018-06-29|1"
    moved = r.Occasion("task_overdue_weekly", "task", "t-1", date(2018, 7, 31), _at(date(2018, 7, 9)), 1)
    assert moved.key != one.key


def test_audiences_and_switches() -> None:
    assert r.audience("deadline_approaching_7") == (r.LEAD_UNIT, r.COOPERATING_UNIT)
    assert r.audience("task_overdue_escalation") == (r.OFFICE, r.LEADERSHIP)
    assert r.audience("report_missing") == (r.UNIT,)
    off = r.RuleSettings(disabled=frozenset({"deadline_approaching"}))
    assert not off.enabled("deadline_approaching_3") and off.enabled("task_overdue")


def test_digest_day_and_staleness() -> None:
    assert RULES.digest_day_for(_at(date(2018, 6, 20), 16)) == date(2018, 6, 20)
    assert RULES.digest_day_for(_at(date(2018, 6, 20), 17)) == date(2018, 6, 21)
    assert not r.is_stale(_at(date(2018, 6, 20)), _at(date(2018, 6, 22)), RULES)
    assert r.is_stale(_at(date(2018, 6, 20)), _at(date(2018, 6, 24)), RULES)


def _context(**extra):
    context = {"unit_name": "Ban Dân vận Tỉnh ủy", "office_name": "Văn phòng Tỉnh ủy", "link": "https://x/tasks/t",
               "notification_key_short": "abcd1234", "role_label": "đơn vị phối hợp", "days_before": "3",
               "task": {"directive_number": "125-TB/TU", "paragraph": "2.a", "title": "Tổng kết Chỉ thị 05",
                        "due_on": date(2018, 6, 29), "overdue_from": date(2018, 6, 30)},
               "payload": {}}
    context.update(extra)
    return context


def test_vietnamese_and_english_texts() -> None:
    vi = Templates(strict=True).render("deadline_approaching", "vi", _context())
    assert vi.subject == "[Đôn đốc] Còn 3 ngày làm việc đến hạn nhiệm vụ theo 125-TB/TU"
    assert "Thời hạn: Thứ Sáu, ngày 29/06/2018" in vi.text and "Vai trò của đơn vị: đơn vị phối hợp" in vi.text
    assert vi.line == "Còn 3 ngày làm việc đến hạn (29/06/2018): Tổng kết Chỉ thị 05 (125-TB/TU)"
    en = Templates(strict=True).render("deadline_approaching", "en", _context(role_label="cooperating unit"))
    assert en.subject == "[Reminder] 3 working day(s) left for a task under 125-TB/TU"
    assert "Deadline: Friday, 29 June 2018" in en.text


def test_every_rule_family_has_both_languages() -> None:
    templates = Templates(strict=True)
    for family in (*r.FAMILIES, r.DAILY_DIGEST):
        for language in ("vi", "en"):
            rendered = templates.render(family, language, _context(
                lines=[{"text": "một dòng", "link": "https://x"}], day=date(2018, 6, 20),
                report={"period_label": "Năm 2018", "due_on": date(2018, 11, 30)}, returned_lines=[],
                lead_unit_name="Ban Tuyên giáo", days_overdue=3, kind_label="gia hạn",
                payload={"approved": True, "decision_number": "1520-CV/TU", "decided_on": "2018-06-20",
                         "decider": "Thường trực Tỉnh ủy", "revision": 1, "comment": "Ý kiến",
                         "due_on": "2018-09-28"}))
            assert rendered.subject and rendered.text.strip()


def test_mime_encodes_headers_and_keeps_diacritics() -> None:
    config = channels.SmtpConfig(mail_from="dondoc@tinhuy.example.vn")
    message = channels.build_email(config, to="bdv@tinhuy.example.vn", subject="Nhắc hạn: Ủy ban Kiểm tra",
                                   text="Đề nghị đơn vị khẩn trương báo cáo.\n.dòng bắt đầu bằng dấu chấm\n",
                                   message_id="<x@tinhuy.example.vn>", date=datetime(2018, 6, 20, 1, tzinfo=timezone.utc),
                                   language="vi")
    raw = message.as_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert all(b < 128 for b in raw) and b"=?utf-8?" in head
    parsed = email.message_from_bytes(raw, policy=default_policy)
    assert parsed["Subject"] == "Nhắc hạn: Ủy ban Kiểm tra"
    assert parsed["From"].addresses[0].display_name == "Văn phòng Tỉnh ủy"
    assert parsed.get_content().splitlines()[1] == ".dòng bắt đầu bằng dấu chấm"


def test_webhook_signature_is_verifiable_and_tamper_evident() -> None:
    secret = "whsec_c2VjcmV0LWtleS1mb3ItdGVzdHM="
    body = '{"rule":"task_overdue","about":{"task_id":"t-1"}}'.encode()
    signature = channels.sign(secret, "msg-1", 1_530_000_000, body)
    headers = {"webhook-id": "msg-1", "webhook-timestamp": "1530000000", "webhook-signature": signature}
    assert channels.verify(secret, headers, body, now=1_530_000_010)
    assert not channels.verify(secret, headers, body + b" ", now=1_530_000_010)
    assert not channels.verify("whsec_b3RoZXI=", headers, body, now=1_530_000_010)
    assert not channels.verify(secret, headers, body, now=1_530_001_000)  # too old: a replay


def _notice() -> Notification:
    return Notification(key="k", rule="task_overdue", channel="email",
                        recipient={"unit_id": "BTG", "kind": "lead_unit", "address": "btg@x"},
                        about={"task_id": "t"}, message_id="<m@x>", due_at=_at(date(2018, 7, 2)), language="vi",
                        content={"subject": "s", "text": "t"}, planned_at=_at(date(2018, 7, 2)))


def test_a_notice_is_sent_once_and_its_id_comes_from_its_key() -> None:
    notice = _notice()
    assert notice.id == _notice().id
    notice.start_attempt(_at(date(2018, 7, 2)))
    notice.confirm_sent(_at(date(2018, 7, 2)))
    assert notice.state == SENT
    with pytest.raises(NotSendable):
        notice.start_attempt(_at(date(2018, 7, 3)))


def test_attempts_are_bounded() -> None:
    notice = _notice()
    later = _at(date(2018, 7, 2)) + timedelta(seconds=1)
    assert notice.attempt_failed("RCPT refused 451", at=later, retry_at=later, max_attempts=3) is False
    notice.start_attempt(later)
    assert notice.attempt_failed("451", at=later, retry_at=later, max_attempts=3) is False
    assert notice.state == PENDING and notice.attempts == 2
    assert notice.attempt_failed("451", at=later, retry_at=later, max_attempts=3) is True
    assert notice.state == FAILED and notice.attempts == 3
    permanent = _notice()
    assert permanent.attempt_failed("550 no such user", at=later, retry_at=later, max_attempts=8, permanent=True)
