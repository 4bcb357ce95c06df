"""The office's live picture (Prometheus figures read from the task board at scrape time):
open tasks by status, overdue by ageing bucket, by lead unit and review group, key tasks."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from dondoc_platform.clock import VN_TZ, ManualClock
from dondoc_platform.projection import sql_engine
from dondoc_tasks.projections import board
from dondoc_tasks.projections.picture import ageing_bucket, office_picture

TODAY = date(2018, 12, 31)


@pytest.mark.unit
def test_ageing_buckets_follow_metrics_md() -> None:
    assert [ageing_bucket(d) for d in (1, 30, 31, 90, 91, 120, 121, 4000)] == [
        "1-30", "1-30", "31-90", "31-90", "91-120", "91-120", "over-120", "over-120"]
    with pytest.raises(ValueError):
        ageing_bucket(0)


def _task(n: int, lead: str, group: str | None, due_on: date | None, *, state: str = "open",
          key_task: bool = False) -> dict:
    return {"task_id": f"t{n}", "directive_id": "d", "directive_number": "125-TB/TU",
            "directive_kind": "thong_bao_ket_luan", "issuing_body": "BTV", "item_id": str(n),
            "paragraph": str(n), "content": "Nhiệm vụ", "lead_unit_id": lead,
            "cooperating_unit_ids": [], "assigned_on": date(2018, 1, 2), "year_of_origin": 2018,
            "deadline_rule": {}, "deadline_kind": "date" if due_on else "recurring",
            "due_on": due_on, "review_group": group, "key_task": key_task, "secrecy": "thuong",
            "state": state, "adjustments": [], "overdue_for": [], "version": 1,
            "changed_at": datetime(2018, 1, 2, tzinfo=VN_TZ)}


@pytest.mark.integration
def test_the_picture_counts_open_tasks_as_of_the_clock_s_day(tmp_path: Path) -> None:
    engine = sql_engine(f"sqlite:///{tmp_path / 'tasks.sqlite'}")
    board.metadata.create_all(engine)
    party, economy = "Xây dựng Đảng", "Kinh tế - xã hội"
    rows = [
        _task(1, "BTG", party, TODAY),                            # due today: still in time
        _task(2, "BTG", party, TODAY - timedelta(days=1)),        # 1 day overdue
        _task(3, "BTG", party, TODAY - timedelta(days=30)),       # 30 days: 1-30
        _task(4, "UBND", economy, TODAY - timedelta(days=31), key_task=True),
        _task(5, "UBND", economy, TODAY - timedelta(days=121)),
        _task(6, "UBND", None, None),                             # no deadline, no group
        _task(7, "UBND", economy, TODAY - timedelta(days=200), state="completed"),
        _task(8, "BTG", party, TODAY - timedelta(days=200), state="withdrawn"),
    ]
    with engine.begin() as conn:
        conn.execute(sa.insert(board.tasks), rows)
    clock = ManualClock(datetime(2018, 12, 31, 23, 59, tzinfo=VN_TZ))
    families = {f.name: f for f in office_picture(engine, clock)}

    def figures(name: str) -> dict[tuple[str, ...], float]:
        return {tuple(s.labels.values()): s.value for s in families[name].samples}

    assert figures("dondoc_tasks_open_tasks") == {
        ("open_in_time", "BTG", party): 1, ("open_overdue", "BTG", party): 2,
        ("open_overdue", "UBND", economy): 2, ("open_no_deadline", "UBND", "none"): 1}
    assert figures("dondoc_tasks_overdue_tasks") == {
        ("1-30", "BTG", party): 2, ("31-90", "UBND", economy): 1, ("over-120", "UBND", economy): 1}
    assert figures("dondoc_tasks_open_key_tasks") == {("open_overdue",): 1}

    clock.set(datetime(2019, 1, 1, 0, 0, tzinfo=VN_TZ))  # a new local day: task 1 is overdue
    families = {f.name: f for f in office_picture(engine, clock)}
    assert figures("dondoc_tasks_open_tasks")[("open_overdue", "BTG", party)] == 3
    engine.dispose()
