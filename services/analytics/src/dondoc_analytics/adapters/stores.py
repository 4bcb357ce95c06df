"""Reading a service's event store, read-only, for audits: its events in log order, with
the hash chain links the recorder wrote beside them. Only the table layout of
`dondoc_platform.eventstore` is assumed (`<app>_events` with `<app>_events_chain`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from dondoc_platform.audit_chain import ChainLink, LoggedEvent
from dondoc_platform.eventstore import chain_table_for
from dondoc_platform.stores import StoreURL


class StoreLayoutError(LookupError):
    pass


class ServiceStore:
    def __init__(self, url: str, *, events_table: str | None = None) -> None:
        parsed = StoreURL.parse(url)
        self.kind = parsed.kind
        self.schema = parsed.schema or None
        self.engine = sa.create_engine(parsed.sqlalchemy_url())
        self.events_table = events_table or self._discover()
        self.chain_table = chain_table_for(self.events_table)
        md = sa.MetaData(schema=self.schema)
        self.events = sa.Table(self.events_table, md, autoload_with=self.engine)
        self.links = sa.Table(self.chain_table, md, autoload_with=self.engine)
        self.position = (sa.literal_column("rowid") if self.kind == "sqlite"
                         else self.events.c.notification_id)

    def _discover(self) -> str:
        names = set(sa.inspect(self.engine).get_table_names(schema=self.schema))
        found = sorted(n for n in names if n.endswith("_events") and chain_table_for(n) in names)
        if len(found) != 1:
            raise StoreLayoutError(f"expected one chained events table, found {found or 'none'}")
        return found[0]

    def close(self) -> None:
        self.engine.dispose()

    def _event_select(self) -> sa.Select:
        e = self.events
        return sa.select(self.position.label("position"), e.c.originator_id,
                         e.c.originator_version, e.c.topic, e.c.state)

    @staticmethod
    def _logged(row: Any) -> LoggedEvent:
        return LoggedEvent(int(row.position), str(row.originator_id), int(row.originator_version),
                           row.topic, bytes(row.state))

    def iter_events(self, after: int = 0, batch: int = 20_000) -> Iterator[LoggedEvent]:
        """Every stored event after `after`, in log order (keyset pages)."""
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(self._event_select().where(self.position > after)
                                    .order_by(self.position).limit(batch)).all()
            if not rows:
                return
            for row in rows:
                yield self._logged(row)
            after = int(rows[-1].position)

    def iter_links(self, after: int = 0, batch: int = 50_000) -> Iterator[ChainLink]:
        c = self.links.c
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(sa.select(c.position, c.previous_position, c.hash)
                                    .where(c.position > after).order_by(c.position).limit(batch)).all()
            if not rows:
                return
            for row in rows:
                yield ChainLink(int(row.position), int(row.previous_position), bytes(row.hash))
            after = int(rows[-1].position)

    def event_at(self, position: int) -> LoggedEvent | None:
        with self.engine.connect() as conn:
            row = conn.execute(self._event_select().where(self.position == position)).first()
        return self._logged(row) if row else None
