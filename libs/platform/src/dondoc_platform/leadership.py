"""Which worker of a service publishes its outbox: one lease per event store and relay name.

Every worker replica of a service runs the outbox relay, so that one can take over the moment
another stops; but only the holder of the lease publishes. Two relays publishing at once
would lose nothing (consumers deduplicate by `ce_id`), yet would put every event on Kafka
once per replica and make every consumer skip the copies.

- PostgreSQL: a session advisory lock (`pg_try_advisory_lock`) on a connection the lease
  keeps out of the store's pool. The server frees it when that session ends, so a killed
  or partitioned worker gives the lease up without anyone's help.
- SQLite (the embedded default): an exclusive `flock` on a file beside the database; the
  kernel frees it when the process dies. An in-memory database belongs to one process.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Lease(Protocol):
    def alive(self) -> bool:
        """Still held? (False once the database session holding it is gone.)"""

    def release(self) -> None:
        """Give the lease up (idempotent)."""


def lock_key(*parts: str) -> int:
    """A stable signed 64-bit key for `pg_advisory_lock` from the names of what is guarded."""
    digest = hashlib.sha256("\x1f".join(("dondoc-relay", *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class _AdvisoryLease:
    def __init__(self, pool: Any, conn: Any, key: int) -> None:
        self._pool, self._conn, self._key = pool, conn, key

    def alive(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.execute("SELECT 1")
            self._conn.commit()
            return True
        except Exception:  # the session, and the lock with it, is gone
            log.warning("the relay's lease connection was lost", exc_info=True)
            self._give_back()
            return False

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
            self._conn.commit()
        except Exception:  # a lost session holds nothing any more
            log.warning("could not unlock the relay's lease; its session is gone", exc_info=True)
        self._give_back()

    def _give_back(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.putconn(conn)


class _FileLease:
    def __init__(self, fd: int | None) -> None:
        self._fd = fd
        self._held = True

    def alive(self) -> bool:
        return self._held

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)


def try_lead(recorder: Any, name: str) -> Lease | None:
    """The lease of the relay `name` over this recorder's store, or None if another holds it."""
    datastore = recorder.datastore
    pool = getattr(datastore, "pool", None)
    if pool is not None and hasattr(datastore, "schema"):  # PostgreSQL
        key = lock_key(datastore.schema or "public", recorder.events_table_name, name)
        conn = pool.getconn()
        try:
            row = conn.execute("SELECT pg_try_advisory_lock(%s) AS held", (key,)).fetchone()
            conn.commit()
        except BaseException:
            pool.putconn(conn)
            raise
        if not row["held"]:
            pool.putconn(conn)
            return None
        return _AdvisoryLease(pool, conn, key)
    db_name = getattr(pool, "db_name", "")  # SQLite: the file is named by the datastore's pool
    if not db_name or getattr(pool, "is_sqlite_memory_mode", False):
        return _FileLease(None)  # an in-memory store: this process is the only one
    fd = os.open(f"{db_name}.{name}.relay-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return _FileLease(fd)
