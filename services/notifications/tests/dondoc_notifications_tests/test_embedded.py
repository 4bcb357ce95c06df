"""The embedded default (SQLite store): facts in, notices planned, mail delivered, a
replayed batch changing nothing; driven step by step without a broker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from dondoc.dev.process import free_port
from dondoc_contracts import encode, envelope_for
from dondoc_platform.clock import ManualClock

from dondoc_notifications.bootstrap import Settings, bootstrap

from . import facts as f
from .harness import rows
from .support import SmtpServer

pytestmark = pytest.mark.integration


@dataclass
class _Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list
    timestamp: int = 0


def _records(events) -> list[_Record]:
    out = []
    for offset, event in enumerate(events):
        key, value, headers = encode(event, envelope_for(event, position=offset + 1))
        out.append(_Record(f"dondoc.{event.service}.v1", 0, offset, key, value, headers))
    return out


async def test_the_sqlite_store_plans_and_delivers_once(tmp_path) -> None:
    smtp = SmtpServer(free_port()).start()
    clock = ManualClock(f.at(date(2018, 6, 1), 7))
    service = bootstrap(Settings(store_url=f"sqlite:///{tmp_path / 'notifications.sqlite'}",
                                 smtp_port=smtp.port, mail_from="dondoc@tinhuy.example.vn"), clock=clock)
    parts = service.parts
    try:
        batch = _records([f.unit("BTG", "Ban Tuyên giáo Tỉnh ủy", emails=("btg@tinhuy.example.vn",)),
                          f.task("t-1", date(2018, 6, 29))])
        keeper = parts["facts"]
        await keeper.handle(batch)
        await keeper.handle(batch)  # redelivered: skipped by the inbox
        clock.set(f.at(date(2018, 6, 20), 8, 5))
        assert parts["planner"].run_once() == 1
        assert parts["planner"].run_once() == 0
        assert parts["deliverer"].run_once() == 1
        assert parts["deliverer"].run_once() == 0
    finally:
        smtp.stop()
        for stop in service.on_stop:
            await stop()
    (mail,) = smtp.messages()
    assert mail.rule == "deadline_approaching_7" and mail.recipients == ["btg@tinhuy.example.vn"]
    (row,) = rows(service)
    assert row["state"] == "sent" and row["message_id"] == mail.message_id
