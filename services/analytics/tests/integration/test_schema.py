"""Processes that start together on a fresh read-model database (the worker, the API, a
`dondoc scorecard --wait` run by a script) each make sure the schema is there: they must
agree on one live generation and none of them may fail."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from dondoc_analytics.bootstrap import Parts, Settings
from dondoc_analytics.projections import generations as gens
from dondoc_analytics.projections.schema import GENERATIONS

pytestmark = pytest.mark.integration

STARTERS = 6


def test_starters_racing_on_a_fresh_database_agree_on_one_generation(read_url: str) -> None:
    parts = [Parts(Settings(store_url=read_url)) for _ in range(STARTERS)]
    start = threading.Barrier(STARTERS)
    results: dict[int, int | BaseException] = {}

    def starter(i: int) -> None:
        start.wait()
        try:
            results[i] = parts[i].ensure_schema()
        except BaseException as e:  # what a starting process would die of
            results[i] = e

    threads = [threading.Thread(target=starter, args=(i,)) for i in range(STARTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    try:
        failures = [r for r in results.values() if isinstance(r, BaseException)]
        assert not failures, failures
        assert set(results.values()) == {1}
        with parts[0].engine.connect() as conn:
            rows = conn.execute(sa.select(GENERATIONS.c.generation, GENERATIONS.c.state)).all()
            assert [tuple(r) for r in rows] == [(1, "active")]
            assert gens.active_generation(conn) == 1
            conn.execute(sa.text("SELECT count(*) FROM analytics_task_scorecard")).scalar_one()
    finally:
        for made in parts:
            made.engine.dispose()


def test_a_database_collating_through_strcoll_is_named_at_start(new_postgres_database, caplog) -> None:
    """The rebuild's sorts want LC_COLLATE 'C' (docs/OPERATIONS.md): a read-model database
    made otherwise is named in a warning when the service starts; a C one is not."""
    import psycopg

    url = new_postgres_database()
    admin = url.rpartition("/")[0] + "/postgres"
    names = {"C": url.rpartition("/")[2] + "_c", "C.UTF-8": url.rpartition("/")[2] + "_u"}
    with psycopg.connect(admin, autocommit=True) as conn:
        for collation, name in names.items():
            conn.execute(f"CREATE DATABASE {name} TEMPLATE template0 LC_COLLATE '{collation}' "
                         "LC_CTYPE 'C.UTF-8'")
    try:
        for collation, name in names.items():
            caplog.clear()
            parts = Parts(Settings(store_url=f"{url.rpartition('/')[0]}/{name}"))
            parts.ensure_schema()
            parts.engine.dispose()
            named = [r for r in caplog.records if "collates text as" in r.getMessage()]
            assert bool(named) is (collation != "C"), collation
            assert all("'C.UTF-8'" in r.getMessage() for r in named)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in names.values():
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


#: The events lookups the code makes (the live consumer's refresh by task and by directive,
#: the as-of adjustment counts, a task's history), with their parameters left unbound as a
#: prepared statement's generic plan has them, and the index each must be able to use.
_LOOKUPS = [
    ("task_id = {0}", 1, "events_task"),
    ("task_id = {0} AND event_type = {1}", 2, "events_task"),
    ("task_id IN ({0}, {1}) AND fact_kind IS NOT NULL", 2, "events_task"),
    ("directive_id IN ({0}, {1}) AND event_type IN ({2}, {3})", 4, "events_directive"),
    ("directive_id = {0} AND task_id IS NULL", 1, "events_directive"),
]


@pytest.mark.parametrize(("where", "params", "index"), _LOOKUPS)
def test_the_events_lookups_can_use_the_partial_indexes(read_url: str, where: str, params: int,
                                                         index: str) -> None:
    """The events' task and directive indexes leave out the rows without one (docs/adr/0015):
    every lookup by a task or a directive must still be able to use them, on both backends,
    whatever the values (a generic plan on PostgreSQL: `=` and `IN` imply NOT NULL)."""
    parts = Parts(Settings(store_url=read_url))
    generation = parts.ensure_schema()
    name = f"an{generation}_{index}"
    try:
        with parts.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                marks = [f"${n + 1}" for n in range(params)]
                conn.exec_driver_sql("SET enable_seqscan = off")
                conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
                conn.exec_driver_sql(f"PREPARE lookup ({', '.join(['text'] * params)}) AS "
                                     f"SELECT * FROM analytics_events WHERE {where.format(*marks)}")
                values = ", ".join(f"'v{n}'" for n in range(params))
                plan = [row[0] for row in conn.exec_driver_sql(f"EXPLAIN EXECUTE lookup ({values})")]
                conn.exec_driver_sql("DEALLOCATE lookup")
            else:
                plan = [row[-1] for row in conn.exec_driver_sql(
                    f"EXPLAIN QUERY PLAN SELECT * FROM analytics_events "
                    f"WHERE {where.format(*['?'] * params)}",
                    tuple(f"v{n}" for n in range(params)))]
        assert any(name in line for line in plan), plan
    finally:
        parts.engine.dispose()


def _statements() -> list[tuple[str, object]]:
    from dondoc_analytics.application.reading import history_events
    from dondoc_analytics.projections.schema import VIEWS
    from dondoc_analytics.projections.projector import keyed_lookup
    from dondoc_analytics.projections.rows import DIRECTIVE_TYPES, REPORT_ROW_TYPES

    e = VIEWS.events
    return [
        ("report refresh", keyed_lookup(e, e.c.subject, ["r-1", "r-2"], REPORT_ROW_TYPES)),
        ("directive refresh", keyed_lookup(e, e.c.directive_id, ["d-1"], DIRECTIVE_TYPES)),
        ("history", history_events(e, VIEWS.event_tasks, "t-1", "d-1")),
        ("history, no task row", history_events(e, VIEWS.event_tasks, "t-1", None)),
    ]


@pytest.mark.parametrize("which", range(4))
def test_the_statements_the_code_sends_never_scan_the_whole_events_table(
        read_url: str, which: int) -> None:
    """The live refresh of a report (by its subject) and a task's history each once read
    the whole events table (a report refresh per batch: ≈ 1.2 GB at national scale); the
    statements the code really builds must reach the events through an index, on both
    backends, the report refresh through the partial index of the report types."""
    label, statement = _statements()[which]
    parts = Parts(Settings(store_url=read_url))
    generation = parts.ensure_schema()
    table = f"an{generation}_events"
    try:
        with parts.engine.connect() as conn:
            sql = str(statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET enable_seqscan = off")
                plan = [row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}")]
                scans = [line for line in plan if f"Seq Scan on {table}" in line]
            else:
                plan = [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
                scans = [line for line in plan if line.startswith(f"SCAN {table}")]
        assert plan and not scans, (label, plan)
        if label == "report refresh":
            assert any(f"{table}_report" in line for line in plan), plan
    finally:
        parts.engine.dispose()


def test_the_report_refresh_sends_its_types_as_literals(read_url: str) -> None:
    """A planner proves a partial index usable from constants only: with the types sent as
    parameters, a prepared statement's generic plan on PostgreSQL could not use the report
    events' index and would scan the table again."""
    from dondoc_analytics.projections.projector import keyed_lookup
    from dondoc_analytics.projections.rows import REPORT_ROW_TYPES
    from dondoc_analytics.projections.schema import VIEWS

    parts = Parts(Settings(store_url=read_url))
    parts.ensure_schema()
    sent: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:
        sent.append((statement, parameters))

    e = VIEWS.events
    try:
        sa.event.listen(parts.engine, "before_cursor_execute", capture)
        with parts.engine.connect() as conn:
            assert conn.execute(keyed_lookup(e, e.c.subject, ["r-1"], REPORT_ROW_TYPES)).all() == []
        (statement, parameters), = sent
        for kind in REPORT_ROW_TYPES:
            assert f"'{kind}'" in statement, statement
            assert kind not in repr(parameters), parameters
    finally:
        parts.engine.dispose()


def test_a_generation_made_before_the_report_index_gets_it_at_the_next_start(read_url: str) -> None:
    """An installation upgraded in place must not keep scanning its events table for each
    report until its next rebuild: the start of the new version builds the missing index."""
    parts = Parts(Settings(store_url=read_url))
    generation = parts.ensure_schema()
    name = f"an{generation}_events_report"
    try:
        with parts.engine.begin() as conn:
            conn.exec_driver_sql(f"DROP INDEX {name}")
        assert name not in {i["name"] for i in sa.inspect(parts.engine).get_indexes(f"an{generation}_events")}
        assert Parts(Settings(store_url=read_url)).ensure_schema() == generation
        indexes = {i["name"] for i in sa.inspect(parts.engine).get_indexes(f"an{generation}_events")}
        assert name in indexes, indexes
    finally:
        parts.engine.dispose()
