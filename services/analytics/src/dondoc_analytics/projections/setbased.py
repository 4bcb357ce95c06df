"""The derived tables of a bulk-loaded generation other than the tasks', computed by
PostgreSQL in set-based statements instead of event by event in Python.

They compute exactly what `rows.derive_report`, `derive_directive` and `direct_rows`
compute: reports and directives from their events in log order (`DISTINCT ON`), links to
the tasks a report or notification mentions, review verdicts and unit versions from the
payloads (`jsonb`). A task's attributes and periods are folded by the rebuild's loaders
themselves, with the live consumer's code (`rows.LoadedTasks`, `rows.task_rows`).

The live consumer keeps using the Python functions (a few keys at a time); the rebuild and
`audit verify`'s replay use these on PostgreSQL. `test_rebuild_equals_live.py` and the
audit's comparison of a replay with the live read models check that both agree row for row.
"""

from __future__ import annotations

import sqlalchemy as sa

from dondoc_analytics.projections.schema import ProjectionTables

#: log order of an event (code-point order of the topic, as Python compares it)
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
SELECT k.event_id, k.p->>'report_id', (k.p->>'revision')::int, k.p->>'outcome', k.business_day,
       q.specific, q.generic, k.topic, k.partition, k.kafka_offset
FROM pg_temp.analytics_keyed AS k CROSS JOIN LATERAL (  -- the lines, read once
    SELECT count(*) FILTER (WHERE l->>'quality' = 'specific') AS specific,
           count(*) FILTER (WHERE l->>'quality' = 'generic') AS generic
    FROM jsonb_array_elements(k.p->'lines') AS l
) AS q
WHERE k.event_type = 'ReportReviewed'
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
    # what the plans below filter, group and join on; statistics of the payloads (jsonb,
    # compared value by value for a histogram) would take longer than the statements
    conn.exec_driver_sql("ANALYZE pg_temp.analytics_keyed (event_type, subject, task_id, directive_id)")
    for statement in (_REPORTS, _DIRECTIVES, _EVENT_TASKS, _REPORT_REVIEWS,
                      _UNIT_VERSIONS):
        conn.exec_driver_sql(statement.format(**names))
    conn.exec_driver_sql("DROP TABLE pg_temp.analytics_keyed")
