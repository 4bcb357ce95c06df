"""Transcodings the services' event stores need beyond the library's own (UUID, Decimal,
datetime): business dates are `date` values."""

from __future__ import annotations

from datetime import date

from eventsourcing.persistence import JSONTranscoder, Transcoding


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


def register_dates(transcoder: JSONTranscoder) -> None:
    transcoder.register(DateAsISO())
