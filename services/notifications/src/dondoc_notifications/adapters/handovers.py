"""The hand-over marks: which e-mails reached the mail server, written in the same instant
as the final "." that makes the server take the message.

Why a separate mark: a database commit takes milliseconds (a disk flush) and completes on
the server even when the process that asked for it is killed meanwhile, so "record, then
send the final dot" loses a message whenever a kill lands during the commit. Here the dot
goes out first and the mark's INSERT is written to the database connection right after it
(an autocommit statement on a connection of its own, no round trip in between): PostgreSQL
runs a statement it has received even if its client dies before the answer. The blind spot
shrinks to the microseconds between two socket writes; a kill there sends one message twice
(with the same Message-ID), never zero times.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from dondoc_notifications.adapters.tables import handovers


class HandOverMarks:
    def __init__(self, engine: sa.Engine, postgres_dsn: str | None) -> None:
        self.engine = engine
        self.postgres_dsn = postgres_dsn
        self._connection = None

    def _raw(self):
        import psycopg

        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(self.postgres_dsn, autocommit=True)
            self._connection.execute("SET synchronous_commit TO ON")
        return self._connection

    def send_and_mark(self, notification_id: str, send_final_dot: Callable[[], None]) -> None:
        if self.postgres_dsn is None:  # SQLite: a local write, as quick as the socket's
            send_final_dot()
            with self.engine.begin() as conn:
                conn.execute(sa.insert(handovers).prefix_with("OR IGNORE").values(notification_id=notification_id))
            return
        connection = self._raw()  # connected before the dot: nothing slow after it
        send_final_dot()
        connection.execute("INSERT INTO ntf_handovers (notification_id, handed_over_at) VALUES (%s, now()) "
                           "ON CONFLICT DO NOTHING", (notification_id,), prepare=False)

    def handed_over(self, notification_id: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(handovers.c.notification_id).where(
                handovers.c.notification_id == notification_id)).first() is not None

    def forget(self, notification_id: str) -> None:
        """The server refused the message after its final dot: it was not handed over."""
        with self.engine.begin() as conn:
            conn.execute(handovers.delete().where(handovers.c.notification_id == notification_id))

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
