"""From consumed events to read-model rows.

The `events` row of each consumed event is the one primary record; every other row is
derived from event rows only:

- insert-only rows of one event (links to the tasks a report mentions, unit versions,
  review verdicts): `direct_rows`;
- rows that sum up all events of one key (a task's attributes and periods, a report
  obligation, a directive): `derive_task`, `derive_report`, `derive_directive`.

The live consumer and the rebuild call the same functions, so a rebuilt generation equals
the live one row for row (`audit verify` checks that).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, timezone
from operator import attrgetter
from typing import Any

from dondoc_contracts import events as ev
from dondoc_platform.inbox import Delivery

from dondoc_analytics.domain.facts import concerned_tasks, day_reader, fact_maker
from dondoc_analytics.domain.names import match_key
from dondoc_analytics.projections.schema import REPORT_TYPES
from dondoc_analytics.domain.timeliness import FactKind, TaskFact, fold_changes

Row = dict[str, Any]

TASK_FACT_TYPES = ("TaskAssigned", "TaskReassigned", "TaskDeadlineAdjusted", "TaskCompleted",
                   "TaskWithdrawn")
REPORT_ROW_TYPES = REPORT_TYPES  # the report events' partial index names them (schema)
DIRECTIVE_TYPES = ("DirectiveIssued", "DirectiveAmended", "DirectiveRevoked")
UNIT_TYPES = ("UnitRegistered", "UnitChanged")
LINKED_TYPES = ("ReportRequested", "ReportSubmitted", "ReportReviewed")


def _shape(event_class: type) -> tuple[bool, bool, frozenset[str]]:
    """Whether a kind of event has a task and a directive, and its field names: of a
    contract class, or of the struct the rebuild's compiled decoder makes of one (which
    has the contract's fields, `adapters.compiled`)."""
    fields = getattr(event_class, "__struct_fields__", None)
    names = frozenset(event_class.model_fields if fields is None else fields)
    return "task_id" in names, "directive_id" in names, names


#: The columns of the `events` table, in its order: `event_values` gives them as a tuple.
EVENT_COLUMNS = ("event_id", "service", "position", "topic", "partition", "kafka_offset",
                 "event_type", "subject", "task_id", "directive_id", "unit_id", "business_day",
                 "occurred_at", "actor_id", "actor_name", "actor_role", "actor_unit_id",
                 "what_vi", "what_en", "fact_kind", "fact_lead_unit_id", "fact_due_on",
                 "fact_original_due_on", "audit_hash", "payload")


def event_row(delivery: Delivery) -> Row:
    envelope = delivery.envelope
    return dict(zip(EVENT_COLUMNS, event_values(
        envelope.id, envelope.sequence, envelope.audit_hash, delivery.event, delivery.topic,
        delivery.partition, delivery.offset)))


def event_values(event_id: str, position: int | None, audit_hash: str | None,
                 e: ev.ContractEvent, topic: str, partition: int, offset: int) -> tuple:
    """The `events` row of one consumed event, in `EVENT_COLUMNS` order (a bulk load copies
    these tuples as they are)."""
    return event_values_and_fact(event_id, position, audit_hash, e, topic, partition, offset)[0]


def event_values_and_fact(event_id: str, position: int | None, audit_hash: str | None,
                          e: ev.ContractEvent, topic: str, partition: int, offset: int,
                          payload: str | None = None) -> tuple[tuple, TaskFact | None]:
    """`event_values`, and the timeliness fact the row's fact columns hold (a bulk loader
    folds each task's facts itself, `task_rows`). `e` is the contract event, or the struct
    the rebuild's compiled decoder made of it (read by the same attributes); `payload`, the
    event as its contract serialises it (the record itself when the decoder took it), else
    `e.model_dump_json()`. `what_vi` and `what_en` are left empty: the timeline's sentences
    are rendered from the payload when read (`wording.render`, docs/adr/0010).

    The row is made by a function made once per class of event (`_row_maker`), which has
    looked up what the class has and which business day and fact its type gives."""
    make = _ROW_MAKERS.get(type(e))
    if make is None:
        make = _ROW_MAKERS[type(e)] = _row_maker(type(e))
    return make(event_id, position, audit_hash, e, topic, partition, offset, payload)


_ROW_MAKERS: dict[type, Callable[..., tuple[tuple, TaskFact | None]]] = {}

def _none(_: Any) -> None:
    return None


def _row_maker(event_class: type) -> Callable[..., tuple[tuple, TaskFact | None]]:
    """`event_values_and_fact` for the events of one class (a contract class, or the struct
    the rebuild's decoder makes of one): `facts.day_reader` and `facts.fact_maker` of its
    type, its task, directive and unit read as `_shape` says it has them."""
    has_task, has_directive, names = _shape(event_class)
    service, event_type = event_class.service, event_class.event_type
    task_of = attrgetter("task_id") if has_task else _none
    directive_of = attrgetter("directive_id") if has_directive else _none
    unit_of = _unit_reader(names)
    day_of = day_reader(event_type)
    fact_of = fact_maker(event_type)
    utc = timezone.utc

    def values(event_id: str, position: int | None, audit_hash: str | None, e: Any,
               topic: str, partition: int, offset: int,
               payload: str | None) -> tuple[tuple, TaskFact | None]:
        if payload is None:
            payload = e.model_dump_json()
        day = day_of(e)
        actor = e.actor
        if fact_of is None:
            return (event_id, service, position, topic, partition, offset, event_type,
                    e.subject, task_of(e), directive_of(e), unit_of(e), day,
                    e.occurred_at.astimezone(utc),  # SQLite keeps no offset
                    actor.id, actor.name, actor.role._value_, actor.unit_id, None, None,
                    None, None, None, None, audit_hash, payload), None
        fact = fact_of(e, (topic, partition, offset), day)
        return (event_id, service, position, topic, partition, offset, event_type, e.subject,
                task_of(e), directive_of(e), unit_of(e), day, e.occurred_at.astimezone(utc),
                actor.id, actor.name, actor.role._value_, actor.unit_id, None, None,
                fact.kind._value_, fact.lead_unit_id, fact.due_on, fact.original_due_on,
                audit_hash, payload), fact

    return values


def _unit_reader(names: frozenset[str]) -> Callable[[Any], str | None]:
    """The `unit_id` column of an event of a class with these fields: its lead unit, else
    its unit, else its recipient's unit (the first that is set)."""
    fields = tuple(name for name in ("lead_unit_id", "unit_id") if name in names)
    recipient = "recipient" in names
    if not fields and not recipient:
        return _none

    def unit_of(e: Any) -> str | None:
        for name in fields:
            value = getattr(e, name)
            if value:
                return value
        return e.recipient.unit_id if recipient else None

    return unit_of


# --------------------------------------------------------------------------- insert-only rows


def direct_rows(row: Mapping[str, Any]) -> dict[str, list[Row]]:
    """Rows that follow from one event alone, by base table name."""
    kind = row["event_type"]
    out: dict[str, list[Row]] = {}
    if kind in LINKED_TYPES or kind in ("NotificationSent", "NotificationFailed"):
        payload = json.loads(row["payload"])
        event = _parse(kind, payload)
        links = [t for t in concerned_tasks(event) if t != row["task_id"]]
        if links:
            out["event_tasks"] = [{"task_id": t, "event_id": row["event_id"]} for t in links]
        if kind == "ReportReviewed":
            out["report_reviews"] = [{
                "event_id": row["event_id"], "report_id": payload["report_id"],
                "revision": payload["revision"], "outcome": payload["outcome"],
                "reviewed_on": row["business_day"],
                "lines_specific": sum(1 for line in payload.get("lines", ())
                                      if line["quality"] == "specific"),
                "lines_generic": sum(1 for line in payload.get("lines", ())
                                     if line["quality"] == "generic"),
                "topic": row["topic"],
                "partition": row["partition"], "kafka_offset": row["kafka_offset"]}]
    elif kind in UNIT_TYPES:
        p = json.loads(row["payload"])
        out["unit_versions"] = [{
            "event_id": row["event_id"], "unit_id": p["unit_id"], "day": row["business_day"],
            "topic": row["topic"], "partition": row["partition"],
            "kafka_offset": row["kafka_offset"], "code": p["code"], "name": p["name"],
            "review_group": p.get("review_group"), "parent_unit_id": p.get("parent_unit_id"),
            "active": p.get("active", True)}]
    return out


def _parse(kind: str, payload: dict[str, Any]) -> ev.ContractEvent:
    from dondoc_contracts import BY_KEY

    return BY_KEY[(kind, 1)].model_validate(payload)


# --------------------------------------------------------------------------- per-key rows


def _order(row: Mapping[str, Any]) -> tuple[str, int, int]:
    return (row["topic"], row["partition"], row["kafka_offset"])


def fact_of(row: Mapping[str, Any]) -> TaskFact:
    return TaskFact(FactKind(row["fact_kind"]), _as_date(row["business_day"]), _order(row),
                    row["fact_lead_unit_id"], _as_date(row["fact_due_on"]),
                    _as_date(row["fact_original_due_on"]))


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


#: The columns of the `tasks` table, in its order: `task_values` gives them as a tuple.
TASK_COLUMNS = ("task_id", "directive_id", "directive_number", "directive_kind", "issuing_body",
                "item_id", "paragraph", "content", "cooperating_unit_ids", "domain",
                "review_group", "key_task", "secrecy", "deadline_kind", "report_frequency",
                "product", "assigned_on")


def task_values(task_id: str, payload: str) -> tuple:
    """A task's attributes from the stored payload of its first assignment, in
    `TASK_COLUMNS` order (the live consumer and SQLite's rebuild; PostgreSQL's loaders
    take the same tuple from the event, `assigned_task_values`)."""
    p = json.loads(payload)
    return (task_id, p["directive_id"], p["directive_number"], p["directive_kind"],
            p["issuing_body"], p["item_id"], p["paragraph"], p["content"],
            ",".join(p.get("cooperating_unit_ids") or ()), p.get("domain"), p.get("review_group"),
            bool(p.get("key_task")), p.get("secrecy") or "thuong", p["deadline_rule"]["kind"],
            p.get("report_frequency"), p.get("product"), date.fromisoformat(p["assigned_on"]))


def assigned_task_values(e: ev.TaskAssigned) -> tuple:
    """`task_values` of an assignment taken from the validated event itself (or its struct,
    `adapters.compiled`) instead of its stored payload (the rebuild's loaders: no second
    JSON parse). The stored payload is the event's own serialisation, so both give the
    same tuple (checked on generated events in `tests/unit/test_bulk_rows.py`, and for
    the structs in `tests/unit/test_compiled_decoder.py`)."""
    frequency = e.report_frequency  # an enum's `_value_` is its `value`, read without a call
    return (e.task_id, e.directive_id, e.directive_number, e.directive_kind._value_,
            e.issuing_body, e.item_id, e.paragraph, e.content, ",".join(e.cooperating_unit_ids),
            e.domain, e.review_group, e.key_task, e.secrecy._value_, e.deadline_rule.kind._value_,
            None if frequency is None else frequency._value_, e.product, e.assigned_on)


#: The columns of the `task_periods` table, in its order: `task_rows` gives them as tuples.
PERIOD_COLUMNS = ("task_id", "valid_from", "valid_until", "lead_unit_id", "assigned_on", "due_on",
                  "original_due_on", "terminal", "terminal_on", "domain", "review_group",
                  "review_group_key", "issuing_body", "key_task", "secrecy")

_TASK_ID, _ISSUING_BODY, _DOMAIN, _REVIEW_GROUP, _KEY_TASK, _SECRECY = (
    TASK_COLUMNS.index(c) for c in ("task_id", "issuing_body", "domain", "review_group",
                                    "key_task", "secrecy"))


def task_rows(task: tuple, facts: Iterable[TaskFact],
              review_key: Callable[[str], str] = match_key) -> list[tuple]:
    """The periods of a task, in `PERIOD_COLUMNS` order: its facts folded in business order
    (`timeliness.fold`), each with the attributes of `task` (its `task_values`). The live
    consumer (`derive_task`) and a bulk loader (which folds the facts of the tasks it
    loaded) both call this. `review_key`: `names.match_key`, or a cache of it."""
    group = task[_REVIEW_GROUP]
    key = review_key(group) if group else None
    task_id, domain, issuing_body = task[_TASK_ID], task[_DOMAIN], task[_ISSUING_BODY]
    key_task, secrecy = task[_KEY_TASK], task[_SECRECY]
    changes = fold_changes(facts)
    last = len(changes) - 1
    out = []
    for n, (valid_from, (lead_unit_id, assigned_on, due_on, original_due_on, terminal,
                         terminal_on)) in enumerate(changes):
        out.append((task_id, valid_from, changes[n + 1][0] if n < last else None, lead_unit_id,
                    assigned_on, due_on, original_due_on,
                    terminal._value_ if terminal is not None else None, terminal_on,
                    domain, group, key, issuing_body, key_task, secrecy))
    return out


def derive_task(task_id: str, fact_rows: Sequence[Mapping[str, Any]]) -> tuple[Row | None, list[Row]]:
    """The task's attribute row and its periods, from all its fact events.

    `fact_rows` carry the fact columns of the events table, and the payload of the
    assignment events (the attributes come from the first assignment in business order).
    """
    assignments = sorted((r for r in fact_rows if r["fact_kind"] == FactKind.ASSIGNED.value),
                         key=lambda r: (_as_date(r["business_day"]), _order(r)))
    if not assignments:
        return None, []
    task = task_values(task_id, assignments[0]["payload"])
    latest = max((r for r in fact_rows if r["fact_kind"] in _COOPERATING_KINDS),
                 key=lambda r: (_as_date(r["business_day"]), _order(r)))
    task = with_cooperating(task, json.loads(latest["payload"]).get("cooperating_unit_ids") or ())
    periods = task_rows(task, [fact_of(r) for r in fact_rows])
    return dict(zip(TASK_COLUMNS, task)), [dict(zip(PERIOD_COLUMNS, p)) for p in periods]


#: The facts that say which units cooperate on a task: each gives the whole list (a
#: reassignment names the cooperating units after it, none if it gives none).
_COOPERATING_KINDS = (FactKind.ASSIGNED.value, FactKind.REASSIGNED.value)
_COOPERATING = TASK_COLUMNS.index("cooperating_unit_ids")


def with_cooperating(task: tuple, unit_ids: Iterable[str]) -> tuple:
    """`task` (its `task_values`) with the cooperating units of its latest assignment or
    reassignment in business order: the cooperating view follows the task as it is now."""
    return (*task[:_COOPERATING], ",".join(unit_ids), *task[_COOPERATING + 1:])


def derive_report(report_id: str, rows: Iterable[Mapping[str, Any]]) -> Row | None:
    """A report obligation from its ReportRequested / ReportSubmitted events (log order)."""
    out: Row | None = None
    for row in sorted(rows, key=_order):
        p = json.loads(row["payload"])
        if out is None:
            out = {"report_id": report_id, "cycle_id": p.get("cycle_id"), "unit_id": p["unit_id"],
                   "period_kind": None, "period_label": None, "period_starts_on": None,
                   "period_ends_on": None, "data_cutoff_on": None, "due_on": None,
                   "requested_on": None, "first_submitted_on": None, "last_revision": 0}
        if row["event_type"] == "ReportRequested":
            period = p["period"]
            out.update(cycle_id=p["cycle_id"], unit_id=p["unit_id"], period_kind=period["kind"],
                       period_label=period["label"],
                       period_starts_on=date.fromisoformat(period["starts_on"]),
                       period_ends_on=date.fromisoformat(period["ends_on"]),
                       data_cutoff_on=date.fromisoformat(p["data_cutoff_on"]),
                       due_on=date.fromisoformat(p["due_on"]),
                       requested_on=_as_date(row["business_day"]))
        else:
            submitted = date.fromisoformat(p["submitted_on"])
            first = out["first_submitted_on"]
            out["first_submitted_on"] = submitted if first is None or submitted < first else first
            out["last_revision"] = max(out["last_revision"], int(p.get("revision") or 1))
    return out


def derive_directive(directive_id: str, rows: Iterable[Mapping[str, Any]]) -> Row | None:
    out: Row | None = None
    for row in sorted(rows, key=_order):
        p = json.loads(row["payload"])
        if out is None:
            out = {"directive_id": directive_id, "number": p["number"], "kind": None,
                   "issuing_body": None, "issued_on": None, "summary": None, "secrecy": None,
                   "review_group": None, "revoked_on": None}
        if row["event_type"] == "DirectiveIssued":
            out.update(number=p["number"], kind=p["kind"], issuing_body=p["issuing_body"],
                       issued_on=date.fromisoformat(p["issued_on"]), summary=p["summary"],
                       secrecy=p.get("secrecy"), review_group=p.get("review_group"))
        elif row["event_type"] == "DirectiveAmended":
            out["number"] = p["number"]
            if p.get("summary"):
                out["summary"] = p["summary"]
        else:
            out["revoked_on"] = _as_date(row["business_day"])
    return out


class LoadedTasks:
    """What a bulk loader keeps to derive the tasks of the partitions it loaded itself
    (`task_rows`, the live consumer's fold) instead of leaving it to a pass over the whole
    events table: each task's facts, and the attributes of its first assignment in
    business order.

    A task's events share its key, so they are all in one partition, hence one loader; the
    rebuild checks that (`tasks` of different loaders must not meet) and also that every
    repeated delivery was one this loader saw (`repeats`), else it derives the tasks from
    the events table after all. A repeated delivery counts at its first place in the log,
    as the events key keeps it: a later copy is dropped here; a copy that comes earlier in
    the log than the one kept, or a fact sharing its id with an event that is not one,
    marks the fold `unsure` (the rebuild then derives from the table)."""

    def __init__(self) -> None:
        #: every event id read -> its fact (None: an event without one), as first kept
        self.seen: dict[str, TaskFact | None] = {}
        self.by_task: dict[str, list[TaskFact]] = {}  # task -> its facts, as read
        self.first: dict[str, tuple[tuple, tuple]] = {}  # task -> ((day, order), task values)
        # task -> ((day, order), cooperating units) of its latest (re)assignment
        self.cooperating: dict[str, tuple[tuple, tuple[str, ...]]] = {}
        self.repeats = 0
        self.unsure = False

    def add(self, event_id: str, e: ev.ContractEvent, fact: TaskFact | None) -> None:
        """Note one event read (its row is copied either way: the events key drops repeats
        and counts them)."""
        seen = self.seen
        if event_id in seen:
            self.repeats += 1
            kept = seen[event_id]
            if kept is None:
                self.unsure |= fact is not None
            elif fact is None or fact.order < kept.order:
                self.unsure = True
            return
        seen[event_id] = fact
        if fact is None:
            return
        task_id = e.task_id
        facts = self.by_task.get(task_id)
        if facts is None:
            self.by_task[task_id] = [fact]
        else:
            facts.append(fact)
        kind = fact.kind
        if kind is _ASSIGNED or kind is _REASSIGNED:
            when = (fact.day, fact.order)
            if kind is _ASSIGNED:
                first = self.first.get(task_id)
                if first is None or when < first[0]:
                    self.first[task_id] = (when, assigned_task_values(e))
            latest = self.cooperating.get(task_id)
            if latest is None or when > latest[0]:
                self.cooperating[task_id] = (when, e.cooperating_unit_ids)

    def tasks(self) -> set[str]:
        """The tasks this loader holds facts of."""
        return set(self.by_task)

    def rows(self) -> tuple[list[tuple], list[tuple]]:
        """The `tasks` rows (`TASK_COLUMNS`) and `task_periods` rows (`PERIOD_COLUMNS`) of
        the tasks loaded; a task never assigned has neither, as `derive_task` gives."""
        keys: dict[str, str] = {}

        def review_key(group: str) -> str:
            key = keys.get(group)
            if key is None:
                key = keys[group] = match_key(group)
            return key

        tasks, periods = [], []
        first, cooperating = self.first, self.cooperating
        for task_id, facts in self.by_task.items():
            assigned = first.get(task_id)
            if assigned is not None:
                latest = cooperating[task_id]
                # the latest (re)assignment is the first assignment itself: its cooperating
                # units are in its values already
                task = (assigned[1] if latest[0] is assigned[0]
                        else with_cooperating(assigned[1], latest[1]))
                tasks.append(task)
                periods += task_rows(task, facts, review_key)
        return tasks, periods


_ASSIGNED, _REASSIGNED = FactKind.ASSIGNED, FactKind.REASSIGNED
