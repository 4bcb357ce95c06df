"""The base of every service's eventsourcing Application: its clock, business dates in its
events, concurrent commands written in shared transactions (group commit), and a concurrent
write turned into a 409 the caller can retry."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from eventsourcing.application import Application, Repository
from eventsourcing.persistence import IntegrityError, JSONTranscoder

from dondoc_platform.clock import Clock, SystemClock
from dondoc_platform.errors import conflict
from dondoc_platform.groupcommit import GroupCommitting
from dondoc_platform.transcodings import register_dates


def project(aggregate: Any, events: Iterable[Any]) -> Any:
    """An aggregate from its events, as eventsourcing's `project_aggregate` makes it, without
    its `assert isinstance(event, CanMutateProtocol)` for every event: on Python 3.11 a check
    against a runtime-checkable protocol walks the protocol's attributes each time (20-40 µs
    per event here), and every aggregate a command or a reaction loads pays it for each of
    its events. The events are the application's own, decoded by its mapper."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


class ServiceApplication(GroupCommitting, Application[UUID]):
    def __init__(self, env: dict[str, str] | None = None, *, clock: Clock | None = None) -> None:
        super().__init__(env=env)
        self.clock = clock or SystemClock()

    def construct_repository(self) -> Repository[UUID]:
        """The library's repository, its aggregates made by `project` unless a caller
        passes its own `projector_func`."""
        repository = super().construct_repository()
        repository.get = functools.partial(repository.get, projector_func=project)  # type: ignore[method-assign]
        return repository

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
