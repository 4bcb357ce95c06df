"""The task lifecycle driven by other services' events: one task per assigned item (a replay
creates nothing twice), a unit's claim is not a completion, the review team's confirmation
is, adjustments follow decisions, revocation withdraws open tasks, history carries over."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from dondoc_contracts import (
    AdjustmentDecided,
    DirectiveAmended,
    DirectiveRevoked,
    ReportReviewed,
    ReportSubmitted,
)
from dondoc_contracts.values import (
    AdjustmentKind,
    ClaimedStatus,
    Decision,
    LineAssessment,
    Quality,
    ReportLine,
    Verdict,
)
from dondoc_platform.clock import VN_TZ, ManualClock
from dondoc_platform.eventstore import InboxEntry, store_env
from dondoc_tasks.application.commands import ConfirmCompletion
from dondoc_tasks.application.tasks_app import TasksApp
from dondoc_tasks.domain.tasks import task_id_for

from .support import OFFICE, at, by_date, delivery, issued, item

pytestmark = pytest.mark.unit

DECISION = Decision(number="1520-CV/TU", decided_on=date(2018, 6, 20), decider="Thường trực Tỉnh ủy")


@pytest.fixture
def app():
    application = TasksApp(env=store_env("sqlite:///:memory:"),
                           clock=ManualClock(datetime(2019, 3, 1, tzinfo=VN_TZ)))
    yield application
    application.close()


def react(app: TasksApp, event) -> bool:
    d = delivery(event)
    return app.react(d, InboxEntry("tasks", d.event_id, d.topic, d.partition, d.offset))


def test_one_task_per_assigned_item_and_a_replay_changes_nothing(app: TasksApp) -> None:
    event = issued([item("1", "UBND", by_date(date(2018, 6, 30))),
                    item("2", "BTG", by_date(date(2018, 9, 28))),
                    item("3", None, by_date(date(2018, 9, 28)))])  # unassigned: no task
    d = delivery(event)
    entry = InboxEntry("tasks", d.event_id, d.topic, d.partition, d.offset)
    assert app.react(d, entry)
    head = app.recorder.max_notification_id()
    assert app.react(d, entry) is False                      # the same message again
    react(app, event)                                        # the same directive, another message
    assert app.recorder.max_notification_id() == head
    assert app.task(task_id_for(event.directive_id, "1")).lead_unit_id == "UBND"
    assert app.task(task_id_for(event.directive_id, "2")).due_on == date(2018, 9, 28)
    from dondoc_platform.errors import DomainError

    with pytest.raises(DomainError):
        app.task(task_id_for(event.directive_id, "3"))


def _report(kind, task_id: str, unit: str = "BTG", **line):
    if kind is ReportSubmitted:
        return ReportSubmitted(occurred_at=at(date(2018, 11, 28)), actor=OFFICE, report_id="r1",
                               cycle_id="c1", unit_id=unit, submitted_on=date(2018, 11, 28),
                               lines=(ReportLine(task_id=task_id, **line),))
    return ReportReviewed(occurred_at=at(date(2018, 12, 10)), actor=OFFICE, report_id="r1",
                          cycle_id="c1", unit_id=unit, outcome=Verdict.ACCEPTED,
                          reviewed_on=date(2018, 12, 10),
                          lines=(LineAssessment(task_id=task_id, **line),))


def test_a_claim_made_while_open_is_kept_when_it_arrives_after_the_completion(
        app: TasksApp) -> None:
    event = issued([item("1", "BTG", by_date(date(2018, 12, 31)))])
    react(app, event)
    task_id = str(task_id_for(event.directive_id, "1"))
    app.confirm_completion(task_id, ConfirmCompletion(completed_on=date(2018, 12, 3)), OFFICE)
    # the unit's report of 28/11 reaches the tasks service after the office's confirmation
    assert react(app, _report(ReportSubmitted, task_id, status_claimed=ClaimedStatus.IN_PROGRESS,
                              progress="Đang hoàn thiện"))
    task = app.task(task_id)
    assert (task.state, task.completed_on, task.last_progress_on) == (
        "completed", date(2018, 12, 3), date(2018, 11, 28))
    head = app.recorder.max_notification_id()
    later = ReportSubmitted(occurred_at=at(date(2018, 12, 6)), actor=OFFICE, report_id="r2",
                            cycle_id="c2", unit_id="BTG", submitted_on=date(2018, 12, 6),
                            lines=(ReportLine(task_id=task_id, status_claimed=ClaimedStatus.IN_PROGRESS),))
    react(app, later)
    assert app.recorder.max_notification_id() == head  # made after it closed: nothing recorded


def test_a_claim_is_not_a_completion_the_review_teams_acceptance_is(app: TasksApp) -> None:
    event = issued([item("1", "BTG", by_date(date(2018, 6, 30)))])
    react(app, event)
    task_id = str(task_id_for(event.directive_id, "1"))
    assert react(app, _report(ReportSubmitted, task_id, status_claimed=ClaimedStatus.COMPLETED,
                              completed_on=date(2018, 6, 28)))
    assert app.task(task_id).state == "open"
    head = app.recorder.max_notification_id()
    react(app, _report(ReportSubmitted, task_id, unit="BDV", status_claimed=ClaimedStatus.COMPLETED))
    assert app.recorder.max_notification_id() == head        # not BDV's task: nothing recorded
    returned = _report(ReportReviewed, task_id, verdict=Verdict.RETURNED, quality=Quality.GENERIC)
    react(app, returned)
    assert app.task(task_id).state == "open"
    accepted = _report(ReportReviewed, task_id, verdict=Verdict.ACCEPTED, quality=Quality.SPECIFIC,
                       completion_confirmed=True, completed_on=date(2018, 6, 28))
    assert react(app, accepted)
    task = app.task(task_id)
    assert (task.state, task.completed_on) == ("completed", date(2018, 6, 28))


def test_adjustment_decisions_and_revocation(app: TasksApp) -> None:
    event = issued([item("1", "BTG", by_date(date(2018, 6, 30))),
                    item("2", "BDV", by_date(date(2018, 6, 30))),
                    item("3", "UBND", by_date(date(2018, 6, 30)))])
    react(app, event)
    t1, t2, t3 = (str(task_id_for(event.directive_id, i)) for i in "123")
    decided = AdjustmentDecided(occurred_at=at(date(2018, 6, 20)), actor=OFFICE, request_id="q1",
                                task_id=t1, unit_id="BTG", kind=AdjustmentKind.EXTEND,
                                approved=True, due_on=date(2018, 9, 29), decision=DECISION)
    assert react(app, decided)
    assert (app.task(t1).due_on, app.task(t1).original_due_on) == (date(2018, 10, 1), date(2018, 7, 2))
    rejected = decided.model_copy(update={"task_id": t2, "request_id": "q2", "approved": False})
    react(app, rejected)
    assert app.task(t2).due_on == date(2018, 7, 2)
    react(app, _report(ReportReviewed, t3, unit="UBND", verdict=Verdict.ACCEPTED,
                       quality=Quality.SPECIFIC, completion_confirmed=True,
                       completed_on=date(2018, 6, 1)))
    revoked = DirectiveRevoked(occurred_at=at(date(2018, 9, 3)), actor=OFFICE,
                               directive_id=event.directive_id, number=event.number,
                               reason="Thay thế", decision=DECISION.model_copy(
                                   update={"decided_on": date(2018, 9, 3)}))
    assert react(app, revoked)
    assert [app.task(t).state for t in (t1, t2, t3)] == ["withdrawn", "withdrawn", "completed"]


def test_an_amendment_adds_reassigns_moves_and_removes(app: TasksApp) -> None:
    event = issued([item("1", "BTG", by_date(date(2018, 6, 30))),
                    item("2", "BDV", by_date(date(2018, 6, 30)))])
    react(app, event)
    amended = DirectiveAmended(
        occurred_at=at(date(2018, 4, 2)), actor=OFFICE, directive_id=event.directive_id,
        number=event.number, decision=DECISION.model_copy(update={"decided_on": date(2018, 4, 2)}),
        items_added=(item("3", "MTTQ", by_date(date(2018, 12, 31))),),
        items_changed=(item("1", "BDV", by_date(date(2018, 8, 31))),),
        items_removed=("2",))
    assert react(app, amended)
    t1 = app.task(task_id_for(event.directive_id, "1"))
    assert (t1.lead_unit_id, t1.due_on, t1.original_due_on) == ("BDV", date(2018, 8, 31),
                                                                date(2018, 7, 2))
    assert app.task(task_id_for(event.directive_id, "2")).state == "withdrawn"
    t3 = app.task(task_id_for(event.directive_id, "3"))
    assert (t3.assigned_on, t3.due_on) == (date(2018, 4, 2), date(2019, 1, 2))
    kinds = [type(e).__name__ for e in app.history(t1.id)]
    assert kinds == ["Assigned", "ContentAmended", "Reassigned", "DeadlineAdjusted"]


def test_the_latest_claim_is_the_latest_by_its_date_whatever_order_the_reports_arrive_in(
        app: TasksApp) -> None:
    """Each report is its own aggregate, so an older report may reach this service after a
    newer one (a resumed import, another partition): its claim joins the history, but the
    task and the board keep showing the newer claim."""
    import sqlalchemy as sa

    from dondoc_platform.projection import sql_engine
    from dondoc_tasks.projections import board

    event = issued([item("1", "BTG", by_date(date(2019, 12, 31)))])
    react(app, event)
    task_id = str(task_id_for(event.directive_id, "1"))

    def submitted(report_id: str, on: date, claimed: ClaimedStatus, progress: str) -> ReportSubmitted:
        return ReportSubmitted(occurred_at=at(on), actor=OFFICE, report_id=report_id,
                               cycle_id=f"c-{report_id}", unit_id="BTG", submitted_on=on,
                               lines=(ReportLine(task_id=task_id, status_claimed=claimed,
                                                 progress=progress),))

    assert react(app, submitted("r2018", date(2018, 11, 28), ClaimedStatus.IN_PROGRESS, "Năm 2018"))
    assert react(app, submitted("r2017", date(2017, 11, 22), ClaimedStatus.NOT_STARTED, "Năm 2017"))
    task = app.task(task_id)
    assert task.last_progress_on == date(2018, 11, 28)

    engine = sql_engine("sqlite:///:memory:")
    board.metadata.create_all(engine)
    events = [app.mapper.to_domain_event(n)
              for n in app.recorder.select_notifications(start=1, limit=1000)]
    with engine.begin() as conn:
        board.apply(conn, events)
        row = conn.execute(sa.select(board.tasks).where(board.tasks.c.task_id == task_id)).one()
    engine.dispose()
    assert (row.last_progress["recorded_on"], row.last_progress["progress"]) == ("2018-11-28", "Năm 2018")
    assert row.version == task.version  # the late claim still moves the board's version
