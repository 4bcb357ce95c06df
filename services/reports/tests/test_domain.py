"""The reports domain in memory: obligations, recurring frequencies, the report's life."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone

import pytest

from dondoc_contracts import ReportOverdue, ReportReviewed, ReportSubmitted, decode, encode, envelope_for
from dondoc_platform.errors import DomainError
from dondoc_platform.names import match_key
from dondoc_reports.adapters.translate import translate
from dondoc_reports.domain.obligations import TaskFacts, obligations, report_days
from dondoc_reports.domain.report import Report

pytestmark = pytest.mark.unit

NOW = datetime(2018, 6, 20, 3, tzinfo=timezone.utc)
ACTOR = {"id": "btg.b", "role": "unit", "unit_id": "BTG"}
PERIOD = {"kind": "half_year", "label": "6 tháng 2018", "starts_on": date(2018, 1, 1),
          "ends_on": date(2018, 6, 30)}


def task(task_id: str, unit: str = "BTG", **kw) -> TaskFacts:
    return TaskFacts(task_id=task_id, lead_unit_id=unit, assigned_on=kw.pop("assigned_on", date(2018, 3, 1)),
                     deadline_kind=kw.pop("deadline_kind", "date"), **kw)


@pytest.mark.parametrize(("frequency", "start", "end", "days"), [
    ("monthly", date(2018, 1, 1), date(2018, 3, 31), [date(2018, 1, 31), date(2018, 2, 28), date(2018, 3, 31)]),
    ("quarterly", date(2018, 1, 1), date(2018, 6, 30), [date(2018, 3, 31), date(2018, 6, 30)]),
    ("quarterly", date(2018, 4, 1), date(2018, 5, 31), []),
    ("half_yearly", date(2018, 1, 1), date(2018, 12, 31), [date(2018, 6, 30), date(2018, 12, 31)]),
    ("yearly", date(2018, 1, 1), date(2018, 6, 30), []),
    ("yearly", date(2018, 11, 1), date(2019, 1, 31), [date(2018, 12, 31)]),
    ("monthly", date(2020, 2, 15), date(2020, 2, 29), [date(2020, 2, 29)]),
])
def test_a_recurring_frequency_owes_a_report_at_each_interval_end(frequency, start, end, days) -> None:
    assert report_days(frequency, start, end) == days


def test_obligations_come_from_open_and_recurring_tasks_at_the_cutoff() -> None:
    tasks = [
        task("open"), task("none", deadline_kind="none"),
        task("done", completed_on=date(2018, 6, 1)),
        task("done_after_cutoff", completed_on=date(2018, 6, 20)),
        task("withdrawn", withdrawn_on=date(2018, 5, 2)),
        task("late_assigned", assigned_on=date(2018, 6, 16)),
        task("quarterly", deadline_kind="recurring", frequency="quarterly"),
        task("yearly", deadline_kind="recurring", frequency="yearly"),
        task("other", unit="BDV"),
    ]
    owed = obligations(tasks, starts_on=date(2018, 1, 1), ends_on=date(2018, 6, 30),
                       cutoff=date(2018, 6, 15))
    assert owed == {"BDV": ["other"], "BTG": ["done_after_cutoff", "none", "open", "quarterly"]}


def _report() -> Report:
    return Report(cycle_id=uuid.uuid4(), unit_id="BTG", unit_name="Ban Tuyên giáo",
                  review_group="Xây dựng Đảng", period=PERIOD, data_cutoff_on=date(2018, 6, 15),
                  due_on=date(2018, 6, 25), task_ids=["t1"], actor=ACTOR, at=NOW)


LINE = {"task_id": "t1", "status_claimed": "completed", "completed_on": date(2018, 6, 10),
        "progress": "Xong", "proposal": "none"}
TASKS = {"t1": task("t1", due_on=date(2018, 7, 2))}


def test_a_report_is_returned_resubmitted_and_accepted_keeping_its_first_day() -> None:
    report = _report()
    report.submit(lines=[LINE], summary=None, tasks=TASKS, required=["t1"], actor=ACTOR, at=NOW,
                  submitted_on=date(2018, 6, 20))
    with pytest.raises(DomainError, match="awaiting"):
        report.submit(lines=[LINE], summary=None, tasks=TASKS, required=["t1"], actor=ACTOR, at=NOW,
                      submitted_on=date(2018, 6, 20))
    returned = {"task_id": "t1", "verdict": "returned", "quality": "generic"}
    assert report.review(revision=1, assessments=[returned], comment=None, actor=ACTOR, at=NOW,
                         reviewed_on=date(2018, 6, 21)) == "returned"
    report.submit(lines=[LINE], summary="Bổ sung", tasks=TASKS, required=["t1"], actor=ACTOR, at=NOW,
                  submitted_on=date(2018, 6, 28))
    accepted = {"task_id": "t1", "verdict": "accepted", "quality": "specific",
                "completion_confirmed": True}
    assert report.review(revision=2, assessments=[accepted], comment=None, actor=ACTOR, at=NOW,
                         reviewed_on=date(2018, 6, 29)) == "accepted"
    assert report.first_submitted_on == date(2018, 6, 20) and report.revision == 2
    assert report.reviews[-1]["lines"][0]["completed_on"] == date(2018, 6, 10)
    assert report.mark_overdue(datetime(2018, 6, 26, tzinfo=timezone.utc)) is False
    with pytest.raises(DomainError, match="accepted"):
        report.submit(lines=[LINE], summary=None, tasks=TASKS, required=["t1"], actor=ACTOR, at=NOW,
                      submitted_on=date(2018, 6, 30))


def test_overdue_is_marked_once() -> None:
    report = _report()
    moment = datetime(2018, 6, 25, 17, tzinfo=timezone.utc)
    assert report.mark_overdue(moment) is True
    assert report.mark_overdue(moment) is False
    assert len([e for e in report.collect_events() if isinstance(e, Report.MarkedOverdue)]) == 1


def test_each_public_event_survives_the_wire() -> None:
    report = _report()
    report.mark_overdue(datetime(2018, 6, 25, 17, tzinfo=timezone.utc))
    report.submit(lines=[LINE], summary=None, tasks=TASKS, required=["t1"], actor=ACTOR, at=NOW,
                  submitted_on=date(2018, 6, 27))
    report.review(revision=1, comment="Tốt", actor=ACTOR, at=NOW, reviewed_on=date(2018, 6, 28),
                  assessments=[{"task_id": "t1", "verdict": "accepted", "quality": "specific"}])
    published = [translate(e) for e in report.collect_events()]
    kinds = [type(e).__name__ for e in published if e is not None]
    assert kinds == ["ReportRequested", "ReportOverdue", "ReportSubmitted", "ReportReviewed"]
    for position, event in enumerate(e for e in published if e is not None):
        _, value, headers = encode(event, envelope_for(event, position=position + 1))
        _, back = decode(headers, value)
        assert back == event
    overdue = next(e for e in published if isinstance(e, ReportOverdue))
    assert overdue.overdue_at == overdue.occurred_at and overdue.due_on == date(2018, 6, 25)
    assert next(e for e in published if isinstance(e, ReportSubmitted)).lines[0].completed_on == date(2018, 6, 10)
    assert next(e for e in published if isinstance(e, ReportReviewed)).outcome.value == "accepted"


@pytest.mark.parametrize("spelling", [
    "Kinh tế - xã hội", "kinh tế – xã hội", "KINH TẾ  -  XÃ HỘI", "Kinh tế-xã hội",
    "Kinh te\u0302\u0301 - xa\u0303 ho\u0323\u0302i",
])
def test_review_group_spellings_match(spelling: str) -> None:
    assert match_key(spelling) == match_key("Kinh tế - xã hội")
    assert match_key(spelling) != match_key("Mặt trận, đoàn thể")
