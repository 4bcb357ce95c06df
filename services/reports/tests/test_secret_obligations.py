"""A secret task (mật) in a report obligation: readers not cleared for it do not learn it
exists through any reports view (no id in `task_ids`, no line, no count of hidden lines); a
unit officer not cleared is not asked for its line; cleared readers still see it owed and
unanswered. SQLite store, the local view fed through the real inbox."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.reports.tests.harness import (
    XD,
    at,
    close_offline,
    offline_service,
    task_assigned,
    unit_registered,
)

pytestmark = pytest.mark.integration

PERIOD = {"kind": "quarter", "label": "Quý II/2018", "starts_on": "2018-04-01", "ends_on": "2018-06-30"}
SECRET_ID = "t-mat-5"


def test_a_secret_task_in_an_obligation_is_seen_only_by_cleared_readers(tmp_path: Path) -> None:
    service, signer = offline_service(tmp_path, [
        unit_registered("BTG", "Ban Tuyên giáo Tỉnh ủy", XD),
        task_assigned("t1", "BTG", assigned_on=date(2018, 3, 5)),
        task_assigned(SECRET_ID, "BTG", assigned_on=date(2018, 3, 5), secrecy="mat"),
    ], at(date(2018, 6, 20)))
    try:
        client = TestClient(service.api)

        def auth(role: str, **claims: Any) -> dict[str, str]:
            token = signer.token(subject=f"{role}.test", roles=[role], name=f"Cán bộ {role}", **claims)
            return {"Authorization": f"Bearer {token}"}

        readers = [("office", {}), ("leader", {}), ("auditor", {}), ("unit", {"unit_id": "BTG"}),
                   ("reviewer", {"review_group": XD})]
        opened = client.post("/cycles", headers=auth("office"), json={
            "period": PERIOD, "data_cutoff_on": "2018-06-15", "due_on": "2018-06-29", "unit_ids": ["BTG"]})
        assert opened.status_code == 201, opened.text
        assert SECRET_ID not in opened.text  # the office that opened it is not cleared
        cycle_id, report_id = opened.json()["cycle_id"], opened.json()["obligations"][0]["report_id"]
        views = ["/reports", f"/reports?cycle_id={cycle_id}", "/units/BTG/obligations",
                 f"/cycles/{cycle_id}", f"/reports/{report_id}"]

        def seen_by(role: str, claims: dict[str, Any], cleared: bool) -> None:
            headers = auth(role, **claims, **({"clearance": "mat"} if cleared else {}))
            for path in views:
                answer = client.get(path, headers=headers)
                assert answer.status_code == 200, (role, path, answer.text)
                assert (SECRET_ID in answer.text) is cleared, (role, cleared, path)
                assert "hidden_lines" not in answer.text
            detail = client.get(f"/reports/{report_id}", headers=headers).json()
            assert set(detail["task_ids"]) == ({"t1", SECRET_ID} if cleared else {"t1"}), role

        for role, claims in readers:
            seen_by(role, claims, cleared=False)
            seen_by(role, claims, cleared=True)

        # the unit's officer not cleared answers the task it sees; it is not asked for the other
        line = {"task_id": "t1", "status_claimed": "in_progress", "progress": "Đang triển khai"}
        plain_unit = auth("unit", unit_id="BTG")
        submitted = client.post(f"/reports/{report_id}/submissions", headers=plain_unit,
                                json={"lines": [line]})
        assert submitted.status_code == 201, submitted.text
        assert SECRET_ID not in submitted.text
        assert submitted.json()["unanswered_task_ids"] == []
        # cleared readers see the secret task still owed, unanswered; the review returns it
        cleared_reviewer = auth("reviewer", review_group=XD, clearance="mat")
        owed = client.get(f"/reports/{report_id}", headers=cleared_reviewer).json()
        assert set(owed["task_ids"]) == {"t1", SECRET_ID} and owed["unanswered_task_ids"] == [SECRET_ID]
        returned = client.post(f"/reports/{report_id}/reviews", headers=cleared_reviewer, json={
            "revision": 1, "comment": "Thiếu dòng báo cáo nhiệm vụ mật",
            "lines": [{"task_id": "t1", "verdict": "returned", "quality": "generic"}]})
        assert returned.status_code == 201, returned.text
        # a cleared officer of the unit answers both
        secret_line = {"task_id": SECRET_ID, "status_claimed": "not_started"}
        again = client.post(f"/reports/{report_id}/submissions", headers=auth("unit", unit_id="BTG", clearance="mat"),
                            json={"lines": [line, secret_line]})
        assert again.status_code == 201, again.text
        assert again.json()["unanswered_task_ids"] == []
        assert [len(s["lines"]) for s in again.json()["submissions"]] == [1, 2]
        for role, claims in readers:
            seen_by(role, claims, cleared=False)
    finally:
        close_offline(service)
