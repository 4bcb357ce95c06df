"""A notice issued through the directives API ends, through the real Kafka broker, in the
right tasks (TaskAssigned on the tasks topic, visible through the tasks query API); an
amendment and a revocation follow the same way. Both services run in-process from their
bootstraps on their own PostgreSQL databases."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dondoc_contracts import TaskAssigned, TaskReassigned, TaskWithdrawn
from dondoc_directives import bootstrap as directives_bootstrap
from dondoc_platform.clock import VN_TZ, ManualClock
from dondoc_platform.settings import KafkaSettings
from dondoc_tasks import bootstrap as tasks_bootstrap
from tests.support.services import (
    UNITS,
    Tokens,
    TopicReader,
    create_database,
    drop_database,
    notice,
    prefix,
    running,
    until,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def second_database(infra, postgres_database):
    admin = infra.postgres_database_url("postgres")
    url = create_database(admin)
    yield url
    drop_database(admin, url)


async def call(method, *args, **kwargs):
    return await asyncio.to_thread(method, *args, **kwargs)


async def test_a_notice_becomes_tasks_through_kafka(kafka_bootstrap: str, postgres_database: str,
                                                    second_database: str, tmp_path: Path) -> None:
    tokens = Tokens.create(tmp_path)
    clock = ManualClock(datetime(2018, 3, 10, 9, tzinfo=VN_TZ))
    topics = prefix()
    kafka = KafkaSettings(bootstrap=kafka_bootstrap)
    directives = directives_bootstrap.bootstrap(
        directives_bootstrap.Settings(store_url=postgres_database, topic_prefix=topics),
        clock=clock, kafka=kafka, auth=tokens.auth())
    tasks = tasks_bootstrap.bootstrap(
        tasks_bootstrap.Settings(store_url=second_database, topic_prefix=topics,
                                 watcher_poll_seconds=0.5),
        clock=clock, kafka=kafka, auth=tokens.auth())
    office = tokens.headers("office")
    d_api, t_api = TestClient(directives.api), TestClient(tasks.api)
    async with running(directives), running(tasks), \
            TopicReader(kafka_bootstrap, tasks.parts["topic"]) as tasks_topic:
        for unit in UNITS:
            assert (await call(d_api.post, "/units", json=unit, headers=office)).status_code == 201
        issued = await call(d_api.post, "/directives", json=notice(), headers=office)
        assert issued.status_code == 201, issued.text
        directive_id = issued.json()["directive_id"]

        assigned = await tasks_topic.wait_for(
            lambda events: len([e for e in events if isinstance(e, TaskAssigned)]) == 3 and events,
            what="three TaskAssigned")
        by_item = {e.item_id: e for e in assigned if isinstance(e, TaskAssigned)}
        assert {k: (e.lead_unit_id, e.due_on, e.original_due_on) for k, e in by_item.items()} == {
            "1": ("UBND", date(2018, 7, 2), date(2018, 7, 2)),   # 30/6/2018 is a Saturday
            "2": ("BTG", date(2018, 3, 12), date(2018, 3, 12)),  # 5 working days from 5/3
            "3": ("MTTQ", None, None),                            # recurring, quarterly
        }
        assert by_item["3"].report_frequency.value == "quarterly"
        assert by_item["1"].key_task and by_item["1"].cooperating_unit_ids == ("BDV",)
        assert {e.directive_number for e in by_item.values()} == {"125-TB/TU"}

        listed = (await call(t_api.get, "/tasks", params={"directive_id": directive_id},
                             headers=tokens.headers("leader"))).json()["items"]
        assert sorted(t["lead_unit_id"] for t in listed) == ["BTG", "MTTQ", "UBND"]
        statuses = {t["item_id"]: t["status"] for t in listed}
        assert statuses == {"1": "open_in_time", "2": "open_in_time", "3": "open_no_deadline"}
        own = (await call(t_api.get, "/tasks", headers=tokens.headers("unit", unit_id="BTG"))).json()
        assert [t["item_id"] for t in own["items"]] == ["2"]
        cooperating = (await call(t_api.get, "/tasks",
                                  headers=tokens.headers("unit", unit_id="BDV"))).json()
        assert [t["item_id"] for t in cooperating["items"]] == ["1"]

        # the units reached the tasks service too: a reassignment names a known unit
        task_2 = next(t for t in listed if t["item_id"] == "2")
        unknown = await call(t_api.post, f"/tasks/{task_2['task_id']}/reassignment",
                             json={"lead_unit_id": "NOPE"}, headers=office)
        assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "lead_unit_id"
        moved = await until(lambda: t_api.post(f"/tasks/{task_2['task_id']}/reassignment",
                                               json={"lead_unit_id": "BDV"}, headers=office)
                            .status_code == 200, what="the unit directory in the tasks service")
        assert moved
        await tasks_topic.wait_for(lambda events: [e for e in events if isinstance(e, TaskReassigned)],
                                   what="TaskReassigned")

        amended = await call(d_api.post, f"/directives/{directive_id}/amendments", headers=office,
                             json={"items_added": [{"paragraph": "4", "text": "Bàn giao đất rừng",
                                                    "lead_unit_id": "UBND", "key_task": True}]})
        assert amended.status_code == 200, amended.text
        await tasks_topic.wait_for(
            lambda events: len([e for e in events if isinstance(e, TaskAssigned)]) == 4,
            what="the added item's task")
        revoked = await call(d_api.post, f"/directives/{directive_id}/revocation", headers=office,
                             json={"reason": "Thay thế bằng 160-TB/TU",
                                   "decision": {"number": "160-TB/TU", "decided_on": "2018-03-10",
                                                "decider": "Ban Thường vụ Tỉnh ủy"}})
        assert revoked.status_code == 200
        withdrawn = await tasks_topic.wait_for(
            lambda events: len([e for e in events if isinstance(e, TaskWithdrawn)]) == 4 and events,
            what="four TaskWithdrawn")
        assert {e.decision.number for e in withdrawn if isinstance(e, TaskWithdrawn)} == {"160-TB/TU"}
        listed = (await call(t_api.get, "/tasks", params={"directive_id": directive_id,
                                                          "status": "withdrawn"},
                             headers=office)).json()["items"]
        assert len(listed) == 4
        assert len([e for e in tasks_topic.events if isinstance(e, TaskAssigned)]) == 4
    directives.parts["app"].close()
    tasks.parts["app"].close()
