"""The board's catch-up is shared by the queries that arrive while one runs
(`projection.SharedRound`), on the real PostgreSQL: a query still sees every commit made
before it arrived, even when a catch-up that began before that commit is still running;
the queries that came meanwhile share one catch-up after it, not one each."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import date
from pathlib import Path

import httpx
import pytest

from dondoc_tasks.bootstrap import Settings, bootstrap
from tests.support.services import Tokens

from .support import by_date, issued, item
from .test_waiting_queries import react_elsewhere, until

pytestmark = pytest.mark.integration


def test_a_query_sees_the_commits_made_before_it_even_during_an_older_catch_up(
        postgres_database: str, tmp_path: Path) -> None:
    tokens = Tokens.create(tmp_path)
    office = tokens.headers("office")
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    notices = {d: issued([item("1", "BTG", by_date(date(2018, 6, 29)))], directive_id=d,
                         number=f"{n}-TB/TU") for n, d in ((21, first), (22, second))}
    service = bootstrap(Settings(store_url=postgres_database), auth=tokens.auth())
    projection = service.parts["projection"]
    rounds: list[int] = []
    projection.listeners.append(lambda: rounds.append(1))
    in_listener, release = threading.Event(), threading.Event()

    def held() -> None:  # the first catch-up has read the log's head and applied it: hold it
        if len(rounds) == 1:
            in_listener.set()
            assert release.wait(60)

    projection.listeners.append(held)

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=service.api)
        async with httpx.AsyncClient(transport=transport, base_url="http://tasks") as client:
            await asyncio.to_thread(react_elsewhere, postgres_database, notices[first])
            older = asyncio.create_task(asyncio.to_thread(projection.catch_up))
            await asyncio.to_thread(in_listener.wait, 60)
            # committed after the running catch-up read the head; the queries come after it
            await asyncio.to_thread(react_elsewhere, postgres_database, notices[second])
            queries = [asyncio.create_task(client.get("/tasks", params={"directive_id": d},
                                                      headers=office))
                       for d in (second, second, first, second)]
            await until(lambda: projection._round.waiting == len(queries))
            release.set()
            answers = await asyncio.wait_for(asyncio.gather(*queries), 60)
            await older
            for directive_id, answer in zip((second, second, first, second), answers, strict=True):
                assert answer.status_code == 200
                assert [t["directive_id"] for t in answer.json()["items"]] == [directive_id]
            # the older catch-up, then one for the four queries (that applied the second notice)
            assert len(rounds) == 2

    try:
        asyncio.run(scenario())
    finally:
        service.parts["app"].close()
        service.parts["engine"].dispose()
