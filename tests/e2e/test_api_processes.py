"""Two processes answer the directives API, as the deployment's API replicas do: one runs the
service's workers too (`--role all`), the other only the API (`--role api`), on the same
PostgreSQL database and topics.

Commands sent to both at once are all recorded once; a notice number sent to both at the
same moment is taken by one and refused by the other; each process answers queries about
what the other recorded; and the tasks service, over Kafka, assigns every item once: the
events written by the API-only process are relayed by the other one's relay, once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import psycopg
import pytest

from dondoc.dev.suite import ProcessSuite
from tests.support.services import until

pytestmark = pytest.mark.e2e

UNITS = 6
NOTICES = 16
ITEMS = 3


def stored_assignments(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        return conn.execute("select count(*), count(distinct originator_id) from tasks_events "
                            "where topic like '%:Task.Assigned'").fetchone()


def notice(number: str, first_unit: int) -> dict:
    return {"number": number, "kind": "thong_bao_ket_luan", "issuing_body": "BTV",
            "issued_on": "2018-03-05", "summary": f"Thông báo kết luận số {number}",
            "items": [{"paragraph": str(j + 1), "text": f"Nhiệm vụ {j + 1} của thông báo {number}",
                       "lead_unit_id": f"U{(first_unit + j) % UNITS:02d}",
                       "deadline": {"kind": "date", "due_on": "2018-06-29"}}
                      for j in range(ITEMS)]}


async def test_two_api_processes_record_each_command_once(kafka_bootstrap: str, infra,
                                                          tmp_path: Path) -> None:
    suite = ProcessSuite(tmp_path / "suite", kafka_bootstrap=kafka_bootstrap,
                         postgres_url=infra.postgres_url, names=("directives", "tasks"),
                         env={"DONDOC_LOG_LEVEL": "WARNING"})
    with suite:
        await asyncio.to_thread(suite.add_api_process, "directives")
        urls = suite.api_urls("directives")
        assert len(urls) == 2 and urls[0] != urls[1]
        assert suite.api_processes["directives"][0].role == "api"
        office = suite.headers("office")
        async with httpx.AsyncClient(timeout=60) as client:
            for n in range(UNITS):  # units registered through either process
                response = await client.post(f"{urls[n % 2]}/units", headers=office, json={
                    "code": f"U{n:02d}", "name": f"Đơn vị thử nghiệm số {n}",
                    "review_group": "Kinh tế - xã hội"})
                assert response.status_code == 201, response.text

            responses = await asyncio.gather(*(
                client.post(f"{urls[i % 2]}/directives", headers=office,
                            json=notice(f"{i + 1}-TB/TU", i)) for i in range(NOTICES)))
            assert [r.status_code for r in responses] == [201] * NOTICES, \
                [r.text for r in responses if r.status_code != 201]
            ids = [r.json()["directive_id"] for r in responses]
            assert len(set(ids)) == NOTICES

            # the same number to both processes at the same moment: one takes it
            same = await asyncio.gather(*(
                client.post(f"{url}/directives", headers=office, json=notice("99-TB/TU", 0))
                for url in urls))
            assert sorted(r.status_code for r in same) == [201, 409], [r.text for r in same]

            for url in urls:  # each process shows what the other recorded
                for directive_id in (ids[0], ids[1]):
                    shown = await client.get(f"{url}/directives/{directive_id}", headers=office)
                    assert shown.status_code == 200, shown.text
                    assert shown.json()["directive_id"] == directive_id

        expected = (NOTICES + 1) * ITEMS
        await until(lambda: stored_assignments(suite.databases["tasks"])[0] >= expected,
                    timeout=120, what=f"{expected} tasks assigned")
        assert stored_assignments(suite.databases["tasks"]) == (expected, expected)
