"""Signed checkpoints of every service's log.

The checkpointer reads each service's store (read-only), extends that log's Merkle tree
with the new events (leaf hashes in `audit_leaves`, the roots of every complete block of
1,024 leaves and above in `audit_nodes`, so proofs never rehash the whole log), checks each
new event against the store's own hash chain before it vouches for it, signs
(service, size, root, time), keeps the checkpoint, and publishes it to
`dondoc.audit.checkpoints`.
"""

from __future__ import annotations

import asyncio
import json
from itertools import takewhile
import logging
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from dondoc_platform import metrics
from dondoc_platform.audit_chain import GENESIS, LoggedEvent, link

from dondoc_analytics.adapters.kafka import checkpoint_topic
from dondoc_analytics.adapters.signing import Signer
from dondoc_analytics.adapters.stores import ServiceStore
from dondoc_analytics.domain import merkle
from dondoc_analytics.domain.checkpoint import Checkpoint
from dondoc_analytics.projections.projector import copy_rows
from dondoc_analytics.projections.schema import CHECKPOINTS, LEAVES, NODES

log = logging.getLogger(__name__)

BLOCK_LEVEL = 10
BLOCK = 1 << BLOCK_LEVEL


class BrokenChain(Exception):
    """The store's hash chain does not hold at a new event: no checkpoint vouches for it."""

    def __init__(self, service: str, position: int) -> None:
        super().__init__(f"{service}: the hash chain breaks at position {position}")
        self.service = service
        self.position = position


class StoredTree:
    """One service's Merkle tree as kept in the audit tables."""

    def __init__(self, conn: sa.Connection, service: str) -> None:
        self.conn = conn
        self.service = service
        self._blocks: dict[int, list[bytes]] = {}

    def size(self) -> int:
        found = self.conn.execute(sa.select(sa.func.max(LEAVES.c.leaf_index)).where(
            LEAVES.c.service == self.service)).scalar()
        return 0 if found is None else int(found) + 1

    def last_position(self) -> int:
        found = self.conn.execute(sa.select(sa.func.max(LEAVES.c.position)).where(
            LEAVES.c.service == self.service)).scalar()
        return int(found or 0)

    def leaf_index_of(self, position: int) -> int | None:
        return self.conn.execute(sa.select(LEAVES.c.leaf_index).where(
            LEAVES.c.service == self.service, LEAVES.c.position == position)).scalar()

    def _block(self, number: int) -> list[bytes]:
        if number not in self._blocks:
            rows = self.conn.execute(sa.select(LEAVES.c.hash).where(
                LEAVES.c.service == self.service, LEAVES.c.leaf_index >= number * BLOCK,
                LEAVES.c.leaf_index < (number + 1) * BLOCK).order_by(LEAVES.c.leaf_index))
            self._blocks[number] = [bytes(r[0]) for r in rows]
        return self._blocks[number]

    def leaves(self, lo: int, hi: int) -> list[bytes]:
        out: list[bytes] = []
        for number in range(lo // BLOCK, (hi - 1) // BLOCK + 1):
            block = self._block(number)
            start = max(lo - number * BLOCK, 0)
            out.extend(block[start:min(hi - number * BLOCK, BLOCK)])
        return out

    def _node(self, level: int, index: int) -> bytes | None:
        found = self.conn.execute(sa.select(NODES.c.hash).where(
            NODES.c.service == self.service, NODES.c.level == level,
            NODES.c.node_index == index)).scalar()
        return bytes(found) if found is not None else None

    def mth(self, lo: int, hi: int) -> bytes:
        n = hi - lo
        if n <= BLOCK:
            return merkle.root(self.leaves(lo, hi)) if n else merkle.EMPTY_ROOT
        if n & (n - 1) == 0 and lo % n == 0:
            stored = self._node(n.bit_length() - 1, lo // n)
            if stored is not None:
                return stored
        k = merkle.split_point(n)
        return merkle.node_hash(self.mth(lo, lo + k), self.mth(lo + k, hi))

    def append(self, events: Sequence[LoggedEvent]) -> None:
        """Add the leaves of `events` (the next ones of the log) and the complete nodes."""
        start = self.size()
        if not events:
            return
        rows = [{"service": self.service, "leaf_index": start + i, "position": e.position,
                 "hash": merkle.leaf_hash(e.canonical())} for i, e in enumerate(events)]
        copy_rows(self.conn, LEAVES, rows)
        for number in list(self._blocks):
            if number >= start // BLOCK:
                del self._blocks[number]
        end = start + len(events)
        nodes = []
        for number in range(start // BLOCK, end // BLOCK):
            if (number + 1) * BLOCK > end or (number + 1) * BLOCK <= start:
                continue
            current = merkle.root(self._block(number))
            level, index = BLOCK_LEVEL, number
            nodes.append({"service": self.service, "level": level, "node_index": index,
                          "hash": current})
            while index & 1:
                left = self._node(level, index - 1) or next(
                    (n["hash"] for n in nodes if n["level"] == level and n["node_index"] == index - 1))
                current = merkle.node_hash(left, current)
                level, index = level + 1, index // 2
                nodes.append({"service": self.service, "level": level, "node_index": index,
                              "hash": current})
        if nodes:
            self.conn.execute(NODES.insert(), nodes)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return merkle.inclusion_proof(index, size, self.mth)

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        return merkle.consistency_proof(first, second, self.mth)


def latest_checkpoint(conn: sa.Connection, service: str) -> Checkpoint | None:
    row = conn.execute(sa.select(CHECKPOINTS.c.document).where(CHECKPOINTS.c.service == service)
                       .order_by(CHECKPOINTS.c.size.desc()).limit(1)).scalar()
    return Checkpoint.from_json(row) if row else None


def stored_checkpoints(conn: sa.Connection, service: str | None = None) -> list[Checkpoint]:
    statement = sa.select(CHECKPOINTS.c.document).order_by(CHECKPOINTS.c.service, CHECKPOINTS.c.size)
    if service:
        statement = statement.where(CHECKPOINTS.c.service == service)
    return [Checkpoint.from_json(r) for r in conn.execute(statement).scalars()]


class Checkpointer:
    def __init__(self, parts: Any, signer: Signer, *, batch: int = 20_000) -> None:
        self.parts = parts
        self.signer = signer
        self.batch = batch

    def make(self, service: str, url: str) -> Checkpoint | None:
        """Extend the service's tree with its new events; a new signed checkpoint if it grew."""
        store = ServiceStore(url)
        try:
            with self.parts.engine.begin() as conn:
                tree = StoredTree(conn, service)
                after = tree.last_position()
                previous_hash = _link_hash(store, after) if after else GENESIS
                pending: list[LoggedEvent] = []
                for event in store.iter_events(after=after, batch=self.batch):
                    pending.append(event)
                    if len(pending) >= self.batch:
                        previous_hash = self._checked(store, service, pending, previous_hash)
                        tree.append(pending)
                        pending = []
                if pending:
                    self._checked(store, service, pending, previous_hash)
                    tree.append(pending)
                size = tree.size()
                last = latest_checkpoint(conn, service)
                if last is not None:  # after a restart too, /metrics says where signing stands
                    metrics.checkpoint_recorded(service, last.size, last.time)
                if size == 0 or (last is not None and last.size == size):
                    return None
                previous = last.size if last else None
                proof = tuple(tree.consistency_proof(previous, size)) if previous else ()
                unsigned = Checkpoint(self.parts.settings.origin, service, size, tree.mth(0, size),
                                      datetime.now(timezone.utc), previous_size=previous,
                                      consistency_proof=proof)
                checkpoint = unsigned.signed(self.signer.key_id,
                                             self.signer.sign(unsigned.statement()))
                conn.execute(CHECKPOINTS.insert().values(
                    service=service, size=size, root=checkpoint.root.hex(),
                    made_at=checkpoint.time, document=checkpoint.to_json()))
            metrics.checkpoint_recorded(service, size, checkpoint.time)
            return checkpoint
        finally:
            store.close()

    @staticmethod
    def _checked(store: ServiceStore, service: str, events: list[LoggedEvent],
                 previous_hash: bytes) -> bytes:
        last = events[-1].position
        links = {item.position: item for item in takewhile(
            lambda item: item.position <= last,
            store.iter_links(after=events[0].position - 1, batch=len(events) + 1))}
        current = previous_hash
        for event in events:
            stored = links.get(event.position)
            current = link(current, event.canonical())
            if stored is None or stored.hash != current:
                raise BrokenChain(service, event.position)
        return current

    async def make_all(self) -> list[Checkpoint]:
        made = []
        for service, url in self.parts.settings.audit_store_urls().items():
            try:
                checkpoint = await asyncio.to_thread(self.make, service, url)
            except BrokenChain as e:
                metrics.AUDIT_CHECKPOINT_FAILURES.labels(service).inc()
                log.error("no checkpoint for %s: %s (run `dondoc audit verify`)", service, e)
                continue
            if checkpoint is not None:
                await self.publish(checkpoint)
                made.append(checkpoint)
        return made

    async def publish(self, checkpoint: Checkpoint) -> None:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=self.parts.bootstrap, acks="all",
                                    enable_idempotence=True)
        await producer.start()
        try:
            await producer.send_and_wait(checkpoint_topic(self.parts.settings.topic_prefix),
                                         key=checkpoint.service.encode(),
                                         value=checkpoint.to_json().encode("utf-8"),
                                         headers=[("content-type", b"application/json")])
        finally:
            await producer.stop()

    async def run(self, stop: asyncio.Event) -> None:
        interval = self.parts.settings.checkpoint_interval_seconds
        while not stop.is_set():
            try:
                await self.make_all()
            except Exception:
                log.exception("checkpointing failed; trying again in %.0f s", interval)
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                pass


def _link_hash(store: ServiceStore, position: int) -> bytes:
    with store.engine.connect() as conn:
        found = conn.execute(sa.select(store.links.c.hash).where(
            store.links.c.position == position)).scalar()
    if found is None:
        raise BrokenChain("store", position)
    return bytes(found)


def export(conn: sa.Connection, directory: Path, keys: dict[str, str] | None = None) -> list[Path]:
    """Write every checkpoint as a file an auditor keeps (and the public keys beside them)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for checkpoint in stored_checkpoints(conn):
        path = directory / checkpoint.file_name()
        path.write_text(checkpoint.to_json() + "\n", encoding="utf-8")
        written.append(path)
    if keys:
        path = directory / "public-keys.json"
        path.write_text(json.dumps(keys, indent=2) + "\n")
        written.append(path)
    return written
