"""Keeping the read models: the live consumer, rebuilds into a new generation, read-your-writes.

- `follow` applies every new event to the active generation (through `SqlInbox`: inbox rows,
  effects and positions in one transaction) and moves to the new generation after a switch.
- `rebuild` replays every topic from offset 0 into a fresh generation (bulk: COPY of the
  event rows, the tasks and their periods folded by the loaders, then the other derived
  tables in set-based passes), catches it up with the events that kept arriving, and
  switches the views to it in one transaction.
- `wait_caught_up` waits until the active generation has applied every event published
  before the call (the broker's end offsets taken at call time).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from aiokafka import TopicPartition
from sqlalchemy.dialects import sqlite

from dondoc_contracts import UndecodableEvent, decode
from dondoc_platform.inbox import DeadLetters, Delivery, SqlInbox, sanitize

from dondoc_analytics.adapters import kafka
from dondoc_analytics.adapters.compiled import contract_decoder
from dondoc_analytics.projections import generations as gens, setbased
from dondoc_analytics.projections.projector import Projector, copy_tuples
from dondoc_analytics.projections.rows import (
    EVENT_COLUMNS,
    PERIOD_COLUMNS,
    TASK_COLUMNS,
    LoadedTasks,
    event_values_and_fact,
)
from dondoc_analytics.projections.schema import POSITIONS, ProjectionTables, fixed

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes | None, bytes | None, list[tuple[str, bytes]]], Any]


@dataclass
class Loaded:
    """What one loader did: events copied, records no contract accepts (left out), the last
    offset read in each partition, and, when it folded the tasks it read (`LoadedTasks`):
    which tasks, how many repeated deliveries it saw, and whether its fold is sure."""

    events: int = 0
    undecodable: int = 0
    #: records the compiled decoder took (the contract's own serialisation, stored as is)
    compiled: int = 0
    #: of those, records taken as their service's relay wrote them (docs/adr/0013)
    trusted: int = 0
    positions: dict[TopicPartition, int] = field(default_factory=dict)
    tasks: set[str] | None = None
    repeats: int = 0
    unsure: bool = False


async def load(bootstrap: str, engine: sa.Engine, tables: ProjectionTables, ends: kafka.Offsets,
               chunk: int, *, fold: bool = False) -> Loaded:
    """Bulk-load the events of these partitions, from offset 0 to `ends`, into the keyless
    events table of `tables`: decoded by the decoder compiled from the contracts
    (`adapters.compiled`, whose structs the rows are built from), a record in the form its
    service's relay writes trusted to be what the relay made it (typed by its struct, its
    bytes stored; `audit verify` checks those records, docs/adr/0013), every other validated
    as the live consumer does (stored as it is when it is its contract's own serialisation,
    else handed to the contract; an undecodable record is counted and left out, as its dead
    letter was sent already); copied in chunks while the next chunk is decoded.
    With `fold` (PostgreSQL), the loader also keeps each task's facts (`LoadedTasks`) and,
    once its events are copied, writes the `tasks` and `task_periods` rows of the tasks it
    read, folded by the live consumer's code, so the derive does not sort and fold the
    whole log's facts again."""
    out = Loaded()
    last: dict[tuple[str, int], int] = {}
    tasks = LoadedTasks() if fold else None
    rows: list[tuple] = []
    copying: asyncio.Future | None = None  # the previous chunk, copied while we decode
    decoder = contract_decoder()
    decode_record = decoder.replay
    compiled_before, trusted_before = decoder.fast, decoder.trusted
    consumer = kafka.reader(bootstrap)
    await consumer.start()
    collecting = gc.isenabled()
    if tasks is not None:  # what it keeps is not garbage, and what it drops has no cycles:
        gc.disable()       # the collector need not walk it, while it loads
    try:
        async for records in kafka.read_range(consumer, {}, ends, max_records=chunk,
                                              compact=True):
            load_records(records, decode_record, tasks, rows, last, out)
            if len(rows) >= chunk:
                if tasks is not None:  # nor once it is on again (the young objects kept
                    gc.freeze()       # would be walked in one go)
                if copying is not None:
                    await copying
                copying = asyncio.ensure_future(asyncio.to_thread(
                    _copy_events, engine, tables.events, rows))
                out.events += len(rows)
                rows = []
        if copying is not None:
            await copying
            copying = None
        if rows:
            await asyncio.to_thread(_copy_events, engine, tables.events, rows)
            out.events += len(rows)
        if tasks is not None:
            await asyncio.to_thread(_copy_tasks, engine, tables, tasks)
            out.tasks, out.repeats, out.unsure = tasks.tasks(), tasks.repeats, tasks.unsure
    finally:
        if tasks is not None:
            gc.unfreeze()
            if collecting:
                gc.enable()
        if copying is not None:
            await asyncio.gather(copying, return_exceptions=True)
        await kafka.close(consumer)
    out.positions = {TopicPartition(*tp): offset for tp, offset in last.items()}
    out.compiled = decoder.fast - compiled_before
    out.trusted = decoder.trusted - trusted_before
    return out


def load_records(records: Sequence[Any], decode_record: Callable[[Any], Any],
                 tasks: LoadedTasks | None, rows: list[tuple], last: dict[tuple[str, int], int],
                 out: Loaded) -> None:
    """`load`'s work on one batch of records read: each decoded (`decode_record`, the
    compiled decoder's `replay`, given the record), its event row appended to `rows` (the
    payload as UTF-8 bytes), its fact noted in `tasks` (when the loader folds); the last
    offset read of each partition in `last`, the records no contract accepts counted in
    `out`."""
    append = rows.append
    add = tasks.add if tasks is not None else None
    undecodable = 0
    for record in records:
        topic, partition, offset = record.topic, record.partition, record.offset
        last[topic, partition] = offset
        try:
            event_id, position, audit_hash, event, payload = decode_record(record)
        except UndecodableEvent:
            undecodable += 1
            continue
        row, fact = event_values_and_fact(event_id, position, audit_hash, event, topic,
                                          partition, offset, payload)
        append(row)
        if add is not None:
            add(event_id, event, fact)
    out.undecodable += undecodable


#: the events' payload column: the loaders' rows hold it as the stored text's UTF-8 bytes
_PAYLOAD = EVENT_COLUMNS.index("payload")


def _copy_events(engine: sa.Engine, table: sa.Table, rows: list[tuple]) -> None:
    """The loaders' event rows (their payload as UTF-8 bytes) into the events table. On
    PostgreSQL the bytes go as they are: a binary COPY sends each value's bytes with no type
    of its own, and the server reads the text column's with text's own input (checking the
    UTF-8), so the stored text is the one psycopg would have sent for the decoded `str`,
    without decoding it here and encoding it again there (docs/adr/0016)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            copy_tuples(conn, table, EVENT_COLUMNS, rows, {"payload": "bytea"})
        else:
            conn.execute(sqlite.insert(table).on_conflict_do_nothing(),
                         [dict(zip(EVENT_COLUMNS, (*row[:_PAYLOAD], row[_PAYLOAD].decode(),
                                                   *row[_PAYLOAD + 1:])))
                          for row in rows])


def _copy_tasks(engine: sa.Engine, tables: ProjectionTables, tasks: LoadedTasks) -> None:
    """The tasks a loader read, folded, into `tasks` and `task_periods` (PostgreSQL)."""
    task_rows, period_rows = tasks.rows()
    with engine.begin() as conn:
        copy_tuples(conn, tables.tasks, TASK_COLUMNS, task_rows)
        copy_tuples(conn, tables.task_periods, PERIOD_COLUMNS, period_rows)


def _load_elsewhere(bootstrap: str, url: str, generation: int, ends: kafka.Offsets,
                    chunk: int) -> Loaded:
    """`load` in a process of its own (the rebuild's other loaders, PostgreSQL); `url` is
    the SQLAlchemy URL of the read models' engine."""
    engine = sa.create_engine(url)
    try:
        return asyncio.run(load(bootstrap, engine, gens.tables_of(generation), ends, chunk,
                                fold=True))
    finally:
        engine.dispose()


def folded_for_sure(loaded: Sequence[Loaded], repeated: int) -> bool:
    """Whether the loaders' own fold of the tasks is the one the whole log gives: every
    loader folded and is sure, no task has facts in two loaders' partitions, and every
    repeated delivery the events key dropped was one a loader saw twice itself."""
    if any(part.tasks is None or part.unsure for part in loaded):
        return False
    if sum(part.repeats for part in loaded) != repeated:
        return False
    seen: set[str] = set()
    for part in loaded:
        if not seen.isdisjoint(part.tasks):
            return False
        seen |= part.tasks
    return True


def _shares(ends: kafka.Offsets, n: int) -> list[kafka.Offsets]:
    """The partitions split in `n` shares of about as many records (a partition stays whole,
    so each task's events stay in one loader's order)."""
    shares: list[dict[TopicPartition, int]] = [{} for _ in range(n)]
    sizes = [0] * n
    for tp, end in sorted(ends.items(), key=lambda item: -item[1]):
        smallest = sizes.index(min(sizes))
        shares[smallest][tp] = end
        sizes[smallest] += end
    return [share for share in shares if share] or [{}]


async def _discard(*_: Any) -> None:
    """Dead letters of a replay go nowhere: the live consumer sent them already."""


@dataclass
class RebuildReport:
    generation: int
    events: int = 0
    undecodable: int = 0
    #: records the compiled decoder took (the others went through the contract)
    compiled: int = 0
    #: of those, records taken as their service's relay wrote them (docs/adr/0013)
    trusted: int = 0
    repeated: int = 0
    caught_up_events: int = 0
    #: the loaders folded the tasks they read (PostgreSQL), rather than the derive
    tasks_folded_by_loaders: bool = False
    switched: bool = False
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        total = sum(self.seconds.values())
        return self.events / total if total else 0.0


class Projection:
    """The read models in one database, fed from the services' topics."""

    def __init__(self, engine: sa.Engine, bootstrap: str, topics: Sequence[str], *,
                 publish: Publish | None = None, max_records: int = 500,
                 switch_check_seconds: float = 0.5, load_processes: int = 2) -> None:
        self.engine = engine
        self.bootstrap = bootstrap
        self.topics = list(topics)
        self.publish = publish or _discard
        self.max_records = max_records
        self.switch_check_seconds = switch_check_seconds
        #: processes loading the partitions in a rebuild (PostgreSQL; SQLite loads in one)
        self.load_processes = load_processes

    # -- generations ----------------------------------------------------------------------

    def active(self) -> int:
        with self.engine.connect() as conn:
            generation = gens.active_generation(conn)
        if generation is None:
            raise RuntimeError("the read models have no active generation (ensure_schema first)")
        return generation

    def positions(self, generation: int) -> kafka.Offsets:
        with self.engine.connect() as conn:
            return kafka.recorded_positions(conn, gens.consumer_name(generation))

    def inbox_for(self, generation: int, *, dead_letters: Publish | None = None) -> SqlInbox:
        projector = Projector(gens.tables_of(generation))

        def apply(conn: sa.Connection, deliveries: Sequence[Delivery]) -> None:
            gens.hold_generation(conn, generation)
            projector.apply(conn, deliveries)

        name = gens.consumer_name(generation)
        return SqlInbox(self.engine, fixed, consumer=name, apply=apply,
                        dead_letters=DeadLetters(dead_letters or self.publish, name))

    # -- the live consumer ----------------------------------------------------------------

    async def follow(self, stop: asyncio.Event) -> None:
        """Apply new events to the active generation until `stop`; survive failures by
        starting again from the recorded positions."""
        while not stop.is_set():
            try:
                await self.consume(self.active(), stop)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("analytics consumer failed; resuming from the recorded positions")
                try:
                    await asyncio.wait_for(stop.wait(), 1.0)
                except TimeoutError:
                    pass

    async def consume(self, generation: int, stop: asyncio.Event, *,
                      until: kafka.Offsets | None = None, follow_switch: bool = True) -> int:
        """Apply events to `generation` from its positions; return when stopped, when the
        active generation changes (`follow_switch`), or when `until` is reached."""
        inbox = self.inbox_for(generation)
        consumer = kafka.reader(self.bootstrap)
        await consumer.start()
        applied = 0
        try:
            tps = await kafka.partitions_of(consumer, self.topics)
            consumer.assign(tps)
            recorded = self.positions(generation)
            for tp in tps:
                if tp in recorded:
                    consumer.seek(tp, recorded[tp] + 1)
                else:
                    await consumer.seek_to_beginning(tp)
            last_check = time.monotonic()
            while not stop.is_set():
                if until is not None and kafka.caught_up(until, self.positions(generation)):
                    return applied
                batches = await consumer.getmany(timeout_ms=200, max_records=self.max_records)
                records = [sanitize(r) for rs in batches.values() for r in rs]
                if records:
                    await inbox.handle(records)
                    applied += len(records)
                if follow_switch and time.monotonic() - last_check >= self.switch_check_seconds:
                    last_check = time.monotonic()
                    if self.active() != generation:
                        log.info("analytics: generation %s replaced; following the new one",
                                 generation)
                        return applied
        finally:
            await kafka.close(consumer)
        return applied

    # -- read your writes -----------------------------------------------------------------

    async def wait_caught_up(self, timeout: float = 60.0) -> bool:
        """True once the active generation applied everything published before this call."""
        ends = await kafka.end_offsets(self.bootstrap, self.topics)
        return await kafka.wait_until(
            lambda: kafka.caught_up(ends, self.positions(self.active())), timeout=timeout)

    async def lag(self) -> int:
        ends = await kafka.end_offsets(self.bootstrap, self.topics)
        return kafka.lag(ends, self.positions(self.active()))

    # -- rebuild --------------------------------------------------------------------------

    async def build(self, purpose: str, *, until: kafka.Offsets | None = None,
                    chunk: int = 20_000) -> RebuildReport:
        """A new generation holding every event up to `until` (default: the end offsets
        now), loaded in bulk; not active yet."""
        started = time.perf_counter()
        generation, tables = gens.create_generation(self.engine, purpose, bulk=True)
        report = RebuildReport(generation)
        ends = until if until is not None else await kafka.end_offsets(self.bootstrap, self.topics)
        last: dict[TopicPartition, int] = {}
        shares = (_shares(ends, self.load_processes)
                  if self.engine.dialect.name == "postgresql" and self.load_processes > 1 else [ends])
        if len(shares) > 1:  # one share (every partition empty: nothing yet) loads here
            url = self.engine.url.render_as_string(hide_password=False)
            loop = asyncio.get_running_loop()
            with ProcessPoolExecutor(len(shares) - 1, mp_context=get_context("spawn")) as pool:
                others = [loop.run_in_executor(pool, _load_elsewhere, self.bootstrap, url,
                                               generation, share, chunk)
                          for share in shares[1:]]
                loaded = [await self._load(tables, shares[0], chunk),
                          *await asyncio.gather(*others)]
        else:
            loaded = [await self._load(tables, ends, chunk)]
        for part in loaded:
            report.events += part.events
            report.undecodable += part.undecodable
            report.compiled += part.compiled
            report.trusted += part.trusted
            last.update(part.positions)
        report.seconds["load"] = time.perf_counter() - started
        started = time.perf_counter()
        report.repeated, report.tasks_folded_by_loaders = await asyncio.to_thread(
            self._derive, generation, tables, last, loaded)
        report.events -= report.repeated
        report.seconds["derive"] = time.perf_counter() - started
        return report

    async def _load(self, tables, ends: kafka.Offsets, chunk: int) -> Loaded:
        return await load(self.bootstrap, self.engine, tables, ends, chunk,
                          fold=self.engine.dialect.name == "postgresql")

    def _derive(self, generation: int, tables, last: dict[TopicPartition, int],
                loaded: Sequence[Loaded]) -> tuple[int, bool]:
        """Returns the repeated deliveries dropped and whether the loaders' fold of the
        tasks was kept."""
        name = gens.consumer_name(generation)
        positions = [{"consumer": name, "topic": tp.topic, "partition": tp.partition,
                      "kafka_offset": offset} for tp, offset in last.items()]
        if self.engine.dialect.name == "postgresql":
            repeated, sure = self._derive_side_by_side(tables, loaded)
            with self.engine.begin() as conn:  # only once every derived table is complete
                if positions:
                    conn.execute(POSITIONS.insert(), positions)
            return repeated, sure
        with self.engine.begin() as conn:
            gens.finish_bulk_load(conn, tables)
            repeated = sum(part.events for part in loaded) - conn.execute(  # skipped as they came
                sa.select(sa.func.count()).select_from(tables.events)).scalar()
            Projector(tables).derive_all(conn)
            if positions:
                conn.execute(POSITIONS.insert(), positions)
        self._tidy(tables, tables.all())
        return repeated, False

    def _derive_side_by_side(self, tables, loaded: Sequence[Loaded]) -> tuple[int, bool]:
        """PostgreSQL: the derived tables in two transactions at once, each on a connection
        of its own, both cores busy from the start to the end:

        - the events key first (dropping repeated deliveries), committed, then the other
          derived tables (`setbased.derive_the_rest`, which reads the events with their
          repeats dropped: reads and index builds do not lock each other out);
        - meanwhile the keys and indexes of the tasks and periods the loaders folded, kept
          only if the events key confirms the fold (`folded_for_sure`: the repeats it
          dropped are those the loaders saw), else rolled back and derived again from the
          events table (`Projector.derive_tasks`, the live consumer's fold); then, once the
          events key is committed, the events' secondary indexes (task, directive, report).

        (The set-based derive follows the events key rather than the tasks' keys, and the
        events' indexes the tasks' keys rather than the events key: the two sides then take
        about as long, where the tasks' side used to run alone for the last third.)

        Each table's indexes are built once it is filled, in one sort, and each side tidies
        its tables once committed. Nothing reads the generation before its positions are
        recorded, after both. Returns the repeats dropped and whether the fold was kept."""
        keyed: Future[int] = Future()  # the events key, committed: the repeats it dropped
        hopeful = folded_for_sure(loaded, sum(part.repeats for part in loaded))
        task_tables = (tables.tasks, tables.task_periods)
        the_rest = (tables.reports, tables.directives, tables.event_tasks, tables.report_reviews,
                    tables.unit_versions)

        def indexed(job: Callable[[sa.Connection], None], which: Sequence[sa.Table]) -> None:
            with self.engine.begin() as conn:
                _sort_memory(conn)
                job(conn)
                for table in which:
                    tables.create_indexes(conn, table)
            self._tidy(tables, which)

        def events_side() -> None:
            try:
                with self.engine.begin() as conn:
                    _sort_memory(conn)
                    repeated = gens.restore_events_key(conn, tables)
            except BaseException as e:
                keyed.set_exception(e)
                raise
            keyed.set_result(repeated)
            indexed(lambda conn: setbased.derive_the_rest(conn, tables), the_rest)

        def refold(conn: sa.Connection) -> None:
            conn.exec_driver_sql(f'TRUNCATE "{tables.task_periods.name}", "{tables.tasks.name}"')
            Projector(tables).derive_tasks(conn)
            gens.restore_task_keys(conn, tables)

        def tasks_side() -> bool:
            sure = False
            if hopeful:  # the loaders' fold, optimistically: most rebuilds keep it
                with self.engine.connect() as conn:
                    with conn.begin() as transaction:
                        _sort_memory(conn)
                        gens.restore_task_keys(conn, tables)
                        for table in task_tables:
                            tables.create_indexes(conn, table)
                        sure = folded_for_sure(loaded, keyed.result())
                        if not sure:
                            transaction.rollback()
                if sure:
                    self._tidy(tables, task_tables)
            if not sure:
                keyed.result()  # the fold again reads the events, their repeats dropped
                log.warning("analytics rebuild: the loaders' fold of the tasks is not sure "
                            "(a task's events in two loaders' partitions, or an event repeated "
                            "across them); deriving the tasks from the events table")
                indexed(refold, task_tables)
            keyed.result()
            indexed(lambda conn: None, (tables.events,))
            return sure

        started = time.perf_counter()
        with ThreadPoolExecutor(2, thread_name_prefix="derive") as pool:
            events, tasks = pool.submit(events_side), pool.submit(tasks_side)
            sure = tasks.result()
            events.result()
        log.info("analytics rebuild: derived in %.1f s", time.perf_counter() - started)
        return keyed.result(), sure

    def _tidy(self, tables, which: Sequence[sa.Table]) -> None:
        """Statistics for the planner and, on PostgreSQL, the visibility map that lets the
        scorecards read the covering indexes alone (a bulk-loaded table has neither), for
        the tables `which` of the generation `tables`."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in which:
                vacuum = conn.dialect.name == "postgresql" and table in (tables.task_periods,
                                                                         tables.reports)
                conn.exec_driver_sql(f'{"VACUUM ANALYZE" if vacuum else "ANALYZE"} "{table.name}"')
                if conn.dialect.name == "postgresql":  # off while it was bulk-loaded
                    conn.exec_driver_sql(f'ALTER TABLE "{table.name}" RESET (autovacuum_enabled)')

    async def rebuild(self, *, max_rounds: int = 50, switch: bool = True,
                      drop_old: bool = True) -> RebuildReport:
        """Build a new generation from offset 0, catch it up while events keep arriving,
        and switch the views to it."""
        report = await self.build("rebuild")
        generation = report.generation
        started = time.perf_counter()
        stop = asyncio.Event()
        for _ in range(max_rounds):  # chase the live consumer until little is left
            ends = await kafka.end_offsets(self.bootstrap, self.topics)
            behind = kafka.lag(ends, self.positions(generation))
            if behind <= self.max_records:
                break
            report.caught_up_events += await self.consume(generation, stop, until=ends,
                                                          follow_switch=False)
        if switch:
            old = self.active()
            report.caught_up_events += await asyncio.to_thread(self._switch, old, generation)
            report.switched = True
            if drop_old:
                await asyncio.to_thread(gens.drop_generation, self.engine, old)
        report.seconds["catch_up"] = time.perf_counter() - started
        return report

    def _switch(self, old: int, new: int) -> int:
        """In one transaction: stop the old generation's consumer (lock), bring the new one
        level with its positions, activate the new one. Returns the events applied here."""
        inbox = self.inbox_for(new)
        applied = 0
        with self.engine.begin() as conn:
            locked = sa.select(gens.GENERATIONS.c.state).where(gens.GENERATIONS.c.generation == old)
            if conn.dialect.name == "postgresql":
                conn.execute(locked.with_for_update())
            else:  # SQLite: take the database's write lock now, for the whole switch
                conn.execute(gens.GENERATIONS.update().where(gens.GENERATIONS.c.generation == old)
                             .values(note=gens.GENERATIONS.c.note))
            target = kafka.recorded_positions(conn, gens.consumer_name(old))
            mine = kafka.recorded_positions(conn, gens.consumer_name(new))
            ends = {tp: offset + 1 for tp, offset in target.items()}
            starts = {tp: mine.get(tp, -1) + 1 for tp in ends}
            for records in _run(self._read_sync(starts, ends)):
                deliveries = []
                for record in records:
                    try:
                        envelope, event = decode(record.headers, record.value)
                    except UndecodableEvent:
                        continue
                    deliveries.append(Delivery(envelope, event, record.topic, record.partition,
                                               record.offset))
                if deliveries:
                    applied += len(inbox.record(conn, deliveries))
                inbox.move_positions(conn, records)
            gens.activate(conn, new)
        return applied

    def _read_sync(self, starts: kafka.Offsets, ends: kafka.Offsets):
        async def collect() -> list[list[Any]]:
            if all(starts.get(tp, 0) >= end for tp, end in ends.items()):
                return []
            consumer = kafka.reader(self.bootstrap)
            await consumer.start()
            try:
                return [[sanitize(r) for r in batch]
                        async for batch in kafka.read_range(consumer, starts, ends)]
            finally:
                await kafka.close(consumer)

        return collect()


def _sort_memory(conn: sa.Connection) -> None:
    """Memory for the sorts and index builds of a whole log (PostgreSQL, this transaction)."""
    conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
    conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '512MB'")


def _run(coroutine) -> list:
    """Run a coroutine to completion from a worker thread (the switch holds a transaction)."""
    return asyncio.run(coroutine)
