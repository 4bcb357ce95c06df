"""The read models' tables.

Projection tables come in *generations*: generation g's tables are named `an<g>_<name>`, and
the stable names dashboards and the API read, `analytics_<name>`, are views over the active
generation. A rebuild fills a new generation while the old one keeps serving, then swaps
the views in one transaction (see `generations.py`): no reader ever sees an empty table.

Tables that must outlive a rebuild (generations, frozen periods, audit checkpoints and
leaves) have fixed names. Column meanings are documented in docs/services/analytics.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from dondoc_platform.inbox import inbox_tables

#: The events a report's row is derived from (`rows.REPORT_ROW_TYPES`), as the predicate of
#: the partial index the live consumer finds them by; a lookup must name these same types as
#: literals (`report_events`) so that the planner can use it whatever the plan.
REPORT_TYPES = ("ReportRequested", "ReportSubmitted")
REPORT_EVENTS = "event_type IN ({})".format(", ".join(f"'{t}'" for t in REPORT_TYPES))

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")
Id = sa.String(128)
Moment = sa.DateTime(timezone=True)

#: The projection tables of one generation, by their stable base name.
BASE_NAMES = ("events", "event_tasks", "tasks", "task_periods", "reports", "report_reviews",
              "unit_versions", "directives")


def _order_columns() -> list[sa.Column]:
    """Where the event sits in Kafka: a stable order and the key of "recorded after"."""
    return [sa.Column("topic", sa.String(250), nullable=False),
            sa.Column("partition", sa.Integer, nullable=False),
            sa.Column("kafka_offset", sa.BigInteger, nullable=False)]


@dataclass(frozen=True)
class ProjectionTables:
    """One set of projection tables: a generation's (`an<g>_…`) or the stable views."""

    prefix: str
    metadata: sa.MetaData
    events: sa.Table
    event_tasks: sa.Table
    tasks: sa.Table
    task_periods: sa.Table
    reports: sa.Table
    report_reviews: sa.Table
    unit_versions: sa.Table
    directives: sa.Table

    def all(self) -> list[sa.Table]:
        return [getattr(self, name) for name in BASE_NAMES]

    def create(self, engine_or_conn: sa.Engine | sa.Connection, *, indexes: bool = True) -> None:
        for table in self.all():
            table.create(engine_or_conn, checkfirst=True)
            if indexes:
                self.create_indexes(engine_or_conn, table)

    def create_indexes(self, bind: sa.Engine | sa.Connection, table: sa.Table | None = None) -> None:
        for t in [table] if table is not None else self.all():
            for index in t.indexes:
                index.create(bind, checkfirst=True)


#: Columns of the events table no longer filled (NULL): the timeline's sentences are
#: rendered from the payload when read (docs/adr/0010); rows of an earlier version may still
#: hold old words there, which nothing reads and `audit verify` does not compare.
UNFILLED_COLUMNS = ("what_vi", "what_en")


def projection_tables(prefix: str, metadata: sa.MetaData | None = None, *,
                      with_indexes: bool = True) -> ProjectionTables:
    """The tables of one generation (`prefix` = "an3_") or the views (`prefix` = "analytics_")."""
    md = metadata if metadata is not None else sa.MetaData()
    p = prefix

    def ix(name: str, *cols: str, include: tuple[str, ...] = (),
           where: str | None = None) -> list[sa.Index]:
        """An index; `include`: columns carried in it on PostgreSQL (index-only scans);
        `where`: the rows it holds (a partial index, on both backends)."""
        options: dict = {"postgresql_include": list(include)} if include else {}
        if where is not None:
            options.update(postgresql_where=sa.text(where), sqlite_where=sa.text(where))
        return [sa.Index(f"{p}{name}", *cols, **options)] if with_indexes else []

    events = sa.Table(
        f"{p}events", md,
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("service", sa.String(32), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=True,
                  doc="the event's position in its service's log (ce_sequence)"),
        *_order_columns(),
        sa.Column("event_type", sa.String(40), nullable=False),
        sa.Column("subject", Id, nullable=False),
        sa.Column("task_id", Id, nullable=True),
        sa.Column("directive_id", Id, nullable=True),
        sa.Column("unit_id", Id, nullable=True),
        sa.Column("business_day", sa.Date, nullable=False),
        sa.Column("occurred_at", Moment, nullable=False),
        sa.Column("actor_id", Id, nullable=False),
        sa.Column("actor_name", sa.String(500), nullable=True),
        sa.Column("actor_role", sa.String(20), nullable=False),
        sa.Column("actor_unit_id", Id, nullable=True),
        # no longer filled: the timeline's sentences are rendered from `payload` when read
        # (docs/adr/0010); the columns stay so that a switch's views keep their shape
        sa.Column("what_vi", sa.Text, nullable=True),
        sa.Column("what_en", sa.Text, nullable=True),
        sa.Column("fact_kind", sa.String(20), nullable=True),
        sa.Column("fact_lead_unit_id", Id, nullable=True),
        sa.Column("fact_due_on", sa.Date, nullable=True),
        sa.Column("fact_original_due_on", sa.Date, nullable=True),
        sa.Column("audit_hash", sa.String(64), nullable=True),
        sa.Column("payload", sa.Text, nullable=False),
        # what the history (API, dashboards), the as-of adjustment counts and the live
        # consumer look events up by; nothing looks them up by log position. Every such
        # lookup names a task or a directive (`=` or `IN`, which PostgreSQL and SQLite
        # know imply NOT NULL), so the events without one are left out: most events have
        # no directive (only its issue and its tasks' assignments do), the reports' and
        # units' none a task, and a rebuild sorts only the rest (docs/adr/0015)
        *ix("events_task", "task_id", "business_day", where="task_id IS NOT NULL"),
        *ix("events_directive", "directive_id", where="directive_id IS NOT NULL"),
        # the live consumer looks a report's events up by its subject (`Projector.refresh`);
        # without this, each batch holding a report event scanned the whole table
        *ix("events_report", "subject", where=REPORT_EVENTS),
    )
    event_tasks = sa.Table(
        f"{p}event_tasks", md,
        sa.Column("task_id", Id, primary_key=True),
        sa.Column("event_id", sa.String(64), primary_key=True),
    )
    tasks = sa.Table(
        f"{p}tasks", md,
        sa.Column("task_id", Id, primary_key=True),
        sa.Column("directive_id", Id, nullable=False),
        sa.Column("directive_number", sa.String(500), nullable=False),
        sa.Column("directive_kind", sa.String(40), nullable=False),
        sa.Column("issuing_body", sa.String(500), nullable=False),
        sa.Column("item_id", Id, nullable=False),
        sa.Column("paragraph", sa.String(500), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("cooperating_unit_ids", sa.Text, nullable=False, doc="comma separated"),
        sa.Column("domain", sa.String(500), nullable=True),
        sa.Column("review_group", sa.String(500), nullable=True),
        sa.Column("key_task", sa.Boolean, nullable=False),
        sa.Column("secrecy", sa.String(20), nullable=False),
        sa.Column("deadline_kind", sa.String(20), nullable=False),
        sa.Column("report_frequency", sa.String(20), nullable=True),
        sa.Column("product", sa.Text, nullable=True),
        sa.Column("assigned_on", sa.Date, nullable=False),
        *ix("tasks_directive", "directive_id"),
    )
    task_periods = sa.Table(
        f"{p}task_periods", md,
        sa.Column("task_id", Id, primary_key=True),
        sa.Column("valid_from", sa.Date, primary_key=True,
                  doc="first cut day the state holds at (a fact dated d holds from d+1)"),
        sa.Column("valid_until", sa.Date, nullable=True, doc="exclusive; NULL: still holds"),
        sa.Column("lead_unit_id", Id, nullable=False),
        sa.Column("assigned_on", sa.Date, nullable=False),
        sa.Column("due_on", sa.Date, nullable=True, doc="effective deadline day"),
        sa.Column("original_due_on", sa.Date, nullable=True),
        sa.Column("terminal", sa.String(20), nullable=True, doc="completed | withdrawn"),
        sa.Column("terminal_on", sa.Date, nullable=True),
        sa.Column("domain", sa.String(500), nullable=True),
        sa.Column("review_group", sa.String(500), nullable=True),
        sa.Column("review_group_key", sa.String(500), nullable=True),
        sa.Column("issuing_body", sa.String(500), nullable=True),
        sa.Column("key_task", sa.Boolean, nullable=False),
        sa.Column("secrecy", sa.String(20), nullable=False),
        # a unit's ten years come from this index alone
        *ix("task_periods_unit", "lead_unit_id", "valid_from",
            include=("valid_until", "assigned_on", "due_on", "original_due_on", "terminal",
                     "terminal_on")),
        *ix("task_periods_from", "valid_from"),
    )
    reports = sa.Table(
        f"{p}reports", md,
        sa.Column("report_id", Id, primary_key=True),
        sa.Column("cycle_id", Id, nullable=True),
        sa.Column("unit_id", Id, nullable=False),
        sa.Column("period_kind", sa.String(20), nullable=True),
        sa.Column("period_label", sa.String(500), nullable=True),
        sa.Column("period_starts_on", sa.Date, nullable=True),
        sa.Column("period_ends_on", sa.Date, nullable=True),
        sa.Column("data_cutoff_on", sa.Date, nullable=True),
        sa.Column("due_on", sa.Date, nullable=True),
        sa.Column("requested_on", sa.Date, nullable=True),
        sa.Column("first_submitted_on", sa.Date, nullable=True),
        sa.Column("last_revision", sa.Integer, nullable=False, server_default="0"),
        *ix("reports_unit", "unit_id", "due_on",
            include=("requested_on", "first_submitted_on", "report_id")),
    )
    report_reviews = sa.Table(
        f"{p}report_reviews", md,
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("report_id", Id, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("reviewed_on", sa.Date, nullable=False),
        sa.Column("lines_specific", sa.Integer, nullable=False, server_default="0",
                  doc="lines the review team judged specific (cụ thể)"),
        sa.Column("lines_generic", sa.Integer, nullable=False, server_default="0",
                  doc="lines it judged generic (chung chung)"),
        *_order_columns(),
        *ix("report_reviews_report", "report_id", "reviewed_on"),
    )
    unit_versions = sa.Table(
        f"{p}unit_versions", md,
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("unit_id", Id, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        *_order_columns(),
        sa.Column("code", sa.String(500), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("review_group", sa.String(500), nullable=True),
        sa.Column("parent_unit_id", Id, nullable=True),
        sa.Column("active", sa.Boolean, nullable=False),
        *ix("unit_versions_unit", "unit_id", "day"),
    )
    directives = sa.Table(
        f"{p}directives", md,
        sa.Column("directive_id", Id, primary_key=True),
        sa.Column("number", sa.String(500), nullable=False),
        sa.Column("kind", sa.String(40), nullable=True),
        sa.Column("issuing_body", sa.String(500), nullable=True),
        sa.Column("issued_on", sa.Date, nullable=True),
        sa.Column("summary", sa.Text, nullable=True),
        sa.Column("secrecy", sa.String(20), nullable=True),
        sa.Column("review_group", sa.String(500), nullable=True),
        sa.Column("revoked_on", sa.Date, nullable=True),
    )
    return ProjectionTables(p, md, events, event_tasks, tasks, task_periods, reports,
                            report_reviews, unit_versions, directives)


def generation_prefix(generation: int) -> str:
    return f"an{generation}_"


VIEW_PREFIX = "analytics_"

#: The stable names (views over the active generation) the API and dashboards read.
VIEWS = projection_tables(VIEW_PREFIX, with_indexes=False)


# --------------------------------------------------------------------------- fixed tables

fixed = sa.MetaData()
INBOX, POSITIONS = inbox_tables(fixed)

GENERATIONS = sa.Table(
    "analytics_generations", fixed,
    sa.Column("generation", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("state", sa.String(20), nullable=False, doc="building | active | retired | failed"),
    sa.Column("purpose", sa.String(20), nullable=False, doc="live | rebuild | scratch"),
    sa.Column("created_at", Moment, nullable=False),
    sa.Column("activated_at", Moment, nullable=True),
    sa.Column("retired_at", Moment, nullable=True),
    sa.Column("note", sa.Text, nullable=True),
)

PERIODS = sa.Table(
    "analytics_periods", fixed,
    sa.Column("period_id", sa.String(64), primary_key=True, doc="e.g. 'year-2018'"),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("as_of", Moment, nullable=False, doc="the moment the figures are computed at"),
    sa.Column("closed_at", Moment, nullable=False, doc="when the period was closed"),
    sa.Column("closed_by", sa.String(200), nullable=False),
    sa.Column("positions", sa.Text, nullable=False,
              doc="JSON: the Kafka positions the frozen figures include, per topic and partition"),
    sa.Column("digest", sa.String(64), nullable=False, doc="SHA-256 of the frozen figures"),
    sa.Column("signature", sa.Text, nullable=True, doc="Ed25519 signature of the digest"),
    sa.Column("key_id", sa.String(64), nullable=True),
)


def _frozen_figures(name: str, figures: tuple[str, ...], float_figures: set[str]) -> sa.Table:
    return sa.Table(
        name, fixed,
        sa.Column("period_id", sa.String(64), primary_key=True),
        sa.Column("grouping", sa.String(20), primary_key=True,
                  doc="unit | review_group | domain | issuing_body"),
        sa.Column("group_key", sa.String(500), primary_key=True),
        sa.Column("group_name", sa.String(500), nullable=False),
        *[sa.Column(f, sa.Float if f in float_figures else sa.Integer, nullable=True)
          for f in figures],
    )


def _frozen_tables() -> tuple[sa.Table, sa.Table, sa.Table, sa.Table]:
    from dondoc_analytics.domain.timeliness import REPORT_FIGURES, REVIEW_FIGURES, TASK_FIGURES

    rates = {f for f in TASK_FIGURES if "rate" in f}
    task_cards = _frozen_figures("analytics_frozen_task_scorecards", TASK_FIGURES, rates)
    report_cards = _frozen_figures("analytics_frozen_report_scorecards",
                                   REPORT_FIGURES + REVIEW_FIGURES, set())
    frozen_tasks = sa.Table(
        "analytics_frozen_tasks", fixed,
        sa.Column("period_id", sa.String(64), primary_key=True),
        sa.Column("task_id", Id, primary_key=True),
        sa.Column("lead_unit_id", Id, nullable=False),
        sa.Column("review_group_key", sa.String(500), nullable=True),
        sa.Column("domain", sa.String(500), nullable=True),
        sa.Column("issuing_body", sa.String(500), nullable=True),
        sa.Column("membership", sa.String(20), nullable=False),
        sa.Column("category", sa.String(30), nullable=False),
        sa.Column("category_original", sa.String(30), nullable=False),
        sa.Column("due_on", sa.Date, nullable=True),
        sa.Column("original_due_on", sa.Date, nullable=True),
        sa.Column("terminal_on", sa.Date, nullable=True),
    )
    frozen_reports = sa.Table(
        "analytics_frozen_reports", fixed,
        sa.Column("period_id", sa.String(64), primary_key=True),
        sa.Column("report_id", Id, primary_key=True),
        sa.Column("unit_id", Id, nullable=False),
        sa.Column("standing", sa.String(30), nullable=False),
        sa.Column("first_submitted_on", sa.Date, nullable=True),
        sa.Column("due_on", sa.Date, nullable=False),
    )
    return task_cards, report_cards, frozen_tasks, frozen_reports


FROZEN_TASK_SCORECARDS, FROZEN_REPORT_SCORECARDS, FROZEN_TASKS, FROZEN_REPORTS = _frozen_tables()

CHECKPOINTS = sa.Table(
    "audit_checkpoints", fixed,
    sa.Column("service", sa.String(32), primary_key=True),
    sa.Column("size", sa.BigInteger, primary_key=True),
    sa.Column("root", sa.String(64), nullable=False),
    sa.Column("made_at", Moment, nullable=False),
    sa.Column("document", sa.Text, nullable=False, doc="the signed checkpoint, as exported"),
)
LEAVES = sa.Table(
    "audit_leaves", fixed,
    sa.Column("service", sa.String(32), primary_key=True),
    sa.Column("leaf_index", sa.BigInteger, primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
    sa.Index("audit_leaves_position", "service", "position", unique=True),
)
NODES = sa.Table(
    "audit_nodes", fixed,
    sa.Column("service", sa.String(32), primary_key=True),
    sa.Column("level", sa.Integer, primary_key=True),
    sa.Column("node_index", sa.BigInteger, primary_key=True),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
)


def create_fixed_tables(engine: sa.Engine) -> None:
    fixed.create_all(engine)
