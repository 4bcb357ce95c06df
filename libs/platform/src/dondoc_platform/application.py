"""The base of every service's eventsourcing Application: its clock, business dates in its
events, concurrent commands written in shared transactions (group commit), and a concurrent
write turned into a 409 the caller can retry."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, JSONTranscoder

from dondoc_platform.clock import Clock, SystemClock
from dondoc_platform.errors import conflict
from dondoc_platform.groupcommit import GroupCommitting
from dondoc_platform.transcodings import register_dates


class ServiceApplication(GroupCommitting, Application[UUID]):
    def __init__(self, env: dict[str, str] | None = None, *, clock: Clock | None = None) -> None:
        super().__init__(env=env)
        self.clock = clock or SystemClock()

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_dates(transcoder)

    def save_command(self, *objs: Any) -> None:
        """Save a command's aggregates; another writer first is a 409, nothing recorded."""
        try:
            self.save(*[o for o in objs if o is not None])
        except IntegrityError:
            raise conflict("concurrent_change", "Dữ liệu vừa bị thay đổi bởi yêu cầu khác, thử lại",
                           "Changed meanwhile by another request; try again") from None
