"""Group commit: commands saved at the same moment by concurrent requests share one
transaction of the event store.

The eventsourcing PostgreSQL recorder serialises writers with a table lock held until the
commit (so the notification log never shows a gap that fills later). One writer at a time,
one commit (and one WAL flush) per command, caps a service at roughly the rate at which the
database can commit one transaction after another. Here, while one transaction is being
written, the commands that arrive queue up; the next transaction takes all of them at once.
Nothing waits on purpose: a lone command is written at once, a busy service writes bigger
transactions.

Each command's events stay together and keep their order; commands are never mixed with one
another's outcome: if a combined transaction is refused (a concurrent change of the same
aggregate: a version already taken, a uniqueness claim), each command of the batch is then
written on its own, so the one that conflicts gets its IntegrityError and the others commit.
Saves that carry recorder arguments (an inbox entry, a tracking record) are not grouped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.persistence import IntegrityError, StoredEvent

from dondoc_platform import metrics

log = logging.getLogger(__name__)


def collected(*objs: Any, **kwargs: Any) -> ProcessingEvent[Any]:
    """The pending events of `objs` (aggregates, or domain events given as such), as
    eventsourcing's `ProcessingEvent.collect_events` gathers them, without its two
    runtime-protocol checks per object (`DomainEventProtocol`, `CollectEventsProtocol`): on
    Python 3.11 each walks the protocol's attributes (20-40 µs), and a notice's reaction
    saves six aggregates. An object with `collect_events` is an aggregate; any other, an
    event."""
    processing: ProcessingEvent[Any] = ProcessingEvent()
    for obj in objs:
        if obj is None:
            continue
        collect = getattr(obj, "collect_events", None)
        if collect is None:
            processing.events.append(obj)
        else:
            processing.events.extend(collect())
            processing.aggregates[obj.id] = obj
    processing.saved_kwargs.update(kwargs)
    return processing


@dataclass
class _Pending:
    stored: Sequence[StoredEvent]
    done: bool = False
    error: BaseException | None = None
    notification_ids: Sequence[int] | None = field(default=None)


class GroupCommit:
    def __init__(self, app: Application[Any], *, service: str = "", max_events: int = 5_000) -> None:
        self.app = app
        self.service = service or app.name.lower()
        self.max_events = max_events
        self._state = threading.Condition()
        self._queue: list[_Pending] = []
        self._writing = False

    def usable(self) -> bool:
        """Grouping bypasses the repository's cache and snapshotting: only without them."""
        return not self.app.repository.cache and self.app.snapshots is None

    def save(self, *objs: Any) -> None:
        """Record the objects' pending events in the next transaction; raise what the
        store raised for them (IntegrityError on a concurrent change)."""
        self.save_collected(collected(*objs))

    def save_collected(self, processing: ProcessingEvent[Any]) -> None:
        """`save` of events already collected (`collected`)."""
        if not processing.events:
            return
        mine = _Pending([self.app.mapper.to_stored_event(e) for e in processing.events])
        with self._state:
            self._queue.append(mine)
        while True:
            with self._state:
                while not mine.done and self._writing:
                    self._state.wait()
                if mine.done:
                    break
                self._writing = True  # this thread writes the next batch (older ones first)
                batch = self._take()
            try:
                self._write(batch)
            finally:
                with self._state:
                    self._writing = False
                    self._state.notify_all()
        self._outcome(mine)

    def _take(self) -> list[_Pending]:
        """The queued commands, oldest first, up to `max_events` events (at least one)."""
        batch, size = [], 0
        while self._queue and (not batch or size + len(self._queue[0].stored) <= self.max_events):
            pending = self._queue.pop(0)
            batch.append(pending)
            size += len(pending.stored)
        return batch

    def _write(self, batch: list[_Pending]) -> None:
        recorder = self.app.recorder
        try:
            try:
                recorder.insert_events([s for p in batch for s in p.stored])
                for pending in batch:
                    pending.done = True
                metrics.GROUP_COMMIT_SIZE.labels(self.service).observe(len(batch))
                return
            except IntegrityError as e:
                if len(batch) == 1:
                    batch[0].error, batch[0].done = e, True
                    return
            for pending in batch:  # one of them conflicts: find it, commit the others
                try:
                    recorder.insert_events(pending.stored)
                except IntegrityError as e:
                    pending.error = e
                pending.done = True
                metrics.GROUP_COMMIT_SIZE.labels(self.service).observe(1)
        except BaseException as e:  # the store is away: every command of the batch hears it
            for pending in batch:
                if not pending.done:
                    pending.error, pending.done = e, True

    @staticmethod
    def _outcome(pending: _Pending) -> None:
        if pending.error is not None:
            raise pending.error


class GroupCommitting:
    """Mixin for an eventsourcing Application: `save()` without recorder arguments goes
    through a GroupCommit; with them (an inbox entry) straight to the store.

    `saved` callbacks are told of every save of this process once it has committed, with
    what it saved (`ProcessingEvent`: the events and their aggregates), in the saving
    thread: a process's waiting queries wake for what its own reactions and commands
    changed (`longpoll.Changes`), by name, instead of at every commit of the log."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.group_commit = GroupCommit(self)  # type: ignore[arg-type]
        self.saved: list[Callable[[ProcessingEvent[Any]], None]] = []

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        processing = collected(*objs, **kwargs)
        if kwargs or not self.group_commit.usable():
            recordings = self._save_collected(processing)
        else:
            self.group_commit.save_collected(processing)
            recordings = None
        if processing.events:
            self._tell_saved(processing)
        return recordings

    def _tell_saved(self, processing: ProcessingEvent[Any]) -> None:
        for callback in self.saved:
            try:
                callback(processing)
            except Exception:  # noqa: BLE001 - the save has committed: a listener's fault is not its error
                log.exception("telling of a save failed")

    def _save_collected(self, processing: ProcessingEvent[Any]) -> Any:
        """eventsourcing's `Application.save` (9.5), its events gathered by `collected`."""
        recordings = self._record(processing)  # type: ignore[attr-defined]
        self._take_snapshots(processing)  # type: ignore[attr-defined]
        self._notify(recordings)  # type: ignore[attr-defined]
        self.notify(processing.events)  # type: ignore[attr-defined]
        return recordings
