"""A missing report goes overdue exactly once, from the durable schedule, across restarts
of the service: on PostgreSQL and on SQLite."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from dondoc_contracts import ICT, ReportOverdue, ReportRequested
from services.reports.tests.harness import XD, Harness, at, task_assigned, unit_registered, until

pytestmark = pytest.mark.integration


async def _open_cycle(h: Harness, due_on: str) -> None:
    await h.produce(unit_registered("BTG", "Ban Tuyên giáo Tỉnh ủy", XD),
                    unit_registered("BDV", "Ban Dân vận Tỉnh ủy", XD),
                    task_assigned("t1", "BTG", assigned_on=date(2018, 3, 5)),
                    task_assigned("t2", "BDV", assigned_on=date(2018, 3, 5)))
    office = h.token("office")

    async def both_known() -> bool:
        a = (await h.client.get("/units/BTG/tasks", headers=office)).json()["items"]
        b = (await h.client.get("/units/BDV/tasks", headers=office)).json()["items"]
        return bool(a and b)

    await until(both_known, what="the tasks in the local view")
    response = await h.client.post("/cycles", headers=office, json={
        "period": {"kind": "quarter", "label": "Quý II/2018", "starts_on": "2018-04-01",
                   "ends_on": "2018-06-30"},
        "data_cutoff_on": "2018-06-15", "due_on": due_on})
    assert response.status_code == 201, response.text


async def test_overdue_once_when_the_due_day_passes_while_the_service_is_down(
    kafka_bootstrap: str, store_url: str, tmp_path: Path
) -> None:
    h = Harness(kafka_bootstrap, store_url, tmp_path, start=at(date(2018, 6, 20)))
    try:
        await h.start_service()
        await _open_cycle(h, "2018-06-29")  # a Friday
        await until(lambda: len(h.events(ReportRequested)) == 2, what="two obligations")
        btg = (await h.client.get("/reports", headers=h.token("office"),
                                  params={"unit_id": "BTG"})).json()["items"][0]
        h.clock.set(datetime(2018, 6, 29, 23, 59, 59, tzinfo=ICT))
        assert h.service.parts["watcher"].tick() == 0  # the due day still counts in full
        await h.stop_service()

        # the due day passes while the service is down; it restarts on Monday 2 July:
        # BTG then reports late, BDV never does
        await h.start_service(at(date(2018, 7, 2), 8))
        await until(lambda: len(h.events(ReportOverdue)) == 2, what="two ReportOverdue")
        late = await h.client.post(f"/reports/{btg['report_id']}/submissions",
                                   headers=h.token("unit", unit="BTG"), json={"lines": [
                                       {"task_id": "t1", "status_claimed": "in_progress",
                                        "progress": "Đang triển khai"}]})
        assert late.status_code == 201, late.text
        assert late.json()["on_time"] is False
        await h.relayed()
        await h.stop_service()

        await h.start_service(at(date(2018, 8, 1)))
        h.clock.advance(timedelta(days=60))
        assert h.service.parts["watcher"].tick() == 0
        await h.relayed()
        overdue = h.events(ReportOverdue)
        assert sorted(e.unit_id for e in overdue) == ["BDV", "BTG"]
        assert {e.overdue_at for e in overdue} == {datetime(2018, 6, 30, tzinfo=ICT)}
        assert len({env.id for env, e in h.published if isinstance(e, ReportOverdue)}) == 2
    finally:
        await h.close()


async def test_a_late_submission_records_the_overdue_fact_first(
    kafka_bootstrap: str, store_url: str, tmp_path: Path
) -> None:
    """The unit reports after its due day before the watcher looked (it was stopped): the
    report is still overdue once, at the due moment, and its submission counts late."""
    h = Harness(kafka_bootstrap, store_url, tmp_path, start=at(date(2018, 6, 20)))
    try:
        await h.start_service()
        await _open_cycle(h, "2018-06-25")
        await h.stop_service()
        await h.start_service(at(date(2018, 6, 27)), workers=False)
        btg = (await h.client.get("/reports", headers=h.token("office"),
                                  params={"unit_id": "BTG"})).json()["items"][0]
        late = await h.client.post(f"/reports/{btg['report_id']}/submissions",
                                   headers=h.token("unit", unit="BTG"), json={"lines": [
                                       {"task_id": "t1", "status_claimed": "not_started",
                                        "delay_reason": "Thiếu kinh phí"}]})
        assert late.status_code == 201, late.text
        detail = late.json()
        assert detail["overdue_at"] is not None and detail["on_time"] is False
        assert h.service.parts["watcher"].tick() == 1  # only BDV remains on the schedule
        assert h.service.parts["watcher"].tick() == 0
    finally:
        await h.close()
