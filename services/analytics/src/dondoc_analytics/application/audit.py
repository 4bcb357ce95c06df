"""`dondoc audit verify` and `dondoc audit history --prove`.

Verification, for every service whose store it is given:

1. the hash chain, recomputed from the stored events, against the stored links
   (altered, reordered, removed, missing_event, unchained, relinked);
2. the Merkle tree, recomputed from the stored events, against every signed checkpoint
   (root_mismatch, truncated), with the recomputed leaves compared to the leaves recorded
   when the checkpoints were made (leaf_differs names the first position);
3. every checkpoint's signature against the trusted keys (bad_signature), the consistency
   proof between consecutive checkpoints (inconsistent_checkpoints), and checkpoints that
   disagree about the same size (conflicting_checkpoints);
4. the copies on Kafka: each message's `ce_audithash` against the stored link at its
   `ce_sequence` (kafka_copy_differs, missing_from_store); and each message a rebuild
   trusts as its relay wrote it, proven as the live consumer would take it: its contract's
   serialisation of a valid event (kafka_copy_invalid, docs/adr/0013);
5. the read models: every projection replayed from Kafka into scratch tables, up to the
   positions of the live ones, compared row by row (projection_differs).

Memory stays bounded: the log is streamed once; only the stored link hashes are kept,
packed (40 bytes an event), for the Kafka comparison.
"""

from __future__ import annotations

import asyncio
import base64
import time
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import sqlalchemy as sa
from aiokafka import TopicPartition

from dondoc_contracts.envelope import header_map, sequence_number
from dondoc_platform.audit_chain import GENESIS, ChainLink, LoggedEvent, link

from dondoc_analytics.adapters import kafka
from dondoc_analytics.adapters.compiled import contract_decoder
from dondoc_analytics.adapters.signing import verify_signature
from dondoc_analytics.adapters.stores import ServiceStore
from dondoc_analytics.application.checkpoints import StoredTree, latest_checkpoint, stored_checkpoints
from dondoc_analytics.domain import merkle
from dondoc_analytics.domain.checkpoint import Checkpoint
from dondoc_analytics.projections import generations as gens
from dondoc_analytics.projections.schema import LEAVES, UNFILLED_COLUMNS


@dataclass(frozen=True)
class Finding:
    service: str
    position: int | None
    kind: str
    detail: str

    def __str__(self) -> str:
        where = f"position {self.position}" if self.position is not None else "—"
        return f"{self.service}: {where}: {self.kind}: {self.detail}"


@dataclass
class VerifyReport:
    findings: list[Finding] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.findings


# --------------------------------------------------------------------------- the chain


class LinkBook:
    """The stored link hashes of one log, packed, in position order."""

    def __init__(self) -> None:
        self.positions = array("q")
        self.hashes = bytearray()

    def add(self, item: ChainLink) -> None:
        self.positions.append(item.position)
        self.hashes += item.hash

    def get(self, position: int) -> bytes | None:
        i = bisect_left(self.positions, position)
        if i < len(self.positions) and self.positions[i] == position:
            return bytes(self.hashes[i * 32:(i + 1) * 32])
        return None

    def last(self) -> tuple[int, bytes] | None:
        if not self.positions:
            return None
        return self.positions[-1], bytes(self.hashes[-32:])


def _merge(events: Iterator[LoggedEvent], links: Iterator[ChainLink]
           ) -> Iterator[tuple[int, LoggedEvent | None, ChainLink | None]]:
    e, ln = next(events, None), next(links, None)
    while e is not None or ln is not None:
        if ln is None or (e is not None and e.position < ln.position):
            yield e.position, e, None
            e = next(events, None)
        elif e is None or ln.position < e.position:
            yield ln.position, None, ln
            ln = next(links, None)
        else:
            yield e.position, e, ln
            e, ln = next(events, None), next(links, None)


@dataclass
class _ChainState:
    service: str
    book: LinkBook = field(default_factory=LinkBook)
    previous_link: int = 0
    unchained: set[int] = field(default_factory=set)
    failing: list[tuple[int, bytes, LoggedEvent]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def see(self, position: int, event: LoggedEvent | None, item: ChainLink | None) -> None:
        if item is None:
            self.unchained.add(position)
            self.findings.append(Finding(self.service, position, "unchained",
                                         "an event without a chain link (its link was removed, "
                                         "or the event was written outside the recorder)"))
            return
        if item.previous_position != self.previous_link:
            gone = item.previous_position
            if self.previous_link < gone < position and gone not in self.unchained:
                self.findings.append(Finding(self.service, gone, "removed",
                                             f"the event at {gone} and its chain link were "
                                             f"removed (the link at {position} was made after it)"))
            elif gone not in self.unchained:
                self.findings.append(Finding(self.service, position, "relinked",
                                             f"the link says it follows {gone}, the log says "
                                             f"{self.previous_link}"))
        self.previous_link = position
        if item.previous_position == 0:
            prev_hash: bytes | None = GENESIS
        else:
            prev_hash = self.book.get(item.previous_position)
        self.book.add(item)
        if event is None:
            self.findings.append(Finding(self.service, position, "missing_event",
                                         "the chain has a link here but the event is gone"))
        elif prev_hash is not None and link(prev_hash, event.canonical()) != item.hash:
            self.failing.append((position, prev_hash, event))

    def classify(self) -> None:
        """Name each failing link: two events swapped, or one event altered."""
        explained: set[int] = set()
        for i, (p, prev_p, ep) in enumerate(self.failing):
            for q, prev_q, eq in self.failing[i + 1:]:
                if p in explained or q in explained:
                    continue
                moved_p = LoggedEvent(p, eq.originator_id, eq.originator_version, eq.topic, eq.state)
                moved_q = LoggedEvent(q, ep.originator_id, ep.originator_version, ep.topic, ep.state)
                if (link(prev_p, moved_p.canonical()) == self.book.get(p)
                        and link(prev_q, moved_q.canonical()) == self.book.get(q)):
                    detail = f"the events at positions {p} and {q} were swapped"
                    self.findings += [Finding(self.service, p, "reordered", detail),
                                      Finding(self.service, q, "reordered", detail)]
                    explained |= {p, q}
        for p, _, _ in self.failing:
            if p not in explained:
                self.findings.append(Finding(self.service, p, "altered",
                                             "the stored event does not match its chain link"))


# --------------------------------------------------------------------------- checkpoints


def checkpoints_from_files(paths: Iterable[Path]) -> list[Checkpoint]:
    found = []
    for path in paths:
        files = sorted(path.glob("*.checkpoint.json")) if path.is_dir() else [path]
        found += [Checkpoint.from_json(f.read_text(encoding="utf-8")) for f in files]
    return found


async def checkpoints_from_kafka(bootstrap: str, topic: str) -> list[Checkpoint]:
    ends = await kafka.end_offsets(bootstrap, [topic])
    consumer = kafka.reader(bootstrap)
    await consumer.start()
    found = []
    try:
        async for batch in kafka.read_range(consumer, {}, ends):
            for record in batch:
                try:
                    found.append(Checkpoint.from_json(record.value))
                except (ValueError, KeyError, TypeError):
                    continue
    finally:
        await kafka.close(consumer)
    return found


def check_checkpoints(service: str, checkpoints: Sequence[Checkpoint], keys: dict) -> tuple[
        list[Checkpoint], list[Finding]]:
    """The trustworthy checkpoints of one log (by size), and what is wrong with the others."""
    findings: list[Finding] = []
    by_size: dict[int, Checkpoint] = {}
    for cp in checkpoints:
        if not verify_signature(keys, cp.key_id, cp.statement(), cp.signature):
            findings.append(Finding(service, None, "bad_signature",
                                    f"the checkpoint of size {cp.size} is not signed by a "
                                    f"trusted key (key id {cp.key_id or 'none'})"))
            continue
        known = by_size.get(cp.size)
        if known is not None and known.root != cp.root:
            findings.append(Finding(service, None, "conflicting_checkpoints",
                                    f"two signed checkpoints of size {cp.size} have different roots"))
            continue
        by_size[cp.size] = cp
    ordered = [by_size[s] for s in sorted(by_size)]
    for cp in ordered:
        if cp.previous_size is None:
            continue
        previous = by_size.get(cp.previous_size)
        if previous is None:
            continue
        if not merkle.verify_consistency(previous.size, cp.size, previous.root, cp.root,
                                         cp.consistency_proof):
            findings.append(Finding(service, None, "inconsistent_checkpoints",
                                    f"the checkpoint of size {cp.size} does not extend the one "
                                    f"of size {previous.size}: the log was rewritten between them"))
    return ordered, findings


# --------------------------------------------------------------------------- the auditor


class Auditor:
    def __init__(self, parts: Any, keys: dict, *, checkpoint_files: Sequence[Path] = ()) -> None:
        self.parts = parts
        self.keys = keys
        self.checkpoint_files = list(checkpoint_files)

    async def verify(self, *, use_kafka: bool = True, projections: bool = True) -> VerifyReport:
        report = VerifyReport()
        started = time.perf_counter()
        from_files = checkpoints_from_files(self.checkpoint_files)
        from_kafka = (await checkpoints_from_kafka(
            self.parts.bootstrap, kafka.checkpoint_topic(self.parts.settings.topic_prefix))
            if use_kafka else [])
        with self.parts.engine.connect() as conn:
            from_db = stored_checkpoints(conn)
        report.seconds["checkpoints"] = time.perf_counter() - started
        for service, url in self.parts.settings.audit_store_urls().items():
            mine = [c for c in (*from_files, *from_kafka, *from_db) if c.service == service]
            started = time.perf_counter()
            book = await asyncio.to_thread(self._verify_store, service, url, mine, report)
            report.seconds[f"store:{service}"] = time.perf_counter() - started
            if use_kafka:
                started = time.perf_counter()
                await self._verify_kafka(service, book, report)
                report.seconds[f"kafka:{service}"] = time.perf_counter() - started
        if use_kafka:  # the topics of services without a store: only what a rebuild trusts
            stored = self.parts.settings.audit_store_urls()
            for service in kafka.service_topics(self.parts.settings.topic_prefix):
                if service not in stored:
                    started = time.perf_counter()
                    await self._verify_kafka(service, None, report)
                    report.seconds[f"kafka:{service}"] = time.perf_counter() - started
        if projections:
            started = time.perf_counter()
            await self._verify_projections(report)
            report.seconds["projections"] = time.perf_counter() - started
        return report

    def _verify_store(self, service: str, url: str, checkpoints: list[Checkpoint],
                      report: VerifyReport) -> LinkBook:
        trusted, problems = check_checkpoints(service, checkpoints, self.keys)
        report.findings += problems
        store = ServiceStore(url)
        state = _ChainState(service)
        frontier = merkle.Frontier()
        pending = list(trusted)
        recorded = self._recorded_leaves(service)
        first_leaf_difference: tuple[int, int] | None = None
        leaf_differences = 0
        try:
            for position, event, item in _merge(store.iter_events(), store.iter_links()):
                state.see(position, event, item)
                if event is None:
                    continue
                leaf = merkle.leaf_hash(event.canonical())
                index = frontier.size
                frontier.append(leaf)
                kept = next(recorded, None)
                if kept is not None and (kept[0] != position or kept[1] != leaf):
                    leaf_differences += 1
                    if first_leaf_difference is None:  # named by the checkpointed position
                        first_leaf_difference = (index, kept[0])
                while pending and pending[0].size == frontier.size:
                    cp = pending.pop(0)
                    if frontier.root() != cp.root:
                        report.findings.append(Finding(
                            service, None, "root_mismatch",
                            f"the first {cp.size} events do not hash to the root signed "
                            f"at {cp.time.isoformat()}"))
        finally:
            store.close()
        state.classify()
        report.findings += state.findings
        for cp in pending:
            report.findings.append(Finding(service, None, "truncated",
                                           f"a signed checkpoint says the log had {cp.size} "
                                           f"events; it has {frontier.size}"))
        if first_leaf_difference is not None:
            index, position = first_leaf_difference
            report.findings.append(Finding(
                service, position, "leaf_differs",
                f"the event checkpointed at leaf {index} is not there any more "
                f"({leaf_differences} leaf(s) differ from there on)"))
        report.checked[f"events:{service}"] = frontier.size
        report.checked[f"checkpoints:{service}"] = len(trusted)
        return state.book

    def _recorded_leaves(self, service: str) -> Iterator[tuple[int, bytes]]:
        """The leaves recorded when checkpoints were made, in order (streamed)."""
        after = -1
        while True:
            with self.parts.engine.connect() as conn:
                rows = conn.execute(sa.select(LEAVES.c.leaf_index, LEAVES.c.position, LEAVES.c.hash)
                                    .where(LEAVES.c.service == service, LEAVES.c.leaf_index > after)
                                    .order_by(LEAVES.c.leaf_index).limit(50_000)).all()
            if not rows:
                return
            for row in rows:
                yield int(row.position), bytes(row.hash)
            after = int(rows[-1].leaf_index)

    async def _verify_kafka(self, service: str, book: LinkBook | None,
                            report: VerifyReport) -> None:
        """The service's messages on Kafka: each one's audit hash against the stored link
        (with its store's `book`), and each one a rebuild trusts (`ContractDecoder.unproven`)."""
        topic = kafka.service_topics(self.parts.settings.topic_prefix)[service]
        ends = await kafka.end_offsets(self.parts.bootstrap, [topic])
        consumer = kafka.reader(self.parts.bootstrap)
        await consumer.start()
        differs: list[tuple[int, TopicPartition, int]] = []
        missing: list[int] = []
        invalid: list[tuple[int, TopicPartition, int, str]] = []
        unproven = contract_decoder().unproven
        seen = 0
        try:
            async for batch in kafka.read_range(consumer, {}, ends):
                for record in batch:
                    headers = header_map(record.headers)
                    # what a rebuild trusts without proof (docs/adr/0013) is proven here
                    why = unproven(record.headers or (), record.value)
                    if why is not None:  # in the relay's form: its sequence is digits
                        invalid.append((int(headers["ce_sequence"]),
                                        TopicPartition(record.topic, record.partition),
                                        record.offset, why))
                    sequence, claimed = headers.get("ce_sequence"), headers.get("ce_audithash")
                    if sequence_number(sequence) is None or not claimed:
                        continue
                    seen += 1
                    if book is None:
                        continue
                    stored = book.get(int(sequence))
                    if stored is None:
                        missing.append(int(sequence))
                    elif stored.hex() != claimed:
                        differs.append((int(sequence), TopicPartition(record.topic, record.partition),
                                        record.offset))
        finally:
            await kafka.close(consumer)
        if differs:
            differs.sort()
            position, tp, offset = differs[0]
            report.findings.append(Finding(
                service, position, "kafka_copy_differs",
                f"the hash published with this event ({tp.topic}[{tp.partition}]@{offset}) is "
                f"not the stored one: the stored event or its link was rewritten "
                f"({len({d[0] for d in differs})} position(s) differ from there on)"))
        if invalid:
            invalid.sort()
            position, tp, offset, why = invalid[0]
            report.findings.append(Finding(
                service, position, "kafka_copy_invalid",
                f"the message published with this event's audit hash ({tp.topic}[{tp.partition}]"
                f"@{offset}) is not what its service's relay writes: {why}; a rebuild stores it "
                f"as it is ({len(invalid)} message(s))"))
        if missing:
            report.findings.append(Finding(
                service, min(missing), "missing_from_store",
                f"published on Kafka but not in the store ({len(set(missing))} position(s))"))
        report.checked[f"kafka:{service}"] = seen

    async def _verify_projections(self, report: VerifyReport) -> None:
        """Replay every projection into scratch tables up to the live positions; compare."""
        engine = self.parts.engine
        projection = self.parts.projection
        with engine.connect() as snapshot:
            if engine.dialect.name == "postgresql":
                snapshot = snapshot.execution_options(isolation_level="REPEATABLE READ")
            else:  # pysqlite begins no transaction for reads: begin one to hold a snapshot
                snapshot.exec_driver_sql("BEGIN")
            live = gens.active_generation(snapshot)
            positions = kafka.recorded_positions(snapshot, gens.consumer_name(live))
            live_tables = gens.tables_of(live)
            live_counts = {t.name: snapshot.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                           for t in live_tables.all()}  # holds the snapshot from here on
            until = {tp: offset + 1 for tp, offset in positions.items()}
            ends = await kafka.end_offsets(self.parts.bootstrap, projection.topics)
            for tp in ends:
                until.setdefault(tp, 0)
            built = await projection.build("scratch", until=until)
            scratch = gens.tables_of(built.generation)
            try:
                with engine.connect() as other:
                    for mine, theirs in zip(live_tables.all(), scratch.all(), strict=True):
                        base = mine.name.removeprefix(live_tables.prefix)
                        report.findings += _compare(base, snapshot, mine, other, theirs)
                        report.checked[f"rows:{base}"] = live_counts[mine.name]
            finally:
                await asyncio.to_thread(gens.drop_generation, engine, built.generation, "scratch-done")


def _compare(base: str, left_conn: sa.Connection, left: sa.Table, right_conn: sa.Connection,
             right: sa.Table, *, limit: int = 10) -> list[Finding]:
    keys = [c.name for c in left.primary_key.columns]
    # the sentences an earlier version stored are not the read model any more (docs/adr/0010)
    columns = [c.name for c in left.columns
               if c.name not in UNFILLED_COLUMNS]

    def rows(conn: sa.Connection, table: sa.Table) -> Iterator[tuple]:
        statement = sa.select(*[table.c[c] for c in columns]).order_by(*[table.c[k] for k in keys])
        result = conn.execute(statement, execution_options={"yield_per": 20_000})
        for row in result:
            yield tuple(row)

    index = [columns.index(k) for k in keys]
    findings: list[Finding] = []
    counted = 0
    a_iter, b_iter = rows(left_conn, left), rows(right_conn, right)
    a, b = next(a_iter, None), next(b_iter, None)
    while a is not None or b is not None:
        ka = tuple(a[i] for i in index) if a is not None else None
        kb = tuple(b[i] for i in index) if b is not None else None
        if a is not None and (b is None or ka < kb):
            problem, a = f"{base} row {ka} is in the live read model but not in the replay", next(a_iter, None)
        elif b is not None and (a is None or kb < ka):
            problem, b = f"{base} row {kb} is in the replay but not in the live read model", next(b_iter, None)
        else:
            if a != b:
                diff = [columns[i] for i in range(len(columns)) if a[i] != b[i]]
                problem = f"{base} row {ka} differs from the replay in {', '.join(diff)}"
            else:
                problem = ""
            a, b = next(a_iter, None), next(b_iter, None)
        if problem:
            counted += 1
            if counted <= limit:
                findings.append(Finding("analytics", None, "projection_differs", problem))
    if counted > limit:
        findings.append(Finding("analytics", None, "projection_differs",
                                f"{base}: {counted - limit} more difference(s)"))
    return findings


# --------------------------------------------------------------------------- proofs


class KeptSize(NamedTuple):
    """A checkpoint an auditor kept, as far as its consistency proof needs it: the proof is
    made from the size alone; the auditor checks it against the root they kept (the API
    takes these, `service:size`; the command line reads the kept files)."""

    service: str
    size: int

    @classmethod
    def parse(cls, text: str) -> KeptSize:
        """`tasks:120`; ValueError if it is not a service name, a colon and a size > 0."""
        service, colon, size = text.partition(":")
        if not colon or not service or not (size.isascii() and size.isdigit()) or int(size) < 1:
            raise ValueError(text)
        return cls(service, int(size))


def prove_history(parts: Any, task_id: str,
                  kept: Sequence[Checkpoint | KeptSize] = ()) -> dict[str, Any]:
    """A task's history with, for each event, its stored form and its inclusion proof in its
    service's log under the latest signed checkpoint: checkable offline (docs). `kept`: the
    checkpoints an auditor kept; for each, the consistency proof from its size to the proof's
    checkpoint, so the auditor can see that the log proven now extends the log they signed
    off (a log rewritten and signed again with the key would not)."""
    history = parts.reading.history(task_id)
    urls = parts.settings.audit_store_urls()
    stores: dict[str, ServiceStore] = {}
    out_events = []
    checkpoints: dict[str, dict[str, Any]] = {}
    consistency: dict[str, dict[str, list[str]]] = {}
    try:
        with parts.engine.connect() as conn:
            for item in history.events:
                entry: dict[str, Any] = dict(item)
                service, position = item["service"], item["position"]
                latest = latest_checkpoint(conn, service)
                tree = StoredTree(conn, service)
                index = tree.leaf_index_of(position) if position is not None else None
                if service in urls and index is not None and latest is not None \
                        and index < latest.size:
                    store = stores.setdefault(service, ServiceStore(urls[service]))
                    stored = store.event_at(position)
                    if stored is not None:
                        entry["stored_event"] = {
                            "position": stored.position, "originator_id": str(stored.originator_id),
                            "originator_version": stored.originator_version, "topic": stored.topic,
                            "state_base64": base64.b64encode(stored.state).decode()}
                        entry["leaf_index"] = index
                        entry["tree_size"] = latest.size
                        entry["inclusion_proof"] = [h.hex() for h in
                                                    tree.inclusion_proof(index, latest.size)]
                        checkpoints[service] = latest.document()
                if "inclusion_proof" not in entry:
                    entry["inclusion_proof"] = None
                    entry["unproven_reason"] = (
                        "no store configured for this service" if service not in urls
                        else "not covered by a signed checkpoint yet")
                out_events.append(entry)
            for service, document in checkpoints.items():
                tree = StoredTree(conn, service)
                consistency[service] = {
                    str(cp.size): [h.hex() for h in tree.consistency_proof(cp.size, document["size"])]
                    for cp in kept if cp.service == service and 0 < cp.size < document["size"]}
    finally:
        for store in stores.values():
            store.close()
    return {"task_id": task_id, "task": history.task, "events": out_events,
            "checkpoints": checkpoints, "consistency": consistency,
            "trusted_keys": parts.signer().public_document() if parts.signer() else {}}
