"""The derived task tables of a bulk-loaded generation, computed by PostgreSQL in set-based
statements (window functions) instead of folding every task in Python.

They compute exactly what `rows.derive_task` and `timeliness.fold` compute, task by task:

- a task's attributes come from its first assignment in business order (day, then log
  order);
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
from dondoc_analytics.projections.schema import ProjectionTables

#: business order of an event: its day, then its place in the log (code-point order of the
#: topic, as Python compares it)
_BUSINESS_ORDER = 'business_day, topic COLLATE "C", partition, kafka_offset'

_TASKS = """
INSERT INTO "{tasks}" (task_id, directive_id, directive_number, directive_kind, issuing_body,
    item_id, paragraph, content, cooperating_unit_ids, domain, review_group, key_task, secrecy,
    deadline_kind, report_frequency, product, assigned_on)
SELECT task_id, p->>'directive_id', p->>'directive_number', p->>'directive_kind',
    p->>'issuing_body', p->>'item_id', p->>'paragraph', p->>'content',
    CASE WHEN jsonb_typeof(p->'cooperating_unit_ids') = 'array'
         THEN array_to_string(ARRAY(SELECT jsonb_array_elements_text(p->'cooperating_unit_ids')), ',')
         ELSE '' END,
    p->>'domain', p->>'review_group', coalesce((p->>'key_task')::boolean, false),
    coalesce(nullif(p->>'secrecy', ''), 'thuong'), p->'deadline_rule'->>'kind',
    p->>'report_frequency', p->>'product', (p->>'assigned_on')::date
FROM (SELECT DISTINCT ON (task_id) task_id, payload::jsonb AS p FROM "{events}"
      WHERE fact_kind = 'assigned' AND task_id IS NOT NULL
      ORDER BY task_id, {order}) AS first_assignment
"""

_PERIODS = """
INSERT INTO "{periods}" (task_id, valid_from, valid_until, lead_unit_id, assigned_on, due_on,
    original_due_on, terminal, terminal_on, domain, review_group, review_group_key,
    issuing_body, key_task, secrecy)
WITH facts AS (
    SELECT task_id, fact_kind AS k, business_day AS d, fact_lead_unit_id AS lu,
           fact_due_on AS due, coalesce(fact_original_due_on, fact_due_on) AS orig,
           row_number() OVER (PARTITION BY task_id ORDER BY {order}) AS n
    FROM "{events}" WHERE fact_kind IS NOT NULL AND task_id IS NOT NULL
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


def derive_tasks(conn: sa.Connection, tables: ProjectionTables) -> None:
    """Fill `tasks` and `task_periods` of a generation from its `events` (PostgreSQL)."""
    names = {"events": tables.events.name, "tasks": tables.tasks.name,
             "periods": tables.task_periods.name, "order": _BUSINESS_ORDER}
    conn.exec_driver_sql(_TASKS.format(**names))
    groups = [g for (g,) in conn.exec_driver_sql(
        f'SELECT DISTINCT review_group FROM "{tables.tasks.name}" WHERE review_group IS NOT NULL')]
    conn.exec_driver_sql("CREATE TEMPORARY TABLE IF NOT EXISTS analytics_review_keys "
                         "(review_group text PRIMARY KEY, review_group_key text) ON COMMIT DROP")
    conn.exec_driver_sql("TRUNCATE pg_temp.analytics_review_keys")
    if groups:  # the key people's spellings share (Python's casefold, NFC): once per group
        conn.execute(sa.text("INSERT INTO pg_temp.analytics_review_keys VALUES (:g, :k)"),
                     [{"g": g, "k": match_key(g)} for g in groups])
    conn.exec_driver_sql(_PERIODS.format(**names))
