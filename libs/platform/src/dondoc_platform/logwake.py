"""Wake a process's followers of the event log when any process commits to it.

The `eventsourcing` PostgreSQL recorder sends `NOTIFY <events table>` in every transaction
that saves events (PostgreSQL delivers it at commit, once per transaction). A worker process
listens on that channel with one connection of its own and wakes what follows the log — the
outbox relay, the read models, the watchers — so that a command saved by an API replica (or
a consumer of another process) is relayed and applied at once instead of at the next poll.
The followers keep a slow poll as the fallback (a lost connection, a notification missed
while reconnecting, SQLite): waking only makes them look sooner, it never replaces looking.

A notification carries the server process (backend pid) that committed. A callback
registered with `foreign_only` is called only for commits of other processes (and after a
reconnection, when what was missed is unknown): this process tells of its own saves by
name (`GroupCommitting.saved`), so what waits on a key need not run at each of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from eventsourcing.application import Application

from dondoc_platform.projection import FOLLOW_INTERVAL
from dondoc_platform.stores import StoreURL

if TYPE_CHECKING:
    from dondoc_platform.outbox import OutboxRelay
    from dondoc_platform.projection import StoreProjection

log = logging.getLogger(__name__)


class LogListener:
    def __init__(self, store_url: str, channel: str, *, retry: float = 1.0,
                 check_stop_every: float = 1.0) -> None:
        self.url = StoreURL.parse(store_url)
        self.channel = channel
        self.retry = retry
        self.check_stop_every = check_stop_every
        self.callbacks: list[tuple[Callable[[], None], bool]] = []
        self.listening = asyncio.Event()  # set while a LISTEN is in place (tests wait on it)
        #: whether a backend pid is one of this process's writers (`foreign_only` callbacks
        #: are not called for their commits)
        self.own: Callable[[int], bool] = lambda pid: False

    @classmethod
    def for_app(cls, app: Application, store_url: str, **options: float) -> LogListener:
        """The listener of `app`'s event log (on SQLite: one that waits for `stop` only)."""
        listener = cls(store_url, getattr(app.recorder, "channel_name", ""), **options)
        writers = getattr(app.recorder, "writer_pids", None)
        if writers is not None:
            listener.own = writers.__contains__
        return listener

    @property
    def enabled(self) -> bool:
        return self.url.kind == "postgres" and bool(self.channel)

    def on_commit(self, callback: Callable[[], None], *, at_most_every: float = 0.0,
                  foreign_only: bool = False) -> None:
        """Call `callback` (in the event loop, quickly: set an event) after each commit, or
        at most every `at_most_every` seconds: a commit within that time of the last call is
        answered by one call when it ends (under load a follower then takes several commits
        in one round, as its poll did, instead of one round per commit). `foreign_only`: not
        for this process's own commits (`own`), which it tells of itself."""
        paced = _Paced(callback, at_most_every) if at_most_every > 0 else callback
        self.callbacks.append((paced, foreign_only))

    def _wake(self, pid: int | None = None) -> None:
        """Call the callbacks for a commit of server process `pid` (None: unknown)."""
        own = pid is not None and self.own(pid)
        for callback, foreign_only in self.callbacks:
            if own and foreign_only:
                continue
            try:
                callback()
            except Exception:  # noqa: BLE001 - one follower's fault must not deafen the others
                log.exception("waking a follower of %s failed", self.channel)

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until `stop` is set, reconnecting after a failure."""
        if not self.enabled:
            await stop.wait()
            return
        import psycopg
        from psycopg import sql

        while not stop.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(
                        dbname=self.url.database, host=self.url.host, port=self.url.port,
                        user=self.url.user or None, password=self.url.password or None,
                        autocommit=True, connect_timeout=10) as conn:
                    await conn.execute(sql.SQL("LISTEN {0}").format(sql.Identifier(self.channel)))
                    self.listening.set()
                    self._wake()  # whatever was committed while nobody listened
                    while not stop.is_set():
                        async for notification in conn.notifies(timeout=self.check_stop_every,
                                                                stop_after=1):
                            self._wake(notification.pid)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the database may be away: the polls carry on
                log.warning("listening for commits on %s failed; again in %.1f s",
                            self.channel, self.retry, exc_info=True)
            finally:
                self.listening.clear()
            try:
                await asyncio.wait_for(stop.wait(), self.retry)
            except TimeoutError:
                pass


class _Paced:
    """A callback called at once, or at the end of `gap` seconds after its last call."""

    def __init__(self, callback: Callable[[], None], gap: float) -> None:
        self.callback = callback
        self.gap = gap
        self.last = float("-inf")
        self.pending: asyncio.TimerHandle | None = None

    def __call__(self) -> None:
        if self.pending is not None:
            return  # the call already scheduled covers this commit too
        loop = asyncio.get_running_loop()
        wait = self.last + self.gap - loop.time()
        if wait <= 0:
            self._fire()
        else:
            self.pending = loop.call_later(wait, self._fire)

    def _fire(self) -> None:
        self.pending = None
        self.last = asyncio.get_running_loop().time()
        self.callback()


def wake_on_commit(app: Application, store_url: str, *, poll_seconds: float, relay: OutboxRelay,
                   projections: tuple[StoreProjection, ...] = (),
                   wake: tuple[Callable[[], None], ...] = ()) -> LogListener:
    """A worker's listener for `app`'s log, waking its relay, its read models and `wake`.
    When it listens (PostgreSQL), the relay and the read models poll unwoken only every
    `poll_seconds` (the fallback); on SQLite they keep their short polls.

    The relay is woken at every commit (the other services wait for its events); the read
    models and `wake` at most every `FOLLOW_INTERVAL` (their queries catch up by themselves
    first, and a round per commit would cost a transaction per command under load)."""
    listener = LogListener.for_app(app, store_url)
    if listener.enabled:
        relay.idle_interval = max(relay.idle_interval, poll_seconds)
        for projection in projections:
            projection.follow_interval = max(projection.follow_interval, poll_seconds)
    listener.on_commit(relay.wake)
    for callback in (*(p.wake for p in projections), *wake):
        listener.on_commit(callback, at_most_every=FOLLOW_INTERVAL)
    return listener
