"""The pieces every dashboard is built from (grafana-foundation-sdk builders): the two data
sources, Prometheus and SQL queries, and panels with Vietnamese titles and bilingual
descriptions. Panels take their width and height on the 24-column grid."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import bargauge, dashboard, prometheus, stat, table, text
from grafana_foundation_sdk.builders import timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import text as text_model
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    DynamicConfigValue,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMappingResult,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

from dondoc_platform.settings import DEFAULT_PORTS

#: The data sources' uids, as the provisioning files and `dondoc grafana push` create them.
PROMETHEUS = DataSourceRef(type_val="prometheus", uid="dondoc-prometheus")
ANALYTICS = DataSourceRef(type_val="grafana-postgresql-datasource", uid="dondoc-analytics")

#: The suite's scrape targets carry `service` (compose, the local stack, the k8s monitors).
SUITE = "|".join(DEFAULT_PORTS)

Panel = cogbuilder.Builder[Any]


# --------------------------------------------------------------------------- queries


def promql(expr: str, legend: str | None = None, *, instant: bool = False,
           ref: str = "A") -> prometheus.Dataquery:
    query = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(PROMETHEUS)
    if legend is not None:
        query = query.legend_format(legend)
    if instant:
        query = query.instant().format("table")
    return query


class SqlQueryModel(cogvariants.Dataquery):
    """Grafana's SQL data source query (PostgreSQL), which the SDK has no builder for."""

    def __init__(self, raw_sql: str, ref_id: str, format_val: str) -> None:
        self.raw_sql = raw_sql
        self.ref_id = ref_id
        self.format_val = format_val

    def to_json(self) -> dict[str, object]:
        return {"refId": self.ref_id, "datasource": ANALYTICS.to_json(), "editorMode": "code",
                "format": self.format_val, "rawQuery": True, "rawSql": self.raw_sql}


class SqlQuery(cogbuilder.Builder[cogvariants.Dataquery]):
    def __init__(self, raw_sql: str, *, ref: str = "A", time_series: bool = False) -> None:
        self._model = SqlQueryModel(raw_sql.strip(), ref, "time_series" if time_series else "table")

    def build(self) -> cogvariants.Dataquery:
        return self._model


# --------------------------------------------------------------------------- panels


def board(uid: str, title: str, tag: str, description: str, *, since: str,
          refresh: str) -> dashboard.Dashboard:
    """A read-only dashboard of the dondoc folder, in the office's time zone."""
    return (dashboard.Dashboard(f"Đôn đốc — {title}").uid(uid).tags(["dondoc", tag])
            .description(description).timezone("Asia/Ho_Chi_Minh").time(since, "now")
            .refresh(refresh).readonly())


def _sized(panel: Any, title: str, description: str, width: int, height: int) -> Any:
    return panel.title(title).description(description).span(width).height(height)


def series(title: str, description: str, *queries: Any, unit: str = "short",
           width: int = 12, height: int = 8, stacked: bool = False) -> timeseries.Panel:
    panel = _sized(timeseries.Panel(), title, description, width, height).unit(unit)
    panel = panel.fill_opacity(10).line_width(1).legend(
        _legend().display_mode(common.LegendDisplayMode.TABLE)
        .placement(common.LegendPlacement.BOTTOM).calcs(["lastNotNull", "max"]))
    if stacked:
        panel = panel.stacking(_stacking())
    for query in queries:
        panel = panel.with_target(query)
    return panel.datasource(PROMETHEUS)


def big_number(title: str, description: str, query: Any, *, unit: str = "short",
               width: int = 6, height: int = 5, mappings: dict[str, tuple[str, str]] | None = None,
               thresholds: list[tuple[float | None, str]] | None = None,
               source: DataSourceRef = PROMETHEUS) -> stat.Panel:
    panel = _sized(stat.Panel(), title, description, width, height).unit(unit)
    panel = panel.with_target(query).datasource(source).color_mode(common.BigValueColorMode.BACKGROUND)
    panel = panel.graph_mode(common.BigValueGraphMode.NONE).reduce_options(
        _reduce().calcs(["lastNotNull"]).values(False))
    if mappings:
        panel = panel.mappings([value_map(mappings)])
    return panel.thresholds(_thresholds(thresholds or [(None, "green")]))


def bars(title: str, description: str, query: Any, *, unit: str = "short", width: int = 8,
         height: int = 8, thresholds: list[tuple[float | None, str]] | None = None,
         source: DataSourceRef = PROMETHEUS) -> bargauge.Panel:
    panel = _sized(bargauge.Panel(), title, description, width, height).unit(unit)
    panel = panel.with_target(query).datasource(source).display_mode(
        common.BarGaugeDisplayMode.GRADIENT).orientation(common.VizOrientation.HORIZONTAL)
    panel = panel.reduce_options(_reduce().calcs(["lastNotNull"]).values(False)).min(0)
    return panel.thresholds(_thresholds(thresholds or [(None, "blue")]))


def grid(title: str, description: str, *queries: Any, width: int = 24, height: int = 9,
         source: DataSourceRef = PROMETHEUS, columns: dict[str, str] | None = None,
         units: dict[str, str] | None = None, links: dict[str, tuple[str, str]] | None = None,
         ) -> table.Panel:
    """A table; `columns` renames fields to their Vietnamese headers, `units` sets a field's
    unit, `links` makes a field's cells links (title, url with ${__value.raw} etc.)."""
    panel = _sized(table.Panel(), title, description, width, height).datasource(source)
    for query in queries:
        panel = panel.with_target(query)
    for field, header in (columns or {}).items():
        panel = panel.override_by_name(field, [DynamicConfigValue(id_val="displayName", value=header)])
    for field, unit in (units or {}).items():
        panel = panel.override_by_name(field, [DynamicConfigValue(id_val="unit", value=unit)])
    for field, (title_text, url) in (links or {}).items():
        panel = panel.override_by_name(field, [DynamicConfigValue(
            id_val="links", value=[{"title": title_text, "url": url}])])
    return panel.footer(_footer())


def note(title: str, markdown: str, *, width: int = 24, height: int = 6) -> text.Panel:
    return text.Panel().title(title).mode(text_model.TextMode.MARKDOWN).content(markdown.strip()) \
        .span(width).height(height)


def row(title: str) -> dashboard.Row:
    return dashboard.Row(title)


def value_map(options: dict[str, tuple[str, str]]) -> ValueMap:
    return ValueMap(options={value: ValueMappingResult(text=label, color=color, index=i)
                             for i, (value, (label, color)) in enumerate(options.items())})


# --------------------------------------------------------------------------- variables


def prometheus_variable(name: str, label: str, query: str, *, all_value: str,
                        include_all: bool = True) -> dashboard.QueryVariable:
    """A variable from `label_values(...)`; "All" stands for `all_value` (a regex)."""
    variable = dashboard.QueryVariable(name).label(label).query(query).datasource(PROMETHEUS)
    variable = variable.refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).sort(
        VariableSort.ALPHABETICAL_ASC).multi(include_all)
    if include_all:
        variable = variable.include_all(True).all_value(all_value).current(
            VariableOption(selected=True, text="Tất cả", value="$__all"))
    return variable


def sql_variable(name: str, label: str, query: str, *, include_all: bool = False,
                 all_value: str | None = None) -> dashboard.QueryVariable:
    """A variable from a SQL query on the analytics read models (`__text`, `__value`)."""
    variable = dashboard.QueryVariable(name).label(label).query(query.strip()).datasource(ANALYTICS)
    variable = variable.refresh(VariableRefresh.ON_DASHBOARD_LOAD).multi(False)
    if include_all:
        variable = variable.include_all(True).all_value(all_value or "")
    return variable


# --------------------------------------------------------------------------- small parts


def _legend() -> Any:
    from grafana_foundation_sdk.builders.common import VizLegendOptions

    return VizLegendOptions().show_legend(True)


def _stacking() -> Any:
    from grafana_foundation_sdk.builders.common import StackingConfig

    return StackingConfig().mode(common.StackingMode.NORMAL)


def _reduce() -> Any:
    from grafana_foundation_sdk.builders.common import ReduceDataOptions

    return ReduceDataOptions()


def _footer() -> Any:
    from grafana_foundation_sdk.builders.common import TableFooterOptions

    return TableFooterOptions().show(False).reducer(["sum"])


def _thresholds(steps: list[tuple[float | None, str]]) -> Any:
    return dashboard.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(
        [Threshold(value=value, color=color) for value, color in steps])
