"""The derived task tables of a bulk-loaded generation, computed by PostgreSQL in set-based
statements (window functions) instead of folding every task in Python.

They compute exactly what `rows.derive_task` and `timeliness.fold` compute, task by task:

- a task's attributes come from its first assignment in business order (day, then log
  order), read from its payload by the loaders with `rows.task_values` (as the live
  consumer reads them);
- its periods: facts in business order; before the first assignment there is no state
  (only a completion or withdrawal counts, as the terminal); from it on, the lead unit is
  the one the latest of {the first assignment, later reassignments} names, the deadline the
  one the latest of {the first assignment, later deadline adjustments} gives, the original
  deadline the first assignment's; the terminal is the first completion or withdrawal. The
  state after the last fact of each day holds from the next day; a day that leaves the
  state as it was adds no period.

The live consumer keeps using the Python functions (a few tasks at a time); the rebuild and
`audit verify`'s replay use these on PostgreSQL. `tests/integration/test_setbased.py` and the
audit's comparison of a replay with the live read models check that both agree row for row.
"""

from __future__ import annotations

import sqlalchemy as sa

from dondoc_analytics.domain.names import match_key
from dondoc_analytics.projections.rows import TASK_COLUMNS
from dondoc_analytics.projections.schema import ProjectionTables

#: business order of an event: its day, then its place in the log (code-point order of the
#: topic, as Python compares it)
_BUSINESS_ORDER = 'business_day, topic COLLATE "C", partition, kafka_offset'

# the attributes of each task's first assignment: the loaders read every assignment's
# (`rows.task_values`, as the live consumer does) into the scratch table
_TASKS = """
INSERT INTO "{tasks}" ({columns})
SELECT DISTINCT ON (task_id) {columns} FROM "{assignments}" ORDER BY task_id, {order}
"""

# a repeated delivery of an event (dropped from the events table when its key was added)
# leaves its assignment out too
_REPEATED_ASSIGNMENTS = """
DELETE FROM "{assignments}" AS a WHERE NOT EXISTS (
    SELECT FROM "{events}" AS e
    WHERE (e.topic, e.partition, e.kafka_offset) = (a.topic, a.partition, a.kafka_offset))
"""

# the facts of every task, read once from the (wide) events table
_FACTS = """
CREATE TEMPORARY TABLE analytics_facts ON COMMIT DROP AS
SELECT task_id, fact_kind, business_day, topic, partition, kafka_offset, fact_lead_unit_id,
       fact_due_on, fact_original_due_on
FROM "{events}" WHERE fact_kind IS NOT NULL AND task_id IS NOT NULL
"""

_PERIODS = """
INSERT INTO "{periods}" (task_id, valid_from, valid_until, lead_unit_id, assigned_on, due_on,
    original_due_on, terminal, terminal_on, domain, review_group, review_group_key,
    issuing_body, key_task, secrecy)
WITH facts AS (
    SELECT task_id, fact_kind AS k, business_day AS d, fact_lead_unit_id AS lu,
           fact_due_on AS due, coalesce(fact_original_due_on, fact_due_on) AS orig,
           row_number() OVER (PARTITION BY task_id ORDER BY {order}) AS n
    FROM pg_temp.analytics_facts
), marked AS (
    SELECT facts.*,
           min(n) FILTER (WHERE k = 'assigned') OVER whole AS an,
           min(n) FILTER (WHERE k = 'completed') OVER whole AS cn,
           min(n) FILTER (WHERE k = 'withdrawn') OVER whole AS wn,
           min(d) FILTER (WHERE k IN ('completed', 'withdrawn')) OVER whole AS td
    FROM facts WINDOW whole AS (PARTITION BY task_id)
), assigned AS (
    SELECT task_id, n, d, cn, wn, td,
           array_agg(lu) FILTER (WHERE n = an OR k = 'reassigned') OVER upto AS leads,
           array_agg(due) FILTER (WHERE n = an OR k = 'deadline_adjusted') OVER upto AS dues,
           first_value(orig) OVER upto AS orig,
           first_value(d) OVER upto AS assigned_on,
           lead(d) OVER upto IS DISTINCT FROM d AS last_of_day
    FROM marked WHERE n >= an
    WINDOW upto AS (PARTITION BY task_id ORDER BY n)
), daily AS (
    SELECT task_id, n, d, assigned_on, orig,
           leads[array_upper(leads, 1)] AS lu, dues[array_upper(dues, 1)] AS due,
           CASE WHEN cn IS NOT NULL AND (wn IS NULL OR cn < wn) THEN 'completed'
                WHEN wn IS NOT NULL THEN 'withdrawn' END AS terminal, td AS terminal_on,
           least(cn, wn) AS tn
    FROM assigned WHERE last_of_day
), states AS (
    SELECT task_id, n, d, lu, assigned_on, due, orig,
           CASE WHEN tn <= n THEN terminal END AS terminal,
           CASE WHEN tn <= n THEN terminal_on END AS terminal_on
    FROM daily WHERE lu IS NOT NULL
), changes AS (
    SELECT states.*,
           lag(n) OVER before AS pn, lag(lu) OVER before AS plu, lag(due) OVER before AS pdue,
           lag(terminal) OVER before AS pterminal, lag(terminal_on) OVER before AS pterminal_on
    FROM states WINDOW before AS (PARTITION BY task_id ORDER BY n)
), periods AS (
    SELECT task_id, n, d + 1 AS valid_from, lu, assigned_on, due, orig, terminal, terminal_on
    FROM changes
    WHERE pn IS NULL OR plu IS DISTINCT FROM lu OR pdue IS DISTINCT FROM due
       OR pterminal IS DISTINCT FROM terminal OR pterminal_on IS DISTINCT FROM terminal_on
)
SELECT p.task_id, p.valid_from,
       lead(p.valid_from) OVER (PARTITION BY p.task_id ORDER BY p.n) AS valid_until,
       p.lu, p.assigned_on, p.due, p.orig, p.terminal, p.terminal_on, t.domain, t.review_group,
       keys.review_group_key, t.issuing_body, t.key_task, t.secrecy
FROM periods AS p
JOIN "{tasks}" AS t ON t.task_id = p.task_id
LEFT JOIN pg_temp.analytics_review_keys AS keys ON keys.review_group = t.review_group
"""


def derive_tasks(conn: sa.Connection, tables: ProjectionTables, assignments: sa.Table, *,
                 repeated: bool) -> None:
    """Fill `tasks` and `task_periods` of a generation from its `events` and the load's
    scratch table of assignments (PostgreSQL), then drop that table. `repeated`: repeated
    deliveries were dropped from the events table (their assignments are dropped here)."""
    names = {"events": tables.events.name, "tasks": tables.tasks.name,
             "periods": tables.task_periods.name, "order": _BUSINESS_ORDER,
             "assignments": assignments.name, "columns": ", ".join(TASK_COLUMNS)}
    conn.exec_driver_sql(_FACTS.format(**names))
    conn.exec_driver_sql("ANALYZE pg_temp.analytics_facts")
    if repeated:
        conn.exec_driver_sql(_REPEATED_ASSIGNMENTS.format(**names))
    conn.exec_driver_sql(_TASKS.format(**names))
    conn.exec_driver_sql(f'DROP TABLE "{assignments.name}"')
    groups = [g for (g,) in conn.exec_driver_sql(
        f'SELECT DISTINCT review_group FROM "{tables.tasks.name}" WHERE review_group IS NOT NULL')]
    conn.exec_driver_sql("CREATE TEMPORARY TABLE IF NOT EXISTS analytics_review_keys "
                         "(review_group text PRIMARY KEY, review_group_key text) ON COMMIT DROP")
    conn.exec_driver_sql("TRUNCATE pg_temp.analytics_review_keys")
    if groups:  # the key people's spellings share (Python's casefold, NFC): once per group
        conn.execute(sa.text("INSERT INTO pg_temp.analytics_review_keys VALUES (:g, :k)"),
                     [{"g": g, "k": match_key(g)} for g in groups])
    conn.exec_driver_sql(_PERIODS.format(**names))
    conn.exec_driver_sql("DROP TABLE pg_temp.analytics_facts")


_LOG_ORDER = 'topic COLLATE "C", partition, kafka_offset'
_LOG_ORDER_DESC = 'topic COLLATE "C" DESC, partition DESC, kafka_offset DESC'

# `rows.derive_report`: the last request (log order) gives the obligation; without one, the
# first event gives its cycle and unit; the first submission day and the highest revision
_REPORTS = """
INSERT INTO "{reports}" (report_id, cycle_id, unit_id, period_kind, period_label,
    period_starts_on, period_ends_on, data_cutoff_on, due_on, requested_on, first_submitted_on,
    last_revision)
WITH r AS (
    SELECT subject, event_type, business_day, p, topic, partition, kafka_offset
    FROM pg_temp.analytics_keyed WHERE event_type IN ('ReportRequested', 'ReportSubmitted')
), requested AS (
    SELECT DISTINCT ON (subject) subject, p, business_day FROM r
    WHERE event_type = 'ReportRequested' ORDER BY subject, {desc}
), first AS (
    SELECT DISTINCT ON (subject) subject, p FROM r ORDER BY subject, {asc}
), submitted AS (
    SELECT subject, min((p->>'submitted_on')::date) AS first_submitted_on,
           max(coalesce(nullif((p->>'revision')::int, 0), 1)) AS last_revision
    FROM r WHERE event_type = 'ReportSubmitted' GROUP BY subject
)
SELECT f.subject,
       CASE WHEN q.subject IS NULL THEN f.p->>'cycle_id' ELSE q.p->>'cycle_id' END,
       CASE WHEN q.subject IS NULL THEN f.p->>'unit_id' ELSE q.p->>'unit_id' END,
       q.p->'period'->>'kind', q.p->'period'->>'label', (q.p->'period'->>'starts_on')::date,
       (q.p->'period'->>'ends_on')::date, (q.p->>'data_cutoff_on')::date,
       (q.p->>'due_on')::date, q.business_day, s.first_submitted_on,
       greatest(coalesce(s.last_revision, 0), 0)
FROM first AS f
LEFT JOIN requested AS q ON q.subject = f.subject
LEFT JOIN submitted AS s ON s.subject = f.subject
"""

# `rows.derive_directive`, in log order: the number of the last issue or amendment (else of
# the first event), the summary of the last issue or amendment that gives one, the rest of
# the last issue, the day of the last revocation
_DIRECTIVES = """
INSERT INTO "{directives}" (directive_id, number, kind, issuing_body, issued_on, summary,
    secrecy, review_group, revoked_on)
WITH d AS (
    SELECT directive_id, event_type, business_day, p, topic, partition, kafka_offset
    FROM pg_temp.analytics_keyed
    WHERE event_type IN ('DirectiveIssued', 'DirectiveAmended', 'DirectiveRevoked')
      AND directive_id IS NOT NULL
), first AS (
    SELECT DISTINCT ON (directive_id) directive_id, p FROM d ORDER BY directive_id, {asc}
), numbered AS (
    SELECT DISTINCT ON (directive_id) directive_id, p->>'number' AS number FROM d
    WHERE event_type IN ('DirectiveIssued', 'DirectiveAmended') ORDER BY directive_id, {desc}
), summarised AS (
    SELECT DISTINCT ON (directive_id) directive_id, p->>'summary' AS summary FROM d
    WHERE event_type = 'DirectiveIssued'
       OR (event_type = 'DirectiveAmended' AND coalesce(p->>'summary', '') <> '')
    ORDER BY directive_id, {desc}
), issued AS (
    SELECT DISTINCT ON (directive_id) directive_id, p FROM d
    WHERE event_type = 'DirectiveIssued' ORDER BY directive_id, {desc}
), revoked AS (
    SELECT DISTINCT ON (directive_id) directive_id, business_day FROM d
    WHERE event_type = 'DirectiveRevoked' ORDER BY directive_id, {desc}
)
SELECT f.directive_id, coalesce(n.number, f.p->>'number'), i.p->>'kind', i.p->>'issuing_body',
       (i.p->>'issued_on')::date, s.summary, i.p->>'secrecy', i.p->>'review_group',
       v.business_day
FROM first AS f
LEFT JOIN numbered AS n ON n.directive_id = f.directive_id
LEFT JOIN summarised AS s ON s.directive_id = f.directive_id
LEFT JOIN issued AS i ON i.directive_id = f.directive_id
LEFT JOIN revoked AS v ON v.directive_id = f.directive_id
"""

# `rows.direct_rows`: the tasks a report or notification mentions (besides the event's own)
_EVENT_TASKS = """
INSERT INTO "{event_tasks}" (task_id, event_id)
SELECT DISTINCT m.mentioned, e.event_id
FROM pg_temp.analytics_keyed AS e CROSS JOIN LATERAL (
    SELECT jsonb_array_elements_text(e.p->'task_ids') WHERE e.event_type = 'ReportRequested'
    UNION ALL
    SELECT jsonb_array_elements(e.p->'lines')->>'task_id'
    WHERE e.event_type IN ('ReportSubmitted', 'ReportReviewed')
    UNION ALL
    SELECT e.p->'about'->>'task_id' WHERE e.event_type IN ('NotificationSent', 'NotificationFailed')
) AS m (mentioned)
WHERE coalesce(m.mentioned, '') <> '' AND m.mentioned IS DISTINCT FROM e.task_id
"""

# the events the tables below are made of, read once from the (wide) events table
_KEYED = """
CREATE TEMPORARY TABLE analytics_keyed ON COMMIT DROP AS
SELECT event_id, event_type, subject, task_id, directive_id, business_day, topic, partition,
       kafka_offset, payload::jsonb AS p
FROM "{events}"
WHERE event_type IN ('ReportRequested', 'ReportSubmitted', 'ReportReviewed', 'DirectiveIssued',
                     'DirectiveAmended', 'DirectiveRevoked', 'UnitRegistered', 'UnitChanged',
                     'NotificationSent', 'NotificationFailed')
"""

_REPORT_REVIEWS = """
INSERT INTO "{report_reviews}" (event_id, report_id, revision, outcome, reviewed_on,
    lines_specific, lines_generic, topic, partition, kafka_offset)
SELECT event_id, p->>'report_id', (p->>'revision')::int, p->>'outcome', business_day,
       (SELECT count(*) FROM jsonb_array_elements(p->'lines') AS l WHERE l->>'quality' = 'specific'),
       (SELECT count(*) FROM jsonb_array_elements(p->'lines') AS l WHERE l->>'quality' = 'generic'),
       topic, partition, kafka_offset
FROM pg_temp.analytics_keyed WHERE event_type = 'ReportReviewed'
"""

_UNIT_VERSIONS = """
INSERT INTO "{unit_versions}" (event_id, unit_id, day, topic, partition, kafka_offset, code,
    name, review_group, parent_unit_id, active)
SELECT event_id, p->>'unit_id', business_day, topic, partition, kafka_offset, p->>'code',
       p->>'name', p->>'review_group', p->>'parent_unit_id', coalesce((p->>'active')::boolean, true)
FROM pg_temp.analytics_keyed WHERE event_type IN ('UnitRegistered', 'UnitChanged')
"""


def derive_the_rest(conn: sa.Connection, tables: ProjectionTables) -> None:
    """Fill `reports`, `directives`, `event_tasks`, `report_reviews` and `unit_versions` of a
    generation from its `events` (PostgreSQL), as `rows.derive_report`, `derive_directive`
    and `direct_rows` do event by event."""
    names = {"events": tables.events.name, "asc": _LOG_ORDER, "desc": _LOG_ORDER_DESC,
             **{name: getattr(tables, name).name for name in (
                 "reports", "directives", "event_tasks", "report_reviews", "unit_versions")}}
    conn.exec_driver_sql(_KEYED.format(**names))
    conn.exec_driver_sql("ANALYZE pg_temp.analytics_keyed")
    for statement in (_REPORTS, _DIRECTIVES, _EVENT_TASKS, _REPORT_REVIEWS,
                      _UNIT_VERSIONS):
        conn.exec_driver_sql(statement.format(**names))
    conn.exec_driver_sql("DROP TABLE pg_temp.analytics_keyed")
