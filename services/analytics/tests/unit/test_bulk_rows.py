"""The bulk load's shortcuts give what the live consumer's path gives."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dondoc_contracts import decode, decode_mapped, encode, envelope_for
from dondoc_contracts import events as ev
from dondoc_contracts import values
from dondoc_contracts.envelope import header_map
from dondoc_platform.inbox import Delivery, sanitize

from dondoc_analytics.adapters.compiled import header_values as _headers
from dondoc_analytics.application.projection import Loaded, folded_for_sure
from dondoc_analytics.projections.rows import (
    EVENT_COLUMNS,
    PERIOD_COLUMNS,
    TASK_COLUMNS,
    LoadedTasks,
    assigned_task_values,
    derive_task,
    event_row,
    event_values_and_fact,
    task_values,
)
from dondoc_analytics.projections.schema import projection_tables

pytestmark = pytest.mark.unit


@dataclass
class Record:
    headers: list
    value: bytes
    topic: str = "t.dondoc.tasks"
    partition: int = 0
    offset: int = 7


def test_event_columns_are_the_events_table_in_order() -> None:
    assert EVENT_COLUMNS == tuple(c.name for c in projection_tables("an1_").events.columns)


@pytest.mark.parametrize("headers", [
    [("ce_id", b"x"), ("ce_subject", None), ("ce_audithash", b"\xff\xfeab")],
    [("ce_id", b"x"), ("ce_sequence", b"12"), ("ce_audithash", b"")],
    [],
])
def test_the_bulk_header_map_is_the_one_decode_makes_of_a_sanitized_record(headers) -> None:
    record = Record(headers, b"{}")
    assert _headers(headers) == header_map(sanitize(record).headers)


def test_a_bulk_row_is_the_live_row() -> None:
    event = ev.TaskAssigned.example()
    key, value, headers = encode(event, envelope_for(event, position=41, audit_hash="ab" * 32))
    envelope, decoded = decode_mapped(_headers(headers), value)
    assert (envelope, decoded) == decode(headers, value)
    row = event_row(Delivery(envelope, decoded, "t.dondoc.tasks", 2, 9))
    assert row["position"] == 41 and row["audit_hash"] == "ab" * 32
    assert row["fact_kind"] == "assigned" and row["payload"] == decoded.model_dump_json()
    assert list(row) == list(EVENT_COLUMNS)


def test_task_columns_are_the_tasks_table_in_order() -> None:
    assert TASK_COLUMNS == tuple(c.name for c in projection_tables("an1_").tasks.columns)


_text = st.text(alphabet="aăâeêioôơuưyđ\u0300\u0301\u0303\u0309\u0323 -", min_size=1, max_size=12)
_rules = st.sampled_from([
    {"kind": "date", "due_on": "2018-07-02"}, {"kind": "working_days", "days": 10},
    {"kind": "calendar_days", "days": 30}, {"kind": "recurring", "frequency": "monthly"},
    {"kind": "none"}])


@given(domain=st.none() | _text, review_group=st.none() | _text, content=_text,
       key_task=st.booleans(), secrecy=st.sampled_from(list(values.Secrecy)),
       frequency=st.none() | st.sampled_from(list(values.Frequency)),
       product=st.none() | st.just("") | _text, rule=_rules,
       kind=st.sampled_from(list(values.DirectiveKind)),
       cooperating=st.lists(st.sampled_from(["BDV", "MTTQ", "UBND-1"]), max_size=3))
def test_a_loaders_task_attributes_are_the_ones_the_live_consumer_reads(
        domain, review_group, content, key_task, secrecy, frequency, product, rule, kind,
        cooperating) -> None:
    wire = ev.TaskAssigned.example().model_dump(mode="json")
    wire.update(domain=domain, review_group=review_group, content=content, key_task=key_task,
                secrecy=secrecy.value, report_frequency=frequency and frequency.value,
                product=product, deadline_rule=rule, directive_kind=kind.value,
                cooperating_unit_ids=cooperating)
    event = ev.TaskAssigned.model_validate(wire)
    # what the live consumer stores and reads back, against what the loaders read
    loaded, live = assigned_task_values(event), task_values(event.task_id, event.model_dump_json())
    assert loaded == live and [type(v) for v in loaded] == [type(v) for v in live]


def test_period_columns_are_the_task_periods_table_in_order() -> None:
    assert PERIOD_COLUMNS == tuple(c.name for c in projection_tables("an1_").task_periods.columns)


def _loaded(event: ev.ContractEvent, partition: int, offset: int, event_id: str = "e1"):
    row, fact = event_values_and_fact(event_id, 1, None, event, "t.dondoc.tasks", partition, offset)
    return row, fact


def test_a_loader_folds_a_task_as_the_live_consumer_derives_it() -> None:
    assigned = ev.TaskAssigned.example()
    done = ev.TaskCompleted.example().model_copy(update={"task_id": assigned.task_id})
    tasks = LoadedTasks()
    live_rows = []
    for offset, (event_id, event) in enumerate([("a", assigned), ("c", done)]):
        row, fact = _loaded(event, 0, offset, event_id)
        tasks.add(event_id, event, fact)
        live_rows.append(dict(zip(EVENT_COLUMNS, row)))
    task, periods = derive_task(assigned.task_id, live_rows)
    assert tasks.rows() == ([tuple(task.values())], [tuple(p.values()) for p in periods])
    assert periods and tasks.tasks() == {assigned.task_id} and not tasks.unsure


def test_a_later_repeat_is_left_out_and_an_earlier_one_or_a_mixed_id_makes_it_unsure() -> None:
    assigned = ev.TaskAssigned.example()
    progress = ev.TaskProgressRecorded.example()
    again = LoadedTasks()
    for offset in (3, 9):  # a relay sent it again after a crash: later in the log
        again.add("a", assigned, _loaded(assigned, 0, offset)[1])
    assert again.repeats == 1 and not again.unsure and len(again.rows()[1]) == 1
    earlier = LoadedTasks()
    for partition in (2, 1):  # its copy comes earlier in the log than the one kept
        earlier.add("a", assigned, _loaded(assigned, partition, 0)[1])
    assert earlier.unsure
    mixed = LoadedTasks()
    mixed.add("a", progress, None)
    mixed.add("a", assigned, _loaded(assigned, 0, 5)[1])
    assert mixed.unsure


def test_the_loaders_fold_is_kept_only_when_it_is_the_whole_logs() -> None:
    def part(tasks: set[str], repeats: int = 0, unsure: bool = False) -> Loaded:
        return Loaded(tasks=tasks, repeats=repeats, unsure=unsure)

    assert folded_for_sure([part({"t1"}, 1), part({"t2"})], repeated=1)
    assert not folded_for_sure([part({"t1"}), part({"t1", "t2"})], repeated=0)  # a task in both
    assert not folded_for_sure([part({"t1"}), part({"t2"})], repeated=1)  # a repeat across them
    assert not folded_for_sure([part({"t1"}, unsure=True)], repeated=0)
    assert not folded_for_sure([Loaded(), part({"t2"})], repeated=0)  # one did not fold


def test_a_loaders_task_cooperates_as_its_latest_assignment_in_business_order_says() -> None:
    """The cooperating units of the latest (re)assignment in business order, whichever came
    first in the log: the loader's task row is the live consumer's."""
    assigned = ev.TaskAssigned.example().model_copy(update={"cooperating_unit_ids": ("BDV",)})
    day = assigned.assigned_on
    reassigned = ev.TaskReassigned.example().model_copy(update={
        "task_id": assigned.task_id, "reassigned_on": day + timedelta(days=9),
        "cooperating_unit_ids": ("MTTQ", "UBND-1")})
    earlier = assigned.model_copy(update={"assigned_on": day - timedelta(days=3),
                                          "cooperating_unit_ids": ()})
    for events in ([assigned], [assigned, reassigned], [reassigned, assigned],
                   [assigned, earlier], [assigned, reassigned, earlier], [earlier, assigned]):
        tasks, live_rows = LoadedTasks(), []
        for offset, event in enumerate(events):
            row, fact = _loaded(event, 0, offset, f"e{offset}")
            tasks.add(f"e{offset}", event, fact)
            live_rows.append(dict(zip(EVENT_COLUMNS, row)))
        task, periods = derive_task(assigned.task_id, live_rows)
        assert tasks.rows() == ([tuple(task.values())], [tuple(p.values()) for p in periods])
    # the last: the attributes of the earlier assignment, the units of the later one
    assert (task["assigned_on"], task["cooperating_unit_ids"]) == (earlier.assigned_on, "BDV")
