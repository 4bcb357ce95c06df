"""The reports service's event store: an eventsourcing Application on the chained recorders."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder, Transcoding

from dondoc_platform.eventstore import store_env
from dondoc_platform.groupcommit import GroupCommitting


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: Any) -> date:
        return date.fromisoformat(data)


class ReportsLog(GroupCommitting, Application[UUID]):
    """Report cycles, reports and adjustment requests, as events (the outbox is its log);
    concurrent commands share transactions (group commit)."""

    name = "reports"

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())


def open_log(store_url: str) -> ReportsLog:
    return ReportsLog(env=store_env(store_url))
